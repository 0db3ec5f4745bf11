// panic(): stop the system and report through the firmware's hook, on the main stack.
#include "internal.h"

extern "C" __attribute__((weak)) void spindle_cm_panic_hook(spindle::cm::PanicKind, const char*,
                                                            const spindle::cm::Fiber*) {
  __asm volatile("bkpt #0");  // halts under a debugger; without one it escalates to HardFault
  for (;;) {
  }
}

// spindle_cm_panic_on_main: the second half of panic(), entered on MSP.
extern "C" [[noreturn]] void spindle_cm_panic_on_main(spindle::cm::PanicKind kind,
                                                      const char* message,
                                                      const spindle::cm::Fiber* fiber) {
  spindle_cm_panic_hook(kind, message, fiber);
  for (;;) {
    __asm volatile("cpsid i\n\twfi");
  }
}

namespace spindle::cm {

// panic masks interrupts and, in thread mode, moves SP to MSP (CONTROL = 0, still privileged): the
// failing fiber's stack may have no room left. r0-r2 pass through to spindle_cm_panic_on_main.
__attribute__((naked, noreturn)) void panic(PanicKind, const char*, const Fiber*) {
  __asm volatile(
      "cpsid  i\n\t"
      "mrs    r3, ipsr\n\t"
      "cbnz   r3, 1f\n\t"
      "msr    control, r3\n\t"
      "isb\n\t"
      "1:\n\t"
      "b      spindle_cm_panic_on_main\n\t");
}

}  // namespace spindle::cm
