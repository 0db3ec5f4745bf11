// Tests of the C shims in sys/.
#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

#include "spindle/sys.h"

TEST(SysTest, MonotonicClockAdvancesAndSleepSleeps) {
  const uint64_t a = spindle_sys_monotonic_time_ns();
  spindle_sys_sleep_ms(5);
  const uint64_t b = spindle_sys_monotonic_time_ns();
  EXPECT_GE(b - a, 5'000'000u);
  spindle_sys_sleep_ms(0);
  EXPECT_GE(spindle_sys_monotonic_time_ns(), b);
}

TEST(SysTest, CpuTimeCountsOnlyThisThreadsWork) {
  const uint64_t start = spindle_sys_cpu_time_ns();
  volatile uint64_t x = 0;
  for (int i = 0; i < 20'000'000; ++i) x = x + static_cast<uint64_t>(i);
  const uint64_t busy = spindle_sys_cpu_time_ns() - start;
  EXPECT_GT(busy, 0u);
  const uint64_t before_sleep = spindle_sys_cpu_time_ns();
  spindle_sys_sleep_ms(20);
  // Sleeping costs (almost) no CPU time, unlike the monotonic clock.
  EXPECT_LT(spindle_sys_cpu_time_ns() - before_sleep, 10'000'000u);
}

TEST(SysTest, CpuCountFollowsAffinityMask) {
  const uint32_t all = spindle_sys_cpu_count();
  EXPECT_GE(all, 1u);
  cpu_set_t old;
  ASSERT_EQ(sched_getaffinity(0, sizeof(old), &old), 0);
  EXPECT_EQ(all, static_cast<uint32_t>(CPU_COUNT(&old)));
  // Restrict a thread to one CPU: it then may use exactly one.
  uint32_t seen = 0;
  std::thread t([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &old)) {
        CPU_SET(c, &one);
        break;
      }
    }
    if (sched_setaffinity(0, sizeof(one), &one) == 0) seen = spindle_sys_cpu_count();
  });
  t.join();
  EXPECT_EQ(seen, 1u);
}

TEST(SysTest, YieldReturns) {
  spindle_sys_yield();
}
