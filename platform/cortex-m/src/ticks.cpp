// SysTick time base, the sorted timer list (sleep deadlines and wait timeouts) and sleeping.
// The timer list is touched only in thread mode; interrupt handlers only advance the tick.
#include "internal.h"

namespace spindle::cm {
namespace detail {
namespace {

volatile Tick g_ticks;
Fiber* g_timer_head;

bool before(Tick a, Tick b) {
  return static_cast<int32_t>(a - b) < 0;
}

}  // namespace

void timer_insert(Fiber* f, Tick deadline) {
  f->wake_tick = deadline;
  Fiber* prev = nullptr;
  Fiber* it = g_timer_head;
  while (it && !before(deadline, it->wake_tick)) {  // FIFO among equal deadlines
    prev = it;
    it = it->timer_next;
  }
  f->timer_prev = prev;
  f->timer_next = it;
  if (it) it->timer_prev = f;
  if (prev) {
    prev->timer_next = f;
  } else {
    g_timer_head = f;
  }
  f->in_timer = 1;
}

void timer_remove(Fiber* f) {
  if (!f->in_timer) return;
  if (f->timer_prev) {
    f->timer_prev->timer_next = f->timer_next;
  } else {
    g_timer_head = f->timer_next;
  }
  if (f->timer_next) f->timer_next->timer_prev = f->timer_prev;
  f->timer_prev = f->timer_next = nullptr;
  f->in_timer = 0;
}

void poll_timers() {
  const Tick now = g_ticks;
  while (g_timer_head && !before(now, g_timer_head->wake_tick)) {
    Fiber* f = g_timer_head;
    timer_remove(f);
    if (f->state == FiberState::Sleeping) {
      make_ready(f);
    } else if (f->state == FiberState::WaitingIrq) {
      abandon_wait(f);
      f->wait_result = static_cast<uint8_t>(WaitResult::TimedOut);
      make_ready(f);
    }
    // Any other state: the fiber was already woken (by its interrupt); it left the entry behind.
  }
}

}  // namespace detail

using namespace detail;

Tick now_ticks() {
  return g_ticks;
}

void tick_isr() {
  g_ticks = g_ticks + 1;
}

void sleep_until(Tick deadline) {
  SPINDLE_CM_REQUIRE_FIBER("sleep_until");
  Fiber* me = current();
  const uint32_t pm = cs_enter();
  if (before(g_ticks, deadline)) {
    me->state = FiberState::Sleeping;
    timer_insert(me, deadline);
  } else {
    make_ready(me);
  }
  switch_away();
  cs_exit(pm);
}

void sleep_ms(uint32_t ms) {
  if (ms == 0) {
    yield();
    return;
  }
  sleep_until(now_ticks() + ms_to_ticks(ms) + 1u);
}

}  // namespace spindle::cm
