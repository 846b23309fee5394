#define BOOST_TEST_MODULE nodus_cluster
#include <boost/test/unit_test.hpp>
