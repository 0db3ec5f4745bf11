// The task lifecycle: allocation, spawn, completion, join, cancellation, free.
#include <algorithm>
#include <cassert>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "detail/runtime_impl.hpp"
#include "detail/task_binding.hpp"
#include "spindle/detail/wait.hpp"
#include "spindle/fiber/unpooled_stack.hpp"
#include "spindle/spawn_options.hpp"

namespace spindle {

const char* Cancelled::what() const noexcept {
  return "spindle: task cancelled";
}

const char* to_string(TaskPriority p) noexcept {
  switch (p) {
    case TaskPriority::Low:
      return "Low";
    case TaskPriority::Normal:
      return "Normal";
    case TaskPriority::High:
      return "High";
    case TaskPriority::Critical:
      return "Critical";
  }
  return "?";
}

const char* to_string(TaskState s) noexcept {
  switch (s) {
    case TaskState::Pending:
      return "Pending";
    case TaskState::Running:
      return "Running";
    case TaskState::Waiting:
      return "Waiting";
    case TaskState::Completed:
      return "Completed";
    case TaskState::Cancelled:
      return "Cancelled";
    case TaskState::Failed:
      return "Failed";
  }
  return "?";
}

}  // namespace spindle

namespace spindle::detail {

namespace {
// kThreadJoiner marks TaskCore::joiner when an OS thread (not a fiber) waits.
constexpr std::uintptr_t kThreadJoiner = 2;
}  // namespace

bool cancel_deliverable(const TaskCore* t) noexcept {
  return t->cancel.load(std::memory_order_acquire) && !t->cancel_masked &&
         std::uncaught_exceptions() == 0;
}

void* task_allocate(std::size_t size) {
  void* mem = cb_alloc(kCoreSize + size);
  auto* core = ::new (mem) TaskCore();
  return reinterpret_cast<char*>(core) + kCoreSize;
}

void task_free_unsubmitted(void* mem) noexcept {
  TaskCore* core = reinterpret_cast<TaskCore*>(static_cast<char*>(mem) - kCoreSize);
  core->~TaskCore();
  cb_free(core);
}

namespace {
void task_free(TaskCore* t) noexcept {
  payload_of(t)->destroy();
  delete t->binding.load(std::memory_order_relaxed);
  if (t->dbg.name != nullptr) cb_free(const_cast<char*>(t->dbg.name));
  t->~TaskCore();
  cb_free(t);
}
}  // namespace

void task_unref(TaskCore* t) noexcept {
  if (t->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) task_free(t);
}

namespace {
void on_parent_cancel(CancelHook* hook) noexcept {
  auto* b =
      reinterpret_cast<TaskBinding*>(reinterpret_cast<char*>(hook) - offsetof(TaskBinding, hook));
  cancel_core(b->task);
}

// bind_task ties a new task to its token and cleanup role (see SpawnOptions) before it is queued.
void bind_task(RuntimeImpl* rt, TaskCore* t, const SpawnOptions* opts) {
  const CancellationToken* tok = nullptr;
  const bool cleanup = opts != nullptr && opts->cleanup;
  if (cleanup) {
    tok = &rt->cleanup_token;
  } else if (opts != nullptr && opts->token) {
    tok = &*opts->token;
  } else if (opts == nullptr || opts->inherit_token) {
    Worker* w = current_worker();
    TaskCore* spawner = w != nullptr ? w->current : nullptr;
    TaskBinding* sb =
        spawner != nullptr ? spawner->binding.load(std::memory_order_acquire) : nullptr;
    if (sb != nullptr && sb->parent) tok = &*sb->parent;
  }
  if (tok == nullptr) return;
  auto* b = new TaskBinding();
  b->task = t;
  b->parent = *tok;
  b->cleanup = cleanup;
  b->hook.fn = &on_parent_cancel;
  if (token_attach(*b->parent, &b->hook)) {
    b->attached = true;
  } else {
    t->cancel.store(true, std::memory_order_relaxed);  // already cancelled: it never starts
  }
  t->binding.store(b, std::memory_order_release);
  if (cleanup) {
    std::lock_guard<std::mutex> g(rt->cleanup_mu);
    ++rt->cleanup_live;
  }
}

// unbind_task detaches a finishing (or never-queued) task from its token and cleanup count.
void unbind_task(RuntimeImpl* rt, TaskCore* t) noexcept {
  TaskBinding* b = t->binding.load(std::memory_order_acquire);
  if (b == nullptr) return;
  if (b->attached) {
    token_detach(*b->parent, &b->hook);  // waits if the hook runs on another thread right now
    b->attached = false;
  }
  if (b->cleanup) {
    b->cleanup = false;
    std::lock_guard<std::mutex> g(rt->cleanup_mu);
    if (--rt->cleanup_live == 0) rt->cleanup_cv.notify_all();
  }
}
}  // namespace

namespace {
// apply_spawn_options takes SpawnOptions::name and stack_size into a task not queued yet. Throws
// std::invalid_argument for a bad stack_size, std::bad_alloc.
__attribute__((noinline)) void apply_spawn_options(RuntimeImpl* rt, TaskCore* t,
                                                   const SpawnOptions& opts) {
  if (opts.stack_size != 0) {
    const std::size_t max = rt->cfg.max_stack_size;
    if (opts.stack_size < fiber::StackPool::kMinStackSize || opts.stack_size > max) {
      throw std::invalid_argument(
          "spindle::SpawnOptions::stack_size = " + std::to_string(opts.stack_size) +
          " is invalid: allowed range is 16384 (16 KiB) to " + std::to_string(max) +
          " bytes (AsyncRuntimeConfig::max_stack_size), or 0 for that "
          "default");
    }
    const std::size_t page = fiber::unpooled_guard_size();
    const std::size_t rounded = (opts.stack_size + page - 1) / page * page;
    if (rounded != rt->stacks.stack_size()) {
      t->custom_stack = true;
      t->dbg.stack_size = rounded;
    }
  }
  if (!opts.name.empty()) {
    constexpr std::size_t kMax = 31;  // as this_fiber::set_name
    const std::size_t n = std::min(opts.name.size(), kMax);
    char* copy = static_cast<char*>(cb_alloc(n + 1));
    std::memcpy(copy, opts.name.data(), n);
    copy[n] = '\0';
    t->dbg.name = copy;  // not in the registry yet: no lock needed
  }
}
}  // namespace

void task_submit(RuntimeImpl* rt, TaskBase* task, TaskPriority p, const SpawnOptions* opts) {
  TaskCore* core = core_of(task);
  try {
    if (static_cast<unsigned>(p) >= static_cast<unsigned>(kTaskPriorityLevels)) {
      throw std::invalid_argument("spindle::spawn_with_priority: priority " +
                                  std::to_string(static_cast<unsigned>(p)) +
                                  " is not a TaskPriority (Low..Critical)");
    }
    if (rt == nullptr) rt = current_runtime();
    if (rt == nullptr) {
      throw std::logic_error(
          "spindle::spawn called outside a fiber: use AsyncRuntime::spawn from plain threads");
    }
    core->rt = rt;
    core->priority = p;
    if (opts != nullptr && (opts->stack_size != 0 || !opts->name.empty())) {
      apply_spawn_options(rt, core, *opts);
    }
    bind_task(rt, core, opts);
    rt->submit(core, p);
  } catch (...) {
    // Never queued: nothing else refers to it.
    if (core->rt != nullptr) unbind_task(core->rt, core);
    if (core->dbg.name != nullptr) cb_free(const_cast<char*>(core->dbg.name));
    task->destroy();
    task_free_unsubmitted(reinterpret_cast<char*>(core) + kCoreSize);
    throw;
  }
}

void task_release(TaskBase* task) noexcept {
  task_unref(core_of(task));
}

TaskState task_state(const TaskBase* task) noexcept {
  return core_of(task)->state.load(std::memory_order_acquire);
}

TaskId task_id(const TaskBase* task) noexcept {
  return TaskId{core_of(task)->dbg.id};
}

void task_cancel(TaskBase* task) noexcept {
  cancel_core(core_of(task));
}

void cancel_core(TaskCore* t) noexcept {
  // A finished task needs nothing (and its runtime may already be gone: handles can outlive it).
  if (is_finished_state(t->state.load(std::memory_order_acquire))) return;
  t->cancel.store(true, std::memory_order_seq_cst);
  // Its own token (this_fiber::cancellation_token), if made: the maker re-checks `cancel` after
  // publishing it (seq_cst on both sides), so one of us cancels it.
  if (TaskBinding* b = t->binding.load(std::memory_order_seq_cst)) {
    if (CancellationToken* own = b->own.load(std::memory_order_seq_cst)) own->cancel();
  }
  if (t->rt->debug) log_debug(t->rt, "cancel task %llu", (unsigned long long)t->dbg.id);
  // Wake it if it is parked in a blocking call; it sees the flag and throws Cancelled.
  t->rt->unpark_task(t);
}

void task_rethrow(TaskBase* task) {
  // The joiner takes the exception out of the control block: the worker that later frees the block
  // then never destroys it, so the exception object lives and dies with the joiner's catch (its
  // reference count is inside the uninstrumented C++ runtime, which TSan cannot see ordering).
  std::exception_ptr e = std::move(task->error);
  task->error = nullptr;
  if (e) std::rethrow_exception(std::move(e));
  throw Cancelled{};
}

RuntimeImpl* current_runtime() noexcept {
  Worker* w = current_worker();
  return w != nullptr && w->current != nullptr ? w->rt : nullptr;
}

bool task_wait_until(TaskBase* task, bool cancellable, std::uint64_t deadline_ns) {
  // The cooperative budget: joining finished tasks in a loop still yields now and then.
  if (!coop_proceed_ns(deadline_ns) && cancellable) {
    throw Cancelled{};
  }
  TaskCore* t = core_of(task);
  if (t->joiner.load(std::memory_order_acquire) == kJoinFinished) return true;
  Worker* w = current_worker();
  if (w == nullptr || w->current == nullptr) {
    // A plain thread joining a task of a current-thread runtime runs that runtime until the task
    // ends (or the deadline passes), then settles below like any thread joiner.
    if (__builtin_expect(t->rt->current_thread, 0) && w == nullptr) {
      t->rt->drive_task(t, deadline_ns);
    }
    // An OS thread: wait on the runtime's striped condition variable.
    RuntimeImpl::Stripe& s = t->rt->stripe_for(t);
    std::unique_lock<std::mutex> lock(s.m);
    std::uintptr_t expected = kJoinNone;
    if (!t->joiner.compare_exchange_strong(expected, kThreadJoiner, std::memory_order_acq_rel)) {
      if (expected == kJoinFinished) return true;
      throw std::logic_error("spindle::JoinHandle::join: another join is already waiting");
    }
    auto finished = [t] { return t->joiner.load(std::memory_order_acquire) == kJoinFinished; };
    if (deadline_ns == kNoDeadline) {
      s.cv.wait(lock, finished);
      return true;
    }
    const std::uint64_t now = now_ns();
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::nanoseconds(deadline_ns > now ? deadline_ns - now : 0);
    if (s.cv.wait_until(lock, until, finished)) return true;
    // Timed out: withdraw. The completer swaps in kJoinFinished before it takes this lock, so a
    // failed withdrawal means the task has finished.
    std::uintptr_t mine = kThreadJoiner;
    return !t->joiner.compare_exchange_strong(mine, kJoinNone, std::memory_order_acq_rel);
  }
  TaskCore* self = w->current;
  if (self == t) throw std::logic_error("spindle::JoinHandle::join: a fiber cannot join itself");
  // A passed deadline (a zero timeout) is a plain check: no registration, not a cancellation point.
  if (deadline_passed(deadline_ns)) return false;
  if (cancellable && cancel_deliverable(self)) throw Cancelled{};
  Waiter waiter;  // signalled by complete() through wait_signal
  std::uintptr_t expected = kJoinNone;
  if (!t->joiner.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(&waiter),
                                         std::memory_order_acq_rel)) {
    if (expected == kJoinFinished) return true;
    throw std::logic_error("spindle::JoinHandle::join: another join is already waiting");
  }
  const WaitStatus st = wait_block(waiter, deadline_ns, cancellable);
  if (st == WaitStatus::Signaled) return true;
  // Timed out or cancelled: withdraw, unless the task finished meanwhile (then its completer is
  // signalling `waiter`, which must outlive that).
  std::uintptr_t mine = reinterpret_cast<std::uintptr_t>(&waiter);
  if (t->joiner.compare_exchange_strong(mine, kJoinNone, std::memory_order_acq_rel)) {
    if (st == WaitStatus::Cancelled) throw Cancelled{};
    return false;
  }
  wait_settle(waiter);
  return true;
}

void task_wait(TaskBase* task, bool cancellable) {
  task_wait_until(task, cancellable, kNoDeadline);
}

void RuntimeImpl::complete(TaskCore* t, TaskState end, Worker* w) {
  registry.remove(t);
  unbind_task(this, t);
  t->state.store(end, std::memory_order_release);
  switch (end) {
    case TaskState::Completed:
      w->counters.completed.add();
      break;
    case TaskState::Cancelled:
      w->counters.cancelled.add();
      break;
    default:
      w->counters.failed.add();
      break;
  }
  if (debug) {
    log_debug(this, "worker %u: task %llu %s", w->index, (unsigned long long)t->dbg.id,
              to_string(end));
  }
  const std::uintptr_t j = t->joiner.exchange(kJoinFinished, std::memory_order_acq_rel);
  // A current-thread runtime: a thread waiting for the driver role may be waiting for this task.
  if (__builtin_expect(current_thread, 0)) notify_drive_waiters();
  if (j == kThreadJoiner) {
    Stripe& s = stripe_for(t);
    { std::lock_guard<std::mutex> lock(s.m); }
    s.cv.notify_all();
  } else if (j > kThreadJoiner) {
    // A fiber joiner: it cannot leave its wait before being signalled (wait_signal pins it).
    wait_signal(*reinterpret_cast<Waiter*>(j));
  }
}

}  // namespace spindle::detail
