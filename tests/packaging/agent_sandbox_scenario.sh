#!/bin/bash
# The real keyfleet-agent under keyfleet-agent.service's restrictions, rebuilt without systemd by
# unit_sandbox_exec.sh from the unit file itself (capabilities, read-only system with the unit's
# ReadWritePaths=, the seccomp filter, /proc, umask: see there). Run by
# agent_unit_sandbox_test.sh inside throwaway_root.sh (a disposable overlay of this machine, so
# the users and homes made here vanish). ExecStartPre= runs first, outside the sandbox, as its
# "+" says. It proves: `apply` writes homes under /home (creating .ssh, fixing its mode, handing
# files to their owner); a home outside ReadWritePaths= fails loudly with "Read-only file system"
# until the drop-in README.Debian describes adds it; `end-session` ends a real sshd session
# (loopback_sshd.sh) and every process in it; each capability the unit keeps is needed (the
# same run without it fails to write a home or to end the whole session).
# fleet_sandbox_scenario.sh runs the agent's `run` against a real controller.
set -euo pipefail

SHARE=/kf-share
AGENT=$SHARE/keyfleet-agent
UNIT=$SHARE/keyfleet-agent.service
SSHD_PORT=2222
SSHD_LOG=/var/log/kfsbx-sshd.log
# shellcheck source=loopback_sshd.sh
. "$SHARE/loopback_sshd.sh"

ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
not() { ! "$@"; }
unit_values() { sed -n "s/^$1=//p" "$UNIT" | tr '\n' ' ' | sed 's/ *$//'; }

# Capabilities as setpriv spells them: CAP_CHOWN -> chown.
UNIT_CAPS=$(unit_values CapabilityBoundingSet | tr '[:upper:]' '[:lower:]' | sed 's/cap_//g')
read -r -a RW_PATHS <<<"$(unit_values ReadWritePaths)"
[ -n "$UNIT_CAPS" ] || fail "no CapabilityBoundingSet= in the unit"
[ ${#RW_PATHS[@]} -gt 0 ] || fail "no ReadWritePaths= in the unit"
[ -z "$(unit_values AmbientCapabilities)" ] || fail "the unit grants ambient capabilities"
[ "$(unit_values ProtectSystem)" = strict ] || fail "the unit is not ProtectSystem=strict"

# sandboxed CAPS EXTRA_RW -- COMMAND...: COMMAND as the unit's ExecStart= would run, keeping
# the capabilities CAPS (space-separated) and with EXTRA_RW (a drop-in's path) writable too.
sandboxed() {
  local caps=$1 extra=$2
  shift 3
  "$SHARE/unit_sandbox_exec.sh" "$UNIT" --caps "$caps" ${extra:+--rw "$extra"} -- "$@"
}

exec_start_pre() {
  sed -n 's/^ExecStartPre=+//p' "$UNIT" | while read -r command; do $command; done
}

key() { ssh-keygen -q -t ed25519 -N '' -C "$1" -f "/tmp/$1" && cut -d' ' -f1,2 "/tmp/$1.pub"; }
KEY_ALICE=$(key alice)
KEY_BOB=$(key bob)
KEY_CAROL=$(key carol)
HAND_LINE="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJzZ8pWbW1S0VbFQm0o1s6cDq0y0nE0u9m3cYb1nXm2b alice-own"
for who in alice bob; do useradd -d "/home/kfsbx-$who" -s /bin/sh "kfsbx-$who"; done
useradd -d /srv/kfsbx-carol -s /bin/sh kfsbx-carol
usermod -p '*' kfsbx-alice  # not locked: sshd lets her in with a key

# Fresh homes: alice's .ssh exists with a wrong mode and her own key; bob has no .ssh; carol's
# home is outside ReadWritePaths.
make_homes() {
  rm -rf /home/kfsbx-alice /home/kfsbx-bob /srv/kfsbx-carol
  install -d -m 0700 -o kfsbx-alice -g kfsbx-alice /home/kfsbx-alice
  install -d -m 0755 -o kfsbx-alice -g kfsbx-alice /home/kfsbx-alice/.ssh
  echo "$HAND_LINE" >/home/kfsbx-alice/.ssh/authorized_keys
  chown kfsbx-alice:kfsbx-alice /home/kfsbx-alice/.ssh/authorized_keys
  chmod 0600 /home/kfsbx-alice/.ssh/authorized_keys
  install -d -m 0750 -o kfsbx-bob -g kfsbx-bob /home/kfsbx-bob
  install -d -m 0700 -o kfsbx-carol -g kfsbx-carol /srv/kfsbx-carol
}
cat >/tmp/state.json <<EOF
{"generation": "1", "accounts": [
  {"account": "kfsbx-alice", "keys": ["$KEY_ALICE alice"]},
  {"account": "kfsbx-bob", "keys": ["$KEY_BOB bob"]},
  {"account": "kfsbx-carol", "keys": ["$KEY_CAROL carol"]}]}
EOF
cp /tmp/state.json "$SHARE/state.json"

# apply CAPS EXTRA_RW: the outcome of each account, "account outcome detail" per line.
apply() {
  make_homes
  sandboxed "$1" "$2" -- "$AGENT" apply --desired "$SHARE/state.json" >/tmp/apply.json 2>/tmp/apply.err || true
  /usr/bin/python3 -c '
import json, sys
for a in json.load(open("/tmp/apply.json"))["accounts"]:
    print(a["account"], a["outcome"], a.get("detail", ""))' 2>/dev/null ||
    { cat /tmp/apply.err >&2; fail "apply printed no result"; }
}
outcome() { grep "^$1 " /tmp/outcomes | cut -d' ' -f2; }

# end_session_with CAPS: alice's key written (under the unit), a session of hers opened through
# sshd, then `end-session` under the unit keeping CAPS. True when the session and every process
# in it ended; what is left is killed either way.
end_session_with() {
  apply "$UNIT_CAPS" "" >/dev/null
  open_session /tmp/alice kfsbx-alice "$SSHD_PORT" "$SSHD_LOG" || fail "no session to end"
  local status=0
  sandboxed "$1" "" -- "$AGENT" end-session kfsbx-alice 127.0.0.1 "$SESSION_PORT" \
    >/tmp/end.out 2>&1 || status=$?
  sed 's/^/   end-session: /' /tmp/end.out
  local gone=0
  session_gone kfsbx-alice || gone=$?
  end_leftovers kfsbx-alice
  [ "$status" = 0 ] && [ "$gone" = 0 ]
}
owner_mode() { stat -c '%U:%G %a' "$1"; }

echo "== the unit's sandbox: capabilities {$UNIT_CAPS}, writable ${RW_PATHS[*]}"
exec_start_pre
check "ExecStartPre made /var/lib/keyfleet" test -d /var/lib/keyfleet
# shellcheck disable=SC2086
caps_line=$(sandboxed "$UNIT_CAPS" "" -- /bin/grep -E '^Cap(Eff|Bnd|Amb)' /proc/self/status | tr '\n' ' ')
echo "   $caps_line"
check "effective = bounding set, no ambient" sh -c \
  "echo '$caps_line' | awk '{ exit !(\$2 == \$4 && \$6 == \"0000000000000000\") }'"

echo "== apply under the unit"
apply "$UNIT_CAPS" "" >/tmp/outcomes
cat /tmp/outcomes
check "alice written" test "$(outcome kfsbx-alice)" = written
check "bob written" test "$(outcome kfsbx-bob)" = written
check "alice's .ssh mode fixed to 700" test "$(owner_mode /home/kfsbx-alice/.ssh)" = "kfsbx-alice:kfsbx-alice 700"
check "alice's file hers, 600" test "$(owner_mode /home/kfsbx-alice/.ssh/authorized_keys)" = "kfsbx-alice:kfsbx-alice 600"
check "alice's file has her managed key and kept her own line" sh -c \
  "grep -qF '$KEY_ALICE' /home/kfsbx-alice/.ssh/authorized_keys && grep -qxF '$HAND_LINE' /home/kfsbx-alice/.ssh/authorized_keys"
check "bob's .ssh made, his, 700" test "$(owner_mode /home/kfsbx-bob/.ssh)" = "kfsbx-bob:kfsbx-bob 700"
check "bob's file his, 600, with his key" sh -c \
  "[ \"\$(stat -c '%U:%G %a' /home/kfsbx-bob/.ssh/authorized_keys)\" = 'kfsbx-bob:kfsbx-bob 600' ] && grep -qF '$KEY_BOB' /home/kfsbx-bob/.ssh/authorized_keys"
check "carol (home in /srv) failed: Read-only file system" sh -c \
  "grep -q '^kfsbx-carol failed .*Read-only file system' /tmp/outcomes"
check "carol's home untouched" test ! -e /srv/kfsbx-carol/.ssh

echo "== apply with the drop-in ReadWritePaths=/srv/kfsbx-carol"
apply "$UNIT_CAPS" /srv/kfsbx-carol >/tmp/outcomes
cat /tmp/outcomes
check "carol written" test "$(outcome kfsbx-carol)" = written
check "carol's file hers, 600" test "$(owner_mode /srv/kfsbx-carol/.ssh/authorized_keys)" = "kfsbx-carol:kfsbx-carol 600"

echo "== a real sshd session of alice's, ended under the unit"
start_sshd "$SSHD_PORT" "$SSHD_LOG" || fail "sshd did not start"
check "end-session ended the session and every process in it" end_session_with "$UNIT_CAPS"
check "a session of hers from a port with no session is refused, nothing signalled" sh -c \
  "! '$SHARE/unit_sandbox_exec.sh' '$UNIT' -- '$AGENT' end-session kfsbx-alice 127.0.0.1 1 2>/tmp/none.err && grep -q 'no sshd session' /tmp/none.err"

for dropped in $UNIT_CAPS; do
  kept=$(for c in $UNIT_CAPS; do [ "$c" = "$dropped" ] || printf '%s ' "$c"; done)
  echo "== apply and end-session without cap_$dropped (keeping: $kept)"
  apply "$kept" "" >/tmp/outcomes
  cat /tmp/outcomes
  if grep -q '^kfsbx-alice written' /tmp/outcomes && grep -q '^kfsbx-bob written' /tmp/outcomes; then
    check "cap_$dropped is needed: the session, or a process of it, outlived end-session" \
      not end_session_with "$kept"
  else
    ok "cap_$dropped is needed: alice or bob not written"
  fi
done

echo
echo "PASS: keyfleet-agent works under keyfleet-agent.service's restrictions, and needs each capability it keeps"
