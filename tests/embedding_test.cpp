// Embedding hooks of AsyncRuntimeConfig: worker thread names (seen in /proc/self/task/*/comm),
// on_thread_start / on_thread_stop callbacks (and what a throwing one does), CPU pinning validated
// against the process's real affinity mask.
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"
#include "test_util.hpp"

using spindle::AsyncRuntime;
using spindle::AsyncRuntimeConfig;

namespace {

// thread_names returns the comm of every thread of this process.
std::multiset<std::string> thread_names() {
  std::multiset<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream f(e.path() / "comm");
    std::string name;
    if (std::getline(f, name)) names.insert(name);
  }
  return names;
}

std::string error_of(const AsyncRuntimeConfig& cfg) {
  try {
    AsyncRuntime rt(cfg);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// process_cpus returns the CPUs of the calling thread's affinity mask.
std::vector<int> thread_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

thread_local bool tls_started = false;  // set by on_thread_start on the worker thread

TEST(EmbeddingTest, WorkerThreadsCarryTheDefaultNames) {
  AsyncRuntime rt(spindle::test::workers(2));
  EXPECT_EQ(rt.config().thread_name_prefix, "spindle-w");
  ASSERT_TRUE(spindle::test::wait_until([] {
    auto n = thread_names();
    return n.count("spindle-w0") == 1 && n.count("spindle-w1") == 1;
  }));
}

TEST(EmbeddingTest, WorkerThreadsCarryACustomPrefix) {
  AsyncRuntimeConfig cfg = spindle::test::workers(3);
  cfg.thread_name_prefix = "embedtest-";  // 10 bytes + "2" = 11
  AsyncRuntime rt(cfg);
  ASSERT_TRUE(spindle::test::wait_until([] {
    auto n = thread_names();
    return n.count("embedtest-0") == 1 && n.count("embedtest-1") == 1 &&
           n.count("embedtest-2") == 1;
  }));
}

TEST(EmbeddingTest, ANameLongerThan15BytesIsRejected) {
  AsyncRuntimeConfig cfg = spindle::test::workers(10);
  cfg.thread_name_prefix = "abcdefghijklmn";  // 14 bytes: "abcdefghijklmn9" is 15, fits
  EXPECT_EQ(error_of(cfg), "");
  cfg.worker_threads = 11;  // "abcdefghijklmn10" is 16 bytes
  const std::string msg = error_of(cfg);
  EXPECT_NE(msg.find("AsyncRuntimeConfig::thread_name_prefix = \"abcdefghijklmn\""),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("\"abcdefghijklmn10\", is 16 bytes; the limit is 15 bytes"), std::string::npos)
      << msg;
}

TEST(EmbeddingTest, StartAndStopCallbacksRunOnEachWorkerThread) {
  constexpr std::uint32_t kWorkers = 3;
  std::mutex mu;
  std::vector<std::thread::id> started(kWorkers), stopped(kWorkers);
  std::atomic<int> starts{0}, stops{0};
  AsyncRuntimeConfig cfg = spindle::test::workers(kWorkers);
  cfg.on_thread_start = [&](std::size_t i) {
    tls_started = true;
    std::lock_guard<std::mutex> g(mu);
    started.at(i) = std::this_thread::get_id();
    starts.fetch_add(1);
  };
  cfg.on_thread_stop = [&](std::size_t i) {
    std::lock_guard<std::mutex> g(mu);
    stopped.at(i) = std::this_thread::get_id();
    stops.fetch_add(1);
  };
  {
    AsyncRuntime rt(cfg);
    // Every fiber runs on a thread whose start callback already ran.
    std::vector<spindle::JoinHandle<bool>> hs;
    for (int i = 0; i < 200; ++i) hs.push_back(rt.spawn([] { return tls_started; }));
    for (auto& h : hs) EXPECT_TRUE(h.join());
    EXPECT_EQ(stops.load(), 0);
    rt.shutdown();
    EXPECT_EQ(starts.load(), static_cast<int>(kWorkers));
    EXPECT_EQ(stops.load(), static_cast<int>(kWorkers));
  }
  std::set<std::thread::id> distinct(started.begin(), started.end());
  EXPECT_EQ(distinct.size(), kWorkers);
  EXPECT_EQ(started, stopped);  // each worker's stop ran on its own thread
  EXPECT_EQ(distinct.count(std::this_thread::get_id()), 0u);
}

TEST(EmbeddingTest, ThrowingCallbacksAreReportedAndIgnored) {
  AsyncRuntimeConfig cfg = spindle::test::workers(2);
  std::atomic<int> stops{0};
  cfg.on_thread_start = [](std::size_t i) {
    if (i == 0) throw std::runtime_error("start failed");
    throw 42;
  };
  cfg.on_thread_stop = [&](std::size_t) {
    stops.fetch_add(1);
    throw std::runtime_error("stop failed");
  };
  testing::internal::CaptureStderr();
  {
    AsyncRuntime rt(cfg);
    EXPECT_EQ(rt.block_on([] { return 7; }), 7);
    std::vector<spindle::JoinHandle<int>> hs;
    for (int i = 0; i < 100; ++i) hs.push_back(rt.spawn([i] { return i; }));
    for (int i = 0; i < 100; ++i) EXPECT_EQ(hs[i].join(), i);
  }  // the destructor's shutdown completes
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(stops.load(), 2);
  EXPECT_NE(err.find("worker 0: on_thread_start threw: start failed (ignored)"), std::string::npos)
      << err;
  EXPECT_NE(err.find("worker 1: on_thread_start threw a non-std exception (ignored)"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("on_thread_stop threw: stop failed (ignored)"), std::string::npos) << err;
}

TEST(EmbeddingTest, WorkersArePinnedRoundRobin) {
  const std::vector<int> allowed = thread_cpus();
  ASSERT_FALSE(allowed.empty());
  constexpr std::uint32_t kWorkers = 3;
  std::mutex mu;
  std::vector<std::vector<int>> masks(kWorkers);
  AsyncRuntimeConfig cfg = spindle::test::workers(kWorkers);
  cfg.worker_cpus = allowed;  // the real mask of this process, whatever it is
  cfg.on_thread_start = [&](std::size_t i) {
    std::vector<int> m = thread_cpus();
    std::lock_guard<std::mutex> g(mu);
    masks.at(i) = m;
  };
  {
    AsyncRuntime rt(cfg);
    rt.shutdown();
  }
  for (std::uint32_t i = 0; i < kWorkers; ++i) {
    EXPECT_EQ(masks[i], std::vector<int>{allowed[i % allowed.size()]}) << "worker " << i;
  }
  // The runtime did not change the constructing thread's affinity.
  EXPECT_EQ(thread_cpus(), allowed);
}

TEST(EmbeddingTest, ACpuOutsideTheAffinityMaskIsRejected) {
  const std::vector<int> allowed = thread_cpus();
  ASSERT_FALSE(allowed.empty());
  int outside = -1;
  for (int c = CPU_SETSIZE - 1; c >= 0; --c) {
    if (std::find(allowed.begin(), allowed.end(), c) == allowed.end()) {
      outside = c;
      break;
    }
  }
  ASSERT_GE(outside, 0);
  AsyncRuntimeConfig cfg = spindle::test::workers(2);
  cfg.worker_cpus = {allowed[0], outside};
  std::string msg = error_of(cfg);
  EXPECT_NE(msg.find("AsyncRuntimeConfig::worker_cpus = [" + std::to_string(allowed[0]) + ", " +
                     std::to_string(outside) + "]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("CPU " + std::to_string(outside) + " is not in the process's affinity mask"),
            std::string::npos)
      << msg;
  std::string set = "{";
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    set += (i != 0 ? ", " : "") + std::to_string(allowed[i]);
  }
  EXPECT_NE(msg.find("allowed CPUs are " + set + "}"), std::string::npos) << msg;
  cfg.worker_cpus = {-1};
  msg = error_of(cfg);
  EXPECT_NE(msg.find("CPU -1 is not in"), std::string::npos) << msg;
}

}  // namespace
