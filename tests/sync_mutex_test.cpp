// spindle::Mutex: mutual exclusion between fibers on one worker, across workers (also in
// migrate_every_switch mode), between fibers and OS threads and between threads only; timeouts,
// cancellation while blocked, the starvation bound, and a randomized stress test.
#include "spindle/mutex.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
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
using spindle::JoinHandle;
using spindle::Mutex;
using spindle::test::kConfigs;
using spindle::test::kScale;
using spindle::test::NamedConfig;
using spindle::test::param_name;
using spindle::test::parked;

class MutexTest : public testing::TestWithParam<NamedConfig> {};

TEST(MutexBasics, SmallAndStandardLockable) {
  EXPECT_LE(sizeof(Mutex), 32u);
  Mutex a, b;
  {
    std::lock_guard<Mutex> g(a);
    EXPECT_FALSE(a.try_lock());
  }
  EXPECT_TRUE(a.try_lock());
  a.unlock();
  {
    std::scoped_lock both(a, b);
    EXPECT_FALSE(a.try_lock());
    EXPECT_FALSE(b.try_lock());
  }
  std::unique_lock<Mutex> lk(a, std::defer_lock);
  EXPECT_TRUE(lk.try_lock_for(1ms));
  lk.unlock();
  EXPECT_TRUE(lk.try_lock_until(Clock::now() + 1ms));
  lk.unlock();
  EXPECT_TRUE(lk.try_lock_until(std::chrono::system_clock::now() + 1ms));
}

// Fibers increment a plain counter under the mutex; some yield while holding it so that others
// really block (park) on it, also on a single worker.
TEST_P(MutexTest, FibersExclude) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Mutex m;
  long counter = 0;
  int inside = 0;
  constexpr int kFibers = 16;
  const int kIters = 400 / kScale;
  std::vector<JoinHandle<void>> hs;
  for (int f = 0; f < kFibers; ++f) {
    hs.push_back(rt.spawn([&, f] {
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard<Mutex> g(m);
        EXPECT_EQ(++inside, 1);
        ++counter;
        if ((i + f) % 7 == 0) spindle::this_fiber::yield();
        --inside;
      }
    }));
  }
  for (auto& h : hs) h.join();
  EXPECT_EQ(counter, long{kFibers} * kIters);
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

// A blocked fiber is woken by an unlock from an OS thread, and the other way round.
TEST_P(MutexTest, FiberAndThread) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Mutex m;
  m.lock();  // held by this thread
  std::atomic<bool> got{false};
  auto h = rt.spawn([&] {
    m.lock();
    got = true;
    m.unlock();
  });
  ASSERT_TRUE(parked(h));
  EXPECT_FALSE(got.load());
  m.unlock();
  h.join();
  EXPECT_TRUE(got.load());

  // A fiber holds it while a thread blocks.
  std::atomic<bool> held{false}, release{false}, tried{false};
  auto holder = rt.spawn([&] {
    m.lock();
    held = true;
    while (!release.load()) spindle::this_fiber::sleep_for(100us);
    m.unlock();
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return held.load(); }));
  std::thread t([&] {
    EXPECT_FALSE(m.try_lock());
    tried = true;
    m.lock();  // blocks until the fiber unlocks
    m.unlock();
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return tried.load(); }));
  release = true;
  t.join();
  holder.join();

  // Mixed contention: fibers and threads increment one counter.
  long counter = 0;
  const int kIters = 2000 / kScale;
  std::vector<JoinHandle<void>> hs;
  for (int f = 0; f < 4; ++f) {
    hs.push_back(rt.spawn([&] {
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard<Mutex> g(m);
        ++counter;
        if (i % 64 == 0) spindle::this_fiber::yield();
      }
    }));
  }
  std::vector<std::thread> ts;
  for (int t2 = 0; t2 < 2; ++t2) {
    ts.emplace_back([&] {
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard<Mutex> g(m);
        ++counter;
      }
    });
  }
  for (auto& th : ts) th.join();
  for (auto& h2 : hs) h2.join();
  EXPECT_EQ(counter, 6L * kIters);
}

TEST(MutexThreads, ThreadsOnly) {
  Mutex m;
  long counter = 0;
  const int kIters = 20000 / kScale;
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < kIters; ++i) {
        std::unique_lock<Mutex> g(m);
        ++counter;
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(counter, 3L * kIters);
}

TEST_P(MutexTest, TimeoutsInFiberAndThread) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Mutex m;
  m.lock();
  auto fiber_result = rt.spawn([&] {
    auto t0 = Clock::now();
    EXPECT_FALSE(m.try_lock_for(20ms));
    EXPECT_GE(Clock::now() - t0, 20ms);
    t0 = Clock::now();
    EXPECT_FALSE(m.try_lock_until(Clock::now() + 10ms));
    EXPECT_GE(Clock::now() - t0, 10ms);
    t0 = Clock::now();
    EXPECT_FALSE(m.try_lock_until(std::chrono::system_clock::now() + 10ms));
    EXPECT_GE(Clock::now() - t0, 10ms);
    EXPECT_FALSE(m.try_lock_for(0ms));
    EXPECT_FALSE(m.try_lock_for(-5ms));
    return true;
  });
  EXPECT_TRUE(fiber_result.join());
  std::thread t([&] {
    const auto t0 = Clock::now();
    EXPECT_FALSE(m.try_lock_for(20ms));
    EXPECT_GE(Clock::now() - t0, 20ms);
  });
  t.join();
  // The timed-out waiters left no trace: an unlock/lock cycle works and a timed lock succeeds.
  m.unlock();
  EXPECT_TRUE(rt.block_on([&] {
    if (!m.try_lock_for(10s)) return false;
    m.unlock();
    return true;
  }));
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

// A timed lock that succeeds after a wait (the holder releases before the deadline).
TEST_P(MutexTest, TimedLockSucceedsWhenReleased) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Mutex m;
  m.lock();
  auto h = rt.spawn([&] {
    const bool ok = m.try_lock_for(30s);
    if (ok) m.unlock();
    return ok;
  });
  ASSERT_TRUE(parked(h));
  m.unlock();
  EXPECT_TRUE(h.join());
}

TEST_P(MutexTest, CancelWhileBlocked) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Mutex m;
  m.lock();
  std::atomic<bool> acquired{false};
  auto victim = rt.spawn([&] {
    m.lock();
    acquired = true;  // never reached
    m.unlock();
  });
  auto timed_victim = rt.spawn([&] { return m.try_lock_for(1h); });
  // A waiter queued behind the victims must still get the mutex afterwards.
  auto survivor = rt.spawn([&] {
    std::lock_guard<Mutex> g(m);
    return 7;
  });
  ASSERT_TRUE(parked(victim));
  ASSERT_TRUE(parked(timed_victim));
  ASSERT_TRUE(parked(survivor));
  victim.cancel();
  timed_victim.cancel();
  EXPECT_THROW(victim.join(), Cancelled);
  EXPECT_THROW(timed_victim.join(), Cancelled);
  EXPECT_FALSE(acquired.load());
  m.unlock();
  EXPECT_EQ(survivor.join(), 7);
  // Consistent afterwards: others can lock it, from fibers and threads.
  EXPECT_TRUE(m.try_lock());
  m.unlock();
  rt.block_on([&] {
    m.lock();
    m.unlock();
  });
}

// Cancellation is checked only when lock would block: a cancelled fiber still takes a free mutex,
// and is refused (Cancelled) on a held one before it ever parks.
TEST_P(MutexTest, CancelledFiberAndFreeOrHeldMutex) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Mutex free_m, held_m;
  held_m.lock();
  std::atomic<bool> started{false}, go{false};
  std::atomic<int> stage{0};
  auto h = rt.spawn([&] {
    started = true;
    while (!go.load()) spindle::this_fiber::yield();  // yield is not a cancellation point
    free_m.lock();                                    // free: acquired despite the cancellation
    stage = 1;
    free_m.unlock();
    EXPECT_TRUE(free_m.try_lock_for(1s));
    free_m.unlock();
    stage = 2;
    held_m.lock();  // would block: throws
    stage = 3;
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return started.load(); }));
  h.cancel();
  go = true;
  EXPECT_THROW(h.join(), Cancelled);
  EXPECT_EQ(stage.load(), 2);
  held_m.unlock();
  EXPECT_TRUE(held_m.try_lock());
  held_m.unlock();
}

// The starvation bound: an OS thread locks and unlocks in a tight loop (always barging); a parked
// fiber still gets the mutex (by direct handoff after losing a few races).
TEST_P(MutexTest, WaiterNotStarvedByBarging) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Mutex m;
  std::atomic<bool> stop{false};
  std::atomic<long> spins{0};
  std::thread hammer([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      m.lock();
      spins.fetch_add(1, std::memory_order_relaxed);
      m.unlock();
    }
  });
  std::vector<JoinHandle<int>> hs;
  for (int i = 0; i < 4; ++i) {
    hs.push_back(rt.spawn([&] {
      int got = 0;
      for (int k = 0; k < 20; ++k) {
        std::lock_guard<Mutex> g(m);
        ++got;
      }
      return got;
    }));
  }
  for (auto& h : hs) EXPECT_EQ(h.join(), 20);
  stop = true;
  hammer.join();
}

// Randomized stress: fibers on 4 workers and 2 OS threads mix lock, try_lock and timed locks on a
// plain counter, sometimes yielding or sleeping inside the critical section.
TEST(MutexStress, RandomizedFibersAndThreads) {
  for (bool migrate : {false, true}) {
    AsyncRuntime rt({.worker_threads = 4, .migrate_every_switch = migrate});
    Mutex m;
    long counter = 0;
    std::atomic<long> expected{0};
    int inside = 0;
    auto body = [&](unsigned seed, int iters, bool fiber) {
      std::mt19937 rng(seed);
      long mine = 0;
      for (int i = 0; i < iters; ++i) {
        const unsigned r = rng() % 16;
        bool locked;
        if (r < 10) {
          m.lock();
          locked = true;
        } else if (r < 13) {
          locked = m.try_lock();
        } else {
          locked = m.try_lock_for(std::chrono::microseconds(rng() % 200));
        }
        if (!locked) continue;
        EXPECT_EQ(++inside, 1);
        ++counter;
        ++mine;
        if (fiber && r == 0) spindle::this_fiber::yield();
        if (fiber && r == 1 && i % 32 == 0) spindle::this_fiber::sleep_for(50us);
        --inside;
        m.unlock();
      }
      expected.fetch_add(mine);
    };
    std::vector<JoinHandle<void>> hs;
    const int kIters = 1500 / kScale;
    for (unsigned f = 0; f < 32; ++f) hs.push_back(rt.spawn([&, f] { body(f, kIters, true); }));
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < 2; ++t) ts.emplace_back([&, t] { body(100 + t, 4 * kIters, false); });
    for (auto& th : ts) th.join();
    for (auto& h : hs) h.join();
    EXPECT_EQ(counter, expected.load());
    EXPECT_GT(counter, 0);
    EXPECT_TRUE(m.try_lock());
    m.unlock();
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, MutexTest, testing::ValuesIn(kConfigs), param_name);

}  // namespace
