// Randomized whole-runtime stress driven by seeds. From a seed, run_program builds and runs a
// random program: 1, 2 or 4 workers (sometimes migrate_every_switch), root tasks spawned from the
// main thread (some bound to tokens of a token tree), each running a random script of yield, sleep,
// nested spawn (every priority, some bound to tokens), join, timed wait, cancel, channel send/recv
// (timed and try forms), select, Mutex, SharedMutex, Semaphore, Event and token cancellation; a
// plain thread cancels random roots and tokens meanwhile. Tasks return, throw or end Cancelled.
//
// Invariants: every task's outcome (value, exception, cancellation) reaches its joiner exactly once
// and matches what the task itself did; every value a send delivered is received or drained exactly
// once (counts and sums); the mutex is exclusive and its counter adds up; the semaphore never has
// more holders than permits; the shared mutex never admits a reader beside a writer; the runtime's
// counters agree with the outcomes. A program that does not finish within a generous deadline
// aborts with its seed and the live fibers.
//
// CI runs a fixed seed list (scaled down under sanitizers). Soak: SPINDLE_SOAK_MINUTES=N runs new
// random seeds for N minutes and prints every failing seed; SPINDLE_STRESS_SEED=S replays one seed.
// docs/reliability.md, "Randomized whole-runtime stress".
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "spindle/spindle.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {

// TaskFailure is the exception a task throws on purpose; it carries the task's number.
struct TaskFailure {
  int id;
};

// Fate is what a task itself did, recorded before its outcome can reach the joiner.
enum Fate : std::uint8_t { kNotStarted, kStarted, kReturned, kThrew, kUnwound };

struct Params {
  std::uint64_t seed;
  std::uint32_t workers;
  bool migrate;
  int roots;
  int max_tasks;
  int max_steps;
  int channels;
};

Params params_for(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Params p{};
  p.seed = seed;
  static constexpr std::uint32_t kWorkers[] = {1, 2, 4};
  p.workers = kWorkers[rng() % 3];
  p.migrate = p.workers > 1 && rng() % 4 == 0;
  const int scale = spindle::test::kSanitized ? 2 : 1;
  p.roots = static_cast<int>(8 + rng() % 40) / scale;
  p.max_tasks = static_cast<int>(200 + rng() % 1200) / scale / (p.migrate ? 4 : 1);
  p.max_steps = static_cast<int>(6 + rng() % 20);
  p.channels = static_cast<int>(1 + rng() % 3);
  return p;
}

// World is the state one program shares: the objects its tasks use and what they record.
struct World {
  explicit World(const Params& params) : p(params) {
    for (int i = 0; i < p.channels; ++i) {
      chans.push_back(std::make_unique<spindle::Channel<std::uint64_t>>(i % 3 == 0 ? 0 : i));
    }
    for (int i = 0; i < 3; ++i) tokens.push_back(i == 0 ? root.child() : tokens[0].child());
    fate = std::make_unique<std::atomic<std::uint8_t>[]>(static_cast<std::size_t>(p.max_tasks));
    seen = std::make_unique<std::atomic<std::uint8_t>[]>(static_cast<std::size_t>(p.max_tasks));
  }

  void violation(const std::string& what) {
    std::lock_guard<std::mutex> g(report_mu);  // short, never blocks inside: fine in a fiber
    if (first_violation.empty()) first_violation = what;
    ++violations;
  }
  // new_id reserves a task number, or returns -1 once the program's task budget is spent.
  int new_id() {
    const int id = next_id.fetch_add(1);
    if (id >= p.max_tasks) {
      next_id.fetch_sub(1);
      return -1;
    }
    return id;
  }

  const Params p;
  std::vector<std::unique_ptr<spindle::Channel<std::uint64_t>>> chans;
  spindle::Mutex mu;
  long guarded = 0;  // only under mu
  std::atomic<long> guarded_want{0};
  std::atomic<int> inside{0};
  static constexpr int kPermits = 2;
  spindle::Semaphore sem{kPermits};
  std::atomic<int> holders{0};
  spindle::Event ev;
  spindle::SharedMutex rw;
  std::atomic<int> readers{0}, writer{0};
  spindle::CancellationToken root;
  std::vector<spindle::CancellationToken> tokens;
  std::atomic<int> next_id{0};
  std::unique_ptr<std::atomic<std::uint8_t>[]> fate, seen;
  std::atomic<std::uint64_t> sent_n{0}, sent_sum{0}, recv_n{0}, recv_sum{0};
  std::mutex report_mu;
  std::string first_violation;
  long violations = 0;
};

struct Child {
  spindle::JoinHandle<int> h;
  int id;
};

// join_once takes a child's outcome exactly once and checks it against the child's own record.
// It never throws Cancelled: wait(false) is not a cancellation point, and a join that throws
// Cancelled because the joiner's cooperative budget ran out is told apart by a second join.
void join_once(World& w, Child& c) {
  c.h.wait(false);
  enum { kValue, kFailure, kCancelled, kOther } got = kOther;
  int value = -1;
  try {
    value = c.h.join();
    got = kValue;
  } catch (const spindle::Cancelled&) {
    if (c.h.state() != spindle::TaskState::Cancelled) {
      try {  // the joiner's own cancellation: still joinable
        value = c.h.join();
        got = kValue;
      } catch (const TaskFailure& f) {
        got = f.id == c.id ? kFailure : kOther;
      }
    } else {
      try {
        (void)c.h.join();
      } catch (const spindle::Cancelled&) {  // the first join was the budget's
      } catch (const std::logic_error&) {    // the first join took the outcome
      }
      got = kCancelled;
    }
  } catch (const TaskFailure& f) {
    got = f.id == c.id ? kFailure : kOther;
  } catch (...) {
    got = kOther;
  }
  const std::uint8_t fate = w.fate[c.id].load();
  const bool ok = (got == kValue && value == c.id && fate == kReturned) ||
                  (got == kFailure && fate == kThrew) ||
                  (got == kCancelled && (fate == kNotStarted || fate == kUnwound));
  if (!ok) {
    w.violation("task " + std::to_string(c.id) + ": joiner saw outcome " + std::to_string(got) +
                " (value " + std::to_string(value) + ") but the task's fate is " +
                std::to_string(fate));
  }
  if (w.seen[c.id].fetch_add(1) != 0) {
    w.violation("task " + std::to_string(c.id) + " joined twice");
  }
}

int run_task(World& w, int id, std::uint64_t seed, int depth);

// spawn_child starts a task (random priority; sometimes bound to a token or unbound from its
// spawner's token) from a fiber, or returns false when the task budget is spent.
bool spawn_child(World& w, std::mt19937_64& rng, int depth, std::vector<Child>& kids) {
  const int id = w.new_id();
  if (id < 0) return false;
  spindle::SpawnOptions o;
  o.priority = static_cast<spindle::TaskPriority>(rng() % 4);
  if (rng() % 4 == 0) o.token = w.tokens[rng() % w.tokens.size()];
  o.inherit_token = rng() % 3 != 0;
  const std::uint64_t s = rng();
  World* wp = &w;
  kids.push_back(
      {spindle::spawn([wp, id, s, depth] { return run_task(*wp, id, s, depth + 1); }, o), id});
  return true;
}

// step runs one random operation of a task's script. Blocking calls may throw Cancelled.
void step(World& w, std::mt19937_64& rng, int id, int depth, std::vector<Child>& kids,
          std::uint32_t& seq) {
  auto& ch = *w.chans[rng() % w.chans.size()];
  const auto t = std::chrono::microseconds(rng() % 300);
  switch (rng() % 20) {
    case 0:
      spindle::this_fiber::yield();
      break;
    case 1:
      spindle::this_fiber::sleep_for(t);
      break;
    case 2:
    case 3:
    case 14:
    case 15:
      if (depth < 4) spawn_child(w, rng, depth, kids);
      break;
    case 4:
      if (!kids.empty()) {
        const std::size_t i = rng() % kids.size();
        join_once(w, kids[i]);
        kids.erase(kids.begin() + static_cast<std::ptrdiff_t>(i));
      }
      break;
    case 5:
      if (!kids.empty()) kids[rng() % kids.size()].h.cancel();
      break;
    case 6:
      if (!kids.empty()) (void)kids[rng() % kids.size()].h.wait_for(t);  // Cancelled: ours
      break;
    case 7: {
      const std::uint64_t v = (std::uint64_t(id) << 32) | ++seq;
      auto r = rng() % 2 ? ch.send_for(v, t) : ch.try_send(v);
      if (r) {
        w.sent_n += 1;
        w.sent_sum += v;
      } else if (r.error() == spindle::ChannelError::Cancelled) {
        throw spindle::Cancelled{};
      }
      break;
    }
    case 8: {
      auto r = rng() % 2 ? ch.recv_for(t) : ch.try_recv();
      if (r) {
        w.recv_n += 1;
        w.recv_sum += *r;
      } else if (r.error() == spindle::ChannelError::Cancelled) {
        throw spindle::Cancelled{};
      }
      break;
    }
    case 9: {
      auto& other = *w.chans[rng() % w.chans.size()];
      std::uint64_t v = (std::uint64_t(id) << 32) | ++seq;
      auto r = spindle::select(spindle::recv_case(ch), spindle::send_case(other, std::move(v)),
                               spindle::timeout(t));
      if (r.cancelled()) throw spindle::Cancelled{};
      if (r.index() == 0 && r.get<0>()) {
        w.recv_n += 1;
        w.recv_sum += *r.get<0>();
      } else if (r.index() == 1 && r.get<1>()) {
        w.sent_n += 1;
        w.sent_sum += (std::uint64_t(id) << 32) | seq;
      }
      break;
    }
    case 10: {
      std::lock_guard<spindle::Mutex> g(w.mu);
      if (w.inside.exchange(1) != 0) w.violation("two owners of the mutex");
      ++w.guarded;
      w.guarded_want += 1;
      if (rng() % 2) spindle::this_fiber::yield();  // not a cancellation point
      w.inside.store(0);
      break;
    }
    case 11:
      if (w.sem.try_acquire_for(t)) {
        if (w.holders.fetch_add(1) + 1 > World::kPermits) w.violation("semaphore over-acquired");
        spindle::this_fiber::yield();
        w.holders.fetch_sub(1);
        w.sem.release();
      }
      break;
    case 12:
      if (rng() % 96 == 0) w.tokens[rng() % w.tokens.size()].cancel();
      break;
    case 16:
      if (w.ev.wait_for(t) && !w.ev.is_set()) w.violation("Event::wait_for true, event not set");
      break;
    case 17:
      if (rng() % 16 == 0) w.ev.set();
      break;
    case 18: {
      std::shared_lock<spindle::SharedMutex> g(w.rw);
      if (w.writer.load() != 0) w.violation("a reader inside with a writer");
      w.readers += 1;
      spindle::this_fiber::yield();
      w.readers -= 1;
      break;
    }
    case 19: {
      std::unique_lock<spindle::SharedMutex> g(w.rw);
      if (w.writer.exchange(1) != 0 || w.readers.load() != 0) w.violation("writer not exclusive");
      spindle::this_fiber::yield();
      w.writer.store(0);
      break;
    }
    default:
      if (spindle::this_fiber::is_cancelled() && rng() % 2) throw spindle::Cancelled{};
      break;
  }
}

int run_task(World& w, int id, std::uint64_t seed, int depth) {
  w.fate[id] = kStarted;
  std::vector<Child> kids;
  try {
    std::mt19937_64 rng(seed);
    std::uint32_t seq = 0;
    const int steps = 1 + static_cast<int>(rng() % static_cast<std::uint64_t>(w.p.max_steps));
    for (int i = 0; i < steps; ++i) step(w, rng, id, depth, kids, seq);
    for (auto& k : kids) join_once(w, k);
    if (rng() % 8 == 0) {
      w.fate[id] = kThrew;
      throw TaskFailure{id};
    }
    w.fate[id] = kReturned;
    return id;
  } catch (const spindle::Cancelled&) {
    for (auto& k : kids) k.h.cancel();
    for (auto& k : kids) {
      if (w.seen[k.id].load() == 0) join_once(w, k);
    }
    w.fate[id] = kUnwound;
    throw;
  }
}

struct Result {
  bool ok = true;
  std::string why;
  std::uint64_t tasks = 0;
  std::string detail;
};

// run_program runs the program of `seed` and checks its invariants. A hang aborts the process
// with the seed and the live fibers (the runtime cannot be torn down safely under a hung program).
Result run_program(std::uint64_t seed) {
  const Params p = params_for(seed);
  World w(p);
  spindle::AsyncRuntimeConfig cfg;
  cfg.worker_threads = p.workers;
  cfg.migrate_every_switch = p.migrate;
  cfg.schedule_seed = seed;
  cfg.queue_capacity = 16;  // overflow to the global queue, stealing
  spindle::AsyncRuntime rt(cfg);
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
  std::vector<Child> roots;
  for (int i = 0; i < p.roots; ++i) {
    const int id = w.new_id();
    if (id < 0) break;
    spindle::SpawnOptions o;
    o.priority = static_cast<spindle::TaskPriority>(rng() % 4);
    if (rng() % 3 == 0) o.token = w.tokens[rng() % w.tokens.size()];
    const std::uint64_t s = rng();
    roots.push_back({rt.spawn([&w, id, s] { return run_task(w, id, s, 0); }, o), id});
  }
  std::atomic<bool> stop{false};
  std::thread canceller([&, s = rng()] {
    std::mt19937_64 r(s);
    for (int i = 0; i < 2 + p.roots / 8 && !stop.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds(r() % 2000));
      if (r() % 3 == 0) {
        w.tokens[r() % w.tokens.size()].cancel();
      } else if (!roots.empty()) {
        roots[r() % roots.size()].h.cancel();
      }
    }
  });
  const auto limit = spindle::test::kSanitized ? 240s : 60s;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (auto& r : roots) {
    if (!r.h.wait_until(deadline)) {
      std::fprintf(stderr, "random_program: seed %llu hangs (no end within %lld s); live fibers:\n",
                   static_cast<unsigned long long>(seed), static_cast<long long>(limit.count()));
      for (const auto& f : rt.fibers()) {
        std::fprintf(stderr, "  fiber %llu %s\n", static_cast<unsigned long long>(f.id.value),
                     spindle::to_string(f.state));
      }
      std::fprintf(stderr, "replay: SPINDLE_STRESS_SEED=%llu\n",
                   static_cast<unsigned long long>(seed));
      std::abort();
    }
    join_once(w, r);
  }
  stop = true;
  canceller.join();
  Result res;
  auto fail = [&](const std::string& why) {
    if (res.ok) res.why = "seed " + std::to_string(seed) + ": " + why;
    res.ok = false;
  };
  // Channels: whatever was sent and not received is still buffered.
  std::uint64_t drained_n = 0, drained_sum = 0;
  for (auto& c : w.chans) {
    c->close();
    while (auto v = c->try_recv()) {
      ++drained_n;
      drained_sum += *v;
    }
  }
  if (w.recv_n + drained_n != w.sent_n || w.recv_sum + drained_sum != w.sent_sum) {
    fail("channel values: sent " + std::to_string(w.sent_n) + ", received " +
         std::to_string(w.recv_n) + " + drained " + std::to_string(drained_n));
  }
  rt.shutdown();
  const int n = w.next_id.load();
  std::uint64_t returned = 0, threw = 0, cancelled = 0;
  for (int i = 0; i < n; ++i) {
    if (w.seen[i].load() != 1)
      fail("task " + std::to_string(i) + " joined " + std::to_string(w.seen[i].load()) + " times");
    const std::uint8_t f = w.fate[i].load();
    returned += f == kReturned;
    threw += f == kThrew;
    cancelled += f == kNotStarted || f == kUnwound;
  }
  if (w.violations != 0)
    fail(std::to_string(w.violations) + " violations, first: " + w.first_violation);
  if (w.guarded != w.guarded_want.load()) fail("mutex-guarded counter lost updates");
  const spindle::RuntimeStats s = rt.stats();
  if (s.spawned_tasks != static_cast<std::uint64_t>(n) || s.active_tasks != 0 ||
      s.completed_tasks != returned || s.failed_tasks != threw || s.cancelled_tasks != cancelled) {
    fail("stats: spawned " + std::to_string(s.spawned_tasks) + " (tasks " + std::to_string(n) +
         "), completed " + std::to_string(s.completed_tasks) + " (returned " +
         std::to_string(returned) + "), failed " + std::to_string(s.failed_tasks) + " (threw " +
         std::to_string(threw) + "), cancelled " + std::to_string(s.cancelled_tasks) + " (" +
         std::to_string(cancelled) + "), active " + std::to_string(s.active_tasks));
  }
  res.tasks = static_cast<std::uint64_t>(n);
  res.detail = std::to_string(p.workers) + " workers" + (p.migrate ? " (migrating)" : "") + ", " +
               std::to_string(n) + " tasks: " + std::to_string(returned) + " returned, " +
               std::to_string(threw) + " threw, " + std::to_string(cancelled) + " cancelled; " +
               std::to_string(w.sent_n) + " values sent";
  return res;
}

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

TEST(RandomProgram, FixedSeeds) {
  const std::uint64_t seeds = spindle::test::kSanitized ? 16 : 64;
  std::uint64_t tasks = 0;
  for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
    const Result r = run_program(seed);
    EXPECT_TRUE(r.ok) << r.why << "\n  replay: SPINDLE_STRESS_SEED=" << seed
                      << " random_program_test --gtest_filter=RandomProgram.Replay";
    tasks += r.tasks;
  }
  std::printf("random_program: %llu seeds, %llu tasks\n", static_cast<unsigned long long>(seeds),
              static_cast<unsigned long long>(tasks));
}

// Replay: SPINDLE_STRESS_SEED=S runs the program of seed S (skipped otherwise).
TEST(RandomProgram, Replay) {
  const std::uint64_t seed = env_u64("SPINDLE_STRESS_SEED", 0);
  if (seed == 0) GTEST_SKIP() << "set SPINDLE_STRESS_SEED";
  const Result r = run_program(seed);
  EXPECT_TRUE(r.ok) << r.why;
  std::printf("random_program: seed %llu: %s\n", static_cast<unsigned long long>(seed),
              r.detail.c_str());
}

// Soak: SPINDLE_SOAK_MINUTES=N runs new random seeds for N minutes, printing each failing seed
// (skipped otherwise).
TEST(RandomProgram, Soak) {
  const std::uint64_t minutes = env_u64("SPINDLE_SOAK_MINUTES", 0);
  if (minutes == 0) GTEST_SKIP() << "set SPINDLE_SOAK_MINUTES";
  const auto end = std::chrono::steady_clock::now() + std::chrono::minutes(minutes);
  std::mt19937_64 pick(std::random_device{}());
  std::uint64_t seeds = 0, tasks = 0, failures = 0;
  while (std::chrono::steady_clock::now() < end) {
    const std::uint64_t seed = pick() | 1;  // never 0 (0 means "unset" to Replay)
    const Result r = run_program(seed);
    ++seeds;
    tasks += r.tasks;
    if (!r.ok) {
      ++failures;
      std::printf("random_program: FAILED %s\n  replay: SPINDLE_STRESS_SEED=%llu\n", r.why.c_str(),
                  static_cast<unsigned long long>(seed));
      std::fflush(stdout);
    }
  }
  std::printf("random_program soak: %llu minutes, %llu seeds, %llu tasks, %llu failing seeds\n",
              static_cast<unsigned long long>(minutes), static_cast<unsigned long long>(seeds),
              static_cast<unsigned long long>(tasks), static_cast<unsigned long long>(failures));
  EXPECT_EQ(failures, 0u);
}

}  // namespace
