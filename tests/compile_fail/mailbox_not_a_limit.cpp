// EXPECT-ERROR: static member `mailbox` declares its mailbox bound and must read
// A server whose static `mailbox` is a number, not a nodus::mailbox_limit.
#include <nodus/node.hpp>

struct job {};
struct worker : nodus::server<worker, nodus::cast<job>> {
  static constexpr nodus::fixed_string name = "worker";
  static constexpr int mailbox = 100;
  void handle_cast(const job&) {}
};

int main() {
  nodus::node<> node;
  (void)node.cast<worker>(job{});
}
