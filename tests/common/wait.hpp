// tests/common/wait.hpp: the clock and the bounded waits of tests and benchmarks: wait_until, a
// poll of a state that nothing announces (another process's, seen from outside), always with a
// bound. Part of the test support library (tests/common/, namespace nodus::test).
#pragma once

#include <chrono>
#include <thread>

namespace nodus::test {

using clock_type = std::chrono::steady_clock;

// The default bound of a single wait of the support library (a command, a server to answer, a
// line of output). A layer with a tighter bound passes its own.
inline constexpr std::chrono::seconds step_timeout{10};

// wait_until(pred, timeout, every) -> pred() became true within timeout, checked every `every`.
// Only for states no callback announces (a child process's listening socket, another process's
// registry seen over the network).
template <class Pred>
bool wait_until(Pred&& pred, clock_type::duration timeout = step_timeout,
                clock_type::duration every = std::chrono::milliseconds(2)) {
  const auto deadline = clock_type::now() + timeout;
  while (!pred()) {
    if (clock_type::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
  return true;
}

}  // namespace nodus::test
