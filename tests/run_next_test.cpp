// The run-next slot (docs/scheduler.md): a fiber woken by the running fiber runs at that worker's
// next decision, within its priority level, without starving the rest of the level, and is never
// stranded behind a waker that keeps its worker busy.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;
using spindle::AsyncRuntime;
using spindle::AsyncRuntimeConfig;
using spindle::TaskPriority;
using spindle::TaskState;
using spindle::test::workers;

namespace {

// On one worker: B waits on an event; Q1 and Q2 are queued; the root sets the event and parks.
// Returns the order in which B, Q1 and Q2 ran.
std::vector<std::string> wake_order(TaskPriority q1_priority) {
  AsyncRuntime rt{workers(1)};
  std::vector<std::string> order;
  rt.block_on([&] {
    spindle::Event ev;
    auto b = spindle::spawn([&] {
      ev.wait();
      order.push_back("B");
    });
    while (b.state() != TaskState::Waiting) spindle::this_fiber::yield();
    auto q1 = spindle::spawn_with_priority([&] { order.push_back("Q1"); }, q1_priority);
    auto q2 = spindle::spawn([&] { order.push_back("Q2"); });
    ev.set();  // B becomes ready: woken by this running fiber
    b.join();  // the root parks: the worker decides what runs next
    q1.join();
    q2.join();
  });
  return order;
}

TEST(RunNextTest, WokenFiberRunsBeforeFibersQueuedEarlierAtItsLevel) {
  const std::vector<std::string> expected = {"B", "Q1", "Q2"};
  EXPECT_EQ(wake_order(TaskPriority::Normal), expected);
}

TEST(RunNextTest, WokenFiberDoesNotOvertakeAHigherLevel) {
  // The policy picks High: the slot's Normal fiber leaves the slot for the back of its level's
  // queue (where idle workers may steal it), so Q2, queued before it, runs first.
  const std::vector<std::string> expected = {"Q1", "Q2", "B"};
  EXPECT_EQ(wake_order(TaskPriority::High), expected);
}

TEST(RunNextTest, WokenFiberThatOutranksTheWakerIsQueuedNotSlotted) {
  // A Critical fiber woken by a Normal one goes to the queue (where idle workers see it at once);
  // on one worker it still runs before the Normal fibers queued before it.
  AsyncRuntime rt{workers(1)};
  std::vector<std::string> order;
  rt.block_on([&] {
    spindle::Event ev;
    auto b = spindle::spawn_with_priority(
        [&] {
          ev.wait();
          order.push_back("B");
        },
        TaskPriority::Critical);
    while (b.state() != TaskState::Waiting) spindle::this_fiber::yield();
    auto q1 = spindle::spawn([&] { order.push_back("Q1"); });
    ev.set();
    q1.join();
    b.join();
  });
  const std::vector<std::string> expected = {"B", "Q1"};
  EXPECT_EQ(order, expected);
}

TEST(RunNextTest, PingPongPairDoesNotStarveItsLevel) {
  // Two fibers hand a value back and forth through the slot; a third fiber of the same level that
  // becomes ready meanwhile (a timer) must run while they go on, not after.
  AsyncRuntime rt{workers(1)};
  constexpr long kMaxRounds = 50'000'000;
  std::atomic<bool> third_ran{false};
  long rounds = 0;
  long rounds_when_third_ran = -1;
  rt.block_on([&] {
    spindle::Channel<long> ping(1), pong(1);
    auto a = spindle::spawn([&] {
      for (rounds = 0; rounds < kMaxRounds && !third_ran.load(); ++rounds) {
        if (!ping.send(rounds)) return;
        if (!pong.recv()) return;
      }
      ping.close();
    });
    auto b = spindle::spawn([&] {
      while (auto v = ping.recv()) {
        if (!pong.send(*v)) return;
      }
    });
    auto third = spindle::spawn([&] {
      spindle::this_fiber::sleep_for(2ms);
      rounds_when_third_ran = rounds;
      third_ran = true;
    });
    a.join();
    b.join();
    third.join();
  });
  EXPECT_TRUE(third_ran.load());
  EXPECT_GE(rounds_when_third_ran, 0);
  EXPECT_LT(rounds_when_third_ran, kMaxRounds);
  // The pair really did hand over through the slot for a while before the third one ran.
  EXPECT_GT(rounds, 0);
}

void stuck_waker_case(const AsyncRuntimeConfig& cfg, bool let_workers_sleep_first = false) {
  // A fiber wakes B and then keeps its worker busy without ever switching until B has run. B sits
  // in that worker's slot; another worker must take it from there.
  AsyncRuntime rt{cfg};
  if (let_workers_sleep_first) {
    // Each idle worker parks once: then the wake comes while the others sleep.
    ASSERT_TRUE(spindle::test::wait_until([&] { return rt.stats().parks >= cfg.worker_threads; }));
  }
  spindle::Event ev;
  std::atomic<bool> b_ran{false};
  std::atomic<bool> give_up{false};
  auto b = rt.spawn([&] {
    ev.wait();
    b_ran = true;
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return b.state() == TaskState::Waiting; }));
  auto a = rt.spawn([&] {
    ev.set();
    while (!b_ran.load() && !give_up.load()) {
      // Busy: no yield, no blocking call.
    }
  });
  const bool ran = spindle::test::wait_until([&] { return b_ran.load(); });
  give_up = true;
  a.join();
  b.join();
  EXPECT_TRUE(ran) << "the woken fiber stayed stranded behind its busy waker";
}

TEST(RunNextTest, FiberWokenByABusyWakerIsTakenByAnotherWorker) {
  stuck_waker_case(workers(2));
}

TEST(RunNextTest, FiberWokenByABusyWakerIsTakenByAnotherWorkerWithFourWorkers) {
  stuck_waker_case(workers(4));
}

TEST(RunNextTest, FiberWokenByABusyWakerIsTakenWhenTheOtherWorkerWasAsleep) {
  stuck_waker_case(workers(2), true);
}

TEST(RunNextTest, ChannelPingPongOnTwoWorkersKeepsEveryValue) {
  // The channel's yield-before-park goes through the slot; every value still arrives once, in
  // order, with the pair free to be split across workers by stealing.
  AsyncRuntime rt{workers(2)};
  constexpr long kRounds = 20'000;
  const long sum = rt.block_on([&] {
    spindle::Channel<long> ping(1), pong(1);
    auto a = spindle::spawn([&] {
      long s = 0;
      for (long i = 0; i < kRounds; ++i) {
        if (!ping.send(i)) return -1L;
        auto r = pong.recv();
        if (!r || *r != i + 1) return -1L;
        s += *r;
      }
      return s;
    });
    auto b = spindle::spawn([&] {
      for (long i = 0; i < kRounds; ++i) {
        auto r = ping.recv();
        if (!r || *r != i || !pong.send(*r + 1)) return;
      }
    });
    const long s = a.join();
    b.join();
    return s;
  });
  EXPECT_EQ(sum, kRounds * (kRounds + 1) / 2);
}

}  // namespace
