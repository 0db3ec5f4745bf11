#!/usr/bin/env bash
# Runs the whole test suite under a sanitizer: `address` (ASan + UBSan) or `thread` (TSan). The fiber
# switches carry the sanitizers' fiber annotations (fiber/include/spindle/fiber/context.hpp).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: scripts/sanitize.sh address|thread}
scripts/deps.sh test
build=${BUILD_DIR:-build-$kind}
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPINDLE_SANITIZE="$kind" \
  -DSPINDLE_BUILD_BENCH=OFF -DSPINDLE_BUILD_CORTEX_M=OFF -DSPINDLE_WERROR=ON
cmake --build "$build" -j "$jobs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp}
cd "$build"
ctest --output-on-failure -j "$jobs" --timeout 900
