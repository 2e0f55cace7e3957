#!/usr/bin/env bash
# Runs a command as root in a disposable copy of this machine, so tests may install packages,
# add users and write homes without touching the real system:
#
#   throwaway_root.sh WORK SHARE -- COMMAND [ARG...]
#
# / is an overlay whose writes go to WORK (a fresh directory the caller removes afterwards);
# the command runs chrooted into it, in new mount, PID, network, UTS and IPC namespaces: its
# mounts, processes (killed when it exits), sockets (loopback only, and only its own) and
# hostname stay inside. /proc is the namespace's own; /dev holds only null, zero, full, random,
# urandom, tty and a private devpts; /sys is read-only; /tmp and /run are empty tmpfs (no /run/systemd/system:
# maintainer scripts see a machine without systemd). SHARE (a host directory) appears at
# /kf-share to pass files in and out. Needs root, unshare(1) and overlayfs.
set -euo pipefail

work=$1
share=$2
[ "$3" = -- ] || { echo "usage: $0 WORK SHARE -- COMMAND..." >&2; exit 2; }
shift 3

if [ -z "${KF_THROWAWAY_INSIDE:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "throwaway_root: needs root" >&2; exit 1; }
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
    { echo "throwaway_root: the kernel has no overlayfs" >&2; exit 1; }
  exec env KF_THROWAWAY_INSIDE=1 unshare --mount --pid --fork --net --uts --ipc \
    --propagation private "$0" "$work" "$share" -- "$@"
fi

# Inside the new namespaces: nothing mounted from here on is visible outside.
root=$work/root
mkdir -p "$work/upper" "$work/overlay-work" "$root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/overlay-work" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
for node in null zero full random urandom tty; do
  touch "$root/dev/$node"
  mount --bind "/dev/$node" "$root/dev/$node"
done
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mkdir -p "$root/dev/shm" "$root/dev/pts"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/tmp"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run"
mkdir -p "$root/kf-share"
mount --bind "$share" "$root/kf-share"
hostname keyfleet-throwaway
# Loopback up (a new network namespace starts with it down), without needing iproute2:
# SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP.
/usr/bin/python3 -c '
import fcntl, socket, struct
s = socket.socket()
flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, struct.pack("16sH14x", b"lo", 0)))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))'

exec chroot "$root" /usr/bin/env -i HOME=/root LC_ALL=C.UTF-8 TERM=dumb \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
