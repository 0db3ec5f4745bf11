// Compile-time configuration of the Spindle Cortex-M port. Every knob can be overridden with a -D
// definition; the port library and the firmware that uses it must see the same values (the CMake
// targets export them as PUBLIC compile definitions).
#pragma once

// SPINDLE_CM_TICK_HZ: SysTick interrupts per second; sleep_ms() converts milliseconds with it.
#ifndef SPINDLE_CM_TICK_HZ
#define SPINDLE_CM_TICK_HZ 1000u
#endif

// SPINDLE_CM_IRQ_SOURCES: number of waker lists (one per interrupt source, indexed 0..N-1; the
// usual mapping is "source = NVIC external IRQ number"). Each list costs 8 bytes of .bss.
#ifndef SPINDLE_CM_IRQ_SOURCES
#define SPINDLE_CM_IRQ_SOURCES 32u
#endif

// SPINDLE_CM_FAIRNESS_INTERVAL, SPINDLE_CM_STARVATION_BOUND: the constants of the no-starvation
// rule, which is the desktop runtime's rule (platform/include/spindle/platform/priority_policy.hpp,
// PriorityPolicy::kFairnessInterval = 8 and kStarvationBound = 3 * kFairnessInterval = 24; see
// executor.h). Every SPINDLE_CM_FAIRNESS_INTERVAL-th scheduling decision is a fairness turn; a
// level below Critical with ready fibers is served at least once in every
// SPINDLE_CM_STARVATION_BOUND consecutive decisions. Not knobs: they stay equal to the shared
// rule's values (executor.cpp static_asserts that).
#if defined(SPINDLE_CM_STARVATION_LIMIT)
#error "SPINDLE_CM_STARVATION_LIMIT was removed: the port uses the desktop no-starvation rule"
#endif
#define SPINDLE_CM_FAIRNESS_INTERVAL 8u
#define SPINDLE_CM_STARVATION_BOUND (3u * SPINDLE_CM_FAIRNESS_INTERVAL)

// SPINDLE_CM_DEBUG: 1 enables the cheap run-time checks (IPSR assert on thread-only calls, "called
// from a fiber" checks, vector-table check in init()). The stack check at each switch is always on.
#ifndef SPINDLE_CM_DEBUG
#define SPINDLE_CM_DEBUG 1
#endif

// SPINDLE_CM_CANARY_WORDS: words at the bottom of every fiber stack holding the canary pattern.
#ifndef SPINDLE_CM_CANARY_WORDS
#define SPINDLE_CM_CANARY_WORDS 4u
#endif

// SPINDLE_CM_STACK_FILL: 1 fills a fiber's whole stack with the canary pattern at spawn so that
// stack_unused_bytes() can report the high-water mark (costs one pass over the stack per spawn).
#ifndef SPINDLE_CM_STACK_FILL
#define SPINDLE_CM_STACK_FILL 1
#endif

// SPINDLE_CM_OWN_SYSTICK_HANDLER: 0 (default) makes the port define SysTick_Handler; 1 leaves it to
// the firmware, whose handler must call spindle::cm::tick_isr() once per tick.
#ifndef SPINDLE_CM_OWN_SYSTICK_HANDLER
#define SPINDLE_CM_OWN_SYSTICK_HANDLER 0
#endif

// SPINDLE_CM_HAS_FPU: 1 when compiled for a core with an FPU used in hard-float mode (M4F); the
// PendSV handler then saves EXC_RETURN and, for fibers that used the FPU, s16-s31.
#if defined(__ARM_FP) && !defined(__SOFTFP__)
#define SPINDLE_CM_HAS_FPU 1
#else
#define SPINDLE_CM_HAS_FPU 0
#endif

// SPINDLE_CM_BROKEN_FOR_TEST: test-only. 1 makes the PendSV handler skip the FP save/restore, which
// must make the FP register test fail. Never set it in a product.
#ifndef SPINDLE_CM_BROKEN_FOR_TEST
#define SPINDLE_CM_BROKEN_FOR_TEST 0
#endif
