// The priority policy on its own: highest level first, local before global at a level, and the
// no-starvation bound (every ready level below Critical served within kStarvationBound decisions).
#include <gtest/gtest.h>

#include <random>

#include "spindle/platform/priority_policy.hpp"

using spindle::platform::PriorityPolicy;

namespace {

TEST(PriorityPolicyTest, NothingReady) {
  PriorityPolicy p;
  EXPECT_EQ(p.choose(0, 0).level, -1);
}

TEST(PriorityPolicyTest, HighestLevelWinsOutsideFairnessTurns) {
  PriorityPolicy p;
  int served_top = 0;
  for (int i = 0; i < 7; ++i) {  // decisions 1..7 precede the first fairness turn
    auto c = p.choose(0b0011, 0b0100);
    EXPECT_EQ(c.level, 2);
    EXPECT_TRUE(c.global);
    ++served_top;
  }
  EXPECT_EQ(served_top, 7);
}

TEST(PriorityPolicyTest, LocalPreferredAtEqualLevelButGlobalNotStarved) {
  PriorityPolicy p;
  int global = 0;
  for (std::uint32_t i = 1; i <= 10 * PriorityPolicy::kGlobalInterval; ++i) {
    auto c = p.choose(0b0010, 0b0010);
    EXPECT_EQ(c.level, 1);
    if (c.global) {
      ++global;
      EXPECT_EQ(i % PriorityPolicy::kGlobalInterval, 0u);
    }
  }
  EXPECT_EQ(global, 10);
}

// Every level below the top that stays ready is served at least once in every window of
// kStarvationBound consecutive decisions, whatever the other levels do.
TEST(PriorityPolicyTest, NoStarvationBoundHoldsForRandomLoads) {
  std::mt19937 rng(12345);
  for (int trial = 0; trial < 200; ++trial) {
    PriorityPolicy p;
    const int watched = static_cast<int>(rng() % 3);  // Low, Normal or High
    std::uint32_t since = 0;
    std::uint32_t worst = 0;
    for (int d = 0; d < 5000; ++d) {
      unsigned local = static_cast<unsigned>(rng()) & 0xF;
      unsigned global = static_cast<unsigned>(rng()) & 0xF;
      // The watched level always has work (locally or globally); higher levels are busy too.
      if (rng() % 2) {
        local |= 1u << watched;
      } else {
        global |= 1u << watched;
      }
      local |= 0b1000;  // a flood of Critical work
      auto c = p.choose(local, global);
      ASSERT_GE(c.level, 0);
      if (c.level == watched) {
        since = 0;
      } else {
        ++since;
        worst = std::max(worst, since);
      }
    }
    EXPECT_LT(worst, PriorityPolicy::kStarvationBound) << "trial " << trial << " level " << watched;
  }
}

TEST(PriorityPolicyTest, FairnessTurnsDoNotPreemptWhenLowerLevelsAreIdle) {
  PriorityPolicy p;
  for (int i = 0; i < 100; ++i) EXPECT_EQ(p.choose(0b1000, 0).level, 3);
}

}  // namespace
