// examples/net_client.cpp: a line-oriented TCP client, for poking examples/echo_server.
//
//   net_client HOST:PORT [LINE...]
//
// HOST is a name (resolved with spindle::net::resolve) or a numeric address ("127.0.0.1",
// "[::1]"). Connects (5 s timeout, trying each resolved address), then for each LINE (or, with
// none, each line of stdin) sends it with a '\n' and prints the reply line the server sends back.
// Exits 0 when every line got its reply, 1 on an error (printed), 2 on bad usage.
#include <spindle/net/resolve.hpp>
#include <spindle/net/tcp_stream.hpp>
#include <spindle/runtime.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;

namespace {

// split_host_port splits "host:port" or "[v6]:port".
bool split_host_port(std::string_view s, std::string* host, std::uint16_t* port) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
  unsigned long p = 0;
  for (char c : s.substr(colon + 1)) {
    if (c < '0' || c > '9') return false;
    p = p * 10 + static_cast<unsigned long>(c - '0');
    if (p > 65535) return false;
  }
  *host = std::string(s.substr(0, colon));
  *port = static_cast<std::uint16_t>(p);
  return true;
}

spindle::net::TcpStream connect_any(const std::string& host, std::uint16_t port) {
  std::string errors;
  for (const spindle::net::SocketAddr& a : spindle::net::resolve(host, port)) {
    try {
      return spindle::net::TcpStream::connect(a, 5s);
    } catch (const std::system_error& e) {
      errors += errors.empty() ? "" : "; ";
      errors += e.what();
    }
  }
  throw std::runtime_error(errors);
}

// read_line reads up to and including '\n' (or end of stream), keeping what follows in `pending`.
bool read_line(spindle::net::TcpStream& s, std::string& pending, std::string* line) {
  char buf[4096];
  for (;;) {
    const auto nl = pending.find('\n');
    if (nl != std::string::npos) {
      *line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      return true;
    }
    const std::size_t n = s.read_for(buf, 10s);
    if (n == 0) {
      *line = pending;
      pending.clear();
      return !line->empty();
    }
    pending.append(buf, n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string host;
  std::uint16_t port = 0;
  if (argc < 2 || !split_host_port(argv[1], &host, &port)) {
    std::fprintf(stderr, "usage: net_client HOST:PORT [LINE...]\n");
    return 2;
  }
  std::vector<std::string> lines(argv + 2, argv + argc);
  if (lines.empty()) {
    for (std::string l; std::getline(std::cin, l);) lines.push_back(l);
  }
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 1;
  spindle::AsyncRuntime rt(cfg);
  try {
    rt.block_on([&] {
      spindle::net::TcpStream s = connect_any(host, port);
      std::string pending, reply;
      for (const std::string& l : lines) {
        s.write_all(l + "\n");
        if (!read_line(s, pending, &reply)) {
          throw std::runtime_error("the server closed the connection");
        }
        std::printf("%s\n", reply.c_str());
        std::fflush(stdout);
      }
      s.shutdown(spindle::net::Shutdown::Write);
    });
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "net_client: %s\n", e.what());
    return 1;
  }
}
