// libFuzzer harness: cluster::detail::decode_heartbeat, a gossip datagram from anyone on the LAN
// (cluster/gossip.hpp). The first input byte picks the receiver: bit 0 set, it has a secret (the
// HMAC-SHA256 is checked); bit 1 set too, the harness signs the datagram itself first (the MAC
// field, when the size leaves room for one, gets the right MAC), so that mutations reach past
// the MAC check. A heartbeat that decodes encodes to the same bytes.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include <nodus/cluster/gossip.hpp>

namespace gd = nodus::cluster::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const gd::gossip_key key = gd::derive_gossip_key("fuzz secret").value();
  if (size == 0) return 0;
  const bool secret = (data[0] & 1) != 0;
  std::vector<unsigned char> d(data + 1, data + size);
  if (secret && (data[0] & 2) != 0 && d.size() >= gd::gossip_header_size + gd::gossip_mac_size) {
    const std::size_t body = d.size() - gd::gossip_mac_size;
    if (!gd::hmac_sha256(key, {d.data(), body},
                         std::span<unsigned char, 32>(d.data() + body, gd::gossip_mac_size))) {
      std::abort();
    }
  }
  const auto r = gd::decode_heartbeat(d, secret ? &key : nullptr);
  (void)gd::to_string(r.problem);
  if (r.problem != gd::heartbeat_problem::none) return 0;
  std::array<unsigned char, gd::gossip_max_size> again{};
  const std::size_t n = gd::encode_heartbeat(r.heartbeat, secret ? &key : nullptr, again);
  if (n != d.size() || !std::equal(d.begin(), d.end(), again.begin())) std::abort();
  return 0;
}
