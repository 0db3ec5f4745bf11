// Deadlines: every conversion from a std::chrono duration or time point saturates (any clock, any
// rep including NaN and +-inf, any period), and a timed wait far beyond the timer wheel's levels
// (about 199 days) neither hangs nor spins the runtime (issue 11 items 1 and 2).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <system_error>
#include <vector>

#include "spindle/detail/deadline.hpp"
#include "spindle/spindle.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using spindle::detail::deadline_after;
using spindle::detail::deadline_at;
using spindle::detail::kNoDeadline;
using spindle::detail::now_ns;
using spindle::detail::saturating_ns;

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

template <class D>
void expect_passed(D d, const char* what) {
  const std::uint64_t before = now_ns();
  const std::uint64_t dl = deadline_after(d);
  const std::uint64_t after = now_ns();
  EXPECT_NE(dl, kNoDeadline) << what;
  EXPECT_LE(dl, after) << what;
  EXPECT_GE(dl, before) << what;
}

// passed says whether a deadline computed before this call is over.
bool passed(std::uint64_t deadline) {
  return deadline != kNoDeadline && deadline <= now_ns();
}

template <class D>
void expect_never(D d, const char* what) {
  EXPECT_EQ(deadline_after(d), kNoDeadline) << what;
}

template <class D>
void expect_in(D d, std::int64_t ns, const char* what) {
  const std::uint64_t before = now_ns();
  const std::uint64_t dl = deadline_after(d);
  const std::uint64_t after = now_ns();
  EXPECT_GE(dl, before + static_cast<std::uint64_t>(ns)) << what;
  EXPECT_LE(dl, after + static_cast<std::uint64_t>(ns)) << what;
}

// Every rep and period at the edges of its range.
template <class Rep, class Period>
void check_rep_period(const char* what) {
  using D = std::chrono::duration<Rep, Period>;
  expect_passed(D(0), what);
  expect_passed(D::zero(), what);
  // max() is no deadline when it exceeds 64-bit nanoseconds, else a finite future deadline.
  const long double max_ns = static_cast<long double>(D::max().count()) *
                             std::ratio_divide<Period, std::nano>::num /
                             std::ratio_divide<Period, std::nano>::den;
  if (max_ns >= 9223372036854775807.0L) {
    expect_never(D::max(), what);
  } else {
    const std::uint64_t before = now_ns();
    const std::uint64_t dl = deadline_after(D::max());
    EXPECT_NE(dl, kNoDeadline) << what;
    EXPECT_GE(dl + 1, before + static_cast<std::uint64_t>(max_ns)) << what;
  }
  if constexpr (std::is_signed_v<Rep> || std::is_floating_point_v<Rep>) {
    expect_passed(D(-1), what);
    expect_passed(D::min(), what);
    expect_passed(D(std::numeric_limits<Rep>::lowest()), what);
  }
  if constexpr (std::is_floating_point_v<Rep>) {
    expect_passed(D(std::numeric_limits<Rep>::quiet_NaN()), what);
    expect_passed(D(-std::numeric_limits<Rep>::quiet_NaN()), what);
    expect_passed(D(-std::numeric_limits<Rep>::infinity()), what);
    expect_never(D(std::numeric_limits<Rep>::infinity()), what);
  }
  // One tick is in the future (finer-than-ns periods round up to 1 ns) unless it exceeds the range.
  const std::uint64_t one = deadline_after(D(1));
  EXPECT_GT(one, now_ns() - 1000000000ull) << what;
}

TEST(DeadlineTest, EveryRepAndPeriodSaturates) {
  check_rep_period<std::int64_t, std::nano>("ns");
  check_rep_period<std::int64_t, std::micro>("us");
  check_rep_period<std::int64_t, std::milli>("ms");
  check_rep_period<std::int64_t, std::ratio<1>>("s");
  check_rep_period<std::int64_t, std::ratio<3600>>("h");
  check_rep_period<int, std::ratio<86400 * 365>>("int years");
  check_rep_period<std::int8_t, std::ratio<1>>("int8 s");
  check_rep_period<std::int16_t, std::milli>("int16 ms");
  check_rep_period<std::uint32_t, std::ratio<1>>("uint32 s");
  check_rep_period<std::uint64_t, std::nano>("uint64 ns");
  check_rep_period<std::uint64_t, std::ratio<1>>("uint64 s");
  check_rep_period<std::int64_t, std::ratio<1, 3>>("1/3 s");
  check_rep_period<std::int64_t, std::ratio<1000000007, 3>>("odd ratio");
  check_rep_period<std::int64_t, std::pico>("ps");
  check_rep_period<std::int64_t, std::atto>("as");
  check_rep_period<float, std::ratio<1>>("float s");
  check_rep_period<double, std::ratio<1>>("double s");
  check_rep_period<double, std::nano>("double ns");
  check_rep_period<long double, std::ratio<3600>>("long double h");
  check_rep_period<double, std::atto>("double as");
}

TEST(DeadlineTest, SaturatingNsValues) {
  EXPECT_EQ(saturating_ns(std::chrono::nanoseconds::max()).ns, kMax);
  EXPECT_EQ(saturating_ns(std::chrono::nanoseconds::min()).ns, kMin);
  EXPECT_EQ(saturating_ns(std::chrono::hours::max()).ns, kMax);
  EXPECT_EQ(saturating_ns(std::chrono::hours::min()).ns, kMin);
  EXPECT_EQ(saturating_ns(std::chrono::seconds(3)).ns, 3000000000);
  EXPECT_EQ(saturating_ns(std::chrono::seconds(-3)).ns, -3000000000);
  EXPECT_EQ(saturating_ns(std::chrono::duration<std::int64_t, std::pico>(1)).ns, 1);  // rounded up
  EXPECT_EQ(saturating_ns(std::chrono::duration<std::int64_t, std::pico>(1500)).ns, 2);
  EXPECT_EQ(saturating_ns(std::chrono::duration<double>(1.5)).ns, 1500000000);
  EXPECT_EQ(saturating_ns(std::chrono::duration<double>(1e300)).ns, kMax);
  EXPECT_TRUE(saturating_ns(std::chrono::duration<double>(std::nan(""))).nan);
  // 9223372036 s fits, 9223372037 s does not.
  EXPECT_EQ(saturating_ns(std::chrono::seconds(9223372036)).ns, 9223372036000000000);
  EXPECT_EQ(saturating_ns(std::chrono::seconds(9223372037)).ns, kMax);
  // Integer periods with a remainder: a value that would overflow duration_cast's intermediate.
  using Third = std::chrono::duration<std::int64_t, std::ratio<1, 3>>;
  EXPECT_EQ(saturating_ns(Third(30000000000)).ns, kMax);  // 1e19 ns
  EXPECT_EQ(saturating_ns(Third(3)).ns, 1000000000);
}

TEST(DeadlineTest, RelativeValues) {
  expect_in(1s, 1000000000, "1s");
  expect_in(std::chrono::duration<double, std::milli>(2.5), 2500000, "2.5ms");
  expect_never(std::chrono::nanoseconds::max(), "ns::max is no deadline, not now + 292 years");
  expect_never(std::chrono::hours(24 * 365 * 300), "300 years");
  expect_in(std::chrono::hours(24 * 365), 24ll * 365 * 3600 * 1000000000, "1 year");
}

TEST(DeadlineTest, TimePointsOfAnyClock) {
  using Sys = std::chrono::system_clock;
  using Steady = std::chrono::steady_clock;
  // min() has passed; max() is no deadline; both for every clock and representation.
  EXPECT_TRUE(passed(deadline_at(Sys::time_point::min())));
  EXPECT_EQ(deadline_at(Sys::time_point::max()), kNoDeadline);
  EXPECT_TRUE(passed(deadline_at(Steady::time_point::min())));
  EXPECT_EQ(deadline_at(Steady::time_point::max()), kNoDeadline);
  using SysHours = std::chrono::time_point<Sys, std::chrono::hours>;
  EXPECT_TRUE(passed(deadline_at(SysHours::min())));
  EXPECT_EQ(deadline_at(SysHours::max()), kNoDeadline);
  EXPECT_EQ(deadline_at(SysHours(std::chrono::hours::max() - std::chrono::hours(1))), kNoDeadline);
  EXPECT_TRUE(passed(deadline_at(SysHours(std::chrono::hours::min() + std::chrono::hours(1)))));
  using SteadyHours = std::chrono::time_point<Steady, std::chrono::hours>;
  EXPECT_EQ(deadline_at(SteadyHours(std::chrono::hours::max() / 2)), kNoDeadline);
  EXPECT_TRUE(passed(deadline_at(SteadyHours(std::chrono::hours::min() / 2))));
  using SysDouble = std::chrono::time_point<Sys, std::chrono::duration<double>>;
  EXPECT_TRUE(passed(deadline_at(SysDouble(std::chrono::duration<double>(std::nan(""))))));
  EXPECT_EQ(deadline_at(SysDouble(std::chrono::duration<double>(HUGE_VAL))), kNoDeadline);
  EXPECT_TRUE(passed(deadline_at(SysDouble(std::chrono::duration<double>(-HUGE_VAL)))));
  // An ordinary system_clock deadline lands within the clocks' reading gap of steady's.
  const std::uint64_t before = now_ns();
  const std::uint64_t dl = deadline_at(Sys::now() + 2s);
  EXPECT_GE(dl + 1000000, before + 2000000000);  // 1 ms of slack for the two clock reads
  EXPECT_LE(dl, now_ns() + 2000000000);
  // Durations of other reps: the net layer's message figure saturates too.
  EXPECT_EQ(spindle::net::detail::timeout_ns(std::chrono::duration<double>(std::nan(""))), 0);
  EXPECT_EQ(spindle::net::detail::timeout_ns(std::chrono::hours::max()), kMax);
  EXPECT_EQ(spindle::net::detail::timeout_ns(-5s), 0);
}

// The calls themselves, in a fiber and from a plain thread: past deadlines of any form time out at
// once; NaN sleeps return at once; +inf sleeps until cancelled.
TEST(DeadlineTest, ApiCallsWithEdgeDeadlines) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  spindle::Event never;
  auto check = [&] {
    EXPECT_FALSE(never.wait_until(std::chrono::system_clock::time_point::min()));
    EXPECT_FALSE(never.wait_until(std::chrono::steady_clock::time_point::min()));
    EXPECT_FALSE(never.wait_for(std::chrono::duration<double>(std::nan(""))));
    EXPECT_FALSE(never.wait_for(std::chrono::hours::min()));
    spindle::this_fiber::sleep_for(std::chrono::duration<double>(std::nan("")));
    spindle::this_fiber::sleep_for(std::chrono::duration<float>(-INFINITY));
    spindle::this_fiber::sleep_for(std::chrono::nanoseconds::min());
    spindle::Channel<int> ch(1);
    EXPECT_EQ(ch.recv_until(std::chrono::system_clock::time_point::min()).error(),
              spindle::ChannelError::Timeout);
  };
  rt.block_on(check);
  check();  // from this plain thread
  rt.block_on([] {
    auto sleeper = spindle::spawn(
        [] { spindle::this_fiber::sleep_for(std::chrono::duration<double>(INFINITY)); });
    spindle::this_fiber::sleep_for(2ms);
    EXPECT_FALSE(sleeper.is_finished());
    sleeper.cancel();
    EXPECT_THROW(sleeper.join(), spindle::Cancelled);
  });
}

// Issue 11 item 1: once the runtime has run a moment, a timed wait longer than the wheel's levels
// (64^6 ticks of 250 us, about 199 days) hung every worker at 100% CPU. Each far wait must leave
// timers working (a probe fiber's short sleeps complete) and end by cancellation.
void far_waits_leave_the_runtime_working(std::uint32_t workers) {
  spindle::AsyncRuntime rt({.worker_threads = workers});
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    if (!spindle::test::wait_until([&] { return done.load(); }, 60s)) {
      std::fprintf(stderr, "deadline_test: runtime hung with far timed waits (%u workers)\n",
                   workers);
      std::_Exit(1);  // a hang becomes a failure, not a CI timeout
    }
  });
  rt.block_on([] {
    spindle::this_fiber::sleep_for(5ms);  // the wheel's time is past 0
    const auto year = std::chrono::hours(24 * 365);
    spindle::Event never;
    spindle::Channel<int> ch(1);
    auto blocked = spindle::spawn([&] { never.wait(); });
    auto blocked2 = spindle::spawn([&] { never.wait(); });
    std::vector<spindle::JoinHandle<void>> far;
    far.push_back(spindle::spawn([=] { spindle::this_fiber::sleep_for(year); }));
    far.push_back(spindle::spawn([] { spindle::this_fiber::sleep_for(17'500'000s); }));
    far.push_back(spindle::spawn([] { spindle::this_fiber::sleep_for(17'000'000s); }));
    far.push_back(spindle::spawn([&] {
      EXPECT_EQ(ch.recv_for(year).error(), spindle::ChannelError::Cancelled);
      throw spindle::Cancelled{};  // the channel reports cancellation as a result, not a throw
    }));
    far.push_back(spindle::spawn([&] { (void)never.wait_for(year); }));
    far.push_back(spindle::spawn([&, year] { (void)blocked.wait_for(year); }));
    far.push_back(
        spindle::spawn([&] { (void)blocked2.wait_for(std::chrono::nanoseconds::max()); }));
    far.push_back(spindle::spawn([&] {
      (void)never.wait_until(std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 100));
    }));
    // The probe: timers keep firing while the far entries are pending.
    for (int i = 0; i < 20; ++i) spindle::this_fiber::sleep_for(1ms);
    for (auto& h : far) EXPECT_FALSE(h.is_finished());
    for (auto& h : far) h.cancel();
    for (auto& h : far) EXPECT_THROW(h.join(), spindle::Cancelled);
    for (auto* b : {&blocked, &blocked2}) {
      b->cancel();
      EXPECT_THROW(b->join(), spindle::Cancelled);
    }
  });
  done = true;
  watchdog.join();
}

TEST(DeadlineTest, FarTimedWaitsDoNotHangOneWorker) {
  far_waits_leave_the_runtime_working(1);
}

TEST(DeadlineTest, FarTimedWaitsDoNotHangTwoWorkers) {
  far_waits_leave_the_runtime_working(2);
}

}  // namespace
