/// @file
/// spindle/spawn_blocking.hpp: spawn_blocking, running blocking code (getaddrinfo, file I/O, a C
/// library that sleeps) on a bounded pool of OS threads, and BlockingHandle<R>, its result.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "spindle/event.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// kBlockingPoolMaxThreads is the default bound on the spawn_blocking pool's OS threads (64):
/// enough for a burst of DNS lookups or file reads, small enough that a runaway caller cannot start
/// thousands of threads. Change it with configure_blocking_pool.
inline constexpr std::size_t kBlockingPoolMaxThreads = 64;
/// kBlockingPoolIdleTimeout is the default time an idle pool thread waits for a job before it exits
/// (10 s): a burst reuses warm threads, a quiet process gives them back.
inline constexpr std::chrono::seconds kBlockingPoolIdleTimeout{10};
/// kBlockingPoolThreadsLimit is the largest max_threads configure_blocking_pool accepts (4096).
inline constexpr std::size_t kBlockingPoolThreadsLimit = 4096;

/// BlockingPoolConfig sets the process-wide spawn_blocking pool's limits.
struct BlockingPoolConfig {
  /// max_threads bounds the pool's OS threads (1 .. kBlockingPoolThreadsLimit). Lowering it below
  /// the threads alive lets the surplus finish their jobs and exit.
  std::size_t max_threads = kBlockingPoolMaxThreads;
  /// idle_timeout is how long an idle thread waits for work before it exits (1 ms .. 1 h).
  std::chrono::nanoseconds idle_timeout = kBlockingPoolIdleTimeout;
};

/// configure_blocking_pool replaces the spawn_blocking pool's limits; they apply at once, to
/// threads already running too. The pool is one per process (shared by every runtime), so an
/// embedding app sets it once at start-up. Never blocks on jobs. Throws std::invalid_argument
/// naming the field and its limits when a value is out of range (nothing changes then).
void configure_blocking_pool(const BlockingPoolConfig& cfg);
/// blocking_pool_config returns the limits in force.
BlockingPoolConfig blocking_pool_config() noexcept;

/// BlockingPoolStats is a snapshot of the spawn_blocking pool.
struct BlockingPoolStats {
  std::size_t threads = 0;      ///< pool threads alive (running a job or idle)
  std::size_t running = 0;      ///< threads running a job
  std::size_t queued = 0;       ///< jobs waiting for a thread
  std::size_t max_threads = 0;  ///< the pool's bound (BlockingPoolConfig::max_threads)
  std::uint64_t completed = 0;  ///< jobs finished since the process started
};

/// blocking_pool_stats returns a consistent snapshot of the spawn_blocking pool. Takes the pool's
/// lock for a moment; never throws.
BlockingPoolStats blocking_pool_stats() noexcept;

namespace detail {

// BlockingJob is one queued spawn_blocking call, type-erased.
struct BlockingJob {
  virtual ~BlockingJob() = default;
  // run calls the function, stores its outcome and signals the handle. Never throws.
  virtual void run() noexcept = 0;
};

// blocking_submit queues `job` on the process-wide pool (FIFO), starting a thread if every thread
// is busy and there are fewer than the configured max_threads (configure_blocking_pool). Throws
// std::system_error if no pool thread exists and none can be started, std::runtime_error once the
// process is exiting, std::bad_alloc.
void blocking_submit(std::unique_ptr<BlockingJob> job);

// BlockingVoid stands in for the value of a job returning void.
struct BlockingVoid {};

// BlockingState is what a pool job and its handle share: the outcome and the completion event.
template <class R>
struct BlockingState {
  Event done;
  std::exception_ptr error;
  [[no_unique_address]] std::conditional_t<std::is_void_v<R>, BlockingVoid, std::optional<R>>
      value{};
};

// BlockingJobImpl runs `F` and publishes its outcome to the shared state. The callable is destroyed
// before the outcome becomes visible, so whatever it captured is gone when join() returns.
template <class F, class R>
class BlockingJobImpl final : public BlockingJob {
 public:
  template <class G>
  BlockingJobImpl(G&& g, std::shared_ptr<BlockingState<R>> st)
      : fn_(std::in_place, std::forward<G>(g)), st_(std::move(st)) {}

  void run() noexcept override {
    try {
      if constexpr (std::is_void_v<R>) {
        std::invoke(std::move(*fn_));
      } else {
        st_->value.emplace(std::invoke(std::move(*fn_)));
      }
    } catch (...) {
      st_->error = std::current_exception();
    }
    fn_.reset();
    st_->done.set();
  }

 private:
  std::optional<F> fn_;
  std::shared_ptr<BlockingState<R>> st_;
};

}  // namespace detail

template <class R>
class BlockingHandle;
template <class F>
auto spawn_blocking(F&& f);

/// BlockingHandle is the handle of a spawn_blocking job whose function returns R (void included).
/// Like JoinHandle it is movable, not copyable, default-constructs empty, and destroying it
/// detaches the job (it still runs; its result is dropped). Not thread-safe: one owner at a time.
template <class R>
class BlockingHandle {
 public:
  /// BlockingHandle makes an empty handle (valid() == false).
  BlockingHandle() noexcept = default;
  /// BlockingHandle takes over `other`'s job; `other` is left empty.
  BlockingHandle(BlockingHandle&& other) noexcept
      : st_(std::move(other.st_)), joined_(std::exchange(other.joined_, false)) {}
  /// operator= detaches the current job (see ~BlockingHandle), then takes over `other`'s.
  BlockingHandle& operator=(BlockingHandle&& other) noexcept {
    st_ = std::move(other.st_);
    joined_ = std::exchange(other.joined_, false);
    return *this;
  }
  BlockingHandle(const BlockingHandle&) = delete;
  BlockingHandle& operator=(const BlockingHandle&) = delete;
  /// ~BlockingHandle detaches the job.
  ~BlockingHandle() = default;

  /// join waits for the job and returns its value or rethrows its exception. Parks the calling
  /// fiber (its worker runs other fibers) or blocks the calling OS thread. A cancellation point: if
  /// the calling fiber is cancelled while it waits, join throws spindle::Cancelled and the handle
  /// stays joinable (the job keeps running on its pool thread; it cannot be interrupted). Throws
  /// std::logic_error if the handle is empty or already joined.
  R join() {
    check("join");
    st_->done.wait();
    return take();
  }
  /// join_for is join giving up after `timeout`: throws std::system_error(std::errc::timed_out) and
  /// the handle stays joinable. A cancellation point like join (throws spindle::Cancelled).
  template <class Rep, class Period>
  R join_for(const std::chrono::duration<Rep, Period>& timeout) {
    check("join_for");
    if (!st_->done.wait_for(timeout)) {
      throw std::system_error(std::make_error_code(std::errc::timed_out),
                              "spindle::BlockingHandle::join_for");
    }
    return take();
  }
  /// wait_for waits up to `timeout` for the job to finish without taking its result; returns
  /// whether it finished. A cancellation point like join. Throws std::logic_error if the handle is
  /// empty.
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) {
    if (!valid()) throw std::logic_error("spindle::BlockingHandle::wait_for: empty handle");
    return st_->done.wait_for(timeout);
  }
  /// is_finished says whether the job has finished (its result is ready). Throws std::logic_error
  /// if the handle is empty.
  bool is_finished() const {
    if (!valid()) throw std::logic_error("spindle::BlockingHandle::is_finished: empty handle");
    return st_->done.is_set();
  }
  /// valid says whether the handle refers to a job.
  bool valid() const noexcept { return st_ != nullptr; }
  /// detach drops the handle's reference; the job still runs and its result is dropped.
  void detach() noexcept {
    st_.reset();
    joined_ = false;
  }

 private:
  template <class F>
  friend auto spawn_blocking(F&& f);

  explicit BlockingHandle(std::shared_ptr<detail::BlockingState<R>> st) noexcept
      : st_(std::move(st)) {}

  void check(const char* what) const {
    if (!valid()) {
      throw std::logic_error(std::string("spindle::BlockingHandle::") + what + ": empty handle");
    }
    if (joined_) {
      throw std::logic_error(std::string("spindle::BlockingHandle::") + what +
                             ": job already joined");
    }
  }
  R take() {
    joined_ = true;
    if (st_->error) std::rethrow_exception(st_->error);
    if constexpr (!std::is_void_v<R>) return std::move(*st_->value);
  }

  std::shared_ptr<detail::BlockingState<R>> st_;
  bool joined_ = false;
};

/// spawn_blocking runs `f()` on the process-wide blocking pool and returns its BlockingHandle. Use
/// it for calls that block the OS thread (getaddrinfo, disk I/O, sleeping C libraries): called in a
/// fiber directly, they would stall every fiber of its worker.
///
/// The pool: one per process, shared by every runtime and plain thread; at most max_threads
/// (default 64, see configure_blocking_pool) threads, started lazily when a job finds every thread
/// busy; a thread exits after idle_timeout (default 10 s) without work. When all are busy, jobs
/// wait in a FIFO queue. A job must not wait for another spawn_blocking job (with max_threads such
/// waiters the pool deadlocks). At process exit (static destruction) idle threads end; jobs still
/// running finish on their own (their threads are detached) and jobs still queued never run.
///
/// `f` is moved (decay-copied) into the job and destroyed on the pool thread right after it
/// returns, before the result is published. Its result type must not be a reference. Never blocks.
/// Throws std::system_error if no pool thread exists and none can be started, std::runtime_error
/// during process exit, std::bad_alloc, and what moving `f` throws.
template <class F>
auto spawn_blocking(F&& f) {
  using Fn = std::decay_t<F>;
  using R = std::invoke_result_t<Fn&&>;
  static_assert(!std::is_reference_v<R>,
                "spindle::spawn_blocking: the function must return a value, not a reference");
  auto st = std::make_shared<detail::BlockingState<R>>();
  detail::blocking_submit(std::make_unique<detail::BlockingJobImpl<Fn, R>>(std::forward<F>(f), st));
  return BlockingHandle<R>(std::move(st));
}

}  // namespace spindle

SPINDLE_API_END
