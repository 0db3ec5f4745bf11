/// @file
/// spindle/net/unix_addr.hpp: UnixAddr, the address of a Unix domain socket: a file system path, a
/// Linux abstract name, or unnamed.
#pragma once

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>

struct sockaddr;
struct sockaddr_storage;

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::net {

/// UnixAddr is a Unix domain socket address, a plain value (copyable, comparable, hashable,
/// printable). Three kinds:
///   - a path ("/run/app.sock"): the socket is a file; binding creates it (EADDRINUSE if the file
///     exists: remove a stale one first) and closing the socket does not remove it;
///   - a Linux abstract name (UnixAddr::abstract("app"), or a path given with a leading '\0'):
///     lives in the network namespace, not the file system, and goes away with the last socket
///     bound to it; any bytes (NUL included) may follow the leading NUL;
///   - unnamed (default-constructed): the address of an unbound socket, such as the client side of
///     most connections and both ends of UnixStream::pair(). UnixListener::bind of an unnamed
///     address lets the kernel pick a free abstract name (autobind), as port 0 does for TCP.
/// Limits come from sockaddr_un's sun_path (108 bytes on Linux): a path holds at most 107 bytes
/// (plus the terminating NUL), an abstract name at most 107 (after its leading NUL).
class UnixAddr {
 public:
  /// kMaxPathLen is the longest path (sun_path minus the terminating NUL).
  static constexpr std::size_t kMaxPathLen = 107;
  /// kMaxAbstractLen is the longest abstract name (sun_path minus the leading NUL).
  static constexpr std::size_t kMaxAbstractLen = 107;

  /// UnixAddr makes an unnamed address.
  UnixAddr() = default;

  /// from_path makes a path address; a `path` that starts with '\0' makes the abstract address
  /// named by the bytes after it (as in sun_path). Throws std::invalid_argument naming sun_path and
  /// the limit when the path is longer than kMaxPathLen bytes (or the abstract name longer than
  /// kMaxAbstractLen), and for an empty path, a path containing a NUL byte, or a lone "\0".
  static UnixAddr from_path(std::string_view path);
  /// abstract makes the abstract address `name` (without the leading NUL; any bytes). Throws
  /// std::invalid_argument for an empty name or one longer than kMaxAbstractLen bytes.
  static UnixAddr abstract(std::string_view name);
  /// from_sockaddr converts a sockaddr_un of `len` bytes (as filled in by accept, getsockname,
  /// getpeername). Throws std::invalid_argument for another address family.
  static UnixAddr from_sockaddr(const sockaddr* sa, std::size_t len);

  /// to_sockaddr fills `out` with the sockaddr_un form and returns its length (for bind, connect):
  /// an unnamed address gives just the family (bind then autobinds). Never throws.
  std::size_t to_sockaddr(sockaddr_storage& out) const noexcept;

  /// is_unnamed, is_path and is_abstract say which kind this is.
  ///@{
  bool is_unnamed() const noexcept { return !abstract_ && name_.empty(); }
  bool is_path() const noexcept { return !abstract_ && !name_.empty(); }
  bool is_abstract() const noexcept { return abstract_; }
  ///@}
  /// name returns the path, or the abstract name without its leading NUL ("" when unnamed).
  const std::string& name() const noexcept { return name_; }

  /// to_string formats the address for messages: the path, "@name" for an abstract name (NUL bytes
  /// in it shown as '@', as ss(8) does), "(unnamed)".
  std::string to_string() const;

  /// operator== compares kind and name (a path and an abstract name with the same bytes differ).
  friend bool operator==(const UnixAddr&, const UnixAddr&) = default;
  /// operator<< writes to_string().
  friend std::ostream& operator<<(std::ostream& os, const UnixAddr& a);

 private:
  std::string name_;
  bool abstract_ = false;
};

/// operator<< writes a.to_string() (declared here too, so it is part of the exported API).
std::ostream& operator<<(std::ostream& os, const UnixAddr& a);

}  // namespace spindle::net

/// std::hash<UnixAddr> hashes the name and the kind (for unordered containers). Never throws.
template <>
struct std::hash<spindle::net::UnixAddr> {
  /// operator() returns the hash of `a`.
  std::size_t operator()(const spindle::net::UnixAddr& a) const noexcept {
    return std::hash<std::string>{}(a.name()) ^ (a.is_abstract() ? 0x9E3779B97F4A7C15ull : 0);
  }
};

SPINDLE_API_END
