#!/usr/bin/env bash
# Every long mount option has an -o form that reaches hubfs (the log line
# of its timeouts, `hubfs status`), mount(8)'s own options are dropped,
# -o rw is warned about and the mount stays ro, bad -o values fail with
# exit status 2, and an option nobody knows with 1. The foreground daemon
# unmounts and exits 0 on SIGTERM (what systemd's stop sends). Run by the
# name mount.hubfs, hubfs is mount(8)'s helper.
. "$HUBFS_TEST_LIB"
require_fuse
start_fakehub
unset HF_ENDPOINT # the -o forms say it
field() { "$PYTHON" -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(json.dumps(v))' "$1"; }
mounted_opts() { awk -v m="$MNT" '$2 == m { print $4 }' /proc/mounts; }

# --- every -o form at once, with mount(8)'s options and a FUSE one ---
mount_hubfs -o "endpoint=$HUB_URL,cache_dir=$T/c2,max_cache_size=512M,min_free=0.1" \
	-o revision_ttl=7,connect_timeout=3,stall_timeout=4,min_speed=2K,op_timeout=50 \
	-o retries=3,log_level=debug,strict,_netdev,nofail,noauto,x-systemd.automount,defaults,noatime,ro
check "the timeouts' -o forms reached the Hub client" grep -qF \
	"Hub endpoint $HUB_URL (from --endpoint); connect within 3.0 s, at least 2048 bytes/s over 4.0 s, 50.0 s per operation, 3 retries" \
	"$HUBFS_LOG"
"$HUBFS_BIN" status "$MNT" --json >"$T/s.json"
expect_eq "\"$T/c2\"" "$(field cache.dir <"$T/s.json")" "cache_dir= is the cache"
expect_eq $((512 << 20)) "$(field cache.max_bytes <"$T/s.json")" "max_cache_size= is its cap"
expect_eq 0.1 "$(field cache.min_free_ratio <"$T/s.json")" "min_free= its free share"
expect_eq true "$(field strict <"$T/s.json")" "strict is on"
check "noatime went to FUSE" grep -qw noatime <<<"$(mounted_opts)"
check "the mount is ro" grep -qE '^ro(,|$)' <<<"$(mounted_opts)"
ls "$MNT/hubfs-test/tiny-model" >/dev/null
check "log_level=debug: the daemon logs debug lines" grep -q "debug:" "$HUBFS_LOG"
# revision_ttl=7: a branch moved on the Hub shows after 7 s, not 60.
old=$(getfattr -n user.hubfs.commit --only-values "$MNT/hubfs-test/tiny-model")
spare=$("$PYTHON" -c '
import json, sys
print(json.load(open(sys.argv[1] + "/manifest.json"))["repos"]["model/hubfs-test/tiny-model"]["spare"]["main"])' "$FAKEHUB_DATA")
fakehub_ctl POST refs "{\"repo\": \"model/hubfs-test/tiny-model\", \"branch\": \"main\", \"commit\": \"$spare\"}" >/dev/null
sleep 8
expect_eq "$spare" "$(getfattr -n user.hubfs.commit --only-values "$MNT/hubfs-test/tiny-model")" \
	"revision_ttl=7: main is resolved again after 7 s (was ${old:0:8})"

# --- SIGTERM: unmount and exit 0, within bounds ---
stop_daemon TERM 20 "the daemon ends within 20 s of SIGTERM" "... with exit status 0"
check "... and the mount is gone" bash -c "! grep -q ' $MNT fuse' /proc/mounts"

# --- repo=, type=, token_file=, offline; several -o; rw ---
printf '%s\n' "$ALICE_TOKEN" >"$T/token"
mount_hubfs -o "endpoint=$HUB_URL,repo=hubfs-test/odd-names,type=dataset" -o "token_file=$T/token,rw"
check "repo= and type= mount one dataset at the root" test -f "$MNT/README.md"
check "rw is warned about" grep -q "rw ignored: hubfs is read-only" "$HUBFS_LOG"
check "... and the mount is ro all the same" grep -qE '^ro(,|$)' <<<"$(mounted_opts)"
check "token_file= sends the token to the Hub" test "$(hub_count host=hub auth=true)" -ge 1
check "hubfs umount unmounts" "$HUBFS_BIN" umount "$MNT"
wait "$HUBFS_PID"
expect_eq 0 "$?" "... and the daemon exits 0"
HUBFS_PID=
mount_hubfs -o "endpoint=http://user:s3cret@127.0.0.1:1,offline"
expect_eq true "$("$HUBFS_BIN" status "$MNT" --json | field offline)" "offline is offline"
expect_eq '"http://***@127.0.0.1:1"' "$("$HUBFS_BIN" status "$MNT" --json | field endpoint)" \
	"status never shows a password of the endpoint's URL"
check "fusermount3 -u unmounts" unmount_hubfs

# --- bad -o values: exit status 2, nothing mounted ---
for bad in strict=1 cache_dir retries=many min_free=2 type=kernel log_level=loud max_cache_size=lots; do
	rc=0
	timeout 20 "$HUBFS_BIN" mount -f "$MNT" -o "endpoint=$HUB_URL,$bad" 2>"$T/bad.err" || rc=$?
	expect_eq 2 "$rc" "-o $bad is refused with exit status 2 ($(head -c 80 "$T/bad.err"))"
done
rc=0
timeout 20 "$HUBFS_BIN" mount -f "$MNT" -o "endpoint=$HUB_URL,no_such_option" 2>"$T/bad.err" || rc=$?
expect_eq 1 "$rc" "an option neither hubfs nor FUSE knows fails with 1"
check "... saying which" grep -q "no_such_option" "$T/bad.err"
check "nothing was mounted" bash -c "! grep -q ' $MNT fuse' /proc/mounts"

# --- as mount(8)'s helper: SOURCE DIR [-sfnv] -o OPTIONS, in the background ---
ln -s "$HUBFS_BIN" "$T/mount.hubfs"
check "mount.hubfs -f (fake) mounts nothing" "$T/mount.hubfs" hubfs "$MNT" -f -o "endpoint=$HUB_URL"
check "... and exits 0 with nothing mounted" bash -c "! grep -q ' $MNT fuse' /proc/mounts"
# -f checks what the mount would: an fstab line that cannot mount fails it
# (it passed whatever it held before; a helper's review).
for bad in "endpoint=ftp://x" "endpoint=$HUB_URL,token_file=/nonexistent" \
	"endpoint=$HUB_URL,cache_dir=/proc/nope"; do
	rc=0
	"$T/mount.hubfs" hubfs "$MNT" -f -o "$bad" 2>"$T/fake.err" || rc=$?
	check "mount.hubfs -f -o $bad fails (exit $rc)" test "$rc" -ne 0
done
rc=0
"$T/mount.hubfs" hubfs "$T/no-such-dir" -f -o "endpoint=$HUB_URL" 2>"$T/fake.err" || rc=$?
check "mount.hubfs -f on a mount point that is not there fails (exit $rc)" test "$rc" -ne 0
rc=0
"$T/mount.hubfs" org/name "$MNT" -o "endpoint=$HUB_URL" 2>"$T/src.err" || rc=$?
expect_eq 2 "$rc" "a source other than 'hubfs' is refused"
check "... pointing to repo=" grep -q "repo=ORG/NAME" "$T/src.err"
check "mount.hubfs hubfs MNT -n -v -o ... mounts in the background" \
	"$T/mount.hubfs" hubfs "$MNT" -n -v -o "endpoint=$HUB_URL,cache_dir=$CACHE_DIR"
check "... it serves at once" test -d "$MNT/hubfs-test/tiny-model"
pid=$("$HUBFS_BIN" status "$MNT" --json | field pid)
check "hubfs umount unmounts it" "$HUBFS_BIN" umount "$MNT"
check "... and its daemon exits" wait_for 10 bash -c "! kill -0 $pid 2>/dev/null"

# --- without the helper links, mount.fuse3 runs "hubfs hubfs MNT -o ..." from PATH ---
if command -v mount.fuse3 >/dev/null || [ -x /sbin/mount.fuse3 ]; then
	mkdir -p "$T/bin"
	ln -s "$HUBFS_BIN" "$T/bin/hubfs"
	check "mount.fuse3 hubfs MNT -t fuse.hubfs -o ... mounts through hubfs" \
		env PATH="$T/bin:$PATH:/sbin" mount.fuse3 hubfs "$MNT" -t fuse.hubfs \
		-o "ro,_netdev,nofail,endpoint=$HUB_URL,cache_dir=$CACHE_DIR"
	check "... it serves" test -d "$MNT/hubfs-test/tiny-model"
	pid=$("$HUBFS_BIN" status "$MNT" --json | field pid)
	check "... fusermount3 -u unmounts it" fusermount3 -u "$MNT"
	check "... and its daemon exits" wait_for 10 bash -c "! kill -0 $pid 2>/dev/null"
else
	say "no mount.fuse3: its way in is not tested"
fi
check "no sanitizer report in the daemon's log" scan_logs "$HUBFS_LOG"
test_done
