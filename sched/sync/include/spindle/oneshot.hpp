/// @file
/// spindle/oneshot.hpp: oneshot<T>(), a single-use channel carrying one value from one
/// OneshotSender<T> to one OneshotReceiver<T> (a promise/future pair for fibers and threads).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "spindle/channel.hpp"
#include "spindle/channel_error.hpp"
#include "spindle/detail/wait.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

namespace detail {

// OneshotState is the state both ends of a oneshot share; the last end to go frees it.
template <class T>
struct OneshotState {
  WaitLock lock;
  WaitList waiters;  // the blocked receiver, if any
  std::optional<T> value;
  bool sent = false;           // send() was called (whatever it returned)
  bool sender_gone = false;    // the sender was destroyed
  bool receiver_gone = false;  // the receiver was destroyed
  bool taken = false;          // the value was received
  std::atomic<std::uint32_t> refs{2};
};

template <class T>
void oneshot_unref(OneshotState<T>* s) noexcept {
  if (s->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete s;
}

// throw_oneshot_misuse throws std::logic_error(what).
[[noreturn]] void throw_oneshot_misuse(const char* what);

}  // namespace detail

template <class T>
class OneshotSender;
template <class T>
class OneshotReceiver;

/// Oneshot<T> is the pair of ends oneshot<T>() returns: {sender, receiver}.
template <class T>
using Oneshot = std::pair<OneshotSender<T>, OneshotReceiver<T>>;

/// oneshot makes a new single-use channel and returns its two ends: `auto [tx, rx] =
/// spindle::oneshot<T>();`. The ends may be moved to different fibers or threads; the shared state
/// is freed when both are gone. Throws std::bad_alloc.
template <class T>
Oneshot<T> oneshot();

/// OneshotSender<T> is the sending end of a oneshot: it sends at most one value. Movable, not
/// copyable; a default-constructed or moved-from sender is empty. One sender object must not be
/// used by two fibers or threads at once.
template <class T>
class OneshotSender {
  static_assert(std::is_object_v<T> && !std::is_const_v<T>, "OneshotSender<T>: object type");
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "OneshotSender<T>: T must be nothrow move constructible");

 public:
  /// OneshotSender makes an empty sender (valid() == false).
  OneshotSender() noexcept = default;
  /// OneshotSender takes over `other`'s end; `other` is left empty.
  OneshotSender(OneshotSender&& other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
  /// operator= drops the current end (see ~OneshotSender), then takes over `other`'s.
  OneshotSender& operator=(OneshotSender&& other) noexcept {
    if (this != &other) {
      reset();
      s_ = std::exchange(other.s_, nullptr);
    }
    return *this;
  }
  OneshotSender(const OneshotSender&) = delete;
  OneshotSender& operator=(const OneshotSender&) = delete;
  /// ~OneshotSender drops the sender. If nothing was sent, the receiver gets
  /// ChannelError::Disconnected, waking it if it is blocked. Never blocks.
  ~OneshotSender() { reset(); }

  /// send delivers `v` to the receiver (waking it if it is blocked) and returns success, or returns
  /// Disconnected if the receiver was dropped; then `v` is left untouched (it is moved from only on
  /// success). Never blocks. Throws std::logic_error if the sender is empty or send was already
  /// called (once, whatever it returned).
  ChannelResult<void> send(T&& v) { return send_impl(v); }
  /// send(const T&) sends a copy of `v`.
  ChannelResult<void> send(const T& v) requires std::is_copy_constructible_v<T> {
    T c(v);
    return send_impl(c);
  }
  /// is_closed says whether the receiver was dropped (a send would return Disconnected). Throws
  /// std::logic_error if the sender is empty.
  bool is_closed() const {
    if (s_ == nullptr) detail::throw_oneshot_misuse("spindle::OneshotSender: empty sender");
    s_->lock.lock();
    const bool gone = s_->receiver_gone;
    s_->lock.unlock();
    return gone;
  }
  /// valid says whether this sender refers to a oneshot.
  bool valid() const noexcept { return s_ != nullptr; }

 private:
  friend Oneshot<T> oneshot<T>();
  explicit OneshotSender(detail::OneshotState<T>* s) noexcept : s_(s) {}

  ChannelResult<void> send_impl(T& v) {
    if (s_ == nullptr) detail::throw_oneshot_misuse("spindle::OneshotSender::send: empty sender");
    s_->lock.lock();
    if (s_->sent) {
      s_->lock.unlock();
      detail::throw_oneshot_misuse("spindle::OneshotSender::send: called twice");
    }
    s_->sent = true;
    if (s_->receiver_gone) {
      s_->lock.unlock();
      return ChannelError::Disconnected;
    }
    s_->value.emplace(std::move(v));
    detail::WaitNode* n = s_->waiters.pop_front();
    if (n != nullptr) n->data = detail::kChanDone;
    s_->lock.unlock();
    if (n != nullptr) detail::wait_signal(*n->waiter);
    return {};
  }

  void reset() noexcept {
    if (s_ == nullptr) return;
    s_->lock.lock();
    s_->sender_gone = true;
    detail::WaitNode* n = s_->sent ? nullptr : s_->waiters.pop_front();
    if (n != nullptr) n->data = detail::kChanClosed;
    s_->lock.unlock();
    if (n != nullptr) detail::wait_signal(*n->waiter);
    detail::oneshot_unref(std::exchange(s_, nullptr));
  }

  detail::OneshotState<T>* s_ = nullptr;
};

/// OneshotReceiver<T> is the receiving end of a oneshot. Movable, not copyable; a
/// default-constructed or moved-from receiver is empty. One receiver object must not be used by two
/// fibers or threads at once.
/// Cooperative budget: each blocking call (not the try_ forms) spends one unit of the calling
/// fiber's budget; once every 128 such calls in a row (spindle/detail/coop.hpp) the call is a
/// cancellation point even when it would not block (recv returns ChannelError::Cancelled without
/// taking the value), and it yields first once the fiber has held its worker for poll_interval.
/// docs/scheduler.md, "Cooperative budget".
template <class T>
class OneshotReceiver {
 public:
  /// OneshotReceiver makes an empty receiver (valid() == false).
  OneshotReceiver() noexcept = default;
  /// OneshotReceiver takes over `other`'s end; `other` is left empty.
  OneshotReceiver(OneshotReceiver&& other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
  /// operator= drops the current end (see ~OneshotReceiver), then takes over `other`'s.
  OneshotReceiver& operator=(OneshotReceiver&& other) noexcept {
    if (this != &other) {
      reset();
      s_ = std::exchange(other.s_, nullptr);
    }
    return *this;
  }
  OneshotReceiver(const OneshotReceiver&) = delete;
  OneshotReceiver& operator=(const OneshotReceiver&) = delete;
  /// ~OneshotReceiver drops the receiver: a later send returns Disconnected; a value already sent
  /// and not received is destroyed with the shared state. Never blocks.
  ~OneshotReceiver() { reset(); }

  /// recv waits for the value and returns it. Returns Disconnected if the sender was dropped
  /// without sending, Closed if the value was already received, and Cancelled if the fiber's task
  /// is cancelled while blocked (a value that arrives anyway stays receivable). Throws
  /// std::logic_error if the receiver is empty.
  [[nodiscard]] ChannelResult<T> recv() { return recv_impl(detail::kNoDeadline, true); }
  /// try_recv is recv without blocking: Empty while nothing was sent and the sender lives.
  [[nodiscard]] ChannelResult<T> try_recv() { return recv_impl(0, false); }
  /// recv_for is recv that gives up with Timeout after `timeout` (at least).
  template <class Rep, class Period>
  [[nodiscard]] ChannelResult<T> recv_for(std::chrono::duration<Rep, Period> timeout) {
    return recv_impl(detail::deadline_after(timeout), true);
  }
  /// recv_until is recv that gives up with Timeout once `deadline` (any clock) has passed.
  template <class Clock, class Dur>
  [[nodiscard]] ChannelResult<T> recv_until(std::chrono::time_point<Clock, Dur> deadline) {
    return recv_impl(detail::deadline_at(deadline), true);
  }
  /// valid says whether this receiver refers to a oneshot.
  bool valid() const noexcept { return s_ != nullptr; }

 private:
  friend Oneshot<T> oneshot<T>();
  explicit OneshotReceiver(detail::OneshotState<T>* s) noexcept : s_(s) {}

  // take_locked takes the value or reports why there is none (lock held).
  ChannelResult<T> take_locked() noexcept {
    if (s_->value) {
      ChannelResult<T> r(std::in_place, std::move(*s_->value));
      s_->value.reset();
      s_->taken = true;
      return r;
    }
    if (s_->taken) return ChannelError::Closed;
    // Sent but neither here nor taken cannot happen while the receiver lives.
    if (s_->sender_gone) return ChannelError::Disconnected;
    return ChannelError::Empty;
  }

  ChannelResult<T> recv_impl(std::uint64_t deadline, bool block) {
    if (s_ == nullptr) detail::throw_oneshot_misuse("spindle::OneshotReceiver: empty receiver");
    if (block && !detail::coop_proceed_ns(deadline)) {
      return ChannelError::Cancelled;
    }
    s_->lock.lock();
    ChannelResult<T> r = take_locked();
    if (r || r.error() != ChannelError::Empty || !block) {
      s_->lock.unlock();
      return r;
    }
    if (detail::deadline_passed(deadline)) {
      s_->lock.unlock();
      return ChannelError::Timeout;
    }
    detail::Waiter w;
    detail::WaitNode node(&w);
    s_->waiters.push_back(&node);
    s_->lock.unlock();
    // Claimed by send or by the sender's drop (even after a timeout): it signals.
    const detail::WaitStatus st =
        detail::wait_or_withdraw(w, node, s_->lock, s_->waiters, deadline, true);
    if (st != detail::WaitStatus::Signaled) {
      return st == detail::WaitStatus::Timeout ? ChannelError::Timeout : ChannelError::Cancelled;
    }
    return take();
  }

  ChannelResult<T> take() noexcept {
    s_->lock.lock();
    ChannelResult<T> r = take_locked();
    s_->lock.unlock();
    return r;
  }

  void reset() noexcept {
    if (s_ == nullptr) return;
    s_->lock.lock();
    s_->receiver_gone = true;
    s_->lock.unlock();
    detail::oneshot_unref(std::exchange(s_, nullptr));
  }

  detail::OneshotState<T>* s_ = nullptr;
};

template <class T>
Oneshot<T> oneshot() {
  auto* s = new detail::OneshotState<T>();
  return Oneshot<T>(OneshotSender<T>(s), OneshotReceiver<T>(s));
}

}  // namespace spindle

SPINDLE_API_END
