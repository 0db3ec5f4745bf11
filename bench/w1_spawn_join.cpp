// W1 spawn_join: one root fiber spawns 1,000,000 fibers that each return their index, keeps every
// handle in a vector, then joins all and checks the sum. Measures wall-clock ns per task (spawn +
// run + join, 2 workers). Spindle: spindle::spawn + JoinHandle<uint64_t>::join. Boost.Fiber
// baseline: boost::fibers::fiber (launch::post, 64 KiB fixedsize_stack) writing its index into a
// preallocated slot, work_stealing over 2 threads, fiber::join.
#include "bench_common.hpp"

namespace {
constexpr const char* kName = "spawn_join";
constexpr std::uint64_t kTasks = 1'000'000;
constexpr std::uint64_t kExpected = kTasks * (kTasks - 1) / 2;

int run_spindle() {
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 2;
  spindle::AsyncRuntime rt(cfg);
  bench::report_spindle_setup(rt, kName);
  double ns = 0;
  const std::uint64_t sum = rt.block_on([&] {
    std::vector<spindle::JoinHandle<std::uint64_t>> handles;
    handles.reserve(kTasks);
    const auto t0 = bench::Clock::now();
    for (std::uint64_t i = 0; i < kTasks; ++i) handles.push_back(spindle::spawn([i] { return i; }));
    std::uint64_t s = 0;
    for (auto& h : handles) s += h.join();
    ns = bench::ns_between(t0, bench::Clock::now());
    return s;
  });
  if (sum != kExpected) bench::fail(bench::Impl::Spindle, kName, "sum " + std::to_string(sum));
  bench::report(bench::Impl::Spindle, kName, "ns_per_task", ns / kTasks, "ns");
  bench::report_spindle_stats(rt, kName);
  return 0;
}

// boost_spawn_join is W1 on Boost.Fiber with launch policy `launch`; returns ns per task.
double boost_spawn_join(boost::fibers::launch launch, std::vector<std::uint64_t>& slots) {
  std::vector<boost::fibers::fiber> fibers;
  fibers.reserve(kTasks);
  const auto t0 = bench::Clock::now();
  for (std::uint64_t i = 0; i < kTasks; ++i) {
    std::uint64_t* slot = &slots[i];
    fibers.emplace_back(launch, std::allocator_arg, bench::boost_stack(), [slot, i] { *slot = i; });
  }
  std::uint64_t s = 0;
  for (std::uint64_t i = 0; i < kTasks; ++i) {
    fibers[i].join();
    s += slots[i];
    slots[i] = 0;
  }
  const double ns = bench::ns_between(t0, bench::Clock::now());
  if (s != kExpected) bench::fail(bench::Impl::Boost, kName, "sum " + std::to_string(s));
  return ns / kTasks;
}

// The Boost baseline runs twice in one process: launch::post (the default, same semantics as
// spindle::spawn: the child is queued, so all 1,000,000 fibers and their malloc'd stacks exist at
// once) is `ns_per_task`; launch::dispatch (the child runs to completion inside the spawn, reusing
// one warm stack) is reported as `ns_per_task_dispatch`, a lower bound on Boost.Fiber's per-fiber
// cost.
int run_boost() {
  const auto impl = bench::Impl::Boost;
  bench::report_boost_setup(impl, kName, 2);
  double post = 0;
  std::vector<std::uint64_t> slots(kTasks, 0);
  bench::run_boost(2, [&] { post = boost_spawn_join(boost::fibers::launch::post, slots); });
  bench::report(impl, kName, "ns_per_task", post, "ns");
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  return bench::parse_impl(argc, argv) == bench::Impl::Spindle ? run_spindle() : run_boost();
}
