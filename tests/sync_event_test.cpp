// spindle::Event: manual-reset semantics, set waking every waiter (fibers on one or several
// workers, OS threads), timeouts, cancellation while blocked, and a randomized stress test of
// repeated set/reset rounds.
#include "spindle/event.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
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
using spindle::Event;
using spindle::JoinHandle;
using spindle::test::kConfigs;
using spindle::test::kScale;
using spindle::test::NamedConfig;
using spindle::test::param_name;
using spindle::test::parked;

class EventTest : public testing::TestWithParam<NamedConfig> {};

TEST(EventBasics, ManualReset) {
  Event e;
  EXPECT_FALSE(e.is_set());
  EXPECT_FALSE(e.wait_for(0ms));
  e.set();
  EXPECT_TRUE(e.is_set());
  e.wait();  // open: returns at once, as often as asked
  e.wait();
  EXPECT_TRUE(e.wait_for(0ms));
  e.set();  // idempotent
  e.reset();
  EXPECT_FALSE(e.is_set());
  EXPECT_FALSE(e.wait_until(Clock::now()));
  Event open(true);
  EXPECT_TRUE(open.is_set());
  EXPECT_TRUE(open.wait_until(std::chrono::system_clock::now() - 1s));
}

// set wakes every current waiter: fibers (on the configuration's workers) and OS threads.
TEST_P(EventTest, SetWakesAllWaiters) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Event e;
  std::atomic<int> woken{0};
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < 10; ++i) {
    hs.push_back(rt.spawn([&] {
      e.wait();
      ++woken;
    }));
  }
  std::vector<std::thread> ts;
  for (int i = 0; i < 2; ++i) {
    ts.emplace_back([&] {
      e.wait();
      ++woken;
    });
  }
  for (auto& h : hs) ASSERT_TRUE(parked(h));
  EXPECT_EQ(woken.load(), 0);
  e.set();
  for (auto& t : ts) t.join();
  for (auto& h : hs) h.join();
  EXPECT_EQ(woken.load(), 12);
}

// A fiber sets the event for threads and fibers; a thread sets it for fibers.
TEST_P(EventTest, FiberSetsForThreadAndBack) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Event to_thread, to_fiber;
  auto h = rt.spawn([&] {
    to_thread.set();
    to_fiber.wait();
    return 1;
  });
  to_thread.wait();
  to_fiber.set();
  EXPECT_EQ(h.join(), 1);
}

// A fiber sets the event for other fibers (on one worker, across workers, migrating).
TEST_P(EventTest, FiberSetsForFibers) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Event e;
  std::vector<JoinHandle<int>> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.push_back(rt.spawn([&, i] {
      e.wait();
      return i;
    }));
  }
  for (auto& h : waiters) ASSERT_TRUE(parked(h));
  auto setter = rt.spawn([&] { e.set(); });
  setter.join();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(waiters[i].join(), i);
}

TEST(EventThreads, ThreadsOnly) {
  Event e;
  std::atomic<int> woken{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) {
    ts.emplace_back([&] {
      e.wait();
      ++woken;
    });
  }
  e.set();
  for (auto& t : ts) t.join();
  EXPECT_EQ(woken.load(), 3);
}

TEST_P(EventTest, Timeouts) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Event e;
  rt.block_on([&] {
    auto t0 = Clock::now();
    EXPECT_FALSE(e.wait_for(20ms));
    EXPECT_GE(Clock::now() - t0, 20ms);
    t0 = Clock::now();
    EXPECT_FALSE(e.wait_until(std::chrono::system_clock::now() + 10ms));
    EXPECT_GE(Clock::now() - t0, 10ms);
  });
  std::thread t([&] {
    const auto t0 = Clock::now();
    EXPECT_FALSE(e.wait_until(Clock::now() + 20ms));
    EXPECT_GE(Clock::now() - t0, 20ms);
  });
  t.join();
  auto h = rt.spawn([&] { return e.wait_for(30s); });
  ASSERT_TRUE(parked(h));
  e.set();
  EXPECT_TRUE(h.join());
}

TEST_P(EventTest, CancelWhileBlocked) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Event e;
  auto victim = rt.spawn([&] { e.wait(); });
  auto timed_victim = rt.spawn([&] { return e.wait_for(1h); });
  auto survivor = rt.spawn([&] {
    e.wait();
    return 2;
  });
  ASSERT_TRUE(parked(victim));
  ASSERT_TRUE(parked(timed_victim));
  ASSERT_TRUE(parked(survivor));
  victim.cancel();
  timed_victim.cancel();
  EXPECT_THROW(victim.join(), Cancelled);
  EXPECT_THROW(timed_victim.join(), Cancelled);
  e.set();
  EXPECT_EQ(survivor.join(), 2);

  // A cancelled fiber waiting on an open event returns (no blocking), on a closed one throws.
  std::atomic<bool> started{false}, go{false};
  auto h = rt.spawn([&] {
    started = true;
    while (!go.load()) spindle::this_fiber::yield();
    e.wait();  // open
    e.reset();
    e.wait();  // closed: throws
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return started.load(); }));
  h.cancel();
  go = true;
  EXPECT_THROW(h.join(), Cancelled);
  EXPECT_FALSE(e.is_set());
}

// Randomized stress: rounds of "waiters (fibers on 4 workers and a thread) wait, possibly with
// short timeouts, then the event is set" with a reset in between; every untimed waiter of a round
// is released by that round's set, and a timed wait returns false only when it really timed out.
TEST(EventStress, RandomizedRounds) {
  for (bool migrate : {false, true}) {
    AsyncRuntime rt({.worker_threads = 4, .migrate_every_switch = migrate});
    const int kRounds = (migrate ? 20 : 100) / kScale;
    std::mt19937 rng(7);
    for (int round = 0; round < kRounds; ++round) {
      auto e = std::make_unique<Event>();
      std::atomic<int> released{0};
      std::vector<JoinHandle<void>> hs;
      const int n = 1 + static_cast<int>(rng() % 12);
      for (int i = 0; i < n; ++i) {
        const unsigned kind = rng() % 3;
        const auto timeout = std::chrono::microseconds(rng() % 300);
        hs.push_back(rt.spawn([&, kind, timeout] {
          if (kind == 0) {
            while (!e->wait_for(timeout)) {
            }
          } else {
            e->wait();
          }
          EXPECT_TRUE(e->is_set());  // nobody resets within the round
          ++released;
        }));
      }
      std::thread t([&] {
        e->wait();
        ++released;
      });
      if (rng() % 2 == 0) {
        e->set();  // from this thread
      } else {
        rt.spawn([&] { e->set(); }).join();  // from a fiber racing with the waiters
      }
      t.join();
      for (auto& h : hs) h.join();
      EXPECT_EQ(released.load(), n + 1);
      e->reset();
      EXPECT_FALSE(e->is_set());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, EventTest, testing::ValuesIn(kConfigs), param_name);

}  // namespace
