// nodus/cluster/impl/topology.ipp: the type-independent parts of the port mapper strategies
// (asking each host's port mapper for its names, the .hosts.erlang file) and the start of a
// topology's formation (see cluster/topology.hpp). Included by that header in header-only mode,
// by nodus/impl/src.hpp otherwise.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>

#include "nodus/cluster/formation.hpp"
#include "nodus/cluster/topology.hpp"
#include "nodus/core/format.hpp"
#include "nodus/epmd/client.hpp"

namespace nodus {

namespace cluster::detail {

NODUS_DECL void names_on_hosts(
    const std::shared_ptr<strategy_context>& ctx, std::vector<std::string> hosts,
    std::function<void(std::vector<node_target>, std::vector<std::string>)> cb) {
  struct gather {
    std::vector<node_target> found;
    std::vector<std::string> failed;
    std::size_t pending = 0;
    std::function<void(std::vector<node_target>, std::vector<std::string>)> cb;
  };
  auto g = std::make_shared<gather>();
  g->cb = std::move(cb);
  g->pending = hosts.size();
  if (hosts.empty()) {
    asio::post(ctx->executor(), [g] { g->cb({}, {}); });
    return;
  }
  auto ex = ctx->executor();
  const auto timeout = std::min<std::chrono::milliseconds>(
      std::chrono::milliseconds(3000), effective_interval(*ctx, default_interval));
  for (auto& h : hosts) {
    auto finish = [g, ex](std::vector<node_target> nodes, std::string failed) {
      asio::post(ex, [g, nodes = std::move(nodes), failed = std::move(failed)]() mutable {
        for (auto& n : nodes) g->found.push_back(std::move(n));
        if (!failed.empty()) g->failed.push_back(std::move(failed));
        if (--g->pending == 0) g->cb(std::move(g->found), std::move(g->failed));
      });
    };
    resolve_host(ex, h, [ctx, ex, h, timeout, finish](result<asio::ip::address> a) {
      if (!a) {
        finish({}, h);
        return;
      }
      epmd::async_names(ex, asio::ip::tcp::endpoint(*a, ctx->epmd_port()), timeout,
                        [h, finish](result<std::vector<epmd::node_entry>> r) {
                          if (!r) {
                            finish({}, h);
                            return;
                          }
                          std::vector<node_target> nodes;
                          for (const auto& e : *r) {
                            auto n = node_name::parse(e.name + "@" + h);
                            if (n) nodes.push_back(node_target{*n, std::nullopt});
                          }
                          finish(std::move(nodes), {});
                        });
    });
  }
}

NODUS_DECL void local_epmd_poll(const std::shared_ptr<strategy_context>& ctx,
                                poll_loop::done_fn done) {
  names_on_hosts(ctx, {std::string(ctx->self().host())},
                 [ctx, done = std::move(done)](std::vector<node_target> nodes,
                                               std::vector<std::string> failed) {
                   if (!failed.empty()) {
                     ctx->log(log_level::warn,
                              format("the port mapper of {} did not answer", failed[0]));
                   }
                   done(std::move(nodes));
                 });
}

NODUS_DECL std::pair<std::vector<std::string>, std::size_t> parse_hosts_erlang(std::string_view t) {
  std::vector<std::string> out;
  std::size_t bad = 0;
  std::size_t i = 0;
  auto skip_space = [&] {
    for (;;) {
      while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
      if (i < t.size() && t[i] == '%') {
        while (i < t.size() && t[i] != '\n') ++i;
        continue;
      }
      return;
    }
  };
  for (;;) {
    skip_space();
    if (i >= t.size()) break;
    std::string host;
    bool ok = true;
    if (t[i] == '\'') {
      const auto end = t.find('\'', i + 1);
      if (end == std::string_view::npos) break;
      host = std::string(t.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      const auto start = i;
      while (i < t.size() && t[i] != '.' && t[i] != ' ' && t[i] != '\n' && t[i] != '\t' &&
             t[i] != '\r') {
        ++i;
      }
      host = std::string(t.substr(start, i - start));
      // A bare atom: a lower-case letter, then letters, digits, _ and @ (a dotted host needs
      // quotes).
      ok = !host.empty() && host[0] >= 'a' && host[0] <= 'z';
    }
    skip_space();
    if (i < t.size() && t[i] == '.') {
      ++i;
    } else {
      // Skip to the end of the bad term: a '.' followed by white space or the end, outside
      // quotes (Erlang's end of a term).
      ok = false;
      while (i < t.size()) {
        if (t[i] == '\'') {
          const auto end = t.find('\'', i + 1);
          i = end == std::string_view::npos ? t.size() : end + 1;
          continue;
        }
        if (t[i] == '.' && (i + 1 == t.size() || t[i + 1] == ' ' || t[i + 1] == '\n' ||
                            t[i + 1] == '\t' || t[i + 1] == '\r' || t[i + 1] == '%')) {
          ++i;
          break;
        }
        ++i;
      }
    }
    if (ok && !host.empty() && host.size() <= 255) {
      out.push_back(std::move(host));
    } else {
      ++bad;
    }
  }
  return {std::move(out), bad};
}

NODUS_DECL void erlang_hosts_poll(const std::shared_ptr<strategy_context>& ctx, std::string file,
                                  poll_loop::done_fn done) {
  std::vector<std::string> candidates;
  if (!ctx->settings().hosts_file.empty()) {
    candidates.push_back(ctx->settings().hosts_file);
  } else if (!file.empty()) {
    candidates.push_back(std::move(file));
  } else {
    candidates.emplace_back(".hosts.erlang");
    if (const char* home = std::getenv("HOME")) {
      candidates.push_back(std::string(home) + "/.hosts.erlang");
    }
  }
  std::string text;
  bool read = false;
  for (const auto& c : candidates) {
    std::ifstream in(c, std::ios::binary);
    if (!in) continue;
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    read = true;
    break;
  }
  if (!read) {
    ctx->log(log_level::warn, format("no hosts file found (looked for {})", candidates[0]));
    done({});
    return;
  }
  auto [hosts, bad] = parse_hosts_erlang(text);
  if (bad != 0) ctx->log(log_level::warn, format("hosts file: skipped {} malformed term(s)", bad));
  names_on_hosts(ctx, std::move(hosts),
                 [ctx, done = std::move(done)](std::vector<node_target> nodes,
                                               std::vector<std::string> failed) {
                   for (const auto& h : failed) {
                     ctx->log(log_level::debug, format("the port mapper of {} did not answer", h));
                   }
                   done(std::move(nodes));
                 });
}

}  // namespace cluster::detail

namespace detail {

// topology_formation: the formation engine of a node's topology, as the node core keeps it.
class topology_formation final : public formation_handle {
 public:
  topology_formation(asio::io_context& io, cluster::formation_hooks h) : engine(io, std::move(h)) {}
  void stop() override { engine.stop(); }
  [[nodiscard]] bool first_round_done() const override { return engine.first_round_done(); }
  cluster::formation engine;
};

NODUS_DECL void start_formation(node_core& core,
                                std::span<const cluster::detail::runner_maker> runners) {
  cluster::formation_hooks h;
  h.self = core.self();
  h.node_port = core.port();
  h.epmd_port = core.opts().epmd_port;
  h.settings = core.opts().cluster;
  h.connect = [&core](const cluster::node_target& t, std::function<void(bool)> done) {
    auto* d = core.dist();
    if (d == nullptr) {
      done(false);
    } else if (t.endpoint) {
      d->connect_at(t.name, t.endpoint->address().to_string(), t.endpoint->port(), std::move(done));
    } else {
      d->connect_at(t.name, {}, 0, std::move(done));
    }
  };
  h.disconnect = [&core](const node_name& n) { return core.disconnect(n); };
  h.is_connected = [&core](const node_name& n) { return core.is_connected(n); };
  h.log = [&core](log_level level, const std::string& line) { core.log().log(level, "{}", line); };
  auto f = std::make_unique<topology_formation>(core.io(), std::move(h));
  for (auto make : runners) f->engine.add(std::unique_ptr<cluster::strategy_runner>(make()));
  f->engine.start();
  (void)core.set_formation(std::move(f));
}

}  // namespace detail

}  // namespace nodus
