/// @file
/// spindle/stats.hpp: RuntimeStats, the runtime's counters as seen by dashboards.
#pragma once

#include <cstdint>
#include <vector>

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// WorkerStats holds one worker's counters. Each is written only by its worker (no shared atomic on
/// the hot path) and is monotonic, except queued_tasks, which is the current length of the worker's
/// local queues.
struct WorkerStats {
  std::uint64_t spawned_tasks = 0;    ///< tasks spawned by fibers running on this worker
  std::uint64_t completed_tasks = 0;  ///< tasks that returned normally on this worker
  std::uint64_t cancelled_tasks = 0;  ///< tasks that ended cancelled on this worker
  std::uint64_t failed_tasks = 0;     ///< tasks that ended with an exception on this worker
  std::uint64_t steals = 0;        ///< successful steal operations (each takes up to half a queue)
  std::uint64_t stolen_tasks = 0;  ///< tasks taken by those steals
  std::uint64_t parks = 0;         ///< times the worker thread went to sleep for lack of work
  std::uint64_t context_switches = 0;  ///< fiber context switches performed by this worker
  std::uint64_t timers_fired = 0;      ///< sleeps woken by this worker's timer processing
  std::uint64_t global_pops = 0;       ///< batches taken from the global injection queue
  std::uint64_t overflows = 0;         ///< times a full local queue moved half to the global queue
  std::uint64_t queued_tasks = 0;      ///< current length of the local queues (all priorities)
};

/// RuntimeStats is a snapshot of a runtime's counters. Each counter is read once; derived values
/// are computed from those reads so that they are consistent: active_tasks = spawned_tasks -
/// completed_tasks - cancelled_tasks - failed_tasks >= 0 and queued_tasks <= active_tasks.
struct RuntimeStats {
  std::uint64_t active_tasks = 0;  ///< spawned and not yet finished (queued, running or waiting)
  std::uint64_t queued_tasks = 0;  ///< ready to run, in local or global queues
  /// The sums over all workers of the WorkerStats counters of the same name; spawned_tasks also
  /// counts the tasks spawned from outside the runtime.
  ///@{
  std::uint64_t completed_tasks = 0;
  std::uint64_t spawned_tasks = 0;
  std::uint64_t cancelled_tasks = 0;
  std::uint64_t failed_tasks = 0;
  std::uint64_t steals = 0;
  std::uint64_t stolen_tasks = 0;
  std::uint64_t parks = 0;
  std::uint64_t context_switches = 0;
  std::uint64_t timers_fired = 0;
  ///@}
  std::uint64_t stacks_pooled = 0;     ///< warm stacks ready for reuse
  std::uint64_t stacks_allocated = 0;  ///< stacks currently attached to running or waiting fibers
  std::uint64_t stacks_reserved = 0;   ///< stack slots ever mapped (in use + pooled + cold)
  const char* stack_guard_mode = "";   ///< "madv_guard_install" or "mprotect"
  /// allocator names the control-block allocator the build chose (SPINDLE_ALLOCATOR): "mimalloc"
  /// or "system".
  const char* allocator = "";
  /// worker_threads is the number of worker threads (AsyncRuntimeConfig::worker_threads resolved).
  std::uint32_t worker_threads = 0;
  std::vector<WorkerStats> workers;  ///< per-worker counters, index = worker index
};

}  // namespace spindle

SPINDLE_API_END
