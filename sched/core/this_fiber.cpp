// What a fiber does to itself: yield, sleep, id, name, cancellation checks.
#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <thread>

#include "detail/runtime_impl.hpp"
#include "detail/task_binding.hpp"
#include "spindle/detail/wait.hpp"
#include "spindle/sys.h"
#include "spindle/this_fiber.hpp"

namespace spindle {

namespace {
detail::TaskCore* current_task() noexcept {
  detail::Worker* w = detail::current_worker();
  return w != nullptr ? w->current : nullptr;
}

detail::TaskCore* require_task(const char* what) {
  detail::TaskCore* t = current_task();
  if (t == nullptr) {
    throw std::logic_error(std::string("spindle::this_fiber::") + what + " called outside a fiber");
  }
  return t;
}

}  // namespace

TaskId current_task_id() noexcept {
  detail::TaskCore* t = current_task();
  return t != nullptr ? TaskId{t->dbg.id} : TaskId{};
}

namespace detail {
void yield_before_park() noexcept {
  Worker* w = current_worker();
  if (w == nullptr || w->current == nullptr) return;
  w->switch_from_fiber(SwitchKind::kYieldNext);
}
}  // namespace detail

namespace detail {

void sleep_until_ns(std::uint64_t deadline_ns) {
  Worker* w = current_worker();
  if (w == nullptr || w->current == nullptr) {
    // A plain thread: not a cancellation point.
    Waiter waiter;  // nobody signals it
    wait_block(waiter, deadline_ns, false);
    return;
  }
  TaskCore* self = w->current;
  if (cancel_deliverable(self)) throw Cancelled{};
  Waiter waiter;  // nobody signals it: only the deadline or a cancellation ends the wait
  if (wait_block(waiter, deadline_ns, true) == WaitStatus::Cancelled) throw Cancelled{};
  // A deadline that fired still delivers a pending cancellation at this blocking point.
  if (cancel_deliverable(self)) throw Cancelled{};
}

}  // namespace detail

namespace this_fiber {

bool in_fiber() noexcept {
  return current_task() != nullptr;
}

void yield() {
  detail::Worker* w = detail::current_worker();
  if (w == nullptr || w->current == nullptr) {
    std::this_thread::yield();
    return;
  }
  w->switch_from_fiber(detail::SwitchKind::kYield);
}

void sleep_until(std::chrono::steady_clock::time_point deadline) {
  detail::sleep_until_ns(detail::deadline_at(deadline));
}

TaskId id() {
  return TaskId{require_task("id")->dbg.id};
}

TaskPriority priority() {
  return require_task("priority")->priority;
}

CancellationToken cancellation_token() {
  detail::TaskCore* t = require_task("cancellation_token");
  // Only the fiber itself makes its binding lazily (spawn-time bindings exist before it runs).
  detail::TaskBinding* b = t->binding.load(std::memory_order_acquire);
  if (b == nullptr) {
    b = new detail::TaskBinding();
    b->task = t;
    t->binding.store(b, std::memory_order_seq_cst);
  }
  if (CancellationToken* own = b->own.load(std::memory_order_acquire)) return *own;
  auto* own = new CancellationToken(b->parent ? b->parent->child() : CancellationToken());
  b->own.store(own, std::memory_order_seq_cst);
  // Pairs with cancel_core: it sets the flag, then looks for the token; we publish, then look at
  // the flag.
  if (t->cancel.load(std::memory_order_seq_cst)) own->cancel();
  return *own;
}

bool is_cancelled() noexcept {
  detail::TaskCore* t = current_task();
  return t != nullptr && t->cancel.load(std::memory_order_acquire);
}

void set_name(std::string_view name) {
  detail::TaskCore* t = require_task("set_name");
  constexpr std::size_t kMax = 31;
  const std::size_t n = std::min(name.size(), kMax);
  char* copy = static_cast<char*>(detail::cb_alloc(n + 1));
  std::memcpy(copy, name.data(), n);
  copy[n] = '\0';
  // Swapped under the registry's lock: a concurrent fiber listing may be reading the old name.
  const char* old = t->rt->registry.rename(t, copy);
  if (old != nullptr) detail::cb_free(const_cast<char*>(old));
}

}  // namespace this_fiber
}  // namespace spindle
