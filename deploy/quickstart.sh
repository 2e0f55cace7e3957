#!/usr/bin/env bash
# keyfleet quickstart. Installs what is missing, builds, then shows the offline key tools on a
# sample: fingerprints next to ssh-keygen's, and an authorized_keys file checked line by line.
# (The full fleet demo — PostgreSQL, controller, agents — arrives with the controller and agent.)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${KEYFLEET_BUILD_DIR:-$ROOT/build}

"$ROOT/deploy/build.sh"
KEYFLEET="$BUILD_DIR/cli/keyfleet"

WORK=$(mktemp -d /tmp/keyfleet-quickstart.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM

run() {
  printf '\n$ %s\n' "$*"
  "$@" || printf '(exit code %d)\n' "$?"
}

echo "== Generating sample keys with ssh-keygen in $WORK"
ssh-keygen -q -t ed25519 -N '' -C alice@laptop -f "$WORK/alice"
ssh-keygen -q -t ecdsa -b 384 -N '' -C bob@desktop -f "$WORK/bob"
ssh-keygen -q -t rsa -b 3072 -N '' -C deploy@ci -f "$WORK/deploy"
ssh-keygen -q -t rsa -b 1024 -N '' -C old-rsa@legacy -f "$WORK/weak"
cat "$WORK"/alice.pub "$WORK"/bob.pub "$WORK"/deploy.pub > "$WORK/keys.pub"

echo
echo "== Fingerprints: keyfleet and ssh-keygen print the same lines"
run "$KEYFLEET" fingerprint "$WORK/keys.pub"
run ssh-keygen -lf "$WORK/keys.pub"
run "$KEYFLEET" fingerprint -E md5 "$WORK/keys.pub"
run "$KEYFLEET" -o json fingerprint "$WORK/alice.pub"

echo
echo "== An authorized_keys file with good and bad lines"
{
  echo "# managed by hand"
  echo "restrict,from=\"10.0.0.0/8\",expiry-time=\"20991231Z\" $(cat "$WORK/alice.pub")"
  echo "command=\"/usr/bin/backup\",no-pty $(cat "$WORK/deploy.pub")"
  echo "no-ptyy $(cat "$WORK/bob.pub")"
  echo "restrict, $(cat "$WORK/bob.pub")"
  echo "from=\"10.1.2.3/8\" $(cat "$WORK/bob.pub")"
  echo "expiry-time=\"20200101\" $(cat "$WORK/bob.pub")"
  echo "$(cat "$WORK/weak.pub")"
  echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBadKey= truncated"
} > "$WORK/authorized_keys"
run cat "$WORK/authorized_keys"
run "$KEYFLEET" check-authorized-keys "$WORK/authorized_keys"

echo
echo "quickstart: done (sample files removed)"
