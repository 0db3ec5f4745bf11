// Timed joins: JoinHandle::wait_for / wait_until / join_for from fibers (same worker, across
// workers, across runtimes) and from OS threads; timeouts leave the handle joinable; cancellation
// of a fiber waiting in a timed join; a finish racing the timeout loses nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;

class JoinTimeoutTest : public ::testing::TestWithParam<int> {};

TEST_P(JoinTimeoutTest, FiberWaitForTimesOutThenJoins) {
  spindle::AsyncRuntime rt({.worker_threads = static_cast<std::uint32_t>(GetParam())});
  spindle::Event release;
  const int got = rt.block_on([&] {
    auto h = spindle::spawn([&] {
      release.wait();
      return 42;
    });
    EXPECT_FALSE(h.wait_for(0ms));  // a plain check
    EXPECT_FALSE(h.wait_for(5ms));  // times out: the task is still blocked
    EXPECT_THROW(h.join_for(2ms), std::system_error);
    EXPECT_FALSE(h.is_finished());
    release.set();
    EXPECT_TRUE(h.wait_for(30s));
    EXPECT_TRUE(h.wait_for(0ms));  // finished: true even for a zero timeout
    return h.join();               // the timed-out waits left it joinable
  });
  EXPECT_EQ(got, 42);
}

TEST_P(JoinTimeoutTest, JoinForReturnsValueAndRethrows) {
  spindle::AsyncRuntime rt({.worker_threads = static_cast<std::uint32_t>(GetParam())});
  rt.block_on([] {
    auto ok = spindle::spawn([] {
      spindle::this_fiber::sleep_for(1ms);
      return std::string("done");
    });
    EXPECT_EQ(ok.join_for(30s), "done");
    EXPECT_THROW(ok.join_for(1s), std::logic_error);  // already joined
    auto bad = spindle::spawn([]() -> int { throw std::runtime_error("boom"); });
    EXPECT_THROW(bad.join_for(30s), std::runtime_error);
  });
}

TEST(JoinTimeoutTest, TimedOutErrorIsTimedOut) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  spindle::Event release;
  auto h = rt.spawn([&] { release.wait(); });
  try {
    h.join_for(1ms);
    ADD_FAILURE() << "join_for returned";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out);
  }
  release.set();
  h.join();
}

TEST(JoinTimeoutTest, ThreadWaitForTimesOutThenJoins) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  spindle::Event release;
  auto h = rt.spawn([&] {
    release.wait();
    return 7;
  });
  EXPECT_FALSE(h.wait_for(0ms));
  EXPECT_FALSE(h.wait_for(5ms));
  EXPECT_FALSE(h.wait_until(std::chrono::system_clock::now() + 2ms));
  release.set();
  EXPECT_TRUE(h.wait_until(std::chrono::steady_clock::now() + 30s));
  EXPECT_EQ(h.join_for(0ms), 7);
}

TEST(JoinTimeoutTest, CancelledWhileInTimedJoin) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  for (int form = 0; form < 3; ++form) {  // wait_for, wait_until, join_for
    spindle::Event release;
    std::atomic<bool> waiting{false};
    auto child = rt.spawn([&] { release.wait(); });
    auto joiner = rt.spawn([&, form] {
      waiting = true;
      if (form == 0) return child.wait_for(1h);
      if (form == 1) return child.wait_until(std::chrono::steady_clock::now() + 1h);
      child.join_for(1h);
      return true;
    });
    ASSERT_TRUE(spindle::test::wait_until(
        [&] { return waiting.load() && joiner.state() == spindle::TaskState::Waiting; }));
    joiner.cancel();
    EXPECT_THROW(joiner.join(), spindle::Cancelled) << form;  // promptly, not after an hour
    // The cancelled joiner withdrew: another join may wait now.
    release.set();
    EXPECT_TRUE(child.wait_for(30s));
    child.join();
  }
}

TEST(JoinTimeoutTest, AcrossRuntimes) {
  spindle::AsyncRuntime a({.worker_threads = 1});
  spindle::AsyncRuntime b({.worker_threads = 1});
  spindle::Event release;
  auto task = b.spawn([&] {
    release.wait();
    return 3;
  });
  const int got = a.block_on([&] {
    EXPECT_FALSE(task.wait_for(3ms));
    release.set();
    return task.join_for(30s);
  });
  EXPECT_EQ(got, 3);
}

TEST(JoinTimeoutTest, FinishRacingTheTimeoutLosesNothing) {
  // Tasks that finish right around the joiner's deadline: either the wait reports finished, or it
  // timed out and a later join still gets the value. Every value arrives exactly once.
  spindle::AsyncRuntime rt({.worker_threads = 3});
  constexpr int kTasks = 2000;
  const long sum = rt.block_on([] {
    std::vector<spindle::JoinHandle<long>> hs;
    for (long i = 0; i < kTasks; ++i) {
      hs.push_back(spindle::spawn([i] {
        if (i % 3 == 0) spindle::this_fiber::yield();
        if (i % 7 == 0) spindle::this_fiber::sleep_for(std::chrono::microseconds(300));
        return i;
      }));
    }
    long total = 0;
    for (long i = 0; i < kTasks; ++i) {
      const bool finished = hs[i].wait_for(std::chrono::microseconds(i % 400));
      if (finished) {
        EXPECT_TRUE(hs[i].is_finished());
      }
      total += hs[i].join();  // joinable either way
    }
    return total;
  });
  EXPECT_EQ(sum, static_cast<long>(kTasks) * (kTasks - 1) / 2);
}

TEST(JoinTimeoutTest, ThreadJoinRacingFinish) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  long total = 0;
  for (long i = 0; i < 300; ++i) {
    auto h = rt.spawn([i] {
      if (i % 2 == 0) spindle::this_fiber::sleep_for(std::chrono::microseconds(100));
      return i;
    });
    while (!h.wait_for(std::chrono::microseconds(i % 150))) {
    }
    total += h.join();
  }
  EXPECT_EQ(total, 299L * 300 / 2);
}

INSTANTIATE_TEST_SUITE_P(Workers, JoinTimeoutTest, ::testing::Values(1, 3));

}  // namespace
