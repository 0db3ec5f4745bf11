/// @file
/// spindle/spindle.hpp: the whole public API of Spindle in one include. Each header below is one
/// concept and may be included on its own.
#pragma once

/// @namespace spindle
/// The whole public API: the runtime (AsyncRuntime, spawn, JoinHandle), synchronization, channels,
/// cancellation and structured groups. Names in `spindle::detail` are not API.
/// @namespace spindle::this_fiber
/// What the calling fiber does to itself: yield, sleep, its id, its cancellation state, its name.
/// @namespace spindle::net
/// Sockets and addresses: TcpListener, TcpStream, UdpSocket, SocketAddr, resolve.

// The runtime: configuration, spawning, joining, statistics, the calling fiber.
#include "spindle/config.hpp"
#include "spindle/join_handle.hpp"
#include "spindle/runtime.hpp"
#include "spindle/spawn_options.hpp"
#include "spindle/stats.hpp"
#include "spindle/task.hpp"
#include "spindle/this_fiber.hpp"
#include "spindle/version.hpp"

// Fiber-local storage, cancellation, structured groups and the main-in-runtime entry point.
#include "spindle/cancellation_token.hpp"
#include "spindle/fiber_local.hpp"
#include "spindle/run_main.hpp"
#include "spindle/shutdown.hpp"
#include "spindle/stop_token.hpp"
#include "spindle/task_result_bundle.hpp"

// Blocking-style synchronization (fibers and OS threads).
#include "spindle/barrier.hpp"
#include "spindle/condition_variable.hpp"
#include "spindle/event.hpp"
#include "spindle/mutex.hpp"
#include "spindle/semaphore.hpp"
#include "spindle/shared_mutex.hpp"
#include "spindle/wait_group.hpp"

// Message passing.
#include "spindle/channel.hpp"
#include "spindle/channel_error.hpp"
#include "spindle/oneshot.hpp"
#include "spindle/select.hpp"

// Blocking calls off the workers, and networking.
#include "spindle/net/buffer.hpp"
#include "spindle/net/error.hpp"
#include "spindle/net/readiness.hpp"
#include "spindle/net/resolve.hpp"
#include "spindle/net/shutdown.hpp"
#include "spindle/net/socket_addr.hpp"
#include "spindle/net/tcp_listener.hpp"
#include "spindle/net/tcp_stream.hpp"
#include "spindle/net/udp_socket.hpp"
#include "spindle/net/unix_addr.hpp"
#include "spindle/net/unix_listener.hpp"
#include "spindle/net/unix_stream.hpp"
#include "spindle/spawn_blocking.hpp"

// Observability (docs/observability.md)
#include "spindle/dashboard.hpp"
#include "spindle/metrics.hpp"
