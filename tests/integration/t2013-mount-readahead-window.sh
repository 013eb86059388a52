#!/usr/bin/env bash
# The mount's read-ahead keeps a window of fetches that adapts to the
# network, as `hubfs download` does (#17): behind a distant CDN with a rate
# per connection, one cold reader of a big file gets more fetches in flight
# than the window starts with; --max-streams caps them; a CDN that sheds
# load with 429 narrows the window, and the reader still gets the right
# bytes. `hubfs status` shows the window.
. "$HUBFS_TEST_LIB"
require_fuse
TOP=$(cd "$TEST_LIB_DIR/../.." && pwd)

# A 200 MiB file (50 blocks): enough epochs for the window to move.
BIG=$((200 * 1048576))
export FAKEHUB_DATA=$HUBFS_TEST_TMP/fakehub-data-big200
(
	flock 9
	"$PYTHON" "$TOP/tests/fakehub/genrepos.py" "$FAKEHUB_DATA" --big-size "$BIG" >/dev/null
) 9>"$HUBFS_TEST_TMP/fakehub-data-big200.lock" || die "cannot generate $FAKEHUB_DATA"
start_fakehub --latency-ms 20 --cdn-rate 8M --cdn-retry-after 1
KEY=model/hubfs-test/big-model
FILE=hubfs-test/big-model/model.safetensors
WANT=$(manifest field $KEY model.safetensors sha256)

# Most CDN answers in progress at once, from the log's [t, end] of each.
peak() {
	"$PYTHON" - "$HUB_LOG" "${1:-}" <<'EOF'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
reqs = [r for r in reqs if r["host"] == "cdn" and (not sys.argv[2] or str(r["status"]) == sys.argv[2])]
edges = sorted([(r["t"], 1) for r in reqs] + [(r["end"], -1) for r in reqs])
cur = top = 0
for _, d in edges:
    cur += d
    top = max(top, cur)
print(top)
EOF
}
status_field() { "$HUBFS_BIN" status "$MNT" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
cold_read() { # [mount options...]: a fresh cache, one cold cat of the big file
	rm -rf "$T/cache"
	mount_hubfs --cache-dir "$T/cache" "$@"
	fakehub_ctl DELETE log >/dev/null
	GOT=$(sha256sum <"$MNT/$FILE" | cut -d' ' -f1)
}

# --- the window widens past its start (8) for one reader ---
cold_read
expect_eq "$WANT" "$GOT" "a cold read behind a slow CDN: the right bytes"
wide=$(status_field readahead_peak_window)
check "... the read-ahead window widened past 8 (to $wide)" test "$wide" -gt 8
check "... and more than 8 CDN answers ran at once ($(peak 206))" test "$(peak 206)" -gt 8
expect_eq 0 "$(status_field readahead_congestions)" "... with no pushback counted"
unmount_hubfs || die "unmount failed"

# --- --max-streams caps it (a faster CDN from here: only the caps matter) ---
fakehub_ctl POST config '{"cdn_rate": 33554432}' >/dev/null
cold_read -o max_streams=4
expect_eq "$WANT" "$GOT" "with -o max_streams=4: the right bytes"
check "... the window stayed within 4 ($(status_field readahead_peak_window))" \
	test "$(status_field readahead_peak_window)" -le 4
# The reader's own fetch of the block it waits for is not read-ahead's.
check "... at most 4 + 1 answers at once ($(peak 206))" test "$(peak 206)" -le 5
unmount_hubfs || die "unmount failed"

# --- a CDN that sheds load: 429 beyond 4 answers at once (the window starts at 8) ---
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
