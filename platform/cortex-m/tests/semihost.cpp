// Semihosting calls (ARM "Semihosting for AArch32 and AArch64", bkpt 0xAB in Thumb state).
#include "semihost.h"

namespace test {
namespace {

constexpr uint32_t kSysWrite0 = 0x04;
constexpr uint32_t kSysGetCmdline = 0x15;
constexpr uint32_t kSysExitExtended = 0x20;
constexpr uint32_t kAdpStoppedApplicationExit = 0x20026;

uint32_t call(uint32_t op, const void* arg) {
  register uint32_t r0 __asm("r0") = op;
  register const void* r1 __asm("r1") = arg;
  __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

char g_cmdline[128];

}  // namespace

void write(const char* s) {
  call(kSysWrite0, s);
}

void write_u32(uint32_t v) {
  char buf[12];
  int i = 11;
  buf[i] = 0;
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  write(buf + i);
}

void write_hex(uint32_t v) {
  char buf[11];
  buf[0] = '0';
  buf[1] = 'x';
  for (int i = 0; i < 8; ++i) buf[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xF];
  buf[10] = 0;
  write(buf);
}

const char* cmdline_last_word() {
  struct {
    char* buf;
    uint32_t len;
  } block = {g_cmdline, sizeof g_cmdline - 1};
  if (call(kSysGetCmdline, &block) != 0) return "";
  g_cmdline[block.len < sizeof g_cmdline ? block.len : sizeof g_cmdline - 1] = 0;
  const char* last = g_cmdline;
  for (const char* p = g_cmdline; *p; ++p) {
    if (*p == ' ' && p[1] != 0 && p[1] != ' ') last = p + 1;
  }
  return last;
}

void exit(uint32_t code) {
  const uint32_t block[2] = {kAdpStoppedApplicationExit, code};
  for (;;) call(kSysExitExtended, block);
}

}  // namespace test
