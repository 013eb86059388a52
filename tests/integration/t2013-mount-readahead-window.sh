#!/usr/bin/env bash
# The mount's read-ahead keeps a window of fetches that adapts to the
# network, as `hubfs download` does (#17): behind a distant CDN with a rate
# per connection, one cold reader of a big file gets more fetches in flight
# than the window starts with; --max-streams caps them; a CDN that sheds
# load with 429 narrows the window, and the reader still gets the right
# bytes. `hubfs status` shows the window.
. "$HUBFS_TEST_LIB"
require_fuse
# A 200 MiB file (50 blocks): enough epochs for the window to move.
use_big_data
start_fakehub --latency-ms 20 --cdn-rate 8M --cdn-retry-after 1
KEY=model/hubfs-test/big-model
FILE=hubfs-test/big-model/model.safetensors
WANT=$(manifest field $KEY model.safetensors sha256)

status_field() { "$HUBFS_BIN" status "$MNT" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
cold_read() { # [mount options...]: a fresh cache, one cold cat of the big file
	rm -rf "$T/cache"
	mount_hubfs --cache-dir "$T/cache" "$@"
	fakehub_ctl DELETE log >/dev/null
	GOT=$(sha256sum <"$MNT/$FILE" | cut -d' ' -f1)
}

# --- the window widens past its start (16) for one reader ---
cold_read
expect_eq "$WANT" "$GOT" "a cold read behind a slow CDN: the right bytes"
wide=$(status_field readahead_peak_window)
check "... the read-ahead window widened past 16 (to $wide)" test "$wide" -gt 16
check "... and more than 16 CDN answers ran at once ($(hub_peak host=cdn status=206))" test "$(hub_peak host=cdn status=206)" -gt 16
expect_eq 0 "$(status_field readahead_congestions)" "... with no pushback counted"
unmount_hubfs || die "unmount failed"

# --- --max-streams caps it (a faster CDN from here: only the caps matter) ---
fakehub_ctl POST config '{"cdn_rate": 33554432}' >/dev/null
cold_read -o max_streams=4
expect_eq "$WANT" "$GOT" "with -o max_streams=4: the right bytes"
check "... the window stayed within 4 ($(status_field readahead_peak_window))" \
	test "$(status_field readahead_peak_window)" -le 4
# The reader's own fetch of the block it waits for is not read-ahead's.
check "... at most 4 + 1 answers at once ($(hub_peak host=cdn status=206))" test "$(hub_peak host=cdn status=206)" -le 5
unmount_hubfs || die "unmount failed"

# --- a mapping read in order gets read-ahead too (the kernel reads around
# each page fault, 1 MiB at a time) ---
rm -rf "$T/cache"
mount_hubfs --cache-dir "$T/cache"
fakehub_ctl DELETE log >/dev/null
MAPPED=$("$PYTHON" -c 'import hashlib, mmap, sys
f = open(sys.argv[1], "rb"); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
h = hashlib.sha256()
for at in range(0, 48 << 20, 4 << 20):
    h.update(m[at:at + (4 << 20)])
print(h.hexdigest())' "$MNT/$FILE")
expect_eq "$(head -c $((48 << 20)) "$MNT/$FILE" | sha256sum | cut -d' ' -f1)" "$MAPPED" \
	"an mmap of the first 48 MiB, in order: the file's bytes"
check "... with fetches ahead of its page faults ($(hub_peak host=cdn status=206) at once)" \
	test "$(hub_peak host=cdn status=206)" -gt 1
unmount_hubfs || die "unmount failed"

# --- a reader from the first byte gets the first window at once, as a
# download starts; one that starts in the middle ramps up block by block ---
cdn_gets_settled() { # the CDN GETs once read-ahead is done (no change for 1 s)
	local n=-1 m
	for _ in $(seq 40); do
		m=$(hub_count host=cdn method=GET)
		[ "$m" = "$n" ] && break
		n=$m
		sleep 1
	done
	echo "$n"
}
rm -rf "$T/cache"
mount_hubfs --cache-dir "$T/cache"
fakehub_ctl DELETE log >/dev/null
head -c $((3 << 20)) "$MNT/$FILE" >/dev/null
first=$(cdn_gets_settled)
check "3 MiB from the first byte: its block and the first window of 16 ahead ($first GETs)" \
	test "$first" -ge 17 -a "$first" -le 18
fakehub_ctl DELETE log >/dev/null
dd if="$MNT/$FILE" of=/dev/null bs=1M skip=120 count=3 status=none
middle=$(cdn_gets_settled)
check "3 MiB from the middle: a block or two ahead ($middle GETs)" test "$middle" -le 3
unmount_hubfs || die "unmount failed"

# --- a reader that closes its file takes the read-ahead still queued for
# it along: 2 fetches at once, 16 blocks ahead of a reader from the first
# byte, each block 0.5 s away; 24 MiB read, then closed ---
fakehub_ctl POST config '{"cdn_rate": 8388608}' >/dev/null
rm -rf "$T/cache"
mount_hubfs --cache-dir "$T/cache" -o max_streams=2
fakehub_ctl DELETE log >/dev/null
dd if="$MNT/$FILE" of=/dev/null bs=1M count=24 status=none
expect_eq none "$(status_field readahead_link)" "a window of 2 at most is not probed"
at_close=$(hub_count host=cdn method=GET)
after=$(cdn_gets_settled)
# The 6 blocks read, the one the kernel's read-ahead may reach past them,
# and at most 2 in flight when it closed (and one more taken meanwhile);
# with the queue left alone, all 16 ahead came (22 or more).
check "24 MiB read, then closed: $after blocks fetched ($at_close when it closed), not the 16 queued ahead" \
	test "$after" -le 11
unmount_hubfs || die "unmount failed"
fakehub_ctl POST config '{"cdn_rate": 33554432}' >/dev/null

# --- a CDN that sheds load: 429 beyond 4 answers at once (the window starts at 16) ---
fakehub_ctl POST config '{"cdn_max_active": 4}' >/dev/null
cold_read
expect_eq "$WANT" "$GOT" "behind a CDN answering 429: the right bytes"
n429=$(hub_count host=cdn status=429 fault=max_active)
check "... the CDN answered 429 ($n429 times)" test "$n429" -ge 1
check "... and the window heard it ($(status_field readahead_congestions) pushbacks)" \
	test "$(status_field readahead_congestions)" -ge 1
unmount_hubfs || die "unmount failed"
check "no sanitizer report in the daemon's log" scan_logs "$HUBFS_LOG"
test_done
