// The cooperative executor of the Cortex-M port: one per core, no heap. Fibers switch only at the
// calls documented as blocking (yield, sleep, wait_irq, join, exit); interrupts stay enabled while
// a fiber runs and may make fibers ready, but never switch by themselves.
//
// Scheduling rule: the desktop runtime's no-starvation rule, compiled from the same header
// (platform/include/spindle/platform/priority_policy.hpp, PriorityPolicy; there is no global
// queue here, so its global-queue tie-break does not apply). Per scheduling decision that finds a
// ready fiber (a decision with nothing ready is not counted):
//  1. Normally the next fiber is the head of the highest non-empty priority FIFO.
//  2. Every SPINDLE_CM_FAIRNESS_INTERVAL-th (8th) decision is a fairness turn. Fairness turns
//     rotate over Low, Normal and High; the turn for level L serves L if L has ready fibers and is
//     below the highest ready level, otherwise the decision falls back to rule 1.
// No-starvation guarantee: while a level below Critical has ready fibers, it is served at least
// once in every SPINDLE_CM_STARVATION_BOUND = 3 * 8 = 24 consecutive decisions, however many
// higher-priority fibers are ready; so a ready fiber with n - 1 fibers ahead of it in its FIFO
// runs within 24 * n decisions. Critical is served on at least 7 of every 8 decisions while it has
// ready fibers. A yielding fiber counts as queued at the back of its FIFO, so it continues (no
// switch) when it is the decision's choice.
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
