// tests/test_util.hpp: helpers shared by the runtime tests.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace spindle::test {

// wait_until polls `pred` from the calling OS thread until it is true or `timeout` passes; returns
// the last value. Used instead of sleeps: tests wait on conditions with a generous deadline.
inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

}  // namespace spindle::test
