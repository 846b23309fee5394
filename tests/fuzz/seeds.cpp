// The fuzzers' seed corpora, written by nodus's own encoders: seeds DIR writes DIR/<harness>/N
// for each harness of tests/fuzz/ (etf_decode, erlang_frame, global_member, native_message,
// handshake, epmd, gossip, hosts_file, node_name, native_frame, dns_srv).
// Built and run by tests/fuzz/run.sh.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nodus/cluster/gossip.hpp>
#include <nodus/cluster/node_table.hpp>
#include <nodus/codec/codec.hpp>
#include <nodus/codec/etf/encode.hpp>
#include <nodus/codec/etf/term.hpp>
#include <nodus/core/node_name.hpp>
#include <nodus/dist/erlang_frame.hpp>
#include <nodus/dist/native_frame.hpp>
#include <nodus/epmd/protocol.hpp>
#include <nodus/net/handshake.hpp>

#include "handshake.hpp"
#include "message.hpp"

namespace fs = std::filesystem;
namespace etf = nodus::etf;
using etf::atom;
using etf::term;

namespace {

using fuzz::everything;
using fuzz::point;

void write(const fs::path& dir, int n, const std::vector<std::byte>& bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / std::to_string(n), std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}
std::vector<std::byte> encoded(const term& t) {
  std::vector<std::byte> b;
  (void)etf::encode(t, b);
  return b;
}
// A length-prefixed sequence (2-byte big-endian lengths), as the sequence harnesses read.
void append_framed(std::vector<std::byte>& out, const std::vector<std::byte>& one) {
  out.push_back(std::byte(one.size() >> 8));
  out.push_back(std::byte(one.size() & 0xff));
  out.insert(out.end(), one.begin(), one.end());
}
// A selector byte, then bytes.
std::vector<std::byte> selected(std::uint8_t selector, std::span<const std::uint8_t> rest) {
  std::vector<std::byte> out{std::byte{selector}};
  for (const auto b : rest) out.push_back(std::byte{b});
  return out;
}
std::vector<std::byte> text_bytes(std::string_view text) {
  std::vector<std::byte> out;
  for (const char c : text) out.push_back(static_cast<std::byte>(c));
  return out;
}

// Feeds the framed messages of bytes to h (and records them in received) until it finishes.
void deliver(fuzz::hs::machine& h, const fuzz::handshake_mode& mode,
             const std::vector<std::byte>& bytes, std::vector<std::byte>& received) {
  std::span<const std::byte> stream(bytes);
  while (!h.finished()) {
    const auto f = fuzz::hs::split_frame(stream);
    if (!f) break;
    received.insert(received.end(), stream.begin(), stream.begin() + f->size);
    stream = stream.subspan(f->size);
    if (h.feed(f->body)) fuzz::handshake_owner(h, mode);
  }
}

// Runs the harness's initiator and acceptor against each other, the owner deciding as mode
// says; returns the bytes each received: {initiator's, acceptor's}.
std::pair<std::vector<std::byte>, std::vector<std::byte>> handshake_pair(
    fuzz::handshake_mode mode) {
  mode.acceptor = false;
  auto a = fuzz::handshake_machine(mode);
  mode.acceptor = true;
  auto b = fuzz::handshake_machine(mode);
  std::vector<std::byte> to_a, to_b;
  for (int round = 0; round < 8; ++round) {
    if (!b.finished()) deliver(b, mode, a.take_output(), to_b);
    if (!a.finished()) deliver(a, mode, b.take_output(), to_a);
  }
  return {to_a, to_b};
}

term tuple(std::vector<term> items) { return term::tuple(std::move(items)); }
term a(const char* name) { return term(atom(name)); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: seeds DIR\n";
    return 2;
  }
  const fs::path root = argv[1];
  const etf::pid e1{atom("e1@127.0.0.1"), 91, 0, 1733490000};
  const etf::pid n1{atom("n1@127.0.0.1"), 0, 0, 7};
  const etf::reference ref{atom("e1@127.0.0.1"), 1733490000, 3, {24574, 3518300162u, 3753052659u}};
  const std::vector<term> terms = {
      tuple({a("$gen_call"), tuple({term(e1), term::list({a("alias")}, term(ref))}), a("ping")}),
      tuple({term::list({a("alias")}, term(ref)), tuple({a("ok"), a("n1@127.0.0.1"), a("pong")})}),
      a("pong"),
      term::binary("0123456789abcdef"),
      term::list({term(1), term(2), term(300), term(-70000), term(1.5)}),
      term::list({term(1)}, term(2)),  // improper
      term::map({{a("key"), term(1)}, {term::binary("k"), term::nil()}}),
      term(etf::big_integer{false, std::vector<std::uint8_t>(32, 0xff)}),
      term(std::uint64_t(-1)),
      tuple({term(e1), term(ref), term(etf::port{atom("e1@127.0.0.1"), 5, 1})}),
      term(etf::bit_binary{{std::byte{0xa0}}, 3}),
  };
  int n = 0;
  for (const auto& t : terms) write(root / "etf_decode", n++, encoded(t));

  // BEAM frames: a call by name, a monitor, a send to a pid, a monitor exit, a link.
  auto frame = [](const term& control, const term* message) {
    return nodus::dist::erlang_frame_bytes(control, message).value();
  };
  const term call = terms[0];
  const std::vector<std::vector<std::byte>> frames = {
      frame(nodus::dist::reg_send_control(e1, atom("beam_facing")), &call),
      frame(nodus::dist::monitor_p_control(e1, a("beam_facing"), ref), nullptr),
      frame(nodus::dist::send_control(n1), &terms[1]),
      frame(nodus::dist::monitor_p_exit_control(a("box"), n1, ref, a("noproc")), nullptr),
      frame(tuple({term(1), term(e1), term(n1)}), nullptr),
  };
  n = 0;
  std::vector<std::byte> all;
  for (const auto& f : frames) {
    std::vector<std::byte> one;
    append_framed(one, f);
    write(root / "erlang_frame", n++, one);
    append_framed(all, f);
  }
  write(root / "erlang_frame", n++, all);
  // The same frames as pass-through frames (112).
  for (const auto& f : frames) {
    std::vector<std::byte> one;
    append_framed(one, nodus::dist::as_pass_through(f).value());
    write(root / "erlang_frame", n++, one);
  }

  // global_name_server's traffic from e1, in the order of a connect session (OTP 25 global.erl).
  const term tag = term(-576460752303423391);
  auto cast = [](term request) { return tuple({a("$gen_cast"), std::move(request)}); };
  auto gen_call = [&](term request) {
    return tuple({a("$gen_call"), tuple({term(e1), term(ref)}), std::move(request)});
  };
  const term lock_id = tuple({a("global"), term::list({term(e1), term(n1)})});
  const std::vector<term> session = {
      cast(tuple({a("init_connect"), tuple({term(8), tag}), a("e1@127.0.0.1"),
                  tuple({a("locker"), a("no_longer_a_pid"), term::map({}), term(e1)})})),
      tuple({a("init_connect_ack"), a("e1@127.0.0.1"), term(1), tag}),
      gen_call(tuple({a("set_lock"), lock_id})),
      cast(tuple({a("lock_set"), term(e1), a("true"), term::nil(), term(1)})),
      cast(
          tuple({a("exchange"), a("e1@127.0.0.1"),
                 term::list({tuple({a("g_box"), term(e1), a("resolve")})}), term::nil(), term(1)})),
      cast(tuple({a("resolved"), a("e1@127.0.0.1"), term::nil(),
                  term::list({tuple({a("e2@127.0.0.1"), term(8)})}), a("unused"), term::nil(),
                  term(1)})),
      gen_call(tuple({a("del_lock"), lock_id})),
      cast(tuple({a("new_nodes"), a("e1@127.0.0.1"), term::nil(), term::nil(),
                  term::list({tuple({a("e3@127.0.0.1"), term(8)})}), term::nil()})),
      cast(tuple({a("in_sync"), a("e2@127.0.0.1"), a("true")})),
      gen_call(tuple({a("register"), a("g_box"), term(e1), a("resolve")})),
      gen_call(a("get_known")),
      tuple({a("lost_connection"), a("e2@127.0.0.1"), term(5), term(1), a("e1@127.0.0.1")}),
      tuple({a("remove_connection"), a("e1@127.0.0.1")}),
      tuple({a("cancel_connect"), a("e1@127.0.0.1"), term(1)}),
  };
  std::vector<std::byte> whole;
  n = 0;
  for (const auto& m : session) {
    std::vector<std::byte> one;
    append_framed(one, encoded(m));
    write(root / "global_member", n++, one);
    append_framed(whole, encoded(m));
  }
  write(root / "global_member", n++, whole);

  // Native messages.
  const everything e{7,
                     true,
                     0.25,
                     "hello",
                     atom("news"),
                     e1,
                     {1, -2, 3},
                     {{"widget", 3, true}, {"", 0, false}},
                     {point{1, 2}, point{-3, 4}},
                     {atom("a"), atom("été")},
                     {"last", 9, true}};
  const everything empty{};
  n = 0;
  for (const auto* m : {&e, &empty}) {
    nodus::codec::gather_list out;
    nodus::codec::encode(*m, out);
    std::vector<std::byte> bytes;
    for (const auto& part : out.parts) bytes.insert(bytes.end(), part.begin(), part.end());
    write(root / "native_message", n++, bytes);
  }
  // Native frames, padded as a nodus connection pads them (4 + body a multiple of 16): a call, a
  // cast, an info, a reply and a reply_error, with the native message above as payload; then the
  // mesh's control frames, hello and peer list.
  n = 0;
  {
    nodus::codec::gather_list out;
    nodus::codec::encode(e, out);
    std::vector<std::byte> payload;
    for (const auto& part : out.parts) payload.insert(payload.end(), part.begin(), part.end());
    const std::string_view reason = "no such server";
    auto padded = [](std::vector<std::byte> body) {
      body.resize(body.size() + (16 - (4 + body.size()) % 16) % 16);
      return body;
    };
    auto native = [&](const nodus::dist::frame_header& h, std::span<const std::byte> p) {
      std::vector<std::byte> body(h.view().begin(), h.view().end());
      body.insert(body.end(), p.begin(), p.end());
      write(root / "native_frame", n++, padded(std::move(body)));
    };
    using nodus::dist::frame_kind;
    nodus::dist::frame_header h;
    h.call("beam_facing", 0x1234567890abcdefu, 7, payload.size());
    native(h, payload);
    h.message(frame_kind::cast, std::string(40, 's'), 0x1234567890abcdefu, payload.size());
    native(h, payload);
    h.message(frame_kind::info, "box", 42, 0);
    native(h, {});
    h.reply(7, payload.size());
    native(h, payload);
    h.reply_error(7, 3, reason.size());
    native(h, text_bytes(reason));
    write(root / "native_frame", n++, padded(nodus::cluster::detail::encode_hello(0xfeedface)));
    write(root / "native_frame", n++,
          padded(nodus::cluster::detail::encode_peer_list(
              4370, {{nodus::node_name::parse("n2@127.0.0.1").value(), 4371},
                     {nodus::node_name::parse("n3@host.example.com").value(), 65535}})));
  }

  // Handshakes: both sides of each outcome the owner's decisions lead to.
  n = 0;
  for (const auto reply :
       {fuzz::hs::status::ok, fuzz::hs::status::ok_simultaneous, fuzz::hs::status::nok,
        fuzz::hs::status::not_allowed, fuzz::hs::status::alive}) {
    for (const bool keep : {true, false}) {
      if (!keep && reply != fuzz::hs::status::alive) continue;
      fuzz::handshake_mode mode{false, reply, keep, false};
      const auto [to_a, to_b] = handshake_pair(mode);
      std::vector<std::byte> one{std::byte{mode.byte()}};
      one.insert(one.end(), to_a.begin(), to_a.end());
      write(root / "handshake", n++, one);
      mode.acceptor = true;
      one.assign(1, std::byte{mode.byte()});
      one.insert(one.end(), to_b.begin(), to_b.end());
      write(root / "handshake", n++, one);
      if (reply == fuzz::hs::status::ok || reply == fuzz::hs::status::alive) {
        one[0] |= std::byte{0x40};  // the same, the owner deciding late
        write(root / "handshake", n++, one);
      }
      // The same as over TLS: 4-byte lengths.
      std::vector<std::byte> tls{std::byte{static_cast<std::uint8_t>(mode.byte() | 0x80)}};
      const auto wide = fuzz::hs::widen_prefixes(to_b);
      tls.insert(tls.end(), wide.begin(), wide.end());
      write(root / "handshake", n++, tls);
    }
  }
  {
    // The messages nodus never sends: a named: status, a complement, an old send_name.
    namespace hs = fuzz::hs;
    const auto n3 = nodus::node_name::parse("n3@127.0.0.1").value();
    std::vector<std::byte> named{std::byte{fuzz::handshake_mode{}.byte()}};
    hs::encode(hs::status_message{hs::status::named, n3, 5}, named);
    write(root / "handshake", n++, named);
    std::vector<std::byte> complement{std::byte{fuzz::handshake_mode{true}.byte()}};
    hs::encode(hs::complement_message{0x4, 3}, complement);
    write(root / "handshake", n++, complement);
    // | 'n' | Version:2 | Flags:4 | Name |, version 5.
    const std::uint8_t old_name[] = {0,   19,  'n', 0,   5,   0,   0,   0x7f, 0xfd, 'n', '3',
                                     '@', '1', '2', '7', '.', '0', '.', '0',  '.',  '1'};
    auto old = selected(fuzz::handshake_mode{true}.byte(), old_name);
    write(root / "handshake", n++, old);
  }

  // The port mapper: a client's requests (0), then its answers (1 ALIVE2, 2 PORT2, 3 NAMES).
  namespace epmd = nodus::epmd;
  const epmd::node_info n1_info{4370, epmd::node_type_normal, epmd::protocol_tcp, 6, 6, "n1", ""};
  const epmd::node_info hidden{4371,   epmd::node_type_hidden, epmd::protocol_tcp, 6, 5, "été",
                               "extra"};
  n = 0;
  {
    epmd::bytes all;
    for (const auto& r :
         {epmd::encode_alive2_request(n1_info).value(), epmd::encode_alive2_request(hidden).value(),
          epmd::encode_port_please2_request("n1").value(),
          epmd::encode_request(epmd::request_code::names),
          epmd::encode_request(epmd::request_code::dump),
          epmd::encode_request(epmd::request_code::kill)}) {
      write(root / "epmd", n++, selected(0, r));
      all.insert(all.end(), r.begin(), r.end());
    }
    write(root / "epmd", n++, selected(0, all));
    for (const auto& r :
         {epmd::encode_alive2_response({0, 7, true}), epmd::encode_alive2_response({1, 99, true}),
          epmd::encode_alive2_response({0, 3, false})}) {
      write(root / "epmd", n++, selected(1, r));
    }
    for (const auto& r : {epmd::encode_port2_response(n1_info), epmd::encode_port2_response(hidden),
                          epmd::encode_port2_error()}) {
      write(root / "epmd", n++, selected(2, r));
    }
    epmd::bytes names = epmd::encode_names_header(4369);
    for (const auto& e : {epmd::node_entry{"n1", 4370}, epmd::node_entry{"a b at port", 65535}}) {
      const auto line = epmd::names_line(e);
      names.insert(names.end(), line.begin(), line.end());
    }
    write(root / "epmd", n++, selected(3, names));
    write(root / "epmd", n++, selected(3, epmd::encode_names_header(4369)));
  }

  // Gossip heartbeats: unsigned (0), signed with the harness's secret (1), re-signed (3).
  namespace gd = nodus::cluster::detail;
  n = 0;
  {
    const gd::gossip_key key = gd::derive_gossip_key("fuzz secret").value();  // as gossip.cpp
    const std::string long_name = "n" + std::string(200, 'x') + "@host.example.com";
    for (const auto& hb :
         {gd::gossip_heartbeat{nodus::node_name::parse("n1@127.0.0.1").value(), 4370, 1, 0},
          gd::gossip_heartbeat{nodus::node_name::parse(long_name).value(), 65535,
                               0xfedcba9876543210u, 12345}}) {
      std::array<unsigned char, gd::gossip_max_size> d{};
      for (const std::uint8_t mode : {0, 1, 3}) {
        const std::size_t size = gd::encode_heartbeat(hb, mode != 0 ? &key : nullptr, d);
        write(root / "gossip", n++, selected(mode, {d.data(), size}));
      }
    }
  }

  // .hosts.erlang files.
  n = 0;
  for (const std::string_view text :
       {"'127.0.0.1'.\n", "% the hosts of the cluster\nbad term.\n'127.0.0.1'.\n",
        "'host1.example.com'.\n'host2.example.com'.  % a comment\nlocalhost.\n\n'::1'.\n",
        "'unterminated.\n", "x.y.\n'a''b'.\n"}) {
    write(root / "hosts_file", n++, text_bytes(text));
  }

  // Node names and name@ip:port targets.
  n = 0;
  for (const std::string_view text :
       {"n1@127.0.0.1", "n1@127.0.0.1:4370", "n2@::1:4370", "a-b_C9@host.example.com", "n@[::1]:1",
        "n1@127.0.0.1:0", "n1@127.0.0.1:65536", "@h", "n@", "n1@h:x"}) {
    write(root / "node_name", n++, text_bytes(text));
  }

  // DNS responses with SRV records (RFC 1035 4.1, RFC 2782), written byte by byte: nodus has no
  // DNS encoder. One plain, one whose second target is compressed and with a CNAME in between,
  // one with the root target, one NXDOMAIN.
  {
    const auto u16 = [](std::vector<std::byte>& b, unsigned v) {
      b.push_back(std::byte(v >> 8));
      b.push_back(std::byte(v & 0xff));
    };
    const auto name = [](std::vector<std::byte>& b, std::string_view text, bool end) {
      std::size_t pos = 0;
      while (pos < text.size()) {
        auto dot = text.find('.', pos);
        if (dot == std::string_view::npos) dot = text.size();
        b.push_back(std::byte(dot - pos));
        for (std::size_t i = pos; i < dot; ++i) b.push_back(std::byte(text[i]));
        pos = dot + 1;
      }
      if (end) b.push_back(std::byte{0});
    };
    const auto response = [&](unsigned flags, unsigned answers) {
      std::vector<std::byte> b;
      for (unsigned v : {0x1234u, flags, 1u, answers, 0u, 0u}) u16(b, v);
      name(b, "nodus.default.svc.cluster.local", true);
      u16(b, 33);
      u16(b, 1);
      return b;
    };
    const auto srv_fixed = [&](std::vector<std::byte>& b, unsigned type, unsigned rdlength) {
      u16(b, 0xC00C);  // the owner: a pointer to the question's name
      for (unsigned v : {type, 1u, 0u, 30u, rdlength}) u16(b, v);
    };
    n = 0;
    auto plain = response(0x8180, 2);
    for (const std::string_view t : {"nodus-0.nodus.default.svc.cluster.local", "n1.test"}) {
      srv_fixed(plain, 33, 6 + static_cast<unsigned>(t.size()) + 2);
      for (unsigned v : {10u, 50u, 4369u}) u16(plain, v);
      name(plain, t, true);
    }
    write(root / "dns_srv", n++, plain);
    auto compressed = response(0x8180, 2);
    srv_fixed(compressed, 5, 2);
    u16(compressed, 0xC00C);
    srv_fixed(compressed, 33, 6 + 8 + 2);
    for (unsigned v : {0u, 0u, 0u}) u16(compressed, v);
    name(compressed, "nodus-1", false);
    u16(compressed, 0xC00C);
    write(root / "dns_srv", n++, compressed);
    auto root_target = response(0x8180, 1);
    srv_fixed(root_target, 33, 7);
    for (unsigned v : {0u, 0u, 0u}) u16(root_target, v);
    root_target.push_back(std::byte{0});
    write(root / "dns_srv", n++, root_target);
    write(root / "dns_srv", n++, response(0x8183, 0));
  }

  std::cout << "seeds written to " << root.string() << "\n";
  return 0;
}
