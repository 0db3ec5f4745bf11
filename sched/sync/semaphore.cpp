// Semaphore: validation, the contended acquire and the handing of permits to waiters. See
// spindle/semaphore.hpp for the policy and spindle/detail/wait.hpp for the parking protocol.
//
// count_ >= 0 is the number of free permits and means nobody waits; count_ == kWaiting means no
// free permit and a non-empty queue. Only a thread holding wl_ moves count_ to or from kWaiting, so
// the lock-free fast paths (take a positive count, add to a non-negative one) never bypass a
// waiter.
#include "spindle/semaphore.hpp"

#include <stdexcept>
#include <string>

namespace spindle {

using detail::WaitNode;
using detail::WaitStatus;

Semaphore::Semaphore(std::ptrdiff_t initial, std::ptrdiff_t max) : count_(initial), max_(max) {
  if (max < 0) {
    throw std::invalid_argument("spindle::Semaphore: max = " + std::to_string(max) +
                                " must be >= 0");
  }
  if (initial < 0 || initial > max) {
    throw std::invalid_argument("spindle::Semaphore: initial = " + std::to_string(initial) +
                                " must be in 0..max (" + std::to_string(max) + ")");
  }
}

void Semaphore::throw_over_max(std::ptrdiff_t n, std::ptrdiff_t count) const {
  if (n < 0) {
    throw std::invalid_argument("spindle::Semaphore::release: n = " + std::to_string(n) +
                                " must be >= 0");
  }
  throw std::invalid_argument("spindle::Semaphore::release: n = " + std::to_string(n) +
                              " would raise the count " + std::to_string(count) +
                              " above max = " + std::to_string(max_));
}

void Semaphore::release(std::ptrdiff_t n) {
  if (n <= 0) {
    if (n < 0) throw_over_max(n, available());
    return;
  }
  std::ptrdiff_t c = count_.load(std::memory_order_relaxed);
  while (c >= 0) {
    if (n > max_ - c) throw_over_max(n, c);
    if (count_.compare_exchange_weak(c, c + n, std::memory_order_release,
                                     std::memory_order_relaxed)) {
      return;
    }
  }
  // Somebody waits: hand permits to the oldest waiters.
  detail::WakeChain granted;
  wl_.lock();
  c = count_.load(std::memory_order_relaxed);
  if (c != kWaiting) {
    // The queue emptied (timeouts, cancellations) before we got the lock.
    wl_.unlock();
    release(n);
    return;
  }
  if (n > max_) {
    wl_.unlock();
    throw_over_max(n, 0);
  }
  std::ptrdiff_t left = n;
  while (left > 0) {
    WaitNode* w = waiters_.pop_front();
    if (w == nullptr) break;
    w->data = 1;  // granted
    granted.add(w);
    --left;
  }
  if (waiters_.empty()) count_.store(left, std::memory_order_release);
  wl_.unlock();
  granted.signal_all();
}

bool Semaphore::acquire_slow(std::uint64_t deadline_ns) {
  if (detail::deadline_passed(deadline_ns)) return try_acquire();  // a zero timeout: no wait
  if (detail::cancel_pending()) {
    if (try_acquire()) return true;
    detail::throw_cancelled();
  }
  detail::Waiter w;
  WaitNode node(&w);
  wl_.lock();
  std::ptrdiff_t c = count_.load(std::memory_order_relaxed);
  for (;;) {
    if (c > 0) {
      if (count_.compare_exchange_weak(c, c - 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        wl_.unlock();
        return true;
      }
    } else if (c == kWaiting || count_.compare_exchange_weak(c, kWaiting, std::memory_order_relaxed,
                                                             std::memory_order_relaxed)) {
      break;
    }
  }
  waiters_.push_back(&node);
  wl_.unlock();

  // A release that handed us a permit meanwhile wins: we keep it.
  return detail::signaled_or_throw(
      detail::wait_or_withdraw(w, node, wl_, waiters_, deadline_ns, true, [this] {
        if (waiters_.empty()) count_.store(0, std::memory_order_relaxed);
      }));
}

}  // namespace spindle
