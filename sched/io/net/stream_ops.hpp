// sched/io/net/stream_ops.hpp (internal): the I/O loops the stream socket classes share (TcpStream
// and UnixStream: read, read_exact, write, write_all; TcpListener and UnixListener: accept with
// descriptor-exhaustion backoff). Templates over the core type (SocketCore, UnixCore), whose `addr`
// is what error messages name; see net/net_impl.hpp for the loop's shape.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

#include "net/net_impl.hpp"
#include "spindle/net/buffer.hpp"
#include "spindle/net/error.hpp"
#include "spindle/net/shutdown.hpp"

namespace spindle::net::detail {

// stream_read reads at least one and at most buf.size bytes (0: end of stream or an empty `buf`),
// waiting for readability until `deadline_ns`; `timeout_ns` is for the timeout's message (-1:
// none). Throws std::system_error, spindle::Cancelled.
template <class Core>
std::size_t stream_read(Core& c, MutableBuffer buf, std::uint64_t deadline_ns,
                        std::int64_t timeout_ns) {
  if (buf.size == 0) return 0;
  spindle::detail::coop_or_throw_ns(deadline_ns);
  WaitOutcome o = WaitOutcome::Retry;
  if (c.read_drained) {
    c.read_drained = false;
    o = wait_io(c, IoHandle::kRead, deadline_ns);
  }
  for (;;) {
    const ssize_t n = ::recv(c.fd, buf.data, buf.size, 0);
    if (n >= 0) {
      c.read_drained = n > 0 && static_cast<std::size_t>(n) < buf.size;
      return static_cast<std::size_t>(n);
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) throw_errno(err, "read", c.addr);
    if (o != WaitOutcome::Retry) fail_after_last_try(o, "read", c.addr, timeout_ns);
    o = wait_io(c, IoHandle::kRead, deadline_ns);
  }
}

// stream_read_exact fills all of `buf` (stream_read as often as needed). Throws
// std::system_error(NetErrc::UnexpectedEof) if the stream ends first, what stream_read throws
// (a timeout names "read_exact").
template <class Core>
void stream_read_exact(Core& c, MutableBuffer buf, std::uint64_t deadline_ns,
                       std::int64_t timeout_ns) {
  auto* p = static_cast<unsigned char*>(buf.data);
  std::size_t got = 0;
  while (got < buf.size) {
    std::size_t n;
    try {
      n = stream_read(c, MutableBuffer(p + got, buf.size - got), deadline_ns, timeout_ns);
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::timed_out || timeout_ns < 0) throw;
      throw_timeout("read_exact", c.addr, timeout_ns);
    }
    if (n == 0) {
      throw std::system_error(NetErrc::UnexpectedEof, "read_exact " + c.addr.to_string() +
                                                          ": got " + std::to_string(got) + " of " +
                                                          std::to_string(buf.size) + " bytes");
    }
    got += n;
  }
}

// stream_write writes at least one byte of `buf` (all of it when `all`), waiting for writability
// until `deadline_ns`, and returns how many it wrote. Never raises SIGPIPE. Throws
// std::system_error (EPIPE, ECONNRESET, timed_out), spindle::Cancelled.
template <class Core>
std::size_t stream_write(Core& c, ConstBuffer buf, bool all, std::uint64_t deadline_ns,
                         std::int64_t timeout_ns) {
  const char* op = all ? "write_all" : "write";
  spindle::detail::coop_or_throw_ns(deadline_ns);
  const auto* p = static_cast<const unsigned char*>(buf.data);
  std::size_t done = 0;
  WaitOutcome o = WaitOutcome::Retry;
  bool try_first = !c.write_full;
  c.write_full = false;
  while (done < buf.size) {
    if (!try_first) {
      if (o != WaitOutcome::Retry) fail_after_last_try(o, op, c.addr, timeout_ns);
      o = wait_io(c, IoHandle::kWrite, deadline_ns);
    }
    try_first = false;
    const ssize_t n = ::send(c.fd, p + done, buf.size - done, MSG_NOSIGNAL);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
      if (!all) {
        c.write_full = done < buf.size;
        break;
      }
      // A partial write means the send buffer is full: wait before the next attempt.
      continue;
    }
    const int err = errno;
    if (err == EINTR) {
      try_first = true;
      continue;
    }
    if (err != EAGAIN && err != EWOULDBLOCK) throw_errno(err, op, c.addr);
  }
  return done;
}

// stream_shutdown shuts down one or both directions. Throws std::system_error.
template <class Core>
void stream_shutdown(Core& c, Shutdown how) {
  const int h = how == Shutdown::Read ? SHUT_RD : how == Shutdown::Write ? SHUT_WR : SHUT_RDWR;
  if (::shutdown(c.fd, h) != 0) throw_errno(errno, "shutdown", c.addr);
}

// Helpers of accept_loop (net/stream_ops.cpp).
// accept_skips: an error of accept4 that concerns one pending connection: skip it.
bool accept_skips(int err) noexcept;
// accept_exhausted: out of descriptors or kernel memory (EMFILE, ENFILE, ENOBUFS, ENOMEM).
bool accept_exhausted(int err) noexcept;
// report_accept_exhausted writes, once per burst, why accept backs off (stderr, one write).
void report_accept_exhausted(const std::string& where, int err) noexcept;
// backoff_sleep sleeps `delay_ns` (less if the deadline comes first); false if the deadline has
// passed. A cancellation point in a fiber (throws spindle::Cancelled).
bool backoff_sleep(std::int64_t delay_ns, std::uint64_t deadline_ns);
inline constexpr std::int64_t kBackoffFirstNs = 1'000'000;  // 1 ms
inline constexpr std::int64_t kBackoffMaxNs = 100'000'000;  // 100 ms

// accept_loop accepts one connection on listener `c` (non-blocking, close-on-exec) and returns
// make(fd, sockaddr_storage, socklen_t), which owns the fd from then on (and must close it if it
// throws). Skips connections that failed before they were taken; on descriptor or memory
// exhaustion, reports once per burst and sleeps 1 ms doubling to 100 ms instead of spinning.
// Throws std::system_error, spindle::Cancelled.
template <class Core, class Make>
auto accept_loop(Core& c, std::uint64_t deadline_ns, std::int64_t timeout_ns, Make&& make) {
  spindle::detail::coop_or_throw_ns(deadline_ns);
  std::int64_t backoff_ns = kBackoffFirstNs;
  WaitOutcome o = WaitOutcome::Retry;
  for (;;) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    const int fd =
        ::accept4(c.fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      c.exhaustion_reported = false;  // the burst is over
      return make(fd, ss, len);
    }
    const int err = errno;
    if (err == EINTR || accept_skips(err)) continue;
    if (accept_exhausted(err)) {
      if (!c.exhaustion_reported) {
        c.exhaustion_reported = true;
        report_accept_exhausted(c.addr.to_string(), err);
      }
      if (!backoff_sleep(backoff_ns, deadline_ns)) throw_timeout("accept", c.addr, timeout_ns);
      backoff_ns = std::min(backoff_ns * 2, kBackoffMaxNs);
      continue;
    }
    if (err != EAGAIN && err != EWOULDBLOCK) throw_errno(err, "accept", c.addr);
    if (o != WaitOutcome::Retry) fail_after_last_try(o, "accept", c.addr, timeout_ns);
    o = wait_io(c, IoHandle::kRead, deadline_ns);
  }
}

}  // namespace spindle::net::detail
