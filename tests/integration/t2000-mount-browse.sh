#!/usr/bin/env bash
# Browse the mount as a person would: ls, find, stat, du, cp -r,
# sha256sum, getfattr. Every byte equals the generator's manifest; sizes
# are the real ones (an LFS file's, never its pointer's); writes fail with
# EROFS.
. "$HUBFS_TEST_LIB"
start_mount_with --cache-dir "$CACHE_DIR"
M=$MNT/hubfs-test/tiny-model
KEY=model/hubfs-test/tiny-model

# --- the namespace ---
check "the root lists datasets and spaces" sh -c 'ls "$0" | grep -qx datasets && ls "$0" | grep -qx spaces' "$MNT"
expect_eq "$(manifest entries $KEY | awk -F'\t' '$1 !~ /\// {print $1}' | sort | tr '\n' ' ')" \
	"$(ls -A "$M" | sort | tr '\n' ' ')" "ls of a model repo shows its top level"
check "the org now lists the repo" sh -c 'ls "$0/hubfs-test" | grep -qx tiny-model' "$MNT"
# An empty file: no read reaches the cache, so its open checks the hash (of
# nothing); user.hubfs.verified said 0 for ever before.
verified_of() { getfattr --only-values -n user.hubfs.verified "$1" 2>/dev/null; }
expect_eq 0 "$(verified_of "$M/empty.txt")" "an empty file not opened yet: not verified"
check "... reads empty" test "$(wc -c <"$M/empty.txt")" -eq 0
expect_eq 1 "$(verified_of "$M/empty.txt")" "... and once opened it is"
D=$MNT/datasets/hubfs-test/big-dataset
manifest entries dataset/hubfs-test/big-dataset | cut -f1 | sort >"$T/want"
(cd "$D" && find . -mindepth 1 | sed 's|^\./||' | sort) >"$T/got"
check "find over the 3,000-file dataset lists every file and folder" cmp -s "$T/want" "$T/got"
expect_eq "$(( ($(wc -l <"$T/want") + 999) / 1000 ))" \
	"$(hub_count 'path~/api/datasets/hubfs-test/big-dataset/tree/*')" \
	"... in as many listing requests as pages"
check "spaces work" test -f "$MNT/spaces/hubfs-test/demo-space/app.py"
check "odd names work" test -f "$MNT/datasets/hubfs-test/odd-names/données/été.csv"

# --- attributes ---
size=$(manifest field $KEY model.safetensors size)
expect_eq "$size 444 regular file" "$(stat -c '%s %a %F' "$M/model.safetensors")" \
	"an LFS file has its real size and mode 0444"
expect_eq "555 directory" "$(stat -c '%a %F' "$M/extra")" "folders are 0555"
date=$("$PYTHON" -c 'import json,sys; m=json.load(open(sys.argv[1]+"/manifest.json")); r=m["repos"][sys.argv[2]]; print(r["commits"][r["refs"]["branches"]["main"]]["date"])' "$FAKEHUB_DATA" $KEY)
expect_eq "$(date -u -d "$date" +%s)" "$(stat -c %Y "$M/config.json")" "mtime is the commit's date"
# st_blocks is the Hub's size, cached or not: tools that take fewer blocks
# than bytes for holes (tar -S, cp --sparse) must never skip content.
expect_eq "$(( (size + 511) / 512 ))" "$(stat -c %b "$M/model.safetensors")" \
	"st_blocks covers the whole file before any read"
expect_eq 0 "$(getfattr --only-values -n user.hubfs.cached "$M/model.safetensors")" \
	"user.hubfs.cached says what is cached: nothing yet"

# --- content: every file of the model, byte for byte ---
for f in $(manifest files $KEY); do
	got=$(sha256sum <"$M/$f" | cut -d' ' -f1)
	[ "$got" = "$(manifest field $KEY "$f" sha256)" ] || not_ok "content of $f"
done
ok "every file of the model has the published sha256"
check "du counts what is cached now" test "$(du -sk "$M" | cut -f1)" -ge $((size / 1024))
expect_eq "$(du -sk --apparent-size "$M" | cut -f1)" \
	"$(( ($(manifest total $KEY | cut -d' ' -f3) + 1023) / 1024 ))" "du --apparent-size is the Hub's total"
check "cp -r copies the repo" cp -r "$M" "$T/copy"
check "... and the copy verifies" sh -c 'cd "$0" && sha256sum -b model.safetensors | grep -q "$1"' "$T/copy" \
	"$(manifest field $KEY model.safetensors sha256)"
for i in $(seq 1 40); do
	f=$(sed -n "$((i * 70))p" "$T/want")
	[ -f "$D/$f" ] || continue
	[ "$(sha256sum <"$D/$f" | cut -d' ' -f1)" = "$(manifest field dataset/hubfs-test/big-dataset "$f" sha256)" ] ||
		not_ok "content of dataset file $f"
done
ok "dataset files have the published sha256"

# --- extended attributes ---
getfattr -d "$M/model.safetensors" >"$T/xattr" 2>/dev/null
for a in sha256 oid commit lfs cached verified url; do
	grep -q "^user.hubfs.$a=" "$T/xattr" || not_ok "getfattr -d lists user.hubfs.$a"
done
ok "getfattr -d lists the hubfs attributes"
xattr() { getfattr --only-values -n "user.hubfs.$1" "$2" 2>/dev/null; }
expect_eq "$(manifest field $KEY model.safetensors sha256)" "$(xattr sha256 "$M/model.safetensors")" "user.hubfs.sha256"
expect_eq "$(manifest field $KEY config.json oid)" "$(xattr oid "$M/config.json")" "user.hubfs.oid of a git file"
expect_eq "$(manifest commit $KEY)" "$(xattr commit "$M/config.json")" "user.hubfs.commit"
expect_eq "1 0" "$(xattr lfs "$M/model.safetensors") $(xattr lfs "$M/config.json")" "user.hubfs.lfs"
expect_eq "$size 1" "$(xattr cached "$M/model.safetensors") $(xattr verified "$M/model.safetensors")" \
	"user.hubfs.cached and .verified after a full read"
expect_eq "$HUB_URL/hubfs-test/tiny-model/resolve/$(manifest commit $KEY)/extra/weights.dat" \
	"$(xattr url "$M/extra/weights.dat")" "user.hubfs.url"
check "a git file has no sha256 attribute" sh -c '! getfattr -n user.hubfs.sha256 "$0" 2>/dev/null' "$M/config.json"

# --- read-only ---
for op in "touch $M/new" "mkdir $M/d" "rm $M/config.json" "mv $M/config.json $M/c2" \
	"setfattr -n user.x -v 1 $M/config.json" "truncate -s 0 $M/config.json"; do
	err=$($op 2>&1) && not_ok "'$op' succeeded"
	case $err in *"Read-only file system"*) ;; *) not_ok "'$op': $err" ;; esac
done
ok "every write fails with EROFS"
# Remounted read-write by root, the file system is read-only all the same:
# each write was ENOSYS, EPERM or ENOTSUP, and open(O_RDONLY|O_TRUNC)
# succeeded, leaving the kernel with a file of size 0.
errnos_rw() {
	"$PYTHON" - "$M" <<'PY'
import errno, os, sys
m = sys.argv[1]
def e(f):
    try:
        f(); return "OK"
    except OSError as x:
        return errno.errorcode[x.errno]
ops = [lambda: os.close(os.open(m + "/new", os.O_CREAT | os.O_WRONLY, 0o644)),
       lambda: os.mkdir(m + "/d"), lambda: os.unlink(m + "/config.json"),
       lambda: os.rmdir(m + "/extra"), lambda: os.rename(m + "/config.json", m + "/c2"),
       lambda: os.link(m + "/config.json", m + "/c3"), lambda: os.symlink("x", m + "/c4"),
       lambda: os.mkfifo(m + "/f"), lambda: os.chmod(m + "/config.json", 0o600),
       lambda: os.utime(m + "/config.json", (1, 1)), lambda: os.truncate(m + "/config.json", 0),
       lambda: os.setxattr(m + "/config.json", "user.x", b"1"),
       lambda: os.removexattr(m + "/config.json", "user.hubfs.oid"),
       lambda: os.close(os.open(m + "/config.json", os.O_RDONLY | os.O_TRUNC))]
print(" ".join(e(f) for f in ops), os.stat(m + "/config.json").st_size)
PY
}
if mount -i -o remount,rw "$MNT" 2>"$T/remount.err"; then
	expect_eq "$(printf 'EROFS %.0s' $(seq 14))$(manifest field $KEY config.json size)" "$(errnos_rw)" \
		"remounted rw: every write, and an open with O_TRUNC, is EROFS; the file keeps its size"
	mount -i -o remount,ro "$MNT" || not_ok "remount ro again"
else
	say "remount,rw refused ($(cat "$T/remount.err")): not checked"
fi
# A name longer than statfs's 255 is ENAMETOOLONG, not ENOENT.
long=$(printf 'x%.0s' $(seq 256))
for d in "$MNT" "$MNT/hubfs-test" "$M"; do
	expect_eq ENAMETOOLONG "$("$PYTHON" -c 'import errno,os,sys
try: os.stat(sys.argv[1]); print("OK")
except OSError as e: print(errno.errorcode[e.errno])' "$d/$long")" "a 256-byte name in ${d#$MNT}/: ENAMETOOLONG"
done
# The cache directory moved away under the mount: statfs has a block size still.
mv "$CACHE_DIR" "$CACHE_DIR.moved"
expect_eq 4096 "$(stat -f -c %s "$MNT")" "statfs with the cache gone: a block size of 4096, not 0"
mv "$CACHE_DIR.moved" "$CACHE_DIR"
check "no token ever reached the CDN" test "$(hub_count host=cdn auth=true)" = 0
finish_mount
