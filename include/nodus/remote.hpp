// nodus/remote.hpp: calls, casts and sends to servers of other nodes (nodus nodes and BEAM
// nodes, by name or pid) and the deliveries of a node's Protocol from them: the definitions that
// <nodus/node.hpp> only declares, so that a program of local servers does not parse the Erlang
// term format and the frame codecs. Include it (or <nodus/nodus.hpp>, which does) in each file
// that talks to other nodes; a compile error names it where it is missing. It does not compile
// the distribution itself into the TU (see <nodus/nodus.hpp>).
#pragma once

#include "nodus/node.hpp"
#include "nodus/process/detail/remote_ops.hpp"
#include "nodus/process/detail/term_delivery.hpp"
#include "nodus/process/detail/wire_delivery.hpp"
