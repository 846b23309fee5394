// nodus/process/impl/global.ipp: the non-template part of nodus/process/global.hpp. Included by
// that header in header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "nodus/process/global.hpp"

namespace nodus {

NODUS_DECL void global_registry::allow_multiple_names(bool yes) {
  if (names() != nullptr) names()->allow_multiple_names(yes);
}

NODUS_DECL bool global_registry::unregister_name(std::string_view name) {
  return names() != nullptr && names()->unregister_name(name);
}

NODUS_DECL std::optional<etf::pid> global_registry::whereis_name(std::string_view name) const {
  return names() != nullptr ? names()->whereis_name(name) : std::nullopt;
}

NODUS_DECL std::vector<std::string> global_registry::registered_names() const {
  return names() != nullptr ? names()->registered_names() : std::vector<std::string>{};
}

NODUS_DECL std::uint64_t global_registry::on_change(
    std::function<void(const std::string&, const std::optional<etf::pid>&)> cb) {
  return names() != nullptr ? names()->on_change(std::move(cb)) : 0;
}

NODUS_DECL void global_registry::remove_on_change(std::uint64_t id) {
  if (names() != nullptr) names()->remove_on_change(id);
}

NODUS_DECL dist::global_names* global_registry::names() const {
  return rt_->dist() != nullptr ? &rt_->dist()->cluster_names() : nullptr;
}

NODUS_DECL void global_registry::async_register_name(std::string_view name, const etf::pid& pid,
                                                     name_conflict_policy policy,
                                                     name_conflict_callback on_conflict,
                                                     std::function<void(result<void>)> done) {
  if (name.empty() || name.size() > 255) {
    done(error(errc::invalid_node_name,
               format("a global name has 1 to 255 bytes, not {}", name.size())));
    return;
  }
  if (names() == nullptr) {
    done(error(errc::not_connected,
               format("global names need a distributed node: {} has no name", rt_->self())));
    return;
  }
  if (!rt_->runs(pid)) {
    done(error(errc::noproc, format("{} is no running server of {}; only local processes "
                                    "register global names",
                                    etf::term(pid).to_string(100), rt_->self())));
    return;
  }
  // It may end while the registration runs: its end unregisters what it holds by then; a name
  // given after that goes at once (checked when the answer comes).
  names()->register_name(
      std::string(name), pid, policy, std::move(on_conflict),
      [rt = rt_, pid, n = std::string(name), done = std::move(done)](result<void> r) {
        if (r && !rt->runs(pid)) {
          if (auto* d = rt->dist()) (void)d->cluster_names().unregister_name(n);
          done(error(errc::noproc, format("{} ended while it registered the global name '{}'",
                                          etf::term(pid).to_string(100), n)));
          return;
        }
        done(std::move(r));
      });
}

NODUS_DECL result<void> global_registry::register_name(std::string_view name, const etf::pid& pid,
                                                       name_conflict_policy policy,
                                                       name_conflict_callback on_conflict) {
  if (rt_->in_node_thread()) {
    return error(errc::would_deadlock,
                 format("register_name('{}') blocks: from a thread of {} use async_register_name",
                        name, rt_->self()));
  }
  auto p = std::make_shared<std::promise<result<void>>>();
  auto f = p->get_future();
  async_register_name(name, pid, policy, std::move(on_conflict),
                      [p](result<void> r) { p->set_value(std::move(r)); });
  const auto bound = dist::global_names::register_timeout + std::chrono::seconds(5);
  if (f.wait_for(bound) != std::future_status::ready) {
    return error(
        errc::timeout,
        format("no answer to the registration of the global name '{}' within {} ms (is "
               "the node running?)",
               name, std::chrono::duration_cast<std::chrono::milliseconds>(bound).count()));
  }
  return f.get();
}

NODUS_DECL result<node_name> global_registry::node_of(std::string_view name) const {
  auto pid = whereis_name(name);
  if (!pid) return error(errc::noproc, format("no process holds the global name '{}'", name));
  auto n = node_name::parse(pid->node.str());
  if (!n) return error(errc::noproc, format("the global name '{}' has a pid of no node", name));
  return std::move(n).value();
}

NODUS_DECL result<global_registry::route_t> global_registry::route(std::string_view name) const {
  auto pid = whereis_name(name);
  if (!pid) return error(errc::noproc, format("no process holds the global name '{}'", name));
  auto n = node_name::parse(pid->node.str());
  if (!n) return error(errc::noproc, format("the global name '{}' has a pid of no node", name));
  route_t r{std::move(n).value(), {}};
  if (r.node == rt_->self()) {
    r.target = std::string(rt_->name_of(pid->id, pid->serial));
    if (r.target.empty()) {
      return error(errc::noproc, format("the holder of the global name '{}' no longer runs", name));
    }
  } else {
    r.target = std::string(dist::pid_target(pid->id, pid->serial).view());
  }
  return r;
}

NODUS_DECL result<etf::pid> global_registry::pid_of_server(std::string_view server) const {
  detail::cell_base* c = rt_->whereis(server);
  if (c == nullptr || !c->running()) {
    return error(errc::noproc, format("no server named '{}' runs on {}", server, rt_->self()));
  }
  return rt_->pid_of(*c, c->generation());
}

}  // namespace nodus
