// nodus/codec/etf/detail/term_access.hpp: what the ETF decoder and encoder may do to a term that
// users may not (atoms from text already checked, opaque funs).
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "nodus/codec/etf/term.hpp"

namespace nodus::etf::detail {

struct term_access {
  // An atom from text that check_atom_text accepted.
  static atom checked_atom(std::string text) noexcept {
    atom a;
    a.text_ = std::move(text);
    return a;
  }
  // An external fun or a fun, from its encoding (tag included).
  static term opaque(kind k, std::vector<std::byte> bytes) {
    auto* rep = new term::opaque_rep{std::move(bytes)};
    term t;
    t.destroy();
    t.opaque_ = rep;
    t.kind_ = k;
    return t;
  }
};

}  // namespace nodus::etf::detail
