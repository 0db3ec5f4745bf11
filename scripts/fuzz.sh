#!/usr/bin/env bash
# scripts/fuzz.sh: builds the libFuzzer targets of tests/fuzz (SocketAddr::parse, the HTTP example's
# request parser, the timer wheel against its model, channel/select operation sequences against
# theirs) with clang, ASan+UBSan and coverage instrumentation in build-fuzz/, then runs each for
# FUZZ_SECONDS (default 60) starting from its committed seed corpus tests/fuzz/corpus/<name>/ (new
# inputs go to a scratch corpus in the build directory; the committed one is only read). A crash or
# a failed check fails the script and leaves the input as build-fuzz/crash-* : turn it into a
# regression test and, once fixed, a corpus file.
#   FUZZ_SECONDS=600 scripts/fuzz.sh            a longer run by hand
#   FUZZ_TARGETS="timer_wheel" scripts/fuzz.sh  one target
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh fuzz
build=${BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-socket_addr http_parser timer_wheel channel_select}
flags="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSPINDLE_BUILD_FUZZERS=ON -DSPINDLE_BUILD_TESTS=OFF -DSPINDLE_BUILD_EXAMPLES=OFF \
  -DSPINDLE_BUILD_BENCH=OFF -DSPINDLE_BUILD_CORTEX_M=OFF -DSPINDLE_WERROR=OFF \
  -DSPINDLE_ALLOCATOR=system -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" >/dev/null
cmake --build "$build" -j "$(nproc)" --target spindle_fuzzers
for name in $targets; do
  scratch="$build/corpus-$name"
  rm -rf "$scratch"
  mkdir -p "$scratch"
  echo "=== fuzz $name (${seconds} s)"
  "$build/tests/fuzz/spindle_fuzz_$name" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$build/" "$scratch" "tests/fuzz/corpus/$name" 2>&1 | tail -n 25
  test "${PIPESTATUS[0]}" -eq 0
done
