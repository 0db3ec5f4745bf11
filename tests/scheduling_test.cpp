// Scheduling behaviour: priority order, the no-starvation bound, stealing (and turning it off),
// timers firing while workers are busy, and 1 vs N workers.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "spindle/platform/priority_policy.hpp"
#include "spindle/spindle.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;
using spindle::AsyncRuntime;
using spindle::AsyncRuntimeConfig;
using spindle::JoinHandle;
using spindle::TaskPriority;
using spindle::test::workers;

namespace {

TEST(SchedulingTest, HighestPriorityRunsFirstOnOneWorker) {
  AsyncRuntime rt{workers(1)};
  std::vector<TaskPriority> order;
  rt.block_on([&] {
    std::vector<JoinHandle<void>> hs;
    for (TaskPriority p :
         {TaskPriority::Low, TaskPriority::Normal, TaskPriority::High, TaskPriority::Critical}) {
      hs.push_back(spindle::spawn_with_priority([&order, p] { order.push_back(p); }, p));
    }
    for (auto& h : hs) h.join();  // the root parks; the worker picks by priority
  });
  const std::vector<TaskPriority> expected = {TaskPriority::Critical, TaskPriority::High,
                                              TaskPriority::Normal, TaskPriority::Low};
  EXPECT_EQ(order, expected);
}

TEST(SchedulingTest, PriorityOrderFromOutsideThreads) {
  AsyncRuntime rt{workers(1)};
  std::atomic<bool> gate{false};
  std::vector<TaskPriority> order;
  // Occupy the only worker so that the four spawns below queue up together.
  auto blocker = rt.spawn_with_priority(
      [&] {
        while (!gate) std::this_thread::yield();  // holds the worker: no fiber switch
      },
      TaskPriority::Critical);
  ASSERT_TRUE(
      spindle::test::wait_until([&] { return blocker.state() == spindle::TaskState::Running; }));
  std::vector<JoinHandle<void>> hs;
  for (TaskPriority p :
       {TaskPriority::Low, TaskPriority::High, TaskPriority::Normal, TaskPriority::Critical}) {
    hs.push_back(rt.spawn_with_priority([&order, p] { order.push_back(p); }, p));
  }
  gate = true;
  for (auto& h : hs) h.join();
  blocker.join();
  const std::vector<TaskPriority> expected = {TaskPriority::Critical, TaskPriority::High,
                                              TaskPriority::Normal, TaskPriority::Low};
  EXPECT_EQ(order, expected);
}

// However many High fibers keep arriving, a ready Low fiber runs within kStarvationBound decisions.
TEST(SchedulingTest, LowPriorityIsNotStarvedByAFloodOfHigh) {
  AsyncRuntime rt{workers(1)};
  std::atomic<bool> low_ran{false};
  std::atomic<std::uint64_t> high_done{0};
  std::uint64_t high_done_when_low_ran = 0;
  rt.block_on([&] {
    auto low = spindle::spawn_with_priority(
        [&] {
          high_done_when_low_ran = high_done.load();
          low_ran = true;
        },
        TaskPriority::Low);
    auto flood = spindle::spawn_with_priority(
        [&] {
          std::vector<JoinHandle<void>> hs;
          for (int i = 0; i < 100000 && !low_ran; ++i) {
            hs.push_back(
                spindle::spawn_with_priority([&] { high_done.fetch_add(1); }, TaskPriority::High));
            spindle::this_fiber::yield();
          }
          for (auto& h : hs) h.join();
        },
        TaskPriority::High);
    low.join();
    flood.join();
  });
  ASSERT_TRUE(low_ran);
  EXPECT_LE(high_done_when_low_ran, spindle::platform::PriorityPolicy::kStarvationBound)
      << "Low waited for " << high_done_when_low_ran << " High tasks";
}

TEST(SchedulingTest, YieldDoesNotGiveWayToLowerPriority) {
  AsyncRuntime rt{workers(1)};
  std::vector<int> order;
  rt.block_on([&] {
    auto high = spindle::spawn_with_priority(
        [&] {
          for (int i = 0; i < 5; ++i) {
            order.push_back(1);
            spindle::this_fiber::yield();  // only Low is ready: keep running
          }
        },
        TaskPriority::High);
    auto low = spindle::spawn_with_priority([&] { order.push_back(0); }, TaskPriority::Low);
    high.join();
    low.join();
  });
  const std::vector<int> expected = {1, 1, 1, 1, 1, 0};
  EXPECT_EQ(order, expected);
}

TEST(SchedulingTest, YieldRoundRobinsWithinALevel) {
  AsyncRuntime rt{workers(1)};
  std::vector<int> order;
  rt.block_on([&] {
    std::vector<JoinHandle<void>> hs;
    for (int f = 0; f < 3; ++f) {
      hs.push_back(spindle::spawn([&order, f] {
        for (int i = 0; i < 3; ++i) {
          order.push_back(f);
          spindle::this_fiber::yield();
        }
      }));
    }
    for (auto& h : hs) h.join();
  });
  const std::vector<int> expected = {0, 1, 2, 0, 1, 2, 0, 1, 2};
  EXPECT_EQ(order, expected);
}

void spin_for(std::chrono::microseconds d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
  }
}

TEST(SchedulingTest, IdleWorkersStealWork) {
  AsyncRuntime rt{workers(2)};
  std::mutex mu;
  std::set<std::thread::id> threads;
  rt.block_on([&] {
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < 400; ++i) {
      hs.push_back(spindle::spawn([&] {
        spin_for(50us);
        std::lock_guard<std::mutex> g(mu);
        threads.insert(std::this_thread::get_id());
      }));
    }
    for (auto& h : hs) h.join();
  });
  auto s = rt.stats();
  EXPECT_GT(s.steals, 0u);
  EXPECT_GT(s.stolen_tasks, 0u);
  EXPECT_EQ(threads.size(), 2u);  // both workers ran some of them
}

TEST(SchedulingTest, StealingCanBeDisabled) {
  AsyncRuntime rt{workers(2, /*stealing=*/false)};
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::thread::id root;
  rt.block_on([&] {
    root = std::this_thread::get_id();
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < 400; ++i) {  // fewer than queue_capacity: nothing overflows to global
      hs.push_back(spindle::spawn([&] {
        spin_for(20us);
        std::lock_guard<std::mutex> g(mu);
        threads.insert(std::this_thread::get_id());
      }));
    }
    for (auto& h : hs) h.join();
  });
  EXPECT_EQ(rt.stats().steals, 0u);
  ASSERT_EQ(threads.size(), 1u);
  EXPECT_EQ(*threads.begin(), root);
}

TEST(SchedulingTest, TimersFireWhileTheWorkerIsBusyYielding) {
  AsyncRuntime rt{workers(1)};
  std::atomic<bool> woke{false};
  bool saw_wake = rt.block_on([&] {
    auto sleeper = spindle::spawn([&] {
      spindle::this_fiber::sleep_for(5ms);
      woke = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!woke && std::chrono::steady_clock::now() < deadline) spindle::this_fiber::yield();
    sleeper.join();
    return woke.load();
  });
  EXPECT_TRUE(saw_wake);
}

TEST(SchedulingTest, IdleWorkerFiresTimersOfABusyWorker) {
  AsyncRuntime rt{workers(2)};
  std::atomic<bool> woke{false};
  bool saw_wake = rt.block_on([&] {
    auto sleeper = spindle::spawn([&] {
      spindle::this_fiber::sleep_for(5ms);
      woke = true;
    });
    while (sleeper.state() != spindle::TaskState::Waiting) spindle::this_fiber::yield();
    // Hold this worker without ever switching: the sleeper's timer may live on this worker's wheel,
    // so the other worker must fire it.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!woke && std::chrono::steady_clock::now() < deadline) {
    }
    sleeper.join();
    return woke.load();
  });
  EXPECT_TRUE(saw_wake);
}

TEST(SchedulingTest, ManySleepersAllWakeNeverEarly) {
  AsyncRuntime rt{workers(2)};
  std::atomic<int> early{0};
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < 2000; ++i) {
    hs.push_back(rt.spawn([&, i] {
      const auto d = std::chrono::microseconds(100 + (i % 50) * 97);
      const auto start = std::chrono::steady_clock::now();
      spindle::this_fiber::sleep_for(d);
      if (std::chrono::steady_clock::now() - start < d) early.fetch_add(1);
    }));
  }
  for (auto& h : hs) h.join();
  EXPECT_EQ(early.load(), 0);
  EXPECT_GE(rt.stats().timers_fired, 1u);
}

// thread_of_caller reads the OS thread id in a way the compiler cannot reuse across a fiber switch
// (pthread_self, behind std::this_thread::get_id, is declared const: within one function the
// compiler may keep the id from before a switch, which is wrong once the fiber has moved).
__attribute__((noinline)) std::thread::id thread_of_caller() {
  asm volatile("" ::: "memory");
  return std::this_thread::get_id();
}

TEST(SchedulingTest, FibersMigrateBetweenWorkers) {
  AsyncRuntime rt{workers(2)};
  // A fiber yields while its worker picks up a fiber that never yields: an idle worker steals the
  // yielded fiber and resumes it (fibers are not pinned to a worker). If the blocker happens to
  // start on the other worker instead, the attempt proves nothing; retry a bounded number of times.
  bool migrated = rt.block_on([] {
    for (int attempt = 0; attempt < 200; ++attempt) {
      const auto before = thread_of_caller();
      std::atomic<bool> release{false};
      std::atomic<bool> blocker_started{false};
      auto blocker = spindle::spawn([&] {
        blocker_started = true;
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!release && std::chrono::steady_clock::now() < deadline) {
        }
      });
      while (!blocker_started) spindle::this_fiber::yield();
      const auto after = thread_of_caller();
      release = true;
      blocker.join();
      if (before != after) return true;
    }
    return false;
  });
  EXPECT_TRUE(migrated);
}

}  // namespace
