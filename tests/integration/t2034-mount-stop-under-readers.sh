#!/usr/bin/env bash
# SIGTERM while a reader in order reads a file the cache holds (its blocks
# pushed into the page cache ahead of it): the daemon exits 0 within 5 s,
# every time, and the mount is gone. Pushes once met a page a READ held
# locked, which nobody answered after libfuse's handler had ended the loop,
# and the daemon hung for good (3 runs of 3 in the first few rounds; 1 of
# 20 with a check for the end before each push). Rounds at random moments
# of the read.
. "$HUBFS_TEST_LIB"
require_fuse
use_big_data
start_fakehub
FILE=hubfs-test/big-model/model.safetensors
ROUNDS=12

check "the big file, downloaded into the cache" \
	"$HUBFS_BIN" download --quiet --cache-dir "$T/cache" hubfs-test/big-model --include model.safetensors

hung=0 slowest=0
for i in $(seq 1 $ROUNDS); do
	mount_hubfs --cache-dir "$T/cache"
	fuse_dev=$(stat -c %d "$MNT")
	cat "$MNT/$FILE" >/dev/null 2>&1 &
	reader=$!
	sleep "0.0$((RANDOM % 10))"
	t0=$(now_cs)
	kill -TERM "$HUBFS_PID"
	if ! timeout 5 tail --pid="$HUBFS_PID" -f /dev/null; then
		hung=$((hung + 1))
		# It holds its mount's requests, the reader's too: abort its
		# connection (fusectl), so that the test ends and says so.
		say "round $i: the daemon still runs 5 s after SIGTERM; aborting its connection"
		grep -q " /sys/fs/fuse/connections " /proc/mounts ||
			mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null
		echo 1 >"/sys/fs/fuse/connections/$((fuse_dev & 0xff))/abort" 2>/dev/null
		kill -9 "$HUBFS_PID" 2>/dev/null
	fi
	rc=0
	wait "$HUBFS_PID" || rc=$?
	HUBFS_PID=
	secs=$(secs_since "$t0")
	[ "$(echo "$secs > $slowest" | bc)" = 1 ] && slowest=$secs
	[ "$rc" = 0 ] || [ "$hung" -gt 0 ] || not_ok "round $i: the daemon exits 0 (got $rc)"
	wait "$reader" 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	[ "$hung" -eq 0 ] || break
done
expect_eq 0 "$hung" "SIGTERM during a warm read, $ROUNDS rounds: the daemon never hangs"
check "... each exits within 5 s (the slowest: $slowest s)" test "$(echo "$slowest < 5" | bc)" = 1
check "... saying why it ends" grep -q "signal 15: the mount ends" "$HUBFS_LOG"
check "the mount is gone" sh -c '! grep -q " $0 fuse" /proc/mounts' "$MNT"
