// Mutex: the contended paths (spin, park, wake, handoff). See spindle/mutex.hpp for the policy and
// spindle/detail/wait.hpp for the parking protocol.
//
// The state word holds kLocked | kWaiters | kWoken. Invariants:
//  - kWaiters is set (with wl_ held) before a locker parks, and only while kLocked is set, so the
//    owner's unlock sees it: the one-CAS unlock fast path (kLocked -> 0) then fails.
//  - kWaiters is cleared only with wl_ held, when the queue becomes empty.
//  - kWoken is set only by an unlocking owner that popped a waiter without handing it the lock, and
//    cleared only by that waiter's single retry (one RMW that also takes the lock if free). While
//    it is set, unlock wakes nobody: the woken waiter either takes the lock or, if some other
//    locker owns it, re-queues after clearing kWoken, and that owner's unlock then wakes the
//    queue's front.
//  - A handoff keeps kLocked set across the transfer: ownership moves to the popped waiter.
#include "spindle/mutex.hpp"

#include <thread>

#include "spindle/detail/sched_hooks.hpp"

namespace spindle {

namespace {

using detail::WaitNode;
using detail::WaitStatus;

// WaitNode::data values. A waiter sets kWantHandoff before queueing once it has lost enough races;
// the unlocker writes kGranted when it hands the lock over.
constexpr std::uintptr_t kPlain = 0;
constexpr std::uintptr_t kWantHandoff = 1;
constexpr std::uintptr_t kGranted = 2;

// kSpinRounds bounds the spin: round i pauses 2^i times (about 2^kSpinRounds pauses in all, a few
// microseconds), re-checking the lock between rounds.
constexpr int kSpinRounds = 7;

}  // namespace

bool Mutex::spin_acquire() noexcept {
  for (int round = 0; round < kSpinRounds; ++round) {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    while ((s & kLocked) == 0) {
      if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    for (int i = 0; i < (1 << round); ++i) detail::pause_cpu();
  }
  return false;
}

bool Mutex::retry_after_wake() noexcept {
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if ((s & kLocked) == 0) {
      if (state_.compare_exchange_weak(s, (s | kLocked) & ~kWoken, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    } else if (state_.compare_exchange_weak(s, s & ~kWoken, std::memory_order_relaxed,
                                            std::memory_order_relaxed)) {
      return false;
    }
  }
}

bool Mutex::lock_slow(std::uint64_t deadline_ns, bool cancellable) {
  const bool spin = detail::spin_may_help();
  int lost = 0;  // times this caller was woken and found the lock taken
  for (;;) {
    // A deadline already over (a zero timeout): one more try, no spinning, no queueing.
    if (detail::deadline_passed(deadline_ns)) return try_lock();
    if (spin && spin_acquire()) return true;
    // A cancellation point only when about to block.
    if (cancellable && detail::cancel_pending()) {
      if (try_lock()) return true;
      detail::throw_cancelled();
    }
    detail::Waiter w;
    WaitNode node(&w);
    node.data = lost >= kHandoffAfter ? kWantHandoff : kPlain;
    wl_.lock();
    // Take the lock if it is free; otherwise announce a waiter while it is still held.
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((s & kLocked) == 0) {
        if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
          wl_.unlock();
          return true;
        }
      } else if ((s & kWaiters) != 0 ||
                 state_.compare_exchange_weak(s, s | kWaiters, std::memory_order_relaxed,
                                              std::memory_order_relaxed)) {
        break;
      }
    }
    // A waiter that lost a race keeps its place at the front.
    if (lost > 0) {
      waiters_.push_front(&node);
    } else {
      waiters_.push_back(&node);
    }
    wl_.unlock();

    // An unlock that popped us meanwhile wins: act on its signal below.
    const WaitStatus st =
        detail::wait_or_withdraw(w, node, wl_, waiters_, deadline_ns, cancellable, [this] {
          if (waiters_.empty()) state_.fetch_and(~kWaiters, std::memory_order_relaxed);
        });
    if (st != WaitStatus::Signaled) return detail::signaled_or_throw(st);
    if (node.data == kGranted) return true;  // handed over: we own it
    if (retry_after_wake()) return true;
    ++lost;
    if (st == WaitStatus::Timeout) return false;
    if (st == WaitStatus::Cancelled) detail::throw_cancelled();
    // Woken but beaten by a running locker: spin again, then re-queue at the front.
  }
}

void Mutex::unlock_slow() noexcept {
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    assert((s & kLocked) != 0 && "spindle::Mutex::unlock: the mutex is not locked");
    if ((s & kWaiters) != 0 && (s & kWoken) == 0) break;
    // Nobody to wake, or a woken waiter is already on its way: just release.
    if (state_.compare_exchange_weak(s, s & ~kLocked, std::memory_order_release,
                                     std::memory_order_relaxed)) {
      return;
    }
  }
  wl_.lock();
  WaitNode* n = waiters_.pop_front();
  if (n == nullptr) {
    // The queue emptied (timeouts, cancellations) since kWaiters was read.
    state_.fetch_and(~(kLocked | kWaiters), std::memory_order_release);
    wl_.unlock();
    return;
  }
  const std::uint32_t more = waiters_.empty() ? 0 : kWaiters;
  s = state_.load(std::memory_order_relaxed);
  if (n->data == kWantHandoff) {
    // Handoff: kLocked stays set; the popped waiter owns the mutex from now on.
    n->data = kGranted;
    while (!state_.compare_exchange_weak(s, (s & ~kWaiters) | more, std::memory_order_release,
                                         std::memory_order_relaxed)) {
    }
  } else {
    while (!state_.compare_exchange_weak(s, (s & ~(kLocked | kWaiters)) | more | kWoken,
                                         std::memory_order_release, std::memory_order_relaxed)) {
    }
  }
  wl_.unlock();
  detail::wait_signal(*n->waiter);
}

namespace detail {
void mutex_lock_uncancellable(Mutex& m) noexcept {
  if (m.try_lock()) return;
  m.lock_slow(kNoDeadline, false);
}
}  // namespace detail

}  // namespace spindle
