// sched/io/detail/io_driver.hpp (internal): the runtime's I/O driver. One Reactor per runtime,
// created on the first fd registration (IoDriver::of); fibers wait through IoHandle objects;
// workers poll the reactor (docs/io.md).
//
// Waiting for I/O, per fd and direction:
//   try the call -> EAGAIN -> IoHandle::wait(dir, deadline) -> retry the call.
// wait() consumes a readiness latched by an earlier report, or links the fiber on the direction's
// wait list, arms the reactor and parks. The driver (whichever worker polls the reactor) wakes
// every waiter of a reported direction, or latches the direction when nobody waits. Spurious
// wakeups are normal: the caller retries the call and waits again on EAGAIN.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "spindle/config.hpp"
#include "spindle/detail/sched_hooks.hpp"
#include "spindle/detail/wait.hpp"
#include "spindle/platform/reactor.hpp"

namespace spindle::detail {

class RuntimeImpl;

// IoState is the driver's per-fd state; the reactor token points to it. Retired by
// IoDriver::detach and freed (IoDriver::free_retired) once no poll in progress can still report it.
struct IoState {
  int fd = -1;
  RuntimeImpl* rt = nullptr;
  WaitLock lock;
  std::uint32_t ready = 0;  // directions reported while nobody waited (latched)
  // closed holds kReadable once a hang-up was reported: the read side never blocks again (reads
  // return 0 or an error), so a read wait returns at once, even after the latch was consumed (a
  // short read before the EOF would otherwise wait for an edge that never comes). The write side
  // is not made sticky: a peer's half-close leaves writes able to block.
  std::uint32_t closed = 0;
  WaitList waiters[2];  // [0] readers, [1] writers
  // Lifetime: one reference for the IoHandle, one for the driver (dropped once no poll can
  // report it any more, or when the driver is destroyed first: `orphaned`).
  std::atomic<std::uint32_t> refs{2};
  std::atomic<bool> orphaned{false};
  std::uint64_t retired_at = 0;
  IoState* live_prev = nullptr;  // the driver's list of registered states (under reg_mu_)
  IoState* live_next = nullptr;
};

// IoDriver is one runtime's reactor plus the bookkeeping around it.
class IoDriver final : public Driver {
 public:
  IoDriver(RuntimeImpl* rt, platform::ReactorKind kind);
  ~IoDriver() override;

  // of returns `rt`'s I/O driver, creating it (with the configured reactor backend) on first use.
  // Throws std::system_error when the reactor cannot be created.
  static IoDriver& of(RuntimeImpl* rt);
  // attach registers `fd` (non-blocking) and returns its state. Throws std::system_error.
  IoState* attach(int fd);
  // detach deregisters and retires a state (freed once no poll in progress can report it).
  void detach(IoState* s) noexcept;
  // attach_user registers a user-owned fd (net::wait_readable / wait_writable) for the duration of
  // one wait and returns its state; waits already in progress on the same fd (say a reader and a
  // writer) share the registration. Each call is paired with detach_user, and the last one
  // deregisters the fd, so its owner may close it once the wait has returned. Throws
  // std::system_error like attach (EEXIST if the fd is also a Spindle socket registered here).
  IoState* attach_user(int fd);
  // detach_user ends one wait begun by attach_user (the last deregisters and retires the state).
  void detach_user(IoState* s) noexcept;

  // release_blocking gives the role back without polling (work turned up).
  void release_blocking() noexcept override { role_.store(0, std::memory_order_release); }
  // try_poll_nonblocking polls without blocking if no other worker holds the driver role, waking
  // the waiters of ready fds (their fibers become ready on the calling worker). Returns how many
  // fibers it woke.
  std::size_t try_poll_nonblocking() override;
  // Driver role for an idle worker: try_acquire_blocking takes it (false if another idle worker
  // is blocked in the reactor; waits out a short non-blocking poll by a busy worker), then
  // poll_blocking waits in the reactor up to timeout_ns (-1 forever) and releases the role.
  bool try_acquire_blocking() noexcept override;
  std::size_t poll_blocking(std::int64_t timeout_ns) override;
  // wake interrupts a blocking poll (any thread).
  void wake() noexcept override { reactor_->wake(); }

  // wait blocks the calling fiber until `s` may be ready for `dir` (0 read, 1 write), the
  // deadline passes or the fiber is cancelled. `always_arm` arms the reactor even when the backend
  // reports without arm: for callers that may wait without having seen EAGAIN first (user fds),
  // so that a readiness that exists already is reported again.
  WaitStatus wait(IoState* s, int dir, std::uint64_t deadline_ns, bool always_arm = false);

  const char* backend_name() const noexcept { return reactor_->name(); }
  platform::Reactor& reactor() noexcept { return *reactor_; }

  // Counters for RuntimeStats.
  std::atomic<std::uint64_t> polls{0}, io_wakeups{0};

 private:
  std::size_t dispatch(std::size_t n);
  void free_retired() noexcept;

  RuntimeImpl* rt_;
  std::unique_ptr<platform::Reactor> reactor_;
  // skip_arm_: the backend reports new readiness without arm() (Reactor::reports_without_arm), and
  // this driver's latch (IoState::ready) plus its callers' try-before-wait cover the rest, so
  // wait() does not arm (no EPOLL_CTL_MOD per wait).
  bool skip_arm_ = false;
  // Driver role: 0 free, 1 held by a non-blocking poll, 2 held by a blocking poll.
  std::atomic<int> role_{0};
  // epoch_ is odd while a poll (and the dispatch of its events) is in progress.
  std::atomic<std::uint64_t> epoch_{0};
  std::mutex retire_mu_;
  std::vector<IoState*> retired_;
  std::mutex reg_mu_;
  IoState* live_ = nullptr;  // registered states (orphaned when the driver goes first)
  // User-owned fds being waited on (attach_user): the state and how many waits use it. The map
  // holds the handle's reference of each state. Lock order: user_mu_, then reg_mu_.
  struct UserFd {
    IoState* state;
    std::uint32_t waits;
  };
  std::mutex user_mu_;
  std::unordered_map<int, UserFd> user_fds_;
  std::vector<platform::ReactorEvent> events_;  // used by the role holder only
};

// IoHandle is what a socket object holds to wait for its fd: registration with the runtime of the
// first fiber that waits (lazily), ::poll(2) for plain OS threads. One reader and one writer may
// wait at once, on any workers: the first waits to arrive race to register, exactly one does it and
// the other waits for that registration. Moving or releasing it while a wait is in progress is not
// allowed (the socket objects forbid it).
class IoHandle {
 public:
  // kRead and kWrite name the directions for wait().
  static constexpr int kRead = 0, kWrite = 1;

  explicit IoHandle(int fd = -1) noexcept : fd_(fd) {}
  IoHandle(IoHandle&& o) noexcept;
  IoHandle& operator=(IoHandle&& o) noexcept;
  IoHandle(const IoHandle&) = delete;
  IoHandle& operator=(const IoHandle&) = delete;
  // ~IoHandle deregisters (does not close the fd).
  ~IoHandle() { release(); }

  // fd returns the descriptor (-1 if none).
  int fd() const noexcept { return fd_; }
  // wait blocks until the fd may be ready for `dir` (kRead or kWrite; spurious wakeups happen:
  // retry the call), until `deadline_ns` (monotonic, kNoDeadline) passes -> Timeout, or, in a
  // fiber, until the fiber is cancelled -> Cancelled. A fiber parks (registering the fd with its
  // runtime's reactor on first use); an OS thread blocks in poll(2). Throws std::system_error if
  // the fd cannot be registered or polled, std::logic_error if a fiber of another runtime than the
  // one the fd is registered with waits on it.
  WaitStatus wait(int dir, std::uint64_t deadline_ns);
  // release deregisters the fd from the reactor (call before closing it) and forgets it.
  void release() noexcept;

 private:
  // attach_once registers the fd with `rt` unless already done (any thread); returns the state.
  IoState* attach_once(RuntimeImpl* rt);

  int fd_;
  // state_ is nullptr (not registered), attaching() (a waiter is registering) or the state.
  // driver_ is written before state_ is published with release ordering.
  std::atomic<IoState*> state_{nullptr};
  IoDriver* driver_ = nullptr;
};

// wait_user_fd waits until the user-owned fd `fd` may be ready for `dir` (IoHandle::kRead or
// kWrite), `deadline_ns` passes (Timeout) or the calling fiber is cancelled (Cancelled). In a fiber
// the fd is registered with the fiber's runtime for the wait only (IoDriver::attach_user) and the
// reactor is armed, so a readiness that exists already is reported; a plain OS thread blocks in
// poll(2). Never closes the fd. Throws std::system_error (registration or poll failure).
WaitStatus wait_user_fd(int fd, int dir, std::uint64_t deadline_ns);

}  // namespace spindle::detail
