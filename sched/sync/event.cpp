// Event: set and the blocking wait. See spindle/event.hpp and spindle/detail/wait.hpp.
//
// set_ becomes true only with wl_ held, and a waiter queues only after reading false with wl_
// held, so a set() either is seen by the waiter's check or finds the waiter in the queue.
#include "spindle/event.hpp"

namespace spindle {

using detail::WaitNode;
using detail::WaitStatus;

void Event::set() noexcept {
  if (set_.load(std::memory_order_acquire)) return;  // already open: nobody can be queued
  wl_.lock();
  set_.store(true, std::memory_order_release);
  detail::WakeChain woken;
  woken.take_all(waiters_);
  wl_.unlock();
  woken.signal_all();
}

bool Event::wait_slow(std::uint64_t deadline_ns) {
  if (detail::deadline_passed(deadline_ns)) return is_set();  // a zero timeout: no wait
  if (detail::cancel_pending()) {
    if (is_set()) return true;
    detail::throw_cancelled();
  }
  detail::Waiter w;
  WaitNode node(&w);
  wl_.lock();
  if (set_.load(std::memory_order_acquire)) {
    wl_.unlock();
    return true;
  }
  waiters_.push_back(&node);
  wl_.unlock();

  return detail::signaled_or_throw(
      detail::wait_or_withdraw(w, node, wl_, waiters_, deadline_ns, true));
}

}  // namespace spindle
