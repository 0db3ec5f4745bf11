// spindle::Barrier: phases between fibers on one or several workers, fibers with OS threads,
// threads only; arrive_and_drop; argument errors; timeouts and cancellation (the arrival still
// counts); and a randomized stress test checking that generations never mix.
#include "spindle/barrier.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using spindle::AsyncRuntime;
using spindle::Barrier;
using spindle::Cancelled;
using spindle::JoinHandle;
using spindle::test::kConfigs;
using spindle::test::kScale;
using spindle::test::NamedConfig;
using spindle::test::param_name;
using spindle::test::parked;

class BarrierTest : public testing::TestWithParam<NamedConfig> {};

TEST(BarrierBasics, ArgumentsAndSingleParticipant) {
  for (std::ptrdiff_t bad : {std::ptrdiff_t{0}, std::ptrdiff_t{-3}}) {
    try {
      Barrier b(bad);
      ADD_FAILURE() << "count " << bad << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("count"), std::string::npos) << e.what();
    }
  }
  Barrier one(1);
  one.arrive_and_wait();  // completes its own phase
  EXPECT_TRUE(one.arrive_and_wait_for(0ms));
  EXPECT_EQ(one.generation(), 2u);
  one.arrive_and_drop();  // the last participant leaves
  EXPECT_EQ(one.expected(), 0);
  EXPECT_THROW(one.arrive_and_wait(), std::logic_error);
  EXPECT_THROW(one.arrive_and_drop(), std::logic_error);
}

// `n` fibers run `rounds` phases; in each phase every participant must see all arrivals of the
// phase before it leaves, and none of the next phase before it arrives.
void run_phases(AsyncRuntime& rt, int fibers, int threads, int rounds) {
  const int n = fibers + threads;
  Barrier b(n);
  std::vector<std::atomic<int>> arrived(rounds);
  auto body = [&](bool fiber, int who) {
    for (int r = 0; r < rounds; ++r) {
      if (r > 0) {
        EXPECT_EQ(arrived[r - 1].load(), n);
      }
      arrived[r].fetch_add(1);
      if (fiber && (r + who) % 4 == 0) spindle::this_fiber::yield();
      b.arrive_and_wait();
      EXPECT_EQ(arrived[r].load(), n) << "phase " << r << " released early";
    }
  };
  std::vector<JoinHandle<void>> hs;
  for (int f = 0; f < fibers; ++f) hs.push_back(rt.spawn([&, f] { body(true, f); }));
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back([&, t] { body(false, fibers + t); });
  for (auto& t : ts) t.join();
  for (auto& h : hs) h.join();
  EXPECT_EQ(b.generation(), static_cast<std::uint64_t>(rounds));
}

TEST_P(BarrierTest, FibersOnly) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  run_phases(rt, 8, 0, 100 / kScale);
}

TEST_P(BarrierTest, FibersAndThreads) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  run_phases(rt, 4, 2, 50 / kScale);
}

TEST(BarrierThreads, ThreadsOnly) {
  AsyncRuntime rt({.worker_threads = 1});
  run_phases(rt, 0, 3, 100 / kScale);
}

TEST_P(BarrierTest, ArriveAndDrop) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Barrier b(3);
  auto stays = rt.spawn([&] {
    b.arrive_and_wait();  // phase 0: with the dropper and this thread
    b.arrive_and_wait();  // phase 1: with this thread only
    return b.generation();
  });
  auto dropper = rt.spawn([&] { b.arrive_and_drop(); });
  dropper.join();
  b.arrive_and_wait();
  b.arrive_and_wait();
  EXPECT_GE(stays.join(), 2u);
  EXPECT_EQ(b.expected(), 2);
}

// A timed-out wait returns false but its arrival counts: the phase completes without it.
TEST_P(BarrierTest, TimeoutKeepsArrival) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Barrier b(2);
  EXPECT_TRUE(rt.block_on([&] {
    const auto t0 = Clock::now();
    const bool completed = b.arrive_and_wait_for(20ms);
    EXPECT_GE(Clock::now() - t0, 20ms);
    return !completed;
  }));
  b.arrive_and_wait();  // the second arrival of phase 0: completes it at once
  EXPECT_EQ(b.generation(), 1u);
  std::thread t([&] {
    const auto t0 = Clock::now();
    EXPECT_FALSE(b.arrive_and_wait_until(std::chrono::system_clock::now() + 20ms));
    EXPECT_GE(Clock::now() - t0, 20ms);
  });
  t.join();
  auto h = rt.spawn([&] { return b.arrive_and_wait_for(0ms); });  // completes phase 1
  EXPECT_TRUE(h.join());
  EXPECT_EQ(b.generation(), 2u);
  // A timed wait that completes in time.
  auto waiter = rt.spawn([&] { return b.arrive_and_wait_for(30s); });
  ASSERT_TRUE(parked(waiter));
  b.arrive_and_wait();
  EXPECT_TRUE(waiter.join());
}

// A cancelled arrive_and_wait throws Cancelled; its arrival still counts for the phase.
TEST_P(BarrierTest, CancelWhileWaitingKeepsArrival) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  Barrier b(3);
  auto victim = rt.spawn([&] { b.arrive_and_wait(); });
  ASSERT_TRUE(parked(victim));
  auto other = rt.spawn([&] {
    b.arrive_and_wait();
    return b.generation();
  });
  ASSERT_TRUE(parked(other));
  victim.cancel();
  EXPECT_THROW(victim.join(), Cancelled);
  EXPECT_EQ(b.generation(), 0u);
  b.arrive_and_wait();  // third arrival of phase 0 (the victim's counted): completes it
  EXPECT_GE(other.join(), 1u);
  EXPECT_EQ(b.generation(), 1u);

  // Cancelled before arriving: the arrival counts, the caller throws without waiting; but if its
  // arrival completes the phase it returns normally.
  std::atomic<bool> started{false}, go{false};
  auto pre = rt.spawn([&] {
    started = true;
    while (!go.load()) spindle::this_fiber::yield();
    b.arrive_and_wait();
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return started.load(); }));
  pre.cancel();
  go = true;
  EXPECT_THROW(pre.join(), Cancelled);
  auto helper = rt.spawn([&] { b.arrive_and_wait(); });
  ASSERT_TRUE(parked(helper));
  std::atomic<bool> started2{false}, go2{false};
  auto last = rt.spawn([&] {
    started2 = true;
    while (!go2.load()) spindle::this_fiber::yield();
    b.arrive_and_wait();  // third arrival: completes phase 1, no blocking, no throw
    return 9;
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return started2.load(); }));
  last.cancel();
  go2 = true;
  EXPECT_EQ(last.join(), 9);
  helper.join();
  EXPECT_EQ(b.generation(), 2u);

  // The timed form is a cancellation point too, and its arrival counts the same way.
  auto timed_victim = rt.spawn([&] { return b.arrive_and_wait_for(1h); });
  ASSERT_TRUE(parked(timed_victim));
  auto timed_other = rt.spawn([&] { return b.arrive_and_wait_for(1h); });
  ASSERT_TRUE(parked(timed_other));
  timed_victim.cancel();
  EXPECT_THROW(timed_victim.join(), Cancelled);
  EXPECT_EQ(b.generation(), 2u);
  b.arrive_and_wait();  // third arrival of phase 2
  EXPECT_TRUE(timed_other.join());
  EXPECT_EQ(b.generation(), 3u);
}

// Randomized stress: participants (fibers on 4 workers and 2 threads) run many phases, each writing
// its phase number into its slot before arriving; after every phase all slots hold that phase or
// the next (a fast participant may already have moved on), never an older one. Some participants
// use timed waits that loop until the phase they arrived in has completed.
TEST(BarrierStress, GenerationsNeverMix) {
  for (bool migrate : {false, true}) {
    AsyncRuntime rt({.worker_threads = 4, .migrate_every_switch = migrate});
    constexpr int kFibers = 10, kThreads = 2, kN = kFibers + kThreads;
    const int kRounds = (migrate ? 40 : 200) / kScale;
    Barrier b(kN);
    std::vector<std::atomic<int>> slot(kN);
    for (auto& s : slot) s = -1;
    auto body = [&](int who, bool fiber) {
      std::mt19937 rng(who);
      for (int r = 0; r < kRounds; ++r) {
        slot[who].store(r);
        if (fiber && rng() % 4 == 0) spindle::this_fiber::yield();
        if (fiber && rng() % 3 == 0) {
          // The arrival counts even if the wait times out; wait for the phase by polling the
          // generation (it reaches r + 1 exactly when phase r completes).
          if (!b.arrive_and_wait_for(std::chrono::microseconds(rng() % 200))) {
            while (b.generation() < static_cast<std::uint64_t>(r + 1)) spindle::this_fiber::yield();
          }
        } else {
          b.arrive_and_wait();
        }
        EXPECT_GE(b.generation(), static_cast<std::uint64_t>(r + 1));
        for (int o = 0; o < kN; ++o) {
          const int v = slot[o].load();
          EXPECT_TRUE(v == r || v == r + 1) << "participant " << o << " in phase " << v << " while "
                                            << who << " left phase " << r;
        }
      }
    };
    std::vector<JoinHandle<void>> hs;
    for (int f = 0; f < kFibers; ++f) hs.push_back(rt.spawn([&, f] { body(f, true); }));
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t) ts.emplace_back([&, t] { body(kFibers + t, false); });
    for (auto& t : ts) t.join();
    for (auto& h : hs) h.join();
    EXPECT_EQ(b.generation(), static_cast<std::uint64_t>(kRounds));
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, BarrierTest, testing::ValuesIn(kConfigs), param_name);

}  // namespace
