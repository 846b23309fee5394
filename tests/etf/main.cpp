#define BOOST_TEST_MODULE nodus_etf
#include <boost/test/unit_test.hpp>
