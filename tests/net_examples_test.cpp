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

extern char** environ;

using namespace std::chrono_literals;
using spindle::ReactorBackend;
using spindle::net::MutableBuffer;
using spindle::net::Shutdown;
using spindle::net::SocketAddr;
using spindle::net::TcpStream;

namespace {

std::string example_path(const char* name) {
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return {};
  self[n] = '\0';
  std::string dir(self);
  dir.erase(dir.rfind('/'));
  const std::string path = dir + "/../examples/" + name;
  return ::access(path.c_str(), X_OK) == 0 ? path : std::string();
}

const char* reactor_arg(ReactorBackend b) {
  return b == ReactorBackend::Libuv ? "--reactor=libuv" : "--reactor=epoll";
}

// Child is a subprocess whose stdout we read through a pipe.
class Child {
 public:
  Child(const std::string& path, std::vector<std::string> args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::system_category());
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    std::vector<char*> argv;
    args.insert(args.begin(), path);
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, path.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    out_ = fds[0];
    if (rc != 0) {
      pid_ = -1;
      throw std::system_error(rc, std::system_category(), "posix_spawn " + path);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }

  // read_line returns the next stdout line ("" after 10 s or at end of output).
  std::string read_line() {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      if (const auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char b[512];
      const ssize_t n = ::read(out_, b, sizeof b);
      if (n <= 0) return {};
      buf_.append(b, static_cast<std::size_t>(n));
    }
  }
  // listening_port reads the `listening port=<n>` line (0 if none came).
  std::uint16_t listening_port() {
    const std::string l = read_line();
    const std::string prefix = "listening port=";
    if (l.rfind(prefix, 0) != 0) return 0;
    return static_cast<std::uint16_t>(std::stoi(l.substr(prefix.size())));
  }
  // stop sends `sig` unless 0, waits up to 10 s and returns the wait status (-1 on timeout).
  int wait_exit(int sig) {
    if (sig != 0) ::kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    int status = 0;
    for (;;) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return status;
      }
      if (std::chrono::steady_clock::now() > deadline) return -1;
      ::usleep(2000);
    }
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;
};

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
