// Barrier: arrivals and the blocking wait. See spindle/barrier.hpp and spindle/detail/wait.hpp.
//
// Everything is guarded by wl_. The arrival that completes a phase empties the queue (those are
// exactly the waiters of that phase) and signals them after unlocking, so a waiter never needs to
// compare generations: being signaled means its phase completed.
#include "spindle/barrier.hpp"

#include <stdexcept>
#include <string>

namespace spindle {

using detail::WaitNode;
using detail::WaitStatus;

Barrier::Barrier(std::ptrdiff_t count) : expected_(count), remaining_(count) {
  if (count < 1) {
    throw std::invalid_argument("spindle::Barrier: count = " + std::to_string(count) +
                                " must be >= 1");
  }
}

bool Barrier::arrive_locked(bool drop, detail::WakeChain& released) {
  if (remaining_ <= 0) {
    wl_.unlock();
    throw std::logic_error(
        "spindle::Barrier: arrival with no participant left (every participant dropped)");
  }
  if (drop) --expected_;
  if (--remaining_ != 0) return false;
  ++generation_;
  remaining_ = expected_;
  released.take_all(waiters_);
  return true;
}

void Barrier::arrive_and_drop() {
  detail::WakeChain released;
  wl_.lock();
  arrive_locked(true, released);
  wl_.unlock();
  released.signal_all();
}

void Barrier::arrive_and_wait() {
  arrive_and_wait_ns(detail::kNoDeadline);
}

bool Barrier::arrive_and_wait_ns(std::uint64_t deadline_ns) {
  // The cooperative budget, before arriving (a cancelled fiber then has not arrived).
  detail::coop_or_throw_ns(deadline_ns);
  detail::WakeChain released;
  detail::Waiter w;
  WaitNode node(&w);
  wl_.lock();
  if (arrive_locked(false, released)) {
    wl_.unlock();
    released.signal_all();
    return true;
  }
  // A deadline already over (a zero timeout): the arrival counts, no wait.
  if (detail::deadline_passed(deadline_ns)) {
    wl_.unlock();
    return false;
  }
  // Would block: a cancellation point (the arrival above still counts).
  if (detail::cancel_pending()) {
    wl_.unlock();
    detail::throw_cancelled();
  }
  waiters_.push_back(&node);
  wl_.unlock();

  return detail::signaled_or_throw(
      detail::wait_or_withdraw(w, node, wl_, waiters_, deadline_ns, true));
}

std::uint64_t Barrier::generation() const noexcept {
  wl_.lock();
  const std::uint64_t g = generation_;
  wl_.unlock();
  return g;
}

std::ptrdiff_t Barrier::expected() const noexcept {
  wl_.lock();
  const std::ptrdiff_t e = expected_;
  wl_.unlock();
  return e;
}

}  // namespace spindle
