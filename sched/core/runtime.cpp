// AsyncRuntime: configuration checks, start, shutdown and statistics.
#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "detail/runtime_impl.hpp"
#include "spindle/runtime.hpp"
#include "spindle/sys.h"

namespace spindle {

namespace detail {

namespace {

template <class T>
[[noreturn]] void bad_field(const char* field, const T& value, const std::string& allowed) {
  std::ostringstream msg;
  msg << "spindle::AsyncRuntimeConfig::" << field << " = " << value << " is invalid: " << allowed;
  throw std::invalid_argument(msg.str());
}

// validate_embedding checks the embedding hooks (thread names, CPU pinning) of a config whose
// worker_threads is already resolved.
void validate_embedding(const AsyncRuntimeConfig& cfg) {
  constexpr std::size_t kMaxThreadName = 15;  // Linux: 16 bytes with the terminating NUL
  if (!cfg.thread_name_prefix.empty() && cfg.worker_threads > 0) {
    const std::string longest = cfg.thread_name_prefix + std::to_string(cfg.worker_threads - 1);
    if (longest.size() > kMaxThreadName) {
      bad_field("thread_name_prefix", "\"" + cfg.thread_name_prefix + "\"",
                "the name of worker " + std::to_string(cfg.worker_threads - 1) + ", \"" + longest +
                    "\", is " + std::to_string(longest.size()) +
                    " bytes; the limit is 15 bytes (Linux thread names)");
    }
  }
  if (cfg.worker_cpus.empty()) return;
  std::vector<int> allowed(1024);
  const std::uint32_t n = spindle_sys_affinity_cpus(allowed.data(), 1024);
  allowed.resize(std::min<std::uint32_t>(n, 1024));
  std::string list = "[";
  for (std::size_t i = 0; i < cfg.worker_cpus.size(); ++i) {
    list += (i != 0 ? ", " : "") + std::to_string(cfg.worker_cpus[i]);
  }
  list += "]";
  std::string set = "{";
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    set += (i != 0 ? ", " : "") + std::to_string(allowed[i]);
  }
  set += "}";
  for (int cpu : cfg.worker_cpus) {
    if (std::find(allowed.begin(), allowed.end(), cpu) == allowed.end()) {
      bad_field(
          "worker_cpus", list,
          "CPU " + std::to_string(cpu) +
              " is not in the process's affinity mask (sched_getaffinity); allowed CPUs are " +
              set);
    }
  }
}

AsyncRuntimeConfig validate(AsyncRuntimeConfig cfg) {
  constexpr std::uint32_t kMaxWorkers = 1024;
  constexpr std::uint32_t kMaxQueue = 1u << 20;
  constexpr std::size_t kMaxPool = std::size_t{1} << 20;
  if (cfg.worker_threads > kMaxWorkers) {
    bad_field("worker_threads", cfg.worker_threads, "allowed range is 0 (one per CPU) to 1024");
  }
  if (cfg.queue_capacity < 2 || cfg.queue_capacity > kMaxQueue ||
      (cfg.queue_capacity & (cfg.queue_capacity - 1)) != 0) {
    bad_field("queue_capacity", cfg.queue_capacity,
              "must be a power of two in the range 2 to 1048576");
  }
  if (cfg.max_stack_size < fiber::StackPool::kMinStackSize ||
      cfg.max_stack_size > fiber::StackPool::kMaxStackSize) {
    bad_field("max_stack_size", cfg.max_stack_size,
              "allowed range is 16384 (16 KiB) to 1073741824 (1 GiB) bytes");
  }
  if (cfg.stack_pool_size > kMaxPool) {
    bad_field("stack_pool_size", cfg.stack_pool_size, "allowed range is 0 to 1048576 stacks");
  }
  if (cfg.poll_interval < std::chrono::microseconds(10) ||
      cfg.poll_interval > std::chrono::seconds(1)) {
    bad_field("poll_interval", std::to_string(cfg.poll_interval.count()) + "ns",
              "allowed range is 10us to 1s");
  }
  if (cfg.cleanup_timeout < std::chrono::nanoseconds(0) ||
      cfg.cleanup_timeout > std::chrono::hours(1)) {
    bad_field("cleanup_timeout", std::to_string(cfg.cleanup_timeout.count()) + "ns",
              "allowed range is 0 to 1h");
  }
  if (cfg.drain_timeout < std::chrono::nanoseconds(0) ||
      cfg.drain_timeout > std::chrono::hours(1)) {
    bad_field("drain_timeout", std::to_string(cfg.drain_timeout.count()) + "ns",
              "allowed range is 0 to 1h");
  }
  if (cfg.shutdown_timeout < std::chrono::nanoseconds(0) ||
      cfg.shutdown_timeout > std::chrono::hours(1)) {
    bad_field("shutdown_timeout", std::to_string(cfg.shutdown_timeout.count()) + "ns",
              "allowed range is 0 to 1h");
  }
  if (static_cast<unsigned>(cfg.reactor) > static_cast<unsigned>(ReactorBackend::Libuv)) {
    bad_field("reactor", static_cast<unsigned>(cfg.reactor),
              "must be ReactorBackend::Auto, Epoll or Libuv");
  }
  if (static_cast<unsigned>(cfg.flavor) > static_cast<unsigned>(RuntimeFlavor::CurrentThread)) {
    bad_field("flavor", static_cast<unsigned>(cfg.flavor),
              "must be RuntimeFlavor::MultiThread or CurrentThread");
  }
  if (cfg.flavor == RuntimeFlavor::CurrentThread) {
    if (cfg.worker_threads > 1) {
      bad_field("worker_threads", cfg.worker_threads,
                "must be 0 or 1 with RuntimeFlavor::CurrentThread (it has no worker threads)");
    }
    if (!cfg.worker_cpus.empty()) {
      bad_field("worker_cpus", "[...]",
                "must be empty with RuntimeFlavor::CurrentThread (it has no worker threads)");
    }
    cfg.worker_threads = 1;
  }
  if (cfg.worker_threads == 0) cfg.worker_threads = std::min(spindle_sys_cpu_count(), kMaxWorkers);
  validate_embedding(cfg);
  return cfg;
}

}  // namespace

RuntimeImpl::RuntimeImpl(const AsyncRuntimeConfig& config)
    : cfg(validate(config)),
      debug(cfg.debug),
      current_thread(cfg.flavor == RuntimeFlavor::CurrentThread),
      stacks(cfg.max_stack_size, cfg.stack_pool_size, cfg.worker_threads),
      registry(cfg.worker_threads + 1) {
  epoch_ns = spindle_sys_monotonic_time_ns();
  fiber::install_overflow_handler();
  workers.reserve(cfg.worker_threads);
  for (std::uint32_t i = 0; i < cfg.worker_threads; ++i) {
    workers.push_back(std::make_unique<Worker>(this, i, cfg.queue_capacity));
  }
  idle.sleepers.reserve(cfg.worker_threads);
  if (current_thread) {
    // No thread of its own to wait for in abandon(): its one worker runs only inside a driver.
    workers[0]->exited = true;
    exited_workers = 1;
  }
}

RuntimeImpl::~RuntimeImpl() {
  shutdown();
  // Every task has ended, but a thread outside the workers that woke the last of them may still be
  // waking a worker (schedule); the window is a few instructions long.
  while (external_wakers.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

bool RuntimeImpl::wait_cleanup(std::chrono::nanoseconds timeout) {
  std::unique_lock<std::mutex> g(cleanup_mu);
  return cleanup_cv.wait_for(g, timeout, [this] { return cleanup_live == 0; });
}

void RuntimeImpl::start() {
  if (debug) {
    log_debug(this, "start: %u workers, stack %zu bytes (%s guards), allocator %s",
              cfg.worker_threads, stacks.stack_size(), fiber::guard_mode_name(stacks.guard_mode()),
              cb_allocator_name());
  }
  if (current_thread) return;  // fibers run on the threads that drive it (current_thread.cpp)
  std::size_t started = 0;
  try {
    for (auto& w : workers) {
      Worker* wp = w.get();
      w->thread = std::thread([wp] { wp->run(); });
      ++started;
    }
  } catch (...) {
    // Stop the ones that started, then report.
    {
      std::lock_guard<std::mutex> g(lifecycle_mu);
      state.store(kStopped, std::memory_order_seq_cst);
      exit.store(true, std::memory_order_release);
    }
    for (std::size_t i = 0; i < started; ++i) {
      workers[i]->wake_thread();
      workers[i]->thread.join();
    }
    throw;
  }
}

std::uint64_t RuntimeImpl::live_tasks() const noexcept {
  // Finished counts first: a task's spawn is counted before it can finish, so reading the finished
  // counters first (acquire) and the spawned ones after never sees a finish without its spawn.
  std::uint64_t finished = 0;
  for (auto& w : workers) {
    finished +=
        w->counters.completed.read() + w->counters.cancelled.read() + w->counters.failed.read();
  }
  std::uint64_t spawned = ext_spawned.load(std::memory_order_seq_cst);
  for (auto& w : workers) spawned += w->counters.spawned.read();
  return spawned > finished ? spawned - finished : 0;
}

RuntimeStats RuntimeImpl::stats() const {
  RuntimeStats s;
  s.worker_threads = cfg.worker_threads;
  s.workers.resize(workers.size());
  // Finished counters first (see live_tasks), then spawned, so that active_tasks never goes
  // negative.
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const WorkerCounters& c = workers[i]->counters;
    WorkerStats& ws = s.workers[i];
    ws.completed_tasks = c.completed.read();
    ws.cancelled_tasks = c.cancelled.read();
    ws.failed_tasks = c.failed.read();
  }
  std::uint64_t ext = ext_spawned.load(std::memory_order_seq_cst);
  std::uint64_t queued = global.size();
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const Worker& w = *workers[i];
    const WorkerCounters& c = w.counters;
    WorkerStats& ws = s.workers[i];
    ws.spawned_tasks = c.spawned.read();
    ws.steals = c.steals.read();
    ws.stolen_tasks = c.stolen.read();
    ws.parks = c.parks.read();
    ws.context_switches = c.switches.read();
    ws.timers_fired = c.timers_fired.read();
    ws.global_pops = c.global_pops.read();
    ws.overflows = c.overflows.read();
    for (const auto& q : w.queues) ws.queued_tasks += q.size();
    queued += ws.queued_tasks;
    s.spawned_tasks += ws.spawned_tasks;
    s.completed_tasks += ws.completed_tasks;
    s.cancelled_tasks += ws.cancelled_tasks;
    s.failed_tasks += ws.failed_tasks;
    s.steals += ws.steals;
    s.stolen_tasks += ws.stolen_tasks;
    s.parks += ws.parks;
    s.context_switches += ws.context_switches;
    s.timers_fired += ws.timers_fired;
  }
  s.spawned_tasks += ext;
  const std::uint64_t finished = s.completed_tasks + s.cancelled_tasks + s.failed_tasks;
  s.active_tasks = s.spawned_tasks > finished ? s.spawned_tasks - finished : 0;
  s.queued_tasks = std::min(queued, s.active_tasks);
  const fiber::StackPoolStats ps = stacks.stats();
  s.stacks_pooled = ps.pooled;
  s.stacks_allocated = ps.in_use;
  s.stacks_reserved = ps.reserved;
  s.stack_guard_mode = fiber::guard_mode_name(ps.guard_mode);
  s.allocator = cb_allocator_name();
  fill_metrics(s);  // metrics.cpp
  return s;
}

}  // namespace detail

detail::RuntimeImpl* detail::runtime_impl_of(AsyncRuntime& rt) noexcept {
  return rt.impl_;
}

AsyncRuntime::AsyncRuntime(const AsyncRuntimeConfig& config)
    : impl_(new detail::RuntimeImpl(config)) {
  try {
    impl_->start();
  } catch (...) {
    delete impl_;
    throw;
  }
}

AsyncRuntime::~AsyncRuntime() {
  // When fibers had to be abandoned (reported on stderr), they may still reference the runtime:
  // it is leaked with them.
  if (impl_->destroy()) delete impl_;
}

RuntimeStats AsyncRuntime::stats() const {
  return impl_->stats();
}

void AsyncRuntime::shutdown() {
  impl_->shutdown();
}

bool AsyncRuntime::shutdown(std::chrono::nanoseconds timeout) {
  if (timeout < std::chrono::nanoseconds::zero()) {
    throw std::invalid_argument(
        "spindle::AsyncRuntime::shutdown: timeout = " + std::to_string(timeout.count()) +
        "ns is invalid: must be 0 or more");
  }
  return impl_->shutdown_within(timeout);
}

std::vector<FiberInfo> AsyncRuntime::fibers(std::size_t limit) const {
  std::vector<FiberInfo> out;
  for (detail::TaskSnapshot& s : impl_->registry.snapshot(limit)) {
    FiberInfo f;
    f.id = TaskId{s.id};
    f.name = s.name;
    f.state = s.state;
    f.priority = s.priority;
    out.push_back(std::move(f));
  }
  return out;
}

const AsyncRuntimeConfig& AsyncRuntime::config() const noexcept {
  return impl_->cfg;
}

void AsyncRuntime::check_block_on() const {
  if (detail::current_runtime() != nullptr) {
    throw std::logic_error(
        "spindle::AsyncRuntime::block_on called from inside a fiber: it would block a worker "
        "thread; "
        "use spawn(...).join() instead");
  }
}

}  // namespace spindle
