// Startup of the test firmware: vector table at 0x0, a naked reset stub that moves thread mode to
// PSP (and enables the FPU on M4F), C runtime init, a HardFault reporter, and the memcpy/memset the
// compiler may emit.
#include <stddef.h>
#include <stdint.h>

#include "semihost.h"

extern "C" {
extern uint32_t __msp_top[], __data_start[], __data_end[], __data_load[], __bss_start[],
    __bss_end[];
extern void (*__init_array_start[])();
extern void (*__init_array_end[])();
int main();
void Reset_Handler();
void HardFault_Handler();
void PendSV_Handler();
void SysTick_Handler();
void irq_dispatch();
}

namespace {

void nmi_handler() {
  test::write("FAIL NMI\n");
  test::exit(3);
}

void svc_handler() {
  test::write("FAIL unexpected SVC\n");
  test::exit(3);
}

}  // namespace

// The vector table: 16 system exceptions and 48 external interrupts (mps2-an385/386 use 32).
using Vector = void (*)();
extern "C" __attribute__((section(".vectors"), used)) const Vector g_vectors[16 + 48] = {
    reinterpret_cast<Vector>(__msp_top),
    Reset_Handler,
    nmi_handler,
    HardFault_Handler,
    HardFault_Handler,  // MemManage
    HardFault_Handler,  // BusFault
    HardFault_Handler,  // UsageFault
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    svc_handler,
    nullptr,  // DebugMonitor
    nullptr,
    PendSV_Handler,
    SysTick_Handler,
#define SPINDLE_TEST_IRQ8                                                             \
  irq_dispatch, irq_dispatch, irq_dispatch, irq_dispatch, irq_dispatch, irq_dispatch, \
      irq_dispatch, irq_dispatch
    SPINDLE_TEST_IRQ8,
    SPINDLE_TEST_IRQ8,
    SPINDLE_TEST_IRQ8,
    SPINDLE_TEST_IRQ8,
    SPINDLE_TEST_IRQ8,
    SPINDLE_TEST_IRQ8,
};

// c_start: copies .data, zeroes .bss, runs constructors and main(), exits with main's status.
extern "C" [[noreturn]] void c_start() {
  for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;) *d++ = *s++;
  for (uint32_t* d = __bss_start; d < __bss_end;) *d++ = 0;
  for (auto* f = __init_array_start; f < __init_array_end; ++f) (*f)();
  test::exit(static_cast<uint32_t>(main()));
}

// Reset_Handler: thread mode on PSP (the main/idle stack), privileged (semihosting needs it);
// handlers keep MSP. On M4F the FPU is enabled before any compiled code runs.
extern "C" __attribute__((naked, noreturn)) void Reset_Handler() {
  __asm volatile(
      "ldr    r0, =__main_stack_top\n\t"
      "msr    psp, r0\n\t"
      "movs   r0, #2\n\t"
      "msr    control, r0\n\t"
      "isb\n\t"
#if defined(__ARM_FP) && !defined(__SOFTFP__)
      "ldr    r0, =0xE000ED88\n\t"
      "ldr    r1, [r0]\n\t"
      "orr    r1, r1, #(0xF << 20)\n\t"
      "str    r1, [r0]\n\t"
      "dsb\n\t"
      "isb\n\t"
#endif
      "b      c_start\n\t"
      ".ltorg\n\t");
}

// hardfault_report: prints the fault status registers and the stacked PC/LR, exits with code 3.
extern "C" [[noreturn]] void hardfault_report(const uint32_t* frame, uint32_t exc_return) {
  auto reg = [](uint32_t a) { return *reinterpret_cast<volatile uint32_t*>(a); };
  test::write("HardFault: CFSR=");
  test::write_hex(reg(0xE000ED28u));
  test::write(" HFSR=");
  test::write_hex(reg(0xE000ED2Cu));
  test::write(" MMFAR=");
  test::write_hex(reg(0xE000ED34u));
  test::write(" BFAR=");
  test::write_hex(reg(0xE000ED38u));
  test::write(" PC=");
  test::write_hex(frame[6]);
  test::write(" LR=");
  test::write_hex(frame[5]);
  test::write(" EXC_RETURN=");
  test::write_hex(exc_return);
  test::write("\n");
  test::exit(3);
}

// HardFault_Handler: finds the exception frame (MSP or PSP, EXC_RETURN bit 2) and reports.
extern "C" __attribute__((naked)) void HardFault_Handler() {
  __asm volatile(
      "tst    lr, #4\n\t"
      "ite    eq\n\t"
      "mrseq  r0, msp\n\t"
      "mrsne  r0, psp\n\t"
      "mov    r1, lr\n\t"
      "b      hardfault_report\n\t");
}

// memcpy / memset / memmove: the compiler may call them for aggregate copies (no libc is linked).
extern "C" {
void* memcpy(void* dst, const void* src, size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  while (n--) *d++ = *s++;
  return dst;
}
void* memmove(void* dst, const void* src, size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}
void* memset(void* dst, int c, size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  while (n--) *d++ = static_cast<unsigned char>(c);
  return dst;
}
}
