// libFuzzer target: examples/http_parser.hpp parse_request on any bytes, under the default limits
// and under small ones taken from the input's first bytes. Checks what a server relies on: a
// complete head ends with CRLF CRLF inside the buffer and within max_head_bytes, its declared body
// is within max_body_bytes; an error is one of the statuses the server answers; "incomplete" only
// while the limit has not been reached; and parsing a longer buffer never changes a complete or
// failed verdict (the server parses again as bytes arrive).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "http_parser.hpp"

namespace {

void check(std::string_view buf, const http_example::Limits& limits) {
  const http_example::Request r = http_example::parse_request(buf, limits);
  switch (r.state) {
    case http_example::ParseState::Complete:
      if (r.head_size < 4 || r.head_size > buf.size() || r.head_size > limits.max_head_bytes ||
          buf.substr(r.head_size - 4, 4) != "\r\n\r\n" || r.body_size > limits.max_body_bytes) {
        std::abort();
      }
      break;
    case http_example::ParseState::Error:
      if (r.error_status != 400 && r.error_status != 413 && r.error_status != 431 &&
          r.error_status != 501) {
        std::abort();
      }
      break;
    case http_example::ParseState::Incomplete:
      if (buf.size() >= limits.max_head_bytes) std::abort();
      break;
  }
  // A verdict on a prefix holds for the whole buffer.
  if (r.state != http_example::ParseState::Incomplete && buf.size() > 1) {
    for (std::size_t cut = 1; cut < buf.size(); cut += 1 + buf.size() / 8) {
      const http_example::Request p = http_example::parse_request(buf.substr(0, cut), limits);
      if (p.state == http_example::ParseState::Complete &&
          (r.state != http_example::ParseState::Complete || p.head_size != r.head_size ||
           p.body_size != r.body_size)) {
        std::abort();
      }
      if (p.state == http_example::ParseState::Error && r.state != http_example::ParseState::Error)
        std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view buf(reinterpret_cast<const char*>(data), size);
  check(buf, http_example::Limits{});
  if (size >= 3) {
    http_example::Limits small;
    small.max_head_bytes = 16 + data[0] * 4;
    small.max_header_fields = data[1] % 8;
    small.max_body_bytes = data[2];
    check(buf.substr(3), small);
  }
  return 0;
}
