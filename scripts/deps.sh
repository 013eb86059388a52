#!/usr/bin/env bash
# Install what hubfs needs to build and test on Debian 12, and nothing more.
# Runs apt-get only when a package is missing, so a second run costs nothing.
#
#   bash scripts/deps.sh            what building and the demo need
#   bash scripts/deps.sh --tests    and the Python test environment, build-venv/
#                                   (tests/requirements.txt), made again only
#                                   when that file changes
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)

# libclang-rt-14-dev: libFuzzer's runtime, for the fuzz targets (scripts/fuzz.sh).
# nginx: the cluster mirror's test (t6000) runs Debian's, which has the slice and
# auth_request modules (contrib/nginx/hubfs-mirror.conf).
# systemd: only its systemd-analyze, which checks contrib/systemd's units (t2033).
packages=(
	cmake ninja-build pkgconf gcc clang libclang-rt-14-dev
	libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev libjson-c-dev
	libcmocka-dev python3 python3-venv curl git attr groff-base bc procps ca-certificates rsync
	nginx systemd
)
# The fidelity test runs the official JavaScript client: Node.js and npm.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "hubfs: installing ${missing[*]}"
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		"${missing[@]}"
fi
[ "${1:-}" = --tests ] || exit 0

# The Python test environment. torch first, alone and exact: it is the one
# package whose newer releases are multi-GB CUDA builds; then the rest,
# constrained to it, so that nothing can pull another torch in.
venv=$top/build-venv
req=$top/tests/requirements.txt
stamp=$venv/.requirements
if ! cmp -s "$req" "$stamp" 2>/dev/null; then
	echo "hubfs: making the Python test environment in $venv"
	start=$SECONDS
	rm -rf "$venv"
	python3 -m venv "$venv"
	"$venv/bin/pip" install -q --disable-pip-version-check "$(grep '^torch==' "$req")"
	"$venv/bin/pip" install -q --disable-pip-version-check \
		-c <(grep '^torch==' "$req") -r "$req"
	cp "$req" "$stamp"
	echo "hubfs: Python test environment ready in $((SECONDS - start)) s"
fi
