// Minimal ARM semihosting for the qemu test firmware: console output, command line, exit code.
#pragma once

#include <stdint.h>

namespace test {

// write: prints a NUL-terminated string (qemu: to its stderr).
void write(const char* s);
// write_u32 / write_hex: prints a number in decimal / as 0x%08x.
void write_u32(uint32_t v);
void write_hex(uint32_t v);
// cmdline: the last word of the semihosting command line (qemu -append), or "" if none.
const char* cmdline_last_word();
// exit: ends the qemu run with `code` (SYS_EXIT_EXTENDED).
[[noreturn]] void exit(uint32_t code);

}  // namespace test
