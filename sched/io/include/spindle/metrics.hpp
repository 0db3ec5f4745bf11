/// @file
/// spindle/metrics.hpp: a runtime's metrics as one snapshot, and its exporters: JSON and the
/// Prometheus text exposition format (docs/observability.md).
#pragma once

#include <string>
#include <vector>

#include "spindle/fiber_info.hpp"
#include "spindle/runtime.hpp"
#include "spindle/spawn_blocking.hpp"
#include "spindle/stats.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// MetricsSnapshot is what the exporters print: a runtime's RuntimeStats and the process-wide
/// spawn_blocking pool's BlockingPoolStats, taken one after the other.
struct MetricsSnapshot {
  RuntimeStats runtime;        ///< AsyncRuntime::stats()
  BlockingPoolStats blocking;  ///< blocking_pool_stats()
};

/// metrics_snapshot takes `rt.stats()` and blocking_pool_stats(). Never blocks on fibers; throws
/// std::bad_alloc.
MetricsSnapshot metrics_snapshot(const AsyncRuntime& rt);

/// to_prometheus formats `m` in the Prometheus text exposition format (version 0.0.4): one
/// `# HELP` and `# TYPE` line per metric family, names `spindle_*`, counters ending in `_total`,
/// per-worker series labelled `worker="<index>"`, histograms in seconds with `_bucket{le=...}`,
/// `_sum` and `_count`. Every metric is listed in docs/observability.md.
std::string to_prometheus(const MetricsSnapshot& m);

/// to_json formats `m` as one JSON object (the same values as to_prometheus, durations in ns, plus
/// percentile estimates p50/p90/p99 of each histogram). docs/observability.md shows its shape.
std::string to_json(const MetricsSnapshot& m);

/// fibers_to_json formats a fiber listing (AsyncRuntime::fibers()) as a JSON object
/// `{"count": n, "fibers": [{"id", "name", "state", "priority"}, ...]}`.
std::string fibers_to_json(const std::vector<FiberInfo>& fibers);

/// fibers_to_text formats a fiber listing as text, one fiber per line: id, state, priority, name.
std::string fibers_to_text(const std::vector<FiberInfo>& fibers);

}  // namespace spindle

SPINDLE_API_END
