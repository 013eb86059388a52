#!/usr/bin/env bash
# A full disk ends in a clear error for the read that needed the space,
# not in corruption or a crash: a cache on a 12 MiB tmpfs, then files that
# do not fit.
. "$HUBFS_TEST_LIB"
[ "$(id -u)" = 0 ] || skip_all "mounting a small tmpfs needs root"
small="$T/small"
mkdir -p "$small"
mount -t tmpfs -o size=12m tmpfs "$small" 2>/dev/null || skip_all "cannot mount a tmpfs here"
trap 'rc=$?; umount "$small" 2>/dev/null; (exit $rc); _cleanup' EXIT
start_fakehub
H=$HUBFS_BIN
export HUBFS_CACHE_DIR="$small/cache"
REPO=hubfs-test/tiny-model

"$H" download --quiet $REPO --include '*.json' --include '*.txt'
expect_eq 0 "$?" "small files fit"
"$H" download --quiet $REPO --include 'model.safetensors' 2>"$T/err"
expect_eq 1 "$?" "a 39 MiB file on a 12 MiB disk fails"
check "... with a clear reason" grep -q "model.safetensors: the cache's disk is full" "$T/err"
check "the cache is not corrupt" "$H" cache verify
check "... nor left with temporary files" sh -c '! find "$0" -name "*.tmp.*" | grep -q .' "$HUBFS_CACHE_DIR"
check "the small files are still verified" sh -c '"$0" cache ls | grep "^model/$1 " | grep -q "partial"' "$H" $REPO
test_done
