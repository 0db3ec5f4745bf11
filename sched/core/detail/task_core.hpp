// sched/core/detail/task_core.hpp (internal): the runtime's private part of a task control block.
//
// Memory layout of one task, one allocation:  [ TaskCore | TaskImpl<F, R> ]. The TaskImpl (public
// detail::TaskBase) sits kCoreSize bytes after the TaskCore, so each converts to the other by
// pointer arithmetic.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "detail/eh_state.hpp"
#include "spindle/detail/task_base.hpp"
#include "spindle/fiber/context.hpp"
#include "spindle/fiber/overflow.hpp"
#include "spindle/task.hpp"

namespace spindle::detail {

class RuntimeImpl;
struct FlsTable;
struct TaskBinding;

// Park word values (TaskCore::park): the handshake between a fiber that parks and whoever wakes it.
inline constexpr std::uint32_t kParkRunning = 0;   // running, or switching away to park
inline constexpr std::uint32_t kParkParked = 1;    // fully switched out; a waker must enqueue it
inline constexpr std::uint32_t kParkNotified = 2;  // woken; whoever saw kParked enqueues it

// Joiner word values (TaskCore::joiner); any other value is the detail::Waiter* of a
// fiber waiting in join() (on its own stack), signalled with wait_signal.
inline constexpr std::uintptr_t kJoinNone = 0;
inline constexpr std::uintptr_t kJoinFinished = 1;

// TaskCore is the scheduler's state for one task/fiber.
struct alignas(16) TaskCore {
  fiber::Context ctx;         // saved registers while not running
  fiber::FiberDebugInfo dbg;  // id, name, stack range (for overflow reports)
  EhState eh;                 // exception-handling state while switched out
  RuntimeImpl* rt = nullptr;
  FlsTable* fls = nullptr;                     // fiber-local values (created on first use)
  std::atomic<TaskBinding*> binding{nullptr};  // tokens and cleanup role, if any
  TaskCore* next = nullptr;                    // intrusive link: global-queue chains, ready lists
  TaskCore* reg_prev = nullptr;                // links in the live-task registry (its shard lock)
  TaskCore* reg_next = nullptr;
  std::uint64_t chain_len = 0;  // length of the chain this task heads in the global queue
  std::atomic<std::uintptr_t> joiner{kJoinNone};
  std::atomic<std::uint32_t> refs{2};  // the runtime's and the handle's
  std::atomic<std::uint32_t> park{kParkRunning};
  std::atomic<TaskState> state{TaskState::Pending};
  std::atomic<bool> cancel{false};
  TaskPriority priority = TaskPriority::Normal;
  bool started = false;
  // masked: cancellation is not delivered (set only by the fiber itself, while FiberLocal
  // destructors run: they may block, and must not get Cancelled thrown into a noexcept path).
  bool cancel_masked = false;
  bool select_rng_seeded = false;  // select_rng was seeded (on the fiber's first select)
  // custom_stack: spawned with a SpawnOptions::stack_size other than the pool's; dbg.stack_size
  // holds the requested (page-rounded) size until start_task maps it.
  bool custom_stack = false;
  // last_worker and reg_shard are 16 bits (at most 1024 workers, 2^16 shards) so that ready_stamp
  // fits without growing the block (160 B on x86-64).
  std::uint16_t last_worker = 0;  // index of the worker it last ran on (migrate_every_switch)
  std::uint16_t reg_shard = 0;    // the registry shard it is linked in
  // ready_stamp: low 32 bits of the monotonic clock when a sampled ready push queued it, 0 when
  // not sampled (detail/metrics.hpp; owner of the queue that holds it).
  std::uint32_t ready_stamp = 0;
  std::uint64_t select_rng = 0;  // select's case-order generator: reproducible per task
};

// kCoreSize is the offset of the TaskBase behind its TaskCore.
inline constexpr std::size_t kCoreSize = (sizeof(TaskCore) + alignof(std::max_align_t) - 1) /
                                         alignof(std::max_align_t) * alignof(std::max_align_t);

// core_of returns the TaskCore in front of a TaskBase.
inline TaskCore* core_of(const TaskBase* t) noexcept {
  return reinterpret_cast<TaskCore*>(reinterpret_cast<char*>(const_cast<TaskBase*>(t)) - kCoreSize);
}
// payload_of returns the TaskBase behind a TaskCore.
inline TaskBase* payload_of(TaskCore* c) noexcept {
  return reinterpret_cast<TaskBase*>(reinterpret_cast<char*>(c) + kCoreSize);
}

// is_finished_state says whether a state is terminal.
inline bool is_finished_state(TaskState s) noexcept {
  return s == TaskState::Completed || s == TaskState::Cancelled || s == TaskState::Failed;
}

}  // namespace spindle::detail
