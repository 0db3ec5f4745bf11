// spindle/platform/priority_policy.hpp: the priority rule, i.e. which ready queue a scheduler
// serves next. Strict priorities with a no-starvation fairness turn.
//
// This one header is compiled by both schedulers that use the rule:
//  - the host runtime (sched/core: one PriorityPolicy per Worker, fed its local and the global
//    masks; tests/priority_policy_test.cpp tests the rule on its own);
//  - the Cortex-M executor (platform/cortex-m/src/executor.cpp: one PriorityPolicy per core, fed
//    its ready mask and an empty global mask; platform/cortex-m/tests/test_sched.cpp checks it
//    decision by decision).
// So it stays freestanding: <bit> and <cstdint> only; no exceptions, allocation, atomics or OS
// calls, nothing from sched/. It is plain per-scheduler bookkeeping (no queues, no
// synchronization): the caller owns one instance per decision maker and serializes its calls.
//
// Input: two 4-bit masks, one bit per priority level (0 Low, 1 Normal, 2 High, 3 Critical) with
// ready tasks: the caller's own ("local") queues and the shared ("global") injection queues. A
// decision is one call of choose() with at least one bit set; a call with no bit set is not a
// decision and changes nothing. Rules, per decision:
//  1. Serve the highest level with ready tasks, locally or globally. At that level prefer the local
//     queue, except that every kGlobalInterval-th decision prefers the global one, so neither
//     source starves the other.
//  2. Every kFairnessInterval-th decision is a fairness turn. Fairness turns rotate over Low,
//     Normal and High (one step per turn, used or not); the turn for level L serves L if L has
//     ready tasks and is below the level of rule 1, otherwise rule 1 applies.
// State: three small counters, no history of masks: decisions until the next fairness turn,
// decisions until global is preferred, and the level of the next fairness turn.
// Guarantee: while a level below Critical has ready tasks visible to the caller, it is served at
// least once in every kStarvationBound = 3 * kFairnessInterval consecutive decisions, however many
// higher-priority tasks arrive. Critical, the top level, is served on every decision that is not a
// fairness turn given to a ready lower level: at least 7 of every 8 while it has ready tasks.
#pragma once

#include <bit>
#include <cstdint>

namespace spindle::platform {

// PriorityPolicy chooses the queue for each scheduling decision of one scheduler (worker or core).
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

}  // namespace spindle::platform
