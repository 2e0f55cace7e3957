#!/bin/bash
# keyfleet-controller and keyfleet-agent each under its own unit's restrictions
# (unit_sandbox_exec.sh: the controller as keyfleet with no capabilities and only
# /var/lib/keyfleet writable, the agent as root with its three capabilities; both under their
# units' seccomp filters), started with the units' own ExecStart= lines against the shipped
# configs, on one host as the packages lay it out (/var/lib/keyfleet shared). Run by
# units_fleet_sandbox_test.sh inside throwaway_root.sh. A private PostgreSQL serves the
# controller over /run/postgresql with peer authentication, as README.Debian sets it up. The
# CLI grants a key, the agent enrolls and writes it into a home, she logs in through a real sshd
# (loopback_sshd.sh) whose log the agent follows, a revocation with --kill-sessions --wait takes
# the key out again and ends her open session; neither daemon may log a refused call.
set -euo pipefail

S=/kf-share
STATE=/var/lib/keyfleet
HOME_DIR=/home/kfsbx-alice
SSHD_PORT=2222
SSHD_LOG=/var/log/kfsbx-sshd.log
# shellcheck source=loopback_sshd.sh
. "$S/loopback_sshd.sh"

ok() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*" >&2
  for log in /tmp/controller.log /tmp/agent.log "$SSHD_LOG"; do
    [ -s "$log" ] && { echo "--- $log" >&2; tail -20 "$log" >&2; }
  done
  exit 1
}
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
# wait_for SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}
exec_start() { sed -n 's/^ExecStart=//p' "$1"; }
exec_start_pre() { sed -n 's/^ExecStartPre=+//p' "$1" | while read -r command; do $command; done; }
# What a call refused by the sandbox (capability, read-only path, seccomp) looks like in a log.
no_refusals() {
  ! grep -Ei 'not permitted|permission denied|read-only file system|bad system call|not supported|not implemented' "$1"
}

echo "== the host as the packages make it"
install -m 0755 "$S/keyfleet-controller" "$S/keyfleet-agent" "$S/keyfleet" /usr/bin/
adduser --system --group --home "$STATE" --no-create-home --quiet keyfleet
install -d /etc/keyfleet
install -m 0640 -g keyfleet "$S/controller.yaml" /etc/keyfleet/controller.yaml
install -m 0644 "$S/agent.yaml" /etc/keyfleet/agent.yaml
sed -i 's|^database: .*|database: postgresql://keyfleet@/keyfleet|' /etc/keyfleet/controller.yaml
useradd -d "$HOME_DIR" -s /bin/sh kfsbx-alice
usermod -p '*' kfsbx-alice  # not locked: sshd lets her in with a key
install -d -m 0700 -o kfsbx-alice -g kfsbx-alice "$HOME_DIR"

echo "== PostgreSQL on /run/postgresql, peer authentication"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
install -d -o postgres -g postgres /run/postgresql /tmp/pg
runuser -u postgres -- "$pgbin/initdb" -D /tmp/pg/data -A peer -E UTF8 >/tmp/pg/initdb.log
runuser -u postgres -- "$pgbin/pg_ctl" -D /tmp/pg/data -l /tmp/pg/log -w \
  -o "-k /run/postgresql -c listen_addresses=''" start >/dev/null
runuser -u postgres -- "$pgbin/createuser" -h /run/postgresql keyfleet
runuser -u postgres -- "$pgbin/createdb" -h /run/postgresql -O keyfleet keyfleet

echo "== keyfleet-controller.service: $(exec_start "$S/keyfleet-controller.service")"
# shellcheck disable=SC2046
"$S/unit_sandbox_exec.sh" "$S/keyfleet-controller.service" -- $(exec_start "$S/keyfleet-controller.service") \
  >/tmp/controller.log 2>&1 &
check "serving" wait_for 30 grep -qs 'serving on port' /tmp/controller.log
check "$STATE made by StateDirectory=, keyfleet's, 700" test "$(stat -c '%U %a' "$STATE")" = "keyfleet 700"
check "the CA made at the first start, keyfleet's" test "$(stat -c '%U %a' "$STATE/ca/ca.key")" = "keyfleet 600"
check "the bootstrap token written" test -s "$STATE/bootstrap.token"

# The CLI trusts only files of its own user (or root): copies, as README.Debian says.
export KEYFLEET_CONTROLLER=127.0.0.1:7443 KEYFLEET_CA=/root/keyfleet-ca.crt
export KEYFLEET_TOKEN_FILE=/root/keyfleet-bootstrap.token
install -m 0644 "$STATE/ca/ca.crt" "$KEYFLEET_CA"
install -m 0600 "$STATE/bootstrap.token" "$KEYFLEET_TOKEN_FILE"
check "the CLI authenticates with the bootstrap token" sh -c "keyfleet whoami | grep -q admin"
ssh-keygen -q -t ed25519 -N '' -C alice -f /tmp/alice
keyfleet principal add alice >/dev/null
keyfleet key add alice /tmp/alice.pub >/dev/null
keyfleet grant add alice --hosts env=test --account kfsbx-alice >/dev/null
token=$(keyfleet -o json host token create --hostname web-1 --labels env=test --ttl 10m)
pin=$(sed -n 's/.*"ca_pin": "\(.*\)".*/\1/p' <<<"$token")
token=$(sed -n 's/.*"token": "\(.*\)".*/\1/p' <<<"$token")
keyfleet-agent enroll --controller 127.0.0.1:7443 --token-file - --ca-hash "$pin" <<<"$token" >/dev/null
check "enrolled into $STATE/tls (root's, inside keyfleet's directory)" \
  test "$(stat -c '%U %a' "$STATE/tls" "$STATE/tls/host.pem" | tr '\n' ' ')" = "root 700 root 600 "

sed -i 's|^controller: .*|controller: 127.0.0.1:7443|' /etc/keyfleet/agent.yaml
# sshd's own log file (no journald or syslog daemon here), outside the unit's private /tmp.
sed -i "s|^sshd_log: .*|sshd_log: $SSHD_LOG|; s|^sshd_log_format: .*|sshd_log_format: sshd|" \
  /etc/keyfleet/agent.yaml
start_sshd "$SSHD_PORT" "$SSHD_LOG" || fail "sshd did not start"
echo "== keyfleet-agent.service: $(exec_start "$S/keyfleet-agent.service")"
exec_start_pre "$S/keyfleet-agent.service"
# shellcheck disable=SC2046
"$S/unit_sandbox_exec.sh" "$S/keyfleet-agent.service" -- $(exec_start "$S/keyfleet-agent.service") \
  >/tmp/agent.log 2>&1 &
key=$(cut -d' ' -f2 /tmp/alice.pub)
check "the agent wrote alice's key" wait_for 20 grep -qsF "$key" "$HOME_DIR/.ssh/authorized_keys"
check "her file hers, 600" test "$(stat -c '%U %a' "$HOME_DIR/.ssh/authorized_keys")" = "kfsbx-alice 600"
check "the agent's cache saved in $STATE, root's, 600" sh -c \
  "stat -c '%U %a' $STATE/agent-cache.* | grep -qx 'root 600'"

fingerprint=$(keyfleet fingerprint /tmp/alice.pub | awk '{print $2}')
open_session /tmp/alice kfsbx-alice "$SSHD_PORT" "$SSHD_LOG" || fail "she cannot log in"
ok "she logged in through sshd with the key; a session of hers stays open"
check "the agent reported her login as the key's last use" wait_for 30 sh -c \
  "keyfleet key show '$fingerprint' | grep -q 'web-1 *kfsbx-alice'"
keyfleet key revoke "$fingerprint" --reason test --kill-sessions --wait --timeout 30s >/tmp/revoke.out ||
  fail "revoke --kill-sessions --wait: $(cat /tmp/revoke.out)"
sed 's/^/   revoke: /' /tmp/revoke.out
ok "revoked with --kill-sessions --wait: the fleet applied it"
check "the key left her file" sh -c "! grep -qF '$key' $HOME_DIR/.ssh/authorized_keys"
check "her session, and every process in it, ended" session_gone kfsbx-alice
check "the CLI said so: 1 live session ended on 1 host" grep -q "ended 1 live session on 1 host" /tmp/revoke.out
end_leftovers kfsbx-alice
check "the fleet's KRL for sshd's RevokedKeys: /etc/ssh/keyfleet/revoked.krl, root's, 644" \
  test "$(stat -c '%U %a' /etc/ssh/keyfleet/revoked.krl)" = "root 644"
check "sshd would refuse her key wherever it appears (ssh-keygen -Q)" sh -c \
  "ssh-keygen -Q -f /etc/ssh/keyfleet/revoked.krl /tmp/alice.pub | grep -q REVOKED"

check "the controller logged no refused call" no_refusals /tmp/controller.log
check "the agent logged no refused call" no_refusals /tmp/agent.log

echo
echo "PASS: controller and agent work together under their units' sandboxes"
