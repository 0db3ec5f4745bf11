/// @file
/// spindle/semaphore.hpp: Semaphore, a counting semaphore that parks fibers (and blocks plain OS
/// threads) instead of blocking worker threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "spindle/detail/wait.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// Semaphore is a counting semaphore for fibers and OS threads alike: acquire takes one permit,
/// waiting while there is none; release(n) returns n. A waiting fiber parks (its worker runs other
/// fibers); an OS thread outside fibers sleeps on a futex. Uncontended acquire and release are one
/// compare-and-swap each.
///
/// Fairness: strict FIFO. Permits released while acquirers wait are handed directly to the oldest
/// waiters (up to n of them for release(n)); the count grows only when nobody waits, so a newcomer
/// (even try_acquire) never takes a permit ahead of a waiter.
///
/// Cancellation: acquire and the timed forms are cancellation points only when they would block: a
/// cancelled fiber still takes an available permit. A fiber cancelled before it parks or while
/// parked leaves the queue and gets spindle::Cancelled without a permit; if a permit was handed to
/// it in the same instant it keeps the permit and returns normally (no permit is ever lost).
/// Cooperative budget: each blocking call (not the try_ forms) spends one unit of the calling
/// fiber's budget; once every 128 such calls in a row (spindle/detail/coop.hpp) the call is a
/// cancellation point even when it would not block (it throws spindle::Cancelled without taking a
/// permit), and it yields first once the fiber has held its worker for poll_interval.
/// docs/scheduler.md, "Cooperative budget".
class Semaphore {
 public:
  /// kDefaultMax is the default (and largest) limit on the count.
  static constexpr std::ptrdiff_t kDefaultMax = std::numeric_limits<std::ptrdiff_t>::max();

  /// Semaphore starts with `initial` permits and never holds more than `max`. Throws
  /// std::invalid_argument (naming the parameter, its value and the limit) unless 0 <= max and
  /// 0 <= initial <= max.
  explicit Semaphore(std::ptrdiff_t initial, std::ptrdiff_t max = kDefaultMax);
  /// ~Semaphore destroys a semaphore that nobody waits on (destroying one with waiters is
  /// undefined).
  ~Semaphore() = default;
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  /// acquire takes one permit, waiting as long as needed: parks the calling fiber or blocks the
  /// calling OS thread. Throws spindle::Cancelled if the calling fiber is cancelled while it would
  /// wait (no permit is taken then).
  void acquire() {
    detail::coop_or_throw();
    if (try_acquire()) [[likely]]
      return;
    acquire_slow(detail::kNoDeadline);
  }
  /// try_acquire takes one permit if one is available at this instant (and nobody waits); returns
  /// whether it did. Never blocks, never throws; not a cancellation point.
  bool try_acquire() noexcept {
    std::ptrdiff_t c = count_.load(std::memory_order_relaxed);
    while (c > 0) {
      if (count_.compare_exchange_weak(c, c - 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }
  /// try_acquire_for is acquire waiting at most `timeout` (zero or negative: no wait); returns
  /// whether it took a permit. Throws spindle::Cancelled like acquire.
  template <class Rep, class Period>
  bool try_acquire_for(const std::chrono::duration<Rep, Period>& timeout) {
    detail::coop_or_throw(timeout);
    if (try_acquire()) return true;
    return acquire_slow(detail::deadline_after(timeout));
  }
  /// try_acquire_until is acquire waiting at most until `deadline` (any clock; a non-steady clock
  /// is converted once, at the call); returns whether it took a permit. Throws spindle::Cancelled
  /// like acquire.
  template <class Clock, class Duration>
  bool try_acquire_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    detail::coop_or_throw(deadline);
    if (try_acquire()) return true;
    return acquire_slow(detail::deadline_at(deadline));
  }

  /// release returns `n` permits: they go to the oldest waiters first (waking up to `n` of them),
  /// the rest to the count. Never blocks. Throws std::invalid_argument (and changes nothing) if `n`
  /// is negative or would raise the count above max(); release(0) does nothing.
  void release(std::ptrdiff_t n = 1);

  /// available returns the number of permits that acquire could take now without waiting (0 while
  /// anybody waits). A snapshot: it may be stale by the time it returns.
  std::ptrdiff_t available() const noexcept {
    const std::ptrdiff_t c = count_.load(std::memory_order_relaxed);
    return c < 0 ? 0 : c;
  }
  /// max returns the limit on the count given at construction.
  std::ptrdiff_t max() const noexcept { return max_; }

 private:
  // kWaiting in count_ means "no permit, and the queue is non-empty" (changed only with wl_ held).
  static constexpr std::ptrdiff_t kWaiting = -1;

  bool acquire_slow(std::uint64_t deadline_ns);
  [[noreturn]] void throw_over_max(std::ptrdiff_t n, std::ptrdiff_t count) const;

  std::atomic<std::ptrdiff_t> count_;
  const std::ptrdiff_t max_;
  detail::WaitLock wl_;       // guards waiters_ and the transitions to and from kWaiting
  detail::WaitList waiters_;  // waiting acquirers, oldest first
};

}  // namespace spindle

SPINDLE_API_END
