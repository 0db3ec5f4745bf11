// The current-thread flavor (RuntimeFlavor::CurrentThread): the runtime has no worker thread of its
// own; its one Worker runs on whichever thread drives it (block_on and a plain thread's join via
// task_wait_until, shutdown and the destructor via wait_stopped), one driver at a time (drive_mu).
// docs/scheduler.md, "The current-thread flavor".
#include <chrono>
#include <mutex>

#include "detail/runtime_impl.hpp"
#include "spindle/fiber/overflow.hpp"
#include "spindle/sys.h"

namespace spindle::detail {

namespace {
// steady_deadline converts a monotonic deadline in ns to a steady_clock time point for the timed
// mutex (spindle_sys_monotonic_time_ns and steady_clock are both CLOCK_MONOTONIC on Linux, but only
// differences are used here).
std::chrono::steady_clock::time_point steady_deadline(std::uint64_t deadline_ns) {
  const std::uint64_t now = spindle_sys_monotonic_time_ns();
  return std::chrono::steady_clock::now() +
         std::chrono::nanoseconds(deadline_ns > now ? deadline_ns - now : 0);
}

// lock_driver takes `mu` for the calling thread, waiting up to `deadline_ns` (kNoDeadline: for
// ever). Returns whether it got it.
bool lock_driver(std::timed_mutex& mu, std::uint64_t deadline_ns) {
  if (deadline_ns == kNoDeadline) {
    mu.lock();
    return true;
  }
  return mu.try_lock_until(steady_deadline(deadline_ns));
}
}  // namespace

bool Worker::drive(const TaskCore* target, std::uint64_t deadline_ns) {
  // The overflow handler needs an alternate signal stack on the thread running fibers: installed
  // for the duration of the drive (the thread's previous one, if any, is restored after).
  fiber::AltSignalStack alt_stack;
  enter_thread();
  drive_target_ = target;
  drive_deadline_ns_ = deadline_ns;
  struct Leave {
    Worker* w;
    ~Leave() {
      w->drive_target_ = nullptr;
      w->drive_deadline_ns_ = kNoDeadline;
      w->leave_thread();
    }
  } leave{this};
  if (rt->debug) log_debug(rt, "current thread: drive");
  return loop(target, deadline_ns);
}

void RuntimeImpl::drive_task(const TaskCore* t, std::uint64_t deadline_ns) {
  if (!lock_driver(drive_mu, deadline_ns)) return;
  std::lock_guard<std::timed_mutex> g(drive_mu, std::adopt_lock);
  // Another driver may have run it to the end while we waited.
  if (t->joiner.load(std::memory_order_acquire) == kJoinFinished) return;
  workers[0]->drive(t, deadline_ns);
}

bool RuntimeImpl::drive_until_stopped(std::chrono::nanoseconds timeout) {
  auto stopped = [this] { return state.load(std::memory_order_seq_cst) == kStopped; };
  if (stopped()) return true;
  const std::uint64_t deadline_ns =
      timeout == std::chrono::nanoseconds::max()
          ? kNoDeadline
          : spindle_sys_monotonic_time_ns() + static_cast<std::uint64_t>(timeout.count());
  if (!lock_driver(drive_mu, deadline_ns)) return stopped();
  std::lock_guard<std::timed_mutex> g(drive_mu, std::adopt_lock);
  if (!stopped()) workers[0]->drive(nullptr, deadline_ns);
  return stopped();
}

}  // namespace spindle::detail
