// The migrate_every_switch test mode: a fiber that yields, sleeps or is woken always resumes on a
// different worker, and schedule_seed makes the choices reproducible.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"

namespace {

using namespace std::chrono_literals;

// The OS thread running the caller. Not inlined: a fiber may resume on another thread after any
// switch, and the compiler must not reuse a thread id read before one.
__attribute__((noinline)) std::thread::id running_thread() {
  std::thread::id id = std::this_thread::get_id();
  asm volatile("" ::: "memory");
  return id;
}

TEST(MigrateModeTest, EveryYieldAndWakeMovesTheFiber) {
  // Every switch here is certain to park the fiber: a yield always leaves the worker in this mode,
  // and the Event is set only once the fiber is Waiting (a set before it parked would let wait()
  // return without a switch). No timed sleep: a short one may find its deadline already passed
  // on a loaded machine and, correctly, not park at all.
  spindle::AsyncRuntime rt({.worker_threads = 3, .migrate_every_switch = true});
  spindle::Event ev;
  std::atomic<int> round{0};
  auto h = rt.spawn([&] {
    int moves = 0;
    for (int i = 0; i < 200; ++i) {
      const auto before = running_thread();
      if (i % 2 == 0) {
        spindle::this_fiber::yield();
      } else {
        round.store(i, std::memory_order_release);
        ev.wait();
        ev.reset();
      }
      if (running_thread() != before) ++moves;
    }
    return moves;
  });
  for (int i = 1; i < 200; i += 2) {
    while (round.load(std::memory_order_acquire) != i || h.state() != spindle::TaskState::Waiting) {
      std::this_thread::yield();
    }
    ev.set();
  }
  EXPECT_EQ(h.join(), 200);
}

TEST(MigrateModeTest, TimerWakeMovesTheFiber) {
  // A sleep that parked is woken by a timer on some worker and resumes on another one. A sleep
  // whose deadline passed before it could park returns without a switch, so only count sleeps
  // long enough that this needs a preemption of over 20 ms; at least one of five must move.
  spindle::AsyncRuntime rt({.worker_threads = 2, .migrate_every_switch = true});
  const int moves = rt.block_on([] {
    int n = 0;
    for (int i = 0; i < 5; ++i) {
      const auto before = running_thread();
      spindle::this_fiber::sleep_for(20ms);
      if (running_thread() != before) ++n;
    }
    return n;
  });
  EXPECT_GE(moves, 1);
}

TEST(MigrateModeTest, JoinWakeMovesTheJoiner) {
  spindle::AsyncRuntime rt({.worker_threads = 2, .migrate_every_switch = true});
  auto moved = rt.block_on([] {
    int moves = 0;
    for (int i = 0; i < 50; ++i) {
      auto child = spindle::spawn([] { spindle::this_fiber::sleep_for(50us); });
      const auto before = running_thread();
      child.join();
      if (running_thread() != before) ++moves;
    }
    return moves;
  });
  // A join that finds the child already finished does not park; every parked one moved.
  EXPECT_GT(moved, 0);
}

thread_local int tls_slot = 0;

// The address of this thread's tls_slot, computed afresh (not inlined: inside one function the
// compiler may cache a thread-local address across a fiber switch, which is the other half of the
// hazard).
__attribute__((noinline)) int* tls_slot_address() {
  int* p = &tls_slot;
  asm volatile("" : "+r"(p)::"memory");
  return p;
}

TEST(MigrateModeTest, ThreadLocalAddressChangesAcrossASwitch) {
  // Why C++ thread_local is unsafe in fibers: it is the current thread's, and a fiber runs on
  // another thread after a switch (documented in docs/architecture.md; FiberLocal is the answer).
  spindle::AsyncRuntime rt({.worker_threads = 2, .migrate_every_switch = true});
  const bool same = rt.block_on([] {
    int* before = tls_slot_address();
    spindle::this_fiber::yield();
    return tls_slot_address() == before;
  });
  EXPECT_FALSE(same);
}

TEST(MigrateModeTest, ManyFibersStillCompleteAndCountsAreExact) {
  spindle::AsyncRuntime rt(
      {.worker_threads = 4, .migrate_every_switch = true, .schedule_seed = 12345});
  std::atomic<int> sum{0};
  std::vector<spindle::JoinHandle<void>> hs;
  for (int i = 0; i < 500; ++i) {
    hs.push_back(rt.spawn([&sum, i] {
      for (int k = 0; k < 5; ++k) spindle::this_fiber::yield();
      sum += i;
    }));
  }
  for (auto& h : hs) h.join();
  EXPECT_EQ(sum.load(), 499 * 500 / 2);
  EXPECT_GE(rt.stats().context_switches, 500u * 5u);
}

}  // namespace
