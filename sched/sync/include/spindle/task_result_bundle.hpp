/// @file
/// spindle/task_result_bundle.hpp: TaskResultBundle<T>, a group of fallible tasks that succeed or
/// fail together.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "spindle/cancellation_token.hpp"
#include "spindle/join_handle.hpp"
#include "spindle/runtime.hpp"
#include "spindle/spawn_options.hpp"
#include "spindle/this_fiber.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// TaskResultBundle<T> runs several tasks returning T (void included) and collects them as one:
/// wait_all() returns every result in spawn order, or, as soon as one task fails (ends with an
/// exception, Cancelled included), cancels the others through the bundle's token, waits until all
/// have ended, and rethrows the first failure. Nothing leaks: destroying a bundle that was not
/// waited for cancels its unfinished tasks and waits for all of them to end.
///
/// The bundle's token is a child of the creating fiber's own token (a root token outside fibers),
/// so cancelling the fiber that owns the bundle cancels its tasks too. Not thread-safe: one owner
/// spawns and waits.
template <class T>
class TaskResultBundle {
 public:
  /// TaskResultBundle makes an empty bundle whose tasks run on the calling fiber's runtime. Throws
  /// std::logic_error outside a fiber (use the AsyncRuntime& overload there), std::bad_alloc.
  TaskResultBundle() : rt_(nullptr), token_(make_token()), state_(std::make_shared<State>()) {
    if (!this_fiber::in_fiber()) {
      throw std::logic_error(
          "spindle::TaskResultBundle: made outside a fiber without an AsyncRuntime");
    }
  }
  /// TaskResultBundle makes an empty bundle whose tasks run on `rt`.
  explicit TaskResultBundle(AsyncRuntime& rt)
      : rt_(&rt), token_(make_token()), state_(std::make_shared<State>()) {}
  TaskResultBundle(const TaskResultBundle&) = delete;
  TaskResultBundle& operator=(const TaskResultBundle&) = delete;
  /// ~TaskResultBundle cancels the unfinished tasks of a bundle not waited for and waits until
  /// every task has ended (parks the calling fiber, or blocks the thread; not a cancellation
  /// point).
  ~TaskResultBundle() {
    if (waited_) return;
    token_.cancel();
    for (auto& h : handles_) h.wait(false);
  }

  /// spawn starts `f` (returning T) as a task of the bundle at priority `p`, bound to the bundle's
  /// token. Never blocks. Throws std::logic_error after wait_all(), what spawn throws.
  template <class F>
  void spawn(F&& f, TaskPriority p = TaskPriority::Normal) {
    if (waited_) throw std::logic_error("spindle::TaskResultBundle::spawn: after wait_all()");
    SpawnOptions opts;
    opts.priority = p;
    opts.token = token_;
    auto body = [st = state_, tok = token_, fn = std::forward<F>(f)]() mutable -> T {
      try {
        return fn();
      } catch (...) {
        // The first failure wins; the others are most likely the Cancelled it causes.
        bool expected = false;
        if (st->failed.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
          st->first = std::current_exception();
        }
        tok.cancel();
        throw;
      }
    };
    // Room first: a push_back that threw after the spawn would detach a running task.
    if (handles_.size() == handles_.capacity()) handles_.reserve(2 * handles_.size() + 4);
    if (rt_ != nullptr) {
      handles_.push_back(rt_->spawn(std::move(body), opts));
    } else {
      handles_.push_back(spindle::spawn(std::move(body), opts));
    }
  }

  /// wait_all waits until every task has ended and returns their results in spawn order (void for
  /// T = void), or rethrows the first failure once all have ended. A cancellation point: if the
  /// calling fiber is cancelled, its tasks are cancelled (the bundle's token is a child of the
  /// fiber's), wait_all still waits for them all to end, then throws Cancelled. Blocks the calling
  /// fiber (parks it), or the calling thread outside a fiber. Once it has returned or thrown, the
  /// bundle is spent: a second wait_all (or timed form) throws std::logic_error.
  auto wait_all() { return wait_all_deadline(detail::kNoDeadline, "wait_all"); }

  /// wait_all_for is wait_all giving up after `timeout`: if some task has not ended by then, it
  /// throws std::system_error(std::errc::timed_out) and the bundle stays as it was (its tasks keep
  /// running and are not cancelled by the timeout; wait again, cancel(), or let the destructor
  /// cancel and wait). A zero or negative timeout only checks: it never blocks and never throws
  /// Cancelled. If the calling fiber is cancelled while waiting, the tasks are cancelled and it
  /// waits for them until the same deadline, then throws Cancelled (tasks still running then are
  /// waited for by the destructor). Throws std::logic_error once the bundle is spent.
  template <class Rep, class Period>
  auto wait_all_for(const std::chrono::duration<Rep, Period>& timeout) {
    return wait_all_deadline(detail::deadline_after(timeout), "wait_all_for");
  }
  /// wait_all_until is wait_all_for with a deadline on any clock (a non-steady clock is converted
  /// once, at the call).
  template <class Clock, class Duration>
  auto wait_all_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    return wait_all_deadline(detail::deadline_at(deadline), "wait_all_until");
  }

  /// cancel cancels every task of the bundle (wait_all then rethrows Cancelled, unless all had
  /// already completed). Never blocks.
  void cancel() noexcept { token_.cancel(); }
  /// token returns the bundle's token (cancelled on the first failure or by cancel()).
  const CancellationToken& token() const noexcept { return token_; }
  /// size returns how many tasks were spawned.
  std::size_t size() const noexcept { return handles_.size(); }

 private:
  struct State {
    std::atomic<bool> failed{false};
    std::exception_ptr first;  // written once by the winner of `failed`, read after all ended
  };
  // wait_all_deadline is wait_all with a monotonic deadline (kNoDeadline: none); `what` names the
  // public call in errors.
  auto wait_all_deadline(std::uint64_t deadline, const char* what) {
    if (waited_) {
      throw std::logic_error(std::string("spindle::TaskResultBundle::") + what +
                             ": the bundle was already waited for");
    }
    bool caller_cancelled = false;
    for (auto& h : handles_) {
      if (!caller_cancelled) {
        bool ended = false;
        try {
          ended = h.wait_deadline(deadline, true);
        } catch (const Cancelled&) {
          caller_cancelled = true;  // we were cancelled: the tasks are cancelled too
          token_.cancel();
        }
        if (ended) continue;
        if (!caller_cancelled) {
          throw std::system_error(std::make_error_code(std::errc::timed_out),
                                  std::string("spindle::TaskResultBundle::") + what);
        }
      }
      // Not waited_: the destructor waits for what is still running.
      if (!h.wait_deadline(deadline, false)) throw Cancelled{};
    }
    waited_ = true;
    if (caller_cancelled) throw Cancelled{};
    if (state_->failed.load(std::memory_order_acquire)) std::rethrow_exception(state_->first);
    if constexpr (std::is_void_v<T>) {
      for (auto& h : handles_) h.join();
    } else {
      std::vector<T> out;
      out.reserve(handles_.size());
      for (auto& h : handles_) out.push_back(h.join());
      return out;
    }
  }
  static CancellationToken make_token() {
    return this_fiber::in_fiber() ? this_fiber::cancellation_token().child() : CancellationToken();
  }

  AsyncRuntime* rt_;
  CancellationToken token_;
  std::shared_ptr<State> state_;
  std::vector<JoinHandle<T>> handles_;
  bool waited_ = false;
};

}  // namespace spindle

SPINDLE_API_END
