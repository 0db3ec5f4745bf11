// Metrics: the sampled latency histograms' slow paths (Worker::metrics_*), and the part of the
// stats snapshot beyond the plain counters (RuntimeImpl::fill_metrics). docs/observability.md.
#include "detail/runtime_impl.hpp"
#include "spindle/sys.h"

namespace spindle {

double LatencyHistogram::percentile_ns(double q) const noexcept {
  if (count == 0) return 0;
  q = q < 0 ? 0 : (q > 1 ? 1 : q);
  const double rank = q * static_cast<double>(count);
  double seen = 0;
  for (std::size_t k = 0; k < kBuckets; ++k) {
    if (counts[k] == 0) continue;
    const double next = seen + static_cast<double>(counts[k]);
    const double lo = k == 0 ? 0 : static_cast<double>(upper_bound_ns(k - 1));
    if (k + 1 == kBuckets) return lo;
    if (rank <= next) {
      const double hi = static_cast<double>(upper_bound_ns(k));
      return lo + (hi - lo) * ((rank - seen) / static_cast<double>(counts[k]));
    }
    seen = next;
  }
  return static_cast<double>(upper_bound_ns(kBuckets - 2));
}

namespace detail {

namespace {
std::uint32_t stamp32(std::uint64_t now) noexcept {
  const auto s = static_cast<std::uint32_t>(now);
  return s != 0 ? s : 1;
}
}  // namespace

void Worker::metrics_stamp(TaskCore* t) noexcept {
  t->ready_stamp = stamp32(spindle_sys_monotonic_time_ns());
}

void Worker::metrics_switch_in(TaskCore* t) noexcept {
  const std::uint64_t now = spindle_sys_monotonic_time_ns();
  if (t->ready_stamp != 0) {
    // Modulo 2^32 ns: a delay longer than 4.29 s wraps (recorded short).
    metrics.sched_delay.record(static_cast<std::uint32_t>(stamp32(now) - t->ready_stamp));
    t->ready_stamp = 0;
  }
  if (metrics.switch_countdown == 0) {
    metrics.switch_countdown = kSampleEvery;
    metrics.run_start_ns = now;
  }
}

void Worker::metrics_switch_out() noexcept {
  const std::uint64_t now = spindle_sys_monotonic_time_ns();
  metrics.run_time.record(now > metrics.run_start_ns ? now - metrics.run_start_ns : 0);
  metrics.run_start_ns = 0;
}

void RuntimeImpl::fill_metrics(RuntimeStats& s) const {
  const std::uint64_t now = spindle_sys_monotonic_time_ns();
  std::uint64_t first_start = 0;
  for (std::size_t i = 0; i < workers.size() && i < s.workers.size(); ++i) {
    Worker& w = *workers[i];
    WorkerStats& ws = s.workers[i];
    for (int l = 0; l < kTaskPriorityLevels; ++l) ws.queued_by_priority[l] = w.queues[l].size();
    const std::uint64_t started = w.metrics.started_ns.load(std::memory_order_acquire);
    if (started != 0) {
      if (first_start == 0 || started < first_start) first_start = started;
      // The current park counts as parked time up to now. The clock is read after the park
      // counters, so a park that ends meanwhile is never counted beyond `now`.
      std::uint64_t park = w.metrics.park_ns.read();
      const std::uint64_t since = w.metrics.parked_since.load(std::memory_order_acquire);
      const std::uint64_t at = spindle_sys_monotonic_time_ns();
      if (since != 0 && at > since) park += at - since;
      const std::uint64_t up = at > started ? at - started : 0;
      ws.park_ns = std::min(park, up);
      ws.busy_ns = up - ws.park_ns;
    }
    w.metrics.sched_delay.read_into(ws.sched_delay);
    w.metrics.run_time.read_into(ws.run_time);
    s.sched_delay.merge(ws.sched_delay);
    s.run_time.merge(ws.run_time);
    {
      std::lock_guard<SpinLock> g(w.timer_lock);
      s.pending_timers += w.wheel.size();
    }
  }
  for (int l = 0; l < kTaskPriorityLevels; ++l)
    s.global_queued_by_priority[l] = global.level_size(l);
  s.uptime_ns = first_start != 0 && now > first_start ? now - first_start : 0;
  if (const Driver* d = driver.load(std::memory_order_acquire))
    s.io_handles = d->registered_count();
}

}  // namespace detail
}  // namespace spindle
