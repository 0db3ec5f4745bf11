// Shutting a runtime down: graceful (shutdown()), bounded (shutdown(timeout): cancel all, wait,
// report), the destructor's (drain, cancel, report, abandon). docs/scheduler.md, "Shutdown".
#include <algorithm>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include "detail/runtime_impl.hpp"

namespace spindle::detail {

namespace {
// kReportLimit is how many live tasks a report lists by name.
constexpr std::size_t kReportLimit = 32;
// kAbandonGrace is the least time abandon() gives the workers to notice `exit`.
constexpr std::chrono::milliseconds kAbandonGrace{100};

long long ms_of(std::chrono::nanoseconds d) {
  return static_cast<long long>(d.count() / 1'000'000);
}
}  // namespace

void RuntimeImpl::begin_shutdown(const char* who) {
  Worker* w = current_worker();
  if (w != nullptr && w->rt == this) {
    throw std::logic_error(std::string("spindle::AsyncRuntime::") + who +
                           " called from one of its own fibers");
  }
  {
    std::lock_guard<std::mutex> g(lifecycle_mu);
    int expected = kRunning;
    state.compare_exchange_strong(expected, kShuttingDown, std::memory_order_seq_cst);
  }
  for (auto& wk : workers) wk->wake_thread();  // idle ones re-check live_tasks()
}

bool RuntimeImpl::wait_stopped(std::chrono::nanoseconds timeout) {
  if (current_thread) return drive_until_stopped(timeout);
  std::unique_lock<std::mutex> g(lifecycle_mu);
  auto stopped = [this] { return state.load(std::memory_order_seq_cst) == kStopped; };
  if (timeout == std::chrono::nanoseconds::max()) {
    stopped_cv.wait(g, stopped);
    return true;
  }
  return stopped_cv.wait_for(g, timeout, stopped);
}

void RuntimeImpl::join_workers() {
  std::call_once(joined_, [this] {
    for (auto& wk : workers) {
      if (wk->thread.joinable()) wk->thread.join();
    }
    if (debug) log_debug(this, "shutdown: done");
  });
}

void RuntimeImpl::cancel_all() {
  std::vector<TaskCore*> live = registry.collect(/*close=*/true);
  if (debug) log_debug(this, "shutdown: cancelling %zu tasks", live.size());
  for (TaskCore* t : live) {
    cancel_core(t);
    task_unref(t);
  }
}

void RuntimeImpl::report_alive(const char* who, std::chrono::nanoseconds waited,
                               const char* what_next) const {
  std::size_t total = 0;
  std::vector<TaskSnapshot> live;
  try {
    live = registry.snapshot(kReportLimit, &total);
  } catch (const std::bad_alloc&) {
    total = registry.size();
  }
  // One buffer, one write: reports of two runtimes do not interleave line by line.
  std::string msg = "spindle: " + std::string(who) + ": " + std::to_string(total) +
                    " fiber(s) still alive after " + std::to_string(ms_of(waited)) + " ms; " +
                    what_next + "\n";
  for (const TaskSnapshot& s : live) {
    msg += "  task " + std::to_string(s.id);
    if (s.name[0] != '\0') msg += " \"" + std::string(s.name) + "\"";
    msg += std::string(" ") + to_string(s.state) + " (priority " + to_string(s.priority) + ")\n";
  }
  if (total > live.size()) msg += "  ... and " + std::to_string(total - live.size()) + " more\n";
  std::fwrite(msg.data(), 1, msg.size(), stderr);
  std::fflush(stderr);
}

void RuntimeImpl::shutdown() {
  begin_shutdown("shutdown");
  if (debug) log_debug(this, "shutdown: waiting for %llu tasks", (unsigned long long)live_tasks());
  if (!wait_stopped(cfg.shutdown_timeout)) {
    report_alive("AsyncRuntime::shutdown()", cfg.shutdown_timeout,
                 "still waiting for them to end (shutdown(timeout) cancels them)");
    wait_stopped(std::chrono::nanoseconds::max());
  }
  join_workers();
}

bool RuntimeImpl::shutdown_within(std::chrono::nanoseconds timeout) {
  begin_shutdown("shutdown(timeout)");
  cancel_all();
  if (!wait_stopped(timeout)) {
    report_alive("AsyncRuntime::shutdown(timeout)", timeout,
                 "they were cancelled and keep running");
    return false;
  }
  join_workers();
  return true;
}

bool RuntimeImpl::stop_within(std::chrono::nanoseconds timeout) {
  begin_shutdown("run_main");
  if (wait_stopped(timeout)) return true;
  report_alive("run_main", timeout, "shutdown_timeout passed");
  return false;
}

bool RuntimeImpl::destroy() noexcept {
  Worker* w = current_worker();
  if (w != nullptr && w->rt == this) {
    std::fputs("spindle: ~AsyncRuntime called from one of its own fibers\n", stderr);
    std::terminate();
  }
  begin_shutdown("~AsyncRuntime");
  if (wait_stopped(cfg.drain_timeout)) {
    join_workers();
    return true;
  }
  try {
    cancel_all();
  } catch (const std::bad_alloc&) {
    // Out of memory for the list: the fibers are not cancelled; they get shutdown_timeout to end.
    std::fputs("spindle: ~AsyncRuntime: out of memory while cancelling the live fibers\n", stderr);
  }
  if (wait_stopped(cfg.shutdown_timeout)) {
    join_workers();
    return true;
  }
  report_alive("~AsyncRuntime", cfg.drain_timeout + cfg.shutdown_timeout,
               "cancelled and not ending: abandoning them (their memory is leaked)");
  abandon();
  return false;
}

void RuntimeImpl::abandon() noexcept {
  {
    std::lock_guard<std::mutex> g(lifecycle_mu);
    state.store(kStopped, std::memory_order_seq_cst);
    exit.store(true, std::memory_order_release);
  }
  stopped_cv.notify_all();
  for (auto& wk : workers) wk->wake_thread();
  // A worker returns to its loop (and sees `exit`) when its fiber parks or yields to another; one
  // whose fiber never does cannot be joined.
  std::unique_lock<std::mutex> g(lifecycle_mu);
  stopped_cv.wait_for(g, std::max<std::chrono::nanoseconds>(cfg.shutdown_timeout, kAbandonGrace),
                      [this] { return exited_workers == workers.size(); });
  std::size_t detached = 0;
  for (auto& wk : workers) {
    if (!wk->thread.joinable()) continue;
    if (wk->exited) {
      g.unlock();
      wk->thread.join();
      g.lock();
    } else {
      wk->thread.detach();
      ++detached;
    }
  }
  g.unlock();
  if (detached != 0) {
    std::fprintf(stderr,
                 "spindle: ~AsyncRuntime: %zu worker thread(s) still running an abandoned fiber "
                 "were detached\n",
                 detached);
  }
}

}  // namespace spindle::detail
