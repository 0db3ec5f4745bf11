// Work stealing: an idle worker takes half of a random busy worker's queue, or the run-next slot of
// a worker stuck in a long fiber (docs/scheduler.md, "Stealing").
#include "detail/random.hpp"
#include "detail/runtime_impl.hpp"

namespace spindle::detail {

TaskCore* Worker::steal() {
  const std::size_t n = rt->workers.size();
  // In migrate_every_switch mode the inboxes spread the work, and a thief could take a fiber back
  // to the worker it just left.
  if (n < 2 || !rt->cfg.enable_work_stealing || migrate_mode_) return nullptr;
  const std::size_t start = splitmix(rng_) % n;
  // Highest priority first across all victims, then the victim's queue at that level.
  for (int level = kTaskPriorityLevels - 1; level >= 0; --level) {
    for (std::size_t i = 0; i < n; ++i) {
      Worker* v = rt->workers[(start + i) % n].get();
      if (v == this || v->queues[level].empty()) continue;
      TaskCore* first = nullptr;
      std::size_t got = v->queues[level].steal_half_into(queues[level], &first);
      if (got > 0) {
        if (got > 1) local_bits_ |= 1u << level;
        counters.steals.add();
        counters.stolen.add(got);
        if (got > 1) rt->notify_work();  // there is more to share
        return first;
      }
    }
  }
  return nullptr;
}

void Worker::snapshot_switches() {
  const std::size_t n = rt->workers.size();
  seen_switches_.resize(n);
  for (std::size_t i = 0; i < n; ++i) seen_switches_[i] = rt->workers[i]->counters.switches.read();
}

TaskCore* Worker::steal_stuck_run_next() {
  // A victim that switched no fiber since snapshot_switches (a whole idle spin of ours) is running
  // one long fiber: the fiber in its slot would otherwise wait for that one to block or end.
  const std::size_t n = rt->workers.size();
  if (n < 2 || !rt->cfg.enable_work_stealing || migrate_mode_ || seen_switches_.size() != n) {
    return nullptr;
  }
  for (std::size_t i = 0; i < n; ++i) {
    Worker* v = rt->workers[i].get();
    if (v == this || v->run_next.load(std::memory_order_relaxed) == nullptr) continue;
    if (v->counters.switches.read() != seen_switches_[i]) continue;
    if (TaskCore* t = v->run_next.exchange(nullptr, std::memory_order_acquire)) {
      counters.steals.add();
      counters.stolen.add();
      return t;
    }
  }
  return nullptr;
}

}  // namespace spindle::detail
