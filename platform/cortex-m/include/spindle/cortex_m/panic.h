// Fatal errors of the Cortex-M port and the hook that reports them.
#pragma once

#include <stdint.h>

#include "spindle/cortex_m/fiber.h"

namespace spindle::cm {

// PanicKind: why the port stopped.
enum class PanicKind : uint8_t {
  StackOverflow = 1,  // stack check at a switch: sp past the limit or canary overwritten
  IsrMisuse = 2,      // a thread-only call made from an interrupt handler (IPSR != 0)
  BadCall = 3,        // misuse: blocking call outside a fiber, join of a detached fiber, ...
  Config = 4,         // vector table / FPU configuration not as the port needs it
};

// panic: stops the system: masks interrupts, moves thread mode to the main stack (the failing
// fiber's stack may be exhausted) and calls spindle_cm_panic_hook(kind, message, fiber). Never
// returns. Callable from anywhere, ISRs included.
[[noreturn]] void panic(PanicKind kind, const char* message, const Fiber* fiber);

}  // namespace spindle::cm

// spindle_cm_panic_hook: the firmware's report of a panic (print `message` and the fiber's name,
// log, reset...). The port's weak default executes `bkpt` and spins. It must not return (if it
// does, the port spins with interrupts masked); it runs with interrupts masked and must not call
// the executor.
extern "C" void spindle_cm_panic_hook(spindle::cm::PanicKind kind, const char* message,
                                      const spindle::cm::Fiber* fiber);
