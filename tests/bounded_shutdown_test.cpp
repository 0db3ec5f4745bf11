// Bounded shutdown (AsyncRuntime::shutdown(timeout), ~AsyncRuntime) and the live-fiber listing
// (AsyncRuntime::fibers) that both rest on: sched/core/shutdown.cpp, sched/core/task_registry.cpp.
//
// Destructor cases that can hang (the old destructor waited for ever) or abandon fibers (which
// leaks by design) run in a forked child with an alarm, so that a hang is a failure, not a stuck
// test, and the leak stays in the child.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"
#include "subprocess.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;

namespace spindle {
namespace {

using test::wait_until;

// count_in returns how many listed fibers are in state `s`.
std::size_t count_in(const std::vector<FiberInfo>& fs, TaskState s) {
  std::size_t n = 0;
  for (const FiberInfo& f : fs) n += f.state == s ? 1 : 0;
  return n;
}

// in_child runs `fn` in a forked child (test::run_in_child) that an alarm kills after 60 s, so
// that a hang fails as SIGALRM; the child exits 0 when `fn` returns true, 1 when it returns false.
test::ChildResult in_child(const std::function<bool()>& fn) {
  return test::run_in_child([&fn] {
    ::alarm(60);
    if (!fn()) {
      std::fflush(nullptr);
      ::_exit(1);
    }
  });
}

// exited_ok says whether the child exited with status 0.
bool exited_ok(const test::ChildResult& c) {
  return WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0;
}

// joined_cancelled says whether joining `h` throws Cancelled.
template <class R>
bool joined_cancelled(JoinHandle<R>& h) {
  try {
    h.join();
  } catch (const Cancelled&) {
    return true;
  }
  return false;
}

TEST(BoundedShutdown, CancelsFibersParkedInEveryKindOfWait) {
  AsyncRuntime rt({.worker_threads = 2});
  auto listener = std::make_shared<std::optional<net::TcpListener>>();
  Event never;
  Channel<int> empty(1);
  auto accepter = rt.spawn([listener] {
    *listener = net::TcpListener::bind(net::SocketAddr::parse("127.0.0.1:0"));
    (*listener)->accept();
  });
  auto sleeper = rt.spawn([] { this_fiber::sleep_for(24h); });
  auto waiter = rt.spawn([&never] { never.wait(); });
  auto receiver = rt.spawn([&empty] { return empty.recv(); });
  auto sleeper2 = rt.spawn([] { this_fiber::sleep_for(24h); });
  auto joiner = rt.spawn([&sleeper2] { sleeper2.join(); });
  ASSERT_TRUE(wait_until([&] { return count_in(rt.fibers(), TaskState::Waiting) == 6; }));

  EXPECT_TRUE(rt.shutdown(30s));
  EXPECT_TRUE(joined_cancelled(accepter));
  EXPECT_TRUE(joined_cancelled(sleeper));
  EXPECT_TRUE(joined_cancelled(waiter));
  const ChannelResult<int> got = receiver.join();  // a channel reports it, not throws
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error(), ChannelError::Cancelled);
  EXPECT_TRUE(joined_cancelled(joiner));
  EXPECT_TRUE(rt.fibers().empty());
  EXPECT_EQ(rt.stats().active_tasks, 0u);
  // Idempotent, and the graceful form after it returns at once.
  EXPECT_TRUE(rt.shutdown(0ns));
  rt.shutdown();
}

TEST(BoundedShutdown, AChildSpawnedWhileUnwindingNeverStartsAndItsJoinerGetsCancelled) {
  AsyncRuntime rt({.worker_threads = 2});
  std::atomic<bool> child_ran{false};
  std::atomic<bool> child_cancelled{false};
  auto parent = rt.spawn([&] {
    try {
      this_fiber::sleep_for(24h);
    } catch (const Cancelled&) {
      auto child = spawn([&] { child_ran = true; });
      try {
        child.join();
      } catch (const Cancelled&) {
        child_cancelled = true;
      }
    }
    return 5;
  });
  ASSERT_TRUE(wait_until([&] { return count_in(rt.fibers(), TaskState::Waiting) == 1; }));
  EXPECT_TRUE(rt.shutdown(30s));
  EXPECT_EQ(parent.join(), 5);  // it caught Cancelled and returned: Completed
  EXPECT_FALSE(child_ran.load());
  EXPECT_TRUE(child_cancelled.load());
}

TEST(BoundedShutdown, FibersThatIgnoreCancellationAreReportedAndKeepRunning) {
  AsyncRuntime rt({.worker_threads = 2});
  std::atomic<bool> release{false};
  std::atomic<bool> started{false};
  // yield is not a cancellation point: this fiber ignores cancellation until released.
  auto stubborn = rt.spawn(
      [&] {
        this_fiber::set_name("stubborn-loop");
        started = true;
        while (!release.load()) this_fiber::yield();
        return 9;
      },
      SpawnOptions{.priority = TaskPriority::High});
  ASSERT_TRUE(wait_until([&] { return started.load(); }));

  testing::internal::CaptureStderr();
  const bool done = rt.shutdown(100ms);
  const std::string report = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(done);
  EXPECT_NE(report.find("AsyncRuntime::shutdown(timeout): 1 fiber(s) still alive after 100 ms"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("\"stubborn-loop\" Running (priority High)"), std::string::npos) << report;
  const std::vector<FiberInfo> live = rt.fibers();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].name, "stubborn-loop");
  EXPECT_EQ(live[0].id, stubborn.id());

  // Shutting down: spawns from outside are refused, except Critical ones, which are cancelled
  // before they start (their joiner gets Cancelled).
  EXPECT_THROW(rt.spawn([] {}), std::runtime_error);
  std::atomic<bool> critical_ran{false};
  auto critical = rt.spawn_with_priority([&] { critical_ran = true; }, TaskPriority::Critical);
  EXPECT_TRUE(joined_cancelled(critical));
  EXPECT_FALSE(critical_ran.load());

  release = true;
  EXPECT_TRUE(rt.shutdown(30s));
  EXPECT_EQ(stubborn.join(), 9);
}

TEST(BoundedShutdown, BadCallsThrow) {
  AsyncRuntime rt({.worker_threads = 1});
  try {
    (void)rt.shutdown(-1ns);
    ADD_FAILURE() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("timeout = -1ns"), std::string::npos) << e.what();
  }
  auto own = rt.spawn([&rt] { return rt.shutdown(1s); });
  EXPECT_THROW(own.join(), std::logic_error);
  EXPECT_TRUE(rt.shutdown(30s));
}

TEST(BoundedShutdown, TheGracefulShutdownReportsFibersThatOutliveShutdownTimeout) {
  AsyncRuntime rt({.worker_threads = 1, .shutdown_timeout = 50ms});
  Event go;
  auto slow = rt.spawn([&go] {
    this_fiber::set_name("slow-one");
    go.wait();
    return 1;
  });
  ASSERT_TRUE(wait_until([&] { return count_in(rt.fibers(), TaskState::Waiting) == 1; }));
  // stderr into a pipe; the reader releases the fiber once the report is out (shutdown() keeps
  // waiting after it), or after 60 s without it (then the test fails).
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fds[1], STDERR_FILENO);
  ::close(fds[1]);
  std::string report;
  std::thread reader([&] {
    bool released = false;
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    for (;;) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, 100) == 0) {
        if (!released && std::chrono::steady_clock::now() > give_up) {
          released = true;
          go.set();
        }
        continue;
      }
      char buf[512];
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      report.append(buf, static_cast<std::size_t>(n));
      if (!released && report.find("still alive") != std::string::npos) {
        released = true;
        go.set();
      }
    }
  });
  rt.shutdown();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);  // drops the pipe's last write end: the reader sees end of file
  ::close(saved);
  reader.join();
  ::close(fds[0]);
  EXPECT_EQ(slow.join(), 1);  // never cancelled
  EXPECT_NE(report.find("AsyncRuntime::shutdown(): 1 fiber(s) still alive after 50 ms"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("\"slow-one\" Waiting"), std::string::npos) << report;
}

TEST(RuntimeDestructor, LetsFibersFinishWithinDrainTimeout) {
  std::optional<JoinHandle<int>> h;
  {
    AsyncRuntime rt({.worker_threads = 2, .drain_timeout = 1h});
    h = rt.spawn([] {
      this_fiber::sleep_for(20ms);
      return 3;
    });
  }
  EXPECT_EQ(h->join(), 3);  // the handle outlives the runtime
}

TEST(RuntimeDestructor, CancelsAFiberParkedInAcceptAfterDrainTimeout) {
  // Before the bounded destructor this child hung for ever (killed by its alarm).
  const test::ChildResult c = in_child([] {
    std::optional<JoinHandle<void>> h;
    {
      AsyncRuntime rt({.worker_threads = 2, .shutdown_timeout = 30s, .drain_timeout = 0ns});
      std::atomic<bool> listening{false};
      h = rt.spawn([&listening] {
        auto l = net::TcpListener::bind(net::SocketAddr::parse("127.0.0.1:0"));
        listening = true;
        l.accept();
      });
      if (!wait_until([&] { return listening.load() && rt.stats().active_tasks == 1; })) {
        return false;
      }
    }
    return joined_cancelled(*h);
  });
  EXPECT_TRUE(exited_ok(c)) << "status " << c.status << "\n" << c.output;
}

TEST(RuntimeDestructor, AbandonsFibersThatIgnoreCancellationAndReportsThem) {
  const test::ChildResult c = in_child([] {
    auto rt = std::make_unique<AsyncRuntime>(
        AsyncRuntimeConfig{.worker_threads = 2, .shutdown_timeout = 100ms, .drain_timeout = 0ns});
    // One fiber never reaches a blocking point; another is parked where cancellation is not
    // delivered (a wait inside a destructor run by unwinding: throwing Cancelled there would
    // terminate).
    std::atomic<bool> spinning{false};
    rt->spawn([&] {
        this_fiber::set_name("spinner");
        spinning = true;
        for (;;) this_fiber::yield();
      }).detach();
    if (!wait_until([&] { return spinning.load(); })) return false;
    struct SleepsWhenDestroyed {
      ~SleepsWhenDestroyed() { this_fiber::sleep_for(24h); }
    };
    rt->spawn([] {
        this_fiber::set_name("unwinder");
        SleepsWhenDestroyed s;
        throw std::runtime_error("unwinding");
      }).detach();
    if (!wait_until([&] { return count_in(rt->fibers(), TaskState::Waiting) == 1; })) return false;
    rt.reset();  // returns: abandons both (the spinner's worker is detached)
    std::puts("destructor returned");
    return true;
  });
  EXPECT_TRUE(exited_ok(c)) << "status " << c.status << "\n" << c.output;
  EXPECT_NE(c.output.find("~AsyncRuntime: 2 fiber(s) still alive after 100 ms; cancelled and "
                          "not ending: abandoning them"),
            std::string::npos)
      << c.output;
  EXPECT_NE(c.output.find("\"spinner\" Running"), std::string::npos) << c.output;
  EXPECT_NE(c.output.find("\"unwinder\" Waiting"), std::string::npos) << c.output;
  EXPECT_NE(c.output.find("1 worker thread(s) still running an abandoned fiber were detached"),
            std::string::npos)
      << c.output;
  EXPECT_NE(c.output.find("destructor returned"), std::string::npos) << c.output;
}

TEST(FiberListing, ShowsEveryLiveFiberWithItsNameStateAndPriority) {
  AsyncRuntime rt({.worker_threads = 2});
  Event go;
  std::vector<JoinHandle<void>> hs;
  for (int i = 0; i < 40; ++i) {
    hs.push_back(rt.spawn(
        [i, &go] {
          this_fiber::set_name("worker-" + std::to_string(i));
          go.wait();
        },
        SpawnOptions{.priority = i % 2 == 0 ? TaskPriority::Low : TaskPriority::High}));
  }
  ASSERT_TRUE(wait_until([&] { return count_in(rt.fibers(), TaskState::Waiting) == 40; }));
  std::vector<bool> seen(40, false);
  for (const FiberInfo& f : rt.fibers()) {
    ASSERT_EQ(f.name.rfind("worker-", 0), 0u) << f.name;
    const int i = std::stoi(f.name.substr(7));
    EXPECT_FALSE(seen[i]) << "listed twice: " << f.name;
    seen[i] = true;
    EXPECT_EQ(f.priority, i % 2 == 0 ? TaskPriority::Low : TaskPriority::High);
    EXPECT_EQ(f.id, hs[i].id());
  }
  EXPECT_EQ(rt.fibers(7).size(), 7u);  // the limit
  go.set();
  for (auto& h : hs) h.join();
  EXPECT_TRUE(wait_until([&] { return rt.fibers().empty(); }));
}

TEST(FiberListing, StaysExactUnderConcurrentSpawnsFinishesRenamesAndListings) {
  // Every task is linked once and unlinked once while other threads list and rename: a lost or
  // doubled link shows as a leftover entry, a crash, or (TSan, ASan) a reported race.
  for (std::uint32_t workers : {1u, 2u, 4u}) {
    AsyncRuntime rt({.worker_threads = workers});
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> listings{0};
    std::thread lister([&] {
      while (!stop.load()) {
        for (const FiberInfo& f : rt.fibers()) {
          if (!f.id.valid()) ADD_FAILURE() << "a listed fiber without an id";
        }
        listings.fetch_add(1);
      }
    });
    constexpr int kParents = 64, kChildren = 64;
    std::atomic<int> ran{0};
    std::vector<JoinHandle<void>> parents;
    for (int p = 0; p < kParents; ++p) {
      parents.push_back(rt.spawn([&] {
        std::vector<JoinHandle<void>> kids;
        for (int c = 0; c < kChildren; ++c) {
          kids.push_back(spawn([&, c] {
            this_fiber::set_name(c % 2 == 0 ? "a" : "a-much-longer-name-beyond-sso");
            if (c % 3 == 0) this_fiber::yield();
            ran.fetch_add(1);
          }));
        }
        for (auto& k : kids) k.join();
      }));
    }
    for (auto& h : parents) h.join();
    ASSERT_TRUE(wait_until([&] { return listings.load() > 0; }));
    stop = true;
    lister.join();
    EXPECT_EQ(ran.load(), kParents * kChildren);
    EXPECT_TRUE(wait_until([&] { return rt.fibers().empty(); })) << workers << " workers";
    EXPECT_EQ(rt.stats().active_tasks, 0u);
  }
}

}  // namespace
}  // namespace spindle
