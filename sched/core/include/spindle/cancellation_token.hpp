/// @file
/// spindle/cancellation_token.hpp: CancellationToken, a tree of thread-safe cancellation flags with
/// callbacks, and CancellationRegistration, the RAII handle of one callback.
#pragma once

#include <cstddef>
#include <functional>

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

namespace detail {
struct SPINDLE_INTERNAL TokenNode;
struct SPINDLE_INTERNAL TokenAccess;
struct SPINDLE_INTERNAL CallbackState;
}  // namespace detail

class CancellationToken;

/// CancellationRegistration owns one callback registered with CancellationToken::on_cancel.
/// Movable, not copyable; default-constructs empty. Destroying (or reset()ting, or move-assigning
/// over) a registration deregisters its callback:
///   - if the callback has not started, it is removed and never runs;
///   - if it is running on another thread right now, the destructor blocks the calling OS thread
///     (even inside a fiber) until the callback returns, like std::stop_callback, so that whatever
///     the callback captured may be destroyed right after;
///   - if it is running on this thread (the callback destroys its own registration, possibly
///     through a callback of another token it cancelled), it does not wait: the callback keeps
///     running and its captures stay valid (it runs from a copy moved out of the registration), but
///     it must not rely on the registration object itself afterwards;
///   - if it has already run, nothing happens.
/// Two callbacks that each destroy the other's registration from different threads while both run
/// deadlock, as with std::stop_callback. A registration keeps its token's node alive.
class CancellationRegistration {
 public:
  /// CancellationRegistration constructs an empty registration (valid() == false).
  CancellationRegistration() noexcept = default;
  /// CancellationRegistration takes over `other`'s callback; `other` is left empty.
  CancellationRegistration(CancellationRegistration&& other) noexcept;
  /// operator= deregisters the current callback (see reset), then takes over `other`'s.
  CancellationRegistration& operator=(CancellationRegistration&& other) noexcept;
  CancellationRegistration(const CancellationRegistration&) = delete;
  CancellationRegistration& operator=(const CancellationRegistration&) = delete;
  /// ~CancellationRegistration deregisters the callback (see the class comment; may block).
  ~CancellationRegistration();

  /// reset deregisters the callback now (see the class comment: may block while the callback runs
  /// on another thread) and leaves the registration empty. No-op when empty.
  void reset() noexcept;
  /// valid says whether the registration holds a callback (false when empty, moved-from, reset, or
  /// when on_cancel ran the callback at once because the token was already cancelled). A callback
  /// that has already run still counts until the registration is reset or destroyed.
  bool valid() const noexcept { return state_ != nullptr; }

 private:
  friend class CancellationToken;
  explicit CancellationRegistration(detail::CallbackState* state) noexcept : state_(state) {}

  detail::CallbackState* state_ = nullptr;
};

/// CancellationToken is a shared cancellation flag with callbacks, arranged in a tree: a token made
/// by child() is cancelled whenever its parent is, never the other way round. A CancellationToken
/// is a handle: copies share the same token (like std::shared_ptr), there is no empty token, and
/// every member function is thread-safe. Cancellation is one-way and permanent.
///
/// Memory: a token lives while any handle, registration or child token refers to it. A child keeps
/// its ancestors alive (so that cancelling any of them still reaches it), but a parent does not
/// keep its children: when the last handle of a child goes, the child is unlinked from its parent
/// and freed, so a long-lived parent does not accumulate dead children. Chains of any depth are
/// cancelled and freed without recursion.
class CancellationToken {
 public:
  /// CancellationToken makes a new root token, not cancelled. Allocates one node; throws
  /// std::bad_alloc.
  CancellationToken();
  /// CancellationToken(other) makes another handle to `other`'s token. Never blocks.
  CancellationToken(const CancellationToken& other) noexcept;
  /// operator= makes this a handle to `other`'s token, dropping the old one.
  CancellationToken& operator=(const CancellationToken& other) noexcept;
  /// ~CancellationToken drops this handle; the last reference frees the token (and unlinks it from
  /// its parent, which takes the parent's internal lock for a moment).
  ~CancellationToken();

  /// child makes a new token that is cancelled whenever this one is (including when this one is
  /// cancelled through one of its own ancestors); cancelling the child leaves this token alone. The
  /// child of an already-cancelled token is born cancelled. Allocates one node (throws
  /// std::bad_alloc); takes this token's internal lock for a moment.
  CancellationToken child() const;

  /// cancel cancels the token and its whole subtree, then returns true; returns false at once if
  /// the token was already cancelled (idempotent, and a concurrent second call does not wait for
  /// the first to finish). The winning call first sets the flag (is_cancelled() turns true), then
  /// runs every callback registered on this token exactly once, in registration order, then does
  /// the same for each not-yet-cancelled descendant, depth-first, iteratively (no recursion,
  /// whatever the depth). Callbacks run on the calling thread with no internal lock held, so they
  /// may cancel any token (this one too: a no-op), register or deregister callbacks, and make or
  /// drop tokens. A callback that throws calls std::terminate. Callbacks should be short and must
  /// not park a fiber (sleep_for, join, ...): "thread" above means OS thread, and the
  /// deregistration rules rely on a callback finishing on the thread that started it. Blocks only
  /// for as long as the callbacks run.
  bool cancel() noexcept;

  /// is_cancelled says whether this token is cancelled: by its own cancel(), or by an ancestor's
  /// once that cancellation reaches it (after the callbacks of the tokens above it have run). One
  /// acquire load: the writes made before that cancel() are visible once it returns true. Never
  /// blocks.
  bool is_cancelled() const noexcept;

  /// on_cancel registers `cb` to run once when the token is cancelled, on the cancelling thread,
  /// and returns the registration that owns it (destroy it to deregister; see
  /// CancellationRegistration). If the token is already cancelled, runs `cb` at once on the caller
  /// and returns an empty registration. O(1). Throws std::invalid_argument if `cb` is empty,
  /// std::bad_alloc; a callback that throws calls std::terminate.
  [[nodiscard]] CancellationRegistration on_cancel(std::function<void()> cb) const;

  /// operator== says whether two handles refer to the same token.
  friend bool operator==(const CancellationToken& a, const CancellationToken& b) noexcept {
    return a.node_ == b.node_;
  }

 private:
  friend struct detail::TokenAccess;
  struct Adopt {};
  CancellationToken(detail::TokenNode* node, Adopt) noexcept : node_(node) {}

  detail::TokenNode* node_;
};

}  // namespace spindle

SPINDLE_API_END
