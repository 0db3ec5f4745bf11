// SharedMutex: the contended paths. See spindle/shared_mutex.hpp for the policy and
// spindle/detail/wait.hpp for the parking protocol.
//
// Every wake-up is a handoff: the waker changes the state word on the woken waiters' behalf (sets
// kWriter, or adds the readers it wakes to the count) with wl_ held, then signals them after
// releasing wl_. Invariants (wl_ held):
//  - kWriterWaiting == !writers_.empty() and kReaderWaiting == !readers_.empty().
//  - Readers wait only while kWriter or kWriterWaiting is set; writers only while the lock is held.
//  - The lock can be free with kWriterWaiting set only between the last reader's fetch_sub and its
//    wake_writer_after_readers, which then hands the lock to the oldest writer. A new writer
//    queues behind it instead of taking the free lock.
#include "spindle/shared_mutex.hpp"

#include <thread>

#include "spindle/detail/sched_hooks.hpp"

namespace spindle {

namespace {

// kSpinRounds bounds the spin before queueing: round i pauses 2^i times (as in mutex.cpp).
constexpr int kSpinRounds = 7;

// spin_for retries `attempt` with growing pauses while spinning can help; returns whether it
// succeeded.
template <class F>
bool spin_for(F attempt) noexcept {
  if (!detail::spin_may_help()) return false;
  for (int round = 0; round < kSpinRounds; ++round) {
    if (attempt()) return true;
    for (int i = 0; i < (1 << round); ++i) detail::pause_cpu();
  }
  return attempt();
}

using detail::WaitNode;
using detail::WaitStatus;

}  // namespace

bool SharedMutex::lock_slow(std::uint64_t deadline_ns, bool cancellable) {
  if (detail::deadline_passed(deadline_ns)) return try_lock();  // a zero timeout: no wait
  if (spin_for([this] { return try_lock(); })) return true;
  if (cancellable && detail::cancel_pending()) {
    if (try_lock()) return true;
    detail::throw_cancelled();
  }
  detail::Waiter w;
  WaitNode node(&w);
  wl_.lock();
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if ((s & (kWriter | kReaderMask | kWriterWaiting)) == 0) {
      if (state_.compare_exchange_weak(s, s | kWriter, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        wl_.unlock();
        return true;
      }
    } else if ((s & kWriterWaiting) != 0 ||
               state_.compare_exchange_weak(s, s | kWriterWaiting, std::memory_order_relaxed,
                                            std::memory_order_relaxed)) {
      break;
    }
  }
  writers_.push_back(&node);
  wl_.unlock();

  const WaitStatus st = detail::wait_block(w, deadline_ns, cancellable);
  if (st != WaitStatus::Signaled) {
    wl_.lock();
    if (node.linked) {
      writers_.remove(&node);
      detail::WakeChain chain;
      if (writers_.empty()) {
        // Readers that queued only because a writer was waiting may enter now (readers still
        // inside may leave meanwhile: hence the CAS loop).
        s = state_.load(std::memory_order_acquire);
        const std::uint32_t k = (s & kWriter) == 0 ? chain.take_all(readers_) : 0;
        std::uint32_t next;
        do {
          next = s & ~kWriterWaiting;
          if (k != 0) next = (next & ~kReaderWaiting) + k;
        } while (!state_.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                               std::memory_order_acquire));
      }
      wl_.unlock();
      chain.signal_all();
      if (st == WaitStatus::Cancelled) detail::throw_cancelled();
      return false;
    }
    wl_.unlock();
    detail::wait_settle(w);
  }
  return true;  // handed over: we own it
}

bool SharedMutex::lock_shared_slow(std::uint64_t deadline_ns, bool cancellable) {
  if (detail::deadline_passed(deadline_ns)) return try_lock_shared();  // a zero timeout: no wait
  if (spin_for([this] { return try_lock_shared(); })) return true;
  if (cancellable && detail::cancel_pending()) {
    if (try_lock_shared()) return true;
    detail::throw_cancelled();
  }
  detail::Waiter w;
  WaitNode node(&w);
  wl_.lock();
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if ((s & (kWriter | kWriterWaiting)) == 0) {
      assert((s & kReaderMask) != kReaderMask && "spindle::SharedMutex: too many readers");
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        wl_.unlock();
        return true;
      }
    } else if ((s & kReaderWaiting) != 0 ||
               state_.compare_exchange_weak(s, s | kReaderWaiting, std::memory_order_relaxed,
                                            std::memory_order_relaxed)) {
      break;
    }
  }
  readers_.push_back(&node);
  wl_.unlock();

  // Signaled (possibly in the same instant as a timeout): handed over, counted among the readers
  // inside.
  return detail::signaled_or_throw(
      detail::wait_or_withdraw(w, node, wl_, readers_, deadline_ns, cancellable, [this] {
        if (readers_.empty()) state_.fetch_and(~kReaderWaiting, std::memory_order_relaxed);
      }));
}

void SharedMutex::unlock_slow() noexcept {
  detail::WakeChain chain;
  wl_.lock();
  std::uint32_t s = state_.load(std::memory_order_acquire);
  assert((s & kWriter) != 0 && "spindle::SharedMutex::unlock: not locked exclusively");
  std::uint32_t next;
  if (!readers_.empty()) {
    // Phase alternation: the readers that queued during this writer's turn go first, together.
    const std::uint32_t k = chain.take_all(readers_);
    do {
      next = ((s & ~(kWriter | kReaderWaiting)) + k);
    } while (!state_.compare_exchange_weak(s, next, std::memory_order_release,
                                           std::memory_order_relaxed));
  } else if (WaitNode* n = writers_.pop_front()) {
    // Handoff: kWriter stays set for the next writer.
    chain.add(n);
    const std::uint32_t more = writers_.empty() ? 0 : kWriterWaiting;
    do {
      next = (s & ~kWriterWaiting) | more;
    } while (!state_.compare_exchange_weak(s, next, std::memory_order_release,
                                           std::memory_order_relaxed));
  } else {
    state_.fetch_and(~kWriter, std::memory_order_release);
  }
  wl_.unlock();
  chain.signal_all();
}

void SharedMutex::wake_writer_after_readers() noexcept {
  wl_.lock();
  std::uint32_t s = state_.load(std::memory_order_acquire);
  if ((s & (kWriter | kReaderMask)) != 0 || writers_.empty()) {
    // A removal (timeout, cancellation) or a handoff already dealt with it.
    wl_.unlock();
    return;
  }
  WaitNode* n = writers_.pop_front();
  const std::uint32_t more = writers_.empty() ? 0 : kWriterWaiting;
  while (!state_.compare_exchange_weak(s, (s & ~kWriterWaiting) | more | kWriter,
                                       std::memory_order_acq_rel, std::memory_order_relaxed)) {
  }
  wl_.unlock();
  detail::wait_signal(*n->waiter);
}

namespace detail {
void shared_mutex_lock_uncancellable(SharedMutex& m) noexcept {
  if (m.try_lock()) return;
  m.lock_slow(kNoDeadline, false);
}
void shared_mutex_lock_shared_uncancellable(SharedMutex& m) noexcept {
  if (m.try_lock_shared()) return;
  m.lock_shared_slow(kNoDeadline, false);
}
}  // namespace detail

}  // namespace spindle
