// nodus/process/interface.hpp: how a server declares what it handles, and the compile-time checks
// that reject a call, cast or info the server does not declare.
//
//   struct ping_server : nodus::server<ping_server, nodus::call<ping, pong>, nodus::cast<note>,
//                                      nodus::info<tick>> { ... };
//
// `nodus::handles<...>` groups entries; groups nest and are flattened.
#pragma once

#include <type_traits>

#include "nodus/core/fixed_string.hpp"

namespace nodus {

// call<Request, Reply>: the server answers Request with Reply (handle_call).
template <class Request, class Reply>
struct call {
  static_assert(std::is_same_v<Request, std::remove_cvref_t<Request>> && std::is_object_v<Request>,
                "nodus::call<Request, Reply>: Request must be a plain object type (no reference, "
                "const or volatile)");
  static_assert(
      std::is_same_v<Reply, std::remove_cvref_t<Reply>> && std::is_object_v<Reply>,
      "nodus::call<Request, Reply>: Reply must be a plain object type (no reference, "
      "const, volatile or void); reply with an empty struct when there is nothing to say");
  using request = Request;
  using reply = Reply;
};

// cast<Message>: the server takes Message without replying (handle_cast).
template <class Message>
struct cast {
  static_assert(std::is_same_v<Message, std::remove_cvref_t<Message>> && std::is_object_v<Message>,
                "nodus::cast<Message>: Message must be a plain object type");
  using message = Message;
};

// info<Message>: the server takes Message as an info message: timers, node_up / node_down, sends
// (handle_info).
template <class Message>
struct info {
  static_assert(std::is_same_v<Message, std::remove_cvref_t<Message>> && std::is_object_v<Message>,
                "nodus::info<Message>: Message must be a plain object type");
  using message = Message;
};

// handles<Entries...>: a group of call / cast / info entries.
template <class... Entries>
struct handles {};

namespace detail {

template <class... Ts>
struct entry_list {
  static constexpr unsigned size = sizeof...(Ts);
};

template <class... Lists>
struct concat;
template <>
struct concat<> {
  using type = entry_list<>;
};
template <class... As>
struct concat<entry_list<As...>> {
  using type = entry_list<As...>;
};
template <class... As, class... Bs, class... Rest>
struct concat<entry_list<As...>, entry_list<Bs...>, Rest...> {
  using type = typename concat<entry_list<As..., Bs...>, Rest...>::type;
};

template <class T>
struct is_entry : std::false_type {};
template <class R, class P>
struct is_entry<call<R, P>> : std::true_type {};
template <class M>
struct is_entry<cast<M>> : std::true_type {};
template <class M>
struct is_entry<info<M>> : std::true_type {};
template <class... Es>
struct is_entry<handles<Es...>> : std::true_type {};

template <class E>
struct flatten_one {
  static_assert(is_entry<E>::value,
                "nodus::server<Derived, Interface...>: every Interface entry must be "
                "nodus::call<Request, Reply>, nodus::cast<Message>, nodus::info<Message> or "
                "nodus::handles<...>");
  using type = entry_list<E>;
};
template <class... Es>
struct flatten_one<handles<Es...>> {
  using type = typename concat<typename flatten_one<Es>::type...>::type;
};
template <class... Es>
using flatten = typename concat<typename flatten_one<Es>::type...>::type;

// Lookup of a request's reply type in a flat entry list; count detects duplicates.
template <class Request, class List>
struct find_call;
template <class Request>
struct find_call<Request, entry_list<>> {
  static constexpr int count = 0;
  using reply = void;
};
template <class Request, class E, class... Es>
struct find_call<Request, entry_list<E, Es...>> : find_call<Request, entry_list<Es...>> {};
template <class Request, class P, class... Es>
struct find_call<Request, entry_list<call<Request, P>, Es...>> {
  using rest = find_call<Request, entry_list<Es...>>;
  static constexpr int count = 1 + rest::count;
  using reply = P;
};

template <template <class> class Kind, class Message, class List>
struct count_entry;
template <template <class> class Kind, class Message, class... Es>
struct count_entry<Kind, Message, entry_list<Es...>> {
  static constexpr int value = (0 + ... + static_cast<int>(std::is_same_v<Es, Kind<Message>>));
};

template <class T>
inline constexpr bool dependent_false = false;

}  // namespace detail

// handles_call_v<Server, Request>: Server declares call<Request, Reply> for some Reply.
template <class Server, class Request>
inline constexpr bool handles_call_v =
    detail::find_call<Request, typename Server::nodus_interface>::count > 0;
// handles_cast_v<Server, Message>: Server declares cast<Message>.
template <class Server, class Message>
inline constexpr bool handles_cast_v =
    detail::count_entry<cast, Message, typename Server::nodus_interface>::value > 0;
// handles_info_v<Server, Message>: Server declares info<Message>.
template <class Server, class Message>
inline constexpr bool handles_info_v =
    detail::count_entry<info, Message, typename Server::nodus_interface>::value > 0;

namespace detail {

// The checks below fail with a sentence; the compiler's "in instantiation of" line names the
// server and the message as this struct's template arguments.
template <class Server, class Request>
struct server_does_not_declare_call {
  static_assert(
      dependent_false<Server>,
      "nodus: calling a server with a request it does not declare: add "
      "nodus::call<Request, Reply> to the server's interface (Server and Request are the "
      "template arguments of nodus::detail::server_does_not_declare_call<Server, Request>)");
  using reply = void;
};
template <class Server, class Message>
struct server_does_not_declare_cast {
  static_assert(dependent_false<Server>,
                "nodus: casting a message the server does not declare: add nodus::cast<Message> to "
                "the server's interface (Server and Message are the template arguments of "
                "nodus::detail::server_does_not_declare_cast<Server, Message>)");
};
template <class Server, class Message>
struct server_does_not_declare_info {
  static_assert(
      dependent_false<Server>,
      "nodus: sending an info message the server does not declare: add "
      "nodus::info<Message> to the server's interface (Server and Message are the "
      "template arguments of nodus::detail::server_does_not_declare_info<Server, Message>)");
};

template <class Server, class Request, bool Declared = handles_call_v<Server, Request>>
struct checked_call : server_does_not_declare_call<Server, Request> {};
template <class Server, class Request>
struct checked_call<Server, Request, true> {
  using reply = typename find_call<Request, typename Server::nodus_interface>::reply;
};

template <class Server, class Message, bool Declared = handles_cast_v<Server, Message>>
struct checked_cast : server_does_not_declare_cast<Server, Message> {
  static constexpr bool ok = false;
};
template <class Server, class Message>
struct checked_cast<Server, Message, true> {
  static constexpr bool ok = true;
};

template <class Server, class Message, bool Declared = handles_info_v<Server, Message>>
struct checked_info : server_does_not_declare_info<Server, Message> {
  static constexpr bool ok = false;
};
template <class Server, class Message>
struct checked_info<Server, Message, true> {
  static constexpr bool ok = true;
};

}  // namespace detail

// remote_server<"Name", Entries...>: the interface of a server that runs elsewhere only, under
// the registered name Name: a BEAM process (an Erlang gen_server, an Elixir GenServer) as much as
// a nodus server. Calls, casts and sends to it use the same API as to a nodus server type:
//
//   using elixir_ping = nodus::remote_server<"Elixir.SimpleCluster.Ping", nodus::call<ping, pong>>;
//   auto r = node.call<elixir_ping>(nodus::node_name::parse("e1@127.0.0.1").value(), ping{});
//
// To a BEAM node, a call goes out as gen_server:call sends it (a monitor of Name, then
// {'$gen_call', {Pid, Ref}, Request}); its messages are Erlang terms (nodus/codec/etf/typed.hpp).
template <fixed_string Name, class... Entries>
struct remote_server {
  static_assert((detail::is_entry<Entries>::value && ...),
                "nodus::remote_server<Name, Entries...>: each entry must be nodus::call<Request, "
                "Reply>, nodus::cast<Message>, nodus::info<Message> or nodus::handles<...>");
  static constexpr fixed_string name = Name;
  using nodus_interface = detail::flatten<Entries...>;
};

// reply_t<Server, Request>: the reply type of a call; a readable compile error when undeclared.
template <class Server, class Request>
using reply_t = typename detail::checked_call<Server, std::remove_cvref_t<Request>>::reply;

}  // namespace nodus
