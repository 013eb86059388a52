#!/usr/bin/env bash
# A reader in order from the file's start lets go of the cache's copy of what it passed: the
# kernel holds those bytes in the mount's own pages, and the block files'
# pages leave the page cache once the running hash took them. Without it a
# file read through the mount took its size twice in memory, and in a
# memory cgroup re-reads thrashed (docs/benchmarks.md, a seventeenth
# session). A cold `cat` of the 200 MiB file leaves a small tail of it in
# the block files' pages, and a second `cat` fetches nothing (the kernel's
# pages serve it, and hubfs reads the disk for what reclaim took of them).
# A reader out of order keeps the blocks it read in the page cache.
. "$HUBFS_TEST_LIB"
require_fuse
command -v fincore >/dev/null || skip_all "no fincore (util-linux)"
use_big_data
start_fakehub
KEY=model/hubfs-test/big-model
FILE=hubfs-test/big-model/model.safetensors
WANT=$(manifest field $KEY model.safetensors sha256)
SIZE=$(manifest field $KEY model.safetensors size)
[ "$(stat -f -c %T "$CACHE_DIR")" = tmpfs ] && skip_all "the cache is on tmpfs: its pages are its files"

status_field() { "$HUBFS_BIN" status "$MNT" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# resident [BLOCK...]: bytes of the object's block files (these only) in the page cache
resident() {
	local dir
	dir=$(find "$CACHE_DIR/objects" -type d -name "$WANT")
	if [ $# -eq 0 ]; then
		set -- $(cd "$dir" && ls | sed -n 's/^b//p')
	fi
	(cd "$dir" && fincore -b -n -o RES $(printf 'b%s ' "$@")) | awk '{s += $1} END {print s + 0}'
}

mount_hubfs --cache-dir "$CACHE_DIR"
expect_eq "$WANT" "$(sha256sum <"$MNT/$FILE" | cut -d' ' -f1)" "a cold cat: the published bytes"
left=$(resident)
# The last blocks stay, never passed by the reader (16-20 MiB here; all of
# it, 200 MiB, before).
check "... the block files keep a tail of it in the page cache ($((left / 1048576)) of $((SIZE / 1048576)) MiB)" \
	test "$left" -le $((SIZE / 4))
cdn=$(hub_count host=cdn)
expect_eq "$WANT" "$(sha256sum <"$MNT/$FILE" | cut -d' ' -f1)" "a second cat: the same bytes"
expect_eq "$cdn" "$(hub_count host=cdn)" "... and nothing fetched again"
unmount_hubfs || die "unmount failed"

# --- a reader out of order keeps what it read ---
mount_hubfs --cache-dir "$CACHE_DIR"
"$PYTHON" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for b in (30, 10, 20):
    os.pread(fd, 65536, b * 4194304 + 1048576)' "$MNT/$FILE" || die "cannot read the pieces"
for b in 30 10 20; do
	check "a reader out of order: block $b stays in the page cache" test "$(resident $b)" -gt 0
done
unmount_hubfs
expect_eq 0 "$?" "the daemon exits cleanly"
test_done
