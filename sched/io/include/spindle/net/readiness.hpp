/// @file
/// spindle/net/readiness.hpp: wait_readable and wait_writable, fiber-blocking readiness waits on a
/// file descriptor the caller owns (a socket, pipe, eventfd, ... made by another library), so that
/// code with its own non-blocking I/O loop (a TLS stack, a database client) can run inside fibers:
/// on EAGAIN (or WANT_READ / WANT_WRITE) it calls wait_readable / wait_writable instead of poll(2).
#pragma once

#include <chrono>
#include <cstdint>

#include "spindle/detail/deadline.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::net {

namespace detail {
/// wait_fd is the implementation of the four calls below: `write` selects the direction, `op` names
/// the call in exceptions. Returns false on timeout.
bool wait_fd(int fd, bool write, std::uint64_t deadline_ns, const char* op);
}  // namespace detail

/// wait_readable blocks until `fd` may be read without blocking (data, end of stream, a pending
/// connection on a listening socket, a hang-up or an error), and returns at once if it already can.
///
/// The fd stays the caller's: Spindle never closes it, never reads from or writes to it. In a
/// fiber, the fd is registered with the fiber's runtime's reactor (either backend,
/// AsyncRuntimeConfig::reactor) for the duration of the wait only: once the call has returned or
/// thrown, the fd is deregistered and may be closed, and its number reused. Waits on the same fd by
/// several fibers at once (typically one reader and one writer) share the registration. The fd
/// should be in non-blocking mode (the libuv backend puts it there); it must stay open while the
/// wait is in progress, and it must not be the native_handle() of a Spindle socket (use the
/// socket's own calls; the registration fails with EEXIST). Outside a fiber it blocks the calling
/// OS thread in poll(2).
///
/// Blocking: parks the calling fiber (its worker runs other fibers) or blocks the calling OS
/// thread. Readiness is a hint, as with poll(2) and epoll: the call may return although the next
/// read still fails with EAGAIN (a spurious wakeup, or another reader was faster); retry the read
/// and wait again. A cancellation point: a cancelled fiber gets spindle::Cancelled (also before it
/// waits, and, as for the socket calls, once every 128 blocking calls in a row when the cooperative
/// budget is spent; docs/scheduler.md, "Cooperative budget").
///
/// Throws std::invalid_argument for a negative fd; std::system_error with the errno when the fd
/// cannot be registered or polled (EBADF for a closed fd, EPERM for a regular file with the epoll
/// backend, EEXIST, ENOMEM), naming the call and the fd: "wait_readable fd 7: epoll_ctl(...)";
/// spindle::Cancelled.
void wait_readable(int fd);
/// wait_readable with a timeout: as above, but gives up after `timeout` and returns false; returns
/// true when the fd may be readable. A zero or negative timeout checks without blocking (and, in a
/// fiber, without being a cancellation point of the cooperative budget).
template <class Rep, class Period>
bool wait_readable(int fd, const std::chrono::duration<Rep, Period>& timeout) {
  return detail::wait_fd(fd, false, spindle::detail::deadline_after(timeout), "wait_readable");
}

/// wait_writable blocks until `fd` may be written without blocking (buffer space, a non-blocking
/// connect that has completed either way, a hang-up or an error); otherwise exactly like
/// wait_readable (registration for the wait only, poll(2) outside fibers, cancellation, errors).
void wait_writable(int fd);
/// wait_writable with a timeout: returns false after `timeout`, true when the fd may be writable.
template <class Rep, class Period>
bool wait_writable(int fd, const std::chrono::duration<Rep, Period>& timeout) {
  return detail::wait_fd(fd, true, spindle::detail::deadline_after(timeout), "wait_writable");
}

}  // namespace spindle::net

SPINDLE_API_END
