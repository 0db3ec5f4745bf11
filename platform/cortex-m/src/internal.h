// Internals shared by the port's source files: core registers, critical sections, the scheduler's
// hooks for the time and interrupt-wait modules. Not a public header.
#pragma once

#include <stdint.h>

#include "spindle/cortex_m/executor.h"
#include "spindle/cortex_m/fiber.h"
#include "spindle/cortex_m/frame.h"
#include "spindle/cortex_m/irq_wait.h"
#include "spindle/cortex_m/panic.h"
#include "spindle/cortex_m/ticks.h"

// SwitchState: what the PendSV handler switches between. Written in thread mode inside a critical
// section just before PendSV is pended; PendSV saves into `current`, loads `next`, sets
// current=next.
struct SwitchState {
  spindle::cm::Fiber* current;
  spindle::cm::Fiber* next;
};
extern "C" SwitchState spindle_cm_switch_state;
extern "C" void PendSV_Handler();
extern "C" void SysTick_Handler();

static_assert(__builtin_offsetof(SwitchState, current) == SPINDLE_CM_SWITCH_CURRENT_OFFSET, "");
static_assert(__builtin_offsetof(SwitchState, next) == SPINDLE_CM_SWITCH_NEXT_OFFSET, "");
static_assert(SPINDLE_CM_SWITCH_NEXT_OFFSET == SPINDLE_CM_SWITCH_CURRENT_OFFSET + 4, "ldrd");

namespace spindle::cm::detail {

// System control registers used by the port (ARMv7-M architecture reference manual, B3.2).
inline volatile uint32_t& reg(uint32_t addr) {
  return *reinterpret_cast<volatile uint32_t*>(addr);
}
inline constexpr uint32_t kIcsr = 0xE000ED04u;
inline constexpr uint32_t kVtor = 0xE000ED08u;
inline constexpr uint32_t kShpr3 = 0xE000ED20u;
inline constexpr uint32_t kCpacr = 0xE000ED88u;
inline constexpr uint32_t kFpccr = 0xE000EF34u;
inline constexpr uint32_t kSysTickCtrl = 0xE000E010u;
inline constexpr uint32_t kSysTickLoad = 0xE000E014u;
inline constexpr uint32_t kSysTickVal = 0xE000E018u;
inline constexpr uint32_t kIcsrPendSvSet = 1u << 28;

// kCanary: pattern of the canary words (and of the whole stack with SPINDLE_CM_STACK_FILL).
inline constexpr uint32_t kCanary = 0xC0DEF1BEu;

inline uint32_t ipsr() {
  uint32_t v;
  __asm volatile("mrs %0, ipsr" : "=r"(v));
  return v;
}
inline uint32_t primask() {
  uint32_t v;
  __asm volatile("mrs %0, primask" : "=r"(v));
  return v;
}
inline uint32_t control() {
  uint32_t v;
  __asm volatile("mrs %0, control" : "=r"(v));
  return v;
}
inline uint32_t current_sp() {
  uint32_t v;
  __asm volatile("mov %0, sp" : "=r"(v));
  return v;
}

// cs_enter / cs_exit: a critical section by PRIMASK; nests. Leaving the outermost one with a switch
// pending takes PendSV right there (after the isb).
inline uint32_t cs_enter() {
  uint32_t pm;
  __asm volatile("mrs %0, primask\n\tcpsid i" : "=r"(pm)::"memory");
  return pm;
}
inline void cs_exit(uint32_t pm) {
  __asm volatile("msr primask, %0\n\tisb" ::"r"(pm) : "memory");
}

// current: the running fiber, or the idle context.
inline Fiber* current() {
  return spindle_cm_switch_state.current;
}
Fiber* idle_context();

// SPINDLE_CM_REQUIRE_FIBER: debug check for a blocking call: thread mode, interrupts not
// masked, on a fiber.
#if SPINDLE_CM_DEBUG
#define SPINDLE_CM_REQUIRE_FIBER(fn)                                                          \
  do {                                                                                        \
    if (::spindle::cm::detail::ipsr() != 0)                                                   \
      ::spindle::cm::panic(::spindle::cm::PanicKind::IsrMisuse,                               \
                           fn "() called from an interrupt handler (IPSR != 0)",              \
                           ::spindle::cm::detail::current());                                 \
    if (::spindle::cm::detail::current() == ::spindle::cm::detail::idle_context())            \
      ::spindle::cm::panic(::spindle::cm::PanicKind::BadCall, fn "() called outside a fiber", \
                           nullptr);                                                          \
    if (::spindle::cm::detail::primask() != 0)                                                \
      ::spindle::cm::panic(::spindle::cm::PanicKind::BadCall,                                 \
                           fn "() called with interrupts masked",                             \
                           ::spindle::cm::detail::current());                                 \
  } while (0)
#define SPINDLE_CM_REQUIRE_THREAD(fn)                                            \
  do {                                                                           \
    if (::spindle::cm::detail::ipsr() != 0)                                      \
      ::spindle::cm::panic(::spindle::cm::PanicKind::IsrMisuse,                  \
                           fn "() called from an interrupt handler (IPSR != 0)", \
                           ::spindle::cm::detail::current());                    \
  } while (0)
#else
#define SPINDLE_CM_REQUIRE_FIBER(fn) \
  do {                               \
  } while (0)
#define SPINDLE_CM_REQUIRE_THREAD(fn) \
  do {                                \
  } while (0)
#endif

// Scheduler (executor.cpp); all of these run inside a critical section.
void make_ready(Fiber* f);
// switch_away: the caller has set current()'s state (or made it ready); picks the next fiber
// (the idle context when none is ready), checks the outgoing stack and pends the switch. The switch
// happens when the caller leaves its critical section.
void switch_away();

// Timers (ticks.cpp), thread mode, inside a critical section.
void timer_insert(Fiber* f, Tick deadline);
void timer_remove(Fiber* f);
void poll_timers();

// Interrupt waits (irq_wait.cpp): unlinks f's wait node after a timeout; inside a critical section.
void abandon_wait(Fiber* f);

}  // namespace spindle::cm::detail
