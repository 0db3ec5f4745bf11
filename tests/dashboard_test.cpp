// DashboardServer (docs/observability.md, "The HTTP endpoint"): routes, bad requests, bounds,
// option validation, and that stopping it ends its fibers. Plain-socket clients from the test
// thread; the server runs in the runtime's fibers.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "observability_util.hpp"
#include "spindle/spindle.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;
using spindle::test::body_of;
using spindle::test::http_exchange;
using spindle::test::http_get;
using spindle::test::status_of;

namespace {

spindle::net::SocketAddr loopback() {
  return spindle::net::SocketAddr::parse("127.0.0.1:0");
}

spindle::AsyncRuntimeConfig two_workers() {
  spindle::AsyncRuntimeConfig c;
  c.worker_threads = 2;
  return c;
}

TEST(Dashboard, ServesMetricsStatsFibersAndThePage) {
  spindle::AsyncRuntime rt(two_workers());
  std::atomic<bool> stop{false};
  auto named = rt.spawn([&stop] {
    spindle::this_fiber::set_name("dash-sleeper");
    while (!stop.load()) spindle::this_fiber::sleep_for(2ms);
  });
  spindle::DashboardServer dash(rt, loopback());
  const std::uint16_t port = dash.local_addr().port();
  ASSERT_NE(port, 0);

  const std::string m = http_get(port, "/metrics");
  EXPECT_EQ(status_of(m), 200) << m;
  EXPECT_NE(m.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(body_of(m).find("# TYPE spindle_context_switches_total counter"), std::string::npos);

  const std::string j = http_get(port, "/stats.json");
  EXPECT_EQ(status_of(j), 200);
  EXPECT_NE(j.find("application/json"), std::string::npos);
  EXPECT_EQ(body_of(j).rfind("{\"uptime_ns\":", 0), 0u);

  ASSERT_TRUE(spindle::test::wait_until([&] {
    return body_of(http_get(port, "/fibers")).find("\"dash-sleeper\"") != std::string::npos;
  }));
  const std::string t = http_get(port, "/fibers?format=text");
  EXPECT_EQ(status_of(t), 200);
  EXPECT_NE(body_of(t).find("dash-sleeper"), std::string::npos);
  EXPECT_NE(body_of(http_get(port, "/fibers.txt")).find(" fibers\n"), std::string::npos);

  const std::string page = http_get(port, "/");
  EXPECT_EQ(status_of(page), 200);
  EXPECT_NE(page.find("text/html"), std::string::npos);
  EXPECT_NE(page.find("<svg id=\"c-tasks\""), std::string::npos);
  // Self-contained: nothing is loaded from elsewhere.
  EXPECT_EQ(page.find("<script src"), std::string::npos);
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);

  // HEAD: the head only.
  const std::string h = http_exchange(port, "HEAD /metrics HTTP/1.0\r\n\r\n");
  EXPECT_EQ(status_of(h), 200);
  EXPECT_EQ(body_of(h), "");
  stop = true;
  named.join();
}

TEST(Dashboard, BadRequestsGet4xxAndTheServerKeepsServing) {
  spindle::AsyncRuntime rt(two_workers());
  spindle::DashboardOptions o;
  o.max_request_bytes = 1024;
  o.request_timeout = 300ms;
  spindle::DashboardServer dash(rt, loopback(), o);
  const std::uint16_t port = dash.local_addr().port();
  EXPECT_EQ(status_of(http_get(port, "/nope")), 404);
  EXPECT_EQ(status_of(http_get(port, "/metrics/extra")), 404);
  EXPECT_EQ(status_of(http_exchange(port, "HELLO\r\n\r\n")), 400);
  EXPECT_EQ(status_of(http_exchange(port, "GET / HTTP/1.1 extra\r\n\r\n")), 400);
  EXPECT_EQ(status_of(http_exchange(port, "GET noslash HTTP/1.1\r\n\r\n")), 400);
  EXPECT_EQ(status_of(http_exchange(port, "GET / HTTP/2.0\r\n\r\n")), 400);
  EXPECT_EQ(status_of(http_exchange(port, std::string("GET /\x01 HTTP/1.1\r\n\r\n"))), 400);
  EXPECT_EQ(status_of(http_exchange(port, "G(T / HTTP/1.1\r\n\r\n")), 400);
  EXPECT_EQ(status_of(http_exchange(port, "\r\n\r\n")), 400);
  const std::string post = http_exchange(port, "POST /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(status_of(post), 405);
  EXPECT_NE(post.find("Allow: GET, HEAD"), std::string::npos);
  // An oversized head: 431, whatever the rest would have been.
  EXPECT_EQ(status_of(http_exchange(port, "GET /" + std::string(4000, 'a') + " HTTP/1.1\r\n\r\n")),
            431);
  // A client that never finishes its request: 408 after request_timeout.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(status_of(http_exchange(port, "GET /metrics HTTP/1.1\r\n")), 408);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
  // A client that connects and leaves at once, and binary garbage.
  http_exchange(port, "", 1ms);
  std::string junk;
  for (int i = 0; i < 600; ++i) junk += static_cast<char>(i * 37);
  http_exchange(port, junk);
  // Still serving.
  EXPECT_EQ(status_of(http_get(port, "/metrics")), 200);
}

TEST(Dashboard, ManyConcurrentClients) {
  spindle::AsyncRuntime rt(two_workers());
  spindle::DashboardServer dash(rt, loopback());
  const std::uint16_t port = dash.local_addr().port();
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    ts.emplace_back([&] {
      for (int k = 0; k < 10; ++k)
        ok += status_of(http_get(port, k % 2 ? "/stats.json" : "/metrics")) == 200;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST(Dashboard, StopEndsItsFibersAndAGracefulShutdownFollows) {
  spindle::AsyncRuntime rt(two_workers());
  const std::uint64_t before = rt.stats().active_tasks;
  {
    spindle::DashboardServer dash(rt, loopback());
    EXPECT_EQ(status_of(http_get(dash.local_addr().port(), "/")), 200);
    // A connection left open mid-request (its fiber waits in read) is cancelled by stop().
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(dash.local_addr().port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::send(fd, "GET / HT", 8, MSG_NOSIGNAL), 8);
    // The accept loop and the connection's fiber.
    EXPECT_TRUE(spindle::test::wait_until([&] { return rt.stats().active_tasks >= before + 2; }));
    dash.stop();
    ::close(fd);
  }
  ASSERT_TRUE(spindle::test::wait_until([&] { return rt.stats().active_tasks == before; }));
  rt.shutdown();
}

TEST(Dashboard, ServedFromInsideAFiberToo) {
  spindle::AsyncRuntime rt(two_workers());
  const int status = rt.block_on([&rt] {
    spindle::DashboardServer dash(rt, loopback());
    auto s = spindle::net::TcpStream::connect(dash.local_addr());
    s.write_all(std::string_view("GET /stats.json HTTP/1.1\r\n\r\n"));
    std::string resp;
    char buf[4096];
    for (;;) {
      const std::size_t n = s.read(spindle::net::MutableBuffer(buf, sizeof buf));
      if (n == 0) break;
      resp.append(buf, n);
    }
    return status_of(resp);
  });
  EXPECT_EQ(status, 200);
}

TEST(Dashboard, OptionsAreValidatedNamingTheField) {
  spindle::AsyncRuntime rt(two_workers());
  auto expect_bad = [&](spindle::DashboardOptions o, const char* field) {
    try {
      spindle::DashboardServer d(rt, loopback(), o);
      ADD_FAILURE() << field << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("allowed range"), std::string::npos) << e.what();
    }
  };
  spindle::DashboardOptions o;
  o.max_request_bytes = 10;
  expect_bad(o, "max_request_bytes");
  o = {};
  o.request_timeout = 0ns;
  expect_bad(o, "request_timeout");
  o = {};
  o.max_connections = 0;
  expect_bad(o, "max_connections");
  o = {};
  o.max_fibers = 0;
  expect_bad(o, "max_fibers");
  // A port in use: std::system_error from bind.
  spindle::DashboardServer a(rt, loopback());
  EXPECT_THROW(spindle::DashboardServer(rt, a.local_addr()), std::system_error);
}

}  // namespace
