// Oneshot<T>: one value from one sender to one receiver; sender dropped, receiver dropped, double
// send, try/timed receive, cancellation, move-only values, fibers and threads.
#include "spindle/oneshot.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using spindle::ChannelError;
using spindle::test::kRtCases;
using spindle::test::param_name;
using spindle::test::wait_parked;

class OneshotRt : public spindle::test::RtTest {};

TEST(OneshotTest, SendThenRecv) {
  auto [tx, rx] = spindle::oneshot<std::string>();
  EXPECT_TRUE(tx.valid());
  EXPECT_TRUE(rx.valid());
  EXPECT_EQ(rx.try_recv().error(), ChannelError::Empty);
  EXPECT_FALSE(tx.is_closed());
  EXPECT_TRUE(tx.send("hi"));
  auto r = rx.recv();
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "hi");
  // Received once: afterwards Closed.
  EXPECT_EQ(rx.try_recv().error(), ChannelError::Closed);
  EXPECT_EQ(rx.recv().error(), ChannelError::Closed);
}

TEST(OneshotTest, SecondSendThrows) {
  auto [tx, rx] = spindle::oneshot<int>();
  EXPECT_TRUE(tx.send(1));
  EXPECT_THROW((void)tx.send(2), std::logic_error);
  EXPECT_EQ(*rx.try_recv(), 1);
}

TEST(OneshotTest, EmptyHandlesThrow) {
  spindle::OneshotSender<int> tx;
  spindle::OneshotReceiver<int> rx;
  EXPECT_FALSE(tx.valid());
  EXPECT_FALSE(rx.valid());
  EXPECT_THROW((void)tx.send(1), std::logic_error);
  EXPECT_THROW(tx.is_closed(), std::logic_error);
  EXPECT_THROW((void)rx.recv(), std::logic_error);
  auto [t2, r2] = spindle::oneshot<int>();
  spindle::OneshotSender<int> moved = std::move(t2);
  EXPECT_FALSE(t2.valid());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_TRUE(moved.send(3));
  EXPECT_EQ(*r2.recv(), 3);
}

TEST(OneshotTest, SenderDroppedGivesDisconnected) {
  auto [tx, rx] = spindle::oneshot<int>();
  { auto gone = std::move(tx); }
  EXPECT_EQ(rx.try_recv().error(), ChannelError::Disconnected);
  EXPECT_EQ(rx.recv().error(), ChannelError::Disconnected);
  EXPECT_EQ(rx.recv_for(1h).error(), ChannelError::Disconnected);  // at once, not after the hour
  EXPECT_STREQ(spindle::to_string(rx.recv().error()), "Disconnected");
  try {
    (void)rx.recv().value();
    ADD_FAILURE() << "value() did not throw";
  } catch (const spindle::ChannelException& e) {
    EXPECT_EQ(e.error(), ChannelError::Disconnected);
    EXPECT_STREQ(e.what(), "spindle: channel operation failed: Disconnected");
  }
}

TEST(OneshotTest, SentValueSurvivesSenderDrop) {
  auto [tx, rx] = spindle::oneshot<int>();
  EXPECT_TRUE(tx.send(4));
  { auto gone = std::move(tx); }
  EXPECT_EQ(*rx.recv(), 4);
}

TEST(OneshotTest, ReceiverDroppedReturnsValueToSender) {
  auto [tx, rx] = spindle::oneshot<std::unique_ptr<int>>();
  { auto gone = std::move(rx); }
  EXPECT_TRUE(tx.is_closed());
  auto p = std::make_unique<int>(8);
  auto r = tx.send(std::move(p));
  EXPECT_EQ(r.error(), ChannelError::Disconnected);
  ASSERT_NE(p, nullptr);  // not consumed
  EXPECT_EQ(*p, 8);
}

TEST(OneshotTest, UnreceivedValueIsDestroyedWithState) {
  auto counter = std::make_shared<int>(0);
  {
    auto [tx, rx] = spindle::oneshot<std::shared_ptr<int>>();
    EXPECT_TRUE(tx.send(counter));
    EXPECT_EQ(counter.use_count(), 2);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

TEST(OneshotTest, TimedRecvOnThread) {
  auto [tx, rx] = spindle::oneshot<int>();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(rx.recv_for(5ms).error(), ChannelError::Timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 5ms);
  EXPECT_EQ(rx.recv_until(std::chrono::steady_clock::now() + 1ms).error(), ChannelError::Timeout);
  EXPECT_TRUE(tx.send(2));
  EXPECT_EQ(*rx.recv_for(1h), 2);
}

TEST(OneshotTest, ThreadToThread) {
  auto [tx, rx] = spindle::oneshot<int>();
  std::thread t([s = std::move(tx)]() mutable { EXPECT_TRUE(s.send(6)); });
  EXPECT_EQ(*rx.recv(), 6);
  t.join();
}

TEST_P(OneshotRt, FiberReceiverWokenBySend) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  auto [tx, rx] = spindle::oneshot<std::unique_ptr<int>>();
  auto h = rt.spawn([r = std::move(rx)]() mutable {
    auto v = r.recv();
    return v ? **v : -1;
  });
  wait_parked(h);
  EXPECT_TRUE(tx.send(std::make_unique<int>(12)));
  EXPECT_EQ(h.join(), 12);
}

TEST_P(OneshotRt, FiberReceiverWokenBySenderDrop) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  auto [tx, rx] = spindle::oneshot<int>();
  auto h = rt.spawn([r = std::move(rx)]() mutable {
    auto v = r.recv();
    return v ? -1 : static_cast<int>(v.error());
  });
  wait_parked(h);
  auto drop = rt.spawn([s = std::move(tx)]() mutable { auto gone = std::move(s); });
  drop.join();
  EXPECT_EQ(h.join(), static_cast<int>(ChannelError::Disconnected));
}

TEST_P(OneshotRt, TimedRecvInFiber) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  rt.block_on([] {
    auto [tx, rx] = spindle::oneshot<int>();
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(rx.recv_for(5ms).error(), ChannelError::Timeout);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 5ms);
    EXPECT_EQ(rx.recv_for(0ms).error(), ChannelError::Timeout);
    EXPECT_TRUE(tx.send(1));
    EXPECT_EQ(*rx.recv_for(0ms), 1);
  });
}

TEST_P(OneshotRt, CancelBlockedRecvThenValueStillArrives) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  for (bool timed : {false, true}) {  // recv_for(1h) is a cancellation point too
    auto [tx, rx] = spindle::oneshot<int>();
    auto h = rt.spawn([&r = rx, timed] {
      auto v = timed ? r.recv_for(1h) : r.recv();
      return v ? -1 : static_cast<int>(v.error());
    });
    wait_parked(h);
    h.cancel();
    EXPECT_EQ(h.join(), static_cast<int>(ChannelError::Cancelled));
    EXPECT_TRUE(tx.send(5));  // the receiver still exists
    EXPECT_EQ(*rx.recv(), 5);
  }
}

// A plain thread blocked in recv is woken by a fiber's send, and by a fiber dropping the sender.
TEST_P(OneshotRt, ThreadReceiverWokenByFiber) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  for (bool drop : {false, true}) {
    auto [tx, rx] = spindle::oneshot<int>();
    std::atomic<bool> receiving{false};
    auto h = rt.spawn([s = std::move(tx), &receiving, drop]() mutable {
      // Let the thread get into recv first (it gets the same result if it is late).
      while (!receiving.load()) spindle::this_fiber::yield();
      if (!drop) {
        EXPECT_TRUE(s.send(21));
      }
    });
    receiving = true;
    auto v = rx.recv();
    if (drop) {
      EXPECT_EQ(v.error(), ChannelError::Disconnected);
    } else {
      ASSERT_TRUE(v);
      EXPECT_EQ(*v, 21);
    }
    h.join();
  }
}

// Many oneshots used as request/reply across workers; shared state freed by whichever
// end goes last (ASan checks the frees).
TEST_P(OneshotRt, ManyRepliesAcrossWorkers) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  const int count = n(2000);
  std::vector<spindle::JoinHandle<long>> hs;
  for (int w = 0; w < 4; ++w) {
    hs.push_back(rt.spawn([count, w] {
      long sum = 0;
      for (int i = 0; i < count; ++i) {
        auto [tx, rx] = spindle::oneshot<int>();
        if (i % 3 == 0) {
          // Drop the sender without sending on another fiber.
          auto f = spindle::spawn([s = std::move(tx)]() mutable { auto gone = std::move(s); });
          EXPECT_EQ(rx.recv().error(), ChannelError::Disconnected);
          f.join();
        } else if (i % 3 == 1) {
          auto f = spindle::spawn([s = std::move(tx), i]() mutable { return s.send(int{i}); });
          sum += *rx.recv();
          EXPECT_TRUE(f.join());
        } else {
          // The receiver goes first, on another fiber, racing with the send.
          auto f = spindle::spawn([r = std::move(rx)]() mutable { auto gone = std::move(r); });
          auto res = tx.send(w);
          f.join();
          EXPECT_TRUE(res || res.error() == ChannelError::Disconnected);
        }
      }
      return sum;
    }));
  }
  long expect = 0;
  for (int i = 0; i < count; ++i) {
    if (i % 3 == 1) expect += i;
  }
  for (auto& h : hs) EXPECT_EQ(h.join(), expect);
}

INSTANTIATE_TEST_SUITE_P(Runtimes, OneshotRt, ::testing::ValuesIn(kRtCases), param_name);

}  // namespace
