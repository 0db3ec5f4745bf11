// Pooled, guarded fiber stacks: slabs of MAP_NORESERVE stacks, per-thread caches, a shared depot,
// and a cold list of stacks whose memory went back to the OS.
#include "spindle/fiber/stack_pool.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <sanitizer/asan_interface.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace spindle::fiber {
namespace {

// kMaxStacksPerSlab bounds how many stacks one mmap reserves.
constexpr std::size_t kMaxStacksPerSlab = 64;
// Pre-faulting the top page of every stack of a new slab costs at most this much RSS for stacks
// not handed out yet.
static_assert((kMaxStacksPerSlab - 1) * 4096 <= std::size_t{256} << 10);
// kMaxSlabBytes bounds one slab's virtual size (matters under strict overcommit, where NORESERVE is
// ignored).
constexpr std::size_t kMaxSlabBytes = std::size_t{256} << 20;
// kTrimBatch is how many stacks going cold a cache collects before it returns their memory with one
// process_madvise(MADV_DONTNEED) call (one TLB shootdown instead of one per stack).
constexpr std::size_t kTrimBatch = 64;
// kMaxCacheCapacity bounds one per-thread cache so that a huge pool_size does not allocate a huge
// array.
constexpr std::size_t kMaxCacheCapacity = 4096;

GuardMode g_guard_mode = GuardMode::GuardInstall;
std::once_flag g_guard_once;

// page_size returns the system page size.
std::size_t page_size() noexcept {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

// probe_guard_mode decides, once per process, how guards are installed: MADV_GUARD_INSTALL when the
// kernel accepts it on a scratch mapping, mprotect(PROT_NONE) otherwise or when
// SPINDLE_FORCE_MPROTECT_GUARDS=1.
void probe_guard_mode() noexcept {
  const char* force = std::getenv("SPINDLE_FORCE_MPROTECT_GUARDS");
  if (force != nullptr && std::strcmp(force, "1") == 0) {
    g_guard_mode = GuardMode::Mprotect;
    return;
  }
  const std::size_t page = page_size();
  void* p = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) {
    g_guard_mode = GuardMode::Mprotect;
    return;
  }
  g_guard_mode =
      ::madvise(p, page, MADV_GUARD_INSTALL) == 0 ? GuardMode::GuardInstall : GuardMode::Mprotect;
  ::munmap(p, 2 * page);
}

// process_guard_mode returns the probed guard mode, probing on first use.
GuardMode process_guard_mode() {
  std::call_once(g_guard_once, probe_guard_mode);
  return g_guard_mode;
}

// BatchState records whether the kernel accepts one kind of batched process_madvise call.
enum BatchState : int { kBatchUnknown, kBatchWorks, kBatchRefused };

std::atomic<int> g_batch_guard{kBatchUnknown};     // MADV_GUARD_INSTALL
std::atomic<int> g_batch_populate{kBatchUnknown};  // MADV_POPULATE_WRITE
std::atomic<int> g_batch_dontneed{kBatchUnknown};  // MADV_DONTNEED

std::mutex g_pidfd_mu;
int g_pidfd = -1;       // guarded by g_pidfd_mu
pid_t g_pidfd_pid = 0;  // the process g_pidfd was opened in

// self_pidfd returns a pidfd for this process, opened on first use and kept open; -1 with errno
// set if pidfd_open fails. A child of fork() inherits its parent's pidfd, which would make
// process_madvise a (refused) remote call, so the child opens its own; the inherited descriptor is
// left alone (the child may have closed or reused that number).
int self_pidfd() noexcept {
  const pid_t pid = ::getpid();
  std::lock_guard<std::mutex> lock(g_pidfd_mu);
  if (g_pidfd < 0 || g_pidfd_pid != pid) {
    const long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) return -1;
    g_pidfd = static_cast<int>(fd);
    g_pidfd_pid = pid;
  }
  return g_pidfd;
}

// forget_pidfd drops the cached pidfd `fd` after the kernel said it is not a pidfd (EBADF: the
// application closed it); the next call opens a new one.
void forget_pidfd(int fd) noexcept {
  std::lock_guard<std::mutex> lock(g_pidfd_mu);
  if (g_pidfd == fd) g_pidfd = -1;
}

// advise_batch applies `advice` to the `n` ranges in `iov` with one process_madvise() call on this
// process and returns whether all of them were advised. The first call for each advice is the
// probe: if the kernel refuses (ENOSYS: no process_madvise or pidfd_open; EINVAL: advice not
// allowed through process_madvise; EPERM), `state` remembers it and later calls return false at
// once, so callers fall back to their per-range path.
bool advise_batch(std::atomic<int>& state, const iovec* iov, std::size_t n, int advice) noexcept {
  const int st = state.load(std::memory_order_relaxed);
  if (st == kBatchRefused) return false;
  std::size_t total = 0;
  for (std::size_t i = 0; i < n; ++i) total += iov[i].iov_len;
  const int fd = self_pidfd();
  long rc = -1;
  if (fd >= 0) rc = ::syscall(SYS_process_madvise, fd, iov, n, advice, 0u);
  if (rc >= 0 && static_cast<std::size_t>(rc) == total) {
    if (st != kBatchWorks) state.store(kBatchWorks, std::memory_order_relaxed);
    return true;
  }
  if (rc < 0) {
    const int err = errno;
    if (err == EBADF && fd >= 0) forget_pidfd(fd);
    if (st == kBatchUnknown && (err == ENOSYS || err == EINVAL || err == EPERM)) {
      state.store(kBatchRefused, std::memory_order_relaxed);
    }
  }
  return false;  // refused, or failed part-way (e.g. ENOMEM): the caller redoes it per range
}

// read_max_map_count returns vm.max_map_count, or -1 if it cannot be read.
long read_max_map_count() noexcept {
  std::FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r");
  if (f == nullptr) return -1;
  long v = -1;
  if (std::fscanf(f, "%ld", &v) != 1) v = -1;
  std::fclose(f);
  return v;
}

// Cache is one thread's lock-free stack cache: an array of stack limits used as a LIFO, and a batch
// of stacks going cold whose memory has not been returned yet (`trimming`, also a LIFO: acquire()
// takes them back before going to the depot). The counts are written only by the owner (relaxed
// load + store, no locked RMW) and read by stats() from any thread.
struct alignas(64) Cache {
  void** slots = nullptr;
  std::atomic<std::size_t> count{0};
  std::atomic<std::size_t> trimming_count{0};
  void* trimming[kTrimBatch] = {};
};

// Slab is one mmap holding `slots` guard+stack slots, the first `fresh_from` of which were handed
// out once. `guarded` says that every slot's guard was installed when the slab was mapped (batched
// MADV_GUARD_INSTALL); otherwise each guard is installed when its stack is first handed out.
struct Slab {
  char* base;
  std::size_t bytes;
  std::size_t slots;
  std::size_t fresh_from;
  bool guarded;
};

// bad_cache_index throws std::out_of_range for a cache index passed to StackPool::`fn`.
[[noreturn, gnu::noinline, gnu::cold]] void bad_cache_index(const char* fn) {
  throw std::out_of_range(std::string("spindle::fiber::StackPool::") + fn +
                          ": cache index out of range");
}

}  // namespace

// guard_mode_name returns "madv_guard_install" or "mprotect".
const char* guard_mode_name(GuardMode mode) noexcept {
  return mode == GuardMode::GuardInstall ? "madv_guard_install" : "mprotect";
}

struct StackPool::Impl {
  std::size_t stack_size;
  std::size_t guard_size;
  std::size_t slot_bytes;
  std::size_t stacks_per_slab;
  std::size_t pool_size;
  std::size_t num_caches;
  std::size_t cache_capacity;
  std::size_t batch;
  std::size_t depot_capacity;
  GuardMode mode;
  Cache* caches;

  // Everything below is guarded by `mu` (the atomics are also read by stats()).
  std::mutex mu;
  std::vector<void*> depot;  // warm stacks, at most depot_capacity
  std::vector<void*> cold;   // stacks whose pages were returned with MADV_DONTNEED
  std::vector<Slab> slabs;
  std::atomic<std::size_t> depot_count{0};
  std::atomic<std::size_t> cold_count{0};
  std::atomic<std::size_t> carved{0};  // slots ever handed out (in use + pooled + trimming + cold)
  std::atomic<std::size_t> reserved{0};
  std::atomic<std::size_t> mapped_bytes{0};

  // refill hands out a stack for cache `c` after its cache ran dry: from the depot (moving a batch
  // into the cache), else from the cold list, else a fresh slot.
  [[gnu::noinline]] void* refill(Cache& c) {
    std::lock_guard<std::mutex> lock(mu);
    if (!depot.empty()) {
      const std::size_t n = std::min(depot.size(), cache_capacity == 0 ? 1 : batch + 1);
      void* out = depot.back();
      depot.pop_back();
      std::size_t count = c.count.load(std::memory_order_relaxed);
      for (std::size_t i = 1; i < n; ++i) {
        c.slots[count++] = depot.back();
        depot.pop_back();
      }
      c.count.store(count, std::memory_order_relaxed);
      depot_count.store(depot.size(), std::memory_order_relaxed);
      return out;
    }
    if (!cold.empty()) {
      void* out = cold.back();
      cold.pop_back();
      cold_count.store(cold.size(), std::memory_order_relaxed);
      return out;
    }
    return fresh_locked();
  }

  // fresh_locked carves a never-used slot out of the newest slab (mapping a new slab if needed) and
  // installs its guard unless the slab's guards were installed in one batch. Throws
  // std::system_error when the kernel refuses.
  void* fresh_locked() {
    if (slabs.empty() || slabs.back().fresh_from == slabs.back().slots) map_slab_locked();
    Slab& s = slabs.back();
    char* guard = s.base + s.fresh_from * slot_bytes;
    if (!s.guarded) {
      int rc = mode == GuardMode::GuardInstall ? ::madvise(guard, guard_size, MADV_GUARD_INSTALL)
                                               : ::mprotect(guard, guard_size, PROT_NONE);
      if (rc != 0)
        fail(errno, mode == GuardMode::GuardInstall ? "madvise(MADV_GUARD_INSTALL)" : "mprotect");
    }
    ++s.fresh_from;
    carved.store(carved.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return guard + guard_size;
  }

  // map_slab_locked reserves one more slab and makes room in the depot/cold lists so that release()
  // never allocates.
  void map_slab_locked() {
    const std::size_t total = reserved.load(std::memory_order_relaxed) + stacks_per_slab;
    // Grow geometrically: exact reservations would copy the lists once per slab (quadratic in
    // stacks).
    if (cold.capacity() < total) cold.reserve(std::max(total, 2 * cold.capacity()));
    const std::size_t depot_need = std::min(total, depot_capacity);
    if (depot.capacity() < depot_need) {
      depot.reserve(std::min(depot_capacity, std::max(depot_need, 2 * depot.capacity())));
    }
    if (slabs.size() == slabs.capacity())
      slabs.reserve(std::max<std::size_t>(16, 2 * slabs.capacity()));
    const std::size_t bytes = stacks_per_slab * slot_bytes;
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) fail(errno, "mmap");
    char* base = static_cast<char*>(p);
    // One iovec per slot: its guard page (GuardInstall mode), then the top page of its stack.
    iovec iov[kMaxStacksPerSlab];
    bool guarded = false;
    if (mode == GuardMode::GuardInstall) {
      for (std::size_t i = 0; i < stacks_per_slab; ++i) {
        iov[i] = iovec{base + i * slot_bytes, guard_size};
      }
      guarded = advise_batch(g_batch_guard, iov, stacks_per_slab, MADV_GUARD_INSTALL);
    }
    // Pre-fault the page just below each stack's top (the context frame and the fiber's first
    // frames live there) so that starting a fiber on a fresh stack takes no page fault: one call
    // for the slab instead of one fault per stack. At most (stacks_per_slab - 1) pages of RSS go
    // to stacks not handed out yet. Best effort: on failure each fiber faults its page in itself
    // (per-stack madvise(MADV_POPULATE_WRITE) is slower than that fault, so there is no fallback).
    const std::size_t page = page_size();
    for (std::size_t i = 0; i < stacks_per_slab; ++i) {
      iov[i] = iovec{base + (i + 1) * slot_bytes - page, page};
    }
    advise_batch(g_batch_populate, iov, stacks_per_slab, MADV_POPULATE_WRITE);
    slabs.push_back(Slab{base, bytes, stacks_per_slab, 0, guarded});
    reserved.store(total, std::memory_order_relaxed);
    mapped_bytes.store(mapped_bytes.load(std::memory_order_relaxed) + bytes,
                       std::memory_order_relaxed);
  }

  // pooled returns the number of warm stacks (caches + depot).
  std::size_t pooled() const noexcept {
    std::size_t n = depot_count.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < num_caches; ++i)
      n += caches[i].count.load(std::memory_order_relaxed);
    return n;
  }

  // trimming returns the number of stacks waiting in the caches' batches to go cold.
  std::size_t trimming() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < num_caches; ++i)
      n += caches[i].trimming_count.load(std::memory_order_relaxed);
    return n;
  }

  // in_use returns the number of stacks handed out: every carved slot that is neither warm, nor
  // waiting to go cold, nor cold. The hot path keeps no counter of its own; a snapshot racing with
  // other caches may be briefly off.
  std::size_t in_use() const noexcept {
    const std::size_t idle = pooled() + trimming() + cold_count.load(std::memory_order_relaxed);
    const std::size_t all = carved.load(std::memory_order_relaxed);
    return all > idle ? all - idle : 0;
  }

  // fail throws std::system_error for a failed `what` call with errno `err`.
  [[noreturn]] void fail(int err, const char* what) const {
    std::string msg =
        "spindle: cannot reserve a fiber stack of " + std::to_string(stack_size) +
        " bytes: " + what + " failed with " + std::to_string(in_use()) + " stacks in use (" +
        std::to_string(reserved.load(std::memory_order_relaxed)) + " reserved, guards via " +
        guard_mode_name(mode) + ", vm.max_map_count = " + std::to_string(read_max_map_count()) +
        "); raise vm.max_map_count (sysctl) or use fewer or smaller stacks";
    throw std::system_error(err, std::generic_category(), msg);
  }

  // release_slow gives `p` back when cache `c` is full: moves a batch of the cache's oldest stacks
  // to the depot, and if the depot is full too, adds the stack to the cache's batch of stacks going
  // cold (returning the memory of the whole batch once it is full).
  [[gnu::noinline]] void release_slow(Cache& c, void* p) noexcept {
    {
      std::lock_guard<std::mutex> lock(mu);
      const std::size_t room = depot_capacity - depot.size();
      if (cache_capacity == 0) {
        if (room > 0) {
          depot.push_back(p);
          depot_count.store(depot.size(), std::memory_order_relaxed);
          return;
        }
      } else if (room > 0) {
        const std::size_t n = std::min(room, batch);
        std::size_t count = c.count.load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < n; ++i) depot.push_back(c.slots[i]);
        std::memmove(c.slots, c.slots + n, (count - n) * sizeof(void*));
        count -= n;
        c.slots[count++] = p;
        c.count.store(count, std::memory_order_relaxed);
        depot_count.store(depot.size(), std::memory_order_relaxed);
        return;
      }
    }
    const std::size_t n = c.trimming_count.load(std::memory_order_relaxed);
    c.trimming[n] = p;
    c.trimming_count.store(n + 1, std::memory_order_relaxed);
    if (n + 1 == kTrimBatch) trim(c);
  }

  // trim returns the memory of the stacks in cache `c`'s batch to the OS, with one
  // process_madvise(MADV_DONTNEED) call (per stack madvise if the kernel refuses that), and files
  // them as cold. Only the usable range is dropped: the guard below is untouched, so it stays
  // installed (a guard marker or a PROT_NONE page) and a reused cold stack needs no syscall.
  [[gnu::noinline]] void trim(Cache& c) noexcept {
    const std::size_t n = c.trimming_count.load(std::memory_order_relaxed);
    if (n == 0) return;
    iovec iov[kTrimBatch];
    for (std::size_t i = 0; i < n; ++i) iov[i] = iovec{c.trimming[i], stack_size};
    if (!advise_batch(g_batch_dontneed, iov, n, MADV_DONTNEED)) {
      for (std::size_t i = 0; i < n; ++i) ::madvise(c.trimming[i], stack_size, MADV_DONTNEED);
    }
    std::lock_guard<std::mutex> lock(mu);
    // Capacity reserved in map_slab_locked: never allocates.
    cold.insert(cold.end(), c.trimming, c.trimming + n);
    cold_count.store(cold.size(), std::memory_order_relaxed);
    c.trimming_count.store(0, std::memory_order_relaxed);
  }
};

StackPool::StackPool(std::size_t stack_size, std::size_t pool_size, std::size_t num_caches) {
  if (stack_size < kMinStackSize || stack_size > kMaxStackSize) {
    throw std::invalid_argument(
        "spindle::fiber::StackPool: stack_size " + std::to_string(stack_size) + " is outside [" +
        std::to_string(kMinStackSize) + ", " + std::to_string(kMaxStackSize) + "]");
  }
  if (num_caches == 0) {
    throw std::invalid_argument("spindle::fiber::StackPool: num_caches must be at least 1");
  }
  const std::size_t page = page_size();
  auto impl = std::make_unique<Impl>();
  impl->stack_size = (stack_size + page - 1) / page * page;
  impl->guard_size = page;
  impl->slot_bytes = impl->stack_size + impl->guard_size;
  impl->stacks_per_slab =
      std::clamp<std::size_t>(kMaxSlabBytes / impl->slot_bytes, 1, kMaxStacksPerSlab);
  impl->pool_size = pool_size;
  impl->num_caches = num_caches;
  std::size_t cap = 0;
  if (pool_size > 0) {
    cap = std::max<std::size_t>(1, pool_size / num_caches / 2);
    if (cap > pool_size / num_caches) cap = pool_size / num_caches;  // caches alone must fit
    cap = std::min(cap, kMaxCacheCapacity);
  }
  impl->cache_capacity = cap;
  impl->batch = std::max<std::size_t>(1, cap / 2);
  impl->depot_capacity = pool_size - num_caches * cap;
  impl->mode = process_guard_mode();
  auto caches = std::make_unique<Cache[]>(num_caches);
  std::vector<std::unique_ptr<void*[]>> slots(num_caches);
  for (std::size_t i = 0; i < num_caches && cap > 0; ++i) slots[i] = std::make_unique<void*[]>(cap);
  for (std::size_t i = 0; i < num_caches; ++i) caches[i].slots = slots[i].release();
  impl->caches = caches.release();
  impl_ = impl.release();
}

StackPool::~StackPool() {
  // Stacks still waiting in a batch to go cold are not advised first: munmap returns their memory.
  for (const Slab& s : impl_->slabs) ::munmap(s.base, s.bytes);
  for (std::size_t i = 0; i < impl_->num_caches; ++i) delete[] impl_->caches[i].slots;
  delete[] impl_->caches;
  delete impl_;
}

Stack StackPool::acquire(std::size_t cache) {
  Impl& im = *impl_;
  if (cache >= im.num_caches) [[unlikely]]
    bad_cache_index("acquire");
  Cache& c = im.caches[cache];
  std::size_t count = c.count.load(std::memory_order_relaxed);
  void* p;
  if (count > 0) [[likely]] {
    p = c.slots[count - 1];
    c.count.store(count - 1, std::memory_order_relaxed);
  } else if (const std::size_t t = c.trimming_count.load(std::memory_order_relaxed); t > 0) {
    // A stack waiting to go cold is still warm: taking it back saves the depot mutex, the
    // madvise and the page faults.
    p = c.trimming[t - 1];
    c.trimming_count.store(t - 1, std::memory_order_relaxed);
  } else {
    p = im.refill(c);
  }
  return Stack{p, im.stack_size};
}

void StackPool::release(std::size_t cache, Stack stack) noexcept {
  Impl& im = *impl_;
  if (!stack) return;
  if (cache >= im.num_caches) [[unlikely]] {
    std::fputs("spindle::fiber::StackPool::release: cache index out of range\n", stderr);
    std::abort();
  }
  // A fiber that died mid-call leaves ASan poison on its frames; the next fiber must start clean.
  ASAN_UNPOISON_MEMORY_REGION(stack.limit, im.stack_size);
  Cache& c = im.caches[cache];
  std::size_t count = c.count.load(std::memory_order_relaxed);
  if (count < im.cache_capacity) [[likely]] {
    c.slots[count] = stack.limit;
    c.count.store(count + 1, std::memory_order_relaxed);
    return;
  }
  im.release_slow(c, stack.limit);
}

void StackPool::trim(std::size_t cache) noexcept {
  Impl& im = *impl_;
  if (cache >= im.num_caches) [[unlikely]] {
    std::fputs("spindle::fiber::StackPool::trim: cache index out of range\n", stderr);
    std::abort();
  }
  im.trim(im.caches[cache]);
}

std::size_t StackPool::stack_size() const noexcept {
  return impl_->stack_size;
}

std::size_t StackPool::guard_size() const noexcept {
  return impl_->guard_size;
}

GuardMode StackPool::guard_mode() const noexcept {
  return impl_->mode;
}

StackPoolStats StackPool::stats() const noexcept {
  const Impl& im = *impl_;
  StackPoolStats s;
  s.in_use = im.in_use();
  s.pooled = im.pooled();
  s.trimming = im.trimming();
  s.reserved = im.reserved.load(std::memory_order_relaxed);
  s.mapped_bytes = im.mapped_bytes.load(std::memory_order_relaxed);
  s.guard_mode = im.mode;
  return s;
}

}  // namespace spindle::fiber
