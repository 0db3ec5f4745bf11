#!/usr/bin/env bash
# scripts/bench-compare.sh: compares Spindle builds on the W1-W8 workloads in one invocation, for
# before/after figures on a shared, noisy machine. Each build directory is a Release bench build
# (scripts/bench.sh makes one in build-bench/; for an older commit: `git worktree add /tmp/old REV`
# and `BENCH_BUILD_DIR=/tmp/old/build-bench /tmp/old/scripts/bench.sh`, or configure it the same
# way). Runs are interleaved: in each of BENCH_RUNS rounds (default 5) every workload runs once on
# every build, the order of the builds rotating from round to round. Prints a markdown table of
# the medians and each build's ratio to the first one.
#
#   scripts/bench-compare.sh before=/tmp/old/build-bench after=build-bench
#
# BENCH_FILTER: comma- or space-separated substrings of workload names (w1_spawn_join, w2_skynet,
# w3_yield_pingpong, w4_chan_pingpong, w5_timers, w6_idle_memory, w7_mutex, w8_tcp_echo). W8 runs
# bench/w8_run.sh with the build's w8_spindle_echo (--workers=2) and w8_loadgen (100 connections,
# 64 B, 5 s). Exits 1 when an argument is not NAME=DIR with DIR/bench built, or a run fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${BENCH_RUNS:-5}"
filter="${BENCH_FILTER:-}"
if [[ $# -lt 1 ]]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 1
fi
names=()
dirs=()
for arg in "$@"; do
  if [[ "$arg" != *=* || ! -x "${arg#*=}/bench/w1_spawn_join" ]]; then
    echo "bench-compare: '$arg' is not NAME=DIR with DIR/bench/w1_spawn_join built" >&2
    exit 1
  fi
  names+=("${arg%%=*}")
  dirs+=("$(cd "${arg#*=}" && pwd)")
done

all=(w1_spawn_join w2_skynet w3_yield_pingpong w4_chan_pingpong w5_timers w6_idle_memory w7_mutex
  w8_tcp_echo)
selected=()
for w in "${all[@]}"; do
  keep=0
  [[ -z "$filter" ]] && keep=1
  for tok in ${filter//,/ }; do [[ "$w" == *"$tok"* ]] && keep=1; done
  [[ $keep == 1 ]] && selected+=("$w")
done
if [[ ${#selected[@]} -eq 0 ]]; then
  echo "bench-compare: BENCH_FILTER='$filter' selects nothing (have: ${all[*]})" >&2
  exit 1
fi

results="$(mktemp /tmp/spindle-bench-compare.XXXXXX)"
n=${#names[@]}
for ((r = 0; r < runs; ++r)); do
  for w in "${selected[@]}"; do
    for ((k = 0; k < n; ++k)); do
      i=$(((k + r) % n))
      dir="${dirs[$i]}/bench"
      echo "== round $((r + 1))/$runs $w ${names[$i]}" >&2
      if [[ "$w" == w8_tcp_echo ]]; then
        line="$("$root/bench/w8_run.sh" "$dir/w8_spindle_echo" --workers=2 -- --conns=100 \
          --size=64 --seconds=5)"
        rate="$(sed -n 's/.*round_trips_per_s=\([0-9.]*\).*/\1/p' <<<"$line")"
        echo "${names[$i]} tcp_echo round_trips_per_s $rate rt/s" >>"$results"
      else
        "$dir/$w" 2>/dev/null | awk -v name="${names[$i]}" '$1 == "spindle" {
          $1 = name; print }' >>"$results"
      fi
    done
  done
done

python3 - "$results" "$runs" "${names[@]}" <<'PY'
import statistics, sys
path, runs, names = sys.argv[1], sys.argv[2], sys.argv[3:]
metrics = [("spawn_join", "ns_per_task", "W1 spawn_join ns/task"),
           ("skynet", "total_ms", "W2 skynet ms"),
           ("yield_pingpong", "ns_per_yield", "W3 yield ns"),
           ("chan_pingpong", "ns_per_round_trip", "W4 chan ping-pong ns/rt"),
           ("timers", "total_ms", "W5 timers total ms"),
           ("timers", "lateness_p50", "W5 lateness p50 us"),
           ("timers", "lateness_p99", "W5 lateness p99 us"),
           ("idle_memory", "bytes_per_fiber", "W6 bytes per blocked fiber"),
           ("mutex", "ns_per_lock", "W7 mutex ns/lock"),
           ("tcp_echo", "round_trips_per_s", "W8 echo rt/s")]
vals = {}
for line in open(path):
    f = line.split()
    if len(f) >= 4:
        try:
            vals.setdefault((f[0], f[1], f[2]), []).append(float(f[3]))
        except ValueError:
            pass
print(f"medians of {runs} interleaved runs; ratio = build / {names[0]}")
print("| workload | " + " | ".join(names) + " | " + " | ".join(f"{m}/{names[0]}" for m in names[1:]) + " |")
print("|---" * (1 + 2 * len(names) - 1) + "|")
for w, m, label in metrics:
    meds = [statistics.median(vals[(n, w, m)]) if (n, w, m) in vals else None for n in names]
    if all(x is None for x in meds):
        continue
    cells = [f"{x:.4g}" if x is not None else "-" for x in meds]
    ratios = [f"{x / meds[0]:.3f}" if x is not None and meds[0] else "-" for x in meds[1:]]
    print(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
PY
rm -f "$results"
