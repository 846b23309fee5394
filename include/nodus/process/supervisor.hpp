// nodus/process/supervisor.hpp: supervision trees, declared as types.
//
//   nodus::supervisor<nodus::one_for_one, observer, ping_server>
//   nodus::supervisor<nodus::one_for_all, nodus::restart_intensity<5, 10000>, a, b,
//                     nodus::supervisor<nodus::rest_for_one, c, d>>
//
// Children start in order and stop in reverse order. A child that crashes (or stops by itself,
// unless its restart type says otherwise: nodus::transient, nodus::temporary) is
// restarted with fresh state by the strategy: one_for_one restarts it alone; one_for_all stops
// the others and restarts all; rest_for_one stops and restarts it and the children after it. More
// than max_restarts restarts within period makes the supervisor stop its children and exit with
// errc::supervisor_gave_up; its parent treats that as a crash of a child (the top one stops the
// node, and node::run() returns the error). Defaults are Elixir's: 3 restarts in 5 seconds.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/fixed_string.hpp"
#include "nodus/core/format.hpp"
#include "nodus/process/detail/runtime.hpp"
#include "nodus/process/server.hpp"

namespace nodus {

// Restart strategies (Erlang's supervisor strategies of the same names).
struct one_for_one {};
struct one_for_all {};
struct rest_for_one {};

// restart_intensity<MaxRestarts, PeriodMs>: an optional first child entry of a supervisor setting
// its restart intensity.
template <int MaxRestarts, long long PeriodMs>
struct restart_intensity {
  static_assert(MaxRestarts >= 0 && PeriodMs > 0,
                "nodus::restart_intensity<MaxRestarts, PeriodMs>: MaxRestarts must be >= 0 and "
                "PeriodMs > 0");
};

// Restart types of a child (OTP's, see "Child specification" in the supervisor manual:
// https://www.erlang.org/doc/man/supervisor.html#type-restart): permanent (the default) is always
// restarted; transient only after an abnormal exit (a crash, or a failed restart), not after it
// stopped itself with stop(); temporary never. The exit of a child that is not restarted counts
// for no restart intensity and makes one_for_all / rest_for_one restart no sibling; and when a
// sibling's exit restarts the others, a temporary child they stopped is not started again (nor
// is a child that is down: a transient that stopped normally).
enum class restart_type : unsigned char { permanent, transient, temporary };

// permanent<C> / transient<C> / temporary<C>: a supervisor's child C (a server type or a nested
// supervisor) with that restart type.
//   nodus::supervisor<nodus::one_for_one, a, nodus::transient<b>, nodus::temporary<c>>
template <class Child>
struct permanent {};
template <class Child>
struct transient {};
template <class Child>
struct temporary {};

// singleton<S>: a child that runs S exactly once in the cluster. Every node's supervisor lists
// it; the node that registers S::name as a global name (nodus/process/global.hpp) runs S, the
// others stand by and watch the name. When it goes (S's node went down, S crashed there or was
// stopped), the standing-by nodes race for it and one of them starts S (the global lock decides;
// a crashed instance is restarted by its own supervisor first, as any child). When partitions
// merge with S running on both sides, the global name's resolution keeps one (the node whose
// name sorts first) and the other stops its S and stands by. Reach it with
// node.call<S>(nodus::global_name{std::string(S::name.view())}, msg).
template <class S>
struct singleton {};

// supervisor_flags: how many restarts within which period a supervisor tolerates.
struct supervisor_flags {
  int max_restarts = 3;
  std::chrono::milliseconds period{5000};
};

// max_children<N>: an option of a dynamic_supervisor: it refuses to start more than N children
// (errc::max_children). Without it: no limit.
template <std::size_t N>
struct max_children {
  static_assert(N > 0, "nodus::max_children<N>: N must be > 0");
};

// child_info: one child of a dynamic supervisor, as which_children() reports it.
struct child_info {
  std::string name;
  restart_type restart = restart_type::permanent;
  bool running = false;  // false while it is being restarted
};

namespace detail {
template <class T>
struct is_intensity : std::false_type {};
template <int M, long long P>
struct is_intensity<restart_intensity<M, P>> : std::true_type {
  static constexpr supervisor_flags flags{M, std::chrono::milliseconds(P)};
};
template <class... Cs>
struct intensity_of {
  static constexpr supervisor_flags flags{};
};
template <class C, class... Cs>
struct intensity_of<C, Cs...> {
  static constexpr supervisor_flags flags = [] {
    if constexpr (is_intensity<C>::value) {
      return is_intensity<C>::flags;
    } else {
      return intensity_of<Cs...>::flags;
    }
  }();
};
template <class S>
inline constexpr bool is_strategy_v =
    std::is_same_v<S, one_for_one> || std::is_same_v<S, one_for_all> ||
    std::is_same_v<S, rest_for_one>;
}  // namespace detail

// supervisor<Strategy, Children...>: a supervisor spec. Children are server types (default
// constructed at each start), nested supervisor specs, singleton<S>, either of the first two
// with a restart type (permanent<C>, transient<C>, temporary<C>); `flags` may be changed at run
// time.
template <class Strategy, class... Children>
struct supervisor {
  static_assert(detail::is_strategy_v<Strategy>,
                "nodus::supervisor<Strategy, Children...>: Strategy must be nodus::one_for_one, "
                "nodus::one_for_all or nodus::rest_for_one");
  using strategy = Strategy;
  supervisor_flags flags = detail::intensity_of<Children...>::flags;
};

// dynamic_supervisor<Name, Options...>: a supervisor that starts with no children and is given
// them at run time, each with its own name and restart type (Elixir's DynamicSupervisor, OTP's
// simple_one_for_one: https://hexdocs.pm/elixir/DynamicSupervisor.html). A child of a supervisor
// spec like any other; options: restart_intensity<...> (default 3 restarts in 5 s),
// max_children<N>.
//
//   nodus::supervisor<nodus::one_for_one, nodus::dynamic_supervisor<"downloads">>
//   node.dynamic_supervisor("downloads").start_child<download>("download/42", restart, url);
//
// (A program that uses it includes nodus/process/dynamic_supervisor.hpp, or nodus.hpp, which
// has node.dynamic_supervisor(name)'s handle.) Each child is a server S constructed from copies of
// the arguments at every (re)start and registered under its own name:
// node.call<S>(nodus::local_name{"download/42"}, msg). The strategy is one_for_one. A child that is
// not restarted (temporary, a transient that stopped normally) is forgotten. When the restart
// intensity is exceeded, the dynamic supervisor stops every child and exits; its parent restarts it
// with no children.
namespace detail {
template <class T>
struct max_children_of {
  static constexpr std::size_t value = 0;
};
template <std::size_t N>
struct max_children_of<max_children<N>> {
  static constexpr std::size_t value = N;
};
}  // namespace detail
template <fixed_string Name, class... Options>
struct dynamic_supervisor {
  static_assert(((detail::is_intensity<Options>::value ||
                  detail::max_children_of<Options>::value != 0) &&
                 ...),
                "nodus::dynamic_supervisor<Name, Options...>: each option is a "
                "nodus::restart_intensity<...> or a nodus::max_children<N>");
  static constexpr fixed_string name = Name;
  supervisor_flags flags = detail::intensity_of<Options...>::flags;
  std::size_t max_children = (std::size_t{0} + ... + detail::max_children_of<Options>::value);
};

namespace detail {

template <class T>
struct is_supervisor_spec : std::false_type {};
template <class St, class... Cs>
struct is_supervisor_spec<supervisor<St, Cs...>> : std::true_type {};
// restart_of<T>: whether T is a restart-type wrapper; its child and restart type.
template <class T>
struct restart_of {
  static constexpr bool wrapped = false;
  using child = T;
  static constexpr restart_type type = restart_type::permanent;
};
template <class C>
struct restart_of<permanent<C>> {
  static constexpr bool wrapped = true;
  using child = C;
  static constexpr restart_type type = restart_type::permanent;
};
template <class C>
struct restart_of<transient<C>> {
  static constexpr bool wrapped = true;
  using child = C;
  static constexpr restart_type type = restart_type::transient;
};
template <class C>
struct restart_of<temporary<C>> {
  static constexpr bool wrapped = true;
  using child = C;
  static constexpr restart_type type = restart_type::temporary;
};
// restarted(type, reason) -> whether a child of that restart type that exited for reason is
// restarted (the self-stop of a server exits with errc::ok).
[[nodiscard]] inline bool restarted(restart_type type, const error& reason) noexcept {
  return type == restart_type::permanent ||
         (type == restart_type::transient && reason.code() != make_error_code(errc::ok));
}
template <class T>
struct is_dynamic_spec : std::false_type {};
template <fixed_string N, class... Os>
struct is_dynamic_spec<dynamic_supervisor<N, Os...>> : std::true_type {};
template <class T>
struct is_singleton : std::false_type {};
template <class S>
struct is_singleton<singleton<S>> : std::true_type {
  using server = S;
};

// child_node: a supervised child (a server or a nested supervisor). Runs on the supervision strand.
class child_node {
 public:
  child_node() = default;
  child_node(const child_node&) = delete;
  child_node& operator=(const child_node&) = delete;
  virtual ~child_node() = default;
  // start(done): done(result) once started (or failed to start).
  virtual void start(std::function<void(result<void>)> done) = 0;
  // stop(done): done() once stopped.
  virtual void stop(std::function<void()> done) = 0;
  [[nodiscard]] virtual std::string describe() const = 0;
  // next_instance() -> the instance a server child starts next, by its cell's number and its
  // generation (runtime::pid_of makes its pid); nothing for a supervisor.
  [[nodiscard]] virtual std::optional<instance_id> next_instance() { return std::nullopt; }
  // on_exit(reason): set by the parent; the child exited without being asked to.
  std::function<void(error)> on_exit;
  // restart: whether the parent restarts it when it exits (set by the parent's spec).
  restart_type restart = restart_type::permanent;
};

// worker_node: a server child, over its cell (not a template: the cell is the typed part).
class worker_node final : public child_node {
 public:
  NODUS_DECL explicit worker_node(std::unique_ptr<cell_base> cell);
  // make(cell) -> a worker over cell, which it owns (deleted here when that fails).
  [[nodiscard]] NODUS_DECL static child_node* make(cell_base* cell);
  NODUS_DECL void start(std::function<void(result<void>)> done) override;
  NODUS_DECL void stop(std::function<void()> done) override;
  [[nodiscard]] NODUS_DECL std::string describe() const override;
  [[nodiscard]] NODUS_DECL std::optional<instance_id> next_instance() override;

 private:
  std::unique_ptr<cell_base> cell_;
  bool up_ = false;
  std::uint64_t gen_ = 0;
};

// make_worker<S, Wire>(rt) -> the worker_node of server type S, its instances
// default-constructed; the caller owns it.
template <class S, class Wire>
child_node* make_worker(runtime& rt) {
  auto* c = new cell<S>(rt, instance_maker::of<S>());
  c->set_wire_delivery(Wire::template pointer<S>());
  c->set_term_delivery(Wire::template term_pointer<S>());
  return worker_node::make(c);
}

enum class strategy_kind { one_for_one, one_for_all, rest_for_one };

class distributed_node;  // process/distributed_supervisor.hpp

// dynamic_supervisor_node: a running dynamic_supervisor. Not a template. Its children and state
// change on the supervision strand only; which_children() may be called from anywhere.
class dynamic_supervisor_node final : public child_node {
 public:
  NODUS_DECL dynamic_supervisor_node(runtime& rt, std::string_view name, supervisor_flags flags,
                                     std::size_t max_children);
  NODUS_DECL ~dynamic_supervisor_node() override;
  NODUS_DECL void start(std::function<void(result<void>)> done) override;
  NODUS_DECL void stop(std::function<void()> done) override;
  [[nodiscard]] NODUS_DECL std::string describe() const override;

  // start_child(restart, cell) -> ok once cell's server runs, registered under cell's name;
  // errc::max_children when full, already_registered when the name is taken on this node,
  // init_failed when it does not start (then it is forgotten). On the supervision strand.
  [[nodiscard]] NODUS_DECL result<void> start_child(restart_type restart,
                                                    std::unique_ptr<cell_base> cell);
  // terminate_child(name, done): stops that child (no restart) and forgets it; done(noproc)
  // when it has no such child. On the supervision strand; done runs there.
  NODUS_DECL void terminate_child(std::string_view name, std::function<void(result<void>)> done);
  // which_children() -> its children, in start order. Thread-safe.
  [[nodiscard]] NODUS_DECL std::vector<child_info> which_children() const;
  // on_child_gone(cb): cb(name, reason) on the supervision strand when a child is forgotten
  // after it ended by itself (not restarted), or when it gives up (each child).
  std::function<void(const std::string&, const error&)> on_child_gone;
  // distributed: the distributed_supervisor member this one runs the local children of, if any.
  distributed_node* distributed = nullptr;

 private:
  struct entry {
    restart_type restart;
    std::unique_ptr<cell_base> cell;
    std::uint64_t generation = 0;  // of the instance it watches
    bool running = false;
  };
  NODUS_DECL void child_exited(cell_base* cell, std::uint64_t generation, const error& reason);
  // retire(i): forgets child i; its cell is freed a while later (see free_retired).
  NODUS_DECL void retire(std::size_t i);
  // free_retired(all): frees the cells retired long enough ago that no thread still uses a
  // pointer found before they ended (or all of them, once stopped).
  NODUS_DECL void free_retired(bool all);
  NODUS_DECL void give_up(const error& reason);
  NODUS_DECL void stop_from(std::size_t n, std::function<void()> done);

  runtime& rt_;
  std::string name_;
  supervisor_flags flags_;
  std::size_t max_children_;  // 0: no limit
  mutable std::mutex m_;      // guards children_ against which_children()
  std::vector<entry> children_;
  std::deque<clock::time_point> restarts_;
  std::vector<std::pair<clock::time_point, std::unique_ptr<cell_base>>> retired_;
  bool running_ = false;
};

// singleton_node: singleton<S>'s child (see singleton): holds S's worker_node and runs it only
// while this node holds the global name S::name. Not a template. Runs on the supervision strand;
// the global names' callbacks are posted to it.
class singleton_node final : public child_node {
 public:
  NODUS_DECL singleton_node(runtime& rt, std::string_view name, std::unique_ptr<child_node> worker);
  NODUS_DECL ~singleton_node() override;
  NODUS_DECL void start(std::function<void(result<void>)> done) override;
  NODUS_DECL void stop(std::function<void()> done) override;
  [[nodiscard]] NODUS_DECL std::string describe() const override;

 private:
  enum class state { stopped, standby, starting, active };
  NODUS_DECL void try_take();
  NODUS_DECL void stand_by();

  runtime& rt_;
  std::string name_;
  std::unique_ptr<child_node> worker_;
  state state_ = state::stopped;
  std::uint64_t watch_ = 0;        // the global names' on_change subscription
  std::uint64_t incarnation_ = 0;  // changes at each start and stop: stale callbacks are ignored
  // For callbacks that outlive it: read on the supervision strand and by timers, cleared by the
  // destructor (atomic: they may run on another thread meanwhile).
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

// singleton_maker<S>::make(rt, name, worker) -> singleton<S>'s child; defined with the global
// names (process/impl/singleton.ipp, which nodus/process/global.hpp includes): an "incomplete
// type" error naming it means that the program uses nodus::singleton without including
// <nodus/nodus.hpp>.
template <class S>
struct singleton_maker;

// dynamic_maker<Spec>::make(rt) -> a dynamic_supervisor's child; defined by
// nodus/process/dynamic_supervisor.hpp (its code by process/impl/dynamic_supervisor.ipp): an
// "incomplete type" error naming it means that the program uses nodus::dynamic_supervisor without
// including <nodus/process/dynamic_supervisor.hpp> (or <nodus/nodus.hpp>).
template <class Spec>
struct dynamic_maker;

// distributed_maker<Spec>::make<Wire>(rt) -> a distributed_supervisor's child; defined by
// nodus/process/distributed_supervisor.hpp (nodus.hpp includes it): an "incomplete type" error
// naming it means that the program uses nodus::distributed_supervisor without including
// <nodus/nodus.hpp>.
template <class Spec>
struct distributed_maker;
template <class T>
concept distributed_spec = T::nodus_distributed;

// supervisor_node: a running supervisor. Not a template: one is compiled for every tree
// (process/impl/supervisor.ipp).
class supervisor_node final : public child_node {
 public:
  NODUS_DECL supervisor_node(runtime& rt, strategy_kind kind, supervisor_flags flags,
                             std::vector<std::unique_ptr<child_node>> children);
  NODUS_DECL ~supervisor_node() override;

  NODUS_DECL void start(std::function<void(result<void>)> done) override;
  NODUS_DECL void stop(std::function<void()> done) override;
  [[nodiscard]] NODUS_DECL std::string describe() const override;

 private:
  enum class state { stopped, starting, running, restarting, stopping };
  using start_done = std::function<void(result<void>, std::size_t)>;

  NODUS_DECL std::vector<std::size_t> up_in_reverse(std::size_t from) const;
  // Starts order[k...] one after the other; done(result, index of the failed child).
  NODUS_DECL void start_sequence(std::vector<std::size_t> order, std::size_t k, start_done done);
  NODUS_DECL void stop_sequence(std::vector<std::size_t> order, std::size_t k,
                                std::function<void()> done);
  NODUS_DECL void child_exited(std::size_t i, error reason);
  NODUS_DECL void handle_exit(std::size_t i, const error& reason);
  // drain_pending(): handles exits reported while restarting, except those of children that the
  // restart replaced meanwhile.
  NODUS_DECL void drain_pending();
  NODUS_DECL void give_up(std::size_t i, const error& reason);

  runtime& rt_;
  strategy_kind kind_;
  supervisor_flags flags_;
  std::vector<std::unique_ptr<child_node>> children_;
  std::vector<bool> up_;
  std::deque<clock::time_point> restarts_;
  struct exit_event {
    std::size_t child;
    std::uint64_t incarnation;
    error reason;
  };
  std::deque<exit_event> pending_;
  std::vector<std::uint64_t> incarnation_;
  state state_ = state::stopped;
};

template <class St>
constexpr strategy_kind kind_of() {
  if constexpr (std::is_same_v<St, one_for_one>) {
    return strategy_kind::one_for_one;
  } else if constexpr (std::is_same_v<St, one_for_all>) {
    return strategy_kind::one_for_all;
  } else {
    return strategy_kind::rest_for_one;
  }
}

// child_list: the children of a supervisor that make_supervisor builds. Not a template, so that
// a TU compiles no container of children, whatever its tree.
class child_list {
 public:
  NODUS_DECL child_list() noexcept;
  NODUS_DECL child_list(child_list&& o) noexcept;
  child_list& operator=(child_list&&) = delete;
  NODUS_DECL ~child_list();
  // add(c): appends c, which the list owns from here (deleted when it cannot be appended).
  NODUS_DECL void add(child_node* c);
  NODUS_DECL void add(std::unique_ptr<child_node> c);
  // add(l): appends the children of l (a nested supervisor: supervise() made l a list of one).
  NODUS_DECL void add(child_list&& l);
  // set_last_restart(t): the restart type of the child appended last.
  NODUS_DECL void set_last_restart(restart_type t);
  // supervise(rt, kind, flags) -> a list of one: a supervisor_node over this list's children.
  [[nodiscard]] NODUS_DECL child_list supervise(runtime& rt, strategy_kind kind,
                                                supervisor_flags flags) &&;
  // take_supervisor() -> the supervisor_node of a list that supervise() made; nullptr for any
  // other list.
  [[nodiscard]] NODUS_DECL std::unique_ptr<supervisor_node> take_supervisor();

 private:
  std::vector<std::unique_ptr<child_node>> children_;
};

// no_wire: servers that take no messages from other nodes (Wire of make_supervisor; the node
// passes one that decodes the messages of its protocol, process/detail/wire_delivery.hpp).
struct no_wire {
  template <class S>
  static constexpr cell_base::wire_delivery pointer() noexcept {
    return nullptr;
  }
  template <class S>
  static constexpr cell_base::term_delivery term_pointer() noexcept {
    return nullptr;
  }
};

template <class Wire, class St, class... Cs>
child_list make_supervisor(runtime& rt, const supervisor<St, Cs...>& spec);

template <class Wire, class C>
void add_child(runtime& rt, child_list& out) {
  if constexpr (restart_of<C>::wrapped) {
    using inner = typename restart_of<C>::child;
    static_assert(!restart_of<inner>::wrapped,
                  "nodus::permanent / transient / temporary<Child>: a child has one restart type "
                  "(Child is itself a nodus::permanent, transient or temporary)");
    static_assert(!is_intensity<inner>::value && !is_singleton<inner>::value,
                  "nodus::permanent / transient / temporary<Child>: Child must be a server type "
                  "or a nested nodus::supervisor<...> (a restart_intensity is not a child; a "
                  "singleton's restart is the cluster's)");
    add_child<Wire, inner>(rt, out);
    out.set_last_restart(restart_of<C>::type);
  } else if constexpr (is_singleton<C>::value) {
    using S = typename is_singleton<C>::server;
    std::unique_ptr<child_node> worker(make_worker<S, Wire>(rt));
    // singleton_maker is defined by nodus/process/global.hpp (nodus.hpp includes it): a
    // singleton is a distributed program's.
    out.add(singleton_maker<S>::make(rt, S::name.view(), std::move(worker)));
  } else if constexpr (is_intensity<C>::value) {
    // not a child: the supervisor's restart intensity
  } else if constexpr (is_supervisor_spec<C>::value) {
    out.add(make_supervisor<Wire>(rt, C{}));
  } else if constexpr (distributed_spec<C>) {
    out.add(distributed_maker<C>::template make<Wire>(rt));
  } else if constexpr (is_dynamic_spec<C>::value) {
    // dynamic_maker is defined by nodus/process/dynamic_supervisor.hpp (nodus.hpp includes it).
    out.add(dynamic_maker<C>::make(rt));
  } else {
    static_assert(std::is_base_of_v<server_base, C>,
                  "nodus::supervisor<Strategy, Children...>: every child must be a server type "
                  "(derived from nodus::server<...>), a nested nodus::supervisor<...>, a "
                  "nodus::dynamic_supervisor<...> or a nodus::restart_intensity<...>");
    static_assert(std::is_default_constructible_v<C>,
                  "nodus::supervisor<Strategy, Children...>: a supervised server must be default "
                  "constructible (it is built afresh at each restart)");
    out.add(make_worker<C, Wire>(rt));
  }
}

// make_supervisor<Wire>(rt, spec) -> the supervision tree of spec; Wire gives each server type
// its decoder of messages from other nodes (no_wire: none).
template <class Wire, class St, class... Cs>
child_list make_supervisor(runtime& rt, const supervisor<St, Cs...>& spec) {
  child_list children;
  (add_child<Wire, Cs>(rt, children), ...);
  return std::move(children).supervise(rt, kind_of<St>(), spec.flags);
}

}  // namespace detail
}  // namespace nodus

#if defined(NODUS_HEADER_ONLY)
#include "nodus/process/impl/supervisor.ipp"
#endif
