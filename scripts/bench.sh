#!/usr/bin/env bash
# scripts/bench.sh: builds bench/ in Release (build-bench/) and runs the workloads W1 spawn_join,
# W2 skynet, W3 yield_pingpong, W4 chan_pingpong, W5 timers, W6 idle_memory, W7 mutex, W8 tcp_echo
# and W9 million BENCH_RUNS times each (default 5), alternating Spindle and baseline runs (which goes
# first flips every run), then prints a markdown table of medians with the Spindle/baseline ratio
# and the targets of docs' benchmark spec. The baseline is Boost.Fiber (bench/<w>.cpp --impl=boost)
# except for W8, where bench/w8_run.sh loads the Spindle echo server (bench/w8_spindle_echo,
# --workers=2) and the plain libuv echo server (bench/w8_uv_echo) with bench/w8_loadgen (100
# connections, 64 B, 5 s). If `wrk` is installed, an extra row (no baseline, no target) runs
# examples/http_server (--workers=2, built with the bench) under `wrk -c100 -t1 -d5s`, reporting
# requests/s (scripts/deps.sh bench installs wrk when missing; if it still is not there, that row
# is skipped with a message).
#
#   BENCH_RUNS=5 BENCH_FILTER=w1,skynet scripts/bench.sh
#
# BENCH_FILTER: comma- or space-separated substrings of workload names (w1_spawn_join, w2_skynet,
# w3_yield_pingpong, w4_chan_pingpong, w5_timers, w6_idle_memory, w7_mutex, w8_tcp_echo,
# w9_million, http_server); empty runs all. BENCH_BUILD_DIR: the build directory (default
# build-bench/). Exits 0 when targets are missed (it reports them) and when the filter selects only
# the http_server row and wrk is missing; 1 when the build fails, BENCH_FILTER selects nothing, a
# result check fails (a wrong sum or count, a wrong echoed byte, non-2xx HTTP responses) or a run
# crashes or fails. A Boost.Fiber W9 run that cannot finish (it runs out of vm.max_map_count) is
# reported, not a failure.
# The build is always clean (--clean-first): the runtime's sources change under us while other work
# goes on, and a stale incremental build has produced binaries that crashed in ~AsyncRuntime.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BENCH_BUILD_DIR:-$root/build-bench}"
runs="${BENCH_RUNS:-5}"
filter="${BENCH_FILTER:-}"

all=(w1_spawn_join w2_skynet w3_yield_pingpong w4_chan_pingpong w5_timers w6_idle_memory w7_mutex
  w8_tcp_echo w9_million http_server)
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

"$root/scripts/deps.sh" bench  # build tools, Boost.Fiber and wrk, only what is missing
results="$(mktemp /tmp/spindle-bench.XXXXXX)"
tmp="$(mktemp -d /tmp/spindle-bench-tmp.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

# The http_server row needs wrk and the example binary (examples/ are off unless it runs).
examples=OFF
targets=(spindle_bench)
if [[ " ${selected[*]} " == *" http_server "* ]]; then
  if command -v wrk >/dev/null 2>&1; then
    examples=ON
    targets+=(spindle_http_server)
    # w8_run.sh runs its loadgen as `LOADGEN --port=<n> ARGS...`; this one runs wrk instead.
    cat >"$tmp/wrk_loadgen" <<'SH'
#!/usr/bin/env bash
port="${1#--port=}"
shift
exec wrk "$@" "http://127.0.0.1:$port/"
SH
    chmod +x "$tmp/wrk_loadgen"
  else
    msg="http_server (wrk) row skipped: wrk is not installed"
    echo "== $msg" >&2
    echo "run0 # $msg" >>"$results"
    kept=()
    for w in "${selected[@]}"; do
      [[ "$w" == http_server ]] || kept+=("$w")
    done
    selected=("${kept[@]+"${kept[@]}"}")
    if [[ ${#selected[@]} -eq 0 ]]; then
      echo "BENCH_FILTER='$filter' selects nothing else: nothing to run" >&2
      rm -f "$results"
      exit 0
    fi
  fi
fi

echo "== configure + build ($build, Release, targets: ${targets[*]})" >&2
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSPINDLE_BUILD_TESTS=OFF \
  -DSPINDLE_BUILD_EXAMPLES="$examples" -DSPINDLE_BUILD_BENCH=ON -DSPINDLE_SANITIZE= \
  >"$build/bench-configure.log" 2>&1 ||
  { cat "$build/bench-configure.log" >&2; exit 1; }
cmake --build "$build" --target "${targets[@]}" --clean-first -j "$(nproc)" >"$build/bench-build.log" 2>&1 ||
  { cat "$build/bench-build.log" >&2; exit 1; }

# impl_label W IMPL prints what IMPL (spindle|boost, the slot in the alternating order) runs for W.
impl_label() {
  if [[ "$2" == spindle ]]; then
    echo spindle
  elif [[ "$1" == w8_tcp_echo ]]; then
    echo libuv
  else
    echo boost
  fi
}

# run_workload W IMPL OUT ERR: one run of W on IMPL. Writes `<impl> <workload> <metric> <value>
# <unit>` lines (a failed result check as `<impl> <workload> CHECK_FAILED <what>`, a note as
# `# <text>`) to OUT and stderr to ERR; returns the run's exit status. W8 and http_server go through
# bench/w8_run.sh, whose output is converted to that form here.
run_workload() {
  local w="$1" impl="$2" out="$3" err="$4" rc=0
  case "$w" in
    w8_tcp_echo)
      local server=("$build/bench/w8_uv_echo") name=libuv
      if [[ "$impl" == spindle ]]; then
        server=("$build/bench/w8_spindle_echo" --workers=2)
        name=spindle
      fi
      "$root/bench/w8_run.sh" "${server[@]}" -- --conns=100 --size=64 --seconds=5 \
        >"$out.raw" 2>"$err" || rc=$?
      awk -v impl="$name" '
        $1 == "w8" && $2 == "CHECK_FAILED" { $1 = impl " tcp_echo"; print }
        $1 == "w8" && $2 ~ /^round_trips_per_s=/ {
          sub(/^round_trips_per_s=/, "", $2); print impl, "tcp_echo round_trips_per_s", $2, "rt/s"
        }' "$out.raw" >"$out"
      ;;
    http_server)
      W8_LOADGEN="$tmp/wrk_loadgen" "$root/bench/w8_run.sh" "$build/examples/http_server" \
        --workers=2 -- -c100 -t1 -d5s >"$out.raw" 2>"$err" || rc=$?
      awk -v run="$run" '
        /^Requests\/sec:/ { print "spindle http_server requests_per_s", $2, "req/s" }
        /Non-2xx or 3xx responses:/ { print "spindle http_server CHECK_FAILED non-2xx responses:", $NF }
        /Socket errors:/ { $1 = $1; print "# http_server run " run " (wrk): " $0 }' \
        "$out.raw" >"$out"
      ;;
    *)
      "$build/bench/$w" --impl="$impl" >"$out" 2>"$err" || rc=$?
      return "$rc"
      ;;
  esac
  if [[ $rc -eq 0 ]] && ! grep -Eq '(round_trips|requests)_per_s ' "$out"; then
    echo "no round_trips_per_s / Requests/sec figure in the output:" >>"$err"
    tail -5 "$out.raw" >>"$err"
    rc=1
  fi
  rm -f "$out.raw"
  return "$rc"
}

failed=0
echo "== $runs run(s) of: ${selected[*]} (raw lines: $results)" >&2
for ((run = 1; run <= runs; run++)); do
  if ((run % 2 == 1)); then order=(spindle boost); else order=(boost spindle); fi
  for w in "${selected[@]}"; do
    for impl in "${order[@]}"; do
      [[ "$w" == http_server && "$impl" != spindle ]] && continue # no baseline for this row
      label="$(impl_label "$w" "$impl")"
      out="$(mktemp)"
      rc=0
      run_workload "$w" "$impl" "$out" "$out.err" || rc=$?
      sed "s/^/run$run /" "$out" >>"$results"
      if grep -q CHECK_FAILED "$out"; then
        echo "run $run $w $label: RESULT CHECK FAILED: $(grep CHECK_FAILED "$out")" >&2
        failed=1
      elif [[ $rc -ne 0 ]]; then
        if [[ "$impl" == boost && "$w" == w9_million ]]; then
          echo "run$run boostfiber million baseline_failed 1 exit$rc" >>"$results"
          echo "run $run $w boost: could not finish (exit $rc): $(grep '^#' "$out" | head -1)" >&2
        else
          echo "run $run $w $label: exit $rc: $(tail -3 "$out.err")" >&2
          failed=1
        fi
      else
        printf '  run %d %-18s %-8s ok\n' "$run" "$w" "$label" >&2
      fi
      rm -f "$out" "$out.err"
    done
  done
done

python3 - "$results" "$runs" <<'PY'
import statistics, sys
from collections import OrderedDict

path, runs = sys.argv[1], sys.argv[2]
ids = {"spawn_join": "W1", "skynet": "W2", "yield_pingpong": "W3", "chan_pingpong": "W4",
       "timers": "W5", "idle_memory": "W6", "mutex": "W7", "tcp_echo": "W8", "million": "W9"}
# (workload, metric) -> (target text, limit, kind): "le" = the Spindle median <= limit (in the
# metric's unit), "ratio_ge" = spindle / baseline >= limit.
targets = {
    ("spawn_join", "ns_per_task"): ("<= 60 ns", 60, "le"),
    ("skynet", "total_ms"): ("<= 100 ms", 100, "le"),
    ("yield_pingpong", "ns_per_yield"): ("<= 12 ns", 12, "le"),
    ("chan_pingpong", "ns_per_round_trip"): ("<= 150 ns", 150, "le"),
    ("timers", "total_ms"): ("<= 130 ms", 130, "le"),
    ("timers", "lateness_p99"): ("<= 5000 us", 5000, "le"),
    ("idle_memory", "bytes_per_fiber"): ("<= 4600 B", 4600, "le"),
    ("mutex", "ns_per_lock"): ("<= 30 ns", 30, "le"),
    ("tcp_echo", "round_trips_per_s"): (">= 1.7x libuv", 1.7, "ratio_ge"),
    ("million", "peak_rss_pte"): ("<= 5 GB, completes", 5e9, "le"),
}
baselines = ("boostfiber", "libuv")
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

wls = {wl for wl, _, _ in vals}
print(f"\nMedians of {runs} run(s); ratio = spindle / baseline (lower is better, except W8 round "
      "trips/s and requests/s: higher is better).\n")
print("| workload | metric | spindle | baseline | ratio | target | met? |")
print("|---|---|---|---|---|---|---|")
for (wl, metric, unit), by in vals.items():
    s = statistics.median(by["spindle"]) if "spindle" in by else None
    base = next((k for k in baselines if k in by), None)
    b = statistics.median(by[base]) if base else None
    r = s / b if s is not None and b not in (None, 0) else None
    ratio = f"{r:.3f}" if r is not None else "n/a"
    if wl == "million" and b is None and boost_w9_failed:
        b_txt = "failed (map count)"
    else:
        b_txt = fmt(b)
    t = targets.get((wl, metric))
    ttxt, met = ("", "")
    if t:
        ttxt, limit, kind = t
        x = r if kind == "ratio_ge" else s
        ok = x is not None and (x >= limit if kind == "ratio_ge" else x <= limit)
        met = "n/a" if x is None else ("yes" if ok else "**NO**")
    label = "http_server (wrk)" if wl == "http_server" else f"{ids.get(wl, '')} {wl}"
    print(f"| {label} | {metric} ({unit}) | {fmt(s)} | {b_txt} | {ratio} | {ttxt} | {met} |")
print()
print("Baseline: Boost.Fiber, except W8: the plain libuv echo server bench/w8_uv_echo (one loop "
      "thread); the http_server (wrk) row has none.")
print("Both sides: 2 worker threads (W3: 1; W9 Spindle: default config), 64 KiB fiber stacks "
      "(Spindle default max_stack_size; Boost.Fiber fixedsize_stack, W9 protected_fixedsize_stack).")
if "tcp_echo" in wls:
    print("W8: bench/w8_run.sh, w8_loadgen with 100 connections x 64 B for 5 s after 0.5 s warmup; "
          "Spindle server bench/w8_spindle_echo --workers=2.")
if "http_server" in wls:
    print("http_server: examples/http_server --workers=2 under `wrk -c100 -t1 -d5s` (requests/s).")
for n in notes:
    print(f"- {n}")
PY

if [[ $failed -ne 0 ]]; then
  echo "FAILED: at least one result check failed or a run crashed or failed (see above)" >&2
  exit 1
fi
