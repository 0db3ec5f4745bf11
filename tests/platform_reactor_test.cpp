// Reactor (platform/): every case runs against both backends (Epoll, Libuv). Time is only ever
// asserted as a lower bound; waits for another thread use a condition with a generous deadline.
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <ostream>
#include <set>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "spindle/platform/reactor.hpp"

using namespace std::chrono_literals;

namespace spindle::platform {
// PrintTo names the backend in gtest messages.
void PrintTo(ReactorKind kind, std::ostream* os) {
  *os << (kind == ReactorKind::Epoll ? "Epoll" : "Libuv");
}
}  // namespace spindle::platform

using spindle::platform::kError;
using spindle::platform::kHangup;
using spindle::platform::kReadable;
using spindle::platform::kWritable;
using spindle::platform::Reactor;
using spindle::platform::ReactorEvent;
using spindle::platform::ReactorKind;
using Clock = std::chrono::steady_clock;

namespace {

// Deadline for anything that must happen "soon"; only reached when the reactor is broken.
constexpr auto kPatience = 5s;

void set_nonblocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  ASSERT_GE(flags, 0);
  ASSERT_EQ(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
}

// Pair owns two connected non-blocking descriptors: a socketpair or a pipe (a = read end).
struct Pair {
  int a = -1;
  int b = -1;

  static Pair sockets() {
    Pair p;
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    p.a = fds[0];
    p.b = fds[1];
    set_nonblocking(p.a);
    set_nonblocking(p.b);
    return p;
  }
  static Pair pipe() {
    Pair p;
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    p.a = fds[0];
    p.b = fds[1];
    return p;
  }

  Pair() = default;
  Pair(Pair&& o) noexcept : a(o.a), b(o.b) { o.a = o.b = -1; }
  Pair& operator=(Pair&&) = delete;
  ~Pair() {
    close_a();
    close_b();
  }
  void close_a() {
    if (a >= 0) ::close(a);
    a = -1;
  }
  void close_b() {
    if (b >= 0) ::close(b);
    b = -1;
  }
};

void write_byte(int fd) {
  const char c = 'x';
  ASSERT_EQ(::write(fd, &c, 1), 1);
}

// drain reads fd until EAGAIN; returns the number of bytes read.
std::size_t drain(int fd) {
  std::size_t total = 0;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      total += static_cast<std::size_t>(n);
      continue;
    }
    EXPECT_TRUE(n < 0 && errno == EAGAIN) << "read returned " << n << " errno " << errno;
    return total;
  }
}

// fill writes to fd until EAGAIN; returns the number of bytes written.
std::size_t fill(int fd) {
  std::size_t total = 0;
  static const char buf[4096] = {};
  for (;;) {
    const ssize_t n = ::write(fd, buf, sizeof buf);
    if (n > 0) {
      total += static_cast<std::size_t>(n);
      continue;
    }
    EXPECT_TRUE(n < 0 && errno == EAGAIN) << "write returned " << n << " errno " << errno;
    return total;
  }
}

// Seen accumulates reports per token.
using Seen = std::map<void*, std::uint32_t>;

// poll_until polls until `token` was reported with one of `bits`, or kPatience passes. Everything
// reported meanwhile is merged into *seen (if given). Returns what was reported for token.
std::uint32_t poll_until(Reactor& r, void* token, std::uint32_t bits, Seen* seen = nullptr) {
  std::uint32_t got = 0;
  const auto deadline = Clock::now() + kPatience;
  std::array<ReactorEvent, 16> events;
  while ((got & bits) == 0 && Clock::now() < deadline) {
    const std::size_t n = r.poll(events.data(), events.size(), 100'000'000);
    EXPECT_LE(n, events.size());
    for (std::size_t i = 0; i < n; ++i) {
      if (seen) (*seen)[events[i].token] |= events[i].ready;
      if (events[i].token == token) got |= events[i].ready;
    }
  }
  return got;
}

// poll_quiet polls for `ms` milliseconds in total and returns every report.
Seen poll_quiet(Reactor& r, std::chrono::milliseconds ms) {
  Seen seen;
  std::array<ReactorEvent, 16> events;
  const auto deadline = Clock::now() + ms;
  for (auto now = Clock::now(); now < deadline; now = Clock::now()) {
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now);
    const std::size_t n = r.poll(events.data(), events.size(), left.count());
    for (std::size_t i = 0; i < n; ++i) seen[events[i].token] |= events[i].ready;
  }
  return seen;
}

class ReactorTest : public ::testing::TestWithParam<ReactorKind> {
 protected:
  void SetUp() override { reactor_ = Reactor::create(GetParam()); }
  Reactor& reactor() { return *reactor_; }

  std::unique_ptr<Reactor> reactor_;
  // Distinct addresses used as tokens.
  int tok_[4] = {};
};

TEST_P(ReactorTest, KindAndName) {
  EXPECT_EQ(reactor().kind(), GetParam());
  EXPECT_STREQ(reactor().name(), GetParam() == ReactorKind::Epoll ? "epoll" : "libuv");
}

TEST_P(ReactorTest, ReadableAfterWriteToSocketpair) {
  Pair p = Pair::sockets();
  reactor().add(p.a, &tok_[0], kReadable);
  write_byte(p.b);
  EXPECT_TRUE(poll_until(reactor(), &tok_[0], kReadable) & kReadable);
  reactor().remove(p.a);
}

TEST_P(ReactorTest, ReadableAfterWriteToPipe) {
  Pair p = Pair::pipe();
  reactor().add(p.a, &tok_[0], kReadable);
  EXPECT_TRUE(poll_quiet(reactor(), 5ms).empty());
  write_byte(p.b);
  EXPECT_TRUE(poll_until(reactor(), &tok_[0], kReadable) & kReadable);
  reactor().remove(p.a);
}

TEST_P(ReactorTest, WritableRightAfterAdd) {
  Pair p = Pair::sockets();
  reactor().add(p.a, &tok_[0], kWritable);
  EXPECT_TRUE(poll_until(reactor(), &tok_[0], kWritable) & kWritable);
  reactor().remove(p.a);
}

TEST_P(ReactorTest, NoEventWhenNothingHappened) {
  Pair p = Pair::pipe();
  reactor().add(p.a, &tok_[0], kReadable);
  std::array<ReactorEvent, 8> events;
  EXPECT_EQ(reactor().poll(events.data(), events.size(), 0), 0u);
  EXPECT_EQ(reactor().poll(events.data(), events.size(), 20'000'000), 0u);
  reactor().remove(p.a);
}

// A reported direction is not reported again until armed: a writable socket does not spin.
TEST_P(ReactorTest, ReportedWritabilityDoesNotRepeatUntilArmed) {
  Pair p = Pair::sockets();
  reactor().add(p.a, &tok_[0], kWritable);
  EXPECT_TRUE(poll_until(reactor(), &tok_[0], kWritable) & kWritable);
  EXPECT_EQ(poll_quiet(reactor(), 20ms).count(&tok_[0]), 0u);
  reactor().arm(p.a, &tok_[0], kWritable);
  EXPECT_TRUE(poll_until(reactor(), &tok_[0], kWritable) & kWritable);
  reactor().remove(p.a);
}

TEST_P(ReactorTest, PollTimeoutWaitsAtLeastTheTimeout) {
  Pair p = Pair::pipe();
  reactor().add(p.a, &tok_[0], kReadable);
  std::array<ReactorEvent, 8> events;
  for (const std::int64_t timeout_ns : {1'500'000LL, 20'000'000LL, 250'000LL}) {
    const auto start = Clock::now();
    EXPECT_EQ(reactor().poll(events.data(), events.size(), timeout_ns), 0u);
    EXPECT_GE(Clock::now() - start, std::chrono::nanoseconds(timeout_ns)) << timeout_ns << " ns";
  }
  reactor().remove(p.a);
}

TEST_P(ReactorTest, PollWithMaxZeroReturnsZero) {
  Pair p = Pair::sockets();
  reactor().add(p.a, &tok_[0], kWritable);
  EXPECT_EQ(reactor().poll(nullptr, 0, -1), 0u);
  EXPECT_TRUE(poll_until(reactor(), &tok_[0], kWritable) & kWritable);
  reactor().remove(p.a);
}

// Runs poll(-1) on a thread; `rescue` (a registered pipe) unblocks it if wake() is broken, so a
// failing test fails instead of hanging.
class BlockedPoll {
 public:
  explicit BlockedPoll(Reactor& r) : reactor_(r), rescue_(Pair::pipe()) {
    reactor_.add(rescue_.a, &rescue_token_, kReadable);
    thread_ = std::thread([this] {
      {
        std::lock_guard<std::mutex> lock(mu_);
        started_ = true;
      }
      cv_.notify_all();
      std::array<ReactorEvent, 8> events;
      const std::size_t n = reactor_.poll(events.data(), events.size(), -1);
      std::lock_guard<std::mutex> lock(mu_);
      returned_ = true;
      for (std::size_t i = 0; i < n; ++i) rescued_ |= events[i].token == &rescue_token_;
      cv_.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return started_; });
  }
  ~BlockedPoll() {
    if (!wait_returned()) {
      ADD_FAILURE() << "poll(-1) did not return; rescuing it";
      write_byte(rescue_.b);
    }
    thread_.join();
    reactor_.remove(rescue_.a);
  }
  // wait_returned waits up to kPatience for the poll to return.
  bool wait_returned() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kPatience, [this] { return returned_; });
  }
  bool rescued() {
    std::lock_guard<std::mutex> lock(mu_);
    return rescued_;
  }

 private:
  Reactor& reactor_;
  Pair rescue_;
  int rescue_token_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool returned_ = false;
  bool rescued_ = false;
  std::thread thread_;
};

TEST_P(ReactorTest, WakeFromAnotherThreadUnblocksPollForever) {
  BlockedPoll blocked(reactor());
  reactor().wake();
  EXPECT_TRUE(blocked.wait_returned());
  EXPECT_FALSE(blocked.rescued());
}

TEST_P(ReactorTest, WakeBeforePollMakesItReturnAtOnce) {
  reactor().wake();
  BlockedPoll blocked(reactor());  // would block forever if the wake were lost
  EXPECT_TRUE(blocked.wait_returned());
  EXPECT_FALSE(blocked.rescued());
}

TEST_P(ReactorTest, ManyWakesCoalesce) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < 1000; ++i) reactor().wake();
    });
  }
  for (auto& t : threads) t.join();
  std::array<ReactorEvent, 8> events;
  EXPECT_EQ(reactor().poll(events.data(), events.size(), -1), 0u);  // woken: returns at once
  // All those wakes were consumed by that one return: the next poll sleeps its whole timeout.
  const auto start = Clock::now();
  EXPECT_EQ(reactor().poll(events.data(), events.size(), 20'000'000), 0u);
  EXPECT_GE(Clock::now() - start, 20ms);
  // And wake still works afterwards.
  reactor().wake();
  EXPECT_EQ(reactor().poll(events.data(), events.size(), -1), 0u);
}

TEST_P(ReactorTest, HangupWhenSocketPeerCloses) {
  Pair p = Pair::sockets();
  reactor().add(p.a, &tok_[0], kReadable);
  p.close_b();
  EXPECT_TRUE(poll_until(reactor(), &tok_[0], kHangup) & kHangup);
  reactor().remove(p.a);
}

TEST_P(ReactorTest, HangupWhenPipeWriterCloses) {
  Pair p = Pair::pipe();
  reactor().add(p.a, &tok_[0], kReadable);
  p.close_b();
  EXPECT_TRUE(poll_until(reactor(), &tok_[0], kHangup) & kHangup);
  reactor().remove(p.a);
}

TEST_P(ReactorTest, ErrorWhenPipeReaderCloses) {
  Pair p = Pair::pipe();
  reactor().add(p.b, &tok_[0], kWritable);
  EXPECT_TRUE(poll_until(reactor(), &tok_[0], kWritable) & kWritable);
  p.close_a();
  reactor().arm(p.b, &tok_[0], kWritable);
  EXPECT_TRUE(poll_until(reactor(), &tok_[0], kError) & kError);
  reactor().remove(p.b);
}

TEST_P(ReactorTest, RemovedTokenIsNotReportedEvenWithPendingReadiness) {
  Pair p = Pair::sockets();
  write_byte(p.b);
  reactor().add(p.a, &tok_[0], kReadable | kWritable);
  reactor().remove(p.a);
  EXPECT_EQ(poll_quiet(reactor(), 20ms).count(&tok_[0]), 0u);
}

TEST_P(ReactorTest, RemoveCloseAndReuseOfTheFdNumber) {
  Pair first = Pair::sockets();
  const int number = first.a;
  reactor().add(first.a, &tok_[0], kReadable | kWritable);
  write_byte(first.b);
  Seen seen;
  EXPECT_TRUE(poll_until(reactor(), &tok_[0], kReadable, &seen) & kReadable);
  write_byte(first.b);  // readiness the old registration never gets to report
  reactor().arm(first.a, &tok_[0], kReadable | kWritable);
  reactor().remove(first.a);
  first.close_a();
  first.close_b();

  Pair second = Pair::sockets();
  if (second.a != number) {
    ASSERT_EQ(dup3(second.a, number, O_CLOEXEC), number);
    ::close(second.a);
    second.a = number;
    set_nonblocking(second.a);
  }
  reactor().add(second.a, &tok_[1], kReadable);
  seen.clear();
  EXPECT_EQ(poll_quiet(reactor(), 10ms).size(), 0u);
  write_byte(second.b);
  EXPECT_TRUE(poll_until(reactor(), &tok_[1], kReadable, &seen) & kReadable);
  EXPECT_EQ(seen.count(&tok_[0]), 0u) << "a removed registration was reported";
  reactor().remove(second.a);
}

TEST_P(ReactorTest, ErrorsAreReported) {
  Pair p = Pair::sockets();
  EXPECT_THROW(reactor().add(p.a, nullptr, kReadable), std::invalid_argument);
  reactor().add(p.a, &tok_[0], kReadable);
  try {
    reactor().add(p.a, &tok_[1], kReadable);
    ADD_FAILURE() << "a second add of the same fd did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EEXIST) << e.what();
  }
  reactor().remove(p.a);
  try {
    reactor().remove(p.a);
    ADD_FAILURE() << "removing an unregistered fd did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENOENT) << e.what();
  }
  EXPECT_THROW(reactor().arm(p.a, &tok_[0], kReadable), std::system_error);
  EXPECT_THROW(reactor().add(-1, &tok_[0], kReadable), std::system_error);
  // Regular files cannot be polled.
  FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  try {
    reactor().add(fileno(file), &tok_[0], kReadable);
    ADD_FAILURE() << "adding a regular file did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EPERM) << e.what();
  }
  std::fclose(file);
}

// A poller thread runs poll(-1) in a loop and records every report; the test thread registers,
// arms and removes fds meanwhile (libuv must hand these to the polling thread).
class PollerThread {
 public:
  explicit PollerThread(Reactor& r) : reactor_(r) {
    thread_ = std::thread([this] {
      std::array<ReactorEvent, 32> events;
      for (;;) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (stop_) return;
        }
        const std::size_t n = reactor_.poll(events.data(), events.size(), -1);
        std::lock_guard<std::mutex> lock(mu_);
        for (std::size_t i = 0; i < n; ++i) seen_[events[i].token] |= events[i].ready;
        cv_.notify_all();
      }
    });
  }
  ~PollerThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    reactor_.wake();
    thread_.join();
  }
  // wait_for waits up to `patience` until token was reported with one of bits, then forgets those
  // bits of token.
  bool wait_for(void* token, std::uint32_t bits,
                std::chrono::milliseconds patience = std::chrono::milliseconds(kPatience)) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool ok = cv_.wait_for(lock, patience, [&] { return (seen_[token] & bits) != 0; });
    seen_[token] &= ~bits;
    return ok;
  }
  // forget drops what was reported for token (the given bits of it).
  void forget(void* token, std::uint32_t bits = ~0u) {
    std::lock_guard<std::mutex> lock(mu_);
    seen_[token] &= ~bits;
  }

 private:
  Reactor& reactor_;
  std::mutex mu_;
  std::condition_variable cv_;
  Seen seen_;
  bool stop_ = false;
  std::thread thread_;
};

TEST_P(ReactorTest, AddArmRemoveWhilePollIsBlocked) {
  PollerThread poller(reactor());
  for (int round = 0; round < 20; ++round) {
    Pair p = Pair::sockets();
    write_byte(p.b);
    reactor().add(p.a, &tok_[0], kReadable);
    ASSERT_TRUE(poller.wait_for(&tok_[0], kReadable)) << "add, round " << round;
    EXPECT_EQ(drain(p.a), 1u);
    reactor().arm(p.a, &tok_[0], kReadable);
    write_byte(p.b);
    ASSERT_TRUE(poller.wait_for(&tok_[0], kReadable)) << "arm, round " << round;
    // Interest in the other direction, added by arm alone.
    reactor().arm(p.a, &tok_[0], kWritable);
    ASSERT_TRUE(poller.wait_for(&tok_[0], kWritable)) << "arm writable, round " << round;
    reactor().remove(p.a);
    p.close_a();  // right away: the libuv backend must not touch the fd any more
    poller.forget(&tok_[0]);
  }
}

// remove is synchronous in effect even while a poll is blocked: it deregisters the file before the
// caller closes the fd. Here the file outlives the fd (a dup keeps it open), so a registration
// still in the kernel after close could neither be removed by number nor told apart from a new fd
// that reuses the number.
TEST_P(ReactorTest, RemoveWhilePollIsBlockedDeregistersBeforeClose) {
  PollerThread poller(reactor());
  for (int round = 0; round < 20; ++round) {
    Pair old_pair = Pair::sockets();
    const int number = old_pair.a;
    const int keep = dup(old_pair.a);
    ASSERT_GE(keep, 0);
    reactor().add(old_pair.a, &tok_[0], kReadable);
    reactor().remove(old_pair.a);
    old_pair.close_a();
    Pair new_pair = Pair::sockets();
    if (new_pair.a != number) {
      ASSERT_EQ(dup3(new_pair.a, number, O_CLOEXEC), number);
      ::close(new_pair.a);
      new_pair.a = number;
    }
    reactor().add(new_pair.a, &tok_[1], kReadable);
    write_byte(old_pair.b);  // only the old file becomes readable
    write_byte(new_pair.b);
    ASSERT_TRUE(poller.wait_for(&tok_[1], kReadable)) << "round " << round;
    EXPECT_EQ(drain(new_pair.a), 1u);
    poller.forget(&tok_[0]);
    reactor().arm(new_pair.a, &tok_[1], kReadable);
    // The new registration must not hear about the old file any more.
    char c;
    EXPECT_EQ(::read(keep, &c, 1), 1);  // the old file's data is still there, unread
    write_byte(old_pair.b);
    EXPECT_FALSE(poller.wait_for(&tok_[1], kReadable, 20ms)) << "round " << round;
    EXPECT_FALSE(poller.wait_for(&tok_[0], kReadable | kWritable, 0ms)) << "round " << round;
    reactor().remove(new_pair.a);
    ::close(keep);
  }
}

// 200 fds, readiness spread over them in three waves; every written token and only those are
// reported, with poll()'s max smaller than the number of ready fds.
TEST_P(ReactorTest, TwoHundredFds) {
  constexpr int kFds = 200;
  std::vector<Pair> pipes;
  std::vector<int> tokens(kFds);
  for (int i = 0; i < kFds; ++i) {
    pipes.push_back(Pair::pipe());
    reactor().add(pipes.back().a, &tokens[i], kReadable);
  }
  std::array<ReactorEvent, 16> events;
  for (int wave = 0; wave < 3; ++wave) {
    std::set<void*> expected;
    for (int i = wave; i < kFds; i += 3) {
      write_byte(pipes[i].b);
      expected.insert(&tokens[i]);
    }
    std::set<void*> got;
    const auto deadline = Clock::now() + kPatience;
    while (got.size() < expected.size() && Clock::now() < deadline) {
      const std::size_t n = reactor().poll(events.data(), events.size(), 100'000'000);
      ASSERT_LE(n, events.size());
      for (std::size_t k = 0; k < n; ++k) {
        ASSERT_TRUE(expected.count(events[k].token)) << "wave " << wave << ": unexpected token";
        EXPECT_TRUE(events[k].ready & kReadable);
        got.insert(events[k].token);
      }
    }
    EXPECT_EQ(got, expected) << "wave " << wave;
    for (int i = wave; i < kFds; i += 3) {
      EXPECT_EQ(drain(pipes[i].a), 1u);
      reactor().arm(pipes[i].a, &tokens[i], kReadable);
    }
  }
  for (auto& p : pipes) reactor().remove(p.a);
}

// The arm-after-EAGAIN protocol of the layer above: drain to EAGAIN, arm, then a peer thread
// writes (racing with the arm and the poll); the poll must report it every time.
TEST_P(ReactorTest, ArmAfterEagainDoesNotLoseReadiness) {
  constexpr int kRounds = 300;
  Pair p = Pair::sockets();
  reactor().add(p.a, &tok_[0], kReadable);
  std::mutex mu;
  std::condition_variable cv;
  int go = 0;
  std::thread peer([&] {
    for (int i = 1; i <= kRounds; ++i) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return go >= i; });
      lock.unlock();
      write_byte(p.b);
    }
  });
  for (int i = 1; i <= kRounds; ++i) {
    drain(p.a);
    {
      std::lock_guard<std::mutex> lock(mu);
      go = i;
    }
    cv.notify_one();
    if (i % 2 == 0) std::this_thread::yield();  // vary which side of arm the write lands on
    reactor().arm(p.a, &tok_[0], kReadable);
    ASSERT_TRUE(poll_until(reactor(), &tok_[0], kReadable) & kReadable) << "round " << i;
  }
  peer.join();
  reactor().remove(p.a);
}

// The dangerous case for edge triggering: readiness already reported (its edge consumed) but not
// acted on; arming again must make a later poll report it again.
TEST_P(ReactorTest, ArmReportsReadinessThatWasAlreadyReported) {
  Pair p = Pair::sockets();
  reactor().add(p.a, &tok_[0], kReadable);
  write_byte(p.b);
  EXPECT_TRUE(poll_until(reactor(), &tok_[0], kReadable) & kReadable);
  for (int i = 0; i < 3; ++i) {
    reactor().arm(p.a, &tok_[0], kReadable);
    EXPECT_TRUE(poll_until(reactor(), &tok_[0], kReadable) & kReadable) << "re-arm " << i;
  }
  reactor().remove(p.a);
}

// reports_without_arm: with arm never called after add, every new readiness is still reported.
// Each round drains to EAGAIN, lets the peer write (racing with the poll), and polls until
// readable; then fills the socket to EAGAIN, lets the peer drain it, and polls until writable.
TEST_P(ReactorTest, WithoutArmEveryNewReadinessIsReported) {
  if (!reactor().reports_without_arm()) {
    EXPECT_EQ(GetParam(), ReactorKind::Libuv);
    GTEST_SKIP() << "the libuv backend needs arm() before every wait";
  }
  EXPECT_EQ(GetParam(), ReactorKind::Epoll);
  constexpr int kRounds = 200;
  Pair p = Pair::sockets();
  reactor().add(p.a, &tok_[0], kReadable | kWritable);
  std::mutex mu;
  std::condition_variable cv;
  int go = 0;  // odd: write a byte to p.a's peer; even: drain p.b
  std::thread peer([&] {
    for (int i = 1; i <= 2 * kRounds; ++i) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return go >= i; });
      lock.unlock();
      if (i % 2 == 1) {
        write_byte(p.b);
      } else {
        drain(p.b);
      }
    }
  });
  auto signal = [&](int i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      go = i;
    }
    cv.notify_one();
  };
  for (int i = 1; i <= kRounds; ++i) {
    drain(p.a);
    signal(2 * i - 1);
    ASSERT_TRUE(poll_until(reactor(), &tok_[0], kReadable) & kReadable) << "read round " << i;
    drain(p.a);
    fill(p.a);
    signal(2 * i);
    ASSERT_TRUE(poll_until(reactor(), &tok_[0], kWritable) & kWritable) << "write round " << i;
  }
  peer.join();
  reactor().remove(p.a);
}

// Writer side of the protocol: fill the socket to EAGAIN, arm writable, the peer drains.
TEST_P(ReactorTest, WritableAfterEagain) {
  Pair p = Pair::sockets();
  reactor().add(p.a, &tok_[0], kReadable | kWritable);
  EXPECT_TRUE(poll_until(reactor(), &tok_[0], kWritable) & kWritable);
  for (int round = 0; round < 5; ++round) {
    ASSERT_GT(fill(p.a), 0u);
    reactor().arm(p.a, &tok_[0], kWritable);
    std::thread reader([&] { drain(p.b); });
    reader.join();
    EXPECT_TRUE(poll_until(reactor(), &tok_[0], kWritable) & kWritable) << "round " << round;
  }
  reactor().remove(p.a);
}

// A reader and a writer of the same fd arm from different threads while another thread polls:
// neither direction's report is lost (the epoll backend's MOD decisions race here).
TEST_P(ReactorTest, ReaderAndWriterArmConcurrently) {
  constexpr int kRounds = 100;
  Pair p = Pair::sockets();
  reactor().add(p.a, &tok_[0], kReadable | kWritable);
  PollerThread poller(reactor());
  std::atomic<bool> failed{false};
  std::thread writer([&] {
    for (int i = 0; i < kRounds && !failed; ++i) {
      reactor().arm(p.a, &tok_[0], kWritable);
      if (!poller.wait_for(&tok_[0], kWritable)) {
        failed = true;
        ADD_FAILURE() << "writable lost, round " << i;
      }
    }
  });
  for (int i = 0; i < kRounds && !failed; ++i) {
    poller.forget(&tok_[0], kReadable);
    reactor().arm(p.a, &tok_[0], kReadable);
    write_byte(p.b);
    if (!poller.wait_for(&tok_[0], kReadable)) {
      failed = true;
      ADD_FAILURE() << "readable lost, round " << i;
    }
    EXPECT_EQ(drain(p.a), 1u);
  }
  writer.join();
  reactor().remove(p.a);
}

INSTANTIATE_TEST_SUITE_P(Backends, ReactorTest,
                         ::testing::Values(ReactorKind::Epoll, ReactorKind::Libuv),
                         [](const ::testing::TestParamInfo<ReactorKind>& info) {
                           return info.param == ReactorKind::Epoll ? "Epoll" : "Libuv";
                         });

}  // namespace
