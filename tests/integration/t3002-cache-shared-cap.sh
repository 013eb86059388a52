#!/usr/bin/env bash
# --max-cache-size caps the directory, whatever mix of mounts and downloads
# uses it (issue #11): a download run beside a mount with a cap keeps the
# directory's block files under it (plus the blocks in flight), and the cap
# ends with the mount; with several, the least binds, and each ends with
# its own mount, in the background too.
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

# Two mounts with caps: the least binds while they run, and the one that
# ends takes only its own along. Before, the last to open held the one
# record, and its unmount left the directory with no cap at all.
rm -rf "$CACHE_DIR/objects"
mount_hubfs --cache-dir "$CACHE_DIR" --max-cache-size 44M
MNT2="$T/mnt2"
mkdir -p "$MNT2"
"$HUBFS_BIN" mount -f "$MNT2" --cache-dir "$CACHE_DIR" --max-cache-size 1G >>"$HUBFS_LOG" 2>&1 &
second=$!
wait_for 20 grep -q " $MNT2 fuse" /proc/mounts
expect_eq 0 "$?" "a second mount with a cap of 1 GiB"
"$HUBFS_BIN" download --quiet --jobs 2 hubfs-test/tiny-model >"$T/download.out" 2>&1
expect_eq 0 "$?" "a download beside both"
check "... is bound by the least cap, 44 MiB ($(block_bytes) bytes)" test "$(block_bytes)" -le "$CAP"
fusermount3 -u "$MNT2"
wait "$second"
expect_eq 0 "$?" "the second mount ends"
"$HUBFS_BIN" download --quiet --jobs 2 hubfs-test/sharded-model >>"$T/download.out" 2>&1
expect_eq 0 "$?" "a download after it"
check "... is still bound by the first mount's cap ($(block_bytes) bytes)" \
	test "$(block_bytes)" -le "$CAP"
unmount_hubfs
expect_eq 0 "$?" "the first mount exits 0"

# A mount in the background (no -f, as fstab and systemd start it) binds
# the downloads beside it too. Before, its cap was recorded under the pid
# of the parent, which exits once the mount serves.
rm -rf "$CACHE_DIR/objects"
"$HUBFS_BIN" mount "$MNT" --cache-dir "$CACHE_DIR" --max-cache-size 44M >>"$HUBFS_LOG" 2>&1
expect_eq 0 "$?" "a mount in the background"
wait_for 20 grep -q " $MNT fuse" /proc/mounts
daemon=$(pgrep -n -f -- "mount $MNT --cache-dir")
check "... records its cap under the daemon's pid ($daemon)" \
	grep -q "cap 00000000000046137344 pid $(printf %010d "$daemon")" "$CACHE_DIR/usage"
"$HUBFS_BIN" download --quiet --jobs 2 hubfs-test/tiny-model >"$T/download.out" 2>&1
"$HUBFS_BIN" download --quiet --jobs 2 hubfs-test/sharded-model >>"$T/download.out" 2>&1
check "... and binds the downloads beside it ($(block_bytes) bytes)" test "$(block_bytes)" -le "$CAP"
fusermount3 -u "$MNT"
wait_for 20 sh -c "! kill -0 $daemon 2>/dev/null"
check "... and its cap ends with it" sh -c "! grep -q 'pid $(printf %010d "$daemon")' '$CACHE_DIR/usage'"

check "no sanitizer report" scan_logs "$HUBFS_LOG"
test_done
