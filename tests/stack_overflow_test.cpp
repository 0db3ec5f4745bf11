// A fiber that overflows its stack stops the process with a message naming the fiber id, its name
// and its stack size (checked in a child process).
#include <gtest/gtest.h>

#include <string>

#include "spindle/spindle.hpp"

namespace {

// g_limit is far beyond any stack: recursion stops only by overflowing (but the compiler cannot
// know).
volatile int g_limit = 1 << 30;

// recurse uses ~1 KiB of stack per level and cannot be turned into a loop.
__attribute__((noinline)) int recurse(int depth) {
  volatile char buf[1024];
  buf[0] = static_cast<char>(depth);
  buf[sizeof(buf) - 1] = buf[0];
  if (depth >= g_limit) return buf[0];
  return recurse(depth + 1) + buf[depth % sizeof(buf)];
}

void overflow_in_named_fiber() {
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 2;
  cfg.max_stack_size = 32 * 1024;
  spindle::AsyncRuntime rt(cfg);
  rt.block_on([] {
    spindle::this_fiber::set_name("deep-recursion");
    return recurse(0);
  });
}

void overflow_in_unnamed_fiber() {
  spindle::AsyncRuntime rt;  // default 64 KiB stacks
  rt.block_on([] { return recurse(0); });
}

TEST(StackOverflowDeathTest, NamedFiberReportsIdNameAndSize) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(overflow_in_named_fiber(),
               "spindle: stack overflow in fiber [0-9]+ \\(\"deep-recursion\"\\), stack size 32768 "
               "bytes");
}

TEST(StackOverflowDeathTest, UnnamedFiberReportsIdAndSize) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(overflow_in_unnamed_fiber(),
               "spindle: stack overflow in fiber [0-9]+, stack size 65536 bytes");
}

}  // namespace
