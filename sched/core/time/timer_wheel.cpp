// Hierarchical timing wheel (see time/timer_wheel.hpp).
#include "time/timer_wheel.hpp"

#include <bit>

namespace spindle::detail {

namespace {
// level_for returns the level at which `when` lives relative to the wheel time `elapsed`: the level
// of the most significant 6-bit group in which they differ, or kOverflowLevel when they differ
// above the top level (`when` lies in a later window). Never clamped: a clamped level would put
// `when` into a slot that wraps onto the current position and never comes due.
int level_for(std::uint64_t elapsed, std::uint64_t when) noexcept {
  std::uint64_t masked = (elapsed ^ when) | (TimerWheel::kSlots - 1);
  int significant = 63 - std::countl_zero(masked);
  int level = significant / TimerWheel::kSlotBits;
  return level < TimerWheel::kLevels ? level : TimerWheel::kOverflowLevel;
}
}  // namespace

void TimerWheel::link(TimerEntry* e) noexcept {
  const int level = level_for(elapsed_, e->when);
  const int slot = level == kOverflowLevel
                       ? 0
                       : static_cast<int>((e->when >> (level * kSlotBits)) & (kSlots - 1));
  e->level = static_cast<std::int8_t>(level);
  e->slot = static_cast<std::uint8_t>(slot);
  e->prev = nullptr;
  TimerEntry*& first = head(level, slot);
  e->next = first;
  if (e->next != nullptr) e->next->prev = e;
  first = e;
  if (level < kLevels) occupied_[level] |= std::uint64_t{1} << slot;
  ++size_;
}

bool TimerWheel::insert(TimerEntry* e) noexcept {
  if (e->when <= elapsed_) return false;
  link(e);
  return true;
}

void TimerWheel::remove(TimerEntry* e) noexcept {
  if (!e->linked()) return;
  if (e->prev != nullptr) {
    e->prev->next = e->next;
  } else {
    head(e->level, e->slot) = e->next;
    if (e->next == nullptr && e->level < kLevels) {
      occupied_[e->level] &= ~(std::uint64_t{1} << e->slot);
    }
  }
  if (e->next != nullptr) e->next->prev = e->prev;
  e->prev = e->next = nullptr;
  e->level = -1;
  --size_;
}

bool TimerWheel::next_expiration_detail(Expiration* out) const noexcept {
  for (int level = 0; level < kLevels; ++level) {
    if (occupied_[level] == 0) continue;
    const int shift = level * kSlotBits;
    const int pos = static_cast<int>((elapsed_ >> shift) & (kSlots - 1));
    // Slots before the current position at this level are never occupied: an entry differs from
    // elapsed_ first in this level's group and lies after it, so its slot is at or after `pos`
    // (at `pos` only when elapsed_ moved past the slot's start in advance()).
    const std::uint64_t ahead = occupied_[level] >> pos;
    // (ahead == 0 would break that invariant; the lowest slot is then taken as due now, so its
    // entries cascade against elapsed_ instead of being lost or firing forever.)
    const int slot =
        ahead != 0 ? pos + std::countr_zero(ahead) : std::countr_zero(occupied_[level]);
    const std::uint64_t level_span = std::uint64_t{1} << (shift + kSlotBits);
    const std::uint64_t level_start = elapsed_ & ~(level_span - 1);
    std::uint64_t deadline = level_start + (static_cast<std::uint64_t>(slot) << shift);
    // A slot's start may already be behind elapsed_ (the slot holding elapsed_ itself, after an
    // advance stopped inside it): it is due now and cascades to finer levels.
    if (deadline < elapsed_) deadline = elapsed_;
    out->level = level;
    out->slot = slot;
    out->deadline = deadline;
    return true;
  }
  if (overflow_ != nullptr) {
    // The overflow list cascades when the wheel enters the next window.
    out->level = kOverflowLevel;
    out->slot = 0;
    const std::uint64_t window_end = elapsed_ | kWindowMask;
    out->deadline = window_end == kNever ? kNever - 1 : window_end + 1;
    return true;
  }
  return false;
}

std::uint64_t TimerWheel::next_expiration() const noexcept {
  Expiration exp;
  return next_expiration_detail(&exp) ? exp.deadline : kNever;
}

}  // namespace spindle::detail
