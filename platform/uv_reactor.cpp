// UvReactor: the libuv backend of Reactor, and Reactor::create.
//
// A private uv_loop_t, one uv_poll_t per registered fd, a uv_async_t for wake-ups and for handing
// requests to the polling thread, and a uv_timer_t for poll timeouts.
//
// Threads. libuv is not thread-safe, so at any moment one thread owns the loop: the thread inside
// poll() while polling_ is true, otherwise whichever thread holds mu_. add/arm/remove take mu_; if
// no poll is in progress they apply the request to the loop directly, else they queue it in ops_
// and uv_async_send the loop, whose callback applies the queue on the polling thread (poll also
// applies what is left before it returns). arm never waits. add and remove wait until their request
// is applied: add to report errors (EEXIST, EBADF, EPERM) as exceptions, remove because it must be
// synchronous in effect (below).
//
// remove and closed fds. libuv keys its watchers by fd number and batches epoll_ctl changes until
// the next loop iteration; it aborts if such a deferred change hits a closed fd, and a uv_poll_t
// left watching a closed fd whose number gets reused would watch (and DEL) the wrong file. So the
// fd must leave libuv before the caller closes it: remove applies uv_close(uv_poll_t) (which stops
// the watcher and does EPOLL_CTL_DEL right away, and unqueues pending changes) before it returns,
// then only the memory of the handle waits for uv_close's deferred callback, which frees the Watch
// in a later loop iteration (or in the destructor). The Watch is also unlinked from the ready list
// at once, so not even a poll in progress reports the token, unless it had already collected its
// reports when the removal was applied.
//
// One-shot interest. libuv polls level-triggered. The armed interest is kept in Watch::interest;
// when a direction is reported it is dropped from the interest (and the uv_poll_t restarted with
// what is left, or stopped), so a writable socket is reported once per arm instead of at every
// iteration. arm adds the direction back; level triggering then reports readiness that already
// exists at the first loop iteration after the request is applied, which is the no-lost-edge
// guarantee: a poll in progress applies queued requests in the async callback and runs another
// iteration before returning empty-handed. UV_DISCONNECT is watched together with readability (its
// condition is level too and would otherwise repeat); it is reported as kHangup, a negative status
// (libuv's POLLERR, after which libuv has stopped the handle) as kError.
#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "spindle/platform/reactor.hpp"
#include "spindle/sys.h"

namespace spindle::platform {

#if defined(__linux__)
std::unique_ptr<Reactor> make_epoll_reactor();  // epoll_reactor.cpp
#endif

namespace {

[[noreturn]] void throw_errno(int err, const char* what) {
  throw std::system_error(err, std::generic_category(), what);
}

// libuv errors on Unix are negated errno values.
[[noreturn]] void throw_uv(int uv_err, const char* what) {
  throw_errno(-uv_err, what);
}

constexpr std::uint32_t kDirections = kReadable | kWritable;

class UvReactor;

// Watch is one registration. Everything but `fd` and `token` belongs to the loop owner.
struct Watch {
  uv_poll_t handle;  // handle.data points back to this Watch
  UvReactor* reactor;
  int fd;
  void* token;
  std::uint32_t interest = 0;  // directions armed and not reported since
  int started = 0;             // uv_poll_t event mask the handle runs with, 0 when stopped
  std::uint32_t ready = 0;     // readiness reported by libuv and not yet returned by poll()
  // Ready list links (intrusive, FIFO); `queued` tells whether w is on the list.
  Watch* prev = nullptr;
  Watch* next = nullptr;
  bool queued = false;
};

class UvReactor final : public Reactor {
 public:
  UvReactor() {
    int r = uv_loop_init(&loop_);
    if (r != 0) throw_uv(r, "uv_loop_init");
    r = uv_async_init(&loop_, &async_, &UvReactor::on_async);
    if (r != 0) {
      uv_loop_close(&loop_);
      throw_uv(r, "uv_async_init");
    }
    async_.data = this;
    uv_timer_init(&loop_, &timer_);  // cannot fail
    timer_.data = this;
  }

  ~UvReactor() override {
    for (auto& entry : watches_) {
      unlink(entry.second);
      uv_close(reinterpret_cast<uv_handle_t*>(&entry.second->handle), &UvReactor::on_closed);
    }
    watches_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    // Runs the close callbacks (freeing the Watches); returns once no handle is left.
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }

  ReactorKind kind() const noexcept override { return ReactorKind::Libuv; }
  const char* name() const noexcept override { return "libuv"; }

  void add(int fd, void* token, std::uint32_t interest) override {
    if (token == nullptr) throw std::invalid_argument("Reactor::add: null token");
    const int err = submit_and_wait(Op{OpKind::Add, fd, token, interest & kDirections, nullptr});
    if (err != 0) throw_errno(err, "uv_poll_init");
  }

  void arm(int fd, void* /*token*/, std::uint32_t interest) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (watches_.find(fd) == watches_.end()) throw_errno(ENOENT, "uv_poll_start");
    const Op op{OpKind::Arm, fd, nullptr, interest & kDirections, nullptr};
    if (!polling_) {
      apply(op);
      return;
    }
    ops_.push_back(op);
    uv_async_send(&async_);
  }

  void remove(int fd) override {
    const int err = submit_and_wait(Op{OpKind::Remove, fd, nullptr, 0, nullptr});
    if (err != 0) throw_errno(err, "uv_poll_stop");
  }

  std::size_t poll(ReactorEvent* out, std::size_t max, std::int64_t timeout_ns) override {
    if (max == 0) return 0;
    const bool forever = timeout_ns < 0;
    const std::uint64_t start = spindle_sys_monotonic_time_ns();
    const std::uint64_t deadline = forever ? 0 : saturating_add(start, timeout_ns);
    {
      std::lock_guard<std::mutex> lock(mu_);
      polling_ = true;  // from here until polling_ = false this thread owns the loop
    }
    bool woken = false;
    for (;;) {
      bool nowait =
          timeout_ns == 0 || head_ != nullptr || wake_pending_.load(std::memory_order_acquire);
      if (!nowait && !forever) {
        const std::uint64_t now = spindle_sys_monotonic_time_ns();
        if (now >= deadline) {
          nowait = true;
        } else {
          // libuv timers count whole milliseconds from the loop's cached clock: refresh it and
          // round up; an early expiry is caught below and the rest is waited for.
          const std::uint64_t ns = deadline - now;
          uv_update_time(&loop_);
          uv_timer_start(&timer_, &UvReactor::on_timer, (ns + 999999) / 1000000, 0);
        }
      }
      uv_run(&loop_, nowait ? UV_RUN_NOWAIT : UV_RUN_ONCE);
      uv_timer_stop(&timer_);
      if (wake_pending_.exchange(false, std::memory_order_acq_rel)) woken = true;
      if (head_ != nullptr || woken || nowait) break;
      if (!forever && spindle_sys_monotonic_time_ns() >= deadline) break;
      // Otherwise the iteration only applied requests, closed handles or woke up early.
    }
    std::size_t count = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      apply_queued();  // requests that came after the last iteration (a removal unlinks its Watch)
      while (count < max && head_ != nullptr) {
        Watch* w = head_;
        unlink(w);
        out[count++] = ReactorEvent{w->token, w->ready};
        w->ready = 0;
      }
      polling_ = false;
    }
    applied_.notify_all();
    return count;
  }

  void wake() noexcept override {
    if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) uv_async_send(&async_);
  }

 private:
  enum class OpKind : std::uint8_t { Add, Arm, Remove };
  // Completion is where the polling thread reports an applied add/remove to its waiting caller.
  struct Completion {
    int err = 0;
    bool done = false;
  };
  struct Op {
    OpKind kind;
    int fd;
    void* token;
    std::uint32_t interest;
    Completion* completion;  // nullptr for arm (nobody waits)
  };

  static std::uint64_t saturating_add(std::uint64_t a, std::int64_t b) noexcept {
    const auto ub = static_cast<std::uint64_t>(b);
    return a > UINT64_MAX - ub ? UINT64_MAX : a + ub;
  }

  // submit_and_wait applies op now if no poll is in progress, else hands it to the polling thread
  // and waits until that thread has applied it. Returns the errno value (0 on success).
  int submit_and_wait(Op op) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!polling_) return apply(op);
    Completion completion;
    op.completion = &completion;
    ops_.push_back(op);
    uv_async_send(&async_);
    applied_.wait(lock, [&] { return completion.done; });
    return completion.err;
  }

  // apply_queued applies the queued requests in order and completes their waiters. Loop owner,
  // mu_ held. The caller notifies applied_ after releasing mu_.
  void apply_queued() {
    for (const Op& op : ops_) {
      const int err = apply(op);
      if (op.completion != nullptr) {
        op.completion->err = err;
        op.completion->done = true;
      }
    }
    ops_.clear();
  }

  // apply carries out one request on the loop. Loop owner, mu_ held. Returns the errno value.
  // Never throws (it runs inside libuv callbacks).
  int apply(const Op& op) noexcept {
    auto it = watches_.find(op.fd);
    switch (op.kind) {
      case OpKind::Add: {
        if (it != watches_.end()) return EEXIST;
        Watch* w = new (std::nothrow) Watch{};
        if (w == nullptr) return ENOMEM;
        const int r = uv_poll_init(&loop_, &w->handle, op.fd);
        if (r != 0) {
          delete w;  // the handle was not initialized, libuv holds no reference to it
          return -r;
        }
        w->handle.data = w;
        w->reactor = this;
        w->fd = op.fd;
        w->token = op.token;
        try {
          watches_.emplace(op.fd, w);
        } catch (...) {
          uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), &UvReactor::on_closed);
          return ENOMEM;
        }
        w->interest = op.interest;
        restart(w);
        return 0;
      }
      case OpKind::Arm:
        if (it == watches_.end()) return ENOENT;  // removed in between: the caller's race
        it->second->interest |= op.interest;
        restart(it->second);
        return 0;
      case OpKind::Remove: {
        if (it == watches_.end()) return ENOENT;
        Watch* w = it->second;
        watches_.erase(it);
        unlink(w);
        // Stops the watcher and removes the fd from libuv's epoll set now; on_closed frees w later.
        uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), &UvReactor::on_closed);
        return 0;
      }
    }
    return EINVAL;
  }

  // restart makes w's uv_poll_t watch exactly w->interest. Loop owner. A no-op if that is already
  // the case: polling is level-triggered, readiness in an unchanged interest is still reported.
  void restart(Watch* w) noexcept {
    int events = 0;
    if (w->interest & kReadable) events |= UV_READABLE | UV_DISCONNECT;
    if (w->interest & kWritable) events |= UV_WRITABLE;
    if (events == w->started) return;
    if (events == 0) {
      uv_poll_stop(&w->handle);
    } else {
      uv_poll_start(&w->handle, events, &UvReactor::on_poll);  // cannot fail for our own fd
    }
    w->started = events;
  }

  // report records readiness for w and queues it on the ready list. Loop owner.
  void report(Watch* w, std::uint32_t ready) noexcept {
    w->ready |= ready;
    if (w->queued) return;
    w->queued = true;
    w->prev = tail_;
    w->next = nullptr;
    (tail_ ? tail_->next : head_) = w;
    tail_ = w;
  }

  // unlink takes w off the ready list (if it is on it) and forgets its readiness. Loop owner.
  void unlink(Watch* w) noexcept {
    if (!w->queued) return;
    (w->prev ? w->prev->next : head_) = w->next;
    (w->next ? w->next->prev : tail_) = w->prev;
    w->prev = w->next = nullptr;
    w->queued = false;
  }

  static void on_poll(uv_poll_t* handle, int status, int events) {
    auto* w = static_cast<Watch*>(handle->data);
    if (status < 0) {
      // libuv has stopped the handle (POLLERR); a later arm starts it again.
      w->started = 0;
      w->interest = 0;
      w->reactor->report(w, kError);
      return;
    }
    std::uint32_t ready = 0;
    if (events & UV_READABLE) ready |= kReadable;
    if (events & UV_WRITABLE) ready |= kWritable;
    if (events & UV_DISCONNECT) ready |= kHangup;
    if (ready == 0) return;
    // One-shot per arm: drop what was reported, so level triggering does not repeat it.
    std::uint32_t reported = 0;
    if (ready & (kReadable | kHangup)) reported |= kReadable;
    if (ready & kWritable) reported |= kWritable;
    w->interest &= ~reported;
    w->reactor->restart(w);
    w->reactor->report(w, ready);
  }

  static void on_async(uv_async_t* handle) {
    auto* self = static_cast<UvReactor*>(handle->data);
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->apply_queued();
    }
    self->applied_.notify_all();
  }

  static void on_timer(uv_timer_t*) {}

  static void on_closed(uv_handle_t* handle) { delete static_cast<Watch*>(handle->data); }

  uv_loop_t loop_;
  uv_async_t async_;
  uv_timer_t timer_;

  std::mutex mu_;
  std::condition_variable applied_;          // signalled after queued requests are applied
  bool polling_ = false;                     // mu_: a poll() owns the loop
  std::vector<Op> ops_;                      // mu_: requests for the polling thread
  std::unordered_map<int, Watch*> watches_;  // mu_ (and loop owner): registrations by fd
  std::atomic<bool> wake_pending_{false};    // wake() since the last poll return
  Watch* head_ = nullptr;                    // loop owner: ready list
  Watch* tail_ = nullptr;
};

}  // namespace

Reactor::~Reactor() = default;

std::unique_ptr<Reactor> Reactor::create(ReactorKind kind) {
  switch (kind) {
    case ReactorKind::Epoll:
#if defined(__linux__)
      return make_epoll_reactor();
#else
      throw_errno(ENOSYS, "epoll_create1");
#endif
    case ReactorKind::Libuv:
      return std::make_unique<UvReactor>();
  }
  throw std::invalid_argument("Reactor::create: unknown ReactorKind");
}

}  // namespace spindle::platform
