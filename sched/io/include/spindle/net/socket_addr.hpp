/// @file
/// spindle/net/socket_addr.hpp: SocketAddr, an IPv4 or IPv6 address with a port.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>

struct sockaddr;
struct sockaddr_storage;

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::net {

/// SocketAddr is an IPv4 or IPv6 address plus a port (and, for IPv6, a scope id), a plain value:
/// copyable, comparable (IPv4 before IPv6, then by address bytes, port, scope id), hashable and
/// printable. A default-constructed SocketAddr is 0.0.0.0:0. Addresses are numeric only: resolve()
/// (spindle/net/resolve.hpp) turns host names into SocketAddrs.
class SocketAddr {
 public:
  /// SocketAddr makes 0.0.0.0:0 (the IPv4 wildcard, port 0).
  constexpr SocketAddr() noexcept = default;

  /// parse reads "a.b.c.d:port", "[ipv6]:port" or "[ipv6%scope]:port" (scope: a number or an
  /// interface name). Throws std::invalid_argument quoting `s` and saying what is wrong: empty
  /// string, missing port, port not a number, port > 65535, bad IPv4 or IPv6 address, IPv6 address
  /// without brackets, missing closing bracket, unknown scope. Host names are not accepted.
  static SocketAddr parse(std::string_view s);
  /// from_ip makes an address from a numeric IP ("127.0.0.1", "::1", "fe80::1%eth0"; no brackets)
  /// and a port. Throws std::invalid_argument quoting `ip` if it is not a valid IPv4 or IPv6
  /// address.
  static SocketAddr from_ip(std::string_view ip, std::uint16_t port);
  /// v4 makes an IPv4 address from its four octets (network order: {127, 0, 0, 1}) and a port.
  static constexpr SocketAddr v4(std::array<std::uint8_t, 4> octets, std::uint16_t port) noexcept {
    SocketAddr a;
    for (std::size_t i = 0; i < 4; ++i) a.ip_[i] = octets[i];
    a.port_ = port;
    return a;
  }
  /// v6 makes an IPv6 address from its sixteen bytes (network order), a port and a scope id.
  static constexpr SocketAddr v6(std::array<std::uint8_t, 16> bytes, std::uint16_t port,
                                 std::uint32_t scope_id = 0) noexcept {
    SocketAddr a;
    a.v6_ = true;
    a.ip_ = bytes;
    a.port_ = port;
    a.scope_id_ = scope_id;
    return a;
  }
  /// from_sockaddr converts a sockaddr_in or sockaddr_in6 of `len` bytes (as filled in by accept,
  /// getsockname, recvfrom, getaddrinfo). Throws std::invalid_argument for another address family
  /// or a too short length.
  static SocketAddr from_sockaddr(const sockaddr* sa, std::size_t len);

  /// to_sockaddr fills `out` with the sockaddr_in or sockaddr_in6 form and returns its length (for
  /// bind, connect, sendto). Never throws.
  std::size_t to_sockaddr(sockaddr_storage& out) const noexcept;

  /// is_ipv4 says whether this is an IPv4 address.
  constexpr bool is_ipv4() const noexcept { return !v6_; }
  /// is_ipv6 says whether this is an IPv6 address (IPv4-mapped ones like \::ffff:1.2.3.4
  /// included).
  constexpr bool is_ipv6() const noexcept { return v6_; }
  /// port returns the port (host byte order).
  constexpr std::uint16_t port() const noexcept { return port_; }
  /// scope_id returns the IPv6 scope id (0 for IPv4 and unscoped addresses).
  constexpr std::uint32_t scope_id() const noexcept { return scope_id_; }
  /// with_port returns a copy with another port.
  constexpr SocketAddr with_port(std::uint16_t port) const noexcept {
    SocketAddr a = *this;
    a.port_ = port;
    return a;
  }
  /// bytes returns the address bytes in network order: 4 for IPv4, 16 for IPv6.
  std::span<const std::uint8_t> bytes() const noexcept {
    return std::span<const std::uint8_t>(ip_.data(), v6_ ? 16 : 4);
  }
  /// is_loopback says whether the address is 127.0.0.0/8 or ::1.
  bool is_loopback() const noexcept;
  /// is_unspecified says whether the address is 0.0.0.0 or :: (a wildcard for bind).
  bool is_unspecified() const noexcept;

  /// ip_string formats the address without the port: "127.0.0.1", "::1", "fe80::1%2".
  std::string ip_string() const;
  /// to_string formats the address as parse() reads it: "127.0.0.1:8080", "[::1]:8080",
  /// "[fe80::1%2]:80".
  std::string to_string() const;

  /// Addresses compare member-wise: IPv4 before IPv6, then the address bytes, the port and the
  /// scope id.
  ///@{
  friend constexpr bool operator==(const SocketAddr&, const SocketAddr&) noexcept = default;
  friend constexpr std::strong_ordering operator<=>(const SocketAddr&,
                                                    const SocketAddr&) noexcept = default;
  ///@}
  /// operator<< writes to_string().
  friend std::ostream& operator<<(std::ostream& os, const SocketAddr& a);

 private:
  // Member order is the comparison order.
  bool v6_ = false;
  std::array<std::uint8_t, 16> ip_{};  // IPv4 uses the first 4 bytes; the rest stay 0
  std::uint16_t port_ = 0;
  std::uint32_t scope_id_ = 0;
};

/// operator<< writes a.to_string() (declared here too, so it is part of the exported API).
std::ostream& operator<<(std::ostream& os, const SocketAddr& a);

}  // namespace spindle::net

/// std::hash<spindle::net::SocketAddr> lets addresses key unordered containers.
template <>
struct std::hash<spindle::net::SocketAddr> {
  /// operator() hashes every member that operator== compares.
  std::size_t operator()(const spindle::net::SocketAddr& a) const noexcept;
};

SPINDLE_API_END
