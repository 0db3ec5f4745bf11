// resolve: getaddrinfo on the spawn_blocking pool. See spindle/net/resolve.hpp.
#include "spindle/net/resolve.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include "spindle/net/error.hpp"
#include "spindle/spawn_blocking.hpp"
#include "spindle/this_fiber.hpp"

namespace spindle::net {

namespace {

// LookupResult is getaddrinfo's outcome, carried back from the pool thread.
struct LookupResult {
  int rc = 0;         // 0 or an EAI_* code
  int sys_errno = 0;  // errno for EAI_SYSTEM
  std::vector<SocketAddr> addrs;
};

LookupResult lookup(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address (not one per socket type)
  addrinfo* res = nullptr;
  LookupResult r;
  r.rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (r.rc != 0) {
    if (r.rc == EAI_SYSTEM) r.sys_errno = errno;
    return r;
  }
  // Freed on every path out, an exception from from_sockaddr or push_back included.
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owned(res, ::freeaddrinfo);
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    const SocketAddr a = SocketAddr::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
    if (std::find(r.addrs.begin(), r.addrs.end(), a) == r.addrs.end()) r.addrs.push_back(a);
  }
  if (r.addrs.empty()) r.rc = EAI_NONAME;
  return r;
}

}  // namespace

std::vector<SocketAddr> resolve(std::string_view host, std::uint16_t port) {
  if (host.empty()) throw std::invalid_argument("spindle::net::resolve: empty host name");
  // Numeric addresses need no lookup (and no thread hop).
  std::string_view bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  try {
    return {SocketAddr::from_ip(bare, port)};
  } catch (const std::invalid_argument&) {
    // a name: look it up
  }
  std::string name(host);
  LookupResult r;
  if (this_fiber::in_fiber()) {
    r = spawn_blocking([name] { return lookup(name); }).join();
  } else {
    r = lookup(name);
  }
  const std::string what = "resolve \"" + name + "\"";
  if (r.rc == EAI_SYSTEM) throw std::system_error(r.sys_errno, std::system_category(), what);
  if (r.rc != 0) throw std::system_error(std::error_code(r.rc, resolve_category()), what);
  for (SocketAddr& a : r.addrs) a = a.with_port(port);
  return std::move(r.addrs);
}

}  // namespace spindle::net
