// examples/http_server.cpp: a minimal HTTP/1.1 server answering "hello" to every request, one
// fiber per connection, plain blocking code.
//
//   http_server [--port=N] [--host=IP] [--workers=N] [--reactor=auto|epoll|libuv]
//
// Prints `listening port=<n>` (flushed) once it accepts connections; SIGINT/SIGTERM stop it
// (status 0). HTTP/1.1 keep-alive (HTTP/1.0 only with "Connection: keep-alive"), pipelined
// requests (all complete requests in the buffer are answered with one write), requests split
// across reads, request bodies by Content-Length (read and ignored), "Connection: close". Chunked
// request bodies get 501, malformed requests 400, headers over 64 KiB 431; each closes the
// connection. An idle connection is closed after 30 s.
//
//   wrk -c100 -t1 -d5s http://127.0.0.1:<n>/
#include <spindle/net/tcp_listener.hpp>
#include <spindle/runtime.hpp>
#include <spindle/shutdown.hpp>
#include <spindle/this_fiber.hpp>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

using namespace std::chrono_literals;

namespace {

constexpr std::size_t kMaxHeader = 64 * 1024;
constexpr std::string_view kBody = "hello";

struct Options {
  int port = 0;
  std::string host = "127.0.0.1";
  unsigned workers = 0;
  spindle::ReactorBackend reactor = spindle::ReactorBackend::Auto;
};

[[noreturn]] void usage(const char* bad) {
  std::fprintf(stderr,
               "http_server: bad argument '%s'\n"
               "usage: http_server [--port=N] [--host=IP] [--workers=N] "
               "[--reactor=auto|epoll|libuv]\n",
               bad);
  std::exit(2);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&a](std::string_view key) -> const char* {
      return a.substr(0, key.size()) == key ? a.data() + key.size() : nullptr;
    };
    char* end = nullptr;
    if (const char* v = value("--port=")) {
      const long p = std::strtol(v, &end, 10);
      if (*v == '\0' || *end != '\0' || p < 0 || p > 65535) usage(argv[i]);
      o.port = static_cast<int>(p);
    } else if (const char* v = value("--host=")) {
      o.host = v;
    } else if (const char* v = value("--workers=")) {
      const long n = std::strtol(v, &end, 10);
      if (*v == '\0' || *end != '\0' || n < 0 || n > 1024) usage(argv[i]);
      o.workers = static_cast<unsigned>(n);
    } else if (const char* v = value("--reactor=")) {
      const std::string_view r = v;
      if (r == "auto") {
        o.reactor = spindle::ReactorBackend::Auto;
      } else if (r == "epoll") {
        o.reactor = spindle::ReactorBackend::Epoll;
      } else if (r == "libuv") {
        o.reactor = spindle::ReactorBackend::Libuv;
      } else {
        usage(argv[i]);
      }
    } else {
      usage(argv[i]);
    }
  }
  return o;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// has_token says whether a comma-separated header value contains `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    std::string_view part = value.substr(0, comma);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (iequals(part, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// Request is what the server needs from one request's head.
struct Request {
  bool ok = false;         // parsed
  int error_status = 400;  // when !ok
  bool head = false;       // HEAD: no body in the response
  bool keep_alive = true;  // after this response
  std::size_t body_len = 0;
};

Request parse_head(std::string_view head) {
  Request r;
  const auto line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const auto sp1 = line.find(' ');
  const auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1 || sp1 == 0) return r;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view version = line.substr(sp2 + 1);
  bool http11;
  if (version == "HTTP/1.1") {
    http11 = true;
  } else if (version == "HTTP/1.0") {
    http11 = false;
  } else {
    return r;
  }
  r.head = method == "HEAD";
  r.keep_alive = http11;
  std::string_view rest = line_end == std::string_view::npos ? "" : head.substr(line_end + 2);
  while (!rest.empty()) {
    const auto eol = rest.find("\r\n");
    const std::string_view h = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? "" : rest.substr(eol + 2);
    const auto colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return r;
    const std::string_view name = h.substr(0, colon);
    std::string_view value = h.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (iequals(name, "content-length")) {
      if (value.empty() || value.size() > 15) return r;
      std::size_t n = 0;
      for (char c : value) {
        if (c < '0' || c > '9') return r;
        n = n * 10 + static_cast<std::size_t>(c - '0');
      }
      r.body_len = n;
    } else if (iequals(name, "transfer-encoding")) {
      r.error_status = 501;
      return r;
    } else if (iequals(name, "connection")) {
      if (has_token(value, "close")) r.keep_alive = false;
      if (has_token(value, "keep-alive")) r.keep_alive = true;
    }
  }
  r.ok = true;
  return r;
}

void append_response(std::string& out, int status, const char* reason, bool with_body,
                     bool keep_alive) {
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason;
  out += "\r\nServer: spindle\r\nContent-Type: text/plain\r\nContent-Length: ";
  out += std::to_string(status == 200 ? kBody.size() : 0);
  out += keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  if (with_body && status == 200) out += kBody;
}

// serve answers the requests of one connection.
void serve(spindle::net::TcpStream& s) {
  std::string in;   // received, not yet consumed
  std::string out;  // responses to send
  char buf[16 * 1024];
  try {
    for (;;) {
      // Answer every complete request in the buffer (pipelining), then send them together.
      std::size_t pos = 0;
      bool close = false;
      for (;;) {
        const auto end = in.find("\r\n\r\n", pos);
        if (end == std::string::npos) {
          if (in.size() - pos > kMaxHeader) {
            append_response(out, 431, "Request Header Fields Too Large", false, false);
            close = true;
          }
          break;
        }
        const Request r = parse_head(std::string_view(in).substr(pos, end - pos));
        if (!r.ok) {
          append_response(out, r.error_status,
                          r.error_status == 501 ? "Not Implemented" : "Bad Request", false, false);
          close = true;
          break;
        }
        const std::size_t next = end + 4 + r.body_len;
        if (in.size() < next) break;  // the body is still coming
        append_response(out, 200, "OK", !r.head, r.keep_alive);
        pos = next;
        if (!r.keep_alive) {
          close = true;
          break;
        }
      }
      in.erase(0, pos);
      if (!out.empty()) {
        s.write_all(out);
        out.clear();
      }
      if (close) break;
      const std::size_t n = s.read_for(buf, 30s);  // idle keep-alive connections time out
      if (n == 0) break;
      in.append(buf, n);
    }
    s.shutdown(spindle::net::Shutdown::Write);
  } catch (const std::system_error&) {
    // Reset, timed out, or gone: close.
  } catch (const spindle::Cancelled&) {
    // Shutting down.
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_args(argc, argv);
  try {
    const spindle::CancellationToken stop = spindle::shutdown_token();
    spindle::AsyncRuntimeConfig cfg;
    cfg.worker_threads = opt.workers;
    cfg.reactor = opt.reactor;
    spindle::AsyncRuntime rt(cfg);
    spindle::net::TcpListener listener = spindle::net::TcpListener::bind(
        spindle::net::SocketAddr::from_ip(opt.host, static_cast<std::uint16_t>(opt.port)));
    std::printf("listening port=%u\n", listener.local_addr().port());
    std::fflush(stdout);
    // Bound to the shutdown token, like the connection fibers (they inherit the binding).
    spindle::SpawnOptions bound;
    bound.token = stop;
    auto acceptor = rt.spawn(
        [&listener] {
          for (;;) {
            auto [stream, peer] = listener.accept();
            spindle::spawn([s = std::move(stream)]() mutable { serve(s); });
          }
        },
        bound);
    try {
      acceptor.join();
    } catch (const spindle::Cancelled&) {
    }
    listener.close();
    rt.shutdown();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http_server: %s\n", e.what());
    return 1;
  }
}
