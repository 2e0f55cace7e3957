#!/usr/bin/env bash
# Builds the Debian packages keyfleet-agent, keyfleet-controller and keyfleet (the CLI) with
# CPack (cmake/Packaging.cmake) from a Release or RelWithDebInfo build directory, stripped.
#
#   deploy/build-packages.sh [--no-build] [--lintian] [OUT_DIR]
#
# OUT_DIR: where the .debs go (default BUILD_DIR/packages). BUILD_DIR is $KEYFLEET_BUILD_DIR or
# build/, configured as deploy/build.sh does when it does not exist yet; an existing one of
# another build type is refused rather than reconfigured (use KEYFLEET_BUILD_DIR=build-pkg).
# --no-build: package what is built, as configured (the tests use it; ctest does not build).
# --lintian: run lintian on each package and fail on any error or warning it has no override
# for.
# Builds hold /tmp/keyfleet-build.lock, so they queue behind other builds on a shared machine.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${KEYFLEET_BUILD_DIR:-$ROOT/build}
build=1
lintian=0
OUT_DIR=
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --lintian) lintian=1 ;;
    -*) echo "build-packages: unknown option $arg" >&2; exit 2 ;;
    *) OUT_DIR=$arg ;;
  esac
done
OUT_DIR=${OUT_DIR:-$BUILD_DIR/packages}

for tool in cpack dpkg-deb dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || {
    echo "build-packages: $tool is missing (cmake, dpkg, dpkg-dev)" >&2; exit 1; }
done

if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  [ "$build" = 1 ] || { echo "build-packages: $BUILD_DIR is not configured" >&2; exit 1; }
  CC=clang CXX=clang++ cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt")
case "$build_type" in
  Release | RelWithDebInfo) ;;
  *)
    echo "build-packages: $BUILD_DIR is a '$build_type' build; packages come from Release or" \
      "RelWithDebInfo (stripped). Use another directory: KEYFLEET_BUILD_DIR=$ROOT/build-pkg $0" >&2
    exit 1
    ;;
esac

if [ "$build" = 1 ]; then
  flock /tmp/keyfleet-build.lock cmake --build "$BUILD_DIR" -j "${KEYFLEET_BUILD_JOBS:-$(nproc)}" \
    --target keyfleet-agent keyfleet-controller keyfleet
fi
for binary in node-agent/keyfleet-agent controller/keyfleet-controller cli/keyfleet; do
  [ -x "$BUILD_DIR/$binary" ] || { echo "build-packages: $BUILD_DIR/$binary is not built" >&2; exit 1; }
done

# The changelog's date: the last commit's, so packages of one commit are the same.
if [ -z "${SOURCE_DATE_EPOCH:-}" ] && git -C "$ROOT" rev-parse HEAD >/dev/null 2>&1; then
  SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct)
  export SOURCE_DATE_EPOCH
fi

mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/*.deb
# Not under the build lock: queued behind other builds, the packaging tests timed out. A binary
# relinked while CPack copies it may be packed half-written; lintian and the install test
# would then fail, and a rerun packs the finished one.
# KEYFLEET_DEB_COMPRESSION=gzip (the tests): half the time of xz, the default.
cpack --config "$BUILD_DIR/CPackConfig.cmake" -B "$OUT_DIR" \
  ${KEYFLEET_DEB_COMPRESSION:+-D CPACK_DEBIAN_COMPRESSION_TYPE=$KEYFLEET_DEB_COMPRESSION} \
  >"$OUT_DIR/cpack.log" 2>&1 || {
  cat "$OUT_DIR/cpack.log" >&2; exit 1; }
rm -rf "$OUT_DIR/_CPack_Packages"
ls -1 "$OUT_DIR"/*.deb

if [ "$lintian" = 1 ]; then
  command -v lintian >/dev/null || { echo "build-packages: lintian is missing" >&2; exit 1; }
  # Errors and warnings fail; info and pedantic tags are shown. Overrides ship in the packages
  # (packaging/*/lintian-overrides).
  lintian --display-level '>=info' --fail-on error,warning "$OUT_DIR"/*.deb
fi
