/// @file
/// spindle/channel_error.hpp: ChannelError, why a channel operation failed; ChannelResult<T>, the
/// value-or-error every Channel, select and Oneshot operation returns; ChannelException, what
/// ChannelResult::value() throws when there is no value.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// ChannelError is why a channel operation did not complete:
///   Closed    the channel is closed (a send, or a receive once the buffer is drained), or a
///             Oneshot's value was already received;
///   Full      try_send found no receiver waiting and no room in the buffer;
///   Empty     try_recv found no value and no sender waiting;
///   Timeout   the deadline of a *_for / *_until call passed first;
///   Cancelled the calling fiber's task was cancelled while the operation was blocked (only a call
///             that would block is a cancellation point; the error is returned, not thrown);
///   Disconnected  a Oneshot's other end was dropped first: the sender without sending (what its
///             receiver gets), or the receiver before the send (what send returns).
enum class ChannelError : std::uint8_t { Closed, Full, Empty, Timeout, Cancelled, Disconnected };

/// to_string returns the name of a ChannelError ("Closed", ...).
const char* to_string(ChannelError e) noexcept;

/// ChannelException is thrown by ChannelResult::value() when the result holds an error; error()
/// says which, what() reads "spindle: channel operation failed: <name>".
class ChannelException : public std::runtime_error {
 public:
  /// ChannelException makes the exception for `e`.
  explicit ChannelException(ChannelError e);
  /// error returns the error the failed result held.
  ChannelError error() const noexcept { return error_; }

 private:
  ChannelError error_;
};

namespace detail {
// throw_channel_exception throws ChannelException(e) (out of line: keeps value() small).
[[noreturn]] void throw_channel_exception(ChannelError e);
}  // namespace detail

// GCC 12 reports false "may be used uninitialized" warnings for std::optional payloads read on
// paths it cannot prove dead (notably under sanitizers); they would break -Werror builds of users.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

/// ChannelResult<T> is what a receive returns: a T, or the ChannelError that prevented it (like
/// std::expected<T, ChannelError>). Checking it never throws; only value() does, when there is no
/// value. T must be an object type; ChannelResult<void> (below) is what sends return.
template <class T>
class [[nodiscard]] ChannelResult {
  static_assert(std::is_object_v<T>, "ChannelResult<T> needs an object type");

 public:
  /// ChannelResult(e) holds the error `e`.
  ChannelResult(ChannelError e) noexcept : error_(e) {}  // NOLINT: implicit by design
  /// ChannelResult(std::in_place, args...) holds a T made from `args`.
  template <class... A>
  explicit ChannelResult(std::in_place_t, A&&... args)
      : value_(std::in_place, std::forward<A>(args)...) {}

  /// has_value says whether the result holds a value.
  bool has_value() const noexcept { return value_.has_value(); }
  /// operator bool is has_value().
  explicit operator bool() const noexcept { return value_.has_value(); }
  ///@{
  /// operator* returns the value. Precondition: has_value() (unchecked, like std::optional).
  T& operator*() & noexcept { return *value_; }
  const T& operator*() const& noexcept { return *value_; }
  T&& operator*() && noexcept { return std::move(*value_); }
  ///@}
  ///@{
  /// operator-> returns the address of the value. Precondition: has_value().
  T* operator->() noexcept { return &*value_; }
  const T* operator->() const noexcept { return &*value_; }
  ///@}
  ///@{
  /// value returns the value; throws ChannelException carrying error() if there is none.
  T& value() & {
    if (!value_) detail::throw_channel_exception(error_);
    return *value_;
  }
  const T& value() const& {
    if (!value_) detail::throw_channel_exception(error_);
    return *value_;
  }
  T&& value() && {
    if (!value_) detail::throw_channel_exception(error_);
    return std::move(*value_);
  }
  ///@}
  /// value_or returns the value, or `fallback` if there is none.
  template <class U>
  T value_or(U&& fallback) && {
    if (value_.has_value()) return std::move(*value_);
    return static_cast<T>(std::forward<U>(fallback));
  }
  /// error returns why there is no value. Meaningful only when !has_value().
  ChannelError error() const noexcept { return error_; }

 private:
  std::optional<T> value_;
  ChannelError error_ = ChannelError::Closed;
};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/// ChannelResult<void> is what a send returns: success, or the ChannelError that prevented it.
template <>
class [[nodiscard]] ChannelResult<void> {
 public:
  /// ChannelResult() is success.
  ChannelResult() noexcept = default;
  /// ChannelResult(e) holds the error `e`.
  ChannelResult(ChannelError e) noexcept : ok_(false), error_(e) {}  // NOLINT: implicit by design

  /// has_value says whether the operation succeeded.
  bool has_value() const noexcept { return ok_; }
  /// operator bool is has_value().
  explicit operator bool() const noexcept { return ok_; }
  /// value returns if the operation succeeded; throws ChannelException carrying error() otherwise.
  void value() const {
    if (!ok_) detail::throw_channel_exception(error_);
  }
  /// error returns why the operation failed. Meaningful only when !has_value().
  ChannelError error() const noexcept { return error_; }

 private:
  bool ok_ = true;
  ChannelError error_ = ChannelError::Closed;
};

}  // namespace spindle

SPINDLE_API_END
