// ConditionVariable: the queue operations behind the wait templates. See
// spindle/condition_variable.hpp for the guarantees and spindle/detail/wait.hpp for the protocol.
#include "spindle/condition_variable.hpp"

namespace spindle {

using detail::WaitNode;
using detail::WaitStatus;

void ConditionVariable::enqueue(WaitNode& n) noexcept {
  wl_.lock();
  waiters_.push_back(&n);
  wl_.unlock();
}

void ConditionVariable::remove(detail::Waiter& w, WaitNode& n) noexcept {
  wl_.lock();
  if (n.linked) {
    waiters_.remove(&n);
    wl_.unlock();
    return;
  }
  wl_.unlock();
  detail::wait_settle(w);  // a notify claimed it: let its signal arrive before `w` goes away
}

WaitStatus ConditionVariable::block(detail::Waiter& w, WaitNode& n,
                                    std::uint64_t deadline_ns) noexcept {
  const WaitStatus st = detail::wait_block(w, deadline_ns, true);
  if (st == WaitStatus::Signaled) return st;
  wl_.lock();
  if (n.linked) {
    waiters_.remove(&n);
    wl_.unlock();
    return st;
  }
  wl_.unlock();
  detail::wait_settle(w);
  return WaitStatus::Signaled;  // notified in the same instant: the notification wins
}

void ConditionVariable::notify_one() noexcept {
  wl_.lock();
  WaitNode* n = waiters_.pop_front();
  wl_.unlock();
  if (n != nullptr) detail::wait_signal(*n->waiter);
}

void ConditionVariable::notify_all() noexcept {
  wl_.lock();
  if (waiters_.empty()) {
    wl_.unlock();
    return;
  }
  // Chain the popped nodes, oldest first, through `next` (unused once unlinked); signal after
  // unlocking.
  WaitNode* fifo = nullptr;
  WaitNode** tail = &fifo;
  while (WaitNode* n = waiters_.pop_front()) {
    *tail = n;
    tail = &n->next;
  }
  wl_.unlock();
  while (fifo != nullptr) {
    WaitNode* next = fifo->next;  // read before the signal: the node may vanish after it
    detail::wait_signal(*fifo->waiter);
    fifo = next;
  }
}

}  // namespace spindle
