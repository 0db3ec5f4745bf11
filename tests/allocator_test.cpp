// Control blocks come from mimalloc (loaded privately), and the process's own malloc is left alone.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "spindle/fiber/context.hpp"  // SPINDLE_ASAN / SPINDLE_TSAN
#include "spindle/spindle.hpp"

namespace {

std::string library_of(void* symbol) {
  Dl_info info{};
  if (dladdr(symbol, &info) == 0 || info.dli_fname == nullptr) return "";
  return info.dli_fname;
}

TEST(AllocatorTest, ControlBlocksUseMimallocWithoutReplacingMalloc) {
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 1;
  spindle::AsyncRuntime rt(cfg);
  EXPECT_EQ(rt.block_on([] { return 7; }), 7);
  const std::string allocator = rt.stats().allocator;
  const std::string configured = SPINDLE_TEST_ALLOCATOR;  // the build's SPINDLE_ALLOCATOR, resolved
  // The default (mimalloc-local) and sanitizer builds (system, so that every block is checked) must
  // not replace the process's malloc; only the explicit mimalloc-override option may.
  if (configured == "mimalloc-override") {
    EXPECT_EQ(allocator, "mimalloc");
    return;
  }
  EXPECT_EQ(allocator, configured);
#if SPINDLE_ASAN || SPINDLE_TSAN
  EXPECT_EQ(configured, "system");
#else
  EXPECT_EQ(configured, "mimalloc-local");
#endif
  const std::string malloc_lib = library_of(reinterpret_cast<void*>(&std::malloc));
  EXPECT_EQ(malloc_lib.find("mimalloc"), std::string::npos) << "malloc resolves to " << malloc_lib;
}

}  // namespace
