// Per-worker metrics beyond the plain counters (docs/observability.md): park time and sampled
// latency histograms. Every field is written only by its worker (Counter: a plain load and store,
// no locked instruction) and read by RuntimeImpl::stats (sched/core/metrics.cpp).
//
// Cost model: the clock is read only on a sampled switch (one in kSampleEvery) and around a park
// (which already costs a system call). A ready fiber is stamped on one push in kSampleEvery; a
// switch-in looks at that stamp (a field of the task it is switching to anyway).
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>

#include "spindle/stats.hpp"

namespace spindle::detail {

// kSampleEvery: one ready stamp and one run-time measurement per this many events per worker. A
// clock read costs ~23 ns on the 2-vCPU VM; at 1 in 16 W3 (33 ns per yield) lost 17%, at 1 in 256
// the four reads per sample period cost ~0.35 ns per switch.
inline constexpr std::uint32_t kSampleEvery = 256;

// histogram_bucket maps a duration in ns to its LatencyHistogram bucket: bucket k holds
// (4^(k-1) * 1024, 4^k * 1024] ns, bucket 0 everything up to 1024 ns, the last one the rest.
inline std::size_t histogram_bucket(std::uint64_t ns) noexcept {
  if (ns <= 1024) return 0;
  const std::size_t k = (static_cast<std::size_t>(std::bit_width(ns - 1)) - 9) / 2;
  return k < LatencyHistogram::kBuckets ? k : LatencyHistogram::kBuckets - 1;
}

// MetricCounter is a Counter (runtime_impl.hpp) duplicated here to keep this header standalone.
struct MetricCounter {
  std::atomic<std::uint64_t> v{0};
  void add(std::uint64_t n = 1) noexcept {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }
  std::uint64_t read() const noexcept { return v.load(std::memory_order_acquire); }
};

// HistogramCounters is one worker's histogram (owner-written).
struct HistogramCounters {
  MetricCounter buckets[LatencyHistogram::kBuckets];
  MetricCounter sum_ns;
  void record(std::uint64_t ns) noexcept {
    buckets[histogram_bucket(ns)].add();
    sum_ns.add(ns);
  }
  void read_into(LatencyHistogram& h) const noexcept {
    // Sum first, then buckets: a concurrent record may show in the buckets and not the sum, never
    // the reverse (both are monotonic, so either way the snapshot is a valid histogram).
    h.sum_ns = sum_ns.read();
    h.count = 0;
    for (std::size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
      h.counts[i] = buckets[i].read();
      h.count += h.counts[i];
    }
  }
};

// WorkerMetrics is one worker's park time and latency histograms.
struct WorkerMetrics {
  MetricCounter park_ns;                          // total time parked (finished parks)
  std::atomic<std::uint64_t> parked_since{0};     // start of the current park, 0 when awake
  std::atomic<std::uint64_t> started_ns{0};       // when the worker thread started, 0 before
  HistogramCounters sched_delay;                  // ready -> running, sampled
  HistogramCounters run_time;                     // switch-in -> switch-out, sampled
  std::uint32_t ready_countdown = kSampleEvery;   // (owner) ready pushes until the next stamp
  std::uint32_t switch_countdown = kSampleEvery;  // (owner) switch-ins until the next measurement
  std::uint64_t run_start_ns = 0;  // (owner) switch-in time of the measured run, 0 if none

  // begin_park / end_park bracket a worker's park (owner).
  void begin_park(std::uint64_t now) noexcept {
    parked_since.store(now, std::memory_order_release);
  }
  void end_park(std::uint64_t now) noexcept {
    const std::uint64_t since = parked_since.load(std::memory_order_relaxed);
    park_ns.add(now > since ? now - since : 0);
    parked_since.store(0, std::memory_order_release);
  }
};

}  // namespace spindle::detail
