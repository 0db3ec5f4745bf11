/// @file
/// spindle/stop_token.hpp: interop between spindle::CancellationToken and std::stop_token, both
/// ways: StopTokenBridge hands a std::stop_token to code that takes one (std::jthread-style APIs,
/// std::condition_variable_any::wait) and requests it when a CancellationToken is cancelled;
/// CancelOnStop cancels a CancellationToken when a std::stop_token is requested (a std::jthread or
/// std::stop_source stopping a tree of fibers). Both are RAII links: the link holds while the
/// object lives, and nothing of it is left once the object is destroyed. Header-only.
///
/// Races: linking is atomic with respect to cancellation from any other thread. A token cancelled
/// (or a stop requested) before or while the link is made is forwarded exactly once, by the
/// constructor itself or by the cancelling thread; never lost, never twice. Destroying a link while
/// its forwarding callback runs on another thread blocks until the callback has returned (the rules
/// of CancellationRegistration and std::stop_callback); the callbacks only request a stop or cancel
/// a token, so the wait is short, and a link may be destroyed from inside a cancellation callback
/// running on the same thread.
#pragma once

#include <memory>
#include <stop_token>
#include <utility>

#include "spindle/cancellation_token.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// StopTokenBridge owns a std::stop_source that is requested when `token` is cancelled (by its own
/// cancel() or through an ancestor). get_token() returns std::stop_tokens of that source.
///
/// Lifetime: while the bridge lives, the cancellation is forwarded; once it is destroyed (or moved
/// from) nothing is forwarded any more. The std::stop_tokens it handed out stay valid objects after
/// that (they share the stop state): one already requested stays requested, one not requested never
/// will be (stop_possible() turns false once no source is left). The bridge keeps `token`'s node
/// alive (a CancellationRegistration). Movable, not copyable.
///
/// Example: run a std::condition_variable_any wait that the fiber's cancellation interrupts:
///   spindle::StopTokenBridge stop(spindle::this_fiber::cancellation_token());
///   cv.wait(lock, stop.get_token(), pred);   // (blocks the worker thread: an OS-level wait)
class StopTokenBridge {
 public:
  /// StopTokenBridge links a new stop source to `token`; if `token` is already cancelled the source
  /// is requested before the constructor returns. Never blocks (beyond the token's lock). Throws
  /// std::bad_alloc.
  explicit StopTokenBridge(const CancellationToken& token)
      : reg_(token.on_cancel([src = source_]() mutable noexcept { src.request_stop(); })) {}
  /// StopTokenBridge(other) takes over `other`'s link (tokens handed out by `other` keep working);
  /// `other` forwards nothing any more. Never blocks, never throws.
  StopTokenBridge(StopTokenBridge&& other) noexcept = default;
  /// operator= unlinks this bridge (may block like ~CancellationRegistration while its forwarding
  /// runs on another thread), then takes over `other`'s link.
  StopTokenBridge& operator=(StopTokenBridge&& other) noexcept = default;
  StopTokenBridge(const StopTokenBridge&) = delete;
  StopTokenBridge& operator=(const StopTokenBridge&) = delete;
  /// ~StopTokenBridge unlinks (may block while the forwarding runs on another thread; see above).
  ~StopTokenBridge() = default;

  /// get_token returns a std::stop_token of the bridge's source (stop_possible() false after a
  /// move). Never blocks, never throws.
  [[nodiscard]] std::stop_token get_token() const noexcept { return source_.get_token(); }
  /// stop_requested says whether the forwarded stop has been requested (the token was cancelled).
  [[nodiscard]] bool stop_requested() const noexcept { return source_.stop_requested(); }

 private:
  /// source_ is declared first: reg_'s callback holds a copy of it, and reg_ is destroyed first.
  std::stop_source source_;
  CancellationRegistration reg_;
};

/// CancelOnStop cancels `token` (and so its subtree and the fibers bound to it) when `stop` is
/// requested, through a std::stop_callback; if `stop` is already requested, the constructor cancels
/// `token` before it returns. cancel() runs on the thread that calls request_stop() and runs the
/// token's callbacks there (CancellationToken::cancel).
///
/// Lifetime: while the object lives, a stop request is forwarded; once it is destroyed (or moved
/// from) nothing is. Destroying it while the forwarding runs on another thread blocks until that
/// cancel() (and its callbacks) returned, as std::stop_callback's destructor does. It keeps a
/// handle to `token` (so the token lives at least as long) and does not keep the stop state alive
/// beyond what std::stop_callback does. Movable (the callback lives on the heap), not copyable.
///
/// Example: stop fibers from a std::jthread's stop request:
///   spindle::CancellationToken tok;
///   spindle::CancelOnStop link(jthread.get_stop_token(), tok);
///   rt.spawn(work, spindle::SpawnOptions{.token = tok});
class CancelOnStop {
 public:
  /// CancelOnStop links `stop` to `token`. A `stop` without a stop state (default-constructed)
  /// never forwards anything. Throws std::bad_alloc.
  CancelOnStop(std::stop_token stop, CancellationToken token)
      : cb_(std::make_unique<std::stop_callback<Cancel>>(std::move(stop),
                                                         Cancel{std::move(token)})) {}

  /// CancelOnStop(other) takes over `other`'s link; `other` forwards nothing any more. Never
  /// blocks.
  CancelOnStop(CancelOnStop&&) noexcept = default;
  /// operator= unlinks this object's stop callback (see the class comment: may block), then takes
  /// over `other`'s.
  CancelOnStop& operator=(CancelOnStop&&) noexcept = default;
  CancelOnStop(const CancelOnStop&) = delete;
  CancelOnStop& operator=(const CancelOnStop&) = delete;
  /// ~CancelOnStop unlinks (see the class comment: may block while the forwarding runs elsewhere).
  ~CancelOnStop() = default;

 private:
  struct Cancel {
    CancellationToken token;
    void operator()() noexcept { token.cancel(); }
  };
  std::unique_ptr<std::stop_callback<Cancel>> cb_;
};

}  // namespace spindle

SPINDLE_API_END
