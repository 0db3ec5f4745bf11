// The cooperative executor of the Cortex-M port: one per core, no heap. Fibers switch only at the
// calls documented as blocking (yield, sleep, wait_irq, join, exit); interrupts stay enabled while
// a fiber runs and may make fibers ready, but never switch by themselves.
//
// Scheduling rule: the next fiber is the head of the highest non-empty priority FIFO, except that
// while fibers are ready below that class, at most K = SPINDLE_CM_STARVATION_LIMIT consecutive
// decisions go to the top class and the next decision goes to the longest-waiting lower-priority
// fiber. No-starvation guarantee: a ready fiber of any priority runs within (K + 1) * n scheduling
// decisions, n = 1 + the number of ready lower-than-top fibers that became ready before it, however
// many higher-priority fibers are ready. In particular a lone ready Low fiber runs within K + 1.
#pragma once

#include <stdint.h>

#include "spindle/cortex_m/fiber.h"

namespace spindle::cm {

// init: sets PendSV (and SysTick) to the lowest priority, starts SysTick at SPINDLE_CM_TICK_HZ from
// a core clock of `core_clock_hz`, and (debug) checks that the vector table routes PendSV and
// SysTick to the port. Call once from main (thread mode, privileged, on PSP) before run().
void init(uint32_t core_clock_hz);

// run: turns the calling main context into the idle context and runs fibers until none is left
// (every spawned fiber finished). Sleeps in `wfi` whenever nothing is ready. Blocks; thread mode
// only, not from a fiber.
void run();

// yield: puts the calling fiber at the back of its priority FIFO and runs the next scheduling
// decision (which may pick the caller again). Fiber context only; must not be called with
// interrupts masked; not ISR-safe (debug: panics from an ISR).
void yield();

// Stats: counters kept by the executor. switches counts PendSV context switches, decisions counts
// scheduling decisions that picked a fiber, idle_waits counts `wfi` executions in the idle loop.
struct Stats {
  uint32_t switches;
  uint32_t decisions;
  uint32_t idle_waits;
};

// stats: a snapshot of the counters. ISR-safe.
Stats stats();

// ready_count: number of fibers currently in the ready queues. ISR-safe (a snapshot).
uint32_t ready_count();

}  // namespace spindle::cm
