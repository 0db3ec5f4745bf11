// The out-of-line helpers of the shared accept loop. See net/stream_ops.hpp.
#include "net/stream_ops.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "spindle/this_fiber.hpp"

namespace spindle::net::detail {

bool accept_skips(int err) noexcept {
  switch (err) {
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case EPERM:  // firewall rules
      return true;
    default:
      return false;
  }
}

// Out of descriptors or kernel memory: not this connection's fault, and waiting for readiness
// would not help (the pending connection keeps the socket readable, or, edge-triggered, reports
// nothing new). accept_loop sleeps instead.
bool accept_exhausted(int err) noexcept {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

// Silent backoff hid a descriptor leak or a too-low RLIMIT_NOFILE. To stderr until the runtime has
// a logger; one write, so lines never interleave.
void report_accept_exhausted(const std::string& where, int err) noexcept {
  try {
    const char* name = strerrorname_np(err);
    const std::string msg = "spindle: accept " + where + ": " + std::strerror(err) + " (" +
                            (name != nullptr ? name : "?") +
                            "); accept backs off (1 ms, doubling up to 100 ms) until the resource "
                            "is free; reported once until an accept succeeds\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, msg.data(), msg.size());
  } catch (...) {
    // Out of memory for the message: stay silent rather than fail the accept.
  }
}

bool backoff_sleep(std::int64_t delay_ns, std::uint64_t deadline_ns) {
  const std::uint64_t now = spindle::detail::now_ns();
  if (deadline_ns != spindle::detail::kNoDeadline && now >= deadline_ns) return false;
  if (deadline_ns != spindle::detail::kNoDeadline) {
    delay_ns = std::min<std::int64_t>(delay_ns, static_cast<std::int64_t>(deadline_ns - now));
  }
  const auto d = std::chrono::nanoseconds(delay_ns);
  if (this_fiber::in_fiber()) {
    this_fiber::sleep_for(d);
  } else {
    std::this_thread::sleep_for(d);
  }
  return true;
}

}  // namespace spindle::net::detail
