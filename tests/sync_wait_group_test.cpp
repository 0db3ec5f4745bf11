// spindle::WaitGroup: add/done/wait between fibers on one or several workers, fibers and OS
// threads, threads only; the counter going negative (std::invalid_argument) or overflowing;
// timeouts; cancellation while blocked (the counter is untouched); and a randomized stress test of
// many rounds.
#include "spindle/wait_group.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using spindle::AsyncRuntime;
using spindle::Cancelled;
using spindle::JoinHandle;
using spindle::WaitGroup;
using spindle::test::kConfigs;
using spindle::test::kScale;
using spindle::test::NamedConfig;
using spindle::test::param_name;
using spindle::test::parked;

class WaitGroupTest : public testing::TestWithParam<NamedConfig> {};

TEST(WaitGroupBasics, CounterAndErrors) {
  WaitGroup wg;
  EXPECT_EQ(wg.count(), 0);
  wg.wait();  // zero: returns at once
  EXPECT_TRUE(wg.wait_for(0ms));
  wg.add(2);
  EXPECT_EQ(wg.count(), 2);
  EXPECT_FALSE(wg.wait_for(0ms));
  wg.done();
  wg.done();
  EXPECT_EQ(wg.count(), 0);
  try {
    wg.done();
    ADD_FAILURE() << "done() below zero did not throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("counter"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("negative"), std::string::npos) << e.what();
  }
  EXPECT_EQ(wg.count(), 0);  // unchanged
  EXPECT_THROW(wg.add(-5), std::invalid_argument);
  wg.add(INT64_MAX);
  EXPECT_THROW(wg.add(1), std::invalid_argument);
  EXPECT_EQ(wg.count(), INT64_MAX);
  wg.add(-INT64_MAX);
  EXPECT_EQ(wg.count(), 0);
  wg.add(0);
  EXPECT_TRUE(wg.wait_until(std::chrono::system_clock::now()));
}

// Go's pattern: add before spawning, done in each fiber, wait in a fiber and in a thread.
TEST_P(WaitGroupTest, FibersDoneWaitersWake) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  WaitGroup wg;
  std::atomic<int> finished{0};
  constexpr int kWorkers = 20;
  wg.add(kWorkers);
  auto waiter = rt.spawn([&] {
    wg.wait();
    return finished.load();
  });
  std::atomic<int> thread_saw{-1};
  std::thread tw([&] {
    wg.wait();
    thread_saw = finished.load();
  });
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < kWorkers; ++i) {
    hs.push_back(rt.spawn([&, i] {
      if (i % 3 == 0) spindle::this_fiber::yield();
      ++finished;
      wg.done();
    }));
  }
  EXPECT_EQ(waiter.join(), kWorkers);  // wait returned only after every done()
  tw.join();
  EXPECT_EQ(thread_saw.load(), kWorkers);
  for (auto& h : hs) h.join();
  EXPECT_EQ(wg.count(), 0);
}

// Threads do the work, a fiber waits; then fibers do the work and a thread waits.
TEST_P(WaitGroupTest, FiberAndThread) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  WaitGroup wg;
  wg.add(2);
  auto waiter = rt.spawn([&] { wg.wait(); });
  ASSERT_TRUE(parked(waiter));
  std::thread a([&] { wg.done(); });
  std::thread b([&] { wg.done(); });
  a.join();
  b.join();
  waiter.join();

  wg.add(3);
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < 3; ++i) hs.push_back(rt.spawn([&] { wg.done(); }));
  wg.wait();
  EXPECT_EQ(wg.count(), 0);
  for (auto& h : hs) h.join();
}

TEST(WaitGroupThreads, ThreadsOnly) {
  WaitGroup wg;
  std::atomic<int> n{0};
  wg.add(4);
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&] {
      ++n;
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(n.load(), 4);
  for (auto& t : ts) t.join();
}

TEST_P(WaitGroupTest, Timeouts) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  WaitGroup wg;
  wg.add(1);
  rt.block_on([&] {
    auto t0 = Clock::now();
    EXPECT_FALSE(wg.wait_for(20ms));
    EXPECT_GE(Clock::now() - t0, 20ms);
    t0 = Clock::now();
    EXPECT_FALSE(wg.wait_until(std::chrono::system_clock::now() + 10ms));
    EXPECT_GE(Clock::now() - t0, 10ms);
  });
  std::thread t([&] {
    const auto t0 = Clock::now();
    EXPECT_FALSE(wg.wait_until(Clock::now() + 20ms));
    EXPECT_GE(Clock::now() - t0, 20ms);
  });
  t.join();
  auto h = rt.spawn([&] { return wg.wait_for(30s); });
  ASSERT_TRUE(parked(h));
  wg.done();
  EXPECT_TRUE(h.join());
}

TEST_P(WaitGroupTest, CancelWhileBlocked) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  WaitGroup wg;
  wg.add(1);
  auto victim = rt.spawn([&] { wg.wait(); });
  auto timed_victim = rt.spawn([&] { return wg.wait_for(1h); });
  auto survivor = rt.spawn([&] {
    wg.wait();
    return 4;
  });
  ASSERT_TRUE(parked(victim));
  ASSERT_TRUE(parked(timed_victim));
  ASSERT_TRUE(parked(survivor));
  victim.cancel();
  timed_victim.cancel();
  EXPECT_THROW(victim.join(), Cancelled);
  EXPECT_THROW(timed_victim.join(), Cancelled);
  EXPECT_EQ(wg.count(), 1);  // cancellation never touches the counter
  wg.done();
  EXPECT_EQ(survivor.join(), 4);

  // A cancelled fiber's wait on a zero counter returns; on a non-zero one it throws.
  std::atomic<bool> started{false}, go{false};
  auto h = rt.spawn([&] {
    started = true;
    while (!go.load()) spindle::this_fiber::yield();
    wg.wait();  // zero
    wg.add(1);
    wg.wait();  // would block: throws
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return started.load(); }));
  h.cancel();
  go = true;
  EXPECT_THROW(h.join(), Cancelled);
  EXPECT_EQ(wg.count(), 1);
  wg.done();
}

// Randomized stress: rounds where a random number of fibers (4 workers) and threads each do a
// random number of add/done pairs under an outer add; waiters (fibers, with and without timeouts,
// and a thread) see every piece of the round finished when they return.
TEST(WaitGroupStress, RandomizedRounds) {
  for (bool migrate : {false, true}) {
    AsyncRuntime rt({.worker_threads = 4, .migrate_every_switch = migrate});
    std::mt19937 rng(11);
    const int kRounds = (migrate ? 20 : 100) / kScale;
    for (int round = 0; round < kRounds; ++round) {
      WaitGroup wg;
      std::atomic<int> pieces_done{0};
      const int pieces = 1 + static_cast<int>(rng() % 16);
      wg.add(pieces);
      std::vector<JoinHandle<void>> waiters;
      for (int w = 0; w < 3; ++w) {
        const bool timed = w == 0;
        waiters.push_back(rt.spawn([&, timed] {
          if (timed) {
            while (!wg.wait_for(std::chrono::microseconds(100))) {
            }
          } else {
            wg.wait();
          }
          EXPECT_EQ(pieces_done.load(), pieces);
        }));
      }
      std::vector<JoinHandle<void>> workers;
      std::vector<std::thread> threads;
      for (int p = 0; p < pieces; ++p) {
        const unsigned extra = rng() % 4;
        auto piece = [&, extra] {
          for (unsigned k = 0; k < extra; ++k) wg.add(1);  // nested work, finished below
          for (unsigned k = 0; k < extra; ++k) wg.done();
          ++pieces_done;
          wg.done();
        };
        if (p % 5 == 4) {
          threads.emplace_back(piece);
        } else {
          workers.push_back(rt.spawn(piece));
        }
      }
      wg.wait();
      EXPECT_EQ(pieces_done.load(), pieces);
      for (auto& t : threads) t.join();
      for (auto& h : workers) h.join();
      for (auto& h : waiters) h.join();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, WaitGroupTest, testing::ValuesIn(kConfigs), param_name);

}  // namespace
