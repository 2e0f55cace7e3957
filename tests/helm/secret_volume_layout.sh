#!/bin/sh
# Mounts directories as kubelet mounts Kubernetes secret volumes for a pod with an fsGroup, then
# runs a command there (as the chart's pod runs the controller):
#   secret_volume_layout.sh FSGROUP|none ro|rw SOURCE_DIR MOUNT_POINT [SOURCE_DIR MOUNT_POINT]... \
#     -- COMMAND...
# (`none`: a pod without an fsGroup, whose files stay root:root 0400.) Run it as root inside a
# private mount namespace (unshare --mount --propagation private).
#
# What kubelet makes (pkg/volume/util/atomic_writer.go, then SetVolumeOwnership for the fsGroup):
# a tmpfs whose root is mode 1777 (3777 root:FSGROUP once the fsGroup is applied), the files in a
# "..TIMESTAMP" directory (2755 root:FSGROUP), "..data" a link to that directory, each key a link
# KEY -> ..data/KEY; files are owned by root, mode defaultMode (0400 here) with group read added
# (0440), and the volume is mounted read-only into the container. `rw` leaves the mount writable,
# which kubelet never does, to show what the controller then refuses.
set -eu

if [ $# -lt 5 ]; then
  echo "usage: $0 FSGROUP|none ro|rw SOURCE_DIR MOUNT_POINT [SOURCE_DIR MOUNT_POINT]..." \
    "-- COMMAND..." >&2
  exit 2
fi
fsgroup=$1
access=$2
shift 2
stamp="..$(date -u +%Y_%m_%d_%H_%M_%S.%N)"
while [ "$1" != "--" ]; do
  source=$1
  target=$2
  shift 2
  mount -t tmpfs -o size=1m,mode=1777 tmpfs "$target"
  mkdir "$target/$stamp"
  for file in "$source"/*; do
    key=$(basename "$file")
    cp "$file" "$target/$stamp/$key"
    chmod 0400 "$target/$stamp/$key"
    ln -s "..data/$key" "$target/$key"
  done
  ln -s "$stamp" "$target/..data"
  if [ "$fsgroup" != none ]; then
    # SetVolumeOwnership: lchown every entry to the fsGroup; group read (files) and setgid plus
    # group search (directories) on top of the modes there.
    chgrp -R -h "$fsgroup" "$target"
    chmod 0440 "$target/$stamp"/*
    chmod 2755 "$target/$stamp"
    chmod 3777 "$target"
  fi
  if [ "$access" = ro ]; then
    mount -o remount,ro,bind "$target"
  fi
done
shift
exec "$@"
