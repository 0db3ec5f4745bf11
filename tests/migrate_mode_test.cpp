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
  spindle::AsyncRuntime rt({.worker_threads = 3, .migrate_every_switch = true});
  auto h = rt.spawn([] {
    int moves = 0;
    for (int i = 0; i < 200; ++i) {
      const auto before = running_thread();
      if (i % 2 == 0) {
        spindle::this_fiber::yield();
      } else {
        spindle::this_fiber::sleep_for(100us);
      }
      if (running_thread() != before) ++moves;
    }
    return moves;
  });
  EXPECT_EQ(h.join(), 200);
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
