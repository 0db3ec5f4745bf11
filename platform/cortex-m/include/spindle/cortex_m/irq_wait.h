// Interrupt-driven waking without allocation: a fixed table of waker lists, one per interrupt
// source (index 0..SPINDLE_CM_IRQ_SOURCES-1, by convention the NVIC external IRQ number). A fiber
// that waits links a WaitNode that lives on its own stack into the source's list; the interrupt
// handler calls wake_irq(source), which makes every waiter ready and unlinks its node. A node whose
// wait ends by timeout is unlinked before the fiber runs again, so a later interrupt never touches
// the (by then reused) stack memory.
//
// ISR-safety: wake_irq(), waiters(), now_ticks(), stats(), self() and state() may be called from
// any interrupt handler whose priority is masked by PRIMASK (all configurable ones). Everything
// that blocks or spawns (yield, sleep_*, wait_irq, join, exit, spawn, detach, run, init) is
// thread-mode only; with SPINDLE_CM_DEBUG they panic (PanicKind::IsrMisuse) when IPSR != 0.
#pragma once

#include <stdint.h>

#include "spindle/cortex_m/fiber.h"
#include "spindle/cortex_m/ticks.h"

namespace spindle::cm {

// WaitResult: how wait_irq() ended.
enum class WaitResult : uint8_t { Woken = 1, TimedOut = 2 };

// WaitNode: the intrusive list node of one waiting fiber; lives on the waiter's stack inside
// wait_irq(). Its destructor unlinks it if it is still linked.
struct WaitNode {
  WaitNode* next = nullptr;
  WaitNode* prev = nullptr;
  Fiber* fiber = nullptr;
  unsigned source = 0;
  bool linked = false;
  ~WaitNode();
};

// wait_irq: blocks the calling fiber until wake_irq(source) is called (returns Woken) or `timeout`
// ticks have passed (returns TimedOut; kForever waits without a timeout). A wake that happened
// before the call is not remembered: arm the peripheral after, or check its status before, waiting.
// Fiber context only, not ISR-safe; panics on an out-of-range source.
WaitResult wait_irq(unsigned source, Tick timeout);

// wake_irq: makes every fiber waiting on `source` ready (at the back of its priority FIFO), unlinks
// their nodes and returns how many it woke. Never blocks or switches; ISR-safe (its intended
// caller is the interrupt handler of `source`), also callable from thread mode.
uint32_t wake_irq(unsigned source);

// waiters: number of fibers currently linked on `source`'s list. ISR-safe.
uint32_t waiters(unsigned source);

}  // namespace spindle::cm
