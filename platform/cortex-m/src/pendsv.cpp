// The context switch: PendSV, at the lowest exception priority, taken in thread mode right after a
// scheduling decision has set spindle_cm_switch_state.next. The core has already pushed r0-r3, r12,
// lr, pc, xpsr (and on M4F, lazily, s0-s15 + FPSCR) on the outgoing fiber's PSP stack; this handler
// pushes the rest (frame.h), swaps PSP and returns into the incoming fiber.
#include "internal.h"

#define SPINDLE_CM_STR2(x) #x
#define SPINDLE_CM_STR(x) SPINDLE_CM_STR2(x)

// PendSV_Handler: the context switch described above. Exception handler only; never call it.
extern "C" __attribute__((naked)) void PendSV_Handler() {
  __asm volatile(
      "mrs    r0, psp\n\t"
      "movw   r3, #:lower16:spindle_cm_switch_state\n\t"
      "movt   r3, #:upper16:spindle_cm_switch_state\n\t"
      "ldrd   r1, r2, [r3, #" SPINDLE_CM_STR(SPINDLE_CM_SWITCH_CURRENT_OFFSET) "]\n\t"
#if SPINDLE_CM_HAS_FPU
#if !SPINDLE_CM_BROKEN_FOR_TEST
      // Extended frame (EXC_RETURN bit 4 clear): save s16-s31. This store also makes the core
      // complete the lazy stacking of s0-s15/FPSCR into the hardware frame.
      "tst    lr, #" SPINDLE_CM_STR(SPINDLE_CM_EXC_RETURN_NO_FP) "\n\t"
      "it     eq\n\t"
      "vstmdbeq r0!, {s16-s31}\n\t"
#endif
      "stmdb  r0!, {r4-r11, lr}\n\t"
#else
      "stmdb  r0!, {r4-r11}\n\t"
#endif
      "str    r0, [r1, #" SPINDLE_CM_STR(SPINDLE_CM_FIBER_SP_OFFSET) "]\n\t"
      "str    r2, [r3, #" SPINDLE_CM_STR(SPINDLE_CM_SWITCH_CURRENT_OFFSET) "]\n\t"
      "ldr    r0, [r2, #" SPINDLE_CM_STR(SPINDLE_CM_FIBER_SP_OFFSET) "]\n\t"
#if SPINDLE_CM_HAS_FPU
      "ldmia  r0!, {r4-r11, lr}\n\t"
#if !SPINDLE_CM_BROKEN_FOR_TEST
      "tst    lr, #" SPINDLE_CM_STR(SPINDLE_CM_EXC_RETURN_NO_FP) "\n\t"
      "it     eq\n\t"
      "vldmiaeq r0!, {s16-s31}\n\t"
#endif
#else
      "ldmia  r0!, {r4-r11}\n\t"
#endif
      "msr    psp, r0\n\t"
      "bx     lr\n\t");
}
