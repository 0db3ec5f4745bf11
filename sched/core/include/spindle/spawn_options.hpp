// spindle/spawn_options.hpp: SpawnOptions, how a task is spawned (priority, cancellation token,
// cleanup role, name, stack size).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "spindle/cancellation_token.hpp"
#include "spindle/task.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// SpawnOptions configures one spawn. The default is what spawn(f) does.
struct SpawnOptions {
  /// priority is the task's priority.
  TaskPriority priority = TaskPriority::Normal;
  /// token binds the task to a CancellationToken: cancelling the token cancels the task (exactly as
  /// JoinHandle::cancel() does), and the task's own token (this_fiber::cancellation_token()) is a
  /// child of it. A task spawned with an already-cancelled token never starts (it ends Cancelled).
  std::optional<CancellationToken> token = std::nullopt;
  /// inherit_token: when `token` is empty and the spawning fiber is itself bound to a token, bind
  /// the new task to that same token (not to the spawner's own token: cancelling one task through
  /// its JoinHandle never cancels the tasks it spawned). run_main relies on this to reach every
  /// fiber of the program. Set to false to spawn an unbound task from a bound fiber.
  bool inherit_token = true;
  /// cleanup marks a cleanup task: run_main waits for cleanup tasks (bounded by
  /// AsyncRuntimeConfig::cleanup_timeout) after the main function returns, before it cancels the
  /// remaining fibers. A cleanup task is bound to its runtime's cleanup token, not to `token`.
  bool cleanup = false;
  /// name names the fiber from its start, as this_fiber::set_name would (AsyncRuntime::fibers(),
  /// shutdown reports, stack-overflow reports). Empty: unnamed. Like set_name, only the first 31
  /// bytes are kept.
  std::string name = {};
  /// stack_size is the fiber's usable stack in bytes; 0 (the default) means the runtime's
  /// AsyncRuntimeConfig::max_stack_size. Allowed: 16384 (16 KiB) up to max_stack_size, rounded up
  /// to the page size; anything else makes spawn throw std::invalid_argument naming the field and
  /// the limits. A size that rounds to max_stack_size uses the runtime's stack pool; any other size
  /// gets its own mapping (one mmap, a guard page, one munmap when the fiber ends), with the same
  /// guard and the same overflow report as pooled stacks. Use it for many fibers that need little
  /// stack (fewer page tables), not for speed: such spawns pay two system calls the pool avoids.
  std::size_t stack_size = 0;
};

}  // namespace spindle

SPINDLE_API_END
