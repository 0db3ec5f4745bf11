#!/usr/bin/env bash
# scripts/bench.sh: builds bench/ in Release (build-bench/) and runs the workloads W1 spawn_join,
# W2 skynet, W3 yield_pingpong, W5 timers, W6 idle_memory and W9 million BENCH_RUNS times each
# (default 5), alternating Spindle and Boost.Fiber runs (which goes first flips every run), then prints
# a markdown table of medians with the Spindle/Boost ratio and the targets of docs' benchmark spec.
#
#   BENCH_RUNS=5 BENCH_FILTER=w1,skynet scripts/bench.sh
#
# BENCH_FILTER: comma- or space-separated substrings of program names (w1_spawn_join, w2_skynet, ...);
# empty runs all. Exits 0 when targets are missed (it reports them), 1 when a result check fails or a
# Spindle run crashes. A Boost.Fiber W9 run that cannot finish (it runs out of vm.max_map_count) is
# reported, not a failure.
# The build is always clean (--clean-first): the runtime's sources change under us while other work
# goes on, and a stale incremental build has produced binaries that crashed in ~AsyncRuntime.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BENCH_BUILD_DIR:-$root/build-bench}"
runs="${BENCH_RUNS:-5}"
filter="${BENCH_FILTER:-}"

echo "== configure + build ($build, Release)" >&2
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSPINDLE_BUILD_TESTS=OFF \
  -DSPINDLE_BUILD_EXAMPLES=OFF -DSPINDLE_BUILD_BENCH=ON -DSPINDLE_SANITIZE= >"$build/bench-configure.log" 2>&1 ||
  { cat "$build/bench-configure.log" >&2; exit 1; }
cmake --build "$build" --target spindle_bench --clean-first -j "$(nproc)" >"$build/bench-build.log" 2>&1 ||
  { cat "$build/bench-build.log" >&2; exit 1; }

all=(w1_spawn_join w2_skynet w3_yield_pingpong w5_timers w6_idle_memory w9_million)
selected=()
for w in "${all[@]}"; do
  if [[ -z "$filter" ]]; then
    selected+=("$w")
    continue
  fi
  for tok in ${filter//,/ }; do
    if [[ "$w" == *"$tok"* ]]; then
      selected+=("$w")
      break
    fi
  done
done
if [[ ${#selected[@]} -eq 0 ]]; then
  echo "BENCH_FILTER='$filter' selects no workload (have: ${all[*]})" >&2
  exit 1
fi

results="$(mktemp /tmp/spindle-bench.XXXXXX)"
failed=0
echo "== $runs run(s) of: ${selected[*]} (raw lines: $results)" >&2
for ((run = 1; run <= runs; run++)); do
  if ((run % 2 == 1)); then order=(spindle boost); else order=(boost spindle); fi
  for w in "${selected[@]}"; do
    for impl in "${order[@]}"; do
      out="$(mktemp)"
      rc=0
      "$build/bench/$w" --impl="$impl" >"$out" 2>"$out.err" || rc=$?
      sed "s/^/run$run /" "$out" >>"$results"
      if grep -q CHECK_FAILED "$out"; then
        echo "run $run $w $impl: RESULT CHECK FAILED: $(grep CHECK_FAILED "$out")" >&2
        failed=1
      elif [[ $rc -ne 0 ]]; then
        if [[ "$impl" == boost && "$w" == w9_million ]]; then
          echo "run$run boostfiber million baseline_failed 1 exit$rc" >>"$results"
          echo "run $run $w boost: could not finish (exit $rc): $(grep '^#' "$out" | head -1)" >&2
        else
          echo "run $run $w $impl: exit $rc: $(tail -3 "$out.err")" >&2
          failed=1
        fi
      else
        printf '  run %d %-18s %-8s ok\n' "$run" "$w" "$impl" >&2
      fi
      rm -f "$out" "$out.err"
    done
  done
done

python3 - "$results" "$runs" <<'PY'
import statistics, sys
from collections import OrderedDict

path, runs = sys.argv[1], sys.argv[2]
ids = {"spawn_join": "W1", "skynet": "W2", "yield_pingpong": "W3", "timers": "W5",
       "idle_memory": "W6", "million": "W9"}
# (workload, metric) -> (target text, limit in the metric's unit)
targets = {
    ("spawn_join", "ns_per_task"): ("<= 60 ns", 60),
    ("skynet", "total_ms"): ("<= 100 ms", 100),
    ("yield_pingpong", "ns_per_yield"): ("<= 12 ns", 12),
    ("timers", "total_ms"): ("<= 130 ms", 130),
    ("timers", "lateness_p99"): ("<= 5000 us", 5000),
    ("idle_memory", "bytes_per_fiber"): ("<= 4600 B", 4600),
    ("million", "peak_rss_pte"): ("<= 5 GB, completes", 5e9),
}
skip = {"workers", "stack_size"}
vals = OrderedDict()   # (workload, metric, unit) -> {impl: [values]}
notes = OrderedDict()
boost_w9_failed = 0
for line in open(path):
    parts = line.split()
    if len(parts) >= 2 and parts[1] == "#":
        notes[" ".join(parts[2:])] = None
        continue
    if len(parts) < 6 or parts[3] == "CHECK_FAILED":
        continue
    _, impl, wl, metric, value, unit = parts[:6]
    if metric == "baseline_failed":
        boost_w9_failed += 1
        continue
    if metric in skip:
        continue
    vals.setdefault((wl, metric, unit), {}).setdefault(impl, []).append(float(value))

def fmt(v):
    if v is None:
        return "n/a"
    if v == int(v):
        return str(int(v))
    if abs(v) >= 1e6:
        return f"{v:.4g}"
    return f"{v:.1f}" if abs(v) >= 100 else f"{v:.2f}"

print(f"\nMedians of {runs} run(s); ratio = spindle / boost.fiber (lower is better for every metric).\n")
print("| workload | metric | spindle | boost.fiber | ratio | target | met? |")
print("|---|---|---|---|---|---|---|")
for (wl, metric, unit), by in vals.items():
    s = statistics.median(by["spindle"]) if "spindle" in by else None
    b = statistics.median(by["boostfiber"]) if "boostfiber" in by else None
    ratio = f"{s / b:.3f}" if s is not None and b not in (None, 0) else "n/a"
    if wl == "million" and b is None and boost_w9_failed:
        b_txt = "failed (map count)"
    else:
        b_txt = fmt(b)
    t = targets.get((wl, metric))
    ttxt, met = ("", "")
    if t:
        ttxt = t[0]
        met = "n/a" if s is None else ("yes" if s <= t[1] else "**NO**")
    print(f"| {ids.get(wl, '')} {wl} | {metric} ({unit}) | {fmt(s)} | {b_txt} | {ratio} | {ttxt} | {met} |")
print()
print("Both sides: 2 worker threads (W3: 1; W9 Spindle: default config), 64 KiB fiber stacks "
      "(Spindle default max_stack_size; Boost.Fiber fixedsize_stack, W9 protected_fixedsize_stack).")
for n in notes:
    print(f"- {n}")
PY

if [[ $failed -ne 0 ]]; then
  echo "FAILED: at least one result check failed or a Spindle run crashed (see above)" >&2
  exit 1
fi
