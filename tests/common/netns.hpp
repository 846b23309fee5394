// tests/common/netns.hpp: hosts with their own addresses on one machine, for tests: Linux network
// namespaces (netns), a LAN of them behind a bridge (lan), a real DNS server in one (dnsmasq),
// built on the test support library's child processes (process.hpp). Needs root and iproute2
// (`ip`); see available().
// Addresses only from 198.18.0.0/15 (/work/shared/TESTING.md). Every wait is bounded, and every
// object removes what it created in its destructor (namespaces, veth pairs, /etc/netns/NAME,
// processes, temp files), also when a test fails.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "process.hpp"
#include "programs.hpp"
#include "wait.hpp"

namespace nodus::test {

namespace detail {

inline std::system_error sys_error(int err, const std::string& what) {
  return std::system_error(err, std::generic_category(), what);
}

// left_by_dead_process(name, prefix) -> name is <prefix><pid>-... and no process <pid> exists
// (a test that made it crashed).
inline bool left_by_dead_process(const std::string& name, std::string_view prefix) {
  if (name.rfind(prefix, 0) != 0) return false;
  const std::string rest = name.substr(prefix.size());
  const auto dash = rest.find('-');
  if (dash == 0 || dash == std::string::npos ||
      !std::all_of(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(dash),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const long pid = std::strtol(rest.substr(0, dash).c_str(), nullptr, 10);
  if (pid <= 0 || pid == ::getpid()) return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace detail

// unavailable_reason() -> why namespaces cannot be made here ("" when they can): not root, or no
// `ip` (Debian: iproute2). Tests print it and skip.
[[nodiscard]] inline std::string unavailable_reason() {
  if (::geteuid() != 0) return "network namespace tests need root: skipped";
  if (find_program("ip").empty()) {
    return "`ip` is not installed (Debian: iproute2): skipped";
  }
  return {};
}

// available() -> we are root and `ip` exists, so netns, lan and dnsmasq can work.
[[nodiscard]] inline bool available() { return unavailable_reason().empty(); }

// The outcome of netns::resolve: 0 or the getaddrinfo error (EAI_NONAME: the server said there
// is no such name; EAI_AGAIN: no server answered), and the distinct addresses, sorted, as text.
struct lookup_result {
  int status = 0;
  std::vector<std::string> addresses;
};

// canonical_address(text) -> the address as inet_ntop writes it ("fd00:0::5" -> "fd00::5"); text
// itself when it is not an address.
[[nodiscard]] inline std::string canonical_address(const std::string& text) {
  char buf[INET6_ADDRSTRLEN] = {};
  in6_addr a6{};
  in_addr a4{};
  if (::inet_pton(AF_INET, text.c_str(), &a4) == 1) {
    return ::inet_ntop(AF_INET, &a4, buf, sizeof buf) ? std::string(buf) : text;
  }
  if (::inet_pton(AF_INET6, text.c_str(), &a6) == 1) {
    return ::inet_ntop(AF_INET6, &a6, buf, sizeof buf) ? std::string(buf) : text;
  }
  return text;
}

// A network namespace named nodus-<pid>-<n>[-tag], with `lo` up; deleted (with its interfaces,
// veth ends included, and /etc/netns/<name>) by the destructor. Not thread-safe; the methods that
// run `ip` throw std::runtime_error when it fails. The first one made in a process also removes
// the namespaces that test processes no longer alive left behind (sweep_stale).
class netns {
 public:
  explicit netns(std::string_view tag = {}) {
    static std::once_flag swept;
    std::call_once(swept, [] { sweep_stale(); });
    static std::atomic<unsigned> counter{0};
    name_ = "nodus-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    if (!tag.empty()) name_ += "-" + std::string(tag);
    // A namespace by this name can only be a leftover of a dead process that had our pid.
    if (std::filesystem::exists(run_path())) remove(name_);
    run_checked({"ip", "netns", "add", name_});
    try {
      ip({"link", "set", "lo", "up"});
    } catch (...) {
      remove(name_);
      throw;
    }
  }
  netns(const netns&) = delete;
  netns& operator=(const netns&) = delete;
  ~netns() { remove(name_); }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  // exec_prefix() -> {"ip", "netns", "exec", name()}: put it before a command to run it inside
  // (which also mounts /etc/netns/<name>/resolv.conf over /etc/resolv.conf for it).
  [[nodiscard]] std::vector<std::string> exec_prefix() const {
    return {"ip", "netns", "exec", name_};
  }
  // exec(argv) -> exec_prefix() followed by argv.
  [[nodiscard]] std::vector<std::string> exec(const std::vector<std::string>& argv) const {
    auto v = exec_prefix();
    v.insert(v.end(), argv.begin(), argv.end());
    return v;
  }

  // ip(args): runs `ip -n <name> args...`.
  void ip(const std::vector<std::string>& args) const {
    std::vector<std::string> v{"ip", "-n", name_};
    v.insert(v.end(), args.begin(), args.end());
    run_checked(v);
  }

  // add_address(dev, cidr): `ip addr add cidr dev dev` inside ("198.18.0.53/32" on "lo").
  void add_address(std::string_view dev, std::string_view cidr) const {
    ip({"addr", "add", std::string(cidr), "dev", std::string(dev)});
  }

  // set_resolver(ip, options): writes /etc/netns/<name>/resolv.conf, "nameserver ip" and, when
  // given, "options ..." (e.g. "timeout:2 attempts:1"); the system resolver of `ip netns exec`
  // commands and of threads that enter_on_this_thread() afterwards reads it.
  void set_resolver(std::string_view nameserver, std::string_view options = {}) {
    const std::filesystem::path dir = etc_path();
    std::filesystem::create_directories(dir);
    std::ofstream out(dir / "resolv.conf", std::ios::trunc);
    out << "nameserver " << nameserver << "\n";
    if (!options.empty()) out << "options " << options << "\n";
    out.close();
    if (!out) throw std::runtime_error("cannot write " + (dir / "resolv.conf").string());
  }

  // enter_on_this_thread(): moves the calling thread into this namespace for good (setns
  // CLONE_NEWNET), and, like `ip netns exec`, gives it a private mount namespace in which the
  // files of /etc/netns/<name>/ (resolv.conf) cover those of /etc/, so that getaddrinfo on this
  // thread asks this namespace's resolver. Threads it creates afterwards inherit both (Asio's
  // resolver thread, started by the first async_resolve, included). Use a thread of its own and
  // end it before this netns is destroyed. Throws std::system_error.
  void enter_on_this_thread() const {
    const std::string path = run_path();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw detail::sys_error(errno, "open " + path);
    const int rc = ::setns(fd, CLONE_NEWNET);
    const int err = errno;
    ::close(fd);
    if (rc != 0) throw detail::sys_error(err, "setns " + path);
    if (::unshare(CLONE_NEWNS) != 0) throw detail::sys_error(errno, "unshare(CLONE_NEWNS)");
    // Keep our mounts from propagating to the rest of the system (as ip netns exec does).
    if (::mount("", "/", "none", MS_SLAVE | MS_REC, nullptr) != 0) {
      throw detail::sys_error(errno, "mount --make-rslave /");
    }
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(etc_path(), ec)) {
      const std::filesystem::path target = "/etc" / entry.path().filename();
      if (!std::filesystem::exists(target)) continue;
      if (::mount(entry.path().c_str(), target.c_str(), "none", MS_BIND, nullptr) != 0) {
        throw detail::sys_error(errno,
                                "bind " + entry.path().string() + " over " + target.string());
      }
    }
  }

  // resolve(host) -> getaddrinfo(host) as a program inside sees it (AF_UNSPEC, no AI_ADDRCONFIG,
  // so AAAA answers count), run on a short-lived thread that entered this namespace.
  [[nodiscard]] lookup_result resolve(const std::string& host) const {
    lookup_result r;
    std::exception_ptr failure;
    std::thread t([&] {
      try {
        enter_on_this_thread();
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* list = nullptr;
        r.status = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
        std::set<std::string> seen;
        for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
          char buf[INET6_ADDRSTRLEN] = {};
          const void* src =
              a->ai_family == AF_INET
                  ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                  : static_cast<const void*>(
                        &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
          if (::inet_ntop(a->ai_family, src, buf, sizeof buf) != nullptr) seen.insert(buf);
        }
        if (list != nullptr) ::freeaddrinfo(list);
        r.addresses.assign(seen.begin(), seen.end());
      } catch (...) {
        failure = std::current_exception();
      }
    });
    t.join();
    if (failure) std::rethrow_exception(failure);
    return r;
  }

  // sweep_stale(): deletes the namespaces nodus-<pid>-... whose process is gone (a test that
  // crashed), after killing what still runs in them, their /etc/netns directories, and the
  // dnsmasq temp directories /tmp/nodus-dnsmasq-<pid>-... of gone processes.
  static void sweep_stale() {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/var/run/netns", ec)) {
      const std::string name = entry.path().filename().string();
      if (detail::left_by_dead_process(name, "nodus-")) remove(name);
    }
    for (const auto& entry : std::filesystem::directory_iterator("/tmp", ec)) {
      const std::string name = entry.path().filename().string();
      if (detail::left_by_dead_process(name, "nodus-dnsmasq-")) {
        std::error_code rm;
        std::filesystem::remove_all(entry.path(), rm);
      }
    }
  }

 private:
  [[nodiscard]] std::string run_path() const { return "/var/run/netns/" + name_; }
  [[nodiscard]] std::filesystem::path etc_path() const {
    return std::filesystem::path("/etc/netns") / name_;
  }

  // Kills what runs inside name, deletes it and its /etc/netns directory; never throws.
  static void remove(const std::string& name) noexcept {
    try {
      const run_result pids = run({"ip", "netns", "pids", name});
      std::size_t pos = 0;
      while (pos < pids.output.size()) {
        const auto end = pids.output.find('\n', pos);
        const std::string line = pids.output.substr(pos, end - pos);
        pos = end == std::string::npos ? pids.output.size() : end + 1;
        const long pid = std::strtol(line.c_str(), nullptr, 10);
        if (pid > 0 && pid != ::getpid()) ::kill(static_cast<pid_t>(pid), SIGKILL);
      }
      (void)run({"ip", "netns", "del", name});
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::path("/etc/netns") / name, ec);
    } catch (...) {
    }
  }

  std::string name_;
};

// A LAN: `hosts` namespaces, each with eth0 = 198.18.<subnet>.<i+1>/24 and a multicast route
// (224.0.0.0/4 dev eth0), joined by a bridge (br0, multicast snooping off) in a namespace of its
// own through one veth pair per host. Destroying it removes all of it. Not thread-safe.
class lan {
 public:
  lan(std::size_t hosts, unsigned subnet) : bridge_("br"), subnet_(subnet) {
    if (hosts == 0 || hosts > 250) throw std::invalid_argument("lan: 1..250 hosts");
    if (subnet > 255) throw std::invalid_argument("lan: subnet is the third byte, 0..255");
    bridge_.ip({"link", "add", "br0", "type", "bridge", "mcast_snooping", "0"});
    bridge_.ip({"link", "set", "br0", "up"});
    hosts_.reserve(hosts);
    for (std::size_t i = 0; i < hosts; ++i) {
      hosts_.push_back(std::make_unique<netns>("h" + std::to_string(i)));
      netns& h = *hosts_.back();
      const std::string port = port_name(i);
      bridge_.ip(
          {"link", "add", port, "type", "veth", "peer", "name", ifname(i), "netns", h.name()});
      bridge_.ip({"link", "set", port, "master", "br0"});
      bridge_.ip({"link", "set", port, "up"});
      h.add_address(ifname(i), address(i) + "/24");
      h.ip({"link", "set", ifname(i), "up"});
      h.ip({"route", "add", "224.0.0.0/4", "dev", ifname(i)});
    }
  }
  lan(const lan&) = delete;
  lan& operator=(const lan&) = delete;

  [[nodiscard]] std::size_t size() const noexcept { return hosts_.size(); }
  // host(i) -> the namespace of host i.
  [[nodiscard]] netns& host(std::size_t i) { return *hosts_.at(i); }
  // bridge() -> the namespace that holds the bridge.
  [[nodiscard]] netns& bridge() noexcept { return bridge_; }
  // address(i) -> "198.18.<subnet>.<i+1>", host i's address.
  [[nodiscard]] std::string address(std::size_t i) const {
    return "198.18." + std::to_string(subnet_) + "." + std::to_string(i + 1);
  }
  // ifname(i) -> host i's interface on the LAN ("eth0").
  [[nodiscard]] std::string ifname(std::size_t /*i*/) const { return "eth0"; }

  // link_down(i): cuts host i off (its port on the bridge goes down, as if the cable were
  // pulled): its packets vanish, no FIN, no RST; its own interface and routes stay configured.
  void link_down(std::size_t i) { bridge_.ip({"link", "set", port_name(checked(i)), "down"}); }
  // link_up(i): heals link_down(i).
  void link_up(std::size_t i) { bridge_.ip({"link", "set", port_name(checked(i)), "up"}); }
  // block(i): the bridge stops forwarding host i's frames (its port's state: disabled), as a
  // switch that drops them: packets vanish, but both ends keep their carrier (so, unlike
  // link_down, host i keeps its ARP cache and sends no ARP request that waits for the heal).
  void block(std::size_t i) { port_state(i, "0"); }
  // unblock(i): heals block(i) (the port forwards again).
  void unblock(std::size_t i) { port_state(i, "3"); }

 private:
  [[nodiscard]] std::size_t checked(std::size_t i) const {
    if (i >= hosts_.size()) throw std::out_of_range("lan: no host " + std::to_string(i));
    return i;
  }
  [[nodiscard]] static std::string port_name(std::size_t i) { return "p" + std::to_string(i); }
  // port_state(i, state): `bridge link set dev pI state S` (0 disabled, 3 forwarding; allowed
  // while the bridge runs no STP, as here).
  void port_state(std::size_t i, const char* state) {
    run_checked(
        bridge_.exec({"bridge", "link", "set", "dev", port_name(checked(i)), "state", state}));
  }

  netns bridge_;  // destroyed after the hosts
  unsigned subnet_;
  std::vector<std::unique_ptr<netns>> hosts_;
};

// A real DNS server: dnsmasq (Debian dnsmasq-base) inside a namespace, on address:53, answering
// A and AAAA queries from a hosts file it owns ("no such name" for any other name), nothing else
// (no upstream, no /etc/hosts, no DHCP). It makes itself the namespace's resolver
// (set_resolver), and returns from its constructor and set_records only once the namespace
// resolves the records as given (bounded: throws std::runtime_error with dnsmasq's output
// otherwise). Extra arguments (--srv-host=..., --txt-record=...) add records of other kinds,
// which dnsmasq loads at start and SIGHUP does not reload: they are served once the hosts
// file's are. The address must exist in the namespace (add_address) first. Not thread-safe.
class dnsmasq {
 public:
  // {address, name}: one line of the hosts file ("198.18.0.1", "nodes.test"); IPv6 allowed.
  using records = std::vector<std::pair<std::string, std::string>>;

  dnsmasq(netns& ns, std::string address, const records& initial = {},
          const std::vector<std::string>& extra_args = {})
      : ns_(ns), address_(std::move(address)) {
    if (!installed()) throw std::runtime_error("dnsmasq is not installed (Debian: dnsmasq-base)");
    // The pid in the name lets netns::sweep_stale remove it after a crash.
    std::string dir_template = "/tmp/nodus-dnsmasq-" + std::to_string(::getpid()) + "-XXXXXX";
    if (::mkdtemp(dir_template.data()) == nullptr) throw detail::sys_error(errno, "mkdtemp");
    dir_ = dir_template;
    try {
      write_hosts(initial);
      ns_.set_resolver(address_);
      // Debug mode (--no-daemon) stays in the foreground, keeps root (so it can reread our 0700
      // directory on SIGHUP) and writes no pid file. --local=/#/ answers "no such name" for any
      // other name instead of "refused". TTL 0 and no negative cache: a change shows at once.
      std::vector<std::string> argv{"dnsmasq",
                                    "--no-daemon",
                                    "--conf-file=/dev/null",
                                    "--log-facility=-",
                                    "--no-resolv",
                                    "--no-hosts",
                                    "--bind-interfaces",
                                    "--listen-address=" + address_,
                                    "--addn-hosts=" + hosts_path(),
                                    "--local=/#/",
                                    "--local-ttl=0",
                                    "--no-negcache"};
      argv.insert(argv.end(), extra_args.begin(), extra_args.end());
      process_ =
          std::make_unique<child_process>(ns_.exec(argv), process_options()
                                                              .output_file(log_path())
                                                              .stop_signal(SIGTERM)
                                                              .stop_grace(std::chrono::seconds(2)));
      wait_for(initial, {});
    } catch (...) {
      cleanup();
      throw;
    }
  }
  dnsmasq(const dnsmasq&) = delete;
  dnsmasq& operator=(const dnsmasq&) = delete;
  ~dnsmasq() { cleanup(); }

  // installed() -> the dnsmasq binary exists.
  [[nodiscard]] static bool installed() { return !find_program("dnsmasq").empty(); }

  // set_records(r): rewrites the hosts file (atomically), SIGHUP, and waits until the namespace
  // resolves every name of r to exactly its addresses and the names dropped to "no such name".
  void set_records(const records& r) {
    if (!process_ || !process_->running()) throw std::runtime_error("dnsmasq is not running");
    const records before = current_;
    write_hosts(r);
    process_->signal(SIGHUP);
    wait_for(r, before);
  }

  // pause() / resume(): SIGSTOP / SIGCONT: a server that receives queries but answers none.
  void pause() {
    if (process_) process_->signal(SIGSTOP);
  }
  void resume() {
    if (process_) process_->signal(SIGCONT);
  }

  // stop(): kills and reaps it (queries then meet a closed port).
  void stop() {
    if (process_) process_->stop();
  }

  [[nodiscard]] const std::string& address() const noexcept { return address_; }
  // output() -> what dnsmasq printed so far (for failure messages).
  [[nodiscard]] std::string output() const {
    std::ifstream in(log_path());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

 private:
  [[nodiscard]] std::string hosts_path() const { return dir_ + "/hosts"; }
  [[nodiscard]] std::string log_path() const { return dir_ + "/dnsmasq.log"; }

  void write_hosts(const records& r) {
    const std::string tmp = hosts_path() + ".new";
    {
      std::ofstream out(tmp, std::ios::trunc);
      for (const auto& [address, name] : r) out << address << ' ' << name << '\n';
      out.close();
      if (!out) throw std::runtime_error("cannot write " + tmp);
    }
    std::filesystem::rename(tmp, hosts_path());  // dnsmasq never reads half a file
    current_ = r;
  }

  // Waits until the namespace resolves `now` as given, and the names only in `before` not at all.
  void wait_for(const records& now, const records& before) {
    std::map<std::string, std::vector<std::string>> expected;
    for (const auto& [address, name] : now) expected[name].push_back(canonical_address(address));
    for (auto& [name, addresses] : expected) {
      std::sort(addresses.begin(), addresses.end());
      addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
    }
    std::set<std::string> gone;
    for (const auto& [address, name] : before) {
      if (expected.count(name) == 0) gone.insert(name);
    }
    // Nothing to look for: any answer at all ("no such name") shows that it serves.
    if (expected.empty() && gone.empty()) gone.insert("nodus-probe.invalid");
    const auto deadline = clock_type::now() + step_timeout;
    std::string last;
    for (;;) {
      bool all = true;
      for (const auto& [name, addresses] : expected) {
        const lookup_result r = ns_.resolve(name);
        if (r.status != 0 || r.addresses != addresses) {
          all = false;
          last = name + ": status " + std::to_string(r.status) + ", " +
                 std::to_string(r.addresses.size()) + " addresses";
          break;
        }
      }
      for (const auto& name : gone) {
        if (!all) break;
        const lookup_result r = ns_.resolve(name);
        if (r.status != EAI_NONAME) {
          all = false;
          last = name + ": status " + std::to_string(r.status) + " (expected no such name)";
        }
      }
      if (all) return;
      if (!process_->running() || clock_type::now() >= deadline) {
        throw std::runtime_error("dnsmasq in " + ns_.name() + " did not serve the records (" +
                                 last + "); its output:\n" + output());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a server's state
    }
  }

  void cleanup() noexcept {
    process_.reset();  // kill and reap
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      dir_.clear();
    }
  }

  netns& ns_;
  std::string address_;
  std::string dir_;
  records current_;
  std::unique_ptr<child_process> process_;
};

}  // namespace nodus::test
