// Channel<T>: buffered and rendezvous semantics, try_*, timeouts, close, cancellation, move-only
// values, fibers on one and several workers (also in migrate_every_switch mode), OS threads, and a
// randomized exactly-once stress test with blocking, timed and select-based consumers.
#include "spindle/channel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/select.hpp"
#include "spindle/spindle.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using spindle::Channel;
using spindle::ChannelError;
using spindle::ChannelResult;
using spindle::test::kRtCases;
using spindle::test::kScale;
using spindle::test::param_name;
using spindle::test::wait_parked;

class ChannelRt : public spindle::test::RtTest {};

// ---------------------------------------------------------------------------------------------
// Single-threaded semantics (no runtime: the calling thread never needs to block).

TEST(ChannelTest, ErrorNamesAndException) {
  EXPECT_STREQ(spindle::to_string(ChannelError::Closed), "Closed");
  EXPECT_STREQ(spindle::to_string(ChannelError::Full), "Full");
  EXPECT_STREQ(spindle::to_string(ChannelError::Empty), "Empty");
  EXPECT_STREQ(spindle::to_string(ChannelError::Timeout), "Timeout");
  EXPECT_STREQ(spindle::to_string(ChannelError::Cancelled), "Cancelled");
  EXPECT_STREQ(spindle::to_string(ChannelError::Disconnected), "Disconnected");
  ChannelResult<int> bad(ChannelError::Timeout);
  EXPECT_FALSE(bad);
  EXPECT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error(), ChannelError::Timeout);
  try {
    (void)bad.value();
    FAIL() << "value() did not throw";
  } catch (const spindle::ChannelException& e) {
    EXPECT_EQ(e.error(), ChannelError::Timeout);
    EXPECT_NE(std::string(e.what()).find("Timeout"), std::string::npos);
  }
  ChannelResult<std::string> good(std::in_place, "abc");
  EXPECT_TRUE(good);
  EXPECT_EQ(*good, "abc");
  EXPECT_EQ(good->size(), 3u);
  EXPECT_EQ(good.value(), "abc");
  ChannelResult<void> ok;
  EXPECT_TRUE(ok);
  ok.value();
  ChannelResult<void> closed(ChannelError::Closed);
  EXPECT_THROW(closed.value(), spindle::ChannelException);
  EXPECT_EQ(ChannelResult<int>(ChannelError::Empty).value_or(7) + 0, 7);
}

TEST(ChannelTest, CapacityLimit) {
  EXPECT_THROW(Channel<int>(Channel<int>::kMaxCapacity + 1), std::invalid_argument);
  try {
    Channel<int> c(Channel<int>::kMaxCapacity + 1);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("kMaxCapacity"), std::string::npos) << e.what();
  }
  Channel<int> big(Channel<int>::kMaxCapacity);  // the buffer grows on demand: cheap
  EXPECT_EQ(big.capacity(), Channel<int>::kMaxCapacity);
  EXPECT_TRUE(big.try_send(1));
  EXPECT_EQ(*big.try_recv(), 1);
}

TEST(ChannelTest, TrySendTryRecvBuffered) {
  Channel<int> ch(3);
  EXPECT_EQ(ch.capacity(), 3u);
  EXPECT_EQ(ch.try_recv().error(), ChannelError::Empty);
  for (int i = 1; i <= 3; ++i) EXPECT_TRUE(ch.try_send(i));
  EXPECT_EQ(ch.size(), 3u);
  EXPECT_EQ(ch.try_send(4).error(), ChannelError::Full);
  const int lvalue = 5;
  EXPECT_EQ(ch.try_send(lvalue).error(), ChannelError::Full);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(*ch.try_recv(), i);
  EXPECT_EQ(ch.size(), 0u);
  EXPECT_EQ(ch.try_recv().error(), ChannelError::Empty);
}

TEST(ChannelTest, RendezvousTryOpsNeedAPartner) {
  Channel<int> ch(0);
  EXPECT_EQ(ch.try_send(1).error(), ChannelError::Full);
  EXPECT_EQ(ch.try_recv().error(), ChannelError::Empty);
  EXPECT_EQ(ch.size(), 0u);
}

TEST(ChannelTest, BufferGrowsAndKeepsFifoOrderAcrossWrap) {
  Channel<std::string> ch(1000);
  // Wrap the ring first, then grow it while wrapped.
  for (int i = 0; i < 40; ++i) EXPECT_TRUE(ch.try_send(std::to_string(i)));
  for (int i = 0; i < 30; ++i) EXPECT_EQ(*ch.try_recv(), std::to_string(i));
  for (int i = 40; i < 1030; ++i) EXPECT_TRUE(ch.try_send(std::to_string(i)));
  EXPECT_EQ(ch.size(), 1000u);
  EXPECT_EQ(ch.try_send("x").error(), ChannelError::Full);
  for (int i = 30; i < 1030; ++i) EXPECT_EQ(*ch.try_recv(), std::to_string(i));
  EXPECT_EQ(ch.try_recv().error(), ChannelError::Empty);
}

TEST(ChannelTest, FailedSendLeavesMoveOnlyValueIntact) {
  Channel<std::unique_ptr<int>> ch(1);
  auto a = std::make_unique<int>(1);
  EXPECT_TRUE(ch.try_send(std::move(a)));
  EXPECT_EQ(a, nullptr);  // moved on success
  auto b = std::make_unique<int>(2);
  EXPECT_EQ(ch.try_send(std::move(b)).error(), ChannelError::Full);
  ASSERT_NE(b, nullptr);  // untouched on failure
  EXPECT_EQ(ch.send_for(std::move(b), 1ms).error(), ChannelError::Timeout);
  ASSERT_NE(b, nullptr);
  ch.close();
  EXPECT_EQ(ch.send(std::move(b)).error(), ChannelError::Closed);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(*b, 2);
  auto r = ch.recv();  // buffered values survive close
  ASSERT_TRUE(r);
  EXPECT_EQ(**r, 1);
  EXPECT_EQ(ch.recv().error(), ChannelError::Closed);
}

TEST(ChannelTest, CloseIsIdempotentAndDrainsFirst) {
  Channel<int> ch(4);
  EXPECT_TRUE(ch.try_send(1));
  EXPECT_TRUE(ch.try_send(2));
  EXPECT_FALSE(ch.is_closed());
  EXPECT_TRUE(ch.close());
  EXPECT_FALSE(ch.close());
  EXPECT_TRUE(ch.is_closed());
  EXPECT_EQ(ch.try_send(3).error(), ChannelError::Closed);
  EXPECT_EQ(*ch.recv(), 1);
  EXPECT_EQ(*ch.recv_for(1h), 2);
  EXPECT_EQ(ch.try_recv().error(), ChannelError::Closed);
  EXPECT_EQ(ch.recv().error(), ChannelError::Closed);
  EXPECT_EQ(ch.recv_for(1h).error(), ChannelError::Closed);
}

TEST(ChannelTest, DestructorDestroysBufferedValues) {
  auto counter = std::make_shared<int>(0);
  {
    Channel<std::shared_ptr<int>> ch(100);
    for (int i = 0; i < 70; ++i) EXPECT_TRUE(ch.try_send(counter));  // grows past 64
    EXPECT_EQ(counter.use_count(), 71);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

TEST(ChannelTest, MakeChannelSharesOwnership) {
  auto ch = spindle::make_channel<int>(1);
  std::weak_ptr<Channel<int>> weak = ch;
  std::thread t([c = ch] { EXPECT_TRUE(c->send(5)); });
  EXPECT_EQ(*ch->recv(), 5);
  t.join();
  ch.reset();
  EXPECT_TRUE(weak.expired());
}

// ---------------------------------------------------------------------------------------------
// Timeouts: lower bounds only.

TEST(ChannelTest, TimeoutsOnThread) {
  Channel<int> ch(1);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ch.recv_for(5ms).error(), ChannelError::Timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 5ms);
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ch.recv_until(t0 + 5ms).error(), ChannelError::Timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 5ms);
  EXPECT_TRUE(ch.try_send(1));
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ch.send_for(2, 5ms).error(), ChannelError::Timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 5ms);
  const auto sys0 = std::chrono::system_clock::now();
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ch.send_until(2, sys0 + 5ms).error(), ChannelError::Timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 4ms);  // converted through one clock reading
  EXPECT_EQ(ch.recv_for(0ms).value(), 1);                 // ready: a zero timeout still completes
  EXPECT_EQ(ch.recv_for(-1ms).error(), ChannelError::Timeout);
}

TEST_P(ChannelRt, TimeoutsInFiber) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  rt.block_on([] {
    Channel<int> ch(0);
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(ch.recv_for(5ms).error(), ChannelError::Timeout);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 5ms);
    t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(ch.send_for(1, 5ms).error(), ChannelError::Timeout);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 5ms);
    t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(ch.recv_until(t0 + 3ms).error(), ChannelError::Timeout);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 3ms);
    // A zero or negative timeout only polls.
    EXPECT_EQ(ch.recv_for(0ms).error(), ChannelError::Timeout);
    EXPECT_EQ(ch.send_for(1, -1ms).error(), ChannelError::Timeout);
    // After timeouts no stale waiter remains: a rendezvous still needs a partner.
    EXPECT_EQ(ch.try_send(1).error(), ChannelError::Full);
    EXPECT_EQ(ch.try_recv().error(), ChannelError::Empty);
  });
}

TEST_P(ChannelRt, TimedRecvGetsValueSentBeforeDeadline) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Channel<int> ch(0);
  auto rx = rt.spawn([&] { return ch.recv_for(30s); });
  EXPECT_TRUE(ch.send(42));
  auto r = rx.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 42);
}

// ---------------------------------------------------------------------------------------------
// Rendezvous and buffering with fibers and threads.

TEST(ChannelTest, RendezvousSendBlocksUntilReceivedFiberThread) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  Channel<int> ch(0);
  std::atomic<bool> sent{false};
  auto tx = rt.spawn([&] {
    EXPECT_TRUE(ch.send(7));
    sent = true;
  });
  wait_parked(tx);
  EXPECT_FALSE(sent.load());  // parked in send: nobody has received
  EXPECT_EQ(ch.size(), 0u);
  EXPECT_EQ(*ch.recv(), 7);
  tx.join();
  EXPECT_TRUE(sent.load());
}

TEST(ChannelTest, RendezvousSendBlocksUntilReceivedOneWorker) {
  spindle::AsyncRuntime rt({.worker_threads = 1});
  rt.block_on([] {
    Channel<int> ch(0);
    bool sent = false;  // one worker: fibers never run in parallel
    auto tx = spindle::spawn([&] {
      EXPECT_TRUE(ch.send(7));
      sent = true;
    });
    for (int i = 0; i < 10; ++i) spindle::this_fiber::yield();
    EXPECT_FALSE(sent);
    EXPECT_EQ(*ch.recv(), 7);
    tx.join();
    EXPECT_TRUE(sent);
  });
}

TEST(ChannelTest, RendezvousThreadToThread) {
  Channel<int> ch(0);
  std::atomic<bool> sent{false};
  std::thread t([&] {
    EXPECT_TRUE(ch.send(9));
    sent = true;
  });
  EXPECT_EQ(*ch.recv(), 9);
  t.join();
  EXPECT_TRUE(sent.load());
}

// Ping-pong of `rounds` values over two channels of capacity `cap` between `a` and `b`, which run
// either as fibers of `rt` or (rt == nullptr) as OS threads.
void ping_pong(spindle::AsyncRuntime* rt, std::size_t cap, int rounds, bool a_thread,
               bool b_thread) {
  Channel<int> there(cap), back(cap);
  auto a = [&] {
    long sum = 0;
    for (int i = 0; i < rounds; ++i) {
      EXPECT_TRUE(there.send(i));
      auto r = back.recv();
      EXPECT_TRUE(r);
      if (!r) return -1L;
      EXPECT_EQ(*r, i + 1);
      sum += *r;
    }
    return sum;
  };
  auto b = [&] {
    for (int i = 0; i < rounds; ++i) {
      auto r = there.recv();
      EXPECT_TRUE(r);
      if (!r) return;
      EXPECT_TRUE(back.send(*r + 1));
    }
  };
  long expect = static_cast<long>(rounds) * (rounds + 1) / 2;
  std::thread ta, tb;
  spindle::JoinHandle<long> fa;
  spindle::JoinHandle<void> fb;
  long got = 0;
  if (b_thread) {
    tb = std::thread(b);
  } else {
    fb = rt->spawn(b);
  }
  if (a_thread) {
    ta = std::thread([&] { got = a(); });
  } else {
    fa = rt->spawn(a);
  }
  if (a_thread) {
    ta.join();
  } else {
    got = fa.join();
  }
  if (b_thread) {
    tb.join();
  } else {
    fb.join();
  }
  EXPECT_EQ(got, expect);
}

TEST_P(ChannelRt, PingPongFiberFiber) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  for (std::size_t cap : {0u, 1u, 3u}) ping_pong(&rt, cap, n(20000), false, false);
}

TEST_P(ChannelRt, PingPongFiberThread) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  for (std::size_t cap : {0u, 1u}) {
    ping_pong(&rt, cap, n(3000), true, false);
    ping_pong(&rt, cap, n(3000), false, true);
  }
}

TEST(ChannelTest, PingPongThreadThread) {
  for (std::size_t cap : {0u, 1u, 2u}) ping_pong(nullptr, cap, 3000 / kScale, true, true);
}

TEST_P(ChannelRt, BufferedFifoPerProducer) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  constexpr int kProducers = 4;
  const int per = n(3000);
  for (std::size_t cap : {1u, 7u, 100u}) {
    Channel<std::pair<int, int>> ch(cap);
    std::vector<spindle::JoinHandle<void>> hs;
    for (int p = 0; p < kProducers; ++p) {
      hs.push_back(rt.spawn([&, p] {
        for (int i = 0; i < per; ++i) EXPECT_TRUE(ch.send({p, i}));
      }));
    }
    auto consumer = rt.spawn([&] {
      std::vector<int> next(kProducers, 0);
      for (int n = 0; n < kProducers * per; ++n) {
        auto r = ch.recv();
        EXPECT_TRUE(r);
        if (!r) return false;
        if (r->second != next[r->first]) return false;
        ++next[r->first];
      }
      return true;
    });
    for (auto& h : hs) h.join();
    EXPECT_TRUE(consumer.join()) << "capacity " << cap;
    EXPECT_EQ(ch.size(), 0u);
  }
}

TEST_P(ChannelRt, MoveOnlyValuesAcrossFibers) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  for (std::size_t cap : {0u, 2u}) {
    Channel<std::unique_ptr<int>> ch(cap);
    const int count = n(2000);
    auto tx = rt.spawn([&] {
      for (int i = 0; i < count; ++i) {
        auto p = std::make_unique<int>(i);
        EXPECT_TRUE(ch.send(std::move(p)));
        EXPECT_EQ(p, nullptr);
      }
      ch.close();
    });
    auto rx = rt.spawn([&] {
      int i = 0;
      for (;;) {
        auto r = ch.recv();
        if (!r) {
          EXPECT_EQ(r.error(), ChannelError::Closed);
          break;
        }
        EXPECT_EQ(**r, i);
        ++i;
      }
      return i;
    });
    tx.join();
    EXPECT_EQ(rx.join(), count);
  }
}

// ---------------------------------------------------------------------------------------------
// close() with blocked senders and receivers.

TEST_P(ChannelRt, CloseWakesBlockedReceivers) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  for (std::size_t cap : {0u, 3u}) {
    Channel<int> ch(cap);
    std::vector<spindle::JoinHandle<ChannelError>> hs;
    for (int i = 0; i < 5; ++i) {
      hs.push_back(rt.spawn([&] {
        auto r = ch.recv();
        return r ? ChannelError::Full : r.error();  // Full: "got a value" (unexpected)
      }));
    }
    std::atomic<int> thread_result{-1};
    std::thread t([&] { thread_result = static_cast<int>(ch.recv().error()); });
    for (auto& h : hs) wait_parked(h);
    EXPECT_TRUE(ch.close());
    for (auto& h : hs) EXPECT_EQ(h.join(), ChannelError::Closed);
    t.join();
    EXPECT_EQ(thread_result.load(), static_cast<int>(ChannelError::Closed));
  }
}

TEST_P(ChannelRt, CloseWakesBlockedSendersWhoKeepTheirValues) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  for (std::size_t cap : {0u, 2u}) {
    Channel<std::unique_ptr<int>> ch(cap);
    for (std::size_t i = 0; i < cap; ++i) EXPECT_TRUE(ch.try_send(std::make_unique<int>(-1)));
    std::vector<spindle::JoinHandle<int>> hs;
    for (int i = 0; i < 5; ++i) {
      hs.push_back(rt.spawn([&, i] {
        auto p = std::make_unique<int>(i);
        auto r = ch.send(std::move(p));
        if (r || r.error() != ChannelError::Closed) return -100;
        return p ? *p : -200;  // the value came back intact
      }));
    }
    // A plain thread blocks in send too (it may also reach send after the close: Closed either
    // way, and the value stays with it).
    std::atomic<int> thread_kept{-1};
    std::thread t([&] {
      auto p = std::make_unique<int>(77);
      auto r = ch.send(std::move(p));
      thread_kept = (!r && r.error() == ChannelError::Closed && p) ? *p : -100;
    });
    for (auto& h : hs) wait_parked(h);
    EXPECT_TRUE(ch.close());
    for (int i = 0; i < 5; ++i) EXPECT_EQ(hs[i].join(), i);
    t.join();
    EXPECT_EQ(thread_kept.load(), 77);
    // Buffered values are still drained, then Closed.
    for (std::size_t i = 0; i < cap; ++i) {
      auto r = ch.recv();
      ASSERT_TRUE(r);
      EXPECT_EQ(**r, -1);
    }
    EXPECT_EQ(ch.recv().error(), ChannelError::Closed);
  }
}

TEST_P(ChannelRt, ReceiversDrainBufferThenSeeClosed) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Channel<int> ch(64);
  const int n = 50;
  for (int i = 0; i < n; ++i) EXPECT_TRUE(ch.try_send(i));
  ch.close();
  std::atomic<int> got{0}, closed{0};
  std::vector<spindle::JoinHandle<void>> hs;
  for (int c = 0; c < 4; ++c) {
    hs.push_back(rt.spawn([&] {
      for (;;) {
        auto r = ch.recv();
        if (!r) {
          EXPECT_EQ(r.error(), ChannelError::Closed);
          ++closed;
          return;
        }
        ++got;
      }
    }));
  }
  for (auto& h : hs) h.join();
  EXPECT_EQ(got.load(), n);
  EXPECT_EQ(closed.load(), 4);
}

// ---------------------------------------------------------------------------------------------
// Cancellation: a blocked send/recv returns Cancelled; no value is lost or duplicated.

TEST_P(ChannelRt, CancelBlockedRecv) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  for (int round = 0; round < 4; ++round) {
    const std::size_t cap = round % 2;
    const bool timed = round >= 2;  // recv_for(1h) is a cancellation point too
    Channel<int> ch(cap);
    auto h = rt.spawn([&] {
      auto r = timed ? ch.recv_for(1h) : ch.recv();
      return r ? -1 : static_cast<int>(r.error());
    });
    wait_parked(h);
    h.cancel();
    EXPECT_EQ(h.join(), static_cast<int>(ChannelError::Cancelled));
    // The cancelled receiver is gone: a rendezvous send finds nobody, a buffered one stays.
    if (cap == 0) {
      EXPECT_EQ(ch.try_send(1).error(), ChannelError::Full);
    } else {
      EXPECT_TRUE(ch.try_send(1));
      EXPECT_EQ(*ch.try_recv(), 1);
    }
  }
}

TEST_P(ChannelRt, CancelBlockedSendKeepsValue) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  for (int round = 0; round < 4; ++round) {
    const std::size_t cap = round % 2;
    const bool timed = round >= 2;  // send_for(1h) is a cancellation point too
    Channel<std::unique_ptr<int>> ch(cap);
    if (cap == 1) {
      EXPECT_TRUE(ch.try_send(std::make_unique<int>(0)));
    }
    auto h = rt.spawn([&] {
      auto p = std::make_unique<int>(5);
      auto r = timed ? ch.send_for(std::move(p), 1h) : ch.send(std::move(p));
      if (r || r.error() != ChannelError::Cancelled) return -1;
      return p ? *p : -2;
    });
    wait_parked(h);
    h.cancel();
    EXPECT_EQ(h.join(), 5);
    if (cap == 0) {
      EXPECT_EQ(ch.try_recv().error(), ChannelError::Empty);
    } else {
      EXPECT_EQ(**ch.try_recv(), 0);
      EXPECT_EQ(ch.try_recv().error(), ChannelError::Empty);
    }
  }
}

// Cancellation racing with a send: the value is either received by the cancelled fiber or still
// available afterwards, never lost or duplicated.
TEST_P(ChannelRt, CancelRacingWithSendLosesNothing) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  const int rounds = n(300);
  int received = 0, cancelled = 0;
  for (int i = 0; i < rounds; ++i) {
    Channel<int> ch(i % 2);
    std::atomic<bool> started{false};
    auto rx = rt.spawn([&] {
      started = true;
      auto r = ch.recv();
      return r ? *r : -static_cast<int>(r.error()) - 1;
    });
    while (!started) std::this_thread::yield();
    auto tx = rt.spawn([&] { return ch.send_for(i, 5s); });
    if (i % 3 == 0) std::this_thread::yield();
    rx.cancel();
    const int got = rx.join();
    if (got >= 0) {
      EXPECT_EQ(got, i);
      EXPECT_TRUE(tx.join());
      EXPECT_EQ(ch.try_recv().error(), ChannelError::Empty);
      ++received;
    } else {
      EXPECT_EQ(got, -static_cast<int>(ChannelError::Cancelled) - 1);
      auto r = ch.recv();  // the value is still there (buffered, or its sender still waits)
      ASSERT_TRUE(r);
      EXPECT_EQ(*r, i);
      EXPECT_TRUE(tx.join());
      ++cancelled;
    }
  }
  EXPECT_EQ(received + cancelled, rounds);
}

TEST(ChannelTest, NonBlockingOpsCompleteEvenWhenCancelled) {
  spindle::AsyncRuntime rt({.worker_threads = 1});
  Channel<int> ch(1);
  EXPECT_TRUE(ch.try_send(3));
  std::atomic<bool> started{false}, go{false};
  auto h = rt.spawn([&] {
    started = true;
    while (!go) spindle::this_fiber::yield();  // not a cancellation point
    auto a = ch.recv();                        // ready: completes although cancelled
    auto b = ch.recv();                        // would block: Cancelled
    return std::make_pair(a ? *a : -1, b ? -1 : static_cast<int>(b.error()));
  });
  while (!started) std::this_thread::yield();
  h.cancel();
  go = true;
  auto [a, b] = h.join();
  EXPECT_EQ(a, 3);
  EXPECT_EQ(b, static_cast<int>(ChannelError::Cancelled));
}

// ---------------------------------------------------------------------------------------------
// Randomized exactly-once stress: producers and consumers of every kind over one channel.

void stress(const spindle::AsyncRuntimeConfig& cfg, std::size_t cap, int per) {
  spindle::test::TestRuntime rt(cfg);
  constexpr int kFiberProducers = 8, kFiberConsumers = 8;
  const int producers = kFiberProducers + 1;  // + one OS thread
  const int total = producers * per;
  Channel<int> ch(cap);
  std::vector<std::atomic<std::uint8_t>> seen(total);
  std::atomic<int> received{0}, dup{0}, producers_left{producers};

  auto produce = [&](int p) {
    std::minstd_rand rng(static_cast<unsigned>(p * 7919 + 1));
    for (int i = 0; i < per; ++i) {
      const int msg = p * per + i;
      switch (rng() % 4) {
        case 0: {  // try_send until it works
          while (!ch.try_send(msg)) spindle::this_fiber::yield();
          break;
        }
        case 1: {  // timed sends with tiny timeouts
          for (;;) {
            auto r = ch.send_for(msg, 20us);
            if (r) break;
            EXPECT_EQ(r.error(), ChannelError::Timeout);
          }
          break;
        }
        default:
          EXPECT_TRUE(ch.send(msg));
      }
    }
    if (--producers_left == 0) ch.close();
  };
  auto record = [&](int msg) {
    if (seen[msg].fetch_add(1) != 0) ++dup;
    ++received;
  };
  auto consume = [&](int c) {
    std::minstd_rand rng(static_cast<unsigned>(c * 104729 + 3));
    for (;;) {
      const unsigned mode = c == 0 ? 3 : rng() % 3;
      if (mode == 0) {  // blocking
        auto r = ch.recv();
        if (!r) {
          EXPECT_EQ(r.error(), ChannelError::Closed);
          return;
        }
        record(*r);
      } else if (mode == 1) {  // tiny timeouts
        auto r = ch.recv_for(std::chrono::microseconds(rng() % 30));
        if (r) {
          record(*r);
        } else if (r.error() == ChannelError::Closed) {
          return;
        } else {
          EXPECT_EQ(r.error(), ChannelError::Timeout);
        }
      } else if (mode == 2) {  // try_recv
        auto r = ch.try_recv();
        if (r) {
          record(*r);
        } else if (r.error() == ChannelError::Closed) {
          return;
        } else {
          EXPECT_EQ(r.error(), ChannelError::Empty);
          spindle::this_fiber::yield();
        }
      } else {  // select with a tiny timeout
        auto s = spindle::select(spindle::recv_case(ch), spindle::timeout(30us));
        if (s.index() == 0) {
          auto& r = s.get<0>();
          if (!r) {
            EXPECT_EQ(r.error(), ChannelError::Closed);
            return;
          }
          record(*r);
        } else {
          EXPECT_EQ(s.index(), 1u);
        }
      }
    }
  };

  std::vector<spindle::JoinHandle<void>> hs;
  for (int c = 0; c < kFiberConsumers; ++c) hs.push_back(rt.spawn([&, c] { consume(c); }));
  std::thread tc([&] { consume(kFiberConsumers); });
  for (int p = 0; p < kFiberProducers; ++p) hs.push_back(rt.spawn([&, p] { produce(p); }));
  std::thread tp([&] { produce(kFiberProducers); });
  for (auto& h : hs) h.join();
  tp.join();
  tc.join();
  EXPECT_EQ(dup.load(), 0);
  EXPECT_EQ(received.load(), total);
  for (int m = 0; m < total; ++m) ASSERT_EQ(seen[m].load(), 1) << "message " << m;
}

TEST_P(ChannelRt, StressExactlyOnceCap0) {
  stress(GetParam().cfg, 0, n(3000));
}
TEST_P(ChannelRt, StressExactlyOnceCap1) {
  stress(GetParam().cfg, 1, n(3000));
}
TEST_P(ChannelRt, StressExactlyOnceCap7) {
  stress(GetParam().cfg, 7, n(3000));
}

INSTANTIATE_TEST_SUITE_P(Runtimes, ChannelRt, ::testing::ValuesIn(kRtCases), param_name);

}  // namespace
