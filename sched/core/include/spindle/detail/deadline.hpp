// spindle/detail/deadline.hpp: saturating conversions from std::chrono durations and time points to
// the runtime's deadlines (CLOCK_MONOTONIC nanoseconds). Not API: every timed call (`*_for`,
// `*_until`, `sleep_*`, select's timeout) converts through these, so they are visible.
//
// The rules, for any clock, any representation (integer or floating, NaN, +-inf) and any period:
//   - a duration or time point too large for 64-bit nanoseconds, +inf, and time_point::max() mean
//     "no deadline" (kNoDeadline);
//   - zero, negative, -inf, NaN and time_point::min() mean "already passed" (the call times out at
//     once, after a cancellation check);
//   - nothing overflows: no signed arithmetic on user values outside the checks below.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ratio>
#include <type_traits>

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle::detail {

// kNoDeadline means "wait without a deadline".
inline constexpr std::uint64_t kNoDeadline = std::numeric_limits<std::uint64_t>::max();

// SatNs is a duration converted to nanoseconds: `ns` clamped to [0, INT64_MAX] for non-negative
// inputs (INT64_MAX meaning "too large"), negative for negative ones, and `nan` set for NaN.
struct SatNs {
  std::int64_t ns;
  bool nan;
};

// clamp_ns rounds a nanosecond count held in a long double up to a whole number and clamps it to
// the int64 range (2^63 is exact in long double; +-inf saturate).
inline std::int64_t clamp_ns(long double ns) noexcept {
  constexpr long double kLimit = 9223372036854775808.0L;
  if (!(ns < kLimit)) return std::numeric_limits<std::int64_t>::max();
  if (!(ns > -kLimit)) return std::numeric_limits<std::int64_t>::min();
  const long double up = std::ceil(ns);
  return up >= kLimit ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(up);
}

// saturating_ns converts `d` to whole nanoseconds, rounding a fraction of a nanosecond up (a wait
// is never short), clamping to the int64 range instead of overflowing, and flagging NaN.
template <class Rep, class Period>
SatNs saturating_ns(std::chrono::duration<Rep, Period> d) noexcept {
  using I = std::int64_t;
  constexpr I kMax = std::numeric_limits<I>::max();
  constexpr I kMin = std::numeric_limits<I>::min();
  using CF = std::ratio_divide<Period, std::nano>;  // nanoseconds per tick of d, reduced
  constexpr long double kNum = static_cast<long double>(CF::num);
  constexpr long double kDen = static_cast<long double>(CF::den);
  if constexpr (std::is_floating_point_v<Rep>) {
    const long double c = static_cast<long double>(d.count());
    if (std::isnan(c)) return {0, true};
    return {clamp_ns(c * kNum / kDen), false};
  } else {
    static_assert(std::numeric_limits<Rep>::is_integer,
                  "duration rep must be integral or floating");
    const auto c = d.count();
    if constexpr (CF::den == 1) {
      // Whole nanoseconds per tick (ns, us, ms, s, h, ...): exact, one overflow check.
      constexpr auto num = static_cast<std::uintmax_t>(CF::num);
      constexpr auto limit = static_cast<std::uintmax_t>(kMax) / num;
      if constexpr (std::is_signed_v<Rep>) {
        if (c < 0) {
          // Magnitude without negating the most negative value.
          const std::uintmax_t mag = static_cast<std::uintmax_t>(-(c + 1)) + 1;
          return {mag > limit ? kMin : -static_cast<I>(mag * num), false};
        }
      }
      const auto u = static_cast<std::uintmax_t>(c);
      return {u > limit ? kMax : static_cast<I>(u * num), false};
    } else {
      // Fractions of a nanosecond per tick (e.g. 1/3 s, picoseconds): through long double, which
      // cannot overflow, rounded up.
      return {clamp_ns(static_cast<long double>(c) * kNum / kDen), false};
    }
  }
}

// now_ns reads the monotonic clock the deadlines use.
std::uint64_t now_ns() noexcept;

// deadline_after_ns turns a relative timeout in ns into a deadline: <= 0 is now, INT64_MAX (the
// saturated "too large") is kNoDeadline, and now + ns saturates at kNoDeadline.
std::uint64_t deadline_after_ns(std::int64_t ns) noexcept;

// deadline_at_steady_ns turns nanoseconds since steady_clock's epoch into a deadline (<= 0: the
// epoch, long passed; INT64_MAX: kNoDeadline).
std::uint64_t deadline_at_steady_ns(std::int64_t ns_since_epoch) noexcept;

// deadline_after converts a relative timeout of any duration type to a deadline (see the rules at
// the top of this file).
template <class Rep, class Period>
std::uint64_t deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
  const SatNs s = saturating_ns(d);
  return deadline_after_ns(s.nan ? 0 : s.ns);
}

// deadline_at converts a time point of any clock to a deadline. steady_clock maps directly; other
// clocks convert through one reading of each clock (so the deadline does not move if the other
// clock later jumps). time_point::max() is kNoDeadline; min() and NaN have passed.
template <class Clock, class Dur>
std::uint64_t deadline_at(std::chrono::time_point<Clock, Dur> tp) noexcept {
  using TP = std::chrono::time_point<Clock, Dur>;
  if (tp == TP::max()) return kNoDeadline;
  if (tp == TP::min()) return deadline_after_ns(0);
  const SatNs at = saturating_ns(tp.time_since_epoch());
  if (at.nan) return deadline_after_ns(0);
  if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
    return deadline_at_steady_ns(at.ns);
  } else {
    if (at.ns == std::numeric_limits<std::int64_t>::max()) return kNoDeadline;
    const SatNs now = saturating_ns(Clock::now().time_since_epoch());
    std::int64_t diff;
    if (__builtin_sub_overflow(at.ns, now.ns, &diff)) {
      // Only possible when the two have opposite signs: the sign of `at` tells the direction.
      diff = at.ns < 0 ? std::int64_t{0} : std::numeric_limits<std::int64_t>::max();
    }
    return deadline_after_ns(diff);
  }
}

}  // namespace spindle::detail

SPINDLE_API_END
