// select: ready cases, random choice among ready cases, blocking on several channels, send cases,
// timeout and default cases, close and cancellation while blocked, select-to-select rendezvous and
// an exactly-once contention test, on one and several workers (also in migrate_every_switch mode).
#include "spindle/select.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/channel.hpp"
#include "spindle/spindle.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using spindle::Channel;
using spindle::ChannelError;
using spindle::default_case;
using spindle::recv_case;
using spindle::send_case;
using spindle::timeout;
using spindle::test::kRtCases;
using spindle::test::param_name;
using spindle::test::wait_parked;

class SelectRt : public spindle::test::RtTest {};

// ---------------------------------------------------------------------------------------------
// Non-blocking behaviour (plain thread, nothing to wait for).

TEST(SelectTest, ReadyRecvFires) {
  Channel<int> a(1), b(1);
  EXPECT_TRUE(b.try_send(5));
  auto r = spindle::select(recv_case(a), recv_case(b));
  ASSERT_EQ(r.index(), 1u);
  EXPECT_FALSE(r.cancelled());
  ASSERT_TRUE(r.get<1>());
  EXPECT_EQ(*r.get<1>(), 5);
  EXPECT_THROW(r.get<0>(), std::logic_error);
  EXPECT_EQ(b.size(), 0u);
}

TEST(SelectTest, DefaultFiresWhenNothingReady) {
  Channel<int> a(0), b(1);
  EXPECT_TRUE(b.try_send(1));
  int v = 9;
  auto r = spindle::select(recv_case(a), send_case(b, std::move(v)), default_case());
  EXPECT_EQ(r.index(), 2u);
  EXPECT_EQ(v, 9);
  EXPECT_EQ(b.size(), 1u);
  EXPECT_THROW(r.get<0>(), std::logic_error);
  // Only a default case: fires at once.
  EXPECT_EQ(spindle::select(default_case()).index(), 0u);
  // With something ready, the default does not fire.
  EXPECT_EQ(spindle::select(default_case(), recv_case(b)).index(), 1u);
}

TEST(SelectTest, SendCaseChoosesTheChannelWithRoom) {
  Channel<std::unique_ptr<int>> full(1), room(1);
  EXPECT_TRUE(full.try_send(std::make_unique<int>(0)));
  auto p = std::make_unique<int>(1);
  auto q = std::make_unique<int>(2);
  auto r = spindle::select(send_case(full, std::move(p)), send_case(room, std::move(q)));
  ASSERT_EQ(r.index(), 1u);
  EXPECT_TRUE(r.get<1>());
  ASSERT_NE(p, nullptr);  // the case that did not fire keeps its value
  EXPECT_EQ(*p, 1);
  EXPECT_EQ(q, nullptr);  // the one that fired moved it into the channel
  EXPECT_EQ(**room.try_recv(), 2);
}

TEST(SelectTest, SendCaseCopiesLvalues) {
  Channel<std::string> ch(1);
  const std::string s = "hello";
  auto r = spindle::select(send_case(ch, s));
  EXPECT_EQ(r.index(), 0u);
  EXPECT_EQ(s, "hello");
  EXPECT_EQ(*ch.try_recv(), "hello");
}

TEST(SelectTest, ClosedChannelCasesFireWithClosed) {
  Channel<int> closed(1), open(1);
  EXPECT_TRUE(closed.try_send(1));
  closed.close();
  // Buffered values first.
  auto r0 = spindle::select(recv_case(open), recv_case(closed));
  ASSERT_EQ(r0.index(), 1u);
  EXPECT_EQ(*r0.get<1>(), 1);
  auto r1 = spindle::select(recv_case(open), recv_case(closed));
  ASSERT_EQ(r1.index(), 1u);
  EXPECT_EQ(r1.get<1>().error(), ChannelError::Closed);
  int v = 3;
  auto r2 = spindle::select(send_case(closed, std::move(v)), recv_case(open));
  ASSERT_EQ(r2.index(), 0u);
  EXPECT_EQ(r2.get<0>().error(), ChannelError::Closed);
  EXPECT_EQ(v, 3);
}

// select_choices runs `rounds` selects over three always-ready channels in the root fiber of a
// runtime made from `cfg` and returns which case fired each time. With `yield_between`, the fiber
// yields after every select (in migrate_every_switch mode it then moves to another worker).
std::vector<std::size_t> select_choices(spindle::AsyncRuntimeConfig cfg, int rounds,
                                        bool yield_between) {
  spindle::test::TestRuntime rt(cfg);
  return rt.block_on([rounds, yield_between] {
    Channel<int> a(1), b(1), c(1);
    std::vector<std::size_t> out;
    for (int i = 0; i < rounds; ++i) {
      for (Channel<int>* ch : {&a, &b, &c}) {
        if (ch->size() == 0) {
          EXPECT_TRUE(ch->try_send(0));
        }
      }
      auto r = spindle::select(recv_case(a), recv_case(b), recv_case(c));
      out.push_back(r.index());
      if (yield_between) spindle::this_fiber::yield();
    }
    return out;
  });
}

TEST(SelectTest, ChoicesInAFiberAreReproducibleWithScheduleSeed) {
  const int rounds = 3000;
  const auto first = select_choices({.worker_threads = 1, .schedule_seed = 42}, rounds, false);
  // The same seed gives the same choices, on another worker count and with the fiber moved to
  // another worker between every two selects.
  EXPECT_EQ(select_choices({.worker_threads = 1, .schedule_seed = 42}, rounds, false), first);
  EXPECT_EQ(select_choices({.worker_threads = 3, .migrate_every_switch = true, .schedule_seed = 42},
                           rounds, true),
            first);
  // Another seed gives other choices (equal by chance with probability 3^-3000).
  EXPECT_NE(select_choices({.worker_threads = 1, .schedule_seed = 43}, rounds, false), first);
  // Still uniform: each case about 1000 times; 600 is more than 15 standard deviations away.
  std::size_t hits[3] = {0, 0, 0};
  for (std::size_t i : first) {
    ASSERT_LT(i, 3u);
    ++hits[i];
  }
  for (std::size_t h : hits) EXPECT_GT(h, 600u);
}

TEST(SelectTest, FairAmongReadyCases) {
  Channel<int> a(4), b(4), c(4);
  int hits[3] = {0, 0, 0};
  const int rounds = 3000;
  for (int i = 0; i < rounds; ++i) {
    // Keep all three ready.
    if (a.size() == 0) {
      EXPECT_TRUE(a.try_send(0));
    }
    if (b.size() == 0) {
      EXPECT_TRUE(b.try_send(1));
    }
    if (c.size() == 0) {
      EXPECT_TRUE(c.try_send(2));
    }
    auto r = spindle::select(recv_case(a), recv_case(b), recv_case(c));
    ASSERT_LT(r.index(), 3u);
    ++hits[r.index()];
  }
  // Uniform: each about 1000; 600 is more than 15 standard deviations away.
  for (int h : hits) EXPECT_GT(h, 600);
  // Two ready cases, one a send.
  Channel<int> in(1), out(1 << 20);
  int sends = 0, recvs = 0;
  for (int i = 0; i < 2000; ++i) {
    if (in.size() == 0) {
      EXPECT_TRUE(in.try_send(0));
    }
    auto r = spindle::select(recv_case(in), send_case(out, 1));
    (r.index() == 0 ? recvs : sends)++;
  }
  EXPECT_GT(sends, 700);
  EXPECT_GT(recvs, 700);
}

TEST(SelectTest, TimeoutOnThread) {
  Channel<int> a(0), b(1);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = spindle::select(recv_case(a), recv_case(b), timeout(5ms));
  EXPECT_EQ(r.index(), 2u);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 5ms);
  EXPECT_THROW(r.get<0>(), std::logic_error);
  // No stale node remains: a rendezvous send finds nobody.
  EXPECT_EQ(a.try_send(1).error(), ChannelError::Full);
  // Only a timeout: a sleep.
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(spindle::select(spindle::timeout_at(t1 + 3ms)).index(), 0u);
  EXPECT_GE(std::chrono::steady_clock::now() - t1, 3ms);
}

TEST(SelectTest, SameChannelSendAndRecvDoNotMatchEachOther) {
  Channel<int> ch(0);
  auto r = spindle::select(send_case(ch, 1), recv_case(ch), timeout(2ms));
  EXPECT_EQ(r.index(), 2u);
  EXPECT_EQ(ch.try_send(1).error(), ChannelError::Full);
  EXPECT_EQ(ch.try_recv().error(), ChannelError::Empty);
}

TEST(SelectTest, ThreadBlocksUntilFiberSends) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  Channel<int> a(0), b(0);
  auto tx = rt.spawn([&] { return b.send(11); });
  auto r = spindle::select(recv_case(a), recv_case(b));
  ASSERT_EQ(r.index(), 1u);
  EXPECT_EQ(*r.get<1>(), 11);
  EXPECT_TRUE(tx.join());
}

// A plain thread blocked in select is woken by another plain thread's send.
TEST(SelectTest, ThreadBlocksUntilThreadSends) {
  Channel<int> a(0), b(0);
  std::thread tx([&] { EXPECT_TRUE(b.send(12)); });  // rendezvous: completes once select took it
  auto r = spindle::select(recv_case(a), recv_case(b), timeout(1h));
  ASSERT_EQ(r.index(), 1u);
  EXPECT_EQ(*r.get<1>(), 12);
  tx.join();
}

// ---------------------------------------------------------------------------------------------
// Blocking selects in fibers.

TEST_P(SelectRt, TimeoutInFiber) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  rt.block_on([] {
    Channel<int> a(0);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = spindle::select(recv_case(a), timeout(5ms));
    EXPECT_EQ(r.index(), 1u);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 5ms);
    EXPECT_EQ(a.try_send(1).error(), ChannelError::Full);
    // A zero timeout polls.
    EXPECT_EQ(spindle::select(recv_case(a), timeout(0ms)).index(), 1u);
    EXPECT_EQ(spindle::select(timeout(-1ms)).index(), 0u);
  });
}

TEST_P(SelectRt, BlockedSelectWokenBySender) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Channel<int> a(0), b(2);
  auto h = rt.spawn([&] {
    auto r = spindle::select(recv_case(a), recv_case(b));
    return r.index() == 1 && r.get<1>() ? *r.get<1>() : -1;
  });
  wait_parked(h);
  EXPECT_TRUE(b.send(8));
  EXPECT_EQ(h.join(), 8);
  // The node on `a` was unlinked: a rendezvous send finds nobody.
  EXPECT_EQ(a.try_send(1).error(), ChannelError::Full);
  EXPECT_EQ(b.size(), 0u);
}

TEST_P(SelectRt, BlockedSendCaseWokenByReceiver) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Channel<std::unique_ptr<int>> a(0), b(0);
  auto h = rt.spawn([&] {
    auto p = std::make_unique<int>(4);
    auto q = std::make_unique<int>(5);
    auto r = spindle::select(send_case(a, std::move(p)), send_case(b, std::move(q)));
    // Exactly the chosen value left.
    EXPECT_EQ(r.index(), 0u);
    EXPECT_EQ(p, nullptr);
    EXPECT_NE(q, nullptr);
    return r.index() == 0 && r.get<0>();
  });
  wait_parked(h);
  auto v = a.recv();
  ASSERT_TRUE(v);
  EXPECT_EQ(**v, 4);
  EXPECT_TRUE(h.join());
  EXPECT_EQ(b.try_recv().error(), ChannelError::Empty);
}

TEST_P(SelectRt, CloseWakesBlockedSelect) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Channel<int> a(0), b(0);
  auto h = rt.spawn([&] {
    auto r = spindle::select(recv_case(a), recv_case(b), timeout(1h));
    return r.index() == 0 ? static_cast<int>(r.get<0>().error()) : -1;
  });
  wait_parked(h);
  a.close();
  EXPECT_EQ(h.join(), static_cast<int>(ChannelError::Closed));
  EXPECT_EQ(b.try_send(1).error(), ChannelError::Full);
}

TEST_P(SelectRt, CloseWakesBlockedSendCase) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Channel<std::unique_ptr<int>> a(0);
  Channel<int> b(0);
  auto h = rt.spawn([&] {
    auto p = std::make_unique<int>(6);
    auto r = spindle::select(send_case(a, std::move(p)), recv_case(b));
    if (r.index() != 0 || r.get<0>().error() != ChannelError::Closed) return -1;
    return p ? *p : -2;
  });
  wait_parked(h);
  a.close();
  EXPECT_EQ(h.join(), 6);
}

TEST_P(SelectRt, CancelBlockedSelect) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  for (bool timed : {false, true}) {  // a select with a timeout case is a cancellation point too
    Channel<int> a(0), b(1);
    auto h = rt.spawn([&, timed] {
      int v = 1;
      if (timed) {
        auto r =
            spindle::select(recv_case(a), send_case(a, std::move(v)), recv_case(b), timeout(1h));
        return r.cancelled() && r.index() == spindle::SelectResult<>::npos;
      }
      auto r = spindle::select(recv_case(a), send_case(a, std::move(v)), recv_case(b));
      return r.cancelled() && r.index() == spindle::SelectResult<>::npos;
    });
    wait_parked(h);
    h.cancel();
    EXPECT_TRUE(h.join());
    // Every node was unlinked: nothing waits on either channel, nothing was taken.
    EXPECT_EQ(a.try_send(1).error(), ChannelError::Full);
    EXPECT_EQ(a.try_recv().error(), ChannelError::Empty);
    EXPECT_TRUE(b.try_send(2));
    EXPECT_EQ(*b.try_recv(), 2);
  }
}

TEST_P(SelectRt, CancelWithoutChannelCases) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  auto h = rt.spawn([] { return spindle::select(timeout(1h)).cancelled(); });
  wait_parked(h);
  h.cancel();
  EXPECT_TRUE(h.join());
}

// Cancellation racing with a sender: the value is received by the select or stays available.
TEST_P(SelectRt, CancelRacingWithSendLosesNothing) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  const int rounds = n(300);
  for (int i = 0; i < rounds; ++i) {
    Channel<int> a(i % 2), b(0);
    std::atomic<bool> started{false};
    auto rx = rt.spawn([&] {
      started = true;
      auto r = spindle::select(recv_case(b), recv_case(a));
      if (r.cancelled()) return -1;
      EXPECT_EQ(r.index(), 1u);
      return r.index() == 1 && r.get<1>() ? *r.get<1>() : -2;
    });
    while (!started) std::this_thread::yield();
    auto tx = rt.spawn([&] { return a.send_for(i, 5s); });
    if (i % 3 == 0) std::this_thread::yield();
    rx.cancel();
    const int got = rx.join();
    if (got >= 0) {
      EXPECT_EQ(got, i);
      EXPECT_TRUE(tx.join());
      EXPECT_EQ(a.try_recv().error(), ChannelError::Empty);
    } else {
      EXPECT_EQ(got, -1);
      auto r = a.recv();
      ASSERT_TRUE(r);
      EXPECT_EQ(*r, i);
      EXPECT_TRUE(tx.join());
    }
  }
}

// Select racing with close: the select sees either the value or Closed, never both or neither.
TEST_P(SelectRt, RacingWithClose) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  const int rounds = n(300);
  for (int i = 0; i < rounds; ++i) {
    Channel<int> a(0), b(i % 2);
    auto rx = rt.spawn([&] {
      auto r = spindle::select(recv_case(a), recv_case(b));
      if (r.index() != 1) return -3;
      return r.get<1>() ? *r.get<1>() : -static_cast<int>(r.get<1>().error()) - 1;
    });
    auto tx = rt.spawn([&] { return b.send(i); });
    auto cl = rt.spawn([&] { b.close(); });
    cl.join();
    const int got = rx.join();
    const auto sent = tx.join();
    if (got >= 0) {
      EXPECT_EQ(got, i);
      EXPECT_TRUE(sent);
    } else {
      EXPECT_EQ(got, -static_cast<int>(ChannelError::Closed) - 1);
      // rx was the only receiver: a value sent (buffered or handed over) before the close would
      // have reached it first.
      EXPECT_FALSE(sent);
      EXPECT_EQ(sent.error(), ChannelError::Closed);
    }
    EXPECT_EQ(b.try_recv().error(), ChannelError::Closed);
  }
}

// Two selects that can only complete with each other: every round both must agree on which
// transfer happened.
TEST_P(SelectRt, SelectToSelectRendezvous) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Channel<int> c0(0), c1(0);
  const int rounds = n(3000);
  auto a = rt.spawn([&] {
    std::vector<int> log;
    for (int i = 0; i < rounds; ++i) {
      int v = i;
      auto r = spindle::select(send_case(c0, std::move(v)), recv_case(c1));
      if (r.index() == 1) {
        EXPECT_EQ(*r.get<1>(), -i);
      } else {
        EXPECT_TRUE(r.get<0>());
      }
      log.push_back(static_cast<int>(r.index()));
    }
    return log;
  });
  auto b = rt.spawn([&] {
    std::vector<int> log;
    for (int i = 0; i < rounds; ++i) {
      int v = -i;
      auto r = spindle::select(recv_case(c0), send_case(c1, std::move(v)));
      if (r.index() == 0) {
        EXPECT_EQ(*r.get<0>(), i);
      } else {
        EXPECT_TRUE(r.get<1>());
      }
      log.push_back(static_cast<int>(r.index()));
    }
    return log;
  });
  auto la = a.join();
  auto lb = b.join();
  ASSERT_EQ(la.size(), lb.size());
  EXPECT_EQ(la, lb);  // case 0 on both = c0 transfer; case 1 on both = c1 transfer
}

// Many select consumers and plain consumers against plain and select producers over two
// channels: every message arrives exactly once.
TEST_P(SelectRt, ContentionExactlyOnce) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Channel<int> a(0), b(3);
  const int producers = 6, per = n(2000), total = producers * per;
  std::vector<std::atomic<std::uint8_t>> seen(total);
  std::atomic<int> left{producers}, received{0};
  auto record = [&](int m) {
    EXPECT_EQ(seen[m].fetch_add(1), 0) << m;
    ++received;
  };
  std::vector<spindle::JoinHandle<void>> hs;
  for (int p = 0; p < producers; ++p) {
    hs.push_back(rt.spawn([&, p] {
      for (int i = 0; i < per; ++i) {
        int m = p * per + i;
        if (p % 2 == 0) {
          auto r = spindle::select(send_case(a, std::move(m)), send_case(b, std::move(m)));
          EXPECT_TRUE(r.index() == 0 ? static_cast<bool>(r.get<0>())
                                     : static_cast<bool>(r.get<1>()));
        } else {
          EXPECT_TRUE((p % 4 == 1 ? a : b).send(m));
        }
      }
      if (--left == 0) {
        a.close();
        b.close();
      }
    }));
  }
  auto select_consumer = [&] {
    bool a_open = true, b_open = true;
    while (a_open || b_open) {
      auto r = spindle::select(recv_case(a), recv_case(b), timeout(50us));
      if (r.index() == 0) {
        if (r.get<0>()) {
          record(*r.get<0>());
        } else {
          a_open = false;
        }
      } else if (r.index() == 1) {
        if (r.get<1>()) {
          record(*r.get<1>());
        } else {
          b_open = false;
        }
      }
    }
  };
  for (int c = 0; c < 4; ++c) hs.push_back(rt.spawn(select_consumer));
  hs.push_back(rt.spawn([&] {
    while (auto r = a.recv()) record(*r);
  }));
  std::thread t(select_consumer);
  for (auto& h : hs) h.join();
  t.join();
  EXPECT_EQ(received.load(), total);
  for (int m = 0; m < total; ++m) ASSERT_EQ(seen[m].load(), 1) << m;
}

TEST_P(SelectRt, MoveOnlyThroughSelect) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Channel<std::unique_ptr<int>> a(0), b(1);
  const int rounds = n(1000);
  auto tx = rt.spawn([&] {
    for (int i = 0; i < rounds; ++i) {
      auto p = std::make_unique<int>(i);
      auto r = spindle::select(send_case(a, std::move(p)), send_case(b, std::move(p)));
      EXPECT_LT(r.index(), 2u);
      EXPECT_EQ(p, nullptr);  // both cases refer to p; the one that fired moved it
    }
    a.close();
    b.close();
  });
  auto rx = rt.spawn([&] {
    long sum = 0;
    int closed = 0;
    while (closed < 2) {
      auto r = spindle::select(recv_case(a), recv_case(b));
      auto& res = r.index() == 0 ? r.get<0>() : r.get<1>();
      if (res) {
        sum += **res;
      } else {
        ++closed;
        // A closed channel keeps firing: drain the other one plainly.
        auto& other = r.index() == 0 ? b : a;
        while (auto v = other.recv()) sum += **v;
        closed = 2;
      }
    }
    return sum;
  });
  tx.join();
  EXPECT_EQ(rx.join(), static_cast<long>(rounds) * (rounds - 1) / 2);
}

INSTANTIATE_TEST_SUITE_P(Runtimes, SelectRt, ::testing::ValuesIn(kRtCases), param_name);

}  // namespace
