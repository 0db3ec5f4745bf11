// examples/demo.cpp: a tour of Spindle's core runtime.
//
//   1. A "request handler" pool: many fibers doing blocking-style sleeps concurrently.
//   2. Priorities: Critical/High work overtakes Low background work on a saturated worker, while
//   Low
//      still makes progress (no starvation).
//   3. Join: results and exceptions travel back to the joiner.
//   4. Cancel: a long sleep is interrupted; the task's joiner sees spindle::Cancelled.
//   5. Stats: the runtime's metrics through the Prometheus exporter (what GET /metrics serves;
//      `--json` prints the JSON exporter's output instead).
//   With `--serve=127.0.0.1:8080` it then serves the live dashboard (docs/observability.md) at that
//   address, with a light background load, until Ctrl-C.
#include <spindle/spindle.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  std::string serve;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--json") {
      json = true;
    } else if (a.rfind("--serve=", 0) == 0) {
      serve = std::string(a.substr(8));
    } else {
      std::fprintf(stderr, "usage: %s [--json] [--serve=ADDR:PORT]\n", argv[0]);
      return 2;
    }
  }
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 2;
  spindle::AsyncRuntime rt(cfg);
  std::printf("Spindle demo: %u workers, %zu KiB stacks\n\n", rt.config().worker_threads,
              rt.config().max_stack_size / 1024);

  // 1. 10,000 fibers each "wait for I/O" 20 ms: concurrently, so the whole batch takes ~20 ms.
  auto t0 = std::chrono::steady_clock::now();
  long handled = rt.block_on([] {
    std::vector<spindle::JoinHandle<int>> reqs;
    for (int i = 0; i < 10000; ++i) {
      reqs.push_back(spindle::spawn([] {
        spindle::this_fiber::sleep_for(20ms);
        return 1;
      }));
    }
    long n = 0;
    for (auto& r : reqs) n += r.join();
    return n;
  });
  std::printf("[sleep]    %ld fibers slept 20 ms each, all done in %.1f ms\n", handled,
              ms_since(t0));

  // 2. Priorities on a saturated runtime: background Low work fills both workers; then Critical and
  //    High jobs arrive and overtake it. Low still completes.
  {
    std::atomic<int> low_done{0};
    std::vector<spindle::JoinHandle<void>> background;
    auto busy = [] {
      const auto end = std::chrono::steady_clock::now() + 200us;
      while (std::chrono::steady_clock::now() < end) {
      }
    };
    for (int i = 0; i < 2000; ++i) {
      background.push_back(rt.spawn_with_priority(
          [&, busy] {
            busy();
            low_done.fetch_add(1);
          },
          spindle::TaskPriority::Low));
    }
    auto t1 = std::chrono::steady_clock::now();
    auto critical =
        rt.spawn_with_priority([&] { return low_done.load(); }, spindle::TaskPriority::Critical);
    auto high =
        rt.spawn_with_priority([&] { return low_done.load(); }, spindle::TaskPriority::High);
    int low_before_critical = critical.join();
    double critical_ms = ms_since(t1);
    int low_before_high = high.join();
    for (auto& b : background) b.join();
    std::printf(
        "[priority] Critical ran after %d of 2000 Low jobs (%.2f ms), High after %d; "
        "all Low done in %.0f ms\n",
        low_before_critical, critical_ms, low_before_high, ms_since(t1));
  }

  // 3. Join: values and exceptions come back to the joiner.
  auto answer = rt.spawn([] { return std::string("forty-two"); });
  auto failing = rt.spawn([]() -> int { throw std::runtime_error("disk on fire"); });
  std::printf("[join]     value: %s\n", answer.join().c_str());
  try {
    failing.join();
  } catch (const std::runtime_error& e) {
    std::printf("[join]     exception: %s (state %s)\n", e.what(),
                spindle::to_string(failing.state()));
  }

  // 4. Cancel: interrupt a fiber blocked in a one-hour sleep.
  auto sleeper = rt.spawn([] {
    spindle::this_fiber::set_name("hour-long-sleeper");
    spindle::this_fiber::sleep_for(1h);
    return 0;
  });
  while (sleeper.state() != spindle::TaskState::Waiting) spindle::this_fiber::yield();
  auto t2 = std::chrono::steady_clock::now();
  sleeper.cancel();
  try {
    sleeper.join();
  } catch (const spindle::Cancelled& e) {
    std::printf("[cancel]   %s after %.3f ms (state %s)\n", e.what(), ms_since(t2),
                spindle::to_string(sleeper.state()));
  }

  // 5. Stats.
  const spindle::MetricsSnapshot m = spindle::metrics_snapshot(rt);
  std::printf("\n[stats]    %s exporter (docs/observability.md)\n%s", json ? "JSON" : "Prometheus",
              (json ? spindle::to_json(m) + "\n" : spindle::to_prometheus(m)).c_str());

  // 6. Optionally, the live dashboard until Ctrl-C.
  if (!serve.empty()) {
    spindle::DashboardServer dash(rt, spindle::net::SocketAddr::parse(serve));
    std::printf("\n[serve]    dashboard at http://%s/ (metrics at /metrics); Ctrl-C stops\n",
                dash.local_addr().to_string().c_str());
    std::fflush(stdout);
    rt.block_on([] {
      const spindle::CancellationToken stop = spindle::shutdown_token();
      std::vector<spindle::JoinHandle<void>> load;
      for (int i = 0; i < 4; ++i) {
        load.push_back(spindle::spawn([stop, i] {
          spindle::this_fiber::set_name("demo-load-" + std::to_string(i));
          while (!stop.is_cancelled()) {
            for (int k = 0; k < 50 * (i + 1); ++k) spindle::this_fiber::yield();
            spindle::this_fiber::sleep_for(std::chrono::milliseconds(5 * (i + 1)));
          }
        }));
      }
      for (auto& h : load) h.join();
    });
  }
  rt.shutdown();
  return 0;
}
