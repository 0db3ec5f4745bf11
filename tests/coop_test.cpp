// The cooperative budget (spindle/detail/coop.hpp, docs/scheduler.md "Cooperative budget"): a fiber
// looping on operations that never need to block still lets its worker's timers, I/O and other
// fibers run, and sees its cancellation. Every case runs on ONE worker, where without the budget
// the loop would hold the worker for ever: the loops also stop on a flag the test thread sets after
// a generous deadline, so a regression fails instead of hanging.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "spindle/spindle.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;

namespace spindle {
namespace {

using test::wait_until;

constexpr auto kDeadline = 20s;

// LoopCase runs `body` (one iteration of a loop of non-blocking operations) in a fiber until a
// 1 ms sleeper on the same single worker has woken, or the test thread gives up.
struct LoopCase {
  AsyncRuntime rt{{.worker_threads = 1}};
  std::atomic<bool> ticked{false};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> iterations{0};

  // run returns whether the sleeper woke while the loop was running.
  bool run(const std::function<void()>& setup_and_loop) {
    auto loop = rt.spawn(setup_and_loop);
    EXPECT_TRUE(wait_until([&] { return iterations.load() > 0; }));
    auto sleeper = rt.spawn([this] {
      this_fiber::sleep_for(1ms);
      ticked = true;
    });
    const bool woke = wait_until([&] { return ticked.load(); }, kDeadline);
    stop = true;
    loop.join();
    sleeper.join();
    return woke;
  }
  bool go_on() {
    iterations.fetch_add(1, std::memory_order_relaxed);
    return !ticked.load(std::memory_order_relaxed) && !stop.load(std::memory_order_relaxed);
  }
};

TEST(Coop, AnUncontendedMutexRelockLoopLetsATimerFire) {
  LoopCase c;
  Mutex m;
  EXPECT_TRUE(c.run([&] {
    while (c.go_on()) {
      m.lock();
      m.unlock();
    }
  }));
}

TEST(Coop, GoMutexFairnessOnOneWorker) {
  // Go's TestMutexFairness: one fiber re-locks a mutex in a loop, holding it 100 us each time;
  // another must get it 10 times (sleeping 100 us between) within 10 s.
  AsyncRuntime rt({.worker_threads = 1});
  Mutex m;
  std::atomic<bool> stop{false};
  std::atomic<bool> done{false};
  auto hog = rt.spawn([&] {
    while (!stop.load()) {
      std::lock_guard<Mutex> g(m);
      const auto until = std::chrono::steady_clock::now() + 100us;
      while (std::chrono::steady_clock::now() < until) {
      }
    }
  });
  auto other = rt.spawn([&] {
    for (int i = 0; i < 10; ++i) {
      this_fiber::sleep_for(100us);
      std::lock_guard<Mutex> g(m);
    }
    done = true;
  });
  EXPECT_TRUE(wait_until([&] { return done.load(); }, 10s));
  stop = true;
  other.join();
  hog.join();
}

TEST(Coop, AChannelSendRecvLoopLetsATimerFire) {
  LoopCase c;
  Channel<int> ch(4);
  EXPECT_TRUE(c.run([&] {
    while (c.go_on()) {
      (void)ch.send(1);
      (void)ch.recv();
    }
  }));
}

TEST(Coop, ASelectLoopLetsATimerFire) {
  LoopCase c;
  Channel<int> ch(4);
  EXPECT_TRUE(c.run([&] {
    while (c.go_on()) {
      (void)ch.send(1);
      (void)select(recv_case(ch));
    }
  }));
}

TEST(Coop, AnAlwaysReadySocketLoopLetsATimerFire) {
  LoopCase c;
  EXPECT_TRUE(c.run([&] {
    auto l = net::TcpListener::bind(net::SocketAddr::parse("127.0.0.1:0"));
    auto client = net::TcpStream::connect(l.local_addr());
    auto [server, peer] = l.accept();
    char b = 'x';
    while (c.go_on()) {
      client.write_all(net::ConstBuffer(&b, 1));
      server.read(net::MutableBuffer(&b, 1));
    }
  }));
}

TEST(Coop, JoiningFinishedTasksInALoopLetsATimerFire) {
  LoopCase c;
  EXPECT_TRUE(c.run([&] {
    auto done = spawn([] { return 1; });
    (void)done.join();
    while (c.go_on()) (void)done.wait_for(1h);
  }));
}

// cancelled_in_loop spawns `loop` on one worker, cancels it once it runs, and returns whether the
// loop ended by seeing the cancellation (it returns true then) within the deadline.
bool cancelled_in_loop(
    const std::function<bool(const std::atomic<bool>&, std::atomic<int>&)>& loop) {
  AsyncRuntime rt({.worker_threads = 1});
  std::atomic<bool> stop{false};
  std::atomic<int> iterations{0};
  auto h = rt.spawn([&] { return loop(stop, iterations); });
  EXPECT_TRUE(wait_until([&] { return iterations.load() > 0; }));
  h.cancel();
  const bool ended = wait_until([&] { return h.is_finished(); }, kDeadline);
  stop = true;
  try {
    return h.join() && ended;
  } catch (const Cancelled&) {
    return ended;
  }
}

TEST(Coop, ACancelledFiberInANonBlockingLoopSeesCancelled) {
  Mutex m;
  EXPECT_TRUE(cancelled_in_loop([&](const std::atomic<bool>& stop, std::atomic<int>& it) {
    while (!stop.load()) {
      it.fetch_add(1);
      std::lock_guard<Mutex> g(m);  // throws Cancelled when the budget runs out
    }
    return false;
  }));
  Channel<int> ch(4);
  EXPECT_TRUE(cancelled_in_loop([&](const std::atomic<bool>& stop, std::atomic<int>& it) {
    while (!stop.load()) {
      it.fetch_add(1);
      auto sent = ch.send(1);
      if (!sent) return sent.error() == ChannelError::Cancelled;
      auto r = ch.recv();
      if (!r) return r.error() == ChannelError::Cancelled;
    }
    return false;
  }));
  EXPECT_TRUE(cancelled_in_loop([&](const std::atomic<bool>& stop, std::atomic<int>& it) {
    auto l = net::TcpListener::bind(net::SocketAddr::parse("127.0.0.1:0"));
    auto client = net::TcpStream::connect(l.local_addr());
    auto [server, peer] = l.accept();
    char b = 'x';
    while (!stop.load()) {
      it.fetch_add(1);
      client.write_all(net::ConstBuffer(&b, 1));  // throws Cancelled when the budget runs out
      server.read(net::MutableBuffer(&b, 1));
    }
    return false;
  }));
}

TEST(Coop, ZeroTimeoutsStayPlainChecksInACancelledFiber) {
  // A passed deadline is a plain try, never Cancelled, also when the budget runs out.
  AsyncRuntime rt({.worker_threads = 1});
  Mutex m;
  Channel<int> ch(4);
  Event e(true);
  std::atomic<bool> started{false};
  auto h = rt.spawn([&] {
    started = true;
    while (!this_fiber::is_cancelled()) this_fiber::yield();
    int ok = 0;
    for (int i = 0; i < 1000; ++i) {
      if (m.try_lock_for(0ms)) {
        m.unlock();
        ++ok;
      }
      if (ch.send_for(1, 0ms) && ch.recv_for(0ms)) ++ok;
      if (e.wait_for(0ms)) ++ok;
    }
    return ok;
  });
  ASSERT_TRUE(wait_until([&] { return started.load(); }));
  h.cancel();
  EXPECT_EQ(h.join(), 3000);
}

}  // namespace
}  // namespace spindle
