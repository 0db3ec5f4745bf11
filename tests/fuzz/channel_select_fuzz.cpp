// libFuzzer target: Channel<T> and select operation sequences against a sequential model. The input
// picks a runtime (1 or 2 workers), a driver (a fiber of that runtime, or a plain OS thread), three
// channel capacities (0 = rendezvous .. 3) and up to kMaxOps operations (3-byte records): send,
// try_send, recv, try_recv, send_for/recv_for with tiny timeouts, close, select over 2-3 cases
// (receive or send, any of the channels) with or without a default or timeout case, spawn a
// background sender/receiver fiber, cancel one that is blocked.
//
// Only the driver acts on the channels: every background fiber is either parked in its operation
// (the driver waits until its state is Waiting) or already done with it, so each outcome is
// determined and the model predicts it exactly: every value (a unique id) is received once, in
// FIFO order per channel (blocked senders in arrival order), a send that fails leaves the value
// with its sender, a closed channel is drained then Closed, a cancelled blocked operation returns
// Cancelled and consumes nothing, try_* and zero timeouts never wait, a select fires only a ready
// case (its default or timeout only when none is ready). A blocking call is made only when the
// model says it completes at once; otherwise its timed form is used and must time out. At the end
// every channel is closed and drained, and every background fiber's outcome is checked.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "spindle/spindle.hpp"

namespace {

using us = std::chrono::microseconds;
constexpr std::size_t kChannels = 3;
constexpr std::size_t kMaxOps = 64;
constexpr int kTimedWaits = 6;  // timed calls that really wait, per input (each ~0.3 ms)
constexpr int kOk = -1;         // Outcome::err of a success

// Val is a move-only value carrying a unique id; a moved-from one has id 0. Every Val alive is
// counted: after an input none may be left (a value lost inside a channel would be).
std::atomic<long> g_live_vals{0};
struct Val {
  std::uint32_t v;
  explicit Val(std::uint32_t id) noexcept : v(id) { g_live_vals.fetch_add(1); }
  Val(Val&& o) noexcept : v(std::exchange(o.v, 0)) { g_live_vals.fetch_add(1); }
  Val& operator=(Val&&) = delete;
  ~Val() { g_live_vals.fetch_sub(1); }
  std::uint32_t id() const { return v; }
};
using Chan = spindle::Channel<Val>;

// Outcome is an operation's result: kOk or a ChannelError, and a value id (received, or still
// owned by a sender whose send failed; 0 otherwise).
struct Outcome {
  int err = kOk;
  std::uint32_t value = 0;
  bool operator==(const Outcome&) const = default;
};

Outcome outcome(spindle::ChannelResult<void>& r) {
  return {r ? kOk : static_cast<int>(r.error()), 0};
}
Outcome outcome(spindle::ChannelResult<Val>& r) {
  return r ? Outcome{kOk, r->id()} : Outcome{static_cast<int>(r.error()), 0};
}
constexpr int err(spindle::ChannelError e) {
  return static_cast<int>(e);
}

[[noreturn]] void fail(const char* what, std::size_t op, int c, Outcome got, Outcome want) {
  std::fprintf(stderr,
               "channel_select_fuzz: %s at op %zu (channel %d): got {%d, %u}, want {%d, %u}\n",
               what, op, c, got.err, got.value, want.err, want.value);
  std::abort();
}

void require(bool ok, const char* what, std::size_t op, int c = -1) {
  if (!ok) fail(what, op, c, {}, {});
}

// ChanModel is what a channel must hold: buffered ids, blocked background senders and receivers
// (indexes into Exec::bg) in arrival order.
struct ChanModel {
  std::size_t cap = 0;
  bool closed = false;
  std::deque<std::uint32_t> buf;
  std::deque<std::size_t> senders, receivers;
};

// Bg is a background fiber blocked (pending) in, or done with, one send or recv.
struct Bg {
  spindle::JoinHandle<Outcome> h;
  bool sender = false;
  int ch = 0;
  std::uint32_t value = 0;  // what a sender sends
  bool pending = false;     // parked in its operation, per the model
  bool joined = false;
  Outcome want;  // once !pending
};

// ChannelCase says whether case I of a SelectResult<Cases...> is a channel case (has get<I>()).
template <std::size_t I, class R>
struct ChannelCase : std::false_type {};
template <class C>
constexpr bool kIsChannelCase = false;
template <class T>
constexpr bool kIsChannelCase<spindle::RecvCase<T>> = true;
template <class T>
constexpr bool kIsChannelCase<spindle::SendCase<T>> = true;
template <std::size_t I, class... Cs>
requires(I < sizeof...(Cs)) struct ChannelCase<I, spindle::SelectResult<Cs...>>
    : std::bool_constant<kIsChannelCase<std::tuple_element_t<I, std::tuple<Cs...>>>> {
};

struct Exec {
  spindle::AsyncRuntime& rt;
  bool fiber;
  std::array<std::unique_ptr<Chan>, kChannels> ch;
  std::array<ChanModel, kChannels> m;
  std::vector<Bg> bg;
  std::uint32_t next_id = 1;
  int timed_left = kTimedWaits;
  std::size_t op = 0;

  bool send_ready(int c) const {
    const ChanModel& s = m[c];
    return s.closed || !s.receivers.empty() || s.buf.size() < s.cap;
  }
  bool recv_ready(int c) const {
    const ChanModel& s = m[c];
    return !s.buf.empty() || !s.senders.empty() || s.closed;
  }
  // apply_send is the outcome of sending `id` on channel c, which send_ready says completes.
  Outcome apply_send(int c, std::uint32_t id) {
    ChanModel& s = m[c];
    if (s.closed) return {err(spindle::ChannelError::Closed), id};
    if (!s.receivers.empty()) {
      Bg& r = bg[s.receivers.front()];
      s.receivers.pop_front();
      r.pending = false;
      r.want = {kOk, id};
      return {};
    }
    s.buf.push_back(id);
    return {};
  }
  // apply_recv is the outcome of a receive on channel c, which recv_ready says completes.
  Outcome apply_recv(int c) {
    ChanModel& s = m[c];
    if (!s.buf.empty()) {
      const std::uint32_t v = s.buf.front();
      s.buf.pop_front();
      if (!s.senders.empty()) {  // the oldest blocked sender's value moves into the freed slot
        Bg& w = bg[s.senders.front()];
        s.senders.pop_front();
        w.pending = false;
        w.want = {};
        s.buf.push_back(w.value);
      }
      return {kOk, v};
    }
    if (!s.senders.empty()) {  // rendezvous
      Bg& w = bg[s.senders.front()];
      s.senders.pop_front();
      w.pending = false;
      w.want = {};
      return {kOk, w.value};
    }
    return {err(spindle::ChannelError::Closed), 0};
  }
  bool apply_close(int c) {
    ChanModel& s = m[c];
    if (s.closed) return false;
    s.closed = true;
    for (std::size_t i : s.senders) {
      bg[i].pending = false;
      bg[i].want = {err(spindle::ChannelError::Closed), bg[i].value};
    }
    for (std::size_t i : s.receivers) {
      bg[i].pending = false;
      bg[i].want = {err(spindle::ChannelError::Closed), 0};
    }
    s.senders.clear();
    s.receivers.clear();
    return true;
  }

  // timeout picks a tiny timeout; a call that will really wait gets a non-zero one only while the
  // input's budget of such waits lasts.
  us timeout(std::uint8_t b, bool waits) {
    us t = us((b % 3) * (b % 3) * 40);  // 0, 40, 160 us
    if (waits && t.count() != 0) {
      if (timed_left == 0) return us(0);
      --timed_left;
    }
    return t;
  }

  void check(Outcome got, Outcome want, const char* what, int c) {
    if (!(got == want)) fail(what, op, c, got, want);
  }
  void check_sizes() {
    for (std::size_t c = 0; c < kChannels; ++c) {
      require(ch[c]->size() == m[c].buf.size(), "size() differs from the model", op, int(c));
      require(ch[c]->is_closed() == m[c].closed, "is_closed() differs from the model", op, int(c));
    }
  }

  // settle waits until background fiber i is parked (pending) or finished (not pending); a hang
  // becomes a failure.
  void settle(std::size_t i) {
    Bg& b = bg[i];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      const spindle::TaskState st = b.h.state();
      if (b.pending && st == spindle::TaskState::Waiting) return;
      if (b.h.is_finished()) {
        require(!b.pending, "a background operation completed that the model says blocks", op,
                b.ch);
        join(i);
        return;
      }
      require(std::chrono::steady_clock::now() < deadline,
              b.pending ? "a background operation never parked" : "a background fiber hangs", op,
              b.ch);
      if (fiber) {
        spindle::this_fiber::yield();
      } else {
        std::this_thread::yield();
      }
    }
  }
  void join(std::size_t i) {
    Bg& b = bg[i];
    if (b.joined) return;
    b.joined = true;
    check(b.h.join(), b.want, b.sender ? "background send" : "background recv", b.ch);
  }

  void send(int c, bool timed, bool try_only, std::uint8_t tb) {
    const std::uint32_t id = next_id++;
    Val v(id);
    const bool ready = send_ready(c);
    spindle::ChannelResult<void> r;
    if (try_only) {
      r = ch[c]->try_send(std::move(v));
    } else if (timed || !ready) {
      r = ch[c]->send_for(std::move(v), timeout(tb, !ready));
    } else {
      r = ch[c]->send(std::move(v));
    }
    Outcome want =
        ready
            ? apply_send(c, id)
            : Outcome{err(try_only ? spindle::ChannelError::Full : spindle::ChannelError::Timeout),
                      id};
    Outcome got = outcome(r);
    if (!r) got.value = v.id();  // a failed send leaves the value with the caller
    check(got, want, "send", c);
  }
  void recv(int c, bool timed, bool try_only, std::uint8_t tb) {
    const bool ready = recv_ready(c);
    spindle::ChannelResult<Val> r = try_only          ? ch[c]->try_recv()
                                    : timed || !ready ? ch[c]->recv_for(timeout(tb, !ready))
                                                      : ch[c]->recv();
    const Outcome want =
        ready
            ? apply_recv(c)
            : Outcome{err(try_only ? spindle::ChannelError::Empty : spindle::ChannelError::Timeout),
                      0};
    check(outcome(r), want, "recv", c);
  }
  void spawn(int c, bool sender) {
    Bg b;
    b.sender = sender;
    b.ch = c;
    Chan& chan = *ch[c];
    const std::size_t i = bg.size();
    if (sender) {
      b.value = next_id++;
      const bool ready = send_ready(c);
      b.h = rt.spawn([&chan, v = Val(b.value)]() mutable {
        auto r = chan.send(std::move(v));
        Outcome o = outcome(r);
        o.value = v.id();
        return o;
      });
      bg.push_back(std::move(b));
      if (ready) {
        Outcome w = apply_send(c, bg[i].value);
        if (w.err == kOk) w.value = 0;
        bg[i].want = w;
      } else {
        bg[i].pending = true;
        m[c].senders.push_back(i);
      }
    } else {
      const bool ready = recv_ready(c);
      b.h = rt.spawn([&chan] {
        auto r = chan.recv();
        return outcome(r);
      });
      bg.push_back(std::move(b));
      if (ready) {
        bg[i].want = apply_recv(c);
      } else {
        bg[i].pending = true;
        m[c].receivers.push_back(i);
      }
    }
    settle(i);
  }
  void cancel(std::uint8_t pick) {
    std::vector<std::size_t> pending;
    for (std::size_t i = 0; i < bg.size(); ++i) {
      if (bg[i].pending) pending.push_back(i);
    }
    if (pending.empty()) return;
    const std::size_t i = pending[pick % pending.size()];
    Bg& b = bg[i];
    auto& q = b.sender ? m[b.ch].senders : m[b.ch].receivers;
    std::erase(q, i);
    b.pending = false;
    b.want = {err(spindle::ChannelError::Cancelled), b.sender ? b.value : 0};
    b.h.cancel();
    join(i);  // now: until it has withdrawn, its node could still be claimed
  }

  // select runs a select over n cases described by `bits` (per case: send?, channel), then a tail:
  // 0 none, 1 default, 2 timeout.
  void select(std::size_t n, unsigned bits, int tail, std::uint8_t tb) {
    std::array<bool, 3> send{}, ready{};
    std::array<int, 3> c{};
    std::array<std::uint32_t, 3> ids{};
    std::vector<Val> vals;
    vals.reserve(3);
    bool any = false;
    for (std::size_t k = 0; k < n; ++k) {
      send[k] = (bits >> (3 * k)) & 1;
      c[k] = static_cast<int>(((bits >> (3 * k + 1)) & 3) % kChannels);
      ready[k] = send[k] ? send_ready(c[k]) : recv_ready(c[k]);
      any = any || ready[k];
      ids[k] = next_id++;
      vals.emplace_back(ids[k]);
    }
    if (tail == 0 && !any) tail = 2;  // it would block for ever
    const us t = tail == 2 ? timeout(tb, !any) : us(0);
    std::size_t idx = 0;
    Outcome got;
    auto finish = [&](auto r) {
      idx = r.index();
      got = fired_outcome(r, std::make_index_sequence<3>{}, n);
    };
    auto run = [&](auto... cs) {
      if (tail == 0) finish(spindle::select(std::move(cs)...));
      if (tail == 1) finish(spindle::select(std::move(cs)..., spindle::default_case()));
      if (tail == 2) finish(spindle::select(std::move(cs)..., spindle::timeout(t)));
    };
    build<0>(n, send, c, vals, run);
    if (idx < n) {
      require(ready[idx], "select fired a case that was not ready", op, c[idx]);
      Outcome want = send[idx] ? apply_send(c[idx], ids[idx]) : apply_recv(c[idx]);
      if (send[idx]) {
        want.value = 0;
        // Moved from only when sent; left with the caller when the case fired with Closed.
        const std::uint32_t left = want.err == kOk ? 0 : ids[idx];
        require(vals[idx].id() == left, "select's send case value", op, c[idx]);
      }
      check(got, want, "select case", c[idx]);
    } else {
      require(idx == n, "select returned no case (cancelled?)", op);
      require(!any, "select took its default/timeout with a channel case ready", op);
    }
    for (std::size_t k = 0; k < n; ++k) {
      if (k != idx)
        require(vals[k].id() == ids[k], "select moved from a case that did not fire", op);
    }
  }
  template <std::size_t K, class F, class... Cs>
  void build(std::size_t n, const std::array<bool, 3>& send, const std::array<int, 3>& c,
             std::vector<Val>& vals, F& f, Cs... cs) {
    if constexpr (K >= 2) {
      if (K == n) return f(std::move(cs)...);
    }
    if constexpr (K < 3) {
      if (send[K]) {
        build<K + 1>(n, send, c, vals, f, std::move(cs)...,
                     spindle::send_case(*ch[c[K]], std::move(vals[K])));
      } else {
        build<K + 1>(n, send, c, vals, f, std::move(cs)..., spindle::recv_case(*ch[c[K]]));
      }
    }
  }
  template <class R, std::size_t... I>
  static Outcome fired_outcome(R& r, std::index_sequence<I...>, std::size_t n) {
    Outcome o{};
    (
        [&] {
          if constexpr (ChannelCase<I, R>::value) {
            if (I < n && r.index() == I) o = outcome(r.template get<I>());
          }
        }(),
        ...);
    return o;
  }

  void run(const std::uint8_t* data, std::size_t size) {
    for (; op < kMaxOps && 3 * op + 3 <= size; ++op) {
      const std::uint8_t code = data[3 * op], a = data[3 * op + 1], b = data[3 * op + 2];
      const int c = a % kChannels;
      switch (code % 12) {
        case 0:
          send(c, false, false, b);
          break;
        case 1:
          send(c, false, true, b);
          break;
        case 2:
          recv(c, false, false, b);
          break;
        case 3:
          recv(c, false, true, b);
          break;
        case 4:
          send(c, true, false, b);
          break;
        case 5:
          recv(c, true, false, b);
          break;
        case 6: {
          const bool want = !m[c].closed;
          require(ch[c]->close() == want, "close() result", op, c);
          apply_close(c);
          break;
        }
        case 7:
        case 8: {
          const unsigned bits = a | (unsigned{b} << 8);
          select(2 + (bits & 1), bits >> 3, static_cast<int>((bits >> 1) & 3) % 3, code >> 4);
          break;
        }
        case 9:
          spawn(c, true);
          break;
        case 10:
          spawn(c, false);
          break;
        default:
          cancel(b);
          break;
      }
      check_sizes();
    }
    // Close and drain everything; every background fiber ends with its model outcome.
    for (std::size_t c = 0; c < kChannels; ++c) {
      require(ch[c]->close() == apply_close(int(c)), "final close() result", op, int(c));
      for (;;) {
        const Outcome want = apply_recv(int(c));
        auto r = ch[c]->try_recv();
        check(outcome(r), want, "drain", int(c));
        if (want.err != kOk) break;
      }
    }
    for (std::size_t i = 0; i < bg.size(); ++i) {
      require(!bg[i].pending, "a background fiber is still pending after close", op, bg[i].ch);
      join(i);
    }
  }
};

// The runtimes (1 and 2 workers) live for the whole fuzzing process, made before the first input.
std::unique_ptr<spindle::AsyncRuntime> g_rt[2];

}  // namespace

// LeakSanitizer cannot follow Boost.Lockfree's tagged free-list pointers (the global queue of a
// runtime that stays alive): its nodes would be reported as leaked whenever an input triggers a
// leak check. Everything else is still checked.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:boost::lockfree::detail::freelist_stack\n";
}

extern "C" const char* __lsan_default_options() {
  return "print_suppressions=0";
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (int i = 0; i < 2; ++i) {
    spindle::AsyncRuntimeConfig cfg;
    cfg.worker_threads = static_cast<std::uint32_t>(i + 1);
    g_rt[i] = std::make_unique<spindle::AsyncRuntime>(cfg);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  {
    Exec x{*g_rt[data[0] & 1], (data[0] & 2) != 0, {}, {}, {}};
    for (std::size_t c = 0; c < kChannels; ++c) {
      x.m[c].cap = data[1 + c] % 4;
      x.ch[c] = std::make_unique<Chan>(x.m[c].cap);
    }
    if (x.fiber) {
      x.rt.spawn([&] { x.run(data + 4, size - 4); }).join();
    } else {
      x.run(data + 4, size - 4);
    }
  }
  require(g_live_vals.load() == 0, "a value was leaked or destroyed twice", kMaxOps);
  return 0;
}
