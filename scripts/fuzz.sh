#!/usr/bin/env bash
# Run every libFuzzer target of tests/fuzz/ (or the ones named) for SECS
# seconds each, starting from its seed corpus in tests/fuzz/corpus/<target>/.
#
#   bash scripts/fuzz.sh [--time SECS] [--build DIR] [--keep DIR] [TARGET...]
#
# --time SECS   how long each target runs (default 60; CI: 10)
# --build DIR   the clang build tree (default build-fuzz/; configured and
#               built here with -DHUBFS_FUZZ=ON when needed)
# --keep DIR    keep the inputs each run found in DIR/<target>/ (default: a
#               temporary directory, removed). The seed corpus in the repo is
#               never written to: add a new seed by hand, and only a small one.
#
# A crash, a leak, a sanitizer report or a broken invariant stops that
# target: libFuzzer writes the input to DIR/crashes/<target>-crash-* (DIR:
# the build tree) and this script exits 1 after the other targets have run.
# Reproduce with "DIR/tests/fuzz/<target> FILE". Each target's last
# libFuzzer line ("#N DONE cov: ... ft: ...") and its executions are printed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
secs=60
build=$top/build-fuzz
keep=
targets=()
while [ $# -gt 0 ]; do
	case $1 in
	--time) secs=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--keep) keep=$2; shift 2 ;;
	-h|--help) sed -n '2,18p' "$0"; exit 0 ;;
	-*) echo "fuzz.sh: unknown option '$1'" >&2; exit 2 ;;
	*) targets+=("$1"); shift ;;
	esac
done
if [ "${#targets[@]}" -eq 0 ]; then
	for d in "$top"/tests/fuzz/corpus/*/; do
		targets+=("$(basename "$d")")
	done
fi

if [ ! -f "$build/CMakeCache.txt" ]; then
	CC=clang cmake -S "$top" -B "$build" -G Ninja -DHUBFS_WERROR=ON \
		-DHUBFS_FUZZ=ON -DHUBFS_BUILD_TESTS=OFF >/dev/null
fi
ninja -C "$build" "${targets[@]}"

mkdir -p "$build/crashes"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
	found=${keep:+$keep/$t}
	found=${found:-$work/$t}
	mkdir -p "$found"
	echo "== $t: ${secs}s"
	# New inputs go to the first directory; the seeds are only read.
	if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	   "$build/tests/fuzz/$t" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$build/crashes/$t-" \
		"$found" "$top/tests/fuzz/corpus/$t" >"$work/$t.log" 2>&1; then
		grep -E '^#[0-9]+[[:space:]]+DONE' "$work/$t.log" | tail -1
		grep -E '^stat::number_of_executed_units' "$work/$t.log" || true
	else
		tail -40 "$work/$t.log"
		failed+=("$t")
	fi
done
if [ "${#failed[@]}" -gt 0 ]; then
	echo "fuzz.sh: FAILED: ${failed[*]}" >&2
	exit 1
fi
