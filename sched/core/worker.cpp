// The worker loop: choosing the next fiber (local queues, run-next slot, global queue, the priority
// policy), starting and switching fibers, finishing them. Stealing is steal.cpp, idle workers
// idle.cpp, the wake policy wake.cpp, timers time/timers.cpp. docs/scheduler.md describes these in
// prose.
#include <cxxabi.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>

#include "detail/fls_table.hpp"
#include "detail/random.hpp"
#include "detail/runtime_impl.hpp"
#include "spindle/detail/coop.hpp"
#include "spindle/fiber/overflow.hpp"
#include "spindle/fiber/unpooled_stack.hpp"
#include "spindle/sys.h"

namespace spindle::detail {

namespace {
constinit thread_local Worker* tls_worker = nullptr;

// Consecutive decisions the run-next slot may win while its level's local queue has other fibers:
// a pair of fibers waking each other cannot starve the rest of their level.
constexpr std::uint32_t kRunNextBurst = 4;

}  // namespace

EhState* thread_eh_state() noexcept {
  return reinterpret_cast<EhState*>(abi::__cxa_get_globals());
}

__attribute__((noinline)) Worker* current_worker() noexcept {
  Worker* w = tls_worker;
  asm volatile("" ::: "memory");
  return w;
}

Worker::Worker(RuntimeImpl* runtime, std::uint32_t idx, std::uint32_t cap)
    : rt(runtime),
      index(idx),
      queues{LocalQueue<TaskCore*>(cap), LocalQueue<TaskCore*>(cap), LocalQueue<TaskCore*>(cap),
             LocalQueue<TaskCore*>(cap)},
      rng_((runtime->cfg.schedule_seed != 0 ? runtime->cfg.schedule_seed : kDefaultScheduleSeed) +
           idx * 7919ull) {
  scratch_.resize(cap / 2 + 1);
}

std::uint64_t Worker::next_task_id() {
  if (id_next_ == id_end_) {
    constexpr std::uint64_t kBlock = 1024;
    id_next_ = rt->next_id_block.fetch_add(kBlock, std::memory_order_relaxed);
    id_end_ = id_next_ + kBlock;
  }
  return id_next_++;
}

unsigned Worker::local_mask() const noexcept {
  unsigned m = 0;
  for (int i = 0; i < kTaskPriorityLevels; ++i) {
    if (!queues[i].empty()) m |= 1u << i;
  }
  return m;
}

// local_bits_ caches which local levels may hold tasks. Only this worker pushes into its queues and
// it sets the bit on every push; thieves only remove, so a bit can be stale-set (a pop then finds
// nothing and clears it) but never stale-clear.

void Worker::migrate(TaskCore* t) {
  const std::size_t n = rt->workers.size();
  // A random worker other than the last one: reproducible for a given schedule_seed.
  std::size_t target = t->last_worker;
  if (n > 1) {
    Worker* self = current_worker();
    std::uint64_t r = self != nullptr && self->rt == rt ? splitmix(self->rng_)
                                                        : t->dbg.id * 0x9E3779B97F4A7C15ull;
    target = (t->last_worker + 1 + r % (n - 1)) % n;
  }
  Worker* to = rt->workers[target].get();
  {
    std::lock_guard<std::mutex> g(to->inbox_mu);
    to->inbox.push_back(t);
    to->inbox_full.store(true, std::memory_order_release);
  }
  to->wake_thread();
}

void Worker::ready_woken(TaskCore* t) {
  // A woken fiber that outranks the waker should not wait for it: queue it where idle workers see
  // it at once. So should every wake in migrate mode (it moves) or with stealing off.
  if (migrate_mode_ || current == nullptr || t->priority > current->priority) {
    make_ready(t);
    if (rt->cfg.enable_work_stealing) rt->notify_work();
    return;
  }
  put_run_next(t);
}

void Worker::put_run_next(TaskCore* t) {
  stamp_ready(t);
  TaskCore* old = run_next.exchange(t, std::memory_order_seq_cst);
  if (old != nullptr) {
    push_local(old);
    if (rt->cfg.enable_work_stealing) rt->notify_work();
    return;
  }
  // The slot was empty: no worker is told (the waker usually parks soon and this worker runs `t`).
  // In case it does not, a sleeping watcher must exist to look at the slot later; if every other
  // worker sleeps and none watches, wake one (it watches when it parks again). The exchange above
  // and this read pair with the watcher's sleeper registration and slot reads (seq_cst).
  if (multi_worker_stealing_ && rt->idle.run_next_watcher.load(std::memory_order_seq_cst) < 0 &&
      rt->idle.num_sleeping.load(std::memory_order_seq_cst) > 0) {
    rt->notify_work();
  }
}

void Worker::drain_inbox() {
  std::vector<TaskCore*> batch;
  {
    std::lock_guard<std::mutex> g(inbox_mu);
    batch.swap(inbox);
    inbox_full.store(false, std::memory_order_relaxed);
  }
  for (TaskCore* t : batch) push_local(t);
}

void Worker::push_local(TaskCore* t) {
  // The sampled push is a tail call, so the common path saves no registers for it.
  if (--metrics.ready_countdown == 0) [[unlikely]] {
    push_local_sampled(t);
    return;
  }
  push_now(t);
}

void Worker::push_local_sampled(TaskCore* t) {
  metrics.ready_countdown = kSampleEvery;
  metrics_stamp(t);
  push_now(t);
}

void Worker::overflow(int level, TaskCore* t) {
  // Move the older half to the global queue as one chain, then queue `t` locally.
  std::size_t n = queues[level].pop_half(scratch_.data(), scratch_.size());
  if (n > 0) {
    for (std::size_t i = 0; i + 1 < n; ++i) scratch_[i]->next = scratch_[i + 1];
    scratch_[n - 1]->next = nullptr;
    try {
      rt->global.push_chain(level, scratch_[0], n);
    } catch (...) {
      for (std::size_t i = 0; i < n; ++i) scratch_[i]->next = nullptr;
      queues[level].push_batch(scratch_.data(), n);  // there is room: we just took them out
      local_bits_ |= 1u << level;
      throw;
    }
    counters.overflows.add();
    rt->notify_work();  // idle workers may take the moved half
  }
  if (!queues[level].push(t)) {
    t->next = nullptr;
    rt->global.push_chain(level, t, 1);
  }
}

TaskCore* Worker::take_global(int level) {
  std::uint64_t n = 0;
  TaskCore* head = rt->global.pop_chain(level, &n);
  if (head == nullptr) return nullptr;
  counters.global_pops.add();
  TaskCore* first = head;
  TaskCore* rest = head->next;
  first->next = nullptr;
  std::uint64_t left = n - 1;
  // Keep the rest locally while there is room; put back what does not fit. A task is unlinked
  // before it is pushed: once in the local queue a thief may take it and relink it at any moment.
  while (rest != nullptr) {
    TaskCore* t = rest;
    TaskCore* after = t->next;
    t->next = nullptr;
    if (!queues[level].push(t)) {
      t->next = after;  // still ours: the push failed
      break;
    }
    local_bits_ |= 1u << level;
    rest = after;
    --left;
  }
  if (rest != nullptr) rt->global.push_chain(level, rest, left);
  // Others may now take what we took (from our queue by stealing, or the put-back from the global
  // one).
  if (n > 1) rt->notify_work();
  return first;
}

// next_ready is the per-decision fast path (kept small and inline: the policy and one local pop);
// everything else is in next_ready_slow.
inline TaskCore* Worker::next_ready(int yield_level) {
  if (--poll_countdown_ == 0) poll_tick();
  if (migrate_mode_ && inbox_full.load(std::memory_order_acquire)) drain_inbox();
  // A yielding fiber counts as queued at the back of its level's local queue.
  const unsigned yield_bit = yield_level >= 0 ? 1u << yield_level : 0u;
  // The run-next slot is taken out first (a thief may race for it) and counts as a local fiber of
  // its level for the policy.
  TaskCore* rn = run_next.load(std::memory_order_relaxed) != nullptr
                     ? run_next.exchange(nullptr, std::memory_order_acquire)
                     : nullptr;
  const int rn_level = rn != nullptr ? static_cast<int>(rn->priority) : -1;
  const unsigned rn_bit = rn != nullptr ? 1u << rn_level : 0u;
  const PriorityPolicy::Choice c =
      policy_.choose(local_bits_ | yield_bit | rn_bit, rt->global.mask());
  if (rn != nullptr) {
    if (c.level == rn_level && !c.global &&
        (run_next_burst_ < kRunNextBurst || queues[rn_level].empty())) {
      ++run_next_burst_;
      return rn;
    }
    push_local(rn);  // not its turn: it queues like any ready fiber
  }
  run_next_burst_ = 0;
  if (c.level >= 0 && !c.global) {
    LocalQueue<TaskCore*>& q = queues[c.level];
    if (TaskCore* t = multi_worker_stealing_ ? q.pop() : q.pop_unshared()) return t;
  }
  return next_ready_slow(c, yield_level);
}

TaskCore* Worker::next_ready_slow(PriorityPolicy::Choice c, int yield_level) {
  for (int round = 0; round < 64; ++round) {
    if (round > 0) {
      const unsigned yield_bit = yield_level >= 0 ? 1u << yield_level : 0u;
      c = policy_.choose(local_bits_ | yield_bit, rt->global.mask());
    }
    if (c.level < 0) return nullptr;
    if (!c.global) {
      if (round > 0) {
        if (TaskCore* t = queues[c.level].pop()) return t;
      }
      local_bits_ &= ~(1u << c.level);
      if (c.level == yield_level) return nullptr;  // the yielder itself is next
    }
    if (TaskCore* t = take_global(c.level)) return t;
    if (TaskCore* t = queues[c.level].pop()) return t;
    local_bits_ &= ~(1u << c.level);
    // Raced with a thief or another consumer: look again (masks changed).
  }
  return nullptr;  // masks say work but none came: a consumer is mid-update; look again later
}

bool Worker::start_task(TaskCore* t) {
  // Linked into this worker's registry shard as it starts (it usually completes here too, so the
  // shard's lock and list stay in this core's cache); a closed registry cancels it here.
  rt->registry.add(t, index);
  if (t->cancel.load(std::memory_order_acquire)) {
    payload_of(t)->error = std::make_exception_ptr(Cancelled{});
    rt->complete(t, TaskState::Cancelled, this);
    task_unref(t);
    return false;
  }
  fiber::Stack stack;
  try {
    stack = __builtin_expect(t->custom_stack, 0) ? fiber::map_unpooled_stack(t->dbg.stack_size)
                                                 : rt->stacks.acquire(index);
  } catch (...) {
    payload_of(t)->error = std::current_exception();
    rt->complete(t, TaskState::Failed, this);
    task_unref(t);
    return false;
  }
  t->dbg.stack_limit = stack.limit;
  t->dbg.stack_size = stack.size;
  t->dbg.guard_size =
      __builtin_expect(t->custom_stack, 0) ? fiber::unpooled_guard_size() : rt->stacks.guard_size();
  t->started = true;
  t->ctx.make(stack, &fiber_entry);
  t->state.store(TaskState::Running, std::memory_order_relaxed);
  if (rt->debug) log_debug(rt, "worker %u: start task %llu", index, (unsigned long long)t->dbg.id);
  return true;
}

TaskCore* Worker::next_runnable(int yield_level) {
  while (TaskCore* t = next_ready(yield_level)) {
    if (t->started || start_task(t)) return t;
  }
  return nullptr;
}

void Worker::after_switch(fiber::Transfer tr) {
  auto* act = static_cast<SwitchAction*>(tr.data);
  if (act == nullptr) return;
  const SwitchKind kind = act->kind;
  TaskCore* prev = act->task;  // `act` lives on prev's stack: do not touch it after this point
  switch (kind) {
    case SwitchKind::kYield:
      make_ready(prev);
      // A sleeping worker may take it if this one is about to run something long (without this, a
      // yielded fiber waits for its own worker even when others are idle). With one worker there is
      // nobody to tell, and the fence stays off the single-threaded yield path.
      if (multi_worker_stealing_) rt->notify_work();
      break;
    case SwitchKind::kYieldNext:
      if (migrate_mode_) {
        make_ready(prev);
      } else {
        put_run_next(prev);
      }
      break;
    case SwitchKind::kPark: {
      std::uint32_t expected = kParkRunning;
      if (!prev->park.compare_exchange_strong(expected, kParkParked, std::memory_order_acq_rel,
                                              std::memory_order_acquire)) {
        // Woken while it was switching away: it is ready again.
        make_ready(prev);
        if (rt->cfg.enable_work_stealing) rt->notify_work();
      }
      break;
    }
    case SwitchKind::kFinish:
      if (__builtin_expect(prev->custom_stack, 0)) {
        fiber::unmap_unpooled_stack(
            fiber::Stack{const_cast<void*>(prev->dbg.stack_limit), prev->dbg.stack_size});
      } else {
        rt->stacks.release(
            index, fiber::Stack{const_cast<void*>(prev->dbg.stack_limit), prev->dbg.stack_size});
      }
      prev->ctx.release();
      task_unref(prev);
      break;
  }
}

void Worker::switch_from_fiber(SwitchKind kind) {
  TaskCore* prev = current;
  prev->last_worker = static_cast<std::uint16_t>(index);  // index < 1024
  SwitchAction act{kind, prev};
  // In migrate_every_switch mode a yield always leaves this worker (after_switch sends it away).
  const bool yielding =
      (kind == SwitchKind::kYield || kind == SwitchKind::kYieldNext) && !migrate_mode_;
  TaskCore* next = next_runnable(yielding ? static_cast<int>(prev->priority) : -1);
  if (next == nullptr && yielding) return;  // the yielder is still the best choice
  note_switch_out();
  if (next != nullptr) note_switch_in(next);
  fiber::Context* to = next != nullptr ? &next->ctx : &sched_ctx_;
  prev->eh = *thread_eh_;
  *thread_eh_ = next != nullptr ? next->eh : sched_eh_;
  current = next;
  fiber::set_current_fiber_debug_info(next != nullptr ? &next->dbg : nullptr);
  counters.switches.add();
  coop_budget = kCoopBudget;  // the next fiber starts with a full budget and a new slice
  coop_slice_ns = 0;
  if (kind == SwitchKind::kFinish) fiber::switch_final(prev->ctx, *to, &act);
  fiber::Transfer tr = fiber::switch_context(prev->ctx, *to, &act);
  current_worker()->after_switch(tr);
}

void Worker::park_current() {
  TaskCore* self = current;
  self->state.store(TaskState::Waiting, std::memory_order_relaxed);
  switch_from_fiber(SwitchKind::kPark);
  // Resumed, possibly on another worker. The reset is a read-modify-write so that it synchronizes
  // with the waker's exchange: whatever the waker published before waking us is visible to our
  // re-check.
  self->park.exchange(kParkRunning, std::memory_order_acq_rel);
  self->state.store(TaskState::Running, std::memory_order_relaxed);
}

void fiber_entry(boost::context::detail::transfer_t t) noexcept {
  fiber::Transfer tr = fiber::first_resume(t);
  Worker* w = current_worker();
  w->after_switch(tr);
  TaskCore* self = w->current;
  TaskBase* payload = payload_of(self);
  TaskState end = TaskState::Completed;
  try {
    payload->run();
  } catch (const Cancelled&) {
    payload->error = std::current_exception();
    end = TaskState::Cancelled;
  } catch (...) {
    payload->error = std::current_exception();
    end = TaskState::Failed;
  }
  // Fiber-local values die on the fiber's own stack (their destructors may block), before the
  // joiner learns that the task finished. Cancellation is masked meanwhile: the task has ended, and
  // a Cancelled thrown into a destructor here would terminate the program.
  self->cancel_masked = true;
  fls_destroy_task(self);
  w = current_worker();
  w->rt->complete(self, end, w);
  // The current-thread flavor's drive target goes back to the driver's loop, which then returns.
  if (__builtin_expect(self == w->drive_target_, 0)) w->finish_to_scheduler();
  w->switch_from_fiber(SwitchKind::kFinish);
  std::terminate();  // unreachable: a finished fiber is never resumed
}

TaskCore* Worker::find_work() {
  for (;;) {
    if (TaskCore* t = next_runnable()) return t;
    if (poll_all_timers(true)) continue;
    Driver* io = rt->driver.load(std::memory_order_acquire);
    if (io != nullptr && io->registered() && io->try_poll_nonblocking() > 0) continue;
    if (TaskCore* t = steal()) {
      if (t->started || start_task(t)) return t;
      continue;
    }
    return nullptr;
  }
}

namespace {
// run_thread_hook calls an on_thread_start / on_thread_stop callback; an exception it throws is
// written to stderr and otherwise ignored (AsyncRuntimeConfig::on_thread_start).
void run_thread_hook(const std::function<void(std::size_t)>& hook, const char* what,
                     std::uint32_t index) noexcept {
  if (!hook) return;
  try {
    hook(index);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spindle: worker %u: %s threw: %s (ignored)\n", index, what, e.what());
  } catch (...) {
    std::fprintf(stderr, "spindle: worker %u: %s threw a non-std exception (ignored)\n", index,
                 what);
  }
}
}  // namespace

void Worker::embed_thread_start() noexcept {
  const AsyncRuntimeConfig& c = rt->cfg;
  if (!c.thread_name_prefix.empty()) {
    // Validated by the constructor to fit the 15-byte limit.
    const std::string name = c.thread_name_prefix + std::to_string(index);
    if (int err = spindle_sys_set_thread_name(name.c_str()); err != 0) {
      std::fprintf(stderr, "spindle: worker %u: naming the thread \"%s\" failed (error %d)\n",
                   index, name.c_str(), err);
    }
  }
  if (!c.worker_cpus.empty()) {
    const int cpu = c.worker_cpus[index % c.worker_cpus.size()];
    if (int err = spindle_sys_pin_thread(cpu); err != 0) {
      std::fprintf(stderr, "spindle: worker %u: pinning to CPU %d failed (error %d); unpinned\n",
                   index, cpu, err);
    }
  }
  run_thread_hook(c.on_thread_start, "on_thread_start", index);
}

void Worker::enter_thread() noexcept {
  tls_worker = this;
  thread_eh_ = thread_eh_state();
  multi_worker_stealing_ = rt->workers.size() > 1 && rt->cfg.enable_work_stealing;
  migrate_mode_ = rt->workers.size() > 1 && rt->cfg.migrate_every_switch;
  sched_ctx_.bind_current_thread();
  last_poll_ns_ = spindle_sys_monotonic_time_ns();
  // The first entry starts the worker's busy/park accounting (an embedding may enter again).
  if (metrics.started_ns.load(std::memory_order_relaxed) == 0) {
    metrics.started_ns.store(last_poll_ns_, std::memory_order_release);
  }
}

void Worker::leave_thread() noexcept {
  tls_worker = nullptr;
}

void Worker::run() {
  embed_thread_start();
  fiber::AltSignalStack alt_stack;
  enter_thread();
  if (rt->debug) log_debug(rt, "worker %u: start", index);
  loop(nullptr, kNoDeadline);
  if (rt->debug) log_debug(rt, "worker %u: exit", index);
  leave_thread();
  run_thread_hook(rt->cfg.on_thread_stop, "on_thread_stop", index);
  {
    std::lock_guard<std::mutex> g(rt->lifecycle_mu);
    exited = true;
    ++rt->exited_workers;
  }
  rt->stopped_cv.notify_all();
}

bool Worker::loop(const TaskCore* target, std::uint64_t deadline_ns) {
  for (;;) {
    // Set with tasks still alive only when the destructor abandons them (shutdown.cpp).
    if (rt->exit.load(std::memory_order_acquire)) return true;
    // The current-thread flavor's block_on / join: its task has finished (the null check is the
    // whole cost for worker threads).
    if (target != nullptr && target->joiner.load(std::memory_order_acquire) == kJoinFinished) {
      return true;
    }
    TaskCore* t = find_work();
    if (t != nullptr) {
      current = t;
      sched_eh_ = *thread_eh_;
      *thread_eh_ = t->eh;
      fiber::set_current_fiber_debug_info(&t->dbg);
      note_switch_in(t);
      counters.switches.add();
      coop_budget = kCoopBudget;
      coop_slice_ns = 0;
      fiber::Transfer tr = fiber::switch_context(sched_ctx_, t->ctx, nullptr);
      fiber::set_current_fiber_debug_info(nullptr);
      after_switch(tr);
      continue;
    }
    if (rt->exit.load(std::memory_order_acquire)) return true;
    if (rt->state.load(std::memory_order_acquire) != RuntimeImpl::kRunning) {
      // Shutting down: stop once every task has finished.
      std::unique_lock<std::mutex> g(rt->lifecycle_mu);
      if (rt->live_tasks() == 0) {
        rt->state.store(RuntimeImpl::kStopped, std::memory_order_seq_cst);
        rt->exit.store(true, std::memory_order_release);
        g.unlock();
        rt->stopped_cv.notify_all();
        for (auto& w : rt->workers) w->wake_thread();
        return true;
      }
    }
    if (deadline_ns != kNoDeadline && spindle_sys_monotonic_time_ns() >= deadline_ns) return false;
    idle_wait();
  }
}

void Worker::finish_to_scheduler() {
  TaskCore* prev = current;
  prev->last_worker = static_cast<std::uint16_t>(index);  // index < 1024
  SwitchAction act{SwitchKind::kFinish, prev};
  prev->eh = *thread_eh_;
  *thread_eh_ = sched_eh_;
  current = nullptr;
  fiber::set_current_fiber_debug_info(nullptr);
  counters.switches.add();
  coop_budget = kCoopBudget;
  coop_slice_ns = 0;
  fiber::switch_final(prev->ctx, sched_ctx_, &act);
}

}  // namespace spindle::detail
