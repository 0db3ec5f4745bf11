// RuntimeFlavor::CurrentThread: no worker threads; block_on (and a plain thread's join) runs the
// fibers on the calling thread; timers, sync primitives, channels, spawn_blocking and sockets work;
// spawns from other threads wait for the next driver; shutdown and the destructor drive the rest.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;
using spindle::AsyncRuntime;
using spindle::AsyncRuntimeConfig;
using spindle::RuntimeFlavor;

namespace {

AsyncRuntimeConfig current_thread() {
  AsyncRuntimeConfig cfg;
  cfg.flavor = RuntimeFlavor::CurrentThread;
  return cfg;
}

std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// thread_id reads the calling thread's id (never folded across a switch: see architecture.md).
__attribute__((noinline)) std::thread::id thread_id() {
  std::thread::id id = std::this_thread::get_id();
  asm volatile("" ::: "memory");
  return id;
}

TEST(CurrentThreadTest, StartsNoThreadAndRunsFibersOnTheCaller) {
  const std::size_t before = thread_count();
  AsyncRuntime rt(current_thread());
  EXPECT_EQ(thread_count(), before);
  EXPECT_EQ(rt.config().worker_threads, 1u);
  const std::thread::id me = std::this_thread::get_id();
  const bool same = rt.block_on([&] {
    auto child = spindle::spawn([&] { return thread_id() == me; });
    spindle::this_fiber::sleep_for(1ms);
    return thread_id() == me && child.join();
  });
  EXPECT_TRUE(same);
  EXPECT_EQ(thread_count(), before);
}

TEST(CurrentThreadTest, BlockOnReturnsTheValueOrRethrows) {
  AsyncRuntime rt(current_thread());
  EXPECT_EQ(rt.block_on([] { return 41 + 1; }), 42);
  EXPECT_THROW(rt.block_on([]() -> int { throw std::runtime_error("boom"); }), std::runtime_error);
  rt.block_on([] {});  // void
  EXPECT_EQ(rt.block_on([] { return std::string("again"); }), "again");
  EXPECT_THROW(rt.block_on([&] { return rt.block_on([] { return 1; }); }), std::logic_error);
}

TEST(CurrentThreadTest, TimersSleepsAndManyFibers) {
  AsyncRuntime rt(current_thread());
  const auto t0 = std::chrono::steady_clock::now();
  const long sum = rt.block_on([] {
    std::vector<spindle::JoinHandle<long>> parts;
    for (long i = 0; i < 1000; ++i) {
      parts.push_back(spindle::spawn([i] {
        spindle::this_fiber::sleep_for(std::chrono::milliseconds(1 + i % 20));
        spindle::this_fiber::yield();
        return i;
      }));
    }
    long s = 0;
    for (auto& p : parts) s += p.join();
    return s;
  });
  EXPECT_EQ(sum, 999 * 1000 / 2);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);  // sleeps never end early
  EXPECT_EQ(rt.stats().completed_tasks, 1001u);
}

TEST(CurrentThreadTest, SyncPrimitivesAndChannels) {
  AsyncRuntime rt(current_thread());
  const int total = rt.block_on([] {
    spindle::Mutex mu;
    spindle::ConditionVariable cv;
    spindle::Semaphore sem(2);
    spindle::WaitGroup wg;
    spindle::Channel<int> ch(4);
    int counter = 0;
    bool ready = false;
    std::vector<spindle::JoinHandle<void>> hs;
    for (int i = 0; i < 50; ++i) {
      wg.add(1);
      hs.push_back(spindle::spawn([&, i] {
        {
          std::unique_lock<spindle::Mutex> g(mu);
          cv.wait(g, [&] { return ready; });
          ++counter;
        }
        sem.acquire();
        spindle::this_fiber::yield();
        sem.release();
        (void)ch.send(i);
        wg.done();
      }));
    }
    spindle::this_fiber::yield();
    {
      std::lock_guard<spindle::Mutex> g(mu);
      ready = true;
    }
    cv.notify_all();
    int got = 0;
    for (int i = 0; i < 50; ++i) got += ch.recv().value();
    wg.wait();
    for (auto& h : hs) h.join();
    return got + counter;
  });
  EXPECT_EQ(total, 49 * 50 / 2 + 50);
}

TEST(CurrentThreadTest, SpawnBlockingAndTcpEcho) {
  AsyncRuntime rt(current_thread());
  EXPECT_EQ(rt.block_on([] { return spindle::spawn_blocking([] { return 5; }).join(); }), 5);
  const std::string echoed = rt.block_on([] {
    auto listener =
        spindle::net::TcpListener::bind(spindle::net::SocketAddr::v4({127, 0, 0, 1}, 0));
    const auto addr = listener.local_addr();
    auto server = spindle::spawn([&] {
      auto [s, peer] = listener.accept();
      char buf[64];
      for (;;) {
        const std::size_t n = s.read(buf);
        if (n == 0) break;
        s.write_all({buf, n});
      }
    });
    auto s = spindle::net::TcpStream::connect(addr);
    const std::string msg(10000, 'z');
    auto writer = spindle::spawn([&] {
      s.write_all({msg.data(), msg.size()});
      s.shutdown(spindle::net::Shutdown::Write);
    });
    std::string in(msg.size(), '\0');
    s.read_exact({in.data(), in.size()});
    writer.join();
    server.join();
    return in;
  });
  EXPECT_EQ(echoed, std::string(10000, 'z'));
}

TEST(CurrentThreadTest, ForeignThreadsSpawnAndWakeWhileADriverSleeps) {
  AsyncRuntime rt(current_thread());
  spindle::Event from_thread;
  std::atomic<bool> ran{false};
  std::thread other([&] {
    // The driver below is (or will be) parked waiting for the event: both the spawn and the set
    // must wake it.
    auto h = rt.spawn([&] { ran.store(true); });
    h.detach();
    from_thread.set();
  });
  rt.block_on([&] { from_thread.wait(); });
  other.join();
  // The foreign spawn ran in this block_on, or runs in the next one.
  rt.block_on([&] {
    while (!ran.load()) spindle::this_fiber::sleep_for(1ms);
  });
  EXPECT_TRUE(ran.load());
}

TEST(CurrentThreadTest, NothingRunsBetweenDriversAndJoinDrives) {
  AsyncRuntime rt(current_thread());
  auto h = rt.spawn([] { return 9; });
  // No thread drives the runtime: the task cannot have started.
  EXPECT_EQ(h.state(), spindle::TaskState::Pending);
  EXPECT_EQ(h.join(), 9);  // a plain thread's join drives it
  auto forever = rt.spawn([] { spindle::this_fiber::sleep_for(1h); });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(forever.wait_for(30ms));  // drives for 30 ms, then gives up
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  EXPECT_EQ(forever.state(), spindle::TaskState::Waiting);
  forever.cancel();
  EXPECT_THROW(forever.join(), spindle::Cancelled);
}

TEST(CurrentThreadTest, TwoThreadsBlockOnInTurn) {
  AsyncRuntime rt(current_thread());
  std::atomic<int> done{0};
  auto body = [&] {
    for (int i = 0; i < 50; ++i) {
      const int v = rt.block_on([i] {
        spindle::this_fiber::sleep_for(100us);
        return i;
      });
      EXPECT_EQ(v, i);
    }
    done.fetch_add(1);
  };
  std::thread a(body), b(body);
  a.join();
  b.join();
  EXPECT_EQ(done.load(), 2);
}

TEST(CurrentThreadTest, AJoinerReturnsWhenItsTaskEndsInAnotherThreadsDrive) {
  AsyncRuntime rt(current_thread());
  spindle::Event release;
  std::atomic<bool> driving{false};
  std::thread driver([&] {
    rt.block_on([&] {
      driving.store(true);
      release.wait();  // keeps this thread the driver until the end of the test
    });
  });
  ASSERT_TRUE(spindle::test::wait_until([&] { return driving.load(); }));
  // The other thread holds the driver role; our tasks run in its turn and our joins return.
  for (int i = 0; i < 20; ++i) {
    auto h = rt.spawn([i] {
      spindle::this_fiber::sleep_for(100us);
      return i;
    });
    EXPECT_EQ(h.join(), i);
  }
  auto forever = rt.spawn([] { spindle::this_fiber::sleep_for(1h); });
  EXPECT_FALSE(forever.wait_for(20ms));  // waits for the role or the task, bounded
  forever.cancel();
  release.set();
  driver.join();
  EXPECT_THROW(forever.join(), spindle::Cancelled);
}

TEST(CurrentThreadTest, ShutdownRunsTheRemainingFibersToTheEnd) {
  std::atomic<int> finished{0};
  {
    AsyncRuntime rt(current_thread());
    for (int i = 0; i < 10; ++i) {
      rt.spawn([&] {
          spindle::this_fiber::sleep_for(2ms);
          finished.fetch_add(1);
        }).detach();
    }
    rt.shutdown();
    EXPECT_EQ(finished.load(), 10);
    EXPECT_THROW(rt.spawn([] {}), std::runtime_error);
  }
  {
    AsyncRuntime rt(current_thread());
    rt.spawn([] { spindle::this_fiber::sleep_for(1h); }).detach();
    EXPECT_TRUE(rt.shutdown(5s));  // cancels it, drives it to its end
  }
  {
    // The destructor: drain_timeout, then cancel and drive the rest.
    AsyncRuntimeConfig cfg = current_thread();
    cfg.drain_timeout = 10ms;
    AsyncRuntime rt(cfg);
    rt.spawn([] { spindle::this_fiber::sleep_for(1h); }).detach();
  }
}

TEST(CurrentThreadTest, InvalidCombinationsAreRejected) {
  AsyncRuntimeConfig cfg = current_thread();
  cfg.worker_threads = 2;
  try {
    AsyncRuntime rt(cfg);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("AsyncRuntimeConfig::worker_threads = 2 is invalid: must "
                                         "be 0 or 1 with RuntimeFlavor::CurrentThread"),
              std::string::npos)
        << e.what();
  }
  cfg.worker_threads = 1;
  cfg.worker_cpus = {0};
  EXPECT_THROW(AsyncRuntime rt(cfg), std::invalid_argument);
  cfg.worker_cpus.clear();
  cfg.flavor = static_cast<RuntimeFlavor>(7);
  EXPECT_THROW(AsyncRuntime rt(cfg), std::invalid_argument);
}

}  // namespace
