// tests/common/programs.hpp: where the programs that tests and benchmarks start are: a lookup on
// PATH and the sbin directories (find_program, on_path), this executable (self_exe), the real
// epmd and erl of Debian's erlang-base (epmd_path, erl_installed). Part of the test support
// library (tests/common/, namespace nodus::test).
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

namespace nodus::test {

// search_path() -> PATH followed by /usr/sbin:/sbin, where Debian keeps `ip` and `dnsmasq` and
// which the PATH of a non-login shell may lack. Child processes get it as their PATH.
inline std::string search_path() {
  std::string dirs = "/usr/sbin:/sbin";
  if (const char* path = std::getenv("PATH")) dirs = std::string(path) + ":" + dirs;
  return dirs;
}

// find_program(name) -> the path of the executable `name` in search_path() (name itself when it
// holds a '/' and is executable), or "".
inline std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const std::string dirs = search_path();
  std::string_view rest(dirs);
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::string dir(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
  }
  return {};
}

// on_path(name) -> an executable `name` is in search_path().
inline bool on_path(const std::string& name) { return !find_program(name).empty(); }

// erl_installed() -> an executable `erl` is on the path (Debian: erlang-base).
inline bool erl_installed() { return on_path("erl"); }

// epmd_path() -> the real epmd (Debian erlang-base), or "" when it is not installed: on the
// path, else erl's own copy (/usr/lib/erlang/bin, /usr/lib/erlang/erts-*/bin).
inline std::string epmd_path() {
  if (auto p = find_program("epmd"); !p.empty()) return p;
  if (::access("/usr/lib/erlang/bin/epmd", X_OK) == 0) return "/usr/lib/erlang/bin/epmd";
  std::string found;
  if (DIR* d = ::opendir("/usr/lib/erlang")) {
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.rfind("erts-", 0) == 0 &&
          ::access(("/usr/lib/erlang/" + name + "/bin/epmd").c_str(), X_OK) == 0) {
        found = "/usr/lib/erlang/" + name + "/bin/epmd";
      }
    }
    ::closedir(d);
  }
  return found;
}

// self_exe() -> the path of this executable (tests and benchmarks run it again as a child in
// another role). Throws std::system_error when /proc/self/exe cannot be read.
inline std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::system_error(errno, std::generic_category(), "readlink /proc/self/exe");
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace nodus::test
