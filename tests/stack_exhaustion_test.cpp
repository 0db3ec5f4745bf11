// With mprotect guards (kernels without MADV_GUARD_INSTALL) each stack costs two mappings, so about
// vm.max_map_count / 2 fibers can hold a stack at once. Past that, fibers that cannot get a stack
// end Failed with a clear std::system_error delivered through their JoinHandle (stacks are attached
// when a fiber first runs); nothing crashes and every other fiber completes. Runs in a child
// process because the guard mode is probed once per process.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <system_error>
#include <vector>

#include "spindle/fiber/context.hpp"  // SPINDLE_ASAN / SPINDLE_TSAN
#include "spindle/spindle.hpp"

namespace {

[[maybe_unused]] int run_past_the_map_limit() {
  ::setenv("SPINDLE_FORCE_MPROTECT_GUARDS", "1", 1);
  constexpr int kFibers = 40'000;  // more than 65530 / 2 stacks at once
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 2;
  cfg.max_stack_size = 16 * 1024;
  spindle::AsyncRuntime rt(cfg);
  if (std::string(rt.stats().stack_guard_mode) != "mprotect") return 10;
  const auto release = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  std::vector<spindle::JoinHandle<void>> hs;
  hs.reserve(kFibers);
  for (int i = 0; i < kFibers; ++i) {
    hs.push_back(rt.spawn([release] { spindle::this_fiber::sleep_until(release); }));
  }
  int ok = 0, enomem = 0, other = 0;
  for (auto& h : hs) {
    try {
      h.join();
      ++ok;
    } catch (const std::system_error& e) {
      const std::string what = e.what();
      if (e.code().value() == ENOMEM && what.find("max_map_count") != std::string::npos) {
        ++enomem;
      } else {
        ++other;
      }
    } catch (...) {
      ++other;
    }
  }
  if (other != 0) return 11;
  if (enomem == 0) return 12;             // the limit was never reached
  if (ok < 20'000) return 13;             // most fibers that got a stack ran
  if (ok + enomem != kFibers) return 14;  // nothing lost
  if (rt.stats().failed_tasks != static_cast<std::uint64_t>(enomem)) return 15;
  return 0;
}

TEST(StackExhaustionDeathTest, FibersPastTheMapLimitFailWithSystemError) {
#if SPINDLE_ASAN || SPINDLE_TSAN
  GTEST_SKIP() << "sanitizer runtimes themselves abort once vm.max_map_count is exhausted";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(run_past_the_map_limit()), ::testing::ExitedWithCode(0), "");
#endif
}

}  // namespace
