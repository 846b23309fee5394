// EXPECT-ERROR: server_does_not_declare_info<ticker, tock>
// A server timer must carry an info message the server declares.
#include <chrono>

#include <nodus/node.hpp>

struct tick {};
struct tock {};
struct ticker : nodus::server<ticker, nodus::info<tick>> {
  static constexpr nodus::fixed_string name = "ticker";
  void init() { send_after(std::chrono::seconds(1), tock{}); }
  void handle_info(const tick&) {}
};

int main() {
  nodus::node<> node;
  (void)node.spawn<ticker>();
}
