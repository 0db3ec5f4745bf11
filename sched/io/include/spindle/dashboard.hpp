/// @file
/// spindle/dashboard.hpp: DashboardServer, the runtime's built-in HTTP endpoint (Prometheus
/// metrics, JSON stats, the fiber list and a live dashboard page), served by the runtime's own
/// fibers. docs/observability.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>

#include "spindle/join_handle.hpp"
#include "spindle/net/socket_addr.hpp"
#include "spindle/runtime.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

namespace detail {
struct DashboardState;
}  // namespace detail

/// DashboardOptions bounds what one client may cost the endpoint.
struct DashboardOptions {
  /// max_request_bytes bounds a request's head (request line and headers); a longer one gets 431.
  /// 256 B..1 MiB.
  std::size_t max_request_bytes = 8192;
  /// request_timeout bounds the time from accepting a connection to the end of the response;
  /// a client that sends its request slower is dropped (408 when its request is incomplete).
  /// 1 ms..1 h.
  std::chrono::nanoseconds request_timeout = std::chrono::seconds(5);
  /// max_connections bounds the connections served at once; more are closed at accept (1..65536).
  std::size_t max_connections = 64;
  /// max_fibers bounds the fibers listed by /fibers and the page (1..10^7).
  std::size_t max_fibers = 1000;
};

/// DashboardServer serves a runtime's observability endpoint over HTTP/1.1 (one request per
/// connection) from fibers of that runtime (an accept loop, one fiber per connection; all I/O is
/// fiber-blocking, so it never blocks a worker). Routes (GET or HEAD):
///   - `/metrics`: to_prometheus(metrics_snapshot(rt)), `text/plain; version=0.0.4`;
///   - `/stats.json`: to_json(metrics_snapshot(rt));
///   - `/fibers`: fibers_to_json(rt.fibers(max_fibers)); `/fibers?format=text` or `/fibers.txt`:
///     fibers_to_text;
///   - `/`: the dashboard page (self-contained HTML, inline script and style, no network access),
///     which polls `/stats.json` and `/fibers` once a second and charts them.
///
/// Anything else gets 404; a malformed request 400; a method other than GET/HEAD 405; an oversized
/// head 431. Destroy (or stop()) the server before a graceful AsyncRuntime::shutdown(), which waits
/// for every fiber, the accept loop included.
class DashboardServer {
 public:
  /// DashboardServer binds `addr` (port 0: an ephemeral port, see local_addr()) on `rt` and starts
  /// serving. Call it from outside `rt`'s fibers or from one of them. Throws
  /// std::invalid_argument naming the DashboardOptions field and its range for bad options,
  /// std::system_error if the address cannot be bound, std::runtime_error once `rt` shuts down.
  DashboardServer(AsyncRuntime& rt, const net::SocketAddr& addr, const DashboardOptions& opts = {});
  /// ~DashboardServer is stop().
  ~DashboardServer();
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  /// local_addr returns the bound address (with the actual port).
  net::SocketAddr local_addr() const noexcept;
  /// stop cancels the accept loop and every connection fiber and waits for the accept loop to
  /// end. Idempotent; never throws.
  void stop() noexcept;

 private:
  std::shared_ptr<detail::DashboardState> state_;
  net::SocketAddr addr_;
  JoinHandle<void> loop_;
};

}  // namespace spindle

SPINDLE_API_END
