#!/usr/bin/env bash
# hubfs cache ls / verify / evict / prune on a cache filled by hubfs
# download: what is stored is listed, a flipped byte on disk is found and
# repaired (only that block is fetched again), eviction spares what other
# revisions share, and prune keeps the limit.
. "$HUBFS_TEST_LIB"
start_fakehub
H=$HUBFS_BIN
export HUBFS_CACHE_DIR=$CACHE_DIR
REPO=hubfs-test/tiny-model
read -r nfiles nlfs bytes < <(manifest total model/$REPO)

# A directory that is neither empty nor a hubfs cache is not taken for one.
mkdir "$T/foreign" && printf 'my notes\n' >"$T/foreign/usage"
expect_code 2 "is not a hubfs cache" "cache ls of a foreign directory: exit 2" \
	"$H" cache ls --cache-dir "$T/foreign"
expect_eq "my notes" "$(cat "$T/foreign/usage")" "... and its files are left as they were"
check "... untagged" test ! -e "$T/foreign/CACHEDIR.TAG"

check "download fills the cache" "$H" download --quiet $REPO
row=$("$H" cache ls | grep "^model/$REPO ")
check "cache ls shows the repo at main, all $nfiles files, verified" \
	sh -c 'printf "%s" "$0" | grep -Eq "main +$1 +$2 .* verified$"' "$row" \
	"$(manifest commit model/$REPO | cut -c1-7)" "$nfiles"
json=$("$H" cache ls --json)
expect_eq "$nfiles $bytes $bytes verified" \
	"$(printf '%s' "$json" | "$PYTHON" -c 'import json,sys; r=json.load(sys.stdin)["repos"][0]; print(r["files"], r["size"], r["cached"], r["state"])')" \
	"cache ls --json: files, size, cached bytes, state"

# --- nothing verified is fetched again ---
fakehub_ctl DELETE log >/dev/null
check "a second download succeeds" "$H" download --quiet $REPO
expect_eq "0 0" "$(hub_count 'path~*/resolve/*') $(hub_count host=cdn)" \
	"... without one content request (resolve, CDN)"

# --- a flipped byte on disk ---
sha=$(manifest field model/$REPO model.safetensors sha256)
blk="$CACHE_DIR/objects/sha256/${sha:0:2}/$sha/b3"
check "the block file exists" test -f "$blk"
printf '\xff' | dd of="$blk" bs=1 seek=100000 conv=notrunc status=none
"$H" cache verify >"$T/verify" 2>&1
expect_eq 1 "$?" "cache verify finds the problem (exit 1)"
check "... and names the object and the block count" grep -q "^$sha: 1 of 10 blocks corrupt" "$T/verify"
check "... and the file of the repo it is (a hash alone said nothing)" \
	grep -q "^  the content of model/$REPO@[0-9a-f]\{12\}: model.safetensors$" "$T/verify"
check "cache verify --repair drops it" "$H" cache verify --repair
check "... after which the cache is clean" "$H" cache verify
check "... and the repo shows partial" sh -c '"$0" cache ls | grep -q "partial"' "$H"
fakehub_ctl DELETE log >/dev/null
check "download repairs the repo" "$H" download --quiet $REPO
expect_eq "bytes=12582912-16777215" "$(hub_fields range host=cdn)" "... fetching exactly the dropped block"
check "... and everything verifies" "$H" cache verify

# --- a block file cut short: the walk at open removes it, and verify says so ---
truncate -s 1000 "$blk"
"$H" cache verify >"$T/verify" 2>&1
expect_eq 1 "$?" "cache verify of a cut-short block file: exit 1"
check "... saying a damaged file was removed at open" grep -q "^1 damaged file removed when the cache was opened" "$T/verify"
check "... after which the cache is clean" "$H" cache verify
"$H" download $REPO 2>"$T/progress"
expect_eq 0 "$?" "download repairs the repo again"
expect_eq "100% $(grep -o '[0-9]*% [^,]*' "$T/progress" | tail -1 | cut -d' ' -f4-)" \
	"$(grep -o '[0-9]*% [^,]*' "$T/progress" | tail -1 | cut -d' ' -f1,4-)" \
	"... its progress ends at 100%, the total, not past it ($(grep -o '[0-9]*% [^,]*' "$T/progress" | tail -1))"

# --- evict a revision: what main shares with v1.0 stays ---
check "download v1.0 too" "$H" download --quiet $REPO@v1.0
"$H" cache evict $REPO@v1.0 >"$T/evict"
expect_eq 0 "$?" "cache evict REPO@v1.0"
check "... keeps what main still uses" grep -q "kept: other repos or revisions use them" "$T/evict"
# --json of a cache in a folder whose name holds a '"': valid JSON.
expect_eq True "$("$H" cache ls --json --cache-dir "$T/q\"x\\y/c" |
	"$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["dir"].endswith("q\"x\\y/c"))')" \
	"cache ls --json of a directory named with '\"' and '\\': valid JSON, the name kept"
# An unreadable listing: its file count is "-" and null, not 2^64-1 (and
# the listing is removed as it is read, to be fetched again).
bad=$CACHE_DIR/listings/model/hubfs-test/unreadable
plant_bad_listing() {
	mkdir -p "$bad" && printf 'hubfs-listing 1\nrepo model/hubfs-test/other\n' >"$bad/$(printf '%040d' 0).lst"
}
plant_bad_listing
check "cache ls shows an unreadable listing with no count" \
	sh -c '"$0" cache ls | grep -Eq "^model/hubfs-test/unreadable +- +0000000 +- .*unreadable$"' "$H"
plant_bad_listing
expect_eq "None unreadable" "$("$H" cache ls --json | "$PYTHON" -c 'import json,sys
r=[r for r in json.load(sys.stdin)["repos"] if r["repo"].endswith("/unreadable")][0]; print(r["files"], r["state"])')" \
	"... and cache ls --json says null"
check "... and the listing is gone once read" test ! -e "$bad/$(printf '%040d' 0).lst"
# A commit named by itself (REPO@<sha>, no ref of that name): its listing
# goes too; it stayed, and `cache ls` listed it, before.
v1=$(manifest commit model/$REPO v1.0)
check "download v1.0 by its commit" "$H" download --quiet $REPO@$v1
"$H" cache evict $REPO@$v1 >"$T/evict-sha"
expect_eq 0 "$?" "cache evict REPO@<commit>"
check "... its listing is gone from cache ls" sh -c '! "$0" cache ls | grep -q "$1"' "$H" "${v1:0:7}"
"$H" cache evict $REPO@$v1 2>"$T/err"
expect_eq 3 "$?" "... and a second evict finds nothing of it (exit 3)"
# A ref at the commit another ref names (big-dataset's main and v1.0):
# evicting one evicts no file, only the ref (all of them went before).
DS=datasets/hubfs-test/big-dataset
"$H" download --quiet $DS --include README.md >/dev/null
"$H" download --quiet $DS@v1.0 --include README.md >/dev/null
"$H" cache evict $DS@v1.0 >"$T/evict-ds"
expect_eq 0 "$?" "cache evict of a ref whose commit another ref names"
check "... evicts no file of it" grep -q "^evicted 0 files of $DS@v1.0" "$T/evict-ds"
check "... and says main still uses them" grep -q "kept: other repos or revisions use them" "$T/evict-ds"
check "... main's README.md is still cached" sh -c '"$0" download --quiet --offline "$1" --include README.md' "$H" $DS
check "... v1.0 is gone from cache ls" sh -c '! "$0" cache ls | grep -q "v1.0"' "$H"
check "... main is still verified" sh -c '"$0" cache ls | grep "^model/$1 " | grep -q "verified$"' "$H" $REPO
fakehub_ctl DELETE log >/dev/null
check "... and downloads again with no content request" "$H" download --quiet $REPO
expect_eq 0 "$(hub_count host=cdn)" "... (CDN requests)"

# --- prune to a size ---
check "prune to 10M" "$H" cache prune --max-size 10M
used=$("$H" cache ls --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["bytes"])')
check "... the cache holds at most 10 MiB ($used)" test "$used" -le 10485760
check "... and kept what fits, not nothing" test "$used" -gt 5000000
check "... and what is left still verifies" "$H" cache verify

# --- evict a repo, then everything ---
"$H" cache evict hubfs-test/no-such-repo 2>"$T/err"
expect_eq 3 "$?" "evicting what is not cached exits 3"
check "cache evict REPO" "$H" cache evict $REPO
check "cache evict --all" "$H" cache evict --all
expect_eq 0 "$("$H" cache ls --json | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(d["bytes"] + len(d["repos"]))')" \
	"... leaves an empty cache"
"$H" cache frobnicate 2>/dev/null
expect_eq 2 "$?" "an unknown cache command exits 2"
check "cache export --help prints the cache commands' usage" \
	bash -c '"$1" cache export --help | grep -q "hubfs cache export"' _ "$H"
# 70 arguments (more than the 60 it once passed on): none is dropped, so
# the last one still selects the file.
"$H" download hubfs-test/tiny-model --include config.json --include vocab.txt --quiet ||
	die "download failed"
many=()
for i in $(seq 1 67); do many+=(--quiet); done
"$H" cache export hubfs-test/tiny-model "${many[@]}" --include config.json 2>"$T/export.err"
check "cache export takes every one of 70 arguments (the last ones select config.json)" \
	bash -c 'ls "$1"/models--hubfs-test--tiny-model/snapshots/*/config.json' _ "$HF_HOME/hub"
check "... and only it: vocab.txt, in the cache too, is not exported" \
	bash -c '! ls "$1"/models--hubfs-test--tiny-model/snapshots/*/vocab.txt' _ "$HF_HOME/hub"
check "umount --help prints its usage and unmounts nothing" \
	bash -c '"$1" umount --help | grep -q "usage: hubfs umount"' _ "$H"

# `cache evict` and `cache prune` beside a mount whose reader is half-way
# through a verified file: the reader gets the right file, with success.
# Its blocks are fetched back, held to what it was given, and hashed. It
# got EIO before (a helper's review): "no hash can vouch for them".
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
	F=model.safetensors
	want=$(manifest field model/hubfs-test/tiny-model $F sha256)
	for cmd in "cache evict hubfs-test/tiny-model" "cache prune --max-size 1M"; do
		"$H" download --quiet hubfs-test/tiny-model --include $F >/dev/null
		mount_hubfs --cache-dir "$CACHE_DIR"
		"$PYTHON" -c '
import hashlib, sys, time
h = hashlib.sha256()
with open(sys.argv[1], "rb", buffering=0) as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        h.update(b)
        time.sleep(0.05)
print(h.hexdigest())' "$MNT/hubfs-test/tiny-model/$F" >"$T/slow.out" 2>"$T/slow.err" &
		reader=$!
		sleep 0.7
		$H $cmd >/dev/null
		wait "$reader"
		expect_eq 0 "$?" "$cmd beside a mount's reader half-way through a file: it succeeds"
		expect_eq "$want" "$(cat "$T/slow.out")" "... with the file's right bytes"
		unmount_hubfs
	done
	check "... no sanitizer report" scan_logs "$HUBFS_LOG"
fi
test_done
