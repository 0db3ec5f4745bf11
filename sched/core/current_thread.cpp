// The current-thread flavor (RuntimeFlavor::CurrentThread): the runtime has no worker thread of its
// own; its one Worker runs on whichever thread drives it (block_on and a plain thread's join via
// task_wait_until, shutdown and the destructor via wait_stopped), one driver at a time.
// docs/scheduler.md, "The current-thread flavor".
//
// The driver role: `driving` under drive_mu. A thread that wants it while another thread drives
// waits on drive_cv until the role is free, its own task has finished (it then needs no role), or
// its deadline passes. Lost wake-ups: the waiter increments drive_waiters before it checks its
// task (both seq_cst read-modify-writes or loads), the completer publishes the task's end before it
// reads drive_waiters (a seq_cst read-modify-write), so one of them sees the other; the waiter
// holds drive_mu from its check until it waits and the completer takes drive_mu before notifying.
#include <chrono>
#include <mutex>

#include "detail/runtime_impl.hpp"
#include "spindle/fiber/overflow.hpp"
#include "spindle/sys.h"

namespace spindle::detail {

namespace {
// steady_deadline converts a monotonic deadline in ns to a steady_clock time point.
std::chrono::steady_clock::time_point steady_deadline(std::uint64_t deadline_ns) {
  const std::uint64_t now = spindle_sys_monotonic_time_ns();
  return std::chrono::steady_clock::now() +
         std::chrono::nanoseconds(deadline_ns > now ? deadline_ns - now : 0);
}

bool task_finished(const TaskCore* t) noexcept {
  return t->joiner.load(std::memory_order_seq_cst) == kJoinFinished;
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

void RuntimeImpl::notify_drive_waiters() noexcept {
  if (drive_waiters.fetch_add(0, std::memory_order_seq_cst) == 0) return;
  { std::lock_guard<std::mutex> g(drive_mu); }
  drive_cv.notify_all();
}

namespace {
// DriverRole takes the driver role of `rt` for the calling thread, waiting while another thread
// drives until `done()` is true or `deadline_ns` passes. held() says whether it got the role; the
// destructor gives it back and wakes the waiters.
class DriverRole {
 public:
  template <class Done>
  DriverRole(RuntimeImpl& rt, std::uint64_t deadline_ns, Done done) : rt_(rt) {
    std::unique_lock<std::mutex> lk(rt.drive_mu);
    while (rt.driving) {
      rt.drive_waiters.fetch_add(1, std::memory_order_seq_cst);
      bool stop = done();
      if (!stop) {
        if (deadline_ns == kNoDeadline) {
          rt.drive_cv.wait(lk);
        } else {
          stop =
              rt.drive_cv.wait_until(lk, steady_deadline(deadline_ns)) == std::cv_status::timeout;
        }
      }
      rt.drive_waiters.fetch_sub(1, std::memory_order_relaxed);
      if (stop) return;
    }
    if (done()) return;
    rt.driving = true;
    held_ = true;
  }
  ~DriverRole() {
    if (!held_) return;
    {
      std::lock_guard<std::mutex> g(rt_.drive_mu);
      rt_.driving = false;
    }
    rt_.drive_cv.notify_all();
  }
  DriverRole(const DriverRole&) = delete;
  DriverRole& operator=(const DriverRole&) = delete;
  bool held() const noexcept { return held_; }

 private:
  RuntimeImpl& rt_;
  bool held_ = false;
};
}  // namespace

void RuntimeImpl::drive_task(const TaskCore* t, std::uint64_t deadline_ns) {
  DriverRole role(*this, deadline_ns, [t] { return task_finished(t); });
  if (role.held()) workers[0]->drive(t, deadline_ns);
}

bool RuntimeImpl::drive_until_stopped(std::chrono::nanoseconds timeout) {
  auto stopped = [this] { return state.load(std::memory_order_seq_cst) == kStopped; };
  if (stopped()) return true;
  const std::uint64_t deadline_ns =
      timeout == std::chrono::nanoseconds::max()
          ? kNoDeadline
          : spindle_sys_monotonic_time_ns() + static_cast<std::uint64_t>(timeout.count());
  {
    DriverRole role(*this, deadline_ns, stopped);
    if (role.held()) workers[0]->drive(nullptr, deadline_ns);
  }
  return stopped();
}

}  // namespace spindle::detail
