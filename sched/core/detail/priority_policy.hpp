// sched/core/detail/priority_policy.hpp (internal): which ready queue a worker serves next.
//
// The policy sees two 4-bit masks, one bit per TaskPriority level with ready tasks: the worker's
// own local queues and the global injection queues. It is pure bookkeeping (no queues, no atomics)
// so its guarantees are tested on their own (tests/priority_policy_test.cpp).
//
// Rules, per worker:
//  1. Normally serve the highest level that has ready tasks, locally or globally; at equal level
//  prefer the
//     local queue, except that every kGlobalInterval-th decision prefers the global queue, so
//     neither source starves the other.
//  2. Every kFairnessInterval-th decision is a fairness turn. Fairness turns rotate over Low,
//  Normal and
//     High; a turn for level L serves L if L has ready tasks (and falls back to rule 1 otherwise).
// Guarantee: while a level below Critical has ready tasks visible to a worker, that worker serves
// it at least once in every kStarvationBound = 3 * kFairnessInterval consecutive decisions, however
// many higher-priority tasks arrive. Critical, the top level, is served on every decision that is
// not a fairness turn given to a ready lower level: at least 7 of every 8 while it has ready tasks.
#pragma once

#include <bit>
#include <cstdint>

namespace spindle::detail {

// PriorityPolicy chooses the queue for each scheduling decision of one worker.
class PriorityPolicy {
 public:
  static constexpr std::uint32_t kFairnessInterval = 8;
  static constexpr std::uint32_t kGlobalInterval = 61;
  static constexpr std::uint32_t kStarvationBound = 3 * kFairnessInterval;

  // Choice is the decision: serve `level` from the global queue or the local one; level -1:
  // nothing.
  struct Choice {
    int level;
    bool global;
  };

  // choose makes one scheduling decision given which levels have ready tasks.
  Choice choose(unsigned local_mask, unsigned global_mask) noexcept {
    const unsigned any = (local_mask | global_mask) & 0xFu;
    if (any == 0) return Choice{-1, false};
    int level = 31 - std::countl_zero(any);
    if (--to_fairness_ == 0) {  // every kFairnessInterval-th decision
      to_fairness_ = kFairnessInterval;
      const int turn = fair_turn_;
      fair_turn_ = fair_turn_ == 2 ? 0 : fair_turn_ + 1;
      if (turn < level && (any & (1u << turn)) != 0) level = turn;
    }
    const bool prefer_global = --to_global_ == 0;  // every kGlobalInterval-th decision
    if (prefer_global) to_global_ = kGlobalInterval;
    const bool local = (local_mask & (1u << level)) != 0;
    const bool global = (global_mask & (1u << level)) != 0;
    return Choice{level, global && (!local || prefer_global)};
  }

 private:
  std::uint32_t to_fairness_ = kFairnessInterval;  // decisions until the next fairness turn
  std::uint32_t to_global_ = kGlobalInterval;      // decisions until global is preferred
  int fair_turn_ = 0;                              // level of the next fairness turn (0..2)
};

}  // namespace spindle::detail
