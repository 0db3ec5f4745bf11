// spindle/detail/cancel_hook.hpp: the allocation-free callback hook that binds runtime objects
// (tasks) to a CancellationToken, and debug counters for the tests. Not part of the public API: use
// CancellationToken::on_cancel.
#pragma once

#include <cstddef>

#include "spindle/cancellation_token.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::detail {

// CancelHook is one callback slot in a token's intrusive, doubly-linked callback list: the owner
// embeds it (no allocation), sets `fn` and attaches it with token_attach. While attached, every
// field belongs to the token (guarded by its internal lock): the owner must not touch them.
struct CancelHook {
  // prev, next link the hook into the token's list while attached.
  CancelHook* prev = nullptr;
  CancelHook* next = nullptr;
  // fn is called once, with this hook, when the token is cancelled: on the cancelling thread, with
  // no internal lock held, after the hook has been unlinked (so fn may call token_detach on it, a
  // no-op, or destroy the hook's storage). The token never touches the hook after fn returns.
  void (*fn)(CancelHook* self) noexcept = nullptr;
  // linked says whether the hook is in a token's list (guarded by that token's lock).
  bool linked = false;
};

// token_attach appends `hook` to `token`'s callback list (O(1)) and returns true, or returns false
// and leaves `hook` alone if the token is already cancelled (fn is then NOT called: the caller
// handles that case). The caller must keep a handle to the same token until it has called
// token_detach, or until it knows fn has returned. Takes the token's internal lock for a moment.
bool token_attach(const CancellationToken& token, CancelHook* hook) noexcept;

// token_detach removes `hook` from `token`'s list (O(1)) so that fn never runs. If fn has already
// started on another thread, blocks the calling OS thread until it returns; if it runs on this
// thread (fn detaches its own hook, directly or through nested cancellations), returns at once; if
// fn has already returned, or the hook was never attached, does nothing. After token_detach
// returns, the token no longer refers to `hook`.
void token_detach(const CancellationToken& token, CancelHook* hook) noexcept;

// token_child_count returns how many child tokens are currently linked to `token` (for tests: dead
// children must not accumulate).
std::size_t token_child_count(const CancellationToken& token) noexcept;

// token_use_count returns the number of references to `token`'s node: handles, registrations,
// linked children, and cancellations in progress (for tests).
std::size_t token_use_count(const CancellationToken& token) noexcept;

// token_waiter_count returns how many token_detach calls are blocked waiting for a callback of
// `token` that runs on another thread (for tests that need that ordering without sleeping).
std::size_t token_waiter_count(const CancellationToken& token) noexcept;

}  // namespace spindle::detail

SPINDLE_API_END
