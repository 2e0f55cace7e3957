#!/usr/bin/env bash
# Installs the Debian 12 packages keyfleet builds and tests with, only those that are missing.
# Idempotent: on a machine that has them all it does nothing and asks no registry.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-14-dev lld
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libpqxx-dev libssl-dev libabsl-dev
  libgtest-dev libgmock-dev
  libspdlog-dev libcli11-dev nlohmann-json3-dev libyaml-cpp-dev
  postgresql openssh-client openssh-server
  # pgrep and ps: the sshd session tests look for the commands a session ran.
  procps
  libcpp-httplib-dev libcurl4-openssl-dev python3-aiosmtpd
  # Operations (issue 16): metrics, promtool, the Helm chart's renderer, YAML and package lint,
  # the container image.
  prometheus-cpp-dev prometheus golang-go golang-github-masterminds-sprig-dev yamllint lintian
  buildah ca-certificates zsh systemd
  # The dashboard's browser tests (issue 17): headless Chromium driven by Selenium through
  # ChromeDriver, fonts for readable screenshots, certutil to trust the controller's CA.
  chromium chromium-driver python3-selenium fonts-dejavu-core fonts-liberation libnss3-tools
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# policy-rc.d keeps the openssh-server and postgresql packages from starting system-wide daemons:
# keyfleet's tests and demo start their own private instances on loopback.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
