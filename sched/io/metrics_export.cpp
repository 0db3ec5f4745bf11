// The metrics exporters: Prometheus text exposition format and JSON (docs/observability.md).
#include <charconv>
#include <cstdio>
#include <string_view>

#include "spindle/metrics.hpp"

namespace spindle {

namespace {

void put_u64(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void put_double(std::string& out, double v) {
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void put_seconds(std::string& out, std::uint64_t ns) {
  put_double(out, static_cast<double>(ns) / 1e9);
}

// prio_label is a priority's label value ("low", ...).
const char* prio_label(int level) {
  static constexpr const char* kNames[kTaskPriorityLevels] = {"low", "normal", "high", "critical"};
  return kNames[level];
}

// Prom writes one metric family at a time.
struct Prom {
  std::string out;
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  }
  // sample_start writes a sample's "name{labels} " (no braces without labels).
  void sample_start(std::string_view name, std::string_view labels) {
    out += name;
    if (!labels.empty()) {
      out += '{';
      out += labels;
      out += '}';
    }
    out += ' ';
  }
  void sample_u64(std::string_view name, std::string_view labels, std::uint64_t v) {
    sample_start(name, labels);
    put_u64(out, v);
    out += '\n';
  }
  void sample_seconds(std::string_view name, std::string_view labels, std::uint64_t ns) {
    sample_start(name, labels);
    put_seconds(out, ns);
    out += '\n';
  }
  void histogram(std::string_view name, std::string_view labels, const LatencyHistogram& h) {
    std::uint64_t cum = 0;
    for (std::size_t k = 0; k < LatencyHistogram::kBuckets; ++k) {
      cum += h.counts[k];
      out += name;
      out += "_bucket{";
      out += labels;
      out += labels.empty() ? "le=\"" : ",le=\"";
      if (k + 1 == LatencyHistogram::kBuckets) {
        out += "+Inf";
      } else {
        put_seconds(out, LatencyHistogram::upper_bound_ns(k));
      }
      out += "\"} ";
      put_u64(out, cum);
      out += '\n';
    }
    sample_seconds(std::string(name) + "_sum", labels, h.sum_ns);
    sample_u64(std::string(name) + "_count", labels, cum);
  }
};

std::string worker_label(std::size_t i) {
  return "worker=\"" + std::to_string(i) + "\"";
}

// A per-worker counter family.
template <class Get>
void per_worker(Prom& p, const RuntimeStats& s, std::string_view name, std::string_view type,
                std::string_view help, Get get) {
  p.family(name, type, help);
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    p.sample_u64(name, worker_label(i), get(s.workers[i]));
  }
}

}  // namespace

MetricsSnapshot metrics_snapshot(const AsyncRuntime& rt) {
  MetricsSnapshot m;
  m.runtime = rt.stats();
  m.blocking = blocking_pool_stats();
  return m;
}

std::string to_prometheus(const MetricsSnapshot& m) {
  const RuntimeStats& s = m.runtime;
  Prom p;
  p.out.reserve(16384);
  p.family("spindle_info", "gauge", "Build facts as labels (value always 1).");
  p.out += "spindle_info{stack_guard_mode=\"";
  p.out += s.stack_guard_mode;
  p.out += "\",allocator=\"";
  p.out += s.allocator;
  p.out += "\"} 1\n";
  p.family("spindle_uptime_seconds", "gauge", "Time since the runtime's first worker started.");
  p.sample_seconds("spindle_uptime_seconds", "", s.uptime_ns);
  p.family("spindle_worker_threads", "gauge", "Worker threads of the runtime.");
  p.sample_u64("spindle_worker_threads", "", s.worker_threads);
  p.family("spindle_tasks_active", "gauge", "Tasks spawned and not finished.");
  p.sample_u64("spindle_tasks_active", "", s.active_tasks);
  p.family("spindle_tasks_queued", "gauge", "Tasks ready to run, in local or global queues.");
  p.sample_u64("spindle_tasks_queued", "", s.queued_tasks);

  // Spawns from outside any worker are labelled worker="external".
  std::uint64_t worker_spawns = 0;
  for (const auto& w : s.workers) worker_spawns += w.spawned_tasks;
  per_worker(p, s, "spindle_tasks_spawned_total", "counter",
             "Tasks spawned, by the worker whose fiber spawned them (external: outside).",
             [](const WorkerStats& w) { return w.spawned_tasks; });
  p.sample_u64("spindle_tasks_spawned_total", "worker=\"external\"",
               s.spawned_tasks > worker_spawns ? s.spawned_tasks - worker_spawns : 0);
  per_worker(p, s, "spindle_tasks_completed_total", "counter", "Tasks that returned normally.",
             [](const WorkerStats& w) { return w.completed_tasks; });
  per_worker(p, s, "spindle_tasks_cancelled_total", "counter", "Tasks that ended cancelled.",
             [](const WorkerStats& w) { return w.cancelled_tasks; });
  per_worker(p, s, "spindle_tasks_failed_total", "counter", "Tasks that ended with an exception.",
             [](const WorkerStats& w) { return w.failed_tasks; });
  per_worker(p, s, "spindle_context_switches_total", "counter", "Fiber context switches.",
             [](const WorkerStats& w) { return w.context_switches; });
  per_worker(p, s, "spindle_steals_total", "counter", "Successful steal operations.",
             [](const WorkerStats& w) { return w.steals; });
  per_worker(p, s, "spindle_stolen_tasks_total", "counter", "Tasks taken by steals.",
             [](const WorkerStats& w) { return w.stolen_tasks; });
  per_worker(p, s, "spindle_worker_parks_total", "counter",
             "Times the worker thread slept for lack of work.",
             [](const WorkerStats& w) { return w.parks; });
  per_worker(p, s, "spindle_timers_fired_total", "counter",
             "Sleeps and timed waits woken by the worker's timer processing.",
             [](const WorkerStats& w) { return w.timers_fired; });
  per_worker(p, s, "spindle_global_queue_pops_total", "counter",
             "Batches taken from the global injection queue.",
             [](const WorkerStats& w) { return w.global_pops; });
  per_worker(p, s, "spindle_local_queue_overflows_total", "counter",
             "Times a full local queue moved half of its tasks to the global queue.",
             [](const WorkerStats& w) { return w.overflows; });

  p.family("spindle_worker_busy_seconds_total", "counter",
           "Time the worker thread was not parked (running fibers, scheduling, looking for work).");
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    p.sample_seconds("spindle_worker_busy_seconds_total", worker_label(i), s.workers[i].busy_ns);
  }
  p.family("spindle_worker_park_seconds_total", "counter",
           "Time the worker thread was parked for lack of work.");
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    p.sample_seconds("spindle_worker_park_seconds_total", worker_label(i), s.workers[i].park_ns);
  }

  p.family("spindle_ready_queue_depth", "gauge",
           "Ready tasks per queue (a worker's local queue, or global) and priority.");
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    for (int l = 0; l < kTaskPriorityLevels; ++l) {
      p.sample_u64("spindle_ready_queue_depth",
                   worker_label(i) + ",priority=\"" + prio_label(l) + "\"",
                   s.workers[i].queued_by_priority[static_cast<std::size_t>(l)]);
    }
  }
  for (int l = 0; l < kTaskPriorityLevels; ++l) {
    p.sample_u64("spindle_ready_queue_depth",
                 std::string("worker=\"global\",priority=\"") + prio_label(l) + "\"",
                 s.global_queued_by_priority[static_cast<std::size_t>(l)]);
  }
  p.family("spindle_timers_pending", "gauge", "Armed timers (sleeps and timed waits).");
  p.sample_u64("spindle_timers_pending", "", s.pending_timers);
  p.family("spindle_io_handles", "gauge", "File descriptors registered with the I/O driver.");
  p.sample_u64("spindle_io_handles", "", s.io_handles);
  p.family("spindle_stacks_allocated", "gauge", "Fiber stacks attached to live fibers.");
  p.sample_u64("spindle_stacks_allocated", "", s.stacks_allocated);
  p.family("spindle_stacks_pooled", "gauge", "Warm fiber stacks ready for reuse.");
  p.sample_u64("spindle_stacks_pooled", "", s.stacks_pooled);
  p.family("spindle_stacks_reserved", "gauge", "Fiber stack slots ever mapped.");
  p.sample_u64("spindle_stacks_reserved", "", s.stacks_reserved);

  p.family("spindle_blocking_pool_threads", "gauge", "spawn_blocking pool threads alive.");
  p.sample_u64("spindle_blocking_pool_threads", "", m.blocking.threads);
  p.family("spindle_blocking_pool_running", "gauge", "spawn_blocking pool threads running a job.");
  p.sample_u64("spindle_blocking_pool_running", "", m.blocking.running);
  p.family("spindle_blocking_pool_queued_jobs", "gauge",
           "spawn_blocking jobs waiting for a thread.");
  p.sample_u64("spindle_blocking_pool_queued_jobs", "", m.blocking.queued);
  p.family("spindle_blocking_pool_max_threads", "gauge", "The spawn_blocking pool's thread bound.");
  p.sample_u64("spindle_blocking_pool_max_threads", "", m.blocking.max_threads);
  p.family("spindle_blocking_pool_jobs_completed_total", "counter",
           "spawn_blocking jobs finished since the process started.");
  p.sample_u64("spindle_blocking_pool_jobs_completed_total", "", m.blocking.completed);

  p.family("spindle_scheduling_delay_seconds", "histogram",
           "Sampled time from a fiber becoming ready to its running (1 push in 256).");
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    p.histogram("spindle_scheduling_delay_seconds", worker_label(i), s.workers[i].sched_delay);
  }
  p.family("spindle_run_time_seconds", "histogram",
           "Sampled time a fiber ran between switch-in and switch-out (1 switch in 256).");
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    p.histogram("spindle_run_time_seconds", worker_label(i), s.workers[i].run_time);
  }
  return std::move(p.out);
}

namespace {

// Json writes `"key":value` pairs; the caller writes the braces and brackets.
struct Json {
  std::string out;
  bool first = true;
  void key(std::string_view k) {
    if (!first) out += ',';
    first = false;
    out += '"';
    out += k;
    out += "\":";
  }
  void u64(std::string_view k, std::uint64_t v) {
    key(k);
    put_u64(out, v);
  }
  void dbl(std::string_view k, double v) {
    key(k);
    put_double(out, v);
  }
  void str(std::string_view k, std::string_view v);
  void open(std::string_view k, char brace) {
    key(k);
    out += brace;
    first = true;
  }
  void close(char brace) {
    out += brace;
    first = false;
  }
};

void escape_into(std::string& out, std::string_view v) {
  out += '"';
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
}

void Json::str(std::string_view k, std::string_view v) {
  key(k);
  escape_into(out, v);
}

void json_hist(Json& j, std::string_view k, const LatencyHistogram& h) {
  j.open(k, '{');
  j.u64("count", h.count);
  j.u64("sum_ns", h.sum_ns);
  j.dbl("p50_ns", h.percentile_ns(0.5));
  j.dbl("p90_ns", h.percentile_ns(0.9));
  j.dbl("p99_ns", h.percentile_ns(0.99));
  j.open("le_ns", '[');
  for (std::size_t b = 0; b + 1 < LatencyHistogram::kBuckets; ++b) {
    if (b != 0) j.out += ',';
    put_u64(j.out, LatencyHistogram::upper_bound_ns(b));
  }
  j.close(']');
  j.open("counts", '[');
  for (std::size_t b = 0; b < LatencyHistogram::kBuckets; ++b) {
    if (b != 0) j.out += ',';
    put_u64(j.out, h.counts[b]);
  }
  j.close(']');
  j.close('}');
}

void json_prio(Json& j, std::string_view k,
               const std::array<std::uint64_t, kTaskPriorityLevels>& a) {
  j.open(k, '{');
  for (int l = 0; l < kTaskPriorityLevels; ++l)
    j.u64(prio_label(l), a[static_cast<std::size_t>(l)]);
  j.close('}');
}

}  // namespace

std::string to_json(const MetricsSnapshot& m) {
  const RuntimeStats& s = m.runtime;
  Json j;
  j.out.reserve(8192);
  j.out += '{';
  j.u64("uptime_ns", s.uptime_ns);
  j.u64("worker_threads", s.worker_threads);
  j.u64("active_tasks", s.active_tasks);
  j.u64("queued_tasks", s.queued_tasks);
  j.u64("spawned_tasks", s.spawned_tasks);
  j.u64("completed_tasks", s.completed_tasks);
  j.u64("cancelled_tasks", s.cancelled_tasks);
  j.u64("failed_tasks", s.failed_tasks);
  j.u64("context_switches", s.context_switches);
  j.u64("steals", s.steals);
  j.u64("stolen_tasks", s.stolen_tasks);
  j.u64("parks", s.parks);
  j.u64("timers_fired", s.timers_fired);
  j.u64("pending_timers", s.pending_timers);
  j.u64("io_handles", s.io_handles);
  j.u64("stacks_allocated", s.stacks_allocated);
  j.u64("stacks_pooled", s.stacks_pooled);
  j.u64("stacks_reserved", s.stacks_reserved);
  j.str("stack_guard_mode", s.stack_guard_mode);
  j.str("allocator", s.allocator);
  json_prio(j, "global_queued_by_priority", s.global_queued_by_priority);
  json_hist(j, "sched_delay", s.sched_delay);
  json_hist(j, "run_time", s.run_time);
  j.open("blocking_pool", '{');
  j.u64("threads", m.blocking.threads);
  j.u64("running", m.blocking.running);
  j.u64("queued", m.blocking.queued);
  j.u64("max_threads", m.blocking.max_threads);
  j.u64("completed", m.blocking.completed);
  j.close('}');
  j.open("workers", '[');
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    const WorkerStats& w = s.workers[i];
    if (i != 0) j.out += ',';
    j.out += '{';
    j.first = true;
    j.u64("index", i);
    j.u64("spawned_tasks", w.spawned_tasks);
    j.u64("completed_tasks", w.completed_tasks);
    j.u64("cancelled_tasks", w.cancelled_tasks);
    j.u64("failed_tasks", w.failed_tasks);
    j.u64("context_switches", w.context_switches);
    j.u64("steals", w.steals);
    j.u64("stolen_tasks", w.stolen_tasks);
    j.u64("parks", w.parks);
    j.u64("timers_fired", w.timers_fired);
    j.u64("global_pops", w.global_pops);
    j.u64("overflows", w.overflows);
    j.u64("queued_tasks", w.queued_tasks);
    j.u64("busy_ns", w.busy_ns);
    j.u64("park_ns", w.park_ns);
    json_prio(j, "queued_by_priority", w.queued_by_priority);
    json_hist(j, "sched_delay", w.sched_delay);
    json_hist(j, "run_time", w.run_time);
    j.close('}');
  }
  j.close(']');
  j.out += '}';
  return std::move(j.out);
}

std::string fibers_to_json(const std::vector<FiberInfo>& fibers) {
  std::string out = "{\"count\":";
  put_u64(out, fibers.size());
  out += ",\"fibers\":[";
  for (std::size_t i = 0; i < fibers.size(); ++i) {
    const FiberInfo& f = fibers[i];
    if (i != 0) out += ',';
    out += "{\"id\":";
    put_u64(out, f.id.value);
    out += ",\"name\":";
    escape_into(out, f.name);
    out += ",\"state\":\"";
    out += to_string(f.state);
    out += "\",\"priority\":\"";
    out += to_string(f.priority);
    out += "\"}";
  }
  out += "]}";
  return out;
}

std::string fibers_to_text(const std::vector<FiberInfo>& fibers) {
  std::string out = std::to_string(fibers.size()) + " fibers\n";
  for (const FiberInfo& f : fibers) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%-10llu %-9s %-9s ",
                  static_cast<unsigned long long>(f.id.value), to_string(f.state),
                  to_string(f.priority));
    out += buf;
    // Names are user data: keep one fiber per line.
    for (char c : f.name) out += (c == '\n' || c == '\r') ? ' ' : c;
    out += '\n';
  }
  return out;
}

}  // namespace spindle
