/// @file
/// spindle/barrier.hpp: Barrier, a reusable rendezvous of a fixed number of fibers or threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "spindle/detail/wait.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// Barrier makes `count` participants meet: each arrive_and_wait blocks until all of them have
/// arrived in the current phase, then all are released together and the barrier is ready for the
/// next phase (generation), like std::barrier without a completion function. Fibers and OS threads
/// may participate together. A waiting fiber parks (its worker runs other fibers); an OS thread
/// outside fibers sleeps on a futex. Waiters are released by the last arrival; they never confuse
/// phases (a fast participant that arrives for the next phase does not release or count toward the
/// previous one).
///
/// Cancellation and timeouts: an arrival always counts for its phase, whatever happens to the wait
/// afterwards. A fiber cancelled before or while it waits (and whose arrival did not complete the
/// phase) stops waiting and throws spindle::Cancelled; a timed wait that expires returns false. In
/// both cases its arrival still counts, so the phase completes when the others arrive, and the
/// caller must not arrive again for the same phase (its next arrival counts toward the following
/// phase). If the phase completed in the same instant, the wait returns normally.
/// Cooperative budget: each blocking call (not the try_ forms) spends one unit of the calling
/// fiber's budget; once every 128 such calls in a row (spindle/detail/coop.hpp) the call is a
/// cancellation point even when it would not block (it throws spindle::Cancelled without arriving),
/// and it yields first once the fiber has held its worker for poll_interval. docs/scheduler.md,
/// "Cooperative budget".
class Barrier {
 public:
  /// Barrier creates a barrier for `count` participants per phase. Throws std::invalid_argument
  /// naming the parameter unless 1 <= count <= PTRDIFF_MAX.
  explicit Barrier(std::ptrdiff_t count);
  /// ~Barrier destroys a barrier that nobody waits on (destroying one with waiters is undefined).
  ~Barrier() = default;
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  /// arrive_and_wait arrives at the barrier and waits until every participant has arrived in this
  /// phase, parking the calling fiber or blocking the calling OS thread. Returns at once if this
  /// arrival completes the phase. Throws spindle::Cancelled if the calling fiber is cancelled while
  /// it would wait (the arrival still counts), std::logic_error if no participant is left (all
  /// dropped).
  void arrive_and_wait();
  /// arrive_and_wait_for arrives and waits at most `timeout` (zero or negative: no wait) for the
  /// phase to complete; returns whether it did (false: timed out, the arrival still counts). Throws
  /// like arrive_and_wait.
  template <class Rep, class Period>
  bool arrive_and_wait_for(const std::chrono::duration<Rep, Period>& timeout) {
    return arrive_and_wait_ns(detail::deadline_after(timeout));
  }
  /// arrive_and_wait_until arrives and waits at most until `deadline` (any clock; a non-steady
  /// clock is converted once, at the call) for the phase to complete; returns whether it did.
  /// Throws like arrive_and_wait.
  template <class Clock, class Duration>
  bool arrive_and_wait_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    return arrive_and_wait_ns(detail::deadline_at(deadline));
  }
  /// arrive_and_drop arrives for the current phase and leaves the barrier: later phases expect one
  /// participant fewer. Never blocks. Throws std::logic_error if no participant is left.
  void arrive_and_drop();

  /// generation returns the number of phases completed so far (a snapshot).
  std::uint64_t generation() const noexcept;
  /// expected returns the number of participants from now on: the initial count minus every
  /// arrive_and_drop so far (a drop lowers it at once, for the phase in progress too).
  std::ptrdiff_t expected() const noexcept;

 private:
  bool arrive_and_wait_ns(std::uint64_t deadline_ns);
  // arrive_locked counts one arrival (and, when `drop`, one participant fewer) with wl_ held; when
  // that completes the phase it starts the next one and moves the waiters to `released`. Returns
  // whether it completed the phase.
  bool arrive_locked(bool drop, detail::WakeChain& released);

  mutable detail::WaitLock wl_;  // guards every field below
  std::ptrdiff_t expected_;      // participants per phase
  std::ptrdiff_t remaining_;     // arrivals still missing in the current phase
  std::uint64_t generation_ = 0;
  detail::WaitList waiters_;  // participants waiting for the current phase, oldest first
};

}  // namespace spindle

SPINDLE_API_END
