// sched/core/detail/spinlock.hpp (internal): a tiny test-and-test-and-set lock for very short
// critical sections that are almost never contended (a worker's timer wheel).
#pragma once

#include <atomic>
#include <thread>

#include "spindle/detail/sched_hooks.hpp"

namespace spindle::detail {

// SpinLock is a BasicLockable spin lock; it yields the thread after a short spin.
class SpinLock {
 public:
  void lock() noexcept {
    for (int spins = 0;; ++spins) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins > 64) {
          std::this_thread::yield();
        } else {
          pause_cpu();
        }
      }
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace spindle::detail
