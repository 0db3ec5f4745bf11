/// @file
/// spindle/mutex.hpp: Mutex, a mutual-exclusion lock that parks fibers (and blocks plain OS
/// threads) instead of blocking worker threads.
#pragma once

#include <atomic>
#include <cassert>
#include <chrono>
#include <cstdint>

#include "spindle/detail/wait.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

class Mutex;

namespace detail {
// mutex_lock_uncancellable locks `m` like Mutex::lock but is never a cancellation point (it ignores
// a pending cancellation of the calling fiber). ConditionVariable re-acquires through it. Throws
// nothing.
void mutex_lock_uncancellable(Mutex& m) noexcept;
}  // namespace detail

/// Mutex is a non-recursive mutual-exclusion lock for fibers and OS threads alike. It meets the
/// standard Lockable and TimedLockable requirements, so std::lock_guard, std::unique_lock,
/// std::scoped_lock and std::lock work with it. A fiber that waits for it parks (its worker runs
/// other fibers); an OS thread outside fibers sleeps on a futex. It is 24 bytes and needs no
/// destruction work; it must be unlocked when destroyed.
///
/// Speed: an uncontended lock + unlock is one compare-and-swap each. A contended lock first spins
/// briefly (only when the owner can be running elsewhere and there is nothing better to do: the
/// caller is an OS thread, or a fiber of a runtime with more than one worker whose worker has no
/// other ready fiber), then parks in a FIFO queue.
///
/// Fairness (like Go's sync.Mutex): unlock wakes the oldest waiter, but does not hand it the lock;
/// a running fiber or thread may take the lock first ("barging"), which keeps throughput high. A
/// woken waiter that loses that race goes back to the front of the queue; once it has lost
/// Mutex::kHandoffAfter times it is marked "starving", and the next unlock hands the lock to it
/// directly (it owns the lock before it even runs), so no waiter starves. At most one woken, not
/// yet running waiter exists at a time: unlock does not wake a second one meanwhile.
///
/// Cancellation: lock, try_lock_for and try_lock_until are cancellation points only when they would
/// block: a free mutex is acquired even by a cancelled fiber. A fiber that is cancelled before it
/// parks, or while parked, leaves the queue and gets spindle::Cancelled (it does not own the mutex
/// then). If the lock was handed to it in the same instant, or its retry after a wake-up took the
/// lock, it keeps the lock and returns normally (the cancellation is delivered at its next blocking
/// point). A zero or negative timeout is a plain try_lock: no spinning, no queueing, no Cancelled.
///
/// Ownership is not tracked: unlocking a mutex that the caller does not own, or that is not locked,
/// is undefined behaviour (debug builds assert the mutex is locked). A fiber may lock on one worker
/// and unlock on another (fibers migrate), and the mutex may be held across blocking calls
/// (sleep_for, join, I/O). Do not lock it recursively: that deadlocks.
/// Cooperative budget: each blocking call (not the try_ forms) spends one unit of the calling
/// fiber's budget; once every 128 such calls in a row (spindle/detail/coop.hpp) the call is a
/// cancellation point even when it would not block (it throws spindle::Cancelled without locking),
/// and it yields first once the fiber has held its worker for poll_interval. docs/scheduler.md,
/// "Cooperative budget".
class Mutex {
 public:
  /// kHandoffAfter is how many times a woken waiter may lose the race for the lock to a running
  /// locker before the next unlock hands the lock to it directly.
  static constexpr int kHandoffAfter = 2;

  /// Mutex constructs an unlocked mutex.
  Mutex() noexcept = default;
  /// ~Mutex destroys an unlocked mutex (destroying a locked one, or one with waiters, is
  /// undefined).
  ~Mutex() { assert(state_.load(std::memory_order_relaxed) == 0); }
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  /// lock acquires the mutex, waiting as long as needed: parks the calling fiber or blocks the
  /// calling OS thread. Throws spindle::Cancelled if the calling fiber is cancelled while it would
  /// wait (it does not own the mutex then); nothing else.
  void lock() {
    detail::coop_or_throw();
    // try_lock, not a CAS from 0: a free mutex with waiters queued (kWaiters, kWoken) is taken here
    // too, without the slow path.
    if (try_lock()) [[likely]]
      return;
    lock_slow(detail::kNoDeadline, true);
  }

  /// try_lock acquires the mutex if it is free at this instant; returns whether it did. Never
  /// blocks, never throws, and is not a cancellation point.
  bool try_lock() noexcept {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    while ((s & kLocked) == 0) {
      if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  /// try_lock_for acquires the mutex, waiting at most `timeout` (zero or negative: no wait);
  /// returns whether it did. Blocks like lock; throws spindle::Cancelled like lock.
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    detail::coop_or_throw(timeout);
    if (try_lock()) return true;
    return lock_slow(detail::deadline_after(timeout), true);
  }

  /// try_lock_until acquires the mutex, waiting at most until `deadline` (any clock; a non-steady
  /// clock is converted once, at the call); returns whether it did. Blocks like lock; throws
  /// spindle::Cancelled like lock.
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    detail::coop_or_throw(deadline);
    if (try_lock()) return true;
    return lock_slow(detail::deadline_at(deadline), true);
  }

  /// unlock releases the mutex, which the caller must own, and wakes the oldest waiter if no woken
  /// waiter is pending yet (or hands the lock to it, see the class comment). Never blocks, never
  /// throws; callable from any fiber or thread, on any worker.
  void unlock() noexcept {
    std::uint32_t expected = kLocked;
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_release,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    unlock_slow();
  }

 private:
  friend void detail::mutex_lock_uncancellable(Mutex& m) noexcept;

  // State bits. kLocked: owned. kWaiters: the wait queue may be non-empty (changed only with wl_
  // held). kWoken: an unlock woke a waiter that has not yet retried (set by the owner, cleared by
  // that waiter's retry); unlock wakes nobody else meanwhile.
  static constexpr std::uint32_t kLocked = 1;
  static constexpr std::uint32_t kWaiters = 2;
  static constexpr std::uint32_t kWoken = 4;

  // lock_slow is the contended path of the locking calls: spin, then park until `deadline_ns`.
  // Returns whether it acquired the mutex; throws Cancelled only when `cancellable`.
  bool lock_slow(std::uint64_t deadline_ns, bool cancellable);
  // unlock_slow is unlock when waiters may need waking.
  void unlock_slow() noexcept;
  // spin_acquire spins briefly for the mutex; returns whether it acquired it.
  bool spin_acquire() noexcept;
  // retry_after_wake is a woken waiter's attempt: take the mutex if free, and clear kWoken either
  // way. Returns whether it acquired it.
  bool retry_after_wake() noexcept;

  std::atomic<std::uint32_t> state_{0};
  detail::WaitLock wl_;       // guards waiters_ and changes of kWaiters
  detail::WaitList waiters_;  // parked lockers, oldest first
};

}  // namespace spindle

SPINDLE_API_END
