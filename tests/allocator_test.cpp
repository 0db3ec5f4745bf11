// Control blocks come from the allocator chosen at configure time (SPINDLE_ALLOCATOR): mimalloc,
// linked and called through its API, or the system allocator in sanitizer builds.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <string>

#include "spindle/fiber/context.hpp"  // SPINDLE_ASAN / SPINDLE_TSAN
#include "spindle/spindle.hpp"

#if defined(SPINDLE_TEST_WITH_MIMALLOC)
#include <mimalloc.h>
#endif

namespace {

TEST(AllocatorTest, ControlBlocksUseTheConfiguredAllocator) {
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 1;
  spindle::AsyncRuntime rt(cfg);
  EXPECT_EQ(rt.block_on([] { return 7; }), 7);
  const std::string configured = SPINDLE_TEST_ALLOCATOR;  // the build's SPINDLE_ALLOCATOR, resolved
  EXPECT_EQ(std::string(rt.stats().allocator), configured);
#if SPINDLE_ASAN || SPINDLE_TSAN
  EXPECT_EQ(configured, "system") << "sanitizer builds must let ASan/TSan see every control block";
#else
  EXPECT_EQ(configured, "mimalloc") << "the default allocator is mimalloc";
#endif
}

#if defined(SPINDLE_TEST_WITH_MIMALLOC)
// mimalloc is a link-time dependency (not a dlopen that may silently fall back): mi_malloc resolves
// to the libmimalloc the build found, and a block it returns belongs to mimalloc's heap.
TEST(AllocatorTest, MimallocIsLinkedAtBuildTime) {
  Dl_info info{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(&mi_malloc), &info), 0);
  ASSERT_NE(info.dli_fname, nullptr);
  EXPECT_NE(std::string(info.dli_fname).find("mimalloc"), std::string::npos) << info.dli_fname;
  void* p = mi_malloc(64);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(mi_is_in_heap_region(p));
  mi_free(p);
}
#endif

}  // namespace
