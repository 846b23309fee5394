// nodus/process/dynamic_supervisor.hpp: starting children at run time under a
// nodus::dynamic_supervisor (process/supervisor.hpp) of a node, as Elixir's DynamicSupervisor.
//
//   node.start(nodus::supervisor<nodus::one_for_one,
//                                nodus::dynamic_supervisor<"downloads",
//                                nodus::max_children<100>>>{});
//   auto downloads = node.dynamic_supervisor("downloads");
//   downloads.start_child<download>("download/42", nodus::restart_type::transient, url);
//   node.call<download>(nodus::local_name{"download/42"}, progress{});
//   downloads.which_children();            // [{"download/42", transient, running}]
//   downloads.terminate_child("download/42");
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/detail/node_core.hpp"
#include "nodus/dist/native_frame.hpp"
#include "nodus/process/server.hpp"
#include "nodus/process/supervisor.hpp"

namespace nodus {

namespace detail {
// check_child_name(name) -> ok for a name a server can be registered under at run time: 1 to 255
// bytes (a frame's target), not starting with byte 1 (reserved for pid targets).
[[nodiscard]] inline result<void> check_child_name(std::string_view name) {
  if (name.empty() || name.size() > dist::max_target_length || name.front() == '\x01') {
    return error(errc::noproc, format("'{}' is not a valid server name (1 to {} bytes, not "
                                      "starting with byte 1)",
                                      name, dist::max_target_length));
  }
  return {};
}

// make_child_cell<S, Wire>(rt, name, args...) -> a cell of S registered under name, whose
// instances are constructed from copies of args.
template <class S, class Wire, class... Args>
std::unique_ptr<cell_base> make_child_cell(runtime& rt, std::string name, Args&&... args) {
  static_assert(std::is_base_of_v<server_base, S>,
                "nodus::dynamic_supervisor: start_child<S>: S must be a server type (derived "
                "from nodus::server<...>)");
  static_assert(std::is_constructible_v<S, const std::decay_t<Args>&...>,
                "nodus::dynamic_supervisor: start_child<S>(name, args...): S must be "
                "constructible from (copies of) args: it is built afresh at each restart");
  auto* c = new cell<S>(rt, instance_maker([... a = std::decay_t<Args>(static_cast<Args&&>(args))] {
                          return new S(a...);
                        }),
                        std::move(name));
  std::unique_ptr<cell_base> owned(c);
  c->set_wire_delivery(Wire::template pointer<S>());
  c->set_term_delivery(Wire::template term_pointer<S>());
  return owned;
}
}  // namespace detail

namespace detail {
template <fixed_string Name, class... Os>
struct dynamic_maker<dynamic_supervisor<Name, Os...>> {
  static std::unique_ptr<child_node> make(runtime& rt) {
    const dynamic_supervisor<Name, Os...> spec{};
    return std::make_unique<dynamic_supervisor_node>(rt, Name.view(), spec.flags,
                                                     spec.max_children);
  }
};
}  // namespace detail

// dynamic_supervisor_ref<Wire>: a handle on a node's dynamic supervisor of one name (from
// node.dynamic_supervisor(name)); cheap to copy, valid as long as the node. Its blocking
// operations must not be called from a thread of the node (errc::would_deadlock). They fail with
// noproc when no dynamic supervisor of that name runs on the node.
template <class Wire>
class dynamic_supervisor_ref {
 public:
  dynamic_supervisor_ref(detail::node_core& core, std::string_view name)
      : core_(&core), name_(name) {}

  // start_child<S>(name[, restart], args...) -> ok once S runs here under name (see
  // dynamic_supervisor_node::start_child for the errors). restart: permanent by default.
  template <class S, class... Args>
  result<void> start_child(std::string name, restart_type restart, Args&&... args) {
    if (auto r = detail::check_child_name(name); !r) return r;
    auto cell =
        std::make_shared<std::unique_ptr<detail::cell_base>>(detail::make_child_cell<S, Wire>(
            core_->rt(), std::move(name), static_cast<Args&&>(args)...));
    return core_->on_supervision([this, cell, restart](const auto& done) {
      auto* d = core_->rt().find_dynamic(name_);
      if (d == nullptr) {
        done(not_running());
        return;
      }
      done(d->start_child(restart, std::move(*cell)));
    });
  }
  template <class S, class... Args>
  result<void> start_child(std::string name, Args&&... args) {
    return start_child<S>(std::move(name), restart_type::permanent, static_cast<Args&&>(args)...);
  }

  // terminate_child(name) -> ok once that child is stopped and forgotten; noproc when there is
  // no such child.
  result<void> terminate_child(std::string_view child) {
    return core_->on_supervision([this, child = std::string(child)](const auto& done) {
      auto* d = core_->rt().find_dynamic(name_);
      if (d == nullptr) {
        done(not_running());
        return;
      }
      d->terminate_child(child, done);
    });
  }

  // which_children() -> the children, in start order (none when it does not run).
  [[nodiscard]] std::vector<child_info> which_children() const {
    std::vector<child_info> out;
    (void)core_->on_supervision([this, &out](const auto& done) {
      if (auto* d = core_->rt().find_dynamic(name_)) out = d->which_children();
      done({});
    });
    return out;
  }
  // count_children() -> how many children it has.
  [[nodiscard]] std::size_t count_children() const { return which_children().size(); }

 private:
  [[nodiscard]] error not_running() const {
    return error(errc::noproc,
                 format("no dynamic supervisor named '{}' runs on {}", name_, core_->rt().self()));
  }
  detail::node_core* core_;
  std::string name_;
};

}  // namespace nodus

#if defined(NODUS_HEADER_ONLY)
#include "nodus/process/impl/dynamic_supervisor.ipp"
#endif
