// bench/micro/context_bench.cpp: the fiber layer's context switch (fiber/include/spindle/fiber/
// context.hpp, switch_context over Boost.Context's jump_fcontext), without any scheduler: the
// benchmark thread and one fiber on a pooled stack switch back and forth.
#include <benchmark/benchmark.h>

#include <boost/context/detail/fcontext.hpp>

#include "spindle/fiber/context.hpp"
#include "spindle/fiber/stack_pool.hpp"

namespace {

using spindle::fiber::Context;
using spindle::fiber::Stack;
using spindle::fiber::StackPool;

// PingPong is shared by the benchmark thread and its fiber.
struct PingPong {
  Context main;
  Context fiber;
  bool stop = false;
};

// pong switches straight back to the thread every time it is resumed, until told to stop.
void pong(boost::context::detail::transfer_t t) noexcept {
  auto* pp = static_cast<PingPong*>(spindle::fiber::first_resume(t).data);
  while (!pp->stop) spindle::fiber::switch_context(pp->fiber, pp->main, nullptr);
  spindle::fiber::switch_final(pp->fiber, pp->main, nullptr);
}

// BM_ContextSwitch: one iteration is a round trip, thread -> fiber -> thread (two switches);
// items/s counts switches.
void BM_ContextSwitch(benchmark::State& state) {
  StackPool pool(64 * 1024, 1, 1);
  const Stack stack = pool.acquire(0);
  PingPong pp;
  pp.main.bind_current_thread();
  pp.fiber.make(stack, pong);
  spindle::fiber::switch_context(pp.main, pp.fiber, &pp);  // starts it; it switches back at once
  for (auto _ : state) {
    spindle::fiber::switch_context(pp.main, pp.fiber, nullptr);
  }
  pp.stop = true;
  spindle::fiber::switch_context(pp.main, pp.fiber, nullptr);  // it leaves with switch_final
  pp.fiber.release();
  pool.release(0, stack);
  state.SetItemsProcessed(2 * state.iterations());
}
BENCHMARK(BM_ContextSwitch);

// BM_FiberStartFinish: make a context on a warm pooled stack, start it and let it finish
// (first_resume + switch_final), then return the stack: what starting a short task costs below the
// scheduler.
void oneshot(boost::context::detail::transfer_t t) noexcept {
  auto* pp = static_cast<PingPong*>(spindle::fiber::first_resume(t).data);
  spindle::fiber::switch_final(pp->fiber, pp->main, nullptr);
}

void BM_FiberStartFinish(benchmark::State& state) {
  StackPool pool(64 * 1024, 16, 1);
  for (auto _ : state) {
    const Stack stack = pool.acquire(0);
    PingPong pp;
    pp.main.bind_current_thread();
    pp.fiber.make(stack, oneshot);
    spindle::fiber::switch_context(pp.main, pp.fiber, &pp);
    pp.fiber.release();
    pool.release(0, stack);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FiberStartFinish);

}  // namespace
