// No lost wakeups: many short round trips between a plain thread and the workers, with every worker
// parking in between (the window where a wakeup can be lost), on 2, 3 and 4 workers. A watchdog
// fails the test if progress stalls, instead of letting a lost wakeup hang the suite.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "spindle/fiber/context.hpp"  // SPINDLE_TSAN
#include "spindle/spindle.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {

class ParkingTest : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(ParkingTest, ExternalSpawnsAlwaysWakeAParkedWorker) {
#if SPINDLE_TSAN
  constexpr int kRounds = 1500;
#else
  constexpr int kRounds = 15000;
#endif
  std::atomic<int> progress{0};
  std::atomic<bool> done{false};
  std::atomic<bool> stalled{false};
  std::mutex mu;
  std::condition_variable cv;
  std::thread watchdog([&] {
    int last = -1;
    auto last_change = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mu);
    while (!done) {
      cv.wait_for(lock, 100ms);
      const int now = progress.load();
      if (now != last) {
        last = now;
        last_change = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - last_change > 20s) {
        stalled = true;
        std::fprintf(stderr, "parking test stalled at round %d: lost wakeup\n", now);
        std::abort();
      }
    }
  });
  {
    spindle::AsyncRuntimeConfig cfg;
    cfg.worker_threads = GetParam();
    spindle::AsyncRuntime rt(cfg);
    for (int i = 0; i < kRounds; ++i) {
      EXPECT_EQ(rt.spawn([] { return 1; }).join(), 1);
      if (i % 7 == 0) {
        // A wake through the timer wheel of a worker that then parks.
        rt.spawn([] { spindle::this_fiber::sleep_for(50us); }).join();
      }
      if (i % 13 == 0) {
        // A fiber waking a joiner that parked on another worker.
        EXPECT_EQ(rt.spawn([] {
                      auto child = spindle::spawn([] {
                        spindle::this_fiber::yield();
                        return 2;
                      });
                      return child.join();
                    }).join(),
                  2);
      }
      progress.fetch_add(1);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  watchdog.join();
  EXPECT_FALSE(stalled);
  EXPECT_EQ(progress.load(), kRounds);
}

INSTANTIATE_TEST_SUITE_P(Workers, ParkingTest, ::testing::Values(2u, 3u, 4u),
                         spindle::test::worker_count_name);

}  // namespace
