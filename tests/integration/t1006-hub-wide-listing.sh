#!/usr/bin/env bash
# A wide dataset through the Hub client: 100,000 files, 50,000 of them in one
# folder, listed exactly as the manifest has them, 1,000 entries a request,
# each page once; info counts them all.
. "$HUBFS_TEST_LIB"
start_fakehub
H=$HUBFS_BIN
R=datasets/hubfs-test/wide-dataset
K=dataset/hubfs-test/wide-dataset

manifest entries "$K" >"$T/entries"
expect_eq 100505 "$(wc -l <"$T/entries")" "the manifest: 100,002 files and 503 folders"

# --- the folder of 50,000: one level ---
"$H" ls "$R" data/big >"$T/big" 2>"$T/err"
expect_eq 0 "$?" "ls of the 50,000-file folder succeeds"
awk -F'\t' '$1 ~ /^data\/big\/[^\/]+$/ { print $1 }' "$T/entries" | sort >"$T/want-big"
expect_eq 50000 "$(wc -l <"$T/want-big")" "... the manifest has 50,000 files there"
check "... and ls prints exactly them" cmp -s "$T/want-big" <(sort "$T/big")
expect_eq 50 "$(hub_count 'path~/api/datasets/hubfs-test/wide-dataset/tree/main/data/big*')" \
	"... in 50 requests of 1,000"
expect_eq 49 "$(hub_count 'path~*/tree/main/data/big*' 'query~*cursor=*')" \
	"... every one after the first from the Link cursor"

# --- everything, recursively ---
fakehub_ctl DELETE log >/dev/null
"$H" ls -R "$R" >"$T/all"
awk -F'\t' '{ print $1 ($2 == "dir" ? "/" : "") }' "$T/entries" | sort >"$T/want-all"
check "ls -R prints every file and folder once" cmp -s "$T/want-all" <(sort "$T/all")
expect_eq 101 "$(hub_count 'path~/api/datasets/hubfs-test/wide-dataset/tree/*')" \
	"... in 101 requests"
expect_eq 101 "$(hub_count 'path~/api/datasets/hubfs-test/wide-dataset/tree/*' status=200)" \
	"... each answered once, with 200"

# --- info counts the files of that commit ---
read -r nfiles nlfs bytes < <(manifest total "$K")
json=$("$H" info "$R" --json)
expect_eq "100002 0 $bytes" \
	"$(printf '%s' "$json" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(d["files"], d["lfs_files"], d["total_size"])')" \
	"info: 100,002 files, none in LFS, the manifest's total size"
expect_eq "$nfiles $nlfs" "100002 0" "... as the manifest says"
# The repo's info asks only for what is read of it: not the 100,002 files
# as siblings (4.3 MB, asked again at every --revision-ttl; 40,000 short
# names were refused as too dense for an answer).
info_bytes=$(hub_sum bytes 'path=/api/datasets/hubfs-test/wide-dataset' status=200)
check "... and its repo info was under 4 KB, no siblings ($info_bytes bytes)" \
	test "${info_bytes:-0}" -gt 0 -a "${info_bytes:-0}" -lt 4096

# --- a file of the big folder has its content ---
f=data/big/row-31337.txt
expect_eq "$(manifest field "$K" "$f" sha256)" \
	"$("$HUB_FETCH" "$R" "$f" 2>/dev/null | sha256sum | cut -d' ' -f1)" "a file of the folder reads right"
test_done
