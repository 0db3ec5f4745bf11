// run_main: the root fiber, the cleanup wait, cancellation of the rest, shutdown.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "spindle/detail/sched_hooks.hpp"
#include "spindle/run_main.hpp"
#include "spindle/runtime.hpp"

namespace spindle::detail {

int run_main_impl(const AsyncRuntimeConfig& cfg, std::function<int()> body) {
  AsyncRuntime rt(cfg);
  RuntimeImpl* impl = runtime_impl_of(rt);
  const AsyncRuntimeConfig& cfg_of = runtime_config(impl);  // validated
  CancellationToken main_token;
  int code = 1;
  try {
    SpawnOptions opts;
    opts.token = main_token;
    code = rt.spawn([&body] { return body(); }, opts).join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spindle::run_main: the main fiber ended with an exception: %s\n",
                 e.what());
    code = 1;
  } catch (...) {
    std::fprintf(stderr, "spindle::run_main: the main fiber ended with an unknown exception\n");
    code = 1;
  }
  if (!runtime_wait_cleanup(impl, cfg_of.cleanup_timeout)) {
    std::fprintf(stderr,
                 "spindle::run_main: cleanup tasks still running after cleanup_timeout; "
                 "cancelling them\n");
  }
  main_token.cancel();
  runtime_cancel_cleanup(impl);
  if (!runtime_stop_within(impl, cfg_of.shutdown_timeout)) {
    // Fibers that never block, or wait on something no cancellation above reaches (bound to
    // another token, spawned from a plain thread): like a Go program whose main returned, the
    // process ends without them. Returning instead would run static destructors under them.
    std::fprintf(stderr,
                 "spindle::run_main: %llu fiber(s) still alive %lld ms after they were cancelled "
                 "(shutdown_timeout); ending the process with exit code %d without them\n",
                 static_cast<unsigned long long>(runtime_live_tasks(impl)),
                 static_cast<long long>(cfg_of.shutdown_timeout.count() / 1'000'000), code);
    std::fflush(nullptr);
    std::_Exit(code);
  }
  rt.shutdown();
  return code;
}

}  // namespace spindle::detail
