#!/bin/sh
# Configures, builds and runs tests/integration/subdirectory_consumer, which
# adds herald's source tree with add_subdirectory. (Built unoptimized, with
# no debug information: what it checks is the build, and -O0 compiles the
# whole library in about half the time of a Release build.)
set -eu
source_dir=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake -S "$source_dir/tests/integration/subdirectory_consumer" -B "$work/build" -G Ninja \
  -DHERALD_SOURCE_DIR="$source_dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 > "$work/configure.log" ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" -j2 > "$work/build.log" || { cat "$work/build.log"; exit 1; }
"$work/build/consumer"
