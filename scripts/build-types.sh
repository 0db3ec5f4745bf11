#!/usr/bin/env bash
# The other build types (scripts/test.sh builds RelWithDebInfo, static): CI runs this after it.
#   build-release-shared/  Release, BUILD_SHARED_LIBS=ON: everything, then the whole test suite
#                          (the public-API tests run against libspindle.so)
#   build-debug/           Debug: everything compiled (not run: the suite runs in the other builds)
# Both with -Werror (a warning fails the build). MinSizeRel: BUILD_TYPES="MinSizeRel" (not in CI).
#   JOBS (default: CPU count), BUILD_TYPES (default: "Release-shared Debug").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=${JOBS:-$(nproc)}
for bt in ${BUILD_TYPES:-Release-shared Debug}; do
  case $bt in
    Release-shared) dir=build-release-shared; args=(-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON) ;;
    *) dir=build-$(echo "$bt" | tr '[:upper:]' '[:lower:]'); args=(-DCMAKE_BUILD_TYPE="$bt") ;;
  esac
  echo "== $bt ($dir)"
  mkdir -p "$dir"
  cmake -S . -B "$dir" "${args[@]}" -DSPINDLE_WERROR=ON -DSPINDLE_BUILD_CORTEX_M=OFF >"$dir/configure.log" 2>&1 ||
    { cat "$dir/configure.log" >&2; exit 1; }
  cmake --build "$dir" -j "$jobs"
  if [[ $bt == Release-shared ]]; then
    (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 600)
  fi
done
