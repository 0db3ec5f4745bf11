// spindle/fiber/stack_pool.hpp: pooled, guarded fiber stacks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace spindle::fiber {

// Stack is one fiber stack handed out by StackPool. The usable range is [limit, limit + size);
// stacks grow down from top(). Below `limit` there is a guard region that faults on access.
struct Stack {
  void* limit = nullptr;
  std::size_t size = 0;

  // top returns the highest address of the stack (exclusive): the initial stack pointer.
  void* top() const noexcept { return static_cast<char*>(limit) + size; }
  explicit operator bool() const noexcept { return limit != nullptr; }
};

// GuardMode says how StackPool protects the page(s) below each stack.
enum class GuardMode : std::uint8_t {
  // GuardInstall: madvise(MADV_GUARD_INSTALL) (Linux >= 6.13); does not split mappings, so millions
  // of
  // guarded stacks fit in the default vm.max_map_count.
  GuardInstall,
  // Mprotect: mprotect(PROT_NONE) on older kernels; every guard costs a mapping, so about
  // vm.max_map_count / 2 stacks can exist at once. Beyond that acquire() throws std::system_error.
  Mprotect,
};

// guard_mode_name returns "madv_guard_install" or "mprotect".
const char* guard_mode_name(GuardMode mode) noexcept;

// StackPoolStats is a snapshot of a StackPool's counters.
struct StackPoolStats {
  std::size_t in_use = 0;  // stacks currently handed out by acquire()
  std::size_t pooled = 0;  // warm stacks ready for reuse (memory still resident), <= pool_size
  // trimming counts stacks released beyond pool_size whose memory has not been returned yet: they
  // wait in their cache's batch (at most 63 per cache) until it fills up or trim() is called, and
  // acquire() on that cache may take them back. Not part of `pooled`.
  std::size_t trimming = 0;
  std::size_t reserved = 0;      // stack slots mapped in total (in use + pooled + trimming + cold)
  std::size_t mapped_bytes = 0;  // virtual bytes reserved (stacks + guards)
  GuardMode guard_mode = GuardMode::GuardInstall;
};

// StackPool hands out guarded stacks of one fixed size. Each stack is reserved with
// MAP_NORESERVE | MAP_STACK (only touched pages cost memory) in slabs of many stacks, with a guard
// page below each stack. Released stacks are kept warm, up to `pool_size` of them, first in the
// releasing thread's cache (no locking) and then in a shared depot (a mutex, taken once per batch);
// beyond that their memory is returned to the OS (madvise) but the address range is kept for reuse,
// so acquire() calls mmap only when the pool has never had that many stacks at once.
//
// Stacks going cold are collected in the releasing cache (no locking) and their memory is returned
// in batches of 64 with one process_madvise(MADV_DONTNEED) call, so that a burst of releases costs
// one TLB shootdown per 64 stacks instead of one per stack (per-stack madvise if the kernel refuses
// that). Until its batch is full or trim() is called, a stack going cold keeps its memory (at most
// 63 stacks per cache; counted in StackPoolStats::trimming) and acquire() on that cache takes it
// back before trying the depot.
//
// Guards never split a slab in GuardInstall mode (a slab of up to 64 stacks is one mapping, and
// adjacent slabs usually merge); in Mprotect mode each guard costs about two mappings. A stack that
// goes cold loses only its usable pages (MADV_DONTNEED on [limit, limit + size)); its guard is
// never touched, so it stays installed in both modes and reusing a cold stack needs no syscall.
// Slabs are unmapped only by ~StackPool.
//
// When a slab is mapped, the guards of all its stacks are installed at once in GuardInstall mode
// (one process_madvise(MADV_GUARD_INSTALL) call; per stack at first hand-out if the kernel refuses
// that), and the page just below top() of each of its stacks is pre-faulted in one
// process_madvise(MADV_POPULATE_WRITE) call, so that a fiber starting on a fresh stack takes no
// page fault. That costs 4 KiB of RSS per stack of the slab (at most 63 pages for stacks not handed
// out yet). A cold stack lost that page too and faults it in again on use.
//
// The guard mode is probed once per process. Setting the environment variable
// SPINDLE_FORCE_MPROTECT_GUARDS=1 before the first StackPool is created forces Mprotect mode (a
// test hook).
//
// Capacities: each cache holds up to min(4096, max(1, pool_size / (2 * num_caches))) stacks (fewer
// if the caches alone would exceed pool_size, 0 when pool_size is 0) and moves half of that to or
// from the depot at once; the depot holds the rest of pool_size.
//
// Threading: acquire(c), release(c, s) and trim(c) for one cache index c must be called by one
// thread at a time (the worker that owns cache c). Different caches may be used concurrently.
// stats() may be called from any thread at any time.
class StackPool {
 public:
  // kMinStackSize is the smallest stack_size accepted (16 KiB).
  static constexpr std::size_t kMinStackSize = 16 * 1024;
  // kMaxStackSize is the largest stack_size accepted (1 GiB).
  static constexpr std::size_t kMaxStackSize = std::size_t{1} << 30;

  // StackPool creates a pool of stacks of `stack_size` usable bytes (rounded up to the page size)
  // that keeps up to `pool_size` released stacks warm, with `num_caches` per-thread caches. Throws
  // std::invalid_argument naming the parameter if stack_size is outside [kMinStackSize,
  // kMaxStackSize] or num_caches is 0. Does not map anything until the first acquire().
  StackPool(std::size_t stack_size, std::size_t pool_size, std::size_t num_caches);
  // ~StackPool unmaps every slab. All stacks must have been released.
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // acquire returns a stack for the thread owning cache `cache` (< num_caches, else
  // std::out_of_range). Never blocks except on the depot mutex. Throws std::system_error (with the
  // errno, e.g. ENOMEM, and a message that names the stack size, the number of stacks in use and
  // vm.max_map_count) when no new stack can be mapped or guarded.
  Stack acquire(std::size_t cache);
  // release gives `stack` back through cache `cache` (< num_caches, else abort); a stack may be
  // released through a different cache than the one it was acquired from. A null stack is ignored.
  // Never throws.
  void release(std::size_t cache, Stack stack) noexcept;
  // trim returns the memory of the stacks waiting in cache `cache`'s batch to go cold (<
  // num_caches, else abort) now instead of when the batch fills up: one process_madvise call,
  // nothing when the batch is empty. Called by the thread owning the cache, like release(); the
  // scheduler calls it when a worker goes idle. ~StackPool needs no trim() (munmap returns
  // everything). Never throws.
  void trim(std::size_t cache) noexcept;

  // stack_size returns the usable size of every stack (page-rounded).
  std::size_t stack_size() const noexcept;
  // guard_size returns the size of the guard region below each stack.
  std::size_t guard_size() const noexcept;
  // guard_mode returns how guards are installed (decided once per process by probing the kernel).
  GuardMode guard_mode() const noexcept;
  // stats returns a snapshot of the pool's counters.
  StackPoolStats stats() const noexcept;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace spindle::fiber
