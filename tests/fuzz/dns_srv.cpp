// libFuzzer harness: cluster::detail::parse_srv_answer, the DNS responses dns_srv_strategy reads
// (cluster/detail/srv_answer.hpp; the system resolver checks only their header and question).
// Any bytes either parse or fail with a reason; what parses holds at most one record per 11
// bytes, targets of at most 253 characters (255 bytes on the wire), and a target said to be a
// host name holds only labels of A-Z a-z 0-9 - _.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include <nodus/cluster/detail/srv_answer.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto r =
      nodus::cluster::detail::parse_srv_answer(std::span<const std::uint8_t>(data, size));
  if (!r) {
    if (r.error().reason().empty()) std::abort();
    return 0;
  }
  if (size < 12 || r->size() * 11 > size) std::abort();
  for (const auto& rec : *r) {
    if (rec.target.size() > 253) std::abort();
    if (!rec.host_name) continue;
    if (rec.target.empty() || rec.target.front() == '.' || rec.target.back() == '.') std::abort();
    for (char c : rec.target) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
      if (!ok) std::abort();
    }
    if (rec.target.find("..") != rec.target.npos) std::abort();
  }
  return 0;
}
