// Bad AsyncRuntimeConfig values each throw std::invalid_argument naming the field, the value and
// the allowed range; good edge values are accepted.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "spindle/spindle.hpp"
#include "spindle/sys.h"

using namespace std::chrono_literals;
using spindle::AsyncRuntime;
using spindle::AsyncRuntimeConfig;

namespace {

std::string error_of(const AsyncRuntimeConfig& cfg) {
  try {
    AsyncRuntime rt(cfg);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

void expect_error(const AsyncRuntimeConfig& cfg, const std::string& field, const std::string& value,
                  const std::string& range) {
  const std::string msg = error_of(cfg);
  ASSERT_FALSE(msg.empty()) << field << " should have been rejected";
  EXPECT_NE(msg.find("AsyncRuntimeConfig::" + field), std::string::npos) << msg;
  EXPECT_NE(msg.find("= " + value), std::string::npos) << msg;
  EXPECT_NE(msg.find(range), std::string::npos) << msg;
}

TEST(ConfigTest, WorkerThreadsTooMany) {
  AsyncRuntimeConfig cfg;
  cfg.worker_threads = 1025;
  expect_error(cfg, "worker_threads", "1025", "0 (one per CPU) to 1024");
}

TEST(ConfigTest, QueueCapacityZeroOrNotPowerOfTwoOrTooLarge) {
  AsyncRuntimeConfig cfg;
  cfg.queue_capacity = 0;
  expect_error(cfg, "queue_capacity", "0", "power of two in the range 2 to 1048576");
  cfg.queue_capacity = 1;
  expect_error(cfg, "queue_capacity", "1", "power of two");
  cfg.queue_capacity = 1000;
  expect_error(cfg, "queue_capacity", "1000", "power of two");
  cfg.queue_capacity = 1u << 21;
  expect_error(cfg, "queue_capacity", "2097152", "2 to 1048576");
}

TEST(ConfigTest, StackSizeOutOfRange) {
  AsyncRuntimeConfig cfg;
  cfg.max_stack_size = 4096;
  expect_error(cfg, "max_stack_size", "4096", "16384 (16 KiB) to 1073741824 (1 GiB)");
  cfg.max_stack_size = (std::size_t{1} << 30) + 1;
  expect_error(cfg, "max_stack_size", "1073741825", "16384 (16 KiB) to 1073741824 (1 GiB)");
}

TEST(ConfigTest, StackPoolTooLarge) {
  AsyncRuntimeConfig cfg;
  cfg.stack_pool_size = (std::size_t{1} << 20) + 1;
  expect_error(cfg, "stack_pool_size", "1048577", "0 to 1048576");
}

TEST(ConfigTest, PollIntervalOutOfRange) {
  AsyncRuntimeConfig cfg;
  cfg.poll_interval = 0ns;
  expect_error(cfg, "poll_interval", "0ns", "10us to 1s");
  cfg.poll_interval = 2s;
  expect_error(cfg, "poll_interval", "2000000000ns", "10us to 1s");
}

TEST(ConfigTest, RunMainTimeoutsOutOfRange) {
  AsyncRuntimeConfig cfg;
  cfg.cleanup_timeout = -1ns;
  expect_error(cfg, "cleanup_timeout", "-1ns", "0 to 1h");
  cfg.cleanup_timeout = 0ns;
  cfg.shutdown_timeout = -1ns;
  expect_error(cfg, "shutdown_timeout", "-1ns", "0 to 1h");
  cfg.shutdown_timeout = 2h;
  expect_error(cfg, "shutdown_timeout", "7200000000000ns", "0 to 1h");
  cfg.shutdown_timeout = 0ns;
  cfg.drain_timeout = -1ns;
  expect_error(cfg, "drain_timeout", "-1ns", "0 to 1h");
  cfg.drain_timeout = 2h;
  expect_error(cfg, "drain_timeout", "7200000000000ns", "0 to 1h");
}

TEST(ConfigTest, EdgeValuesAccepted) {
  AsyncRuntimeConfig cfg;
  cfg.worker_threads = 1;
  cfg.queue_capacity = 2;
  cfg.max_stack_size = 16 * 1024;
  cfg.stack_pool_size = 0;
  cfg.poll_interval = 10us;
  cfg.enable_work_stealing = false;
  AsyncRuntime rt(cfg);
  // A tiny queue overflows into the global queue constantly: still correct.
  long sum = rt.block_on([] {
    std::vector<spindle::JoinHandle<long>> hs;
    for (long i = 0; i < 1000; ++i) hs.push_back(spindle::spawn([i] { return i; }));
    long s = 0;
    for (auto& h : hs) s += h.join();
    return s;
  });
  EXPECT_EQ(sum, 499500);
  EXPECT_GT(rt.stats().workers[0].overflows, 0u);
}

TEST(ConfigTest, ZeroWorkersMeansCpuCount) {
  AsyncRuntime rt;  // default config
  EXPECT_EQ(rt.config().worker_threads, spindle_sys_cpu_count());
  EXPECT_EQ(rt.stats().worker_threads, spindle_sys_cpu_count());
  EXPECT_EQ(rt.config().queue_capacity, 1024u);
  EXPECT_EQ(rt.config().max_stack_size, 64u * 1024u);
  EXPECT_EQ(rt.config().stack_pool_size, 128u);
  EXPECT_EQ(rt.config().poll_interval, 1ms);
  EXPECT_TRUE(rt.config().enable_work_stealing);
  EXPECT_FALSE(rt.config().debug);
}

TEST(ConfigTest, BadPriorityValueRejected) {
  AsyncRuntime rt;
  try {
    (void)rt.spawn_with_priority([] {}, static_cast<spindle::TaskPriority>(7));
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("priority 7"), std::string::npos) << e.what();
  }
}

}  // namespace
