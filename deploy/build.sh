#!/usr/bin/env bash
# Installs what is missing, configures and builds keyfleet into build/ (or $KEYFLEET_BUILD_DIR).
# Used by quickstart.sh and test.sh. clang is the compiler so the libFuzzer targets build too.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${KEYFLEET_BUILD_DIR:-$ROOT/build}

"$ROOT/deploy/install-deps.sh"

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYFLEET_FUZZ=ON
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"
