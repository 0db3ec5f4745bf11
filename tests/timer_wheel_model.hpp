// tests/timer_wheel_model.hpp: the list model the timer wheel is checked against, shared by
// tests/timer_wheel_test.cpp (seeded property test) and tests/fuzz/timer_wheel_fuzz.cpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "time/timer_wheel.hpp"

namespace spindle::test {

// ModelDue is what the model expects of one advance: how many linked entries fire by the target,
// and the earliest linked deadline (TimerWheel::kNever when none is linked).
struct ModelDue {
  std::size_t due = 0;
  std::uint64_t earliest = detail::TimerWheel::kNever;
};

// model_due computes ModelDue for advancing to `target` over the entries of `live`.
inline ModelDue model_due(const std::vector<std::unique_ptr<detail::TimerEntry>>& live,
                          std::uint64_t target) {
  ModelDue m;
  for (const auto& e : live) {
    if (!e->linked()) continue;
    m.earliest = std::min(m.earliest, e->when);
    if (e->when <= target) ++m.due;
  }
  return m;
}

}  // namespace spindle::test
