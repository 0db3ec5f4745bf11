// Hierarchical timing wheel (see detail/timer_wheel.hpp).
#include "detail/timer_wheel.hpp"

#include <bit>

namespace spindle::detail {

namespace {
// level_for returns the level at which `when` lives relative to the wheel time `elapsed`: the level
// of the most significant 6-bit group in which they differ.
int level_for(std::uint64_t elapsed, std::uint64_t when) noexcept {
  std::uint64_t masked = (elapsed ^ when) | (TimerWheel::kSlots - 1);
  int significant = 63 - std::countl_zero(masked);
  int level = significant / TimerWheel::kSlotBits;
  return level < TimerWheel::kLevels ? level : TimerWheel::kLevels - 1;
}
}  // namespace

void TimerWheel::link(TimerEntry* e) noexcept {
  int level = level_for(elapsed_, e->when);
  int slot = static_cast<int>((e->when >> (level * kSlotBits)) & (kSlots - 1));
  e->level = static_cast<std::int8_t>(level);
  e->slot = static_cast<std::uint8_t>(slot);
  e->prev = nullptr;
  e->next = slots_[level][slot];
  if (e->next != nullptr) e->next->prev = e;
  slots_[level][slot] = e;
  occupied_[level] |= std::uint64_t{1} << slot;
  ++size_;
}

bool TimerWheel::insert(TimerEntry* e) noexcept {
  if (e->when <= elapsed_) return false;
  // Deadlines beyond the wheel's span fire at the end of the span; the waiter re-arms (see header).
  if (e->when - elapsed_ > kMaxSpan) e->when = elapsed_ + kMaxSpan;
  link(e);
  return true;
}

void TimerWheel::remove(TimerEntry* e) noexcept {
  if (!e->linked()) return;
  if (e->prev != nullptr) {
    e->prev->next = e->next;
  } else {
    slots_[e->level][e->slot] = e->next;
    if (e->next == nullptr) occupied_[e->level] &= ~(std::uint64_t{1} << e->slot);
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
    // Slots before the current position at this level are never occupied: entries land after it.
    std::uint64_t ahead = occupied_[level] >> pos;
    int slot;
    if (ahead != 0) {
      slot = pos + std::countr_zero(ahead);
    } else {
      slot = std::countr_zero(occupied_[level]);  // defensive: wrapped
    }
    const std::uint64_t level_span = std::uint64_t{1} << (shift + kSlotBits);
    const std::uint64_t level_start =
        (shift + kSlotBits >= 64) ? 0 : (elapsed_ & ~(level_span - 1));
    std::uint64_t deadline = level_start + (static_cast<std::uint64_t>(slot) << shift);
    if (slot < pos) deadline += level_span;
    // A slot's start may already be behind elapsed_ (the level-0 slot of the current tick's group):
    // it is due now.
    if (deadline < elapsed_) deadline = elapsed_;
    out->level = level;
    out->slot = slot;
    out->deadline = deadline;
    return true;
  }
  return false;
}

std::uint64_t TimerWheel::next_expiration() const noexcept {
  Expiration exp;
  return next_expiration_detail(&exp) ? exp.deadline : kNever;
}

}  // namespace spindle::detail
