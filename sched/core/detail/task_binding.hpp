// sched/core/detail/task_binding.hpp (internal): what ties a task to cancellation tokens and to the
// runtime's cleanup accounting. Allocated only for tasks that need it (bound, cleanup, or asked for
// their own token); most tasks have none.
#pragma once

#include <atomic>
#include <optional>

#include "spindle/cancellation_token.hpp"
#include "spindle/detail/cancel_hook.hpp"

namespace spindle::detail {

struct TaskCore;

// TaskBinding hangs off TaskCore::binding.
struct TaskBinding {
  TaskCore* task = nullptr;
  // parent is the token the task is bound to (its hook cancels the task).
  std::optional<CancellationToken> parent;
  CancelHook hook;
  bool attached = false;  // hook is on parent's list (until the task finishes)
  bool cleanup = false;   // counted in RuntimeImpl::cleanup_live
  // own is the task's own token, made on first this_fiber::cancellation_token(); published with a
  // release store, read by task_cancel on other threads.
  std::atomic<CancellationToken*> own{nullptr};

  ~TaskBinding() { delete own.load(std::memory_order_relaxed); }
};

}  // namespace spindle::detail
