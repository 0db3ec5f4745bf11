// local_queue_test.cpp: unit and stress tests for spindle::detail::LocalQueue.
#include "detail/local_queue.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using spindle::detail::LocalQueue;

// Item is what the stress test queues: the owner writes `payload` before pushing and the single
// consumer reads it and writes `taken_by`, both non-atomically, so TSan reports a missing
// happens-before edge.
struct Item {
  std::uint64_t payload = 0;
  int taken_by = -1;
};

// P turns a small integer into a distinct non-null pointer for single-threaded tests.
int* P(std::uintptr_t i) {
  return reinterpret_cast<int*>(i + 1);
}
// Id is the inverse of P.
std::uintptr_t Id(int* p) {
  return reinterpret_cast<std::uintptr_t>(p) - 1;
}

// Fill pushes ids [first, first+n) and expects all to fit.
void Fill(LocalQueue<int*>& q, std::uintptr_t first, std::uintptr_t n) {
  for (std::uintptr_t i = 0; i < n; ++i) ASSERT_TRUE(q.push(P(first + i))) << "item " << i;
}

TEST(LocalQueue, FifoFullAndEmpty) {
  LocalQueue<int*> q(8);
  EXPECT_EQ(q.capacity(), 8u);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.pop(), nullptr);
  Fill(q, 0, 8);
  EXPECT_EQ(q.size(), 8u);
  EXPECT_FALSE(q.push(P(99)));  // full: unchanged
  EXPECT_EQ(q.size(), 8u);
  for (std::uintptr_t i = 0; i < 8; ++i) {
    EXPECT_EQ(q.size(), 8 - i);
    EXPECT_EQ(Id(q.pop()), i);
  }
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.pop(), nullptr);
}

TEST(LocalQueue, PushBatchPartial) {
  LocalQueue<int*> q(4);
  ASSERT_TRUE(q.push(P(0)));
  int* batch[5] = {P(1), P(2), P(3), P(4), P(5)};
  EXPECT_EQ(q.push_batch(batch, 5), 3u);
  EXPECT_EQ(q.push_batch(batch + 3, 2), 0u);  // full
  EXPECT_EQ(q.push_batch(batch, 0), 0u);
  for (std::uintptr_t i = 0; i < 4; ++i) EXPECT_EQ(Id(q.pop()), i);
  EXPECT_EQ(q.push_batch(batch + 3, 2), 2u);
  EXPECT_EQ(Id(q.pop()), 4u);
  EXPECT_EQ(Id(q.pop()), 5u);
  EXPECT_EQ(q.pop(), nullptr);
}

TEST(LocalQueue, PopHalfCounts) {
  for (std::uintptr_t len = 0; len <= 8; ++len) {
    SCOPED_TRACE("len=" + std::to_string(len));
    LocalQueue<int*> q(8);
    Fill(q, 100, 3);  // move head/tail off zero so the claimed range wraps
    for (int i = 0; i < 3; ++i) q.pop();
    Fill(q, 0, len);
    int* out[8] = {};
    const std::size_t want = (len + 1) / 2;
    ASSERT_EQ(q.pop_half(out, 8), want);
    for (std::size_t i = 0; i < want; ++i) EXPECT_EQ(Id(out[i]), i);
    EXPECT_EQ(q.size(), len - want);
    for (std::uintptr_t i = want; i < len; ++i) EXPECT_EQ(Id(q.pop()), i);
    EXPECT_TRUE(q.empty());
  }
  LocalQueue<int*> q(8);
  Fill(q, 0, 7);
  int* out[8] = {};
  EXPECT_EQ(q.pop_half(out, 0), 0u);
  EXPECT_EQ(q.pop_half(out, 2), 2u);  // capped by max
  EXPECT_EQ(Id(out[0]), 0u);
  EXPECT_EQ(Id(out[1]), 1u);
  EXPECT_EQ(q.size(), 5u);
}

TEST(LocalQueue, StealHalfFifo) {
  LocalQueue<int*> victim(8), dst(8);
  Fill(victim, 0, 7);
  EXPECT_EQ(victim.steal_half_into(dst, nullptr), 4u);
  EXPECT_EQ(victim.size(), 3u);
  EXPECT_EQ(dst.size(), 4u);
  for (std::uintptr_t i = 0; i < 4; ++i) EXPECT_EQ(Id(dst.pop()), i);
  for (std::uintptr_t i = 4; i < 7; ++i) EXPECT_EQ(Id(victim.pop()), i);
  EXPECT_EQ(victim.steal_half_into(dst, nullptr), 0u);  // empty victim
  Fill(victim, 10, 1);
  EXPECT_EQ(victim.steal_half_into(dst, nullptr), 1u);  // ceil(1/2)
  EXPECT_EQ(Id(dst.pop()), 10u);
  EXPECT_TRUE(victim.empty());
}

TEST(LocalQueue, StealHalfFirstOut) {
  LocalQueue<int*> victim(8), dst(8);
  Fill(victim, 0, 8);
  int* first = nullptr;
  EXPECT_EQ(victim.steal_half_into(dst, &first), 4u);
  EXPECT_EQ(Id(first), 0u);  // the oldest is handed back, the rest follow in order
  EXPECT_EQ(dst.size(), 3u);
  for (std::uintptr_t i = 1; i < 4; ++i) EXPECT_EQ(Id(dst.pop()), i);
  first = P(77);
  LocalQueue<int*> empty(2);
  EXPECT_EQ(empty.steal_half_into(dst, &first), 0u);
  EXPECT_EQ(Id(first), 77u);  // untouched when nothing was taken
  LocalQueue<int*> one(2);
  Fill(one, 5, 1);
  EXPECT_EQ(one.steal_half_into(dst, &first), 1u);
  EXPECT_EQ(Id(first), 5u);
  EXPECT_TRUE(dst.empty());  // nothing left over to publish
}

TEST(LocalQueue, StealRespectsDstSpace) {
  LocalQueue<int*> victim(16), dst(4);
  Fill(victim, 0, 16);
  Fill(dst, 100, 3);  // one free slot
  EXPECT_EQ(victim.steal_half_into(dst, nullptr), 1u);
  EXPECT_EQ(dst.size(), 4u);
  EXPECT_EQ(victim.steal_half_into(dst, nullptr), 0u);  // dst full
  int* first = nullptr;
  EXPECT_EQ(victim.steal_half_into(dst, &first), 1u);  // full dst, but first_out needs no slot
  EXPECT_EQ(Id(first), 1u);
  for (std::uintptr_t i = 100; i < 103; ++i) EXPECT_EQ(Id(dst.pop()), i);
  EXPECT_EQ(Id(dst.pop()), 0u);
  dst.push(P(200));  // 1 used, 3 free: with first_out up to 4 may be taken (ceil(14/2) = 7)
  EXPECT_EQ(victim.steal_half_into(dst, &first), 4u);
  EXPECT_EQ(Id(first), 2u);
  EXPECT_EQ(dst.size(), 4u);
  EXPECT_EQ(Id(dst.pop()), 200u);
  for (std::uintptr_t i = 3; i < 6; ++i) EXPECT_EQ(Id(dst.pop()), i);
  EXPECT_EQ(victim.size(), 10u);
}

// ModelWraparound runs random single-threaded operations on two queues against std::deque models.
// Small capacities make the 64-bit indices wrap the slot array many thousand times.
void ModelWraparound(std::uint32_t cap, std::uint64_t seed) {
  SCOPED_TRACE("cap=" + std::to_string(cap) + " seed=" + std::to_string(seed));
  LocalQueue<int*> a(cap), b(cap);
  std::deque<int*> ma, mb;
  std::mt19937_64 rng(seed);
  std::uintptr_t next = 0;
  std::vector<int*> buf(cap);
  for (int step = 0; step < 40000; ++step) {
    const bool on_a = rng() & 1;
    LocalQueue<int*>& q = on_a ? a : b;
    LocalQueue<int*>& other = on_a ? b : a;
    std::deque<int*>& m = on_a ? ma : mb;
    std::deque<int*>& mo = on_a ? mb : ma;
    switch (rng() % 6) {
      case 0:
      case 1: {
        const bool ok = q.push(P(next));
        ASSERT_EQ(ok, m.size() < cap);
        if (ok) m.push_back(P(next));
        ++next;
        break;
      }
      case 2: {
        const std::size_t n = rng() % (cap + 2);
        for (std::size_t i = 0; i < n && i < cap; ++i) buf[i] = P(next + i);
        const std::size_t pushed = q.push_batch(buf.data(), std::min<std::size_t>(n, cap));
        ASSERT_EQ(pushed, std::min<std::size_t>({n, cap, cap - m.size()}));
        for (std::size_t i = 0; i < pushed; ++i) m.push_back(buf[i]);
        next += cap;
        break;
      }
      case 3: {
        int* got = q.pop();
        if (m.empty()) {
          ASSERT_EQ(got, nullptr);
        } else {
          ASSERT_EQ(got, m.front());
          m.pop_front();
        }
        break;
      }
      case 4: {
        const std::size_t max = rng() % (cap + 1);
        const std::size_t n = q.pop_half(buf.data(), max);
        ASSERT_EQ(n, std::min((m.size() + 1) / 2, max));
        for (std::size_t i = 0; i < n; ++i, m.pop_front()) ASSERT_EQ(buf[i], m.front());
        break;
      }
      case 5: {  // `other` steals from `q`
        int* first = nullptr;
        const bool use_first = rng() & 1;
        const std::size_t room = cap - mo.size() + (use_first ? 1 : 0);
        const std::size_t want = std::min((m.size() + 1) / 2, room);
        ASSERT_EQ(q.steal_half_into(other, use_first ? &first : nullptr), want);
        for (std::size_t i = 0; i < want; ++i, m.pop_front()) {
          if (i == 0 && use_first) {
            ASSERT_EQ(first, m.front());
          } else {
            mo.push_back(m.front());
          }
        }
        break;
      }
    }
    ASSERT_EQ(q.size(), m.size());
    ASSERT_EQ(q.empty(), m.empty());
    ASSERT_EQ(other.size(), mo.size());
  }
}

TEST(LocalQueue, ModelWraparoundCap2) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) ModelWraparound(2, seed);
}
TEST(LocalQueue, ModelWraparoundCap4) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) ModelWraparound(4, seed);
}
TEST(LocalQueue, ModelWraparoundCap64) {
  ModelWraparound(64, 7);
}

TEST(LocalQueueDeathTest, RejectsBadCapacity) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEBUG_DEATH(LocalQueue<int*>(3), "power of two");
  EXPECT_DEBUG_DEATH(LocalQueue<int*>(1), "power of two");
}

#if defined(__SANITIZE_THREAD__)
constexpr bool kTsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kTsan = true;
#else
constexpr bool kTsan = false;
#endif
#else
constexpr bool kTsan = false;
#endif

// StressItems is the number of items one stress case pushes; SPINDLE_LQ_ITEMS overrides it.
std::size_t StressItems() {
  if (const char* env = std::getenv("SPINDLE_LQ_ITEMS")) return std::strtoull(env, nullptr, 10);
  return kTsan ? 300000 : 1000000;
}

// Stress: one owner pushes unique items and pops / pop_halfs them; kThieves thieves steal from the
// owner and from each other (chained stealing) into their own queues, which they drain slowly.
// Every item must be consumed exactly once.
// StressParam is (capacity, seed).
using StressParam = std::tuple<std::uint32_t, std::uint64_t>;
class LocalQueueStress : public ::testing::TestWithParam<StressParam> {};

TEST_P(LocalQueueStress, EachItemTakenOnce) {
  constexpr int kThieves = 3;
  const auto [cap, param_seed] = GetParam();
  std::uint64_t seed = param_seed;
  if (const char* env = std::getenv("SPINDLE_LQ_SEED")) seed = std::strtoull(env, nullptr, 10);
  SCOPED_TRACE("cap=" + std::to_string(cap) + " seed=" + std::to_string(seed) +
               " (rerun with SPINDLE_LQ_SEED)");
  const std::size_t total = StressItems();
  std::vector<Item> items(total);
  std::unique_ptr<std::atomic<std::uint32_t>[]> taken(new std::atomic<std::uint32_t>[total]());
  std::atomic<std::size_t> consumed{0};
  std::atomic<bool> done{false};
  std::atomic<std::size_t> bad{0};  // invalid pointers seen (counted, reported after join)

  LocalQueue<Item*> owner_q(cap);
  std::vector<std::unique_ptr<LocalQueue<Item*>>> thief_q;
  for (int i = 0; i < kThieves; ++i) thief_q.push_back(std::make_unique<LocalQueue<Item*>>(cap));

  auto consume = [&](Item* it, int who) {
    if (it < items.data() || it >= items.data() + total) {
      bad.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const std::size_t idx = static_cast<std::size_t>(it - items.data());
    if (it->payload != idx * 2654435761u + 1) bad.fetch_add(1, std::memory_order_relaxed);
    it->taken_by = who;  // racy write if an item were handed out twice
    taken[idx].fetch_add(1, std::memory_order_relaxed);
    consumed.fetch_add(1, std::memory_order_relaxed);
  };

  std::atomic<int> started{0};         // start gate: the owner waits until every thief runs
  std::atomic<std::size_t> stolen{0};  // items moved by successful steals (reported, not asserted)
  auto thief = [&](int me) {
    std::mt19937_64 rng(seed * 1000 + static_cast<std::uint64_t>(me));
    started.fetch_add(1);
    LocalQueue<Item*>& mine = *thief_q[me];
    // A thief stops once the owner is done and every queue looks empty. Its own queue is exact
    // (only it fills it), so nothing is stranded: items another thief holds are drained by that
    // thief.
    auto all_empty = [&] {
      if (!mine.empty() || !owner_q.empty()) return false;
      for (auto& q : thief_q) {
        if (!q->empty()) return false;
      }
      return true;
    };
    while (!(done.load(std::memory_order_acquire) && all_empty())) {
      const unsigned r = rng() % 8;
      if (r < 4) {
        const int v = static_cast<int>(rng() % (kThieves + 1)) - 1;  // -1 = owner
        if (v == me) continue;
        LocalQueue<Item*>& victim = v < 0 ? owner_q : *thief_q[v];
        Item* first = nullptr;
        const bool use_first = rng() & 1;
        const std::size_t n = victim.steal_half_into(mine, use_first ? &first : nullptr);
        stolen.fetch_add(n, std::memory_order_relaxed);
        if (n > 0 && use_first) consume(first, me);
      } else if (r < 7) {
        if (Item* it = mine.pop()) consume(it, me);
      } else if ((rng() & 15) == 0) {
        std::this_thread::yield();
      }
    }
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < kThieves; ++i) threads.emplace_back(thief, i);

  while (started.load() != kThieves) std::this_thread::yield();
  std::mt19937_64 rng(seed);
  std::vector<Item*> buf(cap);
  std::size_t next = 0;
  auto make = [&](std::size_t i) {
    items[i].payload = i * 2654435761u + 1;
    return &items[i];
  };
  while (next < total) {
    const unsigned r = rng() % 16;
    if (r < 8) {
      Item* it = make(next);
      if (owner_q.push(it)) {
        ++next;
      } else {  // full: half goes "to the global queue" (consumed here)
        const std::size_t n = owner_q.pop_half(buf.data(), cap);
        for (std::size_t i = 0; i < n; ++i) consume(buf[i], kThieves);
      }
    } else if (r < 11) {
      std::size_t n = std::min<std::size_t>(rng() % (cap + 1), total - next);
      for (std::size_t i = 0; i < n; ++i) buf[i] = make(next + i);
      next += owner_q.push_batch(buf.data(), n);
    } else if (r < 14) {
      if (Item* it = owner_q.pop()) consume(it, kThieves);
    } else if (r < 15) {
      const std::size_t n = owner_q.pop_half(buf.data(), rng() % (cap + 1));
      for (std::size_t i = 0; i < n; ++i) consume(buf[i], kThieves);
    } else if ((rng() & 7) == 0) {
      std::this_thread::yield();
    }
  }
  while (Item* it = owner_q.pop()) consume(it, kThieves);
  done.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();

  std::printf("  cap=%u seed=%llu items=%zu stolen=%zu\n", cap,
              static_cast<unsigned long long>(seed), total, stolen.load());
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_EQ(consumed.load(), total);
  std::size_t lost = 0, doubled = 0;
  for (std::size_t i = 0; i < total; ++i) {
    const std::uint32_t c = taken[i].load();
    lost += c == 0;
    doubled += c > 1;
  }
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(doubled, 0u);
  EXPECT_TRUE(owner_q.empty());
  for (auto& q : thief_q) EXPECT_TRUE(q->empty());
}

INSTANTIATE_TEST_SUITE_P(CapsAndSeeds, LocalQueueStress,
                         ::testing::Combine(::testing::Values(2u, 4u, 8u, 256u),
                                            ::testing::Values(1u, 2u)),
                         [](auto const& info) {
                           return "cap" + std::to_string(std::get<0>(info.param)) + "_seed" +
                                  std::to_string(std::get<1>(info.param));
                         });

}  // namespace

namespace {

// pop_unshared is the owner's pop when no thread steals: FIFO, interleaves with push and pop_half.
TEST(LocalQueue, PopUnsharedIsFifoAndMixesWithOwnerOps) {
  spindle::detail::LocalQueue<int*> q(4);
  int items[16];
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(q.push(&items[i]));
    EXPECT_FALSE(q.push(&items[4]));
    EXPECT_EQ(q.pop_unshared(), &items[0]);
    EXPECT_EQ(q.pop(), &items[1]);
    EXPECT_EQ(q.pop_unshared(), &items[2]);
    EXPECT_EQ(q.size(), 1u);
    int* out[4];
    EXPECT_EQ(q.pop_half(out, 4), 1u);
    EXPECT_EQ(out[0], &items[3]);
    EXPECT_EQ(q.pop_unshared(), nullptr);
    EXPECT_TRUE(q.empty());
  }
}

}  // namespace
