// EXPECT-ERROR: server_does_not_declare_call<ping_server, bad_request>
// Calling a server with a request it does not declare names the server and the request.
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
  auto r = node.call<ping_server>(bad_request{});
  (void)r;
}
