// The cancellation-token tree: nodes, child links, callback hooks, iterative cancellation.
//
// Locking. Every node has one mutex guarding its callback list, its list of children, the hook
// being run and its waiter count. No code ever holds two node mutexes at once (cancellation scans a
// node's children under that node's lock using only atomics on the children; a dying child takes
// its parent's lock alone), so there is no lock order to respect, and no callback is ever called
// with a mutex held.
//
// Lifetime. A node is reference-counted: each handle, each registration, each linked child (a
// child holds its parent) and each cancellation in progress holds one reference. A parent's list of
// children holds none: a child whose count drops to zero takes its parent's lock, unlinks itself,
// frees itself and then drops its reference on the parent, in a loop rather than by recursion. A
// canceller scanning the children under the parent's lock may meet such a dying child (count zero,
// not yet unlinked); it never revives it (try_acquire fails) and skips it: a dead node has no
// handles, registrations or children left to notify.
//
// Cancellation. The `cancelled` flag is set by exactly one thread (exchange), and that thread alone
// runs the node's callbacks and then scans its children; the nodes still to process form an
// intrusive stack through `work_next`, which only the thread that set a node's flag touches. So
// cancel() never allocates and never recurses.
//
// Deregistration while running. The canceller pops a hook, records it in `running` (with its
// thread id) and calls it without the lock. token_detach on another thread that finds its hook in
// `running` counts itself in `waiters` and sleeps on the `epoch` futex word until the canceller,
// after the call, clears `running` and bumps `epoch` (all under the lock, so no wakeup is lost).
// On the running thread itself token_detach returns at once.
#include <atomic>
#include <cassert>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include "spindle/cancellation_token.hpp"
#include "spindle/detail/cancel_hook.hpp"

namespace spindle::detail {

// TokenNode is the shared state of one token.
struct TokenNode {
  // refs counts handles, registrations, linked children and cancellations in progress.
  std::atomic<std::size_t> refs{1};
  // cancelled is set once, by the thread that then processes this node.
  std::atomic<bool> cancelled{false};
  // epoch is bumped after each callback when someone waits in token_detach (futex word).
  std::atomic<std::uint32_t> epoch{0};
  // parent is this node's parent (holding one reference on it) or null; set before publication.
  TokenNode* parent = nullptr;

  std::mutex mu;
  // Guarded by mu: the callback list (FIFO), the hook being run and by whom, the number of
  // token_detach calls waiting for it, and the list of linked children.
  CancelHook* hooks_head = nullptr;
  CancelHook* hooks_tail = nullptr;
  CancelHook* running = nullptr;
  std::thread::id running_thread;
  std::uint32_t waiters = 0;
  TokenNode* children = nullptr;
  std::size_t child_count = 0;

  // Guarded by parent->mu: this node's links in its parent's list of children.
  TokenNode* sib_prev = nullptr;
  TokenNode* sib_next = nullptr;

  // work_next links the canceller's stack of nodes to process; owned by the thread that set
  // `cancelled`.
  TokenNode* work_next = nullptr;
};

// TokenAccess reaches a token's node (CancellationToken befriends it).
struct TokenAccess {
  static TokenNode* node(const CancellationToken& t) noexcept { return t.node_; }
  static CancellationToken adopt(TokenNode* n) noexcept {
    return CancellationToken(n, CancellationToken::Adopt{});
  }
};

// CallbackState is what a CancellationRegistration owns: the hook, the std::function, and a handle
// that keeps the token alive.
struct CallbackState : CancelHook {
  CallbackState(std::function<void()> f, const CancellationToken& t) noexcept
      : cb(std::move(f)), token(t) {}
  std::function<void()> cb;
  CancellationToken token;
};

namespace {

void acquire(TokenNode* n) noexcept {
  n->refs.fetch_add(1, std::memory_order_relaxed);
}

// try_acquire takes a reference unless the count already reached zero (the node is dying).
bool try_acquire(TokenNode* n) noexcept {
  std::size_t r = n->refs.load(std::memory_order_relaxed);
  while (r != 0) {
    if (n->refs.compare_exchange_weak(r, r + 1, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

// release drops a reference; the last one unlinks the node from its parent, frees it and drops the
// parent's reference in turn (a loop, so that a chain of any length is freed without recursion).
void release(TokenNode* n) noexcept {
  while (n != nullptr) {
    if (n->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    TokenNode* parent = n->parent;
    if (parent != nullptr) {
      std::lock_guard<std::mutex> lk(parent->mu);
      if (n->sib_prev != nullptr) {
        n->sib_prev->sib_next = n->sib_next;
      } else {
        parent->children = n->sib_next;
      }
      if (n->sib_next != nullptr) n->sib_next->sib_prev = n->sib_prev;
      --parent->child_count;
    }
    assert(n->hooks_head == nullptr && n->children == nullptr && n->running == nullptr);
    delete n;
    n = parent;
  }
}

// unlink_hook removes `h` from `n`'s callback list (n->mu held).
void unlink_hook(TokenNode* n, CancelHook* h) noexcept {
  if (h->prev != nullptr) {
    h->prev->next = h->next;
  } else {
    n->hooks_head = h->next;
  }
  if (h->next != nullptr) {
    h->next->prev = h->prev;
  } else {
    n->hooks_tail = h->prev;
  }
  h->prev = h->next = nullptr;
  h->linked = false;
}

// run_callbacks calls every hook of `n` once, in registration order, without holding n->mu during
// the calls. Hooks attached meanwhile cannot appear: `cancelled` is already set.
void run_callbacks(TokenNode* n) noexcept {
  const std::thread::id me = std::this_thread::get_id();
  std::unique_lock<std::mutex> lk(n->mu);
  while (CancelHook* h = n->hooks_head) {
    unlink_hook(n, h);
    n->running = h;
    n->running_thread = me;
    lk.unlock();
    h->fn(h);  // may free `h`: not touched again
    lk.lock();
    n->running = nullptr;
    if (n->waiters != 0) {
      n->epoch.fetch_add(1, std::memory_order_release);
      n->epoch.notify_all();
    }
  }
}

// cancel_tree cancels `root` and its subtree (see the file comment).
bool cancel_tree(TokenNode* root) noexcept {
  if (root->cancelled.exchange(true, std::memory_order_acq_rel)) return false;
  acquire(root);  // the work stack's reference
  root->work_next = nullptr;
  TokenNode* stack = root;
  while (stack != nullptr) {
    TokenNode* n = stack;
    stack = n->work_next;
    n->work_next = nullptr;
    run_callbacks(n);
    {
      std::lock_guard<std::mutex> lk(n->mu);
      for (TokenNode* c = n->children; c != nullptr; c = c->sib_next) {
        // Claim the child first: whoever sets its flag processes it. A dying child (count zero)
        // may be claimed but is then skipped: nobody is left to observe it.
        if (c->cancelled.exchange(true, std::memory_order_acq_rel)) continue;
        if (!try_acquire(c)) continue;
        c->work_next = stack;
        stack = c;
      }
    }
    release(n);  // never frees a node still on the stack: each holds its own reference
  }
  return true;
}

}  // namespace

bool token_attach(const CancellationToken& token, CancelHook* hook) noexcept {
  TokenNode* n = TokenAccess::node(token);
  std::lock_guard<std::mutex> lk(n->mu);
  if (n->cancelled.load(std::memory_order_acquire)) return false;
  hook->next = nullptr;
  hook->prev = n->hooks_tail;
  if (n->hooks_tail != nullptr) {
    n->hooks_tail->next = hook;
  } else {
    n->hooks_head = hook;
  }
  n->hooks_tail = hook;
  hook->linked = true;
  return true;
}

void token_detach(const CancellationToken& token, CancelHook* hook) noexcept {
  TokenNode* n = TokenAccess::node(token);
  std::unique_lock<std::mutex> lk(n->mu);
  if (hook->linked) {
    unlink_hook(n, hook);
    return;
  }
  if (n->running != hook || n->running_thread == std::this_thread::get_id()) return;
  ++n->waiters;
  while (n->running == hook) {
    const std::uint32_t seen = n->epoch.load(std::memory_order_relaxed);
    lk.unlock();
    n->epoch.wait(seen, std::memory_order_acquire);
    lk.lock();
  }
  --n->waiters;
}

std::size_t token_child_count(const CancellationToken& token) noexcept {
  TokenNode* n = TokenAccess::node(token);
  std::lock_guard<std::mutex> lk(n->mu);
  return n->child_count;
}

std::size_t token_use_count(const CancellationToken& token) noexcept {
  return TokenAccess::node(token)->refs.load(std::memory_order_acquire);
}

std::size_t token_waiter_count(const CancellationToken& token) noexcept {
  TokenNode* n = TokenAccess::node(token);
  std::lock_guard<std::mutex> lk(n->mu);
  return n->waiters;
}

namespace {

// run_registered is the hook function of on_cancel: it moves the std::function out first, so that
// the callback may destroy its own registration and still use its captures.
void run_registered(CancelHook* hook) noexcept {
  std::function<void()> cb = std::move(static_cast<CallbackState*>(hook)->cb);
  cb();
}

// run_now runs a callback on the caller; an exception calls std::terminate, as from cancel().
void run_now(std::function<void()>& cb) noexcept {
  cb();
}

}  // namespace

}  // namespace spindle::detail

namespace spindle {

CancellationRegistration::CancellationRegistration(CancellationRegistration&& other) noexcept
    : state_(std::exchange(other.state_, nullptr)) {}

CancellationRegistration& CancellationRegistration::operator=(
    CancellationRegistration&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::exchange(other.state_, nullptr);
  }
  return *this;
}

CancellationRegistration::~CancellationRegistration() {
  reset();
}

void CancellationRegistration::reset() noexcept {
  if (detail::CallbackState* s = std::exchange(state_, nullptr)) {
    detail::token_detach(s->token, s);
    delete s;
  }
}

CancellationToken::CancellationToken() : node_(new detail::TokenNode) {}

CancellationToken::CancellationToken(const CancellationToken& other) noexcept : node_(other.node_) {
  detail::acquire(node_);
}

CancellationToken& CancellationToken::operator=(const CancellationToken& other) noexcept {
  detail::TokenNode* old = node_;
  detail::acquire(other.node_);
  node_ = other.node_;
  detail::release(old);
  return *this;
}

CancellationToken::~CancellationToken() {
  detail::release(node_);
}

CancellationToken CancellationToken::child() const {
  auto* c = new detail::TokenNode;
  {
    std::lock_guard<std::mutex> lk(node_->mu);
    if (node_->cancelled.load(std::memory_order_acquire)) {
      c->cancelled.store(true, std::memory_order_relaxed);  // born cancelled, never linked
    } else {
      detail::acquire(node_);
      c->parent = node_;
      c->sib_next = node_->children;
      if (node_->children != nullptr) node_->children->sib_prev = c;
      node_->children = c;
      ++node_->child_count;
    }
  }
  return detail::TokenAccess::adopt(c);
}

bool CancellationToken::cancel() noexcept {
  return detail::cancel_tree(node_);
}

bool CancellationToken::is_cancelled() const noexcept {
  return node_->cancelled.load(std::memory_order_acquire);
}

CancellationRegistration CancellationToken::on_cancel(std::function<void()> cb) const {
  if (!cb) throw std::invalid_argument("spindle::CancellationToken::on_cancel: empty callback");
  if (is_cancelled()) {
    detail::run_now(cb);
    return {};
  }
  auto state = std::make_unique<detail::CallbackState>(std::move(cb), *this);
  state->fn = &detail::run_registered;
  if (!detail::token_attach(*this, state.get())) {
    std::function<void()> f = std::move(state->cb);
    state.reset();
    detail::run_now(f);
    return {};
  }
  return CancellationRegistration(state.release());
}

}  // namespace spindle
