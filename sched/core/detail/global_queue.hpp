// sched/core/detail/global_queue.hpp (internal): the global injection queue, one Boost.Lockfree
// MPMC queue per priority level. Each element is a chain of tasks linked through TaskCore::next, so
// a full local queue moves half of itself in one push and an idle worker takes a whole batch in one
// pop.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <new>

#include <boost/lockfree/queue.hpp>

#include "detail/task_core.hpp"
#include "spindle/task.hpp"

namespace spindle::detail {

// GlobalQueue is safe for any number of producers and consumers.
class GlobalQueue {
 public:
  GlobalQueue() {
    for (auto& q : queues_) q = std::make_unique<boost::lockfree::queue<TaskCore*>>(64);
  }

  // push_chain enqueues the chain head..(next)..null of `n` tasks at `level`. May allocate a queue
  // node: throws std::bad_alloc (nothing is enqueued then).
  void push_chain(int level, TaskCore* head, std::uint64_t n) {
    head->chain_len = n;
    if (!queues_[level]->push(head)) throw std::bad_alloc();
    len_[level].fetch_add(static_cast<std::int64_t>(n), std::memory_order_seq_cst);
    const unsigned bit = 1u << level;
    // seq_cst: if we see the bit set, a popper's later clear is ordered after our count update.
    if ((mask_.load(std::memory_order_seq_cst) & bit) == 0) {
      mask_.fetch_or(bit, std::memory_order_seq_cst);
    }
  }

  // pop_chain dequeues one chain at `level` (nullptr if none) and sets *n to its length.
  TaskCore* pop_chain(int level, std::uint64_t* n) {
    TaskCore* head = nullptr;
    if (!queues_[level]->pop(head)) {
      // Empty: clear the level's bit, then re-check, so that a concurrent push is never hidden (the
      // pusher sets the bit after counting; we re-read the count after clearing).
      const unsigned bit = 1u << level;
      mask_.fetch_and(~bit, std::memory_order_seq_cst);
      if (len_[level].load(std::memory_order_seq_cst) > 0) {
        mask_.fetch_or(bit, std::memory_order_seq_cst);
      }
      return nullptr;
    }
    *n = head->chain_len;  // no walk: the pusher recorded it
    len_[level].fetch_sub(static_cast<std::int64_t>(*n), std::memory_order_relaxed);
    return head;
  }

  // mask returns one bit per level whose queue may be non-empty (one load: read on every decision).
  // A set bit may be stale (a pop then finds nothing and clears it); a level with queued tasks
  // always has its bit set once its pusher has returned.
  unsigned mask() const noexcept { return mask_.load(std::memory_order_relaxed); }

  // level_size returns the approximate number of queued tasks of one priority level.
  std::uint64_t level_size(int level) const noexcept {
    const std::int64_t n = len_[level].load(std::memory_order_relaxed);
    return n > 0 ? static_cast<std::uint64_t>(n) : 0;
  }

  // size returns the approximate number of queued tasks.
  std::uint64_t size() const noexcept {
    std::int64_t total = 0;
    for (const auto& l : len_) total += l.load(std::memory_order_relaxed);
    return total > 0 ? static_cast<std::uint64_t>(total) : 0;
  }

 private:
  std::unique_ptr<boost::lockfree::queue<TaskCore*>> queues_[kTaskPriorityLevels];
  alignas(64) std::atomic<std::int64_t> len_[kTaskPriorityLevels] = {};
  alignas(64) std::atomic<unsigned> mask_{0};
};

}  // namespace spindle::detail
