// bench/micro/timer_bench.cpp: the per-worker timer wheel (sched/core/time/timer_wheel.hpp), the
// structure every timed wait arms and disarms: insert + remove of one entry (a wait that ends
// before its deadline), and insert + advance firing it (a sleep that runs to its deadline).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "time/timer_wheel.hpp"

namespace {

using spindle::detail::TimerEntry;
using spindle::detail::TimerWheel;

// populate links `n` entries spread over the first 2^20 ticks (levels 0-3), so the measured
// operations run on a wheel that is not empty.
void populate(TimerWheel& wheel, std::vector<TimerEntry>& entries, std::size_t n) {
  entries.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    entries[i].when = 1 + (i * 2654435761u) % (1u << 20);
    wheel.insert(&entries[i]);
  }
}

// BM_TimerWheel_InsertRemove: insert then remove one entry state.range(0) ticks ahead (1: level 0;
// 5000: level 2; 2^40: beyond the wheel's window, the overflow list) with state.range(1) other
// entries linked.
void BM_TimerWheel_InsertRemove(benchmark::State& state) {
  TimerWheel wheel;
  std::vector<TimerEntry> background;
  populate(wheel, background, static_cast<std::size_t>(state.range(1)));
  TimerEntry e;
  e.when = wheel.elapsed() + static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    const bool linked = wheel.insert(&e);
    benchmark::DoNotOptimize(linked);
    wheel.remove(&e);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerWheel_InsertRemove)
    ->Args({1, 0})
    ->Args({5000, 0})
    ->Args({std::int64_t{1} << 40, 0})
    ->Args({1, 10000})
    ->Args({5000, 10000});

// BM_TimerWheel_InsertFire: insert one entry 1 tick ahead and advance the wheel by one tick, which
// fires it (next_expiration, the slot scan and the fire callback included).
void BM_TimerWheel_InsertFire(benchmark::State& state) {
  TimerWheel wheel;
  TimerEntry e;
  std::uint64_t fired = 0;
  for (auto _ : state) {
    e.when = wheel.elapsed() + 1;
    wheel.insert(&e);
    wheel.advance(e.when, [&](TimerEntry*) { ++fired; });
    benchmark::ClobberMemory();
  }
  if (fired != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("not all fired");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerWheel_InsertFire);

}  // namespace
