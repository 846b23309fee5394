// The native message the native_message harness decodes, and seeds.cpp encodes: every kind of
// member a protocol type may have.
#pragma once

#include <boost/hana/define_struct.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nodus/codec/etf/term.hpp>

namespace fuzz {

struct point {
  std::int32_t x;
  std::int32_t y;
};
struct item {
  BOOST_HANA_DEFINE_STRUCT(item, (std::string, name), (std::uint16_t, count), (bool, ok));
};
struct everything {
  BOOST_HANA_DEFINE_STRUCT(everything, (std::uint8_t, tag), (bool, flag), (double, ratio),
                           (std::string, text), (nodus::etf::atom, topic), (nodus::etf::pid, who),
                           (std::vector<std::int64_t>, numbers), (std::vector<item>, items),
                           (std::array<point, 2>, corners), (std::vector<nodus::etf::atom>, tags),
                           (item, last));
};

}  // namespace fuzz
