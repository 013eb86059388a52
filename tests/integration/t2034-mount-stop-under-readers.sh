#!/usr/bin/env bash
# SIGTERM while a reader in order reads a file the cache holds (its blocks
# pushed into the page cache ahead of it), and while one reads it cold
# behind a slow CDN: the daemon exits 0 within 5 s, every time, and the
# mount is gone. Pushes once met a page a READ held locked, which nobody
# answered after libfuse's handler had ended the loop, and the daemon hung
# for good (within two rounds in 4 runs of 4; 1 round of 20 with a check
# for the end before each push); cold, a drop of pages did (below). Rounds
# at random moments of the read.
. "$HUBFS_TEST_LIB"
require_fuse
use_big_data
start_fakehub
FILE=hubfs-test/big-model/model.safetensors
ROUNDS=12

check "the big file, downloaded into the cache" \
	"$HUBFS_BIN" download --quiet --cache-dir "$T/cache" hubfs-test/big-model --include model.safetensors

# One round: mount on cache DIR (CACHE_FRESH=1: emptied first), cat the big
# file, SIGTERM after SECS; counts hung rounds and the slowest stop.
stop_round() {
	local cache=$1 secs=$2 fuse_dev reader rc t0 took
	[ -z "${CACHE_FRESH:-}" ] || rm -rf "$cache"
	mount_hubfs --cache-dir "$cache"
	fuse_dev=$(stat -c %d "$MNT")
	cat "$MNT/$FILE" >/dev/null 2>&1 &
	reader=$!
	sleep "$secs"
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
	took=$(secs_since "$t0")
	[ "$(echo "$took > $slowest" | bc)" = 1 ] && slowest=$took
	[ "$rc" = 0 ] || [ "$hung" -gt 0 ] || not_ok "round $i: the daemon exits 0 (got $rc)"
	wait "$reader" 2>/dev/null
	umount -l "$MNT" 2>/dev/null
}

hung=0 slowest=0
for i in $(seq 1 $ROUNDS); do
	stop_round "$T/cache" "0.0$((RANDOM % 10))"
	[ "$hung" -eq 0 ] || break
done
expect_eq 0 "$hung" "SIGTERM during a warm read, $ROUNDS rounds: the daemon never hangs"
check "... each exits within 5 s (the slowest: $slowest s)" test "$(echo "$slowest < 5" | bc)" = 1
check "... saying why it ends" grep -q "signal 15: the mount ends" "$HUBFS_LOG"
check "the mount is gone" sh -c '! grep -q " $0 fuse" /proc/mounts' "$MNT"

# --- the same during a cold read behind a CDN of 16 MiB/s a connection:
# transfers cancelled under readers answered early refuse the file, whose
# drop of pages met a READ lost as the loop ended (libfuse cancels its
# workers in their read), in the kernel for good (4 rounds of 8 hung) ---
fakehub_ctl POST config '{"cdn_rate": 16777216}' >/dev/null
hung=0 slowest=0
for i in $(seq 1 $ROUNDS); do
	CACHE_FRESH=1 stop_round "$T/cold-cache" "0.$((RANDOM % 8))$((RANDOM % 10))"
	[ "$hung" -eq 0 ] || break
done
expect_eq 0 "$hung" "SIGTERM during a cold read, $ROUNDS rounds: the daemon never hangs"
check "... each exits within 5 s (the slowest: $slowest s)" test "$(echo "$slowest < 5" | bc)" = 1
check "... and says the file was not checked, not that it was refused" \
	sh -c '! grep -q "refused: the transfer" "$0"' "$HUBFS_LOG"
check "no sanitizer report" scan_logs "$HUBFS_LOG"
test_done
