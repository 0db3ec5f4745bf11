/// @file
/// spindle/condition_variable.hpp: ConditionVariable, waiting for a condition guarded by a lock,
/// for fibers and OS threads alike.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <shared_mutex>

#include "spindle/detail/wait.hpp"
#include "spindle/mutex.hpp"
#include "spindle/shared_mutex.hpp"
#include "spindle/task.hpp"
#include "spindle/this_fiber.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

namespace detail {
// cv_unlock releases the lock a ConditionVariable waits with; cv_relock re-acquires it without
// being a cancellation point. For Spindle's own mutexes (directly or through std::unique_lock /
// std::shared_lock) they use the mutex's internal non-cancellable path and leave the lock object's
// ownership flag alone; for any other BasicLockable, cv_relock retries lock() after a Cancelled
// (yielding in between) and rethrows nothing of it.
inline void cv_unlock(Mutex& m) noexcept {
  m.unlock();
}
inline void cv_relock(Mutex& m) noexcept {
  mutex_lock_uncancellable(m);
}
inline void cv_unlock(std::unique_lock<Mutex>& l) noexcept {
  l.mutex()->unlock();
}
inline void cv_relock(std::unique_lock<Mutex>& l) noexcept {
  mutex_lock_uncancellable(*l.mutex());
}
inline void cv_unlock(SharedMutex& m) noexcept {
  m.unlock();
}
inline void cv_relock(SharedMutex& m) noexcept {
  shared_mutex_lock_uncancellable(m);
}
inline void cv_unlock(std::unique_lock<SharedMutex>& l) noexcept {
  l.mutex()->unlock();
}
inline void cv_relock(std::unique_lock<SharedMutex>& l) noexcept {
  shared_mutex_lock_uncancellable(*l.mutex());
}
inline void cv_unlock(std::shared_lock<SharedMutex>& l) noexcept {
  l.mutex()->unlock_shared();
}
inline void cv_relock(std::shared_lock<SharedMutex>& l) noexcept {
  shared_mutex_lock_shared_uncancellable(*l.mutex());
}
template <class Lock>
void cv_unlock(Lock& l) {
  l.unlock();
}
template <class Lock>
void cv_relock(Lock& l) {
  for (;;) {
    try {
      l.lock();
      return;
    } catch (const Cancelled&) {
      this_fiber::yield();  // the lock is busy and this fiber cancelled: retry
    }
  }
}
}  // namespace detail

/// ConditionVariable lets fibers and OS threads wait until notified, atomically releasing a lock
/// while they wait, like std::condition_variable_any: the wait functions are templates over the
/// lock type, so std::unique_lock<spindle::Mutex>, a spindle::Mutex itself, std::unique_lock /
/// std::shared_lock<spindle::SharedMutex> or any other BasicLockable works. A waiting fiber parks
/// (its worker runs other fibers); an OS thread outside fibers sleeps on a futex.
///
/// Guarantees: a waiter is queued on the condition variable before the lock is released, so a
/// notify made under the lock after that can never be lost. Waiters are woken in FIFO order. There
/// are no spurious wake-ups from the implementation, but as with std, use the predicate forms: the
/// condition may have changed again by the time the waiter holds the lock. The lock is always held
/// again when a wait returns or throws; re-acquiring it is never a cancellation point.
///
/// Cancellation: every wait is a cancellation point. A fiber cancelled before it waits throws
/// spindle::Cancelled at once (the lock is never released); one cancelled while waiting leaves the
/// queue, re-acquires the lock and throws spindle::Cancelled. A notification that reached a waiter
/// in the same instant as its cancellation wins: the wait returns normally (no notification is ever
/// swallowed by a cancelled waiter) and the cancellation is delivered at the next blocking point.
///
/// Destroying a ConditionVariable that still has waiters is undefined behaviour.
class ConditionVariable {
 public:
  /// ConditionVariable constructs one with no waiters.
  ConditionVariable() noexcept = default;
  ConditionVariable(const ConditionVariable&) = delete;
  ConditionVariable& operator=(const ConditionVariable&) = delete;

  /// notify_one wakes the oldest waiter, if any. Never blocks, never throws; may be called with or
  /// without the lock held, from any fiber or thread.
  void notify_one() noexcept;
  /// notify_all wakes every current waiter. Never blocks, never throws.
  void notify_all() noexcept;

  /// wait releases `lock` (which the caller must hold), waits until notified, and re-acquires
  /// `lock`. Blocks the calling fiber or OS thread. Throws spindle::Cancelled (with `lock` held) if
  /// the calling fiber is or becomes cancelled, and whatever `lock`'s own lock/unlock throw.
  template <class Lock>
  void wait(Lock& lock) {
    wait_until_ns(lock, detail::kNoDeadline);
  }
  /// wait with a predicate waits until `pred()` is true: `while (!pred()) wait(lock);`.
  template <class Lock, class Predicate>
  void wait(Lock& lock, Predicate pred) {
    while (!pred()) wait_until_ns(lock, detail::kNoDeadline);
  }

  /// wait_until is wait that gives up at `deadline` (any clock; a non-steady clock is converted
  /// once, at the call). Returns std::cv_status::timeout if it was not notified by then.
  template <class Lock, class Clock, class Duration>
  std::cv_status wait_until(Lock& lock, const std::chrono::time_point<Clock, Duration>& deadline) {
    return wait_until_ns(lock, detail::deadline_at(deadline));
  }
  /// wait_until with a predicate waits until `pred()` is true or `deadline` passes; returns the
  /// last value of `pred()`.
  template <class Lock, class Clock, class Duration, class Predicate>
  bool wait_until(Lock& lock, const std::chrono::time_point<Clock, Duration>& deadline,
                  Predicate pred) {
    return wait_pred_ns(lock, detail::deadline_at(deadline), pred);
  }

  /// wait_for is wait that gives up after `timeout` (zero or negative: times out at once, after
  /// releasing and re-acquiring the lock). Returns std::cv_status::timeout if it was not notified
  /// by then.
  template <class Lock, class Rep, class Period>
  std::cv_status wait_for(Lock& lock, const std::chrono::duration<Rep, Period>& timeout) {
    return wait_until_ns(lock, detail::deadline_after(timeout));
  }
  /// wait_for with a predicate waits until `pred()` is true or `timeout` has passed; returns the
  /// last value of `pred()`.
  template <class Lock, class Rep, class Period, class Predicate>
  bool wait_for(Lock& lock, const std::chrono::duration<Rep, Period>& timeout, Predicate pred) {
    return wait_pred_ns(lock, detail::deadline_after(timeout), pred);
  }

 private:
  // enqueue links `n` (of a Waiter of the calling fiber or thread) at the back of the queue.
  void enqueue(detail::WaitNode& n) noexcept;
  // block waits for `n` to be notified until `deadline_ns`; on timeout or cancellation it unlinks
  // `n`, unless a notify claimed it first (then it reports Signaled).
  detail::WaitStatus block(detail::Waiter& w, detail::WaitNode& n,
                           std::uint64_t deadline_ns) noexcept;
  // remove unlinks `n` if still linked, else waits for the notification that claimed it.
  void remove(detail::Waiter& w, detail::WaitNode& n) noexcept;

  template <class Lock>
  std::cv_status wait_until_ns(Lock& lock, std::uint64_t deadline_ns) {
    if (detail::cancel_pending()) detail::throw_cancelled();
    detail::Waiter w;
    detail::WaitNode n(&w);
    enqueue(n);
    try {
      detail::cv_unlock(lock);
    } catch (...) {
      remove(w, n);
      throw;
    }
    const detail::WaitStatus st = block(w, n, deadline_ns);
    detail::cv_relock(lock);
    if (st == detail::WaitStatus::Cancelled) detail::throw_cancelled();
    return st == detail::WaitStatus::Timeout ? std::cv_status::timeout : std::cv_status::no_timeout;
  }

  template <class Lock, class Predicate>
  bool wait_pred_ns(Lock& lock, std::uint64_t deadline_ns, Predicate& pred) {
    while (!pred()) {
      if (wait_until_ns(lock, deadline_ns) == std::cv_status::timeout) return pred();
    }
    return true;
  }

  detail::WaitLock wl_;       // guards waiters_
  detail::WaitList waiters_;  // waiting fibers and threads, oldest first
};

}  // namespace spindle

SPINDLE_API_END
