// examples/http_server.cpp: a minimal HTTP/1.1 server answering "hello" to every request, one
// fiber per connection, plain blocking code.
//
//   http_server [--port=N] [--host=IP] [--workers=N] [--reactor=auto|epoll|libuv]
//               [--max-body=BYTES] [--request-timeout-ms=N]
//
// Prints `listening port=<n>` (flushed) once it accepts connections; SIGINT/SIGTERM stop it
// (status 0); a bad argument prints usage naming it (status 2). HTTP/1.1 keep-alive (HTTP/1.0 only
// with "Connection: keep-alive"), pipelined requests (all complete requests in the buffer are
// answered with one write), requests split across reads, "Connection: close". The request head is
// parsed by examples/http_parser.hpp (its rules and size limits are listed there). Request bodies
// by Content-Length are counted and dropped as they arrive, never stored: a connection holds at
// most one unfinished head (64 KiB) plus one 16 KiB read, whatever the client declares.
//
// Answered with an error, then closed: a malformed head or Content-Lengths that differ 400, a
// request not all in (head and body) 10 s after its first byte 408 (--request-timeout-ms), a body
// over 1 MiB 413 (--max-body), a head over 64 KiB or with over 100 header fields 431, chunked (any
// Transfer-Encoding) 501. A keep-alive connection idle for 30 s between requests is closed, and so
// is one whose client does not take its responses within 30 s. When the server closes, it shuts
// down its sending side and drops what the client still sends until the client's end of stream,
// for at most 1 s, so that the last response is not lost to a reset.
//
//   wrk -c100 -t1 -d5s http://127.0.0.1:<n>/
#include <spindle/net/tcp_listener.hpp>
#include <spindle/runtime.hpp>
#include <spindle/shutdown.hpp>
#include <spindle/this_fiber.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

#include "http_parser.hpp"

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kBody = "hello";

// Time limits of a connection (the size limits are in http_parser.hpp).
// kRequestTimeout: from the first byte of a request until all of it, head and body, is in; a
// request that takes longer gets 408 and the connection is closed (a client sending one byte at a
// time cannot hold a connection). --request-timeout-ms=N overrides it.
constexpr std::chrono::milliseconds kRequestTimeout = 10s;
// kIdleTimeout: between requests on a keep-alive connection (no byte of a next request yet).
constexpr auto kIdleTimeout = 30s;
// kWriteTimeout: for sending the responses of one round (a client that does not read them).
constexpr auto kWriteTimeout = 30s;
// kLingerTime: how long a closing connection keeps reading (and dropping) what the client still
// sends, until its end of stream (RFC 9112 §9.6): closing a socket with unread input resets the
// connection, and the reset can destroy the last response before the client has read it.
constexpr auto kLingerTime = 1s;

// ServeConfig is what each connection needs from the command line.
struct ServeConfig {
  http_example::Limits limits;  // --max-body overrides max_body_bytes
  std::chrono::milliseconds request_timeout = kRequestTimeout;
};

struct Options {
  int port = 0;
  std::string host = "127.0.0.1";
  unsigned workers = 0;
  spindle::ReactorBackend reactor = spindle::ReactorBackend::Auto;
  ServeConfig serve;
};

[[noreturn]] void usage(const char* bad) {
  std::fprintf(stderr,
               "http_server: bad argument '%s'\n"
               "usage: http_server [--port=N] [--host=IP] [--workers=N] "
               "[--reactor=auto|epoll|libuv] [--max-body=BYTES] "
               "[--request-timeout-ms=N]\n",
               bad);
  std::exit(2);
}

// number parses the decimal integer `v` (the value of argument `arg`) in [lo, hi], else usage.
long long number(const char* v, long long lo, long long hi, const char* arg) {
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(v, &end, 10);
  if (*v == '\0' || *end != '\0' || errno != 0 || n < lo || n > hi) usage(arg);
  return n;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&a](std::string_view key) -> const char* {
      return a.substr(0, key.size()) == key ? a.data() + key.size() : nullptr;
    };
    if (const char* v = value("--port=")) {
      o.port = static_cast<int>(number(v, 0, 65535, argv[i]));
    } else if (const char* v = value("--host=")) {
      o.host = v;
    } else if (const char* v = value("--workers=")) {
      o.workers = static_cast<unsigned>(number(v, 0, 1024, argv[i]));
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
    } else if (const char* v = value("--max-body=")) {
      o.serve.limits.max_body_bytes = static_cast<std::uint64_t>(number(v, 0, 1LL << 40, argv[i]));
    } else if (const char* v = value("--request-timeout-ms=")) {
      o.serve.request_timeout = std::chrono::milliseconds(number(v, 1, 3600 * 1000, argv[i]));
    } else {
      usage(argv[i]);
    }
  }
  return o;
}

void append_response(std::string& out, int status, bool with_body, bool keep_alive) {
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += http_example::reason_phrase(status);
  out += "\r\nServer: spindle\r\nContent-Type: text/plain\r\nContent-Length: ";
  out += std::to_string(status == 200 ? kBody.size() : 0);
  out += keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  if (with_body && status == 200) out += kBody;
}

// linger reads and drops input until the client's end of stream, for at most kLingerTime (see
// there); the server's sending side is already shut down. Throws like TcpStream::read_for.
void linger(spindle::net::TcpStream& s, spindle::net::MutableBuffer buf) {
  const auto until = Clock::now() + kLingerTime;
  for (Clock::duration left = kLingerTime; left > 0s; left = until - Clock::now()) {
    if (s.read_for(buf, left) == 0) return;
  }
}

// serve answers the requests of one connection. Memory: `in` holds at most an unfinished head
// (limits.max_head_bytes) plus one read; bodies are counted and dropped, never stored. Time: a
// request must be in within cfg.request_timeout of its first byte, the next one start within
// kIdleTimeout.
void serve(spindle::net::TcpStream& s, const ServeConfig& cfg) {
  using http_example::ParseState;
  std::string in;   // received, not yet consumed
  std::string out;  // responses to send
  char buf[16 * 1024];
  http_example::Request req;    // the request being received
  std::uint64_t body_left = 0;  // bytes of req's body still to come (and be dropped)
  bool in_request = false;      // a request has begun and is not all in yet
  Clock::time_point deadline;   // when in_request: by when it must be all in
  bool peer_done = false;       // the client has ended its sending side
  try {
    for (;;) {
      // Answer every complete request in the buffer (pipelining), then send them together.
      std::size_t pos = 0;
      bool close = false;
      while (!close) {
        if (body_left > 0) {  // drop what is here of the body
          const std::size_t take =
              static_cast<std::size_t>(std::min<std::uint64_t>(body_left, in.size() - pos));
          pos += take;
          body_left -= take;
          if (body_left > 0) break;  // the rest is still coming
        } else {
          if (pos == in.size()) break;
          if (!in_request) {  // the first byte of a request: its deadline starts
            in_request = true;
            deadline = Clock::now() + cfg.request_timeout;
          }
          req = http_example::parse_request(std::string_view(in).substr(pos), cfg.limits);
          if (req.state == ParseState::Incomplete) break;
          if (req.state == ParseState::Error) {
            append_response(out, req.error_status, false, false);
            close = true;
            break;
          }
          pos += req.head_size;
          body_left = req.body_size;
          if (body_left > 0) continue;
        }
        // The request, head and body, is complete.
        in_request = false;
        append_response(out, 200, !req.head_method, req.keep_alive);
        close = !req.keep_alive;
      }
      in.erase(0, pos);
      if (!out.empty()) {
        s.write_all_for(out, kWriteTimeout);
        out.clear();
      }
      if (close) break;
      // Read more: within the request's deadline while one is under way, else the idle timeout
      // (which throws std::errc::timed_out: closed without an answer).
      std::size_t n = 0;
      bool late = false;
      if (!in_request) {
        n = s.read_for(buf, kIdleTimeout);
      } else if (const auto left = deadline - Clock::now(); left <= 0s) {
        late = true;
      } else {
        try {
          n = s.read_for(buf, left);
        } catch (const std::system_error& e) {
          if (e.code() != std::errc::timed_out) throw;
          late = true;
        }
      }
      if (late) {  // too slow: 408, then close
        append_response(out, 408, false, false);
        s.write_all_for(out, kWriteTimeout);
        break;
      }
      if (n == 0) {  // the client is done (mid-request or not): close without an answer
        peer_done = true;
        break;
      }
      in.append(buf, n);
    }
    s.shutdown(spindle::net::Shutdown::Write);
    if (!peer_done) linger(s, buf);
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
        [&listener, &opt] {
          for (;;) {
            auto [stream, peer] = listener.accept();
            spindle::spawn([s = std::move(stream), cfg = opt.serve]() mutable { serve(s, cfg); });
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
