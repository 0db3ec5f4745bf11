// spindle::net TCP: TcpListener and TcpStream in fibers (both reactor backends) and plain threads:
// echo across workers, half-close, reset, refused and timed-out connects, read timeouts, large
// transfers with partial writes, cancellation, fiber <-> thread peers, EMFILE backoff.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "spindle/config.hpp"
#include "spindle/event.hpp"
#include "spindle/net/error.hpp"
#include "spindle/net/tcp_listener.hpp"
#include "spindle/net/tcp_stream.hpp"
#include "spindle/runtime.hpp"
#include "spindle/this_fiber.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;
using spindle::AsyncRuntime;
using spindle::AsyncRuntimeConfig;
using spindle::JoinHandle;
using spindle::ReactorBackend;
using spindle::net::Accepted;
using spindle::net::MutableBuffer;
using spindle::net::Shutdown;
using spindle::net::SocketAddr;
using spindle::net::TcpListener;
using spindle::net::TcpStream;
using spindle::test::kSanitized;

namespace {

SocketAddr loopback0() {
  return SocketAddr::v4({127, 0, 0, 1}, 0);
}

// echo copies everything it reads back until end of stream, then half-closes.
void echo(TcpStream& s) {
  char buf[4096];
  for (;;) {
    const std::size_t n = s.read(buf);
    if (n == 0) break;
    s.write_all({buf, n});
  }
  s.shutdown(Shutdown::Write);
}

// fill writes a deterministic pattern for (stream id, offset).
void fill(std::string& out, std::size_t len, std::uint64_t seed) {
  out.resize(len);
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (std::size_t i = 0; i < len; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x);
  }
}

// Fnv is a streaming FNV-1a hash.
struct Fnv {
  std::uint64_t h = 1469598103934665603ull;
  void add(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) {
      h ^= b[i];
      h *= 1099511628211ull;
    }
  }
};

template <class F>
std::system_error expect_system_error(F&& f) {
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

void set_bufs(int fd, int bytes) {
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes), 0);
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes), 0);
}

// NetParam is one configuration the whole suite runs under: a reactor backend, and whether fibers
// move to another worker at every switch (migrate_every_switch, to flush out races between a
// socket's fibers and the driver).
struct NetParam {
  ReactorBackend backend;
  bool migrate;
  bool current_thread = false;  // RuntimeFlavor::CurrentThread, driven by a TestRuntime thread
};

void PrintTo(const NetParam& p, std::ostream* os) {
  *os << (p.backend == ReactorBackend::Libuv ? "libuv" : "epoll")
      << (p.migrate ? ", migrate_every_switch" : "")
      << (p.current_thread ? ", current_thread" : "");
}

class NetTcp : public ::testing::TestWithParam<NetParam> {
 protected:
  AsyncRuntimeConfig cfg(std::uint32_t workers) const {
    AsyncRuntimeConfig c;
    c.worker_threads = workers;
    c.reactor = GetParam().backend;
    c.migrate_every_switch = GetParam().migrate;
    if (GetParam().current_thread) {
      c.flavor = spindle::RuntimeFlavor::CurrentThread;
      c.worker_threads = 1;
    }
    return c;
  }
};

}  // namespace

TEST_P(NetTcp, ManyClientsEchoAcrossWorkers) {
  const int kClients = kSanitized ? 100 : 200;
  const int kRounds = kSanitized ? 20 : 50;
  spindle::test::TestRuntime rt(cfg(4));
  TcpListener listener = TcpListener::bind(loopback0());
  const SocketAddr addr = listener.local_addr();
  ASSERT_NE(addr.port(), 0);
  auto server = rt.spawn([&listener, kClients] {
    std::vector<JoinHandle<void>> conns;
    for (int i = 0; i < kClients; ++i) {
      Accepted a = listener.accept_for(20s);
      if (!a.peer.is_loopback()) throw std::runtime_error("peer " + a.peer.to_string());
      conns.push_back(spindle::spawn([s = std::move(a.stream)]() mutable { echo(s); }));
    }
    for (auto& c : conns) c.join();
  });
  std::vector<JoinHandle<std::uint64_t>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(rt.spawn([addr, c, kRounds] {
      TcpStream s = TcpStream::connect(addr, 10s);
      std::string out, in;
      std::uint64_t bytes = 0;
      for (int r = 0; r < kRounds; ++r) {
        const std::size_t len = 1 + static_cast<std::size_t>(c * 31 + r * 17) % 700;
        fill(out, len, static_cast<std::uint64_t>(c) * 1000 + static_cast<std::uint64_t>(r));
        s.write_all_for(out, 10s);
        in.assign(len, '\0');
        s.read_exact_for(in, 10s);
        if (in != out) throw std::runtime_error("client " + std::to_string(c) + ": bad echo");
        bytes += len;
      }
      s.shutdown(Shutdown::Write);
      char b;
      if (s.read_for(MutableBuffer(&b, 1), 10s) != 0) throw std::runtime_error("no EOF");
      return bytes;
    }));
  }
  std::uint64_t total = 0;
  for (auto& c : clients) total += c.join();
  server.join();
  std::uint64_t expect = 0;
  for (int c = 0; c < kClients; ++c) {
    for (int r = 0; r < kRounds; ++r)
      expect += 1 + static_cast<std::uint64_t>(c * 31 + r * 17) % 700;
  }
  EXPECT_EQ(total, expect);
}

TEST_P(NetTcp, HalfCloseLetsTheServerReplyAfterEof) {
  spindle::test::TestRuntime rt(cfg(2));
  TcpListener listener = TcpListener::bind(loopback0());
  const SocketAddr addr = listener.local_addr();
  auto server = rt.spawn([&listener] {
    auto [s, peer] = listener.accept();
    std::string got;
    char buf[256];
    while (std::size_t n = s.read(buf)) got.append(buf, n);  // until the client's EOF
    s.write_all("got " + std::to_string(got.size()) + " bytes: " + got);
    s.close();
  });
  const std::string reply = rt.block_on([addr] {
    TcpStream s = TcpStream::connect(addr);
    s.write_all("hello, half-closed world");
    s.shutdown(Shutdown::Write);
    std::string r;
    char buf[256];
    while (std::size_t n = s.read_for(buf, 10s)) r.append(buf, n);
    return r;
  });
  server.join();
  EXPECT_EQ(reply, "got 24 bytes: hello, half-closed world");
}

// The last data and the peer's FIN arrive together, in one reactor report that wakes the parked
// reader. Its read returns the data, fewer bytes than asked, so the next read waits before it
// calls recv; the EOF it is waiting for produces no new edge. The hang-up seen in that report keeps
// the read side ready, so the next read returns 0 at once. One worker, kept busy by a spinning
// fiber while the client writes and half-closes, makes both arrive before the worker polls.
TEST_P(NetTcp, ShortReadThenEofAlreadyInDoesNotWaitForAnotherEdge) {
  spindle::test::TestRuntime rt(cfg(1));
  TcpListener listener = TcpListener::bind(loopback0());
  std::atomic<bool> reading{false};
  auto server = rt.spawn([&listener, &reading] {
    auto [s, peer] = listener.accept();
    std::string got;
    char buf[256];
    reading = true;
    while (std::size_t n = s.read(buf)) got.append(buf, n);  // the bug: parks for good
    return got;
  });
  TcpStream client = TcpStream::connect(listener.local_addr());  // from this thread
  // Parked in its first read: the socket is registered and nothing has arrived yet.
  ASSERT_TRUE(spindle::test::wait_until(
      [&] { return reading.load() && server.state() == spindle::TaskState::Waiting; }));
  std::atomic<bool> hogging{false}, release{false};
  auto hog = rt.spawn([&] {
    hogging = true;
    while (!release.load()) {
    }
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return hogging.load(); }));
  client.write_all("last words");
  client.shutdown(Shutdown::Write);
  release = true;
  hog.join();
  const bool ended = server.wait_for(20s);
  EXPECT_TRUE(ended) << "the read after the short read waits for an edge that never comes";
  if (!ended) {
    server.cancel();  // unblocks it; ~AsyncRuntime waits for it
    return;
  }
  EXPECT_EQ(server.join(), "last words");
}

TEST_P(NetTcp, PeerResetIsEconnresetAndWritesNeverRaiseSigpipe) {
  spindle::test::TestRuntime rt(cfg(2));
  TcpListener listener = TcpListener::bind(loopback0());
  const SocketAddr addr = listener.local_addr();
  auto server = rt.spawn([&listener] {
    auto [s, peer] = listener.accept();
    char b;
    s.read_exact(MutableBuffer(&b, 1));  // the client's connect has returned
    const linger lg{1, 0};               // close() sends RST
    if (::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0) {
      throw std::system_error(errno, std::system_category(), "SO_LINGER");
    }
    s.close();
  });
  rt.block_on([addr] {
    TcpStream s = TcpStream::connect(addr);
    s.write_all("!");
    char buf[16];
    const std::system_error e = expect_system_error([&] { s.read_for(buf, 10s); });
    EXPECT_EQ(e.code(), std::errc::connection_reset) << e.what();
    EXPECT_TRUE(contains(e.what(), "read " + addr.to_string())) << e.what();
    // The connection is gone: writing fails with EPIPE (no SIGPIPE kills the test).
    const std::system_error w = expect_system_error([&] {
      for (int i = 0; i < 100; ++i) s.write_all("data after reset");
    });
    EXPECT_TRUE(w.code() == std::errc::broken_pipe || w.code() == std::errc::connection_reset)
        << w.what();
    EXPECT_TRUE(contains(w.what(), "write_all " + addr.to_string())) << w.what();
  });
  server.join();
}

TEST_P(NetTcp, ConnectRefusedNamesTheAddress) {
  spindle::test::TestRuntime rt(cfg(1));
  SocketAddr addr;
  {
    TcpListener l = TcpListener::bind(loopback0());
    addr = l.local_addr();
  }  // closed: nothing listens on that port now
  rt.block_on([addr] {
    const std::system_error e = expect_system_error([&] { TcpStream::connect(addr, 5s); });
    EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
    EXPECT_EQ(std::string(e.what()), "connect " + addr.to_string() + ": Connection refused");
  });
}

TEST_P(NetTcp, ConnectTimesOutWhenTheBacklogIsFull) {
  spindle::test::TestRuntime rt(cfg(1));
  TcpListener listener = TcpListener::bind(loopback0(), 1);  // never accepts
  const SocketAddr addr = listener.local_addr();
  const bool timed_out = rt.block_on([addr] {
    std::vector<TcpStream> held;
    for (int i = 0; i < 64; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      try {
        held.push_back(TcpStream::connect(addr, 100ms));
      } catch (const std::system_error& e) {
        const auto took = std::chrono::steady_clock::now() - t0;
        EXPECT_EQ(e.code(), std::errc::timed_out) << e.what();
        EXPECT_GE(took, 100ms);
        EXPECT_EQ(std::string(e.what()),
                  "connect " + addr.to_string() + " (timeout 100 ms): Connection timed out");
        return true;
      }
    }
    return false;
  });
  if (!timed_out) GTEST_SKIP() << "the kernel accepted 64 connections on a backlog of 1";
}

TEST_P(NetTcp, ReadTimeoutThenTheStreamStillWorks) {
  spindle::test::TestRuntime rt(cfg(2));
  TcpListener listener = TcpListener::bind(loopback0());
  const SocketAddr addr = listener.local_addr();
  std::atomic<bool> timed_out{false};
  auto server = rt.spawn([&listener, &timed_out] {
    auto [s, peer] = listener.accept();
    char b[8];
    s.read_exact(MutableBuffer(b, 2));  // "go": the client has seen its timeout
    if (!timed_out.load()) throw std::runtime_error("the client did not time out first");
    s.write_all("late");
  });
  rt.block_on([addr, &timed_out] {
    TcpStream s = TcpStream::connect(addr);
    char buf[16];
    const auto t0 = std::chrono::steady_clock::now();
    const std::system_error e = expect_system_error([&] { s.read_for(buf, 50ms); });
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
    EXPECT_EQ(e.code(), std::errc::timed_out);
    EXPECT_EQ(std::string(e.what()),
              "read " + addr.to_string() + " (timeout 50 ms): Connection timed out");
    timed_out = true;
    s.write_all("go");
    std::string got(4, '\0');
    s.read_exact_for(got, 10s);
    EXPECT_EQ(got, "late");
  });
  server.join();
}

TEST_P(NetTcp, ReadExactThrowsUnexpectedEof) {
  spindle::test::TestRuntime rt(cfg(2));
  TcpListener listener = TcpListener::bind(loopback0());
  const SocketAddr addr = listener.local_addr();
  auto server = rt.spawn([&listener] {
    auto [s, peer] = listener.accept();
    s.write_all("0123456789");
  });  // closes after 10 bytes
  rt.block_on([addr] {
    TcpStream s = TcpStream::connect(addr);
    std::string buf(64, '\0');
    const std::system_error e = expect_system_error([&] { s.read_exact_for(buf, 10s); });
    EXPECT_EQ(e.code(), spindle::net::NetErrc::UnexpectedEof);
    EXPECT_EQ(std::string(e.what()),
              "read_exact " + addr.to_string() + ": got 10 of 64 bytes: unexpected end of stream");
    EXPECT_EQ(buf.substr(0, 10), "0123456789");
  });
  server.join();
}

TEST_P(NetTcp, LargeTransferWithSmallBuffersAndConcurrentReaderWriter) {
  const std::size_t kTotal = kSanitized ? (4u << 20) : (16u << 20);
  constexpr std::size_t kChunk = 1 << 20;
  // Socket buffers far below the 1 MiB writes, so that every write_all is many partial writes.
  // Not below 64 KiB: on loopback (MSS ~64 KiB) a receive window under one MSS makes the kernel
  // stall on its persist timer (16 KiB buffers take ~12 s for 16 MiB even between plain threads).
  constexpr int kSockBuf = 64 * 1024;
  spindle::test::TestRuntime rt(cfg(2));
  TcpListener listener = TcpListener::bind(loopback0());
  const SocketAddr addr = listener.local_addr();
  auto server = rt.spawn([&listener] {
    auto [s, peer] = listener.accept();
    set_bufs(s.native_handle(), kSockBuf);
    echo(s);
  });
  struct Result {
    std::uint64_t sent_hash, got_hash, got_bytes;
  };
  const Result r = rt.block_on([addr, kTotal] {
    auto s = std::make_shared<TcpStream>(TcpStream::connect(addr));
    set_bufs(s->native_handle(), kSockBuf);
    // One fiber writes while another reads the echo on the same stream.
    auto writer = spindle::spawn([s, kTotal] {
      Fnv h;
      std::string chunk;
      for (std::size_t off = 0; off < kTotal; off += kChunk) {
        fill(chunk, kChunk, off);
        h.add(chunk.data(), chunk.size());
        s->write_all_for(chunk, 20s);
      }
      s->shutdown(Shutdown::Write);
      return h.h;
    });
    Fnv h;
    std::uint64_t n = 0;
    std::vector<char> buf(64 * 1024);
    while (std::size_t k = s->read_for(buf, 20s)) {
      h.add(buf.data(), k);
      n += k;
    }
    return Result{writer.join(), h.h, n};
  });
  server.join();
  EXPECT_EQ(r.got_bytes, kTotal);
  EXPECT_EQ(r.got_hash, r.sent_hash);
}

TEST_P(NetTcp, CancelFibersBlockedInAcceptAndRead) {
  spindle::test::TestRuntime rt(cfg(2));
  TcpListener listener = TcpListener::bind(loopback0());
  const SocketAddr addr = listener.local_addr();
  auto acceptor = rt.spawn([&listener] { listener.accept(); });
  ASSERT_TRUE(spindle::test::wait_until(
      [&] { return acceptor.state() == spindle::TaskState::Waiting; }, 10s));
  acceptor.cancel();
  EXPECT_THROW(acceptor.join(), spindle::Cancelled);

  // The listener still works after the cancelled accept; now block a reader.
  auto server = rt.spawn([&listener] { return listener.accept_for(10s); });
  TcpStream client = rt.block_on([addr] { return TcpStream::connect(addr); });
  Accepted acc = server.join();
  auto reader = rt.spawn([&acc] {
    char b[4];
    return acc.stream.read(b);
  });
  ASSERT_TRUE(spindle::test::wait_until(
      [&] { return reader.state() == spindle::TaskState::Waiting; }, 10s));
  reader.cancel();
  EXPECT_THROW(reader.join(), spindle::Cancelled);
  // The stream is intact: data sent now is read by a new fiber.
  client.write_all("ok");
  const std::string got = rt.block_on([&acc] {
    std::string s(2, '\0');
    acc.stream.read_exact_for(s, 10s);
    return s;
  });
  EXPECT_EQ(got, "ok");
}

TEST_P(NetTcp, WriteTimeoutAndCancelWhileBlockedInWriteAll) {
  // The peer never reads: with small socket buffers a large write blocks. A timed write gives up
  // with timed_out; a fiber blocked in write_all is woken by cancellation.
  spindle::test::TestRuntime rt(cfg(2));
  TcpListener listener = TcpListener::bind(loopback0());
  const SocketAddr addr = listener.local_addr();
  auto server = rt.spawn([&listener] { return listener.accept_for(10s); });
  TcpStream client = rt.block_on([addr] { return TcpStream::connect(addr, 10s); });
  Accepted acc = server.join();
  const int small = 4096;
  ASSERT_EQ(::setsockopt(client.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  ASSERT_EQ(::setsockopt(acc.stream.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small),
            0);
  const std::string big(16 << 20, 'w');  // far more than both buffers hold
  rt.block_on([&] {
    const std::system_error e = expect_system_error([&] { client.write_all_for(big, 50ms); });
    EXPECT_EQ(e.code(), std::errc::timed_out);
    EXPECT_NE(std::string(e.what()).find("write"), std::string::npos) << e.what();
  });
  auto writer = rt.spawn([&] { client.write_all(big); });
  ASSERT_TRUE(spindle::test::wait_until(
      [&] { return writer.state() == spindle::TaskState::Waiting; }, 10s));
  writer.cancel();
  EXPECT_THROW(writer.join(), spindle::Cancelled);
}

TEST_P(NetTcp, FiberClientAndPlainThreadServer) {
  TcpListener listener = TcpListener::bind(loopback0());
  const SocketAddr addr = listener.local_addr();
  std::thread server([&listener] {
    Accepted a = listener.accept_for(10s);  // poll(2) path
    echo(a.stream);
  });
  spindle::test::TestRuntime rt(cfg(2));
  const std::string got = rt.block_on([addr] {
    TcpStream s = TcpStream::connect(addr, 10s);
    std::string all;
    for (int i = 0; i < 100; ++i) {
      const std::string msg = "message " + std::to_string(i) + ";";
      s.write_all(msg);
      std::string in(msg.size(), '\0');
      s.read_exact_for(in, 10s);
      all += in;
    }
    return all;
  });
  server.join();
  EXPECT_EQ(got.substr(0, 22), "message 0;message 1;me");
  EXPECT_EQ(got.size(), 10u * 10 + 90u * 11);
}

TEST_P(NetTcp, PlainThreadClientAndFiberServer) {
  spindle::test::TestRuntime rt(cfg(2));
  TcpListener listener = TcpListener::bind(loopback0());
  const SocketAddr addr = listener.local_addr();
  auto server = rt.spawn([&listener] {
    Accepted a = listener.accept();
    echo(a.stream);
  });
  // This thread is not a fiber: connect, write and read block it in poll(2).
  TcpStream s = TcpStream::connect(addr, 10s);
  EXPECT_EQ(s.peer_addr(), addr);
  for (int i = 0; i < 100; ++i) {
    std::string out;
    fill(out, 1000, static_cast<std::uint64_t>(i));
    s.write_all_for(out, 10s);
    std::string in(out.size(), '\0');
    s.read_exact_for(in, 10s);
    ASSERT_EQ(in, out);
  }
  char b;
  const auto t0 = std::chrono::steady_clock::now();
  const std::system_error e = expect_system_error([&] { s.read_for(MutableBuffer(&b, 1), 30ms); });
  EXPECT_EQ(e.code(), std::errc::timed_out);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  s.shutdown(Shutdown::Write);
  EXPECT_EQ(s.read_for(MutableBuffer(&b, 1), 10s), 0u);
  server.join();
}

TEST_P(NetTcp, AddressesOptionsAndClosedStreams) {
  spindle::test::TestRuntime rt(cfg(1));
  TcpListener listener = TcpListener::bind(loopback0());
  const SocketAddr addr = listener.local_addr();
  rt.block_on([&listener, addr] {
    TcpStream c = TcpStream::connect(addr);
    Accepted a = listener.accept();
    EXPECT_EQ(a.peer, c.local_addr());
    EXPECT_EQ(a.stream.peer_addr(), c.local_addr());
    EXPECT_EQ(a.stream.local_addr(), addr);
    EXPECT_EQ(c.peer_addr(), addr);
    EXPECT_TRUE(c.nodelay());  // on by default
    c.set_nodelay(false);
    EXPECT_FALSE(c.nodelay());
    EXPECT_EQ(c.read(MutableBuffer()), 0u);  // empty buffer: no wait
    EXPECT_EQ(c.write(""), 0u);
    TcpStream moved = std::move(c);
    EXPECT_FALSE(c.is_open());  // NOLINT(bugprone-use-after-move)
    EXPECT_TRUE(moved.is_open());
    moved.close();
    moved.close();  // idempotent
    const std::system_error e = expect_system_error([&] { moved.write_all("x"); });
    EXPECT_EQ(e.code(), std::errc::bad_file_descriptor);
    EXPECT_EQ(moved.native_handle(), -1);
    // accept_for times out, naming the listener.
    const std::system_error t = expect_system_error([&] { listener.accept_for(20ms); });
    EXPECT_EQ(t.code(), std::errc::timed_out);
    EXPECT_EQ(std::string(t.what()),
              "accept " + addr.to_string() + " (timeout 20 ms): Connection timed out");
  });
  // Binding a port in use names the address.
  const std::system_error e = expect_system_error([&] { TcpListener::bind(addr); });
  EXPECT_EQ(e.code(), std::errc::address_in_use);
  EXPECT_TRUE(contains(e.what(), "bind " + addr.to_string())) << e.what();
  EXPECT_THROW(TcpListener::bind(loopback0(), 0), std::invalid_argument);
}

TEST_P(NetTcp, Ipv6Loopback) {
  TcpListener listener;
  try {
    listener = TcpListener::bind(SocketAddr::parse("[::1]:0"));
  } catch (const std::system_error& e) {
    GTEST_SKIP() << "no IPv6 loopback: " << e.what();
  }
  const SocketAddr addr = listener.local_addr();
  EXPECT_TRUE(addr.is_ipv6());
  spindle::test::TestRuntime rt(cfg(2));
  auto server = rt.spawn([&listener] {
    Accepted a = listener.accept();
    echo(a.stream);
  });
  const std::string got = rt.block_on([addr] {
    TcpStream s = TcpStream::connect(addr);
    s.write_all("v6");
    std::string in(2, '\0');
    s.read_exact_for(in, 10s);
    return in;
  });
  server.join();
  EXPECT_EQ(got, "v6");
}

// Descriptor exhaustion: in a child process (a death-test style subprocess, so the lowered
// RLIMIT_NOFILE and the exhausted descriptors stay there), a fiber accepts while every descriptor
// is taken. accept must neither fail nor spin (the process's CPU time stays low while it backs
// off), and must take the pending connection once a descriptor is free.
namespace {

double cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// g_saved_stderr is the real stderr while the child sends its stderr to a file (-1: not).
int g_saved_stderr = -1;

[[noreturn]] void die(const std::string& why) {
  if (g_saved_stderr >= 0) ::dup2(g_saved_stderr, STDERR_FILENO);
  std::fprintf(stderr, "emfile child: %s\n", why.c_str());
  std::fflush(stderr);
  std::_Exit(3);
}

void emfile_child(ReactorBackend backend) {
  AsyncRuntimeConfig c;
  c.worker_threads = 1;
  c.reactor = backend;
  AsyncRuntime rt(c);
  TcpListener listener = TcpListener::bind(loopback0());
  const SocketAddr addr = listener.local_addr();
  // One full accept while descriptors are free: registers the listener with the runtime and runs
  // every code path once (sanitizer runtimes need descriptors the first time they check a type).
  TcpStream warm = TcpStream::connect(addr, 5s);
  Accepted warm_accepted = rt.spawn([&listener] { return listener.accept_for(5s); }).join();
  // A connection waits in the backlog (the kernel completes the handshake without accept).
  TcpStream client = TcpStream::connect(addr, 5s);
  // The acceptor starts (and its JoinHandle type exists) before the descriptors run out.
  spindle::Event go;
  std::atomic<bool> accepted{false};
  auto acceptor = rt.spawn([&listener, &accepted, &go] {
    go.wait();
    Accepted a = listener.accept_for(10s);
    accepted = true;
    return a;
  });
  while (acceptor.state() != spindle::TaskState::Waiting) std::this_thread::yield();  // in go.wait
  // The library's stderr into a file, to count its EMFILE reports (opened before the fill).
  char log_path[] = "/tmp/spindle-emfile-XXXXXX";
  const int log_fd = ::mkstemp(log_path);
  if (log_fd < 0) die("mkstemp");
  ::unlink(log_path);
  g_saved_stderr = ::dup(STDERR_FILENO);
  ::dup2(log_fd, STDERR_FILENO);
  // Take every descriptor left, so that accept hits EMFILE.
  std::vector<int> fillers;
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) die("open /dev/null");
  fillers.push_back(null_fd);
  for (;;) {
    const int fd = ::fcntl(null_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      if (errno != EMFILE) die("F_DUPFD: " + std::string(std::strerror(errno)));
      break;
    }
    fillers.push_back(fd);
    if (fillers.size() > 100000) die("no descriptor limit");
  }
  const double cpu0 = cpu_seconds();
  go.set();
  // 300 ms of exhaustion: a spinning accept would burn ~300 ms of CPU.
  std::this_thread::sleep_for(300ms);
  const double burnt = cpu_seconds() - cpu0;
  if (accepted.load()) die("accepted without a free descriptor");
  if (burnt > 0.1) die("accept spun: " + std::to_string(burnt) + " s of CPU in 300 ms");
  // Free three descriptors: one for the accepted connection, two for sanitizer runtimes (UBSan's
  // vptr check probes memory through a pipe).
  for (int i = 0; i < 3; ++i) {
    ::close(fillers.back());
    fillers.pop_back();
  }
  const auto t0 = std::chrono::steady_clock::now();
  Accepted a = acceptor.join();
  const auto waited = std::chrono::steady_clock::now() - t0;
  if (waited > 2s) die("accept took too long after a descriptor was freed");
  client.write_all("x");
  char b = 0;
  a.stream.read_exact_for(MutableBuffer(&b, 1), 5s);
  if (b != 'x') die("bad byte");
  for (int fd : fillers) ::close(fd);
  // Exactly one report for the whole burst (about nine backoff sleeps), naming the listener.
  ::dup2(g_saved_stderr, STDERR_FILENO);
  std::string log;
  char buf[4096];
  ssize_t got;
  ::lseek(log_fd, 0, SEEK_SET);
  while ((got = ::read(log_fd, buf, sizeof buf)) > 0)
    log.append(buf, static_cast<std::size_t>(got));
  const std::string head = "spindle: accept " + addr.to_string() + ": ";
  std::size_t reports = 0;
  for (std::size_t at = log.find(head); at != std::string::npos; at = log.find(head, at + 1)) {
    ++reports;
  }
  if (reports != 1 || log.find("(EMFILE); accept backs off") == std::string::npos) {
    die("expected one EMFILE report, got " + std::to_string(reports) + ":\n" + log);
  }
  std::_Exit(0);
}

}  // namespace

TEST_P(NetTcp, AcceptBacksOffOnEmfileInsteadOfSpinning) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const ReactorBackend backend = GetParam().backend;
  EXPECT_EXIT(
      {
        // Lower the limit so that exhausting it is quick.
        rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = 256;
        setrlimit(RLIMIT_NOFILE, &rl);
        emfile_child(backend);
      },
      ::testing::ExitedWithCode(0), "");
}

INSTANTIATE_TEST_SUITE_P(Epoll, NetTcp, ::testing::Values(NetParam{ReactorBackend::Epoll, false}));
INSTANTIATE_TEST_SUITE_P(Libuv, NetTcp, ::testing::Values(NetParam{ReactorBackend::Libuv, false}));
INSTANTIATE_TEST_SUITE_P(EpollMigrating, NetTcp,
                         ::testing::Values(NetParam{ReactorBackend::Epoll, true}));
INSTANTIATE_TEST_SUITE_P(LibuvMigrating, NetTcp,
                         ::testing::Values(NetParam{ReactorBackend::Libuv, true}));
INSTANTIATE_TEST_SUITE_P(EpollCurrentThread, NetTcp,
                         ::testing::Values(NetParam{ReactorBackend::Epoll, false, true}));
INSTANTIATE_TEST_SUITE_P(LibuvCurrentThread, NetTcp,
                         ::testing::Values(NetParam{ReactorBackend::Libuv, false, true}));
