// Tests for spindle::fiber::StackPool: arguments, warm/cold reuse, pool limits, guards in both
// guard modes, mapping counts, and concurrent caches sharing a depot.
#include "spindle/fiber/stack_pool.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "subprocess.hpp"

#if defined(__SANITIZE_THREAD__)
#define SPINDLE_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPINDLE_TEST_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || SPINDLE_TEST_TSAN
#define SPINDLE_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPINDLE_TEST_SANITIZED 1
#endif
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace spindle::fiber {
namespace {

using spindle::test::ChildResult;
using spindle::test::killed_by;
using spindle::test::run_in_child;

constexpr std::size_t kKiB = 1024;

// count_maps returns the number of lines in /proc/self/maps (the process's mappings).
std::size_t count_maps() {
  std::ifstream in("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// forced_mprotect says whether this process was started with SPINDLE_FORCE_MPROTECT_GUARDS=1.
bool forced_mprotect() {
  const char* v = std::getenv("SPINDLE_FORCE_MPROTECT_GUARDS");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

// fault_write writes one byte at `p` (in a child: expected to die there).
void fault_write(void* p) {
  ::signal(SIGSEGV, SIG_DFL);  // a sanitizer's handler would turn the signal into an exit code
  ::signal(SIGBUS, SIG_DFL);
  *static_cast<volatile char*>(p) = 1;
  ::_exit(3);  // not reached when the guard works
}

// kernel_batches returns whether this kernel accepts process_madvise(pidfd of this process,
// `advice`) on a scratch mapping: the condition under which StackPool batches that advice per slab.
bool kernel_batches(int advice) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* p = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  const long fd = ::syscall(SYS_pidfd_open, ::getpid(), 0);
  bool ok = false;
  if (fd >= 0) {
    iovec iov{p, page};
    ok = ::syscall(SYS_process_madvise, fd, &iov, 1, advice, 0u) == static_cast<long>(page);
    ::close(static_cast<int>(fd));
  }
  ::munmap(p, page);
  return ok;
}

// resident returns whether the page holding `p` is in memory (mincore).
bool resident(const void* p) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  auto* start = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) & ~(page - 1));
  unsigned char v = 0;
  if (::mincore(start, page, &v) != 0) throw std::system_error(errno, std::generic_category());
  return (v & 1) != 0;
}

TEST(StackPool, RejectsBadArguments) {
  auto expect_invalid = [](std::size_t stack_size, std::size_t num_caches, const char* param) {
    try {
      StackPool pool(stack_size, 4, num_caches);
      ADD_FAILURE() << "no exception for " << param;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(param), std::string::npos) << e.what();
    }
  };
  expect_invalid(0, 1, "stack_size");
  expect_invalid(StackPool::kMinStackSize - 1, 1, "stack_size");
  expect_invalid(StackPool::kMaxStackSize + 1, 1, "stack_size");
  expect_invalid(64 * kKiB, 0, "num_caches");
  StackPool ok(StackPool::kMinStackSize, 0, 1);
  EXPECT_EQ(ok.stats().reserved, 0u);  // nothing mapped before the first acquire
  EXPECT_THROW(ok.acquire(1), std::out_of_range);
}

TEST(StackPool, RoundsSizeAndReportsGuardMode) {
  StackPool pool(StackPool::kMinStackSize + 1, 4, 1);
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  EXPECT_EQ(pool.stack_size() % page, 0u);
  EXPECT_GT(pool.stack_size(), StackPool::kMinStackSize);
  EXPECT_GE(pool.guard_size(), page);
  EXPECT_EQ(pool.stats().guard_mode, pool.guard_mode());
  if (forced_mprotect()) {
    EXPECT_EQ(pool.guard_mode(), GuardMode::Mprotect);
  }
  EXPECT_STREQ(guard_mode_name(GuardMode::GuardInstall), "madv_guard_install");
  EXPECT_STREQ(guard_mode_name(GuardMode::Mprotect), "mprotect");
  std::cout << "guard mode: " << guard_mode_name(pool.guard_mode()) << "\n";
}

TEST(StackPool, ReusesWarmStackFromCache) {
  StackPool pool(64 * kKiB, 8, 2);
  Stack a = pool.acquire(0);
  ASSERT_TRUE(a);
  EXPECT_EQ(a.size, 64 * kKiB);
  EXPECT_EQ(pool.stats().in_use, 1u);
  pool.release(0, a);
  EXPECT_EQ(pool.stats().in_use, 0u);
  EXPECT_EQ(pool.stats().pooled, 1u);
  Stack b = pool.acquire(0);
  EXPECT_EQ(b.limit, a.limit);  // LIFO from the same cache
  // A stack released through cache 0 overflows to the depot and is then visible to cache 1.
  std::vector<Stack> held;
  for (int i = 0; i < 8; ++i) held.push_back(pool.acquire(0));
  for (Stack s : held) pool.release(0, s);
  pool.release(0, b);
  EXPECT_EQ(pool.stats().pooled, 6u);  // cache 0 (2) + depot (4); cache 1 is still empty
  const std::size_t reserved = pool.stats().reserved;
  for (int i = 0; i < 6; ++i) held[i] = pool.acquire(1);
  EXPECT_EQ(pool.stats().reserved, reserved);
  for (int i = 0; i < 6; ++i) pool.release(1, held[i]);
  pool.release(0, Stack{});  // ignored
  EXPECT_EQ(pool.stats().in_use, 0u);
}

TEST(StackPool, PooledNeverExceedsPoolSize) {
  constexpr std::size_t kPoolSize = 5;
  StackPool pool(16 * kKiB, kPoolSize, 3);
  std::vector<Stack> held;
  for (int i = 0; i < 50; ++i) held.push_back(pool.acquire(static_cast<std::size_t>(i) % 3));
  EXPECT_EQ(pool.stats().in_use, 50u);
  std::size_t released = 0;
  for (Stack s : held) {
    pool.release((released * 7) % 3, s);
    ++released;
    const StackPoolStats st = pool.stats();
    ASSERT_LE(st.pooled, kPoolSize);
    ASSERT_EQ(st.in_use, 50 - released);
  }
  EXPECT_EQ(pool.stats().pooled, kPoolSize);  // every warm slot filled once enough stacks came back
}

TEST(StackPool, PoolSizeZeroReturnsMemoryAndReusesColdStacks) {
  StackPool pool(64 * kKiB, 0, 1);
  Stack s = pool.acquire(0);
  std::memset(s.limit, 0x5a, s.size);
  const StackPoolStats before = pool.stats();
  pool.release(0, s);
  EXPECT_EQ(pool.stats().pooled, 0u);
  EXPECT_EQ(pool.stats().trimming, 1u);
  pool.trim(0);  // the stack waited in the cache's batch to go cold
  EXPECT_EQ(pool.stats().trimming, 0u);
  // The pages went back to the OS: none resident, and they read as zero on reuse.
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec(s.size / page);
  ASSERT_EQ(::mincore(s.limit, s.size, vec.data()), 0);
  std::size_t resident = 0;
  for (unsigned char v : vec) resident += v & 1;
  EXPECT_EQ(resident, 0u);
  Stack again = pool.acquire(0);
  EXPECT_EQ(again.limit, s.limit);
  EXPECT_EQ(static_cast<unsigned char*>(again.limit)[0], 0);
  EXPECT_EQ(pool.stats().reserved, before.reserved);
  pool.release(0, again);
}

TEST(StackPool, ColdStacksAreReusedWithoutNewSlabs) {
  StackPool pool(32 * kKiB, 10, 2);
  std::vector<Stack> held;
  for (int i = 0; i < 200; ++i) held.push_back(pool.acquire(0));
  const StackPoolStats full = pool.stats();
  EXPECT_GE(full.reserved, 200u);
  for (Stack s : held) pool.release(1, s);
  EXPECT_LE(pool.stats().pooled, 10u);
  held.clear();
  for (int i = 0; i < 200; ++i) held.push_back(pool.acquire(i % 2));
  EXPECT_EQ(pool.stats().reserved, full.reserved);
  EXPECT_EQ(pool.stats().mapped_bytes, full.mapped_bytes);
  for (std::size_t i = 0; i < held.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) ASSERT_NE(held[i].limit, held[j].limit);
  }
  for (std::size_t i = 0; i < held.size(); ++i) pool.release(i % 2, held[i]);
}

TEST(StackPool, WholeUsableRangeIsWritable) {
  StackPool pool(64 * kKiB, 2, 1);
  std::vector<Stack> held;
  for (int i = 0; i < 5; ++i) held.push_back(pool.acquire(0));
  for (std::size_t i = 0; i < held.size(); ++i) {
    std::memset(held[i].limit, static_cast<int>(i + 1), held[i].size);
  }
  for (std::size_t i = 0; i < held.size(); ++i) {
    const auto* p = static_cast<const unsigned char*>(held[i].limit);
    for (std::size_t b = 0; b < held[i].size; b += 512) ASSERT_EQ(p[b], i + 1);
    ASSERT_EQ(p[held[i].size - 1], i + 1);
  }
  for (Stack s : held) pool.release(0, s);
}

TEST(StackPool, GuardBelowEveryStackFaults) {
  StackPool pool(64 * kKiB, 1, 1);
  Stack first = pool.acquire(0);
  Stack second = pool.acquire(0);
  const std::size_t guard = pool.guard_size();
  // Just below the limit, and the lowest byte of the guard.
  for (char* p : {static_cast<char*>(first.limit) - 1, static_cast<char*>(second.limit) - guard}) {
    const ChildResult r = run_in_child([p] { fault_write(p); });
    EXPECT_TRUE(killed_by(r, SIGSEGV)) << "status " << r.status << ": " << r.output;
  }
  // A stack that went cold (pool_size 1: the second release goes cold) and was reused is still
  // guarded.
  pool.release(0, first);
  pool.release(0, second);
  pool.trim(0);
  Stack a = pool.acquire(0);
  Stack b = pool.acquire(0);
  Stack cold = a.limit == second.limit ? a : b;
  ASSERT_EQ(cold.limit, second.limit);
  const ChildResult r = run_in_child([&] { fault_write(static_cast<char*>(cold.limit) - 1); });
  EXPECT_TRUE(killed_by(r, SIGSEGV)) << "status " << r.status << ": " << r.output;
  pool.release(0, a);
  pool.release(0, b);
}

TEST(StackPool, GuardsOfAFreshSlabFault) {
  // 64 stacks of 64 KiB form one slab. Every guard checked here was installed when the slab was
  // mapped (batched MADV_GUARD_INSTALL), or when its own stack was first handed out otherwise.
  StackPool pool(64 * kKiB, 0, 1);
  std::vector<Stack> held;
  for (int i = 0; i < 64; ++i) held.push_back(pool.acquire(0));
  ASSERT_EQ(pool.stats().reserved, 64u);
  const std::size_t guard = pool.guard_size();
  for (std::size_t i : {std::size_t{1}, std::size_t{31}, std::size_t{63}}) {
    for (char* p :
         {static_cast<char*>(held[i].limit) - 1, static_cast<char*>(held[i].limit) - guard}) {
      const ChildResult r = run_in_child([p] { fault_write(p); });
      EXPECT_TRUE(killed_by(r, SIGSEGV))
          << "stack " << i << ", status " << r.status << ": " << r.output;
    }
  }
  for (Stack s : held) pool.release(0, s);
  // With batched guards, the guard of a slot not handed out yet (just above the first stack of a
  // new slab: slots are guard + stack, back to back) already faults.
  if (pool.guard_mode() == GuardMode::GuardInstall && kernel_batches(MADV_GUARD_INSTALL)) {
    StackPool fresh(64 * kKiB, 0, 1);
    Stack first = fresh.acquire(0);
    char* next_guard = static_cast<char*>(first.top());
    const ChildResult r = run_in_child([next_guard] { fault_write(next_guard); });
    EXPECT_TRUE(killed_by(r, SIGSEGV)) << "status " << r.status << ": " << r.output;
    fresh.release(0, first);
  }
}

TEST(StackPool, FreshStackTopPageIsPrefaulted) {
  if (!kernel_batches(MADV_POPULATE_WRITE)) {
    GTEST_SKIP() << "process_madvise(MADV_POPULATE_WRITE) not available: fresh stacks fault in use";
  }
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  StackPool pool(64 * kKiB, 0, 1);
  std::vector<Stack> held;
  for (int i = 0; i < 64; ++i) held.push_back(pool.acquire(0));  // one slab
  for (std::size_t i = 0; i < held.size(); ++i) {
    const char* top = static_cast<const char*>(held[i].top());
    // Only the page just below top() is resident, before anything touched the stack.
    EXPECT_TRUE(resident(top - 64)) << "stack " << i;
    EXPECT_TRUE(resident(top - page)) << "stack " << i;
    EXPECT_FALSE(resident(top - page - 1)) << "stack " << i;
    EXPECT_FALSE(resident(held[i].limit)) << "stack " << i;
  }
  // A stack that went cold (pool_size 0) gave its top page back; it faults in again on use.
  pool.release(0, held.back());
  pool.trim(0);
  EXPECT_FALSE(resident(static_cast<const char*>(held.back().top()) - 64));
  Stack again = pool.acquire(0);
  ASSERT_EQ(again.limit, held.back().limit);
  static_cast<volatile char*>(again.top())[-64] = 1;
  EXPECT_TRUE(resident(static_cast<const char*>(again.top()) - 64));
  held.back() = again;
  for (Stack s : held) pool.release(0, s);
}

// count_resident_tops returns how many of `stacks` have the page just below top() in memory.
std::size_t count_resident_tops(const std::vector<Stack>& stacks) {
  std::size_t n = 0;
  for (Stack s : stacks) n += resident(static_cast<const char*>(s.top()) - 1) ? 1 : 0;
  return n;
}

TEST(StackPool, ColdStacksReturnMemoryInBatchesAndOnTrim) {
  // pool_size 4 with one cache: 2 warm in the cache, 2 in the depot; the other 196 releases go
  // cold, 64 at a time (3 full batches), and the last 4 wait in the batch until trim().
  StackPool pool(64 * kKiB, 4, 1);
  std::vector<Stack> held;
  for (int i = 0; i < 200; ++i) held.push_back(pool.acquire(0));
  for (Stack s : held) static_cast<volatile char*>(s.top())[-1] = 1;
  EXPECT_EQ(count_resident_tops(held), 200u);
  for (Stack s : held) pool.release(0, s);
  StackPoolStats st = pool.stats();
  EXPECT_EQ(st.in_use, 0u);
  EXPECT_EQ(st.pooled, 4u);
  EXPECT_EQ(st.trimming, 4u);
  EXPECT_EQ(count_resident_tops(held), 8u);  // warm + waiting in the batch
  pool.trim(0);
  st = pool.stats();
  EXPECT_EQ(st.in_use, 0u);
  EXPECT_EQ(st.pooled, 4u);
  EXPECT_EQ(st.trimming, 0u);
  EXPECT_EQ(count_resident_tops(held), 4u);  // only the warm ones
  pool.trim(0);                              // an empty batch: nothing to do
  // Cold stacks are reused without new slabs and read as zero.
  const std::size_t reserved = st.reserved;
  for (Stack& s : held) {
    s = pool.acquire(0);
    EXPECT_EQ(static_cast<volatile char*>(s.top())[-2], 0);
  }
  EXPECT_EQ(pool.stats().reserved, reserved);
  EXPECT_EQ(pool.stats().in_use, 200u);
  for (Stack s : held) pool.release(0, s);
}

TEST(StackPool, StackWaitingToGoColdIsReusedWithoutFault) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  StackPool pool(64 * kKiB, 0, 1);
  Stack s = pool.acquire(0);
  std::memset(static_cast<char*>(s.top()) - page, 0x5a, page);
  pool.release(0, s);
  EXPECT_EQ(pool.stats().pooled, 0u);
  EXPECT_EQ(pool.stats().trimming, 1u);
  EXPECT_EQ(pool.stats().in_use, 0u);
  Stack again = pool.acquire(0);
  ASSERT_EQ(again.limit, s.limit);
  EXPECT_EQ(pool.stats().trimming, 0u);
  EXPECT_EQ(pool.stats().in_use, 1u);
  // Its memory was never returned: the page is still resident with its old contents, and writing
  // it takes no page fault.
  EXPECT_TRUE(resident(static_cast<const char*>(again.top()) - 1));
  rusage before{};
  ASSERT_EQ(::getrusage(RUSAGE_THREAD, &before), 0);
  volatile char* top = static_cast<volatile char*>(again.top());
  const char old = top[-1];
  top[-1] = 1;
  rusage after{};
  ASSERT_EQ(::getrusage(RUSAGE_THREAD, &after), 0);
  EXPECT_EQ(old, 0x5a);
#if !SPINDLE_TEST_SANITIZED
  // (Under ASan/TSan the write also touches the sanitizer's shadow memory, which may fault; the
  // residency check above already shows the stack page itself needs no fault.)
  EXPECT_EQ(after.ru_minflt, before.ru_minflt);
  EXPECT_EQ(after.ru_majflt, before.ru_majflt);
#endif
  pool.release(0, again);
  pool.trim(0);
  EXPECT_FALSE(resident(static_cast<const char*>(again.top()) - 1));
  EXPECT_EQ(pool.stats().trimming, 0u);
}

TEST(StackPool, HundredThousandStacksUseFewMappings) {
  StackPool probe(64 * kKiB, 0, 1);
  if (probe.guard_mode() != GuardMode::GuardInstall) {
    GTEST_SKIP() << "Mprotect guards cost a mapping each; covered by MprotectModeExhaustionThrows";
  }
  constexpr std::size_t kStacks = 100'000;
  StackPool pool(64 * kKiB, 1024, 1);
  std::vector<Stack> held;
  held.reserve(kStacks);
  for (std::size_t i = 0; i < kStacks; ++i) held.push_back(pool.acquire(0));
  // Touch the top word of every 64th stack (the top page of every stack is resident anyway when
  // fresh slabs are pre-faulted: 4 KiB of RSS each).
  for (std::size_t i = 0; i < kStacks; i += 64) static_cast<std::uint64_t*>(held[i].top())[-1] = i;
  const std::size_t maps = count_maps();
  std::cout << "mappings with " << kStacks << " stacks: " << maps << "\n";
#if SPINDLE_TEST_TSAN
  // TSan maps its meta shadow piecewise behind every mmap (a few thousand mappings here); one
  // mapping per stack would still be 100 times more.
  EXPECT_LT(maps, 10000u);
#else
  EXPECT_LT(maps, 1000u);
#endif
  EXPECT_EQ(pool.stats().in_use, kStacks);
  EXPECT_GE(pool.stats().mapped_bytes, kStacks * (64 * kKiB + pool.guard_size()));
  for (Stack s : held) pool.release(0, s);
  EXPECT_EQ(pool.stats().pooled, 1024u);
}

TEST(StackPool, MprotectModeExhaustionThrowsSystemError) {
  StackPool probe(16 * kKiB, 0, 1);
  if (probe.guard_mode() != GuardMode::Mprotect) {
    GTEST_SKIP()
        << "only Mprotect guards are limited by vm.max_map_count (see AllTestsPassInMprotectMode)";
  }
#if SPINDLE_TEST_SANITIZED
  GTEST_SKIP() << "sanitizer allocators need new mappings to build the error message, and dying of "
                  "'Failed to mmap' once vm.max_map_count is exhausted is all they can do";
#endif
  // In a child: running out of mappings would disturb everything else in this process.
  const ChildResult r = run_in_child([] {
    StackPool pool(16 * kKiB, 0, 1);
    std::vector<Stack> held;
    held.reserve(200'000);
    try {
      for (int i = 0; i < 200'000; ++i) held.push_back(pool.acquire(0));
    } catch (const std::system_error& e) {
      const std::string what = e.what();
      const bool ok =
          e.code().value() == ENOMEM && what.find("16384") != std::string::npos &&
          what.find(std::to_string(held.size()) + " stacks in use") != std::string::npos &&
          what.find("vm.max_map_count") != std::string::npos;
      for (Stack s : held) pool.release(0, s);
      std::fprintf(stderr, "%zu stacks, then: %s\n", held.size(), e.what());
      ::_exit(ok ? 0 : 2);
    }
    ::_exit(4);  // never ran out
  });
  std::cout << r.output;
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.status << ": " << r.output;
}

TEST(StackPool, ConcurrentCachesNeverShareAStack) {
  constexpr std::size_t kThreads = 3;
  constexpr std::size_t kPoolSize =
      6;  // caches of 1, a depot of 3: constant depot and cold traffic
#if SPINDLE_TEST_SANITIZED
  constexpr int kIterations = 3000;
#else
  constexpr int kIterations = 30000;
#endif
  StackPool pool(16 * kKiB, kPoolSize, kThreads);
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::thread reader([&] {
    while (!done.load(std::memory_order_acquire)) {
      const StackPoolStats st = pool.stats();
      if (st.pooled > kPoolSize) failures.fetch_add(1);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      std::uint64_t rng = 0x9e3779b97f4a7c15ull * (t + 1);
      Stack held[8];
      for (int it = 0; it < kIterations; ++it) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        const std::size_t k = 1 + rng % 8;
        for (std::size_t j = 0; j < k; ++j) {
          held[j] = pool.acquire(t);
          const std::uint64_t tag = (std::uint64_t{t + 1} << 48) | (std::uint64_t(it) << 8) | j;
          // The first word of a stack that is not handed out is always 0 (fresh, cold or reset
          // below).
          std::atomic_ref<std::uint64_t> word(*static_cast<std::uint64_t*>(held[j].limit));
          if (word.exchange(tag) != 0) failures.fetch_add(1);
          static_cast<std::uint64_t*>(held[j].top())[-1] = tag;
        }
        for (std::size_t j = 0; j < k; ++j) {
          const std::uint64_t tag = (std::uint64_t{t + 1} << 48) | (std::uint64_t(it) << 8) | j;
          if (static_cast<std::uint64_t*>(held[j].top())[-1] != tag) failures.fetch_add(1);
          std::atomic_ref<std::uint64_t> word(*static_cast<std::uint64_t*>(held[j].limit));
          if (word.exchange(0) != tag) failures.fetch_add(1);
          pool.release(t, held[j]);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  done.store(true, std::memory_order_release);
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  const StackPoolStats st = pool.stats();
  EXPECT_EQ(st.in_use, 0u);
  EXPECT_LE(st.pooled, kPoolSize);
  EXPECT_LE(st.reserved, 64u * 2);  // at most 24 in use at once: never more than two slabs
}

TEST(StackPool, WarmAcquireReleaseCost) {
  StackPool pool(64 * kKiB, 64, 1);
  pool.release(0, pool.acquire(0));
  constexpr int kRounds = 2'000'000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) {
    Stack s = pool.acquire(0);
    asm volatile("" : : "r"(s.limit) : "memory");
    pool.release(0, s);
  }
  const auto t1 = std::chrono::steady_clock::now();
  const double ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / kRounds;
  StackPool fresh(64 * kKiB, 0, 1);
  const auto f0 = std::chrono::steady_clock::now();
  std::vector<Stack> held;
  for (int i = 0; i < 256; ++i) held.push_back(fresh.acquire(0));
  const auto f1 = std::chrono::steady_clock::now();
  const double fresh_ns = std::chrono::duration<double, std::nano>(f1 - f0).count() / 256;
  for (Stack s : held) fresh.release(0, s);
  std::cout << "warm acquire+release: " << ns << " ns; fresh acquire: " << fresh_ns << " ns ("
            << guard_mode_name(pool.guard_mode()) << ")\n";
  EXPECT_EQ(pool.stats().reserved, 64u);  // one slab: the loop never needed another stack
}

TEST(StackPool, AllTestsPassInMprotectMode) {
  if (forced_mprotect()) GTEST_SKIP() << "already running in forced Mprotect mode";
  const ChildResult r = run_in_child([] {
    ::setenv("SPINDLE_FORCE_MPROTECT_GUARDS", "1", 1);
    const char* argv[] = {"fiber_stack_pool_test", "--gtest_filter=StackPool.*", nullptr};
    ::execv("/proc/self/exe", const_cast<char* const*>(argv));
    ::_exit(127);
  });
  // The child's log is shown only on failure: its "[  SKIPPED ]" lines would make CTest mark this
  // test as skipped.
  const bool ok = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
  EXPECT_TRUE(ok) << "status " << r.status << "\n" << r.output;
  EXPECT_NE(r.output.find("guard mode: mprotect"), std::string::npos) << r.output;
  if (ok)
    std::cout << "all StackPool tests passed in a child with SPINDLE_FORCE_MPROTECT_GUARDS=1\n";
}

}  // namespace
}  // namespace spindle::fiber
