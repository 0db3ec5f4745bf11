// spindle/stop_token.hpp: StopTokenBridge (CancellationToken -> std::stop_token) and CancelOnStop
// (std::stop_token -> CancellationToken): forwarding, already-cancelled and already-requested
// sources, subtrees, unlinking on destruction, moves, fibers stopped by a std::jthread, and races
// between linking and cancelling from other threads.
#include "spindle/stop_token.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

#include "spindle/cancellation_token.hpp"
#include "spindle/runtime.hpp"
#include "spindle/spawn_options.hpp"
#include "spindle/this_fiber.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;
using spindle::CancellationToken;
using spindle::CancelOnStop;
using spindle::StopTokenBridge;

namespace {

TEST(StopTokenBridge, CancellingTheTokenRequestsTheStopToken) {
  CancellationToken tok;
  StopTokenBridge bridge(tok);
  std::stop_token st = bridge.get_token();
  EXPECT_TRUE(st.stop_possible());
  EXPECT_FALSE(st.stop_requested());
  int calls = 0;
  std::stop_callback cb(st, [&] { ++calls; });
  tok.cancel();
  EXPECT_TRUE(st.stop_requested());
  EXPECT_TRUE(bridge.stop_requested());
  EXPECT_EQ(calls, 1);
  tok.cancel();  // idempotent
  EXPECT_EQ(calls, 1);
}

TEST(StopTokenBridge, AlreadyCancelledAndAncestorCancellation) {
  CancellationToken done;
  done.cancel();
  StopTokenBridge b1(done);
  EXPECT_TRUE(b1.get_token().stop_requested());

  CancellationToken root;
  CancellationToken leaf = root.child().child();
  StopTokenBridge b2(leaf);
  root.cancel();
  EXPECT_TRUE(b2.get_token().stop_requested());
}

TEST(StopTokenBridge, DestroyedBridgeForwardsNothing) {
  CancellationToken tok;
  std::stop_token st;
  {
    StopTokenBridge bridge(tok);
    st = bridge.get_token();
  }
  EXPECT_FALSE(st.stop_possible());  // no source left
  tok.cancel();
  EXPECT_FALSE(st.stop_requested());
  // A stop requested before the bridge went stays requested.
  CancellationToken tok2;
  std::stop_token st2;
  {
    StopTokenBridge bridge(tok2);
    st2 = bridge.get_token();
    tok2.cancel();
  }
  EXPECT_TRUE(st2.stop_requested());
}

TEST(StopTokenBridge, MovedBridgeKeepsForwarding) {
  CancellationToken tok;
  StopTokenBridge a(tok);
  std::stop_token st = a.get_token();
  StopTokenBridge b(std::move(a));
  EXPECT_FALSE(a.get_token().stop_possible());  // NOLINT(bugprone-use-after-move): documented
  tok.cancel();
  EXPECT_TRUE(st.stop_requested());
  EXPECT_TRUE(b.stop_requested());
}

TEST(StopTokenBridge, FiberCancellationInterruptsAStopTokenWait) {
  spindle::AsyncRuntime rt(spindle::test::workers(2));
  std::mutex mu;
  std::condition_variable_any cv;
  std::atomic<bool> waiting{false};
  auto h = rt.spawn([&] {
    StopTokenBridge stop(spindle::this_fiber::cancellation_token());
    std::unique_lock<std::mutex> lk(mu);
    waiting.store(true);
    // An OS-level wait (blocks this worker): returns once the stop is requested.
    const bool pred = cv.wait(lk, stop.get_token(), [] { return false; });
    return !pred && stop.stop_requested();
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return waiting.load(); }));
  h.cancel();
  EXPECT_TRUE(h.join());
}

TEST(CancelOnStop, RequestingTheStopCancelsTheToken) {
  std::stop_source src;
  CancellationToken tok;
  CancellationToken kid = tok.child();
  CancelOnStop link(src.get_token(), tok);
  EXPECT_FALSE(tok.is_cancelled());
  src.request_stop();
  EXPECT_TRUE(tok.is_cancelled());
  EXPECT_TRUE(kid.is_cancelled());
}

TEST(CancelOnStop, AlreadyRequestedCancelsInTheConstructor) {
  std::stop_source src;
  src.request_stop();
  CancellationToken tok;
  CancelOnStop link(src.get_token(), tok);
  EXPECT_TRUE(tok.is_cancelled());
  // A stop token without a state never forwards.
  CancellationToken tok2;
  CancelOnStop none(std::stop_token{}, tok2);
  EXPECT_FALSE(tok2.is_cancelled());
}

TEST(CancelOnStop, DestroyedOrMovedLink) {
  std::stop_source src;
  CancellationToken tok;
  { CancelOnStop link(src.get_token(), tok); }
  src.request_stop();
  EXPECT_FALSE(tok.is_cancelled());

  std::stop_source src2;
  CancellationToken tok2;
  CancelOnStop a(src2.get_token(), tok2);
  CancelOnStop b(std::move(a));
  CancelOnStop c(std::stop_token{}, CancellationToken{});
  c = std::move(b);
  src2.request_stop();
  EXPECT_TRUE(tok2.is_cancelled());
}

TEST(CancelOnStop, AJthreadStopsFibers) {
  spindle::AsyncRuntime rt(spindle::test::workers(2));
  CancellationToken tok;
  std::vector<spindle::JoinHandle<void>> hs;
  spindle::SpawnOptions opts;
  opts.token = tok;
  for (int i = 0; i < 4; ++i) {
    hs.push_back(rt.spawn([] { spindle::this_fiber::sleep_for(60s); }, opts));
  }
  std::jthread owner([](std::stop_token) {});
  CancelOnStop link(owner.get_stop_token(), tok);
  for (auto& h : hs) ASSERT_TRUE(spindle::test::parked(h));
  owner.request_stop();
  for (auto& h : hs) EXPECT_THROW(h.join(), spindle::Cancelled);
}

// Linking races with cancellation from another thread: whichever comes first, the stop is
// forwarded exactly once.
TEST(StopTokenInterop, LinkingRacesWithCancellationFromAnotherThread) {
  const int rounds = 2000 / spindle::test::kScale;
  for (int i = 0; i < rounds; ++i) {
    CancellationToken tok;
    std::atomic<int> calls{0};
    std::thread canceller([&] { tok.cancel(); });
    {
      StopTokenBridge bridge(tok);
      std::stop_callback cb(bridge.get_token(), [&] { calls.fetch_add(1); });
      canceller.join();
      EXPECT_TRUE(bridge.stop_requested());
    }
    EXPECT_EQ(calls.load(), 1);

    std::stop_source src;
    CancellationToken tok2;
    std::atomic<int> cancels{0};
    auto reg = tok2.on_cancel([&] { cancels.fetch_add(1); });
    std::thread stopper([&] { src.request_stop(); });
    {
      CancelOnStop link(src.get_token(), tok2);
      stopper.join();
      EXPECT_TRUE(tok2.is_cancelled());
    }
    EXPECT_EQ(cancels.load(), 1);
  }
}

// Destroying a link while the other thread forwards through it: the destructor waits for the
// forwarding to finish; nothing is used after it is freed (TSan/ASan runs check).
TEST(StopTokenInterop, UnlinkingRacesWithForwarding) {
  const int rounds = 2000 / spindle::test::kScale;
  for (int i = 0; i < rounds; ++i) {
    CancellationToken tok;
    auto bridge = std::make_unique<StopTokenBridge>(tok);
    std::stop_token st = bridge->get_token();
    std::thread canceller([&] { tok.cancel(); });
    bridge.reset();
    canceller.join();
    std::stop_source src;
    CancellationToken tok2;
    auto link = std::make_unique<CancelOnStop>(src.get_token(), tok2);
    std::thread stopper([&] { src.request_stop(); });
    link.reset();
    stopper.join();
  }
}

}  // namespace
