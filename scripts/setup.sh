#!/bin/sh
# Installs what herald needs to build, test and benchmark on Debian 12,
# skipping what is already there. Safe to run again.
set -eu
cd "$(dirname "$0")/.."
packages="cmake ninja-build g++ pkg-config libmsgpack-cxx-dev libabsl-dev libboost-dev \
libgtest-dev libbenchmark-dev libsigc++-3.0-dev libconcurrentqueue-dev \
libzmq3-dev cppzmq-dev libssl-dev nlohmann-json3-dev python3-zmq python3-msgpack python3-websockets clang-format clang"
# Node.js for the JavaScript interop peers and the Node `ws` benchmark peer:
# Debian's nodejs + npm, unless a node with npm is already installed.
if ! command -v node > /dev/null 2>&1 || ! command -v npm > /dev/null 2>&1; then
  packages="$packages nodejs npm"
fi
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
fi
# npm packages, exactly as pinned in package-lock.json.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.herald-lock; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.herald-lock
fi
