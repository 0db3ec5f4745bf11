// TcpListener: bind, listen, accept with descriptor-exhaustion backoff. See
// spindle/net/tcp_listener.hpp and net/net_impl.hpp.
#include "spindle/net/tcp_listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "net/net_impl.hpp"
#include "spindle/this_fiber.hpp"

namespace spindle::net {

using detail::SocketCore;
using detail::WaitOutcome;

TcpListener::TcpListener() noexcept = default;
TcpListener::TcpListener(TcpListener&& other) noexcept = default;
TcpListener& TcpListener::operator=(TcpListener&& other) noexcept = default;
TcpListener::~TcpListener() = default;

namespace {

constexpr std::int64_t kBackoffFirstNs = 1'000'000;  // 1 ms
constexpr std::int64_t kBackoffMaxNs = 100'000'000;  // 100 ms

// Errors of accept4 that concern one pending connection (it failed before we took it, or the
// network under it went away): skip it and accept the next.
bool skip_connection(int err) {
  switch (err) {
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case EPERM:  // firewall rules
      return true;
    default:
      return false;
  }
}

// Out of descriptors or kernel memory: not this connection's fault, and waiting for readiness
// would not help (the pending connection keeps the socket readable, or, edge-triggered, reports
// nothing new). Sleep instead.
bool resource_exhausted(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

// report_exhausted writes, once per burst of resource exhaustion on a listener (until an accept
// succeeds again), why accept is backing off. Silent backoff hid a descriptor leak or a too-low
// RLIMIT_NOFILE. To stderr until the runtime has a logger; one write, so lines never interleave.
void report_exhausted(const SocketAddr& addr, int err) {
  const char* name = strerrorname_np(err);
  const std::string msg = "spindle: accept " + addr.to_string() + ": " + std::strerror(err) + " (" +
                          (name != nullptr ? name : "?") +
                          "); accept backs off (1 ms, doubling up to 100 ms) until the resource "
                          "is free; reported once until an accept succeeds\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, msg.data(), msg.size());
}

// Sleeps `delay_ns` (less if the deadline comes first); false if the deadline has passed. A
// cancellation point in a fiber.
bool backoff_sleep(std::int64_t delay_ns, std::uint64_t deadline_ns) {
  const std::uint64_t now = spindle::detail::now_ns();
  if (deadline_ns != spindle::detail::kNoDeadline && now >= deadline_ns) return false;
  if (deadline_ns != spindle::detail::kNoDeadline) {
    delay_ns = std::min<std::int64_t>(delay_ns, static_cast<std::int64_t>(deadline_ns - now));
  }
  const auto d = std::chrono::nanoseconds(delay_ns);
  if (this_fiber::in_fiber()) {
    this_fiber::sleep_for(d);
  } else {
    std::this_thread::sleep_for(d);
  }
  return true;
}

}  // namespace

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
  spindle::detail::coop_or_throw_ns(deadline_ns);
  SocketCore& c = *core_;
  std::int64_t backoff_ns = kBackoffFirstNs;
  WaitOutcome o = WaitOutcome::Retry;
  for (;;) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    const int fd =
        ::accept4(c.fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      SocketAddr peer;
      try {
        peer = SocketAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
      } catch (...) {
        ::close(fd);
        throw;
      }
      c.exhaustion_reported = false;  // the burst is over
      auto core = std::make_unique<SocketCore>(fd, peer);
      const int one = 1;
      // TCP_NODELAY on, as for connect (failure is harmless: the stream still works).
      (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return Accepted{TcpStream(std::move(core)), peer};
    }
    const int err = errno;
    if (err == EINTR || skip_connection(err)) continue;
    if (resource_exhausted(err)) {
      if (!c.exhaustion_reported) {
        c.exhaustion_reported = true;
        report_exhausted(c.addr, err);
      }
      if (!backoff_sleep(backoff_ns, deadline_ns)) {
        detail::throw_timeout("accept", c.addr, timeout_ns);
      }
      backoff_ns = std::min(backoff_ns * 2, kBackoffMaxNs);
      continue;
    }
    if (err != EAGAIN && err != EWOULDBLOCK) detail::throw_errno(err, "accept", c.addr);
    if (o != WaitOutcome::Retry) detail::fail_after_last_try(o, "accept", c.addr, timeout_ns);
    o = detail::wait_io(c, detail::IoHandle::kRead, deadline_ns);
  }
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
