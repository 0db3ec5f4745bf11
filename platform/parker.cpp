// Parker: the futex wrapper (futex.hpp) on Linux, mutex + condition variable elsewhere.
#include "spindle/platform/parker.hpp"

#if defined(__linux__)
#include "spindle/platform/futex.hpp"
#else
#include <chrono>
#endif

namespace spindle::platform {

namespace {
constexpr std::uint32_t kEmpty = 0;
constexpr std::uint32_t kNotified = 1;
constexpr std::uint32_t kParked = 2;
}  // namespace

#if defined(__linux__)

void Parker::park(std::int64_t timeout_ns) noexcept {
  std::uint32_t expected = kEmpty;
  if (!state_.compare_exchange_strong(expected, kParked, std::memory_order_acquire)) {
    // A permit was pending: consume it.
    state_.exchange(kEmpty, std::memory_order_acquire);
    return;
  }
  // Sleeps only while the word still says kParked; unpark() changes it first, so no wakeup is lost.
  futex_wait(&state_, kParked, timeout_ns);
  state_.exchange(kEmpty, std::memory_order_acquire);
}

void Parker::unpark() noexcept {
  if (state_.exchange(kNotified, std::memory_order_seq_cst) == kParked) {
    futex_wake_one(&state_);
  }
}

#else

void Parker::park(std::int64_t timeout_ns) noexcept {
  std::unique_lock<std::mutex> lock(mutex_);
  if (state_.exchange(kEmpty, std::memory_order_acquire) == kNotified) return;
  state_.store(kParked, std::memory_order_relaxed);
  auto notified = [this] { return state_.load(std::memory_order_relaxed) == kNotified; };
  if (timeout_ns >= 0) {
    cv_.wait_for(lock, std::chrono::nanoseconds(timeout_ns), notified);
  } else {
    cv_.wait(lock, notified);
  }
  state_.store(kEmpty, std::memory_order_relaxed);
}

void Parker::unpark() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_.exchange(kNotified, std::memory_order_release) == kParked) cv_.notify_one();
}

#endif

}  // namespace spindle::platform
