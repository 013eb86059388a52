# shellcheck shell=bash
# test-lib.sh: what every integration test sources.
#
# Gives a private work dir, the fake Hub on free ports, a real hubfs mount,
# request-log queries and assertions. An EXIT trap always unmounts, stops the
# daemon and the fake Hub by PID, and keeps every log when the test failed.
#
# Environment (set by ctest, see tests/CMakeLists.txt):
#   HUBFS_BIN FAKEHUB FAKEHUB_DATA PYTHON HUBFS_TEST_TMP

set -u
set -o pipefail

: "${PYTHON:=python3}"
: "${HUBFS_TEST_TMP:=${TMPDIR:-/tmp}}"
TEST_NAME=$(basename "$0" .sh)
TEST_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HUBLOG="$PYTHON $TEST_LIB_DIR/hublog.py"

mkdir -p "$HUBFS_TEST_TMP"
T=$(mktemp -d "$HUBFS_TEST_TMP/$TEST_NAME.XXXXXX")
MNT="$T/mnt"
CACHE_DIR="$T/cache"
mkdir -p "$MNT" "$CACHE_DIR"

FAKEHUB_PID=
HUBFS_PID=
HUB_URL=
CDN_URL=
HUB_LOG="$T/hub-requests.jsonl"
HUBFS_LOG="$T/hubfs.log"
_failures=0

say() { printf '# %s\n' "$*"; }

# Stop the test now: a harness failure, not a failed check.
die() {
	printf 'FATAL: %s\n' "$*" >&2
	exit 1
}

# Skip the whole test (ctest counts exit 77 as skipped).
skip_all() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}

ok() { printf 'ok - %s\n' "$*"; }

not_ok() {
	printf 'not ok - %s\n' "$*"
	_failures=$((_failures + 1))
}

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# expect_eq EXPECTED ACTUAL DESCRIPTION
expect_eq() {
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		not_ok "$3: expected '$1', got '$2'"
	fi
}

require_fuse() {
	[ -c /dev/fuse ] || skip_all "no /dev/fuse on this machine"
	command -v fusermount3 >/dev/null || skip_all "fusermount3 is not installed"
	[ -r /dev/fuse ] && [ -w /dev/fuse ] || skip_all "/dev/fuse is not usable by $(id -un)"
}

# expect_code WANT PATTERN DESCRIPTION COMMAND...: the command must exit
# WANT with one line on stderr that contains PATTERN (output in $T/out, $T/err).
expect_code() {
	local want=$1 pattern=$2 what=$3
	shift 3
	"$@" >"$T/out" 2>"$T/err"
	local rc=$?
	if [ "$rc" = "$want" ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q -- "$pattern" "$T/err"; then
		ok "$what"
	else
		not_ok "$what: exit $rc, stderr: $(cat "$T/err")"
	fi
}

# now_cs: centiseconds since boot (CLOCK_BOOTTIME, from /proc/uptime).
# Spans of time are measured with it, never with date(1) or $SECONDS: in
# one CI run the wall clock stepped about 20 s forward during t2011, and
# readers that ended in 1 s were measured at 27 s.
now_cs() {
	local up _
	read -r up _ </proc/uptime
	echo $((10#${up/./}))
}
# secs_since T: the seconds (two decimals) from T, a now_cs, until now.
secs_since() {
	local cs=$(($(now_cs) - $1))
	printf '%d.%02d\n' $((cs / 100)) $((cs % 100))
}
# less_than_since T SECONDS: fewer than SECONDS have passed since T (a now_cs).
less_than_since() { [ $(($(now_cs) - $1)) -lt $(($2 * 100)) ]; }

# timed COMMAND...: runs it with output in $T/out and $T/err; sets RC (its
# exit status) and SECS (its run time).
timed() {
	local t0
	t0=$(now_cs)
	"$@" >"$T/out" 2>"$T/err"
	RC=$?
	SECS=$(secs_since "$t0")
	say "$* -> exit $RC in $SECS s"
}
# within SECONDS: the last timed command took no longer.
within() { [ "$(echo "$SECS <= $1" | bc)" = 1 ]; }

# wait_for SECONDS COMMAND...: poll until the command succeeds. The command
# and its words are fixed when wait_for is called: a condition on a value
# read anew each time goes in quotes through eval, as in
#   wait_for 5 eval 'test "$(hub_count fault=stall)" -ge 16'
# ("wait_for 5 test "$(...)" ..." would test one value, read once, for 5 s;
# scripts/check-source.sh refuses it).
wait_for() {
	local since
	since=$(now_cs)
	local seconds=$1
	shift
	until "$@"; do
		less_than_since "$since" "$seconds" || return 1
		sleep 0.05
	done
}

# start_fakehub [fakehub.py options...]: HUB_URL, CDN_URL, FAKEHUB_PID.
start_fakehub() {
	[ -f "$FAKEHUB_DATA/manifest.json" ] ||
		die "no fake Hub data in '$FAKEHUB_DATA' (run tests/fakehub/genrepos.py)"
	"$PYTHON" "$FAKEHUB" --data "$FAKEHUB_DATA" --state-file "$T/fakehub.state" \
		--log "$HUB_LOG" "$@" >"$T/fakehub.stderr" 2>&1 &
	FAKEHUB_PID=$!
	wait_for 30 test -s "$T/fakehub.state" ||
		die "the fake Hub did not start (see $T/fakehub.stderr)"
	HUB_URL=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["hub"])' "$T/fakehub.state")
	CDN_URL=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["cdn"])' "$T/fakehub.state")
	export HF_ENDPOINT=$HUB_URL
}

# fakehub_ctl METHOD PATH [JSON]: talk to the control endpoint.
fakehub_ctl() {
	curl -sS --fail-with-body --max-time 10 -X "$1" \
		-H 'Content-Type: application/json' ${3:+--data "$3"} \
		"$HUB_URL/_fake/$2"
}

# fault JSON: inject a fault into the fake Hub (tests/fakehub/README.md).
fault() { fakehub_ctl POST faults "$1" >/dev/null || die "cannot inject $1"; }

# hub_count [FILTER...]: requests in the fake Hub's log that match, e.g.
#   hub_count host=cdn method=GET 'path~/repos/*' auth=true
hub_count() { $HUBLOG "$HUB_LOG" count "$@"; }
# hub_sum FIELD [FILTER...]: sum of a numeric field, e.g. hub_sum bytes host=cdn
hub_sum() { $HUBLOG "$HUB_LOG" sum "$@"; }
# hub_fields F1,F2 [FILTER...]: e.g. hub_fields status,range host=cdn -> "206:bytes=0-9 ..."
hub_fields() { $HUBLOG "$HUB_LOG" fields "$@"; }
# use_tiny_model: REPO, KEY, COMMIT (main's) and LFS_FILES of the fake Hub's
# hubfs-test/tiny-model, the repo most tests take apart.
use_tiny_model() {
	REPO=hubfs-test/tiny-model
	KEY=model/$REPO
	COMMIT=$(manifest commit $KEY)
	LFS_FILES="extra/weights.dat model.safetensors pytorch_model.bin"
}

# hub_peak [FILTER...]: most matching requests in progress at once, e.g.
#   hub_peak host=cdn status=206 't>=1733140000.5'
hub_peak() { $HUBLOG "$HUB_LOG" peak "$@"; }

# use_big_data: FAKEHUB_DATA with a 200 MiB big-model, generated once for
# every test that asks (shared, under a lock).
use_big_data() {
	export FAKEHUB_DATA=$HUBFS_TEST_TMP/fakehub-data-big200
	(
		flock 9
		"$PYTHON" "$TEST_LIB_DIR/../fakehub/genrepos.py" "$FAKEHUB_DATA" \
			--big-size $((200 * 1048576)) >/dev/null
	) 9>"$HUBFS_TEST_TMP/fakehub-data-big200.lock" || die "cannot generate $FAKEHUB_DATA"
}

is_mounted() { grep -q " $MNT fuse" /proc/mounts; }

# mount_hubfs [hubfs mount options...]: mounts $MNT in the foreground
# process HUBFS_PID, logging to $HUBFS_LOG.
mount_hubfs() {
	"$HUBFS_BIN" mount -f "$MNT" "$@" >>"$HUBFS_LOG" 2>&1 &
	HUBFS_PID=$!
	if ! wait_for 20 is_mounted; then
		kill "$HUBFS_PID" 2>/dev/null
		die "hubfs did not mount (see $HUBFS_LOG)"
	fi
}

# start_mount_with [hubfs mount options...]: what most mount tests begin
# with: FUSE or skip, the fake Hub, and $MNT mounted with these options.
start_mount_with() {
	require_fuse
	start_fakehub
	mount_hubfs "$@"
}

# unmount_hubfs: unmount and require the daemon to exit with status 0.
unmount_hubfs() {
	local rc=0
	fusermount3 -u "$MNT" || return 1
	wait "$HUBFS_PID" || rc=$?
	HUBFS_PID=
	return "$rc"
}

# scan_logs FILE: no sanitizer report may appear in a daemon's log.
scan_logs() {
	! grep -E 'AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:' "$1"
}

# stop_daemon SIGNAL SECONDS ENDS_DESCRIPTION STATUS_DESCRIPTION: send the
# mount's daemon SIGNAL; it must end within SECONDS, and with exit status 0.
stop_daemon() {
	local rc=0
	kill -s "$1" "$HUBFS_PID"
	timeout "$2" tail --pid="$HUBFS_PID" -f /dev/null || rc=$?
	expect_eq 0 "$rc" "$3"
	rc=0
	wait "$HUBFS_PID" || rc=$?
	HUBFS_PID=
	expect_eq 0 "$rc" "$4"
}

# finish_mount: what most mount tests end with: unmount, the daemon exits
# 0, no sanitizer report in its log; then test_done.
finish_mount() {
	unmount_hubfs
	expect_eq 0 "$?" "the daemon exits 0"
	check "no sanitizer report" scan_logs "$HUBFS_LOG"
	test_done
}

_cleanup() {
	local rc=$?
	if is_mounted; then
		fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	fi
	if [ -n "$HUBFS_PID" ]; then
		kill "$HUBFS_PID" 2>/dev/null
		wait "$HUBFS_PID" 2>/dev/null
	fi
	if [ -n "$FAKEHUB_PID" ]; then
		kill "$FAKEHUB_PID" 2>/dev/null
		wait "$FAKEHUB_PID" 2>/dev/null
	fi
	if [ "$rc" -eq 0 ] && [ "$_failures" -ne 0 ]; then
		rc=1
	fi
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then
		rm -rf "$T"
	else
		printf '# %s failed (exit %d); logs kept in %s\n' "$TEST_NAME" "$rc" "$T"
		for f in "$HUBFS_LOG" "$T/fakehub.stderr"; do
			[ -s "$f" ] && { printf '# --- tail of %s\n' "$f"; tail -n 30 "$f"; }
		done
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# test_done: summary line and exit status.
test_done() {
	if [ "$_failures" -eq 0 ]; then
		say "all checks passed"
		exit 0
	fi
	say "$_failures check(s) failed"
	exit 1
}

# manifest CMD ARGS...: see tests/lib/manifest.py
manifest() { "$PYTHON" "$TEST_LIB_DIR/manifest.py" "$FAKEHUB_DATA" "$@"; }

# Tokens the generator gives its users (tests/fakehub/README.md).
ALICE_TOKEN=hf_alice_0123456789abcdefghijklmnopqrstuvw
BOB_TOKEN=hf_bob_0123456789abcdefghijklmnopqrstuvwxy

# Retry fast in tests; each test may override these.
export HUBFS_RETRY_BASE_MS=${HUBFS_RETRY_BASE_MS:-50}
unset HF_TOKEN HF_TOKEN_PATH HF_HUB_OFFLINE
export HF_HOME="$T/hf-home"
# Every command and mount of a test uses the test's own cache.
export HUBFS_CACHE_DIR=$CACHE_DIR
