/// @file
/// spindle/config.hpp: AsyncRuntimeConfig, every knob of a runtime. docs/config.md gives the
/// rationale.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// ReactorBackend selects the I/O readiness backend of a runtime (docs/io.md). Auto is epoll on
/// Linux, libuv elsewhere. Libuv drives a private libuv loop from the runtime's workers (portable;
/// slower).
enum class ReactorBackend : std::uint8_t { Auto, Epoll, Libuv };

/// RuntimeFlavor selects how a runtime runs its fibers (docs/config.md, "flavor").
///   MultiThread: worker_threads OS threads of its own run the fibers all the time.
///   CurrentThread: no threads of its own, as Tokio's current_thread runtime. Fibers, timers and
///   I/O
///     make progress only while some thread drives the runtime: inside AsyncRuntime::block_on, a
///     JoinHandle::join / join_for / wait_for / wait_until called from a plain thread on one of its
///     tasks, or its shutdown / destructor. That thread then runs the scheduler loop itself (one
///     driver at a time; others wait for their turn) and, when every fiber is blocked, sleeps in
///     the I/O driver or until the next timer.
enum class RuntimeFlavor : std::uint8_t { MultiThread, CurrentThread };

/// AsyncRuntimeConfig configures an AsyncRuntime. The defaults suit a server on a few cores; every
/// field is validated by the AsyncRuntime constructor, which throws std::invalid_argument naming
/// the field, the value and the allowed range.
struct AsyncRuntimeConfig {
  /// worker_threads is the number of OS worker threads; 0 means one per CPU this process may use
  /// (affinity mask), at most 1024. Range 0..1024.
  std::uint32_t worker_threads = 0;
  /// queue_capacity is the capacity of each worker's local run queue per priority level. A power of
  /// two in 2..1048576. When a local queue is full, half of it moves to the global injection queue.
  std::uint32_t queue_capacity = 1024;
  /// max_stack_size is the usable stack of every fiber in bytes (reserved, not committed: only
  /// touched pages cost memory). 16 KiB..1 GiB; rounded up to the page size. Default 64 KiB: see
  /// docs/config.md.
  std::size_t max_stack_size = 64 * 1024;
  /// stack_pool_size is the most finished-fiber stacks kept warm for reuse (0..1048576).
  std::size_t stack_pool_size = 128;
  /// poll_interval is how often a busy worker aims to check its timers and I/O readiness: it reads
  /// the clock every 1..256 scheduling decisions, adapting so that checks come about poll_interval
  /// / 2 apart. Checks happen at scheduling decisions, so a fiber that runs without blocking or
  /// yielding delays them (there is no preemption); idle workers also fire a busy worker's due
  /// timers. 10 us..1 s.
  std::chrono::nanoseconds poll_interval = std::chrono::milliseconds(1);
  /// enable_work_stealing lets idle workers steal half of a random busy worker's queue.
  bool enable_work_stealing = true;
  /// debug makes the runtime log lifecycle events (workers, spawns, finishes, parks) to stderr.
  bool debug = false;
  /// migrate_every_switch is a test mode that flushes out races and thread_local misuse: a fiber
  /// that yields or is woken is always resumed on a different worker than the one it last ran on
  /// (with two or more workers). Slow; never for production.
  bool migrate_every_switch = false;
  /// schedule_seed seeds each worker's random choices (steal victims, migration targets). Runs with
  /// the same seed make the same choices for the same sequence of events; 0 uses fixed defaults.
  std::uint64_t schedule_seed = 0;
  /// cleanup_timeout bounds how long run_main waits, after the main function returns, for cleanup
  /// tasks (SpawnOptions::cleanup) before it cancels every remaining fiber and shuts down. 0..1h.
  std::chrono::nanoseconds cleanup_timeout = std::chrono::seconds(5);
  /// shutdown_timeout bounds how long a shutdown waits for cancelled fibers to unwind: run_main
  /// after it cancels the remaining fibers (then the process ends without them), ~AsyncRuntime
  /// after drain_timeout (then they are reported and abandoned). AsyncRuntime::shutdown() (no
  /// argument) reports the live fibers once this long after it began, and keeps waiting. 0..1h.
  std::chrono::nanoseconds shutdown_timeout = std::chrono::seconds(5);
  /// drain_timeout is how long ~AsyncRuntime lets fibers end by themselves (as shutdown() does)
  /// before it cancels every one that is left (see ~AsyncRuntime). 0..1h.
  std::chrono::nanoseconds drain_timeout = std::chrono::seconds(5);
  /// reactor is the I/O backend (Auto = epoll on Linux, libuv elsewhere). Both backends pass the
  /// same tests.
  ReactorBackend reactor = ReactorBackend::Auto;
  /// flavor: MultiThread (the default) or CurrentThread (no worker threads; see RuntimeFlavor).
  /// CurrentThread requires worker_threads 0 or 1 (it resolves to 1) and an empty worker_cpus;
  /// thread_name_prefix, on_thread_start and on_thread_stop are not used by it.
  RuntimeFlavor flavor = RuntimeFlavor::MultiThread;

  /// Embedding hooks (docs/config.md, "Embedding hooks").
  ///
  /// thread_name_prefix names the worker threads "<prefix><index>" ("spindle-w0", "spindle-w1",
  /// ...) with pthread_setname_np, as /proc/self/task/*/comm, top and debuggers show them. Empty:
  /// the threads keep the name they inherit. Linux allows 15 bytes: a prefix whose longest name
  /// (the highest worker index) is longer is rejected (std::invalid_argument), never truncated.
  std::string thread_name_prefix = "spindle-w";
  /// on_thread_start, if set, is called on every worker thread with its index, after the thread
  /// is named and pinned and before it runs any fiber. on_thread_stop, if set, is called on every
  /// worker thread after it ran its last fiber, just before the thread ends. Both run on the
  /// worker's own stack, outside any fiber (a blocking Spindle call there blocks the thread). An
  /// exception they throw is caught, written to stderr and otherwise ignored: the worker runs (or
  /// ends) as if the callback had returned. They are not called for the process-wide
  /// spawn_blocking threads (those belong to no runtime).
  ///@{
  std::function<void(std::size_t worker_index)> on_thread_start = {};
  std::function<void(std::size_t worker_index)> on_thread_stop = {};
  ///@}
  /// worker_cpus, if not empty, pins the workers round-robin: worker i runs only on CPU
  /// worker_cpus[i % worker_cpus.size()] (so one entry per worker gives one CPU each, and fewer
  /// entries than workers share them). Every CPU must be in the process's affinity mask
  /// (sched_getaffinity) when the runtime is constructed; repeats are allowed. Empty: no pinning.
  std::vector<int> worker_cpus = {};
};

}  // namespace spindle

SPINDLE_API_END
