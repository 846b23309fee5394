// EXPECT-ERROR: server_does_not_declare_cast<ping_server, bad_request>
// Casting a message the server does not declare names the server and the message.
#include <nodus/node.hpp>

struct ping {};
struct pong {};
struct bad_request {};
struct ping_server : nodus::server<ping_server, nodus::call<ping, pong>> {
  static constexpr nodus::fixed_string name = "ping";
  pong handle_call(const ping&) { return {}; }
};

int main() {
  nodus::node<> node;
  (void)node.cast<ping_server>(bad_request{});
}
