// nodus/codec/etf.hpp: the Erlang external term format (erl_ext_dist), for BEAM peers: the
// dynamic etf::term, its checked decoder and its encoder, and the compile-time mapping of C++
// types to terms. Include a topic header alone for less (term.hpp, decode.hpp, encode.hpp,
// typed.hpp); tags.hpp cites the format's tags and field layouts.
#pragma once

#include "nodus/codec/etf/decode.hpp"
#include "nodus/codec/etf/encode.hpp"
#include "nodus/codec/etf/tags.hpp"
#include "nodus/codec/etf/term.hpp"
#include "nodus/codec/etf/typed.hpp"
