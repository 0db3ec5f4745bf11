// spindle::net Unix domain sockets: UnixAddr (paths, abstract names, unnamed, the sun_path limit),
// UnixListener and UnixStream in fibers (both reactor backends) and plain threads: echo across
// workers, abstract names and autobind, half-close, peer close and EOF, timeouts, cancellation
// while blocked, connect errors and a full backlog, pair().
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "spindle/config.hpp"
#include "spindle/net/error.hpp"
#include "spindle/net/unix_addr.hpp"
#include "spindle/net/unix_listener.hpp"
#include "spindle/net/unix_stream.hpp"
#include "spindle/runtime.hpp"
#include "spindle/this_fiber.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;
using spindle::AsyncRuntime;
using spindle::AsyncRuntimeConfig;
using spindle::ReactorBackend;
using spindle::net::MutableBuffer;
using spindle::net::NetErrc;
using spindle::net::Shutdown;
using spindle::net::UnixAccepted;
using spindle::net::UnixAddr;
using spindle::net::UnixListener;
using spindle::net::UnixStream;

namespace {

template <class F>
std::string invalid_argument_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no std::invalid_argument";
  return "";
}

template <class F>
std::system_error system_error_of(F&& f) {
  try {
    f();
  } catch (const std::system_error& e) {
    return e;
  }
  ADD_FAILURE() << "no std::system_error";
  return std::system_error(std::error_code());
}

bool contains(const std::string& s, const std::string& what) {
  return s.find(what) != std::string::npos;
}

// TempDir is a fresh directory for socket files, removed with its files afterwards.
struct TempDir {
  std::string path;
  std::vector<std::string> files;
  TempDir() {
    char tmpl[] = "/tmp/spindle-unix-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    EXPECT_NE(p, nullptr);
    path = p != nullptr ? p : "/tmp";
  }
  ~TempDir() {
    for (const std::string& f : files) ::unlink(f.c_str());
    ::rmdir(path.c_str());
  }
  std::string file(const std::string& name) {
    files.push_back(path + "/" + name);
    return files.back();
  }
};

// unique_name makes an abstract name no other test run uses at the same time.
std::string unique_name(const char* what) {
  static std::atomic<int> n{0};
  return "spindle-test-" + std::to_string(::getpid()) + "-" + what + "-" +
         std::to_string(n.fetch_add(1));
}

void echo(UnixStream& s) {
  char buf[4096];
  for (;;) {
    const std::size_t n = s.read(buf);
    if (n == 0) break;
    s.write_all({buf, n});
  }
  s.shutdown(Shutdown::Write);
}

TEST(UnixAddr, PathsAbstractNamesAndTheSunPathLimit) {
  const UnixAddr p = UnixAddr::from_path("/run/app.sock");
  EXPECT_TRUE(p.is_path());
  EXPECT_FALSE(p.is_abstract());
  EXPECT_EQ(p.name(), "/run/app.sock");
  EXPECT_EQ(p.to_string(), "/run/app.sock");

  const UnixAddr a = UnixAddr::abstract("app");
  EXPECT_TRUE(a.is_abstract());
  EXPECT_EQ(a.name(), "app");
  EXPECT_EQ(a.to_string(), "@app");
  EXPECT_EQ(UnixAddr::from_path(std::string("\0app", 4)), a);
  EXPECT_NE(UnixAddr::from_path("app"), a);
  EXPECT_EQ(UnixAddr::abstract(std::string("a\0b", 3)).to_string(), "@a@b");

  const UnixAddr u;
  EXPECT_TRUE(u.is_unnamed());
  EXPECT_EQ(u.to_string(), "(unnamed)");
  EXPECT_NE(std::hash<UnixAddr>{}(a), std::hash<UnixAddr>{}(UnixAddr::from_path("app")));

  // The longest names fit; one byte more is an error naming sun_path and the limit.
  EXPECT_NO_THROW(UnixAddr::from_path(std::string(UnixAddr::kMaxPathLen, 'p')));
  EXPECT_NO_THROW(UnixAddr::abstract(std::string(UnixAddr::kMaxAbstractLen, 'a')));
  std::string msg =
      invalid_argument_of([] { UnixAddr::from_path(std::string(UnixAddr::kMaxPathLen + 1, 'p')); });
  EXPECT_TRUE(contains(msg, "sun_path")) << msg;
  EXPECT_TRUE(contains(msg, "108 bytes")) << msg;
  EXPECT_TRUE(contains(msg, "at most 107")) << msg;
  msg = invalid_argument_of(
      [] { UnixAddr::abstract(std::string(UnixAddr::kMaxAbstractLen + 1, 'a')); });
  EXPECT_TRUE(contains(msg, "abstract name")) << msg;
  EXPECT_TRUE(contains(msg, "sun_path")) << msg;
  msg = invalid_argument_of(
      [] { UnixAddr::from_path(std::string(1, '\0') + std::string(200, 'a')); });
  EXPECT_TRUE(contains(msg, "at most 107")) << msg;
  EXPECT_THROW(UnixAddr::from_path(""), std::invalid_argument);
  EXPECT_THROW(UnixAddr::from_path(std::string(1, '\0')), std::invalid_argument);
  EXPECT_THROW(UnixAddr::from_path(std::string("a\0b", 3)), std::invalid_argument);
  EXPECT_THROW(UnixAddr::abstract(""), std::invalid_argument);
}

struct Param {
  ReactorBackend backend;
  bool migrate;
};

void PrintTo(const Param& p, std::ostream* os) {
  *os << (p.backend == ReactorBackend::Libuv ? "libuv" : "epoll")
      << (p.migrate ? ", migrate_every_switch" : "");
}

class NetUnix : public ::testing::TestWithParam<Param> {
 protected:
  AsyncRuntimeConfig cfg(std::uint32_t workers = 2) const {
    AsyncRuntimeConfig c;
    c.worker_threads = workers;
    c.reactor = GetParam().backend;
    c.migrate_every_switch = GetParam().migrate;
    return c;
  }
};

TEST_P(NetUnix, EchoOverAPathAcrossWorkers) {
  AsyncRuntime rt(cfg(3));
  TempDir dir;
  const UnixAddr addr = UnixAddr::from_path(dir.file("echo.sock"));
  UnixListener listener = UnixListener::bind(addr);
  EXPECT_EQ(listener.local_addr(), addr);
  struct stat st;
  ASSERT_EQ(::stat(addr.name().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  constexpr int kClients = 16;
  auto server = rt.spawn([&listener] {
    std::vector<spindle::JoinHandle<void>> conns;
    for (int i = 0; i < kClients; ++i) {
      UnixAccepted acc = listener.accept_for(30s);
      EXPECT_TRUE(acc.peer.is_unnamed());
      conns.push_back(spindle::spawn([s = std::move(acc.stream)]() mutable { echo(s); }));
    }
    for (auto& c : conns) c.join();
  });
  std::vector<spindle::JoinHandle<bool>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(rt.spawn([addr, i] {
      UnixStream s = UnixStream::connect(addr, 30s);
      EXPECT_EQ(s.peer_addr(), addr);
      std::string msg(1000 + 997 * i, static_cast<char>('a' + i % 26));
      s.write_all(msg);
      s.shutdown(Shutdown::Write);
      std::string back(msg.size(), '\0');
      s.read_exact_for(back, 30s);
      char extra;
      return back == msg && s.read_for(MutableBuffer(&extra, 1), 30s) == 0;
    }));
  }
  for (auto& c : clients) EXPECT_TRUE(c.join());
  server.join();
  listener.close();
  // The file stays after close (Unix sockets are not unlinked): binding again is EADDRINUSE.
  const std::system_error e = system_error_of([&] { UnixListener::bind(addr); });
  EXPECT_EQ(e.code(), std::errc::address_in_use);
  EXPECT_TRUE(contains(e.what(), "bind " + addr.name())) << e.what();
}

TEST_P(NetUnix, AbstractNamesAndAutobind) {
  AsyncRuntime rt(cfg());
  const std::string name = unique_name("abstract");
  UnixListener l1 = UnixListener::bind(UnixAddr::abstract(name));
  EXPECT_EQ(l1.local_addr().to_string(), "@" + name);
  // The leading-NUL spelling names the same socket.
  const UnixAddr nul = UnixAddr::from_path(std::string(1, '\0') + name);
  auto echo1 = rt.spawn([&l1] {
    UnixAccepted acc = l1.accept_for(30s);
    char b[5];
    acc.stream.read_exact_for(b, 30s);
    acc.stream.write_all_for({b, 5}, 30s);
  });
  const std::string got = rt.block_on([nul] {
    UnixStream s = UnixStream::connect(nul);
    s.write_all("hello");
    std::string r(5, '\0');
    s.read_exact(r);
    return r;
  });
  echo1.join();
  EXPECT_EQ(got, "hello");
  // The name is taken while bound, free again once closed (no file to remove).
  EXPECT_EQ(system_error_of([&] { UnixListener::bind(UnixAddr::abstract(name)); }).code(),
            std::errc::address_in_use);
  l1.close();
  EXPECT_NO_THROW(UnixListener::bind(UnixAddr::abstract(name)));

  // An unnamed address autobinds to a fresh abstract name.
  UnixListener l2 = UnixListener::bind(UnixAddr());
  const UnixAddr picked = l2.local_addr();
  EXPECT_TRUE(picked.is_abstract()) << picked;
  auto server = rt.spawn([&l2] {
    UnixStream s = l2.accept_for(30s).stream;
    char b[2];
    s.read_exact_for(b, 30s);
    return std::string(b, 2);
  });
  rt.block_on([picked] { UnixStream::connect(picked).write_all("hi"); });
  EXPECT_EQ(server.join(), "hi");
}

TEST_P(NetUnix, HalfClosePeerCloseAndEof) {
  AsyncRuntime rt(cfg());
  auto [a, b] = UnixStream::pair();
  EXPECT_TRUE(a.local_addr().is_unnamed());
  EXPECT_TRUE(a.peer_addr().is_unnamed());
  // Half-close: b reads EOF after the data and can still reply.
  auto replier = rt.spawn([&b] {
    std::string got;
    char buf[64];
    for (;;) {
      const std::size_t n = b.read(buf);
      if (n == 0) break;
      got.append(buf, n);
    }
    b.write_all("reply:" + got);
    b.close();
  });
  rt.block_on([&a] {
    a.write_all("ping");
    a.shutdown(Shutdown::Write);
    std::string r(10, '\0');
    a.read_exact_for(r, 30s);
    EXPECT_EQ(r, "reply:ping");
    char c;
    EXPECT_EQ(a.read(MutableBuffer(&c, 1)), 0u);  // b closed: end of stream
    // read_exact at EOF: UnexpectedEof; writing to the closed peer: EPIPE, never SIGPIPE.
    char four[4];
    const std::system_error e = system_error_of([&] { a.read_exact(four); });
    EXPECT_EQ(e.code(), NetErrc::UnexpectedEof);
    EXPECT_TRUE(contains(e.what(), "got 0 of 4 bytes")) << e.what();
    const std::system_error w = system_error_of([&] {
      for (int i = 0; i < 100; ++i) a.write_all("x");
    });
    EXPECT_TRUE(w.code() == std::errc::broken_pipe || w.code() == std::errc::connection_reset)
        << w.what();
  });
  replier.join();
  // A peer closing while a fiber is blocked in read wakes it with EOF.
  auto [c, d] = UnixStream::pair();
  auto reader = rt.spawn([&c] {
    char buf[8];
    return c.read(buf);
  });
  ASSERT_TRUE(spindle::test::parked(reader));
  d.close();
  EXPECT_EQ(reader.join(), 0u);
}

TEST_P(NetUnix, TimeoutsThenTheStreamStillWorks) {
  AsyncRuntime rt(cfg());
  TempDir dir;
  const UnixAddr addr = UnixAddr::from_path(dir.file("t.sock"));
  UnixListener l = UnixListener::bind(addr);
  rt.block_on([&] {
    const std::system_error ae = system_error_of([&] { l.accept_for(20ms); });
    EXPECT_EQ(ae.code(), std::errc::timed_out);
    EXPECT_TRUE(contains(ae.what(), "accept " + addr.name() + " (timeout 20 ms)")) << ae.what();
    UnixStream c = UnixStream::connect(addr);
    UnixStream s = l.accept_for(30s).stream;
    char b[4];
    const std::system_error re = system_error_of([&] { s.read_for(b, 30ms); });
    EXPECT_EQ(re.code(), std::errc::timed_out);
    EXPECT_TRUE(contains(re.what(), "read " + addr.name() + " (timeout 30 ms)")) << re.what();
    c.write_all("ok");
    EXPECT_EQ(s.read_for(b, 30s), 2u);
    // A full send buffer: write_all_for times out (part of the data may have gone).
    const int small = 4096;
    ASSERT_EQ(::setsockopt(c.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    std::string big(1 << 20, 'z');
    const std::system_error we = system_error_of([&] { c.write_all_for(big, 30ms); });
    EXPECT_EQ(we.code(), std::errc::timed_out);
    EXPECT_TRUE(contains(we.what(), "write_all " + addr.name())) << we.what();
  });
}

TEST_P(NetUnix, CancelWhileBlockedInAcceptReadAndWrite) {
  AsyncRuntime rt(cfg());
  UnixListener l = UnixListener::bind(UnixAddr::abstract(unique_name("cancel")));
  auto acceptor = rt.spawn([&l] { l.accept(); });
  ASSERT_TRUE(spindle::test::parked(acceptor));
  acceptor.cancel();
  EXPECT_THROW(acceptor.join(), spindle::Cancelled);

  auto [a, b] = UnixStream::pair();
  auto reader = rt.spawn([&a] {
    char buf[4];
    return a.read(buf);
  });
  ASSERT_TRUE(spindle::test::parked(reader));
  reader.cancel();
  EXPECT_THROW(reader.join(), spindle::Cancelled);
  auto writer = rt.spawn([&a] {
    std::string big(1 << 22, 'w');
    a.write_all(big);
  });
  ASSERT_TRUE(spindle::test::parked(writer));
  writer.cancel();
  EXPECT_THROW(writer.join(), spindle::Cancelled);
  // The stream still works after the cancelled calls.
  b.write_all("ok");
  const std::string got = rt.block_on([&a] {
    std::string r(2, '\0');
    a.read_exact_for(r, 30s);
    return r;
  });
  EXPECT_EQ(got, "ok");
}

TEST_P(NetUnix, ConnectErrorsAndAFullBacklog) {
  AsyncRuntime rt(cfg());
  TempDir dir;
  const UnixAddr missing = UnixAddr::from_path(dir.path + "/missing.sock");
  rt.block_on([&] {
    std::system_error e = system_error_of([&] { UnixStream::connect(missing); });
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_TRUE(contains(e.what(), "connect " + missing.name())) << e.what();
    // A socket file nobody listens on any more: refused.
    const UnixAddr stale = UnixAddr::from_path(dir.file("stale.sock"));
    UnixListener::bind(stale).close();
    e = system_error_of([&] { UnixStream::connect(stale); });
    EXPECT_EQ(e.code(), std::errc::connection_refused);
    EXPECT_THROW(UnixStream::connect(UnixAddr()), std::invalid_argument);
    EXPECT_THROW(UnixListener::bind(UnixAddr::abstract("x"), 0), std::invalid_argument);
  });
  // Nobody accepts and the backlog is 1: connects queue until it is full, then connect backs off
  // until its timeout.
  UnixListener l = UnixListener::bind(UnixAddr::abstract(unique_name("backlog")), 1);
  const UnixAddr addr = l.local_addr();
  // queued counts the connections that got in before one timed out (-1: none timed out).
  const int queued = rt.block_on([addr] {
    std::vector<UnixStream> in;
    for (int i = 0; i < 64; ++i) {
      try {
        in.push_back(UnixStream::connect(addr, 20ms));
      } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::timed_out) << e.what();
        EXPECT_TRUE(contains(e.what(), "(timeout 20 ms)")) << e.what();
        return static_cast<int>(in.size());
      }
    }
    return -1;
  });
  ASSERT_GE(queued, 1);
  // A connect waiting for room goes through once the listener accepts (the closed clients stay
  // queued, so accept takes them first, then the late one).
  auto late = rt.spawn([addr] { return UnixStream::connect(addr, 30s).is_open(); });
  rt.block_on([&l, queued] {
    for (int i = 0; i <= queued; ++i) l.accept_for(30s);
  });
  EXPECT_TRUE(late.join());
}

TEST_P(NetUnix, FiberAndPlainThreadPeersAndClosedStreams) {
  AsyncRuntime rt(cfg());
  auto [a, b] = UnixStream::pair();
  std::thread t([&b] {
    echo(b);  // a plain thread: poll(2)
  });
  rt.block_on([&a] {
    a.write_all("through a thread");
    a.shutdown(Shutdown::Write);
    std::string r(16, '\0');
    a.read_exact_for(r, 30s);
    EXPECT_EQ(r, "through a thread");
  });
  t.join();
  a.close();
  EXPECT_FALSE(a.is_open());
  EXPECT_EQ(a.native_handle(), -1);
  char c;
  EXPECT_EQ(system_error_of([&] { a.read(MutableBuffer(&c, 1)); }).code(),
            std::errc::bad_file_descriptor);
  EXPECT_EQ(system_error_of([&] { a.peer_addr(); }).code(), std::errc::bad_file_descriptor);
  UnixListener closed;
  EXPECT_EQ(system_error_of([&] { closed.accept(); }).code(), std::errc::bad_file_descriptor);
}

INSTANTIATE_TEST_SUITE_P(Epoll, NetUnix, ::testing::Values(Param{ReactorBackend::Epoll, false}));
INSTANTIATE_TEST_SUITE_P(Libuv, NetUnix, ::testing::Values(Param{ReactorBackend::Libuv, false}));
INSTANTIATE_TEST_SUITE_P(EpollMigrating, NetUnix,
                         ::testing::Values(Param{ReactorBackend::Epoll, true}));
INSTANTIATE_TEST_SUITE_P(LibuvMigrating, NetUnix,
                         ::testing::Values(Param{ReactorBackend::Libuv, true}));

}  // namespace
