#!/usr/bin/env bash
# keyfleet-controller and keyfleet-agent, each under its unit's restrictions rebuilt without
# systemd, serving a real fleet of one host in a disposable overlay of this machine:
# fleet_sandbox_scenario.sh.
#   units_fleet_sandbox_test.sh CONTROLLER AGENT CLI DEPLOY_DIR
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deploy=$4

for tool in unshare setpriv chroot ssh-keygen adduser useradd runuser /usr/bin/python3 systemd-analyze; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing" >&2; exit 1; }
done
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || { echo "FAIL: no PostgreSQL server" >&2; exit 1; }

work=$(mktemp -d /tmp/keyfleet-pkgtest-fleet.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/share"
cp "$1" "$2" "$3" "$work/share/"
cp "$deploy/keyfleet-controller.service" "$deploy/keyfleet-agent.service" "$deploy/controller.yaml" \
  "$deploy/agent.yaml" "$work/share/"
cp "$here/unit_seccomp_exec.py" "$here/unit_sandbox_exec.sh" "$here/fleet_sandbox_scenario.sh" \
  "$here/loopback_sshd.sh" "$work/share/"
"$here/throwaway_root.sh" "$work/overlay" "$work/share" -- \
  /bin/bash /kf-share/fleet_sandbox_scenario.sh </dev/null
