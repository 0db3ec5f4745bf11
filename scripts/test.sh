#!/usr/bin/env bash
# Builds Spindle with warnings as errors and runs the whole test suite (GoogleTest via CTest, plus the
# Cortex-M firmware tests under qemu when the arm-none-eabi toolchain is installed).
#   BUILD_DIR (default build), JOBS (default: CPU count), extra CMake args as arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPINDLE_WERROR=ON "$@"
cmake --build "$build" -j "$jobs"
cd "$build"
ctest --output-on-failure -j "$jobs" --timeout 600
