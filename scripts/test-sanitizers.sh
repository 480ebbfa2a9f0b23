#!/usr/bin/env bash
# Build the native index extension (_mih.c) with AddressSanitizer and UndefinedBehaviorSanitizer
# into build/asan/ (never over the normal .so in src/) and run tests/sanitizers/mih_driver.py
# on it. Fails on any sanitizer report. Usage: scripts/test-sanitizers.sh [SOURCE.c]
# (another source file only to check that the sanitizers catch a planted bug).
#
# -U__linux__ makes _mih.c allocate every array with calloc instead of 2 MiB-aligned mmap
# (its only Linux-specific path), so AddressSanitizer tracks the bounds of every array.
# libasan must come first in the process, hence LD_PRELOAD into the (uninstrumented) Python;
# leak detection is off because CPython itself does not free everything at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
source=${1:-src/sightline/indexes/_mih.c}
out=build/asan/sightline_asan

libasan=$(gcc -print-file-name=libasan.so)
if [[ "$libasan" != /* || ! -e "$libasan" ]]; then
  echo "libasan.so not found (Debian: apt-get install libgcc-12-dev)" >&2
  exit 1
fi
include=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
flags=(-std=c11 -Wall -Wextra -Wno-missing-field-initializers -Wno-unused-function -U__linux__)
[[ $(uname -m) == x86_64 ]] && flags+=(-mpopcnt)

mkdir -p "$out"
so="$out/_mih$suffix"
rm -f "$so"
gcc -shared -fPIC "${flags[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all \
  -fno-omit-frame-pointer -g -O1 -I"$include" "$source" -o "$so"

log=$(mktemp /tmp/sightline-sanitizers.XXXXXX)
trap 'rm -f "$log"' EXIT
status=0
LD_PRELOAD="$libasan" \
  ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  "$py" tests/sanitizers/mih_driver.py "$so" 2>"$log" || status=$?
cat "$log" >&2
if ((status)) || grep -qE 'Sanitizer|runtime error' "$log"; then
  echo "sanitizer run of _mih failed (exit $status)" >&2
  exit 1
fi
