// EXPECT-ERROR: declares a limit of 0 messages; a bounded mailbox holds at least 1
// A server whose mailbox bound is 0 messages.
#include <nodus/node.hpp>

struct job {};
struct worker : nodus::server<worker, nodus::cast<job>> {
  static constexpr nodus::fixed_string name = "worker";
  static constexpr nodus::mailbox_limit mailbox{0, nodus::overflow::drop_oldest};
  void handle_cast(const job&) {}
};

int main() {
  nodus::node<> node;
  (void)node.spawn<worker>();
}
