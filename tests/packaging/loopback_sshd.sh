# Sourced by the sandbox scenarios (inside throwaway_root.sh): a real sshd on a loopback port
# and SSH sessions held open through it, to show the agent ending them under its unit.
#
#   start_sshd PORT LOG            sshd on 127.0.0.1:PORT, logging to LOG (sshd -E framing)
#   open_session KEY USER PORT LOG logs in as USER with private key KEY and runs a command that
#                                  ignores hangups (it outlives its connection unless signalled);
#                                  sets SESSION_CLIENT (the ssh client's PID) and SESSION_PORT
#                                  (the client's port, from sshd's Accepted line)
#   session_gone USER              true when the ssh client exited and USER has no process left
#   end_leftovers USER             kills what is left of USER's sessions and the client
# Accounts need a password field sshd does not take as locked: `usermod -p '*' USER`.

start_sshd() {
  local port=$1 log=$2
  install -d -m 0755 /run/sshd
  [ -f /etc/ssh/kfsbx_host_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/kfsbx_host_key
  cat >/etc/ssh/kfsbx_sshd_config <<CONFIG
Port $port
ListenAddress 127.0.0.1
HostKey /etc/ssh/kfsbx_host_key
PidFile /run/kfsbx-sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
LogLevel INFO
CONFIG
  : >"$log"
  /usr/sbin/sshd -f /etc/ssh/kfsbx_sshd_config -E "$log" || return 1
  local deadline=$((SECONDS + 10))
  until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "sshd did not listen on 127.0.0.1:$port" >&2; return 1; }
    sleep 0.1
  done
}

open_session() {
  local key=$1 user=$2 port=$3 log=$4
  local before
  before=$(grep -c "Accepted publickey for $user " "$log" || true)
  # shellcheck disable=SC2016
  ssh -n -i "$key" -p "$port" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "$user@127.0.0.1" \
    'trap "" HUP; exec sleep 600' >/dev/null 2>&1 &
  SESSION_CLIENT=$!
  local deadline=$((SECONDS + 15))
  until [ "$(grep -c "Accepted publickey for $user " "$log" || true)" -gt "$before" ] &&
    pgrep -u "$user" -x sleep >/dev/null; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$SESSION_CLIENT" 2>/dev/null; then
      echo "no session of $user through sshd on port $port; sshd's log:" >&2
      tail -5 "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  SESSION_PORT=$(grep "Accepted publickey for $user " "$log" | tail -1 | sed -n 's/.* port \([0-9]*\) .*/\1/p')
  [ -n "$SESSION_PORT" ]
}

session_gone() {
  local user=$1 deadline=$((SECONDS + 10))
  while kill -0 "$SESSION_CLIENT" 2>/dev/null || pgrep -u "$user" >/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

end_leftovers() {
  pkill -KILL -u "$1" 2>/dev/null || true
  kill "$SESSION_CLIENT" 2>/dev/null || true
  wait "$SESSION_CLIENT" 2>/dev/null || true
}
