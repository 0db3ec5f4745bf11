// spindle/detail/wait.hpp: the parking layer every blocking primitive is built on. Not API: use
// Mutex, Channel, ... The primitive templates (Channel<T>, ...) need it, so it is visible.
//
// The protocol, for a primitive protected by a WaitLock:
//
//   waiter (fiber or OS thread)                 waker
//   ---------------------------                 -----
//   Waiter w; WaitNode n{&w};                    lock
//   lock; check state; list.push_back(&n);      n = list.pop_front()   (n->linked = false)
//   unlock                                      if (!try_claim(n)) skip it (a select won elsewhere)
//   s = wait_block(w, deadline, true)           hand over data through n
//   if (s != Signaled) {                        unlock
//     lock                                      wait_signal(*n->waiter)   (n may vanish after)
//     if (n.linked) { unlink; unlock; return s }
//     unlock; wait_settle(w)   // claimed meanwhile: take what was handed over
//   }
//
// wait_block returns as soon as the waiter is signaled, its deadline passes, or (fibers only, when
// `cancellable`) its task is cancelled. A waker claims a node under the primitive's lock and
// signals after releasing it; the waiter never leaves before the signal arrives once its node was
// claimed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>
#include <thread>
#include <type_traits>

#include "spindle/detail/coop.hpp"
#include "spindle/detail/deadline.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::detail {

// WaitStatus is why wait_block returned.
enum class WaitStatus : std::uint8_t { Signaled, Timeout, Cancelled };

// Waiter is one blocked fiber or OS thread. It lives on the waiter's stack. A plain wait uses one
// WaitNode per Waiter; a select links one WaitNode per case, all sharing the Waiter, and the first
// waker to claim one of them wins.
struct Waiter {
  // Waiter binds to the calling fiber, or to the calling OS thread outside fibers.
  Waiter() noexcept;
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  void* task;                              // the fiber's control block, or nullptr for a thread
  std::atomic<std::uint32_t> signaled{0};  // set by wait_signal
  std::atomic<std::int32_t> claimed{-1};   // select: index of the winning case
  bool select = false;                     // several nodes share this waiter
};

// WaitNode is a Waiter's entry in one primitive's wait list (guarded by that primitive's lock).
struct WaitNode {
  explicit WaitNode(Waiter* w) noexcept : waiter(w) {}
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  Waiter* waiter;
  bool linked = false;
  std::int32_t index = 0;   // select: this node's case index
  void* slot = nullptr;     // primitive-specific: where a value comes from or goes to
  std::uintptr_t data = 0;  // primitive-specific: a count, a flag, a result code
};

// WaitList is an intrusive FIFO of WaitNodes.
class WaitList {
 public:
  // empty says whether no node is linked.
  bool empty() const noexcept { return head_ == nullptr; }
  // front returns the oldest node, or nullptr.
  WaitNode* front() const noexcept { return head_; }
  // push_back links `n` at the back.
  void push_back(WaitNode* n) noexcept {
    n->next = nullptr;
    n->prev = tail_;
    if (tail_ != nullptr) {
      tail_->next = n;
    } else {
      head_ = n;
    }
    tail_ = n;
    n->linked = true;
  }
  // push_front links `n` at the front (a waiter that lost a race keeps its place).
  void push_front(WaitNode* n) noexcept {
    n->prev = nullptr;
    n->next = head_;
    if (head_ != nullptr) {
      head_->prev = n;
    } else {
      tail_ = n;
    }
    head_ = n;
    n->linked = true;
  }
  // remove unlinks a linked node.
  void remove(WaitNode* n) noexcept {
    if (n->prev != nullptr) {
      n->prev->next = n->next;
    } else {
      head_ = n->next;
    }
    if (n->next != nullptr) {
      n->next->prev = n->prev;
    } else {
      tail_ = n->prev;
    }
    n->prev = n->next = nullptr;
    n->linked = false;
  }
  // pop_front unlinks and returns the oldest node, or nullptr.
  WaitNode* pop_front() noexcept {
    WaitNode* n = head_;
    if (n != nullptr) remove(n);
    return n;
  }

 private:
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
};

// WakeChain collects nodes unlinked under a primitive's lock (through WaitNode::next, unused once a
// node is unlinked), oldest first, so that their waiters are signaled after the lock is released.
class WakeChain {
 public:
  WakeChain() = default;
  WakeChain(const WakeChain&) = delete;
  WakeChain& operator=(const WakeChain&) = delete;
  // add appends an unlinked node.
  void add(WaitNode* n) noexcept {
    n->next = nullptr;
    *tail_ = n;
    tail_ = &n->next;
  }
  // take_all moves every node of `list` into the chain, in order; returns how many.
  std::uint32_t take_all(WaitList& list) noexcept {
    std::uint32_t k = 0;
    while (WaitNode* n = list.pop_front()) {
      add(n);
      ++k;
    }
    return k;
  }
  // signal_all signals every collected waiter, oldest first, and empties the chain. Call it with
  // the primitive's lock released.
  void signal_all() noexcept;

 private:
  WaitNode* head_ = nullptr;
  WaitNode** tail_ = &head_;
};

// WaitLock guards a primitive's state and wait lists. Critical sections are a few dozen
// instructions and never block, so it spins briefly, then yields the OS thread.
class WaitLock {
 public:
  void lock() noexcept {
    if (!locked_.exchange(true, std::memory_order_acquire)) return;
    lock_slow();
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  void lock_slow() noexcept;
  std::atomic<bool> locked_{false};
};

// try_claim makes the caller (a waker holding the node's primitive lock, the node just unlinked)
// the one that completes the node's waiter. Always true for plain waits; for a select, true for
// the first case only.
inline bool try_claim(WaitNode* n) noexcept {
  Waiter* w = n->waiter;
  if (!w->select) return true;
  std::int32_t expected = -1;
  return w->claimed.compare_exchange_strong(expected, n->index, std::memory_order_acq_rel);
}

// wait_block blocks the calling fiber (parks it; its worker runs others) or OS thread until
// wait_signal(w), until the monotonic-clock `deadline_ns` passes (kNoDeadline: never), or, when
// `cancellable` and in a fiber, until the fiber's task is cancelled. Returns why. Throws nothing;
// the caller turns Cancelled into its own error or exception.
WaitStatus wait_block(Waiter& w, std::uint64_t deadline_ns, bool cancellable) noexcept;
// wait_settle waits, without deadline or cancellation, for a signal that a waker is known to be
// delivering (the node was claimed).
inline void wait_settle(Waiter& w) noexcept {
  if (w.signaled.load(std::memory_order_acquire) == 0) wait_block(w, kNoDeadline, false);
}
// wait_signal wakes `w` (any thread, never blocks). After it returns `w` may already be gone.
void wait_signal(Waiter& w) noexcept;

inline void WakeChain::signal_all() noexcept {
  WaitNode* n = head_;
  head_ = nullptr;
  tail_ = &head_;
  while (n != nullptr) {
    WaitNode* next = n->next;  // read before the signal: the node may vanish after it
    wait_signal(*n->waiter);
    n = next;
  }
}

// withdraw_or_settle is the end of a wait that timed out or was cancelled (the protocol above): it
// takes `lock` and, if `n` (of waiter `w`) is still linked in `list`, unlinks it, runs
// `on_withdraw()` still under `lock` (e.g. to clear a has-waiters bit) and returns true; if a waker
// claimed `n` meanwhile it waits for that waker's signal (wait_settle) and returns false: the
// wait succeeded after all, and whatever was handed over through `n` is kept. `on_withdraw` must
// not throw.
template <class Lock, class List, class OnWithdraw>
bool withdraw_or_settle(Waiter& w, WaitNode& n, Lock& lock, List& list,
                        OnWithdraw&& on_withdraw) noexcept {
  lock.lock();
  if (n.linked) {
    list.remove(&n);
    on_withdraw();
    lock.unlock();
    return true;
  }
  lock.unlock();
  wait_settle(w);
  return false;
}
template <class Lock, class List>
bool withdraw_or_settle(Waiter& w, WaitNode& n, Lock& lock, List& list) noexcept {
  return withdraw_or_settle(w, n, lock, list, [] {});
}

// wait_or_withdraw is the blocking tail every primitive shares: `n` (of waiter `w`) is linked in
// `list`, which `lock` guards, and `lock` is released. It blocks (wait_block) until signaled,
// `deadline_ns` passes or, when `cancellable`, the fiber is cancelled; on timeout or cancellation
// it withdraws `n` (withdraw_or_settle, running `on_withdraw` under `lock`) and returns Timeout or
// Cancelled, unless a waker claimed `n` first: then it returns Signaled. Never throws.
template <class Lock, class List, class OnWithdraw>
WaitStatus wait_or_withdraw(Waiter& w, WaitNode& n, Lock& lock, List& list,
                            std::uint64_t deadline_ns, bool cancellable,
                            OnWithdraw&& on_withdraw) noexcept {
  const WaitStatus st = wait_block(w, deadline_ns, cancellable);
  if (st == WaitStatus::Signaled) return st;
  return withdraw_or_settle(w, n, lock, list, on_withdraw) ? st : WaitStatus::Signaled;
}
template <class Lock, class List>
WaitStatus wait_or_withdraw(Waiter& w, WaitNode& n, Lock& lock, List& list,
                            std::uint64_t deadline_ns, bool cancellable) noexcept {
  return wait_or_withdraw(w, n, lock, list, deadline_ns, cancellable, [] {});
}

// yield_before_park lets the other ready fibers of the calling fiber's worker run once before the
// caller would park (the partner it waits for may be one of them). Unlike this_fiber::yield the
// caller comes back right after the fiber that runs now switches away (it takes the worker's
// run-next slot) instead of queueing behind every ready fiber. Returns at once when nothing else
// is ready, and from a plain thread. Not a cancellation point; never throws.
void yield_before_park() noexcept;

// cancel_pending says whether the calling fiber's task has a deliverable cancellation (false
// outside fibers). A blocking call checks it before it blocks.
bool cancel_pending() noexcept;
// throw_cancelled throws spindle::Cancelled.
[[noreturn]] void throw_cancelled();
// signaled_or_throw turns a wait's status into a timed call's result: true when signaled, false on
// timeout; throws spindle::Cancelled when cancelled.
inline bool signaled_or_throw(WaitStatus st) {
  if (st == WaitStatus::Cancelled) throw_cancelled();
  return st == WaitStatus::Signaled;
}

// coop_or_throw spends the cooperative budget of an untimed blocking call (coop.hpp) and throws
// Cancelled when it says the fiber's cancellation is due.
inline void coop_or_throw() {
  if (!coop_proceed()) throw_cancelled();
}
// coop_or_throw(timeout) is coop_or_throw for a *_for call: a zero or negative timeout is a plain
// try and never throws.
template <class Rep, class Period>
void coop_or_throw(const std::chrono::duration<Rep, Period>& timeout) {
  if (!coop_proceed([&] { return timeout <= timeout.zero(); })) throw_cancelled();
}
// coop_or_throw(deadline) is coop_or_throw for a *_until call on any clock (the clock is read
// only when the budget runs out): a passed deadline is a plain try and never throws.
template <class Clock, class Duration>
void coop_or_throw(const std::chrono::time_point<Clock, Duration>& deadline);

// deadline_passed says whether a *_for / *_until deadline is already over (a zero or negative
// timeout): such a call can fail at once without registering as a waiter.
inline bool deadline_passed(std::uint64_t deadline) noexcept {
  return deadline != kNoDeadline && deadline <= now_ns();
}

// coop_proceed_ns is coop_proceed for a call with a monotonic deadline in ns (kNoDeadline: none);
// a passed deadline is a plain try and proceeds.
inline bool coop_proceed_ns(std::uint64_t deadline_ns) noexcept {
  return coop_proceed([&] { return deadline_passed(deadline_ns); });
}
// coop_or_throw_ns is coop_proceed_ns for calls that report cancellation by throwing Cancelled.
inline void coop_or_throw_ns(std::uint64_t deadline_ns) {
  if (!coop_proceed_ns(deadline_ns)) throw_cancelled();
}

template <class Clock, class Duration>
void coop_or_throw(const std::chrono::time_point<Clock, Duration>& deadline) {
  if (!coop_proceed([&] { return deadline_passed(deadline_at(deadline)); })) throw_cancelled();
}
}  // namespace spindle::detail

SPINDLE_API_END
