// spindle::net UDP: UdpSocket round trips in fibers (both reactor backends) and plain threads,
// truncation, timeouts, cancellation.
#include <gtest/gtest.h>

#include <chrono>
#include <ostream>
#include <string>
#include <system_error>
#include <thread>

#include "spindle/config.hpp"
#include "spindle/net/udp_socket.hpp"
#include "spindle/runtime.hpp"
#include "spindle/this_fiber.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;
using spindle::AsyncRuntime;
using spindle::AsyncRuntimeConfig;
using spindle::ReactorBackend;
using spindle::net::Datagram;
using spindle::net::MutableBuffer;
using spindle::net::SocketAddr;
using spindle::net::UdpSocket;

namespace {

SocketAddr loopback0() {
  return SocketAddr::v4({127, 0, 0, 1}, 0);
}

// UdpParam: the reactor, and whether the runtime is of the current-thread flavor (driven by a
// test::TestRuntime thread).
struct UdpParam {
  ReactorBackend backend;
  bool current_thread = false;
};

void PrintTo(const UdpParam& p, std::ostream* os) {
  *os << (p.backend == ReactorBackend::Libuv ? "libuv" : "epoll")
      << (p.current_thread ? ", current_thread" : "");
}

class NetUdp : public ::testing::TestWithParam<UdpParam> {
 protected:
  AsyncRuntimeConfig cfg(std::uint32_t workers) const {
    AsyncRuntimeConfig c;
    c.worker_threads = workers;
    c.reactor = GetParam().backend;
    if (GetParam().current_thread) {
      c.flavor = spindle::RuntimeFlavor::CurrentThread;
      c.worker_threads = 1;
    }
    return c;
  }
};

}  // namespace

TEST_P(NetUdp, RoundTripBetweenFibers) {
  spindle::test::TestRuntime rt(cfg(2));
  UdpSocket server = UdpSocket::bind(loopback0());
  const SocketAddr server_addr = server.local_addr();
  ASSERT_NE(server_addr.port(), 0);
  constexpr int kRounds = 200;
  // The server answers every datagram with its text reversed, until "stop".
  auto srv = rt.spawn([&server] {
    char buf[1500];
    for (;;) {
      const Datagram d = server.recv_from(buf);
      std::string s(buf, d.size);
      if (s == "stop") return;
      std::string r(s.rbegin(), s.rend());
      server.send_to(r, d.from);
    }
  });
  const int ok = rt.block_on([server_addr] {
    UdpSocket c = UdpSocket::bind(loopback0());
    int good = 0;
    char buf[1500];
    for (int i = 0; i < kRounds; ++i) {
      const std::string msg = "datagram #" + std::to_string(i);
      EXPECT_EQ(c.send_to(msg, server_addr), msg.size());
      // Loopback UDP is not dropped under this load, but never hang on it: time out instead.
      const Datagram d = c.recv_from_for(buf, 10s);
      EXPECT_EQ(d.from, server_addr);
      EXPECT_FALSE(d.truncated);
      if (std::string(buf, d.size) == std::string(msg.rbegin(), msg.rend())) ++good;
    }
    c.send_to("stop", server_addr);
    return good;
  });
  srv.join();
  EXPECT_EQ(ok, kRounds);
}

TEST_P(NetUdp, TruncationEmptyDatagramsAndTimeouts) {
  spindle::test::TestRuntime rt(cfg(1));
  rt.block_on([] {
    UdpSocket a = UdpSocket::bind(loopback0());
    UdpSocket b = UdpSocket::bind(loopback0());
    a.send_to("0123456789", b.local_addr());
    char small[4];
    Datagram d = b.recv_from_for(small, 10s);
    EXPECT_EQ(d.size, 4u);
    EXPECT_TRUE(d.truncated);
    EXPECT_EQ(std::string(small, 4), "0123");
    EXPECT_EQ(d.from, a.local_addr());
    a.send_to("", b.local_addr());
    d = b.recv_from_for(small, 10s);
    EXPECT_EQ(d.size, 0u);
    EXPECT_FALSE(d.truncated);
    const auto t0 = std::chrono::steady_clock::now();
    try {
      b.recv_from_for(small, 30ms);
      ADD_FAILURE() << "no timeout";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::timed_out);
      EXPECT_EQ(std::string(e.what()), "recv_from " + b.local_addr().to_string() +
                                           " (timeout 30 ms): Connection timed out");
    }
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
    // An IPv4 socket cannot send to an IPv6 address: the error names the destination.
    try {
      a.send_to("x", SocketAddr::parse("[::1]:9"));
      ADD_FAILURE() << "no error";
    } catch (const std::system_error& e) {
      EXPECT_NE(std::string(e.what()).find("send_to [::1]:9"), std::string::npos) << e.what();
    }
  });
}

TEST_P(NetUdp, CancelFiberBlockedInRecvFrom) {
  spindle::test::TestRuntime rt(cfg(2));
  UdpSocket s = UdpSocket::bind(loopback0());
  auto h = rt.spawn([&s] {
    char b[16];
    s.recv_from(b);
  });
  ASSERT_TRUE(
      spindle::test::wait_until([&] { return h.state() == spindle::TaskState::Waiting; }, 10s));
  h.cancel();
  EXPECT_THROW(h.join(), spindle::Cancelled);
}

TEST_P(NetUdp, PlainThreadAndFiber) {
  spindle::test::TestRuntime rt(cfg(1));
  UdpSocket fiber_side = UdpSocket::bind(loopback0());
  const SocketAddr fiber_addr = fiber_side.local_addr();
  auto h = rt.spawn([&fiber_side] {
    char b[64];
    for (int i = 0; i < 50; ++i) {
      const Datagram d = fiber_side.recv_from(b);
      fiber_side.send_to(MutableBuffer(b, d.size), d.from);
    }
  });
  UdpSocket thread_side = UdpSocket::bind(loopback0());  // poll(2) path
  for (int i = 0; i < 50; ++i) {
    const std::string msg = "ping " + std::to_string(i);
    thread_side.send_to_for(msg, fiber_addr, 10s);
    char b[64];
    const Datagram d = thread_side.recv_from_for(b, 10s);
    ASSERT_EQ(std::string(b, d.size), msg);
  }
  h.join();
}

INSTANTIATE_TEST_SUITE_P(Epoll, NetUdp, ::testing::Values(UdpParam{ReactorBackend::Epoll}));
INSTANTIATE_TEST_SUITE_P(Libuv, NetUdp, ::testing::Values(UdpParam{ReactorBackend::Libuv}));
INSTANTIATE_TEST_SUITE_P(EpollCurrentThread, NetUdp,
                         ::testing::Values(UdpParam{ReactorBackend::Epoll, true}));
INSTANTIATE_TEST_SUITE_P(LibuvCurrentThread, NetUdp,
                         ::testing::Values(UdpParam{ReactorBackend::Libuv, true}));
