// Benchmark: two processes on loopback. Remote call round trip (32-byte message), cast throughput
// (32-byte messages, pipelined) and 1 MiB message throughput, for nodus next to a raw Asio TCP
// baseline with the same I/O model and next to two Erlang nodes (when erl is installed), each
// unpinned and with both processes pinned to one CPU. Besides: the call round trip of a blocking
// raw ping-pong (the loopback limit), nodus again with options.busy_poll on both nodes, and nodus
// over TLS distribution (options.tls, certificates made with the openssl tool) against nodus over
// plain TCP.
//
//   remote_calls                     full run: 5 repetitions, both placements (~1-2 min)
//   remote_calls --quick             short run, one repetition (a smoke run, a few seconds;
//                                    --smoke is the same)
//   remote_calls --only raw|erlang|nodus      one system only
//   remote_calls --pinned-only | --unpinned-only
//   remote_calls --reps N            repetitions (median shown)
//   remote_calls --busy-poll US      the nodus busy-poll variant's options.busy_poll (default 50;
//                                    0: the variant is not run)
//
// The process started by the user is only a driver: for every repetition, placement and system it
// starts a server process and a client process (itself with --role ..., or two erl nodes), reads
// the client's "result" lines and stops both. Pinned: both children get the driver's first
// allowed CPU as their whole affinity mask (inherited through posix_spawn), so a hand-over between
// them is a context switch on one CPU instead of a cross-CPU wake-up, whose cost swings by 10x
// between runs on a 2-core VM. Only loopback traffic: 127.0.0.1 (and 127.0.0.2 for one erl node).
//
// Raw baseline (roles raw-server / raw-client): each process runs one asio::io_context on one
// thread; frames are a 4-byte big-endian length and the payload; reads are async_read_some into a
// growing buffer that is parsed into frames; writes are one async_write of a gather list of every
// queued frame (header + payload buffers), frames queued meanwhile go out in the next one. That
// is the model of nodus::net::connection (whose receive buffer is a large reserved block rather
// than a growing vector). The first payload byte says what a frame is (frame_kind).
//
//   call round trip   32-byte request, 32-byte reply; the next request is sent from the reply's
//                     handler. Up to `calls` round trips or `call_cap`, whichever comes first.
//   cast throughput   an "expect n" round trip, then n 32-byte frames queued from one handler; the
//                     server counts them (in order) and answers the n-th. Frames per second from
//                     queueing the first to receiving the answer.
//   1 MiB throughput  the same with n frames of 1 MiB (one buffer, sent n times, never copied by
//                     the sender); payload bytes per second, GB = 10^9 bytes.
// Every measure is first run with a tenth of its count as a warm-up.
//
// A second raw variant (write_mode::copy_small, its own small table) copies frames of up to 1 KiB
// into one contiguous buffer instead: Asio's async_write passes at most 16 buffers to one sendmsg
// (asio/detail/consuming_buffers.hpp, prepared_buffers::max_buffers), so the gather list costs a
// system call per 8 small frames. (nodus::net::connection calls sendmsg itself with up to 1024
// buffers, so raw copy is the figure to compare nodus' small casts with.)
//
// Blocking raw ping-pong, the loopback limit (roles raw-block-server / raw-block-client; the call
// round trip only, "raw block" in the tables): plain POSIX blocking TCP sockets on 127.0.0.1 with
// TCP_NODELAY on both ends and the same frames (4-byte length, 32-byte payload). Per round trip
// the client makes one write of the 36-byte request frame and one blocking read (looping until
// the whole reply frame has arrived, which takes one read normally); the server reads a request
// the same way, then writes it back as the reply. No event loop, no queue, no epoll: the thread
// blocked in read() is woken straight by the peer's write, so this is about the least a round
// trip over this loopback costs with threads that sleep while they wait. The same call count, cap
// (the clock read every 16 round trips) and warm-up as the raw round trip. Its own table shows
// raw block next to raw, nodus and nodus busy-poll, with their ratios to it and to raw.
//
// Erlang (two erl nodes, no EPMD): n2@127.0.0.2 runs a gen_server that echoes calls and counts
// casts, n1@127.0.0.1 runs the same three loops with gen_server:call and gen_server:cast and prints
// the same result lines. The Erlang module is embedded below (erlang_module), written to a
// temporary directory and compiled by the first node with compile:file (erlc is not needed).
//
// nodus (roles nodus-server / nodus-client): two nodes, n2@127.0.0.1 running the server `sink`
// and n1@127.0.0.1, each run by one thread (options.threads = 1, node.run()). The client's node
// does what the raw client does with node.async_call<sink>(n2, msg, timeout, callback) (the next
// call from the previous reply's completion) and node.cast<sink>(n2, msg) (a cast refused with
// busy, the send queue at its 1 MiB limit, waits with node.async_wait_writable and goes on, as
// an Erlang sender is suspended on a busy distribution port); a stream is an
// "expect n" call, n casts queued from its completion, then a "sync" call that the server answers
// once it has counted the n casts (they arrive before it, in order). 32-byte messages are sent by
// value (copied once into the send), the 1 MiB one as one std::shared_ptr<const> for every cast
// (never copied); the server takes them all as const references into its receive buffer.
//
// nodus busy-poll variant (--busy-poll US, default 50 us; 0: not run; "nodus, busy-poll 50 us" in
// the tables): the same two nodus roles run a second time, both given role option --busy-poll US,
// which sets options.busy_poll on their node. A node thread that runs out of ready work then
// keeps calling io_context::poll() (ready handlers, then the reactor without blocking) for up to
// that long before it blocks in the kernel, as Erlang's schedulers spin before they sleep: a
// reply arriving within the window finds its thread awake, with no wake-up on the round trip's
// path, at the price of a busy CPU while idle. Pinned, the two processes share one CPU: the
// spinner yields it between polls (std::this_thread::yield), so the other runs meanwhile. Its own
// table compares it with nodus for the three measures; the loopback-limit table has its round
// trip.
//
// Figures hold for this machine and this run only: compare the ratios, not absolute times.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <nodus/net/tls.hpp>
#include <nodus/nodus.hpp>

#include "common/process.hpp"
#include "common/programs.hpp"

namespace {

using nodus::test::child_process;
using nodus::test::kill_live_children;
using nodus::test::process_options;

using bench_clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// ---- settings ---------------------------------------------------------------------------------

// How a raw_link writes what was queued while the previous write was in flight.
enum class write_mode {
  gather,      // one gather list of every frame's header and payload (nodus' model)
  copy_small,  // headers and payloads up to copy_limit copied into one contiguous buffer; larger
               // payloads stay in place as their own gather entries
};
constexpr std::size_t copy_limit = 1024;

const char* to_string(write_mode m) { return m == write_mode::gather ? "gather" : "copy"; }

struct settings {
  int reps = 5;                             // repetitions of every system and placement
  long calls = 20'000;                      // round trips per repetition, at most
  std::chrono::milliseconds call_cap{400};  // ... and at most this long
  long casts = 300'000;                     // 32-byte casts per repetition
  long bigs = 400;                          // 1 MiB messages per repetition
  std::chrono::seconds guard{30};           // bound of one measurement (one pair of processes)
  write_mode write = write_mode::gather;    // raw baseline's write path (a role option)
  std::chrono::microseconds busy_poll{0};   // nodus roles: their options.busy_poll (a role option)
  std::string tls_dir;  // nodus roles: TLS distribution with the certificates there (a role option)
};

// The driver's default for --busy-poll: the nodus busy-poll variant runs with this (0: not run).
constexpr std::chrono::microseconds default_busy_poll{50};

settings quick_settings() {
  settings s;
  s.reps = 1;
  s.calls = 500;
  s.call_cap = 50ms;
  s.casts = 10'000;
  s.bigs = 16;
  return s;
}

// Children that outlive the driver (killed hard) end themselves after this long.
constexpr std::chrono::seconds orphan_guard{120};

constexpr std::size_t header_size = 4;
constexpr std::size_t small_size = 32;
constexpr std::size_t big_size = std::size_t{1} << 20;
constexpr std::size_t read_chunk = 64 * 1024;  // as nodus::net::connection's chunk_size

// frame_kind: the first payload byte of a raw frame.
enum frame_kind : unsigned char {
  k_call = 'c',        // request: kind, 8-byte sequence number, padding to 32 bytes
  k_reply = 'r',       // the request echoed with this kind
  k_expect = 'e',      // kind, 8-byte count: the next stream has that many frames
  k_expect_ack = 'E',  // the server is ready for the stream
  k_small = 's',       // stream frame, 32 bytes: kind, 8-byte sequence number
  k_big = 'b',         // stream frame, 1 MiB
  k_done = 'a',        // the server saw the last frame of the stream
};

double elapsed_ns(bench_clock::time_point a, bench_clock::time_point b) {
  return std::chrono::duration<double, std::nano>(b - a).count();
}

void put_u64(std::byte* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<std::byte>(v & 0xff);
    v >>= 8;
  }
}
std::uint64_t get_u64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

// ---- process bookkeeping (driver side) --------------------------------------------------------

// The children are child_processes: a fatal error or a signal ends them all with
// kill_live_children().

// The temporary files of the Erlang nodes, as plain strings that a signal handler may use:
// the directory, then the files in it (empty: none).
char erl_tmp_paths[3][512] = {};

// remove_erl_tmp(): async-signal-safe.
void remove_erl_tmp() {
  if (erl_tmp_paths[0][0] == '\0') return;
  ::unlink(erl_tmp_paths[1]);
  ::unlink(erl_tmp_paths[2]);
  ::rmdir(erl_tmp_paths[0]);
  erl_tmp_paths[0][0] = '\0';
}

extern "C" void on_fatal_signal(int sig) {
  kill_live_children();
  remove_erl_tmp();
  ::_exit(128 + sig);
}

std::string program_name = "remote_calls";

[[noreturn]] void fail(std::string_view what) {
  std::fprintf(stderr, "%s: %.*s\n", program_name.c_str(), static_cast<int>(what.size()),
               what.data());
  kill_live_children();
  remove_erl_tmp();
  std::exit(1);
}

// ---- raw baseline: one framed TCP link --------------------------------------------------------

// raw_link: 4-byte big-endian length-prefixed frames over one TCP socket, callbacks on the
// io_context's single thread. The same I/O model as nodus::net::connection, without its
// handshake, ticks and strand (write_mode::gather).
class raw_link {
 public:
  using frame_handler = std::function<void(std::span<const std::byte>)>;

  raw_link(asio::ip::tcp::socket socket, write_mode mode)
      : socket_(std::move(socket)), mode_(mode) {
    socket_.set_option(asio::ip::tcp::no_delay(true));
  }

  // start(on_frame): reads until the peer closes; on_frame sees each payload, valid during the
  // call only. on_closed runs once at the end of input (or on a read error).
  void start(frame_handler on_frame, std::function<void(std::error_code)> on_closed) {
    on_frame_ = std::move(on_frame);
    on_closed_ = std::move(on_closed);
    read_more();
  }

  // send_small(payload): queues a frame whose payload (at most small_size bytes) is copied.
  void send_small(std::span<const std::byte> payload) {
    if (mode_ == write_mode::copy_small) {
      stage(payload.size(), payload);
      start_write();
      return;
    }
    auto& o = queue_.emplace_back();
    set_header(o, payload.size());
    std::memcpy(o.body.data(), payload.data(), payload.size());
    o.body_size = static_cast<std::uint32_t>(payload.size());
    start_write();
  }

  // send_shared(payload): queues a frame whose payload stays where it is; it must stay valid and
  // unchanged until the write completes.
  void send_shared(asio::const_buffer payload) {
    if (mode_ == write_mode::copy_small) {
      if (payload.size() <= copy_limit) {
        stage(payload.size(), {static_cast<const std::byte*>(payload.data()), payload.size()});
      } else {
        stage(payload.size(), {});
        segments_.push_back({0, 0, payload});
      }
      start_write();
      return;
    }
    auto& o = queue_.emplace_back();
    set_header(o, payload.size());
    o.external = payload;
    start_write();
  }

  void close() {
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  struct outgoing {
    std::array<std::byte, header_size> header{};
    std::array<std::byte, small_size> body{};
    std::uint32_t body_size = 0;
    asio::const_buffer external;  // non-empty: the payload lives there, not in body
  };

  // copy_small: a run of staged bytes [begin, end), or a payload left in place (external).
  struct segment {
    std::size_t begin = 0;
    std::size_t end = 0;
    asio::const_buffer external;
  };

  static void set_header(outgoing& o, std::size_t n) {
    o.header = {static_cast<std::byte>((n >> 24) & 0xff), static_cast<std::byte>((n >> 16) & 0xff),
                static_cast<std::byte>((n >> 8) & 0xff), static_cast<std::byte>(n & 0xff)};
  }

  // stage(n, bytes): appends a frame header announcing n payload bytes, then bytes, to the staged
  // output (copy_small).
  void stage(std::size_t n, std::span<const std::byte> bytes) {
    const std::size_t at = staged_.size();
    staged_.resize(at + header_size + bytes.size());
    std::byte* p = staged_.data() + at;
    p[0] = static_cast<std::byte>((n >> 24) & 0xff);
    p[1] = static_cast<std::byte>((n >> 16) & 0xff);
    p[2] = static_cast<std::byte>((n >> 8) & 0xff);
    p[3] = static_cast<std::byte>(n & 0xff);
    if (!bytes.empty()) std::memcpy(p + header_size, bytes.data(), bytes.size());
    if (!segments_.empty() && segments_.back().external.size() == 0 && segments_.back().end == at) {
      segments_.back().end = staged_.size();
    } else {
      segments_.push_back({at, staged_.size(), {}});
    }
  }

  // Writes everything queued so far in one gathered async_write.
  void start_write() {
    if (writing_) return;
    if (mode_ == write_mode::copy_small) {
      if (segments_.empty()) return;
      writing_ = true;
      staged_.swap(wstaged_);
      segments_.swap(wsegments_);
      staged_.clear();
      segments_.clear();
      wbufs_.clear();
      for (const auto& g : wsegments_) {
        wbufs_.push_back(g.external.size() != 0
                             ? g.external
                             : asio::const_buffer(wstaged_.data() + g.begin, g.end - g.begin));
      }
      write_queued();
      return;
    }
    if (queue_.empty()) return;
    writing_ = true;
    in_flight_.swap(queue_);
    queue_.clear();
    wbufs_.clear();
    for (const auto& o : in_flight_) {
      wbufs_.push_back(asio::buffer(o.header));
      if (o.external.size() != 0) {
        wbufs_.push_back(o.external);
      } else if (o.body_size != 0) {
        wbufs_.push_back(asio::buffer(o.body.data(), o.body_size));
      }
    }
    write_queued();
  }

  void write_queued() {
    asio::async_write(socket_, wbufs_, [this](std::error_code ec, std::size_t) {
      writing_ = false;
      in_flight_.clear();
      if (ec) {
        if (!closed_) fail("raw link: write: " + ec.message());
        return;
      }
      start_write();
    });
  }

  void process_frames() {
    for (;;) {
      const std::size_t unread = rend_ - rpos_;
      if (unread < header_size) {
        want_ = 0;
        break;
      }
      const std::byte* p = buf_.data() + rpos_;
      const std::size_t n =
          (std::to_integer<std::size_t>(p[0]) << 24) | (std::to_integer<std::size_t>(p[1]) << 16) |
          (std::to_integer<std::size_t>(p[2]) << 8) | std::to_integer<std::size_t>(p[3]);
      if (unread - header_size < n) {
        want_ = header_size + n;
        break;
      }
      rpos_ += header_size + n;
      on_frame_(std::span<const std::byte>(p + header_size, n));
    }
    read_more();
  }

  // Room behind the unread bytes for the rest of the current frame, or a chunk: the unread bytes
  // are moved to the front when the tail is too short, the buffer grows when that is not enough.
  void read_more() {
    if (closed_) return;
    std::size_t unread = rend_ - rpos_;
    if (unread == 0) rpos_ = rend_ = 0;
    const std::size_t need = std::max(want_ > unread ? want_ - unread : 0, read_chunk);
    if (buf_.size() - rend_ < need && rpos_ != 0) {
      std::memmove(buf_.data(), buf_.data() + rpos_, unread);
      rpos_ = 0;
      rend_ = unread;
    }
    if (buf_.size() - rend_ < need) buf_.resize(rend_ + need);
    socket_.async_read_some(asio::buffer(buf_.data() + rend_, buf_.size() - rend_),
                            [this](std::error_code ec, std::size_t n) {
                              if (ec) {
                                closed_ = true;
                                if (on_closed_) on_closed_(ec);
                                return;
                              }
                              rend_ += n;
                              process_frames();
                            });
  }

  asio::ip::tcp::socket socket_;
  write_mode mode_;
  frame_handler on_frame_;
  std::function<void(std::error_code)> on_closed_;
  std::vector<std::byte> buf_;
  std::size_t rpos_ = 0;  // first unread byte
  std::size_t rend_ = 0;  // end of the bytes read
  std::size_t want_ = 0;  // size of the frame that starts at rpos_, once its header is in
  bool closed_ = false;
  bool writing_ = false;
  std::vector<outgoing> queue_;      // waiting for the next write
  std::vector<outgoing> in_flight_;  // being written
  std::vector<asio::const_buffer> wbufs_;
  std::vector<std::byte> staged_, wstaged_;    // copy_small: next write, write in flight
  std::vector<segment> segments_, wsegments_;  // ... and their layout
};

// ---- raw baseline: the two roles --------------------------------------------------------------

// Children end themselves when the driver dies or after orphan_guard.
void guard_child() {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) std::exit(1);
  ::alarm(static_cast<unsigned>(orphan_guard.count()));
}

// raw-server: listens on 127.0.0.1 (ephemeral port, printed as "port N"), serves one client
// until it closes: echoes k_call frames, counts stream frames.
int raw_server_main(write_mode mode) {
  guard_child();
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io,
                                   asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::printf("port %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
  std::fflush(stdout);
  std::optional<raw_link> link;
  std::uint64_t expected = 0;
  std::uint64_t count = 0;
  acceptor.async_accept([&](std::error_code ec, asio::ip::tcp::socket socket) {
    if (ec) fail("raw server: accept: " + ec.message());
    acceptor.close();
    link.emplace(std::move(socket), mode);
    link->start(
        [&](std::span<const std::byte> f) {
          if (f.empty()) fail("raw server: empty frame");
          std::array<std::byte, small_size> out{};
          switch (std::to_integer<unsigned char>(f[0])) {
            case k_call:
              if (f.size() != small_size) fail("raw server: call of a wrong size");
              std::memcpy(out.data(), f.data(), small_size);
              out[0] = std::byte{k_reply};
              link->send_small(out);
              break;
            case k_expect:
              expected = get_u64(f.data() + 1);
              count = 0;
              out[0] = std::byte{k_expect_ack};
              link->send_small(std::span(out).first(1));
              break;
            case k_small:
              if (f.size() != small_size || get_u64(f.data() + 1) != count) {
                fail("raw server: a stream frame arrived out of order or cut");
              }
              [[fallthrough]];
            case k_big:
              if (f[0] == std::byte{k_big} && f.size() != big_size) {
                fail("raw server: a 1 MiB frame of a wrong size");
              }
              if (++count == expected) {
                out[0] = std::byte{k_done};
                link->send_small(std::span(out).first(1));
              }
              break;
            default: fail("raw server: unknown frame");
          }
        },
        [&](std::error_code) { link->close(); });
  });
  io.run();
  return 0;
}

// One step of the client: started once, fed the frames that arrive until it stops the
// io_context.
struct client_step {
  virtual ~client_step() = default;
  virtual void start() = 0;
  virtual void on_frame(std::span<const std::byte> f) = 0;
};

// Ping-pong: up to n round trips or cap, whichever comes first.
struct call_step final : client_step {
  call_step(asio::io_context& io, raw_link& link, long n, std::chrono::milliseconds cap)
      : io_(io), link_(link), n_(n), cap_(cap) {}
  void start() override {
    t0_ = bench_clock::now();
    deadline_ = t0_ + cap_;
    send();
  }
  void send() {
    std::array<std::byte, small_size> b{};
    b[0] = std::byte{k_call};
    put_u64(b.data() + 1, seq_);
    link_.send_small(b);
  }
  void on_frame(std::span<const std::byte> f) override {
    if (f.size() != small_size || f[0] != std::byte{k_reply} || get_u64(f.data() + 1) != seq_) {
      fail("raw client: wrong reply");
    }
    ++seq_;
    ++done;
    if (done < n_ && ((done & 15) != 0 || bench_clock::now() < deadline_)) {
      send();
      return;
    }
    ns = elapsed_ns(t0_, bench_clock::now());
    io_.stop();
  }
  asio::io_context& io_;
  raw_link& link_;
  long n_;
  std::chrono::milliseconds cap_;
  bench_clock::time_point t0_, deadline_;
  std::uint64_t seq_ = 0;
  long done = 0;
  double ns = 0;
};

// Stream: "expect n" round trip, then n frames queued at once; done when the server answers.
struct stream_step final : client_step {
  stream_step(asio::io_context& io, raw_link& link, long n, const std::vector<std::byte>* big)
      : io_(io), link_(link), n_(n), big_(big) {}
  void start() override {
    std::array<std::byte, 9> b{};
    b[0] = std::byte{k_expect};
    put_u64(b.data() + 1, static_cast<std::uint64_t>(n_));
    link_.send_small(b);
  }
  void on_frame(std::span<const std::byte> f) override {
    if (f.size() == 1 && f[0] == std::byte{k_expect_ack}) {
      t0_ = bench_clock::now();
      if (big_ != nullptr) {
        for (long i = 0; i < n_; ++i) link_.send_shared(asio::buffer(*big_));
      } else {
        std::array<std::byte, small_size> b{};
        b[0] = std::byte{k_small};
        for (long i = 0; i < n_; ++i) {
          put_u64(b.data() + 1, static_cast<std::uint64_t>(i));
          link_.send_small(b);
        }
      }
      return;
    }
    if (f.size() == 1 && f[0] == std::byte{k_done}) {
      ns = elapsed_ns(t0_, bench_clock::now());
      io_.stop();
      return;
    }
    fail("raw client: unexpected frame in a stream");
  }
  asio::io_context& io_;
  raw_link& link_;
  long n_;
  const std::vector<std::byte>* big_;
  bench_clock::time_point t0_;
  double ns = 0;
};

// raw-client: connects to 127.0.0.1:port, runs the warm-ups and the three measures, prints
// "result ..." lines and "end".
int raw_client_main(unsigned short port, const settings& s) {
  guard_child();
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  std::error_code refused;
  socket.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), refused);
  if (refused) {
    fail("raw client: connect to 127.0.0.1:" + std::to_string(port) + ": " + refused.message());
  }
  raw_link link(std::move(socket), s.write);
  client_step* current = nullptr;
  link.start([&](std::span<const std::byte> f) { current->on_frame(f); },
             [&](std::error_code ec) { fail("raw client: connection lost: " + ec.message()); });
  auto run = [&](client_step& step) {
    current = &step;
    asio::post(io, [&step] { step.start(); });
    io.restart();
    io.run();
  };
  std::vector<std::byte> big(big_size, std::byte{'x'});
  big[0] = std::byte{k_big};

  call_step warm_calls(io, link, std::max(1L, s.calls / 10), std::max(1ms, s.call_cap / 10));
  stream_step warm_casts(io, link, std::max(1L, s.casts / 10), nullptr);
  stream_step warm_bigs(io, link, std::max(1L, s.bigs / 10), &big);
  call_step calls(io, link, s.calls, s.call_cap);
  stream_step casts(io, link, s.casts, nullptr);
  stream_step bigs(io, link, s.bigs, &big);
  for (client_step* step : std::initializer_list<client_step*>{&warm_calls, &warm_casts, &warm_bigs,
                                                               &calls, &casts, &bigs}) {
    run(*step);
  }
  std::printf("result call %ld %.0f\n", calls.done, calls.ns);
  std::printf("result cast %ld %.0f\n", s.casts, casts.ns);
  std::printf("result big %ld %zu %.0f\n", s.bigs, static_cast<std::size_t>(s.bigs) * big_size,
              bigs.ns);
  std::printf("end\n");
  std::fflush(stdout);
  link.close();
  return 0;
}

// ---- raw baseline, blocking: the loopback limit -----------------------------------------------

// A frame of the blocking ping-pong: the 4-byte big-endian length (32) and a 32-byte payload,
// k_call and its sequence number, echoed as k_reply: the frames of the event-driven baseline.
using block_frame = std::array<std::byte, header_size + small_size>;

// loopback_address(port) -> 127.0.0.1:port.
sockaddr_in loopback_address(unsigned short port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// block_socket(who) -> a new blocking TCP socket (IPv4).
int block_socket(const std::string& who) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(who + ": socket: " + std::strerror(errno));
  return fd;
}

void set_no_delay(int fd, const std::string& who) {
  const int on = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0) {
    fail(who + ": TCP_NODELAY: " + std::strerror(errno));
  }
}

// read_frame(fd, f, who) -> true once a whole frame is in f (blocking reads until it is: one,
// normally), false when the peer closed before its first byte.
bool read_frame(int fd, block_frame& f, const std::string& who) {
  std::size_t got = 0;
  while (got < f.size()) {
    const ssize_t n = ::read(fd, f.data() + got, f.size() - got);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n == 0) {
      if (got == 0) return false;
      fail(who + ": connection closed inside a frame");
    } else if (errno != EINTR) {
      fail(who + ": read: " + std::strerror(errno));
    }
  }
  if (f[0] != std::byte{0} || f[1] != std::byte{0} || f[2] != std::byte{0} ||
      std::to_integer<std::size_t>(f[3]) != small_size) {
    fail(who + ": frame of a wrong size");
  }
  return true;
}

// write_frame(fd, f, who): one blocking write of the whole frame (more only if it is cut).
void write_frame(int fd, const block_frame& f, const std::string& who) {
  std::size_t put = 0;
  while (put < f.size()) {
    const ssize_t n = ::write(fd, f.data() + put, f.size() - put);
    if (n >= 0) {
      put += static_cast<std::size_t>(n);
    } else if (errno != EINTR) {
      fail(who + ": write: " + std::strerror(errno));
    }
  }
}

// raw-block-server: listens on 127.0.0.1 (ephemeral port, printed as "port N"), accepts one
// client and echoes its k_call frames as k_reply, a blocking read then a blocking write each,
// until the client closes.
int raw_block_server_main() {
  guard_child();
  const std::string who = "raw block server";
  const int listener = block_socket(who);
  sockaddr_in a = loopback_address(0);
  socklen_t len = sizeof a;
  if (::bind(listener, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    fail(who + ": listen on 127.0.0.1: " + std::strerror(errno));
  }
  std::printf("port %u\n", static_cast<unsigned>(ntohs(a.sin_port)));
  std::fflush(stdout);
  int fd = -1;
  while ((fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC)) < 0) {
    if (errno != EINTR) fail(who + ": accept: " + std::strerror(errno));
  }
  ::close(listener);
  set_no_delay(fd, who);
  block_frame f{};
  while (read_frame(fd, f, who)) {
    if (f[header_size] != std::byte{k_call}) fail(who + ": not a call");
    f[header_size] = std::byte{k_reply};
    write_frame(fd, f, who);
  }
  ::close(fd);
  return 0;
}

// blocking_calls(fd, n, cap, seq, who) -> {round trips done, nanoseconds}: up to n round trips
// or cap, whichever comes first (the clock is read every 16, as call_step does). Each is one
// write of the request and blocking reads until the whole reply is in.
std::pair<long, double> blocking_calls(int fd, long n, std::chrono::milliseconds cap,
                                       std::uint64_t& seq, const std::string& who) {
  block_frame out{};
  block_frame in{};
  out[3] = static_cast<std::byte>(small_size);
  out[header_size] = std::byte{k_call};
  const auto t0 = bench_clock::now();
  const auto deadline = t0 + cap;
  long done = 0;
  for (;;) {
    put_u64(out.data() + header_size + 1, seq);
    write_frame(fd, out, who);
    if (!read_frame(fd, in, who)) fail(who + ": connection lost");
    if (in[header_size] != std::byte{k_reply} || get_u64(in.data() + header_size + 1) != seq) {
      fail(who + ": wrong reply");
    }
    ++seq;
    ++done;
    if (done >= n || ((done & 15) == 0 && bench_clock::now() >= deadline)) break;
  }
  return {done, elapsed_ns(t0, bench_clock::now())};
}

// raw-block-client: connects to 127.0.0.1:port, runs the round-trip warm-up and measure, prints
// "result call ..." and "end" (no casts: the blocking baseline is the call round trip only).
int raw_block_client_main(unsigned short port, const settings& s) {
  guard_child();
  const std::string who = "raw block client";
  const int fd = block_socket(who);
  const sockaddr_in a = loopback_address(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    fail(who + ": connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
  }
  set_no_delay(fd, who);
  std::uint64_t seq = 0;
  blocking_calls(fd, std::max(1L, s.calls / 10), std::max(1ms, s.call_cap / 10), seq, who);
  const auto [done, ns] = blocking_calls(fd, s.calls, s.call_cap, seq, who);
  std::printf("result call %ld %.0f\n", done, ns);
  std::printf("end\n");
  std::fflush(stdout);
  ::close(fd);
  return 0;
}

// ---- nodus: the two roles ---------------------------------------------------------------------

// The messages, with explicit wire names (the types live in an anonymous namespace). All are
// trivially copyable: they travel as their own bytes and the server takes them where they landed.
struct nodus_ping {  // call request and reply, 32 bytes
  static constexpr std::string_view nodus_name = "nodus.bench.remote_calls.ping";
  std::uint64_t seq;
  std::array<std::byte, small_size - 8> fill;
};
struct nodus_small {  // stream cast, 32 bytes
  static constexpr std::string_view nodus_name = "nodus.bench.remote_calls.small";
  std::uint64_t seq;
  std::array<std::byte, small_size - 8> fill;
};
struct nodus_big {  // stream cast, 1 MiB
  static constexpr std::string_view nodus_name = "nodus.bench.remote_calls.big";
  std::array<std::byte, big_size> bytes;
};
struct nodus_expect {  // call: the next stream has n casts
  static constexpr std::string_view nodus_name = "nodus.bench.remote_calls.expect";
  std::uint64_t n;
};
struct nodus_sync {  // call after a stream: answered once the server has counted its n casts
  static constexpr std::string_view nodus_name = "nodus.bench.remote_calls.sync";
  std::uint64_t n;
};
struct nodus_count {  // reply to expect (0) and sync (casts counted)
  static constexpr std::string_view nodus_name = "nodus.bench.remote_calls.count";
  std::uint64_t n;
};
static_assert(sizeof(nodus_ping) == small_size && sizeof(nodus_small) == small_size &&
              sizeof(nodus_big) == big_size);

using nodus_protocol =
    nodus::protocol<nodus_ping, nodus_small, nodus_big, nodus_expect, nodus_sync, nodus_count>;
using nodus_node = nodus::node<nodus::no_topology, nodus_protocol>;

// nodus_sink: the server on n2: echoes calls, counts the casts of a stream (in order) and answers
// the sync call that follows them once it has counted all n (at once, since a node's casts and
// calls to one server arrive in the order they were sent).
struct nodus_sink
    : nodus::server<nodus_sink, nodus::call<nodus_ping, nodus_ping>,
                    nodus::call<nodus_expect, nodus_count>, nodus::call<nodus_sync, nodus_count>,
                    nodus::cast<nodus_small>, nodus::cast<nodus_big>> {
  static constexpr nodus::fixed_string name = "sink";

  nodus_ping handle_call(const nodus_ping& p) { return p; }
  nodus_count handle_call(const nodus_expect& e) {
    if (waiting_.pending()) fail("nodus server: expect while a sync waits");
    expected_ = e.n;
    count_ = 0;
    return {0};
  }
  void handle_call(const nodus_sync& s, nodus::caller<nodus_count>& from) {
    if (s.n != expected_) fail("nodus server: sync for another stream");
    waiting_ = std::move(from);
    answer_when_done();
  }
  void handle_cast(const nodus_small& m) {
    if (m.seq != count_) fail("nodus server: a stream cast arrived out of order");
    ++count_;
    answer_when_done();
  }
  void handle_cast(const nodus_big&) {
    ++count_;
    answer_when_done();
  }

 private:
  void answer_when_done() {
    if (count_ > expected_) fail("nodus server: more casts than expected");
    if (count_ == expected_ && waiting_.pending()) waiting_.reply({count_});
  }
  std::uint64_t expected_ = 0;
  std::uint64_t count_ = 0;
  nodus::caller<nodus_count> waiting_;
};

// nodus_options(name, busy_poll): busy_poll > 0 makes the node's idle thread keep calling
// io_context::poll() for up to that long before it blocks (the busy-poll variant).
nodus::options nodus_options(const char* name, std::chrono::microseconds busy_poll,
                             const std::string& tls_dir) {
  nodus::options o;
  o.name = nodus::node_name::parse(name).value();
  o.cookie = "nodus_bench_cookie";
  o.threads = 1;   // one thread runs the node's io_context, as in the raw baseline
  o.epmd = false;  // the client is given the server's port
  o.level = nodus::log_level::warn;
  o.busy_poll = busy_poll;
  if (!tls_dir.empty()) o.tls = {tls_dir + "/node.pem", tls_dir + "/node.key", tls_dir + "/ca.pem"};
  return o;
}

// nodus-server: node n2@127.0.0.1 listening on an ephemeral port (printed as "port N"), running
// nodus_sink; it stops when the client's node goes down.
int nodus_server_main(const settings& s) {
  guard_child();
  nodus_node node{nodus_options("n2@127.0.0.1", s.busy_poll, s.tls_dir)};
  if (auto r = node.start(nodus::supervisor<nodus::one_for_one, nodus_sink>{}); !r) {
    fail("nodus server: start: " + r.error().message());
  }
  node.on_node_down([&node](const nodus::node_down&) { node.stop(); });
  std::printf("port %u\n", static_cast<unsigned>(node.port()));
  std::fflush(stdout);
  if (auto r = node.run(); !r) fail("nodus server: " + r.error().message());
  return 0;
}

// The client's measures, run on its node's thread one after the other: each starts from the
// completion of the previous one.
class nodus_client {
 public:
  nodus_client(nodus_node& node, const nodus::node_name& peer, const settings& s)
      : node_(node),
        peer_(peer),
        timeout_(s.guard),
        big_(std::make_shared<const nodus_big>(make_big())),
        warm_calls_{std::max(1L, s.calls / 10), std::max(1ms, s.call_cap / 10)},
        calls_{s.calls, s.call_cap},
        warm_casts_{std::max(1L, s.casts / 10), false},
        warm_bigs_{std::max(1L, s.bigs / 10), true},
        casts_{s.casts, false},
        bigs_{s.bigs, true} {}

  // start(): on the node's thread; prints the results and stops the node after the last measure.
  void start() { next_stage(); }

 private:
  struct call_figure {
    long n;
    std::chrono::milliseconds cap;
    long done = 0;
    double ns = 0;
  };
  struct stream_figure {
    long n;
    bool big;
    double ns = 0;
  };

  static nodus_big make_big() {
    nodus_big b;
    b.bytes.fill(std::byte{'x'});
    return b;
  }

  void next_stage() {
    switch (stage_++) {
      case 0: run_calls(warm_calls_); return;
      case 1: run_stream(warm_casts_); return;
      case 2: run_stream(warm_bigs_); return;
      case 3: run_calls(calls_); return;
      case 4: run_stream(casts_); return;
      case 5: run_stream(bigs_); return;
      default: break;
    }
    std::printf("result call %ld %.0f\n", calls_.done, calls_.ns);
    std::printf("result cast %ld %.0f\n", casts_.n, casts_.ns);
    std::printf("result big %ld %zu %.0f\n", bigs_.n, static_cast<std::size_t>(bigs_.n) * big_size,
                bigs_.ns);
    std::printf("end\n");
    std::fflush(stdout);
    node_.stop();
  }

  // Ping-pong: up to f.n round trips or f.cap, whichever comes first; the next call starts from
  // the previous reply's completion (on the node's thread).
  void run_calls(call_figure& f) {
    calls_now_ = &f;
    t0_ = bench_clock::now();
    deadline_ = t0_ + f.cap;
    send_call();
  }
  void send_call() {
    nodus_ping p{};
    p.seq = seq_;
    node_.async_call<nodus_sink>(peer_, p, timeout_,
                                 [this](nodus::result<nodus_ping> r) { on_reply(std::move(r)); });
  }
  void on_reply(nodus::result<nodus_ping> r) {
    if (!r) fail("nodus client: call: " + r.error().message());
    if (r->seq != seq_) fail("nodus client: wrong reply");
    ++seq_;
    call_figure& f = *calls_now_;
    ++f.done;
    if (f.done < f.n && ((f.done & 15) != 0 || bench_clock::now() < deadline_)) {
      send_call();
      return;
    }
    f.ns = elapsed_ns(t0_, bench_clock::now());
    next_stage();
  }

  // Stream: an "expect n" call, then n casts queued from its completion, then a sync call that
  // the server answers once it has counted the n casts; from the first cast to that answer.
  void run_stream(stream_figure& f) {
    node_.async_call<nodus_sink>(peer_, nodus_expect{static_cast<std::uint64_t>(f.n)}, timeout_,
                                 [this, &f](nodus::result<nodus_count> r) {
                                   if (!r) fail("nodus client: expect: " + r.error().message());
                                   cast_from(f, 0, bench_clock::now());
                                 });
  }
  // cast_from(f, i, t0): casts i.. of the stream, then the sync call. A cast (or call) refused with
  // errc::busy (the queue to the server holds dist_buf_busy_limit) waits for the queue to drain
  // (async_wait_writable) and is sent again, as an Erlang sender is suspended on a busy port.
  void cast_from(stream_figure& f, long i, bench_clock::time_point t0) {
    for (; i < f.n; ++i) {
      nodus::result<void> sent;
      if (f.big) {
        sent = node_.cast<nodus_sink>(peer_, big_);  // the same message every time, no copy
      } else {
        nodus_small m{};
        m.seq = static_cast<std::uint64_t>(i);
        sent = node_.cast<nodus_sink>(peer_, m);
      }
      if (sent) continue;
      if (sent.error() != nodus::errc::busy) fail("nodus client: cast: " + sent.error().message());
      node_.async_wait_writable(peer_, [this, &f, i, t0](nodus::result<void> w) {
        if (!w) fail("nodus client: waiting for a busy peer: " + w.error().message());
        cast_from(f, i, t0);
      });
      return;
    }
    // The sync call once the queue is below the limit (a call to a busy peer fails at once).
    node_.async_wait_writable(peer_, [this, &f, t0](nodus::result<void> w) {
      if (!w) fail("nodus client: waiting for a busy peer: " + w.error().message());
      node_.async_call<nodus_sink>(peer_, nodus_sync{static_cast<std::uint64_t>(f.n)}, timeout_,
                                   [this, &f, t0](nodus::result<nodus_count> done) {
                                     if (!done)
                                       fail("nodus client: sync: " + done.error().message());
                                     if (done->n != static_cast<std::uint64_t>(f.n))
                                       fail("nodus client: casts lost");
                                     f.ns = elapsed_ns(t0, bench_clock::now());
                                     next_stage();
                                   });
    });
  }

  nodus_node& node_;
  nodus::node_name peer_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<const nodus_big> big_;
  call_figure warm_calls_, calls_;
  stream_figure warm_casts_, warm_bigs_, casts_, bigs_;
  int stage_ = 0;
  call_figure* calls_now_ = nullptr;
  std::uint64_t seq_ = 0;
  bench_clock::time_point t0_, deadline_;
};

// nodus-client: node n1@127.0.0.1 connects to n2@127.0.0.1:port, runs the warm-ups and the
// three measures on its one thread (run() on this thread), prints "result ..." lines and "end".
int nodus_client_main(unsigned short port, const settings& s) {
  guard_child();
  nodus_node node{nodus_options("n1@127.0.0.1", s.busy_poll, s.tls_dir)};
  if (auto r = node.listen(); !r) fail("nodus client: listen: " + r.error().message());
  const std::string target = "n2@127.0.0.1:" + std::to_string(port);
  if (!node.connect(target)) fail("nodus client: cannot connect to " + target);
  nodus_client client(node, nodus::node_name::parse("n2@127.0.0.1").value(), s);
  asio::post(node.io_context(), [&client] { client.start(); });
  if (auto r = node.run(); !r) fail("nodus client: " + r.error().message());
  return 0;
}

// ---- Erlang: the two nodes --------------------------------------------------------------------

// The Erlang side, written to <tmp>/remote_calls_peer.erl at run time and compiled by the first
// node that needs it. Casts are gen_server:cast of the payload itself (a 32-byte binary, or a
// 1 MiB binary: one refc binary sent n times, as the raw client sends one buffer n times).
constexpr const char* erlang_module = R"erl(
%% remote_calls_peer: the Erlang side of nodus' benchmarks/remote_calls.cpp, written out by it at
%% run time (edit it there).
-module(remote_calls_peer).
-behaviour(gen_server).
-export([server/1, client/6]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

%% server(GuardMs): registers remote_calls_srv on this node, prints "ready ...".
server(GuardMs) ->
    guard(GuardMs),
    {ok, _} = gen_server:start({local, remote_calls_srv}, ?MODULE, [], []),
    io:format("ready ~s OTP ~s, ~b schedulers online~n",
              [node(), erlang:system_info(otp_release), erlang:system_info(schedulers_online)]).

%% State {Expected, Count, ReportTo}: casts expected in the current stream, casts seen so far,
%% the process told {done, Expected} when the last one arrives.
init([]) -> {ok, {0, 0, undefined}}.

handle_call({expect, N, To}, _From, _State) -> {reply, ok, {N, 0, To}};
handle_call(Bin, _From, State) when is_binary(Bin) -> {reply, Bin, State}.

handle_cast(_Bin, {N, C, To}) ->
    C1 = C + 1,
    case C1 of
        N -> To ! {done, N};
        _ -> ok
    end,
    {noreply, {N, C1, To}}.

handle_info(_Msg, State) -> {noreply, State}.

%% client(...): the three measures against remote_calls_srv on Node, each after a warm-up of a
%% tenth of its count; prints "result ..." lines and "end", then halts.
client(Node, Calls, CapMs, Casts, Bigs, GuardMs) ->
    guard(GuardMs),
    true = net_kernel:connect_node(Node),
    Srv = {remote_calls_srv, Node},
    Small = binary:copy(<<"s">>, 32),
    Big = binary:copy(<<"b">>, 1 bsl 20),
    _ = calls(Srv, Small, max(1, Calls div 10), max(1, CapMs div 10)),
    _ = stream(Srv, Small, max(1, Casts div 10)),
    _ = stream(Srv, Big, max(1, Bigs div 10)),
    {Done, CallNs} = calls(Srv, Small, Calls, CapMs),
    CastNs = stream(Srv, Small, Casts),
    BigNs = stream(Srv, Big, Bigs),
    io:format("result call ~b ~b~n", [Done, CallNs]),
    io:format("result cast ~b ~b~n", [Casts, CastNs]),
    io:format("result big ~b ~b ~b~n", [Bigs, Bigs * byte_size(Big), BigNs]),
    io:format("end~n"),
    erlang:halt(0).

now_ns() -> erlang:monotonic_time(nanosecond).

guard(Ms) ->
    spawn(fun() -> timer:sleep(Ms), io:format("guard: halting~n"), erlang:halt(3) end).

%% Up to N calls or CapMs, whichever comes first -> {CallsDone, Nanoseconds}.
calls(Srv, Bin, N, CapMs) ->
    T0 = now_ns(),
    Done = calls(Srv, Bin, N, 0, T0 + CapMs * 1000000),
    {Done, now_ns() - T0}.

calls(_Srv, _Bin, N, N, _Deadline) -> N;
calls(Srv, Bin, N, I, Deadline) ->
    Bin = gen_server:call(Srv, Bin, 30000),
    I1 = I + 1,
    case I1 band 15 =:= 0 andalso now_ns() >= Deadline of
        true -> I1;
        false -> calls(Srv, Bin, N, I1, Deadline)
    end.

%% N casts of Msg after an "expect N" call -> nanoseconds from the first cast to {done, N}.
stream(Srv, Msg, N) ->
    ok = gen_server:call(Srv, {expect, N, self()}, 30000),
    T0 = now_ns(),
    casts(Srv, Msg, N),
    receive
        {done, N} -> now_ns() - T0
    after 30000 -> exit(stream_timeout)
    end.

casts(_Srv, _Msg, 0) -> ok;
casts(Srv, Msg, K) ->
    gen_server:cast(Srv, Msg),
    casts(Srv, Msg, K - 1).
)erl";

// The temporary directory holding the Erlang module (and its .beam once compiled), removed at
// the end, on fail() and on SIGINT / SIGTERM / SIGHUP.
struct erlang_dir {
  std::filesystem::path path;
  erlang_dir() {
    std::string t = (std::filesystem::temp_directory_path() / "nodus_remote_calls.XXXXXX").string();
    if (t.size() + 32 > sizeof erl_tmp_paths[0]) fail("temporary directory path too long: " + t);
    if (::mkdtemp(t.data()) == nullptr) fail("mkdtemp: " + std::string(std::strerror(errno)));
    path = t;
    const auto src = path / "remote_calls_peer.erl";
    const auto beam = path / "remote_calls_peer.beam";
    std::snprintf(erl_tmp_paths[1], sizeof erl_tmp_paths[1], "%s", src.c_str());
    std::snprintf(erl_tmp_paths[2], sizeof erl_tmp_paths[2], "%s", beam.c_str());
    std::snprintf(erl_tmp_paths[0], sizeof erl_tmp_paths[0], "%s", path.c_str());
    std::FILE* f = std::fopen(src.c_str(), "w");
    if (f == nullptr || std::fputs(erlang_module, f) < 0 || std::fclose(f) != 0) {
      fail("cannot write " + src.string());
    }
  }
  erlang_dir(const erlang_dir&) = delete;
  erlang_dir& operator=(const erlang_dir&) = delete;
  ~erlang_dir() { remove_erl_tmp(); }
};

// erl_eval(dir, call) -> an -eval program: load remote_calls_peer (compile it when no .beam is
// there yet), then evaluate call; any error is printed and halts the node.
std::string erl_eval(const std::string& dir, const std::string& call) {
  return "Dir = \"" + dir +
         "\", "
         "try "
         "  code:add_patha(Dir), "
         "  case code:ensure_loaded(remote_calls_peer) of "
         "    {module, _} -> ok; "
         "    _ -> {ok, _} = compile:file(filename:join(Dir, \"remote_calls_peer.erl\"), "
         "                                [{outdir, Dir}, return_errors]), "
         "         {module, _} = code:load_abs(filename:join(Dir, \"remote_calls_peer\")) "
         "  end, " +
         call + " catch C:E:S -> io:format(\"error ~p:~p ~p~n\", [C, E, S]), erlang:halt(2) end.";
}

// free_port_pair() -> a TCP port free on both 127.0.0.1 and 127.0.0.2 just now (the two nodes
// listen on it, each on its own address; see measure_erlang).
std::optional<unsigned short> free_port_pair() {
  asio::io_context io;
  for (int attempt = 0; attempt < 20; ++attempt) {
    std::error_code ec;
    asio::ip::tcp::acceptor a(io);
    a.open(asio::ip::tcp::v4(), ec);
    if (!ec) a.bind({asio::ip::make_address("127.0.0.1"), 0}, ec);
    if (ec) return std::nullopt;
    const auto port = a.local_endpoint().port();
    asio::ip::tcp::acceptor b(io);
    b.open(asio::ip::tcp::v4(), ec);
    if (!ec) b.bind({asio::ip::make_address("127.0.0.2"), port}, ec);
    if (!ec) return port;
  }
  return std::nullopt;
}

// ---- one measurement: a pair of processes -----------------------------------------------------

enum class placement { unpinned, pinned };

const char* to_string(placement p) { return p == placement::pinned ? "pinned" : "unpinned"; }

// figures: one repetition of the three measures for one system; nullopt = n/a.
struct figures {
  std::optional<double> call_ns;    // nanoseconds per round trip
  std::optional<double> cast_rate;  // 32-byte messages per second
  std::optional<double> big_gbps;   // payload GB/s (10^9 bytes per second) of 1 MiB messages
};

// What every measurement needs from the driver.
struct context {
  settings s;
  std::string self_exe = "/proc/self/exe";
  cpu_set_t pinned_mask{};  // one CPU: the driver's first allowed one
  int pinned_cpu = 0;
  std::optional<erlang_dir> erl;  // engaged when erl is installed and wanted
  std::string erl_banner[2];      // what the Erlang server node said when ready, by placement
  std::chrono::microseconds busy_poll = default_busy_poll;  // nodus busy-poll variant (0: none)
  std::string tls_dir;  // the TLS variant's certificates (made by make_certificates); empty: none
  int failures = 0;
};

// make_certificates() -> a fresh directory with ca.pem and node.pem / node.key (EC P-256, for
// 127.0.0.1, signed by ca.pem), made by the openssl tool; empty (after saying why) without it.
std::string make_certificates() {
  char tmpl[] = "/tmp/nodus-bench-tls-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return {};
  const std::string d = tmpl;
  const std::string cmd =
      "cd '" + d +
      "' && command -v openssl >/dev/null && "
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key && "
      "openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=bench-ca && "
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out node.key && "
      "openssl req -new -key node.key -out node.csr -subj /CN=127.0.0.1 && "
      "printf 'subjectAltName=IP:127.0.0.1,DNS:127.0.0.1\n' > node.ext && "
      "openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem "
      "-days 2 -extfile node.ext >/dev/null 2>&1";
  if (std::system((cmd + " 2>/dev/null").c_str()) != 0) {
    std::filesystem::remove_all(d);
    return {};
  }
  return d;
}

const cpu_set_t* mask_for(const context& c, placement p) {
  return p == placement::pinned ? &c.pinned_mask : nullptr;
}

// collect(client, ...) -> the figures printed by a client ("result call N NS", "result cast N NS",
// "result big N BYTES NS", then "end"), waiting at most until deadline; nullopt (after reporting
// why on stderr) when it failed. calls_only: the client measures the round trip only (raw block).
std::optional<figures> collect(context& c, child_process& client, child_process& server,
                               std::string_view what, bench_clock::time_point deadline,
                               bool calls_only = false) {
  if (!client.wait_line_starting("end", deadline)) {
    const std::string why = bench_clock::now() >= deadline
                                ? "no results within " + std::to_string(c.s.guard.count()) + " s"
                                : std::string("the client ended without results");
    std::fprintf(stderr, "%s: %s: %s\nclient:\n%sserver:\n%s", program_name.c_str(),
                 std::string(what).c_str(), why.c_str(), client.transcript().c_str(),
                 server.transcript().c_str());
    ++c.failures;
    return std::nullopt;
  }
  figures f;
  for (const auto& l : client.lines()) {
    long long n = 0, bytes = 0;
    double ns = 0;
    if (std::sscanf(l.c_str(), "result call %lld %lf", &n, &ns) == 2 && n > 0 && ns > 0) {
      f.call_ns = ns / static_cast<double>(n);
    } else if (std::sscanf(l.c_str(), "result cast %lld %lf", &n, &ns) == 2 && n > 0 && ns > 0) {
      f.cast_rate = static_cast<double>(n) * 1e9 / ns;
    } else if (std::sscanf(l.c_str(), "result big %lld %lld %lf", &n, &bytes, &ns) == 3 &&
               bytes > 0 && ns > 0) {
      f.big_gbps = static_cast<double>(bytes) / ns;
    }
  }
  if (!f.call_ns || (!calls_only && (!f.cast_rate || !f.big_gbps))) {
    std::fprintf(stderr, "%s: %s: incomplete results\n%s", program_name.c_str(),
                 std::string(what).c_str(), client.transcript().c_str());
    ++c.failures;
    return std::nullopt;
  }
  return f;
}

// measure_roles(c, p, what, server_argv, client_role, client_args, calls_only): a server child
// of this binary (server_argv after the binary), which prints "port P", and a client child
// `--role client_role --port P client_args...`; the client's figures (what names them in errors).
figures measure_roles(context& c, placement p, const std::string& what,
                      const std::vector<std::string>& server_argv, const char* client_role,
                      const std::vector<std::string>& client_args, bool calls_only = false) {
  const auto deadline = bench_clock::now() + c.s.guard;
  std::vector<std::string> sargv{c.self_exe};
  sargv.insert(sargv.end(), server_argv.begin(), server_argv.end());
  child_process server(sargv, process_options().affinity(mask_for(c, p)));
  const auto port_line = server.wait_line_starting("port ", deadline);
  if (!port_line) {
    std::fprintf(stderr, "%s: %s server did not start\n%s", program_name.c_str(), what.c_str(),
                 server.transcript().c_str());
    ++c.failures;
    return {};
  }
  std::vector<std::string> cargv{c.self_exe, "--role", client_role, "--port", port_line->substr(5)};
  cargv.insert(cargv.end(), client_args.begin(), client_args.end());
  child_process client(cargv, process_options().affinity(mask_for(c, p)));
  auto f = collect(c, client, server, what + ", " + to_string(p), deadline, calls_only);
  client.stop(2s);
  server.stop(2s);  // it ends when the client closes (or its node goes down)
  return f.value_or(figures{});
}

// measure_raw(): raw-server and raw-client children of this binary, both writing with mode.
figures measure_raw(context& c, placement p, write_mode mode) {
  // clang-format off
  return measure_roles(c, p, std::string("raw (") + to_string(mode) + ")",
                       {"--role", "raw-server", "--write", to_string(mode)}, "raw-client",
                       {"--write", to_string(mode), "--calls", std::to_string(c.s.calls),
                        "--cap-ms", std::to_string(c.s.call_cap.count()),
                        "--casts", std::to_string(c.s.casts), "--bigs", std::to_string(c.s.bigs)});
  // clang-format on
}

// measure_raw_block(): raw-block-server and raw-block-client children of this binary (blocking
// sockets, the call round trip only: the loopback limit).
figures measure_raw_block(context& c, placement p) {
  return measure_roles(
      c, p, "raw block", {"--role", "raw-block-server"}, "raw-block-client",
      {"--calls", std::to_string(c.s.calls), "--cap-ms", std::to_string(c.s.call_cap.count())},
      true);
}

// measure_erlang(): two erl nodes. Without EPMD, `-erl_epmd_port P` makes a node listen on P and
// assume that every other node listens on P too, so the nodes take the same port on two loopback
// addresses: n2@127.0.0.2 (server) and n1@127.0.0.1 (client), each bound to its own address with
// inet_dist_use_interface. No epmd is started or asked.
figures measure_erlang(context& c, placement p) {
  if (!c.erl) return {};
  const auto deadline = bench_clock::now() + c.s.guard;
  const std::string dir = c.erl->path.string();
  const auto guard_ms = std::to_string(std::chrono::milliseconds(orphan_guard).count());
  auto node_args = [&](const std::string& name, const std::string& iface, unsigned short port,
                       const std::string& call) {
    const std::string ps = std::to_string(port);
    // clang-format off
    return std::vector<std::string>{
        "erl", "-noshell", "-noinput", "-name", name, "-setcookie", "nodus_bench_cookie",
        "-start_epmd", "false", "-erl_epmd_port", ps,
        "-kernel", "inet_dist_use_interface", iface,
        "-kernel", "inet_dist_listen_min", ps, "-kernel", "inet_dist_listen_max", ps,
        "-eval", erl_eval(dir, call)};
    // clang-format on
  };
  // The port may be taken between free_port_pair() and erl binding it: then try another.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto port = free_port_pair();
    if (!port) {
      std::fprintf(stderr, "%s: no free port on both 127.0.0.1 and 127.0.0.2\n",
                   program_name.c_str());
      ++c.failures;
      return {};
    }
    child_process server(node_args("n2@127.0.0.2", "{127,0,0,2}", *port,
                                   "remote_calls_peer:server(" + guard_ms + ")"),
                         process_options().affinity(mask_for(c, p)));
    const auto ready = server.wait_line_starting("ready ", deadline);
    if (!ready) {
      if (attempt < 2 && bench_clock::now() < deadline) continue;
      std::fprintf(stderr, "%s: the Erlang server node did not start\n%s", program_name.c_str(),
                   server.transcript().c_str());
      ++c.failures;
      return {};
    }
    c.erl_banner[p == placement::pinned ? 1 : 0] = ready->substr(6);
    const std::string client_call =
        "remote_calls_peer:client('n2@127.0.0.2', " + std::to_string(c.s.calls) + ", " +
        std::to_string(c.s.call_cap.count()) + ", " + std::to_string(c.s.casts) + ", " +
        std::to_string(c.s.bigs) + ", " + guard_ms + ")";
    child_process client(node_args("n1@127.0.0.1", "{127,0,0,1}", *port, client_call),
                         process_options().affinity(mask_for(c, p)));
    auto f = collect(c, client, server, std::string("erlang, ") + to_string(p), deadline);
    client.stop(2s);  // it halts after its results
    server.stop(0ms);
    return f.value_or(figures{});
  }
  return {};
}

// measure_nodus(): nodus-server and nodus-client children of this binary (two nodus nodes, one
// thread each), through measure_roles(). busy_poll > 0: both nodes get it as their
// options.busy_poll (role option --busy-poll US), the busy-poll variant.
figures measure_nodus(context& c, placement p, std::chrono::microseconds busy_poll,
                      const std::string& tls_dir = {}) {
  std::vector<std::string> busy_args;
  std::string what = "nodus";
  if (busy_poll.count() > 0) {
    busy_args = {"--busy-poll", std::to_string(busy_poll.count())};
    what = "nodus busy-poll " + std::to_string(busy_poll.count()) + " us";
  }
  if (!tls_dir.empty()) {
    busy_args.insert(busy_args.end(), {"--tls", tls_dir});
    what = "nodus over TLS";
  }
  std::vector<std::string> server_args{"--role", "nodus-server"};
  server_args.insert(server_args.end(), busy_args.begin(), busy_args.end());
  // clang-format off
  std::vector<std::string> client_args{
      "--calls", std::to_string(c.s.calls), "--cap-ms", std::to_string(c.s.call_cap.count()),
      "--casts", std::to_string(c.s.casts), "--bigs", std::to_string(c.s.bigs)};
  // clang-format on
  client_args.insert(client_args.end(), busy_args.begin(), busy_args.end());
  return measure_roles(c, p, what, server_args, "nodus-client", client_args);
}

// ---- statistics and output --------------------------------------------------------------------

struct stats {
  std::vector<double> v;
  [[nodiscard]] bool empty() const { return v.empty(); }
  [[nodiscard]] double median() const {
    auto s = v;
    std::sort(s.begin(), s.end());
    const auto n = s.size();
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }
  [[nodiscard]] double min() const { return *std::min_element(v.begin(), v.end()); }
  [[nodiscard]] double max() const { return *std::max_element(v.begin(), v.end()); }
};

// The main table's three columns, then the extra tables' systems: the raw baseline with small
// frames copied, the blocking raw ping-pong (the call round trip only) and nodus with busy polling.
enum system_id {
  sys_nodus,
  sys_raw,
  sys_erlang,
  sys_raw_copy,
  sys_raw_block,
  sys_nodus_busy,
  sys_nodus_tls,
  system_count
};
constexpr const char* system_names[system_count] = {
    "nodus", "raw", "erlang", "raw-copy", "raw-block", "nodus-busy", "nodus-tls"};

// family(s) -> the main-table system that --only names for s.
system_id family(system_id s) {
  if (s == sys_raw_copy || s == sys_raw_block) return sys_raw;
  if (s == sys_nodus_busy || s == sys_nodus_tls) return sys_nodus;
  return s;
}
enum measure_id { m_call, m_cast, m_big, measure_count };
constexpr const char* measure_names[measure_count] = {
    "call round trip (32 B)", "cast throughput (32 B)", "1 MiB message throughput"};

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// text(measure, v): 6400 ns -> "6.40 us"; 1.3e7 /s -> "13.0 M/s"; 1.85 -> "1.85 GB/s".
std::string text(int m, double v) {
  if (m == m_call) return v >= 100'000 ? fixed(v / 1000, 0) + " us" : fixed(v / 1000, 2) + " us";
  if (m == m_cast) {
    if (v >= 1e6) return fixed(v / 1e6, 2) + " M/s";
    return fixed(v / 1e3, 1) + " k/s";
  }
  return fixed(v, 2) + " GB/s";
}

std::string ratio(const stats& a, const stats& b) {
  if (a.empty() || b.empty()) return "n/a";
  const double r = a.median() / b.median();
  return fixed(r, r >= 10 ? 1 : 2) + "x";
}

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  return CPU_COUNT(&set);
}

std::string load_average() {
  std::string out = "?";
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    double a = 0, b = 0, c = 0;
    if (std::fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3) {
      out = fixed(a, 2) + " " + fixed(b, 2) + " " + fixed(c, 2);
    }
    std::fclose(f);
  }
  return out;
}

// print_table(rows, text_columns): rows[0] is the head; the first text_columns columns are text
// (left-aligned), the others figures (right-aligned).
void print_table(const std::vector<std::vector<std::string>>& rows, std::size_t text_columns = 2) {
  std::vector<std::size_t> w(rows.at(0).size(), 0);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (std::size_t i = 0; i < r.size(); ++i) {
      const std::string pad(w[i] - r[i].size(), ' ');
      out += i < text_columns ? r[i] + pad : pad + r[i];  // text left, figures right
      if (i + 1 < r.size()) out += "  ";
    }
    std::printf("%s\n", out.c_str());
  };
  line(rows[0]);
  std::string rule;
  for (std::size_t i = 0; i < w.size(); ++i) {
    rule += std::string(w[i], '-') + (i + 1 < w.size() ? "  " : "");
  }
  std::printf("%s\n", rule.c_str());
  for (std::size_t i = 1; i < rows.size(); ++i) line(rows[i]);
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: %s [--quick | --smoke] [--only raw|erlang|nodus] [--pinned-only | "
               "--unpinned-only] [--reps N] [--busy-poll US]\n"
               "  --busy-poll US  the nodus busy-poll variant's options.busy_poll (default %lld; "
               "0: no variant)\n",
               program_name.c_str(), static_cast<long long>(default_busy_poll.count()));
  std::exit(2);
}

std::optional<long> to_long(std::string_view s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const std::string t(s);
  const long v = std::strtol(t.c_str(), &end, 10);
  if (end == nullptr || *end != '\0' || v < 0) return std::nullopt;
  return v;
}

// role_main(): a child process started by the driver (argv: --role NAME [settings]).
int role_main(int argc, char** argv) {
  const std::string_view role = argv[2];
  settings s;
  long port = -1;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i];
    if (a == "--write") {
      const std::string_view m = argv[i + 1];
      if (m != "gather" && m != "copy") fail("--write gather|copy");
      s.write = m == "gather" ? write_mode::gather : write_mode::copy_small;
      continue;
    }
    if (a == "--tls") {
      s.tls_dir = argv[i + 1];
      continue;
    }
    const auto v = to_long(argv[i + 1]);
    if (!v) fail("bad value for " + std::string(a));
    if (a == "--port") {
      port = *v;
    } else if (a == "--calls") {
      s.calls = *v;
    } else if (a == "--cap-ms") {
      s.call_cap = std::chrono::milliseconds(*v);
    } else if (a == "--casts") {
      s.casts = *v;
    } else if (a == "--bigs") {
      s.bigs = *v;
    } else if (a == "--busy-poll") {
      s.busy_poll = std::chrono::microseconds(*v);
    } else {
      fail("unknown role option " + std::string(a));
    }
  }
  if (s.calls < 1 || s.casts < 1 || s.bigs < 1) fail("counts must be at least 1");
  if (role == "raw-server") return raw_server_main(s.write);
  if (role == "raw-client") {
    if (port <= 0 || port > 65535) fail("raw-client needs --port");
    return raw_client_main(static_cast<unsigned short>(port), s);
  }
  if (role == "raw-block-server") return raw_block_server_main();
  if (role == "raw-block-client") {
    if (port <= 0 || port > 65535) fail("raw-block-client needs --port");
    return raw_block_client_main(static_cast<unsigned short>(port), s);
  }
  if (role == "nodus-server") return nodus_server_main(s);
  if (role == "nodus-client") {
    if (port <= 0 || port > 65535) fail("nodus-client needs --port");
    return nodus_client_main(static_cast<unsigned short>(port), s);
  }
  fail("unknown role " + std::string(role));
}

// remote_calls_main(argc, argv): the driver, or a child in the role that --role names.
int remote_calls_main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  if (argc >= 3 && std::string_view(argv[1]) == "--role") {
    program_name = std::string("remote_calls ") + argv[2];
    return role_main(argc, argv);
  }
  program_name = "remote_calls";

  context c;
  std::string_view only;
  bool want_pinned = true, want_unpinned = true;
  std::optional<long> reps;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const std::string_view next = i + 1 < argc ? argv[i + 1] : "";
    if (a == "--quick" || a == "--smoke") {
      c.s = quick_settings();
    } else if (a == "--only" && (next == "raw" || next == "erlang" || next == "nodus")) {
      only = next;
      ++i;
    } else if (a == "--pinned-only") {
      want_unpinned = false;
    } else if (a == "--unpinned-only") {
      want_pinned = false;
    } else if (a == "--reps" && to_long(next).value_or(0) >= 1) {
      reps = to_long(next);
      ++i;
    } else if (a == "--busy-poll" && to_long(next) && *to_long(next) <= 1'000'000) {
      c.busy_poll = std::chrono::microseconds(*to_long(next));
      ++i;
    } else {
      usage();
    }
  }
  if (!want_pinned && !want_unpinned) usage();
  if (reps) c.s.reps = static_cast<int>(*reps);
  auto wanted = [&](system_id s) {
    if (s == sys_nodus_busy && c.busy_poll.count() == 0) return false;
    if (s == sys_nodus_tls && c.tls_dir.empty()) return false;
    return only.empty() || only == system_names[family(s)];
  };
  const std::string busy_name = "nodus, busy-poll " + std::to_string(c.busy_poll.count()) + " us";

  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, on_fatal_signal);
  std::string tls_note;
  if (only.empty() || only == "nodus") {
    c.tls_dir = make_certificates();
    if (c.tls_dir.empty())
      tls_note = "the openssl tool is missing: no TLS column (Debian: openssl)";
  }

  cpu_set_t mine;
  CPU_ZERO(&mine);
  if (::sched_getaffinity(0, sizeof mine, &mine) != 0) fail("sched_getaffinity");
  c.pinned_cpu = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE && c.pinned_cpu < 0; ++cpu) {
    if (CPU_ISSET(cpu, &mine)) c.pinned_cpu = cpu;
  }
  CPU_ZERO(&c.pinned_mask);
  CPU_SET(c.pinned_cpu, &c.pinned_mask);

  std::string erl_note;
  if (wanted(sys_erlang)) {
    if (nodus::test::erl_installed()) {
      c.erl.emplace();
    } else {
      erl_note = "erl is not on PATH (Debian: apt-get install erlang-base): Erlang column n/a";
    }
  }

  std::vector<placement> placements;
  if (want_unpinned) placements.push_back(placement::unpinned);
  if (want_pinned) placements.push_back(placement::pinned);

  // figures[system][placement index][measure]
  std::vector<std::vector<std::array<stats, measure_count>>> all(
      system_count, std::vector<std::array<stats, measure_count>>(placements.size()));
  auto record = [&](system_id sys, std::size_t pi, const figures& f) {
    auto& st = all[sys][pi];
    if (f.call_ns) st[m_call].v.push_back(*f.call_ns);
    if (f.cast_rate) st[m_cast].v.push_back(*f.cast_rate);
    if (f.big_gbps) st[m_big].v.push_back(*f.big_gbps);
  };

  // Repetitions outermost, then placements, then systems: drift hits every column alike.
  const auto started = bench_clock::now();
  for (int r = 0; r < c.s.reps; ++r) {
    for (std::size_t pi = 0; pi < placements.size(); ++pi) {
      const placement p = placements[pi];
      if (wanted(sys_nodus)) record(sys_nodus, pi, measure_nodus(c, p, 0us));
      if (wanted(sys_nodus_busy)) record(sys_nodus_busy, pi, measure_nodus(c, p, c.busy_poll));
      if (wanted(sys_nodus_tls)) record(sys_nodus_tls, pi, measure_nodus(c, p, 0us, c.tls_dir));
      if (wanted(sys_raw)) record(sys_raw, pi, measure_raw(c, p, write_mode::gather));
      if (wanted(sys_raw_block)) record(sys_raw_block, pi, measure_raw_block(c, p));
      if (wanted(sys_erlang)) record(sys_erlang, pi, measure_erlang(c, p));
      if (wanted(sys_raw_copy)) {
        record(sys_raw_copy, pi, measure_raw(c, p, write_mode::copy_small));
      }
    }
  }
  const double total_s = elapsed_ns(started, bench_clock::now()) / 1e9;

  std::printf(
      "nodus remote calls benchmark: two processes on loopback, %u CPUs online, %d usable "
      "by the driver; pinned = both processes on CPU %d\n",
      std::thread::hardware_concurrency(), usable_cpus(), c.pinned_cpu);
  if (usable_cpus() == 1) {
    std::printf("note: the driver itself may use one CPU only, so unpinned = pinned\n");
  }
  std::printf("load average at the end: %s (other work makes figures noisier)\n",
              load_average().c_str());
  if (c.erl) {
    std::printf("erlang: calls are gen_server:call, casts gen_server:cast; server node ");
    for (std::size_t pi = 0; pi < placements.size(); ++pi) {
      const auto& b = c.erl_banner[placements[pi] == placement::pinned ? 1 : 0];
      std::printf("%s%s: %s", pi == 0 ? "" : ", ", to_string(placements[pi]),
                  b.empty() ? "(did not start)" : b.c_str());
    }
    std::printf("\n");
    for (const char* v : {"ERL_FLAGS", "ERL_AFLAGS", "ERL_ZFLAGS"}) {
      if (const char* e = std::getenv(v)) std::printf("erlang: %s=\"%s\" applies\n", v, e);
    }
  }
  if (!erl_note.empty()) std::printf("%s\n", erl_note.c_str());
  if (wanted(sys_nodus)) {
    std::printf(
        "nodus: calls are node.async_call<sink>(n2, ...) with a callback, casts "
        "node.cast<sink>(n2, "
        "...), a stream ends with a call answered after its last cast; one thread per node\n");
  }
  if (wanted(sys_nodus_busy)) {
    std::printf(
        "%s: the same with options.busy_poll = %lld us on both nodes: an idle node thread keeps "
        "calling io_context::poll() for up to that long before it blocks\n",
        busy_name.c_str(), static_cast<long long>(c.busy_poll.count()));
  }
  if (wanted(sys_raw_block)) {
    std::printf(
        "raw block (the loopback limit): blocking sockets on 127.0.0.1 with TCP_NODELAY, per round "
        "trip one write of the 36-byte request frame and blocking reads until the reply is in; "
        "the server reads, then writes; no event loop\n");
  }
  std::printf(
      "median of %d interleaved repetitions, each after a warm-up: up to %ld round trips or %lld "
      "ms, %ld casts of 32 B, %ld messages of 1 MiB\n",
      c.s.reps, c.s.calls, static_cast<long long>(c.s.call_cap.count()), c.s.casts, c.s.bigs);
  std::printf("figures are for this machine and this run only; compare ratios, not times\n\n");

  std::vector<std::vector<std::string>> rows{{"measure", "placement", "nodus", "raw", "erlang",
                                              "nodus/raw", "erlang/nodus", "erlang/raw"}};
  std::vector<std::string> spreads;
  for (int m = 0; m < measure_count; ++m) {
    for (std::size_t pi = 0; pi < placements.size(); ++pi) {
      const auto& n = all[sys_nodus][pi][m];
      const auto& w = all[sys_raw][pi][m];
      const auto& e = all[sys_erlang][pi][m];
      auto cell = [&](const stats& st) { return st.empty() ? "n/a" : text(m, st.median()); };
      rows.push_back({measure_names[m], to_string(placements[pi]), cell(n), cell(w), cell(e),
                      ratio(n, w), ratio(e, n), ratio(e, w)});
      std::string sp =
          "  " + std::string(measure_names[m]) + ", " + to_string(placements[pi]) + ":";
      for (int sys = 0; sys < system_count; ++sys) {
        const auto& st = all[sys][pi][m];
        if (st.empty()) continue;
        sp += std::string("  ") + system_names[sys] + " " + text(m, st.min()) + " .. " +
              text(m, st.max());
      }
      if (sp.back() == ':') sp += " no figures";
      spreads.push_back(std::move(sp));
    }
  }
  print_table(rows);

  // The raw baseline's write path against one that copies small frames into one buffer: Asio's
  // async_write hands at most 16 buffers to one sendmsg (asio/detail/consuming_buffers.hpp,
  // prepared_buffers::max_buffers), i.e. 8 frames of header + payload per system call.
  if (wanted(sys_raw_copy)) {
    std::printf(
        "\nraw baseline, write path: gather (header + payload buffers per frame, nodus' model; "
        "Asio writes at most 16 buffers per sendmsg) vs copy (frames up to %zu B copied into one "
        "contiguous buffer, larger payloads gathered)\n",
        copy_limit);
    std::vector<std::vector<std::string>> extra{
        {"measure", "placement", "raw gather", "raw copy", "copy/gather"}};
    for (int m = 0; m < measure_count; ++m) {
      for (std::size_t pi = 0; pi < placements.size(); ++pi) {
        const auto& g = all[sys_raw][pi][m];
        const auto& k = all[sys_raw_copy][pi][m];
        auto cell = [&](const stats& st) { return st.empty() ? "n/a" : text(m, st.median()); };
        extra.push_back(
            {measure_names[m], to_string(placements[pi]), cell(g), cell(k), ratio(k, g)});
      }
    }
    print_table(extra);
  }

  // The call round trip against the loopback limit: the blocking ping-pong, with no event loop
  // between a read and the next write, is what a round trip over this loopback costs at least.
  auto cell_of = [](int m, const stats& st) { return st.empty() ? "n/a" : text(m, st.median()); };
  const bool busy = wanted(sys_nodus_busy);
  if (wanted(sys_raw_block) || busy) {
    std::printf(
        "\n%s against the loopback limit: raw block = blocking ping-pong (one write, one "
        "blocking read per round trip, no event loop), raw = the Asio baseline%s%s\n",
        measure_names[m_call], busy ? "; busy = " : "", busy ? busy_name.c_str() : "");
    std::vector<std::string> head{"placement", "raw block", "raw", "nodus"};
    if (busy) head.push_back(busy_name);
    for (const char* h : {"raw/raw block", "nodus/raw block", "nodus/raw"}) head.emplace_back(h);
    if (busy) {
      for (const char* h : {"busy/raw block", "busy/nodus"}) head.emplace_back(h);
    }
    std::vector<std::vector<std::string>> limit{head};
    for (std::size_t pi = 0; pi < placements.size(); ++pi) {
      const auto& k = all[sys_raw_block][pi][m_call];
      const auto& w = all[sys_raw][pi][m_call];
      const auto& n = all[sys_nodus][pi][m_call];
      const auto& b = all[sys_nodus_busy][pi][m_call];
      std::vector<std::string> row{to_string(placements[pi]), cell_of(m_call, k),
                                   cell_of(m_call, w), cell_of(m_call, n)};
      if (busy) row.push_back(cell_of(m_call, b));
      for (auto&& r : {ratio(w, k), ratio(n, k), ratio(n, w)}) row.push_back(r);
      if (busy) {
        for (auto&& r : {ratio(b, k), ratio(b, n)}) row.push_back(r);
      }
      limit.push_back(std::move(row));
    }
    print_table(limit, 1);
  }

  // variant_table(sys, column, tag): a nodus variant against nodus and raw, for the three
  // measures; its column and ratios named column and tag/...
  auto variant_table = [&](system_id sys, const std::string& column, const std::string& tag) {
    std::vector<std::vector<std::string>> extra{
        {"measure", "placement", "nodus", column, "raw", tag + "/nodus", tag + "/raw"}};
    for (int m = 0; m < measure_count; ++m) {
      for (std::size_t pi = 0; pi < placements.size(); ++pi) {
        const auto& n = all[sys_nodus][pi][m];
        const auto& v = all[sys][pi][m];
        const auto& w = all[sys_raw][pi][m];
        extra.push_back({measure_names[m], to_string(placements[pi]), cell_of(m, n), cell_of(m, v),
                         cell_of(m, w), ratio(v, n), ratio(v, w)});
      }
    }
    print_table(extra);
  };
  // nodus with busy polling against nodus blocking at once.
  if (busy) {
    std::printf(
        "\nnodus busy polling: busy = %s (both nodes) vs nodus (options.busy_poll = 0: block at "
        "once)\n",
        busy_name.c_str());
    variant_table(sys_nodus_busy, busy_name, "busy");
  }
  // nodus over TLS against nodus over plain TCP.
  if (wanted(sys_nodus_tls)) {
    std::printf(
        "\nnodus over TLS (options.tls: TLS 1.3, EC P-256 certificates, both sides verified; "
        "frames gathered into one buffer per write) vs nodus over plain TCP\n");
    variant_table(sys_nodus_tls, "nodus TLS", "TLS");
  } else if (!tls_note.empty()) {
    std::printf("\n%s\n", tls_note.c_str());
  }
  if (!c.tls_dir.empty()) std::filesystem::remove_all(c.tls_dir);
  std::printf("\nspread over repetitions (min .. max):\n");
  for (const auto& l : spreads) std::printf("%s\n", l.c_str());
  std::printf(
      "ratios A/B divide column A's median by column B's: times for the round trip (below 1: A is "
      "faster), rates for the throughputs (above 1: A is faster)\n");
  std::printf("total run time %.1f s\n", total_s);
  if (c.failures != 0) {
    std::fprintf(stderr, "%s: %d measurement(s) failed (see above)\n", program_name.c_str(),
                 c.failures);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return remote_calls_main(argc, argv);
  } catch (const std::exception& e) {
    fail(e.what());  // a child that cannot be started: the other children end too
  }
}
