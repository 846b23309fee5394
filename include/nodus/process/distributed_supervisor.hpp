// nodus/process/distributed_supervisor.hpp: children started anywhere in the cluster under
// cluster-wide names, kept alive across node deaths and moved when nodes join (the job of
// Horde.DynamicSupervisor with Horde.Registry in Elixir).
//
//   struct download : nodus::server<download, ...> {
//     static constexpr nodus::fixed_string name = "download";      // the child type's name
//     using start_args = std::tuple<std::string, int>;              // optional: what it is built
//     download(std::string url, int id);                            // from (as Erlang terms)
//     progress handoff_state();                   // optional: its state, taken when it moves
//     void take_handoff(progress state);          // ... and given to its next home's instance
//   };
//   using downloads = nodus::distributed_supervisor<"downloads", download>;
//   node.start(nodus::supervisor<nodus::one_for_one, downloads>{});   // on every node
//   node.distributed_supervisor<downloads>().start_child<download>(
//       "download/42", nodus::restart_type::transient, std::string("http://..."), 42);
//   node.call<download>(nodus::global_name{"download/42"}, query{});    // from any node
//
// Members: the nodes that run the same distributed_supervisor (a process group of the scope
// "pg", {nodus_dsup, Name}). Each member keeps the table of child specs (name, type, arguments as
// an Erlang term, restart type), replicated: start_child and the end of a child are sent to
// every member; a node that joins gets the table from each member.
//
// Placement (deterministic): a child runs on the member with the highest rendezvous weight
// (highest random weight hashing: FNV-1a of "child name\0node name", mixed by splitmix64's
// finalizer) over the members this node knows. The child's instance holds the global name of the
// child's name (process/global.hpp), registered before it starts: all or none, so when two
// members both think they should start it (their views of the members differ for a moment), one
// does.
//   - its node goes down: the global name goes with it; the member the policy now picks starts
//     it (permanent and transient children; a temporary one is forgotten);
//   - a node joins: each member stops the children the policy now places on it, after taking
//     their handoff_state() when they have one, and sends it with the move; the new home starts
//     the child once its global name is free, with take_handoff(state) called before init();
//   - it crashes: its home restarts it (permanent, transient), as a dynamic_supervisor would; a
//     transient that stopped normally and a temporary child are forgotten everywhere;
//   - partitions heal with the child running on both sides: the global names keep one (the
//     node whose name sorts first, process/global.hpp); the other side stops its instance, and
//     the placement moves the survivor home if it is not there.
// A child's local name is its global name, and node.call<S>(global_name{name}, msg) reaches it.
// Temporary children do not move when nodes join. A handoff whose new home is not where the
// child starts after all (members' views that differ) is lost: the child starts fresh.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "nodus/codec/etf/term.hpp"
#include "nodus/codec/etf/typed.hpp"
#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/fixed_string.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/detail/node_core.hpp"
#include "nodus/process/dynamic_supervisor.hpp"
#include "nodus/process/server.hpp"
#include "nodus/process/supervisor.hpp"

namespace nodus {

// distributed_supervisor<Name, Children...>: the spec (a child of every member's supervision
// tree); Children are the server types it may start, each with a distinct S::name.
template <fixed_string Name, class... Children>
struct distributed_supervisor {
  static_assert(sizeof...(Children) > 0,
                "nodus::distributed_supervisor<Name, Children...>: list the server types it may "
                "start (a remote member builds them)");
  static_assert((std::is_base_of_v<server_base, Children> && ...),
                "nodus::distributed_supervisor<Name, Children...>: every child type must be a "
                "server type (derived from nodus::server<...>)");
  static constexpr bool nodus_distributed = true;
  static constexpr fixed_string name = Name;
  template <class S>
  static constexpr bool may_start = (std::is_same_v<S, Children> || ...);
  // A constant expression (two children types must not share a name: remote members look them
  // up by it).
  static constexpr bool distinct_names = [] {
    const std::string_view names[] = {Children::name.view()...};
    for (std::size_t i = 0; i < sizeof...(Children); ++i) {
      for (std::size_t j = i + 1; j < sizeof...(Children); ++j) {
        if (names[i] == names[j]) return false;
      }
    }
    return true;
  }();
  static_assert(distinct_names,
                "nodus::distributed_supervisor<Name, Children...>: two child types have the same "
                "S::name (members tell the types apart by it)");
};

// distributed_child_info: one child spec of the cluster-wide table.
struct distributed_child_info {
  std::string name;
  std::string type;  // its server type's S::name
  restart_type restart = restart_type::permanent;
  std::optional<node_name> node;  // where it runs now (its global name's holder), if it runs
};

namespace detail {

// start_args_of<S>: the std::tuple a child of type S is built from (S::start_args, or none).
template <class S>
struct start_args_of {
  using type = std::tuple<>;
};
template <class S>
requires requires { typename S::start_args; }
struct start_args_of<S> {
  using type = typename S::start_args;
};

// child_type: how a member builds, and moves, a child of one server type.
struct child_type {
  std::string_view type;  // S::name
  // make(rt, name, args, state, why) -> a cell of S registered under name (not started) whose
  // instances are built from args (the term of S's start_args); the first one is given *state
  // through take_handoff if it holds one when it starts (it is filled in then, not now); null
  // with why when args do not fit.
  std::unique_ptr<cell_base> (*make)(runtime& rt, std::string name, const etf::term& args,
                                     std::shared_ptr<std::optional<etf::term>> state,
                                     error& why) = nullptr;
  // take_state(cell, done) -> false when S keeps no state across a move; else done(its
  // handoff_state() as a term) runs later (from S's context), or done(error) when it is gone.
  bool (*take_state)(cell_base& cell, std::function<void(result<etf::term>)> done) = nullptr;
};

// distributed_node: a running distributed_supervisor on one member. Not a template. Its table
// and decisions live on the supervision strand.
class distributed_node final : public child_node {
 public:
  NODUS_DECL distributed_node(runtime& rt, std::string_view name, std::vector<child_type> types);
  NODUS_DECL ~distributed_node() override;
  NODUS_DECL void start(std::function<void(result<void>)> done) override;
  NODUS_DECL void stop(std::function<void()> done) override;
  [[nodiscard]] NODUS_DECL std::string describe() const override;

  // start_child(name, type, args, restart) -> the node the policy places it on, in this
  // member's view; already_registered when the table has that name. Supervision strand.
  [[nodiscard]] NODUS_DECL result<node_name> start_child(const std::string& name,
                                                         std::string_view type, etf::term args,
                                                         restart_type restart);
  // terminate_child(name) -> ok when the table had it: it is forgotten everywhere and stopped
  // where it runs. Supervision strand.
  NODUS_DECL result<void> terminate_child(const std::string& name);
  // which_children() -> the table, by name. Supervision strand.
  [[nodiscard]] NODUS_DECL std::vector<distributed_child_info> which_children() const;
  // members() -> the member nodes this node knows, sorted. Supervision strand.
  [[nodiscard]] NODUS_DECL std::vector<node_name> members() const;
  // place(name, members) -> the member the policy picks for name (highest rendezvous weight).
  [[nodiscard]] NODUS_DECL static node_name place(std::string_view name,
                                                  const std::vector<node_name>& members);
  // on_message(from, message): a member's message (supervision strand).
  NODUS_DECL void on_message(const etf::term& message);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// make_child_type<S, Wire>() -> S's child_type.
template <class S, class Wire>
child_type make_child_type() {
  using args_t = typename start_args_of<S>::type;
  static_assert(etf::mappable_v<args_t>,
                "nodus::distributed_supervisor: a child type's start_args must map to an Erlang "
                "term (nodus/codec/etf/typed.hpp)");
  child_type t;
  t.type = S::name.view();
  t.make = [](runtime& rt, std::string name, const etf::term& args,
              std::shared_ptr<std::optional<etf::term>> state,
              error& why) -> std::unique_ptr<cell_base> {
    auto a = etf::from_term<args_t>(args);
    if (!a) {
      why = a.error();
      return nullptr;
    }
    auto* c = new cell<S>(rt, instance_maker([a = std::move(a).value(), state] {
                            box<S> s(std::apply([](const auto&... xs) { return new S(xs...); }, a));
                            if constexpr (requires(S & x) { x.handoff_state(); }) {
                              using T = std::remove_cvref_t<decltype(s->handoff_state())>;
                              if (state->has_value()) {
                                // Given to the first instance only: a restart after a crash starts
                                // afresh.
                                auto v = etf::from_term<T>(**state);
                                state->reset();
                                if (v) {
                                  s->take_handoff(std::move(v).value());
                                } else {
                                  s->log().error("'{}': its handed-off state does not fit: {}",
                                                 s->self_name(), v.error().message());
                                }
                              }
                            }
                            return s;
                          }),
                          std::move(name));
    std::unique_ptr<cell_base> owned(c);
    c->set_wire_delivery(Wire::template pointer<S>());
    c->set_term_delivery(Wire::template term_pointer<S>());
    return owned;
  };
  if constexpr (requires(S & x) { x.handoff_state(); }) {
    using T = std::remove_cvref_t<decltype(std::declval<S&>().handoff_state())>;
    static_assert(
        requires(S & x, T v) { x.take_handoff(std::move(v)); },
        "nodus::distributed_supervisor: a child type with T handoff_state() must also "
        "have take_handoff(T) (its next home's instance gets the state through it)");
    static_assert(etf::mappable_v<T>,
                  "nodus::distributed_supervisor: handoff_state()'s type must map to an Erlang "
                  "term (nodus/codec/etf/typed.hpp)");
    t.take_state = [](cell_base& c, std::function<void(result<etf::term>)> done) {
      auto shared = std::make_shared<std::function<void(result<etf::term>)>>(std::move(done));
      const bool queued = static_cast<cell<S>&>(c).with_instance([shared](S& s) {
        auto state = etf::to_term(s.handoff_state());
        (*shared)(state ? result<etf::term>(std::move(state).value())
                        : result<etf::term>(state.error()));
        *shared = nullptr;
      });
      if (!queued) (*shared)(error(errc::noproc, "the child is not running"));
      return true;
    };
  }
  return t;
}

// distributed_maker<Spec>: builds Spec's child of a supervision tree (supervisor.hpp).
template <fixed_string Name, class... Cs>
struct distributed_maker<distributed_supervisor<Name, Cs...>> {
  template <class Wire>
  static std::unique_ptr<child_node> make(runtime& rt) {
    return std::make_unique<distributed_node>(
        rt, Name.view(), std::vector<child_type>{make_child_type<Cs, Wire>()...});
  }
};

// find_distributed(rt, name) -> the running distributed_node of that name on this node, or null.
// Supervision strand.
[[nodiscard]] NODUS_DECL distributed_node* find_distributed(runtime& rt, std::string_view name);

}  // namespace detail

// distributed_supervisor_ref<Spec>: a handle on this node's member of the distributed
// supervisor Spec (node.distributed_supervisor<Spec>()); cheap to copy, valid as long as the
// node. Blocking: not from a thread of the node (errc::would_deadlock).
template <class Spec>
class distributed_supervisor_ref {
 public:
  explicit distributed_supervisor_ref(detail::node_core& core) : core_(&core) {}

  // start_child<S>(name[, restart], args...) -> the node the policy places it on: the child is
  // in the table of every member this node reaches, and starts there (the global name `name`
  // is how to reach it: node.call<S>(global_name{name}, msg), once it runs). Errors:
  // already_registered (the table has the name), noproc (Spec does not run here).
  template <class S, class... Args>
  result<node_name> start_child(std::string name, restart_type restart, Args&&... args) {
    static_assert(Spec::template may_start<S>,
                  "nodus::distributed_supervisor_ref<Spec>::start_child<S>: S is not one of the "
                  "child types Spec lists");
    using args_t = typename detail::start_args_of<S>::type;
    static_assert(std::is_constructible_v<args_t, Args&&...>,
                  "nodus::distributed_supervisor_ref<Spec>::start_child<S>(name, args...): args "
                  "must make S::start_args (a std::tuple; none without it)");
    if (auto r = detail::check_child_name(name); !r) return r.error();
    auto t = etf::to_term(args_t(static_cast<Args&&>(args)...));
    if (!t) return t.error();
    return run([&, term = std::move(t).value(),
                name = std::move(name)](detail::distributed_node& d) -> result<node_name> {
      return d.start_child(name, S::name.view(), term, restart);
    });
  }
  template <class S, class... Args>
  result<node_name> start_child(std::string name, Args&&... args) {
    return start_child<S>(std::move(name), restart_type::permanent, static_cast<Args&&>(args)...);
  }
  // terminate_child(name) -> ok when the table had it (it stops where it runs); noproc otherwise.
  result<void> terminate_child(const std::string& name) {
    auto r = run([&](detail::distributed_node& d) -> result<node_name> {
      auto t = d.terminate_child(name);
      if (!t) return t.error();
      return node_name{};
    });
    if (!r) return r.error();
    return {};
  }
  // which_children() -> the table, as this member knows it.
  [[nodiscard]] std::vector<distributed_child_info> which_children() {
    std::vector<distributed_child_info> out;
    (void)run([&](detail::distributed_node& d) -> result<node_name> {
      out = d.which_children();
      return node_name{};
    });
    return out;
  }
  // members() -> the member nodes this node knows, sorted.
  [[nodiscard]] std::vector<node_name> members() {
    std::vector<node_name> out;
    (void)run([&](detail::distributed_node& d) -> result<node_name> {
      out = d.members();
      return node_name{};
    });
    return out;
  }

 private:
  // run(f) -> f(this node's distributed_node), on the supervision strand.
  template <class F>
  result<node_name> run(F f) {
    std::optional<result<node_name>> out;
    auto* core = core_;
    auto r = core_->on_supervision([&out, &f, core](const auto& done) {
      auto* d = detail::find_distributed(core->rt(), Spec::name.view());
      if (d == nullptr) {
        out = error(errc::noproc, format("the distributed supervisor '{}' does not run on {}",
                                         Spec::name.view(), core->rt().self()));
      } else {
        out = f(*d);
      }
      done({});
    });
    if (!r) return r.error();
    return std::move(*out);
  }
  detail::node_core* core_;
};

}  // namespace nodus

#if defined(NODUS_HEADER_ONLY)
#include "nodus/process/impl/distributed_supervisor.ipp"
#endif
