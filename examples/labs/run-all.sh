#!/usr/bin/env bash
# Runs every lab (NN-*/run.sh) in order and prints a summary line.
# Exit status: 0 when every lab passed, 1 otherwise.
# Usage: examples/labs/run-all.sh [NN …]   (e.g. run-all.sh 02 04: only those)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
passed=0 failed=0 failures=()
for script in "$here"/[0-9][0-9]-*/run.sh; do
  lab=$(basename "$(dirname "$script")")
  if [ $# -gt 0 ]; then
    want=0; for n in "$@"; do [ "${lab%%-*}" = "$n" ] && want=1; done
    [ $want = 1 ] || continue
  fi
  echo "=== $lab"
  start=$SECONDS
  if bash "$script"; then
    passed=$((passed + 1)); echo "--- $lab passed ($((SECONDS - start))s)"
  else
    failed=$((failed + 1)); failures+=("$lab"); echo "--- $lab FAILED ($((SECONDS - start))s)"
  fi
done
echo "labs: $passed passed, $failed failed${failures[*]:+ (${failures[*]})}"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
