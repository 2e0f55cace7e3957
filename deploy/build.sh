#!/usr/bin/env bash
# Installs what is missing, configures and builds keyfleet into build/ (or $KEYFLEET_BUILD_DIR).
# Used by quickstart.sh (which passes the targets it needs) and test.sh. clang is the compiler
# so the libFuzzer targets build too. Release by default; KEYFLEET_BUILD_TYPE=RelWithDebInfo adds
# debug info (the quickstart's build took 2m08s instead of 1m49s from a fresh clone here).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${KEYFLEET_BUILD_DIR:-$ROOT/build}

"$ROOT/deploy/install-deps.sh"

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=${KEYFLEET_BUILD_TYPE:-Release} -DKEYFLEET_FUZZ=ON
fi
# Targets given as arguments (the quickstart builds only the three binaries); everything
# otherwise.
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j "$(nproc)" "${targets[@]}"
