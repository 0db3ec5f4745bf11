// spindle/detail/select_impl.hpp: internal. The implementation of spindle::select (select.hpp):
// the traits of each case kind, select's access to a channel's lock and wait lists, and Selector,
// which polls, links one wait node per channel case and settles the case that fired. Included at
// the end of spindle/select.hpp; not an API: anything here may change without notice.
#pragma once

#include <algorithm>
#include <array>
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
#include "spindle/select.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

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
      // The cooperative budget (a select that may block: no default case), before any case is
      // polled: cancelled, nothing happened.
      if constexpr (kDefault == npos) {
        if (!coop_proceed_ns(deadline)) return r;  // npos
      }
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

}  // namespace spindle

SPINDLE_API_END
