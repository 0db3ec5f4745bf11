// sched/core/time/timer_wheel.hpp (internal): a hierarchical timing wheel of intrusive entries.
//
// Time is counted in ticks. Six levels of 64 slots: level L slots each span 64^L ticks, so the
// levels cover one aligned window of 64^6 ticks (about 199 days at 250 us a tick); insert, remove
// and the search for the next expiration are O(1) (a few bit operations). An entry lives in the
// level where its deadline and the wheel's current time first differ; when the wheel reaches the
// start of a higher-level slot, that slot's entries cascade down to finer levels. Entries whose
// deadline lies beyond the current window (any distance, up to kNever - 1) wait on one overflow
// list that cascades when the wheel enters the next window, so no deadline is ever clamped or
// wrapped onto the current slot. Not thread-safe: the owner locks around it.
#pragma once

#include <cstdint>

namespace spindle::detail {

struct TaskCore;

// TimerEntry is one pending deadline; it is owned by whoever waits (it lives on the sleeping
// fiber's stack) and linked into a TimerWheel while pending.
struct TimerEntry {
  TimerEntry* prev = nullptr;
  TimerEntry* next = nullptr;
  std::uint64_t when = 0;    // deadline tick
  TaskCore* task = nullptr;  // what to wake
  std::int8_t level = -1;    // -1 when not linked; TimerWheel::kOverflowLevel on the overflow list
  std::uint8_t slot = 0;

  // linked says whether the entry is in a wheel.
  bool linked() const noexcept { return level >= 0; }
};

// TimerWheel holds TimerEntry objects ordered by deadline tick.
class TimerWheel {
 public:
  static constexpr int kLevels = 6;
  static constexpr int kSlotBits = 6;
  static constexpr int kSlots = 1 << kSlotBits;
  // kNever is returned by next_expiration when the wheel is empty.
  static constexpr std::uint64_t kNever = ~std::uint64_t{0};

  // kWindowMask covers the ticks of one window of the levels (64^kLevels ticks).
  static constexpr std::uint64_t kWindowMask = (std::uint64_t{1} << (kLevels * kSlotBits)) - 1;
  // kOverflowLevel is the level of entries whose deadline lies beyond the current window.
  static constexpr int kOverflowLevel = kLevels;

  // insert links `e` (e->when set by the caller and never changed). Returns false, without
  // linking, when e->when is not after the wheel's current time (the deadline has already passed:
  // the caller should not wait). Any later deadline is accepted.
  bool insert(TimerEntry* e) noexcept;
  // remove unlinks a linked entry.
  void remove(TimerEntry* e) noexcept;
  // next_expiration returns the tick at which advance() next has work to do, or kNever. It may be
  // earlier than the earliest deadline (a cascade point), never later, and it is always after
  // elapsed() when the wheel is not empty: advance(next_expiration()) makes progress.
  std::uint64_t next_expiration() const noexcept;
  // advance moves the wheel's time to `now`, unlinking every entry with when <= now and passing it
  // to `fire(TimerEntry*)` in deadline order of their slots.
  template <class Fire>
  void advance(std::uint64_t now, Fire&& fire) noexcept;

  // elapsed returns the wheel's current time (the last tick advanced to).
  std::uint64_t elapsed() const noexcept { return elapsed_; }
  // size returns the number of linked entries.
  std::uint64_t size() const noexcept { return size_; }
  // empty says whether no entry is linked.
  bool empty() const noexcept { return size_ == 0; }

 private:
  struct Expiration {
    int level;
    int slot;
    std::uint64_t deadline;
  };
  bool next_expiration_detail(Expiration* out) const noexcept;
  void link(TimerEntry* e) noexcept;
  TimerEntry*& head(int level, int slot) noexcept {
    return level == kOverflowLevel ? overflow_ : slots_[level][slot];
  }

  std::uint64_t elapsed_ = 0;
  std::uint64_t size_ = 0;
  std::uint64_t occupied_[kLevels] = {};
  TimerEntry* slots_[kLevels][kSlots] = {};
  TimerEntry* overflow_ = nullptr;  // deadlines beyond the current window
};

template <class Fire>
void TimerWheel::advance(std::uint64_t now, Fire&& fire) noexcept {
  Expiration exp;
  while (next_expiration_detail(&exp) && exp.deadline <= now) {
    TimerEntry* list = head(exp.level, exp.slot);
    head(exp.level, exp.slot) = nullptr;
    if (exp.level < kLevels) {
      occupied_[exp.level] &= ~(std::uint64_t{1} << exp.slot);
      if (exp.deadline > elapsed_) elapsed_ = exp.deadline;
    } else {
      // The levels are empty (they come due first): jump straight to the start of now's window,
      // so a far jump of the clock costs one cascade, not one per window crossed.
      elapsed_ = now & ~kWindowMask;
    }
    while (list != nullptr) {
      TimerEntry* e = list;
      list = e->next;
      e->prev = e->next = nullptr;
      e->level = -1;
      --size_;
      if (e->when <= now) {
        fire(e);
      } else {
        link(e);  // cascade to a finer level (relative to the new elapsed_)
      }
    }
  }
  if (now > elapsed_) elapsed_ = now;
}

}  // namespace spindle::detail
