/// @file
/// spindle/net/unix_listener.hpp: UnixListener, a listening Unix domain stream socket whose accept
/// parks the calling fiber (or blocks the calling OS thread) until a connection arrives.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "spindle/detail/deadline.hpp"
#include "spindle/net/error.hpp"
#include "spindle/net/unix_addr.hpp"
#include "spindle/net/unix_stream.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::net {

/// UnixAccepted is what UnixListener::accept returns: the new connection and its peer's address
/// (usually unnamed: clients rarely bind). Supports structured bindings.
struct UnixAccepted {
  UnixStream stream;  ///< the accepted connection
  UnixAddr peer;      ///< the peer's address (usually unnamed)
};

/// UnixListener is a listening Unix domain stream socket. Move-only; owns its descriptor
/// (non-blocking, close-on-exec); the destructor closes it. A path listener leaves its socket file
/// behind when closed (as every Unix socket does): unlink it when done, and before binding again.
/// Blocking, registration with a runtime, error messages (naming the listener's address),
/// cancellation, the cooperative budget and the descriptor-exhaustion backoff of accept work as for
/// TcpListener (spindle/net/tcp_listener.hpp). One fiber (or thread) at a time may wait in accept.
class UnixListener {
 public:
  /// UnixListener makes a closed listener (is_open() == false).
  UnixListener() noexcept;
  /// UnixListener(other) takes over `other`'s socket (`other` is left closed). Must not run while a
  /// fiber or thread waits in `other`'s accept.
  UnixListener(UnixListener&& other) noexcept;
  /// operator= closes this listener, then takes over `other`'s socket.
  UnixListener& operator=(UnixListener&& other) noexcept;
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;
  /// ~UnixListener closes the socket (the path, if any, stays).
  ~UnixListener();

  /// bind makes a socket, binds it to `addr` and listens with a queue of `backlog` pending
  /// connections. An unnamed `addr` autobinds: the kernel picks a free abstract name (see
  /// local_addr). Never blocks. Throws std::system_error: EADDRINUSE (the path exists, or the
  /// abstract name is taken: "bind /run/app.sock: Address already in use"), ENOENT (no such
  /// directory), EACCES, EMFILE, ...; std::invalid_argument for backlog < 1.
  static UnixListener bind(const UnixAddr& addr, int backlog = 1024);

  /// accept waits for a connection and returns it with the peer's address. Throws
  /// std::system_error (EBADF when closed, ...), spindle::Cancelled.
  UnixAccepted accept() { return accept_impl(spindle::detail::kNoDeadline, -1); }
  /// accept_for is accept giving up after `timeout`: std::system_error(std::errc::timed_out).
  template <class Rep, class Period>
  UnixAccepted accept_for(const std::chrono::duration<Rep, Period>& timeout) {
    return accept_impl(spindle::detail::deadline_after(timeout), detail::timeout_ns(timeout));
  }

  /// local_addr returns the address the listener is bound to (the autobound abstract name when
  /// bind was given an unnamed address). Throws std::system_error(EBADF) when closed.
  UnixAddr local_addr() const;
  /// close deregisters and closes the socket (the path, if any, stays); pending connections are
  /// reset. Idempotent; never blocks, never throws. Must not run while a fiber or thread waits in
  /// accept: cancel that fiber first.
  void close() noexcept;
  /// is_open says whether the listener holds a socket.
  bool is_open() const noexcept;
  /// native_handle returns the socket descriptor (-1 when closed).
  int native_handle() const noexcept;

 private:
  UnixAccepted accept_impl(std::uint64_t deadline_ns, std::int64_t timeout_ns);

  std::unique_ptr<detail::UnixCore> core_;
};

}  // namespace spindle::net

SPINDLE_API_END
