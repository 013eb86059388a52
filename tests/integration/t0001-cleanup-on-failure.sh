#!/usr/bin/env bash
# A test that fails half-way still unmounts, stops its servers by PID and
# keeps its logs: run such a test and look at what it left behind.
. "$HUBFS_TEST_LIB"
require_fuse

inner="$T/inner-test.sh"
cat >"$inner" <<'INNER'
. "$HUBFS_TEST_LIB"
start_fakehub
mount_hubfs
printf '%s %s %s %s\n' "$MNT" "$FAKEHUB_PID" "$HUBFS_PID" "$T" >"$REPORT"
not_ok "a deliberate failure"
exit 1
INNER

REPORT="$T/report" HUBFS_TEST_TMP="$T/inner" bash "$inner" >"$T/inner.out" 2>&1
expect_eq 1 "$?" "the failing test exits 1"
read -r inner_mnt hub_pid daemon_pid inner_dir <"$T/report"

check "its mount is gone" sh -c '! grep -q " $0 fuse" /proc/mounts' "$inner_mnt"
check "its fake Hub is stopped" sh -c '! kill -0 "$0" 2>/dev/null' "$hub_pid"
check "its daemon is stopped" sh -c '! kill -0 "$0" 2>/dev/null' "$daemon_pid"
check "its work dir is kept" test -d "$inner_dir"
check "the daemon's log is kept" test -f "$inner_dir/hubfs.log"
check "the Hub's request log is kept" test -f "$inner_dir/hub-requests.jsonl"
check "the failure output names where the logs are" grep -q "logs kept in $inner_dir" "$T/inner.out"
test_done
