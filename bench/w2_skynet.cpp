// W2 skynet: a tree of fibers of depth 6 with 10 children per node (1,111,111 fibers); leaves
// return their ordinal, each parent spawns its 10 children, joins them and returns the sum; the
// root's result must be 499999500000. Measures total wall-clock ms (2 workers). Spindle:
// spindle::spawn + JoinHandle<uint64_t>::join. Boost.Fiber baseline: boost::fibers::fiber (64 KiB
// fixedsize_stack) writing into a slot of its parent's array, work_stealing over 2 threads,
// fiber::join.
#include "bench_common.hpp"

namespace {
constexpr const char* kName = "skynet";
constexpr std::uint64_t kLeaves = 1'000'000;
constexpr std::uint64_t kExpected = 499'999'500'000ull;

std::uint64_t skynet_spindle(std::uint64_t num, std::uint64_t size) {
  if (size == 1) return num;
  const std::uint64_t step = size / 10;
  spindle::JoinHandle<std::uint64_t> children[10];
  for (std::uint64_t i = 0; i < 10; ++i) {
    children[i] = spindle::spawn([num, i, step] { return skynet_spindle(num + i * step, step); });
  }
  std::uint64_t sum = 0;
  for (auto& c : children) sum += c.join();
  return sum;
}

void skynet_boost(std::uint64_t* out, std::uint64_t num, std::uint64_t size) {
  if (size == 1) {
    *out = num;
    return;
  }
  const std::uint64_t step = size / 10;
  std::uint64_t results[10] = {};
  boost::fibers::fiber children[10];
  for (std::uint64_t i = 0; i < 10; ++i) {
    std::uint64_t* r = &results[i];
    children[i] = boost::fibers::fiber(std::allocator_arg, bench::boost_stack(), [r, num, i, step] {
      skynet_boost(r, num + i * step, step);
    });
  }
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < 10; ++i) {
    children[i].join();
    sum += results[i];
  }
  *out = sum;
}

int run_spindle() {
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 2;
  spindle::AsyncRuntime rt(cfg);
  bench::report_spindle_setup(rt, kName);
  double ns = 0;
  const std::uint64_t sum = rt.block_on([&] {
    const auto t0 = bench::Clock::now();
    const std::uint64_t s = skynet_spindle(0, kLeaves);
    ns = bench::ns_between(t0, bench::Clock::now());
    return s;
  });
  if (sum != kExpected) bench::fail(bench::Impl::Spindle, kName, "sum " + std::to_string(sum));
  bench::report(bench::Impl::Spindle, kName, "total_ms", ns / 1e6, "ms");
  bench::report_spindle_stats(rt, kName);
  return 0;
}

int run_boost() {
  const auto impl = bench::Impl::Boost;
  bench::report_boost_setup(impl, kName, 2);
  double ns = 0;
  std::uint64_t sum = 0;
  bench::run_boost(2, [&] {
    const auto t0 = bench::Clock::now();
    skynet_boost(&sum, 0, kLeaves);
    ns = bench::ns_between(t0, bench::Clock::now());
  });
  if (sum != kExpected) bench::fail(impl, kName, "sum " + std::to_string(sum));
  bench::report(impl, kName, "total_ms", ns / 1e6, "ms");
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  return bench::parse_impl(argc, argv) == bench::Impl::Spindle ? run_spindle() : run_boost();
}
