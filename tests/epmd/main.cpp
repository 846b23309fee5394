#define BOOST_TEST_MODULE nodus_epmd
#include <boost/test/unit_test.hpp>
