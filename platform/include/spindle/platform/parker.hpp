// spindle/platform/parker.hpp: Parker, the primitive an idle worker thread sleeps on.
#pragma once

#include <atomic>
#include <cstdint>

#if !defined(__linux__)
#include <condition_variable>
#include <mutex>
#endif

namespace spindle::platform {

// Parker puts one OS thread to sleep until another thread unparks it or a timeout passes. A permit
// model (like Rust's thread::park): unpark() before park() makes the next park() return at once, so
// wakeups are never lost. On Linux it is a futex word: unpark() makes a system call only when the
// thread is actually asleep. park() may also return spuriously; callers re-check their condition.
class Parker {
 public:
  // park blocks the calling thread (the only thread that may call park on this Parker) until
  // unpark(), or until `timeout_ns` nanoseconds have passed when timeout_ns >= 0. Never throws.
  void park(std::int64_t timeout_ns) noexcept;
  // unpark wakes the parked thread, or makes its next park() return immediately. Any thread. Never
  // throws.
  void unpark() noexcept;
  // try_consume takes a pending permit without sleeping and says whether there was one. Only the
  // parking thread calls it; with unpark() it forms a Dekker pair (both sequentially consistent):
  // a thread that publishes "I sleep elsewhere" and then finds no permit is sure every later
  // unpark() caller sees the publication.
  bool try_consume() noexcept {
    std::uint32_t expected = 1;
    return state_.compare_exchange_strong(expected, 0, std::memory_order_seq_cst);
  }

 private:
  // state_: 0 = empty, 1 = notified (a permit is pending), 2 = a thread is parked.
  std::atomic<std::uint32_t> state_{0};
#if !defined(__linux__)
  std::mutex mutex_;
  std::condition_variable cv_;
#endif
};

}  // namespace spindle::platform
