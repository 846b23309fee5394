// nodus/codec/etf/detail/term_access.hpp: what the ETF decoder and encoder may do to a term that
// users may not (atoms from text already checked, opaque funs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <string_view>
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
  // set_text(a, utf8): a's name becomes utf8, which check_atom_text accepted.
  static void set_text(atom& a, std::string_view utf8) { a.text_.assign(utf8); }
  static void set_text(atom& a, std::string&& utf8) noexcept { a.text_ = std::move(utf8); }

  // An external fun or a fun, from its encoding (tag included).
  static term opaque(kind k, std::vector<std::byte> bytes) {
    auto* rep = new term::opaque_rep{std::move(bytes)};
    term t;
    t.destroy();
    t.opaque_ = rep;
    t.kind_ = k;
    return t;
  }

  // ---- building a term in place -----------------------------------------------------------------
  // The decoder reads each term into a default term t ([], holding nothing to free) and makes it
  // what it reads there: no temporary term, none of the moves (each a switch on the kind) that
  // assigning one would cost. Every function below requires t to be such a default term; those
  // that return a reference leave t a valid empty value of its kind, to be filled through it.

  static void set_integer(term& t, std::int64_t v) noexcept {
    end_nil(t);
    t.int_ = v;
    t.kind_ = kind::integer;
  }
  static void set_float(term& t, double v) noexcept {
    end_nil(t);
    t.float_ = v;
    t.kind_ = kind::float_;
  }
  static atom& make_atom(term& t) noexcept {
    end_nil(t);
    ::new (&t.atom_) atom();
    t.kind_ = kind::atom;
    return t.atom_;
  }
  static std::vector<term>& make_tuple(term& t) noexcept {
    end_nil(t);
    ::new (&t.items_) std::vector<term>();
    t.kind_ = kind::tuple;
    return t.items_;
  }
  // make_list(t) -> the elements of t, a proper list (t is one already).
  static std::vector<term>& make_list(term& t) noexcept { return t.list_.items; }
  static std::vector<std::byte>& make_binary(term& t) noexcept {
    end_nil(t);
    ::new (&t.bytes_) std::vector<std::byte>();
    t.kind_ = kind::binary;
    return t.bytes_;
  }
  static std::vector<map_entry>& make_map(term& t) noexcept {
    end_nil(t);
    ::new (&t.entries_) std::vector<map_entry>();
    t.kind_ = kind::map;
    return t.entries_;
  }
  static pid& make_pid(term& t) {
    auto* p = new pid();
    end_nil(t);
    t.pid_ = p;
    t.kind_ = kind::pid;
    return *p;
  }
  static reference& make_reference(term& t) {
    auto* r = new reference();
    end_nil(t);
    t.ref_ = r;
    t.kind_ = kind::reference;
    return *r;
  }
  static port& make_port(term& t) {
    auto* p = new port();
    end_nil(t);
    t.port_ = p;
    t.kind_ = kind::port;
    return *p;
  }
  // set(t, v): t becomes v (the rare kinds: one move instead of an assignment's three).
  static void set(term& t, term&& v) noexcept {
    end_nil(t);
    t.kind_ = kind::integer;  // move_from's precondition: nothing to destroy
    t.move_from(v);
  }

 private:
  // end_nil(t): ends the empty list a default term holds (nothing to free), so that another
  // member of the union can be built in its place.
  static void end_nil(term& t) noexcept { t.list_.~list_rep(); }
};

}  // namespace nodus::etf::detail
