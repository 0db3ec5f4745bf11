// Scheduling tests: priority order, the no-starvation rule, join / exit status / detach.
#include "harness.h"

using namespace spindle::cm;

namespace {

// --- priorities: all four ready at once run highest first; a yield keeps the top class running.
char g_log[16];
uint32_t g_log_len;
FiberSlot<512> g_prio_slots[4];

int prio_fiber(void* arg) {
  const char c = *static_cast<const char*>(arg);
  g_log[g_log_len++] = c;
  yield();
  g_log[g_log_len++] = c;
  return 0;
}

void case_priorities() {
  static const char names[4] = {'L', 'N', 'H', 'C'};
  const Priority prios[4] = {Priority::Low, Priority::Normal, Priority::High, Priority::Critical};
  for (int i = 0; i < 4; ++i) {
    CHECK(spawn(g_prio_slots[i], prio_fiber, const_cast<char*>(&names[i]), prios[i]));
  }
  run();
  g_log[g_log_len] = 0;
  test::write("order: ");
  test::write(g_log);
  test::write("\n");
  const char* want = "CCHHNNLL";
  for (uint32_t i = 0; i < 8; ++i) CHECK_EQ(g_log[i], want[i]);
  CHECK_EQ(g_log_len, 8);
}

// --- starvation: High fibers yield in a tight loop; lower fibers must still run within the bound
// of executor.h: (K + 1) * n decisions, n = number of starving lower fibers older than them.
constexpr uint32_t kK = SPINDLE_CM_STARVATION_LIMIT;
constexpr uint32_t kHighFibers = 3;
constexpr uint32_t kHighRounds = 400;
FiberSlot<512> g_high_slots[kHighFibers];
FiberSlot<512> g_low_slot;
FiberSlot<512> g_normal_slot;
uint32_t g_highs_alive;

struct LowStats {
  uint32_t runs;
  uint32_t max_gap;
};
LowStats g_low, g_normal;

int high_fiber(void*) {
  for (uint32_t i = 0; i < kHighRounds; ++i) yield();
  --g_highs_alive;
  return 0;
}

int starving_fiber(void* arg) {
  auto* st = static_cast<LowStats*>(arg);
  uint32_t last = stats().decisions;
  while (g_highs_alive > 0) {
    yield();
    const uint32_t now = stats().decisions;
    if (g_highs_alive > 0 && now - last > st->max_gap) st->max_gap = now - last;
    last = now;
    ++st->runs;
  }
  return 0;
}

void spawn_highs() {
  g_highs_alive = kHighFibers;
  for (uint32_t i = 0; i < kHighFibers; ++i) {
    CHECK(spawn(g_high_slots[i], high_fiber, nullptr, Priority::High, "high"));
  }
}

void case_starvation() {
  // One Low fiber under a flood of High ones: it runs every K + 1 decisions.
  spawn_highs();
  CHECK(spawn(g_low_slot, starving_fiber, &g_low, Priority::Low, "low"));
  run();
  test::write("lone Low: runs=");
  test::write_u32(g_low.runs);
  test::write(" max gap=");
  test::write_u32(g_low.max_gap);
  test::write(" decisions\n");
  CHECK(g_low.max_gap <= kK + 1);
  CHECK(g_low.runs >= kHighFibers * kHighRounds / (kK + 1) - 1);

  // A Normal and a Low fiber under the flood: the boosted decision alternates between them by age,
  // each runs within 2 (K + 1) decisions.
  g_low = {};
  g_normal = {};
  for (auto& slot : g_high_slots) detach(slot.fiber);  // finished, never joined: free the slots
  detach(g_low_slot.fiber);
  spawn_highs();
  CHECK(spawn(g_normal_slot, starving_fiber, &g_normal, Priority::Normal, "normal"));
  CHECK(spawn(g_low_slot, starving_fiber, &g_low, Priority::Low, "low"));
  run();
  test::write("Normal+Low: runs=");
  test::write_u32(g_normal.runs);
  test::write("/");
  test::write_u32(g_low.runs);
  test::write(" max gap=");
  test::write_u32(g_normal.max_gap);
  test::write("/");
  test::write_u32(g_low.max_gap);
  test::write("\n");
  CHECK(g_normal.max_gap <= 2 * (kK + 1));
  CHECK(g_low.max_gap <= 2 * (kK + 1));
  CHECK(g_low.runs > 10 && g_normal.runs > 10);
}

// --- join and exit status.
FiberSlot<512> g_child[3];
FiberSlot<1024> g_parent;
uint32_t g_events;

[[noreturn]] void nested_exit(int status) {
  spindle::cm::exit(status);
}

int parent_fiber(void*) {
  // Status from the entry's return value; join blocks until the child finishes.
  CHECK(spawn(
      g_child[0],
      [](void*) -> int {
        sleep_until(now_ticks() + 3);
        g_events |= 1;
        return 42;
      },
      nullptr, Priority::Normal, "ret42"));
  CHECK(!spawn(
      g_child[0], [](void*) -> int { return 0; }, nullptr));  // slot busy
  const Tick t0 = now_ticks();
  CHECK_EQ(join(g_child[0].fiber), 42);
  CHECK_EQ(g_events & 1, 1);
  CHECK(now_ticks() - t0 >= 3);
  CHECK(state(g_child[0].fiber) == FiberState::Free);

  // Status from exit() deep inside the fiber; the slot is reusable after join.
  CHECK(spawn(
      g_child[0], [](void*) -> int { nested_exit(-7); }, nullptr, Priority::High));
  CHECK_EQ(join(g_child[0].fiber), static_cast<uint32_t>(-7));

  // Joining a fiber that already finished returns at once.
  CHECK(spawn(
      g_child[1], [](void*) -> int { return 5; }, nullptr, Priority::Critical));
  yield();  // the Critical child runs and finishes
  CHECK(state(g_child[1].fiber) == FiberState::Done);
  const uint32_t sw = stats().switches;
  CHECK_EQ(join(g_child[1].fiber), 5);
  CHECK_EQ(stats().switches, sw);

  // A detached fiber frees its slot by itself.
  CHECK(spawn(
      g_child[2],
      [](void*) -> int {
        g_events |= 2;
        return 1;
      },
      nullptr));
  detach(g_child[2].fiber);
  sleep_until(now_ticks() + 2);
  CHECK_EQ(g_events & 2, 2);
  CHECK(state(g_child[2].fiber) == FiberState::Free);
  return 99;
}

void case_join() {
  CHECK(spawn(g_parent, parent_fiber, nullptr, Priority::Normal, "parent"));
  run();
  CHECK(state(g_parent.fiber) == FiberState::Done);
  CHECK_EQ(g_parent.fiber.exit_status, 99);
}

}  // namespace

extern const TestCase kSchedCases[] = {
    {"priorities", case_priorities},
    {"starvation", case_starvation},
    {"join", case_join},
    {nullptr, nullptr},
};
