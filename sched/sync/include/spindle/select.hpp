// spindle/select.hpp: select, Go's select statement: wait for the first of several channel receives
// and sends, with an optional timeout or a default case that makes it non-blocking.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "spindle/channel.hpp"
#include "spindle/channel_error.hpp"
#include "spindle/detail/sched_hooks.hpp"
#include "spindle/detail/wait.hpp"

namespace spindle {

template <class... Cases>
class SelectResult;

namespace detail {
template <class... Cases>
struct Selector;
// throw_select_not_fired throws std::logic_error: get<asked>() on a result where `fired` fired.
[[noreturn]] void throw_select_not_fired(std::size_t asked, std::size_t fired);
}  // namespace detail

// RecvCase is a select case that receives from a Channel<T>; made by recv_case.
template <class T>
class RecvCase {
 public:
  // RecvCase makes a case receiving from `ch` (kept by reference).
  explicit RecvCase(Channel<T>& ch) noexcept : ch_(&ch) {}

 private:
  template <class...>
  friend struct detail::Selector;
  Channel<T>* ch_;
};

// SendCase is a select case that sends a value on a Channel<T>; made by send_case.
template <class T>
class SendCase {
 public:
  // SendCase makes a case sending `v` (kept by reference, moved from only if this case fires
  // successfully) on `ch`.
  SendCase(Channel<T>& ch, T& v) noexcept : ch_(&ch), src_(&v) {}
  // SendCase makes a case sending a copy of `v` on `ch` (the copy is held by the case).
  SendCase(Channel<T>& ch, const T& v, std::in_place_t) : ch_(&ch), src_(nullptr), own_(v) {}

 private:
  template <class...>
  friend struct detail::Selector;
  T& value() noexcept { return src_ != nullptr ? *src_ : *own_; }
  Channel<T>* ch_;
  T* src_;
  std::optional<T> own_;
};

// TimeoutCase is a select case that fires when its deadline passes; made by timeout / timeout_at.
class TimeoutCase {
 public:
  // TimeoutCase makes a case for the monotonic deadline `deadline_ns` (see detail::now_ns).
  explicit TimeoutCase(std::uint64_t deadline_ns) noexcept : deadline_(deadline_ns) {}

 private:
  template <class...>
  friend struct detail::Selector;
  std::uint64_t deadline_;
};

// DefaultCase is select's default case: it fires when no other case is ready at once, making the
// select non-blocking; made by default_case.
class DefaultCase {};

// recv_case makes a select case that receives from `ch`. The case fires with the value, or with
// ChannelError::Closed once `ch` is closed and drained. `ch` must outlive the select.
template <class T>
[[nodiscard]] RecvCase<T> recv_case(Channel<T>& ch) noexcept {
  return RecvCase<T>(ch);
}

// send_case makes a select case that sends `v` on `ch`. `v` is kept by reference (write the case
// inside the select(...) call) and moved from only if this case fires successfully; when another
// case fires, or this one fires with ChannelError::Closed, `v` is left untouched.
template <class T>
[[nodiscard]] SendCase<T> send_case(Channel<T>& ch, std::type_identity_t<T>&& v) noexcept {
  return SendCase<T>(ch, v);
}
// send_case(ch, const T&) makes a select case that sends a copy of `v`; the copy is dropped if the
// case does not fire successfully. Throws what T's copy throws.
template <class T>
[[nodiscard]] SendCase<T> send_case(
    Channel<T>& ch, const std::type_identity_t<T>& v) requires std::is_copy_constructible_v<T> {
  return SendCase<T>(ch, v, std::in_place);
}

// timeout makes a select case that fires once `d` has passed (measured from this call), if no
// channel case fired first.
template <class Rep, class Period>
[[nodiscard]] TimeoutCase timeout(std::chrono::duration<Rep, Period> d) noexcept {
  return TimeoutCase(detail::deadline_after(d));
}
// timeout_at makes a select case that fires once `deadline` (any clock) has passed.
template <class Clock, class Dur>
[[nodiscard]] TimeoutCase timeout_at(std::chrono::time_point<Clock, Dur> deadline) noexcept {
  return TimeoutCase(detail::deadline_at(deadline));
}
// default_case makes select's default case (see DefaultCase).
[[nodiscard]] inline DefaultCase default_case() noexcept {
  return {};
}

namespace detail {

struct NoScratch {};

// SelectCaseTraits describes one kind of select case.
template <class C>
struct SelectCaseTraits {
  static constexpr bool valid = false;
};
template <class T>
struct SelectCaseTraits<RecvCase<T>> {
  static constexpr bool valid = true, channel = true, recv = true;
  using result = ChannelResult<T>;
  using scratch = Uninit<T>;  // where a sender constructs the value while the select waits
};
template <class T>
struct SelectCaseTraits<SendCase<T>> {
  static constexpr bool valid = true, channel = true, recv = false;
  using result = ChannelResult<void>;
  using scratch = NoScratch;
};
template <>
struct SelectCaseTraits<TimeoutCase> {
  static constexpr bool valid = true, channel = false, recv = false;
  using result = std::monostate;
  using scratch = NoScratch;
};
template <>
struct SelectCaseTraits<DefaultCase> {
  static constexpr bool valid = true, channel = false, recv = false;
  using result = std::monostate;
  using scratch = NoScratch;
};

// ChanAccess is select's access to a channel's lock, wait lists and lock-held operations.
struct ChanAccess {
  template <class T>
  static WaitLock* lock(Channel<T>& ch) noexcept {
    return &ch.lock_;
  }
  template <class T>
  static ChanOp recv_locked(Channel<T>& ch, T* out, WaitNode*& wake) noexcept {
    return ch.recv_locked(out, wake);
  }
  template <class T>
  static ChanOp send_locked(Channel<T>& ch, T& v, WaitNode*& wake) {
    return ch.send_locked(v, wake);
  }
  template <class T>
  static void enqueue(Channel<T>& ch, WaitNode* n, bool recv) noexcept {
    (recv ? ch.recvq_ : ch.sendq_).push_back(n);
  }
  // unlink removes `n` from its wait list if it is still there (takes the channel's lock).
  template <class T>
  static void unlink(Channel<T>& ch, WaitNode* n, bool recv) noexcept {
    ch.lock_.lock();
    if (n->linked) (recv ? ch.recvq_ : ch.sendq_).remove(n);
    ch.lock_.unlock();
  }
};

// Selector runs one select over Cases.
//
// 1. Lock every distinct channel of the cases, in address order (the only place that holds two
//    channel locks; nothing else ever holds more than one, so there is no deadlock).
// 2. Poll the channel cases in a random order; the first that can complete at once (including
//    "closed") completes under the locks and fires. Otherwise the default case fires, if any.
// 3. Otherwise link one WaitNode per channel case, all sharing one Waiter with select = true, then
//    release the locks and block. Because the locks were held from the poll to the linking, no
//    operation can slip in between. A waker (send, recv, close) unlinks a node and completes it
//    only if try_claim wins the Waiter for that node's case; a waker that loses skips the node.
// 4. After a timeout or cancellation, the select claims its own Waiter (the case count as index);
//    if that fails a waker won meanwhile and the select settles for that case instead.
// 5. Unlink the remaining nodes, one channel lock at a time.
template <class... Cases>
struct Selector {
  static constexpr std::size_t N = sizeof...(Cases);
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  static constexpr std::array<bool, N> kIsChan = {SelectCaseTraits<Cases>::channel...};
  static constexpr std::size_t M =
      (std::size_t{0} + ... + static_cast<std::size_t>(SelectCaseTraits<Cases>::channel));
  static constexpr std::size_t kDefault = [] {
    constexpr std::array<bool, N> d = {std::is_same_v<Cases, DefaultCase>...};
    for (std::size_t i = 0; i < N; ++i) {
      if (d[i]) return i;
    }
    return npos;
  }();
  static constexpr std::size_t kTimeout = [] {
    constexpr std::array<bool, N> d = {std::is_same_v<Cases, TimeoutCase>...};
    for (std::size_t i = 0; i < N; ++i) {
      if (d[i]) return i;
    }
    return npos;
  }();
  // kChanIndex lists the case indexes of the channel cases; kNodeOf maps a case to its node.
  static constexpr std::array<std::size_t, M> kChanIndex = [] {
    std::array<std::size_t, M> a{};
    std::size_t k = 0;
    for (std::size_t i = 0; i < N; ++i) {
      if (kIsChan[i]) a[k++] = i;
    }
    return a;
  }();
  static constexpr std::array<std::size_t, N> kNodeOf = [] {
    std::array<std::size_t, N> a{};
    std::size_t k = 0;
    for (std::size_t i = 0; i < N; ++i) a[i] = kIsChan[i] ? k++ : npos;
    return a;
  }();

  using Result = SelectResult<Cases...>;
  using Refs = std::tuple<Cases&...>;
  using Scratch = std::tuple<typename SelectCaseTraits<Cases>::scratch...>;
  using Nodes = std::array<WaitNode, M>;

  template <class F, std::size_t... I>
  static void for_each_impl(F& f, std::index_sequence<I...>) {
    (f(std::integral_constant<std::size_t, I>{}), ...);
  }
  // for_each calls f(integral_constant<I>) for every case I.
  template <class F>
  static void for_each(F&& f) {
    for_each_impl(f, std::make_index_sequence<N>());
  }
  template <class F, std::size_t... I>
  static void visit_impl(std::size_t i, F& f, std::index_sequence<I...>) {
    ((i == I ? f(std::integral_constant<std::size_t, I>{}) : void()), ...);
  }
  // visit calls f(integral_constant<i>) for the runtime case index i.
  template <class F>
  static void visit(std::size_t i, F&& f) {
    visit_impl(i, f, std::make_index_sequence<N>());
  }
  template <std::size_t... J>
  static Nodes make_nodes(Waiter* w, std::index_sequence<J...>) noexcept {
    return {{(static_cast<void>(J), WaitNode(w))...}};
  }

  static void unlock_all(const std::array<WaitLock*, M>& locks, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) locks[i]->unlock();
  }

  // poll tries case I under the locks; true if it fired (its result is stored in r).
  template <std::size_t I>
  static bool poll(Refs& cs, Scratch& scratch, Result& r, WaitNode*& wake) {
    using C = std::tuple_element_t<I, std::tuple<Cases...>>;
    auto& c = std::get<I>(cs);
    auto& res = std::get<I>(r.results_);
    if constexpr (SelectCaseTraits<C>::recv) {
      auto& slot = std::get<I>(scratch);
      const ChanOp op = ChanAccess::recv_locked(*c.ch_, slot.ptr(), wake);
      if (op == ChanOp::Done) {
        res.emplace(std::in_place, std::move(*slot.ptr()));
        using T = std::remove_reference_t<decltype(*slot.ptr())>;
        slot.ptr()->~T();
        return true;
      }
      if (op == ChanOp::Closed) res.emplace(ChannelError::Closed);
      return op == ChanOp::Closed;
    } else {
      const ChanOp op = ChanAccess::send_locked(*c.ch_, c.value(), wake);
      if (op == ChanOp::Done) res.emplace();
      if (op == ChanOp::Closed) res.emplace(ChannelError::Closed);
      return op != ChanOp::WouldBlock;
    }
  }

  // finish stores the outcome a waker left in case I's node.
  template <std::size_t I>
  static void finish(Scratch& scratch, Result& r, const WaitNode& node) noexcept {
    using C = std::tuple_element_t<I, std::tuple<Cases...>>;
    auto& res = std::get<I>(r.results_);
    if (node.data != kChanDone) {
      res.emplace(ChannelError::Closed);
    } else if constexpr (SelectCaseTraits<C>::recv) {
      auto& slot = std::get<I>(scratch);
      res.emplace(std::in_place, std::move(*slot.ptr()));
      using T = std::remove_reference_t<decltype(*slot.ptr())>;
      slot.ptr()->~T();
    } else {
      res.emplace();
    }
  }

  static Result run(Refs cs) {
    Result r;
    std::uint64_t deadline = kNoDeadline;
    if constexpr (kTimeout != npos) deadline = std::get<kTimeout>(cs).deadline_;
    if constexpr (M == 0) {
      if constexpr (kDefault != npos) {
        r.index_ = kDefault;
      } else if (deadline_passed(deadline)) {
        r.index_ = kTimeout;
      } else {
        Waiter w;  // nobody signals it: only the deadline or cancellation ends the wait
        const WaitStatus s = wait_block(w, deadline, true);
        r.index_ = s == WaitStatus::Timeout ? kTimeout : npos;
      }
      return r;
    } else {
      Scratch scratch;
      std::array<WaitLock*, M> locks;
      std::array<std::size_t, M> order = kChanIndex;
      for_each([&](auto ic) {
        constexpr std::size_t I = decltype(ic)::value;
        if constexpr (kIsChan[I]) locks[kNodeOf[I]] = ChanAccess::lock(*std::get<I>(cs).ch_);
      });
      std::sort(locks.begin(), locks.end(), std::less<WaitLock*>());
      const std::size_t nlocks =
          static_cast<std::size_t>(std::unique(locks.begin(), locks.end()) - locks.begin());
      for (std::size_t j = M - 1; j > 0; --j) {
        std::swap(order[j], order[fiber_random() % (j + 1)]);
      }

      for (std::size_t i = 0; i < nlocks; ++i) locks[i]->lock();
      WaitNode* wake = nullptr;
      std::size_t fired = npos;
      try {
        for (std::size_t j = 0; j < M && fired == npos; ++j) {
          visit(order[j], [&](auto ic) {
            constexpr std::size_t I = decltype(ic)::value;
            if constexpr (kIsChan[I]) {
              if (poll<I>(cs, scratch, r, wake)) fired = I;
            }
          });
        }
      } catch (...) {  // std::bad_alloc growing a buffer: nothing changed
        unlock_all(locks, nlocks);
        throw;
      }
      if (fired != npos || kDefault != npos) {
        unlock_all(locks, nlocks);
        if (wake != nullptr) wait_signal(*wake->waiter);
        r.index_ = fired != npos ? fired : kDefault;
        return r;
      }
      if (deadline_passed(deadline)) {  // a zero timeout: do not register at all
        unlock_all(locks, nlocks);
        r.index_ = kTimeout;
        return r;
      }

      Waiter w;
      w.select = true;
      Nodes nodes = make_nodes(&w, std::make_index_sequence<M>());
      for_each([&](auto ic) {
        constexpr std::size_t I = decltype(ic)::value;
        if constexpr (kIsChan[I]) {
          using C = std::tuple_element_t<I, std::tuple<Cases...>>;
          auto& c = std::get<I>(cs);
          WaitNode& n = nodes[kNodeOf[I]];
          n.index = static_cast<std::int32_t>(I);
          if constexpr (SelectCaseTraits<C>::recv) {
            n.slot = std::get<I>(scratch).bytes;
          } else {
            n.slot = &c.value();
          }
          ChanAccess::enqueue(*c.ch_, &n, SelectCaseTraits<C>::recv);
        }
      });
      unlock_all(locks, nlocks);

      const WaitStatus s = wait_block(w, deadline, true);
      std::int32_t won;
      if (s == WaitStatus::Signaled) {
        won = w.claimed.load(std::memory_order_acquire);
      } else {
        std::int32_t expected = -1;
        if (w.claimed.compare_exchange_strong(expected, static_cast<std::int32_t>(N),
                                              std::memory_order_acq_rel)) {
          won = -1;  // nobody can complete a case any more
        } else {
          won = expected;  // a waker claimed a case meanwhile: wait until it has completed it
          wait_settle(w);
        }
      }
      for_each([&](auto ic) {
        constexpr std::size_t I = decltype(ic)::value;
        if constexpr (kIsChan[I]) {
          using C = std::tuple_element_t<I, std::tuple<Cases...>>;
          if (static_cast<std::int32_t>(I) != won) {
            ChanAccess::unlink(*std::get<I>(cs).ch_, &nodes[kNodeOf[I]], SelectCaseTraits<C>::recv);
          }
        }
      });
      if (won >= 0) {
        visit(static_cast<std::size_t>(won), [&](auto ic) {
          constexpr std::size_t I = decltype(ic)::value;
          if constexpr (kIsChan[I]) finish<I>(scratch, r, nodes[kNodeOf[I]]);
        });
        r.index_ = static_cast<std::size_t>(won);
      } else {
        r.index_ = s == WaitStatus::Timeout ? kTimeout : npos;
      }
      return r;
    }
  }
};

}  // namespace detail

// SelectResult is what select returns: which case fired, and that case's outcome.
template <class... Cases>
class SelectResult {
 public:
  // npos is index() of a select that was cancelled.
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  // index returns the position (0-based, in select's argument list) of the case that fired: a
  // channel case, the timeout case or the default case; npos if the select was cancelled.
  std::size_t index() const noexcept { return index_; }
  // cancelled says whether the select returned because the fiber's task was cancelled while it was
  // blocked (index() == npos).
  bool cancelled() const noexcept { return index_ == npos; }
  // get returns the outcome of channel case I: ChannelResult<T>& for recv_case (the value, or
  // Closed), ChannelResult<void>& for send_case (success, or Closed). Throws std::logic_error if
  // case I is not the one that fired.
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

// select waits until one of `cases` can proceed, performs that one only, and returns which it was
// (SelectResult::index) with its outcome (SelectResult::get<I>). Cases:
//   recv_case(ch)        receive from ch; fires with the value, or with Closed once ch is closed
//                        and drained;
//   send_case(ch, v)     send v on ch; fires with success, or with Closed if ch is closed (v is
//                        then untouched);
//   timeout(d) / timeout_at(tp)   fires when the deadline passes first (at most one);
//   default_case()       fires at once when no channel case is ready: select never blocks (at
//                        most one; not together with a timeout).
// When several channel cases are ready, one is chosen uniformly at random; in a fiber the choices
// are reproducible: the same AsyncRuntimeConfig::schedule_seed and the same task (id) give the same
// sequence of choices on every run (outside fibers they are not). Otherwise the caller
// blocks (fiber parked, or OS thread on a futex) until exactly one case completes; the others have
// no effect. A blocked select is a cancellation point: when the fiber's task is cancelled it
// returns with cancelled() true (nothing thrown, no case performed). A channel may appear in
// several cases. A select without channel cases waits for its timeout, or until cancelled (forever
// on a thread). Throws only std::bad_alloc (a send case growing a buffer; then nothing happened).
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
