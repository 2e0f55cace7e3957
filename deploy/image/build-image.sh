#!/usr/bin/env bash
# Builds the keyfleet-controller container image from a controller built on this machine, with
# no registry: assembles the root filesystem (assemble-rootfs.sh), builds Containerfile's last
# stage on it with buildah (FROM scratch, so nothing is pulled) and writes the image as an OCI
# archive:
#   deploy/image/build-image.sh CONTROLLER_BINARY OUTPUT.tar [ROOTFS_COPY_DIR]
# Load it with `podman load -i OUTPUT.tar` or `skopeo copy oci-archive:OUTPUT.tar docker://…`.
# ROOTFS_COPY_DIR, if given, receives the assembled root filesystem too (for inspection).
#
# buildah keeps its containers and layers in a private store under a temporary directory
# (storage driver vfs, chroot isolation: no overlay mounts, no user namespaces or runc needed,
# so it works as root inside a container) and the store is removed at the end.
# SOURCE_DATE_EPOCH, when set, fixes the image's timestamps: the same binary then gives the same
# image (manifest digest; the archive file's own tar headers still differ).
# Needs root (the rootfs holds a directory owned by uid 10001) and buildah (>= 1.28).
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 CONTROLLER_BINARY OUTPUT.tar [ROOTFS_COPY_DIR]" >&2
  exit 2
fi
binary=$(realpath "$1")
output=$(realpath -m "$2")
rootfs_copy=${3:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
  echo "build-image: $*" >&2
  exit 1
}
command -v buildah >/dev/null || die "buildah is not installed (deploy/install-deps.sh installs it)"
[ -x "$binary" ] || die "$binary is not an executable"

work=$(mktemp -d /tmp/keyfleet-image.XXXXXX)
buildah_in_store() {
  buildah --storage-driver vfs --root "$work/storage" --runroot "$work/run" "$@"
}
cleanup() {
  # vfs layers are plain directories, but buildah may still hold a mount: let it unmount first.
  buildah_in_store rm --all >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"$here/assemble-rootfs.sh" "$binary" "$work/context/rootfs"

version=$("$binary" --version) || die "$binary --version failed"
# The commit the sources are at; "-dirty" when they differ from it (tracked files).
revision=$(git -C "$here" rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$revision" != unknown ] && ! git -C "$here" diff --quiet HEAD -- 2>/dev/null; then
  revision="$revision-dirty"
fi
timestamp=()
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  timestamp=(--timestamp "$SOURCE_DATE_EPOCH")
else
  created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
fi
tag="localhost/keyfleet-controller:$version"

# The `build` build context replaces the Containerfile's build stage, which is then skipped.
BUILDAH_ISOLATION=chroot buildah_in_store bud --isolation chroot --pull=never \
  --identity-label=false --format oci "${timestamp[@]}" \
  --build-context "build=$work/context" \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "CREATED=$created" \
  -f "$here/Containerfile" -t "$tag" "$work/context"

rm -f "$output"
buildah_in_store push --quiet "$tag" "oci-archive:$output:$tag"

if [ -n "$rootfs_copy" ]; then
  mkdir -p "$rootfs_copy"
  cp -a "$work/context/rootfs/." "$rootfs_copy/"
fi
echo "build-image: $output: $tag, $(du -h --apparent-size "$output" | cut -f1)" \
  "($(du -sh --apparent-size "$work/context/rootfs" | cut -f1) unpacked)"
