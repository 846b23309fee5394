#define BOOST_TEST_MODULE nodus_codec
#include <boost/test/unit_test.hpp>
