// Idle workers: spinning briefly, then parking on the Parker or in the I/O driver, with a timeout
// from the earliest timer; waking a parked worker's thread (docs/scheduler.md,
// "Parking idle workers").
#include <algorithm>

#include "detail/runtime_impl.hpp"
#include "spindle/sys.h"

namespace spindle::detail {

namespace {
// Spin rounds an idle worker makes (re-checking for work) before it parks its thread.
constexpr int kIdleSpinRounds = 64;
}  // namespace

void Worker::wake_thread() noexcept {
  parker.unpark();
  // An idle worker holding the driver role sleeps in the reactor. It sets in_reactor, then looks
  // for a Parker permit before blocking; we leave a permit, then look at in_reactor (a Dekker pair,
  // all sequentially consistent): one of us sees the other.
  if (in_reactor.load(std::memory_order_seq_cst))
    rt->driver.load(std::memory_order_acquire)->wake();
}

bool Worker::has_visible_work() {
  // The counts, not the mask: this check pairs with the pushers' count update (Dekker, see
  // idle_wait).
  if (rt->global.size() != 0 || local_mask() != 0) return true;
  if (run_next.load(std::memory_order_acquire) != nullptr) return true;
  if (inbox_full.load(std::memory_order_acquire)) return true;
  if (rt->cfg.enable_work_stealing) {
    for (auto& w : rt->workers) {
      if (w.get() == this) continue;
      for (auto& q : w->queues) {
        if (!q.empty()) return true;
      }
    }
  }
  const std::uint64_t now_tick = rt->tick_of_now(spindle_sys_monotonic_time_ns());
  for (auto& w : rt->workers) {
    if (timer_due_for(*w, now_tick)) return true;
  }
  return false;
}

std::int64_t Worker::park_timeout_ns(bool watch) {
  std::uint64_t earliest = TimerWheel::kNever;
  for (auto& w : rt->workers) {
    const std::uint64_t next = w->next_timer.load(std::memory_order_relaxed);
    if (next == TimerWheel::kNever) continue;
    earliest = std::min(earliest, w.get() == this ? next : next + help_grace_ticks());
  }
  std::int64_t watch_ns = watch ? static_cast<std::int64_t>(rt->cfg.poll_interval.count()) : -1;
  if (drive_deadline_ns_ != kNoDeadline) {
    // A current-thread driver with a deadline (join_for, shutdown(timeout)) wakes up for it.
    const std::uint64_t now = spindle_sys_monotonic_time_ns();
    const auto left = static_cast<std::int64_t>(
        drive_deadline_ns_ > now ? std::min<std::uint64_t>(drive_deadline_ns_ - now, INT64_MAX)
                                 : 0);
    watch_ns = watch_ns >= 0 ? std::min(watch_ns, left) : left;
  }
  if (earliest == TimerWheel::kNever) return watch_ns;
  const std::uint64_t now = spindle_sys_monotonic_time_ns();
  const std::uint64_t at = rt->ns_of_tick(earliest);
  const std::int64_t timer_ns = at > now ? static_cast<std::int64_t>(at - now) : 0;
  return watch_ns >= 0 ? std::min(timer_ns, watch_ns) : timer_ns;
}

void Worker::idle_wait() {
  snapshot_switches();
  for (int i = 0; i < kIdleSpinRounds; ++i) {
    for (int k = 0; k < 32; ++k) pause_cpu();
    if (has_visible_work() || rt->exit.load(std::memory_order_acquire)) return;
  }
  if (TaskCore* t = steal_stuck_run_next()) {
    push_local(t);  // the run loop takes it next
    return;
  }
  // With fds registered, one idle worker sleeps in the reactor instead of its Parker (the I/O
  // driver): timers and I/O then share one wait. in_reactor is set before joining the sleeper
  // list, so a waker that takes us off the list knows to wake the reactor.
  Driver* io = rt->driver.load(std::memory_order_acquire);
  const bool driver = io != nullptr && io->registered() && io->try_acquire_blocking();
  if (driver) in_reactor.store(true, std::memory_order_seq_cst);
  {
    std::lock_guard<std::mutex> g(rt->idle.mu);
    rt->idle.sleepers.push_back(index);
    rt->idle.num_sleeping.fetch_add(1, std::memory_order_seq_cst);
  }
  rt->full_fence();
  bool work = has_visible_work() || rt->exit.load(std::memory_order_acquire);
  bool hand_off = false;
  // Watch the run-next slots (park at most poll_interval) while another worker is awake or a slot
  // is full: that worker may be stuck in a long fiber with a woken one in its slot. One watcher is
  // enough; with every worker asleep and the slots empty nobody watches (an idle runtime sleeps).
  bool watch = false;
  if (!work && multi_worker_stealing_) {
    bool slots = false;
    for (auto& w : rt->workers) slots |= w->run_next.load(std::memory_order_seq_cst) != nullptr;
    const bool others_awake =
        rt->idle.num_sleeping.load(std::memory_order_seq_cst) < rt->workers.size();
    int none = -1;
    watch =
        (slots || others_awake) && rt->idle.run_next_watcher.compare_exchange_strong(
                                       none, static_cast<int>(index), std::memory_order_seq_cst);
  }
  if (!work) {
    // Going to sleep: return the memory of stacks waiting in this worker's release batch first.
    rt->stacks.trim(index);
    counters.parks.add();
    if (rt->debug) log_debug(rt, "worker %u: park%s", index, driver ? " in the reactor" : "");
    metrics.begin_park(spindle_sys_monotonic_time_ns());
    if (driver) {
      // A wake that came before in_reactor was visible left a permit in the Parker instead.
      const std::size_t woken =
          io->poll_blocking(parker.try_consume() ? 0 : park_timeout_ns(watch));
      in_reactor.store(false, std::memory_order_seq_cst);
      // Going back to work: another idle worker should take over the reactor.
      hand_off = woken > 0 || has_visible_work();
    } else {
      parker.park(park_timeout_ns(watch));
    }
    metrics.end_park(spindle_sys_monotonic_time_ns());
    if (watch) rt->idle.run_next_watcher.store(-1, std::memory_order_seq_cst);
  } else if (driver) {
    in_reactor.store(false, std::memory_order_seq_cst);
    io->release_blocking();
  }
  // Leave the sleeper list if nobody took us off it (timeout, spurious wakeup or work found).
  {
    std::lock_guard<std::mutex> g(rt->idle.mu);
    auto it = std::find(rt->idle.sleepers.begin(), rt->idle.sleepers.end(), index);
    if (it != rt->idle.sleepers.end()) {
      rt->idle.sleepers.erase(it);
      rt->idle.num_sleeping.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  if (hand_off) rt->notify_work();
}

}  // namespace spindle::detail
