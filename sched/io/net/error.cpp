// spindle::net error categories and the error helpers of the socket classes. See
// spindle/net/error.hpp and net/net_impl.hpp.
#include "spindle/net/error.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>

#include "net/net_impl.hpp"
#include "spindle/this_fiber.hpp"

namespace spindle::net {

namespace {

class NetCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "spindle.net"; }
  std::string message(int ev) const override {
    switch (static_cast<NetErrc>(ev)) {
      case NetErrc::UnexpectedEof:
        return "unexpected end of stream";
    }
    return "unknown spindle.net error " + std::to_string(ev);
  }
};

class ResolveCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "spindle.resolve"; }
  std::string message(int ev) const override { return ::gai_strerror(ev); }
  std::error_condition default_error_condition(int ev) const noexcept override {
    switch (ev) {
      case EAI_AGAIN:
        return std::errc::resource_unavailable_try_again;
      case EAI_MEMORY:
        return std::errc::not_enough_memory;
      case EAI_FAMILY:
        return std::errc::address_family_not_supported;
      default:
        return {ev, *this};
    }
  }
};

}  // namespace

const std::error_category& net_category() noexcept {
  static const NetCategory c;
  return c;
}

const std::error_category& resolve_category() noexcept {
  static const ResolveCategory c;
  return c;
}

namespace detail {

void FdCore::close() noexcept {
  if (fd < 0) return;
  io.release();
  ::close(fd);  // EINTR leaves the fd closed on Linux: never retry
  fd = -1;
}

int open_socket(const SocketAddr& addr, int type, const char* op) {
  const int fd =
      ::socket(addr.is_ipv6() ? AF_INET6 : AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno(errno, op, addr);
  return fd;
}

namespace {

[[noreturn]] void throw_errno_at(int err, std::string_view op, const std::string& where) {
  std::string what(op);
  what += ' ';
  what += where;
  throw std::system_error(err, std::system_category(), what);
}

[[noreturn]] void throw_timeout_at(std::string_view op, const std::string& where,
                                   std::int64_t timeout_ns) {
  std::string what(op);
  what += ' ';
  what += where;
  what += " (timeout ";
  what += format_duration(timeout_ns);
  what += ')';
  throw std::system_error(std::make_error_code(std::errc::timed_out), what);
}

}  // namespace

void throw_errno(int err, std::string_view op, const SocketAddr& addr) {
  throw_errno_at(err, op, addr.to_string());
}

void throw_errno(int err, std::string_view op, const UnixAddr& addr) {
  throw_errno_at(err, op, addr.to_string());
}

void throw_errno_plain(int err, std::string_view op) {
  throw std::system_error(err, std::system_category(), std::string(op));
}

std::string format_duration(std::int64_t ns) {
  struct Unit {
    std::int64_t ns;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{1'000'000'000, "s"}, {1'000'000, "ms"}, {1'000, "us"}};
  if (ns > 0) {
    for (const Unit& u : kUnits) {
      if (ns % u.ns == 0) return std::to_string(ns / u.ns) + ' ' + u.name;
    }
    if (ns >= 1'000'000) {
      char buf[48];
      std::snprintf(buf, sizeof buf, "%.3f ms", static_cast<double>(ns) / 1e6);
      return buf;
    }
  }
  return std::to_string(ns) + " ns";
}

void throw_timeout(std::string_view op, const SocketAddr& addr, std::int64_t timeout_ns) {
  throw_timeout_at(op, addr.to_string(), timeout_ns);
}

void throw_timeout(std::string_view op, const UnixAddr& addr, std::int64_t timeout_ns) {
  throw_timeout_at(op, addr.to_string(), timeout_ns);
}

void throw_closed(std::string_view op) {
  std::string what(op);
  what += ": socket is closed";
  throw std::system_error(EBADF, std::system_category(), what);
}

void fail_after_last_try(WaitOutcome o, std::string_view op, const SocketAddr& addr,
                         std::int64_t timeout_ns) {
  if (o == WaitOutcome::LastTryCancelled) spindle::detail::throw_cancelled();
  throw_timeout(op, addr, timeout_ns);
}

void fail_after_last_try(WaitOutcome o, std::string_view op, const UnixAddr& addr,
                         std::int64_t timeout_ns) {
  if (o == WaitOutcome::LastTryCancelled) spindle::detail::throw_cancelled();
  throw_timeout(op, addr, timeout_ns);
}

SocketAddr local_addr_of(int fd, const char* op) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    throw_errno_plain(errno, op);
  }
  return SocketAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace detail
}  // namespace spindle::net
