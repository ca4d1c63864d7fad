#!/bin/sh
# Runs one fuzz target on its committed seed corpus:
#   run_fuzzer.sh FUZZER SEEDS WORK [libFuzzer flags...]
# New inputs go to WORK (the committed SEEDS are only read); a crash, a broken
# invariant, a leak or a timeout is written to WORK/artifacts/ and fails the run.
set -eu
fuzzer=$1 seeds=$2 work=$3
shift 3
mkdir -p "$work/corpus" "$work/artifacts"
exec "$fuzzer" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$seeds"
