// UnixListener: bind (paths, abstract names, autobind), listen, accept (the shared accept_loop of
// net/stream_ops.hpp). See spindle/net/unix_listener.hpp.
#include "spindle/net/unix_listener.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>

#include "net/net_impl.hpp"
#include "net/stream_ops.hpp"
#include "net/unix_impl.hpp"

namespace spindle::net {

using detail::UnixCore;

UnixListener::UnixListener() noexcept = default;
UnixListener::UnixListener(UnixListener&& other) noexcept = default;
UnixListener& UnixListener::operator=(UnixListener&& other) noexcept = default;
UnixListener::~UnixListener() = default;

UnixListener UnixListener::bind(const UnixAddr& addr, int backlog) {
  if (backlog < 1) {
    throw std::invalid_argument("spindle::net::UnixListener::bind: backlog " +
                                std::to_string(backlog) + " must be at least 1");
  }
  auto core = std::make_unique<UnixCore>(detail::open_unix_socket(addr, "bind"), addr);
  sockaddr_storage ss;
  const auto len = static_cast<socklen_t>(addr.to_sockaddr(ss));
  if (::bind(core->fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    detail::throw_errno(errno, "bind", addr);
  }
  if (::listen(core->fd, backlog) != 0) detail::throw_errno(errno, "listen", addr);
  if (addr.is_unnamed()) core->addr = detail::unix_addr_of(core->fd, false, addr);  // autobound
  UnixListener l;
  l.core_ = std::move(core);
  return l;
}

UnixAccepted UnixListener::accept_impl(std::uint64_t deadline_ns, std::int64_t timeout_ns) {
  if (!core_ || core_->fd < 0) detail::throw_closed("accept");
  const UnixAddr& self = core_->addr;
  return detail::accept_loop(
      *core_, deadline_ns, timeout_ns, [&self](int fd, const sockaddr_storage& ss, socklen_t len) {
        std::unique_ptr<UnixCore> core;
        UnixAddr peer;
        try {
          peer = UnixAddr::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
          core = std::make_unique<UnixCore>(fd, self);
        } catch (...) {
          ::close(fd);
          throw;
        }
        return UnixAccepted{UnixStream(std::move(core)), std::move(peer)};
      });
}

UnixAddr UnixListener::local_addr() const {
  if (!core_ || core_->fd < 0) detail::throw_closed("local_addr");
  return core_->addr;
}

void UnixListener::close() noexcept {
  if (core_) core_->close();
}

bool UnixListener::is_open() const noexcept {
  return core_ && core_->fd >= 0;
}

int UnixListener::native_handle() const noexcept {
  return core_ ? core_->fd : -1;
}

}  // namespace spindle::net
