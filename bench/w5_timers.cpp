// W5 timers: 100,000 fibers each sleep 10 ms ten times in a row (ideal total 100 ms). Every 100th
// fiber records the lateness of each of its sleeps (actual sleep - 10 ms); a sleep shorter than 10
// ms fails the check. Measures total wall-clock ms (spawn to last join) and lateness p50/p99 in us
// (2 workers). Spindle: spindle::this_fiber::sleep_for. Boost.Fiber baseline:
// boost::this_fiber::sleep_for, work_stealing over 2 threads, 64 KiB fixedsize_stack.
#include "bench_common.hpp"

namespace {
constexpr const char* kName = "timers";
constexpr std::uint32_t kFibers = 100'000;
constexpr int kSleeps = 10;
constexpr std::uint32_t kSampleEvery = 100;
constexpr auto kSleep = std::chrono::milliseconds(10);

// Samples holds the lateness of every sampled sleep, one preallocated slot each (no locking).
struct Samples {
  std::vector<double> late_us = std::vector<double>(kFibers / kSampleEvery * kSleeps, 0.0);
  std::atomic<std::uint32_t> early{0};
};

// body is one fiber: ten sleeps through `sleep`, timed and sampled; returns the sleeps done.
template <class Sleep>
int body(Samples& s, std::uint32_t idx, Sleep sleep) {
  for (int k = 0; k < kSleeps; ++k) {
    const auto t0 = bench::Clock::now();
    sleep(kSleep);
    const auto t1 = bench::Clock::now();
    if (t1 - t0 < kSleep) s.early.fetch_add(1, std::memory_order_relaxed);
    if (idx % kSampleEvery == 0) {
      s.late_us[idx / kSampleEvery * kSleeps + k] =
          (bench::ns_between(t0, t1) - std::chrono::nanoseconds(kSleep).count()) / 1e3;
    }
  }
  return kSleeps;
}

void finish(bench::Impl impl, Samples& s, double ns, std::uint64_t sleeps) {
  if (sleeps != std::uint64_t{kFibers} * kSleeps) {
    bench::fail(impl, kName, "sleeps " + std::to_string(sleeps));
  }
  if (s.early.load() != 0) {
    bench::fail(impl, kName, std::to_string(s.early.load()) + " sleeps returned early");
  }
  std::sort(s.late_us.begin(), s.late_us.end());
  const auto pct = [&](double p) {
    return s.late_us[static_cast<std::size_t>(p * static_cast<double>(s.late_us.size() - 1))];
  };
  bench::report(impl, kName, "total_ms", ns / 1e6, "ms");
  bench::report(impl, kName, "lateness_p50", pct(0.50), "us");
  bench::report(impl, kName, "lateness_p99", pct(0.99), "us");
  bench::report(impl, kName, "lateness_max", s.late_us.back(), "us");
}

int run_spindle() {
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 2;
  spindle::AsyncRuntime rt(cfg);
  bench::report_spindle_setup(rt, kName);
  Samples s;
  double ns = 0;
  const std::uint64_t sleeps = rt.block_on([&] {
    std::vector<spindle::JoinHandle<int>> handles;
    handles.reserve(kFibers);
    const auto t0 = bench::Clock::now();
    for (std::uint32_t i = 0; i < kFibers; ++i) {
      handles.push_back(spindle::spawn(
          [&s, i] { return body(s, i, [](auto d) { spindle::this_fiber::sleep_for(d); }); }));
    }
    std::uint64_t n = 0;
    for (auto& h : handles) n += static_cast<std::uint64_t>(h.join());
    ns = bench::ns_between(t0, bench::Clock::now());
    return n;
  });
  finish(bench::Impl::Spindle, s, ns, sleeps);
  bench::report_spindle_stats(rt, kName);
  return 0;
}

int run_boost() {
  const auto impl = bench::Impl::Boost;
  bench::report_boost_setup(impl, kName, 2);
  Samples s;
  double ns = 0;
  std::vector<int> done(kFibers, 0);
  bench::run_boost(2, [&] {
    std::vector<boost::fibers::fiber> fibers;
    fibers.reserve(kFibers);
    const auto t0 = bench::Clock::now();
    for (std::uint32_t i = 0; i < kFibers; ++i) {
      int* slot = &done[i];
      fibers.emplace_back(std::allocator_arg, bench::boost_stack(), [&s, i, slot] {
        *slot = body(s, i, [](auto d) { boost::this_fiber::sleep_for(d); });
      });
    }
    for (auto& f : fibers) f.join();
    ns = bench::ns_between(t0, bench::Clock::now());
  });
  std::uint64_t sleeps = 0;
  for (int d : done) sleeps += static_cast<std::uint64_t>(d);
  finish(impl, s, ns, sleeps);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  return bench::parse_impl(argc, argv) == bench::Impl::Spindle ? run_spindle() : run_boost();
}
