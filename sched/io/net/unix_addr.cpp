// UnixAddr: path, abstract and unnamed Unix domain socket addresses. See spindle/net/unix_addr.hpp.
#include "spindle/net/unix_addr.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <ostream>
#include <stdexcept>
#include <string>

namespace spindle::net {

static_assert(sizeof(sockaddr_un::sun_path) == UnixAddr::kMaxPathLen + 1);
static_assert(sizeof(sockaddr_un::sun_path) == UnixAddr::kMaxAbstractLen + 1);
static_assert(sizeof(sockaddr_un) <= sizeof(sockaddr_storage));

namespace {

[[noreturn]] void too_long(const char* fn, const char* what, std::size_t len, std::size_t max) {
  throw std::invalid_argument(
      "spindle::net::UnixAddr::" + std::string(fn) + ": " + what + " is " + std::to_string(len) +
      " bytes; sockaddr_un.sun_path holds at most " + std::to_string(max) + " (" +
      std::to_string(sizeof(sockaddr_un::sun_path)) + " bytes with the " +
      (std::strcmp(what, "path") == 0 ? "terminating" : "leading") + " NUL)");
}

}  // namespace

UnixAddr UnixAddr::from_path(std::string_view path) {
  if (!path.empty() && path.front() == '\0') {
    if (path.size() == 1) {
      throw std::invalid_argument(
          "spindle::net::UnixAddr::from_path: a lone \"\\0\" names no abstract address");
    }
    if (path.size() - 1 > kMaxAbstractLen) {
      too_long("from_path", "abstract name", path.size() - 1, kMaxAbstractLen);
    }
    UnixAddr a;
    a.name_.assign(path.substr(1));
    a.abstract_ = true;
    return a;
  }
  if (path.empty()) throw std::invalid_argument("spindle::net::UnixAddr::from_path: empty path");
  if (path.find('\0') != std::string_view::npos) {
    throw std::invalid_argument("spindle::net::UnixAddr::from_path: path contains a NUL byte");
  }
  if (path.size() > kMaxPathLen) too_long("from_path", "path", path.size(), kMaxPathLen);
  UnixAddr a;
  a.name_.assign(path);
  return a;
}

UnixAddr UnixAddr::abstract(std::string_view name) {
  if (name.empty()) {
    throw std::invalid_argument(
        "spindle::net::UnixAddr::abstract: empty name (bind an unnamed "
        "UnixAddr to let the kernel pick one)");
  }
  if (name.size() > kMaxAbstractLen)
    too_long("abstract", "abstract name", name.size(), kMaxAbstractLen);
  UnixAddr a;
  a.name_.assign(name);
  a.abstract_ = true;
  return a;
}

UnixAddr UnixAddr::from_sockaddr(const sockaddr* sa, std::size_t len) {
  constexpr std::size_t kHead = offsetof(sockaddr_un, sun_path);
  if (sa == nullptr || len < sizeof(sa_family_t) || sa->sa_family != AF_UNIX) {
    throw std::invalid_argument("spindle::net::UnixAddr::from_sockaddr: not an AF_UNIX address");
  }
  len = std::min(len, sizeof(sockaddr_un));
  UnixAddr a;
  if (len <= kHead) return a;  // unnamed
  const auto* un = reinterpret_cast<const sockaddr_un*>(sa);
  const std::size_t n = len - kHead;
  if (un->sun_path[0] == '\0') {
    if (n == 1) return a;
    a.name_.assign(un->sun_path + 1, n - 1);
    a.abstract_ = true;
    return a;
  }
  a.name_.assign(un->sun_path, ::strnlen(un->sun_path, n));
  return a;
}

std::size_t UnixAddr::to_sockaddr(sockaddr_storage& out) const noexcept {
  std::memset(&out, 0, sizeof(sockaddr_un));
  auto* un = reinterpret_cast<sockaddr_un*>(&out);
  un->sun_family = AF_UNIX;
  constexpr std::size_t kHead = offsetof(sockaddr_un, sun_path);
  if (abstract_) {
    std::memcpy(un->sun_path + 1, name_.data(), name_.size());
    return kHead + 1 + name_.size();
  }
  if (name_.empty()) return sizeof(sa_family_t);
  std::memcpy(un->sun_path, name_.data(), name_.size());
  return kHead + name_.size() + 1;
}

std::string UnixAddr::to_string() const {
  if (abstract_) {
    std::string s = "@" + name_;
    for (std::size_t i = 1; i < s.size(); ++i) {
      if (s[i] == '\0') s[i] = '@';
    }
    return s;
  }
  if (name_.empty()) return "(unnamed)";
  return name_;
}

std::ostream& operator<<(std::ostream& os, const UnixAddr& a) {
  return os << a.to_string();
}

}  // namespace spindle::net
