// The hierarchical timer wheel against a simple model: random inserts, removals and advances; every
// entry fires exactly once, never before its deadline and never after the advance that reaches it.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <vector>

#include "detail/timer_wheel.hpp"

using spindle::detail::TimerEntry;
using spindle::detail::TimerWheel;

namespace {

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

TEST(TimerWheelTest, FarDeadlinesAreCappedToTheSpan) {
  TimerWheel w;
  TimerEntry e;
  e.when = ~0ull - 5;
  ASSERT_TRUE(w.insert(&e));
  EXPECT_EQ(e.when, TimerWheel::kMaxSpan);
  bool fired = false;
  w.advance(TimerWheel::kMaxSpan, [&](TimerEntry*) { fired = true; });
  EXPECT_TRUE(fired);
}

TEST(TimerWheelTest, RandomizedAgainstModel) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    TimerWheel w;
    std::vector<std::unique_ptr<TimerEntry>> live;
    std::uint64_t now = 0;
    std::size_t fired = 0, inserted = 0, removed = 0;
    for (int step = 0; step < 20000; ++step) {
      const int op = static_cast<int>(rng() % 10);
      if (op < 5) {
        auto e = std::make_unique<TimerEntry>();
        // Mix of near and far deadlines across all levels.
        const int scale = static_cast<int>(rng() % 5);
        const std::uint64_t range[] = {8, 100, 5000, 300000, 20000000};
        e->when = now + 1 + rng() % range[scale];
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
        if (rng() % 4 == 0 && next != TimerWheel::kNever) target = next;
        // Model: which linked entries are due by `target`?
        std::size_t due = 0;
        std::uint64_t earliest = TimerWheel::kNever;
        for (auto& e : live) {
          if (!e->linked()) continue;
          earliest = std::min(earliest, e->when);
          if (e->when <= target) ++due;
        }
        if (earliest != TimerWheel::kNever) {
          ASSERT_LE(next, earliest) << "seed " << seed;
        }
        std::size_t got = 0;
        w.advance(target, [&](TimerEntry* e) {
          EXPECT_LE(e->when, target) << "seed " << seed;
          EXPECT_FALSE(e->linked());
          ++got;
        });
        ASSERT_EQ(got, due) << "seed " << seed << " step " << step;
        fired += got;
        now = target;
      }
    }
    std::size_t still = 0;
    for (auto& e : live) still += e->linked() ? 1 : 0;
    EXPECT_EQ(w.size(), still);
    EXPECT_EQ(inserted, fired + removed + still) << "seed " << seed;
  }
}

}  // namespace
