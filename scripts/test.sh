#!/bin/sh
# Quick start, command 2: set up, build, and run the tests.
#   scripts/test.sh          the whole suite (unit, integration, examples, install,
#                            add_subdirectory) — the default preset: the plain
#                            Release build, everything on, warnings as errors
#   scripts/test.sh asan     unit + integration tests under AddressSanitizer + UBSan
#   scripts/test.sh tsan     unit + integration tests under ThreadSanitizer
#   scripts/test.sh plain    the build a packager runs: `cmake -DCMAKE_BUILD_TYPE=Release`
#                            with nothing else set (everything on, warnings not errors),
#                            then its unit tests and examples (CI does not run it: the
#                            default preset builds that configuration with -Werror, and
#                            the suite checks the plain configuration itself)
#   scripts/test.sh format   every C++ file is clang-formatted (.clang-format)
#   scripts/test.sh fuzz     the libFuzzer targets (clang; core + wire codecs only),
#                            each run briefly on its seed corpus: fails on a crash,
#                            a broken invariant, a leak or a timeout
set -eu
cd "$(dirname "$0")/.."
mode=${1:-default}
scripts/setup.sh
case "$mode" in
  default)
    cmake --preset default > /dev/null
    cmake --build --preset default
    ctest --preset default
    ;;
  asan | tsan)
    cmake --preset "$mode" > /dev/null
    cmake --build --preset "$mode" --target herald_unit_tests herald_integration_tests
    ctest --preset "$mode" -L "unit|integration"
    ;;
  plain)
    cmake -S . -B build/plain -DCMAKE_BUILD_TYPE=Release > /dev/null
    cmake --build build/plain -j2
    ctest --test-dir build/plain --output-on-failure -L "unit|example"
    ;;
  fuzz)
    command -v clang++ > /dev/null || { echo "fuzz: clang++ is needed (apt-get install clang)" >&2; exit 1; }
    cmake --preset fuzz > /dev/null
    cmake --build --preset fuzz
    ctest --preset fuzz
    ;;
  format)
    git ls-files '*.cc' '*.hpp' '*.h' | xargs clang-format --dry-run -Werror
    echo "format: every C++ file is clang-formatted"
    ;;
  *)
    echo "usage: scripts/test.sh [default|asan|tsan|plain|format|fuzz]" >&2
    exit 2
    ;;
esac
