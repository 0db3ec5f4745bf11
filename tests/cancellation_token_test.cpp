// CancellationToken trees, callback registration and deregistration, and the shutdown token.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <latch>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "spindle/cancellation_token.hpp"
#include "spindle/detail/cancel_hook.hpp"
#include "spindle/shutdown.hpp"
#include "test_util.hpp"

namespace {

using spindle::CancellationRegistration;
using spindle::CancellationToken;
using spindle::test::wait_until;

TEST(CancellationTokenTest, NewTokenIsNotCancelledAndCopiesShareIt) {
  CancellationToken a;
  CancellationToken b = a;
  CancellationToken other;
  EXPECT_FALSE(a.is_cancelled());
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == other);
  EXPECT_EQ(spindle::detail::token_use_count(a), 2u);
  EXPECT_TRUE(b.cancel());
  EXPECT_TRUE(a.is_cancelled());
  EXPECT_FALSE(a.cancel());  // idempotent
  EXPECT_FALSE(other.is_cancelled());
  other = a;
  EXPECT_TRUE(other.is_cancelled());
  EXPECT_EQ(spindle::detail::token_use_count(a), 3u);
}

TEST(CancellationTokenTest, ParentCancelsChildAndGrandchildAfterItsOwnCallbacks) {
  CancellationToken root;
  CancellationToken child = root.child();
  CancellationToken grandchild = child.child();
  CancellationToken sibling = root.child();
  std::vector<std::string> order;
  auto r1 = grandchild.on_cancel([&] { order.push_back("grandchild"); });
  auto r2 = child.on_cancel([&] { order.push_back("child"); });
  auto r3 = root.on_cancel([&] { order.push_back("root1"); });
  auto r4 = root.on_cancel([&] { order.push_back("root2"); });
  auto r5 = sibling.on_cancel([&] { order.push_back("sibling"); });

  EXPECT_TRUE(root.cancel());
  EXPECT_TRUE(root.is_cancelled());
  EXPECT_TRUE(child.is_cancelled());
  EXPECT_TRUE(grandchild.is_cancelled());
  EXPECT_TRUE(sibling.is_cancelled());
  ASSERT_EQ(order.size(), 5u);
  // The token's own callbacks first, in registration order, then the subtree depth-first.
  EXPECT_EQ(order[0], "root1");
  EXPECT_EQ(order[1], "root2");
  const auto child_pos = std::find(order.begin(), order.end(), "child") - order.begin();
  const auto grandchild_pos = std::find(order.begin(), order.end(), "grandchild") - order.begin();
  const auto sibling_pos = std::find(order.begin(), order.end(), "sibling") - order.begin();
  EXPECT_EQ(grandchild_pos, child_pos + 1);
  EXPECT_TRUE(sibling_pos == 2 || sibling_pos == 4);
  EXPECT_FALSE(child.cancel());
}

TEST(CancellationTokenTest, CancellingAChildLeavesItsParentAndSiblingsAlone) {
  CancellationToken root;
  CancellationToken child = root.child();
  CancellationToken grandchild = child.child();
  CancellationToken sibling = root.child();
  int root_calls = 0;
  int grandchild_calls = 0;
  auto r1 = root.on_cancel([&] { ++root_calls; });
  auto r2 = grandchild.on_cancel([&] { ++grandchild_calls; });

  EXPECT_TRUE(child.cancel());
  EXPECT_TRUE(child.is_cancelled());
  EXPECT_TRUE(grandchild.is_cancelled());
  EXPECT_FALSE(root.is_cancelled());
  EXPECT_FALSE(sibling.is_cancelled());
  EXPECT_EQ(root_calls, 0);
  EXPECT_EQ(grandchild_calls, 1);

  EXPECT_TRUE(root.cancel());  // the cancelled child is skipped, its callbacks do not run again
  EXPECT_TRUE(sibling.is_cancelled());
  EXPECT_EQ(root_calls, 1);
  EXPECT_EQ(grandchild_calls, 1);
}

TEST(CancellationTokenTest, ChildOfACancelledTokenIsBornCancelledAndUnlinked) {
  CancellationToken root;
  root.cancel();
  CancellationToken child = root.child();
  EXPECT_TRUE(child.is_cancelled());
  EXPECT_TRUE(child.child().is_cancelled());
  EXPECT_EQ(spindle::detail::token_child_count(root), 0u);
  EXPECT_EQ(spindle::detail::token_use_count(root), 1u);
}

TEST(CancellationTokenTest, RegisteringOnACancelledTokenRunsTheCallbackAtOnceOnTheCaller) {
  CancellationToken token;
  token.cancel();
  std::thread::id ran_on;
  int calls = 0;
  CancellationRegistration reg = token.on_cancel([&] {
    ++calls;
    ran_on = std::this_thread::get_id();
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_FALSE(reg.valid());
  token.cancel();
  EXPECT_EQ(calls, 1);
}

TEST(CancellationTokenTest, EmptyCallbackIsRejected) {
  CancellationToken token;
  EXPECT_THROW((void)token.on_cancel(std::function<void()>()), std::invalid_argument);
}

TEST(CancellationTokenTest, DeregisteredCallbacksNeverRun) {
  CancellationToken token;
  int a = 0, b = 0, c = 0, d = 0;
  {
    auto ra = token.on_cancel([&] { ++a; });  // destroyed at the end of the scope
  }
  auto rb = token.on_cancel([&] { ++b; });
  rb.reset();
  EXPECT_FALSE(rb.valid());
  auto rc = token.on_cancel([&] { ++c; });
  rc = token.on_cancel([&] { ++d; });  // move-assignment deregisters the old callback
  CancellationRegistration moved = std::move(rc);
  EXPECT_FALSE(rc.valid());
  EXPECT_TRUE(moved.valid());

  token.cancel();
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 0);
  EXPECT_EQ(c, 0);
  EXPECT_EQ(d, 1);
  moved.reset();  // after the callback ran: no-op
  EXPECT_EQ(d, 1);
}

TEST(CancellationTokenTest, RegistrationKeepsTheTokenAlive) {
  std::optional<CancellationToken> token(std::in_place);
  CancellationToken observer = token->child();
  int calls = 0;
  CancellationRegistration reg = token->on_cancel([&] { ++calls; });
  EXPECT_EQ(spindle::detail::token_use_count(*token), 3u);  // handle, registration, child
  token.reset();
  reg.reset();  // the registration's reference was the last but the child's
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(observer.is_cancelled());
}

TEST(CancellationTokenTest, CallbacksRunExactlyOnceWhenEightThreadsRaceToCancel) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 200;
  constexpr int kCallbacks = 16;
  for (int round = 0; round < kRounds; ++round) {
    CancellationToken root;
    CancellationToken child = root.child();
    std::atomic<int> calls[kCallbacks] = {};
    std::vector<CancellationRegistration> regs;
    for (int i = 0; i < kCallbacks; ++i) {
      const CancellationToken& target = (i % 2 == 0) ? root : child;
      regs.push_back(target.on_cancel([&calls, i] { calls[i].fetch_add(1); }));
    }
    std::atomic<int> winners{0};
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        // Half race on the root, half on the child: the child's callbacks still run once.
        if (t % 2 == 0) {
          if (root.cancel()) winners.fetch_add(1);
        } else {
          child.cancel();
        }
      });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(winners.load(), 1) << "round " << round;
    ASSERT_TRUE(child.is_cancelled());
    for (int i = 0; i < kCallbacks; ++i) ASSERT_EQ(calls[i].load(), 1) << "round " << round;
  }
}

TEST(CancellationTokenTest, DeregistrationWaitsForACallbackRunningOnAnotherThread) {
  CancellationToken token;
  std::atomic<bool> entered{false};
  std::atomic<bool> saw_waiter{false};
  std::atomic<bool> returned{false};
  auto resource = std::make_unique<int>(42);  // what the callback uses; freed after deregistering
  auto reg = std::make_unique<CancellationRegistration>(token.on_cancel([&] {
    entered.store(true);
    // Return only once the main thread is blocked in the registration's destructor.
    saw_waiter.store(wait_until([&] { return spindle::detail::token_waiter_count(token) == 1; }));
    EXPECT_EQ(*resource, 42);
    returned.store(true);
  }));
  std::thread canceller([&] { token.cancel(); });
  ASSERT_TRUE(wait_until([&] { return entered.load(); }));
  reg.reset();  // blocks until the callback has returned
  EXPECT_TRUE(returned.load());
  EXPECT_TRUE(saw_waiter.load());
  resource.reset();
  canceller.join();
  EXPECT_EQ(spindle::detail::token_waiter_count(token), 0u);
}

TEST(CancellationTokenTest, CallbackMayDestroyItsOwnRegistration) {
  CancellationToken token;
  std::optional<CancellationRegistration> reg;
  std::string payload = "still here";
  std::string seen;
  int calls = 0;
  reg.emplace(token.on_cancel([&reg, &calls, &seen, copy = payload] {
    reg.reset();  // same thread: does not wait for itself
    ++calls;
    seen = copy;  // the callback's own captures survive its registration
  }));
  token.cancel();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, payload);
  EXPECT_FALSE(reg.has_value());
}

TEST(CancellationTokenTest, NestedCallbackMayDestroyTheRegistrationOfTheCallbackThatCalledIt) {
  CancellationToken outer;
  CancellationToken inner;
  std::optional<CancellationRegistration> outer_reg;
  std::string seen;
  outer_reg.emplace(outer.on_cancel([&inner, &seen, copy = std::string("outer capture")] {
    inner.cancel();  // whose callback destroys this callback's registration
    seen = copy;
  }));
  auto inner_reg = inner.on_cancel([&] { outer_reg.reset(); });
  outer.cancel();
  EXPECT_EQ(seen, "outer capture");
  EXPECT_FALSE(outer_reg.has_value());
}

TEST(CancellationTokenTest, CallbackMayCancelOtherTokensAndRegisterNewCallbacks) {
  CancellationToken a;
  CancellationToken b;
  CancellationToken c;
  int b_calls = 0, c_calls = 0, a_late_calls = 0, a_again = 0;
  CancellationRegistration late;
  auto rb = b.on_cancel([&] { ++b_calls; });
  auto ra = a.on_cancel([&] {
    EXPECT_TRUE(b.cancel());
    EXPECT_FALSE(a.cancel());  // the same token again: no-op, no deadlock
    // A new callback on a token not yet cancelled is kept; on this one it runs at once.
    late = c.on_cancel([&] { ++c_calls; });
    auto now = a.on_cancel([&] { ++a_late_calls; });
    EXPECT_FALSE(now.valid());
    ++a_again;
  });
  a.cancel();
  EXPECT_EQ(a_again, 1);
  EXPECT_EQ(b_calls, 1);
  EXPECT_EQ(a_late_calls, 1);
  EXPECT_EQ(c_calls, 0);
  EXPECT_TRUE(late.valid());
  c.cancel();
  EXPECT_EQ(c_calls, 1);
}

TEST(CancellationTokenTest, DeadChildrenDoNotAccumulateInALongLivedParent) {
  CancellationToken parent;
  for (int i = 0; i < 1000; ++i) {
    CancellationToken c = parent.child();
    CancellationToken g = c.child();
    auto reg = g.on_cancel([] {});
    EXPECT_EQ(spindle::detail::token_child_count(parent), 1u);
  }
  EXPECT_EQ(spindle::detail::token_child_count(parent), 0u);
  EXPECT_EQ(spindle::detail::token_use_count(parent), 1u);

  // A child keeps its parent's node alive (one reference), and gives it back when it goes.
  std::optional<CancellationToken> child = parent.child();
  EXPECT_EQ(spindle::detail::token_use_count(parent), 2u);
  child.reset();
  EXPECT_EQ(spindle::detail::token_use_count(parent), 1u);
  EXPECT_EQ(spindle::detail::token_child_count(parent), 0u);

  // Children of a cancelled parent are unlinked when they die too.
  std::vector<CancellationToken> kept;
  for (int i = 0; i < 10; ++i) kept.push_back(parent.child());
  parent.cancel();
  EXPECT_EQ(spindle::detail::token_child_count(parent), 10u);
  kept.clear();
  EXPECT_EQ(spindle::detail::token_child_count(parent), 0u);
  EXPECT_EQ(spindle::detail::token_use_count(parent), 1u);
}

TEST(CancellationTokenTest, ChildOutlivingItsParentsHandlesIsStillCancelledThroughTheChain) {
  CancellationToken root;
  CancellationToken leaf = root.child().child().child();  // middle handles are gone
  EXPECT_EQ(spindle::detail::token_child_count(root), 1u);
  root.cancel();
  EXPECT_TRUE(leaf.is_cancelled());
}

// run_on_small_stack runs `f` on a thread with a 256 KiB stack, where recursing 10,000 levels would
// overflow.
void run_on_small_stack(void (*f)(void*), void* arg) {
  struct Call {
    void (*f)(void*);
    void* arg;
  } call{f, arg};
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
  pthread_t th;
  ASSERT_EQ(pthread_create(
                &th, &attr,
                [](void* p) -> void* {
                  auto* c = static_cast<Call*>(p);
                  c->f(c->arg);
                  return nullptr;
                },
                &call),
            0);
  pthread_attr_destroy(&attr);
  ASSERT_EQ(pthread_join(th, nullptr), 0);
}

struct DeepChainResult {
  bool leaf_cancelled = false;
  int leaf_calls = 0;
  std::size_t root_children_after_destroy = 99;
  std::size_t root_uses_after_destroy = 99;
  bool other_root_cancelled = true;
};

TEST(CancellationTokenTest, TenThousandDeepChainCancelsAndDestroysWithoutRecursion) {
  DeepChainResult result;
  run_on_small_stack(
      [](void* p) {
        auto* r = static_cast<DeepChainResult*>(p);
        constexpr int kDepth = 10000;
        CancellationToken root;
        std::optional<CancellationToken> leaf(root);
        for (int i = 0; i < kDepth; ++i) *leaf = leaf->child();  // only the leaf handle is kept
        auto reg = leaf->on_cancel([r] { ++r->leaf_calls; });
        root.cancel();
        r->leaf_cancelled = leaf->is_cancelled();
        reg.reset();
        leaf.reset();  // frees 10,000 nodes, leaf first
        r->root_children_after_destroy = spindle::detail::token_child_count(root);
        r->root_uses_after_destroy = spindle::detail::token_use_count(root);

        // An uncancelled chain whose root goes first: freed when the leaf goes.
        std::optional<CancellationToken> other_root(std::in_place);
        CancellationToken other_leaf = *other_root;
        for (int i = 0; i < kDepth; ++i) other_leaf = other_leaf.child();
        other_root.reset();
        r->other_root_cancelled = other_leaf.is_cancelled();
      },
      &result);
  EXPECT_TRUE(result.leaf_cancelled);
  EXPECT_EQ(result.leaf_calls, 1);
  EXPECT_EQ(result.root_children_after_destroy, 0u);
  EXPECT_EQ(result.root_uses_after_destroy, 1u);
  EXPECT_FALSE(result.other_root_cancelled);
}

TEST(CancellationTokenTest, ConcurrentRegistrationDeregistrationAndCancel) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 300;
  for (int round = 0; round < kRounds; ++round) {
    CancellationToken token;
    std::atomic<int> late_calls{0};  // callbacks that ran after their deregistration returned
    std::atomic<int> calls{0};
    std::latch start(kThreads + 1);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        for (int i = 0; i < 20; ++i) {
          auto deregistered = std::make_shared<std::atomic<bool>>(false);
          auto reg = token.on_cancel([&, deregistered] {
            if (deregistered->load()) late_calls.fetch_add(1);
            calls.fetch_add(1);
          });
          reg.reset();
          deregistered->store(true);
        }
      });
    }
    start.arrive_and_wait();
    token.cancel();
    for (auto& th : threads) th.join();
    ASSERT_EQ(late_calls.load(), 0) << "round " << round;
    ASSERT_LE(calls.load(), kThreads * 20);
  }
}

TEST(CancellationTokenTest, ChildrenMadeWhileTheParentIsCancelledAreAllCancelledOnce) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  for (int round = 0; round < kRounds; ++round) {
    CancellationToken parent;
    struct Kept {
      CancellationToken token;
      std::shared_ptr<std::atomic<int>> calls;
      CancellationRegistration reg;
    };
    std::vector<std::vector<Kept>> kept(kThreads);
    std::latch start(kThreads + 1);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        for (int i = 0; i < 20; ++i) {
          CancellationToken c = parent.child();
          auto calls = std::make_shared<std::atomic<int>>(0);
          auto reg = c.child().on_cancel([calls] { calls->fetch_add(1); });
          if (i % 2 == 0) kept[t].push_back(Kept{c, calls, std::move(reg)});
          // Odd ones die at once, possibly while the parent's cancellation scans them.
        }
      });
    }
    start.arrive_and_wait();
    parent.cancel();
    for (auto& th : threads) th.join();
    for (auto& v : kept) {
      for (auto& k : v) {
        ASSERT_TRUE(k.token.is_cancelled());
        ASSERT_EQ(k.calls->load(), 1);
      }
    }
    kept.clear();
    ASSERT_EQ(spindle::detail::token_child_count(parent), 0u);
    ASSERT_EQ(spindle::detail::token_use_count(parent), 1u);
  }
}

// --- The allocation-free hook -----------------------------------------------------------------

struct CountingHook : spindle::detail::CancelHook {
  int calls = 0;
  CancelHook* seen = nullptr;
};

void count_hook(spindle::detail::CancelHook* h) noexcept {
  auto* self = static_cast<CountingHook*>(h);
  ++self->calls;
  self->seen = h;
}

TEST(CancelHookTest, AttachDetachAndRun) {
  CancellationToken token;
  CountingHook a, b, c;
  a.fn = b.fn = c.fn = &count_hook;
  ASSERT_TRUE(spindle::detail::token_attach(token, &a));
  ASSERT_TRUE(spindle::detail::token_attach(token, &b));
  ASSERT_TRUE(spindle::detail::token_attach(token, &c));
  spindle::detail::token_detach(token, &b);  // the middle one: O(1) unlink
  EXPECT_FALSE(b.linked);
  token.cancel();
  EXPECT_EQ(a.calls, 1);
  EXPECT_EQ(a.seen, &a);
  EXPECT_EQ(b.calls, 0);
  EXPECT_EQ(c.calls, 1);
  EXPECT_FALSE(a.linked);
  spindle::detail::token_detach(token, &a);  // already ran: no-op

  CountingHook d;
  d.fn = &count_hook;
  EXPECT_FALSE(
      spindle::detail::token_attach(token, &d));  // already cancelled: not attached, no call
  EXPECT_FALSE(d.linked);
  EXPECT_EQ(d.calls, 0);
}

struct SelfDetachingHook : spindle::detail::CancelHook {
  CancellationToken token;
};

TEST(CancelHookTest, HookMayDetachAndFreeItselfFromItsFunction) {
  CancellationToken token;
  auto* hook = new SelfDetachingHook;
  hook->token = token;
  hook->fn = [](spindle::detail::CancelHook* h) noexcept {
    auto* self = static_cast<SelfDetachingHook*>(h);
    spindle::detail::token_detach(self->token, self);  // same thread: returns at once
    delete self;
  };
  ASSERT_TRUE(spindle::detail::token_attach(token, hook));
  EXPECT_TRUE(token.cancel());  // no deadlock, no use after free (ASan)
}

// --- The shutdown token (each case in a fresh child process: the test binary's signal state is
// never touched) ----------------------------------------------------------------------------------

// wait_for_shutdown waits (generous deadline) until the shutdown token is cancelled.
bool wait_for_shutdown() {
  CancellationToken token = spindle::shutdown_token();
  return wait_until([&] { return token.is_cancelled(); });
}

bool handler_is(int sig, void (*h)(int)) {
  struct sigaction cur {};
  return sigaction(sig, nullptr, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) == 0 &&
         cur.sa_handler == h;
}

int signal_cancels_token(int sig, bool use_kill) {
  CancellationToken token = spindle::shutdown_token();
  if (token.is_cancelled()) return 2;
  if (handler_is(sig, SIG_DFL) || handler_is(sig, SIG_IGN)) return 3;
  std::atomic<int> calls{0};
  std::atomic<bool> on_other_thread{false};
  const std::thread::id main_id = std::this_thread::get_id();
  auto reg = token.on_cancel([&] {
    on_other_thread.store(std::this_thread::get_id() != main_id);
    calls.fetch_add(1);
  });
  errno = 1234;
  if (use_kill) {
    kill(getpid(), sig);
  } else {
    raise(sig);
  }
  if (errno != 1234) return 4;  // the handler restores errno
  if (!wait_until([&] { return calls.load() == 1; })) return 5;
  if (!on_other_thread.load()) return 6;  // callbacks run on the watcher thread
  // The first signal put both back to their default action.
  if (!handler_is(SIGINT, SIG_DFL) || !handler_is(SIGTERM, SIG_DFL)) return 7;
  reg.reset();
  return spindle::shutdown_token().is_cancelled() ? 0 : 8;
}

TEST(ShutdownTokenDeathTest, RaisedSigtermCancelsTheShutdownToken) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(signal_cancels_token(SIGTERM, false)), ::testing::ExitedWithCode(0), "");
}

TEST(ShutdownTokenDeathTest, SigintSentWithKillCancelsTheShutdownToken) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(signal_cancels_token(SIGINT, true)), ::testing::ExitedWithCode(0), "");
}

int first_signal_then_second(int first, int second) {
  if (spindle::shutdown_token().is_cancelled()) return 2;
  raise(first);
  if (!wait_for_shutdown()) return 3;
  std::fprintf(stderr, "first signal cancelled the token\n");
  raise(second);  // default action: kills the process
  return 4;
}

TEST(ShutdownTokenDeathTest, SecondSigintKillsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(first_signal_then_second(SIGINT, SIGINT)),
              ::testing::KilledBySignal(SIGINT), "first signal cancelled the token");
}

TEST(ShutdownTokenDeathTest, SigintAfterSigtermKillsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(first_signal_then_second(SIGTERM, SIGINT)),
              ::testing::KilledBySignal(SIGINT), "first signal cancelled the token");
}

int request_shutdown_case() {
  // request_shutdown before any shutdown_token(): no handlers are installed.
  spindle::request_shutdown();
  if (!handler_is(SIGINT, SIG_DFL) || !handler_is(SIGTERM, SIG_DFL)) return 2;
  CancellationToken token = spindle::shutdown_token();
  if (!token.is_cancelled()) return 3;
  spindle::request_shutdown();  // idempotent
  return 0;
}

TEST(ShutdownTokenDeathTest, RequestShutdownCancelsWithoutTouchingSignalHandlers) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(request_shutdown_case()), ::testing::ExitedWithCode(0), "");
}

int request_shutdown_runs_callbacks_on_caller() {
  CancellationToken token = spindle::shutdown_token();
  CancellationToken request = token.child();
  std::thread::id ran_on;
  auto reg = request.on_cancel([&] { ran_on = std::this_thread::get_id(); });
  spindle::request_shutdown();
  if (!request.is_cancelled()) return 2;
  return ran_on == std::this_thread::get_id() ? 0 : 3;
}

TEST(ShutdownTokenDeathTest, RequestShutdownRunsCallbacksOnTheCaller) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(request_shutdown_runs_callbacks_on_caller()), ::testing::ExitedWithCode(0),
              "");
}

int first_use_from_many_threads() {
  constexpr int kThreads = 8;
  std::vector<std::optional<CancellationToken>> got(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      got[t] = spindle::shutdown_token();
    });
  }
  for (auto& th : threads) th.join();
  for (auto& g : got) {
    if (!g || !(*g == *got[0])) return 2;
  }
  return 0;  // exits with the watcher thread still blocked: exit must not hang
}

TEST(ShutdownTokenDeathTest, FirstUseFromManyThreadsInstallsOnceAndExitDoesNotHang) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(first_use_from_many_threads()), ::testing::ExitedWithCode(0), "");
}

int ignored_signal_stays_ignored() {
  signal(SIGTERM, SIG_IGN);
  (void)spindle::shutdown_token();
  if (!handler_is(SIGTERM, SIG_IGN)) return 2;
  if (handler_is(SIGINT, SIG_DFL) || handler_is(SIGINT, SIG_IGN)) return 3;
  raise(SIGINT);
  if (!wait_for_shutdown()) return 4;
  return handler_is(SIGTERM, SIG_IGN) ? 0 : 5;  // the handler does not un-ignore it
}

TEST(ShutdownTokenDeathTest, IgnoredSignalStaysIgnored) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(ignored_signal_stays_ignored()), ::testing::ExitedWithCode(0), "");
}

}  // namespace
