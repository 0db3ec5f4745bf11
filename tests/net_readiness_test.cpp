// spindle::net::wait_readable / wait_writable on fds the test owns (pipes, socketpairs), both
// reactor backends: readiness from another thread and another fiber, already-ready fds, timeouts,
// cancellation while waiting, peer close, a reader and a writer on one fd at once, deregistration
// (the fd is closed and its number reused), errors, plain threads.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "spindle/cancellation_token.hpp"
#include "spindle/config.hpp"
#include "spindle/net/readiness.hpp"
#include "spindle/net/unix_stream.hpp"
#include "spindle/runtime.hpp"
#include "spindle/spawn_options.hpp"
#include "spindle/this_fiber.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;
using spindle::AsyncRuntime;
using spindle::AsyncRuntimeConfig;
using spindle::ReactorBackend;
using spindle::TaskState;
using spindle::net::wait_readable;
using spindle::net::wait_writable;

namespace {

// Fds is a pair of non-blocking descriptors (a pipe or a socketpair), closed on destruction.
struct Fds {
  int a = -1, b = -1;
  Fds() = default;
  Fds(const Fds&) = delete;
  Fds& operator=(const Fds&) = delete;
  ~Fds() { close_all(); }
  void close_a() {
    if (a >= 0) ::close(a);
    a = -1;
  }
  void close_b() {
    if (b >= 0) ::close(b);
    b = -1;
  }
  void close_all() {
    close_a();
    close_b();
  }
};

// make_pipe: a = read end, b = write end.
void make_pipe(Fds& f) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  f.a = p[0];
  f.b = p[1];
}

void make_socketpair(Fds& f) {
  int p[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p), 0);
  f.a = p[0];
  f.b = p[1];
}

// fill_up writes into `fd` until the kernel buffer is full (EAGAIN); returns the bytes written.
std::size_t fill_up(int fd) {
  std::vector<char> junk(65536, 'x');
  std::size_t total = 0;
  for (;;) {
    const ssize_t n = ::write(fd, junk.data(), junk.size());
    if (n > 0) {
      total += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    EXPECT_TRUE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << errno;
    return total;
  }
}

// drain reads everything `fd` has now; returns the count.
std::size_t drain(int fd) {
  char buf[4096];
  std::size_t total = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      total += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return total;
  }
}

struct Param {
  ReactorBackend backend;
  bool migrate;
};

void PrintTo(const Param& p, std::ostream* os) {
  *os << (p.backend == ReactorBackend::Libuv ? "libuv" : "epoll")
      << (p.migrate ? ", migrate_every_switch" : "");
}

class NetReadiness : public ::testing::TestWithParam<Param> {
 protected:
  AsyncRuntimeConfig cfg(std::uint32_t workers = 2) const {
    AsyncRuntimeConfig c;
    c.worker_threads = workers;
    c.reactor = GetParam().backend;
    c.migrate_every_switch = GetParam().migrate;
    return c;
  }
};

TEST_P(NetReadiness, PipeBecomesReadableFromAnotherThread) {
  AsyncRuntime rt(cfg());
  Fds p;
  make_pipe(p);
  auto reader = rt.spawn([&p] {
    wait_readable(p.a);
    char c = 0;
    EXPECT_EQ(::read(p.a, &c, 1), 1);
    return c;
  });
  ASSERT_TRUE(spindle::test::parked(reader));
  EXPECT_FALSE(reader.is_finished());
  ASSERT_EQ(::write(p.b, "z", 1), 1);
  EXPECT_EQ(reader.join(), 'z');
}

TEST_P(NetReadiness, SocketBecomesReadableFromAnotherFiber) {
  AsyncRuntime rt(cfg());
  Fds s;
  make_socketpair(s);
  auto reader = rt.spawn([&s] {
    // A library's loop: read, EAGAIN -> wait_readable -> read again.
    std::string got;
    char buf[16];
    while (got.size() < 5) {
      const ssize_t n = ::read(s.a, buf, sizeof buf);
      if (n > 0) {
        got.append(buf, static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wait_readable(s.a);
      } else {
        ADD_FAILURE() << "read " << n << " errno " << errno;
        break;
      }
    }
    return got;
  });
  ASSERT_TRUE(spindle::test::parked(reader));
  auto writer = rt.spawn([&s] {
    EXPECT_EQ(::write(s.b, "hel", 3), 3);
    spindle::this_fiber::yield();
    EXPECT_EQ(::write(s.b, "lo", 2), 2);
  });
  writer.join();
  EXPECT_EQ(reader.join(), "hello");
}

TEST_P(NetReadiness, AlreadyReadyReturnsAtOnceAndZeroTimeoutOnlyChecks) {
  AsyncRuntime rt(cfg());
  Fds p;
  make_pipe(p);
  rt.block_on([&p] {
    EXPECT_FALSE(wait_readable(p.a, 0ms));
    EXPECT_FALSE(wait_readable(p.a, -5ms));
    EXPECT_TRUE(wait_writable(p.b, 0ms));
    wait_writable(p.b);  // an empty pipe is writable: returns at once
    EXPECT_EQ(::write(p.b, "x", 1), 1);
    EXPECT_TRUE(wait_readable(p.a, 0ms));
    // Already readable before the wait starts (no edge after registration): reported anyway, and
    // again by the next wait, although nobody read in between.
    wait_readable(p.a);
    EXPECT_TRUE(wait_readable(p.a, 10s));
    wait_readable(p.a);
  });
}

TEST_P(NetReadiness, TimeoutReturnsFalseAndTheFdStillWorks) {
  AsyncRuntime rt(cfg());
  Fds p;
  make_pipe(p);
  const auto t0 = std::chrono::steady_clock::now();
  const bool r = rt.block_on([&p] { return wait_readable(p.a, 30ms); });
  EXPECT_FALSE(r);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  auto reader = rt.spawn([&p] { return wait_readable(p.a, 30s); });
  ASSERT_TRUE(spindle::test::parked(reader));
  ASSERT_EQ(::write(p.b, "x", 1), 1);
  EXPECT_TRUE(reader.join());
  // Writable with a timeout: a full socket times out, then turns writable when the peer drains.
  Fds s;
  make_socketpair(s);
  fill_up(s.a);
  EXPECT_FALSE(rt.block_on([&s] { return wait_writable(s.a, 20ms); }));
  auto writer = rt.spawn([&s] { return wait_writable(s.a, 30s); });
  ASSERT_TRUE(spindle::test::parked(writer));
  EXPECT_GT(drain(s.b), 0u);
  EXPECT_TRUE(writer.join());
}

TEST_P(NetReadiness, CancelWhileWaitingThenTheFdCanBeClosedAndReused) {
  AsyncRuntime rt(cfg());
  Fds p;
  make_pipe(p);
  auto reader = rt.spawn([&p] { wait_readable(p.a); });
  ASSERT_TRUE(spindle::test::parked(reader));
  reader.cancel();
  EXPECT_THROW(reader.join(), spindle::Cancelled);
  // Cancelled through a token while waiting with a timeout.
  spindle::CancellationToken tok;
  spindle::SpawnOptions opts;
  opts.token = tok;
  auto timed = rt.spawn([&p] { return wait_readable(p.a, 60s); }, opts);
  ASSERT_TRUE(spindle::test::parked(timed));
  tok.cancel();
  EXPECT_THROW(timed.join(), spindle::Cancelled);
  // Nothing stays registered: close the pipe, make a new one (the lowest free numbers, so the same
  // ones), and wait on it again.
  const int old_a = p.a;
  p.close_all();
  make_pipe(p);
  EXPECT_EQ(p.a, old_a);
  auto again = rt.spawn([&p] {
    wait_readable(p.a);
    return drain(p.a);
  });
  ASSERT_TRUE(spindle::test::parked(again));
  ASSERT_EQ(::write(p.b, "ab", 2), 2);
  EXPECT_EQ(again.join(), 2u);
}

TEST_P(NetReadiness, ManyFdsClosedAndReusedInAFiber) {
  AsyncRuntime rt(cfg());
  rt.block_on([] {
    for (int i = 0; i < 200; ++i) {
      Fds p;
      make_pipe(p);
      ASSERT_EQ(::write(p.b, "x", 1), 1);
      wait_readable(p.a);
      wait_writable(p.b);
      // Closed right after the wait, without telling Spindle: the next pipe reuses the numbers.
    }
  });
}

TEST_P(NetReadiness, PeerCloseMakesTheFdReadable) {
  AsyncRuntime rt(cfg());
  Fds s;
  make_socketpair(s);
  auto reader = rt.spawn([&s] {
    wait_readable(s.a);
    char c;
    return ::read(s.a, &c, 1);
  });
  ASSERT_TRUE(spindle::test::parked(reader));
  rt.spawn([&s] { s.close_b(); }).join();
  EXPECT_EQ(reader.join(), 0);  // end of stream
  // A pipe whose write end closes: readable (EOF), and stays so for later waits.
  Fds p;
  make_pipe(p);
  auto r2 = rt.spawn([&p] {
    wait_readable(p.a);
    wait_readable(p.a);
    char c;
    return ::read(p.a, &c, 1);
  });
  ASSERT_TRUE(spindle::test::parked(r2));
  p.close_b();
  EXPECT_EQ(r2.join(), 0);
}

TEST_P(NetReadiness, ReaderAndWriterOnOneFdAtOnce) {
  AsyncRuntime rt(cfg());
  Fds s;
  make_socketpair(s);
  fill_up(s.a);
  std::atomic<int> done{0};
  auto reader = rt.spawn([&] {
    wait_readable(s.a);
    done.fetch_add(1);
  });
  auto writer = rt.spawn([&] {
    wait_writable(s.a);
    done.fetch_add(1);
  });
  ASSERT_TRUE(spindle::test::parked(reader));
  ASSERT_TRUE(spindle::test::parked(writer));
  EXPECT_EQ(done.load(), 0);
  ASSERT_EQ(::write(s.b, "r", 1), 1);
  reader.join();
  EXPECT_EQ(done.load(), 1);
  EXPECT_TRUE(writer.state() == TaskState::Waiting);
  EXPECT_GT(drain(s.b), 0u);
  writer.join();
  // Both ended: the fd is deregistered; it can be closed and waited on again as a new fd.
  s.close_all();
  make_socketpair(s);
  rt.block_on([&s] { wait_writable(s.a); });
}

TEST_P(NetReadiness, ManyWaitersOnOneFdAllWake) {
  AsyncRuntime rt(cfg());
  Fds p;
  make_pipe(p);
  std::vector<spindle::JoinHandle<void>> hs;
  for (int i = 0; i < 8; ++i) hs.push_back(rt.spawn([&p] { wait_readable(p.a); }));
  for (auto& h : hs) ASSERT_TRUE(spindle::test::parked(h));
  ASSERT_EQ(::write(p.b, "x", 1), 1);
  for (auto& h : hs) h.join();
}

TEST_P(NetReadiness, Errors) {
  AsyncRuntime rt(cfg());
  EXPECT_THROW(wait_readable(-1), std::invalid_argument);
  rt.block_on([] {
    try {
      wait_writable(-3, 1s);
      ADD_FAILURE() << "no exception";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("wait_writable"), std::string::npos) << e.what();
    }
  });
  // A closed fd: EBADF naming the call and the fd, in a fiber and in a thread. Make the runtime's
  // reactor first (its descriptors would take the closed number).
  Fds p;
  make_pipe(p);
  rt.block_on([&p] { wait_writable(p.b); });
  const int dead = p.a;
  p.close_all();
  try {
    wait_readable(dead, 1s);
    ADD_FAILURE() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::bad_file_descriptor) << e.what();
  }
  rt.block_on([dead] {
    try {
      wait_readable(dead);
      ADD_FAILURE() << "no exception";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::bad_file_descriptor);
      EXPECT_NE(std::string(e.what()).find("wait_readable fd " + std::to_string(dead)),
                std::string::npos)
          << e.what();
    }
  });
  // epoll cannot watch a regular file: EPERM from the registration, named.
  if (GetParam().backend == ReactorBackend::Epoll) {
    std::FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    const int ffd = ::fileno(f);
    rt.block_on([ffd] {
      try {
        wait_readable(ffd);
        ADD_FAILURE() << "no exception";
      } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::operation_not_permitted) << e.what();
        EXPECT_NE(std::string(e.what()).find("epoll_ctl"), std::string::npos) << e.what();
      }
    });
    std::fclose(f);
  }
  // A Spindle socket's own descriptor, registered by a wait of the socket: EEXIST (use the
  // socket's calls instead).
  {
    auto [x, y] = spindle::net::UnixStream::pair();
    auto reader = rt.spawn([&x = x] {
      char c;
      return x.read({&c, 1});
    });
    ASSERT_TRUE(spindle::test::parked(reader));  // parked in read: x is registered
    rt.block_on([fd = x.native_handle()] {
      try {
        wait_writable(fd);
        ADD_FAILURE() << "no exception";
      } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::file_exists) << e.what();
      }
    });
    y.write_all("k");
    EXPECT_EQ(reader.join(), 1u);
  }
  // The failed registration left nothing behind: a new fd with that number works.
  make_pipe(p);
  EXPECT_EQ(p.a, dead);
  ASSERT_EQ(::write(p.b, "x", 1), 1);
  rt.block_on([&p] { wait_readable(p.a); });
}

TEST_P(NetReadiness, PlainThreadsUsePoll) {
  Fds p;
  make_pipe(p);
  EXPECT_FALSE(wait_readable(p.a, 10ms));
  std::thread t([&p] { EXPECT_EQ(::write(p.b, "x", 1), 1); });
  wait_readable(p.a);
  EXPECT_TRUE(wait_readable(p.a, 0ms));
  t.join();
  wait_writable(p.b);
}

INSTANTIATE_TEST_SUITE_P(Epoll, NetReadiness,
                         ::testing::Values(Param{ReactorBackend::Epoll, false}));
INSTANTIATE_TEST_SUITE_P(Libuv, NetReadiness,
                         ::testing::Values(Param{ReactorBackend::Libuv, false}));
INSTANTIATE_TEST_SUITE_P(EpollMigrating, NetReadiness,
                         ::testing::Values(Param{ReactorBackend::Epoll, true}));
INSTANTIATE_TEST_SUITE_P(LibuvMigrating, NetReadiness,
                         ::testing::Values(Param{ReactorBackend::Libuv, true}));

}  // namespace
