// The cooperative budget (spindle/detail/coop.hpp; docs/scheduler.md, "Cooperative budget").
#include "spindle/detail/coop.hpp"

#include "detail/runtime_impl.hpp"
#include "spindle/sys.h"

namespace spindle::detail {

thread_local constinit std::uint32_t coop_budget = kCoopBudget;

namespace {

// exhausted is coop_step's slow path: the budget has just run out.
bool exhausted() noexcept {
  coop_budget = kCoopBudget;  // before any switch: the thread-local is not touched after one
  Worker* w = current_worker();
  if (w == nullptr || w->current == nullptr) return true;  // a plain thread: only counts
  TaskCore* self = w->current;
  // Yield only once the fiber has held its worker for poll_interval: a fiber that finishes (or
  // blocks) sooner is not sent to the back of the queue, which would start every queued fiber
  // (and take a stack for each) in a burst of short ones. A cancellation is delivered at once.
  if (!cancel_deliverable(self)) {
    const std::uint64_t now = spindle_sys_monotonic_time_ns();
    if (w->coop_slice_ns == 0) w->coop_slice_ns = now;
    if (now - w->coop_slice_ns < static_cast<std::uint64_t>(w->rt->cfg.poll_interval.count())) {
      return true;
    }
  }
  w->poll_at_next_decision();                // timers and I/O that came due meanwhile go first
  w->switch_from_fiber(SwitchKind::kYield);  // may resume on another worker (refilled there)
  return !cancel_deliverable(self);
}

}  // namespace

bool coop_step() noexcept {
  if (--coop_budget != 0) [[likely]]
    return true;
  return exhausted();
}

}  // namespace spindle::detail
