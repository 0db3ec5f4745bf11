/// @file
/// spindle/shared_mutex.hpp: SharedMutex, a reader-writer lock that parks fibers (and blocks plain
/// OS threads) instead of blocking worker threads.
#pragma once

#include <atomic>
#include <cassert>
#include <chrono>
#include <cstdint>

#include "spindle/detail/wait.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

class SharedMutex;

namespace detail {
// shared_mutex_lock_uncancellable locks `m` exclusively like SharedMutex::lock but is never a
// cancellation point. ConditionVariable re-acquires through it. Throws nothing.
void shared_mutex_lock_uncancellable(SharedMutex& m) noexcept;
// shared_mutex_lock_shared_uncancellable locks `m` shared like SharedMutex::lock_shared but is
// never a cancellation point. Throws nothing.
void shared_mutex_lock_shared_uncancellable(SharedMutex& m) noexcept;
}  // namespace detail

/// SharedMutex is a non-recursive reader-writer lock for fibers and OS threads alike: one writer
/// (lock) or many readers (lock_shared) at a time. It meets the standard SharedTimedLockable and
/// TimedLockable requirements, so std::unique_lock, std::shared_lock, std::lock_guard and
/// std::scoped_lock work with it. A fiber that waits parks (its worker runs other fibers); an OS
/// thread outside fibers sleeps on a futex. Uncontended lock_shared / unlock_shared and lock /
/// unlock are one atomic read-modify-write each. 40 bytes.
///
/// Fairness: writer preference with phase alternation, so neither side starves. While a writer
/// waits, new readers queue behind it instead of joining the readers inside (a steady stream of
/// readers cannot starve a writer). When a writer unlocks, every reader that queued meanwhile gets
/// the lock together (handed over: they own it before they run), ahead of the next writer; when the
/// last reader leaves, the oldest waiting writer gets the lock handed over. Waiters of each kind
/// are served in FIFO order; there is no barging past a waiter.
///
/// Cancellation: lock, lock_shared and the timed forms are cancellation points only when they would
/// block: a cancelled fiber still acquires a free lock. A fiber cancelled before it parks or while
/// parked leaves the queue and gets spindle::Cancelled (owning nothing); if the lock was handed to
/// it in the same instant it keeps the lock and returns normally.
///
/// Unlocking a lock the caller does not hold is undefined behaviour (debug builds assert what they
/// can). At most 2^29 - 1 readers may hold the lock at once.
/// Cooperative budget: each blocking call (not the try_ forms) spends one unit of the calling
/// fiber's budget; once every 128 such calls in a row (spindle/detail/coop.hpp) the call is a
/// cancellation point even when it would not block (it throws spindle::Cancelled without locking),
/// and it yields first once the fiber has held its worker for poll_interval. docs/scheduler.md,
/// "Cooperative budget".
class SharedMutex {
 public:
  /// SharedMutex constructs an unlocked mutex.
  SharedMutex() noexcept = default;
  /// ~SharedMutex destroys an unlocked mutex (destroying a locked one, or one with waiters, is
  /// undefined).
  ~SharedMutex() { assert(state_.load(std::memory_order_relaxed) == 0); }
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  /// lock acquires the mutex exclusively, waiting as long as needed (parks the calling fiber or
  /// blocks the calling OS thread) for the readers and writer inside and any writer queued before.
  /// Throws spindle::Cancelled if the calling fiber is cancelled while it would wait.
  void lock() {
    detail::coop_or_throw();
    std::uint32_t expected = 0;
    if (state_.compare_exchange_strong(expected, kWriter, std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    lock_slow(detail::kNoDeadline, true);
  }
  /// try_lock acquires the mutex exclusively if it is free at this instant; returns whether it did.
  /// Never blocks, never throws; not a cancellation point.
  bool try_lock() noexcept {
    std::uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, kWriter, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  /// try_lock_for is lock waiting at most `timeout` (zero or negative: no wait); returns whether it
  /// acquired the mutex. Throws spindle::Cancelled like lock.
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    detail::coop_or_throw(timeout);
    if (try_lock()) return true;
    return lock_slow(detail::deadline_after(timeout), true);
  }
  /// try_lock_until is lock waiting at most until `deadline` (any clock; a non-steady clock is
  /// converted once, at the call); returns whether it acquired the mutex. Throws spindle::Cancelled
  /// like lock.
  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    detail::coop_or_throw(deadline);
    if (try_lock()) return true;
    return lock_slow(detail::deadline_at(deadline), true);
  }
  /// unlock releases exclusive ownership and hands the lock to the readers that queued meanwhile,
  /// or else to the oldest waiting writer. Never blocks, never throws.
  void unlock() noexcept {
    std::uint32_t expected = kWriter;
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_release,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    unlock_slow();
  }

  /// lock_shared acquires the mutex shared, waiting (parks the calling fiber or blocks the calling
  /// OS thread) while a writer holds it or waits for it. Throws spindle::Cancelled if the calling
  /// fiber is cancelled while it would wait.
  void lock_shared() {
    detail::coop_or_throw();
    if (try_lock_shared()) [[likely]]
      return;
    lock_shared_slow(detail::kNoDeadline, true);
  }
  /// try_lock_shared acquires the mutex shared if no writer holds it or waits for it; returns
  /// whether it did. Never blocks, never throws; not a cancellation point.
  bool try_lock_shared() noexcept {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    while ((s & (kWriter | kWriterWaiting)) == 0 && (s & kReaderMask) != kReaderMask) {
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }
  /// try_lock_shared_for is lock_shared waiting at most `timeout` (zero or negative: no wait);
  /// returns whether it acquired the mutex. Throws spindle::Cancelled like lock_shared.
  template <class Rep, class Period>
  bool try_lock_shared_for(const std::chrono::duration<Rep, Period>& timeout) {
    detail::coop_or_throw(timeout);
    if (try_lock_shared()) return true;
    return lock_shared_slow(detail::deadline_after(timeout), true);
  }
  /// try_lock_shared_until is lock_shared waiting at most until `deadline` (any clock); returns
  /// whether it acquired the mutex. Throws spindle::Cancelled like lock_shared.
  template <class Clock, class Duration>
  bool try_lock_shared_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    detail::coop_or_throw(deadline);
    if (try_lock_shared()) return true;
    return lock_shared_slow(detail::deadline_at(deadline), true);
  }
  /// unlock_shared releases one shared ownership; the last reader out hands the lock to the oldest
  /// waiting writer. Never blocks, never throws.
  void unlock_shared() noexcept {
    const std::uint32_t old = state_.fetch_sub(1, std::memory_order_release);
    assert((old & kReaderMask) != 0 && "spindle::SharedMutex::unlock_shared: not locked shared");
    if ((old & kReaderMask) == 1 && (old & kWriterWaiting) != 0) [[unlikely]] {
      wake_writer_after_readers();
    }
  }

 private:
  friend void detail::shared_mutex_lock_uncancellable(SharedMutex& m) noexcept;
  friend void detail::shared_mutex_lock_shared_uncancellable(SharedMutex& m) noexcept;

  // State bits. kWriter: a writer owns it. kWriterWaiting: writers_ is non-empty. kReaderWaiting:
  // readers_ is non-empty. The low 29 bits count the readers inside. The waiting bits change only
  // with wl_ held.
  static constexpr std::uint32_t kWriter = 1u << 31;
  static constexpr std::uint32_t kWriterWaiting = 1u << 30;
  static constexpr std::uint32_t kReaderWaiting = 1u << 29;
  static constexpr std::uint32_t kReaderMask = kReaderWaiting - 1;

  // lock_slow / lock_shared_slow: the contended paths; return whether the lock was acquired by
  // `deadline_ns`; throw Cancelled only when `cancellable`.
  bool lock_slow(std::uint64_t deadline_ns, bool cancellable);
  bool lock_shared_slow(std::uint64_t deadline_ns, bool cancellable);
  void unlock_slow() noexcept;
  void wake_writer_after_readers() noexcept;

  std::atomic<std::uint32_t> state_{0};
  detail::WaitLock wl_;       // guards both queues and the waiting bits
  detail::WaitList writers_;  // waiting writers, oldest first
  detail::WaitList readers_;  // waiting readers, oldest first
};

}  // namespace spindle

SPINDLE_API_END
