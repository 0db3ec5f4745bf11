// libFuzzer target: the timer wheel (sched/core/time/timer_wheel.hpp) driven by the input against a
// simple model, the same properties as tests/timer_wheel_test.cpp's RandomizedAgainstModel: every
// entry fires exactly once, never early, never after the advance that reaches it; next_expiration
// is never past the earliest deadline and always ahead of elapsed() (advancing to it makes
// progress). Each 9-byte record is one operation: insert at elapsed() + a 64-bit offset folded into
// a level-shaped range, remove an entry, or advance (to next_expiration, just before it, or by an
// offset).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "time/timer_wheel.hpp"
#include "timer_wheel_model.hpp"

using spindle::detail::TimerEntry;
using spindle::detail::TimerWheel;

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  TimerWheel w;
  std::vector<std::unique_ptr<TimerEntry>> live;
  std::size_t inserted = 0, fired = 0, removed = 0;
  for (std::size_t at = 0; at + 9 <= size; at += 9) {
    const std::uint8_t op = data[at];
    std::uint64_t arg;
    std::memcpy(&arg, data + at + 1, sizeof arg);
    const std::uint64_t now = w.elapsed();
    if (op % 3 == 0) {
      // Ahead by 1 .. 64^k (k from the op byte: every level and far beyond the window). Ticks are
      // 250 us: the runtime never gets near 2^63, so neither does this.
      if (now > (std::uint64_t{1} << 63)) continue;
      const unsigned k = 1 + (op / 3) % 10;
      const std::uint64_t range =
          k >= 10 ? (std::uint64_t{1} << 62) : (std::uint64_t{1} << (6 * k));
      auto e = std::make_unique<TimerEntry>();
      e->when = now + 1 + arg % range;
      require(w.insert(e.get()));
      live.push_back(std::move(e));
      ++inserted;
    } else if (op % 3 == 1) {
      if (live.empty()) continue;
      const std::size_t i = arg % live.size();
      if (live[i]->linked()) {
        w.remove(live[i].get());
        ++removed;
      }
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      const std::uint64_t next = w.next_expiration();
      std::uint64_t target = now + arg % (std::uint64_t{1} << (4 + (op / 3) % 40));
      if ((op / 3) % 4 == 0 && next != TimerWheel::kNever) target = next;
      if ((op / 3) % 4 == 1 && next != TimerWheel::kNever) target = next - 1;
      if (target < now) target = now;
      const auto [due, earliest] = spindle::test::model_due(live, target);
      if (earliest != TimerWheel::kNever) {
        require(next <= earliest && next > w.elapsed());
      } else {
        require(next == TimerWheel::kNever);
      }
      std::size_t got = 0;
      w.advance(target, [&](TimerEntry* e) {
        require(e->when <= target && !e->linked());
        ++got;
      });
      require(got == due && w.elapsed() == target);
      fired += got;
    }
  }
  std::size_t still = 0;
  for (auto& e : live) still += e->linked() ? 1 : 0;
  require(w.size() == still && inserted == fired + removed + still);
  for (auto& e : live) {
    if (e->linked()) w.remove(e.get());
  }
  return 0;
}
