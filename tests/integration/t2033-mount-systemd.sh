#!/usr/bin/env bash
# The systemd units of contrib/systemd/ pass `systemd-analyze verify`
# (and a broken copy does not), and what systemd would run for them works:
# hubfs@.service's ExecStart and ExecStartPost (ready once mounted), then
# its stop signal (SIGTERM: unmounted, exit 0); mnt-hub.mount's
# "mount What Where -t Type -o Options" and "umount Where". PID 1 here is
# not systemd, so the units themselves are not started by systemd.
. "$HUBFS_TEST_LIB"
require_fuse
command -v systemd-analyze >/dev/null || skip_all "systemd-analyze is not installed"
UNITS=$(cd "$TEST_LIB_DIR/../../contrib/systemd" && pwd)
say "PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown)"
start_fakehub
unset HF_ENDPOINT

# unit_value FILE KEY: the value of the (first) KEY= line.
unit_value() { sed -n "s/^$2=//p" "$1" | head -n1; }

# --- systemd-analyze verify, with ExecStart pointing to this build ---
mkdir -p "$T/units"
sed "s#/usr/local/bin/hubfs#$HUBFS_BIN#" "$UNITS/hubfs@.service" >"$T/units/hubfs@.service"
ln -s hubfs@.service "$T/units/hubfs@mnt-hub.service"
cp "$UNITS/mnt-hub.mount" "$UNITS/mnt-hub.automount" "$T/units/"
for unit in hubfs@mnt-hub.service mnt-hub.mount mnt-hub.automount; do
	out=$(cd "$T/units" && systemd-analyze verify --man=no "./$unit" 2>&1)
	rc=$?
	expect_eq "0:" "$rc:$out" "systemd-analyze verify $unit: no error, no warning"
done
# The check can fail: a typo in a key and a missing binary are caught.
mkdir -p "$T/broken"
sed 's/^KillSignal=/KilSignal=/' "$T/units/hubfs@.service" >"$T/broken/hubfs@.service"
ln -s hubfs@.service "$T/broken/hubfs@mnt-hub.service"
out=$(cd "$T/broken" && systemd-analyze verify --man=no ./hubfs@mnt-hub.service 2>&1)
check "... and it reports a misspelt key ($out)" grep -q "KilSignal" <<<"$out"
sed "s#^ExecStart=$HUBFS_BIN#ExecStart=/nonexistent/hubfs#" "$T/units/hubfs@.service" >"$T/broken/hubfs@.service"
out=$(cd "$T/broken" && systemd-analyze verify --man=no ./hubfs@mnt-hub.service 2>&1)
check "... and a binary that is not there" grep -q "nonexistent" <<<"$out"

# --- hubfs@.service, run as systemd would: ExecStart, ExecStartPost, stop ---
expect_eq SIGTERM "$(unit_value "$T/units/hubfs@.service" KillSignal)" "the service stops hubfs with SIGTERM"
HUBFS_OPTIONS="--endpoint $HUB_URL --cache-dir $CACHE_DIR"
start=$(unit_value "$T/units/hubfs@.service" ExecStart)
start=${start//%f/$MNT}
start=${start//\$HUBFS_OPTIONS/$HUBFS_OPTIONS}
post=$(unit_value "$T/units/hubfs@.service" ExecStartPost)
post=${post//%f/$MNT}
say "ExecStart: $start"
# shellcheck disable=SC2086 # split as systemd splits it
$start >>"$HUBFS_LOG" 2>&1 &
HUBFS_PID=$!
# shellcheck disable=SC2086
check "ExecStartPost returns once the mount serves" bash -c "$post"
check "... which it does" is_mounted
check "... and reads" test -s "$MNT/hubfs-test/tiny-model/config.json"
stop_daemon "$(unit_value "$T/units/hubfs@.service" KillSignal)" \
	"$(unit_value "$T/units/hubfs@.service" TimeoutStopSec)" \
	"stopping: hubfs ends within TimeoutStopSec" "... with exit status 0 (systemd: inactive, not failed)"
check "... unmounted" bash -c "! grep -q ' $MNT fuse' /proc/mounts"

# --- mnt-hub.mount: what systemd runs is mount(8) with the unit's fields ---
if [ "$(id -u)" != 0 ]; then
	say "not root: the .mount unit's mount(8) run is skipped"
	test_done
fi
HELPER=/sbin/mount.fuse.hubfs
OWN_HELPER=
if [ ! -e "$HELPER" ] && [ ! -L "$HELPER" ]; then
	ln -s "$(readlink -f "$HUBFS_BIN")" "$HELPER" && OWN_HELPER=$HELPER
fi
t2033_cleanup() {
	local rc=$?
	[ -n "$OWN_HELPER" ] && rm -f "$OWN_HELPER"
	(exit "$rc")
	_cleanup
}
trap t2033_cleanup EXIT
if [ "$(readlink -f "$HELPER")" != "$(readlink -f "$HUBFS_BIN")" ]; then
	say "another $HELPER is installed: the .mount unit's mount(8) run is skipped"
	test_done
fi
m="$T/units/mnt-hub.mount"
expect_eq /mnt/hub "$(unit_value "$m" Where)" "the unit's name matches its Where="
printf '%s\n' "$ALICE_TOKEN" >"$T/token"
opts=$(unit_value "$m" Options)
opts=${opts//\/var\/cache\/hubfs/$T/mcache}
opts=${opts//\/etc\/hubfs\/token/$T/token}
check "mount $(unit_value "$m" What) WHERE -t $(unit_value "$m" Type) -o <Options>,endpoint=... mounts" \
	timeout "$(unit_value "$m" TimeoutSec)" mount "$(unit_value "$m" What)" "$MNT" \
	-t "$(unit_value "$m" Type)" -o "$opts,endpoint=$HUB_URL"
check "... as fuse.hubfs" grep -q " $MNT fuse.hubfs ro," /proc/mounts
pid=$("$HUBFS_BIN" status "$MNT" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
check "... serving alice's private repo with the token file" \
	test -d "$MNT/hubfs-test/private-model"
check "stopping: umount WHERE" umount "$MNT"
check "... and the daemon exits" wait_for 10 bash -c "! kill -0 $pid 2>/dev/null"
test_done
