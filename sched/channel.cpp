// Out-of-line parts of the channels (spindle/channel.hpp, select.hpp, oneshot.hpp): error names,
// exceptions (kept off the inlined hot paths) and select's random numbers.
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "detail/random.hpp"
#include "detail/runtime_impl.hpp"
#include "spindle/channel.hpp"
#include "spindle/channel_error.hpp"
#include "spindle/oneshot.hpp"
#include "spindle/select.hpp"

namespace spindle {

const char* to_string(ChannelError e) noexcept {
  switch (e) {
    case ChannelError::Closed:
      return "Closed";
    case ChannelError::Full:
      return "Full";
    case ChannelError::Empty:
      return "Empty";
    case ChannelError::Timeout:
      return "Timeout";
    case ChannelError::Cancelled:
      return "Cancelled";
    case ChannelError::Disconnected:
      return "Disconnected";
  }
  return "?";
}

ChannelException::ChannelException(ChannelError e)
    : std::runtime_error(std::string("spindle: channel operation failed: ") + to_string(e)),
      error_(e) {}

namespace detail {

void throw_channel_exception(ChannelError e) {
  throw ChannelException(e);
}

void throw_bad_capacity(const char* what, std::size_t capacity, std::size_t max) {
  throw std::invalid_argument(std::string(what) + ": capacity " + std::to_string(capacity) +
                              " exceeds kMaxCapacity (" + std::to_string(max) + ")");
}

void throw_select_not_fired(std::size_t asked, std::size_t fired) {
  throw std::logic_error("spindle::SelectResult::get<" + std::to_string(asked) + ">: case " +
                         (fired == static_cast<std::size_t>(-1) ? std::string("none (cancelled)")
                                                                : std::to_string(fired)) +
                         " fired, not this one");
}

void throw_oneshot_misuse(const char* what) {
  throw std::logic_error(what);
}

// Out of line on purpose: the current worker and the thread_local must be looked up afresh on
// every call, because a fiber calling select may resume on another thread
// (docs/architecture.md). A fiber draws from its own generator, seeded on its first select from
// the runtime's schedule_seed and its task id, so that the same seed and the same spawn order make
// the same choices whichever worker runs the fiber; an OS thread uses a per-thread xorshift.
std::uint32_t select_random() noexcept {
  Worker* w = current_worker();
  TaskCore* t = w != nullptr ? w->current : nullptr;
  if (t != nullptr) {
    if (!t->select_rng_seeded) {
      const std::uint64_t seed = w->rt->cfg.schedule_seed;
      t->select_rng =
          (seed != 0 ? seed : kDefaultScheduleSeed) ^ (t->dbg.id * 0xD1B54A32D192ED03ull);
      t->select_rng_seeded = true;
    }
    return static_cast<std::uint32_t>(splitmix(t->select_rng) >> 32);
  }
  static std::atomic<std::uint32_t> seeds{0x9e3779b9u};
  thread_local std::uint32_t state = 0;
  std::uint32_t x = state;
  if (x == 0) x = seeds.fetch_add(0x9e3779b9u, std::memory_order_relaxed) | 1u;
  // xorshift32
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  state = x;
  return x;
}

}  // namespace detail

}  // namespace spindle
