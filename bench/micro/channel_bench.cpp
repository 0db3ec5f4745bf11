// bench/micro/channel_bench.cpp: the non-blocking channel operations of the public API
// (<spindle/channel.hpp>), called from a plain thread with no runtime: try_send + try_recv through
// a buffered channel, and the failing paths (try_recv on an empty channel, try_send on a full one).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <string>

#include <spindle/channel.hpp>

namespace {

// BM_Channel_TrySendTryRecv: one try_send and one try_recv of an int per iteration through a
// channel of capacity state.range(0) that holds nothing else.
void BM_Channel_TrySendTryRecv(benchmark::State& state) {
  spindle::Channel<int> ch(static_cast<std::size_t>(state.range(0)));
  int v = 0;
  for (auto _ : state) {
    auto sent = ch.try_send(v++);
    benchmark::DoNotOptimize(sent);
    auto got = ch.try_recv();
    benchmark::DoNotOptimize(got);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Channel_TrySendTryRecv)->Arg(1)->Arg(1024);

// BM_Channel_TrySendTryRecvString: the same with a std::string too long for the small-string
// buffer, moved in and out (no allocation in the loop: the same buffer travels round).
void BM_Channel_TrySendTryRecvString(benchmark::State& state) {
  spindle::Channel<std::string> ch(64);
  std::string s(100, 'x');
  for (auto _ : state) {
    auto sent = ch.try_send(std::move(s));
    benchmark::DoNotOptimize(sent);
    auto got = ch.try_recv();
    s = std::move(*got);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Channel_TrySendTryRecvString);

// BM_Channel_TryRecvEmpty: try_recv on an empty channel (the Empty result).
void BM_Channel_TryRecvEmpty(benchmark::State& state) {
  spindle::Channel<int> ch(16);
  for (auto _ : state) {
    auto got = ch.try_recv();
    benchmark::DoNotOptimize(got);
  }
}
BENCHMARK(BM_Channel_TryRecvEmpty);

// BM_Channel_TrySendFull: try_send on a full channel (the Full result; the value stays with the
// caller).
void BM_Channel_TrySendFull(benchmark::State& state) {
  spindle::Channel<int> ch(1);
  if (!ch.try_send(0)) state.SkipWithError("could not fill the channel");
  for (auto _ : state) {
    auto sent = ch.try_send(1);
    benchmark::DoNotOptimize(sent);
  }
}
BENCHMARK(BM_Channel_TrySendFull);

}  // namespace

BENCHMARK_MAIN();
