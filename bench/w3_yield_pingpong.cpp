// W3 yield_pingpong: one worker thread, two fibers that each yield 5,000,000 times (they
// alternate). Measures wall-clock ns per yield = total time / 10,000,000. Spindle: worker_threads =
// 1, spindle::this_fiber::yield. Boost.Fiber baseline: one thread, round_robin,
// boost::this_fiber::yield, 64 KiB fixedsize_stack.
#include "bench_common.hpp"

namespace {
constexpr const char* kName = "yield_pingpong";
constexpr std::uint64_t kYields = 5'000'000;

int run_spindle() {
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 1;
  spindle::AsyncRuntime rt(cfg);
  bench::report_spindle_setup(rt, kName);
  double ns = 0;
  const std::uint64_t total = rt.block_on([&] {
    auto body = [] {
      std::uint64_t n = 0;
      for (std::uint64_t i = 0; i < kYields; ++i) {
        spindle::this_fiber::yield();
        ++n;
      }
      return n;
    };
    const auto t0 = bench::Clock::now();
    auto a = spindle::spawn(body);
    auto b = spindle::spawn(body);
    const std::uint64_t n = a.join() + b.join();
    ns = bench::ns_between(t0, bench::Clock::now());
    return n;
  });
  if (total != 2 * kYields) {
    bench::fail(bench::Impl::Spindle, kName, "yields " + std::to_string(total));
  }
  bench::report(bench::Impl::Spindle, kName, "ns_per_yield", ns / (2 * kYields), "ns");
  bench::report_spindle_stats(rt, kName);
  return 0;
}

int run_boost() {
  const auto impl = bench::Impl::Boost;
  bench::report_boost_setup(impl, kName, 1);
  double ns = 0;
  std::uint64_t total = 0;
  bench::run_boost(1, [&] {
    std::uint64_t na = 0, nb = 0;
    auto body = [](std::uint64_t* n) {
      for (std::uint64_t i = 0; i < kYields; ++i) {
        boost::this_fiber::yield();
        ++*n;
      }
    };
    const auto t0 = bench::Clock::now();
    boost::fibers::fiber a(std::allocator_arg, bench::boost_stack(), body, &na);
    boost::fibers::fiber b(std::allocator_arg, bench::boost_stack(), body, &nb);
    a.join();
    b.join();
    ns = bench::ns_between(t0, bench::Clock::now());
    total = na + nb;
  });
  if (total != 2 * kYields) bench::fail(impl, kName, "yields " + std::to_string(total));
  bench::report(impl, kName, "ns_per_yield", ns / (2 * kYields), "ns");
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  return bench::parse_impl(argc, argv) == bench::Impl::Spindle ? run_spindle() : run_boost();
}
