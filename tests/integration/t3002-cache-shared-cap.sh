#!/usr/bin/env bash
# --max-cache-size caps the directory, whatever mix of mounts and downloads
# uses it (issue #11): a download run beside a mount with a cap keeps the
# directory's block files under it (plus the blocks in flight), and the cap
# ends with the mount.
. "$HUBFS_TEST_LIB"
require_fuse
start_fakehub
MiB=1048576
BLOCK=$((4 * MiB + 4096))
CAP=$((44 * MiB)) # tiny-model's biggest file, 10 blocks, must fit whole to be verified
mount_hubfs --cache-dir "$CACHE_DIR" --max-cache-size 44M

block_bytes() { find "$CACHE_DIR/objects" -type f -name 'b[0-9]*' -printf '%s\n' 2>/dev/null |
	awk '{s += $1} END {print s + 0}'; }
# Sample the directory every 20 ms while the two fill it.
( peak=0; while [ ! -e "$T/stop" ]; do b=$(block_bytes); [ "$b" -gt "$peak" ] && peak=$b &&
	echo "$peak" >"$T/peak"; sleep 0.02; done ) &
sampler=$!

# The download has no cap of its own: it honours the live mount's.
"$HUBFS_BIN" download --quiet --jobs 2 hubfs-test/tiny-model >"$T/download.out" 2>&1 &
download=$!
# Meanwhile the mount reads the 3,000 small files of a dataset.
D=$MNT/datasets/hubfs-test/big-dataset
(cd "$D" && find . -type f | head -600 | xargs cat) >/dev/null
wait "$download"
expect_eq 0 "$?" "the download of 58 MB under a 44 MiB cap succeeds, file by file verified"
touch "$T/stop"
wait "$sampler"
peak=$(cat "$T/peak")
say "cap $CAP bytes; peak of block files on disk: $peak; now: $(block_bytes)"
check "the directory never held more than the cap and the blocks in flight" \
	test "$peak" -le $((CAP + 2 * BLOCK))
check "... and holds at most the cap now" test "$(block_bytes)" -le "$CAP"
f=model.safetensors
expect_eq "$(manifest field model/hubfs-test/tiny-model $f sha256)" \
	"$(sha256sum <"$MNT/hubfs-test/tiny-model/$f" | cut -d' ' -f1)" "what is left reads right through the mount"

unmount_hubfs
expect_eq 0 "$?" "the mount exits 0"
# Its cap went with it.
"$HUBFS_BIN" download --quiet hubfs-test/sharded-model
expect_eq 0 "$?" "a download after the mount"
check "... is bound by no cap any more" test "$(block_bytes)" -gt "$CAP"
check "no sanitizer report" scan_logs "$HUBFS_LOG"
test_done
