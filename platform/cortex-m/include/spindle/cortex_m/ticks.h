// Time of the Cortex-M port: the SysTick tick counter and sleeping on it.
#pragma once

#include <stdint.h>

#include "spindle/cortex_m/config.h"

namespace spindle::cm {

// Tick: a SysTick tick count; it wraps after 2^32 ticks and is compared with wrap-around
// arithmetic, so deadlines must be less than 2^31 ticks away.
using Tick = uint32_t;

// kForever: timeout meaning "no timeout" for wait_irq().
inline constexpr Tick kForever = 0xFFFFFFFFu;

// now_ticks: ticks since init(). ISR-safe.
Tick now_ticks();

// ms_to_ticks: milliseconds to ticks, rounded up. ISR-safe.
constexpr Tick ms_to_ticks(uint32_t ms) {
  return static_cast<Tick>((static_cast<uint64_t>(ms) * SPINDLE_CM_TICK_HZ + 999u) / 1000u);
}

// sleep_until: blocks the calling fiber until now_ticks() reaches `deadline` (it becomes ready in
// the scheduling decision that observes that tick); a deadline already reached only yields. Fiber
// context only, not ISR-safe.
void sleep_until(Tick deadline);

// sleep_ms: blocks the calling fiber for at least `ms` milliseconds: it wakes at tick
// now_ticks() + ms_to_ticks(ms) + 1 (the +1 covers the part of the current tick already gone).
// sleep_ms(0) is yield(). Fiber context only, not ISR-safe.
void sleep_ms(uint32_t ms);

// tick_isr: advances the tick counter. Called by the port's SysTick_Handler, or by the firmware's
// own handler when SPINDLE_CM_OWN_SYSTICK_HANDLER is 1. ISR only.
void tick_isr();

}  // namespace spindle::cm
