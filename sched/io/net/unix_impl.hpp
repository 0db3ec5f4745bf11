// sched/io/net/unix_impl.hpp (internal): what UnixStream and UnixListener share
// (net/unix_stream.cpp).
#pragma once

#include "spindle/net/unix_addr.hpp"

namespace spindle::net::detail {

// open_unix_socket makes a non-blocking, close-on-exec AF_UNIX stream socket. Throws
// std::system_error naming `op` and `addr`.
int open_unix_socket(const UnixAddr& addr, const char* op);
// unix_addr_of returns getpeername(fd) (peer) or getsockname(fd). Throws std::system_error naming
// `label`.
UnixAddr unix_addr_of(int fd, bool peer, const UnixAddr& label);

}  // namespace spindle::net::detail
