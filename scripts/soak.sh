#!/bin/sh
# The soak test (not part of scripts/test.sh or CI: it takes ~3 minutes and
# hundreds of processes): builds the `herald` command in the default preset,
# then runs tests/soak/soak.py against a hub and a broker on 127.0.0.1.
#   scripts/soak.sh [--rounds N] [--clients N] [--seconds S]
set -eu
cd "$(dirname "$0")/.."
cmake --preset default > /dev/null
cmake --build --preset default --target herald_cli
exec python3 tests/soak/soak.py build/default/apps/herald "$@"
