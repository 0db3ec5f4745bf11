/// @file
/// spindle/select.hpp: select, Go's select statement: wait for the first of several channel
/// receives and sends, with an optional timeout or a default case that makes it non-blocking.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "spindle/channel.hpp"
#include "spindle/channel_error.hpp"
#include "spindle/detail/deadline.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

template <class... Cases>
class SelectResult;

namespace detail {
template <class... Cases>
struct Selector;
// SelectCaseTraits describes one kind of select case (detail/select_impl.hpp).
template <class C>
struct SelectCaseTraits;
// throw_select_not_fired throws std::logic_error: get<asked>() on a result where `fired` fired.
[[noreturn]] void throw_select_not_fired(std::size_t asked, std::size_t fired);
}  // namespace detail

/// RecvCase is a select case that receives from a Channel<T>; made by recv_case.
template <class T>
class RecvCase {
 public:
  /// RecvCase makes a case receiving from `ch` (kept by reference).
  explicit RecvCase(Channel<T>& ch) noexcept : ch_(&ch) {}

 private:
  template <class...>
  friend struct detail::Selector;
  Channel<T>* ch_;
};

/// SendCase is a select case that sends a value on a Channel<T>; made by send_case.
template <class T>
class SendCase {
 public:
  /// SendCase makes a case sending `v` (kept by reference, moved from only if this case fires
  /// successfully) on `ch`.
  SendCase(Channel<T>& ch, T& v) noexcept : ch_(&ch), src_(&v) {}
  /// SendCase makes a case sending a copy of `v` on `ch` (the copy is held by the case).
  SendCase(Channel<T>& ch, const T& v, std::in_place_t) : ch_(&ch), src_(nullptr), own_(v) {}

 private:
  template <class...>
  friend struct detail::Selector;
  T& value() noexcept { return src_ != nullptr ? *src_ : *own_; }
  Channel<T>* ch_;
  T* src_;
  std::optional<T> own_;
};

/// TimeoutCase is a select case that fires when its deadline passes; made by timeout / timeout_at.
class TimeoutCase {
 public:
  /// TimeoutCase makes a case for the monotonic deadline `deadline_ns` (see detail::now_ns).
  explicit TimeoutCase(std::uint64_t deadline_ns) noexcept : deadline_(deadline_ns) {}

 private:
  template <class...>
  friend struct detail::Selector;
  std::uint64_t deadline_;
};

/// DefaultCase is select's default case: it fires when no other case is ready at once, making the
/// select non-blocking; made by default_case.
class DefaultCase {};

/// recv_case makes a select case that receives from `ch`. The case fires with the value, or with
/// ChannelError::Closed once `ch` is closed and drained. `ch` must outlive the select.
template <class T>
[[nodiscard]] RecvCase<T> recv_case(Channel<T>& ch) noexcept {
  return RecvCase<T>(ch);
}

/// send_case makes a select case that sends `v` on `ch`. `v` is kept by reference (write the case
/// inside the select(...) call) and moved from only if this case fires successfully; when another
/// case fires, or this one fires with ChannelError::Closed, `v` is left untouched.
template <class T>
[[nodiscard]] SendCase<T> send_case(Channel<T>& ch, std::type_identity_t<T>&& v) noexcept {
  return SendCase<T>(ch, v);
}
/// send_case(ch, const T&) makes a select case that sends a copy of `v`; the copy is dropped if the
/// case does not fire successfully. Throws what T's copy throws.
template <class T>
[[nodiscard]] SendCase<T> send_case(
    Channel<T>& ch, const std::type_identity_t<T>& v) requires std::is_copy_constructible_v<T> {
  return SendCase<T>(ch, v, std::in_place);
}

/// timeout makes a select case that fires once `d` has passed (measured from this call), if no
/// channel case fired first.
template <class Rep, class Period>
[[nodiscard]] TimeoutCase timeout(std::chrono::duration<Rep, Period> d) noexcept {
  return TimeoutCase(detail::deadline_after(d));
}
/// timeout_at makes a select case that fires once `deadline` (any clock) has passed.
template <class Clock, class Dur>
[[nodiscard]] TimeoutCase timeout_at(std::chrono::time_point<Clock, Dur> deadline) noexcept {
  return TimeoutCase(detail::deadline_at(deadline));
}
/// default_case makes select's default case (see DefaultCase).
[[nodiscard]] inline DefaultCase default_case() noexcept {
  return {};
}

/// SelectResult is what select returns: which case fired, and that case's outcome.
template <class... Cases>
class SelectResult {
 public:
  /// npos is index() of a select that was cancelled.
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  /// index returns the position (0-based, in select's argument list) of the case that fired: a
  /// channel case, the timeout case or the default case; npos if the select was cancelled.
  std::size_t index() const noexcept { return index_; }
  /// cancelled says whether the select returned because the fiber's task was cancelled while it was
  /// blocked (index() == npos).
  bool cancelled() const noexcept { return index_ == npos; }
  /// get returns the outcome of channel case I: ChannelResult<T>& for recv_case (the value, or
  /// Closed), ChannelResult<void>& for send_case (success, or Closed). Throws std::logic_error if
  /// case I is not the one that fired.
  template <std::size_t I>
  auto& get() {
    static_assert(I < sizeof...(Cases), "SelectResult::get: no such case");
    using C = std::tuple_element_t<I, std::tuple<Cases...>>;
    static_assert(detail::SelectCaseTraits<C>::channel,
                  "SelectResult::get: only channel cases have an outcome");
    if (index_ != I) detail::throw_select_not_fired(I, index_);
    return *std::get<I>(results_);
  }

 private:
  template <class...>
  friend struct detail::Selector;
  std::size_t index_ = npos;
  std::tuple<std::optional<typename detail::SelectCaseTraits<Cases>::result>...> results_;
};

/// select waits until one of `cases` can proceed, performs that one only, and returns which it was
/// (SelectResult::index) with its outcome (SelectResult::get<I>). Cases:
///   recv_case(ch)        receive from ch; fires with the value, or with Closed once ch is closed
///                        and drained;
///   send_case(ch, v)     send v on ch; fires with success, or with Closed if ch is closed (v is
///                        then untouched);
///   timeout(d) / timeout_at(tp)   fires when the deadline passes first (at most one);
///   default_case()       fires at once when no channel case is ready: select never blocks (at
///                        most one; not together with a timeout).
/// When several channel cases are ready, one is chosen uniformly at random; in a fiber the choices
/// are reproducible: the same AsyncRuntimeConfig::schedule_seed and the same task (id) give the
/// same sequence of choices on every run (outside fibers they are not). Otherwise the caller blocks
/// (fiber parked, or OS thread on a futex) until exactly one case completes; the others have no
/// effect. A blocked select is a cancellation point: when the fiber's task is cancelled it returns
/// with cancelled() true (nothing thrown, no case performed). A channel may appear in several
/// cases. A select without channel cases waits for its timeout, or until cancelled (forever on a
/// thread). Throws only std::bad_alloc (a send case growing a buffer; then nothing happened). A
/// select that may block (no default case) spends the cooperative budget like a channel call: once
/// every 128 such calls in a row, if the fiber was cancelled, it returns cancelled() without
/// polling any case, and it yields first once the fiber has held its worker for poll_interval
/// (docs/scheduler.md, "Cooperative budget").
template <class... Cases>
[[nodiscard]] SelectResult<Cases...> select(Cases... cases) {
  static_assert((detail::SelectCaseTraits<Cases>::valid && ...),
                "spindle::select takes recv_case, send_case, timeout, timeout_at, default_case");
  static_assert((std::size_t{0} + ... +
                 static_cast<std::size_t>(std::is_same_v<Cases, TimeoutCase> ||
                                          std::is_same_v<Cases, DefaultCase>)) <= 1,
                "spindle::select: at most one timeout or default case");
  return detail::Selector<Cases...>::run(std::tie(cases...));
}

}  // namespace spindle

// The implementation (case traits, channel access, Selector) is internal.
#include "spindle/detail/select_impl.hpp"  // IWYU pragma: export

SPINDLE_API_END
