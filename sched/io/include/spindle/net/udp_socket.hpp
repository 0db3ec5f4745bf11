/// @file
/// spindle/net/udp_socket.hpp: UdpSocket, a UDP socket whose send_to/recv_from park the calling
/// fiber (or block the calling OS thread) until the socket is ready.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "spindle/detail/wait.hpp"
#include "spindle/net/buffer.hpp"
#include "spindle/net/error.hpp"
#include "spindle/net/socket_addr.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::net {

namespace detail {
struct SPINDLE_INTERNAL SocketCore;
}  // namespace detail

/// Datagram describes one datagram received by UdpSocket::recv_from.
struct Datagram {
  std::size_t size = 0;    ///< bytes stored in the buffer (at most its size)
  SocketAddr from;         ///< the sender
  bool truncated = false;  ///< the datagram was longer than the buffer; the rest is lost
};

/// UdpSocket is a bound UDP socket. Move-only; owns its descriptor (non-blocking, close-on-exec);
/// the destructor closes it. Blocking, registration with a runtime, errors (the address named is
/// the destination for send_to, the local address for recv_from), timeouts and cancellation work as
/// for TcpStream (spindle/net/tcp_stream.hpp). One fiber may receive while another sends.
/// Cooperative budget: each blocking call (not the try_ forms) spends one unit of the calling
/// fiber's budget; once every 128 such calls in a row (spindle/detail/coop.hpp) the call is a
/// cancellation point even when it would not block (it throws spindle::Cancelled), and it yields
/// first once the fiber has held its worker for poll_interval. docs/scheduler.md, "Cooperative
/// budget".
class UdpSocket {
 public:
  /// UdpSocket makes a closed socket (is_open() == false).
  UdpSocket() noexcept;
  /// UdpSocket takes over `other`'s socket; `other` is left closed (is_open() == false).
  UdpSocket(UdpSocket&& other) noexcept;
  /// operator= closes this socket, then takes over `other`'s.
  UdpSocket& operator=(UdpSocket&& other) noexcept;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  /// ~UdpSocket closes the socket.
  ~UdpSocket();

  /// bind makes a UDP socket bound to `addr` (port 0 picks a free port: see local_addr). Never
  /// blocks. Throws std::system_error (EADDRINUSE, EACCES, ...).
  static UdpSocket bind(const SocketAddr& addr);

  /// send_to sends `buf` as one datagram to `to`, waiting while the send buffer is full, and
  /// returns buf.size. Throws std::system_error (EMSGSIZE if too large, EAFNOSUPPORT for an IPv4
  /// socket and an IPv6 destination, ...), spindle::Cancelled.
  std::size_t send_to(ConstBuffer buf, const SocketAddr& to) {
    return send_to_impl(buf, to, spindle::detail::kNoDeadline, -1);
  }
  /// send_to_for is send_to giving up after `timeout`: std::system_error(std::errc::timed_out).
  template <class Rep, class Period>
  std::size_t send_to_for(ConstBuffer buf, const SocketAddr& to,
                          const std::chrono::duration<Rep, Period>& timeout) {
    return send_to_impl(buf, to, spindle::detail::deadline_after(timeout),
                        detail::timeout_ns(timeout));
  }

  /// recv_from waits for one datagram, stores up to buf.size bytes of it and says how many, who
  /// sent it and whether it was truncated. Throws std::system_error, spindle::Cancelled.
  Datagram recv_from(MutableBuffer buf) {
    return recv_from_impl(buf, spindle::detail::kNoDeadline, -1);
  }
  /// recv_from_for is recv_from giving up after `timeout`: std::system_error(std::errc::timed_out).
  template <class Rep, class Period>
  Datagram recv_from_for(MutableBuffer buf, const std::chrono::duration<Rep, Period>& timeout) {
    return recv_from_impl(buf, spindle::detail::deadline_after(timeout),
                          detail::timeout_ns(timeout));
  }

  /// local_addr returns the bound address, with the real port when bind was given port 0. Throws
  /// std::system_error(EBADF) when closed.
  SocketAddr local_addr() const;
  /// close deregisters and closes the socket. Idempotent; never blocks, never throws. Must not run
  /// while a fiber or thread waits on the socket.
  void close() noexcept;
  /// is_open says whether the object holds a socket.
  bool is_open() const noexcept;
  /// native_handle returns the socket descriptor (-1 when closed).
  int native_handle() const noexcept;

 private:
  std::size_t send_to_impl(ConstBuffer buf, const SocketAddr& to, std::uint64_t deadline_ns,
                           std::int64_t timeout_ns);
  Datagram recv_from_impl(MutableBuffer buf, std::uint64_t deadline_ns, std::int64_t timeout_ns);

  std::unique_ptr<detail::SocketCore> core_;
};

}  // namespace spindle::net

SPINDLE_API_END
