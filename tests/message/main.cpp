#define BOOST_TEST_MODULE nodus_message
#include <boost/test/unit_test.hpp>
