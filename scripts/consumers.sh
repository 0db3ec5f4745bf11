#!/usr/bin/env bash
# Builds and runs the consumer program (tests/consumers/common/main.cpp) against Spindle the three
# ways a project consumes it, each compiled with -Wall -Wextra -Werror:
#   find_package  from an install prefix (the static and the shared library)
#   pkg-config    from the same prefixes (`--static` for the static library)
#   FetchContent  of this source tree (tests/consumers/subdirectory, which also checks that Spindle
#                 leaves the parent's build type, flags and target namespace alone)
# usage: scripts/consumers.sh STATIC_BUILD_DIR SHARED_BUILD_DIR
#   each a configured and built Spindle build tree (scripts/test.sh's build/ is static;
#   scripts/build-types.sh's build-release-shared/ is shared); they are installed with
#   `cmake --install` into fresh prefixes under build-consumers/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
static_build=${1:?usage: scripts/consumers.sh STATIC_BUILD_DIR SHARED_BUILD_DIR}
shared_build=${2:?usage: scripts/consumers.sh STATIC_BUILD_DIR SHARED_BUILD_DIR}
work=${CONSUMERS_DIR:-build-consumers}
jobs=${JOBS:-$(nproc)}
version=$(sed -n 's/^project(spindle VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)

for kind in static shared; do
  build=$static_build
  [[ $kind == shared ]] && build=$shared_build
  prefix=$work/prefix-$kind
  echo "== install ($kind) from $build into $prefix"
  cmake --install "$build" --prefix "$prefix" >"$work/install-$kind.log"
  lib=$(ls "$prefix"/lib/libspindle.* | head -1)
  case $kind in
    static) [[ $lib == *.a ]] || { echo "expected libspindle.a in $prefix/lib, found $lib" >&2; exit 1; } ;;
    shared) [[ -e $prefix/lib/libspindle.so ]] || { echo "no libspindle.so in $prefix/lib" >&2; exit 1; } ;;
  esac

  echo "== find_package ($kind)"
  cmake -S tests/consumers/find_package -B "$work/find_package-$kind" -DCMAKE_PREFIX_PATH="$prefix" \
    -DSPINDLE_EXPECTED_VERSION="$version" -DCMAKE_BUILD_TYPE=Release >"$work/find_package-$kind.log"
  cmake --build "$work/find_package-$kind" -j "$jobs" >>"$work/find_package-$kind.log" ||
    { cat "$work/find_package-$kind.log" >&2; exit 1; }
  "$work/find_package-$kind/consumer"

  echo "== pkg-config ($kind)"
  static_flag=""
  [[ $kind == static ]] && static_flag=--static
  export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
  pkg-config --exact-version="$version" spindle
  # shellcheck disable=SC2046
  c++ -Wall -Wextra -Werror -O2 -DSPINDLE_EXPECTED_VERSION="\"$version\"" $(pkg-config --cflags spindle) \
    tests/consumers/common/main.cpp -o "$work/pkg_config-$kind" $(pkg-config $static_flag --libs spindle) \
    -Wl,-rpath,"$prefix/lib"
  unset PKG_CONFIG_PATH
  "$work/pkg_config-$kind"
done

# The shared library exports the public API only: the scheduler's private types stay hidden.
if nm -DC "$work/prefix-shared/lib/libspindle.so" | grep -E " [TW] spindle::(detail::(Worker|RuntimeImpl|TimerWheel|TokenNode)|net::detail::SocketCore)::" >&2; then
  echo "libspindle.so exports private scheduler symbols (above)" >&2
  exit 1
fi
echo "libspindle.so exports $(nm -DC --defined-only "$work/prefix-shared/lib/libspindle.so" | grep -c ' spindle::') spindle:: symbols"

echo "== FetchContent of the source tree"
cmake -S tests/consumers/subdirectory -B "$work/subdirectory" -DSPINDLE_SOURCE_DIR="$root" \
  -DSPINDLE_EXPECTED_VERSION="$version" -DCMAKE_BUILD_TYPE=Debug >"$work/subdirectory.log" ||
  { cat "$work/subdirectory.log" >&2; exit 1; }
cmake --build "$work/subdirectory" -j "$jobs" >>"$work/subdirectory.log" ||
  { cat "$work/subdirectory.log" >&2; exit 1; }
"$work/subdirectory/consumer"
echo "== consumers passed"
