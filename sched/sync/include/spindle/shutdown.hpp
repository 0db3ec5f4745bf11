/// @file
/// spindle/shutdown.hpp: a process-wide CancellationToken cancelled on SIGINT or SIGTERM, for
/// graceful shutdown.
#pragma once

#include "spindle/cancellation_token.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// shutdown_token returns the process-wide shutdown token, cancelled by the first SIGINT or SIGTERM
/// (or by request_shutdown). Derive per-request tokens from it with child(). The first call
/// (thread-safe, done once) installs the signal machinery:
///   - it REPLACES the process's SIGINT and SIGTERM handlers (a handler the program installed
///     before is dropped, not chained; a signal whose disposition is SIG_IGN, as for background
///     jobs of a non-interactive shell, is left ignored). Install your own handlers after this call
///     if you want them instead;
///   - the handler only writes one byte to a pipe (errno saved and restored) and puts SIGINT and
///     SIGTERM back to SIG_DFL, so a second Ctrl-C (or SIGTERM) kills the process the usual way
///     even if shutdown is stuck;
///   - a watcher thread, started here with SIGINT and SIGTERM blocked, reads the pipe and cancels
///     the token: callbacks registered on it run on that thread, then the thread ends. It is
///     detached and its state is deliberately never freed, so it never delays or breaks process
///     exit (exit() ends it wherever it is). A signal that arrives while the process is already
///     exiting may therefore run callbacks concurrently with static destructors: keep shutdown
///     callbacks to flags, notifications and child-token cancellation.
/// The machinery does not survive fork(): a child process must not rely on a shutdown token set up
/// by its parent. Throws std::system_error if the pipe, the handlers or the thread cannot be set up
/// (nothing stays installed, and the next call retries) and std::bad_alloc.
CancellationToken shutdown_token();

/// request_shutdown cancels the shutdown token from the calling thread, which runs its callbacks
/// (see CancellationToken::cancel). Idempotent. Does not install the signal machinery (it neither
/// needs nor changes signal handlers), so it is safe in tests and libraries. Never blocks except
/// for the callbacks; the only failure, running out of memory for the token on the very first use,
/// calls std::terminate.
void request_shutdown() noexcept;

}  // namespace spindle

SPINDLE_API_END
