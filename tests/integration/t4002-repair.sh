#!/usr/bin/env bash
# hubfs repair turns a git clone made without Git-LFS into a working one:
# each pointer stub becomes its verified content (fetched once, by its
# oid), written atomically with the stub's permission bits; files that are
# not pointers are never touched; a stub of another revision is skipped
# with advice.
. "$HUBFS_TEST_LIB"
start_fakehub
H=$HUBFS_BIN
use_tiny_model

# make_clone DIR: the repo's files at main as a clone made without Git-LFS
# has them: LFS files as pointer stubs, and a .git whose HEAD is main.
make_clone() {
	manifest tree $KEY "$1" clone
	mkdir -p "$1/.git/refs/heads"
	echo "ref: refs/heads/main" >"$1/.git/HEAD"
	echo "$COMMIT" >"$1/.git/refs/heads/main"
}

run() {
	"$H" "$@" >"$T/out" 2>"$T/err"
	echo $?
}
# inode, mtime, size and mode of every file, .git included.
stamps() { (cd "$1" && find . -type f -printf '%P %i %T@ %s %m\n' | sort); }
# Every file's sha256 equals the manifest's.
all_content_right() {
	local f
	for f in $(manifest files $KEY); do
		[ "$(sha256sum <"$C/$f" | cut -d' ' -f1)" = "$(manifest field $KEY "$f" sha256)" ] ||
			{ echo "wrong content: $f"; return 1; }
	done
}

C=$T/clone
make_clone "$C"
chmod 0640 "$C/model.safetensors"
chmod 0755 "$C/extra/weights.dat"
stamps "$C" >"$T/before"

# --- dry run ---
fakehub_ctl DELETE log >/dev/null
expect_eq 0 "$(run repair "$C" --repo $REPO --dry-run)" "repair --dry-run"
expect_eq "$LFS_FILES" "$(sed -n 's/^would repair: \([^ ]*\) .*/\1/p' "$T/out" | sort | tr '\n' ' ' | sed 's/ $//')" \
	"... lists the three stubs"
stamps "$C" >"$T/after"
check "... and changes nothing" cmp -s "$T/before" "$T/after"
expect_eq "0 0" "$(hub_count 'path~*/resolve/*') $(hub_count host=cdn)" "... and fetches no content"

# --- repair ---
fakehub_ctl DELETE log >/dev/null
expect_eq 0 "$(run repair "$C" --repo $REPO)" "repair the stub clone"
for f in $LFS_FILES; do
	check "... says it repaired $f" grep -q "^repaired: $f (" "$T/out"
done
check "... and a summary" grep -qx "3 Git-LFS stubs repaired (.*) from $REPO@${COMMIT:0:12}" "$T/out"
check "every file's sha256 is the manifest's" all_content_right
stamps "$C" >"$T/after"
grep -v -e '^extra/weights.dat ' -e '^model.safetensors ' -e '^pytorch_model.bin ' "$T/before" >"$T/before.rest"
grep -v -e '^extra/weights.dat ' -e '^model.safetensors ' -e '^pytorch_model.bin ' "$T/after" >"$T/after.rest"
check "files that are not pointers (and .git) are untouched: inode, mtime" cmp -s "$T/before.rest" "$T/after.rest"
expect_eq "640 755 644" "$(stat -c %a "$C/model.safetensors" "$C/extra/weights.dat" "$C/pytorch_model.bin" | tr '\n' ' ' | sed 's/ $//')" \
	"repaired files keep the stubs' permission bits"
check "no temporary file is left" sh -c '! find "$0" -name "*.tmp.*" | grep -q .' "$C"
total=0
for f in $LFS_FILES; do
	sha=$(manifest field $KEY $f sha256)
	size=$(manifest field $KEY $f size)
	total=$((total + size))
	expect_eq "$size" "$(hub_sum bytes host=cdn "path~*/$sha")" "... $f's object came from the CDN exactly once"
done
expect_eq "$total" "$(hub_sum bytes host=cdn)" "... and the CDN sent nothing else"
expect_eq 0 "$(run verify "$C" --repo $REPO --deep)" "verify --deep passes after the repair"

# --- again: nothing to do ---
stamps "$C" >"$T/before"
fakehub_ctl DELETE log >/dev/null
expect_eq 0 "$(run repair "$C" --repo $REPO)" "a second repair succeeds"
check "... saying there is nothing to repair" grep -q "^no Git-LFS stubs in .*: nothing to repair$" "$T/out"
expect_eq "0 0" "$(hub_count 'path~*/resolve/*') $(hub_count host=cdn)" "... fetching nothing"
stamps "$C" >"$T/after"
check "... touching nothing" cmp -s "$T/before" "$T/after"

# --- a stub of another revision's content ---
V1=$(manifest commit $KEY v1.0)
echo "$V1" >"$C/.git/refs/heads/main"
other=$(printf 'other weights' | sha256sum | cut -d' ' -f1)
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize 13\n' "$other" >"$C/model.safetensors"
cp "$C/model.safetensors" "$T/other-stub"
fakehub_ctl DELETE log >/dev/null
expect_eq 1 "$(run repair "$C" --repo $REPO)" "a stub of another revision: exit 1"
check "... reported, with the revision the clone is at" grep -q \
	"^model.safetensors: not repaired: its pointer (sha256:$other, 13 bytes) is not the file of $REPO@${COMMIT:0:12} .*use --repo $REPO@$V1$" "$T/out"
check "... and skipped" cmp -s "$T/other-stub" "$C/model.safetensors"
expect_eq 0 "$(hub_count host=cdn)" "... without fetching anything"
rm -rf "$C/.git"
expect_eq 1 "$(run repair "$C" --repo $REPO --dry-run)" "... without .git, --dry-run says so too (exit 1)"
check "... asking for the commit the clone was made at" grep -q "use --repo $REPO@COMMIT with the commit it was cloned at" "$T/out"
cp "$(manifest blob $KEY model.safetensors)" "$C/model.safetensors"

printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize 13\n' "$other" >"$C/not-in-repo.bin"
expect_eq 1 "$(run repair "$C" --repo $REPO)" "a pointer the repo has no file for: exit 1"
check "... reported" grep -q "^not-in-repo.bin: not repaired: a Git-LFS pointer, but $REPO@${COMMIT:0:12} has no such file" "$T/out"
rm "$C/not-in-repo.bin"

# --- a CDN that answers nothing: each stub's blocks were tried one after
# another, each until --op-timeout (16 blocks: ~48 s here); once a whole
# --op-timeout passed with nothing received, the repair gives up, and a
# stub that failed asks for no more of its blocks ---
C2=$T/clone-stalled
make_clone "$C2"
fakehub_ctl DELETE log >/dev/null
fault '{"kind": "stall", "host": "cdn", "glob": "/repos/*", "after_bytes": 0, "seconds": 30, "count": -1}'
t0=$(now_cs)
expect_eq 1 "$(run repair "$C2" --repo $REPO --jobs 1 --op-timeout 3 --stall-timeout 1 --cache-dir "$T/cache-stalled")" \
	"repair against a stalled CDN: exit 1"
SECS=$(secs_since "$t0")
check "... within two deadlines and a bit ($SECS s)" within 10
check "... saying it gave up, and how to resume" \
	grep -q "gave up: the Hub sent nothing for [0-9]* s (--op-timeout).*run the same command again" "$T/err"
check "... after a transfer or two, not one per block ($(hub_count host=cdn) requests)" test "$(hub_count host=cdn)" -le 8
check "... every stub named as not repaired" test "$(grep -c "not repaired" "$T/out")" -ge 4
# --- a stub whose first block failed asks for no more: one request per
# stub (each fails in 1 s, no retry), under a window they do not fill ---
fakehub_ctl DELETE log >/dev/null
expect_eq 1 "$(run repair "$C2" --repo $REPO --jobs 1 --retries 0 --op-timeout 20 --stall-timeout 1 --cache-dir "$T/cache-stalled2")" \
	"repair, each stub's first block stalled: exit 1"
NSTUBS=$(echo $LFS_FILES | wc -w)
expect_eq "$NSTUBS" "$(grep -c ': not repaired: .*timed out' "$T/out")" "... every stub not repaired, timed out"
expect_eq "$NSTUBS" "$(hub_count host=cdn)" "... one CDN request per stub ($NSTUBS stubs), not one per block"
check "... each for its own reason, no giving up" sh -c '! grep -q "gave up" "$0"' "$T/err"
fakehub_ctl DELETE faults >/dev/null
expect_eq 0 "$(run repair "$C2" --repo $REPO --cache-dir "$T/cache-stalled")" "... and run again, it repairs them"
C=$C2 all_content_right

# --- bad command lines ---
expect_eq 2 "$(run repair "$T/no-such-dir" --repo $REPO)" "a DIR that does not exist: exit 2"
expect_eq 2 "$(run repair "$C")" "no --repo: exit 2"
check "... saying what is missing" grep -q "repair needs --repo" "$T/err"
expect_eq 2 "$(run repair "$C" --repo $REPO --jobs 0)" "--jobs 0: exit 2"
expect_eq 3 "$(HF_TOKEN=$ALICE_TOKEN run repair "$C" --repo hubfs-test/no-such-repo)" "a repo that does not exist: exit 3"
test_done
