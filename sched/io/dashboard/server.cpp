// DashboardServer: the built-in HTTP endpoint (docs/observability.md, "The HTTP endpoint"). One
// accept fiber; one fiber per connection, which reads one request head (bounded in size and time),
// answers it and closes. Everything runs in the runtime's fibers with fiber-blocking I/O.
#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "dashboard/page.hpp"
#include "spindle/cancellation_token.hpp"
#include "spindle/dashboard.hpp"
#include "spindle/metrics.hpp"
#include "spindle/net/tcp_listener.hpp"
#include "spindle/net/tcp_stream.hpp"
#include "spindle/spawn_options.hpp"

namespace spindle {

struct detail::DashboardState {
  AsyncRuntime* rt;
  DashboardOptions opts;
  CancellationToken token;
  std::atomic<std::size_t> connections{0};
};

namespace {

using Clock = std::chrono::steady_clock;

struct Response {
  int status = 200;
  const char* type = "text/plain; charset=utf-8";
  std::string body;
};

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    default:
      return "Error";
  }
}

Response error(int status) {
  Response r;
  r.status = status;
  r.body = std::to_string(status) + " " + reason(status) + "\n";
  return r;
}

bool is_tchar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// route answers a parsed request for `path` and `query`.
Response route(detail::DashboardState& st, std::string_view path, std::string_view query) {
  Response r;
  if (path == "/metrics") {
    r.type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = to_prometheus(metrics_snapshot(*st.rt));
  } else if (path == "/stats.json") {
    r.type = "application/json";
    r.body = to_json(metrics_snapshot(*st.rt));
  } else if (path == "/fibers" && query != "format=text") {
    r.type = "application/json";
    r.body = fibers_to_json(st.rt->fibers(st.opts.max_fibers));
  } else if (path == "/fibers.txt" || path == "/fibers") {
    r.body = fibers_to_text(st.rt->fibers(st.opts.max_fibers));
  } else if (path == "/" || path == "/index.html") {
    r.type = "text/html; charset=utf-8";
    r.body = std::string(detail::dashboard_page());
  } else {
    r = error(404);
  }
  return r;
}

// dashboard_respond answers one request head (request line and headers, each line ending in CRLF)
// with a whole HTTP response; head_only is set for HEAD.
std::string dashboard_respond(detail::DashboardState& st, std::string_view head, bool& head_only) {
  head_only = false;
  const std::size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  Response r;
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    r = error(400);
  } else {
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    bool ok = version == "HTTP/1.1" || version == "HTTP/1.0";
    for (char c : method) ok = ok && is_tchar(c);
    for (char c : target) ok = ok && static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
    if (!ok || target.empty() || target.front() != '/') {
      r = error(400);
    } else if (method != "GET" && method != "HEAD") {
      r = error(405);
    } else {
      head_only = method == "HEAD";
      const std::size_t q = target.find('?');
      const std::string_view path = target.substr(0, q);
      const std::string_view query =
          q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
      try {
        r = route(st, path, query);
      } catch (const std::exception&) {
        r = error(500);
      }
    }
  }
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) +
                    "\r\nContent-Type: " + r.type +
                    "\r\nContent-Length: " + std::to_string(r.body.size()) +
                    "\r\nCache-Control: no-store\r\nConnection: close\r\n";
  if (r.status == 405) out += "Allow: GET, HEAD\r\n";
  out += "\r\n";
  if (!head_only) out += r.body;
  return out;
}

void serve_connection(const std::shared_ptr<detail::DashboardState>& st, net::TcpStream& s) {
  const Clock::time_point deadline = Clock::now() + st->opts.request_timeout;
  std::string buf;
  char chunk[2048];
  std::string reply;
  for (;;) {
    const std::size_t end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      bool head_only = false;
      reply = dashboard_respond(*st, std::string_view(buf).substr(0, end + 2), head_only);
      break;
    }
    if (buf.size() > st->opts.max_request_bytes) {
      reply =
          "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
          "Connection: close\r\n\r\n";
      break;
    }
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) {
      reply = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      break;
    }
    std::size_t n = 0;
    try {
      n = s.read_for(net::MutableBuffer(chunk, sizeof chunk), left);
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::timed_out) return;
      continue;  // the deadline check above answers 408
    }
    if (n == 0) return;  // the client went away
    buf.append(chunk, n);
  }
  // A late error answer (408) still gets a short grace to be written.
  const auto left =
      std::max<Clock::duration>(deadline - Clock::now(), std::chrono::milliseconds(100));
  s.write_all_for(reply, left);
  s.shutdown(net::Shutdown::Write);
}

void accept_loop(std::shared_ptr<detail::DashboardState> st,
                 std::shared_ptr<net::TcpListener> listener) {
  for (;;) {
    net::Accepted a = listener->accept();  // a cancellation point (the server's token)
    if (st->connections.fetch_add(1, std::memory_order_relaxed) >= st->opts.max_connections) {
      st->connections.fetch_sub(1, std::memory_order_relaxed);
      continue;  // over the bound: the stream closes here
    }
    SpawnOptions so;
    so.token = st->token;
    st->rt
        ->spawn(
            [st, s = std::make_shared<net::TcpStream>(std::move(a.stream))] {
              try {
                serve_connection(st, *s);
              } catch (...) {
                // A reset, a timeout or cancellation: the connection just ends.
              }
              st->connections.fetch_sub(1, std::memory_order_relaxed);
            },
            so)
        .detach();
  }
}

void check_options(const DashboardOptions& o) {
  auto bad = [](const char* field, const std::string& value, const char* range) {
    throw std::invalid_argument(std::string("spindle::DashboardOptions::") + field + " = " + value +
                                " is out of range: allowed range is " + range);
  };
  if (o.max_request_bytes < 256 || o.max_request_bytes > (1u << 20)) {
    bad("max_request_bytes", std::to_string(o.max_request_bytes), "256 to 1048576");
  }
  if (o.request_timeout < std::chrono::milliseconds(1) ||
      o.request_timeout > std::chrono::hours(1)) {
    bad("request_timeout", std::to_string(o.request_timeout.count()) + "ns", "1ms to 1h");
  }
  if (o.max_connections < 1 || o.max_connections > 65536) {
    bad("max_connections", std::to_string(o.max_connections), "1 to 65536");
  }
  if (o.max_fibers < 1 || o.max_fibers > 10000000) {
    bad("max_fibers", std::to_string(o.max_fibers), "1 to 10000000");
  }
}

}  // namespace

DashboardServer::DashboardServer(AsyncRuntime& rt, const net::SocketAddr& addr,
                                 const DashboardOptions& opts) {
  check_options(opts);
  state_ = std::make_shared<detail::DashboardState>();
  state_->rt = &rt;
  state_->opts = opts;
  // Bind inside a fiber of `rt` (the listener registers with that runtime's I/O driver), then
  // start the accept loop bound to the server's token.
  auto st = state_;
  auto setup = rt.spawn([st, addr] {
    auto listener = std::make_shared<net::TcpListener>(net::TcpListener::bind(addr));
    const net::SocketAddr local = listener->local_addr();
    SpawnOptions so;
    so.token = st->token;
    JoinHandle<void> loop = st->rt->spawn([st, listener] { accept_loop(st, listener); }, so);
    return std::make_pair(local, std::move(loop));
  });
  auto [local, loop] = setup.join();
  addr_ = local;
  loop_ = std::move(loop);
}

DashboardServer::~DashboardServer() {
  stop();
}

net::SocketAddr DashboardServer::local_addr() const noexcept {
  return addr_;
}

void DashboardServer::stop() noexcept {
  if (!state_) return;
  state_->token.cancel();
  if (loop_.valid()) {
    try {
      loop_.wait(false);
    } catch (...) {
    }
    loop_.detach();
  }
}

}  // namespace spindle
