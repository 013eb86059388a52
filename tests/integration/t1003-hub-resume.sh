#!/usr/bin/env bash
# Ranged reads: a body broken off resumes from where it stopped (never
# fetching twice what arrived), a Range answered 200 is cut to the range,
# lying answers are refused and retried (or fail, and give no byte), and a
# stall ends in a timeout.
. "$HUBFS_TEST_LIB"
start_fakehub
REPO=hubfs-test/tiny-model
F=model.safetensors
size=$(manifest field model/$REPO $F size)
sha=$(manifest field model/$REPO $F sha256)
blob=$(manifest blob model/$REPO $F)

fetch() { "$HUB_FETCH" --size "$size" "$@" "$REPO" "$F"; }
ranges() { hub_fields status,range host=cdn method=GET; }

# --- reset after 1 MiB: resume at the byte where it broke ---
fault '{"kind": "reset", "after_bytes": 1048576, "host": "cdn", "glob": "/repos/*", "count": 1}'
expect_eq "$sha" "$(fetch --offset 0 --length "$size" 2>"$T/err" | sha256sum | cut -d' ' -f1)" \
	"whole file after a reset: the right bytes"
check "... one resume" grep -q "resumes=1" "$T/err"
sent=$(hub_sum bytes host=cdn)
check "CDN bytes in total ($sent) ~ the file size ($size), not twice" \
	test "$sent" -ge "$size" -a "$sent" -le $((size + 65536))
first=$($HUBLOG "$HUB_LOG" list host=cdn | head -1 | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["bytes"])')
expect_eq "206:bytes=0-$((size - 1)) 206:bytes=$first-$((size - 1))" "$(ranges)" \
	"the second request starts exactly where the first stopped ($first)"
fakehub_ctl DELETE log >/dev/null

# --- Range ignored (200): only the asked bytes are delivered ---
off=$((10 * 1048576)) len=1048576
fault '{"kind": "ignore_range", "host": "cdn", "glob": "/repos/*", "count": 1}'
expect_eq "$(dd if="$blob" bs=1M skip=10 count=1 status=none | sha256sum | cut -d' ' -f1)" \
	"$(fetch --offset $off --length $len 2>/dev/null | sha256sum | cut -d' ' -f1)" \
	"a 200 to a Range request is cut to the range"
expect_eq "200:bytes=$off-$((off + len - 1))" "$(ranges)" "... from one 200 answer"
fakehub_ctl DELETE log >/dev/null

# --- what a mirror or CDN may add to a good answer ---
want=$(head -c 4096 "$blob" | sha256sum | cut -d' ' -f1)
# A long ETag (informative on a range answer): the read goes on. It
# failed every read from such a CDN ('a header too long').
fault '{"kind": "header", "name": "ETag", "value": "\"'"$(printf 'e%.0s' $(seq 150))"'\"", "host": "cdn", "glob": "/repos/*", "count": -1}'
expect_eq "$want" "$(fetch --offset 0 --length 4096 2>"$T/err" | sha256sum | cut -d' ' -f1)" \
	"a 152-byte ETag on the CDN's answers: the right bytes"
expect_eq 1 "$(hub_count host=cdn method=GET)" "... in one request"
fakehub_ctl DELETE faults >/dev/null
fakehub_ctl DELETE log >/dev/null
# A Content-Encoding: the body is not the file's bytes (libcurl decodes
# nothing, as nothing was asked): refused, and asked again.
fault '{"kind": "header", "name": "Content-Encoding", "value": "gzip", "host": "cdn", "glob": "/repos/*", "count": 1}'
expect_eq "$want" "$(fetch --offset 0 --length 4096 2>"$T/err" | sha256sum | cut -d' ' -f1)" \
	"a range answered with a Content-Encoding is refused; the right bytes"
expect_eq 2 "$(hub_count host=cdn method=GET)" "... from the second request"
fakehub_ctl DELETE log >/dev/null
# A 203 whose page is as long as the file: not its bytes.
fault '{"kind": "status", "code": 203, "body_bytes": '"$size"', "host": "cdn", "glob": "/repos/*", "count": 1}'
expect_eq "$want" "$(fetch --offset 0 --length 4096 2>"$T/err" | sha256sum | cut -d' ' -f1)" \
	"a 203 of the file's length to a Range request is refused; the right bytes"
expect_eq 2 "$(hub_count host=cdn method=GET)" "... from the second request"
fakehub_ctl DELETE log >/dev/null

# --- an LFS pointer where content was due: refused, then the real bytes ---
fault '{"kind": "lfs_pointer", "host": "cdn", "glob": "/repos/*", "count": 1}'
expect_eq "$(head -c 4096 "$blob" | sha256sum | cut -d' ' -f1)" \
	"$(fetch --offset 0 --length 4096 2>"$T/err" | sha256sum | cut -d' ' -f1)" \
	"a pointer stub instead of content is refused and refetched"
expect_eq 2 "$(hub_count host=cdn method=GET)" "... in two requests"
fakehub_ctl DELETE log >/dev/null

# --- a 206 whose body runs on past its Content-Range (chunked, no Content-Length) ---
# The last 100 bytes are not the file's: no byte past the range named is
# taken, and the rest is asked for again. Before, all of it was.
off=$((2 * 1048576)) len=65536
want=$(dd if="$blob" bs=64k skip=32 count=1 status=none | sha256sum | cut -d' ' -f1)
fault '{"kind": "range_overrun", "short": 100, "host": "cdn", "glob": "/repos/*", "count": 1}'
expect_eq "$want" "$(fetch --offset $off --length $len 2>/dev/null | sha256sum | cut -d' ' -f1)" \
	"a body past its Content-Range is refused there; the right bytes"
expect_eq 2 "$(hub_count host=cdn method=GET)" "... the rest asked for again"
fakehub_ctl DELETE log >/dev/null

# --- a 404 with a status line among its headers: a 404, not its page as the range ---
fault '{"kind": "status_in_headers", "host": "cdn", "glob": "/repos/*", "count": 1}'
fetch --offset $off --length $len >"$T/out" 2>"$T/err"
expect_eq 1 "$?" "an error answer that looks like a 206 inside its headers fails the read"
expect_eq 0 "$(stat -c %s "$T/out")" "... and not a byte of its page is given"
fakehub_ctl DELETE log >/dev/null

# --- a wrong Content-Length on a git file: refused, retried ---
want=$(manifest field model/$REPO config.json sha256)
csize=$(manifest field model/$REPO config.json size)
fault '{"kind": "wrong_length", "delta": 7, "glob": "/api/resolve-cache/*", "count": 1}'
expect_eq "$want" "$("$HUB_FETCH" --size "$csize" --offset 0 --length "$csize" $REPO config.json 2>/dev/null | sha256sum | cut -d' ' -f1)" \
	"a wrong Content-Length is not trusted; the retry gives the right bytes"
fakehub_ctl DELETE log >/dev/null

# --- a stall once: the stall timeout fires, the read resumes ---
fault '{"kind": "stall", "after_bytes": 65536, "seconds": 30, "host": "cdn", "glob": "/repos/*", "count": 1}'
start=$(now_cs)
expect_eq "$sha" "$(HUBFS_STALL_TIMEOUT=1 fetch --offset 0 --length "$size" 2>"$T/err" | sha256sum | cut -d' ' -f1)" \
	"a read that stalled once completes"
check "... within seconds, not the stall's 30" less_than_since "$start" 15
fakehub_ctl DELETE log >/dev/null

# --- a stall for ever: a timeout error, never a hang ---
fault '{"kind": "stall", "after_bytes": 0, "seconds": 60, "host": "cdn", "glob": "/repos/*", "count": -1}'
start=$(now_cs)
HUBFS_STALL_TIMEOUT=1 HUBFS_MAX_RETRIES=1 fetch --offset 0 --length 1000000 >/dev/null 2>"$T/err"
expect_eq 1 "$?" "a read that always stalls fails"
check "... with ETIMEDOUT" grep -q "error ETIMEDOUT: timed out" "$T/err"
check "... within seconds" less_than_since "$start" 15
expect_eq 2 "$(hub_count host=cdn method=GET)" "... after one retry (2 requests)"
fakehub_ctl DELETE faults >/dev/null

# --- a remembered CDN link the CDN refuses is resolved again at once ---
# One transfer at a time: the first block resolves the file's link, the
# second asks the link remembered, which the CDN refuses once (403). That
# is no failure to back off from (a retry's 500-1000 ms here before, with
# the backoff's base at 1 s): nothing waits.
fakehub_ctl DELETE log >/dev/null
fault '{"kind": "status", "code": 403, "host": "cdn", "glob": "/repos/*", "skip": 1, "count": 1}'
HUBFS_RETRY_BASE_MS=1000 "$HUBFS_BIN" download --quiet --jobs 1 --cache-dir "$T/c403" \
	--local-dir "$T/l403" $REPO --include $F >/dev/null 2>"$T/err"
expect_eq 0 "$?" "a download whose remembered link the CDN refuses once ends well"
expect_eq "$sha" "$(sha256sum <"$T/l403/$F" | cut -d' ' -f1)" "... with the right bytes"
# milliseconds from the refused answer to the resolve that follows it
gap=$("$PYTHON" -c 'import json,sys
rs = [json.loads(l) for l in open(sys.argv[1])]
i = next(i for i, r in enumerate(rs) if r["status"] == 403)
nxt = next(r for r in rs[i + 1:] if r["host"] == "hub")
print(int((nxt["t"] - rs[i]["end"]) * 1000))' "$HUB_LOG")
check "... resolved again ${gap} ms after the refusal, with no backoff" test "$gap" -lt 200
expect_eq 1 "$(hub_count host=cdn status=403)" "... refused once"
fakehub_ctl DELETE faults >/dev/null

# --- a lying listing size is caught by Content-Range ---
HUBFS_MAX_RETRIES=0 "$HUB_FETCH" --size $((size + 1)) --offset 0 --length 10 $REPO $F >/dev/null 2>"$T/err"
expect_eq 1 "$?" "a size other than the Hub's is refused"
check "... as a protocol error" grep -q "EPROTO" "$T/err"
test_done
