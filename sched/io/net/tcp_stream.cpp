// TcpStream: connect, read, write, shutdown. See spindle/net/tcp_stream.hpp and net/net_impl.hpp.
#include "spindle/net/tcp_stream.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "net/net_impl.hpp"
#include "net/stream_ops.hpp"
#include "spindle/net/error.hpp"

namespace spindle::net {

using detail::SocketCore;
using detail::WaitOutcome;

TcpStream::TcpStream() noexcept = default;
TcpStream::TcpStream(std::unique_ptr<SocketCore> core) noexcept : core_(std::move(core)) {}
TcpStream::TcpStream(TcpStream&& other) noexcept = default;
TcpStream& TcpStream::operator=(TcpStream&& other) noexcept = default;
TcpStream::~TcpStream() = default;

namespace {

void set_nodelay_fd(int fd, bool on, const SocketAddr& addr) {
  const int v = on ? 1 : 0;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0) {
    detail::throw_errno(errno, "setsockopt TCP_NODELAY", addr);
  }
}

}  // namespace

TcpStream TcpStream::connect_impl(const SocketAddr& addr, std::uint64_t deadline_ns,
                                  std::int64_t timeout_ns) {
  auto core = std::make_unique<SocketCore>(detail::open_socket(addr, SOCK_STREAM, "connect"), addr);
  const int fd = core->fd;
  set_nodelay_fd(fd, true, addr);
  sockaddr_storage ss;
  const socklen_t len = static_cast<socklen_t>(addr.to_sockaddr(ss));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) == 0) {
    return TcpStream(std::move(core));
  }
  const int err = errno;
  if (err != EINPROGRESS && err != EINTR) detail::throw_errno(err, "connect", addr);
  // The handshake goes on in the kernel; the socket turns writable when it ends either way.
  for (;;) {
    const WaitOutcome o = detail::wait_io(*core, detail::IoHandle::kWrite, deadline_ns);
    int so_error = 0;
    socklen_t so_len = sizeof so_error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len) != 0) {
      detail::throw_errno(errno, "connect", addr);
    }
    if (so_error != 0) detail::throw_errno(so_error, "connect", addr);
    sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0) {
      return TcpStream(std::move(core));
    }
    if (errno != ENOTCONN) detail::throw_errno(errno, "connect", addr);
    // Still in progress (a spurious wakeup).
    if (o != WaitOutcome::Retry) detail::fail_after_last_try(o, "connect", addr, timeout_ns);
  }
}

std::size_t TcpStream::read_impl(MutableBuffer buf, std::uint64_t deadline_ns,
                                 std::int64_t timeout_ns) {
  if (!core_ || core_->fd < 0) detail::throw_closed("read");
  return detail::stream_read(*core_, buf, deadline_ns, timeout_ns);
}

void TcpStream::read_exact_impl(MutableBuffer buf, std::uint64_t deadline_ns,
                                std::int64_t timeout_ns) {
  if (!core_ || core_->fd < 0) detail::throw_closed("read_exact");
  detail::stream_read_exact(*core_, buf, deadline_ns, timeout_ns);
}

std::size_t TcpStream::write_impl(ConstBuffer buf, bool all, std::uint64_t deadline_ns,
                                  std::int64_t timeout_ns) {
  if (!core_ || core_->fd < 0) detail::throw_closed(all ? "write_all" : "write");
  return detail::stream_write(*core_, buf, all, deadline_ns, timeout_ns);
}

void TcpStream::shutdown(Shutdown how) {
  if (!core_ || core_->fd < 0) detail::throw_closed("shutdown");
  detail::stream_shutdown(*core_, how);
}

void TcpStream::close() noexcept {
  if (core_) core_->close();
}

void TcpStream::set_nodelay(bool on) {
  if (!core_ || core_->fd < 0) detail::throw_closed("set_nodelay");
  set_nodelay_fd(core_->fd, on, core_->addr);
}

bool TcpStream::nodelay() const {
  if (!core_ || core_->fd < 0) detail::throw_closed("nodelay");
  int v = 0;
  socklen_t len = sizeof v;
  if (::getsockopt(core_->fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) != 0) {
    detail::throw_errno(errno, "getsockopt TCP_NODELAY", core_->addr);
  }
  return v != 0;
}

SocketAddr TcpStream::peer_addr() const {
  if (!core_ || core_->fd < 0) detail::throw_closed("peer_addr");
  return core_->addr;
}

SocketAddr TcpStream::local_addr() const {
  if (!core_ || core_->fd < 0) detail::throw_closed("local_addr");
  return detail::local_addr_of(core_->fd, "local_addr");
}

bool TcpStream::is_open() const noexcept {
  return core_ && core_->fd >= 0;
}

int TcpStream::native_handle() const noexcept {
  return core_ ? core_->fd : -1;
}

}  // namespace spindle::net
