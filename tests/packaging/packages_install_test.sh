#!/usr/bin/env bash
# Installs, upgrades, removes and purges the three keyfleet packages in a disposable overlay of
# this machine (throwaway_root.sh; nothing reaches the real system) and checks what each step
# leaves: packages_scenario.sh.
#   packages_install_test.sh DEB_DIR
# DEB_DIR holds the packages deploy/build-packages.sh made; the upgrade is the same packages
# repacked with the version VERSION+upgrade1.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
debs=$1

for tool in unshare chroot dpkg dpkg-deb runuser useradd systemd-analyze; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing" >&2; exit 1; }
done
for p in keyfleet keyfleet-agent keyfleet-controller; do
  ls "$debs/${p}_"*.deb >/dev/null 2>&1 || { echo "FAIL: no $p package in $debs" >&2; exit 1; }
done

work=$(mktemp -d /tmp/keyfleet-pkgtest-debs.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/share/v1" "$work/share/v2"
cp "$debs"/keyfleet*.deb "$work/share/v1/"
for deb in "$work"/share/v1/*.deb; do
  tree="$work/repack"
  rm -rf "$tree"
  dpkg-deb -R "$deb" "$tree"
  version=$(sed -n 's/^Version: //p' "$tree/DEBIAN/control")
  sed -i "s/^Version: .*/Version: $version+upgrade1/" "$tree/DEBIAN/control"
  dpkg-deb --root-owner-group -Zgzip -z1 -b "$tree" "$work/share/v2/" >/dev/null
done
rm -rf "$work/repack"

cp "$here/packages_scenario.sh" "$work/share/"
# stdin from /dev/null: a dpkg conffile prompt fails the test instead of waiting.
"$here/throwaway_root.sh" "$work/overlay" "$work/share" -- /bin/bash /kf-share/packages_scenario.sh \
  </dev/null
