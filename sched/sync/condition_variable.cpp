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
  // A notify that claimed it: let its signal arrive before `w` goes away.
  detail::withdraw_or_settle(w, n, wl_, waiters_);
}

WaitStatus ConditionVariable::block(detail::Waiter& w, WaitNode& n,
                                    std::uint64_t deadline_ns) noexcept {
  // Notified in the same instant as a timeout or cancellation: the notification wins.
  return detail::wait_or_withdraw(w, n, wl_, waiters_, deadline_ns, true);
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
