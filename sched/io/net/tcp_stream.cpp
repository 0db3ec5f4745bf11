// TcpStream: connect, read, write, shutdown. See spindle/net/tcp_stream.hpp and net/net_impl.hpp.
#include "spindle/net/tcp_stream.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "net/net_impl.hpp"
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
  if (buf.size == 0) return 0;
  spindle::detail::coop_or_throw_ns(deadline_ns);
  SocketCore& c = *core_;
  WaitOutcome o = WaitOutcome::Retry;
  if (c.read_drained) {
    c.read_drained = false;
    o = detail::wait_io(c, detail::IoHandle::kRead, deadline_ns);
  }
  for (;;) {
    const ssize_t n = ::recv(c.fd, buf.data, buf.size, 0);
    if (n >= 0) {
      c.read_drained = n > 0 && static_cast<std::size_t>(n) < buf.size;
      return static_cast<std::size_t>(n);
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) detail::throw_errno(err, "read", c.addr);
    if (o != WaitOutcome::Retry) detail::fail_after_last_try(o, "read", c.addr, timeout_ns);
    o = detail::wait_io(c, detail::IoHandle::kRead, deadline_ns);
  }
}

void TcpStream::read_exact_impl(MutableBuffer buf, std::uint64_t deadline_ns,
                                std::int64_t timeout_ns) {
  if (!core_ || core_->fd < 0) detail::throw_closed("read_exact");
  auto* p = static_cast<unsigned char*>(buf.data);
  std::size_t got = 0;
  while (got < buf.size) {
    std::size_t n;
    try {
      n = read_impl(MutableBuffer(p + got, buf.size - got), deadline_ns, timeout_ns);
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::timed_out || timeout_ns < 0) throw;
      detail::throw_timeout("read_exact", core_->addr, timeout_ns);
    }
    if (n == 0) {
      throw std::system_error(NetErrc::UnexpectedEof, "read_exact " + core_->addr.to_string() +
                                                          ": got " + std::to_string(got) + " of " +
                                                          std::to_string(buf.size) + " bytes");
    }
    got += n;
  }
}

std::size_t TcpStream::write_impl(ConstBuffer buf, bool all, std::uint64_t deadline_ns,
                                  std::int64_t timeout_ns) {
  const char* op = all ? "write_all" : "write";
  if (!core_ || core_->fd < 0) detail::throw_closed(op);
  spindle::detail::coop_or_throw_ns(deadline_ns);
  SocketCore& c = *core_;
  const auto* p = static_cast<const unsigned char*>(buf.data);
  std::size_t done = 0;
  WaitOutcome o = WaitOutcome::Retry;
  bool try_first = !c.write_full;
  c.write_full = false;
  while (done < buf.size) {
    if (!try_first) {
      if (o != WaitOutcome::Retry) detail::fail_after_last_try(o, op, c.addr, timeout_ns);
      o = detail::wait_io(c, detail::IoHandle::kWrite, deadline_ns);
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
    if (err != EAGAIN && err != EWOULDBLOCK) detail::throw_errno(err, op, c.addr);
  }
  return done;
}

void TcpStream::shutdown(Shutdown how) {
  if (!core_ || core_->fd < 0) detail::throw_closed("shutdown");
  const int h = how == Shutdown::Read ? SHUT_RD : how == Shutdown::Write ? SHUT_WR : SHUT_RDWR;
  if (::shutdown(core_->fd, h) != 0) detail::throw_errno(errno, "shutdown", core_->addr);
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
