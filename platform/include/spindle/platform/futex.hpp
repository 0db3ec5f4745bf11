// spindle/platform/futex.hpp: wait on a 32-bit word until another thread wakes it: the one wrapper
// over the OS primitive (Linux futex) that the Parker and the scheduler's parking layer
// (sched/core/wait.cpp) both use.
//
// Semantics (all functions): a wait sleeps only while `*word == expected` at the moment it would
// sleep (checked atomically with going to sleep on Linux), so a waker that changes the word before
// calling futex_wake_one never loses the wakeup. A wait may return spuriously: callers re-check
// their condition. Nothing throws. futex_wake_one may be given the address of a word whose owner
// has already returned: it never reads or writes the memory (the kernel only hashes the address).
#pragma once

#include <atomic>
#include <cstdint>

namespace spindle::platform {

// futex_wait sleeps while *word == expected, at most `timeout_ns` nanoseconds (< 0: no timeout).
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                std::int64_t timeout_ns) noexcept;
// futex_wait_until sleeps while *word == expected, until the CLOCK_MONOTONIC time `deadline_ns`
// (UINT64_MAX: no deadline). An absolute deadline does not drift across spurious wakeups.
void futex_wait_until(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                      std::uint64_t deadline_ns) noexcept;
// futex_wake_one wakes one thread sleeping on `word` (if any).
void futex_wake_one(std::atomic<std::uint32_t>* word) noexcept;

}  // namespace spindle::platform
