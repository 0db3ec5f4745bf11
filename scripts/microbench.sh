#!/usr/bin/env bash
# scripts/microbench.sh: builds the Google Benchmark micro-benchmarks of the hot paths
# (bench/micro/, the spindle_microbench target) in Release in build-bench/ and runs them: the local
# run queue (push/pop, steal half), the timer wheel (insert/remove, insert/fire), the fiber context
# switch and the channel's try_send/try_recv. docs/performance.md, "Micro-benchmarks", has the
# figures and how to read them.
#
#   scripts/microbench.sh                                  # 5 repetitions, medians (and mean, stddev, cv)
#   MICROBENCH_REPS=10 scripts/microbench.sh --benchmark_filter=Queue
#
# Extra arguments go to the benchmark binary (any --benchmark_* flag). BENCH_BUILD_DIR: the build
# directory (default build-bench/, shared with scripts/bench.sh). The machine is usually shared and
# noisy: compare the median rows, and the CPU column rather than wall time.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BENCH_BUILD_DIR:-$root/build-bench}"
reps="${MICROBENCH_REPS:-5}"

"$root/scripts/deps.sh" test  # build tools and Google Benchmark, only what is missing
echo "== configure + build ($build, Release, target spindle_microbench)" >&2
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSPINDLE_BUILD_TESTS=OFF \
  -DSPINDLE_BUILD_EXAMPLES=OFF -DSPINDLE_BUILD_BENCH=ON -DSPINDLE_SANITIZE= \
  -DSPINDLE_BUILD_CORTEX_M=OFF >"$build/microbench-configure.log" 2>&1 ||
  { cat "$build/microbench-configure.log" >&2; exit 1; }
cmake --build "$build" --target spindle_microbench -j "$(nproc)" >"$build/microbench-build.log" 2>&1 ||
  { cat "$build/microbench-build.log" >&2; exit 1; }

exec "$build/bench/spindle_microbench" --benchmark_repetitions="$reps" \
  --benchmark_report_aggregates_only=true "$@"
