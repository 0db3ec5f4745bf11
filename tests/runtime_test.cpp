// Tests of the AsyncRuntime API: spawn, join, block_on, cancel, detach, shutdown, this_fiber,
// stats, each from fibers and from plain threads, with 1 and N workers.
#include <gtest/gtest.h>

#include <time.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;
using spindle::AsyncRuntime;
using spindle::AsyncRuntimeConfig;
using spindle::JoinHandle;
using spindle::TaskPriority;
using spindle::TaskState;
using spindle::test::workers;

namespace {

class RuntimeTest : public ::testing::TestWithParam<std::uint32_t> {
 protected:
  AsyncRuntime rt{workers(GetParam())};
};

INSTANTIATE_TEST_SUITE_P(Workers, RuntimeTest, ::testing::Values(1u, 2u, 4u),
                         spindle::test::worker_count_name);

TEST_P(RuntimeTest, BlockOnReturnsValue) {
  EXPECT_EQ(rt.block_on([] { return 42; }), 42);
}

TEST_P(RuntimeTest, BlockOnVoidAndMoveOnly) {
  std::atomic<bool> ran{false};
  rt.block_on([&] { ran = true; });
  EXPECT_TRUE(ran);
  auto p = rt.block_on([] { return std::make_unique<int>(7); });
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 7);
}

TEST_P(RuntimeTest, BlockOnRethrows) {
  EXPECT_THROW(rt.block_on([]() -> int { throw std::runtime_error("boom"); }), std::runtime_error);
}

TEST_P(RuntimeTest, JoinFromThreadValueVoidException) {
  auto a = rt.spawn([] { return std::string("hello"); });
  auto b = rt.spawn([] {});
  auto c = rt.spawn([]() -> int { throw std::out_of_range("range"); });
  EXPECT_EQ(a.join(), "hello");
  EXPECT_EQ(a.state(), TaskState::Completed);
  b.join();
  EXPECT_TRUE(b.is_finished());
  EXPECT_THROW(c.join(), std::out_of_range);
  EXPECT_EQ(c.state(), TaskState::Failed);
}

TEST_P(RuntimeTest, JoinFromFiberValueVoidException) {
  rt.block_on([] {
    auto a = spindle::spawn([] { return 5; });
    auto b = spindle::spawn([] { spindle::this_fiber::yield(); });
    auto c = spindle::spawn([]() -> int { throw std::logic_error("bad"); });
    EXPECT_EQ(a.join(), 5);
    b.join();
    EXPECT_EQ(b.state(), TaskState::Completed);
    EXPECT_THROW(c.join(), std::logic_error);
    EXPECT_EQ(c.state(), TaskState::Failed);
  });
}

TEST_P(RuntimeTest, JoinTwiceAndEmptyHandleThrowLogicError) {
  auto h = rt.spawn([] { return 1; });
  EXPECT_EQ(h.join(), 1);
  EXPECT_THROW(h.join(), std::logic_error);
  JoinHandle<int> empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_THROW(empty.join(), std::logic_error);
  EXPECT_THROW(empty.cancel(), std::logic_error);
  EXPECT_THROW((void)empty.state(), std::logic_error);
  JoinHandle<int> moved = std::move(h);
  EXPECT_TRUE(moved.valid());
  EXPECT_FALSE(h.valid());  // NOLINT(bugprone-use-after-move): moved-from handles are empty
}

TEST_P(RuntimeTest, CancelSleepingFiberFromThread) {
  std::atomic<bool> sleeping{false};
  std::atomic<bool> after{false};
  auto h = rt.spawn([&] {
    sleeping = true;
    spindle::this_fiber::sleep_for(1h);
    after = true;
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return h.state() == TaskState::Waiting; }));
  h.cancel();
  EXPECT_THROW(h.join(), spindle::Cancelled);
  EXPECT_EQ(h.state(), TaskState::Cancelled);
  EXPECT_FALSE(after);
  EXPECT_EQ(rt.stats().cancelled_tasks, 1u);
}

TEST_P(RuntimeTest, CancelFromFiberAndBeforeStart) {
  rt.block_on([] {
    auto sleeper = spindle::spawn([] { spindle::this_fiber::sleep_for(1h); });
    spindle::this_fiber::sleep_for(1ms);
    sleeper.cancel();
    EXPECT_THROW(sleeper.join(), spindle::Cancelled);
  });
  // A task cancelled before it starts never runs.
  std::atomic<bool> gate{false};
  std::atomic<bool> ran{false};
  AsyncRuntime one{workers(1)};
  auto blocker = one.spawn([&] {
    while (!gate) spindle::this_fiber::yield();
  });
  auto victim = one.spawn([&] { ran = true; });
  victim.cancel();
  gate = true;
  blocker.join();
  EXPECT_THROW(victim.join(), spindle::Cancelled);
  EXPECT_FALSE(ran);
  EXPECT_EQ(victim.state(), TaskState::Cancelled);
}

TEST_P(RuntimeTest, CancelledTaskCanCatchAndReturn) {
  auto h = rt.spawn([] {
    try {
      spindle::this_fiber::sleep_for(1h);
    } catch (const spindle::Cancelled&) {
      return std::string("cleaned up");
    }
    return std::string("slept");
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return h.state() == TaskState::Waiting; }));
  h.cancel();
  EXPECT_EQ(h.join(), "cleaned up");
  EXPECT_EQ(h.state(), TaskState::Completed);
}

TEST_P(RuntimeTest, IsCancelledPollingForCpuBoundFibers) {
  std::atomic<bool> started{false};
  auto h = rt.spawn([&] {
    started = true;
    std::uint64_t spins = 0;
    while (!spindle::this_fiber::is_cancelled()) {
      ++spins;
      spindle::this_fiber::yield();
    }
    return spins;
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return started.load(); }));
  h.cancel();
  EXPECT_GE(h.join(), 0u);  // returned normally after observing the flag
}

TEST_P(RuntimeTest, JoinIsACancellationPointForTheJoiner) {
  auto outer = rt.spawn([] {
    auto inner = spindle::spawn([] { spindle::this_fiber::sleep_for(1h); });
    try {
      inner.join();
    } catch (const spindle::Cancelled&) {
      inner.cancel();  // the joiner was cancelled; the inner task is still joinable
      EXPECT_THROW(inner.join(), spindle::Cancelled);
      throw;
    }
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return outer.state() == TaskState::Waiting; }));
  outer.cancel();
  EXPECT_THROW(outer.join(), spindle::Cancelled);
}

TEST_P(RuntimeTest, DetachedTaskIsNeverCancelled) {
  std::atomic<int> stage{0};
  {
    auto h = rt.spawn([&] {
      stage = 1;
      spindle::this_fiber::sleep_for(5ms);
      stage = 2;  // still reached: dropping the handle did not cancel
    });
    ASSERT_TRUE(spindle::test::wait_until([&] { return stage.load() == 1; }));
  }  // handle dropped here
  ASSERT_TRUE(spindle::test::wait_until([&] { return stage.load() == 2; }));
  auto h2 = rt.spawn([] {});
  h2.detach();
  EXPECT_FALSE(h2.valid());
  ASSERT_TRUE(spindle::test::wait_until([&] { return rt.stats().active_tasks == 0; }));
  EXPECT_EQ(rt.stats().cancelled_tasks, 0u);
}

TEST_P(RuntimeTest, SpawnFromInsideFibersNested) {
  long total = rt.block_on([] {
    std::vector<JoinHandle<long>> hs;
    for (long i = 0; i < 100; ++i) {
      hs.push_back(spindle::spawn([i] {
        auto inner = spindle::spawn_with_priority([i] { return i * 2; }, TaskPriority::High);
        return inner.join() + 1;
      }));
    }
    long sum = 0;
    for (auto& h : hs) sum += h.join();
    return sum;
  });
  EXPECT_EQ(total, 2 * 4950 + 100);
}

TEST_P(RuntimeTest, ThisFiberInsideAFiber) {
  rt.block_on([] {
    EXPECT_TRUE(spindle::this_fiber::in_fiber());
    EXPECT_TRUE(spindle::this_fiber::id().valid());
    EXPECT_EQ(spindle::this_fiber::id(), spindle::current_task_id());
    EXPECT_EQ(spindle::this_fiber::priority(), TaskPriority::Normal);
    EXPECT_FALSE(spindle::this_fiber::is_cancelled());
    spindle::this_fiber::set_name("worker-fiber");
    auto before = std::chrono::steady_clock::now();
    spindle::this_fiber::sleep_for(2ms);
    EXPECT_GE(std::chrono::steady_clock::now() - before, 2ms);                // never early
    spindle::this_fiber::sleep_until(std::chrono::steady_clock::now() - 1s);  // past: returns
    spindle::this_fiber::sleep_for(0ms);
    spindle::this_fiber::yield();
  });
  auto a = rt.spawn([] { return spindle::this_fiber::id(); });
  auto b = rt.spawn([] { return spindle::this_fiber::id(); });
  const auto ida = a.id();
  EXPECT_EQ(a.join(), ida);
  EXPECT_NE(b.join(), ida);
}

TEST(RuntimeOutsideFiber, ThisFiberActsOnTheThreadOrThrows) {
  EXPECT_FALSE(spindle::this_fiber::in_fiber());
  EXPECT_FALSE(spindle::current_task_id().valid());
  EXPECT_FALSE(spindle::this_fiber::is_cancelled());
  EXPECT_THROW((void)spindle::this_fiber::id(), std::logic_error);
  EXPECT_THROW((void)spindle::this_fiber::priority(), std::logic_error);
  EXPECT_THROW(spindle::this_fiber::set_name("x"), std::logic_error);
  auto before = std::chrono::steady_clock::now();
  spindle::this_fiber::sleep_for(1ms);
  EXPECT_GE(std::chrono::steady_clock::now() - before, 1ms);
  spindle::this_fiber::yield();
  try {
    (void)spindle::spawn([] { return 1; });
    FAIL() << "spawn outside a fiber must throw";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("outside a fiber"), std::string::npos) << e.what();
  }
}

TEST_P(RuntimeTest, BlockOnInsideFiberThrows) {
  rt.block_on([this] { EXPECT_THROW(rt.block_on([] { return 1; }), std::logic_error); });
}

TEST_P(RuntimeTest, ManyThreadsSpawnAndJoinConcurrently) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::thread> threads;
  std::atomic<long> total{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<JoinHandle<int>> hs;
      for (int i = 0; i < kPerThread; ++i) hs.push_back(rt.spawn([i, t] { return i + t; }));
      long sum = 0;
      for (auto& h : hs) sum += h.join();
      total += sum;
    });
  }
  for (auto& th : threads) th.join();
  long expected = 0;
  for (int t = 0; t < kThreads; ++t)
    expected += static_cast<long>(kPerThread) * (kPerThread - 1) / 2 + t * kPerThread;
  EXPECT_EQ(total.load(), expected);
}

TEST_P(RuntimeTest, StatsAreConsistent) {
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < 500; ++i) {
    hs.push_back(rt.spawn([i] {
      if (i % 3 == 0) spindle::this_fiber::sleep_for(1ms);
      if (i % 7 == 0) throw std::runtime_error("x");
    }));
  }
  for (int k = 0; k < 20; ++k) {
    auto s = rt.stats();
    EXPECT_EQ(s.active_tasks,
              s.spawned_tasks - s.completed_tasks - s.cancelled_tasks - s.failed_tasks);
    EXPECT_LE(s.queued_tasks, s.active_tasks);
    EXPECT_EQ(s.workers.size(), GetParam());
  }
  int failed = 0;
  for (auto& h : hs) {
    try {
      h.join();
    } catch (const std::runtime_error&) {
      ++failed;
    }
  }
  auto s = rt.stats();
  EXPECT_EQ(failed, 72);
  EXPECT_EQ(s.spawned_tasks, 500u);
  EXPECT_EQ(s.completed_tasks, 428u);
  EXPECT_EQ(s.failed_tasks, 72u);
  EXPECT_EQ(s.active_tasks, 0u);
  EXPECT_EQ(s.worker_threads, GetParam());
  EXPECT_GE(s.context_switches, 500u);
  EXPECT_STRNE(s.stack_guard_mode, "");
  EXPECT_STRNE(s.allocator, "");
  std::uint64_t per_worker_completed = 0;
  for (const auto& w : s.workers) per_worker_completed += w.completed_tasks;
  EXPECT_EQ(per_worker_completed, s.completed_tasks);
}

TEST(RuntimeShutdown, WaitsForLiveFibersAndRejectsLateSpawns) {
  AsyncRuntime rt{workers(2)};
  std::atomic<int> finished{0};
  for (int i = 0; i < 50; ++i) {
    rt.spawn([&] {
      spindle::this_fiber::sleep_for(5ms);
      // Running fibers may still spawn children while the runtime shuts down.
      spindle::spawn([&] { finished.fetch_add(1); }).join();
      finished.fetch_add(1);
    });  // detached
  }
  rt.shutdown();
  EXPECT_EQ(finished.load(), 100);
  EXPECT_THROW(rt.spawn([] {}), std::runtime_error);
  EXPECT_THROW(rt.spawn_with_priority([] {}, TaskPriority::Critical), std::runtime_error);
  rt.shutdown();  // idempotent
  auto s = rt.stats();
  EXPECT_EQ(s.active_tasks, 0u);
  EXPECT_EQ(s.completed_tasks, 100u);
}

TEST(RuntimeShutdown, OnlyCriticalSpawnsAcceptedWhileShuttingDown) {
  AsyncRuntime rt{workers(2)};
  std::atomic<bool> release{false};
  std::atomic<bool> critical_ran{false};
  auto holder = rt.spawn([&] {
    while (!release) spindle::this_fiber::sleep_for(1ms);
  });
  std::thread stopper([&] { rt.shutdown(); });
  // Wait until shutdown has begun: a Normal spawn from outside is then rejected.
  ASSERT_TRUE(spindle::test::wait_until([&] {
    try {
      rt.spawn([] {}).detach();
      return false;
    } catch (const std::runtime_error&) {
      return true;
    }
  }));
  auto crit = rt.spawn_with_priority([&] { critical_ran = true; }, TaskPriority::Critical);
  crit.join();
  EXPECT_TRUE(critical_ran);
  release = true;
  stopper.join();
  holder.join();
}

TEST(RuntimeShutdown, ShutdownFromOwnFiberThrows) {
  AsyncRuntime rt{workers(1)};
  rt.block_on([&] { EXPECT_THROW(rt.shutdown(), std::logic_error); });
}

TEST(RuntimeShutdown, DestructorJoinsSleepingFibers) {
  std::atomic<int> done{0};
  {
    AsyncRuntime rt{workers(2)};
    for (int i = 0; i < 100; ++i) {
      rt.spawn([&] {
        spindle::this_fiber::sleep_for(2ms);
        done.fetch_add(1);
      });
    }
  }
  EXPECT_EQ(done.load(), 100);
}

// A plain thread that wakes a runtime's last fiber is still inside the wake (it enqueues the fiber,
// then wakes a worker) when that fiber can already end and the runtime be destroyed: the
// destructor waits for it. This was seen once under ASan as a use-after-free in
// Worker::wake_thread; the rounds repeat that pattern so that ASan and TSan can catch it again.
TEST(RuntimeShutdown, AThreadWakingTheLastFiberNeverOutlivesTheRuntime) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr int kRounds = 100;
#else
  constexpr int kRounds = 300;
#endif
  for (int i = 0; i < kRounds; ++i) {
    spindle::Event e;
    std::thread waker;
    {
      AsyncRuntime rt{workers(1 + i % 2)};
      auto h = rt.spawn([&] { e.wait(); });
      ASSERT_TRUE(
          spindle::test::wait_until([&] { return h.state() == spindle::TaskState::Waiting; }));
      waker = std::thread([&] { e.set(); });
      h.join();
    }  // the runtime goes while the waker may still be in Event::set
    waker.join();
  }
}

TEST(RuntimeIdle, IdleWorkersParkAndUseNoCpu) {
  AsyncRuntime rt{workers(2)};
  rt.block_on([] {});
  // Every worker goes to sleep once it finds nothing to do...
  ASSERT_TRUE(spindle::test::wait_until([&] {
    auto s = rt.stats();
    for (const auto& w : s.workers) {
      if (w.parks == 0) return false;
    }
    return true;
  }));
  // ...and stays asleep: over an idle period the process burns (almost) no CPU.
  auto cpu = [] {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  };
  const auto before = cpu();
  std::this_thread::sleep_for(200ms);  // the observation window itself, not a settle delay
  const auto used = cpu() - before;
  EXPECT_LT(used, 20ms) << "idle runtime used "
                        << std::chrono::duration_cast<std::chrono::microseconds>(used).count()
                        << " us of CPU in 200 ms";
}

TEST(RuntimeDebug, DebugModeLogsLifecycle) {
  testing::internal::CaptureStderr();
  {
    AsyncRuntimeConfig cfg = workers(1);
    cfg.debug = true;
    AsyncRuntime rt{cfg};
    rt.block_on([] { return 1; });
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("worker 0: start"), std::string::npos) << err;
  EXPECT_NE(err.find("Completed"), std::string::npos) << err;
  EXPECT_NE(err.find("shutdown: done"), std::string::npos) << err;
}

}  // namespace

namespace {

// Blocking inside a catch block, or in a destructor while an exception unwinds, and resuming on
// another worker must not corrupt the per-thread C++ exception state (the runtime keeps it per
// fiber).
struct SleepsWhileUnwinding {
  std::atomic<int>* uncaught_seen;
  ~SleepsWhileUnwinding() {
    spindle::this_fiber::sleep_for(std::chrono::microseconds(200));
    uncaught_seen->fetch_add(std::uncaught_exceptions());
  }
};

TEST(ExceptionStateTest, BlockingInCatchBlocksAndDuringUnwindingAcrossWorkers) {
  AsyncRuntime rt{workers(2)};
  std::atomic<int> uncaught_seen{0};
  std::vector<JoinHandle<int>> hs;
  for (int i = 0; i < 400; ++i) {
    hs.push_back(rt.spawn([i, &uncaught_seen]() -> int {
      if (std::uncaught_exceptions() != 0) return -1000;
      try {
        throw std::runtime_error("first " + std::to_string(i));
      } catch (const std::runtime_error& e) {
        // Block (and likely migrate) while the exception is being handled.
        spindle::this_fiber::sleep_for(std::chrono::microseconds(100 + i % 7 * 50));
        spindle::this_fiber::yield();
        if (std::string(e.what()) != "first " + std::to_string(i)) return -1;
        if (std::current_exception() == nullptr) return -2;
      }
      if (std::current_exception() != nullptr) return -3;  // handled: nothing left on this fiber
      if (i % 2 == 0) {
        SleepsWhileUnwinding guard{&uncaught_seen};
        throw std::out_of_range("second");
      }
      return i;
    }));
  }
  int odd_sum = 0, thrown = 0;
  for (auto& h : hs) {
    try {
      odd_sum += h.join();
    } catch (const std::out_of_range&) {
      ++thrown;
    }
  }
  EXPECT_EQ(thrown, 200);
  int expected = 0;
  for (int i = 1; i < 400; i += 2) expected += i;
  EXPECT_EQ(odd_sum, expected);
  // Each unwinding destructor saw exactly its own exception in flight.
  EXPECT_EQ(uncaught_seen.load(), 200);
  EXPECT_EQ(std::uncaught_exceptions(), 0);
}

}  // namespace

namespace {

TEST(HandleLifetimeTest, HandlesOutliveTheirRuntime) {
  JoinHandle<int> done;
  JoinHandle<void> failed;
  {
    AsyncRuntime rt{workers(2)};
    done = rt.spawn([] { return 9; });
    failed = rt.spawn([] { throw std::runtime_error("late"); });
  }  // the runtime waits for both, then goes away
  EXPECT_TRUE(done.is_finished());
  done.cancel();  // a finished task ignores cancel (and must not touch the dead runtime)
  EXPECT_EQ(done.join(), 9);
  EXPECT_EQ(failed.state(), TaskState::Failed);
  EXPECT_THROW(failed.join(), std::runtime_error);
}

}  // namespace

namespace {

TEST(CrossRuntimeTest, FiberJoinsATaskOfAnotherRuntime) {
  AsyncRuntime a{workers(2)};
  AsyncRuntime b{workers(2)};
  for (int round = 0; round < 50; ++round) {
    int v = a.block_on([&b, round] {
      auto other = b.spawn([round] {
        spindle::this_fiber::sleep_for(std::chrono::microseconds(50));
        return round;
      });
      return other.join() + 1;  // parks a fiber of `a` on a task of `b`
    });
    EXPECT_EQ(v, round + 1);
  }
  // Each runtime counted only its own tasks, and both shut down.
  EXPECT_EQ(a.stats().completed_tasks, 50u);
  EXPECT_EQ(b.stats().completed_tasks, 50u);
  a.shutdown();
  b.shutdown();
  EXPECT_EQ(a.stats().active_tasks, 0u);
  EXPECT_EQ(b.stats().active_tasks, 0u);
}

}  // namespace
