#!/bin/sh
# Quick start, command 2: set up, build, and run the tests.
#   scripts/test.sh          the whole suite (unit, examples, install) — RelWithDebInfo
#   scripts/test.sh asan     unit + integration tests under AddressSanitizer + UBSan
#   scripts/test.sh tsan     unit + integration tests under ThreadSanitizer
set -eu
cd "$(dirname "$0")/.."
preset=${1:-default}
scripts/setup.sh
cmake --preset "$preset" > /dev/null
if [ "$preset" = default ]; then
  cmake --build --preset default
  ctest --preset default
else
  cmake --build --preset "$preset" --target herald_unit_tests herald_integration_tests
  ctest --preset "$preset" -L "unit|integration"
fi
