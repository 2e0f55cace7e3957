#!/bin/bash
# Runs a command the way a systemd unit's ExecStart= would run, without systemd (none runs in
# the test containers): the unit's sandbox rebuilt from its own settings.
#
#   unit_sandbox_exec.sh UNIT_FILE [--caps "CAP ..."] [--rw PATH]... -- COMMAND [ARG...]
#
# --caps replaces CapabilityBoundingSet= (setpriv names: chown, dac_override); --rw adds a path
# as a drop-in's ReadWritePaths= would. Only for use inside throwaway_root.sh: it remounts / in
# a mount namespace of its own. Emulated:
#   User=, Group=                          setpriv --reuid/--regid/--init-groups
#   CapabilityBoundingSet=, AmbientCapabilities= (empty), NoNewPrivileges=
#                                          setpriv bounding, inheritable and ambient sets
#   ProtectSystem=strict, ReadWritePaths=, StateDirectory=(Mode)
#                                          / read-only, those paths bound read-write (a missing
#                                          one fails, as systemd's 226/NAMESPACE; a state
#                                          directory is made, or chowned, for User= as systemd
#                                          does)
#   ProtectHome=yes                        empty read-only /home, /root, /run/user
#   PrivateTmp=                            fresh /tmp and /var/tmp
#   ProtectProc=invisible, ProcSubset=pid  /proc mounted hidepid=invisible,subset=pid
#   UMask=
#   SystemCallFilter=, SystemCallErrorNumber=, SystemCallArchitectures=native,
#   RestrictAddressFamilies=, MemoryDenyWriteExecute=, RestrictNamespaces=, RestrictSUIDSGID=
#                                          unit_seccomp_exec.py, the same filter as systemd's
# From throwaway_root.sh: PrivateDevices= (a minimal /dev), ProtectHostname= (own UTS
# namespace), read-only /sys (ProtectKernelTunables=, ProtectControlGroups=). Not emulated:
# PrivateUsers= (a user namespace mapping only root and User=), LimitNOFILE= (raising the hard
# limit needs CAP_SYS_RESOURCE, which test containers may lack), KeyringMode=, RemoveIPC=.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unit=$1
shift
caps_override=
extra_rw=()
while [ $# -gt 0 ]; do
  case "$1" in
    --caps) caps_override="$2 " && shift 2 ;;
    --rw) extra_rw+=("$2") && shift 2 ;;
    --) shift && break ;;
    *) echo "unit_sandbox_exec: unknown option $1" >&2 && exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 UNIT_FILE [--caps LIST] [--rw PATH]... -- COMMAND..." >&2; exit 2; }

value() { sed -n "s/^$1=//p" "$unit" | tr '\n' ' ' | sed 's/ *$//'; }
user=$(value User)
user=${user:-root}
group=$(value Group)
group=${group:-$(id -gn "$user")}
caps=${caps_override:-$(value CapabilityBoundingSet | tr '[:upper:]' '[:lower:]' | sed 's/cap_//g')}
[ -z "$(value AmbientCapabilities)" ] || { echo "unit_sandbox_exec: AmbientCapabilities= is not emulated" >&2; exit 2; }
[ "$(value ProtectSystem)" = strict ] || { echo "unit_sandbox_exec: only ProtectSystem=strict units" >&2; exit 2; }

export KF_EXTRA_RW="${extra_rw[*]}"
exec unshare --mount --propagation private /bin/bash -euo pipefail -c '
  unit=$1 user=$2 group=$3 caps=$4 here=$5
  shift 5
  value() { sed -n "s/^$1=//p" "$unit" | tr "\n" " " | sed "s/ *\$//"; }
  rw=()
  for dir in $(value StateDirectory); do
    mode=$(value StateDirectoryMode)
    path=/var/lib/$dir
    if [ ! -d "$path" ]; then
      install -d -o "$user" -g "$group" -m "${mode:-0755}" "$path"
    elif [ "$(stat -c %U:%G "$path")" != "$user:$group" ]; then
      chown -R "$user:$group" "$path"
    fi
    rw+=("$path")
  done
  read -r -a listed <<<"$(value ReadWritePaths) $KF_EXTRA_RW"
  for path in "${listed[@]}"; do
    [ -n "$path" ] || continue
    case "$path" in
      -*) path=${path#-}; [ -e "$path" ] || continue ;;
      *) [ -e "$path" ] || { echo "sandbox: ReadWritePaths=$path does not exist (226/NAMESPACE)" >&2; exit 226; } ;;
    esac
    rw+=("$path")
  done
  for path in "${rw[@]}"; do mount --bind "$path" "$path"; done
  mount -o remount,bind,ro /
  mount -o remount,bind,ro /kf-share
  if [ "$(value ProtectHome)" = yes ]; then
    for path in /home /root /run/user; do
      [ -d "$path" ] && mount -t tmpfs -o ro,mode=0755 tmpfs "$path"
    done
  fi
  if [ "$(value PrivateTmp)" = yes ]; then
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
  fi
  proc_options=
  [ "$(value ProtectProc)" = invisible ] && proc_options=hidepid=invisible
  [ "$(value ProcSubset)" = pid ] && proc_options=${proc_options:+$proc_options,}subset=pid
  mount -t proc ${proc_options:+-o $proc_options} proc /proc
  umask "$(value UMask | grep . || echo 0022)"
  bounding=-all
  for cap in $caps; do bounding+=",+$cap"; done
  ids=()
  [ "$user" = root ] || ids=(--reuid "$user" --regid "$group" --init-groups)
  nnp=()
  [ "$(value NoNewPrivileges)" = yes ] && nnp=(--no-new-privs)
  exec setpriv "${ids[@]}" "${nnp[@]}" --bounding-set "$bounding" --inh-caps -all \
    --ambient-caps -all -- /usr/bin/python3 "$here/unit_seccomp_exec.py" "$unit" -- "$@"
' sandbox "$unit" "$user" "$group" "$caps" "$here" "$@"
