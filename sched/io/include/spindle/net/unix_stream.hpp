/// @file
/// spindle/net/unix_stream.hpp: UnixStream, a connected Unix domain stream socket (SOCK_STREAM)
/// with the calls of TcpStream, parking the calling fiber (or blocking the calling OS thread) until
/// the socket is ready.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "spindle/detail/deadline.hpp"
#include "spindle/net/buffer.hpp"
#include "spindle/net/error.hpp"
#include "spindle/net/shutdown.hpp"
#include "spindle/net/unix_addr.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::net {

class UnixListener;

namespace detail {
struct UnixCore;
}  // namespace detail

/// UnixStream is a connected Unix domain stream socket (from UnixStream::connect,
/// UnixListener::accept or UnixStream::pair). Move-only; owns its descriptor (non-blocking,
/// close-on-exec); the destructor closes it.
///
/// Blocking, registration with a runtime, cancellation, the cooperative budget, timeouts (bounding
/// the whole call) and the one-reader-one-writer rule are those of TcpStream
/// (spindle/net/tcp_stream.hpp). Errors: std::system_error with the errno and a message naming the
/// operation and the socket's address: the path (or "@name" for an abstract one) connected to, or,
/// for an accepted stream, the listener's: "read /run/app.sock: Connection reset by peer". Writing
/// never raises SIGPIPE (EPIPE instead). Using a closed or moved-from stream throws
/// std::system_error(EBADF).
class UnixStream {
 public:
  /// UnixStream makes a closed stream (is_open() == false).
  UnixStream() noexcept;
  /// UnixStream(other) takes over `other`'s socket (`other` is left closed). Must not run while a
  /// fiber or thread waits on `other`.
  UnixStream(UnixStream&& other) noexcept;
  /// operator= closes this stream, then takes over `other`'s socket.
  UnixStream& operator=(UnixStream&& other) noexcept;
  UnixStream(const UnixStream&) = delete;
  UnixStream& operator=(const UnixStream&) = delete;
  /// ~UnixStream closes the socket (see close).
  ~UnixStream();

  /// connect connects to the listener at `addr` (a path or an abstract name). A Unix connect does
  /// not wait for the listener to accept: it completes once the connection is queued in the
  /// listener's backlog. When the backlog is full, connect retries, sleeping 1 ms doubling to 100
  /// ms in between (parks a fiber; a cancellation point), until it is queued. Throws
  /// std::system_error: ENOENT (no such path), ECONNREFUSED (nobody listens there), EACCES, ...:
  /// "connect /run/app.sock: No such file or directory"; std::invalid_argument for an unnamed
  /// `addr`; spindle::Cancelled.
  static UnixStream connect(const UnixAddr& addr) { return connect_impl(addr, kNoDeadline, -1); }
  /// connect with a timeout: throws std::system_error(std::errc::timed_out) if the backlog stayed
  /// full for `timeout`.
  template <class Rep, class Period>
  static UnixStream connect(const UnixAddr& addr,
                            const std::chrono::duration<Rep, Period>& timeout) {
    return connect_impl(addr, spindle::detail::deadline_after(timeout),
                        detail::timeout_ns(timeout));
  }
  /// pair makes two connected, unnamed streams (socketpair(2)), e.g. to talk to a spawned child or
  /// between two fibers. Never blocks. Throws std::system_error (EMFILE, ...).
  static std::pair<UnixStream, UnixStream> pair();

  /// read reads at least one and at most buf.size bytes, waiting until some are available, and
  /// returns how many it read; 0 means end of stream (the peer shut down its writing side or
  /// closed) or an empty `buf`. Throws std::system_error (ECONNRESET, ...), spindle::Cancelled.
  std::size_t read(MutableBuffer buf) { return read_impl(buf, kNoDeadline, -1); }
  /// read_for is read giving up after `timeout`: std::system_error(std::errc::timed_out).
  template <class Rep, class Period>
  std::size_t read_for(MutableBuffer buf, const std::chrono::duration<Rep, Period>& timeout) {
    return read_impl(buf, spindle::detail::deadline_after(timeout), detail::timeout_ns(timeout));
  }
  /// read_exact fills all of `buf`. Throws std::system_error with NetErrc::UnexpectedEof if the
  /// stream ends first (the bytes read stay in `buf`), the errors of read, spindle::Cancelled.
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

  /// shutdown closes one or both directions (see Shutdown) and keeps the socket open. Never
  /// blocks. Throws std::system_error (ENOTCONN).
  void shutdown(Shutdown how);
  /// close deregisters and closes the socket. Idempotent; never blocks, never throws. Must not run
  /// while another fiber or thread waits on the stream.
  void close() noexcept;

  /// peer_addr returns the address of the other end (getpeername: usually unnamed for the accepted
  /// side, the listener's address for the connecting side). Throws std::system_error (EBADF when
  /// closed).
  UnixAddr peer_addr() const;
  /// local_addr returns this end's address (getsockname; usually unnamed for a connecting side).
  /// Throws std::system_error.
  UnixAddr local_addr() const;
  /// is_open says whether the stream holds a socket.
  bool is_open() const noexcept;
  /// native_handle returns the socket descriptor (-1 when closed) for setsockopt, SO_PEERCRED,
  /// SCM_RIGHTS and the like; do not close it or make it blocking.
  int native_handle() const noexcept;

 private:
  friend class UnixListener;
  static constexpr std::uint64_t kNoDeadline = spindle::detail::kNoDeadline;
  explicit UnixStream(std::unique_ptr<detail::UnixCore> core) noexcept;

  static UnixStream connect_impl(const UnixAddr& addr, std::uint64_t deadline_ns,
                                 std::int64_t timeout_ns);
  std::size_t read_impl(MutableBuffer buf, std::uint64_t deadline_ns, std::int64_t timeout_ns);
  void read_exact_impl(MutableBuffer buf, std::uint64_t deadline_ns, std::int64_t timeout_ns);
  std::size_t write_impl(ConstBuffer buf, bool all, std::uint64_t deadline_ns,
                         std::int64_t timeout_ns);

  std::unique_ptr<detail::UnixCore> core_;
};

}  // namespace spindle::net

SPINDLE_API_END
