/// @file
/// spindle/this_fiber.hpp: what a fiber can do to itself, and spawning from inside a fiber.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <utility>

#include "spindle/cancellation_token.hpp"
#include "spindle/detail/deadline.hpp"
#include "spindle/join_handle.hpp"
#include "spindle/task.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// spawn starts `f` as a new Normal-priority fiber on the runtime of the calling fiber and returns
/// its JoinHandle. Throws std::logic_error when called outside a fiber (use AsyncRuntime::spawn
/// there).
template <class F>
auto spawn(F&& f) {
  return detail::spawn_task(nullptr, std::forward<F>(f), TaskPriority::Normal);
}
/// spawn_with_priority is spawn at priority `p`.
template <class F>
auto spawn_with_priority(F&& f, TaskPriority p) {
  return detail::spawn_task(nullptr, std::forward<F>(f), p);
}
/// spawn with SpawnOptions (priority, token, cleanup role) on the calling fiber's runtime.
template <class F>
auto spawn(F&& f, const SpawnOptions& opts) {
  return detail::spawn_task(nullptr, std::forward<F>(f), opts.priority, &opts);
}

/// current_task_id returns the id of the calling fiber's task, or an invalid TaskId outside a
/// fiber.
TaskId current_task_id() noexcept;

namespace detail {
// sleep_until_ns is sleep_until for a deadline from detail/deadline.hpp (kNoDeadline: until
// cancelled).
void sleep_until_ns(std::uint64_t deadline_ns);
}  // namespace detail

namespace this_fiber {

/// in_fiber says whether the caller runs on a Spindle fiber.
bool in_fiber() noexcept;

/// yield moves the calling fiber to the back of its priority level's local queue and runs the fiber
/// the scheduler would choose next (docs/scheduler.md): a ready fiber of higher or equal priority,
/// or a lower one on a fairness turn. If the yielder itself is the best choice it simply continues.
/// Not a cancellation point. Outside a fiber: std::this_thread::yield.
void yield();

/// sleep_until parks the calling fiber until the steady clock reaches `deadline` (its worker runs
/// other fibers meanwhile; resolution 250 us, see docs/scheduler.md). A cancellation point: throws
/// Cancelled if the task is or becomes cancelled. Outside a fiber it sleeps the OS thread (not a
/// cancellation point).
void sleep_until(std::chrono::steady_clock::time_point deadline);

/// sleep_for parks the calling fiber for at least `d` (see sleep_until). A zero, negative or NaN
/// duration only checks for cancellation; one too large for 64-bit nanoseconds (e.g. hours::max(),
/// +inf) sleeps until cancelled. Any rep and period; nothing overflows (detail/deadline.hpp).
template <class Rep, class Period>
void sleep_for(const std::chrono::duration<Rep, Period>& d) {
  spindle::detail::sleep_until_ns(spindle::detail::deadline_after(d));
}

/// id returns the calling fiber's task id. Throws std::logic_error outside a fiber.
TaskId id();

/// priority returns the calling fiber's priority. Throws std::logic_error outside a fiber.
TaskPriority priority();

/// is_cancelled says whether the calling fiber's task has been asked to cancel (false outside a
/// fiber). Lets CPU-bound fibers that never block poll for cancellation.
bool is_cancelled() noexcept;

/// cancellation_token returns the calling fiber's own token: cancelled when its task is cancelled
/// (JoinHandle::cancel(), or the token it was spawned bound to). Made on first use (a child of the
/// bound token, if any). Use it to cancel work the fiber hands to others, or with on_cancel to
/// unblock foreign waits. Throws std::logic_error outside a fiber, std::bad_alloc.
CancellationToken cancellation_token();

/// set_name names the calling fiber (at most 31 bytes kept) for stack-overflow reports and debug
/// logs. Throws std::logic_error outside a fiber.
void set_name(std::string_view name);

}  // namespace this_fiber
}  // namespace spindle

SPINDLE_API_END
