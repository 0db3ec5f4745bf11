// TcpListener: bind, listen, accept (the loop with descriptor-exhaustion backoff is accept_loop in
// net/stream_ops.hpp). See spindle/net/tcp_listener.hpp.
#include "spindle/net/tcp_listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>

#include "net/net_impl.hpp"
#include "net/stream_ops.hpp"

namespace spindle::net {

using detail::SocketCore;

TcpListener::TcpListener() noexcept = default;
TcpListener::TcpListener(TcpListener&& other) noexcept = default;
TcpListener& TcpListener::operator=(TcpListener&& other) noexcept = default;
TcpListener::~TcpListener() = default;

TcpListener TcpListener::bind(const SocketAddr& addr, int backlog) {
  if (backlog < 1) {
    throw std::invalid_argument("spindle::net::TcpListener::bind: backlog " +
                                std::to_string(backlog) + " must be at least 1");
  }
  auto core = std::make_unique<SocketCore>(detail::open_socket(addr, SOCK_STREAM, "bind"), addr);
  const int fd = core->fd;
  const int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    detail::throw_errno(errno, "setsockopt SO_REUSEADDR", addr);
  }
  sockaddr_storage ss;
  const socklen_t len = static_cast<socklen_t>(addr.to_sockaddr(ss));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    detail::throw_errno(errno, "bind", addr);
  }
  if (::listen(fd, backlog) != 0) detail::throw_errno(errno, "listen", addr);
  core->addr = detail::local_addr_of(fd, "bind: getsockname");
  TcpListener l;
  l.core_ = std::move(core);
  return l;
}

Accepted TcpListener::accept_impl(std::uint64_t deadline_ns, std::int64_t timeout_ns) {
  if (!core_ || core_->fd < 0) detail::throw_closed("accept");
  return detail::accept_loop(
      *core_, deadline_ns, timeout_ns, [](int fd, const sockaddr_storage& ss, socklen_t len) {
        SocketAddr peer;
        try {
          peer = SocketAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
        } catch (...) {
          ::close(fd);
          throw;
        }
        std::unique_ptr<SocketCore> core;
        try {
          core = std::make_unique<SocketCore>(fd, peer);
        } catch (...) {
          ::close(fd);
          throw;
        }
        const int one = 1;
        // TCP_NODELAY on, as for connect (failure is harmless: the stream still works).
        (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return Accepted{TcpStream(std::move(core)), peer};
      });
}

SocketAddr TcpListener::local_addr() const {
  if (!core_ || core_->fd < 0) detail::throw_closed("local_addr");
  return core_->addr;
}

void TcpListener::close() noexcept {
  if (core_) core_->close();
}

bool TcpListener::is_open() const noexcept {
  return core_ && core_->fd >= 0;
}

int TcpListener::native_handle() const noexcept {
  return core_ ? core_->fd : -1;
}

}  // namespace spindle::net
