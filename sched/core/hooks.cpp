// The seam the libraries (sched/sync, sched/io) use into the scheduler:
// spindle/detail/sched_hooks.hpp.
#include "spindle/detail/sched_hooks.hpp"

#include <cstdarg>
#include <cstdio>

#include "detail/random.hpp"
#include "detail/runtime_impl.hpp"
#include "spindle/sys.h"

namespace spindle::detail {

const AsyncRuntimeConfig& runtime_config(const RuntimeImpl* rt) noexcept {
  return rt->cfg;
}

std::uint32_t worker_count(const RuntimeImpl* rt) noexcept {
  return static_cast<std::uint32_t>(rt->workers.size());
}

bool spin_may_help() noexcept {
  // The affinity-aware CPU count, read once per thread (it changes only with the affinity mask).
  thread_local const bool multi_cpu = spindle_sys_cpu_count() > 1;
  if (!multi_cpu) return false;
  Worker* w = current_worker();
  if (w == nullptr || w->current == nullptr) return true;
  return w->rt->workers.size() > 1 && !w->has_local_ready();
}

// Out of line on purpose: the current worker and the thread_local must be looked up afresh on
// every call, because a fiber may resume on another thread (docs/architecture.md).
std::uint32_t fiber_random() noexcept {
  Worker* w = current_worker();
  TaskCore* t = w != nullptr ? w->current : nullptr;
  if (t != nullptr) {
    if (!t->select_rng_seeded) {
      const std::uint64_t seed = w->rt->cfg.schedule_seed;
      t->select_rng =
          (seed != 0 ? seed : kDefaultScheduleSeed) ^ (t->dbg.id * 0xD1B54A32D192ED03ull);
      t->select_rng_seeded = true;
    }
    return static_cast<std::uint32_t>(splitmix(t->select_rng) >> 32);
  }
  static std::atomic<std::uint32_t> seeds{0x9e3779b9u};
  thread_local std::uint32_t state = 0;
  std::uint32_t x = state;
  if (x == 0) x = seeds.fetch_add(0x9e3779b9u, std::memory_order_relaxed) | 1u;
  // xorshift32
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  state = x;
  return x;
}

bool runtime_wait_cleanup(RuntimeImpl* rt, std::chrono::nanoseconds timeout) {
  return rt->wait_cleanup(timeout);
}

void runtime_cancel_cleanup(RuntimeImpl* rt) noexcept {
  rt->cleanup_token.cancel();
}

bool runtime_stop_within(RuntimeImpl* rt, std::chrono::nanoseconds timeout) {
  return rt->stop_within(timeout);
}

std::uint64_t runtime_live_tasks(const RuntimeImpl* rt) noexcept {
  return rt->live_tasks();
}

bool runtime_debug(const RuntimeImpl* rt) noexcept {
  return rt != nullptr && rt->debug;
}

void log_debug(const RuntimeImpl* rt, const char* fmt, ...) {
  if (rt == nullptr || !rt->debug) return;
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "spindle[%p] %s\n", static_cast<const void*>(rt), line);
}

Driver* runtime_driver(const RuntimeImpl* rt) noexcept {
  return rt->driver.load(std::memory_order_acquire);
}

Driver& install_driver(RuntimeImpl* rt, std::unique_ptr<Driver> (*make)(RuntimeImpl*)) {
  if (Driver* d = rt->driver.load(std::memory_order_acquire)) return *d;
  std::lock_guard<std::mutex> g(rt->driver_mu);
  if (Driver* d = rt->driver.load(std::memory_order_relaxed)) return *d;
  rt->driver_owner = make(rt);
  rt->driver.store(rt->driver_owner.get(), std::memory_order_release);
  return *rt->driver_owner;
}

}  // namespace spindle::detail
