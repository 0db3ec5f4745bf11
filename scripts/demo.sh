#!/usr/bin/env bash
# Builds Spindle (Release) and runs the demo in examples/: priorities, sleeps, join, cancel, stats.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh demo
build=${BUILD_DIR:-build-demo}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSPINDLE_BUILD_TESTS=OFF -DSPINDLE_BUILD_BENCH=OFF \
  -DSPINDLE_BUILD_CORTEX_M=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target spindle_demo
"$build/examples/spindle_demo" "$@"
