// Metrics (docs/observability.md): the snapshot's new fields move as the runtime works, and the
// exporters' output is well formed (the Prometheus text is checked by promtool).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "observability_util.hpp"
#include "spindle/spindle.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {

spindle::AsyncRuntimeConfig two_workers() {
  spindle::AsyncRuntimeConfig c;
  c.worker_threads = 2;
  return c;
}

TEST(LatencyHistogram, BucketsGrowBy4AndPercentilesInterpolate) {
  using H = spindle::LatencyHistogram;
  EXPECT_EQ(H::upper_bound_ns(0), 1024u);
  EXPECT_EQ(H::upper_bound_ns(1), 4096u);
  EXPECT_EQ(H::upper_bound_ns(H::kBuckets - 1), ~std::uint64_t{0});
  H h;
  EXPECT_EQ(h.percentile_ns(0.5), 0.0);
  h.counts[1] = 10;  // 10 samples in (1024, 4096]
  h.count = 10;
  EXPECT_DOUBLE_EQ(h.percentile_ns(0.5), 1024 + (4096 - 1024) * 0.5);
  EXPECT_DOUBLE_EQ(h.percentile_ns(1.0), 4096);
}

TEST(Metrics, SnapshotCoversBusyParkHistogramsTimersAndQueues) {
  spindle::AsyncRuntime rt(two_workers());
  rt.block_on([] {
    std::vector<spindle::JoinHandle<void>> hs;
    for (int i = 0; i < 64; ++i) {
      hs.push_back(spindle::spawn([] {
        for (int k = 0; k < 1000; ++k) spindle::this_fiber::yield();
      }));
    }
    for (auto& h : hs) h.join();
  });
  // A sleeper keeps a timer armed while we look.
  std::atomic<bool> stop{false};
  auto sleeper = rt.spawn([&stop] {
    while (!stop.load()) spindle::this_fiber::sleep_for(5ms);
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return rt.stats().pending_timers >= 1; }));
  const spindle::RuntimeStats s = rt.stats();
  stop = true;
  sleeper.join();

  ASSERT_EQ(s.workers.size(), 2u);
  EXPECT_GT(s.uptime_ns, 0u);
  // 64 fibers x 1000 yields: 64,000 switches and pushes; 1 in 256 of each is sampled.
  EXPECT_GT(s.run_time.count, 20u);
  EXPECT_GT(s.sched_delay.count, 20u);
  EXPECT_GT(s.sched_delay.sum_ns, 0u);
  std::uint64_t merged = 0;
  for (const auto& w : s.workers) {
    merged += w.sched_delay.count;
    // busy + park is the worker's lifetime, which is at most the runtime's uptime (+ clock skew
    // between the reads).
    EXPECT_LE(w.busy_ns + w.park_ns, s.uptime_ns + 50'000'000);
    std::uint64_t q = 0;
    for (auto d : w.queued_by_priority) q += d;
    EXPECT_EQ(q, w.queued_tasks);
  }
  EXPECT_EQ(merged, s.sched_delay.count);
  EXPECT_GT(s.workers[0].busy_ns + s.workers[1].busy_ns, 0u);
  EXPECT_GE(s.pending_timers, 1u);
  EXPECT_LE(s.sched_delay.percentile_ns(0.5), s.sched_delay.percentile_ns(0.99));
}

TEST(Metrics, ParkTimeGrowsWhileIdle) {
  spindle::AsyncRuntime rt(two_workers());
  rt.block_on([] {});
  const auto a = rt.stats();
  // Idle workers park; their park time keeps growing (the current park counts up to now).
  ASSERT_TRUE(spindle::test::wait_until([&] {
    const auto b = rt.stats();
    return b.workers[0].park_ns > a.workers[0].park_ns + 1'000'000 &&
           b.workers[1].park_ns > a.workers[1].park_ns + 1'000'000;
  }));
}

TEST(Metrics, QueueDepthPerPriorityAndIoHandles) {
  spindle::AsyncRuntimeConfig c;
  c.worker_threads = 1;
  spindle::AsyncRuntime rt(c);
  rt.block_on([&rt] {
    // While this fiber runs without yielding, the spawned ones wait in the local queues.
    std::vector<spindle::JoinHandle<void>> hs;
    for (int i = 0; i < 5; ++i)
      hs.push_back(spindle::spawn_with_priority([] {}, spindle::TaskPriority::High));
    for (int i = 0; i < 3; ++i)
      hs.push_back(spindle::spawn_with_priority([] {}, spindle::TaskPriority::Low));
    const auto s = rt.stats();
    constexpr auto kHigh = static_cast<std::size_t>(spindle::TaskPriority::High);
    constexpr auto kLow = static_cast<std::size_t>(spindle::TaskPriority::Low);
    EXPECT_EQ(s.workers[0].queued_by_priority[kHigh] + s.global_queued_by_priority[kHigh], 5u);
    EXPECT_EQ(s.workers[0].queued_by_priority[kLow] + s.global_queued_by_priority[kLow], 3u);
    auto l = spindle::net::TcpListener::bind(spindle::net::SocketAddr::parse("127.0.0.1:0"));
    // A listener registers with the I/O driver at its first wait; accept_for registers it.
    try {
      l.accept_for(1ms);
    } catch (const std::system_error&) {
    }
    EXPECT_GE(rt.stats().io_handles, 1u);
    for (auto& h : hs) h.join();
  });
}

TEST(Exporters, PrometheusTextHasFamiliesAndPassesPromtool) {
  spindle::AsyncRuntime rt(two_workers());
  rt.block_on([] {
    for (int i = 0; i < 100; ++i) spindle::this_fiber::yield();
  });
  const std::string text = spindle::to_prometheus(spindle::metrics_snapshot(rt));
  for (const char* needle :
       {"# TYPE spindle_context_switches_total counter",
        "spindle_context_switches_total{worker=\"0\"}",
        "# TYPE spindle_scheduling_delay_seconds histogram",
        "spindle_scheduling_delay_seconds_bucket{worker=\"1\",le=\"+Inf\"}",
        "spindle_run_time_seconds_sum{worker=\"0\"}",
        "spindle_ready_queue_depth{worker=\"global\",priority=\"critical\"}",
        "spindle_blocking_pool_threads", "spindle_worker_busy_seconds_total{worker=\"1\"}",
        "spindle_timers_pending", "spindle_io_handles"}) {
    EXPECT_NE(text.find(needle), std::string::npos) << needle;
  }
  const std::string promtool = spindle::test::find_tool("promtool");
  ASSERT_FALSE(promtool.empty())
      << "promtool not found: install the Debian package prometheus (scripts/deps.sh test)";
  const auto r = spindle::test::run_tool(promtool, {"check", "metrics"}, text, 60s);
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- input ---\n" << text;
  EXPECT_EQ(r.output, "") << "promtool lint findings";
}

TEST(Exporters, JsonHasTheSnapshotAndFibersAreListed) {
  spindle::AsyncRuntime rt(two_workers());
  const std::string j = spindle::to_json(spindle::metrics_snapshot(rt));
  ASSERT_FALSE(j.empty());
  EXPECT_EQ(j.front(), '{');
  EXPECT_EQ(j.back(), '}');
  for (const char* key : {"\"uptime_ns\":", "\"workers\":[{\"index\":0",
                          "\"sched_delay\":{\"count\":", "\"p99_ns\":", "\"blocking_pool\":{",
                          "\"busy_ns\":", "\"le_ns\":[1024,"}) {
    EXPECT_NE(j.find(key), std::string::npos) << key;
  }
  std::vector<spindle::FiberInfo> fs(1);
  fs[0].id = spindle::TaskId{7};
  fs[0].name = "a \"quoted\"\nname";
  EXPECT_EQ(spindle::fibers_to_json(fs),
            "{\"count\":1,\"fibers\":[{\"id\":7,\"name\":\"a \\\"quoted\\\"\\u000aname\","
            "\"state\":\"Pending\",\"priority\":\"Normal\"}]}");
  EXPECT_NE(spindle::fibers_to_text(fs).find("a \"quoted\" name"), std::string::npos);
}

}  // namespace
