#!/usr/bin/env bash
# Runs the real keyfleet-agent under the restrictions of keyfleet-agent.service, rebuilt
# without systemd (none runs here), inside a disposable overlay of this machine:
# agent_sandbox_scenario.sh says what is emulated and checked.
#   agent_unit_sandbox_test.sh AGENT_BINARY UNIT_FILE
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
agent=$1
unit=$2

for tool in unshare setpriv chroot ssh-keygen useradd systemd-analyze /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing" >&2; exit 1; }
done
[ -x "$agent" ] || { echo "FAIL: no agent binary $agent" >&2; exit 1; }

work=$(mktemp -d /tmp/keyfleet-pkgtest-agent.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/share"
cp "$agent" "$work/share/keyfleet-agent"
cp "$unit" "$work/share/keyfleet-agent.service"
cp "$here/unit_seccomp_exec.py" "$here/unit_sandbox_exec.sh" "$here/agent_sandbox_scenario.sh" \
  "$here/loopback_sshd.sh" "$work/share/"
"$here/throwaway_root.sh" "$work/overlay" "$work/share" -- \
  /bin/bash /kf-share/agent_sandbox_scenario.sh </dev/null
