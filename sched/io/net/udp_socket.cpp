// UdpSocket: bind, send_to, recv_from. See spindle/net/udp_socket.hpp and net/net_impl.hpp.
#include "spindle/net/udp_socket.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "net/net_impl.hpp"

namespace spindle::net {

using detail::SocketCore;
using detail::WaitOutcome;

UdpSocket::UdpSocket() noexcept = default;
UdpSocket::UdpSocket(UdpSocket&& other) noexcept = default;
UdpSocket& UdpSocket::operator=(UdpSocket&& other) noexcept = default;
UdpSocket::~UdpSocket() = default;

UdpSocket UdpSocket::bind(const SocketAddr& addr) {
  auto core = std::make_unique<SocketCore>(detail::open_socket(addr, SOCK_DGRAM, "bind"), addr);
  sockaddr_storage ss;
  const socklen_t len = static_cast<socklen_t>(addr.to_sockaddr(ss));
  if (::bind(core->fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    detail::throw_errno(errno, "bind", addr);
  }
  core->addr = detail::local_addr_of(core->fd, "bind: getsockname");
  UdpSocket u;
  u.core_ = std::move(core);
  return u;
}

std::size_t UdpSocket::send_to_impl(ConstBuffer buf, const SocketAddr& to,
                                    std::uint64_t deadline_ns, std::int64_t timeout_ns) {
  if (!core_ || core_->fd < 0) detail::throw_closed("send_to");
  spindle::detail::coop_or_throw_ns(deadline_ns);
  SocketCore& c = *core_;
  sockaddr_storage ss;
  const socklen_t len = static_cast<socklen_t>(to.to_sockaddr(ss));
  WaitOutcome o = WaitOutcome::Retry;
  for (;;) {
    const ssize_t n = ::sendto(c.fd, buf.data, buf.size, MSG_NOSIGNAL,
                               reinterpret_cast<const sockaddr*>(&ss), len);
    if (n >= 0) return static_cast<std::size_t>(n);
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) detail::throw_errno(err, "send_to", to);
    if (o != WaitOutcome::Retry) detail::fail_after_last_try(o, "send_to", to, timeout_ns);
    o = detail::wait_io(c, detail::IoHandle::kWrite, deadline_ns);
  }
}

Datagram UdpSocket::recv_from_impl(MutableBuffer buf, std::uint64_t deadline_ns,
                                   std::int64_t timeout_ns) {
  if (!core_ || core_->fd < 0) detail::throw_closed("recv_from");
  spindle::detail::coop_or_throw_ns(deadline_ns);
  SocketCore& c = *core_;
  WaitOutcome o = WaitOutcome::Retry;
  for (;;) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    // MSG_TRUNC: the result is the datagram's real length even when the buffer is shorter.
    const ssize_t n =
        ::recvfrom(c.fd, buf.data, buf.size, MSG_TRUNC, reinterpret_cast<sockaddr*>(&ss), &len);
    if (n >= 0) {
      Datagram d;
      const auto full = static_cast<std::size_t>(n);
      d.size = full < buf.size ? full : buf.size;
      d.truncated = full > buf.size;
      d.from = SocketAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
      return d;
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) detail::throw_errno(err, "recv_from", c.addr);
    if (o != WaitOutcome::Retry) detail::fail_after_last_try(o, "recv_from", c.addr, timeout_ns);
    o = detail::wait_io(c, detail::IoHandle::kRead, deadline_ns);
  }
}

SocketAddr UdpSocket::local_addr() const {
  if (!core_ || core_->fd < 0) detail::throw_closed("local_addr");
  return core_->addr;
}

void UdpSocket::close() noexcept {
  if (core_) core_->close();
}

bool UdpSocket::is_open() const noexcept {
  return core_ && core_->fd >= 0;
}

int UdpSocket::native_handle() const noexcept {
  return core_ ? core_->fd : -1;
}

}  // namespace spindle::net
