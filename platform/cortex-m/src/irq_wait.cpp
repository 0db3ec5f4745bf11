// Waker lists: one intrusive FIFO of WaitNodes per interrupt source. Nodes live on the waiting
// fibers' stacks; every path that ends a wait unlinks the node inside a critical section.
#include "internal.h"

namespace spindle::cm {
namespace detail {
namespace {

struct WakerList {
  WaitNode* head;
  WaitNode* tail;
};

WakerList g_lists[SPINDLE_CM_IRQ_SOURCES];

void unlink(WaitNode* n) {
  WakerList& l = g_lists[n->source];
  if (n->prev) {
    n->prev->next = n->next;
  } else {
    l.head = n->next;
  }
  if (n->next) {
    n->next->prev = n->prev;
  } else {
    l.tail = n->prev;
  }
  n->next = n->prev = nullptr;
  n->linked = false;
}

}  // namespace

void abandon_wait(Fiber* f) {
  if (f->wait_node && f->wait_node->linked) unlink(f->wait_node);
}

}  // namespace detail

using namespace detail;

WaitNode::~WaitNode() {
  if (!linked) return;
  const uint32_t pm = cs_enter();
  if (linked) unlink(this);
  cs_exit(pm);
}

WaitResult wait_irq(unsigned source, Tick timeout) {
  SPINDLE_CM_REQUIRE_FIBER("wait_irq");
  if (source >= SPINDLE_CM_IRQ_SOURCES) {
    panic(PanicKind::BadCall, "wait_irq: source out of range", current());
  }
  Fiber* me = current();
  WaitNode node;
  node.fiber = me;
  node.source = source;
  uint32_t pm = cs_enter();
  WakerList& l = g_lists[source];
  node.prev = l.tail;
  if (l.tail) {
    l.tail->next = &node;
  } else {
    l.head = &node;
  }
  l.tail = &node;
  node.linked = true;
  me->wait_node = &node;
  me->wait_result = 0;
  me->state = FiberState::WaitingIrq;
  if (timeout != kForever) timer_insert(me, now_ticks() + timeout);
  switch_away();
  cs_exit(pm);
  // Resumed: by wake_irq (node unlinked, timer entry maybe left) or by the timeout (both gone).
  pm = cs_enter();
  timer_remove(me);
  me->wait_node = nullptr;
  const auto result = static_cast<WaitResult>(me->wait_result);
  cs_exit(pm);
  return result;
}

uint32_t wake_irq(unsigned source) {
  if (source >= SPINDLE_CM_IRQ_SOURCES) return 0;
  const uint32_t pm = cs_enter();
  WakerList& l = g_lists[source];
  uint32_t n = 0;
  for (WaitNode* node = l.head; node != nullptr;) {
    WaitNode* next = node->next;
    node->next = node->prev = nullptr;
    node->linked = false;
    Fiber* f = node->fiber;
    if (f->state == FiberState::WaitingIrq) {
      f->wait_result = static_cast<uint8_t>(WaitResult::Woken);
      make_ready(f);
    }
    ++n;
    node = next;
  }
  l.head = l.tail = nullptr;
  cs_exit(pm);
  return n;
}

uint32_t waiters(unsigned source) {
  if (source >= SPINDLE_CM_IRQ_SOURCES) return 0;
  const uint32_t pm = cs_enter();
  uint32_t n = 0;
  for (const WaitNode* node = g_lists[source].head; node; node = node->next) ++n;
  cs_exit(pm);
  return n;
}

}  // namespace spindle::cm
