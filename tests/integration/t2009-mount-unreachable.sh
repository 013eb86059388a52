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
test_done
