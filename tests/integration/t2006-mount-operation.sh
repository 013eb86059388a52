#!/usr/bin/env bash
# Operating the mount: SIGTERM and SIGINT unmount cleanly; a crash leaves
# a stale mount that gets a clear message and `hubfs umount` recovers;
# --repo mounts one repo at the root; without -f it daemonizes; --strict
# fetches and verifies a whole file before its first byte.
. "$HUBFS_TEST_LIB"
require_fuse
start_fakehub

# Background jobs of a script start with SIGINT ignored (and libfuse keeps
# an ignored signal ignored): give the daemon a default SIGINT, as a
# terminal would.
default_sigint() {
	exec "$PYTHON" -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$@"
}
for sig in TERM INT; do
	default_sigint "$HUBFS_BIN" mount -f "$MNT" >>"$HUBFS_LOG" 2>&1 &
	HUBFS_PID=$!
	wait_for 20 is_mounted || die "hubfs did not mount"
	ls "$MNT/hubfs-test/tiny-model" >/dev/null
	kill -$sig "$HUBFS_PID"
	rc=0
	wait "$HUBFS_PID" || rc=$?
	HUBFS_PID=
	expect_eq 0 "$rc" "SIG$sig: the daemon exits 0"
	check "SIG$sig: the mount is gone" sh -c '! grep -q " $0 fuse" /proc/mounts' "$MNT"
done

# --- SIGTERM while a directory and a file are open: nothing leaks ---
mount_hubfs
"$PYTHON" -c 'import os, sys, time
d = os.open(sys.argv[1], os.O_RDONLY); os.listdir(d)
f = open(sys.argv[1] + "/config.json", "rb"); f.read(10)
open(sys.argv[2], "w").close(); time.sleep(30)' "$MNT/hubfs-test/tiny-model" "$T/holding" &
holder=$!
wait_for 10 test -e "$T/holding"
kill -TERM "$HUBFS_PID"
rc=0
wait "$HUBFS_PID" || rc=$?
HUBFS_PID=
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
expect_eq 0 "$rc" "SIGTERM with open files: the daemon exits 0"
check "... and frees what the kernel never released (no leak report)" scan_logs "$HUBFS_LOG"
umount -l "$MNT" 2>/dev/null

# --- SIGTERM while a reader and a lookup wait on a stalled Hub: the
# daemon does not wait out the stall, and both end with ECONNABORTED, as
# a request the daemon left does: the mount went, not the data (EIO
# says that) ---
mount_hubfs --op-timeout 60
STALLED=$MNT/datasets/hubfs-test/big-dataset/data/test/part-00/shard-0000.csv
ls "$(dirname "$STALLED")" >/dev/null || die "cannot list $(dirname "$STALLED")"
# A file of the commit read first: the open of the next one fetches nothing
# (check_gated_access()), so that what waits on the Hub is its read.
cat "$MNT/datasets/hubfs-test/big-dataset/README.md" >/dev/null || die "cannot read README.md"
fault '{"kind": "stall", "host": "cdn", "glob": "/repos/*", "after_bytes": 0, "seconds": 60, "count": -1}'
fault '{"kind": "stall", "host": "hub", "glob": "/api/resolve-cache/*", "after_bytes": 0, "seconds": 60, "count": -1}'
fault '{"kind": "stall", "host": "hub", "glob": "/api/models/*", "after_bytes": 0, "seconds": 60, "count": -1}'
# Prints how OP on PATH ended: "ok", or the errno's name. The read is
# direct: a buffered one that fails is asked again by the kernel, page by
# page, and that request nobody reads after the end (the kernel's own
# ECONNABORTED at the unmount, whatever hubfs answered).
errno_of() {
	"$PYTHON" -c 'import errno, mmap, os, sys
try:
    if sys.argv[1] == "read":
        fd = os.open(sys.argv[2], os.O_RDONLY | os.O_DIRECT)
        os.preadv(fd, [mmap.mmap(-1, 4096)], 0)
    else:
        os.stat(sys.argv[2])
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))' "$@"
}
errno_of read "$STALLED" >"$T/term-read.out" 2>&1 &
reader=$!
errno_of stat "$MNT/hubfs-test/sharded-model" >"$T/term-stat.out" 2>&1 &
looker=$!
wait_for 10 eval 'test "$(hub_count fault=stall)" -ge 2' || die "the read and the lookup did not reach the Hub"
sleep 0.5
t0=$(now_cs)
kill -TERM "$HUBFS_PID"
rc=0
wait "$HUBFS_PID" || rc=$?
HUBFS_PID=
SECS=$(secs_since "$t0")
expect_eq 0 "$rc" "SIGTERM with a read waiting on a stalled Hub: the daemon exits 0"
check "... in $SECS s, within 5 s of a 60 s stall" within 5
wait "$reader" "$looker"
expect_eq ECONNABORTED "$(cat "$T/term-read.out")" "... the direct read ends with ECONNABORTED"
expect_eq ECONNABORTED "$(cat "$T/term-stat.out")" "... so does the lookup of a repo not loaded"
check "... the mount is gone" sh -c '! grep -q " $0 fuse" /proc/mounts' "$MNT"
fakehub_ctl DELETE faults >/dev/null

# --- a crash leaves a stale mount ---
mount_hubfs
kill -9 "$HUBFS_PID"
wait "$HUBFS_PID" 2>/dev/null
HUBFS_PID=
check "after kill -9 the mount is stale" sh -c '! ls "$0" 2>/dev/null' "$MNT"
"$HUBFS_BIN" mount -f "$MNT" 2>"$T/stale.err"
expect_eq 1 "$?" "mounting over a stale mount fails"
check "... saying so, and how to recover" grep -q "stale mount .* run 'hubfs umount" "$T/stale.err"
expect_code 2 "unknown option" "hubfs umount --version is an unknown option, not a folder" \
	"$HUBFS_BIN" umount --version
check "hubfs umount recovers it" "$HUBFS_BIN" umount "$MNT"
check "... and a new mount works" sh -c '"$0" mount -f "$1" & sleep 1; ls "$1/hubfs-test/tiny-model" | grep -q config.json' \
	"$HUBFS_BIN" "$MNT"
fusermount3 -u "$MNT"
sleep 0.5

# --- one repo at the root ---
mount_hubfs --repo datasets/hubfs-test/big-dataset@v1.0
check "--repo: the root is the dataset" test -f "$MNT/README.md"
expect_eq "$(manifest files dataset/hubfs-test/big-dataset v1.0 | wc -l)" "$(find "$MNT" -type f | wc -l)" \
	"--repo: every file of the revision is there"
unmount_hubfs
for spec in hubfs-test/no-such-repo hubfs-test/tiny-model@no-such-branch; do
	"$HUBFS_BIN" mount "$MNT" --repo "$spec" 2>"$T/repo.err"
	expect_eq 1 "$?" "--repo $spec: mount fails (exit 1)"
	check "... saying why on the terminal" grep -q "not found" "$T/repo.err"
	check "... and nothing is mounted" sh -c '! mountpoint -q "$0"' "$MNT"
done

# --- daemon mode ---
"$HUBFS_BIN" mount "$MNT" --log-level debug
expect_eq 0 "$?" "without -f, mount returns 0 once mounted"
check "... the mount serves" test -f "$MNT/hubfs-test/tiny-model/config.json"
pid=$(pgrep -f "hubfs mount $MNT" | head -1)
check "... the daemon is in the background" test -n "$pid"
check "hubfs umount unmounts it" "$HUBFS_BIN" umount "$MNT"
wait_for 10 sh -c '! kill -0 "$0" 2>/dev/null' "$pid"
check "... and the daemon ends" sh -c '! kill -0 "$0" 2>/dev/null' "$pid"

# --- strict: the whole file before the first byte ---
mount_hubfs --strict
fakehub_ctl DELETE log >/dev/null
head -c 10 "$MNT/hubfs-test/tiny-model/extra/weights.dat" >/dev/null
n=$(( ($(manifest field model/hubfs-test/tiny-model extra/weights.dat size) + 4194303) / 4194304 ))
expect_eq "$n" "$(hub_count host=cdn method=GET)" "--strict: reading 10 bytes fetched all $n blocks"
expect_eq 1 "$(getfattr --only-values -n user.hubfs.verified "$MNT/hubfs-test/tiny-model/extra/weights.dat")" \
	"... and the file is verified"
finish_mount
