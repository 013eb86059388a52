#!/usr/bin/env bash
# Install what hubfs needs to build and test on Debian 12, and nothing more.
# Runs apt-get only when a package is missing, so a second run costs nothing.
set -eu

# libclang-rt-14-dev: libFuzzer's runtime, for the fuzz targets (scripts/fuzz.sh).
packages=(
	cmake ninja-build pkgconf gcc clang libclang-rt-14-dev
	libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev libjson-c-dev
	libcmocka-dev python3 curl git attr groff-base bc procps ca-certificates rsync
)
# The fidelity test runs the official JavaScript client: Node.js and npm.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

echo "hubfs: installing ${missing[*]}"
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
