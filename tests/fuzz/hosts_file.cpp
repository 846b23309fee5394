// libFuzzer harness: cluster::detail::parse_hosts_erlang, the text of a .hosts.erlang file
// (cluster/topology.hpp; erlang_hosts_strategy reads the file, whoever wrote it). Each host it
// returns is 1 to 255 bytes; written back as quoted terms, the hosts without a quote in them
// parse to themselves, with nothing malformed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nodus/cluster/topology.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto [hosts, bad] = nodus::cluster::detail::parse_hosts_erlang(text);
  if (hosts.size() + bad > size) std::abort();
  std::vector<std::string> quotable;
  std::string again = "% written back\n";
  for (const auto& h : hosts) {
    if (h.empty() || h.size() > 255) std::abort();
    if (h.find('\'') != std::string::npos) continue;
    quotable.push_back(h);
    again += '\'' + h + "'.\n";
  }
  const auto [back, back_bad] = nodus::cluster::detail::parse_hosts_erlang(again);
  if (back != quotable || back_bad != 0) std::abort();
  return 0;
}
