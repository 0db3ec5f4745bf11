/// @file
/// spindle/stats.hpp: RuntimeStats, the runtime's counters as seen by dashboards.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "spindle/task.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// LatencyHistogram counts sampled durations in fixed buckets growing by 4x: bucket k counts the
/// durations d with upper_bound_ns(k - 1) < d <= upper_bound_ns(k), where upper_bound_ns(k) =
/// 1024 * 4^k ns (1.024 us, 4.1 us, 16 us, ..., 1.07 s); the last bucket has no upper bound.
/// Counts are cumulative since the runtime started (they never go down).
struct LatencyHistogram {
  /// kBuckets is the number of buckets, the unbounded last one included.
  static constexpr std::size_t kBuckets = 12;
  /// counts holds the per-bucket counts (not cumulative across buckets).
  std::array<std::uint64_t, kBuckets> counts{};
  std::uint64_t count = 0;   ///< the number of samples (the sum of counts)
  std::uint64_t sum_ns = 0;  ///< the sum of the samples, in ns
  /// upper_bound_ns returns bucket `k`'s inclusive upper bound in ns (UINT64_MAX for the last).
  static constexpr std::uint64_t upper_bound_ns(std::size_t k) noexcept {
    return k + 1 >= kBuckets ? ~std::uint64_t{0} : std::uint64_t{1024} << (2 * k);
  }
  /// percentile_ns estimates the `q` quantile (0 <= q <= 1) in ns by interpolating linearly inside
  /// the bucket that holds it; 0 with no samples. The last bucket reports its lower bound.
  double percentile_ns(double q) const noexcept;
  /// merge adds `o`'s samples to this histogram.
  void merge(const LatencyHistogram& o) noexcept {
    for (std::size_t i = 0; i < kBuckets; ++i) counts[i] += o.counts[i];
    count += o.count;
    sum_ns += o.sum_ns;
  }
};

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
  /// queued_by_priority is the current length of the local queue of each priority (index =
  /// TaskPriority value); the run-next slot is not counted.
  std::array<std::uint64_t, kTaskPriorityLevels> queued_by_priority{};
  /// busy_ns is the time the worker thread has been running since it started and not parked (it
  /// includes running fibers, scheduling and looking for work), in ns.
  std::uint64_t busy_ns = 0;
  std::uint64_t park_ns = 0;  ///< time the worker thread spent parked for lack of work, in ns
  /// sched_delay: how long a ready fiber waited before it ran (ready push -> switch-in), sampled
  /// (one push in 256 per worker; fibers queued on the global queue from outside a worker are not
  /// sampled).
  LatencyHistogram sched_delay;
  /// run_time: how long a fiber ran between being switched in and switching away, sampled (one
  /// switch in 256 per worker).
  LatencyHistogram run_time;
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
  /// global_queued_by_priority is the current length of the global injection queue per priority.
  std::array<std::uint64_t, kTaskPriorityLevels> global_queued_by_priority{};
  std::uint64_t pending_timers = 0;  ///< armed timers (sleeps and timed waits) in all the wheels
  std::uint64_t io_handles = 0;      ///< file descriptors registered with the I/O driver
  std::uint64_t uptime_ns = 0;       ///< time since the first worker started, in ns
  LatencyHistogram sched_delay;      ///< the workers' sched_delay histograms merged
  LatencyHistogram run_time;         ///< the workers' run_time histograms merged
};

}  // namespace spindle

SPINDLE_API_END
