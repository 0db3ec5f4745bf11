// Randomized stress across workers: nested spawn/join, sleeps, yields and cancellation from fibers
// and threads, racing with completion. Every task ends exactly once and its outcome reaches its
// joiner; the runtime's counters agree with what the joiners saw.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"

using namespace std::chrono_literals;

namespace {

struct Outcomes {
  std::atomic<long> values{0};
  std::atomic<long> cancelled{0};  // the joined task ended Cancelled
  std::atomic<long> failed{0};
  std::atomic<long> joiner_cancelled{0};  // join threw Cancelled because the joiner was cancelled
};

// A leaf does a little of everything that can block.
int leaf(unsigned seed) {
  std::minstd_rand rng(seed);
  for (int k = 0; k < 3; ++k) {
    switch (rng() % 4) {
      case 0:
        spindle::this_fiber::yield();
        break;
      case 1:
        spindle::this_fiber::sleep_for(std::chrono::microseconds(rng() % 300));
        break;
      case 2:
        if (rng() % 16 == 0) throw std::runtime_error("leaf failure");
        break;
      default:
        break;
    }
  }
  return 1;
}

void join_counting(spindle::JoinHandle<int>& h, Outcomes& out) {
  try {
    out.values += h.join();
  } catch (const spindle::Cancelled&) {
    if (h.state() == spindle::TaskState::Cancelled) {
      out.cancelled += 1;
    } else {
      out.joiner_cancelled += 1;  // our own cancellation; the task itself runs on, detached
    }
  } catch (const std::runtime_error&) {
    out.failed += 1;
  }
}

class StressTest : public ::testing::TestWithParam<unsigned> {};

TEST_P(StressTest, SpawnJoinSleepCancelRaces) {
  const unsigned seed = GetParam();
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 3;
  cfg.queue_capacity = 16;  // force overflow to the global queue and stealing
  spindle::AsyncRuntime rt(cfg);
  Outcomes out;
  std::atomic<long> started{
      0};  // parents that ran (a parent cancelled before it starts never runs)
  constexpr int kParents = 64;
  constexpr int kChildren = 24;
  std::vector<spindle::JoinHandle<int>> parents;
  std::vector<spindle::JoinHandle<int>>* parents_ptr = &parents;
  for (int p = 0; p < kParents; ++p) {
    parents.push_back(rt.spawn([p, seed, &out, &started]() -> int {
      started += 1;
      std::minstd_rand rng(seed * 7919u + static_cast<unsigned>(p));
      std::vector<spindle::JoinHandle<int>> kids;
      for (int c = 0; c < kChildren; ++c) {
        auto prio = static_cast<spindle::TaskPriority>(rng() % 4);
        unsigned s = static_cast<unsigned>(rng());
        kids.push_back(spindle::spawn_with_priority([s] { return leaf(s); }, prio));
      }
      // Cancel some children from this fiber while they may be running, sleeping or done.
      for (auto& k : kids) {
        if (rng() % 5 == 0) k.cancel();
      }
      for (auto& k : kids) join_counting(k, out);
      return 1;
    }));
  }
  // Meanwhile a plain thread cancels random parents: a parent cancelled while joining gets
  // Cancelled from join (its unjoined children run to completion detached).
  std::thread canceller([&] {
    std::minstd_rand rng(seed);
    for (int i = 0; i < kParents / 4; ++i) {
      (*parents_ptr)[rng() % kParents].cancel();
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
    }
  });
  canceller.join();
  Outcomes parent_out;
  for (auto& h : parents) join_counting(h, parent_out);
  rt.shutdown();  // detached children finish too
  auto s = rt.stats();
  EXPECT_EQ(parent_out.values + parent_out.cancelled + parent_out.failed, kParents);
  EXPECT_EQ(parent_out.joiner_cancelled, 0);
  // Every child's outcome reached its joiner, unless the joiner itself was cancelled first.
  EXPECT_EQ(out.values + out.cancelled + out.failed + out.joiner_cancelled, started * kChildren);
  EXPECT_EQ(s.active_tasks, 0u);
  EXPECT_EQ(s.spawned_tasks, static_cast<std::uint64_t>(kParents + started * kChildren));
  EXPECT_EQ(s.spawned_tasks, s.completed_tasks + s.cancelled_tasks + s.failed_tasks);
  // What the joiners saw agrees with the runtime's counters; children whose joiner gave up early
  // are the only ones a joiner did not see.
  const auto seen_cancelled = static_cast<std::uint64_t>(out.cancelled + parent_out.cancelled);
  EXPECT_LE(seen_cancelled, s.cancelled_tasks);
  EXPECT_LE(s.cancelled_tasks, seen_cancelled + static_cast<std::uint64_t>(out.joiner_cancelled));
  EXPECT_LE(static_cast<std::uint64_t>(out.failed), s.failed_tasks);
}

INSTANTIATE_TEST_SUITE_P(Seeds, StressTest, ::testing::Values(1u, 2u, 3u, 4u, 5u, 6u));

TEST(JoinRaceTest, JoinerCancelledWhileTaskCompletes) {
  // Aim at the window between a task completing and its joiner being cancelled.
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 2;
  spindle::AsyncRuntime rt(cfg);
  std::atomic<int> joined{0}, cancelled{0};
  std::vector<spindle::JoinHandle<void>> joiners;
  for (int i = 0; i < 2000; ++i) {
    joiners.push_back(rt.spawn([&, i] {
      auto target = spindle::spawn([i] {
        for (int k = 0; k < i % 3; ++k) spindle::this_fiber::yield();
      });
      try {
        target.join();
        joined += 1;
      } catch (const spindle::Cancelled&) {
        cancelled += 1;
        throw;
      }
    }));
  }
  for (auto& j : joiners) j.cancel();
  int outcomes = 0;
  for (auto& j : joiners) {
    try {
      j.join();
    } catch (const spindle::Cancelled&) {
    }
    ++outcomes;
  }
  EXPECT_EQ(outcomes, 2000);
  rt.shutdown();
  EXPECT_EQ(rt.stats().active_tasks, 0u);
}

}  // namespace
