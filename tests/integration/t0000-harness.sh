#!/usr/bin/env bash
# The harness itself: the fake Hub answers and logs, the real binary mounts
# read-only, and unmounts cleanly with exit status 0.
. "$HUBFS_TEST_LIB"
require_fuse

start_fakehub
info=$(curl -sS --max-time 10 "$HUB_URL/api/models/hubfs-test/tiny-model")
check "the fake Hub answers repo info" \
	test "$(printf '%s' "$info" | $PYTHON -c 'import json,sys; print(json.load(sys.stdin)["id"])')" = hubfs-test/tiny-model
expect_eq 1 "$(hub_count host=hub method=GET 'path=/api/models/hubfs-test/tiny-model' status=200)" \
	"the request log recorded that request"

check "hubfs --version names the version" \
	sh -c '"$0" --version | grep -Eq "^hubfs [0-9]+\.[0-9]+\.[0-9]+$"' "$HUBFS_BIN"
check "hubfs --help lists mount" sh -c '"$0" --help | grep -q "mount MOUNTPOINT"' "$HUBFS_BIN"
"$HUBFS_BIN" no-such-command 2>/dev/null
expect_eq 2 "$?" "an unknown command exits 2"

mount_hubfs
check "the mount is listed as fuse.hubfs" grep -q " $MNT fuse.hubfs ro," /proc/mounts
expect_eq "directory 555" "$(stat -c '%F %a' "$MNT")" "the root is a read-only directory"
err=$(touch "$MNT/x" 2>&1)
check "writes fail with EROFS" sh -c 'printf "%s" "$0" | grep -q "Read-only file system"' "$err"

check "hubfs umount unmounts" "$HUBFS_BIN" umount "$MNT"
rc=0
wait "$HUBFS_PID" || rc=$?
HUBFS_PID=
expect_eq 0 "$rc" "the daemon exits 0 after unmount"
check "the mount is gone" sh -c '! grep -q " $0 fuse" /proc/mounts' "$MNT"
check "no sanitizer report in the daemon's log" scan_logs "$HUBFS_LOG"
test_done
