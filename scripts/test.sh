#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (README command (b)):
#   1. clang, -Werror (debug): the code must build warning-free with both
#      compilers and at both levels;
#   2. gcc, -Werror, -O3 (release, no sanitizer): the build users run, and
#      the whole suite on it: timing-dependent code must be right at full
#      speed, not only under a sanitizer's slowdown;
#   3. clang with ThreadSanitizer: the tests labelled "threads";
#   4. clang, libFuzzer+ASan+UBSan: each fuzz target runs 10 s from its
#      seed corpus (scripts/fuzz.sh), so a parser change that crashes on a
#      known input, or soon after, fails CI;
#   5. gcc, -Werror, ASan+UBSan: every unit, fake-Hub, fidelity and
#      integration test under ctest.
# Build trees: build-ci-clang/, build-ci-release/, build-ci-tsan/,
# build-ci-fuzz/, build-ci/.
# Arguments go to both whole-suite ctest runs (e.g. -R t1003, -L unit).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

echo "== source rules (scripts/check-source.sh)"
bash scripts/check-source.sh
bash scripts/deps.sh --tests

echo "== clang, -Werror"
CC=clang cmake -S . -B build-ci-clang -G Ninja -DHUBFS_WERROR=ON >/dev/null
ninja -C build-ci-clang

echo "== gcc, -Werror, release (-O3): everything, as users run it"
CC=gcc cmake -S . -B build-ci-release -G Ninja -DHUBFS_WERROR=ON \
	-DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build-ci-release
(cd build-ci-release && ctest --output-on-failure --parallel 2 "$@")

echo "== clang, ThreadSanitizer: the threaded tests"
CC=clang cmake -S . -B build-ci-tsan -G Ninja -DHUBFS_WERROR=ON \
	-DHUBFS_SANITIZE=thread >/dev/null
ninja -C build-ci-tsan
(cd build-ci-tsan && ctest --output-on-failure -L threads)

echo "== clang, libFuzzer: every fuzz target, 10 s each"
bash scripts/fuzz.sh --time 10 --build "$top/build-ci-fuzz"

echo "== gcc, -Werror, address,undefined sanitizers: everything"
CC=gcc cmake -S . -B build-ci -G Ninja -DHUBFS_WERROR=ON \
	-DHUBFS_SANITIZE=address,undefined >/dev/null
ninja -C build-ci
cd build-ci
ctest --output-on-failure --parallel 2 "$@"
