#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (ctest): unit, fuzz and,
# as they land, postgres and sshd tests. Extra arguments go to ctest (e.g. -L unit).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${KEYFLEET_BUILD_DIR:-$ROOT/build}

"$ROOT/deploy/build.sh"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" --timeout 900 "$@"
