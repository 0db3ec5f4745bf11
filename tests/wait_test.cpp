// The parking layer under the blocking primitives: signal, timeout and cancellation for fibers and
// threads, with the claim/settle protocol of spindle/detail/wait.hpp.
#include "spindle/detail/wait.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"

namespace {

using namespace std::chrono_literals;
using spindle::detail::Waiter;
using spindle::detail::WaitList;
using spindle::detail::WaitLock;
using spindle::detail::WaitNode;
using spindle::detail::WaitStatus;

// A one-slot mailbox built on the protocol: take() waits for put().
struct Mailbox {
  WaitLock lock;
  WaitList waiters;
  int value = 0;
  bool full = false;

  void put(int v) {
    lock.lock();
    WaitNode* n = waiters.pop_front();
    if (n != nullptr && spindle::detail::try_claim(n)) {
      n->data = static_cast<std::uintptr_t>(v);
      lock.unlock();
      spindle::detail::wait_signal(*n->waiter);
      return;
    }
    value = v;
    full = true;
    lock.unlock();
  }

  // Returns the value, or -1 on timeout, -2 on cancellation.
  int take(std::uint64_t deadline) {
    lock.lock();
    if (full) {
      full = false;
      lock.unlock();
      return value;
    }
    Waiter w;
    WaitNode node(&w);
    waiters.push_back(&node);
    lock.unlock();
    WaitStatus s = spindle::detail::wait_block(w, deadline, true);
    if (s != WaitStatus::Signaled) {
      lock.lock();
      if (node.linked) {
        waiters.remove(&node);
        lock.unlock();
        return s == WaitStatus::Timeout ? -1 : -2;
      }
      lock.unlock();
      spindle::detail::wait_settle(w);
    }
    return static_cast<int>(node.data);
  }
};

TEST(WaitTest, FiberToFiberAcrossWorkers) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  Mailbox box;
  auto taker = rt.spawn([&] { return box.take(spindle::detail::kNoDeadline); });
  auto putter = rt.spawn([&] { box.put(42); });
  putter.join();
  EXPECT_EQ(taker.join(), 42);
}

TEST(WaitTest, ThreadToFiberAndFiberToThread) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  Mailbox a, b;
  auto echo = rt.spawn([&] { b.put(a.take(spindle::detail::kNoDeadline) + 1); });
  a.put(1);
  EXPECT_EQ(b.take(spindle::detail::kNoDeadline), 2);
  echo.join();
}

TEST(WaitTest, TimeoutInFiberAndThread) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  Mailbox box;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(rt.block_on([&] { return box.take(spindle::detail::deadline_after(5ms)); }), -1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 5ms);
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(box.take(spindle::detail::deadline_after(5ms)), -1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 5ms);
}

TEST(WaitTest, CancelWakesBlockedFiber) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  Mailbox box;
  std::atomic<bool> waiting{false};
  auto h = rt.spawn([&] {
    waiting = true;
    return box.take(spindle::detail::deadline_after(1h));
  });
  while (!waiting) std::this_thread::yield();
  h.cancel();
  int r = h.join();  // the take returns -2 (the mailbox does not throw), unless it finished first
  EXPECT_EQ(r, -2);
}

TEST(WaitTest, ManyPairsNoLostWakeup) {
  spindle::AsyncRuntime rt({.worker_threads = 3});
  constexpr int kPairs = 64, kRounds = 300;
  std::vector<Mailbox> ping(kPairs), pong(kPairs);
  std::vector<spindle::JoinHandle<void>> hs;
  for (int p = 0; p < kPairs; ++p) {
    hs.push_back(rt.spawn([&, p] {
      for (int i = 0; i < kRounds; ++i) {
        ping[p].put(i);
        // A short deadline on some rounds exercises the timeout/claim race.
        int v;
        do {
          v = pong[p].take(i % 7 == 0 ? spindle::detail::deadline_after(20us)
                                      : spindle::detail::kNoDeadline);
        } while (v == -1);
        ASSERT_EQ(v, i);
      }
    }));
    hs.push_back(rt.spawn([&, p] {
      for (int i = 0; i < kRounds; ++i) {
        int v = ping[p].take(spindle::detail::kNoDeadline);
        ASSERT_EQ(v, i);
        if (i % 5 == 0) spindle::this_fiber::yield();
        pong[p].put(v);
      }
    }));
  }
  for (auto& h : hs) h.join();
}

}  // namespace

TEST(WaitTest, DeadlineConversionsSaturateAndNeverOverflow) {
  namespace d = spindle::detail;
  using Pico = std::chrono::duration<std::int64_t, std::pico>;
  using FSec = std::chrono::duration<double>;
  const std::uint64_t before = d::now_ns();
  EXPECT_EQ(d::deadline_after(std::chrono::hours::max()), d::kNoDeadline);
  EXPECT_GE(d::deadline_after(std::chrono::nanoseconds::max()),
            before + static_cast<std::uint64_t>(std::chrono::nanoseconds::max().count()));
  EXPECT_EQ(d::deadline_after(FSec(1e300)), d::kNoDeadline);
  // Finer than nanoseconds: Pico::max() is about 106 days, a finite deadline.
  const std::uint64_t pico = d::deadline_after(Pico::max());
  EXPECT_NE(pico, d::kNoDeadline);
  EXPECT_GE(pico, before + 100ull * 24 * 3600 * 1'000'000'000ull);
  EXPECT_GE(d::deadline_after(Pico(2'000'000)), before + 2'000);  // 2 us
  // Zero, negative and NaN mean "now": already passed.
  EXPECT_TRUE(d::deadline_passed(d::deadline_after(0ms)));
  EXPECT_TRUE(d::deadline_passed(d::deadline_after(-5s)));
  EXPECT_TRUE(d::deadline_passed(d::deadline_after(FSec(std::nan("")))));
  EXPECT_TRUE(d::deadline_passed(d::deadline_after(FSec(-1.5))));
  EXPECT_FALSE(d::deadline_passed(d::kNoDeadline));
  EXPECT_FALSE(d::deadline_passed(d::deadline_after(1h)));
}

TEST(WaitTest, PassedDeadlineTimesOutWithoutParking) {
  // One worker: if the zero-timeout take parked, the queued fiber would run before it returns.
  spindle::AsyncRuntime rt({.worker_threads = 1});
  Mailbox box;
  rt.block_on([&] {
    std::atomic<bool> other_ran{false};
    auto h = spindle::spawn([&] { other_ran = true; });
    EXPECT_EQ(box.take(spindle::detail::deadline_after(0ms)), -1);
    EXPECT_EQ(box.take(spindle::detail::deadline_after(-1s)), -1);
    EXPECT_FALSE(other_ran.load());
    h.join();
    EXPECT_TRUE(other_ran.load());
  });
}

TEST(WaitTest, ZeroTimeoutsNeverWaitNorThrowEvenWhenCancelled) {
  // A zero timeout is a try: false at once, like try_lock, without queueing, and not a
  // cancellation point (it never blocks). A real wait afterwards still sees the cancellation.
  spindle::AsyncRuntime rt({.worker_threads = 2});
  spindle::Mutex m;
  spindle::SharedMutex sm;
  m.lock();  // held by this thread throughout
  sm.lock();
  spindle::Semaphore sem(0);
  spindle::Event ev;
  spindle::WaitGroup wg;
  wg.add(1);
  spindle::Barrier barrier(2);
  spindle::CancellationToken token;
  auto h = rt.spawn(
      [&] {
        token.cancel();  // the token this task is bound to: cancels the task itself
        ASSERT_TRUE(spindle::this_fiber::is_cancelled());
        int falses = 0;
        falses += !m.try_lock_for(0ms);
        falses += !m.try_lock_for(-1s);
        falses += !sm.try_lock_for(0ms);
        falses += !sm.try_lock_shared_for(0ms);
        falses += !sem.try_acquire_for(0ms);
        falses += !ev.wait_for(0ms);
        falses += !wg.wait_for(0ms);
        falses += !barrier.arrive_and_wait_for(0ms);  // the arrival counts
        EXPECT_EQ(falses, 8);
        ev.wait_for(10s);  // a real wait: throws Cancelled out of the task
      },
      spindle::SpawnOptions{.token = token});
  EXPECT_THROW(h.join(), spindle::Cancelled);
  EXPECT_TRUE(barrier.arrive_and_wait_for(0ms));  // the fiber's arrival plus this one
  sm.unlock();
  m.unlock();
}
