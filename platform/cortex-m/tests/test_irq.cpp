// Interrupt wait tests: wake by a software-triggered IRQ (NVIC STIR) with and without timeout, an
// abandoned (timed-out) node is unlinked, a real peripheral (CMSDK APB TIMER0), and the IPSR check.
#include "harness.h"

using namespace spindle::cm;

namespace {

constexpr unsigned kSoftIrq = 20;  // any external IRQ line: STIR pends it
constexpr unsigned kSoftIrq2 = 21;
constexpr unsigned kMisuseIrq = 22;
constexpr unsigned kTimer0Irq = 8;  // CMSDK APB TIMER0 on mps2-an385/an386
constexpr uint32_t kTimer0 = 0x40000000u;

volatile uint32_t g_isr_woken[4];
volatile uint32_t g_isr_calls;

void soft_isr() {
  g_isr_woken[g_isr_calls % 4] = wake_irq(kSoftIrq);
  g_isr_calls = g_isr_calls + 1;
}
void soft_isr2() {
  g_isr_woken[g_isr_calls % 4] = wake_irq(kSoftIrq2);
  g_isr_calls = g_isr_calls + 1;
}

// --- irq_wake: three waiters woken by one interrupt; a wait with a timeout woken before it; the
// stale timer entry of that wait does not disturb a later sleep.
FiberSlot<1024> g_waiters[3];
FiberSlot<1024> g_trigger;
uint32_t g_results[3];

int waiter(void* arg) {
  const uint32_t i = reinterpret_cast<uint32_t>(arg);
  g_results[i] = static_cast<uint32_t>(wait_irq(kSoftIrq, i == 0 ? kForever : 1000));
  return 0;
}

int trigger_main(void*) {
  yield();  // let the waiters link their nodes
  CHECK_EQ(waiters(kSoftIrq), 3);
  test::nvic_trigger(kSoftIrq);
  CHECK_EQ(g_isr_calls, 1);
  CHECK_EQ(g_isr_woken[0], 3);
  CHECK_EQ(waiters(kSoftIrq), 0);
  for (uint32_t i = 0; i < 3; ++i) join(g_waiters[i].fiber);
  for (uint32_t i = 0; i < 3; ++i) CHECK_EQ(g_results[i], static_cast<uint32_t>(WaitResult::Woken));

  // An interrupt with nobody waiting wakes nobody (and is not remembered).
  test::nvic_trigger(kSoftIrq);
  CHECK_EQ(g_isr_woken[1], 0);

  // Timeout 50, woken after 5 ticks: Woken, at tick +5; then a sleep of 100 ends at +100 exactly
  // (the wait's timer entry is gone).
  CHECK(spawn(
      g_waiters[0],
      [](void*) -> int {
        const Tick t0 = now_ticks();
        CHECK(wait_irq(kSoftIrq, 50) == WaitResult::Woken);
        CHECK_EQ(now_ticks() - t0, 5);
        const Tick t1 = now_ticks();
        sleep_until(t1 + 100);
        CHECK_EQ(now_ticks(), t1 + 100);
        return 0;
      },
      nullptr, Priority::High, "w50"));
  yield();
  sleep_until(now_ticks() + 5);
  test::nvic_trigger(kSoftIrq);
  CHECK_EQ(g_isr_woken[2], 1);
  join(g_waiters[0].fiber);
  return 0;
}

void case_irq_wake() {
  test::set_irq_handler(kSoftIrq, soft_isr);
  test::nvic_enable(kSoftIrq, 0x80);
  for (uint32_t i = 0; i < 3; ++i) {
    CHECK(spawn(g_waiters[i], waiter, reinterpret_cast<void*>(i), Priority::Normal, "waiter"));
  }
  CHECK(spawn(g_trigger, trigger_main, nullptr, Priority::Low, "trigger"));
  run();
}

// --- irq_timeout: W1 times out (its node was linked before W2's), scribbles over the stack where
// its node lived, then the interrupt fires: it must wake exactly W2 and not touch W1's old node.
Tick g_w1_start;

__attribute__((noinline)) void scribble_stack() {
  volatile uint32_t junk[64];
  for (auto& w : junk) w = 0xA5A5A5A5u;
  __asm volatile("" ::"r"(&junk[0]) : "memory");
}

int w1_fiber(void*) {
  g_w1_start = now_ticks();
  CHECK(wait_irq(kSoftIrq2, 7) == WaitResult::TimedOut);
  CHECK_EQ(now_ticks(), g_w1_start + 7);
  CHECK_EQ(waiters(kSoftIrq2), 1);  // only W2 is left
  scribble_stack();
  test::nvic_trigger(kSoftIrq2);
  CHECK_EQ(g_isr_calls, 1);
  CHECK_EQ(g_isr_woken[0], 1);
  CHECK_EQ(waiters(kSoftIrq2), 0);
  return 0;
}

int w2_fiber(void*) {
  const Tick t0 = now_ticks();
  CHECK(wait_irq(kSoftIrq2, 1000) == WaitResult::Woken);
  CHECK_EQ(now_ticks() - t0, 7);
  // A timeout of 0 expires at the next decision.
  CHECK(wait_irq(kSoftIrq2, 0) == WaitResult::TimedOut);
  CHECK_EQ(waiters(kSoftIrq2), 0);
  return 0;
}

void case_irq_timeout() {
  test::set_irq_handler(kSoftIrq2, soft_isr2);
  test::nvic_enable(kSoftIrq2, 0x80);
  CHECK(spawn(g_waiters[0], w1_fiber, nullptr, Priority::Normal, "w1"));
  CHECK(spawn(g_waiters[1], w2_fiber, nullptr, Priority::Normal, "w2"));
  run();
}

// --- timer_irq: CMSDK APB TIMER0 (25 MHz) fires every 2.5 ms; a fiber waits for it 8 times.
volatile uint32_t g_timer_irqs;

volatile uint32_t& timer_reg(uint32_t off) {
  return *reinterpret_cast<volatile uint32_t*>(kTimer0 + off);
}

void timer0_isr() {
  timer_reg(0x0C) = 1;  // INTCLEAR
  g_timer_irqs = g_timer_irqs + 1;
  wake_irq(kTimer0Irq);
}

int timer_fiber(void*) {
  Tick last = now_ticks();
  uint32_t woken = 0;
  timer_reg(0x08) = 62500 - 1;  // RELOAD: 2.5 ms at 25 MHz
  timer_reg(0x04) = 62500 - 1;  // VALUE
  timer_reg(0x00) = 1u | 8u;    // enable, interrupt enable
  for (uint32_t i = 0; i < 8; ++i) {
    if (wait_irq(kTimer0Irq, 20) == WaitResult::Woken) ++woken;
    // 2.5 ms of TIMER0; under icount qemu's SysTick runs slower than nominal (docs/cortex-m.md),
    // so only check that every interrupt came within a few ticks, none was missed.
    const Tick now = now_ticks();
    CHECK(now - last >= 1 && now - last <= 3);
    last = now;
  }
  timer_reg(0x00) = 0;
  CHECK_EQ(woken, 8);
  CHECK_EQ(g_timer_irqs, 8);
  return 0;
}

void case_timer_irq() {
  test::set_irq_handler(kTimer0Irq, timer0_isr);
  test::nvic_enable(kTimer0Irq, 0x40);
  CHECK(spawn(g_waiters[0], timer_fiber, nullptr, Priority::Normal, "timer"));
  run();
  test::nvic_disable(kTimer0Irq);
}

// --- isr_misuse: yield() from an interrupt handler must stop with the IPSR panic.
void misuse_isr() {
  yield();
}

void case_isr_misuse() {
  test::set_irq_handler(kMisuseIrq, misuse_isr);
  test::nvic_enable(kMisuseIrq, 0x80);
  test::expect_panic(PanicKind::IsrMisuse);
  CHECK(spawn(
      g_waiters[0],
      [](void*) -> int {
        test::nvic_trigger(kMisuseIrq);
        return 0;
      },
      nullptr));
  run();
  test::fail(__FILE__, __LINE__, "yield() from an ISR did not panic");
}

}  // namespace

extern const TestCase kIrqCases[] = {
    {"irq_wake", case_irq_wake},
    {"irq_timeout", case_irq_timeout},
    {"timer_irq", case_timer_irq},
    {"isr_misuse", case_isr_misuse},
    {nullptr, nullptr},
};
