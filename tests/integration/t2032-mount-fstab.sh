#!/usr/bin/env bash
# fstab: util-linux mount(8) mounts a "fuse.hubfs" line through
# /sbin/mount.fuse.hubfs (hubfs itself, by its name), with hubfs's options
# in -o form and mount(8)'s own (_netdev, noauto, defaults) understood;
# `mount -T FILE MNT`, `mount -a -T FILE`, and `umount`, `hubfs umount`
# and `fusermount3 -u` all work. The machine's /etc/fstab is never
# touched: the test's own file is given with -T (--fstab). The helper link
# in /sbin is made for the test (unless the same one is installed) and
# removed at its end.
. "$HUBFS_TEST_LIB"
require_fuse
[ "$(id -u)" = 0 ] || skip_all "mount(8) of an fstab line needs root"
command -v mount >/dev/null && mount -V 2>&1 | grep -q util-linux ||
	skip_all "util-linux mount(8) is not installed"
HELPER=/sbin/mount.fuse.hubfs
if [ -e "$HELPER" ] || [ -L "$HELPER" ]; then
	[ "$(readlink -f "$HELPER")" = "$(readlink -f "$HUBFS_BIN")" ] ||
		skip_all "another $HELPER is installed; not replacing it"
	OWN_HELPER=
else
	ln -s "$(readlink -f "$HUBFS_BIN")" "$HELPER" || skip_all "cannot write $HELPER"
	OWN_HELPER=$HELPER
fi
MNT2="$T/mnt2"
mkdir -p "$MNT2"
# The harness cleans $MNT; this test also has $MNT2 and the helper link.
t2032_cleanup() {
	local rc=$?
	grep -q " $MNT2 fuse" /proc/mounts && umount -l "$MNT2"
	[ -n "$OWN_HELPER" ] && rm -f "$OWN_HELPER"
	# Daemons this test's mounts started (mount(8) backgrounds them).
	for pid in $DAEMONS; do kill "$pid" 2>/dev/null; done
	(exit "$rc") # what the test's exit status was, for _cleanup
	_cleanup
}
DAEMONS=
trap t2032_cleanup EXIT
start_fakehub
unset HF_ENDPOINT # the fstab line names the endpoint itself
printf '%s\n' "$ALICE_TOKEN" >"$T/token"
chmod 600 "$T/token"
KEY=model/hubfs-test/private-model
FILE=$(manifest files $KEY | grep -v '^\.' | head -n1)
cat >"$T/fstab" <<EOF
# the line of issue #14, with the test's own paths and endpoint
hubfs $MNT fuse.hubfs ro,allow_other,cache_dir=$T/fcache,token_file=$T/token,_netdev,endpoint=$HUB_URL,max_cache_size=1G,retries=2 0 0
hubfs $MNT2 fuse.hubfs defaults,noauto,nofail,x-systemd.automount,cache_dir=$T/fcache,endpoint=$HUB_URL,repo=hubfs-test/tiny-model 0 0
EOF

# daemon_of MNT: the pid of the daemon serving MNT, from its status.
daemon_of() { "$HUBFS_BIN" status "$1" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["pid"])'; }
# gone PID: the daemon exited within 10 s.
gone() { wait_for 10 bash -c "! kill -0 $1 2>/dev/null"; }
mounted() { grep -q " $1 fuse.hubfs " /proc/mounts; }

# --- mount MNT: the helper mounts it in the background, mount(8) returns once it serves ---
check "mount -T FILE MNT mounts the fstab line" timeout 60 mount -T "$T/fstab" "$MNT"
check "... as type fuse.hubfs" mounted "$MNT"
check "... read-only, with allow_other" \
	grep -qE " $MNT fuse.hubfs ro,([^ ]*,)?allow_other" <(sed 's/,user_id=[0-9]*,group_id=[0-9]*//' /proc/mounts)
pid=$(daemon_of "$MNT")
DAEMONS="$DAEMONS $pid"
"$HUBFS_BIN" status "$MNT" --json >"$T/s.json"
check "the -o forms reached hubfs: endpoint=, cache_dir=, max_cache_size=" "$PYTHON" -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["endpoint"] == sys.argv[2], s["endpoint"]
assert s["cache"]["dir"] == sys.argv[3], s["cache"]["dir"]
assert s["cache"]["max_bytes"] == 1 << 30, s["cache"]["max_bytes"]' "$T/s.json" "$HUB_URL" "$T/fcache"
expect_eq "$(manifest field $KEY "$FILE" sha256)" \
	"$(sha256sum <"$MNT/hubfs-test/private-model/$FILE" | cut -d' ' -f1)" \
	"token_file= works: alice's private file reads right"
check "... and the token went to the Hub" test "$(hub_count host=hub auth=true)" -ge 1
expect_eq 0 "$(hub_count host=cdn auth=true)" "... never to the CDN"
check "umount(8) unmounts it" umount "$MNT"
check "... and its daemon exits" gone "$pid"

# --- mount -a: every line but noauto ---
check "mount -a -T FILE mounts the auto lines" timeout 60 mount -a -T "$T/fstab"
check "... MNT is mounted" mounted "$MNT"
check "... the noauto line is not" bash -c "! grep -q ' $MNT2 ' /proc/mounts"
pid=$(daemon_of "$MNT")
DAEMONS="$DAEMONS $pid"
check "mount -a again leaves the mounted line alone" timeout 60 mount -a -T "$T/fstab"
expect_eq 1 "$(grep -c " $MNT fuse.hubfs " /proc/mounts)" "... one mount on MNT, not two"
check "hubfs umount unmounts it" "$HUBFS_BIN" umount "$MNT"
check "... and its daemon exits" gone "$pid"

# --- the noauto line, by its mount point: defaults (rw) mounts ro, one repo at the root ---
check "mount --fstab FILE MNT2 mounts the noauto line" \
	timeout 60 mount --fstab "$T/fstab" "$MNT2" 2>"$T/mnt2.err"
check "... read-only although 'defaults' means rw" grep -qE " $MNT2 fuse.hubfs ro," /proc/mounts
check "... and the helper warned about rw" grep -q "rw ignored: hubfs is read-only" "$T/mnt2.err"
check "... repo= mounted one repo at the root" test -f "$MNT2/config.json"
pid=$(daemon_of "$MNT2")
DAEMONS="$DAEMONS $pid"
check "fusermount3 -u unmounts it" fusermount3 -u "$MNT2"
check "... and its daemon exits" gone "$pid"

# --- a bad option: mount(8) fails, says why, mounts nothing ---
sed 's/retries=2/retries=many/' "$T/fstab" >"$T/fstab.bad"
check "a bad -o value makes mount(8) fail" bash -c "! timeout 60 mount -T '$T/fstab.bad' '$MNT' 2>'$T/bad.err'"
check "... with hubfs's message" grep -q "not a valid number of retries" "$T/bad.err"
check "... and nothing mounted" bash -c "! grep -q ' $MNT ' /proc/mounts"
sed 's/retries=2/bogus_option/' "$T/fstab" >"$T/fstab.bad2"
check "an option neither hubfs nor FUSE knows fails too" \
	bash -c "! timeout 60 mount -T '$T/fstab.bad2' '$MNT' 2>'$T/bad2.err'"
check "... and nothing mounted" bash -c "! grep -q ' $MNT ' /proc/mounts"
test_done
