// Fibers of the Cortex-M port: the control block, statically allocated slots with their stacks, and
// the calls that start, finish and join a fiber.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "spindle/cortex_m/config.h"
#include "spindle/cortex_m/frame.h"

namespace spindle::cm {

// Priority: the four scheduling classes, same names as the desktop runtime. A higher class always
// runs first, bounded by the no-starvation rule (see executor.h).
enum class Priority : uint8_t { Low = 0, Normal = 1, High = 2, Critical = 3 };

// kPriorityCount: number of priority classes.
inline constexpr unsigned kPriorityCount = 4;

// FiberState: life cycle of a slot. Free -> Ready <-> Running -> (Sleeping | WaitingIrq | Joining)
// -> Ready ... -> Done -> (joined or detached) Free.
enum class FiberState : uint8_t { Free, Ready, Running, Sleeping, WaitingIrq, Joining, Done, Idle };

struct WaitNode;

// FiberEntry: a fiber's body; its return value becomes the exit status seen by join().
using FiberEntry = int (*)(void* arg);

// Fiber: the control block. Its fields are private to the port; the first one is the saved stack
// pointer that the PendSV handler reads and writes (SPINDLE_CM_FIBER_SP_OFFSET).
struct Fiber {
  uint32_t* sp = nullptr;          // saved PSP while suspended
  uint32_t* stack_base = nullptr;  // lowest word of the stack (canary words live here)
  uint32_t stack_words = 0;
  const char* name = nullptr;
  Fiber* next = nullptr;        // ready queue link
  Fiber* timer_prev = nullptr;  // timer list links (sleep_until, wait timeouts)
  Fiber* timer_next = nullptr;
  Fiber* joiner = nullptr;  // fiber blocked in join() on this one
  WaitNode* wait_node = nullptr;
  FiberEntry entry = nullptr;
  void* arg = nullptr;
  uint32_t wake_tick = 0;
  int exit_status = 0;
  FiberState state = FiberState::Free;
  Priority priority = Priority::Low;  // all-zero defaults keep slots in .bss
  uint8_t wait_result = 0;
  uint8_t in_timer = 0;
  uint8_t detached = 0;
};

static_assert(__builtin_offsetof(Fiber, sp) == SPINDLE_CM_FIBER_SP_OFFSET,
              "PendSV reads Fiber::sp");

// kMinStackBytes: the smallest stack spawn() accepts: canary, a full switch frame, an interrupt
// frame on top of it and room for the fiber's first calls.
inline constexpr uint32_t kMinStackBytes =
    4 * SPINDLE_CM_CANARY_WORDS + SPINDLE_CM_SWITCH_RESERVE_BYTES + 104 + 128;

// FiberSlot: a statically allocated fiber: its stack (8-byte aligned, lowest address first, so an
// overflow runs away from the control block) followed by the control block. Declare slots with
// SPINDLE_CM_FIBER_SLOT or as globals/statics; never on another fiber's stack.
template <uint32_t StackBytes>
struct FiberSlot {
  static_assert(StackBytes % 8 == 0, "fiber stacks are a multiple of 8 bytes");
  static_assert(StackBytes >= kMinStackBytes, "fiber stack below kMinStackBytes");
  alignas(8) uint32_t stack[StackBytes / 4];
  Fiber fiber;
};

// SPINDLE_CM_FIBER_SLOT(name, bytes): declares a static fiber slot `name` with a `bytes` stack.
#define SPINDLE_CM_FIBER_SLOT(name, bytes) static ::spindle::cm::FiberSlot<(bytes)> name

// spawn: starts `entry(arg)` as a fiber in `fiber` on the stack [stack, stack + stack_bytes),
// makes it ready at `prio` and returns true; returns false (and does nothing) if the slot is not
// Free. Does not block and does not switch. Thread mode only (not ISR-safe); may be called before
// run().
bool spawn(Fiber& fiber, uint32_t* stack, uint32_t stack_bytes, FiberEntry entry, void* arg,
           Priority prio = Priority::Normal, const char* name = "");

// spawn: the same on a FiberSlot. Thread mode only.
template <uint32_t StackBytes>
bool spawn(FiberSlot<StackBytes>& slot, FiberEntry entry, void* arg,
           Priority prio = Priority::Normal, const char* name = "") {
  return spawn(slot.fiber, slot.stack, StackBytes, entry, arg, prio, name);
}

// join: blocks the calling fiber until `fiber` has finished, frees its slot (it may be spawned
// again) and returns its exit status. Returns at once if it has already finished. One joiner per
// fiber; a detached fiber cannot be joined. Fiber context only (not from an ISR, not from main
// before run()).
int join(Fiber& fiber);

// detach: the slot becomes Free by itself when the fiber finishes; its status is dropped. Does not
// block. Thread mode only.
void detach(Fiber& fiber);

// exit: finishes the calling fiber with `status` (as if its entry returned it) and wakes its
// joiner. Never returns. Fiber context only.
[[noreturn]] void exit(int status);

// self: the calling fiber, or nullptr when called from main/idle or an ISR. ISR-safe.
Fiber* self();

// state: the slot's current state. ISR-safe (a snapshot).
inline FiberState state(const Fiber& fiber) {
  return fiber.state;
}

// stack_unused_bytes: bytes at the bottom of the fiber's stack never written since spawn (the
// high-water mark; needs SPINDLE_CM_STACK_FILL). Does not block. Thread mode.
uint32_t stack_unused_bytes(const Fiber& fiber);

}  // namespace spindle::cm
