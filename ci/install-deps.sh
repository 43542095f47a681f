#!/usr/bin/env bash
# Installs, from nothing, every Debian package kit's test suite uses (run as root).
#
# qemu comes from bookworm-backports on purpose: these machines ship qemu-utils (qemu-img)
# from backports, and bookworm's own qemu-system-x86 would make apt remove it. qemu-system-arm
# (qemu-system-aarch64, for the arm64 boot tests) too, or apt would change qemu-system-common.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" != 0 ]; then
  echo "install-deps.sh: must run as root (it calls apt-get install)" >&2
  exit 1
fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
if [ "$codename" = bookworm ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
  # Same mirror and keyring as the machine's own Debian source, with the backports suite.
  deb822=/etc/apt/sources.list.d/debian.sources
  if [ -f "$deb822" ]; then
    uri=$(awk '/^URIs:/{print $2; exit}' "$deb822")
    keyring=$(awk '/^Signed-By:/{print $2; exit}' "$deb822")
  fi
  uri=${uri:-http://deb.debian.org/debian}
  keyring=${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
    "$uri" "$keyring" > /etc/apt/sources.list.d/kit-bookworm-backports.sources
fi

# arm64 packages for the arm64 fixtures (apt-get download PKG:arm64); only downloaded, never
# installed.
dpkg --add-architecture arm64
apt-get update -qq
# openssl, curl, python3, node and npm are preinstalled on these machines; naming them here
# would upgrade libssl or replace the machine's Node.js.

# osslsigncode too: the UKI tests need its 2.9 (Authenticode digests of unsigned images).
qemu=(qemu-system-x86 qemu-system-arm qemu-system-common qemu-system-data seabios qemu-utils osslsigncode)
if [ "$codename" = bookworm ]; then
  qemu=("${qemu[@]/%//bookworm-backports}")
fi
packages=(
  "${qemu[@]}" ovmf qemu-efi-aarch64
  # checkers for the writers
  cpio libarchive-tools squashfs-tools erofs-utils genisoimage dosfstools mtools gdisk fdisk xorriso
  binutils sbsigntool zstd lz4 xz-utils
  # fixtures: static busybox for the example images (apt-get download fetches the rest)
  busybox-static
  # registry, OCI tools and container runtime
  docker-registry skopeo umoci runc apache2-utils
)
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "install-deps.sh: installed ${packages[*]}"
