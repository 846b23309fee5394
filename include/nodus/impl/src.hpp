// nodus/impl/src.hpp: the compiled part of nodus, for separate compilation. Include it in exactly
// one TU of a program built with NODUS_SEPARATE_COMPILATION (the CMake target nodus::compiled and
// the meson dependency nodus_compiled_dep do it for you). See nodus/config.hpp.
#pragma once

#include "nodus/config.hpp"

#if defined(NODUS_HEADER_ONLY)
#error "nodus/impl/src.hpp is for separate compilation: define NODUS_SEPARATE_COMPILATION"
#endif

// One line per implementation file; each includes the header it implements.
// The core: errors, formatting, the logger, node names.
#include "nodus/core/impl/error.ipp"
#include "nodus/core/impl/format.ipp"
#include "nodus/core/impl/log.ipp"
#include "nodus/core/impl/node_name.ipp"
#include "nodus/core/impl/telemetry.ipp"

// The codec: copy counters, gather lists, the checking walk, views.
#include "nodus/codec/impl/copy_stats.ipp"
#include "nodus/codec/impl/gather_list.ipp"
#include "nodus/codec/impl/view.ipp"
#include "nodus/codec/impl/walk.ipp"

// The node, its options and the process layer.
#include "nodus/impl/node_core.ipp"
#include "nodus/impl/options.ipp"
#include "nodus/process/impl/call_op.ipp"
#include "nodus/process/impl/distributed_supervisor.ipp"
#include "nodus/process/impl/dynamic_supervisor.ipp"
#include "nodus/process/impl/global.ipp"
#include "nodus/process/impl/groups.ipp"
#include "nodus/process/impl/remote_ops.ipp"
#include "nodus/process/impl/runtime.ipp"
#include "nodus/process/impl/server.ipp"
#include "nodus/process/impl/singleton.ipp"
#include "nodus/process/impl/supervisor.ipp"
#include "nodus/process/impl/term_delivery.ipp"
#include "nodus/process/impl/waiter.ipp"

// The Erlang external term format: terms, decoder, encoder, the typed mapping's untyped parts.
#include "nodus/codec/etf/impl/decode.ipp"
#include "nodus/codec/etf/impl/encode.ipp"
#include "nodus/codec/etf/impl/term.ipp"
#include "nodus/codec/etf/impl/typed.ipp"

// Cluster formation: the engine and the strategies' type-independent parts.
#include "nodus/cluster/impl/dns_poll.ipp"
#include "nodus/cluster/impl/dns_srv.ipp"
#include "nodus/cluster/impl/formation.ipp"
#include "nodus/cluster/impl/gossip.ipp"
#include "nodus/cluster/impl/topology.ipp"

// TLS distribution (Asio's SSL stream over OpenSSL): its maker registers itself (net/tls.hpp).
#include "nodus/net/impl/tls.ipp"

// The distribution: its factory registers itself with the node core (see dist/distribution.hpp).
#include "nodus/dist/impl/distribution.ipp"
#include "nodus/dist/impl/erlang_frame.ipp"
#include "nodus/dist/impl/global_member.ipp"
#include "nodus/dist/impl/global_names.ipp"
#include "nodus/dist/impl/pg_scope.ipp"
#include "nodus/dist/native_distribution.hpp"

// Asio's own non-template code, when the program compiles Asio separately too (nodus::compiled and
// nodus_compiled_dep define ASIO_SEPARATE_COMPILATION unless told not to). Define NODUS_NO_ASIO_SRC
// when another TU of the program includes <asio/impl/src.hpp>.
#if defined(ASIO_SEPARATE_COMPILATION) && !defined(NODUS_NO_ASIO_SRC)
#include <asio/impl/src.hpp>
#include <asio/ssl/impl/src.hpp>
#endif
