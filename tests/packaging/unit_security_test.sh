#!/usr/bin/env bash
# Fails when a systemd unit's exposure score (`systemd-analyze security`, offline: no running
# systemd needed, the unit file is read as it is) is above BUDGET, and prints what is exposed.
#   unit_security_test.sh UNIT_FILE BUDGET
set -euo pipefail
unit=$1
budget=$2
command -v systemd-analyze >/dev/null || {
  echo "FAIL: systemd-analyze is missing (Debian package systemd)" >&2; exit 1; }
[ -f "$unit" ] || { echo "FAIL: no unit file $unit" >&2; exit 1; }
# systemd-analyze draws ✗ and → only in a UTF-8 locale; one locale, one output format.
export LC_ALL=C.UTF-8

report=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1) || {
  echo "$report" >&2; echo "FAIL: systemd-analyze security could not read $unit" >&2; exit 1; }
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' <<<"$report")
[ -n "$score" ] || { echo "$report" >&2; echo "FAIL: no score in the output above" >&2; exit 1; }

# What still counts against the unit (✗ lines), for the log either way.
grep '^✗' <<<"$report" || true
if awk -v s="$score" -v b="$budget" 'BEGIN { exit !(s > b) }'; then
  echo "FAIL: $(basename "$unit") exposure $score is above its budget $budget" >&2
  exit 1
fi
echo "PASS: $(basename "$unit") exposure $score (budget $budget)"
