#define BOOST_TEST_MODULE nodus_core
#include <boost/test/unit_test.hpp>
