// SocketAddr: parsing, formatting and sockaddr conversion. See spindle/net/socket_addr.hpp.
#include "spindle/net/socket_addr.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <ostream>
#include <stdexcept>

namespace spindle::net {

namespace {

[[noreturn]] void parse_error(std::string_view s, const std::string& what) {
  throw std::invalid_argument("spindle::net::SocketAddr::parse(\"" + std::string(s) +
                              "\"): " + what);
}

// Parses a decimal port; returns the error text or "" on success.
std::string parse_port(std::string_view p, std::uint16_t* out) {
  if (p.empty()) return "missing port after ':'";
  std::uint32_t v = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return "port \"" + std::string(p) + "\" is not a number";
    if (v <= 65535) v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > 65535) return "port " + std::string(p) + " is out of range (0..65535)";
  *out = static_cast<std::uint16_t>(v);
  return {};
}

bool parse_v4(std::string_view ip, SocketAddr* out, std::uint16_t port) {
  if (ip.empty() || ip.size() > 15) return false;
  char buf[16];
  std::memcpy(buf, ip.data(), ip.size());
  buf[ip.size()] = '\0';
  in_addr a;
  if (inet_pton(AF_INET, buf, &a) != 1) return false;
  std::array<std::uint8_t, 4> o;
  std::memcpy(o.data(), &a, 4);
  *out = SocketAddr::v4(o, port);
  return true;
}

// Parses an IPv6 address with an optional "%scope"; returns the error text or "".
std::string parse_v6(std::string_view ip, SocketAddr* out, std::uint16_t port) {
  std::string_view scope;
  if (auto pct = ip.find('%'); pct != std::string_view::npos) {
    scope = ip.substr(pct + 1);
    ip = ip.substr(0, pct);
    if (scope.empty()) return "empty IPv6 scope after '%'";
  }
  if (ip.empty()) return "missing IP address";
  if (ip.size() > 45) return "bad IPv6 address \"" + std::string(ip) + "\"";
  char buf[64];
  std::memcpy(buf, ip.data(), ip.size());
  buf[ip.size()] = '\0';
  in6_addr a;
  if (inet_pton(AF_INET6, buf, &a) != 1) return "bad IPv6 address \"" + std::string(ip) + "\"";
  std::uint32_t scope_id = 0;
  if (!scope.empty()) {
    bool numeric = true;
    std::uint64_t v = 0;
    for (char c : scope) {
      if (c < '0' || c > '9') {
        numeric = false;
        break;
      }
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
      if (v > 0xffffffffu) return "IPv6 scope \"" + std::string(scope) + "\" is out of range";
    }
    if (numeric) {
      scope_id = static_cast<std::uint32_t>(v);
    } else {
      const std::string name(scope);
      scope_id = if_nametoindex(name.c_str());
      if (scope_id == 0) return "unknown IPv6 scope (interface) \"" + name + "\"";
    }
  }
  std::array<std::uint8_t, 16> b;
  std::memcpy(b.data(), &a, 16);
  *out = SocketAddr::v6(b, port, scope_id);
  return {};
}

}  // namespace

SocketAddr SocketAddr::parse(std::string_view s) {
  if (s.empty()) parse_error(s, "empty address (expected \"ip:port\" or \"[ipv6]:port\")");
  SocketAddr out;
  std::uint16_t port = 0;
  if (s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) {
      parse_error(s, "missing closing bracket ']' after the IPv6 address");
    }
    const std::string_view ip = s.substr(1, close - 1);
    const std::string_view rest = s.substr(close + 1);
    if (rest.empty()) parse_error(s, "missing port (expected \"[ipv6]:port\")");
    if (rest.front() != ':') parse_error(s, "expected ':' and a port after ']'");
    if (std::string e = parse_port(rest.substr(1), &port); !e.empty()) parse_error(s, e);
    if (ip.empty()) parse_error(s, "missing IP address between '[' and ']'");
    if (std::string e = parse_v6(ip, &out, port); !e.empty()) parse_error(s, e);
    return out;
  }
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos) {
    parse_error(s, "missing port (expected \"ip:port\" or \"[ipv6]:port\")");
  }
  const std::string_view ip = s.substr(0, colon);
  if (ip.find(':') != std::string_view::npos) {
    parse_error(s, "an IPv6 address needs brackets, as in \"[::1]:8080\"");
  }
  if (s.find(']') != std::string_view::npos) parse_error(s, "']' without '['");
  if (std::string e = parse_port(s.substr(colon + 1), &port); !e.empty()) parse_error(s, e);
  if (ip.empty()) parse_error(s, "missing IP address before ':'");
  if (!parse_v4(ip, &out, port)) {
    parse_error(s, "bad IPv4 address \"" + std::string(ip) +
                       "\" (numeric addresses only; use spindle::net::resolve for host names)");
  }
  return out;
}

SocketAddr SocketAddr::from_ip(std::string_view ip, std::uint16_t port) {
  SocketAddr out;
  if (parse_v4(ip, &out, port)) return out;
  if (ip.find(':') != std::string_view::npos) {
    if (std::string e = parse_v6(ip, &out, port); e.empty()) return out;
  }
  throw std::invalid_argument("spindle::net::SocketAddr::from_ip(\"" + std::string(ip) +
                              "\"): not a numeric IPv4 or IPv6 address");
}

SocketAddr SocketAddr::from_sockaddr(const sockaddr* sa, std::size_t len) {
  if (sa == nullptr || len < sizeof(sa_family_t)) {
    throw std::invalid_argument("spindle::net::SocketAddr::from_sockaddr: no address");
  }
  if (sa->sa_family == AF_INET) {
    if (len < sizeof(sockaddr_in)) {
      throw std::invalid_argument("spindle::net::SocketAddr::from_sockaddr: short sockaddr_in");
    }
    sockaddr_in in;
    std::memcpy(&in, sa, sizeof in);
    std::array<std::uint8_t, 4> o;
    std::memcpy(o.data(), &in.sin_addr, 4);
    return v4(o, ntohs(in.sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    if (len < sizeof(sockaddr_in6)) {
      throw std::invalid_argument("spindle::net::SocketAddr::from_sockaddr: short sockaddr_in6");
    }
    sockaddr_in6 in6;
    std::memcpy(&in6, sa, sizeof in6);
    std::array<std::uint8_t, 16> b;
    std::memcpy(b.data(), &in6.sin6_addr, 16);
    return v6(b, ntohs(in6.sin6_port), in6.sin6_scope_id);
  }
  throw std::invalid_argument("spindle::net::SocketAddr::from_sockaddr: address family " +
                              std::to_string(sa->sa_family) + " is not AF_INET or AF_INET6");
}

std::size_t SocketAddr::to_sockaddr(sockaddr_storage& out) const noexcept {
  std::memset(&out, 0, sizeof out);
  if (!v6_) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port_);
    std::memcpy(&in.sin_addr, ip_.data(), 4);
    std::memcpy(&out, &in, sizeof in);
    return sizeof in;
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port_);
  in6.sin6_scope_id = scope_id_;
  std::memcpy(&in6.sin6_addr, ip_.data(), 16);
  std::memcpy(&out, &in6, sizeof in6);
  return sizeof in6;
}

bool SocketAddr::is_loopback() const noexcept {
  if (!v6_) return ip_[0] == 127;
  for (int i = 0; i < 15; ++i) {
    if (ip_[i] != 0) return false;
  }
  return ip_[15] == 1;
}

bool SocketAddr::is_unspecified() const noexcept {
  for (std::uint8_t b : ip_) {
    if (b != 0) return false;
  }
  return true;
}

std::string SocketAddr::ip_string() const {
  char buf[INET6_ADDRSTRLEN + 16];
  if (inet_ntop(v6_ ? AF_INET6 : AF_INET, ip_.data(), buf, sizeof buf) == nullptr) {
    return "?";  // cannot happen with these sizes
  }
  std::string s(buf);
  if (v6_ && scope_id_ != 0) {
    s += '%';
    s += std::to_string(scope_id_);
  }
  return s;
}

std::string SocketAddr::to_string() const {
  std::string s;
  if (v6_) {
    s = '[' + ip_string() + ']';
  } else {
    s = ip_string();
  }
  s += ':';
  s += std::to_string(port_);
  return s;
}

std::ostream& operator<<(std::ostream& os, const SocketAddr& a) {
  return os << a.to_string();
}

}  // namespace spindle::net

std::size_t std::hash<spindle::net::SocketAddr>::operator()(
    const spindle::net::SocketAddr& a) const noexcept {
  // FNV-1a over the fields.
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  mix(a.is_ipv6() ? 6 : 4, 1);
  for (std::uint8_t b : a.bytes()) mix(b, 1);
  mix(a.port(), 2);
  mix(a.scope_id(), 4);
  return static_cast<std::size_t>(h);
}
