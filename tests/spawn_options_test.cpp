// SpawnOptions::name (shown by AsyncRuntime::fibers() like this_fiber::set_name) and
// SpawnOptions::stack_size (bounded by max_stack_size; default-size stacks stay pooled; a custom
// stack has its guard and overflow report, checked in a child process).
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "spindle/spindle.hpp"
#include "test_util.hpp"

using spindle::AsyncRuntime;
using spindle::SpawnOptions;

namespace {

// named_fiber_listed returns whether fibers() lists a fiber named `name`.
bool named_fiber_listed(const AsyncRuntime& rt, const std::string& name) {
  for (const spindle::FiberInfo& f : rt.fibers()) {
    if (f.name == name) return true;
  }
  return false;
}

TEST(SpawnOptionsTest, NameIsListedByFibersFromTheStart) {
  AsyncRuntime rt(spindle::test::workers(2));
  spindle::Event go;
  auto h = rt.spawn([&] { go.wait(); }, SpawnOptions{.name = "embed-named"});
  ASSERT_TRUE(spindle::test::wait_until([&] { return named_fiber_listed(rt, "embed-named"); }));
  go.set();
  h.join();
  EXPECT_FALSE(named_fiber_listed(rt, "embed-named"));
}

TEST(SpawnOptionsTest, NameIsTruncatedTo31BytesAndSetNameReplacesIt) {
  AsyncRuntime rt(spindle::test::workers(1));
  spindle::Event renamed, go;
  const std::string longname(40, 'x');
  auto h = rt.spawn(
      [&] {
        renamed.wait();
        spindle::this_fiber::set_name("renamed");
        go.wait();
      },
      SpawnOptions{.name = longname});
  ASSERT_TRUE(
      spindle::test::wait_until([&] { return named_fiber_listed(rt, std::string(31, 'x')); }));
  renamed.set();
  ASSERT_TRUE(spindle::test::wait_until([&] { return named_fiber_listed(rt, "renamed"); }));
  go.set();
  h.join();
}

TEST(SpawnOptionsTest, ANameGivenToASpawnThatThrowsIsNotLeaked) {
  AsyncRuntime rt(spindle::test::workers(1));
  rt.shutdown();
  // Spawning after shutdown throws; the name copied for the task is freed (ASan checks this).
  EXPECT_THROW(rt.spawn([] {}, SpawnOptions{.name = "late"}), std::runtime_error);
}

TEST(SpawnOptionsTest, StackSizeOutOfRangeIsRejectedBySpawn) {
  AsyncRuntime rt({.worker_threads = 1, .max_stack_size = 128 * 1024});
  for (std::size_t bad : {std::size_t{4096}, std::size_t{16383}, std::size_t{128 * 1024 + 1}}) {
    try {
      rt.spawn([] {}, SpawnOptions{.name = "never", .stack_size = bad});
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::invalid_argument& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("SpawnOptions::stack_size = " + std::to_string(bad)), std::string::npos)
          << msg;
      EXPECT_NE(msg.find("16384 (16 KiB) to 131072 bytes (AsyncRuntimeConfig::max_stack_size)"),
                std::string::npos)
          << msg;
    }
  }
  // The runtime is unaffected.
  EXPECT_EQ(rt.block_on([] { return 3; }), 3);
  EXPECT_EQ(rt.stats().spawned_tasks, 1u);
}

// stack_depth uses about `kib` KiB of stack.
__attribute__((noinline)) int use_stack(int kib) {
  volatile char buf[1024];
  buf[0] = static_cast<char>(kib);
  buf[sizeof(buf) - 1] = buf[0];
  if (kib <= 1) return buf[0];
  return use_stack(kib - 1) + buf[sizeof(buf) - 1];
}

TEST(SpawnOptionsTest, CustomStacksAreOutsideThePoolAndDefaultSizeStacksStayPooled) {
  AsyncRuntime rt({.worker_threads = 1, .max_stack_size = 256 * 1024});
  // A pooled fiber: one stack in use from the pool while it runs.
  EXPECT_EQ(rt.block_on([&] { return rt.stats().stacks_allocated; }), 1u);
  // Explicitly the default size: still pooled.
  auto same =
      rt.spawn([&] { return rt.stats().stacks_allocated; }, SpawnOptions{.stack_size = 256 * 1024});
  EXPECT_EQ(same.join(), 1u);
  // A custom size: its own mapping, not counted by the pool; usable up to its size.
  auto small = rt.spawn(
      [&] {
        use_stack(24);  // 24 KiB of a 32 KiB stack
        return rt.stats().stacks_allocated;
      },
      SpawnOptions{.stack_size = 32 * 1024});
  EXPECT_EQ(small.join(), 0u);
  // Rounded up to the page size: 20000 bytes give a 20480-byte stack on 4 KiB pages.
  auto odd = rt.spawn([] { return use_stack(12); }, SpawnOptions{.stack_size = 20000});
  odd.join();
  // Many custom-stack fibers at once, each mapped and unmapped.
  std::vector<spindle::JoinHandle<int>> hs;
  for (int i = 0; i < 200; ++i) {
    hs.push_back(rt.spawn(
        [] {
          spindle::this_fiber::yield();
          return use_stack(8);
        },
        SpawnOptions{.stack_size = 16 * 1024}));
  }
  for (auto& h : hs) h.join();
  EXPECT_EQ(rt.stats().stacks_allocated, 0u);
  EXPECT_EQ(rt.stats().failed_tasks, 0u);
}

// g_limit is far beyond any stack: the recursion ends only by overflowing.
volatile int g_limit = 1 << 30;

__attribute__((noinline)) int recurse(int depth) {
  volatile char buf[1024];
  buf[0] = static_cast<char>(depth);
  buf[sizeof(buf) - 1] = buf[0];
  if (depth >= g_limit) return buf[0];
  return recurse(depth + 1) + buf[depth % sizeof(buf)];
}

void overflow_in_small_custom_stack() {
  AsyncRuntime rt({.worker_threads = 1, .max_stack_size = 256 * 1024});
  auto h = rt.spawn([] { return recurse(0); },
                    SpawnOptions{.name = "small-stack", .stack_size = 16 * 1024});
  h.join();
}

TEST(SpawnOptionsDeathTest, OverflowInASmallCustomStackIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(overflow_in_small_custom_stack(),
               "spindle: stack overflow in fiber [0-9]+ \\(\"small-stack\"\\), stack size 16384 "
               "bytes");
}

}  // namespace
