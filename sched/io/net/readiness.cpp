// wait_readable / wait_writable on user-owned fds. See spindle/net/readiness.hpp; the driver side
// is IoDriver::attach_user and wait_user_fd (sched/io/io_driver.cpp).
#include "spindle/net/readiness.hpp"

#include <poll.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

#include "detail/io_driver.hpp"
#include "spindle/detail/wait.hpp"

namespace spindle::net {

namespace detail {

namespace {

std::string what_of(const char* op, int fd) {
  return std::string(op) + " fd " + std::to_string(fd);
}

// poll_now checks readiness without blocking (a zero or passed timeout).
bool poll_now(int fd, bool write, const char* op) {
  struct pollfd p;
  p.fd = fd;
  p.events = static_cast<short>(write ? POLLOUT : POLLIN);
  for (;;) {
    p.revents = 0;
    const int r = ::poll(&p, 1, 0);
    if (r >= 0) {
      if ((p.revents & POLLNVAL) != 0)
        throw std::system_error(EBADF, std::system_category(), what_of(op, fd) + ": poll");
      return r > 0;
    }
    if (errno != EINTR)
      throw std::system_error(errno, std::system_category(), what_of(op, fd) + ": poll");
  }
}

}  // namespace

bool wait_fd(int fd, bool write, std::uint64_t deadline_ns, const char* op) {
  if (fd < 0) {
    throw std::invalid_argument("spindle::net::" + std::string(op) + ": fd " + std::to_string(fd) +
                                " is negative");
  }
  if (spindle::detail::deadline_passed(deadline_ns)) return poll_now(fd, write, op);
  spindle::detail::coop_or_throw_ns(deadline_ns);
  spindle::detail::WaitStatus st;
  try {
    st = spindle::detail::wait_user_fd(
        fd, write ? spindle::detail::IoHandle::kWrite : spindle::detail::IoHandle::kRead,
        deadline_ns);
  } catch (const std::system_error& e) {
    // e.what() is "<call>: <message>"; keep the call, system_error appends the message again.
    std::string call = e.what();
    const std::string suffix = ": " + e.code().message();
    if (call.size() >= suffix.size() && call.ends_with(suffix))
      call.resize(call.size() - suffix.size());
    throw std::system_error(e.code(), what_of(op, fd) + ": " + call);
  }
  return spindle::detail::signaled_or_throw(st);
}

}  // namespace detail

void wait_readable(int fd) {
  detail::wait_fd(fd, false, spindle::detail::kNoDeadline, "wait_readable");
}

void wait_writable(int fd) {
  detail::wait_fd(fd, true, spindle::detail::kNoDeadline, "wait_writable");
}

}  // namespace spindle::net
