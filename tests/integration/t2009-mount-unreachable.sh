#!/usr/bin/env bash
# A Hub that cannot be reached (refused, unknown host) fails the first access
# within 2 s; what the cache holds is still served; the log names the endpoint.
. "$HUBFS_TEST_LIB"
require_fuse
start_fakehub
# The default backoff (the harness shortens it): retries would cost seconds.
export HUBFS_RETRY_BASE_MS=500
KEY=model/hubfs-test/tiny-model

# Visit one repo and read one file while the Hub is there.
mount_hubfs
cat "$MNT/hubfs-test/tiny-model/config.json" >/dev/null || die "cannot read config.json"
unmount_hubfs || die "unmount failed"

for endpoint in http://127.0.0.1:9 http://hub.invalid; do
	mount_hubfs --endpoint "$endpoint"
	check "the log names the endpoint ($endpoint)" \
		grep -q "Hub endpoint $endpoint (from --endpoint)" "$HUBFS_LOG"
	timed ls "$MNT/hubfs-test/sharded-model"
	check "first access to a new repo fails ($endpoint)" test "$RC" -ne 0
	check "... within 2 s" within 2
	check "... with EIO" grep -q "Input/output error" "$T/err"
	timed cat "$MNT/hubfs-test/tiny-model/config.json"
	expect_eq 0 "$RC" "a cached file of a visited repo is still served ($endpoint)"
	check "... within 2 s" within 2
	expect_eq "$(manifest field $KEY config.json sha256)" \
		"$(sha256sum <"$T/out" | cut -d' ' -f1)" "... with the right bytes"
	unmount_hubfs
	expect_eq 0 "$?" "the daemon exits cleanly"
done
check "no request reached the fake Hub while it was unreachable" \
	test "$(hub_count 'path~*sharded-model*')" = 0

# --- a Hub that stalls once the revision TTL has passed: a repo and an org
# already listed are served from what the mount has after a short wait
# (REFRESH_WAIT_MS, 2 s), and at once while that refresh still runs; not
# after --op-timeout, and not once per lookup ---
export HUBFS_RETRY_BASE_MS=50
# --op-timeout well past the steps below: "at once while that refresh still
# runs" needs the refresh to still run. With 8 s, under a loaded ctest -j2
# the repo's refresh ended (timed out) before the second ls, which then
# began another and waited the short wait again (2.03 s: a flake).
mount_hubfs --revision-ttl 2 --op-timeout 30
R=$MNT/hubfs-test/tiny-model
ls -l "$R" >/dev/null && cat "$R/config.json" >/dev/null && ls "$MNT/hubfs-test" >/dev/null ||
	die "cannot list while the Hub is there"
fault '{"kind": "stall", "host": "hub", "glob": "/api/*", "after_bytes": 0, "seconds": 60, "count": -1}'
sleep 2.5  # past the TTL (2 s: times are kept in whole seconds, 1 s would be a coin toss)
timed stat "$R/config.json"
expect_eq 0 "$RC" "past the TTL with the Hub stalled: a file of a listed repo is there"
check "... after the short refresh wait, not --op-timeout ($SECS s)" within 3
timed stat "$R/tokenizer.json"
check "... and the next lookup, while that refresh runs, at once ($SECS s)" within 0.5
timed cat "$R/config.json"
expect_eq "$(manifest field $KEY config.json sha256)" "$(sha256sum <"$T/out" | cut -d' ' -f1)" \
	"... with the right bytes of the commit at hand"
timed ls "$MNT/hubfs-test"
expect_eq 0 "$RC" "an org listed before: ls works"
check "... within the short wait ($SECS s)" within 3
check "... and lists the repos it had" grep -qx tiny-model "$T/out"
timed ls "$MNT/hubfs-test"
check "... and the next ls is at once ($SECS s)" within 0.5
unmount_hubfs

# --- a new mount (or a repo's node the kernel forgot: drop_caches, memory
# pressure) with the Hub stalled: what the cache remembers of a visited
# repo is at hand after the short wait, not after --op-timeout (8 s
# before; it made this test fail once beside another's drop_caches) ---
mount_hubfs --revision-ttl 2 --op-timeout 8
timed stat "$R/config.json"
expect_eq 0 "$RC" "a new mount, the Hub stalled: a file of a repo the cache has is there"
check "... after the short wait, not --op-timeout ($SECS s)" within 3
timed cat "$R/config.json"
expect_eq "$(manifest field $KEY config.json sha256)" "$(sha256sum <"$T/out" | cut -d' ' -f1)" \
	"... with the right bytes of the commit the cache remembers"
timed ls "$MNT/hubfs-test"
expect_eq 0 "$RC" "... and ls of its org works"
check "... after the short wait too ($SECS s)" within 3
check "... listing what the cache knows of it" grep -qx tiny-model "$T/out"
fakehub_ctl DELETE faults >/dev/null
unmount_hubfs

# --- listxattr of a repo folder from its org's list, the Hub stalled: an
# error, not an empty list given as a success (rsync -X and cp
# --preserve=xattr took it for "no attributes") ---
mount_hubfs --op-timeout 3
ls "$MNT/bulk-org" >/dev/null || not_ok "ls bulk-org"
fault '{"kind": "stall", "host": "hub", "glob": "/api/models/*", "after_bytes": 0, "seconds": 60, "count": -1}'
expect_eq EIO "$("$PYTHON" -c 'import errno, os, sys
try: print("OK", os.listxattr(sys.argv[1]))
except OSError as e: print(errno.errorcode[e.errno])' "$MNT/bulk-org/model-0001")" \
	"listxattr with the Hub stalled: EIO, not an empty list"
fakehub_ctl DELETE faults >/dev/null
expect_eq "['user.hubfs.commit', 'user.hubfs.url']" \
	"$("$PYTHON" -c 'import os, sys; print(os.listxattr(sys.argv[1]))' "$MNT/bulk-org/model-0001")" \
	"... and its attributes once the Hub answers"
unmount_hubfs
test_done
