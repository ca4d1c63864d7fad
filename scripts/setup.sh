#!/bin/sh
# Installs what herald needs to build, test and benchmark on Debian 12,
# skipping what is already there. Safe to run again.
set -eu
packages="cmake ninja-build g++ pkg-config libmsgpack-cxx-dev libabsl-dev libboost-dev \
libgtest-dev libbenchmark-dev libsigc++-3.0-dev libconcurrentqueue-dev \
libzmq3-dev cppzmq-dev libssl-dev nlohmann-json3-dev python3-zmq python3-msgpack"
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
