// libFuzzer harness: the frames a nodus peer sends after the handshake (the body of one
// 4-byte-length frame): a native frame's header (dist/native_frame.hpp, dist::parse), or, first
// byte 0xF0, a mesh control frame, hello or peer list (cluster/node_table.hpp, decode_hello,
// decode_peer_list), told apart as node_table does. What parses stays inside the frame, and
// built again (frame_header, encode_peer_list) parses to the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include <nodus/cluster/node_table.hpp>
#include <nodus/dist/native_frame.hpp>

namespace nd = nodus::dist;
namespace cd = nodus::cluster::detail;

namespace {

void control(std::span<const std::byte> f) {
  std::uint64_t fingerprint = 0;
  (void)cd::decode_hello(f, fingerprint);
  std::uint16_t port = 0;
  std::vector<cd::peer_entry> peers;
  if (!cd::decode_peer_list(f, port, peers)) return;
  const auto again = cd::encode_peer_list(port, peers);
  std::uint16_t port2 = 0;
  std::vector<cd::peer_entry> peers2;
  if (!cd::decode_peer_list(again, port2, peers2) || port2 != port ||
      peers2.size() != peers.size()) {
    std::abort();
  }
  for (std::size_t i = 0; i < peers.size(); ++i) {
    if (peers2[i].name != peers[i].name || peers2[i].port != peers[i].port) std::abort();
  }
}

void native(std::span<const std::byte> f) {
  const auto w = nd::parse(f);
  if (!w) return;
  const auto* begin = f.data();
  const auto* end = f.data() + f.size();
  if (w->target.size() != std::to_integer<std::size_t>(f[1]) ||
      reinterpret_cast<const std::byte*>(w->target.data()) < begin ||
      reinterpret_cast<const std::byte*>(w->target.data() + w->target.size()) > end ||
      w->payload.data() != begin + nd::header_size(w->target.size()) ||
      w->payload.data() + w->payload.size() > end) {
    std::abort();
  }
  nd::frame_header h;
  h.set(w->kind, w->target, w->word1, w->word2, w->payload.size());
  std::vector<std::byte> again(h.view().begin(), h.view().end());
  again.insert(again.end(), w->payload.begin(), w->payload.end());
  again.resize(again.size() + (16 - (4 + again.size()) % 16) % 16);
  const auto back = nd::parse(again);
  if (!back || back->kind != w->kind || back->word1 != w->word1 || back->word2 != w->word2 ||
      back->target != w->target || back->payload.size() != w->payload.size() ||
      back->message_id() != w->message_id() || back->call_id() != w->call_id() ||
      back->error_code() != w->error_code()) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> f(reinterpret_cast<const std::byte*>(data), size);
  if (!f.empty() && f[0] == nodus::cluster::control_tag) {
    control(f);
  } else {
    native(f);
  }
  return 0;
}
