// A consumer of Spindle: built by tests/consumers/<way>/ against an installed or embedded Spindle
// (scripts/consumers.sh) with -Wall -Wextra -Werror, and run. It exercises the runtime, a channel,
// a mutex, a timer and a loopback TCP echo, and checks the version header against the version the
// build expects (SPINDLE_EXPECTED_VERSION).
#include <spindle/spindle.hpp>
#include <spindle/version.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

int main() {
  using namespace std::chrono_literals;
  if (std::string(SPINDLE_VERSION_STRING) != SPINDLE_EXPECTED_VERSION) {
    std::fprintf(stderr, "version header says %s, the build expects %s\n", SPINDLE_VERSION_STRING,
                 SPINDLE_EXPECTED_VERSION);
    return 1;
  }
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 2;
  spindle::AsyncRuntime rt(cfg);
  const long total = rt.block_on([] {
    spindle::Channel<long> ch(16);
    spindle::Mutex mu;
    long guarded = 0;
    std::vector<spindle::JoinHandle<void>> producers;
    for (long p = 0; p < 4; ++p) {
      producers.push_back(spindle::spawn([&ch, &mu, &guarded, p] {
        for (long i = 0; i < 100; ++i) {
          std::lock_guard<spindle::Mutex> lock(mu);
          ++guarded;
          (void)ch.send(p * 100 + i);
        }
      }));
    }
    long sum = 0;
    for (int i = 0; i < 400; ++i) sum += ch.recv().value();
    for (auto& h : producers) h.join();
    spindle::this_fiber::sleep_for(1ms);
    return guarded == 400 ? sum : -1;
  });
  if (total != 399L * 400 / 2) {
    std::fprintf(stderr, "channel sum %ld, want %ld\n", total, 399L * 400 / 2);
    return 1;
  }

  const std::string echoed = rt.block_on([] {
    auto listener = spindle::net::TcpListener::bind(spindle::net::SocketAddr::parse("127.0.0.1:0"));
    const auto addr = listener.local_addr();
    auto server = spindle::spawn([&listener] {
      auto [conn, peer] = listener.accept();
      (void)peer;
      char buf[64];
      const std::size_t n = conn.read(spindle::net::MutableBuffer(buf, sizeof buf));
      conn.write_all(spindle::net::ConstBuffer(buf, n));
    });
    auto client = spindle::net::TcpStream::connect(addr);
    client.write_all(spindle::net::ConstBuffer("hello", 5));
    char buf[64] = {};
    std::size_t got = 0;
    while (got < 5) {
      const std::size_t n = client.read(spindle::net::MutableBuffer(buf + got, sizeof buf - got));
      if (n == 0) break;
      got += n;
    }
    server.join();
    return std::string(buf, got);
  });
  if (echoed != "hello") {
    std::fprintf(stderr, "echo returned '%s'\n", echoed.c_str());
    return 1;
  }
  std::printf("consumer ok: spindle %s, %llu context switches\n", SPINDLE_VERSION_STRING,
              static_cast<unsigned long long>(rt.stats().context_switches));
  return 0;
}
