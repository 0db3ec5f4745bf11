// bench/micro/queue_bench.cpp: the worker's local run queue (sched/core/detail/local_queue.hpp),
// single-threaded: the owner's push/pop (with and without the head CAS) and one steal of half the
// queue. No thread contends, so these are the uncontended costs the scheduler pays per decision.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "detail/local_queue.hpp"

namespace {

using spindle::detail::LocalQueue;

// Item is what the queue points to (the scheduler stores TaskCore*; the queue never dereferences).
struct Item {
  int pad;
};

// kCapacity is the scheduler's default local queue capacity (AsyncRuntimeConfig::queue_capacity).
constexpr std::uint32_t kCapacity = 1024;

// items returns n distinct non-null pointers to queue.
std::vector<Item*> items(std::size_t n) {
  static std::vector<Item> storage(4096);
  std::vector<Item*> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(&storage[i % storage.size()]);
  return out;
}

// BM_LocalQueue_PushPop: one push and one pop (the pop's head CAS, as on a worker that may be
// stolen from) per iteration, on a queue holding state.range(0) other items.
void BM_LocalQueue_PushPop(benchmark::State& state) {
  LocalQueue<Item*> q(kCapacity);
  const auto fill = items(static_cast<std::size_t>(state.range(0)));
  for (Item* it : fill) q.push(it);
  Item* x = items(1)[0];
  for (auto _ : state) {
    bool ok = q.push(x);
    benchmark::DoNotOptimize(ok);
    Item* got = q.pop();
    benchmark::DoNotOptimize(got);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LocalQueue_PushPop)->Arg(0)->Arg(128);

// BM_LocalQueue_PushPopUnshared: push + pop_unshared (the pop of a queue no thread steals from: a
// plain store instead of the CAS).
void BM_LocalQueue_PushPopUnshared(benchmark::State& state) {
  LocalQueue<Item*> q(kCapacity);
  Item* x = items(1)[0];
  for (auto _ : state) {
    bool ok = q.push(x);
    benchmark::DoNotOptimize(ok);
    Item* got = q.pop_unshared();
    benchmark::DoNotOptimize(got);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LocalQueue_PushPopUnshared);

// BM_LocalQueue_StealHalf: the victim is refilled to state.range(0) items with one push_batch, a
// thief takes half with steal_half_into (the oldest into first_out, the rest into its own queue, as
// Worker::steal does), then both queues are emptied with pop_half. Items/s counts stolen items.
void BM_LocalQueue_StealHalf(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  LocalQueue<Item*> victim(kCapacity);
  LocalQueue<Item*> thief(kCapacity);
  const auto fill = items(n);
  std::vector<Item*> drain(kCapacity);
  std::size_t stolen = 0;
  for (auto _ : state) {
    victim.push_batch(fill.data(), n);
    Item* first = nullptr;
    const std::size_t got = victim.steal_half_into(thief, &first);
    benchmark::DoNotOptimize(first);
    stolen += got;
    while (victim.pop_half(drain.data(), drain.size()) != 0) {
    }
    while (thief.pop_half(drain.data(), drain.size()) != 0) {
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(stolen));
}
BENCHMARK(BM_LocalQueue_StealHalf)->Arg(8)->Arg(64)->Arg(1024);

}  // namespace
