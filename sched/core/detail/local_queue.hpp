// sched/core/detail/local_queue.hpp (internal): a worker's bounded FIFO run queue with steal-half.
//
// CONTRACT:
//   LocalQueue<T> holds pointers (T is a pointer type; nullptr is never stored).
//   Exactly one owner thread calls push/push_batch/pop/pop_half; any number of other threads call
//   steal_half_into concurrently (each thief passes the queue it owns as `dst`).
//   size/empty/capacity may be called from any thread. The queue is lock-free; every slot is a
//   std::atomic<T> so that racing reads are well-defined (TSan clean).
//
//   Capacity is a power of two >= 2 given at construction (validated by the caller; asserted here).
//   Order: FIFO. The owner pushes at the tail and pops at the head; thieves also take from the
//   head, so every consumer sees items in push order and each pushed item is taken exactly once.
//
// MEMORY ORDERING:
//   head_ and tail_ are 64-bit counters that only grow (slot = index & mask). tail_ is stored only
//   by the owner; head_ only changes by CAS (owner's pop/pop_half and thieves).
//   (1) Publication: a slot is written (relaxed) before tail_ is stored with release; consumers
//       load tail_ with acquire before reading slots, so the pointee an item points to is visible
//       to whoever takes it.
//   (2) Reuse: every CAS on head_ is acq_rel and the owner loads head_ with acquire before writing
//       a slot (push/push_batch). All head_ writes are RMWs, so they form one release sequence; the
//       slot reads a consumer did before its successful CAS therefore happen-before the owner's
//       overwrite of the slot (index + capacity): no consumer can read a value that was pushed
//       after it claimed the index.
//   (3) Stealing: a thief reads [h, h+n) and then CASes head_ from h to h+n. While head_ == h the
//       owner cannot overwrite those slots (it only writes index tail < h + capacity); if head_
//       moved, the CAS fails and the (possibly stale) values are discarded.
//   (4) Parking (Dekker): size()/empty() load head_ then tail_, both seq_cst. With a sleeper doing
//       `sleepers.fetch_add(seq_cst); q.empty()` and a pusher doing `q.push(x);
//       atomic_thread_fence(seq_cst); sleepers.load()`, at least one of them sees the other:
//       either the sleeper's seq_cst tail_ load observes the push or the pusher's load observes
//       the increment. Loading head_ first means an item still queued when tail_ is read is never
//       reported as absent. Items a thief has claimed but not yet published into its own queue
//       are in neither queue; the thief is awake and runs them (it does not fence after
//       publishing).
#pragma once

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

namespace spindle::detail {

// LocalQueue is a bounded single-producer, multi-consumer FIFO of pointers with batch stealing
// (see the contract above).
template <typename T>
class LocalQueue {
  static_assert(std::is_pointer_v<T>, "LocalQueue<T> stores pointers");
  static_assert(std::atomic<T>::is_always_lock_free);

 public:
  // kStealAttempts is how many times steal_half_into retries after losing the head CAS before
  // giving up.
  static constexpr int kStealAttempts = 4;

  // LocalQueue creates an empty queue of `capacity` slots; capacity must be a power of two >= 2.
  explicit LocalQueue(std::uint32_t capacity)
      : cap_(capacity),
        mask_(std::uint64_t{capacity} - 1),
        slots_(std::make_unique<std::atomic<T>[]>(capacity)) {
    assert(capacity >= 2 && (capacity & (capacity - 1)) == 0 &&
           "capacity must be a power of two >= 2");
  }

  LocalQueue(LocalQueue const&) = delete;
  LocalQueue& operator=(LocalQueue const&) = delete;

  // push appends `item` (non-null) at the tail. Owner only. Returns false, leaving the queue
  // unchanged, when the queue is full; the caller then handles overflow (e.g. pop_half to a global
  // queue).
  bool push(T item) noexcept {
    assert(item != nullptr);
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);  // only we store tail_
    // (2): every reader of slot t's previous round is done with it.
    const std::uint64_t h = head_.load(std::memory_order_acquire);
    if (t - h >= cap_) return false;
    slots_[t & mask_].store(item, std::memory_order_relaxed);
    tail_.store(t + 1, std::memory_order_release);  // (1)
    return true;
  }

  // push_batch appends items[0..n) in order, as many as fit, and returns how many were pushed (the
  // first ones). Owner only. One tail_ store publishes the whole batch.
  std::size_t push_batch(T const* items, std::size_t n) noexcept {
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    const std::uint64_t h = head_.load(std::memory_order_acquire);  // (2)
    const std::uint64_t room = cap_ - (t - h);
    const std::size_t m = static_cast<std::size_t>(std::min<std::uint64_t>(n, room));
    if (m == 0) return 0;
    for (std::size_t i = 0; i < m; ++i) {
      assert(items[i] != nullptr);
      slots_[(t + i) & mask_].store(items[i], std::memory_order_relaxed);
    }
    tail_.store(t + m, std::memory_order_release);  // (1)
    return m;
  }

  // pop removes and returns the item at the head, or nullptr if the queue is empty. Owner only.
  // pop_unshared is pop() for a queue no thread ever steals from (one worker, or stealing
  // disabled): only the owner moves head, so a plain store replaces the CAS. Other threads may
  // still read size()/empty().
  T pop_unshared() noexcept {
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    const std::uint64_t h = head_.load(std::memory_order_relaxed);
    if (h == t) return nullptr;
    const T item = slots_[h & mask_].load(std::memory_order_relaxed);
    head_.store(h + 1, std::memory_order_release);
    return item;
  }

  T pop() noexcept {
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    std::uint64_t h = head_.load(std::memory_order_acquire);
    while (h != t) {
      // Only the owner writes slots, and index h was written for this round (h < t <= h + cap), so
      // the value read is the item at h; the CAS only decides whether we or a thief get it.
      const T item = slots_[h & mask_].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, h + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        return item;
      }
      // h now holds the current head; thieves only advance it towards t.
    }
    return nullptr;
  }

  // pop_half removes ceil(size/2) items from the head, capped at `max`, with one CAS and copies
  // them to out[0..) in FIFO order. Returns how many. Owner only (used when push finds the queue
  // full).
  std::size_t pop_half(T* out, std::size_t max) noexcept {
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    std::uint64_t h = head_.load(std::memory_order_acquire);
    for (;;) {
      const std::uint64_t len = t - h;
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(len - len / 2, max));
      if (n == 0) return 0;
      if (head_.compare_exchange_weak(h, h + n, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        // Claimed [h, h+n). Only the owner (us) overwrites slots, so they are stable after the CAS.
        for (std::size_t i = 0; i < n; ++i) {
          out[i] = slots_[(h + i) & mask_].load(std::memory_order_relaxed);
        }
        return n;
      }
    }
  }

  // steal_half_into moves ceil(size/2) items from the head of this queue (the victim) into `dst`,
  // capped by dst's free space. Called by the thread that owns `dst` (dst != this). Returns how
  // many items were taken (0 if the victim looked empty, dst was full, or the head CAS was lost
  // kStealAttempts times). If `first_out` is non-null and something was taken, the oldest stolen
  // item is stored to *first_out instead of dst (so the thief can run it now) and it counts towards
  // the result and needs no dst space; the rest are appended to dst in FIFO order. Otherwise all of
  // them go to dst.
  //
  // Improvement over "read into a buffer, CAS, copy": the thief reads victim slots straight into
  // dst's unpublished slots [dst.tail, dst.tail + n). No reader may consume those until dst.tail_
  // is released after the CAS succeeds, and dst's own thieves never observe them as items: such a
  // slot can only hold an index below dst's head (loaded with acquire, so by (2) their reads of it
  // are done or will fail their CAS). A lost CAS just leaves garbage there that the next attempt or
  // push overwrites.
  std::size_t steal_half_into(LocalQueue& dst, T* first_out) noexcept {
    assert(&dst != this);
    const std::uint64_t dt = dst.tail_.load(std::memory_order_relaxed);  // we own dst
    const std::uint64_t dh = dst.head_.load(std::memory_order_acquire);  // (2) for dst's slots
    const std::uint64_t keep = first_out != nullptr ? 1 : 0;             // items that bypass dst
    const std::uint64_t room = dst.cap_ - (dt - dh) + keep;
    if (room == 0) return 0;
    for (int attempt = 0; attempt < kStealAttempts; ++attempt) {
      std::uint64_t h = head_.load(std::memory_order_acquire);
      const std::uint64_t t = tail_.load(std::memory_order_acquire);  // (1)
      const std::uint64_t len = t - h;
      if (len == 0) return 0;
      // By (2) t >= h here; the check only guards against an inconsistent snapshot (defensive).
      if (len > cap_) continue;
      const std::uint64_t n = std::min(len - len / 2, room);
      T first = nullptr;
      for (std::uint64_t i = 0; i < n; ++i) {
        const T item = slots_[(h + i) & mask_].load(std::memory_order_relaxed);
        if (i < keep) {
          first = item;
        } else {
          dst.slots_[(dt + i - keep) & dst.mask_].store(item, std::memory_order_relaxed);
        }
      }
      // (3): succeeds only if nobody consumed from h meanwhile, so the values read are exactly
      // items h..h+n-1. Release orders our slot reads before the owner's reuse of them (2).
      if (head_.compare_exchange_strong(h, h + n, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
        if (n > keep) dst.tail_.store(dt + n - keep, std::memory_order_release);  // (1) for dst
        if (keep != 0) *first_out = first;
        return static_cast<std::size_t>(n);
      }
    }
    return 0;
  }

  // size returns the number of queued items, clamped to [0, capacity]. Exact when called by the
  // owner with no concurrent thieves; otherwise a snapshot that may be stale. Any thread. See (4).
  std::size_t size() const noexcept {
    const std::uint64_t h = head_.load(std::memory_order_seq_cst);
    const std::uint64_t t = tail_.load(std::memory_order_seq_cst);
    const auto len = static_cast<std::int64_t>(t - h);
    if (len <= 0) return 0;
    return static_cast<std::size_t>(std::min<std::uint64_t>(static_cast<std::uint64_t>(len), cap_));
  }

  // empty returns size() == 0; same ordering as size(), so it is the check a parking worker uses.
  bool empty() const noexcept { return size() == 0; }

  // capacity returns the number of slots given at construction.
  std::uint32_t capacity() const noexcept { return cap_; }

 private:
  // head_ is the index of the oldest item; advanced only by CAS (owner and thieves).
  alignas(64) std::atomic<std::uint64_t> head_{0};
  // tail_ is one past the newest item; stored only by the owner.
  alignas(64) std::atomic<std::uint64_t> tail_{0};
  // cap_, mask_ and slots_ are immutable after construction (read-mostly line of their own).
  alignas(64) const std::uint32_t cap_;
  const std::uint64_t mask_;
  const std::unique_ptr<std::atomic<T>[]> slots_;
};

}  // namespace spindle::detail
