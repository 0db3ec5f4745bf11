/// @file
/// spindle/run_main.hpp: run_main and SPINDLE_MAIN, a program whose main function is a fiber.
#pragma once

#include <functional>
#include <type_traits>
#include <utility>

#include "spindle/config.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

namespace detail {
// run_main_impl runs `body` as the root fiber of a new runtime built from `cfg` and returns its
// exit code (see run_main).
int run_main_impl(const AsyncRuntimeConfig& cfg, std::function<int()> body);
}  // namespace detail

/// run_main makes a runtime from `cfg`, runs `fn` as its root fiber and returns fn's exit code:
/// `fn` may take (int argc, char** argv) or nothing, and return int or void (void means 0). The
/// root fiber is bound to a main token, so every fiber it spawns (and they spawn) is bound to it
/// too (SpawnOptions::inherit_token). When `fn` returns, run_main
///   1. waits up to cfg.cleanup_timeout for cleanup tasks (spawned with SpawnOptions::cleanup) to
///      finish,
///   2. cancels the main token and the cleanup token: every fiber still running or blocked gets
///      Cancelled at its next blocking point (fibers that never block, are bound to another token,
///      or were spawned from plain threads through AsyncRuntime::spawn, are not reached),
///   3. waits up to cfg.shutdown_timeout for every fiber to end, then shuts the runtime down and
///      returns the code. If fibers are still alive after shutdown_timeout, it prints how many to
///      stderr, flushes stdio and ends the process with std::_Exit(code), as a Go program ends when
///      main returns: it does not return, and neither those fibers nor static destructors run on.
///      So the whole exit is bounded by cleanup_timeout + shutdown_timeout (plus the main
///      function's own time).
/// An exception escaping `fn` is printed to stderr and gives exit code 1 (Cancelled too). Blocks
/// the calling thread throughout. Throws std::invalid_argument for a bad `cfg` (before running
/// anything).
///
/// Use with spindle::shutdown_token() to stop gracefully on Ctrl-C (examples/graceful.cpp).
template <class Fn>
int run_main(int argc, char** argv, Fn&& fn, const AsyncRuntimeConfig& cfg = {}) {
  return detail::run_main_impl(cfg, [&fn, argc, argv]() -> int {
    if constexpr (std::is_invocable_v<Fn&, int, char**>) {
      using R = std::invoke_result_t<Fn&, int, char**>;
      if constexpr (std::is_void_v<R>) {
        std::invoke(fn, argc, argv);
        return 0;
      } else {
        return static_cast<int>(std::invoke(fn, argc, argv));
      }
    } else {
      static_assert(std::is_invocable_v<Fn&>,
                    "spindle::run_main: fn must be callable as fn(int, char**) or fn()");
      using R = std::invoke_result_t<Fn&>;
      if constexpr (std::is_void_v<R>) {
        std::invoke(fn);
        return 0;
      } else {
        return static_cast<int>(std::invoke(fn));
      }
    }
  });
}

}  // namespace spindle

/// SPINDLE_MAIN(fn) defines main() as spindle::run_main(argc, argv, fn) with the default config.
#define SPINDLE_MAIN(fn)                        \
  int main(int argc, char** argv) {             \
    return ::spindle::run_main(argc, argv, fn); \
  }

SPINDLE_API_END
