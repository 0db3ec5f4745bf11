// W7 mutex: 1,000 fibers each lock / increment / unlock one mutex 1,000 times, on 2 workers; the
// plain (non-atomic) counter must end at 1,000,000. Measures wall-clock ns per lock = total time /
// 1,000,000 (spawn and join included, as in a real program). Spindle: spindle::Mutex with
// std::lock_guard, worker_threads = 2. Boost.Fiber baseline: boost::fibers::mutex with
// std::lock_guard, work_stealing over 2 threads, 64 KiB fixedsize_stack.
#include <mutex>

#include "bench_common.hpp"

#include <spindle/mutex.hpp>

namespace {
constexpr const char* kName = "mutex";
constexpr std::uint64_t kFibers = 1'000;
constexpr std::uint64_t kLocksPerFiber = 1'000;
constexpr std::uint64_t kLocks = kFibers * kLocksPerFiber;

int run_spindle() {
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 2;
  spindle::AsyncRuntime rt(cfg);
  bench::report_spindle_setup(rt, kName);
  spindle::Mutex m;
  std::uint64_t counter = 0;
  double ns = 0;
  rt.block_on([&] {
    std::vector<spindle::JoinHandle<void>> handles;
    handles.reserve(kFibers);
    const auto t0 = bench::Clock::now();
    for (std::uint64_t f = 0; f < kFibers; ++f) {
      handles.push_back(spindle::spawn([&] {
        for (std::uint64_t i = 0; i < kLocksPerFiber; ++i) {
          std::lock_guard<spindle::Mutex> g(m);
          ++counter;
        }
      }));
    }
    for (auto& h : handles) h.join();
    ns = bench::ns_between(t0, bench::Clock::now());
  });
  if (counter != kLocks) {
    bench::fail(bench::Impl::Spindle, kName, "counter " + std::to_string(counter));
  }
  bench::report(bench::Impl::Spindle, kName, "ns_per_lock", ns / kLocks, "ns");
  bench::report_spindle_stats(rt, kName);
  return 0;
}

int run_boost() {
  const auto impl = bench::Impl::Boost;
  bench::report_boost_setup(impl, kName, 2);
  boost::fibers::mutex m;
  std::uint64_t counter = 0;
  double ns = 0;
  bench::run_boost(2, [&] {
    std::vector<boost::fibers::fiber> fibers;
    fibers.reserve(kFibers);
    const auto t0 = bench::Clock::now();
    for (std::uint64_t f = 0; f < kFibers; ++f) {
      fibers.emplace_back(std::allocator_arg, bench::boost_stack(), [&] {
        for (std::uint64_t i = 0; i < kLocksPerFiber; ++i) {
          std::lock_guard<boost::fibers::mutex> g(m);
          ++counter;
        }
      });
    }
    for (auto& f : fibers) f.join();
    ns = bench::ns_between(t0, bench::Clock::now());
  });
  if (counter != kLocks) bench::fail(impl, kName, "counter " + std::to_string(counter));
  bench::report(impl, kName, "ns_per_lock", ns / kLocks, "ns");
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  return bench::parse_impl(argc, argv) == bench::Impl::Spindle ? run_spindle() : run_boost();
}
