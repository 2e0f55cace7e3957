#!/usr/bin/env bash
# Fingerprints the same N-key file with `keyfleet fingerprint` and `ssh-keygen -lf`, in the same
# run, checks both print the same lines, and reports the best of R runs of each and the ratio.
# usage: tests/bench/fingerprint_bench.sh [N=100000] [RUNS=3]   (after deploy/build.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${KEYFLEET_BUILD_DIR:-$ROOT/build}
N=${1:-100000}; RUNS=${2:-3}
W=$(mktemp -d /tmp/keyfleet-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT

"$BUILD_DIR/tests/bench/make_key_file" "$N" > "$W/keys.pub"

best() {  # best wall time in seconds of RUNS runs of "$@" > $W/out.$tag
  local tag=$1; shift
  local b=""
  for _ in $(seq "$RUNS"); do
    local s e t
    s=$(date +%s.%N); "$@" > "$W/out.$tag"; e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}

ours=$(best keyfleet "$BUILD_DIR/cli/keyfleet" fingerprint "$W/keys.pub")
theirs=$(best ssh-keygen ssh-keygen -lf "$W/keys.pub")
if ! cmp -s "$W/out.keyfleet" "$W/out.ssh-keygen"; then
  echo "fingerprint_bench: outputs differ" >&2
  diff "$W/out.keyfleet" "$W/out.ssh-keygen" | head >&2
  exit 1
fi
lines=$(wc -l < "$W/out.keyfleet")
printf 'keys=%s identical_lines=%s keyfleet_s=%.3f ssh_keygen_s=%.3f speedup=%.2fx\n' \
  "$N" "$lines" "$ours" "$theirs" "$(echo "$theirs / $ours" | bc -l)"
