#!/usr/bin/env bash
# hubfs download under a CDN that sheds load: the fake Hub answers 429 with
# Retry-After to a client with more than 4 answers in progress. hubfs
# backs off (fewer transfers at once, nothing new during the Retry-After),
# finishes, and the bytes are right. And --jobs caps the transfers.
. "$HUBFS_TEST_LIB"
start_fakehub --latency-ms 20 --cdn-rate 4M --cdn-max-active 4 --cdn-retry-after 1
H=$HUBFS_BIN
REPO=hubfs-test/tiny-model
KEY=model/$REPO

# 429s of the CDN that started at FROM or later
count_429() {
	"$PYTHON" -c 'import json,sys
print(sum(1 for r in map(json.loads, open(sys.argv[1]))
          if r["status"] == 429 and r["t"] >= float(sys.argv[2])))' "$HUB_LOG" "$1"
}
first_429() {
	"$PYTHON" -c 'import json,sys
ts=[r["t"] for r in map(json.loads, open(sys.argv[1])) if r["status"] == 429]
print(min(ts) if ts else 0)' "$HUB_LOG"
}

# --- 429s under load: back off, finish, right bytes ---
start=$(now_cs)
"$H" download $REPO --local-dir "$T/local" --jobs 16 2>"$T/err"
expect_eq 0 "$?" "the download finishes despite the 429s"
check "... within 30 s" less_than_since "$start" 30
# every file against the manifest's sha256 at main, in one sha256sum -c
"$PYTHON" - "$FAKEHUB_DATA/manifest.json" $KEY "$T/local" >"$T/sums" <<'EOF'
import json, sys
repo = json.load(open(sys.argv[1]))["repos"][sys.argv[2]]
files = repo["commits"][repo["refs"]["branches"]["main"]]["files"]
for path, f in sorted(files.items()):
    print("%s  %s/%s" % (f["sha256"], sys.argv[3], path))
EOF
check "every file of main is there ($(wc -l <"$T/sums"))" test "$(wc -l <"$T/sums")" -gt 10
check "every file has its published sha256" sha256sum --quiet -c "$T/sums"
n429=$(hub_count host=cdn status=429 fault=max_active)
check "the CDN answered 429 ($n429 times)" test "$n429" -ge 1
check "... and hubfs heard it (stderr: $(grep 'pushed back' "$T/err"))" \
	grep -Eq "the server pushed back [1-9][0-9]* times" "$T/err"
t429=$(first_429)
before=$(hub_peak host=cdn)
# The CDN admits 4 at a time whatever the client does; what the client
# controls is how many it asks for. Without the back-off the first
# burst's threads come back after the Retry-After while 4 others run, and
# get 429 again; with it the window is 4 by then (a probe may try a 5th).
late=$(count_429 "$(echo "$t429 + 1" | bc)")
after=$(hub_peak host=cdn "t>=$(echo "$t429 + 1" | bc)")
say "CDN requests in progress: $before at the peak; after the Retry-After at most $after, and $late more 429s"
check "... more than the cap of 4 before the first 429" test "$before" -gt 4
check "... at most the cap of 4, +1 for a probe, after it" test "$after" -le 5
check "... and at most 1 more 429 after it" test "$late" -le 1
check "... the window ended narrower than it started (16)" \
	grep -Eq "transfers at once: at most [0-9]+ \(cap 16\), [1-7] at the end" "$T/err"
check "... and after, some work was done" test "$(hub_count host=cdn status=206)" -gt 0
lfs_blocks=$(manifest entries $KEY | awk -F'\t' '$2 == "file" && $3 > 10485760 {n += int(($3 + 4194303) / 4194304)} END {print n + 0}')
check "fewer 429s ($n429) than twice the big files' blocks ($lfs_blocks)" test "$n429" -lt $((2 * lfs_blocks + 8))
check "... and no block fetched twice whole" \
	test "$(hub_sum bytes host=cdn status=206)" -le "$(du -sb "$T/local" | cut -f1)"

# --- --jobs is a cap: never more transfers at once, so no 429 ---
fakehub_ctl POST config '{"cdn_rate": 40000000}' >/dev/null
"$H" cache evict --all >/dev/null
fakehub_ctl DELETE log >/dev/null
check "--jobs 2 downloads" "$H" download --quiet $REPO --jobs 2 --include '*.safetensors'
check "... verified" sh -c '"$0" cache ls | grep -q "1 verified"' "$H"
expect_eq 0 "$(hub_count status=429)" "... without a 429"
check "... at most 2 CDN answers at once ($(hub_peak host=cdn))" test "$(hub_peak host=cdn)" -le 2
check "--max-streams is the same option" "$H" download --quiet $REPO --max-streams 3 \
	--include '*.json'
"$H" download --jobs 0 $REPO 2>"$T/usage"
expect_eq 2 "$?" "--jobs 0 is a usage error"
test_done
