// bench/w8_spindle_echo.cpp: W8 tcp_echo, the Spindle echo server (see bench/w8_run.sh and the
// benchmark table): one fiber per connection reads into a buffer and write_all()s it back.
//
//   w8_spindle_echo [--port=N] [--workers=N] [--reactor=epoll|libuv]
//
// Listens on 127.0.0.1 (--port=0, the default, picks a free port), prints `listening port=<n>`
// (flushed), runs until SIGINT/SIGTERM and exits 0, printing the runtime's counters (steals,
// parks, context switches) to stderr. --workers defaults to 2.
#include <spindle/net/tcp_listener.hpp>
#include <spindle/runtime.hpp>
#include <spindle/shutdown.hpp>
#include <spindle/this_fiber.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <system_error>

namespace {

[[noreturn]] void usage(const char* bad) {
  std::fprintf(stderr,
               "w8_spindle_echo: bad argument '%s'\n"
               "usage: w8_spindle_echo [--port=N] [--workers=N] [--reactor=epoll|libuv]\n",
               bad);
  std::exit(2);
}

void serve(spindle::net::TcpStream& s) {
  constexpr std::size_t kBuf = 16 * 1024;
  const auto buf = std::make_unique<char[]>(kBuf);
  try {
    while (std::size_t n = s.read({buf.get(), kBuf})) s.write_all({buf.get(), n});
  } catch (const std::system_error&) {
  } catch (const spindle::Cancelled&) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  long port = 0;
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 2;  // cfg.reactor stays Auto (epoll on Linux) unless --reactor says
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    char* end = nullptr;
    if (a.starts_with("--port=")) {
      port = std::strtol(argv[i] + 7, &end, 10);
      if (a.size() == 7 || *end != '\0' || port < 0 || port > 65535) usage(argv[i]);
    } else if (a.starts_with("--workers=")) {
      const long n = std::strtol(argv[i] + 10, &end, 10);
      if (a.size() == 10 || *end != '\0' || n < 1 || n > 1024) usage(argv[i]);
      cfg.worker_threads = static_cast<std::uint32_t>(n);
    } else if (a == "--reactor=epoll") {
      cfg.reactor = spindle::ReactorBackend::Epoll;
    } else if (a == "--reactor=libuv") {
      cfg.reactor = spindle::ReactorBackend::Libuv;
    } else {
      usage(argv[i]);
    }
  }
  try {
    const spindle::CancellationToken stop = spindle::shutdown_token();
    spindle::AsyncRuntime rt(cfg);
    spindle::net::TcpListener listener = spindle::net::TcpListener::bind(
        spindle::net::SocketAddr::v4({127, 0, 0, 1}, static_cast<std::uint16_t>(port)));
    std::printf("listening port=%u\n", listener.local_addr().port());
    std::fflush(stdout);
    spindle::SpawnOptions bound;  // the connection fibers inherit the binding
    bound.token = stop;
    auto acceptor = rt.spawn(
        [&listener] {
          for (;;) {
            auto [stream, peer] = listener.accept();
            spindle::spawn([s = std::move(stream)]() mutable { serve(s); });
          }
        },
        bound);
    try {
      acceptor.join();
    } catch (const spindle::Cancelled&) {
    }
    listener.close();
    rt.shutdown();
    const spindle::RuntimeStats st = rt.stats();
    std::fprintf(stderr,
                 "w8_spindle_echo: workers=%u steals=%llu parks=%llu context_switches=%llu "
                 "spawned=%llu\n",
                 st.worker_threads, static_cast<unsigned long long>(st.steals),
                 static_cast<unsigned long long>(st.parks),
                 static_cast<unsigned long long>(st.context_switches),
                 static_cast<unsigned long long>(st.spawned_tasks));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "w8_spindle_echo: %s\n", e.what());
    return 1;
  }
}
