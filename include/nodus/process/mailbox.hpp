// nodus/process/mailbox.hpp: a server's mailbox bound and overload policy, declared in its type,
// and the counters that show how full the mailbox is.
//
// clang-format off
//   struct worker : nodus::server<worker, nodus::cast<job>, nodus::call<status, report>> {
//     static constexpr nodus::fixed_string name = "worker";
//     static constexpr nodus::mailbox_limit mailbox{1000, nodus::overflow::drop_oldest};
//     ...
//   };
//   nodus::mailbox_counters c = node.mailbox_stats<worker>();   // or mailbox_stats() inside it
// clang-format on
//
// Without a (public, static) `mailbox` member a server's mailbox is unbounded, as an Erlang
// process's, and costs nothing more. With one, at most `limit` messages (calls, casts and infos:
// sends, timers, node_up / node_down) wait for the server; one arriving at a full mailbox meets the
// policy:
//
//   drop_newest  the arriving message is discarded and counted; a cast / send still returns ok
//                (Erlang's lossy send), but a call fails at once with errc::mailbox_full.
//   drop_oldest  the oldest waiting message is discarded and counted to make room; if it was a
//                call, that call fails at once with errc::mailbox_full (never left to its timeout).
//   fail_sender  the cast / send / call fails at once with errc::mailbox_full, counted.
//
// Messages from other nodes and from BEAM processes meet the same policy: a refused call is
// answered with errc::mailbox_full (a BEAM caller's monitor fires with {mailbox_full, Reason}); a
// cast refused by fail_sender is logged by the distribution, there is no sender to tell. The
// replies to the server's own calls (the continuations of server::call) are never refused or
// dropped: they count as waiting but may take the mailbox past its limit. A call is never dropped
// silently. The handler that is running does not count: the message it handles is out of the
// mailbox.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace nodus {

// overflow: what a bounded mailbox does with a message that arrives when it is full.
enum class overflow : unsigned char {
  drop_newest,  // discard the arriving message (a call fails with mailbox_full)
  drop_oldest,  // discard the oldest waiting message (a call among them fails with mailbox_full)
  fail_sender,  // refuse the arriving message: its send / cast / call fails with mailbox_full
};

// mailbox_limit: the bound of a server's mailbox, declared as the server type's
// `static constexpr nodus::mailbox_limit mailbox{limit, policy};`.
struct mailbox_limit {
  std::size_t limit = 0;                    // the most messages that may wait; at least 1
  overflow policy = overflow::fail_sender;  // what a message arriving at a full mailbox meets
};

// mailbox_counters: a server's mailbox, as node::mailbox_stats<S>() and server::mailbox_stats()
// read it. The counters belong to the registered server and last across its restarts (the
// messages a stopped instance leaves are failed, and leave the queue). Kept for bounded mailboxes
// only: an unbounded one pays nothing for them and reads all zero (declare a limit it never
// reaches to watch one).
struct mailbox_counters {
  std::size_t queued = 0;      // messages waiting now (not the one being handled)
  std::size_t max_queued = 0;  // the most that ever waited at once
  std::size_t limit = 0;       // the declared bound; 0: unbounded
  std::uint64_t dropped = 0;   // messages the bound kept from the server: discarded or refused
};

namespace detail {

// mailbox_decl<S>: S's mailbox declaration: declared (S has a static member `mailbox`) and value.
// A non-static member named `mailbox` is the server's state, not a bound.
template <class S>
struct mailbox_decl {
  static constexpr bool declared = false;
  static constexpr mailbox_limit value{};
};
template <class S>
requires requires {
  &S::mailbox;
} &&(!std::is_member_pointer_v<decltype(&S::mailbox)>)struct mailbox_decl<S> {
  static constexpr bool well_typed = std::is_same_v<decltype(&S::mailbox), const mailbox_limit*>;
  static_assert(well_typed,
                "nodus::server: a server's static member `mailbox` declares its mailbox bound and "
                "must read `static constexpr nodus::mailbox_limit mailbox{limit, "
                "nodus::overflow::...};`");
  static constexpr mailbox_limit read() noexcept {
    if constexpr (well_typed) {
      return S::mailbox;
    } else {
      return {1, overflow::fail_sender};  // reported above
    }
  }
  static constexpr bool declared = true;
  static constexpr mailbox_limit value = read();
  static_assert(value.limit > 0,
                "nodus::server: the server's `mailbox` declares a limit of 0 messages; a bounded "
                "mailbox holds at least 1 (leave `mailbox` out for an unbounded one)");
  static_assert(
      value.policy == overflow::drop_newest || value.policy == overflow::drop_oldest ||
          value.policy == overflow::fail_sender,
      "nodus::server: the server's `mailbox` declares no overflow policy of nodus::overflow "
      "(drop_newest, drop_oldest or fail_sender)");
};

// bounded_mailbox_v<S>: S declares a bound (its pushes count and check it).
template <class S>
inline constexpr bool bounded_mailbox_v = mailbox_decl<S>::declared;

}  // namespace detail

}  // namespace nodus
