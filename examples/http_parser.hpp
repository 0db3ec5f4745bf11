// examples/http_parser.hpp: the request-head parser of examples/http_server.cpp, header-only and
// standard library only, so that tests (tests/http_parser_test.cpp) and a fuzzer can call it
// directly. It never allocates and never throws.
//
// parse_request looks at the start of a connection's receive buffer and says whether a complete
// request head is there, what the server needs from it (HEAD or not, keep-alive, body length), or
// which error status to answer with before closing the connection. It never reads a body: it
// reports the body's length (Content-Length) and the server counts and discards that many bytes as
// they arrive, so memory stays bounded by the receive buffer and kMaxHeadBytes whatever a client
// declares. Time limits (the whole-request deadline, the idle timeout) are the server's business:
// see examples/http_server.cpp.
//
// What it accepts (a strict subset of RFC 9112):
//   - empty lines (CRLF) before the request line, which it skips (RFC 9112 §2.2);
//   - a request line `METHOD SP request-target SP HTTP/1.1` (or `HTTP/1.0`): the method a token,
//     the target visible ASCII, exactly one space between the three;
//   - header fields `name: value` ended by CRLF: the name a token (no space before the colon, so
//     obsolete line folding is rejected), the value with no control characters but HTAB;
//   - Content-Length: decimal digits; repeated fields and comma lists are accepted when every
//     value is the same number (RFC 9112 §6.3: "Content-Length: 42, 42");
//   - Connection: "close" ends the connection after the response, "keep-alive" keeps an HTTP/1.0
//     one open ("close" wins when both are listed).
// What it answers with an error (the server then closes):
//   - 400 Bad Request: any other syntax, a bad Content-Length value, Content-Lengths that differ
//     (a request smuggling vector behind a proxy);
//   - 413 Content Too Large: a Content-Length over Limits::max_body_bytes (before any body byte);
//   - 431 Request Header Fields Too Large: a head over Limits::max_head_bytes, or more than
//     Limits::max_header_fields header fields;
//   - 501 Not Implemented: any Transfer-Encoding (chunked bodies are not supported).
// Not checked: Host (RFC 9112 §3.2 wants exactly one in HTTP/1.1), the target's syntax beyond
// visible ASCII, the method's meaning; other fields are ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace http_example {

// kMaxHeadBytes bounds a request head: the empty lines before it, the request line, the header
// fields and the blank line that ends them. A head that has not ended within this many bytes gets
// 431 (the server holds at most this much of an unfinished head in memory).
inline constexpr std::size_t kMaxHeadBytes = 64 * 1024;

// kMaxHeaderFields bounds the number of header field lines in one head; one more gets 431.
inline constexpr std::size_t kMaxHeaderFields = 100;

// kMaxBodyBytes bounds the body length a request may declare (Content-Length); a longer one gets
// 413 as soon as the head is parsed. Bodies are never stored, so this bounds the time and traffic
// one request may take, not memory. examples/http_server's --max-body=N overrides it.
inline constexpr std::uint64_t kMaxBodyBytes = 1024 * 1024;

// Limits are the bounds parse_request enforces; the defaults are the constants above.
struct Limits {
  std::size_t max_head_bytes = kMaxHeadBytes;
  std::size_t max_header_fields = kMaxHeaderFields;
  std::uint64_t max_body_bytes = kMaxBodyBytes;
};

// ParseState says what parse_request found at the start of the buffer.
enum class ParseState {
  Incomplete,  // no complete head yet (and none of the limits is exceeded yet): read more
  Complete,    // a head that the server answers (after its body, if any)
  Error,       // answer Request::error_status with "Connection: close", then close
};

// Request is parse_request's result; which fields mean something depends on `state`.
struct Request {
  ParseState state = ParseState::Incomplete;
  int error_status = 0;         // Error: 400, 413, 431 or 501
  std::size_t head_size = 0;    // Complete: bytes of the head, through its blank line
  std::uint64_t body_size = 0;  // Complete: Content-Length (0 without one); follows the head
  bool head_method = false;     // Complete: the method is HEAD (the response has no body)
  bool http11 = false;          // Complete: HTTP/1.1 (else HTTP/1.0)
  bool keep_alive = false;      // Complete: the connection stays open after the response
};

namespace detail {

inline bool is_tchar(char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

inline bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// is_field_char: a byte allowed in a field value (HTAB, SP, visible ASCII, obs-text).
inline bool is_field_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

inline std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

inline char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace detail

// has_token says whether a comma-separated field value (e.g. of Connection) lists `token`,
// compared case-insensitively, with optional whitespace around the elements.
inline bool has_token(std::string_view value, std::string_view token) noexcept {
  while (!value.empty()) {
    const auto comma = value.find(',');
    if (detail::iequals(detail::trim_ows(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// add_content_length folds one Content-Length field value into `length`: the value must be a
// comma-separated list of decimal numbers (digits only, optional whitespace around each, no empty
// elements), else it returns false. Each number is compared with `length` (the numbers of earlier
// fields); `conflict` is set when one differs. Numbers above 2^64-1 saturate to it (so they count
// as too large, never as a smaller number).
inline bool add_content_length(std::string_view value, std::optional<std::uint64_t>& length,
                               bool& conflict) noexcept {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  for (;;) {
    const auto comma = value.find(',');
    const std::string_view digits = detail::trim_ows(value.substr(0, comma));
    if (digits.empty()) return false;
    std::uint64_t n = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return false;
      const auto d = static_cast<std::uint64_t>(c - '0');
      n = n > (kMax - d) / 10 ? kMax : n * 10 + d;
    }
    if (length && *length != n) conflict = true;
    length = n;
    if (comma == std::string_view::npos) return true;
    value.remove_prefix(comma + 1);
  }
}

// reason_phrase returns the reason phrase for the statuses the server sends ("" for others).
inline std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    default:
      return "";
  }
}

// parse_request parses the request head at the start of `buf` (a connection's unconsumed input:
// the bytes after the previous request's body). Incomplete: read more and call again with the
// longer buffer (it rescans from the start; `buf` is never longer than limits.max_head_bytes plus
// one read when the server uses it that way). Complete: the head is head_size bytes, then
// body_size body bytes, then the next request (pipelining). Error: see the file comment. Bytes
// after the head are never looked at.
inline Request parse_request(std::string_view buf, const Limits& limits = {}) noexcept {
  Request r;
  auto fail = [&r](int status) {
    r.state = ParseState::Error;
    r.error_status = status;
    return r;
  };
  std::size_t start = 0;  // skip empty lines before the request line
  while (buf.size() - start >= 2 && buf[start] == '\r' && buf[start + 1] == '\n') start += 2;
  const std::size_t end = buf.substr(0, limits.max_head_bytes).find("\r\n\r\n", start);
  if (end == std::string_view::npos) {
    // Not ended within the limit: it never will be. Else wait for more.
    return buf.size() >= limits.max_head_bytes ? fail(431) : r;
  }
  std::string_view rest = buf.substr(start, end + 2 - start);  // every line ends with CRLF

  // Request line: METHOD SP target SP version.
  const auto line_end = rest.find("\r\n");
  const std::string_view line = rest.substr(0, line_end);
  rest.remove_prefix(line_end + 2);
  const auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return fail(400);
  const auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return fail(400);
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!detail::is_token(method) || target.empty()) return fail(400);
  for (char c : target) {
    if (c <= ' ' || c >= 0x7f) return fail(400);  // also rejects non-ASCII (char is signed)
  }
  if (version == "HTTP/1.1") {
    r.http11 = true;
  } else if (version != "HTTP/1.0") {
    return fail(400);
  }

  // Header fields.
  std::size_t fields = 0;
  std::optional<std::uint64_t> length;
  bool conflict = false;
  bool transfer_encoding = false;
  bool close = false;
  bool keep_alive = false;
  while (!rest.empty()) {
    const auto eol = rest.find("\r\n");
    const std::string_view h = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    if (++fields > limits.max_header_fields) return fail(431);
    const auto colon = h.find(':');
    if (colon == std::string_view::npos) return fail(400);
    const std::string_view name = h.substr(0, colon);
    const std::string_view value = detail::trim_ows(h.substr(colon + 1));
    if (!detail::is_token(name)) return fail(400);
    for (char c : value) {
      if (!detail::is_field_char(c)) return fail(400);  // bare CR or LF, NUL, ...
    }
    if (detail::iequals(name, "content-length")) {
      if (!add_content_length(value, length, conflict)) return fail(400);
    } else if (detail::iequals(name, "transfer-encoding")) {
      transfer_encoding = true;
    } else if (detail::iequals(name, "connection")) {
      close = close || has_token(value, "close");
      keep_alive = keep_alive || has_token(value, "keep-alive");
    }
  }
  if (transfer_encoding) return fail(501);
  if (conflict) return fail(400);
  if (length && *length > limits.max_body_bytes) return fail(413);

  r.state = ParseState::Complete;
  r.head_size = end + 4;
  r.body_size = length.value_or(0);
  r.head_method = method == "HEAD";
  r.keep_alive = !close && (r.http11 || keep_alive);
  return r;
}

}  // namespace http_example
