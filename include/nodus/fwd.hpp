// nodus/fwd.hpp: forward declarations of nodus's public types, for headers that only name them.
#pragma once

#include <cstddef>

namespace nodus {

// core/
template <std::size_t N>
struct fixed_string;
class node_name;
enum class errc : int;
class error;
template <class T>
class result;
class logger;

// message/
template <class... Ts>
struct protocol;

// process/
template <class Request, class Reply>
struct call;
template <class Message>
struct cast;
template <class Message>
struct info;
template <class... Entries>
struct handles;
template <class Reply>
class caller;
class timer_ref;
enum class overflow : unsigned char;
struct mailbox_limit;
struct mailbox_counters;
class server_base;
template <class Derived, class... Interface>
class server;
struct one_for_one;
struct one_for_all;
struct rest_for_one;
template <int MaxRestarts, long long PeriodMs>
struct restart_intensity;
template <class Strategy, class... Children>
struct supervisor;
struct wait_if_busy;

// node.hpp
struct options;
struct no_topology;
template <class Topology = no_topology, class Protocol = protocol<>>
class node;

}  // namespace nodus
