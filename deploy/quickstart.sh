#!/usr/bin/env bash
# keyfleet quickstart: installs what is missing, builds, then runs the main job on this machine:
# a private PostgreSQL in a temporary directory, the controller (TLS, with a CA it creates), and
# three agents on sandbox roots (each a fake host with its own /etc/passwd and homes), each
# enrolled with a join token that gives it its labels and watching over mutual TLS. Every CLI call
# authenticates with the bootstrap admin token the controller writes to $WORK/admin.token. It
# walks through adding people and a deploy service, granting by label, the synced files, an
# access review, drift repaired, a fleet-wide revocation, alice replacing her key herself with a
# token limited to her own keys, an impostor being refused, the compliance report and the audit
# log.
# Everything it starts is stopped and removed on exit, also on Ctrl-C. Run as root.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${KEYFLEET_BUILD_DIR:-$ROOT/build}

if [ "$(id -u)" != 0 ]; then
  echo "quickstart: run as root (apt-get, and the sandbox hosts' files belong to other uids)" >&2
  exit 2
fi
"$ROOT/deploy/build.sh" keyfleet keyfleet-controller keyfleet-agent
KEYFLEET="$BUILD_DIR/cli/keyfleet"
CONTROLLER="$BUILD_DIR/controller/keyfleet-controller"
AGENT="$BUILD_DIR/node-agent/keyfleet-agent"
START=$(date +%s)
# The demo shows its own credentials; none from the caller's environment.
unset KEYFLEET_TOKEN KEYFLEET_TOKEN_FILE

WORK=$(mktemp -d /tmp/keyfleet-quickstart.XXXXXX)
chmod 755 "$WORK"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null || true; done
  if [ -f "$WORK/pg/data/postmaster.pid" ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo; echo "quickstart: interrupted, cleaning up"; exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
  printf '\n$ %s\n' "$*"
  "$@" || printf '(exit code %d)\n' "$?"
}

step "A private PostgreSQL in $WORK/pg (Unix socket only)"
mkdir "$WORK/pg" && chown postgres "$WORK/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg/data" -U keyfleet --auth=trust -E UTF8 \
  --locale=C >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w \
  -o "-c listen_addresses='' -k $WORK/pg" start >/dev/null
DB="host=$WORK/pg port=5432 user=keyfleet dbname=postgres"

step "The controller's CA (its key stays in $WORK/ca, readable only by root)"
run "$CONTROLLER" init-ca --ca-dir "$WORK/ca"
export KEYFLEET_CA="$WORK/ca/ca.crt"

step "The controller (migrates the schema, writes the bootstrap admin token, serves TLS on a free loopback port)"
"$CONTROLLER" --db "$DB" --listen 127.0.0.1:0 --ca-dir "$WORK/ca" --tls-name 127.0.0.1 \
  --bootstrap-token-file "$WORK/admin.token" >"$WORK/controller.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  PORT=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$WORK/controller.log")
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "${PORT:-}" ] || { cat "$WORK/controller.log"; exit 1; }
export KEYFLEET_CONTROLLER="127.0.0.1:$PORT"
cat "$WORK/controller.log"
# Every call below authenticates with it (0600, made by the controller on this database's first
# start); without a credential the controller refuses.
run "$KEYFLEET" principal list
export KEYFLEET_TOKEN_FILE="$WORK/admin.token"
run "$KEYFLEET" whoami

step "Three sandbox hosts, each with accounts alice (2001), bob (2002), deploy (2003), enrolled with join tokens"
make_host() {
  local h="$WORK/hosts/$1"
  mkdir -p "$h/etc" "$h/home"
  printf 'root:x:0:0:root:/root:/bin/sh\nalice:x:2001:2001::/home/alice:/bin/sh\nbob:x:2002:2002::/home/bob:/bin/sh\ndeploy:x:2003:2003::/home/deploy:/bin/sh\n' >"$h/etc/passwd"
  for u in alice:2001 bob:2002 deploy:2003; do
    mkdir -p "$h/home/${u%%:*}" && chown "${u#*:}:${u#*:}" "$h/home/${u%%:*}"
  done
  local name=$1 labels=$2
  # The operator makes a single-use token naming the host and its labels; the agent pins the
  # controller's CA by hash, makes its key locally and gets a certificate for it.
  local token pin
  token=$("$KEYFLEET" -o json host token create --hostname "$name" --labels "$labels" --ttl 10m)
  pin=$(sed -n 's/.*"ca_pin": "\(.*\)".*/\1/p' <<<"$token")
  token=$(sed -n 's/.*"token": "\(.*\)".*/\1/p' <<<"$token")
  printf '\n$ keyfleet host token create --hostname %s --labels %s --ttl 10m\n' "$name" "$labels"
  printf '$ keyfleet-agent enroll --controller %s --token-file - --ca-hash %s --tls-dir %s\n' \
    "$KEYFLEET_CONTROLLER" "$pin" "$h/tls"
  "$AGENT" enroll --controller "$KEYFLEET_CONTROLLER" --token-file - --ca-hash "$pin" \
    --tls-dir "$h/tls" <<<"$token"
  echo "$token" >"$WORK/used-token-$name"
  "$AGENT" run --controller "$KEYFLEET_CONTROLLER" --tls-dir "$h/tls" \
    --root "$h" --cache "$h/agent-cache" --recheck-interval 2s --log-level warn \
    >"$WORK/agent-$name.log" 2>&1 &
  PIDS+=($!)
}
make_host web-1 env=prod,role=web
make_host db-1 env=prod,role=db
make_host dev-1 env=dev,role=web
run "$KEYFLEET" host token list

wait_converged() {
  for _ in $(seq 100); do
    local json
    json=$("$KEYFLEET" -o json host list 2>/dev/null || true)
    if [ "$(grep -c '"hostname"' <<<"$json")" = 3 ] && ! grep -q '"converged": false' <<<"$json"; then
      return 0
    fi
    sleep 0.2
  done
  echo "(hosts did not all converge in 20 s)"
}
show_file() {
  local d="$WORK/hosts/$1/home/$2/.ssh"
  printf '\n--- %s:~%s/.ssh/authorized_keys ' "$1" "$2"
  if [ -f "$d/authorized_keys" ]; then
    printf '(.ssh %s, file %s)\n' "$(stat -c '%A %u:%g' "$d")" \
      "$(stat -c '%A %u:%g' "$d/authorized_keys")"
    cat "$d/authorized_keys"
  else
    echo "(none)"
  fi
}

step "People, a deploy service, and their keys"
for k in alice bob deploy; do ssh-keygen -q -t ed25519 -N '' -C "$k@example" -f "$WORK/$k"; done
run "$KEYFLEET" principal add alice --email alice@example.com
run "$KEYFLEET" principal add bob --email bob@example.com
run "$KEYFLEET" principal add deploy --kind service
run "$KEYFLEET" key add alice "$WORK/alice.pub" --label laptop
run "$KEYFLEET" key add bob "$WORK/bob.pub" --label desktop
run "$KEYFLEET" key add deploy "$WORK/deploy.pub" --label ci
run "$KEYFLEET" principal list

step "Grants by label: alice on every prod host, bob and the deploy key on every web host"
run "$KEYFLEET" grant add alice --hosts env=prod --account alice
run "$KEYFLEET" grant add bob --hosts role=web --account bob --expires 90d
run "$KEYFLEET" grant add deploy --hosts role=web --account deploy \
  --options 'restrict,command="/usr/local/bin/deploy"'
run "$KEYFLEET" grant list
wait_converged
run "$KEYFLEET" host list

step "What the agents wrote (managed block on top; .ssh 700, file 600, owned by the account)"
show_file web-1 alice
show_file web-1 deploy
show_file db-1 alice
show_file db-1 bob
show_file dev-1 bob
run "$KEYFLEET" access web-1
run "$KEYFLEET" access db-1 alice

step "Drift by hand on web-1: a stray key in bob's file, alice's file made world-readable"
run "$KEYFLEET" policy set --unmanaged report
wait_converged
echo "$(cat "$WORK/deploy.pub" | cut -d' ' -f1,2) stray-key" >>"$WORK/hosts/web-1/home/bob/.ssh/authorized_keys"
chmod 644 "$WORK/hosts/web-1/home/alice/.ssh/authorized_keys"
echo '(the agent re-checks every 2 s)'
sleep 3
run "$KEYFLEET" report drift
show_file web-1 alice
echo '(access answers from the files: the stray line logs in as bob, outside keyfleet)'
run "$KEYFLEET" access web-1 bob
run "$KEYFLEET" verify "$WORK/deploy.pub" web-1 bob
run "$KEYFLEET" verify "$WORK/deploy.pub" web-1 deploy --from 10.1.2.3

step "alice's laptop is stolen: revoke her key everywhere and wait for the fleet"
FP=$("$KEYFLEET" fingerprint "$WORK/alice.pub" | awk '{print $2}')
run "$KEYFLEET" key revoke "$FP" --reason "laptop stolen" --wait --timeout 30s
show_file web-1 alice
show_file db-1 alice
run "$KEYFLEET" verify "$WORK/alice.pub" db-1 alice
run "$KEYFLEET" key add alice "$WORK/alice.pub"

step "alice replaces her key herself, with a token that may manage only her own keys"
# The admin hands her an owner token (kept 0600: the CLI refuses a token file others can read).
printf '\n$ keyfleet token create --name alice-self --role owner --principal alice > %s\n' \
  "$WORK/alice.token"
(umask 077 && "$KEYFLEET" token create --name alice-self --role owner --principal alice \
  >"$WORK/alice.token")
ssh-keygen -q -t ed25519 -N '' -C "alice@new-laptop" -f "$WORK/alice-new"
run "$KEYFLEET" --token-file "$WORK/alice.token" whoami
run "$KEYFLEET" --token-file "$WORK/alice.token" key add alice "$WORK/alice-new.pub" --label new-laptop
run "$KEYFLEET" --token-file "$WORK/alice.token" key add bob "$WORK/alice-new.pub"
run "$KEYFLEET" --token-file "$WORK/alice.token" grant add alice --hosts role=web --account alice
wait_converged
show_file web-1 alice
run "$KEYFLEET" token list

step "An impostor replays web-1's (already used) join token; without a certificate it gets nothing"
PIN=$("$CONTROLLER" ca show --ca-dir "$WORK/ca" | sed -n 's/.*signing CA pin: //p')
mkdir -p "$WORK/impostor/etc" && cp "$WORK/hosts/web-1/etc/passwd" "$WORK/impostor/etc/passwd"
run "$AGENT" enroll --controller "$KEYFLEET_CONTROLLER" --token "$(cat "$WORK/used-token-web-1")" \
  --ca-hash "$PIN" --tls-dir "$WORK/impostor/tls"
run "$AGENT" run --once --controller "$KEYFLEET_CONTROLLER" --tls-dir "$WORK/impostor/tls" \
  --root "$WORK/impostor" --cache "$WORK/impostor/cache"
run "$KEYFLEET" host show web-1

step "bob rotates his key: the new one joins his grants, the old one works for a 7-day overlap"
ssh-keygen -q -t ed25519 -N '' -C "bob@new-desktop" -f "$WORK/bob-new"
BOB_FP=$("$KEYFLEET" fingerprint "$WORK/bob.pub" | awk '{print $2}')
run "$KEYFLEET" key rotate "$BOB_FP" "$WORK/bob-new.pub" --overlap 7d --wait --timeout 30s
show_file web-1 bob
run "$KEYFLEET" key show "$BOB_FP"
run "$KEYFLEET" report rotation

step "Compliance report and the audit log"
run "$KEYFLEET" report compliance
run "$KEYFLEET" audit
run "$KEYFLEET" audit verify

step "quickstart: done in $(( $(date +%s) - START )) s (after the build); stopping everything"
