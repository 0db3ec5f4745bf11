#!/bin/sh
# run_case.sh <build-dir> <image> <machine> <case> <expected-exit> [expected text]
# Runs one Cortex-M test case under qemu (semihosting, -icount for exact tick counts, 20 s limit)
# and succeeds when the firmware's exit code and output are the expected ones. Used by
# run_tests.sh and by the CTest tests that cortex-m.cmake registers.
set -u
build=$1 image=$2 machine=$3 case=$4 want=$5
shift 5
text="$*"
qemu=${QEMU_SYSTEM_ARM:-qemu-system-arm}
elf="$build/test_$image.elf"
if [ ! -f "$elf" ]; then
  echo "FAIL $image.$case: $elf not built"
  exit 1
fi
out=$(timeout 20 "$qemu" -M "$machine" -display none -monitor none -serial none \
  -semihosting-config enable=on,target=native -icount shift=0,sleep=off \
  -kernel "$elf" -append "$case" 2>&1 </dev/null)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne "$want" ]; then
  [ "$rc" -eq 124 ] && echo "(timed out after 20 s)"
  echo "FAIL $image.$case: exit code $rc, expected $want"
  exit 1
fi
if [ -n "$text" ] && ! printf '%s\n' "$out" | grep -qF -- "$text"; then
  echo "FAIL $image.$case: output lacks '$text'"
  exit 1
fi
echo "OK $image.$case (exit $rc as expected)"
exit 0
