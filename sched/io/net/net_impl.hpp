// sched/io/net/net_impl.hpp (internal): what the spindle::net socket classes share: the owned
// descriptor with its IoHandle, error construction, and the wait step of the I/O loops.
//
// The I/O loop of every call: try the system call; on EAGAIN wait for readiness (IoHandle: parks a
// fiber, or poll(2) in a plain thread) and try again. Spurious wakeups only cost a retry. When the
// deadline passes or the fiber is cancelled, the call is tried once more (so a ready socket still
// delivers) before the timeout or Cancelled is thrown.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "detail/io_driver.hpp"
#include "spindle/detail/wait.hpp"
#include "spindle/net/socket_addr.hpp"
#include "spindle/net/unix_addr.hpp"

namespace spindle::net::detail {

using spindle::detail::IoHandle;
using spindle::detail::WaitStatus;

// FdCore is the state every socket class holds: an owned non-blocking fd, its IoHandle and the
// readiness hints of the I/O loops (net/stream_ops.hpp).
struct FdCore {
  explicit FdCore(int fd_) noexcept : fd(fd_), io(fd_) {}
  FdCore(const FdCore&) = delete;
  FdCore& operator=(const FdCore&) = delete;
  ~FdCore() { close(); }

  // close deregisters the fd from its reactor, then closes it. Idempotent.
  void close() noexcept;

  int fd;
  IoHandle io;
  // Readiness hints (one per direction, touched only by that direction's single user): the last
  // read returned less than asked (the socket is very likely drained), the last write was partial
  // (the send buffer is full). The next call then waits first instead of making a system call that
  // would only fail with EAGAIN. Nothing is missed: readiness that begins later is reported (or
  // latched) by the driver, and a hang-up already seen keeps the read side ready (IoState::closed;
  // a short read can return the last data while the peer's FIN is already in).
  bool read_drained = false;
  bool write_full = false;
  // exhaustion_reported: a listener's accept has reported running out of descriptors or memory in
  // the current burst (accept_loop in net/stream_ops.hpp; cleared by the next successful accept).
  bool exhaustion_reported = false;
};

// SocketCore is the state behind TcpStream, TcpListener and UdpSocket: an FdCore and the address
// errors name (the peer for streams, the local address for listeners and UDP sockets).
struct SocketCore : FdCore {
  SocketCore(int fd_, const SocketAddr& addr_) : FdCore(fd_), addr(addr_) {}
  SocketAddr addr;
};

// UnixCore is the state behind UnixStream and UnixListener: an FdCore and the address errors name
// (the listener's for a listener and the streams it accepted, the one connected to for a
// connected stream; unnamed for UnixStream::pair).
struct UnixCore : FdCore {
  UnixCore(int fd_, const UnixAddr& addr_) : FdCore(fd_), addr(addr_) {}
  UnixAddr addr;
};

// open_socket makes a non-blocking, close-on-exec socket for `addr`'s family. Throws
// std::system_error naming `op` and `addr`.
int open_socket(const SocketAddr& addr, int type, const char* op);

// throw_errno throws std::system_error(err, system_category) with "<op> <addr>".
[[noreturn]] void throw_errno(int err, std::string_view op, const SocketAddr& addr);
// throw_errno for a Unix socket: "<op> <path>".
[[noreturn]] void throw_errno(int err, std::string_view op, const UnixAddr& addr);
// throw_errno_plain is throw_errno without an address ("<op>").
[[noreturn]] void throw_errno_plain(int err, std::string_view op);
// throw_timeout throws std::system_error(errc::timed_out) with "<op> <addr> (timeout <t>)".
[[noreturn]] void throw_timeout(std::string_view op, const SocketAddr& addr,
                                std::int64_t timeout_ns);
[[noreturn]] void throw_timeout(std::string_view op, const UnixAddr& addr, std::int64_t timeout_ns);
// throw_closed throws std::system_error(EBADF) for a call on a closed or moved-from object.
[[noreturn]] void throw_closed(std::string_view op);

// format_duration writes a timeout for messages: "100 ms", "250 us", "7 ns", "2 s".
std::string format_duration(std::int64_t ns);

// WaitOutcome is what the loop does after a wait: retry normally, or make a last attempt and then
// throw (the deadline passed, or the fiber was cancelled).
enum class WaitOutcome : std::uint8_t { Retry, LastTryTimeout, LastTryCancelled };

// wait_io waits on `core` for `dir` (IoHandle::kRead / kWrite) until `deadline_ns`. Throws what
// IoHandle::wait throws.
inline WaitOutcome wait_io(FdCore& core, int dir, std::uint64_t deadline_ns) {
  switch (core.io.wait(dir, deadline_ns)) {
    case WaitStatus::Signaled:
      return WaitOutcome::Retry;
    case WaitStatus::Timeout:
      return WaitOutcome::LastTryTimeout;
    case WaitStatus::Cancelled:
      break;
  }
  return WaitOutcome::LastTryCancelled;
}

// fail_after_last_try throws for a last attempt that would have blocked again.
[[noreturn]] void fail_after_last_try(WaitOutcome o, std::string_view op, const SocketAddr& addr,
                                      std::int64_t timeout_ns);
[[noreturn]] void fail_after_last_try(WaitOutcome o, std::string_view op, const UnixAddr& addr,
                                      std::int64_t timeout_ns);

// local_addr_of returns getsockname(fd). Throws std::system_error naming `op`.
SocketAddr local_addr_of(int fd, const char* op);

}  // namespace spindle::net::detail
