// EXPECT-ERROR: need <nodus/remote.hpp> \(or <nodus/nodus.hpp>\) in this file
// A call to another node from a file that includes <nodus/node.hpp> alone (which declares the
// remote operations but does not define them) is a compile error naming the header, not a link
// error.
#include <nodus/node.hpp>

struct ping {};
struct pong {};
struct ping_server : nodus::server<ping_server, nodus::call<ping, pong>> {
  static constexpr nodus::fixed_string name = "ping";
  pong handle_call(const ping&) { return {}; }
};

int main() {
  nodus::node<> node;
  auto r = node.call<ping_server>(nodus::node_name::parse("b@127.0.0.1").value(), ping{});
  (void)r;
}
