// Layout of a suspended fiber's stack and of the two words the PendSV handler reads. The PendSV
// assembly (src/pendsv.cpp) uses only the macros below; static_asserts next to the C++ types check
// that the structures agree with them.
//
// A suspended fiber's stack, from its saved sp upwards (lowest address first):
//
//   M3 (no FPU)                      M4F (hard-float)
//   +0   r4                          +0   r4
//   ...  r5..r11                     ...  r5..r11
//   +32  hardware frame:             +32  EXC_RETURN (bit 4 clear: FP frame in use)
//        r0 r1 r2 r3 r12 lr pc xpsr  +36  s16..s31  (only when bit 4 of EXC_RETURN is clear)
//                                    +36 or +100: hardware frame: r0 r1 r2 r3 r12 lr pc xpsr
//                                         [+ s0..s15 FPSCR reserved, when the FP frame is in use]
#pragma once

#include "spindle/cortex_m/config.h"

// SPINDLE_CM_FIBER_SP_OFFSET: offset of the saved stack pointer in spindle::cm::Fiber.
#define SPINDLE_CM_FIBER_SP_OFFSET 0
// SPINDLE_CM_SWITCH_CURRENT_OFFSET / _NEXT_OFFSET: offsets in spindle_cm_switch_state.
#define SPINDLE_CM_SWITCH_CURRENT_OFFSET 0
#define SPINDLE_CM_SWITCH_NEXT_OFFSET 4

// SPINDLE_CM_SW_FRAME_WORDS: words the PendSV handler pushes below the hardware frame (without the
// optional s16-s31 block).
#if SPINDLE_CM_HAS_FPU
#define SPINDLE_CM_SW_FRAME_WORDS 9
#else
#define SPINDLE_CM_SW_FRAME_WORDS 8
#endif
// SPINDLE_CM_FP_SW_FRAME_WORDS: s16-s31, pushed by PendSV when the fiber's frame is extended.
#define SPINDLE_CM_FP_SW_FRAME_WORDS 16
// SPINDLE_CM_HW_FRAME_WORDS / _FP_: the hardware exception frame, basic and extended.
#define SPINDLE_CM_HW_FRAME_WORDS 8
#define SPINDLE_CM_HW_FP_FRAME_WORDS 26

// SPINDLE_CM_EXC_RETURN_THREAD_PSP: EXC_RETURN for "thread mode, PSP, basic frame"; a new fiber
// starts with it. Bit 4 (SPINDLE_CM_EXC_RETURN_NO_FP) clear means an extended (FP) frame.
#define SPINDLE_CM_EXC_RETURN_THREAD_PSP 0xFFFFFFFDu
#define SPINDLE_CM_EXC_RETURN_NO_FP 0x10u

// SPINDLE_CM_SWITCH_RESERVE_BYTES: the most a switch pushes on the outgoing fiber's stack (hardware
// frame + PendSV frame, FP blocks included when present). The stack check at each switch requires
// this much room above the canary.
#if SPINDLE_CM_HAS_FPU
#define SPINDLE_CM_SWITCH_RESERVE_BYTES \
  (4 * (SPINDLE_CM_HW_FP_FRAME_WORDS + SPINDLE_CM_SW_FRAME_WORDS + SPINDLE_CM_FP_SW_FRAME_WORDS))
#else
#define SPINDLE_CM_SWITCH_RESERVE_BYTES \
  (4 * (SPINDLE_CM_HW_FRAME_WORDS + SPINDLE_CM_SW_FRAME_WORDS))
#endif

#ifndef __ASSEMBLER__
#include <stdint.h>

namespace spindle::cm {

// SwFrame: the registers the PendSV handler saves, lowest address first (see the picture above).
struct SwFrame {
  uint32_t r4, r5, r6, r7, r8, r9, r10, r11;
#if SPINDLE_CM_HAS_FPU
  uint32_t exc_return;
#endif
};

// HwFrame: the basic frame the core pushes on exception entry and pops on exception return.
struct HwFrame {
  uint32_t r0, r1, r2, r3, r12, lr, pc, xpsr;
};

static_assert(sizeof(SwFrame) == 4 * SPINDLE_CM_SW_FRAME_WORDS, "PendSV frame size");
static_assert(sizeof(HwFrame) == 4 * SPINDLE_CM_HW_FRAME_WORDS, "hardware frame size");
#if SPINDLE_CM_HAS_FPU
static_assert(__builtin_offsetof(SwFrame, exc_return) == 32, "EXC_RETURN follows r4-r11");
#endif

}  // namespace spindle::cm
#endif  // __ASSEMBLER__
