#!/bin/sh
# run_tests.sh <build-dir>: runs every case of tests/cases.txt against the firmware in <build-dir>
# (a build of this directory with toolchain-arm-none-eabi.cmake) and prints PASS/FAIL per case.
# Exit status: 0 when all cases behaved as expected.
set -u
if [ $# -ne 1 ]; then
  echo "usage: $0 <build-dir>" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$1
pass=0 fail=0
start=$(date +%s)
while read -r image machine case want text; do
  case "$image" in '#'* | '') continue ;; esac
  if log=$("$here/run_case.sh" "$build" "$image" "$machine" "$case" "$want" $text 2>&1); then
    if [ "$want" -eq 0 ]; then echo "PASS $image.$case"; else echo "PASS $image.$case (firmware exited $want, as expected)"; fi
    pass=$((pass + 1))
  else
    echo "FAIL $image.$case"
    printf '%s\n' "$log" | sed 's/^/    /'
    fail=$((fail + 1))
  fi
done <"$here/tests/cases.txt"
echo "$pass passed, $fail failed ($(($(date +%s) - start)) s)"
[ "$fail" -eq 0 ]
