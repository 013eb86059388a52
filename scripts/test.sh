#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (README command (b)):
#   1. gcc, -Werror, ASan+UBSan: every unit, fake-Hub, fidelity and
#      integration test under ctest;
#   2. clang, -Werror: the same code must build warning-free there too.
# Build trees live in build-ci/ and build-ci-clang/; exit status is ctest's.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash scripts/deps.sh

echo "== clang, -Werror"
CC=clang cmake -S . -B build-ci-clang -G Ninja -DHUBFS_WERROR=ON >/dev/null
ninja -C build-ci-clang

echo "== gcc, -Werror, address,undefined sanitizers"
CC=gcc cmake -S . -B build-ci -G Ninja -DHUBFS_WERROR=ON \
	-DHUBFS_SANITIZE=address,undefined >/dev/null
ninja -C build-ci
cd build-ci
ctest --output-on-failure --parallel 2 "$@"
