#!/usr/bin/env bash
# Every Hub request ends in bounded time whatever the server does (headers or
# body dripped a byte at a time, an endless body, 503 for ever), and a Hub
# that cannot be reached (refused, unknown host) fails at once, unretried.
. "$HUBFS_TEST_LIB"
start_fakehub
H=$HUBFS_BIN
TREE='/api/models/hubfs-test/tiny-model/tree/*'

# --- connection refused, unknown host: exit 5 within 2 s, one attempt ---
# (with the default backoff, which the harness shortens: retries would show)
export HUBFS_RETRY_BASE_MS=500
timed "$H" ls --endpoint http://127.0.0.1:9 hubfs-test/tiny-model
expect_eq 5 "$RC" "connection refused: exit 5"
check "... within 2 s (no retries, no backoff)" within 2
check "... the message names the endpoint" grep -q "cannot connect to http://127.0.0.1:9" "$T/err"
# A password in the endpoint's URL is shown as stars, in every message.
timed "$H" ls --endpoint http://mirror-user:s3cret-pw@127.0.0.1:9 hubfs-test/tiny-model
expect_eq 5 "$RC" "an endpoint with a user and password, refused: exit 5"
check "... the message names it, password as stars" grep -q "(endpoint http://\*\*\*@127.0.0.1:9)" "$T/err"
check "... and nowhere in clear" sh -c '! grep -q s3cret-pw "$0"' "$T/err"
timed "$H" ls --endpoint http://hub.invalid hubfs-test/tiny-model
expect_eq 5 "$RC" "a host that cannot be resolved: exit 5"
check "... within 2 s" within 2
check "... the message names the host" grep -q "hub.invalid" "$T/err"
export HUBFS_RETRY_BASE_MS=50

# expect_drip WHAT WITHIN_NOTE: the listing's WHAT (headers or body) dripped
# a byte per 0.2 s fails ls with exit 5 within 4 s, saying what was slow.
expect_drip() {
	fault '{"kind": "drip_'"$1"'", "glob": "'"$TREE"'", "interval": 0.2, "count": -1}'
	timed timeout 30 "$H" ls --stall-timeout 1 --retries 0 hubfs-test/tiny-model
	expect_eq 5 "$RC" "$1 dripped: exit 5"
	check "... within 4 s$2" within 4
	check "... the message says what was slow" grep -q "too slow" "$T/err"
	fakehub_ctl DELETE faults >/dev/null
}

# --- headers dripped: below the floor, over within the window ---
expect_drip headers " (a 1 s low-speed window)"

# --- a body dripped (5 B/s: above the old 1 B/s floor) ---
expect_drip body ""

# --- a drip is tried once more, not as often as --retries allows ---
fakehub_ctl DELETE log >/dev/null
fault '{"kind": "drip_body", "glob": "'"$TREE"'", "interval": 0.2, "count": -1}'
timed timeout 30 "$H" ls --stall-timeout 1 --retries 50 hubfs-test/tiny-model
expect_eq 5 "$RC" "a drip on every try: exit 5"
expect_eq 2 "$(hub_count "path~$TREE")" "... after 2 tries, although 50 retries are allowed"
check "... within 2 windows (+2 s)" within 4
fakehub_ctl DELETE faults >/dev/null

# --- an endless body fast enough for the floor: the deadline ends it ---
fault '{"kind": "drip_body", "glob": "/api/models/hubfs-test/tiny-model", "interval": 0.05, "bytes": 2000, "endless": true, "count": -1}'
timed timeout 30 "$H" info --op-timeout 2 hubfs-test/tiny-model
expect_eq 5 "$RC" "an endless body at 40 KB/s: exit 5"
check "... within the 2 s deadline (+1 s)" within 3
check "... the message names the deadline" grep -q "deadline" "$T/err"
fakehub_ctl DELETE faults >/dev/null

# --- 503 for ever with many retries: the deadline bounds them all ---
fault '{"kind": "status", "code": 503, "glob": "'"$TREE"'", "count": -1}'
timed timeout 30 "$H" ls --retries 100 --op-timeout 2 hubfs-test/tiny-model
expect_eq 5 "$RC" "503 for ever, 100 retries allowed: exit 5"
check "... within the 2 s deadline (+1 s)" within 3
check "... after more than one try (5xx is worth retrying)" test "$(hub_count "path~$TREE")" -gt 1
fakehub_ctl DELETE faults >/dev/null

# --- a listing's deadline is per page: a long one that keeps coming ends ---
# big-dataset's 3,065 files and their folders in pages of 200, each 0.25 s
# late: about 4 s in all, against a 2 s --op-timeout. One deadline for all
# the pages failed it (a few hundred thousand files on the Hub, hundreds of
# pages, could never be listed); each page has its own now.
BIGTREE='/api/datasets/hubfs-test/big-dataset/tree/*'
"$H" ls -R datasets/hubfs-test/big-dataset >"$T/tree-want"
fakehub_ctl POST config '{"page_size": 200}' >/dev/null
fakehub_ctl DELETE log >/dev/null
fault '{"kind": "delay", "glob": "'"$BIGTREE"'", "seconds": 0.25, "count": -1}'
timed timeout 60 "$H" ls -R --op-timeout 2 datasets/hubfs-test/big-dataset
expect_eq 0 "$RC" "a listing of $(wc -l <"$T/tree-want") entries, 0.25 s a page, --op-timeout 2: it ends, listed"
check "... every entry" cmp -s "$T/tree-want" "$T/out"
pages=$(hub_count "path~$BIGTREE")
check "... in pages of 200 ($pages)" test "$pages" -ge 16
check "... longer than the deadline in all ($SECS s)" test "$(echo "$SECS > 2" | bc)" = 1
fakehub_ctl DELETE faults >/dev/null
# A loop of pages (the third links back to the second, for good) ends at
# once as an invalid answer, not at a deadline that each page pushes on.
fakehub_ctl POST config '{"link_loop": 1}' >/dev/null
fakehub_ctl DELETE log >/dev/null
timed timeout 60 "$H" ls -R --op-timeout 2 datasets/hubfs-test/big-dataset
expect_eq 5 "$RC" "a loop of next-page links: exit 5"
check "... saying so" grep -q "invalid next-page link" "$T/err"
check "... after a few pages ($(hub_count "path~$BIGTREE"))" test "$(hub_count "path~$BIGTREE")" -le 6
fakehub_ctl POST config '{"link_loop": 0, "page_size": 1000}' >/dev/null

# --- a download of 3,000 files against a Hub that answers nothing: each
# transfer is bounded, but one by one they took ~96 minutes to fail with
# the defaults (3,065 files). Once a whole --op-timeout passed with no byte
# received, every transfer in it failing, the download gives up: exit 5,
# one line for the files not fetched, and a re-run resumes ---
DS=datasets/hubfs-test/big-dataset
NFILES=$("$H" ls -R $DS | grep -vc '/$')
fakehub_ctl DELETE log >/dev/null
fault '{"kind": "stall", "glob": "/datasets/hubfs-test/big-dataset/resolve/*", "after_bytes": 0, "seconds": 30, "count": -1}'
timed timeout 120 "$H" download --cache-dir "$T/dl" --op-timeout 3 --stall-timeout 1 $DS
expect_eq 5 "$RC" "a download of $NFILES files against a stalled Hub: exit 5"
check "... within 2 deadlines and a bit ($SECS s)" within 10
check "... saying it gave up, and how to resume" \
	grep -q "files not fetched: the Hub sent nothing for [0-9]* s (--op-timeout).*run the same command again to resume" "$T/err"
TRIED=$(hub_count 'path~/datasets/hubfs-test/big-dataset/resolve/*')
check "... after a few transfers, not one per file ($TRIED of $NFILES)" test "$TRIED" -lt 200
check "... one line for the files not fetched, not one each ($(wc -l <"$T/err") lines)" \
	test "$(wc -l <"$T/err")" -lt 100
fakehub_ctl DELETE faults >/dev/null
timed timeout 120 "$H" download --quiet --cache-dir "$T/dl" $DS
expect_eq 0 "$RC" "... and once the Hub answers, the same command completes it"
# --- two files stalled, the second begun halfway, while the others come
# (each 50 ms late, two at once: ~9 s): each fails for its own reason,
# failures more than a window apart, and the download does not give up
# on the rest: bytes came between them ---
fault '{"kind": "stall", "glob": "/datasets/hubfs-test/big-dataset/resolve/*/data/test/part-00/shard-0000.csv", "after_bytes": 0, "seconds": 30, "count": -1}'
fault '{"kind": "stall", "glob": "/datasets/hubfs-test/big-dataset/resolve/*/data/test/part-06/shard-0180.csv", "after_bytes": 0, "seconds": 30, "count": -1}'
fault '{"kind": "delay", "glob": "/datasets/hubfs-test/big-dataset/resolve/*", "seconds": 0.05, "count": -1}'
timed timeout 60 "$H" download --cache-dir "$T/dl2" --op-timeout 3 --stall-timeout 1 \
	--jobs 2 --include 'data/test/*' $DS
expect_eq 5 "$RC" "two files of data/test/ stalled: exit 5"
check "... those two alone failed" grep -q "^hubfs: 2 of [0-9]* files failed" "$T/err"
check "... each for its own reason" test "$(grep -c "shard-0\(000\|180\).csv: .*timed out" "$T/err")" = 2
check "... and the download did not give up" sh -c '! grep -q "not fetched" "$0"' "$T/err"
check "... though it went on past that failure ($SECS s)" test "${SECS%.*}" -ge 5
fakehub_ctl DELETE faults >/dev/null

# --- and the same client is fine when the Hub is ---
"$H" ls hubfs-test/tiny-model >/dev/null 2>"$T/err"
expect_eq 0 "$?" "no fault: ls works"
test_done
