// nodus/codec/impl/view.ipp: the error of a view over bytes that were not checked (see
// codec/view.hpp). Included by that header in header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <stdexcept>
#include <string_view>

#include "nodus/codec/view.hpp"

namespace nodus::codec::detail {

NODUS_DECL void throw_unchecked(const reader& r, std::string_view type) {
  throw std::invalid_argument(describe_fault(r, type) +
                              " (a view over bytes needs bytes that validate<T> accepts)");
}

}  // namespace nodus::codec::detail
