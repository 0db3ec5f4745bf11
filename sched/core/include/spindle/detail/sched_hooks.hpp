// spindle/detail/sched_hooks.hpp: the seam between the scheduler core (sched/core) and the
// libraries built on it (sched/sync, sched/io). Not API.
//
// The libraries never include the core's private headers (sched/core/detail/*, where Worker and
// RuntimeImpl live): their CMake targets do not have that directory on their include path, so a
// sync or io source that tries fails to build. Everything they need from the scheduler is here:
// parking and waking go through detail/wait.hpp (Waiter, wait_block, wait_signal); the rest is
// this file. Each function says what it reads; none blocks unless it says so.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "spindle/config.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {
class AsyncRuntime;
}

namespace spindle::detail {

class SPINDLE_INTERNAL RuntimeImpl;

// ---- The calling context ---------------------------------------------------------------------

// current_runtime (declared in detail/task_base.hpp) returns the runtime of the calling fiber, or
// nullptr on a plain thread.
RuntimeImpl* current_runtime() noexcept;
// runtime_impl_of (runtime.hpp) returns an AsyncRuntime's internals.
RuntimeImpl* runtime_impl_of(AsyncRuntime& rt) noexcept;
// runtime_config returns the validated configuration `rt` runs with.
const AsyncRuntimeConfig& runtime_config(const RuntimeImpl* rt) noexcept;
// worker_count returns how many worker threads `rt` has.
std::uint32_t worker_count(const RuntimeImpl* rt) noexcept;

// ---- Spinning ----------------------------------------------------------------------------------

// pause_cpu is the one spin-wait hint (x86 pause, arm yield), for every spin loop in the tree. (Not
// named cpu_relax: Boost.Fiber defines a cpu_relax() macro, and users may include both.)
inline void pause_cpu() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

// spin_may_help is the one rule for spinning before parking (Mutex, SharedMutex): only with more
// than one CPU (the process's affinity-aware count), and in a fiber only when its runtime has more
// than one worker (the holder may run on another) and its worker has no other ready fiber (parking
// lets those run at once, where spinning only bounces the lock's cache line; Go's rule too). A
// plain thread may spin whenever there is more than one CPU.
bool spin_may_help() noexcept;

// ---- Randomness --------------------------------------------------------------------------------

// fiber_random returns 32 random bits from the calling fiber's own generator, seeded on first use
// from the runtime's schedule_seed and the task id (so a seed and a spawn order reproduce the same
// choices whichever worker runs the fiber); on a plain thread, from a per-thread generator. For
// select's case order; not for security.
std::uint32_t fiber_random() noexcept;

// ---- Lifecycle (run_main) ----------------------------------------------------------------------

// runtime_wait_cleanup waits (blocking the calling thread) until no cleanup task of `rt` is alive
// or `timeout` passed; returns whether none is.
bool runtime_wait_cleanup(RuntimeImpl* rt, std::chrono::nanoseconds timeout);
// runtime_cancel_cleanup cancels the token every cleanup task is bound to.
void runtime_cancel_cleanup(RuntimeImpl* rt) noexcept;
// runtime_stop_within begins shutdown and waits (blocking the calling thread) up to `timeout` for
// every task to end (cancelling none); returns whether they all did, after listing the live ones on
// stderr when not. Throws std::logic_error from one of rt's fibers.
bool runtime_stop_within(RuntimeImpl* rt, std::chrono::nanoseconds timeout);
// runtime_live_tasks returns how many tasks of `rt` have not finished.
std::uint64_t runtime_live_tasks(const RuntimeImpl* rt) noexcept;

// ---- Logging -----------------------------------------------------------------------------------

// runtime_debug says whether `rt` runs with AsyncRuntimeConfig::debug (log_debug then writes).
bool runtime_debug(const RuntimeImpl* rt) noexcept;
// log_debug writes one formatted line to stderr when `rt` runs with debug = true.
void log_debug(const RuntimeImpl* rt, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// ---- The idle driver (io/) ---------------------------------------------------------------------

// Driver is what one idle worker sleeps in instead of its Parker while handles are registered: the
// I/O reactor. The worker loop (sched/core/idle.cpp) calls it; sched/io implements it (IoDriver)
// and installs it on a runtime the first time a handle is registered there (as Go initializes its
// netpoller on first use), so a runtime that does no I/O has no reactor.
class Driver {
 public:
  virtual ~Driver() = default;
  // registered says whether any handle is registered (workers skip the driver otherwise).
  bool registered() const noexcept { return registered_.load(std::memory_order_acquire) != 0; }
  // registered_count returns how many handles are registered (for RuntimeStats::io_handles).
  std::uint64_t registered_count() const noexcept {
    return registered_.load(std::memory_order_acquire);
  }
  // try_poll_nonblocking polls without blocking unless another worker holds the driver role,
  // making the fibers of ready handles ready on the calling worker. Returns how many it woke.
  virtual std::size_t try_poll_nonblocking() = 0;
  // try_acquire_blocking takes the role of the one idle worker that sleeps in the driver; false if
  // another holds it.
  virtual bool try_acquire_blocking() noexcept = 0;
  // poll_blocking (role held) waits up to timeout_ns (-1: forever) for readiness or wake(), wakes
  // the fibers of ready handles on the calling worker, releases the role; returns how many it
  // woke.
  virtual std::size_t poll_blocking(std::int64_t timeout_ns) = 0;
  // release_blocking gives the role back without polling (work turned up).
  virtual void release_blocking() noexcept = 0;
  // wake interrupts a poll_blocking in progress (any thread, never blocks).
  virtual void wake() noexcept = 0;

 protected:
  std::atomic<std::uint64_t> registered_{0};  // registered handles (maintained by the subclass)
};

// runtime_driver returns `rt`'s driver, or nullptr if none was installed yet.
Driver* runtime_driver(const RuntimeImpl* rt) noexcept;
// install_driver returns `rt`'s driver, creating it with `make(rt)` first if there is none (once;
// concurrent callers get the same driver). Throws what `make` throws (nothing is installed then).
Driver& install_driver(RuntimeImpl* rt, std::unique_ptr<Driver> (*make)(RuntimeImpl*));

}  // namespace spindle::detail

SPINDLE_API_END
