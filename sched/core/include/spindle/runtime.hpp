/// @file
/// spindle/runtime.hpp: AsyncRuntime, an M:N scheduler of stackful fibers over a pool of worker
/// threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "spindle/config.hpp"
#include "spindle/fiber_info.hpp"
#include "spindle/join_handle.hpp"
#include "spindle/stats.hpp"
#include "spindle/task.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

class AsyncRuntime;
namespace detail {
/// runtime_impl_of returns a runtime's internals (for the library's own helpers).
RuntimeImpl* runtime_impl_of(AsyncRuntime& rt) noexcept;
}  // namespace detail

/// AsyncRuntime owns worker threads, their run queues, timers and a stack pool, and runs fibers on
/// them (or, in the current-thread flavor, on the thread that calls block_on; see RuntimeFlavor).
/// There is no global runtime: every runtime is an object, and several may coexist. All member
/// functions are thread-safe.
class AsyncRuntime {
 public:
  /// AsyncRuntime validates `config` and starts its worker threads (none in the current-thread
  /// flavor). Throws std::invalid_argument naming the field, its value and the allowed range for a
  /// bad config; std::system_error if threads cannot start.
  explicit AsyncRuntime(const AsyncRuntimeConfig& config = {});
  /// ~AsyncRuntime shuts the runtime down in bounded time (unless shutdown() already did):
  ///   1. like shutdown(), it stops accepting spawns from outside and waits up to
  ///      config().drain_timeout for every fiber to end by itself;
  ///   2. it cancels every fiber still alive (and every one spawned from now on, which never
  ///      starts) and waits up to config().shutdown_timeout for them to unwind;
  ///   3. if some are still alive (they ignore cancellation, or never reach a blocking point), it
  ///      writes them to stderr (id, name, state, priority), stops the workers it can and abandons
  ///      the rest: their stacks and the runtime's memory are leaked, never freed under them, and a
  ///      worker thread still running one of them is detached.
  /// Calls std::terminate from one of this runtime's own fibers.
  ~AsyncRuntime();
  AsyncRuntime(const AsyncRuntime&) = delete;
  AsyncRuntime& operator=(const AsyncRuntime&) = delete;

  /// spawn starts `f` as a new fiber at Normal priority and returns its JoinHandle<R> (R = f's
  /// result type, void included). Never blocks. Throws std::runtime_error once shutdown() has begun
  /// (see shutdown) and std::bad_alloc.
  template <class F>
  auto spawn(F&& f) {
    return detail::spawn_task(impl_, std::forward<F>(f), TaskPriority::Normal);
  }
  /// spawn_with_priority is spawn at priority `p`.
  template <class F>
  auto spawn_with_priority(F&& f, TaskPriority p) {
    return detail::spawn_task(impl_, std::forward<F>(f), p);
  }
  /// spawn with SpawnOptions: priority, a CancellationToken to bind the task to, cleanup role.
  template <class F>
  auto spawn(F&& f, const SpawnOptions& opts) {
    return detail::spawn_task(impl_, std::forward<F>(f), opts.priority, &opts);
  }

  /// block_on runs `f` as a fiber, blocks the calling OS thread until it finishes and returns its
  /// value or rethrows its exception. Throws std::logic_error when called from inside a fiber of
  /// any runtime (it would block a worker: spawn and join instead), and what spawn throws. In the
  /// current-thread flavor (AsyncRuntimeConfig::flavor) the calling thread itself runs the
  /// runtime's fibers, timers and I/O until `f`'s fiber has finished, then returns at once (other
  /// fibers stay where they are until the next driver). Calls from several threads at once take
  /// turns: one drives, the others wait for the runtime (their fibers may run in the driver's
  /// turn).
  template <class F>
  auto block_on(F&& f) -> std::invoke_result_t<std::decay_t<F>&> {
    check_block_on();
    return spawn(std::forward<F>(f)).join();
  }

  /// stats returns a consistent snapshot of the runtime's counters (see RuntimeStats). Never
  /// blocks.
  RuntimeStats stats() const;

  /// shutdown stops accepting spawns from outside the runtime (they throw std::runtime_error,
  /// except Critical-priority ones, which are still accepted until the workers exit), lets every
  /// spawned fiber run to completion (fibers may still spawn children), then joins the worker
  /// threads. Blocks the calling thread until then, without bound: if fibers are still alive
  /// config().shutdown_timeout after it began, it writes them to stderr once and keeps waiting.
  /// Idempotent; throws std::logic_error if called from one of this runtime's fibers.
  void shutdown();
  /// shutdown(timeout) is the bounded shutdown: it stops accepting spawns as shutdown() does,
  /// cancels every live fiber (each sees Cancelled at its next blocking point; a fiber spawned from
  /// now on is cancelled before it starts, and its joiner gets Cancelled), waits up to `timeout`
  /// for all of them to end, and joins the worker threads. Returns true then. Returns false when
  /// fibers are still alive after `timeout`: they are written to stderr (id, name, state, priority)
  /// and keep running; call shutdown(timeout) again, shutdown(), or destroy the runtime (see
  /// ~AsyncRuntime). Blocks the calling thread up to `timeout`. Throws std::invalid_argument for a
  /// negative timeout, std::logic_error from one of this runtime's fibers, std::bad_alloc.
  bool shutdown(std::chrono::nanoseconds timeout);

  /// fibers lists the runtime's live fibers (started and not finished: a spawned task still waiting
  /// for its first run is not listed; RuntimeStats::queued_tasks counts those), at most `limit`.
  /// Each entry is read under a short lock of its registry shard, so the list is a consistent view
  /// of each fiber, not an atomic view of all. Never blocks on fibers. Throws std::bad_alloc.
  std::vector<FiberInfo> fibers(std::size_t limit = static_cast<std::size_t>(-1)) const;

  /// config returns the configuration, with worker_threads resolved to the actual count.
  const AsyncRuntimeConfig& config() const noexcept;

 private:
  friend detail::RuntimeImpl* detail::runtime_impl_of(AsyncRuntime& rt) noexcept;
  void check_block_on() const;
  detail::RuntimeImpl* impl_;
};

}  // namespace spindle

SPINDLE_API_END
