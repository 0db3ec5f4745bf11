/// @file
/// spindle/join_handle.hpp: JoinHandle<T>, the owner's view of a spawned task.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "spindle/detail/task_base.hpp"
#include "spindle/detail/wait.hpp"
#include "spindle/spawn_options.hpp"
#include "spindle/task.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

template <class T>
class JoinHandle;
template <class T>
class TaskResultBundle;

namespace detail {
template <class R>
JoinHandle<R> make_join_handle(ResultSource<R>* task) noexcept;
}  // namespace detail

/// JoinHandle is the unique handle of a spawned task whose callable returns T (void included). Like
/// std::thread it is movable, not copyable, and default-constructs empty. Destroying (or
/// move-assigning over) a handle detaches the task: a detached task runs to completion and is never
/// cancelled by that. Every result, exception or cancellation of a task reaches join().
/// Cooperative budget: each blocking call (not the try_ forms) spends one unit of the calling
/// fiber's budget; once every 128 such calls in a row (spindle/detail/coop.hpp) the call is a
/// cancellation point even when it would not block (join and the timed waits throw
/// spindle::Cancelled (not for a zero timeout)), and it yields first once the fiber has held its
/// worker for poll_interval. docs/scheduler.md, "Cooperative budget".
template <class T>
class JoinHandle {
 public:
  /// JoinHandle constructs an empty handle (valid() == false).
  JoinHandle() noexcept = default;
  /// JoinHandle takes over `other`'s task; `other` is left empty.
  JoinHandle(JoinHandle&& other) noexcept
      : task_(std::exchange(other.task_, nullptr)), joined_(std::exchange(other.joined_, false)) {}
  /// operator= detaches the current task (see ~JoinHandle), then takes over `other`'s.
  JoinHandle& operator=(JoinHandle&& other) noexcept {
    if (this != &other) {
      reset();
      task_ = std::exchange(other.task_, nullptr);
      joined_ = std::exchange(other.joined_, false);
    }
    return *this;
  }
  JoinHandle(const JoinHandle&) = delete;
  JoinHandle& operator=(const JoinHandle&) = delete;
  /// ~JoinHandle detaches the task (it keeps running).
  ~JoinHandle() { reset(); }

  /// join waits for the task to finish and returns its value, or rethrows its exception (state
  /// Failed), or throws Cancelled (state Cancelled). Blocks the calling fiber (parks it; its worker
  /// runs other fibers) or, outside a fiber, the calling OS thread. Joining is itself a
  /// cancellation point: if the *calling* fiber is cancelled while waiting, join throws Cancelled
  /// and the handle stays joinable. Throws std::logic_error if the handle is empty or was already
  /// joined.
  T join() {
    check("join");
    if (joined_) throw std::logic_error("spindle::JoinHandle::join: task already joined");
    detail::task_wait(task_);
    joined_ = true;
    if (detail::task_state(task_) != TaskState::Completed) detail::task_rethrow(task_);
    if constexpr (!std::is_void_v<T>) {
      return impl()->take_result();
    }
  }

  /// join_for is join giving up after `timeout`: if the task has not finished by then, throws
  /// std::system_error(std::errc::timed_out) and the handle stays joinable (the task keeps
  /// running; this does not cancel it). A zero or negative timeout only checks. Blocks, and throws
  /// Cancelled, like join.
  template <class Rep, class Period>
  T join_for(const std::chrono::duration<Rep, Period>& timeout) {
    check("join_for");
    if (joined_) throw std::logic_error("spindle::JoinHandle::join_for: task already joined");
    if (!detail::task_wait_until(task_, true, detail::deadline_after(timeout))) {
      throw std::system_error(std::make_error_code(std::errc::timed_out),
                              "spindle::JoinHandle::join_for");
    }
    return join();
  }

  /// wait_for waits up to `timeout` for the task to finish, without taking its result; returns
  /// whether it finished (join() then returns at once). A zero or negative timeout only checks
  /// (never blocks, never throws Cancelled). Otherwise blocks, and throws Cancelled, like join.
  /// Throws std::logic_error if the handle is empty.
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) {
    check("wait_for");
    return detail::task_wait_until(task_, true, detail::deadline_after(timeout));
  }
  /// wait_until is wait_for with a deadline on any clock (a non-steady clock is converted once, at
  /// the call).
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    check("wait_until");
    return detail::task_wait_until(task_, true, detail::deadline_at(deadline));
  }

  /// wait blocks until the task has finished, without taking its result (join() then returns at
  /// once). A cancellation point like join() when `cancellable`; with false it is not (for cleanup
  /// paths that must not leave a task behind). Throws std::logic_error if the handle is empty.
  void wait(bool cancellable = true) {
    check("wait");
    detail::task_wait(task_, cancellable);
  }

  /// cancel requests cancellation. A task that has not started never starts; a running one gets
  /// Cancelled thrown at its next blocking point (sleep_for, join, ...); a finished one is
  /// unaffected. Never blocks. Throws std::logic_error if the handle is empty.
  void cancel() {
    check("cancel");
    detail::task_cancel(task_);
  }

  /// state returns the task's current state. Throws std::logic_error if the handle is empty.
  TaskState state() const {
    check("state");
    return detail::task_state(task_);
  }
  /// id returns the task's id. Throws std::logic_error if the handle is empty.
  TaskId id() const {
    check("id");
    return detail::task_id(task_);
  }
  /// is_finished says whether the task has ended (Completed, Cancelled or Failed). Throws
  /// std::logic_error if the handle is empty.
  bool is_finished() const {
    TaskState s = state();
    return s == TaskState::Completed || s == TaskState::Cancelled || s == TaskState::Failed;
  }
  /// valid says whether the handle refers to a task.
  bool valid() const noexcept { return task_ != nullptr; }
  /// detach drops the handle's reference; the task keeps running and is never cancelled by this.
  void detach() noexcept { reset(); }

 private:
  template <class R>
  friend JoinHandle<R> detail::make_join_handle(detail::ResultSource<R>* task) noexcept;
  template <class R>
  friend class TaskResultBundle;

  explicit JoinHandle(detail::TaskBase* task) noexcept : task_(task) {}

  // wait_deadline waits until the task finished or the monotonic deadline passed; returns whether
  // it finished. A cancellation point only when `cancellable`. For TaskResultBundle.
  bool wait_deadline(std::uint64_t deadline_ns, bool cancellable) {
    return detail::task_wait_until(task_, cancellable, deadline_ns);
  }

  void check(const char* what) const {
    if (task_ == nullptr) {
      throw std::logic_error(std::string("spindle::JoinHandle::") + what + ": empty handle");
    }
  }
  void reset() noexcept {
    if (task_ != nullptr) detail::task_release(std::exchange(task_, nullptr));
    joined_ = false;
  }
  // impl returns the task's result holder (the callable's type is erased).
  detail::ResultSource<T>* impl() const noexcept {
    return static_cast<detail::ResultSource<T>*>(task_);
  }

  detail::TaskBase* task_ = nullptr;
  bool joined_ = false;
};

namespace detail {
// make_join_handle wraps a freshly submitted task (whose reference count already counts the
// handle).
template <class R>
JoinHandle<R> make_join_handle(ResultSource<R>* task) noexcept {
  return JoinHandle<R>(task);
}

// spawn_task allocates a task for `f`, submits it to `rt` (nullptr: the calling fiber's runtime) at
// priority `p` (with `opts`, if given: its priority wins) and returns its handle. Throws what
// task_submit throws, or std::bad_alloc.
template <class F>
auto spawn_task(RuntimeImpl* rt, F&& f, TaskPriority p, const SpawnOptions* opts = nullptr) {
  using Fn = std::decay_t<F>;
  using R = std::invoke_result_t<Fn&>;
  using Impl = TaskImpl<Fn, R>;
  void* mem = task_allocate(sizeof(Impl));
  Impl* impl;
  try {
    impl = ::new (mem) Impl(std::forward<F>(f));
  } catch (...) {
    task_free_unsubmitted(mem);
    throw;
  }
  task_submit(rt, impl, p, opts);
  return make_join_handle<R>(impl);
}
}  // namespace detail

}  // namespace spindle

SPINDLE_API_END
