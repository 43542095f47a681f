#!/bin/sh
# Test-only helper: downloads Debian's systemd-boot-efi package and unpacks the x86-64 systemd
# EFI stub for formats/tests/uki_tools.rs.
#
# Usage: formats/tests/get-efi-stub.sh DIR
# Prints the stub's path; export it as KIT_EFI_STUB_X64 before `cargo test -p formats`.
set -eu
dir=${1:?usage: get-efi-stub.sh DIR}
mkdir -p "$dir"
cd "$dir"
if ! ls systemd-boot-efi_*.deb >/dev/null 2>&1; then
    apt-get download systemd-boot-efi >/dev/null 2>&1 ||
        { apt-get update >/dev/null && apt-get download systemd-boot-efi >/dev/null; }
fi
dpkg-deb -x systemd-boot-efi_*.deb root
stub="$PWD/root/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
test -f "$stub"
echo "$stub"
