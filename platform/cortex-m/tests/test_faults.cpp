// Fault tests: the stack check at each switch catches a stack pointer past the limit and an
// overwritten canary with a clear panic; a HardFault is reported and fails the run.
#include "harness.h"

using namespace spindle::cm;

namespace {

FiberSlot<1024> g_slot;

// Recursion that yields at every level: the check at the switch sees sp approach the limit.
__attribute__((noinline)) uint32_t deep(uint32_t n) {
  volatile uint32_t pad[8];
  for (uint32_t i = 0; i < 8; ++i) pad[i] = n + i;
  yield();
  if (n > 1000000) return pad[0];  // never: the stack check stops the recursion long before
  const uint32_t r = deep(n + 1);  // pad is read after the call: every level keeps its frame
  return r + pad[n % 8];
}

void case_stack_overflow_sp() {
  test::expect_panic(PanicKind::StackOverflow);
  CHECK(spawn(
      g_slot, [](void*) -> int { return static_cast<int>(deep(0)); }, nullptr, Priority::Normal,
      "deep"));
  run();
  test::fail(__FILE__, __LINE__, "stack overflow not detected");
}

// A burst of stack use between two switches that reaches into the canary words (an alloca down to
// 8 bytes above the stack's lowest address), then returns: the next switch finds the canary broken.
// Interrupts are masked meanwhile so that no exception frame lands below the stack.
__attribute__((noinline)) void burst(uint32_t* base) {
  __asm volatile("cpsid i" ::: "memory");
  uint32_t sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  const uint32_t n = sp - reinterpret_cast<uint32_t>(base) - 8;
  auto* p = static_cast<volatile uint32_t*>(__builtin_alloca(n));
  for (uint32_t i = 0; i < n / 4; ++i) p[i] = i;
  __asm volatile("cpsie i" ::: "memory");
}

void case_stack_overflow_canary() {
  test::expect_panic(PanicKind::StackOverflow);
  CHECK(spawn(
      g_slot,
      [](void*) -> int {
        yield();
        burst(g_slot.stack);
        yield();
        return 0;
      },
      nullptr, Priority::Normal, "burst"));
  run();
  test::fail(__FILE__, __LINE__, "canary damage not detected");
}

// An undefined instruction in a fiber: the HardFault handler prints CFSR/HFSR/PC and exits 3.
void case_hardfault() {
  CHECK(spawn(
      g_slot,
      [](void*) -> int {
        __asm volatile("udf #0");
        return 0;
      },
      nullptr, Priority::Normal, "udf"));
  run();
  test::fail(__FILE__, __LINE__, "no HardFault");
}

}  // namespace

extern const TestCase kFaultCases[] = {
    {"stack_overflow_sp", case_stack_overflow_sp},
    {"stack_overflow_canary", case_stack_overflow_canary},
    {"hardfault", case_hardfault},
    {nullptr, nullptr},
};
