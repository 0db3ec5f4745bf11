/// @file
/// spindle/net/tcp_listener.hpp: TcpListener, a listening TCP socket whose accept parks the calling
/// fiber (or blocks the calling OS thread) until a connection arrives.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "spindle/detail/wait.hpp"
#include "spindle/net/socket_addr.hpp"
#include "spindle/net/tcp_stream.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::net {

/// Accepted is what TcpListener::accept returns: the new connection and its peer's address.
/// Supports structured bindings: `auto [stream, peer] = listener.accept();`.
struct Accepted {
  /// stream is the new connection.
  TcpStream stream;
  /// peer is the address of the peer.
  SocketAddr peer;
};

/// TcpListener is a listening TCP socket. Move-only; owns its descriptor (non-blocking,
/// close-on-exec, SO_REUSEADDR); the destructor closes it. Blocking, registration with a runtime,
/// error messages and cancellation work as for TcpStream (spindle/net/tcp_stream.hpp); the address
/// named in errors is the listener's own. One fiber (or thread) at a time may wait in accept: run
/// one accept loop per listener and hand connections to fibers of their own.
///
/// Running out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM) in accept does
/// not throw and does not spin: accept sleeps (the fiber parks; a thread sleeps) 1 ms, then 2, 4,
/// ... up to 100 ms between attempts, and keeps the pending connections queued in the backlog until
/// a descriptor is free. Such a sleep is a cancellation point and respects accept_for's timeout.
/// Connections that fail between arrival and accept (ECONNABORTED, EPROTO, network errors) are
/// skipped silently.
/// Cooperative budget: each blocking call (not the try_ forms) spends one unit of the calling
/// fiber's budget; once every 128 such calls in a row (spindle/detail/coop.hpp) the call is a
/// cancellation point even when it would not block (it throws spindle::Cancelled), and it yields
/// first once the fiber has held its worker for poll_interval. docs/scheduler.md, "Cooperative
/// budget".
class TcpListener {
 public:
  /// TcpListener makes a closed listener (is_open() == false).
  TcpListener() noexcept;
  /// TcpListener takes over `other`'s socket; `other` is left closed (is_open() == false).
  TcpListener(TcpListener&& other) noexcept;
  /// operator= closes this listener, then takes over `other`'s socket.
  TcpListener& operator=(TcpListener&& other) noexcept;
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  /// ~TcpListener closes the socket.
  ~TcpListener();

  /// bind makes a socket, binds it to `addr` (port 0 picks a free port: see local_addr) and listens
  /// with a queue of `backlog` pending connections (the kernel caps it at net.core.somaxconn).
  /// Never blocks. Throws std::system_error: EADDRINUSE ("bind 127.0.0.1:8080: Address already in
  /// use"), EACCES, EADDRNOTAVAIL, EMFILE, ...; std::invalid_argument for backlog < 1.
  static TcpListener bind(const SocketAddr& addr, int backlog = 1024);

  /// accept waits for a connection and returns it with the peer's address. Throws
  /// std::system_error (EBADF when closed, ...), spindle::Cancelled. See the class comment for
  /// EMFILE.
  Accepted accept() { return accept_impl(spindle::detail::kNoDeadline, -1); }
  /// accept_for is accept giving up after `timeout`: std::system_error(std::errc::timed_out).
  template <class Rep, class Period>
  Accepted accept_for(const std::chrono::duration<Rep, Period>& timeout) {
    return accept_impl(spindle::detail::deadline_after(timeout), detail::timeout_ns(timeout));
  }

  /// local_addr returns the address the listener is bound to, with the real port when bind was
  /// given port 0. Throws std::system_error(EBADF) when closed.
  SocketAddr local_addr() const;
  /// close deregisters and closes the socket; pending connections are reset. Idempotent; never
  /// blocks, never throws. Must not run while a fiber or thread waits in accept: to stop an accept
  /// loop, cancel its fiber (JoinHandle::cancel, or bind it to a CancellationToken such as
  /// spindle::shutdown_token()) and close the listener once it has ended.
  void close() noexcept;
  /// is_open says whether the listener holds a socket.
  bool is_open() const noexcept;
  /// native_handle returns the socket descriptor (-1 when closed).
  int native_handle() const noexcept;

 private:
  Accepted accept_impl(std::uint64_t deadline_ns, std::int64_t timeout_ns);

  std::unique_ptr<detail::SocketCore> core_;
};

}  // namespace spindle::net

SPINDLE_API_END
