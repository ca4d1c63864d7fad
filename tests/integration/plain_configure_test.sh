#!/bin/sh
# What a packager runs, `cmake -DCMAKE_BUILD_TYPE=Release` with nothing else
# set, configures with everything on and warnings not errors. CI builds that
# very configuration (the default preset is it, plus HERALD_WERROR=ON, which
# only makes the build stricter), so configuring is what is left to check.
set -eu
source_dir=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake -S "$source_dir" -B "$work/build" -DCMAKE_BUILD_TYPE=Release > "$work/configure.log" ||
  { cat "$work/configure.log"; exit 1; }
fail=0
expect() {
  grep -q "^$1:BOOL=$2\$" "$work/build/CMakeCache.txt" ||
    { echo "plain configure: expected $1=$2, got: $(grep "^$1:" "$work/build/CMakeCache.txt")"; fail=1; }
}
expect HERALD_WERROR OFF
expect HERALD_BUILD_TESTS ON
expect HERALD_BUILD_BENCHMARKS ON
expect HERALD_BUILD_EXAMPLES ON
expect HERALD_BUILD_APPS ON
for target in herald herald_cli herald_unit_tests herald_integration_tests herald_bench; do
  cmake --build "$work/build" --target help | grep -q "\\b$target\\b" ||
    { echo "plain configure: no target $target"; fail=1; }
done
exit $fail
