// sched/core/detail/runtime_impl.hpp (internal): the runtime's state and the worker that runs
// fibers. Private to sched/core (sync/ and io/ use spindle/detail/sched_hooks.hpp). Where each part
// lives:
//
//   runtime.cpp      AsyncRuntime, config validation, lifecycle (start, shutdown), stats
//   worker.cpp       the worker loop: choosing the next fiber, starting, switching, finishing
//   steal.cpp        stealing from other workers' queues and stuck run-next slots
//   idle.cpp         idle workers: spin, park (Parker or the I/O driver), wake_thread
//   wake.cpp         the wake policy: submit, schedule, unpark_task, notify_work
//   time/timers.cpp  ticks, arm/disarm, firing due timers; time/timer_wheel.cpp the wheel
//   task.cpp         the task lifecycle: spawn, completion, join, cancel, free
//   task_registry.cpp  the live tasks (bounded shutdown, fiber dumps)
//   shutdown.cpp     shutdown: graceful, bounded (cancel all), the destructor's, abandonment
//   current_thread.cpp  the current-thread flavor: a calling thread drives the one worker
//   wait.cpp         the parking layer under every blocking primitive
//   coop.cpp         the cooperative budget (coop_step)
//   this_fiber.cpp   what a fiber does to itself: yield, sleep, id, cancellation checks
//   hooks.cpp        the seam for sync/ and io/
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/lockfree/queue.hpp>

#include "detail/global_queue.hpp"
#include "detail/local_queue.hpp"
#include "detail/metrics.hpp"
#include "detail/spinlock.hpp"
#include "detail/task_core.hpp"
#include "detail/task_registry.hpp"
#include "spindle/cancellation_token.hpp"
#include "spindle/config.hpp"
#include "spindle/detail/deadline.hpp"
#include "spindle/detail/sched_hooks.hpp"
#include "spindle/fiber/context.hpp"
#include "spindle/fiber/stack_pool.hpp"
#include "spindle/platform/parker.hpp"
#include "spindle/platform/priority_policy.hpp"
#include "spindle/stats.hpp"
#include "time/timer_wheel.hpp"

namespace spindle::detail {

// The priority rule, shared with the Cortex-M executor (spindle/platform/priority_policy.hpp).
using platform::PriorityPolicy;

class Worker;

// fiber_entry is where every fiber starts (worker.cpp): it runs the task and finishes it.
void fiber_entry(boost::context::detail::transfer_t t) noexcept;

// Counter is a per-worker statistic: written only by its worker (a plain load and store, no locked
// instruction), read by anyone.
struct Counter {
  std::atomic<std::uint64_t> v{0};
  void add(std::uint64_t n = 1) noexcept {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }
  std::uint64_t read() const noexcept { return v.load(std::memory_order_acquire); }
};

// WorkerCounters are one worker's Counters (see WorkerStats for their meaning).
struct WorkerCounters {
  Counter spawned, completed, cancelled, failed, steals, stolen, parks, switches, timers_fired,
      global_pops, overflows;
};

// SwitchKind says what the context that switched away wants done with its task, once it is saved.
// kYieldNext is a yield that comes back through the run-next slot (yield_before_park).
enum class SwitchKind : std::uint8_t { kYield, kYieldNext, kPark, kFinish };

// SwitchAction travels with a switch from a fiber (it lives on that fiber's stack).
struct SwitchAction {
  SwitchKind kind;
  TaskCore* task;
};

// Worker is one OS thread running fibers. Fields marked (owner) are touched only by its thread.
class Worker {
 public:
  Worker(RuntimeImpl* rt, std::uint32_t index, std::uint32_t queue_capacity);

  // run is the worker thread's body: the scheduler loop, until the runtime stops.
  void run();
  // drive runs this worker's scheduler loop on the calling thread (the current-thread flavor; the
  // caller holds the driver role, RuntimeImpl::driving, and is in no fiber) until `target` (if not
  // null) has finished, the runtime has stopped, or the monotonic clock reaches `deadline_ns`
  // (kNoDeadline: never) while every fiber is blocked. Returns false only for the deadline. Throws
  // std::system_error if the alternate signal stack cannot be installed.
  bool drive(const TaskCore* target, std::uint64_t deadline_ns);
  // finish_to_scheduler ends the running fiber, the drive target, by switching to the scheduler
  // context (not to the next ready fiber), so drive() can return. Never returns.
  [[noreturn]] void finish_to_scheduler();
  // embed_thread_start names and pins the calling worker thread and calls on_thread_start
  // (AsyncRuntimeConfig's embedding hooks); failures are reported on stderr, never thrown.
  void embed_thread_start() noexcept;

  // push_local makes `t` ready on this worker (owner). A full queue moves half of it to the global
  // queue.
  void push_local(TaskCore* t);
  // make_ready makes a woken or yielded fiber ready: on this worker, or, in migrate_every_switch
  // mode, in the inbox of another worker than the one it last ran on (owner).
  void make_ready(TaskCore* t) {
    if (migrate_mode_) {
      migrate(t);
    } else {
      push_local(t);
    }
  }
  // ready_woken makes `t`, just woken by the fiber running on this worker, ready (owner). When it
  // does not outrank that fiber it goes into the run-next slot: it runs at this worker's next
  // decision (the waker usually parks soon, so the pair stays on one CPU), unless the priority
  // policy picks another level or kRunNextBurst is used up. A fiber the slot held before moves to
  // the local queue. Other workers may take a slot's fiber only when this worker made no switch
  // for a whole idle spin of theirs (it is stuck in a long fiber): see steal_stuck_run_next.
  void ready_woken(TaskCore* t);
  // put_run_next puts `t` into the run-next slot (owner), moving what it held to the local queue.
  void put_run_next(TaskCore* t);
  // migrate puts `t` in the inbox of a worker other than t->last_worker and wakes that worker (any
  // thread; migrate_every_switch mode only).
  void migrate(TaskCore* t);
  // switch_from_fiber leaves the running fiber for the next ready one (or the scheduler loop),
  // doing `kind` to it once it is saved. For kYield with nothing else ready it returns at once. For
  // kFinish it never returns. Returns on the worker that resumes the fiber, which may be another
  // one.
  void switch_from_fiber(SwitchKind kind);
  // park_current parks the running fiber until unpark_task() (owner; may return on another worker).
  void park_current();
  // poll_timers fires every due timer of this worker's wheel, making their fibers ready on the
  // calling worker `runner`. Returns how many fibers it woke. Any worker may call it (the wheel is
  // locked).
  std::size_t poll_timers(Worker* runner, std::uint64_t now_tick, bool try_only);
  // arm_timer links `entry` (its task set) into this worker's wheel for `deadline_tick`; false
  // when that tick has already passed (any thread; the wheel is locked).
  bool arm_timer(TimerEntry& entry, std::uint64_t deadline_tick) noexcept;
  // disarm_timer unlinks `entry` if it is still pending; returns whether it was.
  bool disarm_timer(TimerEntry& entry) noexcept;

  RuntimeImpl* const rt;
  const std::uint32_t index;
  TaskCore* current = nullptr;  // (owner) the running fiber, or null on the scheduler context

  // Timers: entries of fibers that slept on this worker. Locked; next_timer mirrors
  // next_expiration().
  SpinLock timer_lock;
  TimerWheel wheel;
  std::atomic<std::uint64_t> next_timer{TimerWheel::kNever};

  // Inbox (migrate_every_switch mode only): fibers other workers sent here to run next.
  std::mutex inbox_mu;
  std::vector<TaskCore*> inbox;
  std::atomic<bool> inbox_full{false};

  LocalQueue<TaskCore*> queues[kTaskPriorityLevels];
  // run_next is the run-next slot (see ready_woken). Filled and emptied by the owner; other workers
  // only empty it (steal_stuck_run_next). Every access is an exchange, so a task in it has exactly
  // one taker.
  std::atomic<TaskCore*> run_next{nullptr};
  WorkerCounters counters;
  WorkerMetrics metrics;  // park time, latency histograms (detail/metrics.hpp)
  platform::Parker parker;
  std::atomic<bool> in_reactor{false};  // parked in the reactor (as the I/O driver), not the Parker
  std::thread thread;
  bool exited = false;  // run() has returned (RuntimeImpl::lifecycle_mu)
  // coop_slice_ns is when the running fiber first ran out of its cooperative budget since it was
  // switched in (0: not yet); coop_step yields once it is poll_interval old (owner).
  std::uint64_t coop_slice_ns = 0;

  // wake_thread wakes this worker's thread wherever it sleeps (Parker or reactor). Any thread.
  void wake_thread() noexcept;

  // poll_at_next_decision makes the next scheduling decision check timers and I/O (poll_tick)
  // whatever the adaptive interval says: the running fiber has held the worker for poll_interval
  // (owner).
  void poll_at_next_decision() noexcept { poll_countdown_ = 1; }

  // has_local_ready reports whether this worker may have other fibers ready (owner; may be
  // stale-true, never stale-false for its own pushes).
  bool has_local_ready() const noexcept {
    return local_bits_ != 0 || run_next.load(std::memory_order_relaxed) != nullptr;
  }

  // next_task_id returns a fresh task id from this worker's block (owner).
  std::uint64_t next_task_id();

 private:
  friend class RuntimeImpl;
  TaskCore* next_ready(int yield_level = -1);
  __attribute__((noinline)) TaskCore* next_ready_slow(PriorityPolicy::Choice c, int yield_level);
  __attribute__((noinline)) void poll_tick();
  TaskCore* next_runnable(int yield_level = -1);
  TaskCore* take_global(int level);
  bool start_task(TaskCore* t);
  TaskCore* steal();
  TaskCore* steal_stuck_run_next();
  void snapshot_switches();
  TaskCore* find_work();
  void idle_wait();
  bool has_visible_work();
  std::int64_t park_timeout_ns(bool watch);
  bool poll_all_timers(bool force);
  // help_grace_ticks is how overdue another worker's timers must be before this one fires them.
  std::uint64_t help_grace_ticks() const noexcept;
  // timer_due_for says whether worker `w`'s wheel needs firing by this worker now (its own: when
  // due; another's: when overdue by help_grace_ticks).
  bool timer_due_for(const Worker& w, std::uint64_t now_tick) const noexcept;
  void after_switch(fiber::Transfer tr);
  // loop is the scheduler loop of run() and drive() (see drive for `target` and `deadline_ns`).
  bool loop(const TaskCore* target, std::uint64_t deadline_ns);
  // enter_thread binds this worker to the calling thread (thread-locals, the scheduler context).
  void enter_thread() noexcept;
  // leave_thread unbinds it again.
  void leave_thread() noexcept;
  // drive_target_ is the task whose end makes drive() return (owner; null outside drive()).
  const TaskCore* drive_target_ = nullptr;
  // drive_deadline_ns_ caps idle parking while drive() has a deadline (owner).
  std::uint64_t drive_deadline_ns_ = kNoDeadline;
  unsigned local_mask() const noexcept;
  void overflow(int level, TaskCore* t);
  // stamp_ready samples one ready push in kSampleEvery for the scheduling-delay histogram (owner).
  void stamp_ready(TaskCore* t) noexcept {
    if (--metrics.ready_countdown != 0) return;
    metrics.ready_countdown = kSampleEvery;
    metrics_stamp(t);
  }
  __attribute__((noinline)) void metrics_stamp(TaskCore* t) noexcept;
  // push_now is push_local without the sampling (owner).
  void push_now(TaskCore* t) {
    const int level = static_cast<int>(t->priority);
    local_bits_ |= 1u << level;
    if (!queues[level].push(t)) overflow(level, t);
  }
  __attribute__((noinline)) void push_local_sampled(TaskCore* t);
  // note_switch_in records `t`'s sampled scheduling delay and starts a sampled run-time
  // measurement (owner; metrics.cpp).
  void note_switch_in(TaskCore* t) noexcept {
    if (t->ready_stamp != 0 || --metrics.switch_countdown == 0) metrics_switch_in(t);
  }
  __attribute__((noinline)) void metrics_switch_in(TaskCore* t) noexcept;
  // note_switch_out ends a sampled run-time measurement (owner; metrics.cpp).
  void note_switch_out() noexcept {
    if (metrics.run_start_ns != 0) metrics_switch_out();
  }
  __attribute__((noinline)) void metrics_switch_out() noexcept;

  fiber::Context sched_ctx_;      // the thread's own stack
  EhState sched_eh_;              // the scheduler context's exception state while a fiber runs
  EhState* thread_eh_ = nullptr;  // this worker thread's exception state (see eh_state.hpp)
  PriorityPolicy policy_;
  std::uint64_t rng_;
  std::uint64_t id_next_ = 0, id_end_ = 0;
  std::uint32_t poll_every_ = 16, poll_countdown_ = 16;
  unsigned local_bits_ = 0;           // (owner) local levels that may hold tasks; see worker.cpp
  std::uint32_t run_next_burst_ = 0;  // (owner) consecutive decisions served by run_next
  std::vector<std::uint64_t> seen_switches_;  // (owner) other workers' switch counts at idle start
  bool multi_worker_stealing_ = false;        // more than one worker and stealing enabled
  bool migrate_mode_ = false;                 // migrate_every_switch with more than one worker
  void drain_inbox();
  std::uint64_t last_poll_ns_ = 0;
  std::vector<TaskCore*> scratch_;

  friend void fiber_entry(boost::context::detail::transfer_t t) noexcept;
};

// IdleWorkers is the runtime's sleeper state: which workers are parked, and which one watches the
// run-next slots of busy workers.
struct IdleWorkers {
  std::mutex mu;
  std::vector<std::uint32_t> sleepers;  // parked worker indexes, a stack (under mu)
  std::atomic<std::uint32_t> num_sleeping{0};
  // run_next_watcher is the index of the one sleeping worker that parks with a timeout of at most
  // poll_interval so that a run-next slot of a stuck worker is looked at (or -1: none).
  std::atomic<int> run_next_watcher{-1};
};

// coop_budget is the calling thread's cooperative budget (coop.cpp; spindle/detail/coop.hpp). The
// worker refills it whenever it switches to a fiber. constinit: no thread-local wrapper call.
extern thread_local constinit std::uint32_t coop_budget;

// current_worker returns the worker running on this OS thread, or nullptr. Never inlined, and with
// a compiler barrier: a fiber can move between threads across any switch, so the thread-local
// address must be recomputed after each one.
Worker* current_worker() noexcept;

// RuntimeImpl is everything an AsyncRuntime owns.
class RuntimeImpl {
 public:
  explicit RuntimeImpl(const AsyncRuntimeConfig& cfg);
  ~RuntimeImpl();

  void start();
  // shutdown is AsyncRuntime::shutdown(): waits for every fiber to end by itself, reporting the
  // live ones once after cfg.shutdown_timeout. Throws std::logic_error from its own fibers.
  void shutdown();
  // shutdown_within is AsyncRuntime::shutdown(timeout): cancels every fiber, waits up to `timeout`
  // for all to end, then joins the workers (true) or reports the live ones (false).
  bool shutdown_within(std::chrono::nanoseconds timeout);
  // destroy is ~AsyncRuntime's shutdown: cfg.drain_timeout to end by themselves, then cancelled
  // and cfg.shutdown_timeout to unwind, then reported and abandoned. Returns whether the runtime
  // may be freed (false: fibers were abandoned and the runtime must be leaked).
  bool destroy() noexcept;
  RuntimeStats stats() const;
  // fill_metrics adds the metrics of detail/metrics.hpp, queue depths per priority, pending timers
  // and I/O handles to a snapshot stats() built (metrics.cpp).
  void fill_metrics(RuntimeStats& s) const;

  // submit makes a new task ready (spawn). Throws std::runtime_error when not accepting spawns.
  void submit(TaskCore* t, TaskPriority p);
  // schedule makes a woken task ready, on the calling worker if it belongs to this runtime.
  void schedule(TaskCore* t);
  // full_fence orders a publication before a later check (the Dekker pairs: push / read sleepers,
  // register as sleeper / look for work). ThreadSanitizer does not model fences, so under TSan it
  // is a seq_cst read-modify-write of one shared word, which gives the same ordering in a form TSan
  // sees.
  void full_fence() noexcept {
#if SPINDLE_TSAN
    fence_word_.fetch_add(0, std::memory_order_seq_cst);
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
  }
  // notify_work wakes a parked worker, if any, after work became visible to other workers.
  void notify_work();
  // unpark_task wakes a parked (or parking) fiber; exactly one waker enqueues it.
  void unpark_task(TaskCore* t);
  // complete finishes task `t` with `end` on worker `w`: publishes the state and wakes the joiner.
  void complete(TaskCore* t, TaskState end, Worker* w);

  // tick_of_deadline converts a monotonic-clock deadline in ns to the first tick at or after it.
  std::uint64_t tick_of_deadline(std::uint64_t deadline_ns) const noexcept;
  // tick_of_now converts a monotonic reading to the tick containing it.
  std::uint64_t tick_of_now(std::uint64_t now_ns) const noexcept;
  // ns_of_tick converts a tick to a monotonic time in ns.
  std::uint64_t ns_of_tick(std::uint64_t tick) const noexcept;

  // live_tasks returns spawned minus finished, read in an order that never undercounts.
  std::uint64_t live_tasks() const noexcept;

  // Thread joiners wait on a per-runtime striped mutex/condvar table (never on memory a completer
  // could see freed).
  struct Stripe {
    std::mutex m;
    std::condition_variable cv;
  };
  Stripe& stripe_for(const TaskCore* t) noexcept {
    return stripes_[(reinterpret_cast<std::uintptr_t>(t) >> 6) % kStripes];
  }

  // kTickNs is the timer resolution.
  static constexpr std::uint64_t kTickNs = 250'000;

  AsyncRuntimeConfig cfg;
  const bool debug;
  // current_thread: RuntimeFlavor::CurrentThread. Its one worker has no thread: the driver
  // runs it (block_on, a thread's join, shutdown).
  const bool current_thread;
  // The driver role: `driving` (under drive_mu) says a thread is in drive(). Would-be drivers wait
  // on drive_cv for the role, or for their own task's end: complete() notifies drive_cv when
  // drive_waiters is not 0 (current-thread runtimes only).
  std::mutex drive_mu;
  std::condition_variable drive_cv;
  bool driving = false;
  std::atomic<std::uint32_t> drive_waiters{0};
  // notify_drive_waiters wakes the threads waiting for the driver role (a task finished).
  void notify_drive_waiters() noexcept;
  // drive_until_stopped is wait_stopped for the current-thread flavor: drives the worker until the
  // runtime stops or `timeout` passes.
  bool drive_until_stopped(std::chrono::nanoseconds timeout);
  // drive_task drives the worker on the calling (plain) thread until `t` has finished or the
  // monotonic clock reaches `deadline_ns` (kNoDeadline: never); waits for the driver role up to
  // then (returning early if `t` finishes in another driver's turn).
  void drive_task(const TaskCore* t, std::uint64_t deadline_ns);
  std::vector<std::unique_ptr<Worker>> workers;
  GlobalQueue global;
  fiber::StackPool stacks;
  // The idle driver (sched/io's reactor), installed on first use (install_driver); driver mirrors
  // driver_owner for lock-free reads by the workers.
  std::atomic<Driver*> driver{nullptr};
  std::unique_ptr<Driver> driver_owner;
  std::mutex driver_mu;

  // Lifecycle: kRunning -> kShuttingDown (shutdown() called) -> kStopped (workers exiting).
  static constexpr int kRunning = 0, kShuttingDown = 1, kStopped = 2;
  std::atomic<int> state{kRunning};
  std::mutex lifecycle_mu;
  std::condition_variable stopped_cv;  // notified when state becomes kStopped, or a worker exits
  std::atomic<bool> exit{false};
  std::uint32_t exited_workers = 0;  // workers whose run() has returned (lifecycle_mu)
  // The started live tasks: linked by Worker::start_task, unlinked by complete.
  TaskRegistry registry;
  // begin_shutdown moves kRunning to kShuttingDown and wakes every worker (idle ones re-check
  // live_tasks()). Throws std::logic_error from one of this runtime's fibers (`who` names the
  // call).
  void begin_shutdown(const char* who);
  // wait_stopped waits up to `timeout` (nanoseconds::max(): for ever) for state kStopped.
  bool wait_stopped(std::chrono::nanoseconds timeout);
  // stop_within is run_main's wait: begins shutdown and waits up to `timeout` for every task to end
  // (without cancelling any); when some are still alive it lists them (report_alive) and returns
  // false. join_workers (shutdown) must still follow a true. Throws std::logic_error from one of
  // this runtime's fibers.
  bool stop_within(std::chrono::nanoseconds timeout);
  // cancel_all cancels every live task and closes the registry: tasks spawned later never start.
  // Throws std::bad_alloc (then nothing was cancelled).
  void cancel_all();
  // report_alive writes the live tasks (id, name, state, priority; the first 32) to stderr, after
  // a headline naming `who` and how long it waited.
  void report_alive(const char* who, std::chrono::nanoseconds waited, const char* what_next) const;

  // Idle workers (idle.cpp parks them, wake.cpp wakes them): all the sleeper state.
  IdleWorkers idle;

  std::atomic<std::uint64_t> ext_spawned{0};  // spawns from outside the runtime's workers
  // external_wakers counts schedule() calls from outside this runtime's workers that are still
  // running. Such a call enqueues a parked task and then wakes a worker; the task can run and end,
  // and the runtime be shut down, before the call returns. ~RuntimeImpl waits for it to reach 0.
  std::atomic<std::uint32_t> external_wakers{0};

  // Cleanup tasks (SpawnOptions::cleanup): bound to cleanup_token, counted until they finish.
  CancellationToken cleanup_token;
  std::mutex cleanup_mu;
  std::condition_variable cleanup_cv;
  std::uint64_t cleanup_live = 0;  // guarded by cleanup_mu
  // wait_cleanup waits until no cleanup task is alive or `timeout` passed; returns whether none is.
  bool wait_cleanup(std::chrono::nanoseconds timeout);
  std::atomic<std::uint64_t> next_id_block{1};
  std::uint64_t epoch_ns = 0;

 private:
  static constexpr std::size_t kStripes = 64;
  std::atomic<std::uint64_t> fence_word_{0};
  Stripe stripes_[kStripes];
  std::once_flag joined_;
  void join_workers();
  void abandon() noexcept;
};

// task_unref drops one reference; the last one destroys the payload and frees the block.
void task_unref(TaskCore* t) noexcept;
// cancel_core requests cancellation of `t`: sets its flag, cancels its own token, wakes it.
void cancel_core(TaskCore* t) noexcept;
// cancel_deliverable says whether a blocking point of `t` should throw Cancelled now: cancellation
// was requested and the fiber is not already unwinding an exception (throwing then would
// terminate).
bool cancel_deliverable(const TaskCore* t) noexcept;

// Allocation of task control blocks (alloc.cpp): mimalloc loaded privately, mimalloc, or the
// system.
void* cb_alloc(std::size_t size);
void cb_free(void* p) noexcept;
const char* cb_allocator_name() noexcept;

}  // namespace spindle::detail
