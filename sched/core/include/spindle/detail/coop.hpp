// spindle/detail/coop.hpp: internal. The cooperative budget (docs/scheduler.md, "Cooperative
// budget"): an operation that can block (lock, recv, send, read, write, accept, join, ...) spends
// one unit of its worker's budget each time it is called; when the budget runs out it is a
// cancellation point, and it yields first if the fiber has held its worker for poll_interval, so
// that a fiber looping on operations that never need to block still reaches a scheduling decision
// (other fibers, timers and I/O polls of its worker get their turn). Tokio's coop module does the
// same for futures. Not an API.
#pragma once

#include <cstdint>

#include "spindle/detail/deadline.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::detail {

// kCoopBudget is how many such operations a fiber may call in a row, without switching away,
// before one of them yields.
inline constexpr std::uint32_t kCoopBudget = 128;

// coop_step spends one unit of the calling thread's budget. When that empties it, it refills it
// and, in a fiber that has run poll_interval since it was switched in (measured from its first
// exhaustion), or that has a deliverable cancellation, yields (this_fiber::yield: the worker polls
// its timers and I/O and runs other ready fibers first). Returns false when the budget ran out and
// the calling fiber's task has a deliverable cancellation; true otherwise, and always outside
// fibers. Never throws.
//
// Out of line on purpose (sched/core/coop.cpp): a fiber can move to another thread inside any
// blocking call, and inline code that addressed the thread-local counter could reuse the old
// thread's address after such a call (the compiler treats the thread pointer as constant within a
// function). TSan caught exactly that in a loop of recv calls.
bool coop_step() noexcept;

// coop_proceed spends one unit of budget for an untimed operation (see coop_step). The caller
// reports false as its own cancellation (throwing Cancelled, or returning ChannelError::Cancelled)
// before it does anything.
inline bool coop_proceed() noexcept {
  return coop_step();
}

// coop_proceed(passed) is coop_proceed for a timed operation: `passed()` (called only when the
// budget ran out and the fiber is cancelled, so the fast path reads no clock) says whether its
// deadline is already over; such a call keeps its "plain try, never Cancelled" rule and proceeds.
template <class Passed>
inline bool coop_proceed(Passed&& passed) noexcept {
  return coop_step() || passed();
}

}  // namespace spindle::detail

SPINDLE_API_END
