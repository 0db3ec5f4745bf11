// Tests for the fiber stack-overflow handler and AltSignalStack. Every case that installs the
// handler or faults runs in a forked child, so this process keeps its own (or the sanitizer's)
// signal handlers.
#include "spindle/fiber/overflow.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>
#include <system_error>

#include <gtest/gtest.h>

#include "spindle/fiber/context.hpp"
#include "spindle/fiber/stack_pool.hpp"
#include "subprocess.hpp"

namespace spindle::fiber {
namespace {

using spindle::test::ChildResult;
using spindle::test::killed_by;
using spindle::test::run_in_child;

constexpr std::size_t kStackSize = 64 * 1024;

// died_of_fault returns whether the child died of SIGSEGV, or (sanitizer builds, whose handler the
// overflow handler chains to) exited with a failure after the sanitizer's SEGV report.
bool died_of_fault(const ChildResult& r) {
  if (killed_by(r, SIGSEGV)) return true;
#if SPINDLE_ASAN || SPINDLE_TSAN
  return WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0 &&
         r.output.find("SEGV") != std::string::npos;
#else
  return false;
#endif
}

// g_depth_limit stops the recursion in principle (so it is not infinite), never in practice.
volatile int g_depth_limit = 1 << 30;

// recurse burns about 512 bytes of stack per call until the stack overflows.
[[gnu::noinline]] int recurse(int depth) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  frame[sizeof(frame) - 1] = 1;
  if (depth >= g_depth_limit) return frame[0];
  return recurse(depth + 1) + frame[0];
}

// FiberRun is what the overflowing fiber gets from the thread that starts it.
struct FiberRun {
  Context* main;
  Context* self;
  const FiberDebugInfo* info;
};

// overflow_entry is a fiber that marks itself current and then recurses until its stack overflows.
void overflow_entry(boost::context::detail::transfer_t t) noexcept {
  const Transfer tr = first_resume(t);
  auto* run = static_cast<FiberRun*>(tr.data);
  set_current_fiber_debug_info(run->info);
  recurse(0);
  set_current_fiber_debug_info(nullptr);
  switch_final(*run->self, *run->main, nullptr);
}

// run_overflowing_fiber (in a child) installs the handler, prints the stack's limit and guard size,
// and runs a fiber named `name` with id `id` on a pooled stack until it overflows.
void run_overflowing_fiber(std::uint64_t id, const char* name) {
  install_overflow_handler();
  AltSignalStack alt;
  StackPool pool(kStackSize, 1, 1);
  Stack stack = pool.acquire(0);
  FiberDebugInfo info;
  info.id = id;
  info.name = name;
  info.stack_limit = stack.limit;
  info.stack_size = stack.size;
  info.guard_size = pool.guard_size();
  std::printf("limit %p guard %zu\n", stack.limit, pool.guard_size());
  std::fflush(stdout);
  Context main_ctx;
  main_ctx.bind_current_thread();
  Context fiber;
  fiber.make(stack, overflow_entry);
  FiberRun run{&main_ctx, &fiber, &info};
  switch_context(main_ctx, fiber, &run);
  std::printf("fiber returned\n");  // not reached
}

// check_overflow_report verifies a child of run_overflowing_fiber: killed by SIGSEGV after printing
// `expected_head` + " bytes (fault address 0x...)" with the fault address inside the stack's guard.
void check_overflow_report(const ChildResult& r, const std::string& expected_head) {
  EXPECT_TRUE(killed_by(r, SIGSEGV)) << "status " << r.status << "\n" << r.output;
  void* limit_ptr = nullptr;
  std::size_t guard = 0;
  ASSERT_EQ(std::sscanf(r.output.c_str(), "limit %p guard %zu", &limit_ptr, &guard), 2) << r.output;
  const auto limit = reinterpret_cast<std::uintptr_t>(limit_ptr);
  const std::string head = expected_head + " bytes (fault address 0x";
  const std::size_t at = r.output.find(head);
  ASSERT_NE(at, std::string::npos) << "missing: " << head << "\n" << r.output;
  std::size_t used = 0;
  const std::uintptr_t fault = std::stoull(r.output.substr(at + head.size()), &used, 16);
  EXPECT_EQ(r.output.substr(at + head.size() + used, 2), ")\n") << r.output;
  EXPECT_GE(fault, limit - guard) << r.output;
  EXPECT_LT(fault, limit) << r.output;
}

TEST(Overflow, ReportsFiberIdNameAndStackSize) {
  const ChildResult r = run_in_child([] { run_overflowing_fiber(42, "deep"); });
  check_overflow_report(r, "spindle: stack overflow in fiber 42 (\"deep\"), stack size 65536");
}

TEST(Overflow, ReportsFiberWithoutName) {
  const ChildResult r =
      run_in_child([] { run_overflowing_fiber(18446744073709551615ull, nullptr); });
  check_overflow_report(
      r, R"(spindle: stack overflow in fiber 18446744073709551615, stack size 65536)");
}

// ScratchStack is a pooled stack described as the current fiber, while the code runs on the
// thread's own stack: faults can then be placed precisely.
struct ScratchStack {
  StackPool pool{kStackSize, 1, 1};
  Stack stack = pool.acquire(0);
  FiberDebugInfo info;
  ScratchStack() {
    info.id = 7;
    info.name = "scratch";
    info.stack_limit = stack.limit;
    info.stack_size = stack.size;
    info.guard_size = pool.guard_size();
  }
};

TEST(Overflow, GuardFaultOfTheCurrentFiberIsReported) {
  const ChildResult r = run_in_child([] {
    install_overflow_handler();
    install_overflow_handler();  // idempotent
    AltSignalStack alt;
    ScratchStack s;
    set_current_fiber_debug_info(&s.info);
    *(static_cast<volatile char*>(s.stack.limit) - s.pool.guard_size()) = 1;  // lowest guard byte
  });
  EXPECT_TRUE(killed_by(r, SIGSEGV)) << r.status << "\n" << r.output;
  EXPECT_NE(
      r.output.find("spindle: stack overflow in fiber 7 (\"scratch\"), stack size 65536 bytes"),
      std::string::npos)
      << r.output;
}

TEST(Overflow, GuardFaultOfAnotherStackIsNotReported) {
  const ChildResult r = run_in_child([] {
    install_overflow_handler();
    AltSignalStack alt;
    ScratchStack current;
    ScratchStack other;
    set_current_fiber_debug_info(&current.info);
    *(static_cast<volatile char*>(other.stack.limit) - 1) = 1;
  });
  EXPECT_TRUE(died_of_fault(r)) << r.status << "\n" << r.output;
  EXPECT_EQ(r.output.find("stack overflow"), std::string::npos) << r.output;
}

TEST(Overflow, ProtectedPageFaultIsNotReported) {
  const ChildResult r = run_in_child([] {
    install_overflow_handler();
    AltSignalStack alt;
    ScratchStack s;
    set_current_fiber_debug_info(&s.info);
    void* page = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) ::_exit(5);
    *static_cast<volatile int*>(page) = 1;
  });
  EXPECT_TRUE(died_of_fault(r)) << r.status << "\n" << r.output;
  EXPECT_EQ(r.output.find("stack overflow"), std::string::npos) << r.output;
}

TEST(Overflow, NullDereferenceOnThreadStackIsNotReported) {
  const ChildResult r = run_in_child([] {
    install_overflow_handler();
    AltSignalStack alt;
    volatile int* volatile p = nullptr;
    *p = 1;  // UBSan may report this first; either way the child must die and nothing is reported
  });
  EXPECT_FALSE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.output;
  EXPECT_EQ(r.output.find("stack overflow"), std::string::npos) << r.output;
}

// chained_handler is a user's SIGSEGV handler installed before the overflow handler.
void chained_handler(int, siginfo_t*, void*) {
  static const char kMsg[] = "previous handler called\n";
  ssize_t ignored = ::write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
  (void)ignored;
  ::_exit(7);
}

TEST(Overflow, OtherFaultsChainToThePreviousHandler) {
  const ChildResult r = run_in_child([] {
    struct sigaction act {};
    act.sa_sigaction = chained_handler;
    act.sa_flags = SA_SIGINFO;
    sigemptyset(&act.sa_mask);
    ::sigaction(SIGSEGV, &act, nullptr);
    install_overflow_handler();
    AltSignalStack alt;
    ScratchStack s;
    set_current_fiber_debug_info(&s.info);
    void* page = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *static_cast<volatile int*>(page) = 1;
  });
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 7) << r.status << "\n" << r.output;
  EXPECT_NE(r.output.find("previous handler called"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("stack overflow"), std::string::npos) << r.output;
}

TEST(AltSignalStack, InstallsAndRestoresThePreviousStack) {
  stack_t before{};
  ASSERT_EQ(::sigaltstack(nullptr, &before), 0);
  {
    AltSignalStack outer;
    stack_t cur{};
    ASSERT_EQ(::sigaltstack(nullptr, &cur), 0);
    EXPECT_EQ(cur.ss_flags & SS_DISABLE, 0);
    EXPECT_GE(cur.ss_size, std::size_t{64 * 1024});
    EXPECT_NE(cur.ss_sp, before.ss_sp);
    {
      AltSignalStack inner;
      stack_t in{};
      ASSERT_EQ(::sigaltstack(nullptr, &in), 0);
      EXPECT_NE(in.ss_sp, cur.ss_sp);
      static_cast<volatile char*>(in.ss_sp)[0] = 1;  // mapped and writable
      static_cast<volatile char*>(in.ss_sp)[in.ss_size - 1] = 1;
    }
    stack_t back{};
    ASSERT_EQ(::sigaltstack(nullptr, &back), 0);
    EXPECT_EQ(back.ss_sp, cur.ss_sp);
  }
  stack_t after{};
  ASSERT_EQ(::sigaltstack(nullptr, &after), 0);
  EXPECT_EQ(after.ss_flags & SS_DISABLE, before.ss_flags & SS_DISABLE);
  if ((before.ss_flags & SS_DISABLE) == 0) {
    EXPECT_EQ(after.ss_sp, before.ss_sp);
    EXPECT_EQ(after.ss_size, before.ss_size);
  }
}

TEST(Overflow, AllTestsPassInMprotectMode) {
  const char* forced = std::getenv("SPINDLE_FORCE_MPROTECT_GUARDS");
  if (forced != nullptr && std::strcmp(forced, "1") == 0)
    GTEST_SKIP() << "already in Mprotect mode";
  const ChildResult r = run_in_child([] {
    ::setenv("SPINDLE_FORCE_MPROTECT_GUARDS", "1", 1);
    const char* argv[] = {"fiber_overflow_test", nullptr};
    ::execv("/proc/self/exe", const_cast<char* const*>(argv));
    ::_exit(127);
  });
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.status << "\n" << r.output;
}

}  // namespace
}  // namespace spindle::fiber
