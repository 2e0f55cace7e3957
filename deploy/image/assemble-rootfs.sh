#!/usr/bin/env bash
# Assembles the container image's root filesystem in ROOTFS (new or empty) from a
# keyfleet-controller built on this machine:
#   deploy/image/assemble-rootfs.sh CONTROLLER_BINARY ROOTFS
# It holds the binary, exactly the shared libraries the dynamic loader resolves for it (with the
# symlinks that lead to them, merged /usr as on Debian 12), the loader, the files of
# deploy/image/rootfs (user and group 10001 `keyfleet`, nsswitch.conf, the image's controller.yaml),
# the system's CA certificates (for webhooks and SMTP over TLS), /tmp and /var/lib/keyfleet
# (owned by 10001, mode 0700). Nothing else: no shell, no package manager, no tzdata (the
# controller formats every time in UTC).
#
# Why not one static binary: Debian ships no static archive of cpp-httplib, nor of libgssapi_krb5,
# libldap, libsasl2, libnghttp2, libssh2, librtmp and libpsl, which its libpq and libcurl need; and
# a static glibc still wants its own shared libraries at run time for NSS (user and host lookups).
#
# Run as root: /var/lib/keyfleet must be owned by uid 10001.
set -euo pipefail
umask 022  # directories the non-root user must traverse

if [ $# -ne 2 ]; then
  echo "usage: $0 CONTROLLER_BINARY ROOTFS" >&2
  exit 2
fi
binary=$1
root=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly uid=10001 gid=10001 ca_bundle=/etc/ssl/certs/ca-certificates.crt

die() {
  echo "assemble-rootfs: $*" >&2
  exit 1
}

[ -x "$binary" ] || die "$binary is not an executable"
[ -f "$ca_bundle" ] || die "$ca_bundle is missing (install the ca-certificates package)"
if [ -e "$root" ] && [ -n "$(ls -A "$root")" ]; then
  die "$root is not empty"
fi
mkdir -p "$root"

# Copies host path $1 into the rootfs as the loader reaches it: each symlink on the way (a
# directory like /lib -> usr/lib, or a library's soname link) is made again with the same target,
# then followed, until the regular file is copied.
add_path() {
  local path=$1 prefix="" rest=${1#/} component target
  while [ -n "$rest" ]; do
    component=${rest%%/*}
    if [ "$component" = "$rest" ]; then rest=""; else rest=${rest#*/}; fi
    case $component in
      "" | .) continue ;;
      ..) prefix=$(dirname "$prefix"); [ "$prefix" = / ] && prefix=""; continue ;;
    esac
    prefix="$prefix/$component"
    if [ -L "$prefix" ]; then
      target=$(readlink "$prefix")
      if [ ! -L "$root$prefix" ]; then
        mkdir -p "$root$(dirname "$prefix")"
        ln -s "$target" "$root$prefix"
      fi
      case $target in
        /*) add_path "$target${rest:+/$rest}" ;;
        *) add_path "$(dirname "$prefix")/$target${rest:+/$rest}" ;;
      esac
      return
    fi
  done
  [ -f "$path" ] || die "$path is not a regular file"
  mkdir -p "$root$(dirname "$prefix")"
  cp --preserve=mode "$prefix" "$root$prefix"
}

# The loader's view of the binary: every library with the path it resolves to, and the loader.
libraries=$(ldd "$binary") || die "ldd $binary failed: is it a dynamically linked executable?"
if grep -q 'not found' <<<"$libraries"; then
  die "libraries of $binary are missing on this machine:"$'\n'"$(grep 'not found' <<<"$libraries")"
fi
paths=$(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$libraries")
[ -n "$paths" ] || die "ldd listed no libraries for $binary"

mkdir -p "$root/usr/bin"
cp --preserve=mode "$binary" "$root/usr/bin/keyfleet-controller"
chmod 0755 "$root/usr/bin/keyfleet-controller"
for path in $paths; do add_path "$path"; done

cp -r --preserve=mode "$here/rootfs/." "$root/"
mkdir -p "$root/etc/ssl/certs"
cp "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$root/etc/ssl/certs/ca-certificates.crt"

# The controller's state (CA, bootstrap token) unless a volume is mounted there; also $HOME.
mkdir -p "$root/tmp" "$root/var/lib/keyfleet"
chmod 1777 "$root/tmp"
chmod 0700 "$root/var/lib/keyfleet"
chown "$uid:$gid" "$root/var/lib/keyfleet" ||
  die "cannot give /var/lib/keyfleet to $uid:$gid: run as root"

# The image's config turns the metrics port on; a controller from before that port would refuse
# the unknown key, so it is left out for such a binary (loudly).
serve_help=$("$binary" serve --help) || die "$binary serve --help failed"
if ! grep -q -- '--metrics-listen' <<<"$serve_help"; then
  echo "assemble-rootfs: warning: $binary has no --metrics-listen (no metrics port yet):" \
    "leaving metrics_listen out of /etc/keyfleet/controller.yaml" >&2
  sed -i '/metrics_listen/d; /\/metrics, \/healthz/d' "$root/etc/keyfleet/controller.yaml"
fi

echo "assemble-rootfs: $root: $(find "$root" -type f | wc -l) files," \
  "$(du -sh --apparent-size "$root" | cut -f1)"
