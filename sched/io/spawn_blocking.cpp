// spawn_blocking: the process-wide pool of OS threads that runs blocking jobs. See
// spindle/spawn_blocking.hpp.
//
// One mutex guards the FIFO queue and the counters. A submitter starts a new thread when the queued
// jobs outnumber the idle threads (each idle thread will take one) and the bound allows it;
// otherwise it wakes one idle thread. An idle thread leaves after the idle timeout only if the
// queue is still empty under the lock, so no job is stranded.
//
// The pool state is allocated once and never freed: detached threads may still be finishing a
// job when static destructors run, and they only ever touch this state. A static guard marks the
// pool as stopping at exit and waits briefly for the idle threads to leave.
#include "spindle/spawn_blocking.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>

namespace spindle {

namespace {

struct Pool {
  std::mutex mu;
  std::condition_variable work_cv;  // idle threads wait here for jobs or stop
  std::condition_variable exit_cv;  // the exit guard waits here for idle threads to leave
  std::deque<std::unique_ptr<detail::BlockingJob>> queue;
  std::size_t threads = 0;  // alive (including ones being started)
  std::size_t idle = 0;     // waiting on work_cv
  std::size_t running = 0;  // running a job
  std::uint64_t completed = 0;
  bool stopping = false;
  std::chrono::steady_clock::duration idle_timeout = kBlockingPoolIdleTimeout;
  std::size_t max_threads = kBlockingPoolMaxThreads;
};

Pool& pool() {
  static Pool* const p = new Pool;  // never freed: see the file comment
  return *p;
}

void thread_main(Pool& p) {
  std::unique_lock<std::mutex> lk(p.mu);
  for (;;) {
    if (p.stopping) break;
    if (p.threads > p.max_threads) break;  // the bound was lowered: the surplus leaves
    if (!p.queue.empty()) {
      std::unique_ptr<detail::BlockingJob> job = std::move(p.queue.front());
      p.queue.pop_front();
      ++p.running;
      lk.unlock();
      job->run();
      job.reset();  // drops the job's share of the state outside the lock
      lk.lock();
      --p.running;
      ++p.completed;
      continue;
    }
    // Idle: wait for a job, stop, or the idle timeout (re-read after every wakeup, so that a
    // changed timeout applies to threads already waiting).
    ++p.idle;
    const auto idle_since = std::chrono::steady_clock::now();
    bool woken = false;
    for (;;) {
      if (p.stopping || !p.queue.empty() || p.threads > p.max_threads) {
        woken = true;
        break;
      }
      const auto deadline = idle_since + p.idle_timeout;
      if (std::chrono::steady_clock::now() >= deadline) break;
      p.work_cv.wait_until(lk, deadline);
    }
    --p.idle;
    if (!woken) break;  // idle timeout with an empty queue
  }
  --p.threads;
  if (p.stopping) p.exit_cv.notify_all();
  // A surplus thread may have taken the notification meant for a queued job: pass it on.
  if (!p.stopping && !p.queue.empty()) p.work_cv.notify_one();
}

// ExitGuard stops the pool during static destruction: idle threads leave at once, busy threads
// after their job; queued jobs never run.
struct ExitGuard {
  ~ExitGuard() {
    Pool& p = pool();
    std::unique_lock<std::mutex> lk(p.mu);
    p.stopping = true;
    p.work_cv.notify_all();
    // Bounded: a thread still running a job is left to finish on its own.
    p.exit_cv.wait_for(lk, std::chrono::seconds(1), [&p] { return p.threads == p.running; });
  }
};
ExitGuard exit_guard;

}  // namespace

namespace detail {

void blocking_submit(std::unique_ptr<BlockingJob> job) {
  Pool& p = pool();
  BlockingJob* const raw = job.get();
  bool start = false;
  {
    std::lock_guard<std::mutex> g(p.mu);
    if (p.stopping) {
      throw std::runtime_error("spindle::spawn_blocking: the process is exiting");
    }
    p.queue.push_back(std::move(job));
    if (p.idle > 0) p.work_cv.notify_one();
    if (p.queue.size() > p.idle && p.threads < p.max_threads) {
      ++p.threads;
      start = true;
    }
  }
  if (!start) return;
  try {
    std::thread([&p] { thread_main(p); }).detach();
  } catch (...) {
    std::unique_lock<std::mutex> lk(p.mu);
    --p.threads;
    if (p.threads != 0) return;  // the existing threads will run the job
    for (auto it = p.queue.begin(); it != p.queue.end(); ++it) {
      if (it->get() == raw) {
        std::unique_ptr<BlockingJob> mine = std::move(*it);
        p.queue.erase(it);
        lk.unlock();
        throw;  // `mine` (never run) is destroyed while the exception leaves
      }
    }
    // Already taken by a thread that has since exited: it ran.
  }
}

}  // namespace detail

BlockingPoolStats blocking_pool_stats() noexcept {
  Pool& p = pool();
  std::lock_guard<std::mutex> g(p.mu);
  BlockingPoolStats s;
  s.threads = p.threads;
  s.running = p.running;
  s.queued = p.queue.size();
  s.max_threads = p.max_threads;
  s.completed = p.completed;
  return s;
}

void configure_blocking_pool(const BlockingPoolConfig& cfg) {
  if (cfg.max_threads < 1 || cfg.max_threads > kBlockingPoolThreadsLimit) {
    throw std::invalid_argument(
        "spindle::BlockingPoolConfig::max_threads = " + std::to_string(cfg.max_threads) +
        " is out of range [1, " + std::to_string(kBlockingPoolThreadsLimit) + "]");
  }
  using namespace std::chrono_literals;
  if (cfg.idle_timeout < 1ms || cfg.idle_timeout > 1h) {
    throw std::invalid_argument(
        "spindle::BlockingPoolConfig::idle_timeout = " + std::to_string(cfg.idle_timeout.count()) +
        " ns is out of range [1 ms, 1 h]");
  }
  Pool& p = pool();
  std::lock_guard<std::mutex> g(p.mu);
  p.max_threads = cfg.max_threads;
  p.idle_timeout =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(cfg.idle_timeout);
  p.work_cv.notify_all();  // idle threads re-read the timeout; a surplus leaves
}

BlockingPoolConfig blocking_pool_config() noexcept {
  Pool& p = pool();
  std::lock_guard<std::mutex> g(p.mu);
  BlockingPoolConfig c;
  c.max_threads = p.max_threads;
  c.idle_timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(p.idle_timeout);
  return c;
}

}  // namespace spindle
