// The parking layer under every blocking primitive (see spindle/detail/wait.hpp): fibers park on
// their worker (with a timer-wheel entry for deadlines), OS threads sleep on a futex
// (spindle/platform/futex.hpp).
#include "spindle/detail/wait.hpp"

#include <cerrno>
#include <ctime>
#include <limits>
#include <mutex>

#include "detail/runtime_impl.hpp"
#include "spindle/platform/futex.hpp"
#include "spindle/sys.h"
#include "spindle/task.hpp"

namespace spindle::detail {

namespace {

TaskCore* calling_task() noexcept {
  Worker* w = current_worker();
  return w != nullptr ? w->current : nullptr;
}

WaitStatus thread_block(Waiter& w, std::uint64_t deadline_ns) noexcept {
  for (;;) {
    if (w.signaled.load(std::memory_order_acquire) != 0) return WaitStatus::Signaled;
    if (deadline_ns != kNoDeadline && now_ns() >= deadline_ns) return WaitStatus::Timeout;
    platform::futex_wait_until(&w.signaled, 0, deadline_ns);
  }
}

WaitStatus fiber_block(Waiter& w, TaskCore* self, std::uint64_t deadline_ns,
                       bool cancellable) noexcept {
  auto signaled = [&w] { return w.signaled.load(std::memory_order_acquire) != 0; };
  auto cancelled = [&] { return cancellable && cancel_deliverable(self); };
  if (signaled()) return WaitStatus::Signaled;
  if (cancelled()) return WaitStatus::Cancelled;
  if (deadline_ns == kNoDeadline) {
    for (;;) {
      current_worker()->park_current();
      if (signaled()) return WaitStatus::Signaled;
      if (cancelled()) return WaitStatus::Cancelled;
      // Otherwise a stale notification: keep waiting.
    }
  }
  // A deadline that is already over (a zero or negative timeout) times out now instead of parking
  // until the wheel's next tick.
  if (now_ns() >= deadline_ns) return WaitStatus::Timeout;
  // The entry goes on the wheel of the worker the wait starts on; the fiber may migrate meanwhile.
  // No clock is read: the wheel's time is the last tick a worker observed, so an entry fires only
  // once the clock has reached its tick and the wait is never short.
  Worker* home = current_worker();
  const std::uint64_t deadline_tick = home->rt->tick_of_deadline(deadline_ns);
  TimerEntry entry;
  entry.task = self;
  if (!home->arm_timer(entry, deadline_tick)) return WaitStatus::Timeout;
  for (;;) {
    current_worker()->park_current();
    if (signaled()) {
      home->disarm_timer(entry);
      return WaitStatus::Signaled;
    }
    if (cancelled()) {
      home->disarm_timer(entry);
      return WaitStatus::Cancelled;
    }
    bool pending;
    {
      std::lock_guard<SpinLock> g(home->timer_lock);
      pending = entry.linked();
    }
    if (pending) continue;  // a stale notification
    // Fired: the deadline tick has passed.
    return signaled() ? WaitStatus::Signaled : WaitStatus::Timeout;
  }
}

}  // namespace

Waiter::Waiter() noexcept : task(calling_task()) {}

void WaitLock::lock_slow() noexcept {
  for (int spins = 0;; ++spins) {
    while (locked_.load(std::memory_order_relaxed)) {
      if (++spins > 100) {
        std::this_thread::yield();
      } else {
        pause_cpu();
      }
    }
    if (!locked_.exchange(true, std::memory_order_acquire)) return;
  }
}

WaitStatus wait_block(Waiter& w, std::uint64_t deadline_ns, bool cancellable) noexcept {
  if (w.task == nullptr) return thread_block(w, deadline_ns);
  return fiber_block(w, static_cast<TaskCore*>(w.task), deadline_ns, cancellable);
}

void wait_signal(Waiter& w) noexcept {
  if (w.task != nullptr) {
    auto* t = static_cast<TaskCore*>(w.task);
    // Once `signaled` is set the fiber may run on (woken by anything), return and finish: pin its
    // control block until the unpark is done.
    t->refs.fetch_add(1, std::memory_order_relaxed);
    w.signaled.store(1, std::memory_order_release);  // `w` may vanish from here on
    t->rt->unpark_task(t);
    task_unref(t);
    return;
  }
  // The waiter may return as soon as it sees the store: futex_wake_one only uses the address.
  std::atomic<std::uint32_t>* word = &w.signaled;
  word->store(1, std::memory_order_release);
  platform::futex_wake_one(word);
}

bool cancel_pending() noexcept {
  TaskCore* t = calling_task();
  return t != nullptr && cancel_deliverable(t);
}

void throw_cancelled() {
  throw Cancelled{};
}

std::uint64_t now_ns() noexcept {
  return spindle_sys_monotonic_time_ns();
}

std::uint64_t deadline_after_ns(std::int64_t ns) noexcept {
  const std::uint64_t now = now_ns();
  if (ns <= 0) return now;
  if (ns == std::numeric_limits<std::int64_t>::max()) return kNoDeadline;  // saturated: too large
  const auto d = static_cast<std::uint64_t>(ns);
  return d >= kNoDeadline - now ? kNoDeadline : now + d;
}

std::uint64_t deadline_at_steady_ns(std::int64_t ns_since_epoch) noexcept {
  if (ns_since_epoch == std::numeric_limits<std::int64_t>::max()) return kNoDeadline;
#if defined(__linux__) && defined(__GLIBCXX__)
  // libstdc++'s steady_clock is CLOCK_MONOTONIC in nanoseconds: the same scale, no clock read.
  return ns_since_epoch <= 0 ? 0 : static_cast<std::uint64_t>(ns_since_epoch);
#else
  const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t diff;
  if (__builtin_sub_overflow(ns_since_epoch, now, &diff)) diff = ns_since_epoch < 0 ? 0 : INT64_MAX;
  return deadline_after_ns(diff);
#endif
}

}  // namespace spindle::detail
