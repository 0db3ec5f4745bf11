// The networking examples as subprocesses (both reactor backends): examples/echo_server,
// examples/http_server and examples/net_client, found as ../examples/<name> next to this test's
// directory (skipped when not built). Each server is started with --port=0; the test reads its
// `listening port=<n>` line, talks to it, stops it with SIGTERM and expects exit status 0.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "spindle/config.hpp"
#include "spindle/net/tcp_stream.hpp"
#include "spindle/runtime.hpp"
#include "spindle/this_fiber.hpp"
#include "subprocess.hpp"

using namespace std::chrono_literals;
using spindle::ReactorBackend;
using spindle::net::MutableBuffer;
using spindle::net::Shutdown;
using spindle::net::SocketAddr;
using spindle::net::TcpStream;

namespace {

using spindle::test::Child;
using spindle::test::example_path;

const char* reactor_arg(ReactorBackend b) {
  return b == ReactorBackend::Libuv ? "--reactor=libuv" : "--reactor=epoll";
}

std::string read_all(TcpStream& s) {
  std::string all;
  char b[4096];
  while (std::size_t n = s.read_for(b, 10s)) all.append(b, n);
  return all;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

class NetExamples : public ::testing::TestWithParam<ReactorBackend> {
 protected:
  spindle::AsyncRuntimeConfig cfg() const {
    spindle::AsyncRuntimeConfig c;
    c.worker_threads = 2;
    c.reactor = GetParam();
    return c;
  }
};

}  // namespace

TEST_P(NetExamples, EchoServerAndNetClient) {
  const std::string server = example_path("echo_server");
  if (server.empty()) GTEST_SKIP() << "examples/echo_server is not built";
  Child srv(server, {"--port=0", "--workers=2", reactor_arg(GetParam())});
  const std::uint16_t port = srv.listening_port();
  ASSERT_NE(port, 0);
  const SocketAddr addr = SocketAddr::v4({127, 0, 0, 1}, port);
  spindle::AsyncRuntime rt(cfg());
  const int good = rt.block_on([addr] {
    std::vector<spindle::JoinHandle<bool>> clients;
    for (int c = 0; c < 20; ++c) {
      clients.push_back(spindle::spawn([addr, c] {
        TcpStream s = TcpStream::connect(addr, 10s);
        std::string sent;
        for (int r = 0; r < 20; ++r) {
          const std::string msg = "client " + std::to_string(c) + " round " + std::to_string(r);
          s.write_all(msg);
          std::string in(msg.size(), '\0');
          s.read_exact_for(in, 10s);
          if (in != msg) return false;
          sent += msg;
        }
        s.shutdown(Shutdown::Write);
        return read_all(s).empty();  // the server closes after our EOF
      }));
    }
    int ok = 0;
    for (auto& h : clients) ok += h.join() ? 1 : 0;
    return ok;
  });
  EXPECT_EQ(good, 20);

  const std::string client = example_path("net_client");
  if (!client.empty()) {
    Child cl(client, {"127.0.0.1:" + std::to_string(port), "hello", "second line"});
    EXPECT_EQ(cl.read_line(), "hello");
    EXPECT_EQ(cl.read_line(), "second line");
    const int st = cl.wait_exit(0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  }
  const int st = srv.wait_exit(SIGTERM);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "wait status " << st;
}

TEST_P(NetExamples, HttpServerKeepAlivePipeliningAndClose) {
  const std::string server = example_path("http_server");
  if (server.empty()) GTEST_SKIP() << "examples/http_server is not built";
  Child srv(server, {"--port=0", "--workers=2", reactor_arg(GetParam())});
  const std::uint16_t port = srv.listening_port();
  ASSERT_NE(port, 0);
  const SocketAddr addr = SocketAddr::v4({127, 0, 0, 1}, port);
  spindle::AsyncRuntime rt(cfg());
  rt.block_on([addr] {
    // Keep-alive: one request, one response, the connection stays open.
    TcpStream s = TcpStream::connect(addr, 10s);
    s.write_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string first =
        "HTTP/1.1 200 OK\r\nServer: spindle\r\nContent-Type: text/plain\r\nContent-Length: "
        "5\r\n\r\nhello";
    std::string in(first.size(), '\0');
    s.read_exact_for(in, 10s);
    EXPECT_EQ(in, first);
    // Pipelined: two requests in one write (one with a body), then a request split in three
    // writes, then Connection: close.
    s.write_all(
        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde"
        "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all("GET /c HTTP/1.1\r\nHo");
    spindle::this_fiber::yield();
    s.write_all("st: x\r\n");
    spindle::this_fiber::yield();
    s.write_all("\r\nGET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const std::string rest = read_all(s);  // the server closes after /d
    EXPECT_EQ(count(rest, "HTTP/1.1 200 OK\r\n"), 4u) << rest;
    EXPECT_EQ(count(rest, "\r\n\r\nhello"), 4u) << rest;
    EXPECT_EQ(count(rest, "Connection: close\r\n"), 1u) << rest;
    EXPECT_EQ(rest.size(), 4 * first.size() + std::string("Connection: close\r\n").size());

    // HTTP/1.0 closes by default; a malformed request gets 400 and a close.
    TcpStream s10 = TcpStream::connect(addr, 10s);
    s10.write_all("GET / HTTP/1.0\r\n\r\n");
    const std::string r10 = read_all(s10);
    EXPECT_EQ(count(r10, "HTTP/1.1 200 OK"), 1u) << r10;
    TcpStream bad = TcpStream::connect(addr, 10s);
    bad.write_all("NONSENSE\r\n\r\n");
    EXPECT_EQ(read_all(bad).rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u);
  });
  const int st = srv.wait_exit(SIGTERM);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "wait status " << st;
}

INSTANTIATE_TEST_SUITE_P(Epoll, NetExamples, ::testing::Values(ReactorBackend::Epoll));
INSTANTIATE_TEST_SUITE_P(Libuv, NetExamples, ::testing::Values(ReactorBackend::Libuv));
