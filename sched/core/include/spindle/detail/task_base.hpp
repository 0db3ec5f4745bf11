// spindle/detail/task_base.hpp: the typed part of a task control block, needed by the spawn and
// JoinHandle templates. Everything else about a task (its fiber, queues, timers) is private to the
// runtime. Not part of the public API: use spawn() and JoinHandle.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "spindle/task.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {
struct SpawnOptions;
}  // namespace spindle

namespace spindle::detail {

class SPINDLE_INTERNAL RuntimeImpl;

// TaskBase is the type-erased payload of a task: the callable before it runs, its result or
// exception after. The runtime allocates it behind its private control block (task_allocate).
class TaskBase {
 public:
  // run invokes the callable on the task's fiber and stores the result; exceptions propagate to the
  // runtime, which stores them in `error`.
  virtual void run() = 0;
  // destroy ends the lifetime of the whole object: callable or result, and `error` (the runtime
  // frees the memory).
  virtual void destroy() noexcept = 0;

  // error is the exception the task ended with (Failed or Cancelled), else null.
  std::exception_ptr error;

 protected:
  ~TaskBase() = default;
};

// ResultSource holds a task's result of type R until join() takes it. JoinHandle<R> reaches the
// result through it without knowing the callable's type.
template <class R>
class ResultSource : public TaskBase {
 public:
  // take_result moves the result out (only after the task Completed).
  R take_result() {
    R r = std::move(slot_.value);
    slot_.value.~R();
    has_value_ = false;
    return r;
  }

 protected:
  ~ResultSource() = default;
  template <class... A>
  void set_result(A&&... a) {
    ::new (static_cast<void*>(&slot_.value)) R(std::forward<A>(a)...);
    has_value_ = true;
  }
  void destroy_result() noexcept {
    if (has_value_) {
      slot_.value.~R();
      has_value_ = false;
    }
  }

 private:
  union Slot {
    Slot() {}
    ~Slot() {}
    R value;
  };
  Slot slot_;
  bool has_value_ = false;
};

// ResultSource<void> has no result to hold.
template <>
class ResultSource<void> : public TaskBase {
 public:
  void take_result() noexcept {}

 protected:
  ~ResultSource() = default;
  void destroy_result() noexcept {}
};

// TaskImpl stores a callable F until it runs; its result goes to ResultSource<R>.
template <class F, class R>
class TaskImpl final : public ResultSource<R> {
 public:
  static_assert(!std::is_reference_v<R>, "spindle::spawn: a task cannot return a reference");
  static_assert(alignof(F) <= alignof(std::max_align_t), "spindle::spawn: over-aligned callable");

  template <class G>
  explicit TaskImpl(G&& f) {
    ::new (static_cast<void*>(&fn_.f)) F(std::forward<G>(f));
    has_fn_ = true;
  }

  void run() override {
    if constexpr (std::is_void_v<R>) {
      std::invoke(fn_.f);
      destroy_fn();
    } else {
      R r = std::invoke(fn_.f);
      destroy_fn();
      this->set_result(std::move(r));
    }
  }

  void destroy() noexcept override {
    destroy_fn();
    this->destroy_result();
    this->~TaskImpl();  // ends TaskBase too (its exception_ptr)
  }

 private:
  void destroy_fn() noexcept {
    if (has_fn_) {
      fn_.f.~F();
      has_fn_ = false;
    }
  }
  union Fn {
    Fn() {}
    ~Fn() {}
    F f;
  };
  Fn fn_;
  bool has_fn_ = false;
};

// task_allocate returns memory for a TaskImpl of `size` bytes (alignment <=
// alignof(std::max_align_t)) with the runtime's control block in front of it. Throws
// std::bad_alloc.
void* task_allocate(std::size_t size);
// task_free_unsubmitted frees memory from task_allocate whose TaskImpl was never constructed.
void task_free_unsubmitted(void* mem) noexcept;
// task_submit hands a constructed task to `rt` (nullptr: the runtime of the calling fiber) at
// priority `p`. On any throw (std::logic_error outside a fiber with rt == nullptr,
// std::runtime_error when the runtime no longer accepts spawns) the task is destroyed and freed
// before the exception propagates. `opts` (may be null) binds the task to a token or marks it as a
// cleanup task (see SpawnOptions).
void task_submit(RuntimeImpl* rt, TaskBase* task, TaskPriority p, const SpawnOptions* opts);
// task_release drops the handle's reference (detaching the task if it has not finished).
void task_release(TaskBase* task) noexcept;
// task_wait blocks until `task` has finished: the calling fiber parks (a cancellation point when
// `cancellable`: throws Cancelled if the *caller* is cancelled) or, outside a fiber, the OS thread
// blocks.
void task_wait(TaskBase* task, bool cancellable = true);
// task_wait_until is task_wait giving up at `deadline_ns` (CLOCK_MONOTONIC ns; kNoDeadline: never);
// returns whether the task has finished. A passed deadline is a plain check (no wait, no
// Cancelled).
bool task_wait_until(TaskBase* task, bool cancellable, std::uint64_t deadline_ns);
// task_state returns the task's current state.
TaskState task_state(const TaskBase* task) noexcept;
// task_id returns the task's id.
TaskId task_id(const TaskBase* task) noexcept;
// task_cancel requests cancellation of the task.
void task_cancel(TaskBase* task) noexcept;
// task_rethrow throws the exception a finished, not Completed, task ended with, moving it out of
// the task (once: JoinHandle::join calls it at most once per task).
[[noreturn]] void task_rethrow(TaskBase* task);
// current_runtime returns the runtime of the calling fiber, or nullptr outside a fiber.
RuntimeImpl* current_runtime() noexcept;

}  // namespace spindle::detail

SPINDLE_API_END
