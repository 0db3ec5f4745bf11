#!/usr/bin/env bash
# scripts/apidocs.sh: generates the API reference of the public headers with doxygen (docs/Doxyfile:
# sched/include, sched/core/include, sched/sync/include and sched/io/include, without the
# spindle/detail/ internals) and fails if doxygen warns about anything, an undocumented public
# declaration included. Installs doxygen when missing (scripts/deps.sh apidocs). Meant for CI.
#
#   scripts/apidocs.sh                              # HTML in build-apidocs/html/index.html
#   APIDOCS_BUILD_DIR=/tmp/apidocs scripts/apidocs.sh
#
# Public declarations are documented with `///` comments (or `///<` after a member); a plain `//`
# comment is invisible to doxygen, so a declaration with only that fails the run. Overloads that
# share one comment go in a `///@{` ... `///@}` group. Exits 1 and prints every warning
# (file:line: text) when there are any.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${APIDOCS_BUILD_DIR:-$root/build-apidocs}"

"$root/scripts/deps.sh" apidocs  # doxygen, only if missing
cd "$root"  # docs/Doxyfile's INPUT paths are relative to the repository root
mkdir -p "$out"
rm -rf "$out/html"
log="$out/doxygen.log"
start=$(date +%s%N)
rc=0
{
  cat docs/Doxyfile
  echo "OUTPUT_DIRECTORY = \"$out\""
} | doxygen - >"$log" 2>&1 || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
if [[ $rc -ne 0 ]]; then
  # doxygen 1.9.4 prints each warning again at the end when FAIL_ON_WARNINGS fails the run.
  awk '!seen[$0]++' "$log" >&2
  n=$(grep ': \(warning\|error\): ' "$log" | sort -u | wc -l)
  echo "apidocs: FAILED: doxygen exited $rc with $n warning(s) (${ms} ms; log: $log)" >&2
  exit 1
fi
echo "apidocs: $out/html/index.html (doxygen $(doxygen --version), no warnings, ${ms} ms)"
