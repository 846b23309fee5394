#define BOOST_TEST_MODULE nodus_net
#include <boost/test/unit_test.hpp>
