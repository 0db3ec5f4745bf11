// sched/core/detail/random.hpp (internal): the runtime's small pseudo-random generator.
#pragma once

#include <cstdint>

namespace spindle::detail {

// splitmix advances the splitmix64 state `s` and returns its next 64-bit output. Not for security:
// for steal-victim order, migration targets and select's case order, reproducible from a seed.
inline std::uint64_t splitmix(std::uint64_t& s) noexcept {
  std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// kDefaultScheduleSeed is the seed used when AsyncRuntimeConfig::schedule_seed is 0.
inline constexpr std::uint64_t kDefaultScheduleSeed = 0x5EED0000ull;

}  // namespace spindle::detail
