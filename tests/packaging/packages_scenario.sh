#!/bin/bash
# The life of the three keyfleet packages on one machine, run by packages_install_test.sh inside
# throwaway_root.sh (a disposable overlay of this machine): install, upgrade, remove and purge,
# in both orders of agent and controller, with and without a (stubbed) running systemd and with
# policy-rc.d saying no. A user's authorized_keys with a keyfleet block must come through every
# step byte for byte. /kf-share/v1 and /kf-share/v2 hold the packages (v2 is v1 with a higher
# version).
set -euo pipefail

V1=/kf-share/v1
V2=/kf-share/v2
LOG=/kf-share/systemctl.log
STATE=/var/lib/keyfleet
USER_HOME=/home/kfpkg-alice
KEYS=$USER_HOME/.ssh/authorized_keys

step() { echo; echo "== $*"; }
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
owner_mode() { stat -c '%U:%G %a' "$1"; }
is() { [ "$(owner_mode "$1")" = "$2" ] || { echo "  $1 is $(owner_mode "$1"), want $2" >&2; return 1; }; }
status_of() { dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$1" 2>/dev/null || echo absent; }
installed() { [ "$(status_of "$1")" = "ii $2" ] || { echo "  $1: $(status_of "$1")" >&2; return 1; }; }
gone() { [ ! -e "$1" ] && [ ! -L "$1" ]; }
keys_intact() {
  sha256sum -c --quiet /kf-share/keys.sha256 &&
    [ "$(stat -c '%n %U %G %a' "$USER_HOME" "$USER_HOME/.ssh" "$KEYS")" = "$(cat /kf-share/keys.stat)" ]
}
logged() { grep -qE "$1" "$LOG"; }
v1_of() { echo "$V1"/"$1"_*.deb; }
v2_of() { echo "$V2"/"$1"_*.deb; }
version_of() { dpkg-deb -f "$1" Version; }
dpkg_quiet() { dpkg "$@" >/kf-share/dpkg.out 2>&1 || { cat /kf-share/dpkg.out >&2; fail "dpkg $*"; }; }

# Agent state as a running agent leaves it (root-only), and the controller's as `init-ca` and a
# first start leave it (owned by keyfleet).
make_agent_state() {
  install -d -m 0700 "$STATE" "$STATE/tls"
  (umask 077 && echo key+cert >"$STATE/tls/host.pem" && echo ca >"$STATE/tls/ca.pem" &&
    echo slot0 >"$STATE/agent-cache.0" && echo slot1 >"$STATE/agent-cache.1")
}
make_controller_state() {
  runuser -u keyfleet -- keyfleet-controller init-ca --ca-dir "$STATE/ca" >/dev/null
  runuser -u keyfleet -- sh -c "umask 077 && echo kfat_test >$STATE/bootstrap.token"
}

step "a clean machine"
for p in keyfleet keyfleet-agent keyfleet-controller; do dpkg -P "$p" >/dev/null 2>&1 || true; done
rm -rf /etc/keyfleet "$STATE" /usr/sbin/policy-rc.d
getent passwd keyfleet >/dev/null && userdel keyfleet
getent group keyfleet >/dev/null && groupdel keyfleet
# A systemctl that records what maintainer scripts ask of a running systemd. Offline calls
# (--root=, used by deb-systemd-helper for presets) go to the real one.
cat >/usr/local/sbin/systemctl <<'EOF'
#!/bin/sh
case "$*" in *--root=*) exec /bin/systemctl "$@" ;; esac
echo "$*" >>/kf-share/systemctl.log
case "$*" in *is-enabled*) echo enabled ;; esac
exit 0
EOF
chmod 755 /usr/local/sbin/systemctl
: >"$LOG"
useradd -m -d "$USER_HOME" -s /bin/sh kfpkg-alice
install -d -m 0700 -o kfpkg-alice -g kfpkg-alice "$USER_HOME/.ssh"
cat >"$KEYS" <<'EOF'
# keyfleet:begin epoch=1 generation=3 sha256=0000000000000000000000000000000000000000000000000000000000000000
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk0dmKvXs1q9k0C6B9QRXCe7bL1aHiJq2mWm2t0Zr4e alice/laptop
# keyfleet:end
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJzZ8pWbW1S0VbFQm0o1s6cDq0y0nE0u9m3cYb1nXm2b alice-own-key
EOF
chown kfpkg-alice:kfpkg-alice "$KEYS"
chmod 0600 "$KEYS"
sha256sum "$KEYS" >/kf-share/keys.sha256
stat -c '%n %U %G %a' "$USER_HOME" "$USER_HOME/.ssh" "$KEYS" >/kf-share/keys.stat

step "install keyfleet-agent first, no systemd running"
dpkg_quiet -i "$(v1_of keyfleet-agent)"
v1=$(version_of "$(v1_of keyfleet-agent)")
v2=$(version_of "$(v2_of keyfleet-agent)")
check "keyfleet-agent $v1 installed" installed keyfleet-agent "$v1"
check "/usr/bin/keyfleet-agent runs" sh -c "/usr/bin/keyfleet-agent --version | grep -qx '${v1%-*}'"
check "agent unit in /lib/systemd/system" test -f /lib/systemd/system/keyfleet-agent.service
check "agent unit enabled" test -L /etc/systemd/system/multi-user.target.wants/keyfleet-agent.service
check "agent.yaml is a conffile, root:root 644" is /etc/keyfleet/agent.yaml "root:root 644"
check "dpkg lists it as a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' keyfleet-agent | grep -q ' /etc/keyfleet/agent.yaml '"
check "man page, copyright, changelog" test -f /usr/share/man/man8/keyfleet-agent.8.gz \
  -a -f /usr/share/doc/keyfleet-agent/copyright -a -f /usr/share/doc/keyfleet-agent/changelog.Debian.gz
check "nothing asked of systemd when it is not running" test ! -s "$LOG"
check "systemd-analyze verify keyfleet-agent.service" systemd-analyze verify keyfleet-agent.service
make_agent_state

step "then keyfleet-controller and keyfleet"
dpkg_quiet -i "$(v1_of keyfleet-controller)" "$(v1_of keyfleet)"
check "keyfleet-controller $v1 installed" installed keyfleet-controller "$v1"
check "keyfleet $v1 installed" installed keyfleet "$v1"
check "/usr/bin/keyfleet runs" sh -c "/usr/bin/keyfleet --version | grep -qx '${v1%-*}'"
check "/usr/bin/keyfleet-controller runs" sh -c "/usr/bin/keyfleet-controller --version | grep -qx '${v1%-*}'"
check "bash completion installed" grep -q "complete -o default -F _keyfleet keyfleet" \
  /usr/share/bash-completion/completions/keyfleet
check "zsh completion installed" grep -q "^#compdef keyfleet" /usr/share/zsh/vendor-completions/_keyfleet
uid=$(id -u keyfleet)
check "system user keyfleet (uid $uid)" test "$uid" -lt 1000
check "its group, home and shell" sh -c \
  "getent passwd keyfleet | grep -q ':$(getent group keyfleet | cut -d: -f3):.*:$STATE:/usr/sbin/nologin\$'"
check "$STATE handed to keyfleet, 700" is "$STATE" "keyfleet:keyfleet 700"
check "the agent's files in it stay root's (no recursive chown)" sh -c \
  "[ \"\$(stat -c %U:%a $STATE/tls $STATE/tls/host.pem $STATE/agent-cache.0 | tr '\n' ' ')\" = 'root:700 root:600 root:600 ' ]"
check "controller.yaml root:keyfleet 640 (statoverride)" is /etc/keyfleet/controller.yaml "root:keyfleet 640"
check "controller unit enabled" test -L /etc/systemd/system/multi-user.target.wants/keyfleet-controller.service
check "nothing asked of systemd" test ! -s "$LOG"
check "systemd-analyze verify keyfleet-controller.service" systemd-analyze verify keyfleet-controller.service
make_controller_state
check "the controller's CA made as keyfleet" is "$STATE/ca/ca.key" "keyfleet:keyfleet 600"
echo "# local edit" >>/etc/keyfleet/agent.yaml
echo "# local edit" >>/etc/keyfleet/controller.yaml
check "keys untouched" keys_intact

step "upgrade to $v2 with systemd running and policy-rc.d refusing"
mkdir -p /run/systemd/system
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
dpkg_quiet -i "$(v2_of keyfleet-agent)" "$(v2_of keyfleet-controller)" "$(v2_of keyfleet)"
for p in keyfleet-agent keyfleet-controller keyfleet; do check "$p $v2 installed" installed "$p" "$v2"; done
check "local edits to both conffiles kept" sh -c \
  "grep -q '^# local edit' /etc/keyfleet/agent.yaml && grep -q '^# local edit' /etc/keyfleet/controller.yaml"
check "no .dpkg-* leftovers" sh -c "! ls /etc/keyfleet | grep -q dpkg"
check "controller.yaml still root:keyfleet 640" is /etc/keyfleet/controller.yaml "root:keyfleet 640"
check "state kept" test -f "$STATE/ca/ca.key" -a -f "$STATE/tls/host.pem" -a -f "$STATE/agent-cache.1" \
  -a -f "$STATE/bootstrap.token"
check "daemon-reload done" logged '^--system daemon-reload$'
check "no start or restart past policy-rc.d" sh -c "! grep -qE '(^| )(start|restart|try-restart) ' $LOG"

step "reinstall $v2 with systemd running and policy-rc.d allowing"
printf '#!/bin/sh\nexit 0\n' >/usr/sbin/policy-rc.d
: >"$LOG"
dpkg_quiet -i "$(v2_of keyfleet-agent)" "$(v2_of keyfleet-controller)"
check "the agent is restarted" logged 'restart keyfleet-agent.service$'
check "the controller is try-restarted (only if running)" logged '^try-restart keyfleet-controller.service$'
check "the controller is never started" sh -c "! grep -qE '(^| )(start|restart) keyfleet-controller' $LOG"
check "keys untouched" keys_intact

step "remove all three, systemd running"
: >"$LOG"
dpkg_quiet -r keyfleet-agent keyfleet-controller keyfleet
check "agent stopped" logged '^stop keyfleet-agent.service$'
check "controller stopped" logged '^stop keyfleet-controller.service$'
check "binaries gone" sh -c "! ls /usr/bin/keyfleet /usr/bin/keyfleet-agent /usr/bin/keyfleet-controller 2>/dev/null"
check "conffiles kept" test -f /etc/keyfleet/agent.yaml -a -f /etc/keyfleet/controller.yaml
check "state kept" test -f "$STATE/ca/ca.key" -a -f "$STATE/tls/host.pem" -a -f "$STATE/agent-cache.0"
check "units masked while removed" sh -c \
  "[ \"\$(readlink /etc/systemd/system/keyfleet-agent.service)\" = /dev/null ]"
check "keys untouched" keys_intact
rm -rf /run/systemd/system /usr/sbin/policy-rc.d

step "purge the agent (the controller's state is still there)"
dpkg_quiet -P keyfleet-agent
check "agent's TLS identity and cache deleted" sh -c \
  "! ls -d $STATE/tls $STATE/agent-cache.0 $STATE/agent-cache.1 2>/dev/null"
check "the controller's CA and token kept" test -f "$STATE/ca/ca.key" -a -f "$STATE/bootstrap.token"
check "agent.yaml deleted, controller.yaml kept" test ! -e /etc/keyfleet/agent.yaml -a -f /etc/keyfleet/controller.yaml
check "agent unit unmasked" gone /etc/systemd/system/keyfleet-agent.service
check "keys untouched" keys_intact

step "purge the controller and the CLI"
dpkg_quiet -P keyfleet-controller keyfleet
check "$STATE deleted" gone "$STATE"
check "/etc/keyfleet deleted" gone /etc/keyfleet
check "statoverride removed" sh -c "! dpkg-statoverride --list /etc/keyfleet/controller.yaml"
check "no unit links left" sh -c "[ -z \"\$(find /etc/systemd -name 'keyfleet*')\" ]"
check "the keyfleet user stays (its uid may own files elsewhere)" sh -c "getent passwd keyfleet >/dev/null"
check "nothing left in dpkg" sh -c "for p in keyfleet keyfleet-agent keyfleet-controller; do [ \"\$(dpkg-query -W -f='\${db:Status-Abbrev}' \$p 2>/dev/null)\" != ii ] || exit 1; done"
check "keys untouched" keys_intact

step "install both again, purge the controller first"
dpkg_quiet -i "$(v2_of keyfleet-controller)" "$(v2_of keyfleet-agent)"
check "$STATE made keyfleet's by the controller" is "$STATE" "keyfleet:keyfleet 700"
make_agent_state
make_controller_state
dpkg_quiet -P keyfleet-controller
check "the CA and token deleted" sh -c "! ls -d $STATE/ca $STATE/bootstrap.token 2>/dev/null"
check "the agent's files kept" test -f "$STATE/tls/host.pem" -a -f "$STATE/agent-cache.0"
check "$STATE handed back to root" is "$STATE" "root:root 700"
dpkg_quiet -P keyfleet-agent
check "$STATE deleted" gone "$STATE"
check "keys untouched" keys_intact

echo
echo "PASS: packages install, upgrade, remove and purge as documented"
