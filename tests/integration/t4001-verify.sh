#!/usr/bin/env bash
# hubfs verify on the folders people actually have: a git clone made
# without Git-LFS (pointer stubs), a full copy, a huggingface_hub snapshot
# folder of symlinks, a hubfs download --local-dir, and the mount. Stubs
# are found by parsing, sizes and hashes against the repo's listing, and
# every kind of problem makes the exit status 1.
. "$HUBFS_TEST_LIB"
start_fakehub
H=$HUBFS_BIN
use_tiny_model
read -r nfiles nlfs _ < <(manifest total $KEY)

# make_tree DIR clone|full: the repo's files at main, as a clone made
# without Git-LFS has them (LFS files as pointer stubs) or in full.
make_tree() { manifest tree $KEY "$1" "$2"; }

# run ARGS...: hubfs with output in $T/out and $T/err; prints the exit status.
run() {
	"$H" "$@" >"$T/out" 2>"$T/err"
	echo $?
}
problems() { grep -vc -e '^note: ' -e ' files checked' "$T/out"; }

# --- a git clone made without Git-LFS ---
C=$T/clone
make_tree "$C" clone
mkdir -p "$C/.git/refs/heads" "$C/.git/lfs/objects"
echo "ref: refs/heads/main" >"$C/.git/HEAD"
echo "$COMMIT" >"$C/.git/refs/heads/main"
# git's own files are not the repo's: a pointer and a dangling symlink there are ignored.
cp "$C/model.safetensors" "$C/.git/lfs/objects/stub"
ln -s /nonexistent "$C/.git/dangling"

expect_eq 1 "$(run verify "$C")" "verify finds the stubs of a clone without LFS (exit 1)"
expect_eq "$nlfs" "$(problems)" "... exactly one problem per LFS file (3)"
for f in $LFS_FILES; do
	check "... $f named with its oid and real size" grep -q \
		"^$f: Git-LFS pointer, not the content (oid sha256:$(manifest field $KEY $f lfs_oid), $(manifest field $KEY $f size) bytes)" "$T/out"
done
check "... and a summary that counts them" grep -qx "$nfiles files checked: 3 problems (3 lfs-pointer)" "$T/out"
check "... nothing in .git was looked at" sh -c '! grep -q "\.git" "$0"' "$T/out"

expect_eq 1 "$(run verify "$C" --repo $REPO)" "verify --repo: the stubs again (exit 1)"
expect_eq 3 "$(grep -c 'Git-LFS pointer.*`hubfs repair` can fetch it' "$T/out")" \
	"... each a pointer to the listing's own content"
check "... the summary names the repo and commit" \
	grep -q "^$nfiles files checked against $REPO@${COMMIT:0:12}: 3 problems" "$T/out"

"$H" verify "$C" --repo $REPO --require config.json --require no-such-file --json >"$T/json"
expect_eq 1 "$?" "verify --json exits 1 too"
expect_eq "False $COMMIT $REPO $nfiles 4 lfs-pointer,missing no-such-file" \
	"$("$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); p=d["problems"]; print(d["ok"], d["commit"], d["repo"], d["files_checked"], len(p), ",".join(sorted(set(x["kind"] for x in p))), [x["path"] for x in p if x["kind"] == "missing"][0])' "$T/json")" \
	"... one JSON object: ok, commit, repo, files checked, problems and their kinds"

# --- a full copy ---
G=$T/good
make_tree "$G" full
expect_eq 0 "$(run verify "$G")" "a full copy passes without --repo"
expect_eq 0 "$(run verify "$G" --repo $REPO)" "... with --repo"
check "... with a summary saying so" grep -qx "$nfiles files checked against $REPO@${COMMIT:0:12}: no problems" "$T/out"
expect_eq 0 "$(run verify "$G" --repo $REPO --deep)" "... and with --deep"
expect_eq 0 "$(run verify "$G" --repo $REPO --offline)" "... and offline, from the cached listing"

flip() { printf '\x5a' | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
flip "$G/config.json" 10
expect_eq 0 "$(run verify "$G" --repo $REPO)" "a flipped byte keeps the size: not seen without --deep"
expect_eq 1 "$(run verify "$G" --repo $REPO --deep)" "--deep catches a flipped byte in a regular file"
check "... as a hash problem of config.json" grep -q "^config.json: content differs from $REPO@${COMMIT:0:12} (git blob sha1 " "$T/out"
expect_eq 1 "$(problems)" "... and nothing else"
cp "$(manifest blob $KEY config.json)" "$G/config.json"
flip "$G/model.safetensors" 20000000
expect_eq 1 "$(run verify "$G" --repo $REPO --deep)" "--deep catches a flipped byte in an LFS file"
check "... as a sha256 mismatch of model.safetensors" \
	grep -q "^model.safetensors: content differs from .*(sha256 [0-9a-f]\{64\}, expected $(manifest field $KEY model.safetensors sha256))" "$T/out"
cp "$(manifest blob $KEY model.safetensors)" "$G/model.safetensors"
expect_eq 0 "$(run verify "$G" --repo $REPO --deep)" "... and the restored copy passes again"

expect_eq 1 "$(run verify "$G" --require config.json --require weights/missing.bin)" \
	"--require of a missing file fails"
check "... naming it" grep -qx "weights/missing.bin: required, but missing" "$T/out"
expect_eq 1 "$(run verify "$G" --require extra)" "--require of a folder fails"
expect_eq 0 "$(run verify "$G" --require config.json --require extra/weights.dat)" \
	"--require of present files passes"

# A pointer cut before its size line is no pointer by the spec, but a stub
# all the same, as the Python toolkit judges a small file that begins as
# one (it passed without --repo, as content).
head -n 2 "$C/pytorch_model.bin" >"$G/pytorch_model.bin"
expect_eq 1 "$(run verify "$G")" "a truncated pointer (no size line) is a stub: exit 1"
check "... reported as a malformed pointer" grep -q "^pytorch_model.bin: a Git-LFS pointer that is not one by the spec" "$T/out"
expect_eq 1 "$(run verify "$G" --repo $REPO)" "... with --repo too"
check "... reported as such" grep -q "^pytorch_model.bin: a Git-LFS pointer that is not one by the spec" "$T/out"
cp "$(manifest blob $KEY pytorch_model.bin)" "$G/pytorch_model.bin"

cp "$C/extra/weights.dat" "$G/extra/weights.dat"
expect_eq 1 "$(run verify "$G")" "one stub among good files is found"
expect_eq "1 extra/weights.dat" "$(problems) $(grep -o '^[^:]*: Git-LFS pointer' "$T/out" | cut -d: -f1)" \
	"... it alone"
cp "$(manifest blob $KEY extra/weights.dat)" "$G/extra/weights.dat"

# --- the wrong repo ---
expect_eq 1 "$(run verify "$G" --repo hubfs-test/sharded-model)" "verify against another repo fails"
for f in $(manifest files model/hubfs-test/sharded-model | grep -v -x -e config.json -e README.md -e .gitattributes); do
	check "... $f is missing" grep -q "^$f: missing" "$T/out"
done
check "... and the tiny model's own files are notes" grep -q "^note: pytorch_model.bin: not in hubfs-test/sharded-model@" "$T/out"
expect_eq 3 "$(HF_TOKEN=$ALICE_TOKEN run verify "$G" --repo hubfs-test/no-such-repo)" \
	"a repo that does not exist: exit 3"
check "... with one line on stderr" test "$(wc -l <"$T/err")" -eq 1
expect_eq 3 "$(run verify "$G" --repo hubfs-test/no-such-repo)" \
	"... anonymously, the Hub's 401 is not found too: exit 3"
check "... and the message says how to log in" grep -q "set HF_TOKEN or pass --token-file" "$T/err"
expect_eq 5 "$(HF_ENDPOINT=http://127.0.0.1:9 HUBFS_MAX_RETRIES=0 run verify "$G" --repo spaces/hubfs-test/demo-space)" \
	"a Hub that cannot be reached (and no cached listing): exit 5"

# --- links among folders, and names that are not UTF-8 (a helper's review) ---
L=$T/links
make_tree "$L" full
# A file of the repo replaced by a link to a folder above it: missing, not a note.
rm "$L/model.safetensors"
ln -s . "$L/model.safetensors"
expect_eq 1 "$(run verify "$L" --repo $REPO --deep)" "a link to a folder where a file of the repo goes: exit 1"
check "... the file is missing" grep -q "^model.safetensors: missing: a symlink to a folder is in its place" "$T/out"
# A chain of 20 folders, each with two links to the next: each folder walked once.
rm -rf "$L"
mkdir -p "$L"
for i in $(seq 0 19); do mkdir -p "$L/n$i"; ln -s "../n$((i + 1))" "$L/n$i/a"; ln -s "../n$((i + 1))" "$L/n$i/b"; done
mkdir -p "$L/n20"
echo x >"$L/n20/f"
start=$(now_cs)
expect_eq 0 "$(run verify "$L")" "a chain of folders linked twice over: verified"
check "... within seconds (2^20 walks before)" less_than_since "$start" 10
expect_eq 1 "$(grep -o '^[0-9]* files checked' "$T/out" | cut -d' ' -f1)" "... its one file checked once"
# Links to folders outside the directory (x -> /, up -> ..) are not walked:
# verify read the whole filesystem through them, and repair would have
# rewritten stubs found there.
O=$T/outside
make_tree "$O" full
ln -s / "$O/root-link"
ln -s .. "$O/up"
start=$(now_cs)
expect_eq 0 "$(run verify "$O" --repo $REPO)" "links to / and .. beside a full copy: verified"
check "... at once ($(secs_since "$start") s)" less_than_since "$start" 10
expect_eq "$nfiles" "$(grep -o '^[0-9]* files checked' "$T/out" | cut -d' ' -f1)" \
	"... only the copy's own $nfiles files checked"
check "... each link noted, not followed" sh -c \
	'grep -q "^note: root-link: a symlink to a folder outside .*; not followed" "$0" &&
	 grep -q "^note: up: a symlink to a folder outside .*; not followed" "$0"' "$T/out"
# But a folder of the repo moved to another disk, a link left in its place,
# is walked with --repo: its files are there, not missing.
mkdir -p "$T/elsewhere"
mv "$O/extra" "$T/elsewhere/extra"
ln -s "$T/elsewhere/extra" "$O/extra"
expect_eq 0 "$(run verify "$O" --repo $REPO --deep)" "a folder of the repo linked to another disk: verified with --repo"
expect_eq "$nfiles" "$(grep -o '^[0-9]* files checked' "$T/out" | cut -d' ' -f1)" "... its files checked there"
# A pointer stub with CRLF line ends (a clone checked out with autocrlf) is
# a stub all the same, as the Python toolkit judges one; it was "content".
P=$T/crlf
mkdir -p "$P"
printf 'version https://git-lfs.github.com/spec/v1\r\noid sha256:%s\r\nsize 12345\r\n' \
	"$(printf 'a%.0s' $(seq 64))" >"$P/weights.bin"
expect_eq 1 "$(run verify "$P")" "a pointer stub with CRLF line ends: exit 1"
check "... named as a malformed pointer" grep -q "^weights.bin: a Git-LFS pointer that is not one by the spec" "$T/out"
expect_eq 1 "$(run repair "$P" --repo $REPO)" "... and repair leaves it, saying why (exit 1)"
check "... why" grep -q "^weights.bin: not repaired: a Git-LFS pointer that is not one by the spec" "$T/out"
# --json of a name that is not UTF-8: still JSON, and the name comes back as bytes.
J=$T/notutf8
mkdir -p "$J"
name=$(printf 'bad\377name.bin')
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize 12345\n' \
	"$(printf 'x%.0s' $(seq 64) | tr x a)" >"$J/$name"
run verify "$J" --json >/dev/null
expect_eq "True b'bad\\xffname.bin'" \
	"$("$PYTHON" -c 'import json, os, sys; d = json.load(open(sys.argv[1])); print(d["ok"] is False, os.fsencode(d["problems"][0]["path"]))' "$T/out")" \
	"verify --json of a pointer stub named in no UTF-8: valid JSON, the name's bytes kept"

# --- bad command lines ---
expect_eq 2 "$(run verify "$T/no-such-dir")" "a DIR that does not exist: exit 2"
check "... with one line saying so" grep -qx "hubfs: '$T/no-such-dir': No such file or directory" "$T/err"
expect_eq 2 "$(run verify "$G/config.json")" "a DIR that is a file: exit 2"
expect_eq 2 "$(run verify "$G" --deep)" "--deep without --repo: exit 2"
expect_eq 2 "$(run verify)" "no DIR: exit 2"

# --- a huggingface_hub snapshot folder: symlinks into ../../blobs ---
S=$T/hf/models--hubfs-test--tiny-model
"$PYTHON" - "$TEST_LIB_DIR" "$FAKEHUB_DATA" $KEY "$S" <<'EOF'
import os, shutil, sys
sys.path.insert(0, sys.argv[1])
import manifest
data, key, out = sys.argv[2:5]
repo = manifest.load(data)["repos"][key]
sha = manifest.commit_of(repo, "main")
os.makedirs(os.path.join(out, "blobs"))
for path, f in repo["commits"][sha]["files"].items():
    etag = f["sha256"] if f["lfs"] else f["oid"]
    shutil.copyfile(os.path.join(data, "blobs", f["sha256"]), os.path.join(out, "blobs", etag))
    link = os.path.join(out, "snapshots", sha, path)
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(os.path.relpath(os.path.join(out, "blobs", etag), os.path.dirname(link)), link)
EOF
SNAP=$S/snapshots/$COMMIT
check "the snapshot folder is made of symlinks" test -L "$SNAP/extra/weights.dat"
expect_eq 0 "$(run verify "$SNAP" --repo $REPO --deep)" "a huggingface_hub snapshot folder passes --deep"
expect_eq "$nfiles" "$(grep -o '^[0-9]* files checked' "$T/out" | cut -d' ' -f1)" "... every file checked through its symlink"
rm "$S/blobs/$(manifest field $KEY model.safetensors sha256)"
expect_eq 1 "$(run verify "$SNAP")" "a broken symlink in it fails"
check "... named" grep -q "^model.safetensors: broken symlink to '../../blobs/" "$T/out"
check "... counted as broken-symlink" grep -q "(1 broken-symlink)" "$T/out"

# --- what hubfs download --local-dir writes ---
L=$T/local
check "download --local-dir" "$H" download --quiet --local-dir "$L" $REPO
expect_eq 0 "$(run verify "$L" --repo $REPO --deep)" "... verifies with --deep"

# --- the mount itself ---
if [ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] && command -v fusermount3 >/dev/null; then
	mount_hubfs --cache-dir "$CACHE_DIR"
	expect_eq 0 "$(run verify "$MNT/$REPO" --repo $REPO --deep)" "the mount verifies with --deep"
	expect_eq "$nfiles" "$(grep -o '^[0-9]* files checked' "$T/out" | cut -d' ' -f1)" "... every file of it"
	check "unmount" unmount_hubfs
	check "... no sanitizer report" scan_logs "$HUBFS_LOG"
else
	say "skipping the mount: FUSE is not usable here"
fi
test_done
