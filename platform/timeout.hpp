// platform/timeout.hpp (internal to spindle_platform): the relative timeouts of the futex and
// epoll_pwait2 system calls.
#pragma once

#include <time.h>

#include <cstdint>

namespace spindle::platform {

// timeout_timespec fills `ts` with `timeout_ns` and returns &ts, or returns nullptr for a negative
// timeout (wait for ever), as futex(2) and epoll_pwait2(2) take it.
inline struct timespec* timeout_timespec(std::int64_t timeout_ns, struct timespec& ts) noexcept {
  if (timeout_ns < 0) return nullptr;
  ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000);
  return &ts;
}

}  // namespace spindle::platform
