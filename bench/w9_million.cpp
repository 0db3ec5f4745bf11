// W9 million: 1,000,000 fibers each sleeping 1 s concurrently under the default config
// (worker_threads = 0: one per CPU) and the default vm.max_map_count. Measures total wall-clock
// seconds (first spawn to last join), peak VmRSS (VmHWM), VmPTE sampled the moment all 1,000,000
// are asleep (a monitor thread also keeps the largest VmPTE seen, used if they never all sleep at
// once), and their sum as the peak footprint. Spindle: spindle::spawn + this_fiber::sleep_for.
// Optional Boost.Fiber baseline: work_stealing over 2 threads with a 64 KiB
// protected_fixedsize_stack (guard page, like Spindle's stacks); it is expected to run out of
// mappings (vm.max_map_count) and then reports how many fibers it got to and exits 3 (not a failed
// check).
#include "bench_common.hpp"

namespace {
constexpr const char* kName = "million";
constexpr std::uint32_t kFibers = 1'000'000;
constexpr auto kSleep = std::chrono::seconds(1);

// Monitor samples VmPTE every few ms on its own thread, and once when `asleep` reaches kFibers.
class Monitor {
 public:
  explicit Monitor(std::atomic<std::uint32_t>& asleep)
      : asleep_(asleep), thread_([this] { loop(); }) {}
  ~Monitor() { stop(); }
  void stop() {
    if (thread_.joinable()) {
      stop_.store(true);
      thread_.join();
    }
  }
  long max_pte = 0;
  long pte_all_asleep = -1;
  long maps_all_asleep = -1;
  std::uint32_t max_asleep = 0;

 private:
  void loop() {
    while (!stop_.load()) {
      const std::uint32_t n = asleep_.load(std::memory_order_relaxed);
      max_asleep = std::max(max_asleep, n);
      const long pte = bench::status_kib("VmPTE") * 1024;
      max_pte = std::max(max_pte, pte);
      if (n == kFibers && pte_all_asleep < 0) {
        pte_all_asleep = pte;
        maps_all_asleep = bench::map_count();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  std::atomic<std::uint32_t>& asleep_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

long max_map_count() {
  long v = -1;
  if (std::FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
    if (std::fscanf(f, "%ld", &v) != 1) v = -1;
    std::fclose(f);
  }
  return v;
}

void report_memory(bench::Impl impl, Monitor& m, double seconds) {
  m.stop();
  const long hwm = bench::status_kib("VmHWM") * 1024;
  const long pte = m.pte_all_asleep >= 0 ? m.pte_all_asleep : m.max_pte;
  bench::report(impl, kName, "total_s", seconds, "s");
  bench::report(impl, kName, "peak_rss_pte", static_cast<double>(hwm + pte), "B");
  bench::report(impl, kName, "peak_rss", static_cast<double>(hwm), "B");
  bench::report(impl, kName, "pte_all_asleep", static_cast<double>(pte), "B");
  bench::report(impl, kName, "max_concurrent_asleep", m.max_asleep, "fibers");
  bench::report(impl, kName, "maps_all_asleep", static_cast<double>(m.maps_all_asleep), "maps");
}

int run_spindle() {
  spindle::AsyncRuntime rt;  // default config
  bench::report_spindle_setup(rt, kName);
  std::atomic<std::uint32_t> asleep{0};
  Monitor monitor(asleep);
  double ns = 0;
  const std::uint64_t ok = rt.block_on([&] {
    std::vector<spindle::JoinHandle<int>> handles;
    handles.reserve(kFibers);
    const auto t0 = bench::Clock::now();
    for (std::uint32_t i = 0; i < kFibers; ++i) {
      handles.push_back(spindle::spawn([&asleep] {
        asleep.fetch_add(1, std::memory_order_relaxed);
        const auto s0 = bench::Clock::now();
        spindle::this_fiber::sleep_for(kSleep);
        const bool full = bench::Clock::now() - s0 >= kSleep;
        asleep.fetch_sub(1, std::memory_order_relaxed);
        return full ? 1 : 0;
      }));
    }
    std::uint64_t n = 0;
    for (auto& h : handles) n += static_cast<std::uint64_t>(h.join());
    ns = bench::ns_between(t0, bench::Clock::now());
    return n;
  });
  if (ok != kFibers) bench::fail(bench::Impl::Spindle, kName, "full sleeps " + std::to_string(ok));
  report_memory(bench::Impl::Spindle, monitor, ns / 1e9);
  bench::report_spindle_stats(rt, kName);
  return 0;
}

int run_boost() {
  const auto impl = bench::Impl::Boost;
  bench::report_boost_setup(impl, kName, 2);
  std::atomic<std::uint32_t> asleep{0};
  Monitor monitor(asleep);
  double ns = 0;
  std::uint32_t spawned = 0;
  std::string error;
  std::vector<int> ok(kFibers, 0);
  bench::run_boost(2, [&] {
    std::vector<boost::fibers::fiber> fibers;
    fibers.reserve(kFibers);
    const auto t0 = bench::Clock::now();
    try {
      for (std::uint32_t i = 0; i < kFibers; ++i) {
        int* slot = &ok[i];
        fibers.emplace_back(std::allocator_arg,
                            boost::fibers::protected_fixedsize_stack(bench::kStackSize),
                            [&asleep, slot] {
                              asleep.fetch_add(1, std::memory_order_relaxed);
                              const auto s0 = bench::Clock::now();
                              boost::this_fiber::sleep_for(kSleep);
                              *slot = bench::Clock::now() - s0 >= kSleep ? 1 : 0;
                              asleep.fetch_sub(1, std::memory_order_relaxed);
                            });
        ++spawned;
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
    for (auto& f : fibers) f.join();
    ns = bench::ns_between(t0, bench::Clock::now());
  });
  std::uint64_t full = 0;
  for (int v : ok) full += static_cast<std::uint64_t>(v);
  if (full != spawned) bench::fail(impl, kName, "full sleeps " + std::to_string(full));
  if (spawned != kFibers) {
    monitor.stop();
    bench::report(impl, kName, "spawned_before_failure", spawned, "fibers");
    std::printf("# boostfiber %s: spawning fiber %u failed: %s (vm.max_map_count %ld, maps %ld)\n",
                kName, spawned + 1, error.c_str(), max_map_count(), bench::map_count());
    return 3;
  }
  report_memory(impl, monitor, ns / 1e9);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  return bench::parse_impl(argc, argv) == bench::Impl::Spindle ? run_spindle() : run_boost();
}
