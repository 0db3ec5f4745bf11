// examples/echo_server.cpp: a TCP echo server with one fiber per connection, written as plain
// blocking code: accept, read, write_all.
//
//   echo_server [--port=N] [--host=IP] [--workers=N] [--reactor=auto|epoll|libuv]
//
// --port=0 (the default) picks a free port. Once it accepts connections it prints
// `listening port=<n>` on stdout (flushed: scripts and tests read it). SIGINT or SIGTERM stops it:
// the accept loop and every connection fiber are bound to spindle::shutdown_token(), so the signal
// cancels them at their blocking call (accept or read), and the program exits with status 0.
// Poke it with examples/net_client: `net_client 127.0.0.1:<n> hello world`.
#include <spindle/net/tcp_listener.hpp>
#include <spindle/runtime.hpp>
#include <spindle/shutdown.hpp>
#include <spindle/this_fiber.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

namespace {

struct Options {
  int port = 0;
  std::string host = "127.0.0.1";
  unsigned workers = 0;  // one per CPU
  spindle::ReactorBackend reactor = spindle::ReactorBackend::Auto;
};

[[noreturn]] void usage(const char* bad) {
  std::fprintf(stderr,
               "echo_server: bad argument '%s'\n"
               "usage: echo_server [--port=N] [--host=IP] [--workers=N] "
               "[--reactor=auto|epoll|libuv]\n",
               bad);
  std::exit(2);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&a](std::string_view key) -> const char* {
      return a.substr(0, key.size()) == key ? a.data() + key.size() : nullptr;
    };
    if (const char* v = value("--port=")) {
      char* end;
      const long p = std::strtol(v, &end, 10);
      if (*v == '\0' || *end != '\0' || p < 0 || p > 65535) usage(argv[i]);
      o.port = static_cast<int>(p);
    } else if (const char* v = value("--host=")) {
      o.host = v;
    } else if (const char* v = value("--workers=")) {
      char* end;
      const long n = std::strtol(v, &end, 10);
      if (*v == '\0' || *end != '\0' || n < 0 || n > 1024) usage(argv[i]);
      o.workers = static_cast<unsigned>(n);
    } else if (const char* v = value("--reactor=")) {
      const std::string_view r = v;
      if (r == "auto") {
        o.reactor = spindle::ReactorBackend::Auto;
      } else if (r == "epoll") {
        o.reactor = spindle::ReactorBackend::Epoll;
      } else if (r == "libuv") {
        o.reactor = spindle::ReactorBackend::Libuv;
      } else {
        usage(argv[i]);
      }
    } else {
      usage(argv[i]);
    }
  }
  return o;
}

std::atomic<unsigned long> g_connections{0};

// serve echoes one connection until the client closes it, resets it, or shutdown cancels us.
void serve(spindle::net::TcpStream& s) {
  char buf[16 * 1024];
  try {
    while (std::size_t n = s.read(buf)) s.write_all({buf, n});
  } catch (const std::system_error&) {
    // The client reset the connection or went away mid-write: nothing to do but close.
  } catch (const spindle::Cancelled&) {
    // Shutting down.
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);
  try {
    // Installs the SIGINT/SIGTERM handling; cancelled by the first of them.
    const spindle::CancellationToken stop = spindle::shutdown_token();

    spindle::AsyncRuntimeConfig cfg;
    cfg.worker_threads = opt.workers;
    cfg.reactor = opt.reactor;
    spindle::AsyncRuntime rt(cfg);

    spindle::net::TcpListener listener = spindle::net::TcpListener::bind(
        spindle::net::SocketAddr::from_ip(opt.host, static_cast<std::uint16_t>(opt.port)));
    std::printf("listening port=%u\n", listener.local_addr().port());
    std::fflush(stdout);

    // The accept loop is bound to the shutdown token; the connection fibers it spawns inherit the
    // binding (SpawnOptions::inherit_token), so one signal cancels them all.
    spindle::SpawnOptions bound;
    bound.token = stop;
    auto acceptor = rt.spawn(
        [&listener] {
          for (;;) {
            auto [stream, peer] = listener.accept();
            g_connections.fetch_add(1, std::memory_order_relaxed);
            spindle::spawn([s = std::move(stream)]() mutable { serve(s); });
          }
        },
        bound);
    try {
      acceptor.join();
    } catch (const spindle::Cancelled&) {
    }
    listener.close();
    rt.shutdown();  // waits for the (cancelled) connection fibers
    std::fprintf(stderr, "echo_server: stopped after %lu connections\n",
                 g_connections.load(std::memory_order_relaxed));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    return 1;
  }
}
