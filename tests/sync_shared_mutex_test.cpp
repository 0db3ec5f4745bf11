// spindle::SharedMutex: readers share, writers exclude, writer preference with phase alternation,
// timeouts (including a timed-out writer letting queued readers in), cancellation of blocked
// readers and writers, fibers on one or several workers, fibers with OS threads, threads only, and
// a randomized stress test.
#include "spindle/shared_mutex.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using spindle::AsyncRuntime;
using spindle::Cancelled;
using spindle::JoinHandle;
using spindle::SharedMutex;
using spindle::test::kConfigs;
using spindle::test::kScale;
using spindle::test::NamedConfig;
using spindle::test::param_name;
using spindle::test::parked;

class SharedMutexTest : public testing::TestWithParam<NamedConfig> {};

TEST(SharedMutexBasics, StandardLocks) {
  SharedMutex m;
  {
    std::shared_lock<SharedMutex> r1(m);
    std::shared_lock<SharedMutex> r2(m);
    EXPECT_FALSE(m.try_lock());
    EXPECT_TRUE(m.try_lock_shared());
    m.unlock_shared();
  }
  {
    std::unique_lock<SharedMutex> w(m);
    EXPECT_FALSE(m.try_lock_shared());
    EXPECT_FALSE(m.try_lock());
  }
  {
    std::scoped_lock g(m);
    EXPECT_FALSE(m.try_lock_shared());
  }
  std::shared_lock<SharedMutex> r(m, std::defer_lock);
  EXPECT_TRUE(r.try_lock_for(1ms));
  r.unlock();
  EXPECT_TRUE(r.try_lock_until(std::chrono::system_clock::now() + 1ms));
  r.unlock();
  EXPECT_TRUE(m.try_lock_for(1ms));
  m.unlock();
  EXPECT_TRUE(m.try_lock_until(Clock::now() + 1ms));
  m.unlock();
}

// Writers exclude everyone, readers only writers: checked with counters on fibers that yield inside
// their critical sections, on each configuration.
TEST_P(SharedMutexTest, FibersReadersAndWriters) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  SharedMutex m;
  std::atomic<int> readers{0}, writers{0}, max_readers{0};
  long value = 0;
  const int kIters = 200 / kScale;
  std::vector<JoinHandle<void>> hs;
  for (int f = 0; f < 12; ++f) {
    const bool writer = f % 3 == 0;
    hs.push_back(rt.spawn([&, writer, f] {
      for (int i = 0; i < kIters; ++i) {
        if (writer) {
          std::unique_lock<SharedMutex> g(m);
          EXPECT_EQ(writers.fetch_add(1) + 1, 1);
          EXPECT_EQ(readers.load(), 0);
          ++value;
          if ((i + f) % 5 == 0) spindle::this_fiber::yield();
          writers.fetch_sub(1);
        } else {
          std::shared_lock<SharedMutex> g(m);
          const int r = readers.fetch_add(1) + 1;
          int seen = max_readers.load();
          while (r > seen && !max_readers.compare_exchange_weak(seen, r)) {
          }
          EXPECT_EQ(writers.load(), 0);
          const long v = value;
          if ((i + f) % 3 == 0) spindle::this_fiber::yield();
          EXPECT_EQ(value, v);  // no writer got in meanwhile
          readers.fetch_sub(1);
        }
      }
    }));
  }
  for (auto& h : hs) h.join();
  EXPECT_EQ(value, 4L * kIters);
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

// Writer preference: while a writer waits, new readers queue; when the readers inside leave the
// writer gets the lock, and its unlock admits the queued readers (before a second queued writer).
TEST_P(SharedMutexTest, WriterPreferenceAndPhaseAlternation) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  SharedMutex m;
  m.lock_shared();         // a reader inside (this thread)
  std::vector<int> order;  // appended under the lock
  std::mutex order_mu;
  auto record = [&](int who) {
    std::lock_guard<std::mutex> g(order_mu);
    order.push_back(who);
  };
  auto w1 = rt.spawn([&] {
    std::unique_lock<SharedMutex> g(m);
    record(1);
  });
  ASSERT_TRUE(parked(w1));
  EXPECT_FALSE(m.try_lock_shared());  // a writer waits: new readers may not enter
  auto r2 = rt.spawn([&] {
    std::shared_lock<SharedMutex> g(m);
    record(2);
  });
  ASSERT_TRUE(parked(r2));
  auto w3 = rt.spawn([&] {
    std::unique_lock<SharedMutex> g(m);
    record(3);
  });
  ASSERT_TRUE(parked(w3));
  auto r4 = rt.spawn([&] {
    std::shared_lock<SharedMutex> g(m);
    record(4);
  });
  ASSERT_TRUE(parked(r4));
  m.unlock_shared();  // w1, then the readers 2 and 4 together, then w3
  w1.join();
  r2.join();
  w3.join();
  r4.join();
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[0], 1);
  EXPECT_EQ(order[3], 3);
  EXPECT_TRUE((order[1] == 2 && order[2] == 4) || (order[1] == 4 && order[2] == 2));
}

TEST_P(SharedMutexTest, FiberAndThread) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  SharedMutex m;
  m.lock();  // a thread writer
  auto reader = rt.spawn([&] {
    std::shared_lock<SharedMutex> g(m);
    return 1;
  });
  ASSERT_TRUE(parked(reader));
  m.unlock();
  EXPECT_EQ(reader.join(), 1);

  // Fibers and threads mix reads and writes of one value.
  long value = 0;
  std::atomic<long> writes{0};
  const int kIters = 1000 / kScale;
  auto work = [&](int seed) {
    for (int i = 0; i < kIters; ++i) {
      if ((i + seed) % 4 == 0) {
        std::unique_lock<SharedMutex> g(m);
        ++value;
        writes.fetch_add(1);
      } else {
        std::shared_lock<SharedMutex> g(m);
        EXPECT_GE(value, 0);
      }
    }
  };
  std::vector<JoinHandle<void>> hs;
  for (int f = 0; f < 4; ++f) hs.push_back(rt.spawn([&, f] { work(f); }));
  std::vector<std::thread> ts;
  for (int t = 0; t < 2; ++t) ts.emplace_back([&, t] { work(t); });
  for (auto& t : ts) t.join();
  for (auto& h : hs) h.join();
  EXPECT_EQ(value, writes.load());
  EXPECT_GT(value, 0);
}

TEST(SharedMutexThreads, ThreadsOnly) {
  SharedMutex m;
  long value = 0;
  const int kIters = 5000 / kScale;
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kIters; ++i) {
        if ((i + t) % 3 == 0) {
          std::unique_lock<SharedMutex> g(m);
          ++value;
        } else {
          std::shared_lock<SharedMutex> g(m);
          EXPECT_GE(value, 0);
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(value, long{kIters});  // each i is a write for exactly one of the three threads
}

TEST_P(SharedMutexTest, Timeouts) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  SharedMutex m;
  m.lock_shared();
  EXPECT_TRUE(rt.block_on([&] {
    const auto t0 = Clock::now();
    EXPECT_FALSE(m.try_lock_for(20ms));
    EXPECT_GE(Clock::now() - t0, 20ms);
    EXPECT_FALSE(m.try_lock_until(std::chrono::system_clock::now() + 5ms));
    // The timed-out writer is gone: readers are admitted again.
    if (!m.try_lock_shared_for(0ms)) return false;
    m.unlock_shared();
    return true;
  }));
  m.unlock_shared();
  m.lock();
  std::thread t([&] {
    const auto t0 = Clock::now();
    EXPECT_FALSE(m.try_lock_shared_for(20ms));
    EXPECT_GE(Clock::now() - t0, 20ms);
    EXPECT_FALSE(m.try_lock_shared_until(Clock::now() + 5ms));
  });
  t.join();
  m.unlock();
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

// A writer that times out while readers queued behind it lets those readers in at once (the reader
// inside still holds its share). The reader must queue before the writer's timeout: on a slow
// machine (sanitizers) it may come too late, and then the round is run again with a longer
// timeout.
TEST_P(SharedMutexTest, TimedOutWriterReleasesQueuedReaders) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  bool checked = false;
  for (auto timeout : {50ms, 500ms, 5000ms}) {
    SharedMutex m;
    m.lock_shared();
    auto writer = rt.spawn([&m, timeout] { return m.try_lock_for(timeout); });
    ASSERT_TRUE(parked(writer));
    auto reader = rt.spawn([&] {
      std::shared_lock<SharedMutex> g(m);
      return 5;
    });
    ASSERT_TRUE(spindle::test::wait_until(
        [&] { return reader.state() == spindle::TaskState::Waiting || reader.is_finished(); },
        20s));
    const bool queued = reader.state() == spindle::TaskState::Waiting;
    EXPECT_FALSE(writer.join());
    EXPECT_EQ(reader.join(), 5);  // admitted while this thread still reads
    m.unlock_shared();
    EXPECT_TRUE(m.try_lock());
    m.unlock();
    if (queued) {
      checked = true;
      break;
    }
  }
  EXPECT_TRUE(checked) << "the reader never queued behind the writer before its timeout";
}

TEST_P(SharedMutexTest, CancelBlockedWriterAndReader) {
  spindle::test::TestRuntime rt(GetParam().cfg);
  SharedMutex m;
  m.lock_shared();
  auto writer = rt.spawn([&] { m.lock(); });
  ASSERT_TRUE(parked(writer));
  auto reader = rt.spawn([&] { m.lock_shared(); });  // queued behind the writer
  ASSERT_TRUE(parked(reader));
  auto timed_reader = rt.spawn([&] { return m.try_lock_shared_for(1h); });
  ASSERT_TRUE(parked(timed_reader));
  reader.cancel();
  EXPECT_THROW(reader.join(), Cancelled);
  writer.cancel();
  EXPECT_THROW(writer.join(), Cancelled);
  // With the writer gone, the remaining queued reader got in.
  EXPECT_TRUE(timed_reader.join());
  m.unlock_shared();  // the timed reader's share (the lock is not owned by a fiber)
  m.unlock_shared();  // this thread's share
  EXPECT_TRUE(m.try_lock());
  m.unlock();

  // A writer blocked by a writer, cancelled; then readers and writers work normally.
  m.lock();
  auto w2 = rt.spawn([&] { m.lock(); });
  ASSERT_TRUE(parked(w2));
  w2.cancel();
  EXPECT_THROW(w2.join(), Cancelled);
  m.unlock();

  // The timed forms are cancellation points too: a timed writer blocked by a reader, and a timed
  // reader queued behind it.
  m.lock_shared();
  auto timed_writer = rt.spawn([&] { return m.try_lock_for(1h); });
  ASSERT_TRUE(parked(timed_writer));
  auto queued_timed_reader = rt.spawn([&] { return m.try_lock_shared_for(1h); });
  ASSERT_TRUE(parked(queued_timed_reader));
  queued_timed_reader.cancel();
  EXPECT_THROW(queued_timed_reader.join(), Cancelled);
  timed_writer.cancel();
  EXPECT_THROW(timed_writer.join(), Cancelled);
  m.unlock_shared();
  EXPECT_TRUE(m.try_lock());  // neither left a claim behind
  m.unlock();
  rt.block_on([&] {
    m.lock();
    m.unlock();
    m.lock_shared();
    m.unlock_shared();
  });
}

// Randomized stress: fibers on 4 workers and 2 threads, random mixes of shared and exclusive locks
// (plain and timed); writers check they are alone, readers that no writer is inside.
TEST(SharedMutexStress, Randomized) {
  for (bool migrate : {false, true}) {
    AsyncRuntime rt({.worker_threads = 4, .migrate_every_switch = migrate});
    SharedMutex m;
    std::atomic<int> readers{0}, writers{0};
    long value = 0;
    std::atomic<long> writes{0};
    auto body = [&](unsigned seed, int iters, bool fiber) {
      std::mt19937 rng(seed);
      for (int i = 0; i < iters; ++i) {
        const unsigned r = rng() % 10;
        if (r < 3) {
          const bool ok =
              r == 0 ? m.try_lock_for(std::chrono::microseconds(rng() % 300)) : (m.lock(), true);
          if (!ok) continue;
          EXPECT_EQ(writers.fetch_add(1), 0);
          EXPECT_EQ(readers.load(), 0);
          ++value;
          writes.fetch_add(1);
          if (fiber && i % 16 == 0) spindle::this_fiber::yield();
          writers.fetch_sub(1);
          m.unlock();
        } else {
          const bool ok = r == 3 ? m.try_lock_shared_for(std::chrono::microseconds(rng() % 300))
                                 : (m.lock_shared(), true);
          if (!ok) continue;
          readers.fetch_add(1);
          EXPECT_EQ(writers.load(), 0);
          if (fiber && i % 8 == 0) spindle::this_fiber::yield();
          readers.fetch_sub(1);
          m.unlock_shared();
        }
      }
    };
    // Every yield and wake-up crosses workers in migrate mode (slow by design): fewer iterations.
    const int kIters = (migrate ? 300 : 1500) / kScale;
    std::vector<JoinHandle<void>> hs;
    for (unsigned f = 0; f < 24; ++f) hs.push_back(rt.spawn([&, f] { body(f, kIters, true); }));
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < 2; ++t) ts.emplace_back([&, t] { body(50 + t, 2 * kIters, false); });
    for (auto& t : ts) t.join();
    for (auto& h : hs) h.join();
    EXPECT_EQ(value, writes.load());
    EXPECT_TRUE(m.try_lock());
    m.unlock();
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, SharedMutexTest, testing::ValuesIn(kConfigs), param_name);

}  // namespace
