// W4 chan_pingpong: 2 worker threads, two fibers pass an int back and forth over two channels of
// capacity 1 (ping: A -> B, pong: B -> A), 1,000,000 round trips. Measures wall-clock ns per round
// trip = total time / 1,000,000 (from before spawning the two fibers to after joining both).
// Spindle: worker_threads = 2, spindle::Channel<int>(1). Boost.Fiber baseline: 2 threads,
// work_stealing, boost::fibers::buffered_channel<int>(2): Boost requires a power-of-two capacity
// >= 2 and keeps one slot free, so capacity 2 holds at most 1 value, the same as capacity 1 here.
// 64 KiB fixedsize_stack.
#include <boost/fiber/buffered_channel.hpp>

#include <spindle/channel.hpp>

#include "bench_common.hpp"

namespace {
constexpr const char* kName = "chan_pingpong";
constexpr int kRoundTrips = 1'000'000;

int run_spindle() {
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 2;
  spindle::AsyncRuntime rt(cfg);
  bench::report_spindle_setup(rt, kName);
  spindle::Channel<int> ping(1), pong(1);
  double ns = 0;
  const long sum = rt.block_on([&] {
    const auto t0 = bench::Clock::now();
    auto a = spindle::spawn([&] {
      long s = 0;
      for (int i = 0; i < kRoundTrips; ++i) {
        if (!ping.send(i)) return -1L;
        auto r = pong.recv();
        if (!r) return -1L;
        s += *r;
      }
      return s;
    });
    auto b = spindle::spawn([&] {
      for (int i = 0; i < kRoundTrips; ++i) {
        auto r = ping.recv();
        if (!r || !pong.send(*r + 1)) return;
      }
    });
    const long s = a.join();
    b.join();
    ns = bench::ns_between(t0, bench::Clock::now());
    return s;
  });
  const long expect = static_cast<long>(kRoundTrips) * (kRoundTrips + 1) / 2;
  if (sum != expect) bench::fail(bench::Impl::Spindle, kName, "sum " + std::to_string(sum));
  bench::report(bench::Impl::Spindle, kName, "ns_per_round_trip", ns / kRoundTrips, "ns");
  bench::report_spindle_stats(rt, kName);
  return 0;
}

int run_boost() {
  const auto impl = bench::Impl::Boost;
  bench::report_boost_setup(impl, kName, 2);
  double ns = 0;
  long sum = 0;
  bench::run_boost(2, [&] {
    // Capacity 2 = one value in flight (Boost keeps one slot empty).
    boost::fibers::buffered_channel<int> ping(2), pong(2);
    const auto t0 = bench::Clock::now();
    boost::fibers::fiber a(std::allocator_arg, bench::boost_stack(), [&] {
      long s = 0;
      for (int i = 0; i < kRoundTrips; ++i) {
        if (ping.push(i) != boost::fibers::channel_op_status::success) return;
        int v = 0;
        if (pong.pop(v) != boost::fibers::channel_op_status::success) return;
        s += v;
      }
      sum = s;
    });
    boost::fibers::fiber b(std::allocator_arg, bench::boost_stack(), [&] {
      for (int i = 0; i < kRoundTrips; ++i) {
        int v = 0;
        if (ping.pop(v) != boost::fibers::channel_op_status::success) return;
        if (pong.push(v + 1) != boost::fibers::channel_op_status::success) return;
      }
    });
    a.join();
    b.join();
    ns = bench::ns_between(t0, bench::Clock::now());
  });
  const long expect = static_cast<long>(kRoundTrips) * (kRoundTrips + 1) / 2;
  if (sum != expect) bench::fail(impl, kName, "sum " + std::to_string(sum));
  bench::report(impl, kName, "ns_per_round_trip", ns / kRoundTrips, "ns");
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  return bench::parse_impl(argc, argv) == bench::Impl::Spindle ? run_spindle() : run_boost();
}
