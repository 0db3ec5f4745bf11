/// @file
/// spindle/net/tcp_stream.hpp: TcpStream, a connected TCP socket with blocking-style calls that
/// park the calling fiber (or block the calling OS thread) until the socket is ready.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "spindle/detail/wait.hpp"
#include "spindle/net/buffer.hpp"
#include "spindle/net/error.hpp"
#include "spindle/net/shutdown.hpp"
#include "spindle/net/socket_addr.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::net {

class TcpListener;

namespace detail {
struct SPINDLE_INTERNAL SocketCore;
}  // namespace detail

/// TcpStream is a connected TCP socket (from TcpStream::connect or TcpListener::accept). It is
/// move-only and owns its descriptor (non-blocking, close-on-exec); the destructor closes it.
/// TCP_NODELAY is on by default (like Go): small writes go out at once; set_nodelay(false) turns
/// Nagle's algorithm back on.
///
/// Blocking: every call that waits parks the calling fiber (its worker runs other fibers) until the
/// socket is ready, or, outside a fiber, blocks the calling OS thread in poll(2). A stream is
/// registered with the runtime of the first fiber that waits on it; fibers of another runtime must
/// not use it afterwards (std::logic_error). One fiber may read while another writes (their first
/// waits may race to register the stream; registration is made safe for that); two fibers must not
/// read (or write) at once.
///
/// Errors: std::system_error with the errno (std::system_category(); compare with std::errc) and a
/// message naming the operation and the peer address, e.g. "read 127.0.0.1:5000: Connection reset
/// by peer". The `_for` calls throw std::system_error(std::errc::timed_out) when their timeout
/// expires: "read 127.0.0.1:5000 (timeout 100 ms): Connection timed out"; the timeout bounds the
/// whole call (all of write_all, all of read_exact), not each system call. Using a closed or
/// moved-from stream throws std::system_error(EBADF). Writing never raises SIGPIPE: a write to a
/// connection the peer has closed throws EPIPE (or ECONNRESET).
///
/// Cancellation: a call is a cancellation point when it has to wait: a cancelled fiber gets
/// spindle::Cancelled. Bytes already transferred by that call stay transferred (write_all and
/// read_exact may have moved part of the buffer).
/// Cooperative budget: each blocking call (not the try_ forms) spends one unit of the calling
/// fiber's budget; once every 128 such calls in a row (spindle/detail/coop.hpp) the call is a
/// cancellation point even when it would not block (it throws spindle::Cancelled before any byte
/// moves), and it yields first once the fiber has held its worker for poll_interval.
/// docs/scheduler.md, "Cooperative budget".
class TcpStream {
 public:
  /// TcpStream makes a closed stream (is_open() == false).
  TcpStream() noexcept;
  /// TcpStream takes over `other`'s socket; `other` is left closed (is_open() == false).
  TcpStream(TcpStream&& other) noexcept;
  /// operator= closes this stream, then takes over `other`'s socket.
  TcpStream& operator=(TcpStream&& other) noexcept;
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;
  /// ~TcpStream closes the socket (see close).
  ~TcpStream();

  /// connect opens a TCP connection to `addr` and waits until the handshake completes. Throws
  /// std::system_error: ECONNREFUSED, ENETUNREACH, ETIMEDOUT (the kernel gave up), ...: "connect
  /// 127.0.0.1:1: Connection refused"; spindle::Cancelled.
  static TcpStream connect(const SocketAddr& addr) { return connect_impl(addr, kNoDeadline, -1); }
  /// connect with a timeout: throws std::system_error(std::errc::timed_out) if the handshake has
  /// not completed after `timeout`.
  template <class Rep, class Period>
  static TcpStream connect(const SocketAddr& addr,
                           const std::chrono::duration<Rep, Period>& timeout) {
    return connect_impl(addr, spindle::detail::deadline_after(timeout),
                        detail::timeout_ns(timeout));
  }

  /// read reads at least one and at most buf.size bytes, waiting until some are available, and
  /// returns how many it read; 0 means end of stream (the peer shut down its writing side or
  /// closed) or an empty `buf` (returns at once). Throws std::system_error (ECONNRESET, ...),
  /// spindle::Cancelled.
  std::size_t read(MutableBuffer buf) { return read_impl(buf, kNoDeadline, -1); }
  /// read_for is read giving up after `timeout`: std::system_error(std::errc::timed_out).
  template <class Rep, class Period>
  std::size_t read_for(MutableBuffer buf, const std::chrono::duration<Rep, Period>& timeout) {
    return read_impl(buf, spindle::detail::deadline_after(timeout), detail::timeout_ns(timeout));
  }

  /// read_exact fills all of `buf`, reading as often as needed. Throws std::system_error with
  /// NetErrc::UnexpectedEof (spindle/net/error.hpp) if the stream ends first ("read_exact
  /// 127.0.0.1:5000: got 10 of 64 bytes: unexpected end of stream"; the bytes read stay in `buf`),
  /// the errors of read, spindle::Cancelled.
  void read_exact(MutableBuffer buf) { read_exact_impl(buf, kNoDeadline, -1); }
  /// read_exact_for is read_exact giving up after `timeout` (for the whole buffer):
  /// std::system_error(std::errc::timed_out).
  template <class Rep, class Period>
  void read_exact_for(MutableBuffer buf, const std::chrono::duration<Rep, Period>& timeout) {
    read_exact_impl(buf, spindle::detail::deadline_after(timeout), detail::timeout_ns(timeout));
  }

  /// write writes at least one and at most buf.size bytes, waiting until the socket can take some,
  /// and returns how many it wrote (0 only for an empty `buf`). Throws std::system_error (EPIPE,
  /// ECONNRESET, ...), spindle::Cancelled.
  std::size_t write(ConstBuffer buf) { return write_impl(buf, false, kNoDeadline, -1); }
  /// write_all writes all of `buf` (as many partial writes as needed). Throws like write.
  void write_all(ConstBuffer buf) { write_impl(buf, true, kNoDeadline, -1); }
  /// write_all_for is write_all giving up after `timeout` (for the whole buffer):
  /// std::system_error(std::errc::timed_out); part of `buf` may have been sent.
  template <class Rep, class Period>
  void write_all_for(ConstBuffer buf, const std::chrono::duration<Rep, Period>& timeout) {
    write_impl(buf, true, spindle::detail::deadline_after(timeout), detail::timeout_ns(timeout));
  }

  /// shutdown closes one or both directions (see Shutdown) and keeps the socket open: after
  /// shutdown(Shutdown::Write) the peer reads end of stream and this side can still read its reply.
  /// Never blocks. Throws std::system_error (ENOTCONN if the connection is already gone).
  void shutdown(Shutdown how);
  /// close deregisters and closes the socket (an unsent tail of data is still delivered by the
  /// kernel, unless SO_LINGER says otherwise). Idempotent; never blocks, never throws. Must not run
  /// while another fiber or thread waits on the stream.
  void close() noexcept;

  /// set_nodelay turns TCP_NODELAY on (no Nagle delay; the default) or off. Throws
  /// std::system_error.
  void set_nodelay(bool on);
  /// nodelay says whether TCP_NODELAY is on. Throws std::system_error.
  bool nodelay() const;

  /// peer_addr returns the address of the other end. Throws std::system_error(EBADF) when closed.
  SocketAddr peer_addr() const;
  /// local_addr returns this end's address (getsockname). Throws std::system_error.
  SocketAddr local_addr() const;
  /// is_open says whether the stream holds a socket.
  bool is_open() const noexcept;
  /// native_handle returns the socket descriptor (-1 when closed) for setsockopt and the like; do
  /// not close it or make it blocking.
  int native_handle() const noexcept;

 private:
  friend class TcpListener;
  static constexpr std::uint64_t kNoDeadline = spindle::detail::kNoDeadline;
  explicit TcpStream(std::unique_ptr<detail::SocketCore> core) noexcept;

  static TcpStream connect_impl(const SocketAddr& addr, std::uint64_t deadline_ns,
                                std::int64_t timeout_ns);
  std::size_t read_impl(MutableBuffer buf, std::uint64_t deadline_ns, std::int64_t timeout_ns);
  void read_exact_impl(MutableBuffer buf, std::uint64_t deadline_ns, std::int64_t timeout_ns);
  std::size_t write_impl(ConstBuffer buf, bool all, std::uint64_t deadline_ns,
                         std::int64_t timeout_ns);

  std::unique_ptr<detail::SocketCore> core_;
};

}  // namespace spindle::net

SPINDLE_API_END
