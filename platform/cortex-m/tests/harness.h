// Test harness of the Cortex-M firmware: checks, expected panics, IRQ helpers, the case registry.
#pragma once

#include <stdint.h>

#include "semihost.h"
#include "spindle/cortex_m/spindle.h"

namespace test {

// Exit codes of a run (run_case.sh compares them with tests/cases.txt).
inline constexpr uint32_t kExitPass = 0;
inline constexpr uint32_t kExitFail = 1;
inline constexpr uint32_t kExitPanic = 2;
inline constexpr uint32_t kExitHardFault = 3;
inline constexpr uint32_t kExitUnknownCase = 4;
inline constexpr uint32_t kExitUnexpectedIrq = 5;

// kCoreClockHz: the mps2 core clock in qemu (SysTick counts it).
inline constexpr uint32_t kCoreClockHz = 25000000;

// fail: prints "FAIL file:line: what" and ends the run with kExitFail.
[[noreturn]] void fail(const char* file, int line, const char* what);
// fail_eq: the same with the two compared values.
[[noreturn]] void fail_eq(const char* file, int line, const char* what, uint32_t a, uint32_t b);

// expect_panic: the case passes when the port panics with `kind` (and fails on any other panic).
void expect_panic(spindle::cm::PanicKind kind);

// Interrupt helpers: handler table for external IRQs, NVIC enable and software trigger (STIR).
using IrqHandler = void (*)();
void set_irq_handler(unsigned irq, IrqHandler h);
void nvic_enable(unsigned irq, uint8_t priority);
void nvic_disable(unsigned irq);
void nvic_trigger(unsigned irq);

// systick_now: (ticks, counts into the current tick) sampled consistently.
struct TickTime {
  uint32_t tick;
  uint32_t sub;  // SysTick counts elapsed in the tick (core clock cycles; 40 instructions each
                 // under -icount shift=0)
};
TickTime systick_now();
uint32_t systick_reload();

}  // namespace test

#define CHECK(c)                                    \
  do {                                              \
    if (!(c)) ::test::fail(__FILE__, __LINE__, #c); \
  } while (0)
#define CHECK_EQ(a, b)                                                                       \
  do {                                                                                       \
    const uint32_t check_a_ = static_cast<uint32_t>(a), check_b_ = static_cast<uint32_t>(b); \
    if (check_a_ != check_b_)                                                                \
      ::test::fail_eq(__FILE__, __LINE__, #a " == " #b, check_a_, check_b_);                 \
  } while (0)

// A test case: returns when it has passed (failures end the run from inside CHECK).
struct TestCase {
  const char* name;
  void (*fn)();
};

// The cases, one list per source file (defined in the test_*.cpp files).
extern const TestCase kSwitchCases[];
extern const TestCase kSchedCases[];
extern const TestCase kTimeCases[];
extern const TestCase kIrqCases[];
extern const TestCase kFaultCases[];
