// WaitGroup: add and the blocking wait. See spindle/wait_group.hpp and spindle/detail/wait.hpp.
//
// A waiter queues only after reading a non-zero counter with wl_ held, and the counter is brought
// to zero only with wl_ held (the waker then empties the queue), so no wake-up is lost. Changes
// that do not end at zero are lock-free.
#include "spindle/wait_group.hpp"

#include <stdexcept>
#include <string>

namespace spindle {

using detail::WaitNode;
using detail::WaitStatus;

namespace {
[[noreturn]] void throw_bad_add(std::int64_t counter, std::int64_t n) {
  if (n < 0) {
    throw std::invalid_argument("spindle::WaitGroup::add: n = " + std::to_string(n) +
                                " would make the counter (" + std::to_string(counter) +
                                ") negative (more done() than add())");
  }
  throw std::invalid_argument("spindle::WaitGroup::add: n = " + std::to_string(n) +
                              " would overflow the counter (" + std::to_string(counter) + "; max " +
                              std::to_string(INT64_MAX) + ")");
}
}  // namespace

void WaitGroup::add(std::int64_t n) {
  std::int64_t c = counter_.load(std::memory_order_relaxed);
  for (;;) {
    std::int64_t next;
    if (__builtin_add_overflow(c, n, &next) || next < 0) throw_bad_add(c, n);
    if (next == 0 && n != 0) break;  // reaching zero: with the lock held, below
    if (counter_.compare_exchange_weak(c, next, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
      return;
    }
  }
  wl_.lock();
  for (;;) {
    std::int64_t next;
    if (__builtin_add_overflow(c, n, &next) || next < 0) {
      wl_.unlock();
      throw_bad_add(c, n);
    }
    if (counter_.compare_exchange_weak(c, next, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
      if (next != 0) {  // someone else changed the counter meanwhile
        wl_.unlock();
        return;
      }
      break;
    }
  }
  detail::WakeChain woken;
  woken.take_all(waiters_);
  wl_.unlock();
  woken.signal_all();
}

bool WaitGroup::wait_slow(std::uint64_t deadline_ns) {
  if (detail::deadline_passed(deadline_ns)) return count() == 0;  // a zero timeout: no wait
  if (detail::cancel_pending()) {
    if (count() == 0) return true;
    detail::throw_cancelled();
  }
  detail::Waiter w;
  WaitNode node(&w);
  wl_.lock();
  if (counter_.load(std::memory_order_acquire) == 0) {
    wl_.unlock();
    return true;
  }
  waiters_.push_back(&node);
  wl_.unlock();

  return detail::signaled_or_throw(
      detail::wait_or_withdraw(w, node, wl_, waiters_, deadline_ns, true));
}

}  // namespace spindle
