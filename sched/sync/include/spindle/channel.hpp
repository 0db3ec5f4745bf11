/// @file
/// spindle/channel.hpp: Channel<T>, a bounded multi-producer multi-consumer channel between fibers
/// and OS threads (Go's chan, including capacity 0 = rendezvous), and make_channel.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "spindle/channel_error.hpp"
#include "spindle/detail/wait.hpp"
#include "spindle/this_fiber.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

namespace detail {

// What a channel wait node's `data` says once a waker has completed it (under the channel lock).
inline constexpr std::uintptr_t kChanPending = 0;  // not completed
inline constexpr std::uintptr_t kChanDone = 1;     // the value was taken / delivered
inline constexpr std::uintptr_t kChanClosed = 2;   // woken by close(); the value was not touched

// ChanOp is the outcome of an operation attempted under the channel lock without blocking.
enum class ChanOp : std::uint8_t { Done, WouldBlock, Closed };

// Uninit is raw storage for one T (where a sender constructs the value a receiver waits for).
template <class T>
struct Uninit {
  alignas(T) unsigned char bytes[sizeof(T)];
  T* ptr() noexcept { return std::launder(reinterpret_cast<T*>(bytes)); }
};

// LockGuard unlocks a held WaitLock when it goes out of scope, unless unlock() already did.
class LockGuard {
 public:
  explicit LockGuard(WaitLock& l) noexcept : l_(&l) { l.lock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;
  ~LockGuard() {
    if (l_ != nullptr) l_->unlock();
  }
  void unlock() noexcept {
    l_->unlock();
    l_ = nullptr;
  }

 private:
  WaitLock* l_;
};

// throw_bad_capacity throws std::invalid_argument naming the capacity and the maximum.
[[noreturn]] void throw_bad_capacity(const char* what, std::size_t capacity, std::size_t max);

struct ChanAccess;

}  // namespace detail

/// Channel<T> is a bounded multi-producer multi-consumer FIFO channel, Go's `chan T`. Any number of
/// fibers (of any runtimes) and OS threads may send and receive concurrently. A blocked fiber parks
/// (its worker runs other fibers); a blocked OS thread sleeps on a futex.
///
/// Capacity: `capacity` values can be buffered; capacity 0 makes a rendezvous channel, where a send
/// completes only once a receiver has taken the value. Values sent by one sender are received in
/// the order it sent them. A send that finds a receiver waiting hands the value straight to it; a
/// receive that frees a buffer slot moves the oldest blocked sender's value into the buffer and
/// wakes that sender. The buffer grows on demand (doubling) up to `capacity`, so a large capacity
/// costs memory only when it is used.
///
/// Blocking: a fiber whose operation cannot complete first yields once (detail::yield_before_park:
/// other ready fibers of its worker run, possibly the partner it waits for, and the caller comes
/// back through the worker's run-next slot) and retries; only then does it park in the channel's
/// wait list, where blocked senders and receivers are served in FIFO order. The retry saves a park
/// and a wake-up when the partner is runnable on the same worker. OS threads block at once.
///
/// Results: every operation returns a ChannelResult (no exception on any failure it reports): see
/// ChannelError. Blocking send/recv (without try_) are cancellation points: when the calling
/// fiber's task is cancelled while the call would block, it returns ChannelError::Cancelled (it
/// does not throw spindle::Cancelled). An operation that can complete at once completes even if the
/// task is cancelled.
///
/// Failed sends keep the value: send/try_send/send_for/send_until take an rvalue reference and move
/// from it only when the send succeeds. On any error (Full, Closed, Timeout, Cancelled) the
/// caller's object is left untouched, so `if (!ch.try_send(std::move(p))) use(p);` is valid. An
/// lvalue argument is copied first (the copy is dropped on failure; the original is never touched).
///
/// Closing: close() is idempotent. It fails every blocked and future send with Closed (their values
/// stay with the senders, as above); receivers first drain the buffered values, then get Closed.
///
/// Sharing: a Channel is neither copyable nor movable; share it by reference or pointer. It must
/// outlive every operation on it (destroy it only when no fiber or thread is inside a call). For
/// shared ownership use make_channel, which returns a std::shared_ptr<Channel<T>>.
///
/// T must be nothrow move constructible (values move under the channel's internal lock).
/// Cooperative budget: each blocking call (not the try_ forms) spends one unit of the calling
/// fiber's budget; once every 128 such calls in a row (spindle/detail/coop.hpp) the call is a
/// cancellation point even when it would not block (it returns ChannelError::Cancelled without
/// sending or receiving), and it yields first once the fiber has held its worker for poll_interval.
/// docs/scheduler.md, "Cooperative budget".
template <class T>
class Channel {
  static_assert(std::is_object_v<T> && !std::is_const_v<T> && !std::is_array_v<T>,
                "Channel<T>: T must be a non-const object type");
  static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                "Channel<T>: T must be nothrow move constructible and destructible");

 public:
  /// kMaxCapacity is the largest capacity a Channel accepts (2^30).
  static constexpr std::size_t kMaxCapacity = std::size_t{1} << 30;

  /// Channel makes an open, empty channel that buffers up to `capacity` values (0: rendezvous).
  /// Throws std::invalid_argument naming kMaxCapacity if capacity > kMaxCapacity, std::bad_alloc.
  explicit Channel(std::size_t capacity = 0) : cap_(capacity) {
    if (capacity > kMaxCapacity) {
      detail::throw_bad_capacity("spindle::Channel", capacity, kMaxCapacity);
    }
    if (capacity > 0) {
      const std::size_t phys = std::min<std::size_t>(std::bit_ceil(capacity), kInitialSlots);
      buf_ = allocate(phys);
      mask_ = phys - 1;
    }
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  /// ~Channel destroys the values still buffered. Precondition: no call on the channel is running
  /// or blocked.
  ~Channel() {
    assert(recvq_.empty() && sendq_.empty());
    const std::size_t n = count_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) at((head_ + i) & mask_)->~T();
    if (buf_ != nullptr) deallocate(buf_, mask_ + 1);
  }

  /// send delivers `v`: to a waiting receiver, else into the buffer, else it blocks until a
  /// receiver takes it or there is room. Moves from `v` only on success. Returns Closed if the
  /// channel is or gets closed, Cancelled if the fiber's task is cancelled while blocked. Throws
  /// only std::bad_alloc (growing the buffer; `v` is then untouched).
  ChannelResult<void> send(T&& v) { return send_impl(v, detail::kNoDeadline, true); }
  /// send(const T&) sends a copy of `v` (dropped on failure). Throws what T's copy throws.
  ChannelResult<void> send(const T& v) requires std::is_copy_constructible_v<T> {
    T c(v);
    return send_impl(c, detail::kNoDeadline, true);
  }
  /// try_send is send without blocking: Full when no receiver waits and the buffer has no room,
  /// Closed when closed. Moves from `v` only on success.
  ChannelResult<void> try_send(T&& v) { return send_impl(v, 0, false); }
  /// try_send(const T&) tries to send a copy of `v`.
  ChannelResult<void> try_send(const T& v) requires std::is_copy_constructible_v<T> {
    T c(v);
    return send_impl(c, 0, false);
  }
  /// send_for is send that gives up with Timeout after `timeout` (at least; a zero or negative
  /// timeout still completes what can complete at once).
  template <class Rep, class Period>
  ChannelResult<void> send_for(T&& v, std::chrono::duration<Rep, Period> timeout) {
    return send_impl(v, detail::deadline_after(timeout), true);
  }
  /// send_for(const T&, timeout) sends a copy of `v` with a timeout.
  template <class Rep, class Period>
  ChannelResult<void> send_for(const T& v, std::chrono::duration<Rep, Period> timeout) requires
      std::is_copy_constructible_v<T> {
    T c(v);
    return send_impl(c, detail::deadline_after(timeout), true);
  }
  /// send_until is send that gives up with Timeout once `deadline` (any clock) has passed.
  template <class Clock, class Dur>
  ChannelResult<void> send_until(T&& v, std::chrono::time_point<Clock, Dur> deadline) {
    return send_impl(v, detail::deadline_at(deadline), true);
  }
  /// send_until(const T&, deadline) sends a copy of `v` with a deadline.
  template <class Clock, class Dur>
  ChannelResult<void> send_until(const T& v, std::chrono::time_point<Clock, Dur> deadline) requires
      std::is_copy_constructible_v<T> {
    T c(v);
    return send_impl(c, detail::deadline_at(deadline), true);
  }

  /// recv takes the oldest value: from the buffer, else from a blocked sender, else it blocks until
  /// one is sent. Returns Closed once the channel is closed and drained, Cancelled if the fiber's
  /// task is cancelled while blocked (a cancelled receiver never takes a value it then drops).
  [[nodiscard]] ChannelResult<T> recv() { return recv_impl(detail::kNoDeadline, true); }
  /// try_recv is recv without blocking: Empty when nothing is buffered and no sender waits, Closed
  /// when closed and drained.
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

  /// close closes the channel and returns true, or returns false if it was already closed. Wakes
  /// every blocked sender (Closed; values stay with them) and every blocked receiver (Closed: a
  /// receiver only blocks when nothing is buffered). Buffered values stay receivable. Never blocks.
  bool close() noexcept {
    lock_.lock();
    if (closed_.load(std::memory_order_relaxed)) {
      lock_.unlock();
      return false;
    }
    closed_.store(true, std::memory_order_relaxed);
    // Claimed nodes are chained through `next` (not a WaitList: they must stay unlinked) and
    // signaled, oldest first, after the lock is released.
    detail::WaitNode* head = nullptr;
    detail::WaitNode** tail = &head;
    for (detail::WaitList* q : {&sendq_, &recvq_}) {
      while (detail::WaitNode* n = q->pop_front()) {
        if (!detail::try_claim(n)) continue;  // a select that already fired elsewhere
        n->data = detail::kChanClosed;
        *tail = n;
        tail = &n->next;
      }
    }
    lock_.unlock();
    while (head != nullptr) {
      detail::WaitNode* next = head->next;  // read before the signal: the node may vanish after
      detail::wait_signal(*head->waiter);
      head = next;
    }
    return true;
  }
  /// is_closed says whether close() has been called (a snapshot). Never blocks.
  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  /// size returns the number of buffered values (a snapshot; always 0 for capacity 0). Never
  /// blocks.
  std::size_t size() const noexcept { return count_.load(std::memory_order_relaxed); }
  /// capacity returns the capacity given to the constructor.
  std::size_t capacity() const noexcept { return cap_; }

 private:
  friend struct detail::ChanAccess;
  static constexpr std::size_t kInitialSlots = 64;

  static T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{alignof(T)}));
  }
  T* at(std::size_t i) noexcept { return std::launder(buf_ + i); }
  // Sized deallocation is off by default in clang before 19 (-fsized-deallocation): there the sized
  // operator delete is not declared and every Channel<T>::send failed to compile.
#if defined(__cpp_sized_deallocation)
  static void deallocate(T* p, std::size_t n) noexcept {
    ::operator delete (p, n * sizeof(T), std::align_val_t{alignof(T)});
  }
#else
  static void deallocate(T* p, std::size_t) noexcept {
    ::operator delete (p, std::align_val_t{alignof(T)});
  }
#endif

  // push appends to the ring buffer (caller checked count_ < cap_). May grow it: throws
  // std::bad_alloc with nothing changed.
  void push(T&& v) {
    const std::size_t n = count_.load(std::memory_order_relaxed);
    if (n == mask_ + 1) [[unlikely]]
      grow();
    ::new (static_cast<void*>(buf_ + ((head_ + n) & mask_))) T(std::move(v));
    count_.store(n + 1, std::memory_order_relaxed);
  }
  // pop_into moves the oldest buffered value into `out` (raw storage). Caller checked count_ > 0.
  void pop_into(T* out) noexcept {
    T* src = at(head_);
    ::new (static_cast<void*>(out)) T(std::move(*src));
    src->~T();
    head_ = (head_ + 1) & mask_;
    count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }
  void grow() {
    const std::size_t old = mask_ + 1;
    T* fresh = allocate(old * 2);
    for (std::size_t i = 0; i < old; ++i) {
      T* src = at((head_ + i) & mask_);
      ::new (static_cast<void*>(fresh + i)) T(std::move(*src));
      src->~T();
    }
    deallocate(buf_, old);
    buf_ = fresh;
    head_ = 0;
    mask_ = old * 2 - 1;
  }

  // send_locked tries to complete a send under lock_ without blocking. Done: `v` was moved to a
  // receiver (returned in `wake`: signal it after unlocking) or into the buffer. WouldBlock/Closed:
  // `v` is untouched.
  detail::ChanOp send_locked(T& v, detail::WaitNode*& wake) {
    if (closed_.load(std::memory_order_relaxed)) [[unlikely]] {
      return detail::ChanOp::Closed;
    }
    while (detail::WaitNode* n = recvq_.pop_front()) {
      if (!detail::try_claim(n)) continue;  // a select that already fired elsewhere
      ::new (n->slot) T(std::move(v));
      n->data = detail::kChanDone;
      wake = n;
      return detail::ChanOp::Done;
    }
    if (count_.load(std::memory_order_relaxed) < cap_) {
      push(std::move(v));
      return detail::ChanOp::Done;
    }
    return detail::ChanOp::WouldBlock;
  }

  // recv_locked tries to complete a receive under lock_ without blocking. Done: a value was
  // constructed at `out`; a blocked sender to signal after unlocking may be returned in `wake`.
  detail::ChanOp recv_locked(T* out, detail::WaitNode*& wake) noexcept {
    if (count_.load(std::memory_order_relaxed) > 0) {
      pop_into(out);
      // A slot is free: the oldest blocked sender's value moves into the buffer (no growth needed).
      while (detail::WaitNode* n = sendq_.pop_front()) {
        if (!detail::try_claim(n)) continue;
        T* src = static_cast<T*>(n->slot);
        ::new (static_cast<void*>(
            buf_ + ((head_ + count_.load(std::memory_order_relaxed)) & mask_))) T(std::move(*src));
        count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        n->data = detail::kChanDone;
        wake = n;
        break;
      }
      return detail::ChanOp::Done;
    }
    while (detail::WaitNode* n = sendq_.pop_front()) {  // rendezvous: take from the sender
      if (!detail::try_claim(n)) continue;
      ::new (static_cast<void*>(out)) T(std::move(*static_cast<T*>(n->slot)));
      n->data = detail::kChanDone;
      wake = n;
      return detail::ChanOp::Done;
    }
    return closed_.load(std::memory_order_relaxed) ? detail::ChanOp::Closed
                                                   : detail::ChanOp::WouldBlock;
  }

  // send_attempt takes lock_ and tries send_locked. Returns with lock_ still held on WouldBlock,
  // released otherwise (also when it throws).
  detail::ChanOp send_attempt(T& v, detail::WaitNode*& wake) {
    lock_.lock();
    detail::ChanOp op;
    try {
      op = send_locked(v, wake);
    } catch (...) {  // std::bad_alloc growing the buffer: nothing changed
      lock_.unlock();
      throw;
    }
    if (op != detail::ChanOp::WouldBlock) lock_.unlock();
    return op;
  }

  ChannelResult<void> send_impl(T& v, std::uint64_t deadline, bool block) {
    // The cooperative budget (blocking forms only), before anything happens: cancelled, nothing
    // was sent.
    if (block && !detail::coop_proceed_ns(deadline)) {
      return ChannelError::Cancelled;
    }
    detail::WaitNode* wake = nullptr;
    const detail::ChanOp op = send_attempt(v, wake);
    if (op == detail::ChanOp::WouldBlock) [[unlikely]] {
      lock_.unlock();
      if (!block) return ChannelError::Full;
      return send_slow(v, deadline);
    }
    if (wake != nullptr) detail::wait_signal(*wake->waiter);
    if (op == detail::ChanOp::Done) return {};
    return ChannelError::Closed;
  }

  // send_slow is a send that looked like it would block. A fiber first lets the ready fibers of its
  // worker run once (the partner may be one of them) and retries; then it parks.
  ChannelResult<void> send_slow(T& v, std::uint64_t deadline) {
    if (detail::deadline_passed(deadline)) return ChannelError::Timeout;
    detail::Waiter w;
    if (w.task != nullptr) detail::yield_before_park();
    detail::WaitNode* wake = nullptr;
    const detail::ChanOp op = send_attempt(v, wake);
    if (op == detail::ChanOp::WouldBlock) return send_block(w, v, deadline);
    if (wake != nullptr) detail::wait_signal(*wake->waiter);
    if (op == detail::ChanOp::Done) return {};
    return ChannelError::Closed;
  }

  // send_block parks the sender (called with lock_ held; returns with it released).
  ChannelResult<void> send_block(detail::Waiter& w, T& v, std::uint64_t deadline) noexcept {
    detail::WaitNode node(&w);
    node.slot = &v;
    sendq_.push_back(&node);
    lock_.unlock();
    // A receiver or close() that claimed the node completes it, even after a timeout.
    const detail::WaitStatus s = detail::wait_or_withdraw(w, node, lock_, sendq_, deadline, true);
    if (s != detail::WaitStatus::Signaled) {
      return s == detail::WaitStatus::Timeout ? ChannelError::Timeout : ChannelError::Cancelled;
    }
    if (node.data == detail::kChanDone) return {};
    return ChannelError::Closed;
  }

  ChannelResult<T> recv_impl(std::uint64_t deadline, bool block) {
    if (block && !detail::coop_proceed_ns(deadline)) {
      return ChannelError::Cancelled;
    }
    detail::Uninit<T> tmp;
    detail::WaitNode* wake = nullptr;
    lock_.lock();
    const detail::ChanOp op = recv_locked(tmp.ptr(), wake);
    lock_.unlock();
    if (op == detail::ChanOp::WouldBlock) [[unlikely]] {
      if (!block) return ChannelError::Empty;
      return recv_slow(deadline);
    }
    if (wake != nullptr) detail::wait_signal(*wake->waiter);
    if (op == detail::ChanOp::Done) return take(tmp);
    return ChannelError::Closed;
  }

  // recv_slow is a receive that looked like it would block: a fiber yields once and retries (see
  // send_slow), then parks.
  ChannelResult<T> recv_slow(std::uint64_t deadline) noexcept {
    if (detail::deadline_passed(deadline)) return ChannelError::Timeout;
    detail::Waiter w;
    if (w.task != nullptr) detail::yield_before_park();
    detail::Uninit<T> tmp;
    detail::WaitNode* wake = nullptr;
    lock_.lock();
    const detail::ChanOp op = recv_locked(tmp.ptr(), wake);
    if (op == detail::ChanOp::WouldBlock) return recv_block(w, deadline);
    lock_.unlock();
    if (wake != nullptr) detail::wait_signal(*wake->waiter);
    if (op == detail::ChanOp::Done) return take(tmp);
    return ChannelError::Closed;
  }

  static ChannelResult<T> take(detail::Uninit<T>& s) noexcept {
    ChannelResult<T> r(std::in_place, std::move(*s.ptr()));
    s.ptr()->~T();
    return r;
  }

  // recv_block parks the receiver (called with lock_ held; returns with it released).
  ChannelResult<T> recv_block(detail::Waiter& w, std::uint64_t deadline) noexcept {
    detail::Uninit<T> slot;
    detail::WaitNode node(&w);
    node.slot = slot.bytes;
    recvq_.push_back(&node);
    lock_.unlock();
    // A sender or close() that claimed the node completes it, even after a timeout.
    const detail::WaitStatus s = detail::wait_or_withdraw(w, node, lock_, recvq_, deadline, true);
    if (s != detail::WaitStatus::Signaled) {
      return s == detail::WaitStatus::Timeout ? ChannelError::Timeout : ChannelError::Cancelled;
    }
    if (node.data == detail::kChanDone) return take(slot);
    return ChannelError::Closed;
  }

  detail::WaitLock lock_;
  std::atomic<bool> closed_{false};
  std::atomic<std::size_t> count_{0};  // buffered values; written under lock_
  std::size_t head_ = 0;               // ring index of the oldest buffered value
  std::size_t mask_ = 0;               // ring size - 1 (ring size is a power of two)
  T* buf_ = nullptr;                   // raw ring storage, nullptr for capacity 0
  const std::size_t cap_;
  detail::WaitList recvq_;  // blocked receivers (only while nothing is buffered)
  detail::WaitList sendq_;  // blocked senders (only while the buffer is full)
};

/// make_channel returns a new Channel<T> of `capacity` owned by a std::shared_ptr, for channels
/// whose users have no obvious owner. Throws what the Channel constructor throws.
template <class T>
std::shared_ptr<Channel<T>> make_channel(std::size_t capacity = 0) {
  return std::make_shared<Channel<T>>(capacity);
}

}  // namespace spindle

SPINDLE_API_END
