#!/usr/bin/env bash
# Installs the Debian packages Spindle needs, only those that are missing.
#   scripts/deps.sh demo   build tools + runtime libraries (enough for the demo)
#   scripts/deps.sh test   + GoogleTest, Google Benchmark, Boost.Fiber (bench baseline), prometheus
#                          (promtool and the scrape test) and chromium (the dashboard page test)
#   scripts/deps.sh ci     + Cortex-M cross toolchain and qemu, clang-format, the fuzz packages
#   scripts/deps.sh fuzz   demo + clang and its libFuzzer/sanitizer runtimes (scripts/fuzz.sh)
#   scripts/deps.sh bench  test + wrk (the HTTP row of scripts/bench.sh)
#   scripts/deps.sh apidocs demo + doxygen (scripts/apidocs.sh; `ci` installs it too)
set -euo pipefail
level=${1:-test}
pkgs=(cmake make g++ libboost-context-dev libboost-dev libmimalloc-dev libuv1-dev)
if [[ $level == test || $level == ci || $level == bench ]]; then
  pkgs+=(libgtest-dev libgmock-dev libbenchmark-dev libboost-fiber-dev prometheus chromium)
fi
if [[ $level == bench ]]; then
  pkgs+=(wrk)
fi
if [[ $level == ci ]]; then
  pkgs+=(gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-dev qemu-system-arm clang-format)
fi
if [[ $level == ci || $level == apidocs ]]; then
  pkgs+=(doxygen)
fi
if [[ $level == ci || $level == fuzz ]]; then
  pkgs+=(clang libclang-rt-14-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "spindle: installing missing packages: ${missing[*]}" >&2
sudo=""
if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}"; then
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
