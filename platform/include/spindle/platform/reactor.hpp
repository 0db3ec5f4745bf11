// spindle/platform/reactor.hpp: Reactor, the I/O readiness multiplexer below the scheduler.
//
// The layer above (the scheduler's I/O driver) registers each non-blocking fd once with an opaque
// token (typically a pointer to its per-fd waiter state), tries its read/write, and on EAGAIN calls
// arm() and parks the fiber. One thread at a time calls poll() and wakes the waiters of every
// reported token. Two backends implement it: edge-triggered epoll (the default on Linux) and libuv
// (portable, level-triggered underneath).
//
// Reports are hints, never promises:
//  - Spurious readiness is allowed. A report may name a direction that is not (or no longer) ready,
//    may contain bits outside the armed interest, and the same readiness may be reported more than
//    once. The layer above retries the I/O call and, on EAGAIN again, re-arms and parks again.
//  - kHangup and kError are reported whatever the interest; the layer above treats them as "wake
//    both directions": the next read/write returns 0 or the error.
//  - Interest is one-shot: once a direction has been reported it need not be reported again until
//    it is armed again, so the layer above arms before every park. A report that arrives between
//    arm() and the park must be latched by the layer above (like the scheduler's park word does
//    for an unpark that comes before the park).
//  - Readiness is not lost: see arm().
//
// Completion backends: the interface names no readiness mechanism, so an IOCP backend fits it. add
// would associate the handle with the completion port (the token as completion key), arm would
// start the pending operation (a zero-byte WSARecv/WSASend, or an AFD poll request as wepoll and
// mio do) for the interest, poll would be GetQueuedCompletionStatusEx reporting each completion's
// key as the token with the direction that completed, wake a PostQueuedCompletionStatus with a
// reserved key, and remove would cancel the pending operations (CancelIoEx) and wait for their
// completions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace spindle::platform {

// ReactorKind selects a backend for Reactor::create.
enum class ReactorKind : std::uint8_t {
  Epoll,  // Linux epoll, edge-triggered, eventfd wake-up.
  Libuv,  // libuv uv_poll_t handles on a private loop, uv_async_t wake-up.
};

// kReadable, kWritable, kHangup, kError are the readiness bits of ReactorEvent::ready. Interest
// masks (add, arm) use only kReadable and kWritable; other bits there are ignored.
inline constexpr std::uint32_t kReadable = 1;  // read/accept will not block (or returns 0/error)
inline constexpr std::uint32_t kWritable = 2;  // write/connect completion will not block
inline constexpr std::uint32_t kHangup = 4;    // the peer closed (at least its writing side)
inline constexpr std::uint32_t kError = 8;     // an error is pending on the fd

// ReactorEvent is one report of poll(): the token given to add() and what the fd is ready for.
struct ReactorEvent {
  void* token;
  std::uint32_t ready;
};

// Reactor multiplexes readiness of many file descriptors onto one polling thread at a time.
//
// Threads: add, arm, remove and wake may be called from any thread, concurrently with each other
// and with a blocked poll(). poll() itself must be called by one thread at a time: the caller
// serializes it (for example a scheduler worker that holds the "I/O driver" role). For one fd the
// caller orders add before arm, and arm before remove; remove must not race with arm or add on the
// same fd. The destructor must not run concurrently with any other call.
class Reactor {
 public:
  // ~Reactor releases the backend's kernel objects. Registrations still present are dropped (the
  // fds themselves are never closed by the reactor). Never throws.
  virtual ~Reactor();

  // create builds a backend of the given kind. Throws std::system_error (errno, naming the failing
  // call, e.g. "epoll_create1") when the kernel objects cannot be created. Does not block.
  static std::unique_ptr<Reactor> create(ReactorKind kind);

  // kind returns the backend's ReactorKind. Never throws.
  virtual ReactorKind kind() const noexcept = 0;

  // name returns the backend's name, "epoll" or "libuv", a static string. Never throws.
  virtual const char* name() const noexcept = 0;

  // add registers fd (which must stay open until remove() returns) with a non-null opaque token and
  // an initial interest mask (kReadable|kWritable, possibly 0), as if arm(fd, token, interest)
  // followed. Any thread. Readiness of an interest direction that exists at add is reported. Throws
  // std::invalid_argument for a null token and std::system_error (EEXIST if fd is already
  // registered, EBADF, EPERM for fds that cannot be polled such as regular files, ENOMEM) naming
  // the failing call. The epoll backend does not block; the libuv backend may wait for a poll() in
  // progress to apply the registration (that poll is woken at once). The libuv backend puts fd in
  // non-blocking mode.
  virtual void add(int fd, void* token, std::uint32_t interest) = 0;

  // arm (re)states the interest of a registered fd; token must be the one given to add. The layer
  // above calls it right before it parks a waiter after the fd returned EAGAIN. Any thread.
  // Guarantee (no lost edge): readiness for a direction in `interest` that exists at the moment arm
  // is called, or appears afterwards, is reported by a poll() that returns after arm was called
  // (the poll in progress, if it returns later, or a later one). Cheap: the epoll backend makes a
  // system call (EPOLL_CTL_MOD) only when an edge of that direction may already have been reported
  // or the direction is not watched yet, the libuv backend queues the request for the polling
  // thread. Throws std::system_error (ENOENT if fd is not registered, naming the failing call).
  // Never blocks on a poll in progress.
  virtual void arm(int fd, void* token, std::uint32_t interest) = 0;

  // reports_without_arm says whether the backend keeps reporting new readiness without arm(): for
  // as long as fd stays registered and arm() is never called for it, every readiness of a direction
  // in add()'s interest that begins after add is reported by a later poll() (an edge-triggered
  // registration that stays in place, as Go's netpoller uses: epoll). What it does not do is report
  // again a readiness that was reported once and not acted on; that is arm()'s job. So a layer
  // above that always tries its I/O call before it waits, and latches reports that arrive while
  // nobody waits, may skip arm() and save its system call. Never throws.
  virtual bool reports_without_arm() const noexcept { return false; }

  // remove deregisters fd; call it before closing fd (closing a registered fd is a caller bug: the
  // kernel or libuv may keep watching a file the number no longer names, and libuv aborts when it
  // meets a closed fd). Any thread. After it returns, no poll() that starts later reports the
  // token, and the caller may close fd and reuse its number at once. A poll() already in progress
  // may still report the token, so the layer above keeps what the token points to alive until that
  // poll has returned. Throws std::system_error (ENOENT if fd is not registered, naming the failing
  // call). The epoll backend does not block; the libuv backend waits for a poll() in progress to
  // apply the removal (that poll is woken at once).
  virtual void remove(int fd) = 0;

  // poll waits up to timeout_ns nanoseconds (-1 = forever, 0 = do not block) until at least one
  // registered fd is ready or wake() was called, writes up to `max` events to out and returns their
  // count. Returns 0 when woken without readiness, when the timeout expires (never earlier than
  // timeout_ns after the call) or when max is 0. Readiness beyond `max` stays pending for the next
  // poll. Callers serialize poll (one thread at a time; see the class comment). Blocks in the
  // kernel (epoll_pwait2/epoll_wait, or uv_run). Throws std::system_error if the wait fails for a
  // reason other than EINTR (EINTR is retried with the remaining time).
  virtual std::size_t poll(ReactorEvent* out, std::size_t max, std::int64_t timeout_ns) = 0;

  // wake makes a poll() blocked in another thread return soon, or, if none is blocked, the next
  // poll() return without waiting. Any thread; not async-signal-safe. Many wakes before a poll
  // returns coalesce into one (one system call at most). Never throws, never blocks.
  virtual void wake() noexcept = 0;
};

}  // namespace spindle::platform
