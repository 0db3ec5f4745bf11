// The registry of live tasks (detail/task_registry.hpp).
#include "detail/task_registry.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "detail/runtime_impl.hpp"

namespace spindle::detail {

TaskRegistry::TaskRegistry(std::size_t shards) {
  std::uint32_t n = 1;
  while (n < shards && n < (1u << 16)) n <<= 1;
  shards_ = std::make_unique<Shard[]>(n);
  mask_ = n - 1;
}

void TaskRegistry::add(TaskCore* t, std::uint32_t hint) noexcept {
  t->reg_shard = static_cast<std::uint16_t>(hint & mask_);  // mask_ < 2^16
  Shard& s = shard_of(t);
  std::lock_guard<SpinLock> g(s.lock);
  if (s.closed) t->cancel.store(true, std::memory_order_relaxed);  // published by the queue push
  t->reg_prev = nullptr;
  t->reg_next = s.head;
  if (s.head != nullptr) s.head->reg_prev = t;
  s.head = t;
  ++s.count;
}

void TaskRegistry::remove(TaskCore* t) noexcept {
  Shard& s = shard_of(t);
  std::lock_guard<SpinLock> g(s.lock);
  if (t->reg_prev != nullptr) {
    t->reg_prev->reg_next = t->reg_next;
  } else {
    s.head = t->reg_next;
  }
  if (t->reg_next != nullptr) t->reg_next->reg_prev = t->reg_prev;
  t->reg_prev = t->reg_next = nullptr;
  --s.count;
}

const char* TaskRegistry::rename(TaskCore* t, const char* name) noexcept {
  Shard& s = shard_of(t);
  std::lock_guard<SpinLock> g(s.lock);
  const char* old = t->dbg.name;
  t->dbg.name = name;
  return old;
}

std::vector<TaskCore*> TaskRegistry::collect(bool close) {
  std::vector<TaskCore*> out;
  out.reserve(size() + 64);
  for (std::uint32_t i = 0; i <= mask_;) {
    Shard& s = shards_[i];
    std::unique_lock<SpinLock> g(s.lock);
    if (out.size() + s.count > out.capacity()) {
      // Grown meanwhile: never allocate under the lock. Closing is left for the retry, so a throw
      // here leaves this shard as it was.
      const std::size_t need = out.size() + s.count + 64;
      g.unlock();
      try {
        out.reserve(need);
      } catch (...) {
        for (TaskCore* t : out) task_unref(t);
        throw;
      }
      continue;
    }
    // Closed and collected under one lock hold: a task added to this shard later is marked by add,
    // one added before is in `out`.
    if (close) s.closed = true;
    for (TaskCore* t = s.head; t != nullptr; t = t->reg_next) {
      // Linked means not yet completed, so the runtime's reference is still held: taking another
      // is safe.
      t->refs.fetch_add(1, std::memory_order_relaxed);
      out.push_back(t);
    }
    ++i;
  }
  return out;
}

std::vector<TaskSnapshot> TaskRegistry::snapshot(std::size_t limit, std::size_t* total) const {
  std::vector<TaskSnapshot> out;
  out.reserve(std::min(limit, size() + 64));
  std::size_t n = 0;
  for (std::uint32_t i = 0; i <= mask_;) {
    const Shard& s = shards_[i];
    std::unique_lock<SpinLock> g(s.lock);
    const std::size_t want = std::min(limit, out.size() + s.count);
    if (want > out.capacity()) {  // grown meanwhile: never allocate under the lock
      g.unlock();
      out.reserve(want + 64);
      continue;
    }
    n += s.count;
    for (TaskCore* t = s.head; t != nullptr && out.size() < limit; t = t->reg_next) {
      TaskSnapshot& snap = out.emplace_back();
      snap.id = t->dbg.id;
      if (t->dbg.name != nullptr) std::strncpy(snap.name, t->dbg.name, sizeof snap.name - 1);
      snap.state = t->state.load(std::memory_order_acquire);
      snap.priority = t->priority;
    }
    ++i;
  }
  if (total != nullptr) *total = n;
  return out;
}

std::size_t TaskRegistry::size() const noexcept {
  std::size_t n = 0;
  for (std::uint32_t i = 0; i <= mask_; ++i) {
    const Shard& s = shards_[i];
    std::lock_guard<SpinLock> g(s.lock);
    n += s.count;
  }
  return n;
}

}  // namespace spindle::detail
