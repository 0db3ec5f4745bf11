// spawn_blocking: results, exceptions, void; the pool bound and FIFO queueing; a fiber waiting on
// a job does not block its worker; cancellation of the waiting fiber; timeouts; idle exit.
#include "spindle/spawn_blocking.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/runtime.hpp"
#include "spindle/this_fiber.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;
using spindle::AsyncRuntime;
using spindle::AsyncRuntimeConfig;
using spindle::BlockingHandle;
using spindle::test::workers;

namespace {

// Gate blocks OS threads (not fibers) until opened.
class Gate {
 public:
  void open() {
    std::lock_guard<std::mutex> g(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // wait returns true once open, false after `timeout`.
  bool wait(std::chrono::milliseconds timeout = 20s) {
    std::unique_lock<std::mutex> lk(mu_);
    return cv_.wait_for(lk, timeout, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

}  // namespace

TEST(SpawnBlocking, ResultExceptionAndVoidFromThreadAndFiber) {
  EXPECT_EQ(spindle::spawn_blocking([] { return 42; }).join(), 42);
  auto s = spindle::spawn_blocking([] { return std::string("blocking"); });
  EXPECT_EQ(s.join(), "blocking");
  EXPECT_THROW(s.join(), std::logic_error);  // already joined
  auto bad = spindle::spawn_blocking([]() -> int { throw std::runtime_error("boom"); });
  try {
    bad.join();
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "boom");
  }
  std::atomic<int> ran{0};
  spindle::spawn_blocking([&ran] { ran = 1; }).join();
  EXPECT_EQ(ran.load(), 1);

  AsyncRuntime rt(workers(2));
  const int v = rt.block_on([] {
    auto h = spindle::spawn_blocking([] {
      std::this_thread::sleep_for(1ms);  // really blocks its OS thread
      return 7;
    });
    auto u = spindle::spawn_blocking([] { throw std::invalid_argument("bad"); });
    EXPECT_THROW(u.join(), std::invalid_argument);
    return h.join();
  });
  EXPECT_EQ(v, 7);
  BlockingHandle<int> empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_THROW(empty.join(), std::logic_error);
  EXPECT_THROW((void)empty.is_finished(), std::logic_error);
}

TEST(SpawnBlocking, CapturesAreDestroyedBeforeJoinReturnsAndMoveOnlyResults) {
  auto token = std::make_shared<int>(5);
  std::weak_ptr<int> watch = token;
  auto h =
      spindle::spawn_blocking([t = std::move(token)] { return std::make_unique<int>(*t * 2); });
  std::unique_ptr<int> r = h.join();
  EXPECT_EQ(*r, 10);
  EXPECT_TRUE(watch.expired());
}

TEST(SpawnBlocking, TwoHundredJobsOnAPoolOf64AllCompleteInFifoOrder) {
  constexpr int kJobs = 200;
  const std::size_t max = spindle::blocking_pool_stats().max_threads;
  ASSERT_EQ(max, spindle::kBlockingPoolMaxThreads);
  ASSERT_EQ(max, 64u);
  Gate gate;
  std::atomic<int> started{0};
  std::vector<std::atomic<bool>> began(kJobs);
  std::vector<BlockingHandle<int>> hs;
  for (int i = 0; i < kJobs; ++i) {
    hs.push_back(spindle::spawn_blocking([i, &gate, &started, &began] {
      began[static_cast<std::size_t>(i)] = true;
      started.fetch_add(1);
      if (!gate.wait()) throw std::runtime_error("gate never opened");
      return i * i;
    }));
  }
  // Exactly 64 jobs run (the first 64: FIFO); the other 136 wait in the queue. A pool thread counts
  // as running once it took its job, a moment before the job's body runs: wait for both.
  ASSERT_TRUE(spindle::test::wait_until(
      [&] {
        const auto s = spindle::blocking_pool_stats();
        return s.running == max && s.queued == kJobs - max &&
               started.load() == static_cast<int>(max);
      },
      20s))
      << "running " << spindle::blocking_pool_stats().running << " queued "
      << spindle::blocking_pool_stats().queued << " started " << started.load();
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_EQ(began[static_cast<std::size_t>(i)].load(), i < static_cast<int>(max)) << i;
  }
  EXPECT_LE(spindle::blocking_pool_stats().threads, max);
  gate.open();
  // Join from fibers and from this thread.
  AsyncRuntime rt(workers(2));
  auto sum = rt.block_on([&hs] {
    long s = 0;
    for (int i = 0; i < kJobs / 2; ++i) s += hs[static_cast<std::size_t>(i)].join();
    return s;
  });
  for (int i = kJobs / 2; i < kJobs; ++i) sum += hs[static_cast<std::size_t>(i)].join();
  long expect = 0;
  for (long i = 0; i < kJobs; ++i) expect += i * i;
  EXPECT_EQ(sum, expect);
  EXPECT_EQ(started.load(), kJobs);
}

TEST(SpawnBlocking, WaitingFiberDoesNotBlockItsWorker) {
  AsyncRuntime rt(workers(1));
  auto gate = std::make_shared<Gate>();
  // The first fiber waits for a job that only ends when a second fiber, on the same single
  // worker, opens the gate: if join blocked the worker, the second fiber would never run.
  auto waiter = rt.spawn([gate] {
    auto h = spindle::spawn_blocking([gate] { return gate->wait(10s); });
    return h.join();
  });
  auto opener = rt.spawn([gate] {
    spindle::this_fiber::yield();
    gate->open();
  });
  opener.join();
  EXPECT_TRUE(waiter.join());
}

TEST(SpawnBlocking, CancelTheWaitingFiber) {
  AsyncRuntime rt(workers(1));
  auto gate = std::make_shared<Gate>();
  auto finished = std::make_shared<std::atomic<bool>>(false);
  auto waiter = rt.spawn([gate, finished] {
    auto h = spindle::spawn_blocking([gate, finished] {
      gate->wait(10s);
      *finished = true;
      return 1;
    });
    return h.join();
  });
  ASSERT_TRUE(spindle::test::wait_until(
      [&] { return waiter.state() == spindle::TaskState::Waiting; }, 10s));
  waiter.cancel();
  EXPECT_THROW(waiter.join(), spindle::Cancelled);
  EXPECT_FALSE(finished->load());  // the job itself keeps running...
  gate->open();
  EXPECT_TRUE(spindle::test::wait_until([&] { return finished->load(); }, 10s));  // ...to its end
}

TEST(SpawnBlocking, JoinForTimesOutAndStaysJoinable) {
  Gate gate;
  auto h = spindle::spawn_blocking([&gate] {
    gate.wait();
    return 3;
  });
  try {
    h.join_for(20ms);
    FAIL() << "no timeout";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out);
  }
  EXPECT_FALSE(h.is_finished());
  EXPECT_FALSE(h.wait_for(1ms));
  gate.open();
  EXPECT_TRUE(h.wait_for(10s));
  EXPECT_TRUE(h.is_finished());
  EXPECT_EQ(h.join_for(10s), 3);
}

TEST(SpawnBlocking, DetachedJobsStillRunAndIdleThreadsExit) {
  spindle::configure_blocking_pool(
      {.max_threads = spindle::kBlockingPoolMaxThreads, .idle_timeout = 50ms});
  auto done = std::make_shared<std::atomic<int>>(0);
  for (int i = 0; i < 8; ++i) {
    spindle::spawn_blocking([done] { done->fetch_add(1); }).detach();
  }
  EXPECT_TRUE(spindle::test::wait_until([&] { return done->load() == 8; }, 10s));
  // Every idle thread, including the 64 of earlier tests, leaves after 50 ms without work.
  const bool drained =
      spindle::test::wait_until([] { return spindle::blocking_pool_stats().threads == 0; }, 15s);
  spindle::configure_blocking_pool({});
  EXPECT_TRUE(drained) << spindle::blocking_pool_stats().threads << " threads left";
}

TEST(SpawnBlocking, ConfigureRejectsOutOfRangeValuesNamingTheField) {
  const auto before = spindle::blocking_pool_config();
  auto expect_rejected = [](spindle::BlockingPoolConfig cfg, const std::string& field) {
    try {
      spindle::configure_blocking_pool(cfg);
      ADD_FAILURE() << field << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  expect_rejected({.max_threads = 0}, "max_threads");
  expect_rejected({.max_threads = spindle::kBlockingPoolThreadsLimit + 1}, "max_threads");
  expect_rejected({.idle_timeout = 0ms}, "idle_timeout");
  expect_rejected({.idle_timeout = 2h}, "idle_timeout");
  const auto after = spindle::blocking_pool_config();
  EXPECT_EQ(after.max_threads, before.max_threads);
  EXPECT_EQ(after.idle_timeout, before.idle_timeout);
}

TEST(SpawnBlocking, ALoweredBoundLimitsRunningJobsAndNoQueuedJobIsLost) {
  spindle::configure_blocking_pool({.max_threads = 3, .idle_timeout = 10s});
  EXPECT_EQ(spindle::blocking_pool_config().max_threads, 3u);
  constexpr int kJobs = 40;
  Gate gate;
  std::atomic<int> concurrent{0}, peak{0};
  std::vector<BlockingHandle<int>> hs;
  for (int i = 0; i < kJobs; ++i) {
    hs.push_back(spindle::spawn_blocking([i, &gate, &concurrent, &peak] {
      const int now = concurrent.fetch_add(1) + 1;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      const bool opened = gate.wait();
      concurrent.fetch_sub(1);
      if (!opened) throw std::runtime_error("gate never opened");
      return i;
    }));
  }
  ASSERT_TRUE(
      spindle::test::wait_until([&] { return spindle::blocking_pool_stats().running == 3; }, 20s));
  EXPECT_EQ(spindle::blocking_pool_stats().max_threads, 3u);
  gate.open();
  for (int i = 0; i < kJobs; ++i) EXPECT_EQ(hs[static_cast<std::size_t>(i)].join_for(20s), i);
  EXPECT_LE(peak.load(), 3);
  spindle::configure_blocking_pool({});
  EXPECT_EQ(spindle::blocking_pool_config().max_threads, spindle::kBlockingPoolMaxThreads);
}
