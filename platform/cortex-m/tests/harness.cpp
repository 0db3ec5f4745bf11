// Harness: main() picks the case named by the last word of the command line and runs it.
#include "harness.h"

namespace test {
namespace {

constexpr uint32_t kMaxIrq = 48;
IrqHandler g_handlers[kMaxIrq];
spindle::cm::PanicKind g_expected_panic;
bool g_panic_expected;

volatile uint32_t& reg(uint32_t a) {
  return *reinterpret_cast<volatile uint32_t*>(a);
}

bool same(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}

void write_location(const char* file, int line) {
  write("FAIL ");
  write(file);
  write(":");
  write_u32(static_cast<uint32_t>(line));
  write(": ");
}

}  // namespace

void fail(const char* file, int line, const char* what) {
  write_location(file, line);
  write(what);
  write("\n");
  exit(kExitFail);
}

void fail_eq(const char* file, int line, const char* what, uint32_t a, uint32_t b) {
  write_location(file, line);
  write(what);
  write(" (");
  write_u32(a);
  write(" vs ");
  write_u32(b);
  write(")\n");
  exit(kExitFail);
}

void expect_panic(spindle::cm::PanicKind kind) {
  g_expected_panic = kind;
  g_panic_expected = true;
}

void set_irq_handler(unsigned irq, IrqHandler h) {
  g_handlers[irq] = h;
}

void nvic_enable(unsigned irq, uint8_t priority) {
  *reinterpret_cast<volatile uint8_t*>(0xE000E400u + irq) = priority;
  reg(0xE000E100u + 4 * (irq / 32)) = 1u << (irq % 32);
}

void nvic_disable(unsigned irq) {
  reg(0xE000E180u + 4 * (irq / 32)) = 1u << (irq % 32);
}

void nvic_trigger(unsigned irq) {
  reg(0xE000EF00u) = irq;
  __asm volatile("dsb\n\tisb" ::: "memory");
}

uint32_t systick_reload() {
  return reg(0xE000E014u);
}

TickTime systick_now() {
  for (;;) {
    const uint32_t t = spindle::cm::now_ticks();
    const bool pending0 = (reg(0xE000ED04u) & (1u << 26)) != 0;  // ICSR.PENDSTSET: wrapped,
    const uint32_t val = reg(0xE000E018u);                       // not counted yet
    const bool pending1 = (reg(0xE000ED04u) & (1u << 26)) != 0;
    if (pending0 != pending1 || spindle::cm::now_ticks() != t) continue;
    return {pending0 ? t + 1 : t, systick_reload() - val};
  }
}

// irq_dispatch: every external interrupt vector points here.
extern "C" void irq_dispatch() {
  uint32_t ipsr;
  __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
  const uint32_t irq = ipsr - 16;
  if (irq < kMaxIrq && g_handlers[irq]) {
    g_handlers[irq]();
    return;
  }
  write("FAIL unexpected IRQ ");
  write_u32(irq);
  write("\n");
  exit(kExitUnexpectedIrq);
}

}  // namespace test

extern "C" void spindle_cm_panic_hook(spindle::cm::PanicKind kind, const char* message,
                                      const spindle::cm::Fiber* fiber) {
  test::write("PANIC (kind ");
  test::write_u32(static_cast<uint32_t>(kind));
  test::write("): ");
  test::write(message);
  if (fiber) {
    test::write(" [fiber '");
    test::write(fiber->name ? fiber->name : "");
    test::write("']");
  }
  test::write("\n");
  if (test::g_panic_expected && kind == test::g_expected_panic) {
    test::write("PASS (expected panic)\n");
    test::exit(test::kExitPass);
  }
  test::exit(test::kExitPanic);
}

int main() {
  const char* name = test::cmdline_last_word();
  static const TestCase* const lists[] = {kSwitchCases, kSchedCases, kTimeCases, kIrqCases,
                                          kFaultCases};
  for (const TestCase* list : lists) {
    for (const TestCase* c = list; c->name; ++c) {
      if (!test::same(c->name, name)) continue;
      test::write("case ");
      test::write(name);
      test::write("\n");
      spindle::cm::init(test::kCoreClockHz);
      c->fn();
      test::write("PASS\n");
      test::exit(test::kExitPass);
    }
  }
  test::write("FAIL unknown case '");
  test::write(name);
  test::write("'\n");
  test::exit(test::kExitUnknownCase);
}
