#!/usr/bin/env bash
# Retries: 5xx and dropped connections are retried with backoff and
# counted; 429 waits for the quota's reset; what stays broken ends in one
# clear error after a bounded number of requests.
. "$HUBFS_TEST_LIB"
start_fakehub
H=$HUBFS_BIN
TREE='/api/models/hubfs-test/tiny-model/tree/*'


# --- 503 twice, then fine: three requests, the listing is complete ---
fault '{"kind": "status", "code": 503, "glob": "'"$TREE"'", "count": 2}'
expect_eq "$(manifest entries model/hubfs-test/tiny-model | awk -F'\t' '$1 !~ /\//' | wc -l)" \
	"$("$H" ls hubfs-test/tiny-model | wc -l)" "ls survives two 503s"
expect_eq "503 503 200" "$(hub_fields status "path~$TREE")" \
	"the log shows 503, 503, then 200"
fakehub_ctl DELETE log >/dev/null

# --- 503 for ever: max retries + 1 requests, then exit 5 ---
fault '{"kind": "status", "code": 503, "glob": "'"$TREE"'", "count": -1}'
HUBFS_MAX_RETRIES=2 "$H" ls hubfs-test/tiny-model 2>"$T/err"
expect_eq 5 "$?" "503 for ever: exit 5"
check "... with a message naming the status and retries" grep -q "HTTP 503 after 2 retries" "$T/err"
expect_eq 3 "$(hub_count "path~$TREE")" "... after exactly 3 requests"
fakehub_ctl DELETE faults >/dev/null
fakehub_ctl DELETE log >/dev/null

# --- an error page bigger than hubfs keeps (64 KiB): still the status decides ---
fault '{"kind": "status", "code": 503, "body_bytes": 300000, "glob": "'"$TREE"'", "count": 2}'
check "ls survives two 503s with 300 KB pages" "$H" ls hubfs-test/tiny-model
expect_eq "503 503 200" "$(hub_fields status "path~$TREE")" "... retried as any 503"
fakehub_ctl DELETE log >/dev/null
fault '{"kind": "status", "code": 404, "body_bytes": 300000, "host": "cdn", "glob": "/repos/*", "count": -1}'
"$HUB_FETCH" --size "$(manifest field model/hubfs-test/tiny-model pytorch_model.bin size)" \
	--offset 0 --length 100 hubfs-test/tiny-model pytorch_model.bin >/dev/null 2>"$T/err404"
check "a 404 from the CDN with a 300 KB page is ENOENT, not EIO" grep -q "ENOENT" "$T/err404"
fakehub_ctl DELETE faults >/dev/null
fakehub_ctl DELETE log >/dev/null

# --- a connection reset on an API answer is retried ---
fault '{"kind": "reset", "after_bytes": 10, "glob": "'"$TREE"'", "count": 1}'
check "ls survives a reset connection" "$H" ls hubfs-test/tiny-model
expect_eq 2 "$(hub_count "path~$TREE")" "... with one retry"
fakehub_ctl DELETE log >/dev/null

# --- 429: wait for the reset the RateLimit header announces (t + 1 s) ---
fault '{"kind": "rate_limit", "reset_seconds": 2, "glob": "'"$TREE"'", "count": 1}'
start=$(now_cs)
check "ls survives a 429" "$H" ls hubfs-test/tiny-model
elapsed=$(secs_since "$start")
check "... after waiting the announced reset (t=2 s: waited ${elapsed}s >= 3)" \
	test "$(echo "$elapsed >= 3" | bc)" = 1
check "... but not much longer" test "$(echo "$elapsed < 8" | bc)" = 1
expect_eq "429 200" "$(hub_fields status "path~$TREE")" \
	"two requests: 429, then 200"
fakehub_ctl DELETE log >/dev/null

# --- a 429 with requests left is another limit's: the backoff, not the quota's reset ---
# The fake Hub's RateLimit on it says r=<left>;t=<the window's end, up to
# 300 s>: read as a used-up quota, the listing failed at once ("the quota
# resets in N s") under a 5 s cap, or waited out the window.
fault '{"kind": "status", "code": 429, "glob": "'"$TREE"'", "count": 1}'
start=$(now_cs)
HUBFS_MAX_RETRY_WAIT=5 "$H" ls hubfs-test/tiny-model >/dev/null 2>"$T/err"
expect_eq 0 "$?" "a 429 with requests left is retried after the backoff"
check "... soon ($(secs_since "$start") s)" less_than_since "$start" 5
check "... and nothing speaks of a quota" sh -c '! grep -q quota "$0"' "$T/err"
expect_eq "429 200" "$(hub_fields status "path~$TREE")" "two requests: 429, then 200"
fakehub_ctl DELETE log >/dev/null

# --- 429 with a reset longer than we accept: fail now, say when ---
fault '{"kind": "rate_limit", "reset_seconds": 600, "glob": "'"$TREE"'", "count": -1}'
start=$(now_cs)
HUBFS_MAX_RETRY_WAIT=5 "$H" ls hubfs-test/tiny-model 2>"$T/err"
expect_eq 5 "$?" "a long rate limit: exit 5 (EAGAIN)"
check "... at once" less_than_since "$start" 3
check "... saying when the quota resets" grep -q "rate limited by the Hub; the quota resets in 600 s" "$T/err"
expect_eq 1 "$(hub_count "path~$TREE")" "... after one request"
fakehub_ctl DELETE faults >/dev/null
# The same on the CDN, in a download two transfers at a time: the blocks
# not started yet are not held for the reset either (they were, for all of
# it: the hold was set before the request gave up).
fakehub_ctl DELETE log >/dev/null
fault '{"kind": "rate_limit", "reset_seconds": 600, "host": "cdn", "count": -1}'
start=$(now_cs)
HUBFS_MAX_RETRY_WAIT=5 timeout 60 "$H" download --quiet --jobs 2 hubfs-test/tiny-model \
	--include model.safetensors --cache-dir "$T/ratelimited" 2>"$T/err"
expect_eq 1 "$?" "a download under a long rate limit: exit 1, its file failed"
check "... at once, not after the reset ($(secs_since "$start") s)" less_than_since "$start" 10
check "... saying when the quota resets" grep -q "the quota resets in 600 s" "$T/err"
fakehub_ctl DELETE faults >/dev/null

# --- the same knobs as options: --retries, --stall-timeout ---
fakehub_ctl DELETE log >/dev/null
fault '{"kind": "status", "code": 503, "glob": "'"$TREE"'", "count": -1}'
"$H" ls --retries 1 hubfs-test/tiny-model 2>"$T/err"
expect_eq "5 2" "$? $(hub_count "path~$TREE")" "--retries 1: exit 5 after 2 requests"
fakehub_ctl DELETE faults >/dev/null
fault '{"kind": "stall", "after_bytes": 0, "seconds": 30, "glob": "'"$TREE"'", "count": -1}'
start=$(now_cs)
"$H" ls --stall-timeout 1 --retries 0 hubfs-test/tiny-model 2>"$T/err"
expect_eq 5 "$?" "--stall-timeout 1: a stalled listing fails"
check "... as a timeout" grep -q "timed out" "$T/err"
check "... within seconds, not the stall's 30" less_than_since "$start" 10
"$H" ls --connect-timeout x hubfs-test/tiny-model 2>/dev/null
expect_eq 2 "$?" "a malformed --connect-timeout is a usage error"
fakehub_ctl DELETE faults >/dev/null

# --- a 502 from the CDN during a read is retried ---
size=$(manifest field model/hubfs-test/tiny-model pytorch_model.bin size)
fault '{"kind": "status", "code": 502, "host": "cdn", "glob": "/repos/*", "count": 1}'
expect_eq "$(manifest field model/hubfs-test/tiny-model pytorch_model.bin sha256)" \
	"$("$HUB_FETCH" --size "$size" --offset 0 --length "$size" hubfs-test/tiny-model pytorch_model.bin 2>"$T/err" | sha256sum | cut -d' ' -f1)" \
	"a read survives a 502 from the CDN"
check "... with one retry" grep -q "retries=1" "$T/err"
test_done
