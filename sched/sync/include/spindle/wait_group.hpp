/// @file
/// spindle/wait_group.hpp: WaitGroup, waiting for a collection of fibers (or any work) to finish,
/// like Go's sync.WaitGroup.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "spindle/detail/wait.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// WaitGroup counts outstanding work: add(n) before starting n pieces, done() as each finishes,
/// wait() until the counter is zero. Fibers and OS threads may call any member. A waiting fiber
/// parks (its worker runs other fibers); an OS thread outside fibers sleeps on a futex. add and
/// done are one atomic read-modify-write unless they bring the counter to zero with waiters
/// present.
///
/// wait returns once the counter has been zero at some instant after wait began (a later add cannot
/// take that back). A WaitGroup may be reused once the previous waits have returned.
///
/// Cancellation: wait and wait_for are cancellation points only when they would block (the counter
/// is not zero). A fiber cancelled before it parks or while parked throws spindle::Cancelled,
/// unless the counter reached zero in the same instant (then wait returns normally). Cancellation
/// never changes the counter. Cooperative budget: each blocking call (not the try_ forms) spends
/// one unit of the calling fiber's budget; once every 128 such calls in a row
/// (spindle/detail/coop.hpp) the call is a cancellation point even when it would not block (it
/// throws spindle::Cancelled), and it yields first once the fiber has held its worker for
/// poll_interval. docs/scheduler.md, "Cooperative budget".
class WaitGroup {
 public:
  /// WaitGroup constructs a group with counter zero.
  WaitGroup() noexcept = default;
  /// ~WaitGroup destroys a group that nobody waits on (destroying one with waiters is undefined).
  ~WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  /// add adds `n` (which may be negative) to the counter; when it reaches zero every waiter is
  /// woken. Never blocks. Throws std::invalid_argument naming `n` and the counter if it would go
  /// negative or overflow; the counter is unchanged then.
  void add(std::int64_t n = 1);
  /// done decrements the counter by one (add(-1)). Throws std::invalid_argument if it would go
  /// negative (more done() than add()).
  void done() { add(-1); }
  /// count returns the counter (a snapshot).
  std::int64_t count() const noexcept { return counter_.load(std::memory_order_acquire); }

  /// wait returns once the counter is zero, parking the calling fiber or blocking the calling OS
  /// thread meanwhile. Throws spindle::Cancelled if the calling fiber is cancelled while it would
  /// wait.
  void wait() {
    detail::coop_or_throw();
    if (count() == 0) [[likely]]
      return;
    wait_slow(detail::kNoDeadline);
  }
  /// wait_for is wait giving up after `timeout` (zero or negative: no wait); returns whether the
  /// counter reached zero (false: timed out). Throws spindle::Cancelled like wait.
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) {
    detail::coop_or_throw(timeout);
    if (count() == 0) return true;
    return wait_slow(detail::deadline_after(timeout));
  }
  /// wait_until is wait giving up at `deadline` (any clock; a non-steady clock is converted once,
  /// at the call); returns whether the counter reached zero. Throws spindle::Cancelled like wait.
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    detail::coop_or_throw(deadline);
    if (count() == 0) return true;
    return wait_slow(detail::deadline_at(deadline));
  }

 private:
  bool wait_slow(std::uint64_t deadline_ns);

  std::atomic<std::int64_t> counter_{0};
  detail::WaitLock wl_;       // guards waiters_; the counter reaches zero only with it held
  detail::WaitList waiters_;  // waiting fibers and threads, oldest first
};

}  // namespace spindle

SPINDLE_API_END
