#!/bin/sh
# Quick start, command 1: set up, build, and run the main demo.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset default > /dev/null
cmake --build --preset default --target quickstart
./build/default/examples/quickstart
