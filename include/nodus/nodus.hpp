// nodus/nodus.hpp: the public surface of nodus (include the topic headers for less), except the
// gossip and DNS strategies, which a program that uses them includes itself
// (nodus/cluster/gossip.hpp, nodus/cluster/dns_poll.hpp, nodus/cluster/dns_srv.hpp): they cost
// every TU 1.5 s of compile time.
//
// Header-only, it also compiles the distribution (dist/native_distribution.hpp) into the TU, which
// a distributed node needs in one file of its program; a program of local servers includes
// nodus/node.hpp alone. With NODUS_SEPARATE_COMPILATION the distribution is in the compiled
// library and this header only declares.
#pragma once

#include "nodus/fwd.hpp"

#include "nodus/core/error.hpp"
#include "nodus/core/fixed_string.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"

#include "nodus/message/protocol.hpp"

#include "nodus/process/caller.hpp"
#include "nodus/process/distributed_supervisor.hpp"
#include "nodus/process/dynamic_supervisor.hpp"
#include "nodus/process/global.hpp"
#include "nodus/process/groups.hpp"
#include "nodus/process/interface.hpp"
#include "nodus/process/mailbox.hpp"
#include "nodus/process/server.hpp"
#include "nodus/process/supervisor.hpp"

#include "nodus/cluster/topology.hpp"
#include "nodus/node.hpp"
#include "nodus/options.hpp"
#include "nodus/remote.hpp"

#if defined(NODUS_HEADER_ONLY)
#include "nodus/dist/native_distribution.hpp"
#endif
