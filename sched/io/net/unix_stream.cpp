// UnixStream: connect (with backoff while the listener's backlog is full), pair, read, write,
// shutdown; the loops are shared with TcpStream (net/stream_ops.hpp). See
// spindle/net/unix_stream.hpp.
#include "spindle/net/unix_stream.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "net/net_impl.hpp"
#include "net/stream_ops.hpp"
#include "net/unix_impl.hpp"

namespace spindle::net {

using detail::UnixCore;

UnixStream::UnixStream() noexcept = default;
UnixStream::UnixStream(std::unique_ptr<UnixCore> core) noexcept : core_(std::move(core)) {}
UnixStream::UnixStream(UnixStream&& other) noexcept = default;
UnixStream& UnixStream::operator=(UnixStream&& other) noexcept = default;
UnixStream::~UnixStream() = default;

namespace detail {

int open_unix_socket(const UnixAddr& addr, const char* op) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno(errno, op, addr);
  return fd;
}

UnixAddr unix_addr_of(int fd, bool peer, const UnixAddr& label) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  if ((peer ? ::getpeername(fd, sa, &len) : ::getsockname(fd, sa, &len)) != 0) {
    throw_errno(errno, peer ? "peer_addr" : "local_addr", label);
  }
  return UnixAddr::from_sockaddr(sa, len);
}

}  // namespace detail

UnixStream UnixStream::connect_impl(const UnixAddr& addr, std::uint64_t deadline_ns,
                                    std::int64_t timeout_ns) {
  if (addr.is_unnamed()) {
    throw std::invalid_argument("spindle::net::UnixStream::connect: the address is unnamed");
  }
  auto core = std::make_unique<UnixCore>(detail::open_unix_socket(addr, "connect"), addr);
  sockaddr_storage ss;
  const auto len = static_cast<socklen_t>(addr.to_sockaddr(ss));
  std::int64_t backoff_ns = detail::kBackoffFirstNs;
  for (;;) {
    if (::connect(core->fd, reinterpret_cast<const sockaddr*>(&ss), len) == 0) {
      return UnixStream(std::move(core));
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EISCONN) return UnixStream(std::move(core));  // an interrupted attempt got through
    if (err != EAGAIN) detail::throw_errno(err, "connect", addr);
    // The listener's backlog is full; a Unix socket does not report when it has room.
    if (!detail::backoff_sleep(backoff_ns, deadline_ns)) {
      detail::throw_timeout("connect", addr, timeout_ns);
    }
    backoff_ns = std::min(backoff_ns * 2, detail::kBackoffMaxNs);
  }
}

std::pair<UnixStream, UnixStream> UnixStream::pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    detail::throw_errno_plain(errno, "socketpair");
  }
  std::unique_ptr<UnixCore> a, b;
  try {
    a = std::make_unique<UnixCore>(fds[0], UnixAddr());
  } catch (...) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw;
  }
  try {
    b = std::make_unique<UnixCore>(fds[1], UnixAddr());
  } catch (...) {
    ::close(fds[1]);
    throw;
  }
  return {UnixStream(std::move(a)), UnixStream(std::move(b))};
}

std::size_t UnixStream::read_impl(MutableBuffer buf, std::uint64_t deadline_ns,
                                  std::int64_t timeout_ns) {
  if (!core_ || core_->fd < 0) detail::throw_closed("read");
  return detail::stream_read(*core_, buf, deadline_ns, timeout_ns);
}

void UnixStream::read_exact_impl(MutableBuffer buf, std::uint64_t deadline_ns,
                                 std::int64_t timeout_ns) {
  if (!core_ || core_->fd < 0) detail::throw_closed("read_exact");
  detail::stream_read_exact(*core_, buf, deadline_ns, timeout_ns);
}

std::size_t UnixStream::write_impl(ConstBuffer buf, bool all, std::uint64_t deadline_ns,
                                   std::int64_t timeout_ns) {
  if (!core_ || core_->fd < 0) detail::throw_closed(all ? "write_all" : "write");
  return detail::stream_write(*core_, buf, all, deadline_ns, timeout_ns);
}

void UnixStream::shutdown(Shutdown how) {
  if (!core_ || core_->fd < 0) detail::throw_closed("shutdown");
  detail::stream_shutdown(*core_, how);
}

void UnixStream::close() noexcept {
  if (core_) core_->close();
}

UnixAddr UnixStream::peer_addr() const {
  if (!core_ || core_->fd < 0) detail::throw_closed("peer_addr");
  return detail::unix_addr_of(core_->fd, true, core_->addr);
}

UnixAddr UnixStream::local_addr() const {
  if (!core_ || core_->fd < 0) detail::throw_closed("local_addr");
  return detail::unix_addr_of(core_->fd, false, core_->addr);
}

bool UnixStream::is_open() const noexcept {
  return core_ && core_->fd >= 0;
}

int UnixStream::native_handle() const noexcept {
  return core_ ? core_->fd : -1;
}

}  // namespace spindle::net
