#!/usr/bin/env bash
# Starting a mount: without -f, whatever stops the mount is printed on the
# terminal with a non-zero exit (it used to go to syslog: exit 1, silence);
# a mount point that is a mount already is refused, saying so (the kernel
# would stack a second mount on it); a background mount returns 0 only
# once the mount serves, and then says nothing more on the terminal.
. "$HUBFS_TEST_LIB"
require_fuse
start_fakehub

# mount_bg ARGS...: a background mount; its exit status in $rc, its
# terminal output in $T/bg.out and $T/bg.err.
mount_bg() {
	rc=0
	"$HUBFS_BIN" mount --cache-dir "$CACHE_DIR" "$@" >"$T/bg.out" 2>"$T/bg.err" || rc=$?
}
no_daemon_for() { ! pgrep -f "hubfs mount --cache-dir $CACHE_DIR $1" >/dev/null; }

# --- failures before the mount reach the terminal ---
mount_bg "$T/no/such/dir"
expect_eq 1 "$rc" "background mount on a missing directory exits 1"
check "... saying why on stderr" \
	grep -qx "hubfs: error: cannot mount on '$T/no/such/dir': No such file or directory" "$T/bg.err"
check "... and no daemon is left" no_daemon_for "$T/no/such/dir"

touch "$T/a-file"
mount_bg "$T/a-file"
expect_eq 1 "$rc" "background mount on a file exits 1"
check "... saying why" grep -qx "hubfs: error: cannot mount on '$T/a-file': not a directory" "$T/bg.err"

mount_bg -o no_such_fuse_option "$MNT"
expect_eq 1 "$rc" "background mount with a bad -o exits 1"
check "... saying why" grep -q "cannot create the FUSE session" "$T/bg.err"
check "... and nothing is mounted" sh -c '! grep -q " $0 fuse" /proc/mounts' "$MNT"

# --- a background mount returns once it serves, saying only where the Hub is ---
mount_bg "$MNT"
expect_eq 0 "$rc" "background mount exits 0"
# No wait_for here: the mount must serve the moment mount returned.
check "... and serves at once" test -f "$MNT/hubfs-test/tiny-model/config.json"
# Its one line names the endpoint it uses (issue #9: "hubfs mount's first lines").
expect_eq 1 "$(cat "$T/bg.out" "$T/bg.err" | wc -l)" "... printing one line on success"
check "... which names the endpoint" grep -q "Hub endpoint $HUB_URL (from HF_ENDPOINT)" "$T/bg.err"
daemon=$(pgrep -f "hubfs mount --cache-dir $CACHE_DIR $MNT" | head -1)
check "... from a daemon in the background" test -n "$daemon"

# --- a mount point that is a mount already is refused ---
mount_bg "$MNT"
expect_eq 1 "$rc" "mounting again on the same directory exits 1"
# (Should it have stacked a second mount, take it off again for the rest.)
[ "$rc" -eq 0 ] && fusermount3 -u -z "$MNT"
check "... saying it is a mount already and how to go on" grep -qx \
	"hubfs: error: cannot mount on '$MNT': it is already a mount point (fuse.hubfs); unmount it first ('hubfs umount $MNT') or choose another directory" \
	"$T/bg.err"
rc=0
# (A foreground mount that got through would serve until killed.)
timeout 20 "$HUBFS_BIN" mount -f --cache-dir "$CACHE_DIR" "$MNT/" 2>"$T/fg.err" || rc=$?
expect_eq 1 "$rc" "... also in the foreground, also spelled with a trailing '/'"
check "... saying so" grep -q "already a mount point (fuse.hubfs)" "$T/fg.err"
expect_eq 1 "$(grep -c " $MNT fuse" /proc/mounts)" "... and no second mount is stacked"
check "the first mount still serves" test -f "$MNT/hubfs-test/tiny-model/README.md"

# A directory with a space: /proc/self/mountinfo writes it as "\040".
mkdir -p "$T/with space"
mount_bg --log-level debug "$T/with space"
expect_eq 0 "$rc" "a mount point with a space mounts"
# As root, hubfs raises the mount's read-ahead; it finds the mount the same way.
if [ "$(id -u)" -eq 0 ] && [ -w /sys/class/bdi ]; then
	check "... and gets its read-ahead raised" grep -q "read-ahead of $T/with space raised" "$T/bg.err"
	# To what the log says: the answer to the kernel's INIT, which comes
	# after, caps it (it said 4096 KiB and was 1024).
	said=$(sed -n 's/.*read-ahead of .* raised to \([0-9]*\) KiB.*/\1/p' "$T/bg.err" | tail -n 1)
	dev=$(M="$T/with\\040space" awk '$5 == ENVIRON["M"] { print $3 }' /proc/self/mountinfo)
	expect_eq "$said" "$(cat "/sys/class/bdi/$dev/read_ahead_kb" 2>&1)" "... to what its log says"
fi
mount_bg "$T/with space"
expect_eq 1 "$rc" "... and a second mount on it is refused"
check "... saying so" grep -q "already a mount point" "$T/bg.err"
check "... the first one unmounts" "$HUBFS_BIN" umount "$T/with space"

# A mount of one repo checks it before it serves, for at most its deadline,
# and a listing of many pages does not push that on page by page (a unit
# waits for the start): 16 pages 0.5 s late under --op-timeout 2 (8 s in
# all) start the mount in about 2 s, "unreachable", loading at the first ls.
mkdir -p "$T/one"
fakehub_ctl POST config '{"page_size": 200}' >/dev/null
fakehub_ctl POST faults '{"kind": "delay", "glob": "/api/datasets/hubfs-test/big-dataset/tree/*", "seconds": 0.5, "count": -1}' >/dev/null
start=$(now_cs)
mount_bg --op-timeout 2 --repo datasets/hubfs-test/big-dataset "$T/one"
expect_eq 0 "$rc" "a mount of a repo whose listing outlasts the start's deadline mounts"
check "... within that deadline, not the listing's 8 s ($(secs_since "$start") s)" less_than_since "$start" 5
check "... saying it could not check it" grep -q "mounting all the same" "$T/bg.err"
fakehub_ctl DELETE faults >/dev/null
fakehub_ctl POST config '{"page_size": 1000}' >/dev/null
check "... and it serves, listed at the first use" test -d "$T/one/data"
check "... and unmounts" "$HUBFS_BIN" umount "$T/one"

check "hubfs umount unmounts the daemon" "$HUBFS_BIN" umount "$MNT"
wait_for 10 sh -c '! kill -0 "$0" 2>/dev/null' "$daemon"
check "... and the daemon ends" sh -c '! kill -0 "$0" 2>/dev/null' "$daemon"
test_done
