/// @file
/// spindle/net/resolve.hpp: resolve, host name lookup (getaddrinfo) without blocking a worker.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "spindle/net/socket_addr.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::net {

/// resolve looks up `host` (a name such as "localhost", or a numeric IPv4/IPv6 address, brackets
/// allowed: "[::1]") and returns its addresses with `port`, in getaddrinfo's order (IPv4 and IPv6),
/// without duplicates; never empty. A numeric address is converted directly. A name is looked up
/// with getaddrinfo(3) on the spawn_blocking pool when called from a fiber (the fiber parks; its
/// worker runs other fibers), or directly on the calling OS thread otherwise.
///
/// A cancellation point in a fiber: spindle::Cancelled (the lookup itself runs to its end on the
/// pool and its result is dropped). Throws std::system_error with a resolve_category() code
/// (spindle/net/error.hpp; message from gai_strerror) and a what() naming the host:
/// `resolve "nosuch.invalid": Name or service not known`, or with the errno in
/// std::system_category() for EAI_SYSTEM; std::invalid_argument for an empty host; what
/// spawn_blocking throws.
std::vector<SocketAddr> resolve(std::string_view host, std::uint16_t port);

}  // namespace spindle::net

SPINDLE_API_END
