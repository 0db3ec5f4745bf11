// The executor: ready queues, the scheduling decision with its no-starvation rule, spawn / join /
// exit, the idle loop and init().
#include "internal.h"
#include "spindle/platform/priority_policy.hpp"  // the rule, shared with the host runtime

namespace spindle::cm {
namespace detail {
namespace {

struct ReadyQueue {
  Fiber* head;
  Fiber* tail;
};

using spindle::platform::PriorityPolicy;
static_assert(kPriorityCount == 4, "PriorityPolicy decides over 4 levels");
static_assert(SPINDLE_CM_FAIRNESS_INTERVAL == PriorityPolicy::kFairnessInterval &&
                  SPINDLE_CM_STARVATION_BOUND == PriorityPolicy::kStarvationBound,
              "config.h's constants of the rule are PriorityPolicy's");

ReadyQueue g_ready[kPriorityCount];
uint32_t g_ready_mask;  // bit p set <=> g_ready[p] non-empty
uint32_t g_ready_count;
uint32_t g_live;                    // spawned fibers that have not finished
constinit PriorityPolicy g_policy;  // the rule's state; g_stats.decisions counts its decisions
Stats g_stats;
Fiber g_idle;

Fiber* pop(unsigned prio) {
  ReadyQueue& q = g_ready[prio];
  Fiber* f = q.head;
  q.head = f->next;
  if (q.head == nullptr) {
    q.tail = nullptr;
    g_ready_mask &= ~(1u << prio);
  }
  f->next = nullptr;
  --g_ready_count;
  return f;
}

// pick_next: one scheduling decision. Expires due timers first, then applies the rule documented
// in executor.h: PriorityPolicy::choose() (spindle/platform/priority_policy.hpp, the host
// runtime's rule) with the ready mask as the local mask and an empty global mask (the port has no
// global queue). Returns nullptr when nothing is ready (such a call is not a decision: neither the
// policy nor g_stats.decisions advance).
Fiber* pick_next() {
  poll_timers();
  const PriorityPolicy::Choice c = g_policy.choose(g_ready_mask, 0u);
  if (c.level < 0) return nullptr;
  ++g_stats.decisions;
  return pop(static_cast<unsigned>(c.level));
}

void check_stack(const Fiber* f) {
  const uint32_t limit = reinterpret_cast<uint32_t>(f->stack_base + SPINDLE_CM_CANARY_WORDS) +
                         SPINDLE_CM_SWITCH_RESERVE_BYTES;
  if (current_sp() < limit) {
    panic(PanicKind::StackOverflow, "stack overflow: sp below the fiber's stack limit at a switch",
          f);
  }
  for (uint32_t i = 0; i < SPINDLE_CM_CANARY_WORDS; ++i) {
    if (f->stack_base[i] != kCanary) {
      panic(PanicKind::StackOverflow,
            "stack overflow: canary at the bottom of the stack overwritten", f);
    }
  }
}

void switch_to(Fiber* next) {
  Fiber* cur = spindle_cm_switch_state.current;
  // Checked at every scheduling point of a fiber, also when it keeps running.
  if (cur != &g_idle) check_stack(cur);
  next->state = (next == &g_idle) ? FiberState::Idle : FiberState::Running;
  if (next == cur) return;
  spindle_cm_switch_state.next = next;
  ++g_stats.switches;
  reg(kIcsr) = kIcsrPendSvSet;
  __asm volatile("dsb" ::: "memory");
}

// spindle_cm_fiber_start: the first code a fiber runs (its initial exception frame returns here,
// with r0 = the fiber).
extern "C" [[noreturn]] void spindle_cm_fiber_start(Fiber* f) {
  cm::exit(f->entry(f->arg));
}

}  // namespace

Fiber* idle_context() {
  return &g_idle;
}

void make_ready(Fiber* f) {
  f->state = FiberState::Ready;
  f->next = nullptr;
  const unsigned p = static_cast<unsigned>(f->priority);
  ReadyQueue& q = g_ready[p];
  if (q.tail) {
    q.tail->next = f;
  } else {
    q.head = f;
  }
  q.tail = f;
  g_ready_mask |= 1u << p;
  ++g_ready_count;
}

void switch_away() {
  Fiber* next = pick_next();
  switch_to(next ? next : &g_idle);
}

}  // namespace detail

using namespace detail;

}  // namespace spindle::cm

SwitchState spindle_cm_switch_state = {&spindle::cm::detail::g_idle, nullptr};

namespace spindle::cm {

bool spawn(Fiber& f, uint32_t* stack, uint32_t stack_bytes, FiberEntry entry, void* arg,
           Priority prio, const char* name) {
  SPINDLE_CM_REQUIRE_THREAD("spawn");
  if (stack_bytes < kMinStackBytes || (stack_bytes & 7u) != 0 ||
      (reinterpret_cast<uint32_t>(stack) & 7u) != 0 || entry == nullptr) {
    panic(PanicKind::BadCall, "spawn: stack not 8-byte aligned, too small, or no entry", &f);
  }
  if (f.state != FiberState::Free) return false;
  const uint32_t words = stack_bytes / 4;
#if SPINDLE_CM_STACK_FILL
  for (uint32_t i = 0; i < words; ++i) stack[i] = kCanary;
#else
  for (uint32_t i = 0; i < SPINDLE_CM_CANARY_WORDS; ++i) stack[i] = kCanary;
#endif
  // Initial frame: what PendSV restores for a fiber suspended right before spindle_cm_fiber_start.
  uint32_t* top = stack + words;
  auto* hw = reinterpret_cast<HwFrame*>(top) - 1;
  hw->r0 = reinterpret_cast<uint32_t>(&f);
  hw->r1 = hw->r2 = hw->r3 = hw->r12 = 0;
  hw->lr = 0;  // spindle_cm_fiber_start never returns
  hw->pc = reinterpret_cast<uint32_t>(&spindle_cm_fiber_start) & ~1u;
  hw->xpsr = 1u << 24;  // Thumb
  auto* sw = reinterpret_cast<SwFrame*>(hw) - 1;
  sw->r4 = sw->r5 = sw->r6 = sw->r7 = sw->r8 = sw->r9 = sw->r10 = sw->r11 = 0;
#if SPINDLE_CM_HAS_FPU
  sw->exc_return = SPINDLE_CM_EXC_RETURN_THREAD_PSP;
#endif
  f.sp = reinterpret_cast<uint32_t*>(sw);
  f.stack_base = stack;
  f.stack_words = words;
  f.name = name ? name : "";
  f.entry = entry;
  f.arg = arg;
  f.priority = prio;
  f.joiner = nullptr;
  f.wait_node = nullptr;
  f.timer_prev = f.timer_next = nullptr;
  f.in_timer = 0;
  f.detached = 0;
  f.exit_status = 0;
  const uint32_t pm = cs_enter();
  ++g_live;
  make_ready(&f);
  cs_exit(pm);
  return true;
}

void yield() {
  SPINDLE_CM_REQUIRE_FIBER("yield");
  const uint32_t pm = cs_enter();
  make_ready(current());
  switch_away();
  cs_exit(pm);
}

int join(Fiber& f) {
  SPINDLE_CM_REQUIRE_FIBER("join");
  Fiber* me = current();
  if (&f == me || f.detached || f.state == FiberState::Free || f.joiner != nullptr) {
    panic(PanicKind::BadCall, "join: self, detached, free or already joined fiber", me);
  }
  uint32_t pm = cs_enter();
  if (f.state != FiberState::Done) {
    f.joiner = me;
    me->state = FiberState::Joining;
    switch_away();
    cs_exit(pm);
    pm = cs_enter();
  }
  const int status = f.exit_status;
  f.joiner = nullptr;
  f.state = FiberState::Free;
  cs_exit(pm);
  return status;
}

void detach(Fiber& f) {
  SPINDLE_CM_REQUIRE_THREAD("detach");
  const uint32_t pm = cs_enter();
  if (f.state == FiberState::Done) {
    f.state = FiberState::Free;
  } else if (f.state != FiberState::Free) {
    f.detached = 1;
  }
  cs_exit(pm);
}

void exit(int status) {
  SPINDLE_CM_REQUIRE_FIBER("exit");
  Fiber* me = current();
  const uint32_t pm = cs_enter();
  me->exit_status = status;
  --g_live;
  if (me->joiner) make_ready(me->joiner);
  // A detached slot is free at once: nothing can reuse it before PendSV has left this stack,
  // because spawn() is thread-mode only and PendSV is taken as soon as the section ends.
  me->state = me->detached ? FiberState::Free : FiberState::Done;
  switch_away();
  cs_exit(pm);
  panic(PanicKind::BadCall, "exit: a finished fiber was resumed", me);
}

Fiber* self() {
  Fiber* f = current();
  return (f == &g_idle || ipsr() != 0) ? nullptr : f;
}

uint32_t stack_unused_bytes(const Fiber& f) {
  uint32_t i = 0;
  while (i < f.stack_words && f.stack_base[i] == kCanary) ++i;
  return 4 * i;
}

Stats stats() {
  const uint32_t pm = cs_enter();
  const Stats s = g_stats;
  cs_exit(pm);
  return s;
}

uint32_t ready_count() {
  return g_ready_count;
}

void run() {
  SPINDLE_CM_REQUIRE_THREAD("run");
  if (current() != &g_idle) panic(PanicKind::BadCall, "run() called from a fiber", current());
  g_idle.name = "idle";
  for (;;) {
    const uint32_t pm = cs_enter();
    if (g_live == 0) {
      cs_exit(pm);
      return;
    }
    Fiber* next = pick_next();
    if (next) {
      switch_to(next);  // back here when no fiber is ready
    } else {
      ++g_stats.idle_waits;
      // wfi with PRIMASK set: a pending interrupt wakes the core without being taken, so a wake
      // between the check above and the wfi is not lost; it runs once the section ends.
      __asm volatile("dsb\n\twfi" ::: "memory");
    }
    cs_exit(pm);
  }
}

void init(uint32_t core_clock_hz) {
  SPINDLE_CM_REQUIRE_THREAD("init");
  if ((control() & 2u) == 0) {
    panic(PanicKind::Config, "init: thread mode must run on PSP (CONTROL.SPSEL = 1)", nullptr);
  }
  const auto* vectors = reinterpret_cast<const uint32_t*>(reg(kVtor));
  if ((vectors[14] | 1u) != (reinterpret_cast<uint32_t>(&PendSV_Handler) | 1u)) {
    panic(PanicKind::Config, "init: vector table does not route PendSV to PendSV_Handler", nullptr);
  }
#if !SPINDLE_CM_OWN_SYSTICK_HANDLER
  if ((vectors[15] | 1u) != (reinterpret_cast<uint32_t>(&SysTick_Handler) | 1u)) {
    panic(PanicKind::Config, "init: vector table does not route SysTick to SysTick_Handler",
          nullptr);
  }
#endif
#if SPINDLE_CM_HAS_FPU
  // Automatic FP state preservation (ASPEN) makes the core track FP use per fiber (EXC_RETURN bit
  // 4).
  if ((reg(kCpacr) & (0xFu << 20)) != (0xFu << 20) || (reg(kFpccr) & (1u << 31)) == 0) {
    panic(PanicKind::Config, "init: FPU not enabled (CPACR) or FPCCR.ASPEN clear", nullptr);
  }
#endif
  // PendSV and SysTick at the lowest priority: a switch never preempts an interrupt handler.
  reg(kShpr3) = (reg(kShpr3) & 0x0000FFFFu) | 0xFFFF0000u;
  reg(kSysTickCtrl) = 0;
  reg(kSysTickLoad) = core_clock_hz / SPINDLE_CM_TICK_HZ - 1u;
  reg(kSysTickVal) = 0;
  reg(kSysTickCtrl) = 7u;  // processor clock, interrupt, enable
}

}  // namespace spindle::cm
