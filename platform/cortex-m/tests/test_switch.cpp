// Context switch tests: r4-r11 and (M4F) s0-s31 + FPSCR survive switches, float work across yields
// is bit-identical, many fibers round-robin, and the cost of a yield in instructions.
#include "harness.h"

using namespace spindle::cm;

extern "C" void test_yield() {
  yield();
}

namespace {

// regs_roundtrip: loads r4-r11 with seed-derived patterns, yields (a switch to another fiber that
// loads its own patterns), and returns how many of r4-r11 came back different.
extern "C" __attribute__((naked)) uint32_t regs_roundtrip(uint32_t) {
  __asm volatile(
      "push   {r4-r11, lr}\n\t"
      "mov    r4, r0\n\t"
      "add    r5, r0, #0x11\n\t"
      "add    r6, r0, #0x22\n\t"
      "add    r7, r0, #0x33\n\t"
      "add    r8, r0, #0x44\n\t"
      "add    r9, r0, #0x55\n\t"
      "add    r10, r0, #0x66\n\t"
      "add    r11, r0, #0x77\n\t"
      "push   {r0}\n\t"
      "bl     test_yield\n\t"
      "pop    {r0}\n\t"
      "movs   r1, #0\n\t"
      "cmp    r4, r0\n\t"
      "it     ne\n\t"
      "addne  r1, r1, #1\n\t"
#define SPINDLE_TEST_CMP(reg, off) \
  "add r2, r0, #" #off "\n\tcmp " #reg ", r2\n\tit ne\n\taddne r1, r1, #1\n\t"
      SPINDLE_TEST_CMP(r5, 0x11) SPINDLE_TEST_CMP(r6, 0x22) SPINDLE_TEST_CMP(r7, 0x33)
      SPINDLE_TEST_CMP(r8, 0x44) SPINDLE_TEST_CMP(r9, 0x55) SPINDLE_TEST_CMP(r10, 0x66)
      SPINDLE_TEST_CMP(r11, 0x77)
      "mov    r0, r1\n\t"
      "pop    {r4-r11, pc}\n\t");
}

constexpr uint32_t kRegFibers = 3;
constexpr uint32_t kRegRounds = 200;
FiberSlot<1024> g_reg_slots[kRegFibers];

int regs_fiber(void* arg) {
  const uint32_t id = reinterpret_cast<uint32_t>(arg);
  uint32_t bad = 0;
  for (uint32_t i = 0; i < kRegRounds; ++i) bad += regs_roundtrip((id << 24) | (i << 12) | 0x100);
  return static_cast<int>(bad);
}

void case_regs() {
  for (uint32_t i = 0; i < kRegFibers; ++i) {
    CHECK(spawn(g_reg_slots[i], regs_fiber, reinterpret_cast<void*>(i + 1), Priority::Normal,
                "regs"));
  }
  static FiberSlot<1024> root;
  spawn(
      root,
      [](void*) -> int {
        for (uint32_t i = 0; i < kRegFibers; ++i) CHECK_EQ(join(g_reg_slots[i].fiber), 0);
        return 0;
      },
      nullptr);
  run();
  CHECK(stats().switches >= kRegFibers * kRegRounds);
}

// Round robin: 16 fibers yield 600 times each; every fiber must run right after its predecessor.
constexpr uint32_t kRrFibers = 16;
constexpr uint32_t kRrRounds = 600;
FiberSlot<512> g_rr_slots[kRrFibers];
uint32_t g_rr_last = kRrFibers - 1;
uint32_t g_rr_runs;

int rr_fiber(void* arg) {
  const uint32_t id = reinterpret_cast<uint32_t>(arg);
  for (uint32_t i = 0; i < kRrRounds; ++i) {
    CHECK_EQ(id, (g_rr_last + 1) % kRrFibers);
    g_rr_last = id;
    ++g_rr_runs;
    yield();
  }
  return 0;
}

void case_round_robin() {
  for (uint32_t i = 0; i < kRrFibers; ++i) {
    CHECK(spawn(g_rr_slots[i], rr_fiber, reinterpret_cast<void*>(i), Priority::Normal, "rr"));
  }
  run();
  CHECK_EQ(g_rr_runs, kRrFibers * kRrRounds);
  CHECK(stats().switches >= kRrFibers * kRrRounds);
  for (uint32_t i = 0; i < kRrFibers; ++i) CHECK(stack_unused_bytes(g_rr_slots[i].fiber) > 64);
  test::write("round_robin: switches=");
  test::write_u32(stats().switches);
  test::write("\n");
}

// Float work across yields: each fiber's result must equal, bit for bit, the same computation
// done without yields. On M3 this is soft-float (core registers); on M4F it uses the FPU.
float float_work(uint32_t seed, bool yielding) {
  float acc = static_cast<float>(seed) * 0.001f;
  for (uint32_t i = 1; i <= 300; ++i) {
    const float x = static_cast<float>(i) * 0.37f + acc;
    acc = acc * 0.999f + x / (1.0f + acc * acc) - x * x * 1e-4f;
    if (yielding) yield();
  }
  return acc;
}

uint32_t bits(float f) {
  return __builtin_bit_cast(uint32_t, f);
}

constexpr uint32_t kFloatFibers = 3;
FiberSlot<1024> g_float_slots[kFloatFibers];
uint32_t g_float_result[kFloatFibers];
FiberSlot<1024> g_int_slot;

int float_fiber(void* arg) {
  const uint32_t id = reinterpret_cast<uint32_t>(arg);
  g_float_result[id] = bits(float_work(id + 7, true));
  return 0;
}

void case_fp_work() {
  for (uint32_t i = 0; i < kFloatFibers; ++i) {
    CHECK(spawn(g_float_slots[i], float_fiber, reinterpret_cast<void*>(i), Priority::Normal, "fp"));
  }
  // An integer-only fiber in between: fibers with and without an FP frame alternate.
  spawn(
      g_int_slot,
      [](void*) -> int {
        for (uint32_t i = 0; i < 300; ++i) CHECK_EQ(regs_roundtrip(0x5A000000u | i), 0);
        return 0;
      },
      nullptr, Priority::Normal, "int");
  run();
  for (uint32_t i = 0; i < kFloatFibers; ++i) {
    CHECK_EQ(g_float_result[i], bits(float_work(i + 7, false)));
  }
}

#if SPINDLE_CM_HAS_FPU
// fp_roundtrip: loads s0-s31 and FPSCR with seed-derived patterns, yields, and returns how many of
// the 33 registers came back different. s0-s15 are live across the switch on purpose: they reach
// the PendSV handler only through lazy stacking.
extern "C" __attribute__((naked)) uint32_t fp_roundtrip(uint32_t) {
  __asm volatile(
      "push   {r4, r5, r6, lr}\n\t"
      "vpush  {s16-s31}\n\t"
      "vmrs   r6, fpscr\n\t"
      "mov    r4, r0\n\t"
#define SPINDLE_TEST_FILL(i) "add r1, r4, #" #i "\n\tvmov s" #i ", r1\n\t"
      SPINDLE_TEST_FILL(0) SPINDLE_TEST_FILL(1) SPINDLE_TEST_FILL(2) SPINDLE_TEST_FILL(3)
      SPINDLE_TEST_FILL(4) SPINDLE_TEST_FILL(5) SPINDLE_TEST_FILL(6) SPINDLE_TEST_FILL(7)
      SPINDLE_TEST_FILL(8) SPINDLE_TEST_FILL(9) SPINDLE_TEST_FILL(10) SPINDLE_TEST_FILL(11)
      SPINDLE_TEST_FILL(12) SPINDLE_TEST_FILL(13) SPINDLE_TEST_FILL(14) SPINDLE_TEST_FILL(15)
      SPINDLE_TEST_FILL(16) SPINDLE_TEST_FILL(17) SPINDLE_TEST_FILL(18) SPINDLE_TEST_FILL(19)
      SPINDLE_TEST_FILL(20) SPINDLE_TEST_FILL(21) SPINDLE_TEST_FILL(22) SPINDLE_TEST_FILL(23)
      SPINDLE_TEST_FILL(24) SPINDLE_TEST_FILL(25) SPINDLE_TEST_FILL(26) SPINDLE_TEST_FILL(27)
      SPINDLE_TEST_FILL(28) SPINDLE_TEST_FILL(29) SPINDLE_TEST_FILL(30) SPINDLE_TEST_FILL(31)
      // FPSCR: condition flags, rounding mode and cumulative exception flags from the seed.
      "and    r5, r4, #0xF0000000\n\t"
      "ubfx   r1, r4, #8, #2\n\t"
      "orr    r5, r5, r1, lsl #22\n\t"
      "and    r1, r4, #0x9F\n\t"
      "orr    r5, r5, r1\n\t"
      "vmsr   fpscr, r5\n\t"
      "bl     test_yield\n\t"
      "movs   r3, #0\n\t"
#define SPINDLE_TEST_FCMP(i) \
  "vmov r1, s" #i "\n\tadd r2, r4, #" #i "\n\tcmp r1, r2\n\tit ne\n\taddne r3, r3, #1\n\t"
      SPINDLE_TEST_FCMP(0) SPINDLE_TEST_FCMP(1) SPINDLE_TEST_FCMP(2) SPINDLE_TEST_FCMP(3)
      SPINDLE_TEST_FCMP(4) SPINDLE_TEST_FCMP(5) SPINDLE_TEST_FCMP(6) SPINDLE_TEST_FCMP(7)
      SPINDLE_TEST_FCMP(8) SPINDLE_TEST_FCMP(9) SPINDLE_TEST_FCMP(10) SPINDLE_TEST_FCMP(11)
      SPINDLE_TEST_FCMP(12) SPINDLE_TEST_FCMP(13) SPINDLE_TEST_FCMP(14) SPINDLE_TEST_FCMP(15)
      SPINDLE_TEST_FCMP(16) SPINDLE_TEST_FCMP(17) SPINDLE_TEST_FCMP(18) SPINDLE_TEST_FCMP(19)
      SPINDLE_TEST_FCMP(20) SPINDLE_TEST_FCMP(21) SPINDLE_TEST_FCMP(22) SPINDLE_TEST_FCMP(23)
      SPINDLE_TEST_FCMP(24) SPINDLE_TEST_FCMP(25) SPINDLE_TEST_FCMP(26) SPINDLE_TEST_FCMP(27)
      SPINDLE_TEST_FCMP(28) SPINDLE_TEST_FCMP(29) SPINDLE_TEST_FCMP(30) SPINDLE_TEST_FCMP(31)
      "vmrs   r1, fpscr\n\t"
      "cmp    r1, r5\n\t"
      "it     ne\n\t"
      "addne  r3, r3, #1\n\t"
      "vmsr   fpscr, r6\n\t"
      "mov    r0, r3\n\t"
      "vpop   {s16-s31}\n\t"
      "pop    {r4, r5, r6, pc}\n\t");
}

constexpr uint32_t kFpFibers = 3;
constexpr uint32_t kFpRounds = 100;
FiberSlot<1024> g_fp_slots[kFpFibers];

int fp_fiber(void* arg) {
  const uint32_t id = reinterpret_cast<uint32_t>(arg);
  uint32_t bad = 0;
  for (uint32_t i = 0; i < kFpRounds; ++i) {
    const uint32_t seed = (id << 28) | (i << 8) | ((i * 7) & 0x9F);
    bad += fp_roundtrip(seed);
    bad += regs_roundtrip(seed);
  }
  return static_cast<int>(bad);
}

void case_fp_regs() {
  for (uint32_t i = 0; i < kFpFibers; ++i) {
    CHECK(spawn(g_fp_slots[i], fp_fiber, reinterpret_cast<void*>(i + 1), Priority::Normal, "fpr"));
  }
  // An integer-only fiber too, so FP and basic frames alternate.
  spawn(
      g_int_slot,
      [](void*) -> int {
        for (uint32_t i = 0; i < kFpRounds * 2; ++i) CHECK_EQ(regs_roundtrip(0x7E000000u | i), 0);
        return 0;
      },
      nullptr, Priority::Normal, "int");
  static FiberSlot<1024> root;
  spawn(
      root,
      [](void*) -> int {
        uint32_t bad = 0;
        for (uint32_t i = 0; i < kFpFibers; ++i)
          bad += static_cast<uint32_t>(join(g_fp_slots[i].fiber));
        CHECK_EQ(bad, 0);
        return 0;
      },
      nullptr, Priority::Low, "root");
  run();
}
#endif

// bench_switch: two fibers yield to each other; reports instructions per yield (one scheduling
// decision and one PendSV switch), measured with CMSDK TIMER0 at 40 instructions per count under
// -icount shift=0 (checked by the calibrate case).
constexpr uint32_t kBenchYields = 20000;
FiberSlot<512> g_bench_slots[2];
uint32_t g_bench_t0, g_bench_t1;

volatile uint32_t* timer0() {
  return reinterpret_cast<volatile uint32_t*>(0x40000000u);
}

int bench_fiber(void* arg) {
  if (arg) {
    timer0()[0] = 0;
    timer0()[2] = 0xFFFFFFFFu;
    timer0()[1] = 0xFFFFFFFFu;
    timer0()[0] = 1;
    g_bench_t0 = timer0()[1];
  }
  for (uint32_t i = 0; i < kBenchYields / 2; ++i) yield();
  if (!arg) g_bench_t1 = timer0()[1];
  return 0;
}

void case_bench_switch() {
  spawn(g_bench_slots[0], bench_fiber, reinterpret_cast<void*>(1));
  spawn(g_bench_slots[1], bench_fiber, nullptr);
  const Stats s0 = stats();
  run();
  const Stats s1 = stats();
  const uint32_t counts = g_bench_t0 - g_bench_t1;
  test::write("bench_switch: yields=");
  test::write_u32(kBenchYields);
  test::write(" switches=");
  test::write_u32(s1.switches - s0.switches);
  test::write(" TIMER0 counts=");
  test::write_u32(counts);
  test::write(" => instructions per yield+switch = ");
  test::write_u32(counts * 40 / kBenchYields);
  test::write(" (x40/count, icount shift=0)\n");
  CHECK(s1.switches - s0.switches >= kBenchYields);
}

}  // namespace

extern const TestCase kSwitchCases[] = {
    {"regs", case_regs},
    {"round_robin", case_round_robin},
    {"fp_work", case_fp_work},
#if SPINDLE_CM_HAS_FPU
    {"fp_regs", case_fp_regs},
#endif
    {"bench_switch", case_bench_switch},
    {nullptr, nullptr},
};
