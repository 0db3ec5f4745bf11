// sched/detail/timer_wheel.hpp (internal): a hierarchical timing wheel of intrusive entries.
//
// Time is counted in ticks. Six levels of 64 slots: level L slots each span 64^L ticks, so the
// wheel covers 64^6 - 1 ticks (about 199 days at 250 us a tick) and insert, remove and the search
// for the next expiration are O(1) (a few bit operations). An entry lives in the level where its
// deadline and the wheel's current time first differ; when the wheel reaches the start of a
// higher-level slot, that slot's entries cascade down to finer levels. Not thread-safe: the owner
// locks around it.
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
  std::int8_t level = -1;    // -1 when not linked
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

  // kMaxSpan is the furthest ahead of elapsed() a deadline can be.
  static constexpr std::uint64_t kMaxSpan = (std::uint64_t{1} << (kLevels * kSlotBits)) - 1;

  // insert links `e` (e->when set by the caller). Returns false, without linking, when e->when is
  // not after the wheel's current time (the deadline has already passed: the caller should not
  // wait). A deadline more than kMaxSpan ahead is lowered to elapsed() + kMaxSpan: the waiter must
  // compare the time with its real deadline when the entry fires and insert it again.
  bool insert(TimerEntry* e) noexcept;
  // remove unlinks a linked entry.
  void remove(TimerEntry* e) noexcept;
  // next_expiration returns the tick at which advance() next has work to do, or kNever. It may be
  // earlier than the earliest deadline (a cascade point), never later.
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

  std::uint64_t elapsed_ = 0;
  std::uint64_t size_ = 0;
  std::uint64_t occupied_[kLevels] = {};
  TimerEntry* slots_[kLevels][kSlots] = {};
};

template <class Fire>
void TimerWheel::advance(std::uint64_t now, Fire&& fire) noexcept {
  Expiration exp;
  while (next_expiration_detail(&exp) && exp.deadline <= now) {
    TimerEntry* list = slots_[exp.level][exp.slot];
    slots_[exp.level][exp.slot] = nullptr;
    occupied_[exp.level] &= ~(std::uint64_t{1} << exp.slot);
    if (exp.deadline > elapsed_) elapsed_ = exp.deadline;
    while (list != nullptr) {
      TimerEntry* e = list;
      list = e->next;
      e->prev = e->next = nullptr;
      e->level = -1;
      --size_;
      if (e->when <= now) {
        fire(e);
      } else {
        link(e);  // cascade to a finer level
      }
    }
  }
  if (now > elapsed_) elapsed_ = now;
}

}  // namespace spindle::detail
