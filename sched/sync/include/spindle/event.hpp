/// @file
/// spindle/event.hpp: Event, a manual-reset event that fibers and OS threads can wait for.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "spindle/detail/wait.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// Event is a manual-reset event: set() opens it and wakes every waiter; it stays open (waits
/// return at once) until reset(). A waiting fiber parks (its worker runs other fibers); an OS
/// thread outside fibers sleeps on a futex. Waiting on an open event and setting an already-open
/// one are one atomic load each.
///
/// A wait that began before a set() returns true even if reset() follows immediately: set() wakes
/// the waiters it finds, and they do not re-check the flag.
///
/// Cancellation: wait and the timed forms are cancellation points only when they would block (the
/// event is not set): a cancelled fiber waiting on an open event returns at once. A fiber cancelled
/// before it parks or while parked throws spindle::Cancelled, unless a set() reached it in the same
/// instant (then the wait returns normally).
/// Cooperative budget: each blocking call (not the try_ forms) spends one unit of the calling
/// fiber's budget; once every 128 such calls in a row (spindle/detail/coop.hpp) the call is a
/// cancellation point even when it would not block (it throws spindle::Cancelled), and it yields
/// first once the fiber has held its worker for poll_interval. docs/scheduler.md, "Cooperative
/// budget".
class Event {
 public:
  /// Event constructs an event, open if `initially_set`.
  explicit Event(bool initially_set = false) noexcept : set_(initially_set) {}
  /// ~Event destroys an event that nobody waits on (destroying one with waiters is undefined).
  ~Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  /// set opens the event and wakes every current waiter. Never blocks, never throws.
  void set() noexcept;
  /// reset closes the event; later waits block until the next set(). Never blocks, never throws.
  void reset() noexcept { set_.store(false, std::memory_order_relaxed); }
  /// is_set says whether the event is open (a snapshot).
  bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }

  /// wait returns once the event is open, parking the calling fiber or blocking the calling OS
  /// thread meanwhile. Throws spindle::Cancelled if the calling fiber is cancelled while it would
  /// wait.
  void wait() {
    detail::coop_or_throw();
    if (is_set()) [[likely]]
      return;
    wait_slow(detail::kNoDeadline);
  }
  /// wait_for is wait giving up after `timeout` (zero or negative: no wait); returns whether the
  /// event was set (false: timed out). Throws spindle::Cancelled like wait.
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) {
    detail::coop_or_throw(timeout);
    if (is_set()) return true;
    return wait_slow(detail::deadline_after(timeout));
  }
  /// wait_until is wait giving up at `deadline` (any clock; a non-steady clock is converted once,
  /// at the call); returns whether the event was set. Throws spindle::Cancelled like wait.
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    detail::coop_or_throw(deadline);
    if (is_set()) return true;
    return wait_slow(detail::deadline_at(deadline));
  }

 private:
  bool wait_slow(std::uint64_t deadline_ns);

  std::atomic<bool> set_;
  detail::WaitLock wl_;       // guards waiters_; set_ goes from false to true only with it held
  detail::WaitList waiters_;  // waiting fibers and threads, oldest first
};

}  // namespace spindle

SPINDLE_API_END
