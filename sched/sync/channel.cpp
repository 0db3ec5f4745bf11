// Out-of-line parts of the channels (spindle/channel.hpp, select.hpp, oneshot.hpp): error names,
// exceptions (kept off the inlined hot paths).
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>

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

}  // namespace detail

}  // namespace spindle
