// Time tests (run under -icount shift=0,sleep=off, so tick counts are exact): sleep_until wakes at
// its tick, sleep_ms sleeps at least the time asked, wake order of several sleepers, idle in wfi.
#include "harness.h"

using namespace spindle::cm;

namespace {

FiberSlot<1024> g_main_slot;
FiberSlot<512> g_sleepers[4];
uint32_t g_order[4];
uint32_t g_order_len;
Tick g_woke_at[4];
Tick g_start;

int sleeper(void* arg) {
  const uint32_t d = reinterpret_cast<uint32_t>(arg);
  sleep_until(g_start + d);
  g_woke_at[d - 1] = now_ticks();
  g_order[g_order_len++] = d;
  return 0;
}

int sleep_main(void*) {
  // Align to a tick boundary, then sleep_until an exact tick.
  sleep_until(now_ticks() + 1);
  const Tick t0 = now_ticks();
  sleep_until(t0 + 10);
  const test::TickTime woke = test::systick_now();
  CHECK_EQ(woke.tick, t0 + 10);
  // The wake happens in the tick's first scheduling decision: a few hundred instructions after the
  // SysTick interrupt (one SysTick count = 40 instructions under icount shift=0).
  test::write("sleep_until latency after the tick: ");
  test::write_u32(woke.sub);
  test::write(" SysTick counts\n");
  CHECK(woke.sub < 100);

  // sleep_ms(5) at 1 kHz: wakes at now + 5 + 1 (at least 5 ms whatever the phase).
  const test::TickTime before = test::systick_now();
  sleep_ms(5);
  const test::TickTime after = test::systick_now();
  CHECK_EQ(after.tick, before.tick + 6);
  const uint32_t reload = test::systick_reload() + 1;
  const uint32_t elapsed = (after.tick - before.tick) * reload + after.sub - before.sub;
  CHECK(elapsed >= 5 * reload);
  CHECK(elapsed < 6 * reload + 100);

  // A deadline in the past only yields.
  const Tick t1 = now_ticks();
  sleep_until(t1 - 5);
  CHECK_EQ(now_ticks(), t1);

  // Four sleepers with deadlines 3, 1, 4, 2 ticks ahead wake in deadline order, each on its tick.
  g_start = now_ticks();
  const uint32_t ds[4] = {3, 1, 4, 2};
  for (uint32_t i = 0; i < 4; ++i) {
    CHECK(spawn(g_sleepers[i], sleeper, reinterpret_cast<void*>(ds[i]), Priority::Normal, "zz"));
  }
  for (uint32_t i = 0; i < 4; ++i) join(g_sleepers[i].fiber);
  for (uint32_t i = 0; i < 4; ++i) {
    CHECK_EQ(g_order[i], i + 1);
    CHECK_EQ(g_woke_at[i], g_start + i + 1);
  }

  // A long sleep: 250 ticks exactly, the idle loop waits in wfi meanwhile.
  const uint32_t idle0 = stats().idle_waits;
  const Tick t2 = now_ticks();
  sleep_until(t2 + 250);
  CHECK_EQ(now_ticks(), t2 + 250);
  CHECK(stats().idle_waits - idle0 >= 250);
  CHECK(stats().idle_waits - idle0 < 260);  // one wfi per tick: no busy idle loop
  return 0;
}

void case_sleep() {
  CHECK(spawn(g_main_slot, sleep_main, nullptr, Priority::Normal, "sleep"));
  run();
}

// calibrate (needs -icount shift=0): a loop of exactly 2,000,000 instructions takes 50,000 counts
// of CMSDK TIMER0 (25 MHz), i.e. 40 instructions per count; bench_switch relies on this. It also
// prints what qemu 7.2's SysTick does under icount (see docs/cortex-m.md): tests count ticks only.
uint32_t timer0_start() {
  auto* timer = reinterpret_cast<volatile uint32_t*>(0x40000000u);
  timer[0] = 0;
  timer[2] = 0xFFFFFFFFu;  // RELOAD
  timer[1] = 0xFFFFFFFFu;  // VALUE
  timer[0] = 1;            // enable, no interrupt
  return timer[1];
}
uint32_t timer0_value() {
  return reinterpret_cast<volatile uint32_t*>(0x40000000u)[1];
}

void case_calibrate() {
  const test::TickTime a = test::systick_now();
  const uint32_t ta = timer0_start();
  __asm volatile(
      "ldr r0, =1000000\n\t"
      "1: subs r0, r0, #1\n\t"
      "bne 1b\n\t" ::
          : "r0", "cc");
  const uint32_t tb = timer0_value();
  const test::TickTime b = test::systick_now();
  const uint32_t counts = (b.tick - a.tick) * (test::systick_reload() + 1) + b.sub - a.sub;
  test::write("calibrate: 2000000 instructions = ");
  test::write_u32(ta - tb);
  test::write(" TIMER0 counts, ");
  test::write_u32(counts);
  test::write(" SysTick counts\n");
  CHECK(ta - tb >= 49995 && ta - tb <= 50005);
  static FiberSlot<1024> slot;
  spawn(
      slot,
      [](void*) -> int {
        const uint32_t t0 = timer0_value();
        sleep_until(now_ticks() + 100);
        test::write("100 ticks of idle sleep = ");
        test::write_u32(t0 - timer0_value());
        test::write(" TIMER0 counts\n");
        return 0;
      },
      nullptr);
  run();
}

}  // namespace

extern const TestCase kTimeCases[] = {
    {"sleep", case_sleep},
    {"calibrate", case_calibrate},
    {nullptr, nullptr},
};
