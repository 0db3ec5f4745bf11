// Tasks bound to cancellation tokens, a task's own token, token inheritance, TaskResultBundle and
// run_main.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "spindle/cancellation_token.hpp"
#include "spindle/run_main.hpp"
#include "spindle/spindle.hpp"
#include "spindle/task_result_bundle.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using spindle::test::wait_until;

TEST(TaskCancellationTest, CancellingTheBoundTokenWakesABlockedFiber) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  spindle::CancellationToken token;
  std::atomic<bool> blocked{false};
  auto h = rt.spawn(
      [&] {
        blocked = true;
        spindle::this_fiber::sleep_for(1h);
      },
      spindle::SpawnOptions{.token = token});
  ASSERT_TRUE(wait_until([&] { return blocked.load(); }, 20s));
  token.cancel();
  EXPECT_THROW(h.join(), spindle::Cancelled);
  EXPECT_EQ(h.state(), spindle::TaskState::Cancelled);
}

TEST(TaskCancellationTest, AnAlreadyCancelledTokenMeansTheTaskNeverStarts) {
  spindle::AsyncRuntime rt({.worker_threads = 1});
  spindle::CancellationToken token;
  token.cancel();
  std::atomic<bool> ran{false};
  auto h = rt.spawn([&] { ran = true; }, spindle::SpawnOptions{.token = token});
  EXPECT_THROW(h.join(), spindle::Cancelled);
  EXPECT_FALSE(ran.load());
}

TEST(TaskCancellationTest, JoinHandleCancelCancelsTheTasksOwnTokenOnly) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  spindle::CancellationToken parent;
  std::atomic<bool> callback_ran{false}, ready{false};
  auto h = rt.spawn(
      [&] {
        auto own = spindle::this_fiber::cancellation_token();
        auto reg = own.on_cancel([&] { callback_ran = true; });
        ready = true;
        spindle::this_fiber::sleep_for(1h);
      },
      spindle::SpawnOptions{.token = parent});
  ASSERT_TRUE(wait_until([&] { return ready.load(); }, 20s));
  h.cancel();
  EXPECT_THROW(h.join(), spindle::Cancelled);
  EXPECT_TRUE(callback_ran.load());
  EXPECT_FALSE(parent.is_cancelled());  // the child's cancellation never climbs up
}

TEST(TaskCancellationTest, OwnTokenMadeAfterCancellationIsBornCancelled) {
  spindle::AsyncRuntime rt({.worker_threads = 1});
  std::atomic<bool> started{false};
  auto h = rt.spawn([&] {
    started = true;
    while (!spindle::this_fiber::is_cancelled()) spindle::this_fiber::yield();
    return spindle::this_fiber::cancellation_token().is_cancelled();
  });
  ASSERT_TRUE(wait_until([&] { return started.load(); }, 20s));
  h.cancel();
  EXPECT_TRUE(h.join());
}

TEST(TaskCancellationTest, SpawnedFibersInheritTheBoundTokenButNotTheSpawnersOwn) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  spindle::CancellationToken token;
  std::atomic<int> blocked{0};
  std::vector<spindle::JoinHandle<void>> children;
  spindle::JoinHandle<void> unbound_child;
  auto parent = rt.spawn(
      [&] {
        for (int i = 0; i < 3; ++i) {
          children.push_back(spindle::spawn([&] {
            ++blocked;
            spindle::this_fiber::sleep_for(1h);
          }));
        }
        unbound_child = spindle::spawn([] {}, spindle::SpawnOptions{.inherit_token = false});
      },
      spindle::SpawnOptions{.token = token});
  parent.join();  // the parent is done; its children still sleep
  unbound_child.join();
  ASSERT_TRUE(wait_until([&] { return blocked.load() == 3; }, 20s));
  token.cancel();
  for (auto& c : children) EXPECT_THROW(c.join(), spindle::Cancelled);
}

TEST(TaskCancellationTest, DroppingAHandleNeverCancels) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  std::atomic<bool> done{false};
  rt.spawn([&] {
      spindle::this_fiber::sleep_for(2ms);
      done = !spindle::this_fiber::is_cancelled();
    }).detach();
  rt.shutdown();
  EXPECT_TRUE(done.load());
}

// spawn_sleepers adds `n` tasks to `bundle` that count themselves in `started`, sleep for an hour,
// and count themselves in `ended` when that sleep throws Cancelled.
void spawn_sleepers(spindle::TaskResultBundle<void>& bundle, int n, std::atomic<int>& started,
                    std::atomic<int>& ended) {
  for (int i = 0; i < n; ++i) {
    bundle.spawn([&] {
      ++started;
      try {
        spindle::this_fiber::sleep_for(1h);
      } catch (const spindle::Cancelled&) {
        ++ended;
        throw;
      }
    });
  }
}

// The runtime configurations the bundle tests run under: one worker, several, and migrating at
// every switch.
const spindle::AsyncRuntimeConfig kBundleConfigs[] = {
    {.worker_threads = 1},
    {.worker_threads = 3},
    {.worker_threads = 3, .migrate_every_switch = true},
};
class TaskResultBundleRt : public testing::TestWithParam<spindle::AsyncRuntimeConfig> {};

TEST_P(TaskResultBundleRt, ReturnsEveryResultInSpawnOrder) {
  spindle::AsyncRuntime rt(GetParam());
  auto results = rt.block_on([] {
    spindle::TaskResultBundle<int> bundle;
    for (int i = 0; i < 20; ++i) {
      bundle.spawn([i] {
        spindle::this_fiber::sleep_for(std::chrono::microseconds(100 * (20 - i)));
        return i * i;
      });
    }
    return bundle.wait_all();
  });
  ASSERT_EQ(results.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(results[i], i * i);
}

TEST_P(TaskResultBundleRt, FirstFailureCancelsTheOthersAndIsRethrownAfterAllEnded) {
  spindle::AsyncRuntime rt(GetParam());
  std::atomic<int> ended{0}, started{0};
  EXPECT_THROW(rt.block_on([&] {
    spindle::TaskResultBundle<void> bundle;
    spawn_sleepers(bundle, 5, started, ended);
    // Fail once every sleeper runs (a task cancelled before it starts never runs its catch).
    bundle.spawn([&] {
      while (started.load() < 5) spindle::this_fiber::yield();
      throw std::runtime_error("first failure");
    });
    bundle.wait_all();
  }),
               std::runtime_error);
  EXPECT_EQ(ended.load(), 5);  // every sleeper was cancelled and ended before wait_all threw
}

// A bundle destroyed early inside a fiber parks that fiber until its tasks have ended.
TEST_P(TaskResultBundleRt, DestroyedEarlyInAFiberCancelsAndJoins) {
  spindle::AsyncRuntime rt(GetParam());
  std::atomic<int> ended{0}, started{0};
  const int seen = rt.block_on([&] {
    {
      spindle::TaskResultBundle<void> bundle;
      spawn_sleepers(bundle, 4, started, ended);
      while (started.load() < 4) spindle::this_fiber::yield();
    }
    return ended.load();  // read before block_on returns: the destructor already waited
  });
  EXPECT_EQ(seen, 4);
}

std::string bundle_config_name(const testing::TestParamInfo<spindle::AsyncRuntimeConfig>& info) {
  static const char* const names[] = {"OneWorker", "ThreeWorkers", "Migrating"};
  return names[info.index];
}
INSTANTIATE_TEST_SUITE_P(Configs, TaskResultBundleRt, testing::ValuesIn(kBundleConfigs),
                         bundle_config_name);

TEST(TaskResultBundleTest, DestroyedEarlyCancelsAndJoins) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  std::atomic<int> ended{0}, started{0};
  {
    spindle::TaskResultBundle<void> bundle(rt);
    spawn_sleepers(bundle, 4, started, ended);
    ASSERT_TRUE(wait_until([&] { return started.load() == 4; }, 20s));
  }  // from a plain thread: blocks until all ended
  EXPECT_EQ(ended.load(), 4);
}

// cancel_owner_while_it_waits spawns an owner fiber whose bundle holds three hour-long sleepers,
// cancels the owner while it waits for them (with wait_all_for(1h) when `timed`, else wait_all),
// and checks that the owner gets Cancelled after every sleeper was cancelled and ended.
void cancel_owner_while_it_waits(bool timed) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  std::atomic<bool> waiting{false};
  std::atomic<int> ended{0}, started{0};
  auto owner = rt.spawn([&] {
    spindle::TaskResultBundle<void> bundle;
    spawn_sleepers(bundle, 3, started, ended);
    while (started.load() < 3) spindle::this_fiber::yield();
    waiting = true;
    if (timed) {
      bundle.wait_all_for(1h);
    } else {
      bundle.wait_all();
    }
  });
  ASSERT_TRUE(wait_until([&] { return waiting.load(); }, 20s));
  owner.cancel();
  EXPECT_THROW(owner.join(), spindle::Cancelled);
  EXPECT_EQ(ended.load(), 3);
}

TEST(TaskResultBundleTest, CancellingTheOwnerCancelsTheBundle) {
  cancel_owner_while_it_waits(false);
}

TEST(TaskResultBundleTest, CancellingTheOwnerInWaitAllForCancelsTheBundle) {
  cancel_owner_while_it_waits(true);
}

// throws_timed_out says whether `f` throws std::system_error with std::errc::timed_out.
template <class F>
bool throws_timed_out(F&& f) {
  try {
    f();
  } catch (const std::system_error& e) {
    return e.code() == std::make_error_code(std::errc::timed_out);
  }
  return false;
}

TEST(TaskResultBundleTest, WaitAllForTimesOutAndLeavesTheBundleIntact) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  auto results = rt.block_on([] {
    spindle::Event go;
    spindle::TaskResultBundle<int> bundle;
    for (int i = 0; i < 3; ++i) {
      bundle.spawn([&go, i] {
        go.wait();
        return i + 10;
      });
    }
    EXPECT_TRUE(throws_timed_out([&] { (void)bundle.wait_all_for(0ms); }));  // only checks
    EXPECT_TRUE(throws_timed_out([&] { (void)bundle.wait_all_for(5ms); }));
    EXPECT_TRUE(throws_timed_out(
        [&] { (void)bundle.wait_all_until(std::chrono::steady_clock::now() + 5ms); }));
    EXPECT_FALSE(bundle.token().is_cancelled());  // a timeout cancels nothing
    go.set();
    auto out = bundle.wait_all_for(20s);
    EXPECT_THROW((void)bundle.wait_all_for(20s), std::logic_error);  // spent
    return out;
  });
  EXPECT_EQ(results, (std::vector<int>{10, 11, 12}));
}

TEST(TaskResultBundleTest, WaitAllUntilTakesAnyClockAndRethrowsTheFirstFailure) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  std::atomic<int> ended{0};
  rt.block_on([&] {
    spindle::TaskResultBundle<void> ok;
    for (int i = 0; i < 4; ++i) ok.spawn([&] { ++ended; });
    ok.wait_all_until(std::chrono::system_clock::now() + 20s);
    EXPECT_EQ(ended.load(), 4);

    spindle::TaskResultBundle<int> failing;
    std::atomic<int> cancelled{0}, started{0};
    for (int i = 0; i < 3; ++i) {
      failing.spawn([&] {
        ++started;
        try {
          spindle::this_fiber::sleep_for(1h);
        } catch (const spindle::Cancelled&) {
          ++cancelled;
          throw;
        }
        return 0;
      });
    }
    failing.spawn([&]() -> int {
      while (started.load() < 3) spindle::this_fiber::yield();
      throw std::runtime_error("first failure");
    });
    EXPECT_THROW((void)failing.wait_all_for(20s), std::runtime_error);
    EXPECT_EQ(cancelled.load(), 3);  // every sleeper was cancelled and ended before the rethrow
    EXPECT_TRUE(failing.token().is_cancelled());
  });
}

TEST(TaskResultBundleTest, WaitAllForFromAThread) {
  spindle::AsyncRuntime rt({.worker_threads = 2});
  std::atomic<bool> go{false};
  spindle::TaskResultBundle<int> bundle(rt);
  bundle.spawn([&] {
    while (!go.load()) spindle::this_fiber::sleep_for(1ms);
    return 5;
  });
  EXPECT_TRUE(throws_timed_out([&] { (void)bundle.wait_all_for(5ms); }));
  go = true;
  EXPECT_EQ(bundle.wait_all_for(20s), std::vector<int>{5});
}

TEST(RunMainTest, ReturnsTheExitCodeAndCancelsLeftoverFibers) {
  static std::atomic<bool> leftover_cancelled{false}, grandchild_running{false};
  char arg0[] = "prog";
  char* argv[] = {arg0, nullptr};
  int code = spindle::run_main(1, argv,
                               [](int argc, char** args) {
                                 EXPECT_EQ(argc, 1);
                                 EXPECT_STREQ(args[0], "prog");
                                 spindle::spawn([] {
                                   // A grandchild: inherits the main token too.
                                   spindle::spawn([] {
                                     try {
                                       grandchild_running = true;
                                       spindle::this_fiber::sleep_for(1h);
                                     } catch (const spindle::Cancelled&) {
                                       leftover_cancelled = true;
                                       throw;
                                     }
                                   }).detach();
                                 }).detach();
                                 // Return only once the grandchild runs (else it never starts).
                                 while (!grandchild_running) spindle::this_fiber::yield();
                                 return 7;
                               },
                               {.worker_threads = 2});
  EXPECT_EQ(code, 7);
  EXPECT_TRUE(leftover_cancelled.load());
}

TEST(RunMainTest, WaitsForCleanupTasksThenCancelsSlowOnes) {
  static std::atomic<bool> cleaned{false}, slow_cancelled{false}, slow_running{false};
  char* argv[] = {nullptr};
  int code = spindle::run_main(0, argv,
                               [] {
                                 spindle::spawn(
                                     [] {
                                       spindle::this_fiber::sleep_for(20ms);
                                       cleaned = true;
                                     },
                                     spindle::SpawnOptions{.cleanup = true})
                                     .detach();
                               },
                               {.worker_threads = 2});
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(cleaned.load());
  code = spindle::run_main(0, argv,
                           [] {
                             spindle::spawn(
                                 [] {
                                   try {
                                     slow_running = true;
                                     spindle::this_fiber::sleep_for(1h);
                                   } catch (const spindle::Cancelled&) {
                                     slow_cancelled = true;
                                   }
                                 },
                                 spindle::SpawnOptions{.cleanup = true})
                                 .detach();
                             // Once it runs, the cancellation must reach it in sleep_for (a cleanup
                             // task cancelled before it starts never runs at all).
                             while (!slow_running) spindle::this_fiber::yield();
                             return 3;
                           },
                           {.worker_threads = 2, .cleanup_timeout = 10ms});
  EXPECT_EQ(code, 3);
  EXPECT_TRUE(slow_cancelled.load());
}

TEST(RunMainTest, WaitsWithinShutdownTimeoutForFibersCancellationDoesNotReach) {
  // A fiber bound to an unrelated token is not cancelled, but it ends by itself well within
  // shutdown_timeout: run_main waits for it and returns normally.
  char* argv[] = {nullptr};
  spindle::CancellationToken other;
  std::atomic<bool> finished{false};
  const int code =
      spindle::run_main(0, argv,
                        [&] {
                          spindle::spawn(
                              [&] {
                                spindle::this_fiber::sleep_for(20ms);
                                finished = true;
                              },
                              spindle::SpawnOptions{.token = other})
                              .detach();
                          return 4;
                        },
                        {.worker_threads = 2, .cleanup_timeout = 0ms, .shutdown_timeout = 1h});
  EXPECT_EQ(code, 4);
  EXPECT_TRUE(finished.load());
  EXPECT_FALSE(other.is_cancelled());
}

int run_main_with_unreachable_fibers() {
  // One fiber sleeps for an hour bound to a token nobody cancels; another never blocks. Neither
  // can be stopped: run_main must end the process after shutdown_timeout anyway.
  static spindle::CancellationToken other;
  static std::atomic<bool> spin_forever{true};
  // The spinner inherits main's token: main waits until it runs, or cancellation would reach it
  // before its first instruction and only one fiber would be left.
  static std::atomic<bool> spinning{false};
  char* argv[] = {nullptr};
  return spindle::run_main(0, argv,
                           [] {
                             spindle::spawn([] { spindle::this_fiber::sleep_for(1h); },
                                            spindle::SpawnOptions{.token = other})
                                 .detach();
                             spindle::spawn([] {
                               spinning.store(true);
                               while (spin_forever.load()) {
                               }
                             }).detach();
                             while (!spinning.load()) {
                               spindle::this_fiber::yield();
                             }
                             return 7;
                           },
                           {.worker_threads = 2, .cleanup_timeout = 0ms, .shutdown_timeout = 50ms});
}

TEST(RunMainDeathTest, FibersStillAliveAfterShutdownTimeoutEndTheProcessWithTheCode) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(run_main_with_unreachable_fibers(), testing::ExitedWithCode(7),
              "2 fiber\\(s\\) still alive 50 ms after they were cancelled");
}

TEST(RunMainTest, AnEscapingExceptionGivesExitCodeOne) {
  char* argv[] = {nullptr};
  testing::internal::CaptureStderr();
  int code = spindle::run_main(
      0, argv, []() -> int { throw std::runtime_error("bad config file"); }, {.worker_threads = 1});
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.find("bad config file"), std::string::npos);
}

TEST(RunMainTest, BadConfigThrowsBeforeRunning) {
  char* argv[] = {nullptr};
  bool ran = false;
  EXPECT_THROW(
      spindle::run_main(0, argv, [&] { ran = true; }, {.cleanup_timeout = std::chrono::hours(2)}),
      std::invalid_argument);
  EXPECT_THROW(
      spindle::run_main(0, argv, [&] { ran = true; }, {.shutdown_timeout = std::chrono::hours(2)}),
      std::invalid_argument);
  EXPECT_FALSE(ran);
}

}  // namespace
