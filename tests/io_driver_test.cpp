// The runtime's I/O driver: fibers park on fd readiness (both reactor backends), with deadlines,
// cancellation, many fds, and busy workers that still poll.
#include "detail/io_driver.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using spindle::detail::IoHandle;
using spindle::detail::WaitStatus;
using spindle::test::wait_until;

struct Pair {
  int a = -1, b = -1;
  Pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      throw std::runtime_error("socketpair");
    }
    a = fds[0];
    b = fds[1];
  }
  ~Pair() {
    ::close(a);
    ::close(b);
  }
};

// read_some reads at least one byte from `h`, waiting for readiness; returns bytes or -1 on
// timeout, -2 on cancellation.
long read_some(IoHandle& h, char* buf, std::size_t n, std::uint64_t deadline) {
  for (;;) {
    const long r = ::read(h.fd(), buf, n);
    if (r >= 0) return r;
    if (errno != EAGAIN) return -3;
    const WaitStatus s = h.wait(IoHandle::kRead, deadline);
    if (s == WaitStatus::Timeout) return -1;
    if (s == WaitStatus::Cancelled) return -2;
  }
}

class IoDriverTest : public testing::TestWithParam<spindle::ReactorBackend> {
 protected:
  spindle::AsyncRuntimeConfig config(std::uint32_t workers) {
    spindle::AsyncRuntimeConfig cfg;
    cfg.worker_threads = workers;
    cfg.reactor = GetParam();
    return cfg;
  }
};

TEST_P(IoDriverTest, AFiberParksUntilDataArrives) {
  spindle::AsyncRuntime rt(config(2));
  Pair p;
  std::atomic<bool> waiting{false};
  auto h = rt.spawn([&] {
    IoHandle io(p.a);
    char buf[16];
    waiting = true;
    long n = read_some(io, buf, sizeof buf, spindle::detail::kNoDeadline);
    io.release();
    return n == 5 ? std::string(buf, 5) : std::string("error ") + std::to_string(n);
  });
  ASSERT_TRUE(wait_until([&] { return waiting.load(); }, 20s));
  ASSERT_EQ(::write(p.b, "hello", 5), 5);
  EXPECT_EQ(h.join(), "hello");
}

TEST_P(IoDriverTest, DeadlineAndCancellation) {
  spindle::AsyncRuntime rt(config(2));
  Pair p;
  const auto start = std::chrono::steady_clock::now();
  long r = rt.block_on([&] {
    IoHandle io(p.a);
    char buf[4];
    return read_some(io, buf, sizeof buf, spindle::detail::deadline_after(5ms));
  });
  EXPECT_EQ(r, -1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 5ms);
  std::atomic<bool> waiting{false};
  auto h = rt.spawn([&] {
    IoHandle io(p.a);
    char buf[4];
    waiting = true;
    return read_some(io, buf, sizeof buf, spindle::detail::kNoDeadline);
  });
  ASSERT_TRUE(wait_until([&] { return waiting.load(); }, 20s));
  h.cancel();
  EXPECT_EQ(h.join(), -2);
}

TEST_P(IoDriverTest, ManyConnectionsEchoAcrossWorkers) {
  spindle::AsyncRuntime rt(config(3));
  constexpr int kConns = 64, kRounds = 20;
  std::vector<std::unique_ptr<Pair>> pairs;
  std::vector<spindle::JoinHandle<int>> echoes;
  for (int i = 0; i < kConns; ++i) {
    pairs.push_back(std::make_unique<Pair>());
    int fd = pairs.back()->a;
    echoes.push_back(rt.spawn([fd] {
      IoHandle io(fd);
      int rounds = 0;
      char buf[64];
      for (;;) {
        long n = read_some(io, buf, sizeof buf, spindle::detail::kNoDeadline);
        if (n <= 0) break;
        for (long off = 0; off < n;) {
          long w = ::write(fd, buf + off, static_cast<std::size_t>(n - off));
          if (w > 0) {
            off += w;
          } else if (errno == EAGAIN) {
            io.wait(IoHandle::kWrite, spindle::detail::kNoDeadline);
          } else {
            return -1;
          }
        }
        ++rounds;
      }
      return rounds;
    }));
  }
  // Clients: two plain threads, each driving half of the connections with blocking poll waits.
  auto client = [&](int first, int step) {
    for (int r = 0; r < kRounds; ++r) {
      for (int i = first; i < kConns; i += step) {
        IoHandle io(pairs[i]->b);
        char msg[32];
        std::snprintf(msg, sizeof msg, "%03d%03d", i, r);
        ASSERT_EQ(::write(pairs[i]->b, msg, 6), 6);
        char got[8] = {};
        long have = 0;
        while (have < 6) {
          long n = read_some(io, got + have, static_cast<std::size_t>(6 - have),
                             spindle::detail::deadline_after(20s));
          ASSERT_GT(n, 0);
          have += n;
        }
        ASSERT_EQ(std::string(got, 6), std::string(msg, 6));
      }
    }
  };
  std::thread c1(client, 0, 2), c2(client, 1, 2);
  c1.join();
  c2.join();
  for (auto& p : pairs) ::shutdown(p->b, SHUT_WR);
  for (auto& e : echoes) EXPECT_EQ(e.join(), kRounds);
}

TEST_P(IoDriverTest, AReaderAndAWriterRaceToRegisterTheSameFd) {
  // The first waits on a handle may come from its reader and its writer on two workers at once:
  // exactly one registers the fd, the other uses that registration (no EEXIST, no double state).
  spindle::AsyncRuntime rt(config(2));
  for (int round = 0; round < 200; ++round) {
    Pair p;
    ASSERT_EQ(::write(p.b, "x", 1), 1);  // p.a is readable and writable from the start
    IoHandle io(p.a);
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    auto waiter = [&](int dir) {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();  // hold the worker: the two run in parallel
      return io.wait(dir, spindle::detail::deadline_after(20s));
    };
    auto r = rt.spawn([&] { return waiter(IoHandle::kRead); });
    auto w = rt.spawn([&] { return waiter(IoHandle::kWrite); });
    ASSERT_TRUE(wait_until([&] { return ready.load() == 2; }, 20s));
    go = true;
    EXPECT_EQ(r.join(), WaitStatus::Signaled) << "round " << round;
    EXPECT_EQ(w.join(), WaitStatus::Signaled) << "round " << round;
    rt.block_on([&] { io.release(); });
  }
}

TEST_P(IoDriverTest, ABusyWorkerStillPollsIo) {
  // One worker, kept busy by a fiber that yields in a loop until the reader got its data: the
  // worker never goes idle, so only its periodic non-blocking polls can deliver the readiness.
  spindle::AsyncRuntime rt(config(1));
  Pair p;
  std::atomic<bool> done{false}, waiting{false};
  auto busy = rt.spawn([&] {
    std::uint64_t spins = 0;
    while (!done.load()) {
      spindle::this_fiber::yield();
      ++spins;
    }
    return spins;
  });
  auto reader = rt.spawn([&] {
    IoHandle io(p.a);
    char buf[4];
    waiting = true;
    long n = read_some(io, buf, sizeof buf, spindle::detail::kNoDeadline);
    done = true;
    return n;
  });
  ASSERT_TRUE(wait_until([&] { return waiting.load(); }, 20s));
  ASSERT_EQ(::write(p.b, "x", 1), 1);
  EXPECT_EQ(reader.join(), 1);
  EXPECT_GT(busy.join(), 0u);
}

TEST_P(IoDriverTest, SocketsMayOutliveTheirRuntime) {
  Pair p;
  IoHandle io(p.a);
  {
    spindle::AsyncRuntime rt(config(1));
    rt.block_on([&] {
      char buf[4];
      EXPECT_EQ(read_some(io, buf, sizeof buf, spindle::detail::deadline_after(1ms)), -1);
    });
  }
  io.release();  // the driver is gone: the handle frees its orphaned state
}

INSTANTIATE_TEST_SUITE_P(Backends, IoDriverTest,
                         testing::Values(spindle::ReactorBackend::Epoll,
                                         spindle::ReactorBackend::Libuv),
                         [](const testing::TestParamInfo<spindle::ReactorBackend>& info) {
                           return info.param == spindle::ReactorBackend::Epoll ? "Epoll" : "Libuv";
                         });

}  // namespace
