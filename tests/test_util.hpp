// tests/test_util.hpp: helpers shared by the runtime tests (waiting on conditions, sanitizer
// scaling, the runtime configurations the parameterized tests run under, waiting for a fiber to
// park).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "spindle/spindle.hpp"

namespace spindle::test {

// kSanitized says whether this is a ThreadSanitizer or AddressSanitizer build.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// kScale divides loop counts: sanitizers are slow, so smaller loops, same coverage.
inline constexpr int kScale = kSanitized ? 4 : 1;

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

// parked waits (generously) until the fiber of handle `h` is parked in a blocking call.
template <class H>
bool parked(const H& h, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  return wait_until([&] { return h.state() == spindle::TaskState::Waiting; }, timeout);
}

// wait_parked asserts that the fiber of `h` parks (it then is blocked in the operation under test).
template <class H>
void wait_parked(const H& h) {
  ASSERT_TRUE(parked(h, std::chrono::seconds(30)));
}

// workers returns a runtime configuration with `n` worker threads (and work stealing on or off).
inline AsyncRuntimeConfig workers(std::uint32_t n, bool stealing = true) {
  AsyncRuntimeConfig cfg;
  cfg.worker_threads = n;
  cfg.enable_work_stealing = stealing;
  return cfg;
}

// NamedConfig is a runtime configuration with the name its test instances carry.
struct NamedConfig {
  const char* name;
  AsyncRuntimeConfig cfg;
};

// kConfigs are the configurations the sync primitive tests run under: one worker, several,
// several in migrate_every_switch mode, and the current-thread flavor (driven by a TestRuntime's
// thread).
inline const NamedConfig kConfigs[] = {
    {"OneWorker", {.worker_threads = 1}},
    {"ThreeWorkers", {.worker_threads = 3}},
    {"Migrating", {.worker_threads = 3, .migrate_every_switch = true}},
    {"CurrentThread", {.flavor = RuntimeFlavor::CurrentThread}},
};

// TestRuntime is the runtime the parameterized sync, channel, oneshot, select and TCP tests build:
// an AsyncRuntime and, in the current-thread flavor, a thread that drives it for the whole test
// (block_on of a fiber that waits until the TestRuntime is destroyed or shut down). The test thread
// then polls fibers (parked) and joins them as with worker threads: a join waits for the driver
// role or for its task, which ends in the driver's turn. (Driving from the test thread itself is
// covered by current_thread_test.cpp.)
class TestRuntime : public AsyncRuntime {
 public:
  explicit TestRuntime(const AsyncRuntimeConfig& cfg) : AsyncRuntime(cfg) {
    if (cfg.flavor == RuntimeFlavor::CurrentThread) {
      driver_ = std::thread([this] { block_on([this] { stop_.wait(); }); });
    }
  }
  ~TestRuntime() { stop_driver(); }
  TestRuntime(const TestRuntime&) = delete;
  TestRuntime& operator=(const TestRuntime&) = delete;
  // shutdown stops the driver thread, then shuts down (driving the rest on the calling thread).
  void shutdown() {
    stop_driver();
    AsyncRuntime::shutdown();
  }

 private:
  void stop_driver() {
    if (!driver_.joinable()) return;
    stop_.set();
    driver_.join();
  }
  Event stop_;
  std::thread driver_;
};

// RtCase is a named runtime configuration whose `div` divides loop counts: in migrate mode every
// wake-up crosses threads, which is slow.
struct RtCase {
  const char* name;
  AsyncRuntimeConfig cfg;
  int div;
};

// kRtCases are the configurations the cross-worker channel, oneshot and select tests run under
// (the current-thread flavor driven by a TestRuntime's thread).
inline const RtCase kRtCases[] = {
    {"OneWorker", {.worker_threads = 1}, 1},
    {"TwoWorkers", {.worker_threads = 2}, 1},
    {"FourWorkers", {.worker_threads = 4}, 1},
    {"ThreeWorkersMigrating", {.worker_threads = 3, .migrate_every_switch = true}, 20},
    {"CurrentThread", {.flavor = RuntimeFlavor::CurrentThread}, 1},
};

// RtTest is the fixture of tests parameterized by an RtCase.
class RtTest : public ::testing::TestWithParam<RtCase> {
 protected:
  // n scales a loop count for the sanitizer and the runtime configuration.
  static int n(int base) { return std::max(1, base / kScale / GetParam().div); }
};

// param_name names a test instance after its parameter's `name` (INSTANTIATE_TEST_SUITE_P).
inline constexpr auto param_name = [](const auto& info) { return std::string(info.param.name); };

// worker_count_name names a case parameterised by a worker count: "w1", "w2", ... Built by
// appending to a named string: GCC 12 at -O3 reports a false -Wrestrict overlap inside
// `"w" + std::to_string(n)` (operator+(const char*, string&&) inlines an insert at position 0).
inline std::string worker_count_name(const ::testing::TestParamInfo<std::uint32_t>& info) {
  std::string name = "w";
  name += std::to_string(info.param);
  return name;
}

}  // namespace spindle::test
