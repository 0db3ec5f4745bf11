// The hierarchical timer wheel against a simple model: random starting times (any elapsed(), not
// just 0), deadlines across every level boundary, the window boundary and far beyond it, random
// removals and advances. Every entry fires exactly once, never before its deadline and never after
// the advance that reaches it; next_expiration() never lies past the earliest deadline and is
// always ahead of elapsed() (so advancing to it makes progress: the property whose violation hung
// the runtime). SPINDLE_PROPERTY_SEEDS=N runs N seeds instead of the CI list (the long mode).
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "time/timer_wheel.hpp"
#include "timer_wheel_model.hpp"

using spindle::detail::TimerEntry;
using spindle::detail::TimerWheel;

namespace {

constexpr std::uint64_t kWindow = TimerWheel::kWindowMask + 1;  // 64^6 ticks

// drive advances `w` from expiration to expiration until `e` fires, checking progress at every
// step; returns the tick it fired at (or 0 after too many steps without firing).
std::uint64_t drive_until_fired(TimerWheel& w, TimerEntry& e) {
  for (int steps = 0; steps < 1000; ++steps) {
    const std::uint64_t next = w.next_expiration();
    EXPECT_NE(next, TimerWheel::kNever);
    EXPECT_GT(next, w.elapsed()) << "next_expiration behind the wheel's time: advance would spin";
    if (next == TimerWheel::kNever || next <= w.elapsed()) return 0;
    EXPECT_LE(next, e.when);
    std::uint64_t fired_at = 0;
    w.advance(next, [&](TimerEntry* f) {
      EXPECT_EQ(f, &e);
      fired_at = next;
    });
    if (fired_at != 0) return fired_at;
  }
  ADD_FAILURE() << "no fire after 1000 expirations";
  return 0;
}

TEST(TimerWheelTest, InsertRejectsPastDeadlines) {
  TimerWheel w;
  w.advance(100, [](TimerEntry*) {});
  TimerEntry e;
  e.when = 100;
  EXPECT_FALSE(w.insert(&e));
  e.when = 101;
  EXPECT_TRUE(w.insert(&e));
  EXPECT_EQ(w.next_expiration(), 101u);
  w.remove(&e);
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.next_expiration(), TimerWheel::kNever);
}

TEST(TimerWheelTest, FiresAtEveryLevel) {
  TimerWheel w;
  std::vector<std::uint64_t> deadlines = {
      1, 63, 64, 65, 4095, 4096, 4097, 262143, 262144, 16777216, 1073741824ull, (1ull << 36) - 2};
  std::vector<TimerEntry> entries(deadlines.size());
  for (std::size_t i = 0; i < deadlines.size(); ++i) {
    entries[i].when = deadlines[i];
    ASSERT_TRUE(w.insert(&entries[i]));
  }
  std::vector<std::uint64_t> fired_at;
  for (std::uint64_t d : deadlines) {
    // next_expiration never lies past the earliest deadline
    EXPECT_LE(w.next_expiration(), d);
    w.advance(d - 1, [&](TimerEntry* e) { ADD_FAILURE() << "early fire of " << e->when; });
    w.advance(d, [&](TimerEntry* e) { fired_at.push_back(e->when); });
  }
  EXPECT_EQ(fired_at, deadlines);
  EXPECT_TRUE(w.empty());
}

// The runtime hang of issue 11 item 1: with elapsed() > 0 a deadline more than the levels' span
// ahead was clamped into a slot that wrapped onto the current position and never came due.
TEST(TimerWheelTest, FarDeadlineFromAnyElapsedKeepsItsTickAndFiresThen) {
  const std::uint64_t starts[] = {0,           1,           17,          4096,
                                  kWindow / 2, kWindow - 1, kWindow + 5, 3 * kWindow - 2};
  const std::uint64_t aheads[] = {kWindow - 1, kWindow,    kWindow + 1,     2 * kWindow + 77,
                                  1ull << 40,  1ull << 50, (1ull << 62) + 3};
  for (std::uint64_t start : starts) {
    for (std::uint64_t ahead : aheads) {
      TimerWheel w;
      w.advance(start, [](TimerEntry*) {});
      TimerEntry e;
      e.when = start + ahead;
      ASSERT_TRUE(w.insert(&e));
      EXPECT_EQ(e.when, start + ahead) << "the wheel must not move a deadline";
      w.advance(e.when - 1, [&](TimerEntry*) { ADD_FAILURE() << "early: start " << start; });
      EXPECT_TRUE(e.linked());
      bool fired = false;
      w.advance(e.when, [&](TimerEntry*) { fired = true; });
      EXPECT_TRUE(fired) << "start " << start << " ahead " << ahead;
      EXPECT_TRUE(w.empty());
    }
  }
}

// Every deadline that crosses a window boundary, near or far, from just before the boundary: driven
// expiration by expiration as the worker loop does, it fires exactly at its tick.
TEST(TimerWheelTest, CrossingTheWindowBoundaryMakesProgressAtEveryStep) {
  for (std::uint64_t before : {1ull, 2ull, 63ull, 64ull, 4097ull, 262145ull}) {
    for (std::uint64_t after :
         std::initializer_list<std::uint64_t>{0, 1, 64, 4096, kWindow - 1, kWindow, 5 * kWindow}) {
      TimerWheel w;
      const std::uint64_t start = 7 * kWindow - before;
      w.advance(start, [](TimerEntry*) {});
      TimerEntry e;
      e.when = 7 * kWindow + after;
      ASSERT_TRUE(w.insert(&e));
      EXPECT_EQ(drive_until_fired(w, e), e.when) << "before " << before << " after " << after;
      EXPECT_TRUE(w.empty());
    }
  }
}

TEST(TimerWheelTest, ADistantJumpCascadesOnce) {
  TimerWheel w;
  TimerEntry far, farther;
  far.when = ~0ull - 5;
  farther.when = ~0ull - 1;
  ASSERT_TRUE(w.insert(&far));
  ASSERT_TRUE(w.insert(&farther));
  std::vector<TimerEntry*> fired;
  w.advance(~0ull - 3, [&](TimerEntry* e) { fired.push_back(e); });
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0], &far);
  EXPECT_EQ(w.next_expiration(), ~0ull - 1);
  w.advance(~0ull - 1, [&](TimerEntry* e) { fired.push_back(e); });
  EXPECT_EQ(fired.size(), 2u);
  EXPECT_TRUE(w.empty());
}

// A deadline offset that exercises one boundary: 64^L plus or minus a little, or anything up to
// several windows ahead.
std::uint64_t random_ahead(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0:
      return 1 + rng() % 200;
    case 1: {
      const int level = static_cast<int>(rng() % 7);  // 64^0 .. 64^6 (the window)
      const std::uint64_t base = 1ull << (6 * level);
      const std::uint64_t jitter = rng() % 5;
      return rng() % 2 == 0 ? base + jitter : (base > jitter + 1 ? base - jitter : 1);
    }
    case 2:
      return 1 + rng() % (1ull << (6 * (1 + rng() % 6)));
    default:
      return 1 + rng() % (3 * kWindow);
  }
}

void run_model(std::uint64_t seed, int steps) {
  std::mt19937_64 rng(seed);
  TimerWheel w;
  // Start anywhere, often just before a window boundary.
  std::uint64_t now =
      rng() % 2 == 0 ? rng() % (1ull << 44) : (1 + rng() % 9) * kWindow - rng() % 300;
  w.advance(now, [](TimerEntry*) {});
  std::vector<std::unique_ptr<TimerEntry>> live;
  std::size_t fired = 0, inserted = 0, removed = 0;
  for (int step = 0; step < steps; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 5) {
      auto e = std::make_unique<TimerEntry>();
      e->when = now + random_ahead(rng);
      ASSERT_TRUE(w.insert(e.get()));
      live.push_back(std::move(e));
      ++inserted;
    } else if (op < 7 && !live.empty()) {
      const std::size_t i = rng() % live.size();
      if (live[i]->linked()) {
        w.remove(live[i].get());
        ++removed;
      }
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      const std::uint64_t next = w.next_expiration();
      std::uint64_t target = now + rng() % 3000;
      const int pick = static_cast<int>(rng() % 6);
      if (pick == 0 && next != TimerWheel::kNever) target = next;
      if (pick == 1 && next != TimerWheel::kNever) target = next - 1;
      if (pick == 2) target = now + rng() % (2 * kWindow);
      if (target < now) target = now;
      // Model: which linked entries are due by `target`, and the earliest deadline.
      const auto [due, earliest] = spindle::test::model_due(live, target);
      if (earliest != TimerWheel::kNever) {
        ASSERT_LE(next, earliest) << "seed " << seed << " step " << step;
        ASSERT_GT(next, w.elapsed()) << "seed " << seed << " step " << step;
      } else {
        ASSERT_EQ(next, TimerWheel::kNever);
      }
      std::size_t got = 0;
      w.advance(target, [&](TimerEntry* e) {
        EXPECT_LE(e->when, target) << "seed " << seed;
        EXPECT_FALSE(e->linked());
        ++got;
      });
      ASSERT_EQ(got, due) << "seed " << seed << " step " << step;
      ASSERT_EQ(w.elapsed(), target);
      fired += got;
      now = target;
    }
  }
  std::size_t still = 0;
  for (auto& e : live) still += e->linked() ? 1 : 0;
  EXPECT_EQ(w.size(), still);
  EXPECT_EQ(inserted, fired + removed + still) << "seed " << seed;
}

TEST(TimerWheelTest, RandomizedAgainstModel) {
  int seeds = 40;
  if (const char* env = std::getenv("SPINDLE_PROPERTY_SEEDS")) seeds = std::atoi(env);
  for (int seed = 1; seed <= seeds; ++seed) {
    ASSERT_NO_FATAL_FAILURE(run_model(static_cast<std::uint64_t>(seed), 10000));
  }
}

}  // namespace
