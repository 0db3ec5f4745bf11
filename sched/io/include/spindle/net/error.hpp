/// @file
/// spindle/net/error.hpp: the error codes of spindle::net that are not errno values: NetErrc (end
/// of stream in read_exact) and the getaddrinfo error category of resolve().
///
/// Every other failure of spindle::net is a std::system_error carrying the errno value in
/// std::system_category() (compare with std::errc: `e.code() == std::errc::connection_refused`),
/// and a what() that names the operation and the address: "connect 127.0.0.1:1: Connection
/// refused". Timeouts carry std::errc::timed_out: "read 127.0.0.1:5000 (timeout 100 ms): Connection
/// timed out". Cancellation is spindle::Cancelled, never an error code.
#pragma once

#include <chrono>
#include <cstdint>
#include <system_error>
#include <type_traits>

#include "spindle/detail/deadline.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::net {

/// NetErrc lists spindle::net's own error codes (category net_category()).
enum class NetErrc : int {
  /// UnexpectedEof: the peer closed the stream before read_exact had all the bytes it needed.
  UnexpectedEof = 1,
};

/// net_category returns the category of NetErrc codes; name "spindle.net". Never throws.
const std::error_category& net_category() noexcept;
/// make_error_code wraps a NetErrc (so that `e.code() == NetErrc::UnexpectedEof` works).
inline std::error_code make_error_code(NetErrc e) noexcept {
  return {static_cast<int>(e), net_category()};
}

/// resolve_category returns the category of getaddrinfo's EAI_* codes (negative on glibc), as
/// thrown by resolve(); name "spindle.resolve", message() is gai_strerror. EAI_AGAIN compares equal
/// to std::errc::resource_unavailable_try_again, EAI_MEMORY to std::errc::not_enough_memory and
/// EAI_FAMILY to std::errc::address_family_not_supported. EAI_SYSTEM is never used: resolve throws
/// the underlying errno in std::system_category() instead. Never throws.
const std::error_category& resolve_category() noexcept;

namespace detail {
// timeout_ns converts a `_for` call's timeout to nanoseconds for its timed_out message (saturating,
// at least 0).
template <class Rep, class Period>
std::int64_t timeout_ns(const std::chrono::duration<Rep, Period>& d) noexcept {
  const spindle::detail::SatNs s = spindle::detail::saturating_ns(d);
  return s.nan || s.ns < 0 ? 0 : s.ns;
}
}  // namespace detail

}  // namespace spindle::net

/// std::is_error_code_enum<spindle::net::NetErrc> lets a NetErrc convert to std::error_code.
template <>
struct std::is_error_code_enum<spindle::net::NetErrc> : std::true_type {};

SPINDLE_API_END
