#define BOOST_TEST_MODULE nodus_process
#include <boost/test/unit_test.hpp>
