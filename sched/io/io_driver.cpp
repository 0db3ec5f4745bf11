// The runtime's I/O driver: a Reactor per runtime, per-fd wait lists with latched readiness, the
// driver role shared by the workers (docs/io.md).
#include "detail/io_driver.hpp"

#include <poll.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "spindle/this_fiber.hpp"

namespace spindle::detail {

namespace {

constexpr std::uint32_t bit_of(int dir) noexcept {
  return dir == IoHandle::kRead ? platform::kReadable : platform::kWritable;
}

void unref(IoState* s) noexcept {
  if (s->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete s;
}

// reactor_kind resolves the configured backend: Auto is epoll on Linux and libuv elsewhere.
platform::ReactorKind reactor_kind(ReactorBackend b) noexcept {
  switch (b) {
    case ReactorBackend::Epoll:
      return platform::ReactorKind::Epoll;
    case ReactorBackend::Libuv:
      return platform::ReactorKind::Libuv;
    default:
#if defined(__linux__)
      return platform::ReactorKind::Epoll;
#else
      return platform::ReactorKind::Libuv;
#endif
  }
}

std::unique_ptr<Driver> make_io_driver(RuntimeImpl* rt) {
  return std::make_unique<IoDriver>(rt, reactor_kind(runtime_config(rt).reactor));
}

}  // namespace

IoDriver& IoDriver::of(RuntimeImpl* rt) {
  // Only IoDriver is ever installed as a runtime's driver.
  return static_cast<IoDriver&>(install_driver(rt, &make_io_driver));
}

IoDriver::IoDriver(RuntimeImpl* rt, platform::ReactorKind kind)
    : rt_(rt),
      reactor_(platform::Reactor::create(kind)),
      skip_arm_(reactor_->reports_without_arm()) {
  events_.resize(256);
}

IoDriver::~IoDriver() {
  // Waits on user fds still registered belong to fibers that never ran again: drop the handle
  // references the map holds (each state keeps the driver's until the loop below). user_mu_ is
  // not held with reg_mu_ (the lock order is user_mu_, then reg_mu_).
  {
    std::lock_guard<std::mutex> u(user_mu_);
    for (auto& [fd, u_fd] : user_fds_) unref(u_fd.state);
    user_fds_.clear();
  }
  // Sockets may outlive their runtime: orphan their states (their IoHandles free them).
  std::lock_guard<std::mutex> g(reg_mu_);
  for (IoState* s = live_; s != nullptr;) {
    IoState* next = s->live_next;
    try {
      reactor_->remove(s->fd);
    } catch (...) {
    }
    s->orphaned.store(true, std::memory_order_release);
    unref(s);
    s = next;
  }
  live_ = nullptr;
  std::lock_guard<std::mutex> r(retire_mu_);
  for (IoState* s : retired_) unref(s);
  retired_.clear();
}

IoState* IoDriver::attach(int fd) {
  auto* s = new IoState();
  s->fd = fd;
  s->rt = rt_;
  {
    std::lock_guard<std::mutex> g(reg_mu_);
    s->live_next = live_;
    if (live_ != nullptr) live_->live_prev = s;
    live_ = s;
  }
  try {
    // Both directions from the start: edge-triggered backends then never need to re-register.
    reactor_->add(fd, s, platform::kReadable | platform::kWritable);
  } catch (...) {
    {
      std::lock_guard<std::mutex> g(reg_mu_);
      if (s->live_prev != nullptr) {
        s->live_prev->live_next = s->live_next;
      } else {
        live_ = s->live_next;
      }
      if (s->live_next != nullptr) s->live_next->live_prev = s->live_prev;
    }
    delete s;
    throw;
  }
  registered_.fetch_add(1, std::memory_order_release);
  return s;
}

void IoDriver::detach(IoState* s) noexcept {
  {
    std::lock_guard<std::mutex> g(reg_mu_);
    if (s->live_prev != nullptr) {
      s->live_prev->live_next = s->live_next;
    } else {
      live_ = s->live_next;
    }
    if (s->live_next != nullptr) s->live_next->live_prev = s->live_prev;
    s->live_prev = s->live_next = nullptr;
  }
  try {
    reactor_->remove(s->fd);
  } catch (...) {
    // The fd was closed behind our back: the kernel already dropped it from the interest list.
  }
  registered_.fetch_sub(1, std::memory_order_release);
  // A poll that starts from now on cannot report `s`; one in progress (odd epoch) might.
  const std::uint64_t e = epoch_.load(std::memory_order_seq_cst);
  if ((e & 1) == 0) {
    unref(s);
    return;
  }
  s->retired_at = e;
  std::lock_guard<std::mutex> g(retire_mu_);
  try {
    retired_.push_back(s);
  } catch (...) {
    // Out of memory: leak the state rather than risk a use after free.
  }
}

IoState* IoDriver::attach_user(int fd) {
  std::lock_guard<std::mutex> g(user_mu_);
  auto it = user_fds_.find(fd);
  if (it != user_fds_.end()) {
    ++it->second.waits;
    return it->second.state;
  }
  IoState* s = attach(fd);
  try {
    user_fds_.emplace(fd, UserFd{s, 1});
  } catch (...) {
    detach(s);
    unref(s);
    throw;
  }
  return s;
}

void IoDriver::detach_user(IoState* s) noexcept {
  std::lock_guard<std::mutex> g(user_mu_);
  auto it = user_fds_.find(s->fd);
  if (it == user_fds_.end() || it->second.state != s || --it->second.waits != 0) return;
  user_fds_.erase(it);
  detach(s);
  unref(s);  // the handle's reference, held by the map
}

void IoDriver::free_retired() noexcept {
  const std::uint64_t e = epoch_.load(std::memory_order_seq_cst);
  std::lock_guard<std::mutex> g(retire_mu_);
  std::size_t keep = 0;
  for (IoState* s : retired_) {
    if (s->retired_at < e && (e & 1) == 0) {
      unref(s);
    } else {
      retired_[keep++] = s;
    }
  }
  retired_.resize(keep);
}

std::size_t IoDriver::dispatch(std::size_t n) {
  std::size_t woken = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto* s = static_cast<IoState*>(events_[i].token);
    std::uint32_t bits = events_[i].ready;
    if ((bits & (platform::kHangup | platform::kError)) != 0) {
      bits |= platform::kReadable | platform::kWritable;  // the next call returns 0 or the error
    }
    Waiter* wake[2][8];
    std::size_t nwake[2] = {0, 0};
    WaitNode* overflow = nullptr;  // more than 8 waiters in a direction: a private list
    s->lock.lock();
    if ((events_[i].ready & platform::kHangup) != 0) s->closed |= platform::kReadable;
    for (int dir = 0; dir < 2; ++dir) {
      if ((bits & bit_of(dir)) == 0) continue;
      if (s->waiters[dir].empty()) {
        s->ready |= bit_of(dir);
        continue;
      }
      while (WaitNode* node = s->waiters[dir].pop_front()) {
        if (nwake[dir] < 8) {
          wake[dir][nwake[dir]++] = node->waiter;
        } else {
          node->next = overflow;  // unlinked: reuse the link for our list
          overflow = node;
        }
      }
    }
    // Collect the overflow waiters before unlocking (their nodes may vanish once signaled).
    std::vector<Waiter*> more;
    for (WaitNode* node = overflow; node != nullptr; node = node->next)
      more.push_back(node->waiter);
    s->lock.unlock();
    for (int dir = 0; dir < 2; ++dir) {
      for (std::size_t k = 0; k < nwake[dir]; ++k) wait_signal(*wake[dir][k]);
      woken += nwake[dir];
    }
    for (Waiter* w : more) wait_signal(*w);
    woken += more.size();
  }
  io_wakeups.fetch_add(woken, std::memory_order_relaxed);
  return woken;
}

std::size_t IoDriver::try_poll_nonblocking() {
  if (!registered()) return 0;
  int expected = 0;
  if (!role_.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return 0;
  epoch_.fetch_add(1, std::memory_order_seq_cst);
  std::size_t woken = 0;
  try {
    woken = dispatch(reactor_->poll(events_.data(), events_.size(), 0));
  } catch (const std::exception& e) {
    log_debug(rt_, "io: poll failed: %s", e.what());
  }
  epoch_.fetch_add(1, std::memory_order_seq_cst);
  polls.fetch_add(1, std::memory_order_relaxed);
  role_.store(0, std::memory_order_release);
  free_retired();
  return woken;
}

bool IoDriver::try_acquire_blocking() noexcept {
  for (int spins = 0; spins < 4096; ++spins) {
    int expected = 0;
    if (role_.compare_exchange_weak(expected, 2, std::memory_order_acquire)) return true;
    if (expected == 2) return false;  // another idle worker waits in the reactor
    pause_cpu();                      // a busy worker's non-blocking poll: short
  }
  return false;
}

std::size_t IoDriver::poll_blocking(std::int64_t timeout_ns) {
  epoch_.fetch_add(1, std::memory_order_seq_cst);
  std::size_t woken = 0;
  try {
    woken = dispatch(reactor_->poll(events_.data(), events_.size(), timeout_ns));
  } catch (const std::exception& e) {
    log_debug(rt_, "io: poll failed: %s", e.what());
  }
  epoch_.fetch_add(1, std::memory_order_seq_cst);
  polls.fetch_add(1, std::memory_order_relaxed);
  role_.store(0, std::memory_order_release);
  free_retired();
  return woken;
}

WaitStatus IoDriver::wait(IoState* s, int dir, std::uint64_t deadline_ns, bool always_arm) {
  const std::uint32_t bit = bit_of(dir);
  Waiter w;
  WaitNode node(&w);
  s->lock.lock();
  if (((s->ready | s->closed) & bit) != 0) {
    s->ready &= ~bit;  // consume a readiness reported while nobody waited
    s->lock.unlock();
    return WaitStatus::Signaled;
  }
  s->waiters[dir].push_back(&node);
  s->lock.unlock();
  // Without arm() (skip_arm_), no readiness is lost either: the caller saw EAGAIN (or a short read,
  // which drains a TCP socket) before it came here, so any readiness now begins later, and the
  // backend reports it to a poll that then wakes this node or, if it runs before the push above,
  // latches it in `ready`, which was checked under the same lock.
  if (!skip_arm_ || always_arm) {
    try {
      reactor_->arm(s->fd, s, bit);
    } catch (...) {
      withdraw_or_settle(w, node, s->lock, s->waiters[dir]);
      throw;
    }
  }
  // A poll that claimed us meanwhile wins: take the wakeup.
  return wait_or_withdraw(w, node, s->lock, s->waiters[dir], deadline_ns, true);
}

namespace {
// attaching marks an IoHandle whose registration is in progress.
IoState* attaching() noexcept {
  static IoState marker;
  return &marker;
}

// poll_fd blocks a plain OS thread in poll(2) until `fd` is ready for `dir` or the deadline.
WaitStatus poll_fd(int fd, int dir, std::uint64_t deadline_ns) {
  struct pollfd p;
  p.fd = fd;
  p.events = static_cast<short>(dir == IoHandle::kRead ? POLLIN : POLLOUT);
  for (;;) {
    int timeout_ms = -1;
    if (deadline_ns != kNoDeadline) {
      const std::uint64_t now = now_ns();
      if (now >= deadline_ns) return WaitStatus::Timeout;
      const std::uint64_t left = deadline_ns - now;
      timeout_ms = static_cast<int>(std::min<std::uint64_t>((left + 999'999) / 1'000'000, 1 << 30));
    }
    p.revents = 0;
    const int r = ::poll(&p, 1, timeout_ms);
    if (r > 0 && (p.revents & POLLNVAL) != 0) {
      throw std::system_error(EBADF, std::generic_category(), "poll");
    }
    if (r > 0) return WaitStatus::Signaled;
    if (r < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
  }
}

}  // namespace

IoHandle::IoHandle(IoHandle&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      state_(o.state_.exchange(nullptr, std::memory_order_acq_rel)),
      driver_(std::exchange(o.driver_, nullptr)) {}

IoHandle& IoHandle::operator=(IoHandle&& o) noexcept {
  if (this != &o) {
    release();
    fd_ = std::exchange(o.fd_, -1);
    state_.store(o.state_.exchange(nullptr, std::memory_order_acq_rel), std::memory_order_release);
    driver_ = std::exchange(o.driver_, nullptr);
  }
  return *this;
}

void IoHandle::release() noexcept {
  IoState* s = state_.exchange(nullptr, std::memory_order_acq_rel);
  if (s != nullptr && s != attaching()) {
    if (!s->orphaned.load(std::memory_order_acquire)) driver_->detach(s);
    unref(s);
    driver_ = nullptr;
  }
  fd_ = -1;
}

IoState* IoHandle::attach_once(RuntimeImpl* rt) {
  for (;;) {
    IoState* s = state_.load(std::memory_order_acquire);
    if (s != nullptr && s != attaching()) return s;
    if (s == nullptr) {
      if (!state_.compare_exchange_strong(s, attaching(), std::memory_order_acq_rel)) continue;
      IoState* fresh;
      try {
        fresh = IoDriver::of(rt).attach(fd_);
      } catch (...) {
        state_.store(nullptr, std::memory_order_release);  // the next waiter may try again
        throw;
      }
      driver_ = &IoDriver::of(rt);
      state_.store(fresh, std::memory_order_release);
      return fresh;
    }
    // Another waiter (the socket's reader or writer, on another worker) is registering: one
    // epoll_ctl away, so yield the worker briefly rather than park.
    this_fiber::yield();
  }
}

WaitStatus IoHandle::wait(int dir, std::uint64_t deadline_ns) {
  if (fd_ < 0) throw std::logic_error("spindle: I/O wait on a closed socket");
  RuntimeImpl* rt = current_runtime();
  if (rt != nullptr) {
    IoState* s = attach_once(rt);
    if (s->orphaned.load(std::memory_order_acquire)) {
      throw std::logic_error("spindle: I/O wait on a socket whose runtime was destroyed");
    }
    if (s->rt != rt) {
      throw std::logic_error(
          "spindle: a socket registered with one runtime was used by a fiber of another");
    }
    return driver_->wait(s, dir, deadline_ns);
  }
  return poll_fd(fd_, dir, deadline_ns);
}

WaitStatus wait_user_fd(int fd, int dir, std::uint64_t deadline_ns) {
  RuntimeImpl* rt = current_runtime();
  if (rt == nullptr) return poll_fd(fd, dir, deadline_ns);
  IoDriver& d = IoDriver::of(rt);
  IoState* s = d.attach_user(fd);
  struct Detach {
    IoDriver& d;
    IoState* s;
    ~Detach() { d.detach_user(s); }
  } detach{d, s};
  return d.wait(s, dir, deadline_ns, true);
}

}  // namespace spindle::detail
