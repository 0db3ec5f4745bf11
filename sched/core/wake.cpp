// The wake policy: where a new or woken task goes (the calling worker, the run-next slot, the
// global queue) and when a parked worker is woken for it (docs/scheduler.md, "The run-next slot"
// and "Parking idle workers").
#include "detail/runtime_impl.hpp"

namespace spindle::detail {

void RuntimeImpl::unpark_task(TaskCore* t) {
  assert(t->rt == this);
  if (t->park.exchange(kParkNotified, std::memory_order_acq_rel) == kParkParked) schedule(t);
}

void RuntimeImpl::schedule(TaskCore* t) {
  assert(t->rt == this);
  Worker* w = current_worker();
  if (w != nullptr && w->rt == this) {
    if (w->current != nullptr) {
      w->ready_woken(t);  // woken by a running fiber: the run-next slot
    } else {
      w->make_ready(t);
      if (cfg.enable_work_stealing) notify_work();
    }
  } else {
    // Taken while `t` cannot run yet (it is in no queue), so the runtime is alive; held until this
    // thread no longer touches the runtime.
    external_wakers.fetch_add(1, std::memory_order_relaxed);
    if (cfg.migrate_every_switch && workers.size() > 1) {
      workers[t->last_worker]->migrate(t);  // any worker but the one it last ran on
    } else {
      t->next = nullptr;
      global.push_chain(static_cast<int>(t->priority), t, 1);
      notify_work();
    }
    external_wakers.fetch_sub(1, std::memory_order_release);
  }
}

void RuntimeImpl::notify_work() {
  full_fence();
  if (idle.num_sleeping.load(std::memory_order_relaxed) == 0) return;
  std::uint32_t id;
  {
    std::lock_guard<std::mutex> g(idle.mu);
    if (idle.sleepers.empty()) return;
    id = idle.sleepers.back();
    idle.sleepers.pop_back();
    idle.num_sleeping.fetch_sub(1, std::memory_order_relaxed);
  }
  workers[id]->wake_thread();
}

void RuntimeImpl::submit(TaskCore* t, TaskPriority p) {
  Worker* w = current_worker();
  const bool internal = w != nullptr && w->rt == this && w->current != nullptr;
  if (internal) {
    // A fiber of this runtime: always accepted (running fibers may spawn while shutting down).
    t->dbg.id = w->next_task_id();
    w->counters.spawned.add();
    if (debug)
      log_debug(this, "worker %u: spawn task %llu (%s)", w->index, (unsigned long long)t->dbg.id,
                to_string(p));
    try {
      w->push_local(t);
    } catch (...) {  // out of memory in the global queue: the task was never queued
      w->counters.spawned.v.store(w->counters.spawned.v.load(std::memory_order_relaxed) - 1,
                                  std::memory_order_release);
      throw;
    }
    if (cfg.enable_work_stealing) notify_work();
    return;
  }
  // From outside: count first, then check the state, so a stopping worker either sees the count or
  // we see the stop (both seq_cst; see RuntimeImpl::shutdown).
  ext_spawned.fetch_add(1, std::memory_order_seq_cst);
  if (state.load(std::memory_order_seq_cst) != kRunning) {
    std::lock_guard<std::mutex> g(lifecycle_mu);
    const int s = state.load(std::memory_order_seq_cst);
    if (s == kStopped || (s == kShuttingDown && p != TaskPriority::Critical)) {
      ext_spawned.fetch_sub(1, std::memory_order_seq_cst);
      // A worker may have seen our count and gone to sleep waiting for this task: let it re-check.
      for (auto& wk : workers) wk->wake_thread();
      throw std::runtime_error(
          s == kStopped ? "spindle: spawn on a runtime that has shut down"
                        : "spindle: spawn on a runtime that is shutting down (only Critical "
                          "tasks are still accepted from outside the runtime)");
    }
  }
  t->dbg.id = next_id_block.fetch_add(1, std::memory_order_relaxed);
  if (debug)
    log_debug(this, "external spawn task %llu (%s)", (unsigned long long)t->dbg.id, to_string(p));
  t->next = nullptr;
  try {
    global.push_chain(static_cast<int>(p), t, 1);
  } catch (...) {
    ext_spawned.fetch_sub(1, std::memory_order_seq_cst);
    for (auto& wk : workers) wk->wake_thread();  // a stopping worker may have counted it
    throw;
  }
  notify_work();
}

}  // namespace spindle::detail
