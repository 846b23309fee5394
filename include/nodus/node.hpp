// nodus/node.hpp: the node facade: nodus::node<Topology, Protocol>, a thin typed layer over the
// node core (nodus/detail/node_core.hpp: the io_context, its threads, the life cycle and the
// distribution) that adds what depends on the types: the servers' supervision tree, typed calls,
// casts and sends, the protocol's decoders and the topology's strategies.
//
//   nodus::node<> node{opts};
//   node.start(nodus::supervisor<nodus::one_for_one, observer, ping_server>{});
//   auto r = node.call<ping_server>(ping{});        // blocking; result<pong>
//   node.run();                                     // until stop() or the top supervisor gives up
//
// A node that is distributed (options.name set) needs the distribution compiled into the
// program: include <nodus/nodus.hpp> in one of its files (or link nodus::compiled). A file that
// calls, casts or sends to other nodes, or names a node with a protocol of messages, includes
// <nodus/remote.hpp> (nodus.hpp does); a compile error says so. A program of local servers only
// includes this header and parses no network code and no Erlang term format.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "nodus/cluster/events.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/detail/node_core.hpp"
#include "nodus/fwd.hpp"
#include "nodus/message/protocol.hpp"
#include "nodus/options.hpp"
#include "nodus/process/detail/remote_decl.hpp"
#include "nodus/process/detail/runtime.hpp"
#include "nodus/process/detail/waiter.hpp"
#include "nodus/process/interface.hpp"
#include "nodus/process/server.hpp"
#include "nodus/process/supervisor.hpp"

namespace nodus {

// Declared in process/server.hpp (groups, global_registry) and here, defined by
// process/groups.hpp and process/global.hpp (nodus.hpp includes them): groups(), global() and the
// global_name calls need them.
struct global_name;
class telemetry;
// Defined by process/dynamic_supervisor.hpp (nodus.hpp includes it): dynamic_supervisor() needs
// it.
template <class Wire>
class dynamic_supervisor_ref;
// Defined by process/distributed_supervisor.hpp (nodus.hpp includes it).
template <class Spec>
class distributed_supervisor_ref;

// no_topology: a node that forms no cluster by itself (the default Topology).
struct no_topology {};

namespace detail {
// protocol_wire<Protocol>: the Wire of make_supervisor for a node of that protocol. The
// deliveries from other nodes (<nodus/remote.hpp>) only for a protocol with messages.
template <class Protocol>
struct protocol_wire {
  template <class S>
  static constexpr cell_base::wire_delivery pointer() noexcept {
    if constexpr (Protocol::size == 0) {
      return nullptr;
    } else {
      require_remote_ops<S>();
      return wire_delivery<S, Protocol>::pointer();
    }
  }
  template <class S>
  static constexpr cell_base::term_delivery term_pointer() noexcept {
    if constexpr (Protocol::size == 0) {
      return nullptr;
    } else {
      require_remote_ops<S>();
      return term_delivery<S, Protocol>::pointer();
    }
  }
};

// start_formation<Topology>(core): starts the topology's strategies on core (defined by
// nodus/cluster/topology.hpp, which a program naming a topology includes).
template <class Topology>
void start_formation(node_core& core);
}  // namespace detail

// node<Topology, Protocol>: one node. Thread-safe unless noted. Topology and Protocol are where
// cluster formation and the wire protocol plug in; a node of one process needs neither. Messages
// reach a server from other nodes only when they are in Protocol.
template <class Topology, class Protocol>
class node {
 public:
  using topology_type = Topology;
  using protocol_type = Protocol;

  explicit node(const options& opts = {}) : core_(opts, Protocol::fingerprint) {
    static_assert(
        std::is_same_v<Topology, no_topology> || requires { Topology::runners(); },
        "node<Topology, Protocol>: Topology is nodus::no_topology or a "
        "nodus::topology<Strategies...>");
  }
  node(const node&) = delete;
  node& operator=(const node&) = delete;
  // ~node(): stops the node (servers get terminate) and joins its threads.
  ~node() = default;

  // start(spec): starts the top supervisor and its children, in order; fails (and starts
  // nothing) when a child fails to start. Not from a thread of this node.
  //
  // A named node first listens (listen()) and syncs with options.sync_nodes_* (bounded by
  // options.sync_nodes_timeout; a missing mandatory node fails start with errc::nodedown naming
  // it).
  //
  // Then the topology's strategies start (start_cluster()): after the servers, so that a server
  // that monitors nodes sees the first node_up; before them when options.cluster.startup_wait is
  // set, and start() waits (at most that long) until every strategy ran its first round of
  // connects, for programs that must not start work on an empty cluster.
  template <class Strategy, class... Children>
  result<void> start(const supervisor<Strategy, Children...>& spec) {
    if (auto r = listen(); !r) return r;
    const bool form = opts().cluster.form;
    const bool wait_cluster = form && opts().cluster.startup_wait.count() > 0;
    if (wait_cluster) {
      start_cluster();
      core_.wait_first_round();
    }
    if (auto r = core_.sync_nodes(); !r) return r;
    if (auto r = core_.start_tree(
            detail::make_supervisor<detail::protocol_wire<Protocol>>(core_.rt(), spec));
        !r)
      return r;
    if (form && !wait_cluster) start_cluster();
    return {};
  }

  // start_cluster(): starts the topology's strategies (start() calls it); idempotent. A node
  // without a name or without a topology has nothing to do.
  void start_cluster() {
    if constexpr (!std::is_same_v<Topology, no_topology>) {
      if (core_.dist() == nullptr || core_.port() == 0 || core_.has_formation()) return;
      detail::start_formation<Topology>(core_);
    }
  }

  // cluster_formed() -> every strategy of the topology ran its first round of connects (true
  // without a topology).
  [[nodiscard]] bool cluster_formed() const { return core_.cluster_formed(); }

  // serves_port_mapper() -> this node serves its host's port mapper (EPMD) itself, because none
  // answered when it registered (see epmd::agent).
  [[nodiscard]] bool serves_port_mapper() const { return core_.serves_port_mapper(); }

  // listen(): a named node opens its TCP listener (options.address / port) so that other nodes can
  // connect, and registers with its host's port mapper (options.epmd); start() calls it.
  // Idempotent. Errors: errc::not_connected naming the address when it cannot bind, or when the
  // program has no distribution compiled in; a node without a name has nothing to do.
  result<void> listen() { return core_.listen(); }

  // port() -> the TCP port this node listens on (0 before listen() or without a name).
  [[nodiscard]] std::uint16_t port() const { return core_.port(); }

  // async_connect(node, token): Node.connect: completes with true once node is connected (at
  // once when it is already, or is this node), false when it cannot be (nobody listening, wrong
  // cookie, a different protocol, setup timeout). node is "name@host:port", or a name whose port
  // this node learnt (from the mesh). Completion signature void(bool).
  template <class Token>
  auto async_connect(std::string_view target, Token&& token) {
    return asio::async_initiate<Token, void(bool)>(
        [this](auto handler, std::string text) {
          auto done = [h = std::make_shared<decltype(handler)>(std::move(handler))](bool ok) {
            auto ex = asio::get_associated_executor(*h);
            asio::post(ex, [h, ok]() mutable { std::move (*h)(ok); });
          };
          core_.start_connect(text, std::move(done));
        },
        token, std::string(target));
  }

  // async_wait_writable(node, token): completes once the queue of frames to node is below its
  // busy limit (options::dist_buf_busy_limit), at once when it is: with ok, or nodedown when node
  // is not connected (or goes down meanwhile). How a handler, which must not block, waits out a
  // cast's errc::busy before it sends again. Completion signature void(result<void>); the
  // handler runs on its associated executor, by default a thread of this node.
  template <class Token>
  auto async_wait_writable(const node_name& to, Token&& token) {
    return asio::async_initiate<Token, void(result<void>)>(
        [this](auto handler, node_name peer) {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          auto ex = asio::get_associated_executor(*h, core_.io().get_executor());
          core_.when_writable(peer, [h, ex](result<void> r) {
            asio::post(ex, [h, r = std::move(r)]() mutable { std::move (*h)(std::move(r)); });
          });
        },
        token, to);
  }

  // connect(node) -> bool: blocking async_connect, for main() and tests (false from a thread of
  // this node, where it would deadlock; use async_connect there).
  bool connect(std::string_view target) { return core_.connect(target); }
  bool connect(const node_name& to) { return core_.connect(to.str()); }

  // disconnect(node) -> true when a connection to node was up and is now closed (node_down with
  // reason disconnect follows here, connection_closed there). Messages that send/cast accepted
  // for node before the call are written before the connection closes.
  bool disconnect(const node_name& to) { return core_.disconnect(to); }

  // list(which) -> the connected nodes, sorted: visible ones by default (Node.list()), or
  // node_kind::hidden / node_kind::connected.
  [[nodiscard]] std::vector<node_name> list(node_kind which = node_kind::visible) const {
    return core_.list(which);
  }

  // on_node_up(cb) / on_node_down(cb): callback subscriptions to visible nodes coming and going
  // (the typed alternative to a server's monitor_nodes()). cb runs on a thread of the node; it
  // must not block.
  void on_node_up(std::function<void(const node_up&)> cb) { core_.on_node_up(std::move(cb)); }
  void on_node_down(std::function<void(const node_down&)> cb) { core_.on_node_down(std::move(cb)); }

  // spawn<S>(args...): starts an unsupervised server constructed from args (copied; a crash ends
  // it for good). Not from a thread of this node.
  template <class S, class... Args>
  result<void> spawn(Args&&... args) {
    auto* c = new detail::cell<S>(
        core_.rt(), detail::instance_maker([... a = std::decay_t<Args>(static_cast<Args&&>(args))] {
          return new S(a...);
        }));
    std::unique_ptr<detail::cell_base> owned(c);
    c->set_wire_delivery(detail::protocol_wire<Protocol>::template pointer<S>());
    c->set_term_delivery(detail::protocol_wire<Protocol>::template term_pointer<S>());
    return core_.spawn(std::move(owned));
  }

  // run(): runs the node on this thread and options.threads - 1 more until stop(); returns the
  // top supervisor's exit error when it gave up, success otherwise.
  result<void> run() { return core_.run(); }

  // run_in_background(): starts options.threads threads that run the node until stop().
  void run_in_background() { core_.run_in_background(); }

  // stop(): stops every server (in reverse start order), fails outstanding calls with
  // errc::shutdown, then lets the node's threads return. Idempotent; returns at once.
  void stop() { core_.stop(); }

  // join(): waits for the threads of run_in_background() (after stop() or a supervisor giving
  // up) and returns like run().
  result<void> join() { return core_.join(); }

  // async_call<S>(msg[, timeout], token): calls the local server S. Completion signature:
  // void(nodus::result<Reply>). The handler runs on its associated executor (by default the
  // node's io_context). Fails with noproc when S is not running, server_crashed (with the reason)
  // when it crashes first, timeout after timeout (default options.call_timeout).
  template <class S, class Req, class Token>
  auto async_call(Req&& msg, std::chrono::milliseconds timeout, Token&& token) {
    using P = reply_t<S, std::remove_cvref_t<Req>>;
    return asio::async_initiate<Token, void(result<P>)>(
        [this, timeout](auto handler, auto&& m) {
          detail::call_local<S>(core_.rt(), static_cast<decltype(m)&&>(m), timeout,
                                std::move(handler));
        },
        token, static_cast<Req&&>(msg));
  }
  template <class S, class Req, class Token>
  requires(!std::is_convertible_v<Token, std::chrono::milliseconds>) auto async_call(
      Req&& msg, Token&& token) {
    return async_call<S>(static_cast<Req&&>(msg), opts().call_timeout, static_cast<Token&&>(token));
  }

  // call<S>(msg[, timeout]) -> result<Reply>: blocking call, for main() and tests; fails with
  // errc::would_deadlock from a thread of this node and errc::not_running when no thread runs it.
  template <class S, class Req>
  result<reply_t<S, std::remove_cvref_t<Req>>> call(Req&& msg,
                                                    std::chrono::milliseconds timeout = {}) {
    using P = reply_t<S, std::remove_cvref_t<Req>>;
    if (auto e = core_.blocking_error(S::name.view())) return *e;
    detail::waiter_ptr<result<P>> w;
    detail::call_local<S>(core_.rt(), static_cast<Req&&>(msg),
                          timeout.count() == 0 ? opts().call_timeout : timeout,
                          detail::waiter_setter<result<P>>(w));
    if (auto r = w.wait()) return std::move(*r);
    return error(errc::shutdown, "the node stopped before the call completed");
  }

  // async_call<S>(node, msg[, timeout], token): calls S on node ({name, node} in Erlang), or
  // locally when node is this node. As async_call<S>(msg, ...), plus: errc::nodedown at once when
  // node is not connected or goes down before replying; the reply of a call that timed out is
  // dropped. msg may be a std::shared_ptr / unique_ptr to the message (sent without a copy).
  template <class S, class Req, class Token>
  auto async_call(const node_name& to, Req&& msg, std::chrono::milliseconds timeout,
                  Token&& token) {
    using P = reply_t<S, detail::message_type_t<Req>>;
    return asio::async_initiate<Token, void(result<P>)>(
        [this, to, timeout](auto handler, auto&& m) {
          this->template call_any<S>(to, static_cast<decltype(m)&&>(m), timeout,
                                     std::move(handler));
        },
        token, static_cast<Req&&>(msg));
  }
  template <class S, class Req, class Token>
  requires(!std::is_convertible_v<Token, std::chrono::milliseconds>) auto async_call(
      const node_name& to, Req&& msg, Token&& token) {
    return async_call<S>(to, static_cast<Req&&>(msg), opts().call_timeout,
                         static_cast<Token&&>(token));
  }

  // call<S>(node, msg[, timeout]) -> result<Reply>: blocking remote call (see async_call).
  template <class S, class Req>
  result<reply_t<S, detail::message_type_t<Req>>> call(const node_name& to, Req&& msg,
                                                       std::chrono::milliseconds timeout = {}) {
    using P = reply_t<S, detail::message_type_t<Req>>;
    if (auto e = core_.blocking_error(S::name.view())) return *e;
    detail::waiter_ptr<result<P>> w;
    call_any<S>(to, static_cast<Req&&>(msg), timeout.count() == 0 ? opts().call_timeout : timeout,
                detail::waiter_setter<result<P>>(w));
    if (auto r = w.wait()) return std::move(*r);
    return error(errc::shutdown, "the node stopped before the call completed");
  }

  // multi_call<S>(nodes, msg[, timeout]) -> one (node, result) per node, in the order of nodes:
  // calls S on every node at once and waits for all (gen_server:multi_call; the seed's
  // Ping.ping over Node.list()). Blocking, like call.
  template <class S, class Req>
  std::vector<std::pair<node_name, result<reply_t<S, detail::message_type_t<Req>>>>> multi_call(
      const std::vector<node_name>& nodes, const Req& msg, std::chrono::milliseconds timeout = {}) {
    using R = detail::message_type_t<Req>;
    using P = reply_t<S, R>;
    std::vector<std::pair<node_name, result<P>>> out;
    out.reserve(nodes.size());
    if (auto e = core_.blocking_error(S::name.view())) {
      for (const auto& n : nodes) out.emplace_back(n, *e);
      return out;
    }
    auto shared = detail::to_shared_message(R(detail::message_value(msg)));
    // One slot per node, in an array: a std::vector would need waiter_ptr's move.
    const std::unique_ptr<detail::waiter_ptr<result<P>>[]> ws(
        new detail::waiter_ptr<result<P>>[nodes.size()]);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      call_any<S>(nodes[i], std::shared_ptr<const R>(shared),
                  timeout.count() == 0 ? opts().call_timeout : timeout,
                  detail::waiter_setter<result<P>>(ws[i]));
    }
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      auto r = ws[i].wait();
      out.emplace_back(nodes[i],
                       r ? std::move(*r) : result<P>(error(errc::shutdown, "the node stopped")));
    }
    return out;
  }

  // cast<S>(node, msg) / send<S>(node, msg): to S on node (or locally); errc::nodedown when node
  // is not connected; errc::busy when the queue of frames to node is at its limit
  // (options::dist_buf_busy_limit: the peer does not read fast enough). Like Erlang's, delivery
  // is not confirmed; messages that were taken arrive in order unless the node goes down.
  template <class S, class M>
  result<void> cast(const node_name& to, M&& msg) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_cast<S, detail::message_type_t<M>>::ok;
    if (to == self()) return cast<S>(detail::message_value(static_cast<M&&>(msg)));
    detail::require_remote_ops<S>();
    return detail::cast_remote<S, nodus::cast>(core_.rt(), to, static_cast<M&&>(msg));
  }
  template <class S, class M>
  result<void> send(const node_name& to, M&& msg) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_info<S, detail::message_type_t<M>>::ok;
    if (to == self()) return send<S>(detail::message_value(static_cast<M&&>(msg)));
    detail::require_remote_ops<S>();
    return detail::cast_remote<S, nodus::info>(core_.rt(), to, static_cast<M&&>(msg));
  }
  // cast<S>(node, msg, wait_if_busy{timeout}) / send<S>(node, msg, wait_if_busy{timeout}): the
  // same, but a busy peer is waited for (up to timeout) rather than refused, as an Erlang
  // process sending to a busy distribution port is suspended. Not from a thread of this node
  // (see wait_if_busy).
  template <class S, class M>
  result<void> cast(const node_name& to, M&& msg, wait_if_busy busy) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_cast<S, detail::message_type_t<M>>::ok;
    if (to == self()) return cast<S>(detail::message_value(static_cast<M&&>(msg)));
    detail::require_remote_ops<S>();
    return detail::cast_remote<S, nodus::cast>(core_.rt(), to, static_cast<M&&>(msg), &busy);
  }
  template <class S, class M>
  result<void> send(const node_name& to, M&& msg, wait_if_busy busy) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_info<S, detail::message_type_t<M>>::ok;
    if (to == self()) return send<S>(detail::message_value(static_cast<M&&>(msg)));
    detail::require_remote_ops<S>();
    return detail::cast_remote<S, nodus::info>(core_.rt(), to, static_cast<M&&>(msg), &busy);
  }

  // send(pid, msg): msg, as an Erlang term, to the process pid names, as Erlang's `Pid ! Msg`:
  // a process of a BEAM node (one that sent its pid, e.g. a subscriber), or a server of this or
  // another nodus node (its handle_info; e.g. a process group's member). Not confirmed. Errors:
  // nodedown when pid's node is not connected, busy as cast().
  template <class M>
  result<void> send(const etf::pid& to, const M& msg) {
    detail::require_remote_ops<M>();
    return detail::send_to_pid(core_.rt(), to, msg);
  }
  template <class M>
  result<void> send(const etf::pid& to, const M& msg, wait_if_busy busy) {
    detail::require_remote_ops<M>();
    return detail::send_to_pid(core_.rt(), to, msg, &busy);
  }

  // cast<S>(msg): queues msg for S's handle_cast; noproc when S is not running.
  template <class S, class M>
  result<void> cast(M&& msg) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_cast<S, std::remove_cvref_t<M>>::ok;  // reports an undeclared message
    return detail::cast_local<S, nodus::cast>(core_.rt(), static_cast<M&&>(msg));
  }
  // send<S>(msg): queues msg for S's handle_info; noproc when S is not running.
  template <class S, class M>
  result<void> send(M&& msg) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_info<S, std::remove_cvref_t<M>>::ok;  // reports an undeclared message
    return detail::cast_local<S, nodus::info>(core_.rt(), static_cast<M&&>(msg));
  }

  // is_running<S>() -> whether S runs here now.
  template <class S>
  [[nodiscard]] bool is_running() const {
    auto* c = core_.rt().whereis(S::name.view());
    return c != nullptr && c->running();
  }
  // mailbox_stats<S>() -> S's mailbox counters (nodus/process/mailbox.hpp); all zero but the
  // declared limit when S is not registered here.
  template <class S>
  [[nodiscard]] mailbox_counters mailbox_stats() const {
    return detail::mailbox_stats_of<S>(core_.rt());
  }
  // groups(scope) -> a scope of this node's process groups, wire-compatible with OTP's pg
  // (nodus/process/groups.hpp, which nodus.hpp includes); made at its first use, "pg" by default
  // (Erlang's default scope).
  template <class Groups = nodus::groups>
  [[nodiscard]] Groups groups(std::string_view scope = "pg") {
    return Groups(core_.rt(), scope);
  }

  // telemetry() -> this node's telemetry events (nodus/core/telemetry.hpp): connects (with
  // libcluster's names), node ups and downs, global name conflicts, singleton moves.
  [[nodiscard]] nodus::telemetry& telemetry() noexcept { return core_.rt().events(); }

  // global() -> this node's cluster-wide names, as Erlang's :global (nodus/process/global.hpp,
  // which nodus.hpp includes).
  template <class Registry = global_registry>
  [[nodiscard]] Registry global() {
    return Registry(core_.rt());
  }

  // call<S>(global_name{n}, msg[, timeout]) / cast<S>(global_name{n}, msg) /
  // send<S>(global_name{n}, msg): to the server S that holds the global name n (a local lookup
  // of its pid; on a BEAM node: S by its name on the pid's node); noproc when nobody holds it
  // (or its holder is no S). Otherwise as with a node.
  // (The reply type comes from the body: overload resolution of a local call, whose first
  // argument is its message, does not look into it. clang-format misreads requires-clauses.)
  // clang-format off
  template <class S, class Name, class Req>
    requires std::is_same_v<Name, global_name>
  auto call(const Name& to, Req&& msg, std::chrono::milliseconds timeout = {}) {
    using P = reply_t<S, detail::message_type_t<Req>>;
    auto r = global().route(to.name);
    if (!r) return result<P>(r.error());
    if (auto e = core_.blocking_error(S::name.view())) return result<P>(*e);
    detail::waiter_ptr<result<P>> w;
    const auto t = timeout.count() == 0 ? opts().call_timeout : timeout;
    if (r->node == self()) {
      detail::call_local<S>(core_.rt(), detail::message_value(static_cast<Req&&>(msg)), t,
                            detail::waiter_setter<result<P>>(w), r->target);
    } else {
      detail::require_remote_ops<S>();
      detail::call_remote<S>(core_.rt(), r->node, static_cast<Req&&>(msg), t,
                             detail::waiter_setter<result<P>>(w), r->target);
    }
    if (auto v = w.wait()) return std::move(*v);
    return result<P>(error(errc::shutdown, "the node stopped before the call completed"));
  }
  template <class S, class Name, class M>
    requires std::is_same_v<Name, global_name>
  result<void> cast(const Name& to, M&& msg) {
    return to_global<S, nodus::cast>(to, static_cast<M&&>(msg));
  }
  template <class S, class Name, class M>
    requires std::is_same_v<Name, global_name>
  result<void> send(const Name& to, M&& msg) {
    return to_global<S, nodus::info>(to, static_cast<M&&>(msg));
  }
  // clang-format on

  // call<S>(local_name{n}, msg[, timeout]) / cast<S>(local_name{n}, msg) /
  // send<S>(local_name{n}, msg): to the server S of this node registered under the run-time name
  // n (a dynamic supervisor's child); as with S's own name otherwise.
  // clang-format off
  template <class S, class Name, class Req>
    requires std::is_same_v<Name, local_name>
  auto call(const Name& to, Req&& msg, std::chrono::milliseconds timeout = {}) {
    using P = reply_t<S, std::remove_cvref_t<Req>>;
    if (auto e = core_.blocking_error(to.name)) return result<P>(*e);
    detail::waiter_ptr<result<P>> w;
    detail::call_local<S>(core_.rt(), static_cast<Req&&>(msg),
                          timeout.count() == 0 ? opts().call_timeout : timeout,
                          detail::waiter_setter<result<P>>(w), to.name);
    if (auto r = w.wait()) return std::move(*r);
    return result<P>(error(errc::shutdown, "the node stopped before the call completed"));
  }
  template <class S, class Name, class M>
    requires std::is_same_v<Name, local_name>
  result<void> cast(const Name& to, M&& msg) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_cast<S, std::remove_cvref_t<M>>::ok;
    return detail::cast_local<S, nodus::cast>(core_.rt(), static_cast<M&&>(msg), to.name);
  }
  template <class S, class Name, class M>
    requires std::is_same_v<Name, local_name>
  result<void> send(const Name& to, M&& msg) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_info<S, std::remove_cvref_t<M>>::ok;
    return detail::cast_local<S, nodus::info>(core_.rt(), static_cast<M&&>(msg), to.name);
  }
  // clang-format on

  // dynamic_supervisor(name) -> a handle on this node's nodus::dynamic_supervisor<name, ...>
  // (nodus/process/dynamic_supervisor.hpp, which nodus.hpp includes): start_child<S>(...),
  // terminate_child, which_children.
  template <class Ref = dynamic_supervisor_ref<detail::protocol_wire<Protocol>>>
  [[nodiscard]] Ref dynamic_supervisor(std::string_view name) {
    return Ref(core_, name);
  }

  // distributed_supervisor<Spec>() -> a handle on this node's member of the
  // nodus::distributed_supervisor Spec (nodus/process/distributed_supervisor.hpp, which
  // nodus.hpp includes): start_child<S>(...), terminate_child, which_children, members.
  template <class Spec, class Ref = distributed_supervisor_ref<Spec>>
  [[nodiscard]] Ref distributed_supervisor() {
    return Ref(core_);
  }

  // registered() -> the names registered on this node, sorted.
  [[nodiscard]] std::vector<std::string> registered() const { return core_.rt().registered(); }

  [[nodiscard]] const node_name& self() const noexcept { return core_.self(); }
  // alive() -> this node has a name (is distributed), as Node.alive?/0.
  [[nodiscard]] bool alive() const noexcept { return core_.alive(); }
  [[nodiscard]] logger& log() noexcept { return core_.log(); }
  [[nodiscard]] asio::io_context& io_context() noexcept { return core_.io(); }
  [[nodiscard]] const options& opts() const noexcept { return core_.opts(); }

 private:
  template <class S, template <class> class Kind, class Name, class M>
  result<void> to_global(const Name& to, M&& msg) {
    using T = detail::message_type_t<M>;
    if constexpr (std::is_same_v<Kind<T>, nodus::cast<T>>) {
      [[maybe_unused]] constexpr bool declared = detail::checked_cast<S, T>::ok;
    } else {
      [[maybe_unused]] constexpr bool declared = detail::checked_info<S, T>::ok;
    }
    auto r = global().route(to.name);
    if (!r) return r.error();
    if (r->node == self()) {
      return detail::cast_local<S, Kind>(core_.rt(), detail::message_value(static_cast<M&&>(msg)),
                                         r->target);
    }
    detail::require_remote_ops<S>();
    return detail::cast_remote<S, Kind>(core_.rt(), r->node, static_cast<M&&>(msg), nullptr,
                                        r->target);
  }
  template <class S, class Req, class Handler>
  void call_any(const node_name& to, Req&& msg, std::chrono::milliseconds timeout, Handler&& h) {
    if (to == self()) {
      detail::call_local<S>(core_.rt(), detail::message_value(static_cast<Req&&>(msg)), timeout,
                            static_cast<Handler&&>(h));
    } else {
      detail::require_remote_ops<S>();
      detail::call_remote<S>(core_.rt(), to, static_cast<Req&&>(msg), timeout,
                             static_cast<Handler&&>(h));
    }
  }

  detail::node_core core_;
};

}  // namespace nodus
