// Timers: ticks, arming and disarming a waiter's entry, and firing due entries (a worker's own
// wheel every poll_interval / 2, another worker's when it is overdue). The wheel itself is
// time/timer_wheel.cpp (docs/scheduler.md, "Timers").
#include "detail/runtime_impl.hpp"
#include "spindle/sys.h"

namespace spindle::detail {

namespace {
// Bounds of the adaptive timer-poll interval, in scheduling decisions.
constexpr std::uint32_t kMinPollEvery = 1;
constexpr std::uint32_t kMaxPollEvery = 256;
}  // namespace

void Worker::poll_tick() {
  const std::uint64_t now = spindle_sys_monotonic_time_ns();
  // Adapt how often we read the clock so that timers are checked about every poll_interval / 2.
  // A gap longer than poll_interval itself (decisions got slow: long-running fibers) drops to
  // checking on every decision at once, so a missed interval is never repeated while it adapts.
  const std::uint64_t full = static_cast<std::uint64_t>(rt->cfg.poll_interval.count());
  const std::uint64_t half = full / 2;
  if (now - last_poll_ns_ > full) {
    poll_every_ = kMinPollEvery;
  } else if (now - last_poll_ns_ > half) {
    poll_every_ = std::max(kMinPollEvery, poll_every_ / 2);
  } else {
    poll_every_ = std::min(kMaxPollEvery, poll_every_ * 2);
  }
  poll_countdown_ = poll_every_;
  last_poll_ns_ = now;
  const std::uint64_t now_tick = rt->tick_of_now(now);
  if (next_timer.load(std::memory_order_relaxed) <= now_tick) poll_timers(this, now_tick, false);
  // I/O: a busy worker checks readiness without blocking at the same rate, so CPU-bound fibers
  // never starve I/O (unless one runs without ever yielding).
  Driver* io = rt->driver.load(std::memory_order_acquire);
  if (io != nullptr && io->registered()) io->try_poll_nonblocking();
}

std::uint64_t Worker::help_grace_ticks() const noexcept {
  return static_cast<std::uint64_t>(rt->cfg.poll_interval.count()) / RuntimeImpl::kTickNs + 1;
}

bool Worker::timer_due_for(const Worker& w, std::uint64_t now_tick) const noexcept {
  const std::uint64_t next = w.next_timer.load(std::memory_order_relaxed);
  if (next == TimerWheel::kNever) return false;
  return next + (&w == this ? 0 : help_grace_ticks()) <= now_tick;
}

std::size_t Worker::poll_timers(Worker* runner, std::uint64_t now_tick, bool try_only) {
  if (try_only) {
    if (!timer_lock.try_lock()) return 0;
  } else {
    timer_lock.lock();
  }
  TaskCore* ready = nullptr;
  std::size_t woken = 0;
  wheel.advance(now_tick, [&](TimerEntry* e) {
    // Exactly one waker enqueues a parked fiber; the fiber re-checks its entry under this lock.
    if (e->task->park.exchange(kParkNotified, std::memory_order_acq_rel) == kParkParked) {
      e->task->next = ready;
      ready = e->task;
    }
  });
  next_timer.store(wheel.next_expiration(), std::memory_order_relaxed);
  timer_lock.unlock();
  while (ready != nullptr) {
    TaskCore* t = ready;
    ready = t->next;
    t->next = nullptr;
    runner->make_ready(t);
    ++woken;
  }
  if (woken > 0) {
    runner->counters.timers_fired.add(woken);
    if (rt->cfg.enable_work_stealing && woken > 1) rt->notify_work();
  }
  return woken;
}

bool Worker::poll_all_timers(bool force) {
  const std::uint64_t now_tick = rt->tick_of_now(spindle_sys_monotonic_time_ns());
  bool any = false;
  // Our own wheel first; then help with any other worker's due timers (it may be busy in a long
  // fiber).
  if (next_timer.load(std::memory_order_relaxed) <= now_tick) {
    any |= poll_timers(this, now_tick, !force) > 0;
  }
  // Help only a worker that is overdue (stuck in a long fiber): an owner that keeps up would
  // otherwise contend with us for its wheel lock. has_visible_work and park_timeout_ns use the same
  // rule.
  for (auto& w : rt->workers) {
    if (w.get() != this && timer_due_for(*w, now_tick)) {
      any |= w->poll_timers(this, now_tick, true) > 0;
    }
  }
  return any;
}

std::uint64_t RuntimeImpl::tick_of_deadline(std::uint64_t deadline_ns) const noexcept {
  if (deadline_ns <= epoch_ns) return 0;
  const std::uint64_t since = deadline_ns - epoch_ns;
  return since / kTickNs + (since % kTickNs != 0 ? 1 : 0);
}

std::uint64_t RuntimeImpl::tick_of_now(std::uint64_t now_ns) const noexcept {
  return now_ns <= epoch_ns ? 0 : (now_ns - epoch_ns) / kTickNs;
}

std::uint64_t RuntimeImpl::ns_of_tick(std::uint64_t tick) const noexcept {
  return epoch_ns + tick * kTickNs;
}

// Arms `entry` on this worker's wheel for `deadline_tick`; false when that time has already passed.
bool Worker::arm_timer(TimerEntry& entry, std::uint64_t deadline_tick) noexcept {
  std::lock_guard<SpinLock> g(timer_lock);
  if (deadline_tick <= wheel.elapsed()) return false;  // a worker has seen that time pass
  entry.when = deadline_tick;
  wheel.insert(&entry);  // any later tick: the wheel never lowers or wraps it
  next_timer.store(wheel.next_expiration(), std::memory_order_relaxed);
  return true;
}

// Unlinks `entry` if still pending; returns whether it was.
bool Worker::disarm_timer(TimerEntry& entry) noexcept {
  std::lock_guard<SpinLock> g(timer_lock);
  if (!entry.linked()) return false;
  wheel.remove(&entry);
  next_timer.store(wheel.next_expiration(), std::memory_order_relaxed);
  return true;
}

}  // namespace spindle::detail
