// nodus/process/server.hpp: named servers (GenServer): nodus::server<Derived, Interface...>.
//
// clang-format off
//   struct ping_server : nodus::server<ping_server, nodus::call<ping, pong>, nodus::info<tick>> {
//     static constexpr nodus::fixed_string name = "ping";  // registered name, unique per node
//     static constexpr nodus::mailbox_limit mailbox{1000, nodus::overflow::drop_oldest};
//                                                            // optional: process/mailbox.hpp
//     void init() { send_interval(1s, tick{}); }            // optional; may return result<void>
//     pong handle_call(const ping&, nodus::caller<pong>&);   // or return result<pong>, or void
//                                                            // and answer later via the caller
//     void handle_info(const tick&);
//     void terminate(const nodus::error& reason);           // optional
//     int pings = 0;                                         // members are the state
//   };
// clang-format on
//
// One server's handlers never run concurrently (each server is a serial mailbox on the node's
// io_context). A handler that throws crashes the server: pending calls fail at once with
// errc::server_crashed and the reason, and its supervisor restarts it with fresh state.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "nodus/codec/view.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/fixed_string.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/message/message_id.hpp"
#include "nodus/message/type_name.hpp"
#include "nodus/process/caller.hpp"
#include "nodus/process/detail/call_op.hpp"
#include "nodus/process/detail/remote_decl.hpp"
#include "nodus/process/detail/runtime.hpp"
#include "nodus/process/detail/unique_function.hpp"
#include "nodus/process/interface.hpp"
#include "nodus/process/mailbox.hpp"

namespace nodus {

// Process groups and cluster-wide names (nodus/process/groups.hpp, global.hpp): declared here,
// defined where a distributed program includes them (nodus.hpp), so that a TU of local servers
// does not compile them.
class groups;
class global_registry;

// local_name{"name"}: a server of this node by its registered name, given at run time (a dynamic
// supervisor's child, e.g. "download/42"), for node.call<S>(local_name, msg), cast and send.
struct local_name {
  std::string name;
};

// infinite_timeout: a call timeout that never expires (Erlang's :infinity); so does any timeout of
// a century or more.
inline constexpr std::chrono::milliseconds infinite_timeout = std::chrono::milliseconds::max();

namespace detail {

// Messages larger than this (or aligned to more than 16 bytes) travel through the mailbox boxed on
// the heap.
template <class M>
inline constexpr bool boxed_v = sizeof(M) > 256 || alignof(M) > 16;
template <class M>
using stored = std::conditional_t<boxed_v<M>, std::unique_ptr<M>, M>;
template <class M>
stored<M> store(M&& m) {
  if constexpr (boxed_v<M>) {
    return std::make_unique<M>(static_cast<M&&>(m));
  } else {
    return static_cast<M&&>(m);
  }
}
template <class M>
M& unstore(stored<M>& s) noexcept {
  if constexpr (boxed_v<M>) {
    return *s;
  } else {
    return s;
  }
}

// A message that stayed in the frame it arrived in (never copied): its bytes, and what keeps them.
struct wire_bytes {
  std::span<const std::byte> bytes;
  std::shared_ptr<const void> keep;
};
// A message in a mailbox: owned (local sends, decoded remote ones) or in its received frame. A
// tagged union rather than std::variant (one per message type of every server: the variant's
// machinery cost compile time for nothing).
template <class M>
class msg_slot {
 public:
  msg_slot(stored<M>&& m) noexcept(std::is_nothrow_move_constructible_v<stored<M>>)  // NOLINT
      : owned_(true) {
    ::new (static_cast<void*>(&owned_value_)) stored<M>(static_cast<stored<M>&&>(m));
  }
  msg_slot(wire_bytes w) noexcept : owned_(false) {  // NOLINT
    ::new (static_cast<void*>(&wire_)) wire_bytes(static_cast<wire_bytes&&>(w));
  }
  msg_slot(msg_slot&& o) noexcept(std::is_nothrow_move_constructible_v<stored<M>>)
      : owned_(o.owned_) {
    if (owned_) {
      ::new (static_cast<void*>(&owned_value_)) stored<M>(static_cast<stored<M>&&>(o.owned_value_));
    } else {
      ::new (static_cast<void*>(&wire_)) wire_bytes(static_cast<wire_bytes&&>(o.wire_));
    }
  }
  msg_slot(const msg_slot&) = delete;
  msg_slot& operator=(const msg_slot&) = delete;
  msg_slot& operator=(msg_slot&&) = delete;
  ~msg_slot() {
    if (owned_) {
      std::destroy_at(&owned_value_);
    } else {
      std::destroy_at(&wire_);
    }
  }

  // owned() -> the message when it is owned, else null; wire() -> its frame bytes, else null.
  [[nodiscard]] stored<M>* owned() noexcept { return owned_ ? &owned_value_ : nullptr; }
  [[nodiscard]] wire_bytes* wire() noexcept { return owned_ ? nullptr : &wire_; }

 private:
  union {
    stored<M> owned_value_;
    wire_bytes wire_;
  };
  bool owned_;
};

template <class Entry>
struct envelope;
template <class R, class P>
struct envelope<call<R, P>> {
  msg_slot<R> msg;
  call_ref<P> op;
};
template <class M>
struct envelope<cast<M>> {
  msg_slot<M> msg;
};
template <class M>
struct envelope<info<M>> {
  msg_slot<M> msg;
  std::uint64_t generation = 0;  // 0: for whichever instance runs; else dropped by other ones
};

// Whether S's handler for a message of kind Entry takes the argument type A.
template <class S, class Entry, class A>
struct handler_accepts : std::false_type {};
template <class S, class R, class P, class A>
    struct handler_accepts<S, call<R, P>, A> : std::bool_constant <
                                               requires(S& s, A a, caller<P>& c) {
  s.handle_call(static_cast<A>(a), c);
} || requires(S& s, A a) {
  s.handle_call(static_cast<A>(a));
}
> {};
template <class S, class M, class A>
    struct handler_accepts<S, cast<M>, A> : std::bool_constant < requires(S& s, A a) {
  s.handle_cast(static_cast<A>(a));
} > {};
template <class S, class M, class A>
    struct handler_accepts<S, info<M>, A> : std::bool_constant < requires(S& s, A a) {
  s.handle_info(static_cast<A>(a));
} > {};

// How a message of kind Entry from another node reaches S's handler.
enum class wire_mode {
  owned,     // decoded into an owning M when it arrives
  in_frame,  // trivially copyable M, used where it landed (the handler takes const M&)
  as_view,   // codec::view<M> over the frame (the handler takes view<M>)
};
// view_handler_v<S, Entry, M>: S's handler takes codec::view<M> (and not M itself).
template <class S, class Entry, class M>
constexpr bool takes_view() noexcept {
  if constexpr (!is_message_v<M>) {
    return false;
  } else {
    return handler_accepts<S, Entry, codec::view<M>>::value &&
           !handler_accepts<S, Entry, const M&>::value && !handler_accepts<S, Entry, M&>::value;
  }
}
template <class S, class Entry, class M>
inline constexpr bool view_handler_v = takes_view<S, Entry, M>();

template <class S, class Entry, class M>
constexpr wire_mode wire_mode_of() noexcept {
  if constexpr (!is_message_v<M>) {
    return wire_mode::owned;  // never crosses the wire
  } else if constexpr (view_handler_v<S, Entry, M>) {
    return wire_mode::as_view;
  } else if constexpr (std::is_trivially_copyable_v<M> &&
                       handler_accepts<S, Entry, const M&>::value) {
    return wire_mode::in_frame;
  } else {
    return wire_mode::owned;
  }
}

// with_msg<S, Entry, M>(slot, f): calls f with the message as S's handler takes it: M& (owned),
// const M& (a trivially copyable message in its frame), or codec::view<M> (over the object or
// over the frame).
template <class S, class Entry, class M, class F>
void with_msg(msg_slot<M>& slot, F&& f) {
  constexpr wire_mode mode = wire_mode_of<S, Entry, M>();
  if (auto* o = slot.owned()) {
    if constexpr (mode == wire_mode::as_view) {
      f(codec::view<M>(std::as_const(unstore<M>(*o))));
    } else {
      f(unstore<M>(*o));
    }
    return;
  }
  if constexpr (mode != wire_mode::owned) {
    auto& w = *slot.wire();
    if constexpr (mode == wire_mode::in_frame) {
      f(*std::launder(reinterpret_cast<const M*>(w.bytes.data())));
    } else {
      f(codec::view<M>(w.bytes, w.keep));
    }
  }
}

// A piece of work to run in the server's context (a reply continuation), for one instance.
struct task_envelope {
  unique_function fn;
  std::uint64_t generation = 0;
};

// The mailbox of a server, type-erased: a FIFO of envelopes, each in a fixed-size slot (its
// handler first, then the envelope) whose size is the server type's largest envelope. The queue,
// the drain loop and the end of an instance are compiled once for every server type; a server
// type adds only one handler function per envelope type (cell<S>::handle_letter).
enum class letter_op : unsigned char {
  process,   // arg: letter_run*: handle it on the cell's instance
  fail,      // arg: const error*: fail the call it carries, if any
  relocate,  // arg: storage of the same size: move it there
  destroy,
};
class cell_common;
// What letter_op::process gets: the cell, and where to put the error of a handler that threw.
struct letter_run {
  cell_common* cell;
  std::optional<error> crash;
};
// handler(op, envelope, arg): does op, then destroys the envelope (always, even when it throws).
using letter_fn = void (*)(letter_op, void* envelope, void* arg);

// mailbox_payload<List>: the size of the largest envelope of a server with that interface.
template <class List>
struct mailbox_payload;
template <class... Es>
struct mailbox_payload<entry_list<Es...>> {
  static constexpr std::size_t value = std::max({sizeof(task_envelope), sizeof(envelope<Es>)...});
  static constexpr bool aligned = ((alignof(envelope<Es>) <= 16) && ... && true);
};

// letter_queue: the FIFO. Not thread-safe (the cell's mutex guards it). Grows by relocating.
class letter_queue {
 public:
  static constexpr std::size_t align = 16;
  explicit letter_queue(std::size_t payload) noexcept
      : stride_(align + (payload + align - 1) / align * align) {}
  letter_queue(const letter_queue&) = delete;
  letter_queue& operator=(const letter_queue&) = delete;
  ~letter_queue() { clear(); }

  [[nodiscard]] bool empty() const noexcept { return head_ == tail_; }
  [[nodiscard]] std::size_t size() const noexcept { return tail_ - head_; }
  // emplace(fn, env): appends env (moved from), handled later by fn.
  template <class Env>
  void emplace(letter_fn fn, Env& env) {
    std::byte* slot = reserve_back();
    ::new (static_cast<void*>(slot + align)) Env(std::move(env));
    ::new (static_cast<void*>(slot)) letter_fn(fn);
    ++tail_;
  }
  // take_front(op, arg): removes the first envelope and does op on it (process or fail).
  NODUS_DECL void take_front(letter_op op, void* arg);
  // append(other[, n]): moves the first n envelopes of other (all by default) to the end of this
  // queue, in order.
  NODUS_DECL void append(letter_queue& other, std::size_t n = static_cast<std::size_t>(-1));
  // evict_first_except(keep, storage) -> the handler of the first envelope whose handler is not
  // keep, which leaves the queue (the others keep their order) for storage (room for the largest
  // envelope, aligned to `align`); nullptr when every envelope is keep's.
  NODUS_DECL letter_fn evict_first_except(letter_fn keep, void* storage);
  NODUS_DECL void swap(letter_queue& other) noexcept;
  NODUS_DECL void clear() noexcept;

 private:
  // reserve_back() -> a slot past the last one (the ::new above may construct in it).
  NODUS_DECL std::byte* reserve_back();
  [[nodiscard]] std::byte* slot(std::size_t i) const noexcept { return buf_.get() + i * stride_; }
  [[nodiscard]] static letter_fn fn_of(std::byte* slot) noexcept {
    return *std::launder(reinterpret_cast<letter_fn*>(slot));
  }

  struct release {
    void operator()(std::byte* p) const noexcept { ::operator delete(p); }
  };
  std::unique_ptr<std::byte, release> buf_;
  std::size_t stride_;
  std::size_t cap_ = 0;
  std::size_t head_ = 0;  // the first live slot
  std::size_t tail_ = 0;  // past the last live slot
};

template <class T, class... Ts>
inline constexpr bool is_unique_v = (0 + ... + static_cast<int>(std::is_same_v<T, Ts>)) == 1;
template <class List>
struct all_unique;
template <class... Es>
struct all_unique<entry_list<Es...>> : std::bool_constant<(is_unique_v<Es, Es...> && ...)> {};

// describe_current_exception() -> "std::runtime_error: boom"; call inside a catch block.
[[nodiscard]] NODUS_DECL std::string describe_current_exception();

// A timer of a server (send_after / send_interval); cancelled when its instance ends. Not a
// template: the message is in `fire`, so one timer wait is compiled for every server and message.
struct timer_state {
  explicit timer_state(asio::io_context& io) : timer(io) {}
  std::mutex m;
  steady_timer timer;
  bool cancelled = false;
  bool periodic = false;
  std::chrono::nanoseconds period{};
  // fire(): queues the message; sets delivered (false: the instance is gone, the timer ends).
  unique_function fire;
  bool delivered = false;

  NODUS_DECL void cancel();

  // make(io) -> a new timer of io (one std::make_shared, compiled once).
  [[nodiscard]] NODUS_DECL static std::shared_ptr<timer_state> make(asio::io_context& io);
  // arm(st, at): fires at `at`, then every period while periodic and delivered.
  NODUS_DECL static void arm(const std::shared_ptr<timer_state>& st, clock::time_point at);
};

template <class S>
class cell;

}  // namespace detail

// timer_ref: a handle to a timer started by send_after / send_interval; cancel() stops it.
// Copyable; thread-safe; a no-op once the timer is gone.
class timer_ref {
 public:
  timer_ref() = default;
  explicit timer_ref(std::weak_ptr<detail::timer_state> t) noexcept : t_(std::move(t)) {}
  void cancel() const {
    if (auto t = t_.lock()) t->cancel();
  }

 private:
  std::weak_ptr<detail::timer_state> t_;
};

// server_base: what every server instance can ask about itself, whatever its type.
class server_base {
 public:
  server_base() = default;
  server_base(const server_base&) = delete;
  server_base& operator=(const server_base&) = delete;
  virtual ~server_base() = default;

  // self_node() -> the node this server runs on.
  [[nodiscard]] const node_name& self_node() const noexcept { return cell_->rt().self(); }
  // self_name() -> the registered name of this server.
  [[nodiscard]] std::string_view self_name() const noexcept { return cell_->name(); }
  // self_pid() -> this instance's pid, as BEAM processes see it: they can send to it, call it,
  // and monitor it (which fires when this instance ends). A restarted instance has another.
  // Needs <nodus/remote.hpp> (the term format; nodus.hpp includes it).
  template <class Pid = etf::pid>
  [[nodiscard]] Pid self_pid() const {
    detail::require_remote_ops<Pid>();
    const detail::dependent_t<Pid, detail::runtime>& r = cell_->rt();
    return r.pid_of(*cell_, generation_);
  }
  // groups(scope) -> a scope of the node's process groups (nodus/process/groups.hpp, which
  // nodus.hpp includes), e.g. groups().join(topic, self_pid()) in init(): this instance leaves
  // its groups when it ends.
  template <class Groups = nodus::groups>
  [[nodiscard]] Groups groups(std::string_view scope = "pg") const {
    return Groups(cell_->rt(), scope);
  }
  // global() -> the node's cluster-wide names (nodus/process/global.hpp, which nodus.hpp
  // includes), e.g. global().async_register_name(name, self_pid(), ...) in init().
  template <class Registry = global_registry>
  [[nodiscard]] Registry global() const {
    return Registry(cell_->rt());
  }
  // log() -> the node's logger.
  [[nodiscard]] logger& log() const noexcept { return cell_->rt().log(); }

 protected:
  [[nodiscard]] detail::runtime& rt() const noexcept { return cell_->rt(); }
  [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }
  [[nodiscard]] detail::cell_base& this_cell() const noexcept { return *cell_; }

 private:
  template <class S>
  friend class detail::cell;
  friend class detail::cell_common;
  template <class Derived, class... Interface>
  friend class server;
  detail::cell_base* cell_ = nullptr;
  std::uint64_t generation_ = 0;
  bool stop_requested_ = false;  // server::stop(): the drain ends the instance after the handler
};

namespace detail {

// Sends, casts and calls to a local server of type S (by S::name). Thread-safe.
// find_cell<S>(rt, why[, target]): S's cell registered under S::name, or under target (a
// run-time name) when one is given.
template <class S>
cell<S>* find_cell(runtime& rt, error& why, std::string_view target = {}) {
  // Each thread remembers the last lookup of S::name with the registry version it was made under.
  struct cached_lookup {
    std::uint64_t version = 0;
    cell_base* cell = nullptr;
  };
  thread_local cached_lookup cache;
  cell_base* c = nullptr;
  if (target.empty()) {
    const auto version = rt.registry_version();
    if (cache.version != version) cache = {version, rt.whereis(S::name.view())};
    c = cache.cell;
    target = S::name.view();
  } else {
    c = rt.whereis(target);
  }
  if (c == nullptr) {
    why = error(errc::noproc, format("no server named '{}' on {}", target, rt.self()));
    return nullptr;
  }
  if (c->server_type() != typeid(S)) {
    why = error(errc::wrong_server_type,
                format("'{}' on {} is a server of another type", target, rt.self()));
    return nullptr;
  }
  return static_cast<cell<S>*>(c);
}

// not_local_error<S>(rt): S is a nodus::remote_server, which never runs on this node.
template <class S>
error not_local_error(const runtime& rt) {
  return error(errc::noproc,
               format("'{}' is a remote_server: it does not run on {}", S::name.view(), rt.self()));
}

template <class S>
error stopped_error(const runtime& rt) {
  return error(errc::noproc, format("'{}' on {} is not running", S::name.view(), rt.self()));
}

// call_local<S>(rt, msg, timeout, handler[, target]): handler(result<reply_t<S, Req>>) runs on
// its associated executor (default: the node's io_context) exactly once. target: the server's
// run-time name (default: S::name).
template <class S, class Req, class Handler>
void call_local(runtime& rt, Req&& msg, std::chrono::milliseconds timeout, Handler&& handler,
                std::string_view target = {}) {
  using R = std::remove_cvref_t<Req>;
  using P = reply_t<S, R>;
  if constexpr (!handles_call_v<S, R>) {
    return;  // reply_t has reported the undeclared call; avoid a cascade of errors
  } else if constexpr (!std::is_base_of_v<server_base, S>) {
    call_ref<P> ref(make_call_op<P>(static_cast<Handler&&>(handler), rt.io().get_executor(),
                                    rt.next_call_id(), &rt.self(), S::name.view()));
    ref->fail(not_local_error<S>(rt));
  } else {
    call_ref<P> ref(make_call_op<P>(static_cast<Handler&&>(handler), rt.io().get_executor(),
                                    rt.next_call_id(), &rt.self(), S::name.view()));
    error why;
    cell<S>* c = find_cell<S>(rt, why, target);
    if (c == nullptr) {
      ref->fail(std::move(why));
      return;
    }
    // Timeouts of a century or more never expire (and would overflow the clock).
    if (timeout < std::chrono::hours(24 * 365 * 100)) rt.timeouts().add(ref.get(), timeout);
    envelope<call<R, P>> env{store<R>(R(static_cast<Req&&>(msg))), std::move(ref)};
    c->push_call(env);
  }
}

// cast_local<S, Kind>(rt, msg[, target]): queues msg for S as a cast (Kind = cast) or an info
// (Kind = info); target: as call_local's.
template <class S, template <class> class Kind, class M>
result<void> cast_local(runtime& rt, M&& msg, std::string_view target = {}) {
  using T = std::remove_cvref_t<M>;
  if constexpr (count_entry<Kind, T, typename S::nodus_interface>::value == 0) {
    return errc::noproc;  // the caller's checked_cast / checked_info has reported the error
  } else if constexpr (!std::is_base_of_v<server_base, S>) {
    return not_local_error<S>(rt);
  } else {
    error why;
    cell<S>* c = find_cell<S>(rt, why, target);
    if (c == nullptr) return why;
    envelope<Kind<T>> env{store<T>(T(static_cast<M&&>(msg)))};
    return c->push_message(env);
  }
}

}  // namespace detail

// server<Derived, Interface...>: the base of a named server; Interface lists the call<Req, Rep>,
// cast<M> and info<M> it handles (optionally grouped in handles<...>).
template <class Derived, class... Interface>
class server : public server_base {
 public:
  using nodus_interface = detail::flatten<Interface...>;
  static_assert(detail::all_unique<nodus_interface>::value,
                "nodus::server<Derived, Interface...>: an entry of the interface is listed twice");

  // stop(): ends this server normally once the current handler returns (its supervisor then
  // applies its strategy, as for any exit of a permanent child).
  void stop() noexcept { server_base::stop_requested_ = true; }

  // mailbox_stats() -> this server's mailbox counters (nodus/process/mailbox.hpp): what waits now,
  // the most that ever waited, the declared limit, what the bound dropped or refused.
  [[nodiscard]] mailbox_counters mailbox_stats() const noexcept {
    return typed_cell().mailbox_stats();
  }

  // send_after(delay, msg) -> timer_ref: msg arrives as an info message after delay, to this
  // instance only (a restarted server does not get its predecessor's timers).
  template <class M>
  timer_ref send_after(std::chrono::nanoseconds delay, M msg) {
    if constexpr (detail::checked_info<Derived, M>::ok) {
      return typed_cell().start_timer(delay, std::move(msg), false, generation());
    } else {
      return {};
    }
  }
  // send_interval(period, msg) -> timer_ref: a copy of msg arrives every period until cancelled.
  template <class M>
  timer_ref send_interval(std::chrono::nanoseconds period, M msg) {
    static_assert(std::is_copy_constructible_v<M>,
                  "nodus::server::send_interval(period, msg) requires a copyable message");
    if constexpr (detail::checked_info<Derived, M>::ok) {
      return typed_cell().start_timer(period, std::move(msg), true, generation());
    } else {
      return {};
    }
  }

  // call<Target>(msg, on_reply[, timeout]): calls a local server; on_reply(result<Reply>) runs
  // later in this server's context (dropped if this instance has ended by then).
  template <class Target, class Req, class OnReply>
  void call(Req&& msg, OnReply&& on_reply,
            std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    using P = reply_t<Target, std::remove_cvref_t<Req>>;
    static_assert(std::is_invocable_v<std::decay_t<OnReply>&, result<P>>,
                  "nodus::server::call<Target>(msg, on_reply): on_reply must be callable with "
                  "nodus::result<Reply>");
    auto* self = &typed_cell();
    detail::call_local<Target>(
        rt(), static_cast<Req&&>(msg), timeout.count() == 0 ? rt().default_call_timeout() : timeout,
        [self, gen = generation(),
         f = std::decay_t<OnReply>(static_cast<OnReply&&>(on_reply))](result<P> r) mutable {
          detail::task_envelope t{
              [f = std::move(f), r = std::move(r)]() mutable { f(std::move(r)); }, gen};
          (void)self->push(t);
        });
  }
  // call<Target>(node, msg, on_reply[, timeout]): calls Target on another node (or this one); as
  // above. Fails with nodedown at once when node is not connected or goes down before replying.
  template <class Target, class Req, class OnReply>
  void call(const node_name& node, Req&& msg, OnReply&& on_reply,
            std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    using R = detail::message_type_t<Req>;
    using P = reply_t<Target, R>;
    static_assert(std::is_invocable_v<std::decay_t<OnReply>&, result<P>>,
                  "nodus::server::call<Target>(node, msg, on_reply): on_reply must be callable "
                  "with nodus::result<Reply>");
    if (node == self_node()) {
      call<Target>(detail::message_value(static_cast<Req&&>(msg)), static_cast<OnReply&&>(on_reply),
                   timeout);
      return;
    }
    detail::require_remote_ops<Target>();
    auto* self = &typed_cell();
    detail::call_remote<Target>(
        rt(), node, static_cast<Req&&>(msg),
        timeout.count() == 0 ? rt().default_call_timeout() : timeout,
        [self, gen = generation(),
         f = std::decay_t<OnReply>(static_cast<OnReply&&>(on_reply))](result<P> r) mutable {
          detail::task_envelope t{
              [f = std::move(f), r = std::move(r)]() mutable { f(std::move(r)); }, gen};
          (void)self->push(t);
        });
  }
  // cast<Target>(node, msg) / send<Target>(node, msg): to Target on another node (or this one);
  // nodedown when node is not connected. msg may be a std::shared_ptr / std::unique_ptr to the
  // message: it then goes out without being copied.
  template <class Target, class M>
  result<void> cast(const node_name& node, M&& msg) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_cast<Target, detail::message_type_t<M>>::ok;
    if (node == self_node()) return cast<Target>(detail::message_value(static_cast<M&&>(msg)));
    detail::require_remote_ops<Target>();
    return detail::cast_remote<Target, nodus::cast>(rt(), node, static_cast<M&&>(msg));
  }
  template <class Target, class M>
  result<void> send(const node_name& node, M&& msg) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_info<Target, detail::message_type_t<M>>::ok;
    if (node == self_node()) return send<Target>(detail::message_value(static_cast<M&&>(msg)));
    detail::require_remote_ops<Target>();
    return detail::cast_remote<Target, nodus::info>(rt(), node, static_cast<M&&>(msg));
  }

  // send(pid, msg): msg, as an Erlang term, to the process pid names (node::send(pid, msg)).
  template <class M>
  result<void> send(const etf::pid& to, const M& msg) {
    detail::require_remote_ops<M>();
    return detail::send_to_pid(rt(), to, msg);
  }

  // nodes() -> the visible nodes connected now, sorted (Node.list() from a server).
  [[nodiscard]] std::vector<node_name> nodes() {
    auto* d = rt().dist();
    return d != nullptr ? d->list(node_kind::visible) : std::vector<node_name>{};
  }

  // monitor_nodes(): from now on this instance gets node_up / node_down as info messages
  // (:net_kernel.monitor_nodes(true)); declare nodus::info<nodus::node_up> and/or
  // nodus::info<nodus::node_down>. Call it in init(); a restarted instance calls it again.
  void monitor_nodes() {
    static_assert(handles_info_v<Derived, node_up> || handles_info_v<Derived, node_down>,
                  "nodus::server::monitor_nodes(): the server must declare "
                  "nodus::info<nodus::node_up> and/or nodus::info<nodus::node_down>");
    rt().subscribe(this_cell(), generation());
  }

  // cast<Target>(msg): casts to a local server.
  template <class Target, class M>
  result<void> cast(M&& msg) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_cast<Target, std::remove_cvref_t<M>>::ok;  // reports an undeclared message
    return detail::cast_local<Target, nodus::cast>(rt(), static_cast<M&&>(msg));
  }
  // send<Target>(msg): sends an info message to a local server.
  template <class Target, class M>
  result<void> send(M&& msg) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_info<Target, std::remove_cvref_t<M>>::ok;  // reports an undeclared message
    return detail::cast_local<Target, nodus::info>(rt(), static_cast<M&&>(msg));
  }

 private:
  template <class S>
  friend class detail::cell;
  detail::cell<Derived>& typed_cell() const noexcept {
    return static_cast<detail::cell<Derived>&>(this_cell());
  }
};

namespace detail {

template <class S>
concept has_server_name = requires {
  { S::name.view() } -> std::convertible_to<std::string_view>;
};

template <class S, class R, class P>
struct missing_call_handler {
  static_assert(dependent_false<S>,
                "nodus::server: the interface declares nodus::call<Request, Reply> but the server "
                "has no handle_call(const Request&, nodus::caller<Reply>&) (or handle_call(const "
                "Request&)) returning Reply, nodus::result<Reply> or void (S, Request, Reply are "
                "the template arguments of nodus::detail::missing_call_handler)");
};
template <class S, class M>
struct missing_cast_handler {
  static_assert(dependent_false<S>,
                "nodus::server: the interface declares nodus::cast<Message> but the server has no "
                "handle_cast(const Message&) (S, Message are the template arguments of "
                "nodus::detail::missing_cast_handler)");
};
template <class S, class M>
struct missing_info_handler {
  static_assert(dependent_false<S>,
                "nodus::server: the interface declares nodus::info<Message> but the server has no "
                "handle_info(const Message&) (S, Message are the template arguments of "
                "nodus::detail::missing_info_handler)");
};

// push_status: what became of an envelope pushed to a server's mailbox.
enum class push_status : unsigned char {
  queued,   // it waits for the server
  stopped,  // no instance runs (the envelope is left intact)
  dropped,  // a full bounded mailbox discarded it (drop_newest, or drop_oldest with nothing older
            // to discard); left intact
  refused,  // a full bounded mailbox refused it (fail_sender); left intact
};

// cell_common: the part of cell<S> that does not depend on S (the lifecycle state, the mailbox
// and its drain, stop, the timers, the completions run after a message, crash errors, the end of
// an instance), compiled once (process/impl/server.ipp).
class cell_common : public cell_base {
 public:
  NODUS_DECL void stop(error reason, unique_function done) override;
  [[nodiscard]] NODUS_DECL bool running() const override;
  [[nodiscard]] std::uint64_t generation() const override {
    return generation_.load(std::memory_order_relaxed);
  }
  // mailbox_stats() -> the mailbox's counters (all zero for an unbounded one). Thread-safe.
  [[nodiscard]] mailbox_counters mailbox_stats() const noexcept {
    return {queued_.load(std::memory_order_relaxed), max_queued_.load(std::memory_order_relaxed),
            bound_.limit, dropped_.load(std::memory_order_relaxed)};
  }
  // full_error(evicted) -> errc::mailbox_full naming the server and its limit; evicted: the
  // message was queued, and dropped by drop_oldest to make room.
  [[nodiscard]] NODUS_DECL error full_error(bool evicted) const;

 protected:
  enum class end { crashed, self_stopped, stopped, init_failed };

  // bound: the mailbox's (limit 0: unbounded).
  cell_common(runtime& rt, std::string_view name, const std::type_info& type, std::size_t payload,
              mailbox_limit bound) noexcept
      : cell_base(rt, name, type), bound_(bound), incoming_(payload), processing_(payload) {
    sink_.io = &rt.io();
  }
  ~cell_common() override = default;

  // push_letter(fn, env) -> false (env left intact) when no instance runs. Thread-safe.
  template <class Env>
  [[nodiscard]] bool push_letter(letter_fn fn, Env& env) {
    std::lock_guard lock(m_);
    if (!alive_) return false;
    incoming_.emplace(fn, env);
    if (!scheduled_) {
      scheduled_ = true;
      post_drain();
    }
    return true;
  }
  // push_bounded(fn, env, message, spare) -> what became of env in a bounded mailbox; env is left
  // intact unless queued. message: env is a call, cast or info (a task_envelope always gets in).
  // spare: room for the largest envelope, aligned to letter_queue::align, where drop_oldest puts
  // the envelope it discards (failed once m_ is released); only drop_oldest uses it. Thread-safe.
  template <class Env>
  [[nodiscard]] push_status push_bounded(letter_fn fn, Env& env, bool message, void* spare) {
    letter_fn evicted = nullptr;
    {
      std::lock_guard lock(m_);
      if (!alive_) return push_status::stopped;
      if (message && incoming_.size() >= bound_.limit) {
        if (bound_.policy == overflow::drop_oldest) {
          evicted = incoming_.evict_first_except(&cell_common::task_letter, spare);
        }
        count_dropped();
        if (evicted == nullptr) {
          return bound_.policy == overflow::fail_sender ? push_status::refused
                                                        : push_status::dropped;
        }
      }
      incoming_.emplace(fn, env);
      count_queued();
      if (!scheduled_) {
        scheduled_ = true;
        post_drain();
      }
    }
    if (evicted != nullptr) fail_evicted(evicted, spare);
    return push_status::queued;
  }
  // count_queued() / count_dropped(): the counters of a bounded mailbox; under m_ (so plain
  // relaxed stores: the atomics are for the readers).
  void count_queued() noexcept {
    const std::size_t n = incoming_.size();
    queued_.store(n, std::memory_order_relaxed);
    if (n > max_queued_.load(std::memory_order_relaxed)) {
      max_queued_.store(n, std::memory_order_relaxed);
    }
  }
  void count_dropped() noexcept {
    dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // fail_evicted(fn, envelope): fails (a call) and destroys an envelope drop_oldest discarded.
  NODUS_DECL void fail_evicted(letter_fn fn, void* envelope);
  // task_letter: the handler of a task_envelope (a reply continuation), for every server type.
  NODUS_DECL static void task_letter(letter_op op, void* envelope, void* arg);

  // drain(): runs queued messages; at most one drain per cell is scheduled at any time.
  NODUS_DECL void drain() final;
  // end_instance(reason, how): terminate(), drop the state, fail what is queued, tell whoever
  // waits. Runs in the server's context (or on the supervision strand for init failures).
  NODUS_DECL void end_instance(const error& reason, end how);
  // start_cell(make, init): cell::start(): registers the name, make(*this) builds the instance
  // (which the derived cell then owns), init(*this, failed) runs its init(); a throw from either,
  // or a failed init, is errc::init_failed (and the instance ends).
  NODUS_DECL result<void> start_cell(server_base* (*make)(cell_common&),
                                     void (*init)(cell_common&, std::optional<std::string>&));
  // destroy_cell(running): the derived cell's destructor: ends the instance (if running) and
  // forgets the name and subscriptions; never throws.
  NODUS_DECL void destroy_cell(bool running) noexcept;
  // The instance, as end_instance needs it: its terminate(reason) (exceptions logged), and its
  // destruction.
  virtual void terminate_instance(const error& reason) = 0;
  virtual void reset_instance() noexcept = 0;

  void post_drain() { schedule_drain(rt().io(), *this); }
  [[nodiscard]] logger& log() const noexcept { return rt().log(); }
  // add_timer(st): st is cancelled when the instance ends.
  NODUS_DECL void add_timer(const std::shared_ptr<timer_state>& st);
  NODUS_DECL void cancel_timers();
  // run_completions(items, alive): runs the completions collected while handling a message. A
  // throwing completion leaves io_context::run() like any Asio handler's exception would; the
  // remaining completions are posted and, while the instance is alive (this drain still owns the
  // cell), the drain goes on in a new handler.
  NODUS_DECL void run_completions(std::vector<unique_function>& items, bool alive);
  // crash_error(handler, message type): call inside a catch block.
  [[nodiscard]] NODUS_DECL error crash_error(std::string_view handler,
                                             std::string_view message_type) const;
  // after_end(exited, reason, done): the end of end_instance: tells the supervisor when the
  // instance exited by itself (crashed or stopped), and whoever asked for the stop.
  NODUS_DECL void after_end(bool exited, const error& reason, unique_function done);

  std::atomic<std::uint64_t> generation_{0};
  std::atomic<bool> stop_requested_{false};
  unique_function crash_reply_;  // the call whose handler crashed, answered after the crash
  server_base* base_ = nullptr;  // the running instance; touched only in the server's context

  const mailbox_limit bound_;  // limit 0: unbounded
  // The counters of a bounded mailbox: written under m_, read anywhere.
  std::atomic<std::size_t> queued_{0};
  std::atomic<std::size_t> max_queued_{0};
  std::atomic<std::uint64_t> dropped_{0};

  mutable std::mutex m_;  // guards the fields below
  bool alive_ = false;
  bool scheduled_ = false;
  error stop_reason_;
  unique_function stop_done_;
  letter_queue incoming_;

  letter_queue processing_;  // drain-only
  completion_sink sink_;     // drain-only

 private:
  std::mutex timers_m_;
  std::vector<std::weak_ptr<timer_state>> timers_;
};

// cell<S>: the mailbox and lifecycle of server type S.
template <class S>
class cell final : public cell_common {
  static_assert(has_server_name<S>,
                "nodus::server: the server type must declare its registered name as "
                "`static constexpr nodus::fixed_string name = \"...\";`");
  static_assert(std::is_base_of_v<server_base, S>,
                "nodus: a server type must derive from nodus::server<Derived, Interface...>");
  using payload = mailbox_payload<typename S::nodus_interface>;
  static_assert(payload::aligned, "nodus: a mailbox envelope is aligned to more than 16 bytes");
  using bound = mailbox_decl<S>;

 public:
  // make: makes S's instances (an instance_maker of S).
  cell(runtime& rt, instance_maker make)
      : cell_common(rt, S::name.view(), typeid(S), payload::value, bound::value),
        make_(std::move(make)) {
    check_handlers(static_cast<typename S::nodus_interface*>(nullptr));
  }
  // cell(rt, make, name): registered under name instead of S::name.
  cell(runtime& rt, instance_maker make, std::string name) : cell(rt, std::move(make)) {
    own_name(std::move(name));
  }
  ~cell() override { destroy_cell(instance_.get() != nullptr); }

  // start(): the typed steps (construct S, its init()) between cell_common's (see start_cell).
  result<void> start() override { return start_cell(&make_one, &init_one); }

  // push(env) -> what became of env (left intact unless queued). An unbounded mailbox (the
  // default) only queues it or finds no instance; a bounded one counts and applies its policy.
  // Thread-safe.
  template <class Env>
  [[nodiscard]] push_status push(Env& env) {
    constexpr bool task = std::is_same_v<Env, task_envelope>;
    letter_fn fn = nullptr;
    if constexpr (task) {
      fn = &cell_common::task_letter;
    } else {
      fn = &cell::template handle_letter<Env>;
    }
    if constexpr (!bound::declared) {
      return push_letter(fn, env) ? push_status::queued : push_status::stopped;
    } else if constexpr (bound::value.policy == overflow::drop_oldest) {
      alignas(letter_queue::align) std::byte spare[payload::value];
      return push_bounded(fn, env, !task, spare);
    } else {
      return push_bounded(fn, env, !task, nullptr);
    }
  }
  // push_call(env): queues a call; one that does not get in fails at once: noproc when no
  // instance runs, mailbox_full when a full bounded mailbox keeps it out. Thread-safe.
  template <class R, class P>
  void push_call(envelope<call<R, P>>& env) {
    const push_status s = push(env);
    if (s == push_status::queued) return;
    env.op->fail(s == push_status::stopped ? stopped_error<S>(rt()) : full_error(false));
  }
  // push_message(env) -> ok when the cast / info is queued, or discarded by a full mailbox's
  // drop_newest / drop_oldest; noproc when no instance runs; mailbox_full when refused
  // (fail_sender). Thread-safe.
  template <class Env>
  result<void> push_message(Env& env) {
    switch (push(env)) {
      case push_status::queued:
      case push_status::dropped: return {};
      case push_status::stopped: return stopped_error<S>(rt());
      case push_status::refused: break;
    }
    return full_error(false);
  }

  // with_instance(f) -> false when no instance runs: otherwise f(S&) runs in the server's context,
  // on the running instance (if it still runs then), after the messages queued before it.
  template <class F>
  bool with_instance(F f) {
    auto* self = this;
    task_envelope t{[self, f = std::move(f)]() mutable { f(*self->instance_); },
                    generation_.load(std::memory_order_relaxed)};
    return push(t) == push_status::queued;
  }

  void notify(const node_up& e, std::uint64_t gen) override {
    if constexpr (handles_info_v<S, node_up>) {
      envelope<info<node_up>> env{store<node_up>(node_up(e)), gen};
      (void)push(env);  // a full mailbox's policy applies to node_up / node_down too
    }
  }
  void notify(const node_down& e, std::uint64_t gen) override {
    if constexpr (handles_info_v<S, node_down>) {
      envelope<info<node_down>> env{store<node_down>(node_down(e)), gen};
      (void)push(env);
    }
  }

  template <class M>
  timer_ref start_timer(std::chrono::nanoseconds d, M msg, bool periodic, std::uint64_t gen) {
    auto st = timer_state::make(rt().io());
    add_timer(st);
    st->periodic = periodic;
    st->period = d;
    auto* raw = st.get();
    if (periodic) {
      st->fire = [this, raw, msg = std::move(msg), gen] {
        envelope<info<M>> env{store<M>(M(msg)), gen};
        raw->delivered = push(env) != push_status::stopped;  // a dropped tick: the timer goes on
      };
    } else {
      st->fire = [this, raw, msg = std::move(msg), gen]() mutable {
        envelope<info<M>> env{store<M>(std::move(msg)), gen};
        raw->delivered = push(env) != push_status::stopped;
      };
    }
    timer_state::arm(st, clock::now() + d);
    return timer_ref(st);
  }

 private:
  // make_one(cell) -> a new instance of S, now the cell's (throws what S's constructor throws).
  static server_base* make_one(cell_common& c) {
    auto& self = static_cast<cell&>(c);
    self.instance_ = box<S>(static_cast<S*>(self.make_()));
    return self.instance_.get();
  }
  // init_one(cell, failed): the instance's init(), if S has one; failed: why it failed (a
  // result<void> init() that returned an error; a throw is start_cell's to catch).
  static void init_one([[maybe_unused]] cell_common& c,
                       [[maybe_unused]] std::optional<std::string>& failed) {
    if constexpr (requires(S & s) { s.init(); }) {
      auto& inst = *static_cast<cell&>(c).instance_;
      using init_result = decltype(inst.init());
      if constexpr (std::is_same_v<init_result, result<void>>) {
        if (auto r = inst.init(); !r) failed = r.error().message();
      } else {
        inst.init();
      }
    }
  }

  // check_handlers(list): a readable error (missing_*_handler) for each entry of S's interface
  // without a handler. Handlers are instantiated only for the messages a program sends, so this
  // is where a server type learns of one it forgot.
  template <class... Es>
  static constexpr void check_handlers(entry_list<Es...>*) {
    (check_handler(static_cast<Es*>(nullptr)), ...);
  }
  template <class R, class P>
  static constexpr void check_handler(call<R, P>*) {
    if constexpr (!handles_entry<call<R, P>, R>()) (void)missing_call_handler<S, R, P>{};
  }
  template <class M>
  static constexpr void check_handler(cast<M>*) {
    if constexpr (!handles_entry<cast<M>, M>()) (void)missing_cast_handler<S, M>{};
  }
  template <class M>
  static constexpr void check_handler(info<M>*) {
    if constexpr (!handles_entry<info<M>, M>()) (void)missing_info_handler<S, M>{};
  }
  // handles_entry<Entry, M>(): S has a handler that with_msg can call for Entry.
  template <class Entry, class M>
  static constexpr bool handles_entry() {
    if constexpr (handler_accepts<S, Entry, M&>::value) {
      return true;
    } else if constexpr (is_message_v<M>) {
      return handler_accepts<S, Entry, codec::view<M>>::value;
    } else {
      return false;
    }
  }

  // handle_letter<Env>: the letter_fn of an envelope of S's interface.
  template <class Env>
  static void handle_letter(letter_op op, void* p, void* arg) {
    struct destroy_at_exit {
      Env* env;
      ~destroy_at_exit() { env->~Env(); }
    } guard{static_cast<Env*>(p)};
    Env& env = *guard.env;
    switch (op) {
      case letter_op::process: {
        auto& run = *static_cast<letter_run*>(arg);
        auto& self = static_cast<cell&>(*run.cell);
        run.crash =
            self.dispatch(*self.instance_, env, self.generation_.load(std::memory_order_relaxed));
        break;
      }
      case letter_op::fail:
        if constexpr (requires { env.op->fail(*static_cast<const error*>(arg)); }) {
          env.op->fail(*static_cast<const error*>(arg));
        }
        break;
      case letter_op::relocate: ::new (arg) Env(std::move(env)); break;
      case letter_op::destroy: break;
    }
  }

  void terminate_instance([[maybe_unused]] const error& reason) override {
    if constexpr (requires(S & s) { s.terminate(reason); }) {
      try {
        instance_->terminate(reason);
      } catch (...) {
        log().error("'{}' terminate threw: {}", name(), describe_current_exception());
      }
    }
  }
  void reset_instance() noexcept override {
    base_ = nullptr;
    instance_.reset();
  }

  template <class R, class P>
  std::optional<error> dispatch(S& s, envelope<call<R, P>>& env, std::uint64_t) {
    caller<P> from(std::move(env.op));
    try {
      with_msg<S, call<R, P>, R>(env.msg, [&](auto&& msg) { handle_one_call<R, P>(s, msg, from); });
    } catch (...) {
      error e = crash_error("handle_call", type_name<R>());
      // Answered by end_instance once the server is gone, so that a call made after this reply
      // finds no server (noproc), as in Erlang.
      crash_reply_ = [from = std::move(from), e]() mutable { from.reply_error(e); };
      return e;
    }
    return std::nullopt;
  }

  // (Handlers are looked up in functions, not in the generic lambdas above: clang 14 mishandles
  // a requires-expression that names a lambda's captures.)
  template <class M, class Msg>
  static void handle_one_cast(S& s, Msg& msg) {
    if constexpr (requires { s.handle_cast(msg); }) {
      s.handle_cast(msg);
    } else {
      (void)missing_cast_handler<S, M>{};
    }
  }
  template <class M, class Msg>
  static void handle_one_info(S& s, Msg& msg) {
    if constexpr (requires { s.handle_info(msg); }) {
      s.handle_info(msg);
    } else {
      (void)missing_info_handler<S, M>{};
    }
  }

  template <class R, class P, class Msg>
  static void handle_one_call(S& s, Msg& msg, caller<P>& from) {
    {
      if constexpr (requires { s.handle_call(msg, from); }) {
        using ret = decltype(s.handle_call(msg, from));
        if constexpr (std::is_void_v<ret>) {
          s.handle_call(msg, from);
        } else if constexpr (std::is_same_v<std::remove_cvref_t<ret>, result<P>>) {
          auto r = s.handle_call(msg, from);
          if (r) {
            from.reply(std::move(r).value());
          } else {
            from.reply_error(r.error());
          }
        } else {
          from.reply(P(s.handle_call(msg, from)));
        }
      } else if constexpr (requires { s.handle_call(msg); }) {
        using ret = decltype(s.handle_call(msg));
        if constexpr (std::is_same_v<std::remove_cvref_t<ret>, result<P>>) {
          auto r = s.handle_call(msg);
          if (r) {
            from.reply(std::move(r).value());
          } else {
            from.reply_error(r.error());
          }
        } else {
          from.reply(P(s.handle_call(msg)));
        }
      } else {
        (void)missing_call_handler<S, R, P>{};
      }
    }
  }

  template <class M>
  std::optional<error> dispatch(S& s, envelope<cast<M>>& env, std::uint64_t) {
    try {
      with_msg<S, cast<M>, M>(env.msg, [&](auto&& msg) { handle_one_cast<M>(s, msg); });
    } catch (...) {
      return crash_error("handle_cast", type_name<M>());
    }
    return std::nullopt;
  }

  template <class M>
  std::optional<error> dispatch(S& s, envelope<info<M>>& env, std::uint64_t gen) {
    if (env.generation != 0 && env.generation != gen) return std::nullopt;
    try {
      with_msg<S, info<M>, M>(env.msg, [&](auto&& msg) { handle_one_info<M>(s, msg); });
    } catch (...) {
      return crash_error("handle_info", type_name<M>());
    }
    return std::nullopt;
  }

  instance_maker make_;
  box<S> instance_;  // touched only in the server's context
};

// mailbox_stats_of<S>(rt) -> the mailbox counters of S on this node; only its declared limit when
// S is not registered here. Thread-safe.
template <class S>
mailbox_counters mailbox_stats_of(const runtime& rt) {
  mailbox_counters none;
  none.limit = mailbox_decl<S>::value.limit;
  if constexpr (std::is_base_of_v<server_base, S>) {  // not a remote_server
    const cell_base* c = rt.whereis(S::name.view());
    if (c != nullptr && c->server_type() == typeid(S)) {
      return static_cast<const cell<S>*>(c)->mailbox_stats();
    }
  }
  return none;
}

}  // namespace detail

}  // namespace nodus

#if defined(NODUS_HEADER_ONLY)
#include "nodus/process/impl/server.ipp"
#endif
