// EXPECT-ERROR: missing_call_handler<lazy_server, ping, pong>
// A server that declares call<ping, pong> but has no handle_call for ping.
#include <nodus/node.hpp>

struct ping {};
struct pong {};
struct lazy_server : nodus::server<lazy_server, nodus::call<ping, pong>> {
  static constexpr nodus::fixed_string name = "lazy";
};

int main() {
  nodus::node<> node;
  (void)node.spawn<lazy_server>();
}
