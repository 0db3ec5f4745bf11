// examples/http_parser.hpp (the request-head parser of examples/http_server): every rule it
// enforces, its limits at and one past their bounds, and where pipelined requests begin.
#include "http_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace {

using http_example::Limits;
using http_example::parse_request;
using http_example::ParseState;
using http_example::Request;
using namespace std::string_view_literals;

// status returns 0 for a complete head, -1 for an incomplete one, else the error status.
int status(std::string_view buf, const Limits& limits = {}) {
  const Request r = parse_request(buf, limits);
  switch (r.state) {
    case ParseState::Complete:
      return 0;
    case ParseState::Incomplete:
      return -1;
    case ParseState::Error:
      return r.error_status;
  }
  return -2;
}

// body_or_error parses a POST head with `field_lines` and returns its body size, or minus its
// error status.
long long body_or_error(const std::string& field_lines) {
  const Request r = parse_request("POST / HTTP/1.1\r\n" + field_lines + "\r\n");
  return r.state == ParseState::Complete ? static_cast<long long>(r.body_size)
                                         : -static_cast<long long>(r.error_status);
}

// with_fields returns a GET head with `n` header fields.
std::string with_fields(std::size_t n) {
  std::string h = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 0; i < n; ++i) h += "X-F" + std::to_string(i) + ": v\r\n";
  return h + "\r\n";
}

}  // namespace

TEST(HttpParser, SimpleGet) {
  const std::string_view h = "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n";
  const Request r = parse_request(h);
  ASSERT_EQ(r.state, ParseState::Complete);
  EXPECT_EQ(r.head_size, h.size());
  EXPECT_EQ(r.body_size, 0u);
  EXPECT_FALSE(r.head_method);
  EXPECT_TRUE(r.http11);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_TRUE(parse_request("HEAD / HTTP/1.1\r\n\r\n").head_method);
  EXPECT_FALSE(parse_request("head / HTTP/1.1\r\n\r\n").head_method);  // methods are case-sensitive
}

TEST(HttpParser, EveryProperPrefixIsIncomplete) {
  const std::string h = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n";
  for (std::size_t n = 0; n < h.size(); ++n) {
    EXPECT_EQ(status(h.substr(0, n)), -1) << n;
  }
  EXPECT_EQ(status(h), 0);
}

TEST(HttpParser, KeepAliveByVersionAndConnection) {
  struct Case {
    const char* head;
    bool http11;
    bool keep_alive;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\n\r\n", true, true},
      {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", true, false},
      {"GET / HTTP/1.1\r\nconnection: Keep-Alive, CLOSE\r\n\r\n", true, false},  // close wins
      {"GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n", true, true},
      {"GET / HTTP/1.0\r\n\r\n", false, false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, true},
      {"GET / HTTP/1.0\r\nConnection: te,  keep-alive \r\n\r\n", false, true},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false, false},
      {"GET / HTTP/1.0\r\nConnection: keep-alivex\r\n\r\n", false, false},
  };
  for (const Case& c : cases) {
    const Request r = parse_request(c.head);
    ASSERT_EQ(r.state, ParseState::Complete) << c.head;
    EXPECT_EQ(r.http11, c.http11) << c.head;
    EXPECT_EQ(r.keep_alive, c.keep_alive) << c.head;
  }
}

TEST(HttpParser, BadRequestLines) {
  for (const char* h : {
           "NONSENSE\r\n\r\n", "GET /\r\n\r\n", "GET / HTTP/1.1 \r\n\r\n",
           "GET  / HTTP/1.1\r\n\r\n",    // two spaces
           "GET /a b HTTP/1.1\r\n\r\n",  // space in the target
           " GET / HTTP/1.1\r\n\r\n",
           "G(T / HTTP/1.1\r\n\r\n",  // not a token
           "GET / HTTP/2.0\r\n\r\n", "GET / http/1.1\r\n\r\n", "GET / HTTP/1.1x\r\n\r\n",
           "GET /\x01 HTTP/1.1\r\n\r\n",
           "GET /\xc3\xa9 HTTP/1.1\r\n\r\n",  // non-ASCII target
           "GET /\r HTTP/1.1\r\n\r\n",        // bare CR
           "GET / HTTP/1.1\n\r\n\r\n",        // bare LF
       }) {
    EXPECT_EQ(status(h), 400) << h;
  }
}

TEST(HttpParser, BadHeaderFields) {
  for (const char* h : {
           "GET / HTTP/1.1\r\nNoColon\r\n\r\n", "GET / HTTP/1.1\r\n: empty name\r\n\r\n",
           "GET / HTTP/1.1\r\nHost : x\r\n\r\n",             // space before the colon
           "GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n",   // would hide a length
           "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",   // obsolete line folding
           "GET / HTTP/1.1\r\nHost: x\r\n\tfolded\r\n\r\n",  // obsolete line folding
           "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",              // bare CR in a value
           "GET / HTTP/1.1\r\nX: a\nb\r\n\r\n",              // bare LF in a value
           "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n",             // DEL
       }) {
    EXPECT_EQ(status(h), 400) << h;
  }
  EXPECT_EQ(status("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"sv), 400);  // NUL
  // Tabs and obs-text are allowed in values, and whitespace around them is not part of them.
  EXPECT_EQ(status("GET / HTTP/1.1\r\nX: \ta\tb \xe9\r\n\r\n"), 0);
}

TEST(HttpParser, ContentLengthValues) {
  const auto body = body_or_error;
  EXPECT_EQ(body("Content-Length: 0\r\n"), 0);
  EXPECT_EQ(body("Content-Length: 42\r\n"), 42);
  EXPECT_EQ(body("content-length:42\r\n"), 42);
  EXPECT_EQ(body("CONTENT-LENGTH: \t 42 \t\r\n"), 42);
  EXPECT_EQ(body("Content-Length: 007\r\n"), 7);
  for (const char* bad :
       {"", " ", "-1", "+1", "0x10", "1e3", "4 2", "42a", "4,", ",4", "4,,4", "\"4\"", "4;q=1"}) {
    EXPECT_EQ(body(std::string("Content-Length: ") + bad + "\r\n"), -400) << "'" << bad << "'";
  }
}

TEST(HttpParser, DuplicateContentLengths) {
  const auto body = body_or_error;
  // Identical values, repeated or listed, are one length.
  EXPECT_EQ(body("Content-Length: 5\r\nContent-Length: 5\r\n"), 5);
  EXPECT_EQ(body("Content-Length: 5, 5,5\r\n"), 5);
  EXPECT_EQ(body("Content-Length: 5\r\nHost: x\r\ncontent-length: 05\r\n"), 5);
  // Different ones are rejected, wherever they are (RFC 9112 §6.3).
  EXPECT_EQ(body("Content-Length: 5\r\nContent-Length: 6\r\n"), -400);
  EXPECT_EQ(body("Content-Length: 6\r\nContent-Length: 5\r\n"), -400);
  EXPECT_EQ(body("Content-Length: 5, 6\r\n"), -400);
  EXPECT_EQ(body("Content-Length: 5\r\nContent-Length: 5, 0\r\n"), -400);
  EXPECT_EQ(body("Content-Length: 0\r\nContent-Length: 2000000\r\n"), -400);  // not 413
  EXPECT_EQ(body("Content-Length: 5\r\nContent-Length: x\r\n"), -400);
}

TEST(HttpParser, BodyLimit) {
  const Limits limits;
  const std::string max = std::to_string(limits.max_body_bytes);
  const std::string over = std::to_string(limits.max_body_bytes + 1);
  const Request at = parse_request("POST / HTTP/1.1\r\nContent-Length: " + max + "\r\n\r\n");
  ASSERT_EQ(at.state, ParseState::Complete);
  EXPECT_EQ(at.body_size, http_example::kMaxBodyBytes);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: " + over + "\r\n\r\n"), 413);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n"), 413);
  // Past 2^64-1 saturates (too large), never wraps around to a small length.
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 18446744073709551621\r\n\r\n"), 413);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n"), 413);
  Limits small;
  small.max_body_bytes = 10;
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n", small), 0);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", small), 413);
  small.max_body_bytes = 0;
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", small), 0);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\n", small), 413);
}

TEST(HttpParser, TransferEncodingIsNotImplemented) {
  EXPECT_EQ(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
  EXPECT_EQ(status("POST / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
            501);
  EXPECT_EQ(status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
}

TEST(HttpParser, HeaderFieldCountLimit) {
  const Limits limits;
  EXPECT_EQ(status(with_fields(limits.max_header_fields)), 0);
  EXPECT_EQ(status(with_fields(limits.max_header_fields + 1)), 431);
  EXPECT_EQ(status(with_fields(1000)), 431);
  Limits small;
  small.max_header_fields = 2;
  EXPECT_EQ(status(with_fields(2), small), 0);
  EXPECT_EQ(status(with_fields(3), small), 431);
  small.max_header_fields = 0;
  EXPECT_EQ(status(with_fields(0), small), 0);
  EXPECT_EQ(status(with_fields(1), small), 431);
}

TEST(HttpParser, HeadSizeLimit) {
  const Limits limits;
  // A head exactly kMaxHeadBytes long, blank line included, is accepted; one byte more is not.
  const std::string start = "GET / HTTP/1.1\r\nX: ";
  const std::string end = "\r\n\r\n";
  const std::string at = start + std::string(limits.max_head_bytes - start.size() - 4, 'a') + end;
  ASSERT_EQ(at.size(), limits.max_head_bytes);
  const Request r = parse_request(at);
  ASSERT_EQ(r.state, ParseState::Complete);
  EXPECT_EQ(r.head_size, at.size());
  const std::string over = start + std::string(at.size() - start.size() - 3, 'a') + end;
  EXPECT_EQ(status(over), 431);
  // An unfinished head is waited for below the limit and rejected at it.
  EXPECT_EQ(status(over.substr(0, limits.max_head_bytes - 1)), -1);
  EXPECT_EQ(status(over.substr(0, limits.max_head_bytes)), 431);
  // Empty lines before the request line count.
  EXPECT_EQ(status(std::string(limits.max_head_bytes, '\n')), 431);
  std::string crlfs;
  while (crlfs.size() < limits.max_head_bytes) crlfs += "\r\n";
  EXPECT_EQ(status(crlfs), 431);
  EXPECT_EQ(status(crlfs.substr(0, 1000)), -1);
  Limits small;
  small.max_head_bytes = 20;
  EXPECT_EQ(status("GET / HTTP/1.1\r\n\r\n", small), 0);  // 18 bytes
  EXPECT_EQ(status("GET /abc HTTP/1.1\r\n\r\n", small), 431);
}

TEST(HttpParser, LeadingEmptyLinesAreSkipped) {
  const std::string h = "\r\n\r\nGET / HTTP/1.1\r\n\r\n";
  const Request r = parse_request(h);
  ASSERT_EQ(r.state, ParseState::Complete);
  EXPECT_EQ(r.head_size, h.size());
  EXPECT_EQ(status("\r\n"), -1);
  EXPECT_EQ(status("\r\n\r\n"), -1);
  EXPECT_EQ(status("\r\n\r\n\r"), -1);
  EXPECT_EQ(status("\n\r\n\r\n"), 400);
}

TEST(HttpParser, PipelinedRequestBoundaries) {
  // Three requests back to back; each one's head_size + body_size is where the next begins, and
  // the parser never looks past its own head (a body that looks like a head is not parsed).
  const std::string a = "POST /a HTTP/1.1\r\nContent-Length: 22\r\n\r\n";
  const std::string a_body = "GET /fake HTTP/1.1\r\n\r\n";
  const std::string b = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string c = "GET /c HTTP/1.0\r\n\r\n";
  const std::string all = a + a_body + b + c;
  std::string_view rest = all;
  const Request ra = parse_request(rest);
  ASSERT_EQ(ra.state, ParseState::Complete);
  EXPECT_EQ(ra.head_size, a.size());
  EXPECT_EQ(ra.body_size, a_body.size());
  rest.remove_prefix(ra.head_size + ra.body_size);
  const Request rb = parse_request(rest);
  ASSERT_EQ(rb.state, ParseState::Complete);
  EXPECT_EQ(rb.head_size, b.size());
  EXPECT_EQ(rb.body_size, 0u);
  EXPECT_TRUE(rb.keep_alive);
  rest.remove_prefix(rb.head_size);
  const Request rc = parse_request(rest);
  ASSERT_EQ(rc.state, ParseState::Complete);
  EXPECT_EQ(rc.head_size, c.size());
  EXPECT_FALSE(rc.keep_alive);
  rest.remove_prefix(rc.head_size);
  EXPECT_TRUE(rest.empty());
  // Bytes after a head (the next request's start, or garbage) do not change it.
  EXPECT_EQ(parse_request(b + "GET /next HT").head_size, b.size());
  EXPECT_EQ(parse_request(b + "\x01\x02garbage").state, ParseState::Complete);
}

TEST(HttpParser, ReasonPhrases) {
  EXPECT_EQ(http_example::reason_phrase(200), "OK");
  EXPECT_EQ(http_example::reason_phrase(400), "Bad Request");
  EXPECT_EQ(http_example::reason_phrase(408), "Request Timeout");
  EXPECT_EQ(http_example::reason_phrase(413), "Content Too Large");
  EXPECT_EQ(http_example::reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(http_example::reason_phrase(501), "Not Implemented");
}

TEST(HttpParser, HasToken) {
  EXPECT_TRUE(http_example::has_token("close", "close"));
  EXPECT_TRUE(http_example::has_token(" a ,\tClose\t", "close"));
  EXPECT_FALSE(http_example::has_token("closed", "close"));
  EXPECT_FALSE(http_example::has_token("", "close"));
  EXPECT_FALSE(http_example::has_token(",,", "close"));
}
