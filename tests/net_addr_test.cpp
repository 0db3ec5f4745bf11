// SocketAddr parsing, formatting, ordering and sockaddr conversion; the net error categories;
// resolve.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "spindle/net/buffer.hpp"
#include "spindle/net/error.hpp"
#include "spindle/net/resolve.hpp"
#include "spindle/net/socket_addr.hpp"
#include "spindle/runtime.hpp"
#include "spindle/this_fiber.hpp"

using spindle::net::SocketAddr;

namespace {

// parse_error returns the message of the std::invalid_argument that parse(s) throws ("" if none).
std::string parse_error(const std::string& s) {
  try {
    SocketAddr::parse(s);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(NetAddr, ParsesIpv4) {
  const SocketAddr a = SocketAddr::parse("127.0.0.1:8080");
  EXPECT_TRUE(a.is_ipv4());
  EXPECT_FALSE(a.is_ipv6());
  EXPECT_EQ(a.port(), 8080);
  EXPECT_EQ(a.to_string(), "127.0.0.1:8080");
  EXPECT_EQ(a.ip_string(), "127.0.0.1");
  EXPECT_TRUE(a.is_loopback());
  EXPECT_EQ(a, SocketAddr::v4({127, 0, 0, 1}, 8080));
  EXPECT_EQ(SocketAddr::parse("0.0.0.0:0"), SocketAddr());
  EXPECT_TRUE(SocketAddr().is_unspecified());
  EXPECT_EQ(SocketAddr::parse("255.255.255.255:65535").to_string(), "255.255.255.255:65535");
}

TEST(NetAddr, ParsesIpv6) {
  const SocketAddr a = SocketAddr::parse("[::1]:8080");
  EXPECT_TRUE(a.is_ipv6());
  EXPECT_EQ(a.port(), 8080);
  EXPECT_EQ(a.to_string(), "[::1]:8080");
  EXPECT_TRUE(a.is_loopback());
  EXPECT_EQ(SocketAddr::parse("[::]:0").to_string(), "[::]:0");
  EXPECT_TRUE(SocketAddr::parse("[::]:0").is_unspecified());
  const SocketAddr full = SocketAddr::parse("[2001:DB8:0:0:0:0:0:1]:443");
  EXPECT_EQ(full.to_string(), "[2001:db8::1]:443");  // canonical form
  const SocketAddr mapped = SocketAddr::parse("[::ffff:10.0.0.1]:1");
  EXPECT_TRUE(mapped.is_ipv6());
  EXPECT_EQ(mapped.to_string(), "[::ffff:10.0.0.1]:1");
  const SocketAddr scoped = SocketAddr::parse("[fe80::1%7]:80");
  EXPECT_EQ(scoped.scope_id(), 7u);
  EXPECT_EQ(scoped.to_string(), "[fe80::1%7]:80");
  EXPECT_EQ(SocketAddr::parse("[fe80::1%lo]:80").scope_id(), 1u);  // lo is interface 1 on Linux
}

TEST(NetAddr, ParseErrorsQuoteTheInputAndSayWhatIsWrong) {
  struct Case {
    const char* input;
    const char* says;
  };
  const Case cases[] = {
      {"", "empty address"},
      {"127.0.0.1", "missing port"},
      {"127.0.0.1:", "missing port"},
      {"[::1]", "missing port"},
      {"[::1]:", "missing port"},
      {"127.0.0.1:65536", "out of range"},
      {"127.0.0.1:99999999999999999999", "out of range"},
      {"[::1]:70000", "out of range"},
      {"127.0.0.1:http", "not a number"},
      {"127.0.0.1:-1", "not a number"},
      {"127.0.0.1: 80", "not a number"},
      {"256.0.0.1:80", "bad IPv4 address"},
      {"1.2.3:80", "bad IPv4 address"},
      {"localhost:80", "bad IPv4 address"},
      {"01.2.3.4:80", "bad IPv4 address"},
      {":80", "missing IP address"},
      {"[::1:80", "missing closing bracket"},
      {"::1:80", "needs brackets"},
      {"::1", "needs brackets"},
      {"[::g]:80", "bad IPv6 address"},
      {"[1.2.3.4]:80", "bad IPv6 address"},
      {"[]:80", "missing IP address"},
      {"[::1]80", "expected ':'"},
      {"[fe80::1%nosuchif0]:80", "unknown IPv6 scope"},
      {"1.2.3.4]:80", "']' without '['"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.input);
    const std::string msg = parse_error(c.input);
    ASSERT_FALSE(msg.empty()) << "no exception";
    EXPECT_NE(msg.find('"' + std::string(c.input) + '"'), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
  }
}

TEST(NetAddr, MessageQuotesInputWithQuotesInIt) {
  const std::string msg = parse_error("\"1.2.3.4\":80");
  EXPECT_NE(msg.find("\"\"1.2.3.4\":80\""), std::string::npos) << msg;
}

TEST(NetAddr, FromIp) {
  EXPECT_EQ(SocketAddr::from_ip("10.1.2.3", 9), SocketAddr::v4({10, 1, 2, 3}, 9));
  EXPECT_EQ(SocketAddr::from_ip("::1", 9).to_string(), "[::1]:9");
  EXPECT_THROW(SocketAddr::from_ip("[::1]", 9), std::invalid_argument);
  EXPECT_THROW(SocketAddr::from_ip("example.com", 9), std::invalid_argument);
  EXPECT_THROW(SocketAddr::from_ip("", 9), std::invalid_argument);
}

TEST(NetAddr, ComparesOrdersAndHashes) {
  const SocketAddr a = SocketAddr::parse("10.0.0.1:80");
  const SocketAddr b = SocketAddr::parse("10.0.0.1:81");
  const SocketAddr c = SocketAddr::parse("10.0.0.2:1");
  const SocketAddr d = SocketAddr::parse("[::1]:1");
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);  // the address before the port
  EXPECT_LT(c, d);  // IPv4 before IPv6
  EXPECT_NE(a, b);
  EXPECT_EQ(a, SocketAddr::parse("10.0.0.1:80"));
  EXPECT_EQ(a.with_port(81), b);
  std::set<SocketAddr> ordered{d, c, b, a};
  EXPECT_EQ(*ordered.begin(), a);
  std::unordered_set<SocketAddr> hashed{a, b, c, d, a};
  EXPECT_EQ(hashed.size(), 4u);
  std::ostringstream os;
  os << d;
  EXPECT_EQ(os.str(), "[::1]:1");
}

TEST(NetAddr, SockaddrRoundTrip) {
  for (const char* s : {"192.168.1.20:5353", "[2001:db8::7]:65535", "[fe80::2%3]:1"}) {
    SCOPED_TRACE(s);
    const SocketAddr a = SocketAddr::parse(s);
    sockaddr_storage ss;
    const std::size_t len = a.to_sockaddr(ss);
    EXPECT_EQ(len, a.is_ipv6() ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
    EXPECT_EQ(SocketAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len), a);
  }
  sockaddr_storage ss;
  const std::size_t len = SocketAddr::parse("1.2.3.4:258").to_sockaddr(ss);
  const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
  EXPECT_EQ(in->sin_family, AF_INET);
  EXPECT_EQ(ntohs(in->sin_port), 258);
  EXPECT_EQ(ntohl(in->sin_addr.s_addr), 0x01020304u);
  EXPECT_THROW(SocketAddr::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len - 1),
               std::invalid_argument);
  sockaddr un{};
  un.sa_family = AF_UNIX;
  EXPECT_THROW(SocketAddr::from_sockaddr(&un, sizeof un), std::invalid_argument);
}

TEST(NetAddr, ErrorCategories) {
  const std::error_code eof = spindle::net::NetErrc::UnexpectedEof;
  EXPECT_STREQ(eof.category().name(), "spindle.net");
  EXPECT_EQ(eof.message(), "unexpected end of stream");
  const std::error_code again(EAI_AGAIN, spindle::net::resolve_category());
  EXPECT_EQ(again, std::errc::resource_unavailable_try_again);
  EXPECT_EQ(again.message(), gai_strerror(EAI_AGAIN));
  const std::error_code noname(EAI_NONAME, spindle::net::resolve_category());
  EXPECT_NE(noname, std::errc::resource_unavailable_try_again);
}

TEST(NetResolve, NumericAddressesNeedNoLookup) {
  auto v = spindle::net::resolve("127.0.0.1", 80);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0], SocketAddr::parse("127.0.0.1:80"));
  v = spindle::net::resolve("[::1]", 443);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0], SocketAddr::parse("[::1]:443"));
  EXPECT_THROW(spindle::net::resolve("", 1), std::invalid_argument);
}

TEST(NetResolve, LocalhostFromThreadAndFiber) {
  // /etc/hosts maps localhost on any sane machine; the lookup does not need a network.
  auto check = [](const std::vector<SocketAddr>& v) {
    ASSERT_FALSE(v.empty());
    bool loop = false;
    for (const SocketAddr& a : v) {
      EXPECT_EQ(a.port(), 8080);
      loop = loop || a.is_loopback();
    }
    EXPECT_TRUE(loop);
  };
  check(spindle::net::resolve("localhost", 8080));
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 1;
  spindle::AsyncRuntime rt(cfg);
  check(rt.block_on([] { return spindle::net::resolve("localhost", 8080); }));
}

TEST(NetResolve, UnknownNameNamesTheHost) {
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = 1;
  spindle::AsyncRuntime rt(cfg);
  // Caught in the fiber: the exception never outlives the task it was thrown in.
  struct Outcome {
    bool thrown = false;
    std::string what;
    bool resolve_or_system_category = false;
  };
  const Outcome o = rt.block_on([] {
    Outcome r;
    try {
      spindle::net::resolve("nosuchhost.invalid", 80);
    } catch (const std::system_error& e) {
      r.thrown = true;
      r.what = e.what();
      // EAI_NONAME normally; EAI_AGAIN/EAI_FAIL when a configured DNS server cannot be reached.
      r.resolve_or_system_category = e.code().category() == spindle::net::resolve_category() ||
                                     e.code().category() == std::system_category();
    }
    return r;
  });
  ASSERT_TRUE(o.thrown) << "resolved nosuchhost.invalid";
  EXPECT_NE(o.what.find("resolve \"nosuchhost.invalid\""), std::string::npos) << o.what;
  EXPECT_TRUE(o.resolve_or_system_category) << o.what;
}

namespace {

TEST(ConstBufferTest, CharArraysStopAtTheirEndOrFirstNul) {
  // A string literal: its characters without the NUL.
  EXPECT_EQ(spindle::net::ConstBuffer("abc").size, 3u);
  // A filled char array with no NUL: all of it, never read past its end (ASan checks).
  char raw[8];
  for (char& c : raw) c = 'x';
  EXPECT_EQ(spindle::net::ConstBuffer(raw).size, 8u);
  // A NUL inside: up to it.
  char text[16] = "hi";
  EXPECT_EQ(spindle::net::ConstBuffer(text).size, 2u);
  // Pointers are C strings; (pointer, size) is raw bytes.
  const char* p = text;
  EXPECT_EQ(spindle::net::ConstBuffer(p).size, 2u);
  EXPECT_EQ(spindle::net::ConstBuffer(text, sizeof text).size, 16u);
  std::string s("a\0b", 3);
  EXPECT_EQ(spindle::net::ConstBuffer(s).size, 3u);
}

}  // namespace
