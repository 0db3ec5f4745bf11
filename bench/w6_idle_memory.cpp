// W6 idle_memory: memory cost of 100,000 blocked fibers. Samples VmRSS and VmPTE
// (/proc/self/status) before spawning and once all 100,000 are blocked (each increments an atomic
// counter right before blocking; the root waits for 100,000), then lets them go and joins all.
// Reports bytes per blocked fiber (RSS + page tables) and the RSS and page-table parts separately
// (2 workers). There is no channel/event yet, so every fiber blocks in sleep_until(one common
// deadline 1 s after the start); reaching the deadline is the release. The handle vector is
// allocated and touched before the first sample, so it is not counted. Spindle:
// this_fiber::sleep_until. Boost.Fiber baseline: boost::this_fiber::sleep_until, work_stealing over
// 2 threads, 64 KiB fixedsize_stack (malloc'd).
#include "bench_common.hpp"

namespace {
constexpr const char* kName = "idle_memory";
constexpr std::uint32_t kFibers = 100'000;
// kHold is how long after the start the common deadline is: Boost.Fiber needs several seconds to
// create 100,000 fibers (page faults on fresh malloc'd stacks), Spindle well under one.
constexpr auto kHoldSpindle = std::chrono::seconds(1);
constexpr auto kHoldBoost = std::chrono::seconds(3);

struct Result {
  bench::MemSample before, blocked;
  double all_blocked_ms = 0;
  bool all_blocked_in_time = false;
  std::uint64_t woken = 0;
};

void finish(bench::Impl impl, const Result& r) {
  if (!r.all_blocked_in_time) {
    bench::fail(impl, kName, "not all fibers blocked before the common deadline");
  }
  if (r.woken != kFibers) bench::fail(impl, kName, "woken " + std::to_string(r.woken));
  const double rss = static_cast<double>(r.blocked.rss - r.before.rss) / kFibers;
  const double pte = static_cast<double>(r.blocked.pte - r.before.pte) / kFibers;
  bench::report(impl, kName, "bytes_per_fiber", rss + pte, "B");
  bench::report(impl, kName, "rss_per_fiber", rss, "B");
  bench::report(impl, kName, "pte_per_fiber", pte, "B");
  bench::report(impl, kName, "all_blocked_after", r.all_blocked_ms, "ms");
  std::printf("# %s %s: fibers block in sleep_until(common deadline), no channel/event yet\n",
              bench::impl_name(impl), kName);
}

// fiber_body blocks until `deadline` through `sleep_until`; returns 1 if it woke no earlier.
template <class SleepUntil>
int fiber_body(std::atomic<std::uint32_t>& blocked, bench::Clock::time_point deadline,
               SleepUntil sleep_until) {
  blocked.fetch_add(1, std::memory_order_relaxed);
  sleep_until(deadline);
  return bench::Clock::now() >= deadline ? 1 : 0;
}

int run_spindle() {
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 2;
  spindle::AsyncRuntime rt(cfg);
  bench::report_spindle_setup(rt, kName);
  Result r;
  std::atomic<std::uint32_t> blocked{0};
  rt.block_on([&] {
    std::vector<spindle::JoinHandle<int>> handles(kFibers);
    r.before = bench::sample_mem();
    const auto t0 = bench::Clock::now();
    const auto deadline = t0 + kHoldSpindle;
    for (std::uint32_t i = 0; i < kFibers; ++i) {
      handles[i] = spindle::spawn([&blocked, deadline] {
        return fiber_body(blocked, deadline, [](auto tp) { spindle::this_fiber::sleep_until(tp); });
      });
    }
    while (blocked.load(std::memory_order_relaxed) < kFibers) {
      spindle::this_fiber::sleep_for(std::chrono::milliseconds(1));
    }
    r.blocked = bench::sample_mem();
    r.all_blocked_ms = bench::ns_between(t0, bench::Clock::now()) / 1e6;
    r.all_blocked_in_time = bench::Clock::now() < deadline;
    for (auto& h : handles) r.woken += static_cast<std::uint64_t>(h.join());
  });
  finish(bench::Impl::Spindle, r);
  bench::report_spindle_stats(rt, kName);
  return 0;
}

int run_boost() {
  const auto impl = bench::Impl::Boost;
  bench::report_boost_setup(impl, kName, 2);
  Result r;
  std::atomic<std::uint32_t> blocked{0};
  std::vector<int> woke(kFibers, 0);
  bench::run_boost(2, [&] {
    std::vector<boost::fibers::fiber> fibers(kFibers);
    r.before = bench::sample_mem();
    const auto t0 = bench::Clock::now();
    const auto deadline = t0 + kHoldBoost;
    for (std::uint32_t i = 0; i < kFibers; ++i) {
      int* slot = &woke[i];
      fibers[i] = boost::fibers::fiber(
          std::allocator_arg, bench::boost_stack(), [&blocked, deadline, slot] {
            *slot =
                fiber_body(blocked, deadline, [](auto tp) { boost::this_fiber::sleep_until(tp); });
          });
    }
    while (blocked.load(std::memory_order_relaxed) < kFibers) {
      boost::this_fiber::sleep_for(std::chrono::milliseconds(1));
    }
    r.blocked = bench::sample_mem();
    r.all_blocked_ms = bench::ns_between(t0, bench::Clock::now()) / 1e6;
    r.all_blocked_in_time = bench::Clock::now() < deadline;
    for (auto& f : fibers) f.join();
  });
  for (int w : woke) r.woken += static_cast<std::uint64_t>(w);
  finish(impl, r);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  return bench::parse_impl(argc, argv) == bench::Impl::Spindle ? run_spindle() : run_boost();
}
