// The futex wrapper (spindle/platform/futex.hpp): Linux futex(2); elsewhere C++20 atomic wait with
// a polling fallback for timed waits (the C++20 library has no timed atomic wait).
#include "spindle/platform/futex.hpp"

#include <limits>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "timeout.hpp"
#else
#include <chrono>
#include <thread>

#include "spindle/sys.h"
#endif

namespace spindle::platform {

#if defined(__linux__)

namespace {
std::uint32_t* addr(std::atomic<std::uint32_t>* word) noexcept {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return reinterpret_cast<std::uint32_t*>(word);
}
}  // namespace

void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                std::int64_t timeout_ns) noexcept {
  struct timespec ts;
  struct timespec* tsp = timeout_timespec(timeout_ns, ts);
  syscall(SYS_futex, addr(word), FUTEX_WAIT_PRIVATE, expected, tsp, nullptr, 0);
}

void futex_wait_until(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                      std::uint64_t deadline_ns) noexcept {
  if (deadline_ns == std::numeric_limits<std::uint64_t>::max()) {
    syscall(SYS_futex, addr(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
    return;
  }
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline.
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(deadline_ns / 1'000'000'000u);
  ts.tv_nsec = static_cast<long>(deadline_ns % 1'000'000'000u);
  syscall(SYS_futex, addr(word), FUTEX_WAIT_BITSET_PRIVATE, expected, &ts, nullptr,
          FUTEX_BITSET_MATCH_ANY);
}

void futex_wake_one(std::atomic<std::uint32_t>* word) noexcept {
  syscall(SYS_futex, addr(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

#else

void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                std::int64_t timeout_ns) noexcept {
  if (timeout_ns < 0) {
    word->wait(expected, std::memory_order_acquire);
  } else if (word->load(std::memory_order_acquire) == expected) {
    // No timed atomic wait in C++20: sleep at most 1 ms and let the caller re-check.
    std::this_thread::sleep_for(
        std::chrono::nanoseconds(std::min<std::int64_t>(timeout_ns, 1'000'000)));
  }
}

void futex_wait_until(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                      std::uint64_t deadline_ns) noexcept {
  if (deadline_ns == std::numeric_limits<std::uint64_t>::max()) {
    word->wait(expected, std::memory_order_acquire);
    return;
  }
  const std::uint64_t now = spindle_sys_monotonic_time_ns();
  if (now < deadline_ns) futex_wait(word, expected, static_cast<std::int64_t>(deadline_ns - now));
}

void futex_wake_one(std::atomic<std::uint32_t>* word) noexcept {
  word->notify_one();
}

#endif

}  // namespace spindle::platform
