// What a fiber does to itself: yield, sleep, id, name, cancellation checks.
#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <thread>

#include "detail/runtime_impl.hpp"
#include "spindle/sys.h"
#include "spindle/this_fiber.hpp"

namespace spindle {

namespace {
detail::TaskCore* current_task() noexcept {
  detail::Worker* w = detail::current_worker();
  return w != nullptr ? w->current : nullptr;
}

detail::TaskCore* require_task(const char* what) {
  detail::TaskCore* t = current_task();
  if (t == nullptr) {
    throw std::logic_error(std::string("spindle::this_fiber::") + what + " called outside a fiber");
  }
  return t;
}

// sleep_on_wheel parks the calling fiber until the wheel of the worker it started on fires the tick
// of `deadline_ns`. It reads no clock: the wheel's time is the last tick a worker observed, and an
// entry only fires once a worker has seen the clock reach its tick, so the sleep is never short.
void sleep_on_wheel(detail::Worker* home, detail::TaskCore* self, std::uint64_t deadline_ns) {
  detail::RuntimeImpl* rt = home->rt;
  const std::uint64_t deadline_tick = rt->tick_of_deadline(deadline_ns);
  for (;;) {
    detail::TimerEntry entry;
    entry.task = self;
    {
      std::lock_guard<detail::SpinLock> g(home->timer_lock);
      if (deadline_tick <= home->wheel.elapsed()) return;  // a worker has seen that time pass
      entry.when = deadline_tick;
      home->wheel.insert(&entry);  // may lower `when` to the wheel's span (re-armed below)
      home->next_timer.store(home->wheel.next_expiration(), std::memory_order_relaxed);
    }
    for (;;) {
      detail::current_worker()->park_current();
      bool linked;
      bool cancel = detail::cancel_deliverable(self);
      {
        std::lock_guard<detail::SpinLock> g(home->timer_lock);
        linked = entry.linked();
        if (linked && cancel) {
          home->wheel.remove(&entry);
          home->next_timer.store(home->wheel.next_expiration(), std::memory_order_relaxed);
        }
      }
      if (!linked) break;  // fired
      if (cancel) throw Cancelled{};
      // Woken for another reason (a stale notification): keep waiting.
    }
    // A fired timer still delivers a pending cancellation at this blocking point.
    if (detail::cancel_deliverable(self)) throw Cancelled{};
    if (entry.when >= deadline_tick) return;  // otherwise the wheel capped it: wait for the rest
  }
}

// to_monotonic_ns converts a steady_clock time to spindle_sys_monotonic_time_ns's scale. With
// libstdc++ on Linux both are CLOCK_MONOTONIC in nanoseconds, so no clock is read; elsewhere it
// converts through one reading of each clock.
std::uint64_t to_monotonic_ns(std::chrono::steady_clock::time_point deadline) {
  const auto since_epoch =
      std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
#if defined(__linux__) && defined(__GLIBCXX__)
  return since_epoch <= 0 ? 0 : static_cast<std::uint64_t>(since_epoch);
#else
  (void)since_epoch;
  const auto now_tp = std::chrono::steady_clock::now();
  const std::uint64_t now_ns = spindle_sys_monotonic_time_ns();
  if (deadline <= now_tp) return now_ns;
  const auto delta =
      std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now_tp).count();
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - now_ns;
  return static_cast<std::uint64_t>(delta) >= limit ? std::numeric_limits<std::uint64_t>::max()
                                                    : now_ns + static_cast<std::uint64_t>(delta);
#endif
}
}  // namespace

TaskId current_task_id() noexcept {
  detail::TaskCore* t = current_task();
  return t != nullptr ? TaskId{t->dbg.id} : TaskId{};
}

namespace this_fiber {

bool in_fiber() noexcept {
  return current_task() != nullptr;
}

void yield() {
  detail::Worker* w = detail::current_worker();
  if (w == nullptr || w->current == nullptr) {
    std::this_thread::yield();
    return;
  }
  w->switch_from_fiber(detail::SwitchKind::kYield);
}

void sleep_until(std::chrono::steady_clock::time_point deadline) {
  detail::Worker* w = detail::current_worker();
  if (w == nullptr || w->current == nullptr) {
    std::this_thread::sleep_until(deadline);
    return;
  }
  detail::TaskCore* self = w->current;
  if (detail::cancel_deliverable(self)) throw Cancelled{};
  if (deadline == std::chrono::steady_clock::time_point::max()) {
    // Until cancelled.
    for (;;) {
      detail::current_worker()->park_current();
      if (detail::cancel_deliverable(self)) throw Cancelled{};
    }
  }
  sleep_on_wheel(w, self, to_monotonic_ns(deadline));
}

TaskId id() {
  return TaskId{require_task("id")->dbg.id};
}

TaskPriority priority() {
  return require_task("priority")->priority;
}

bool is_cancelled() noexcept {
  detail::TaskCore* t = current_task();
  return t != nullptr && t->cancel.load(std::memory_order_acquire);
}

void set_name(std::string_view name) {
  detail::TaskCore* t = require_task("set_name");
  constexpr std::size_t kMax = 31;
  const std::size_t n = std::min(name.size(), kMax);
  char* copy = static_cast<char*>(detail::cb_alloc(n + 1));
  std::memcpy(copy, name.data(), n);
  copy[n] = '\0';
  const char* old = t->dbg.name;
  t->dbg.name = copy;
  if (old != nullptr) detail::cb_free(const_cast<char*>(old));
}

}  // namespace this_fiber
}  // namespace spindle
