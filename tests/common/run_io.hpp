// tests/common/run_io.hpp: bounded waits for tests that drive an asio::io_context on the test's
// own thread: run_until runs it in slices until a condition holds or a bound passes, run_for
// runs it for a while whatever happens. Part of the test support library (tests/common/,
// namespace nodus::test).
#pragma once

#include <asio/io_context.hpp>
#include <chrono>
#include <functional>

#include "wait.hpp"

namespace nodus::test {

// run_until(io, done, timeout) -> done() became true before the timeout; runs io meanwhile.
inline bool run_until(asio::io_context& io, const std::function<bool()>& done,
                      clock_type::duration timeout = step_timeout) {
  const auto deadline = clock_type::now() + timeout;
  while (!done()) {
    if (clock_type::now() >= deadline) return false;
    if (io.stopped()) io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

// run_for(io, d): runs io for about d, whatever happens (to check that nothing happens meanwhile).
inline void run_for(asio::io_context& io, clock_type::duration d) {
  const auto deadline = clock_type::now() + d;
  while (clock_type::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
}

}  // namespace nodus::test
