// Scheduling tests: priority order, the no-starvation rule (the one shared with the host runtime),
// join / exit status / detach.
#include "harness.h"
#include "spindle/platform/priority_policy.hpp"  // the shared rule, the reference

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

// --- starvation: the no-starvation rule shared with the host runtime
// (platform/include/spindle/platform/priority_policy.hpp). Driver fibers at the top level yield in
// a tight loop while one fiber per lower level spins with a yield; every fiber records which level
// each decision served. While every fiber is alive the ready mask is constant, so the trace must
// equal the choices of a reference PriorityPolicy (an instance of its own, fed the same masks
// through the host runtime's entry point, choose(local, global)), a level below Critical must be
// served at least once in every SPINDLE_CM_STARVATION_BOUND (24) decisions, and Critical must get
// at least 7 of every 8 decisions.
using spindle::platform::PriorityPolicy;
static_assert(SPINDLE_CM_FAIRNESS_INTERVAL == PriorityPolicy::kFairnessInterval,
              "the port's fairness interval is the shared rule's");
static_assert(SPINDLE_CM_STARVATION_BOUND == PriorityPolicy::kStarvationBound,
              "the port's starvation bound is the shared rule's");
constexpr uint32_t kBound = SPINDLE_CM_STARVATION_BOUND;
constexpr uint32_t kDriverRounds = 400;
constexpr uint32_t kMaxDrivers = 3;
constexpr uint32_t kTraceLen = 2048;
FiberSlot<512> g_driver_slots[kMaxDrivers];
FiberSlot<512> g_lower_slots[3];  // one spinning fiber per level below the drivers'
uint32_t g_drivers_alive;
bool g_tracing;
uint32_t g_trace_base;       // stats().decisions before the scenario's first decision
uint32_t g_trace_len;        // decisions traced: base + 1 .. base + len
uint8_t g_trace[kTraceLen];  // level + 1 served by decision base + 1 + i (0: not recorded)

// record: notes that the decision which resumed (or started) the calling fiber served `level`.
void record(Priority level) {
  if (!g_tracing) return;
  const uint32_t i = stats().decisions - g_trace_base - 1;
  CHECK(i < kTraceLen);
  g_trace[i] = static_cast<uint8_t>(static_cast<unsigned>(level) + 1);
  if (i + 1 > g_trace_len) g_trace_len = i + 1;
}

int driver_fiber(void* arg) {
  const Priority level = *static_cast<const Priority*>(arg);
  record(level);
  for (uint32_t i = 0; i < kDriverRounds; ++i) {
    yield();
    record(level);
  }
  g_tracing = false;  // the ready mask changes from here on
  --g_drivers_alive;
  return 0;
}

int spinning_fiber(void* arg) {
  const Priority level = *static_cast<const Priority*>(arg);
  record(level);
  while (g_drivers_alive > 0) {
    yield();
    record(level);
  }
  return 0;
}

// LevelStats: what one scenario measured for one level.
struct LevelStats {
  uint32_t runs;
  uint32_t max_gap;  // most decisions from one service of the level to the next (trace ends count)
};

// run_scenario: `drivers` fibers at `top` plus one spinning fiber per level in `lower` (a bit
// mask below `top`); checks the trace against the reference policy and returns per-level stats.
void run_scenario(Priority top, uint32_t drivers, uint32_t lower, LevelStats (&out)[4],
                  uint32_t& min_top_per_8) {
  static constexpr Priority kLevels[4] = {Priority::Low, Priority::Normal, Priority::High,
                                          Priority::Critical};
  const unsigned top_level = static_cast<unsigned>(top);
  for (auto& t : g_trace) t = 0;
  g_trace_len = 0;
  g_trace_base = stats().decisions;
  g_tracing = true;
  g_drivers_alive = drivers;
  for (uint32_t i = 0; i < drivers; ++i) {
    CHECK(spawn(g_driver_slots[i], driver_fiber, const_cast<Priority*>(&kLevels[top_level]), top,
                "driver"));
  }
  for (unsigned p = 0; p < top_level; ++p) {
    if ((lower & (1u << p)) == 0) continue;
    CHECK(spawn(g_lower_slots[p], spinning_fiber, const_cast<Priority*>(&kLevels[p]), kLevels[p],
                "spinner"));
  }
  run();
  for (uint32_t i = 0; i < drivers; ++i) detach(g_driver_slots[i].fiber);  // finished, unjoined
  for (auto& slot : g_lower_slots) detach(slot.fiber);
  CHECK(g_trace_len >= drivers * kDriverRounds);

  // The reference policy, brought to the executor's state: `base` decisions made so far, every 8th
  // of them a fairness turn (the earlier scenarios ran with other masks, which does not matter).
  const unsigned mask = lower | (1u << top_level);
  PriorityPolicy policy;
  for (uint32_t i = 0; i < g_trace_base; ++i) policy.choose(0xFu, 0);
  uint32_t last[4] = {0, 0, 0, 0};  // position (1-based) of the level's last service; 0: start
  for (auto& s : out) s = {};
  for (uint32_t i = 0; i < g_trace_len; ++i) {
    CHECK(g_trace[i] != 0);
    const unsigned level = g_trace[i] - 1u;
    const PriorityPolicy::Choice want = policy.choose(mask, 0);
    if (static_cast<unsigned>(want.level) != level) {
      test::write("mismatch at decision ");
      test::write_u32(g_trace_base + 1 + i);
      test::write("\n");
      test::fail_eq(__FILE__, __LINE__, "served level == reference PriorityPolicy level", level,
                    static_cast<uint32_t>(want.level));
    }
    ++out[level].runs;
    if (i + 1 - last[level] > out[level].max_gap) out[level].max_gap = i + 1 - last[level];
    last[level] = i + 1;
  }
  for (unsigned p = 0; p < 4; ++p) {
    if ((mask & (1u << p)) == 0) continue;
    const uint32_t tail = g_trace_len + 1 - last[p];  // as if served right after the trace
    if (tail > out[p].max_gap) out[p].max_gap = tail;
  }
  min_top_per_8 = SPINDLE_CM_FAIRNESS_INTERVAL;
  for (uint32_t i = 0; i + SPINDLE_CM_FAIRNESS_INTERVAL <= g_trace_len; ++i) {
    uint32_t n = 0;
    for (uint32_t j = 0; j < SPINDLE_CM_FAIRNESS_INTERVAL; ++j)
      n += (g_trace[i + j] - 1u == top_level) ? 1u : 0u;
    if (n < min_top_per_8) min_top_per_8 = n;
  }
  test::write("  ");
  test::write_u32(g_trace_len);
  test::write(" decisions match the reference PriorityPolicy; runs/max gap:");
  static const char* const kNames[4] = {" Low ", " Normal ", " High ", " Critical "};
  for (unsigned p = 0; p < 4; ++p) {
    if ((mask & (1u << p)) == 0) continue;
    test::write(kNames[p]);
    test::write_u32(out[p].runs);
    test::write("/");
    test::write_u32(out[p].max_gap);
  }
  test::write("; min top-level decisions per 8: ");
  test::write_u32(min_top_per_8);
  test::write("\n");
}

void case_starvation() {
  LevelStats st[4];
  uint32_t min_top = 0;
  constexpr unsigned kLow = 1u << 0, kNormal = 1u << 1, kHigh = 1u << 2;

  // One Low fiber under 3 busy High ones: served once in every 24 decisions (a fairness turn for
  // Low every third turn; the Normal turn has nothing ready, the High turn is the top level).
  test::write("lone Low under 3 High:\n");
  run_scenario(Priority::High, 3, kLow, st, min_top);
  CHECK(st[0].max_gap <= kBound);
  CHECK(st[0].runs >= 3 * kDriverRounds / kBound - 1);

  // A Normal and a Low fiber under 3 busy High ones: each within 24.
  test::write("Normal+Low under 3 High:\n");
  run_scenario(Priority::High, 3, kLow | kNormal, st, min_top);
  CHECK(st[0].max_gap <= kBound);
  CHECK(st[1].max_gap <= kBound);
  CHECK(st[0].runs > 10 && st[1].runs > 10);

  // Two busy Critical fibers over one High, Normal and Low: Critical keeps >= 7 of every 8
  // decisions, each lower level is still served within 24.
  test::write("High+Normal+Low under 2 Critical:\n");
  run_scenario(Priority::Critical, 2, kLow | kNormal | kHigh, st, min_top);
  CHECK(min_top >= SPINDLE_CM_FAIRNESS_INTERVAL - 1);
  for (unsigned p = 0; p < 3; ++p) CHECK(st[p].max_gap <= kBound);
  CHECK(st[3].runs * SPINDLE_CM_FAIRNESS_INTERVAL >=
        (SPINDLE_CM_FAIRNESS_INTERVAL - 1) * g_trace_len);
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
