// sched/core/detail/task_registry.hpp (internal): every live task of a runtime, for the bounded
// shutdown (cancel them all, report those that stay) and for fiber dumps.
//
// A task is linked when a worker takes it to start it (Worker::start_task, worker.cpp) and unlinked
// in RuntimeImpl::complete (task.cpp); a spawned task still waiting in a run queue is not linked
// yet. The list is sharded by worker: a task links into the shard of the worker that starts it
// and usually completes there too, so the shard's lock and list stay in that core's cache (linking
// at spawn instead cost W1 about a fifth: the completing worker was often another one). Each
// shard is a spin lock over an intrusive doubly linked list through TaskCore::reg_prev /
// reg_next, held for a few instructions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "detail/spinlock.hpp"
#include "detail/task_core.hpp"
#include "spindle/task.hpp"

namespace spindle::detail {

// TaskSnapshot is what a dump shows of one live task.
struct TaskSnapshot {
  std::uint64_t id = 0;
  char name[32] = {};  // this_fiber::set_name (at most 31 bytes), or empty
  TaskState state = TaskState::Pending;
  TaskPriority priority = TaskPriority::Normal;
};

// TaskRegistry is the set of a runtime's live tasks (spawned and not yet finished).
class TaskRegistry {
 public:
  // TaskRegistry makes at least `shards` shards (rounded up to a power of two).
  explicit TaskRegistry(std::size_t shards);
  TaskRegistry(const TaskRegistry&) = delete;
  TaskRegistry& operator=(const TaskRegistry&) = delete;

  // add links `t` into shard `hint` (modulo the shard count). When that shard is closed (see
  // collect) the task is marked cancelled first: it never starts, and its joiner gets Cancelled.
  // Never blocks beyond the shard's spin lock; never throws.
  void add(TaskCore* t, std::uint32_t hint) noexcept;
  // remove unlinks `t` (linked by add). Never throws.
  void remove(TaskCore* t) noexcept;
  // rename swaps `t`'s name for `name` under the shard lock and returns the old one (for the
  // caller to free), so that a concurrent snapshot never reads a freed name.
  const char* rename(TaskCore* t, const char* name) noexcept;

  // collect returns every linked task with one reference taken on each (the caller drops them with
  // task_unref). With `close`, tasks added from now on are marked cancelled (see add). Throws
  // std::bad_alloc (then no reference was taken; some shards may already be closed).
  std::vector<TaskCore*> collect(bool close);
  // snapshot returns what a dump shows of every linked task, at most `limit` of them, in shard
  // order; `total` (if not null) gets the number linked. Throws std::bad_alloc.
  std::vector<TaskSnapshot> snapshot(std::size_t limit, std::size_t* total = nullptr) const;
  // size returns how many tasks are linked (a sum over the shards; exact when nothing runs).
  std::size_t size() const noexcept;

 private:
  struct alignas(64) Shard {
    mutable SpinLock lock;
    TaskCore* head = nullptr;
    std::size_t count = 0;
    bool closed = false;
  };
  Shard& shard_of(const TaskCore* t) const noexcept { return shards_[t->reg_shard]; }

  std::unique_ptr<Shard[]> shards_;
  std::uint32_t mask_;
};

}  // namespace spindle::detail
