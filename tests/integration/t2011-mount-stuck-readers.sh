#!/usr/bin/env bash
# Sixteen readers stuck on stalled files block nothing else: a cached file
# and another repo answer within 1 s, and the mount still unmounts at once;
# nor do 300 direct readers, more than the 256 workers hubfs once had.
. "$HUBFS_TEST_LIB"
start_mount_with
KEY=model/hubfs-test/tiny-model
R=$MNT/hubfs-test/tiny-model
D=$MNT/datasets/hubfs-test/big-dataset/data/test/part-00
# A file in the verified cache that the kernel has never read: its read
# must reach the daemon (not the page cache) while the others are stuck.
"$HUBFS_BIN" download hubfs-test/tiny-model --include tokenizer_config.json >/dev/null 2>&1 ||
	die "cannot prime the cache"
ls "$D" "$R" >/dev/null || die "cannot list $D and $R"

# Every file body stalls (CDN and git files), for longer than this test.
fault '{"kind": "stall", "host": "cdn", "glob": "/repos/*", "after_bytes": 0, "seconds": 60, "count": -1}'
fault '{"kind": "stall", "host": "hub", "glob": "/api/resolve-cache/*", "after_bytes": 0, "seconds": 60, "count": -1}'
STUCK=()
T0=$(now_cs)
# Sixteen different files, so that sixteen requests reach the daemon (readers
# of one file would queue on its page in the kernel instead).
for i in $(seq 0 15); do
	# SIGINT after 6 s ("kill -INT" cannot: a script's background jobs ignore it).
	timeout -s INT 6 cat "$D/shard-$(printf %04d "$i").csv" >/dev/null 2>&1 &
	STUCK+=($!)
done
wait_for 10 eval 'test "$(hub_count fault=stall)" -ge 16' || die "the readers did not reach the Hub"
sleep 1
alive=0
for p in "${STUCK[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
expect_eq 16 "$alive" "16 readers are stuck on stalled files"

timed cat "$R/tokenizer_config.json"
expect_eq 0 "$RC" "a cached file reads"
check "... within 1 s" within 1
expect_eq "$(manifest field $KEY tokenizer_config.json sha256)" \
	"$(sha256sum <"$T/out" | cut -d' ' -f1)" "... with the right bytes"
timed ls "$MNT/hubfs-test/sharded-model"
expect_eq 0 "$RC" "another repo lists"
check "... within 1 s" within 1
timed stat "$MNT/datasets/hubfs-test/odd-names"
expect_eq 0 "$RC" "a third repo is looked up"
check "... within 1 s" within 1

# The readers get SIGINT 6 s after they started: each ends, and the unmount
# is not held up by the fetches still running for them.
for p in "${STUCK[@]}"; do wait "$p" || true; done
SECS=$(echo "$(secs_since "$T0") - 6" | bc)
say "16 readers ended $SECS s after SIGINT"
check "all 16 readers end within 1 s of SIGINT" within 1
t0=$(now_cs)
"$HUBFS_BIN" umount "$MNT"
expect_eq 0 "$?" "hubfs umount works"
wait "$HUBFS_PID"
expect_eq 0 "$?" "the daemon exits cleanly"
HUBFS_PID=
SECS=$(secs_since "$t0")
say "unmounted and exited in $SECS s"
check "... within 3 s, although 60 s stalls were still in flight" within 3

# --- more readers stuck at once than the 256 workers libfuse was allowed:
# each stuck request holds a worker, and with none left to read /dev/fuse
# a cached read, a listing and the kernel's interrupts waited until one
# timed out (264 readers: a cached read took 15.8 s in a review). Direct
# reads, so that each is a request of its own (page reads would queue
# behind the kernel's 192 background ones) ---
mount_hubfs --op-timeout 30  # the CDN still stalls, as above
MANY=()
for i in $(seq 0 299); do
	dd if="$R/model.safetensors" of=/dev/null bs=64k count=1 skip="$i" iflag=direct 2>/dev/null &
	MANY+=($!)
done
sleep 3
alive=0
for p in "${MANY[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
expect_eq 300 "$alive" "300 direct readers are stuck on a stalled file"
NTHREADS=$(ls /proc/"$HUBFS_PID"/task | wc -l)
say "the daemon has $NTHREADS threads, $(awk '/VmRSS/ {print $2, $3}' /proc/"$HUBFS_PID"/status) resident"
# A read that waits is answered by the helper of its fetch: it holds no
# FUSE worker (619 threads when each held one: a worker and a helper each).
check "... and holds no FUSE worker: fewer than 450 threads ($NTHREADS)" test "$NTHREADS" -lt 450
timed cat "$R/tokenizer_config.json"
expect_eq 0 "$RC" "a cached file reads beside them"
check "... within 1 s ($SECS s)" within 1
timed ls "$MNT/hubfs-test/sharded-model"
expect_eq 0 "$RC" "another repo lists"
check "... within 1 s ($SECS s)" within 1
t0=$(now_cs)
kill -KILL "${MANY[@]}" 2>/dev/null
for p in "${MANY[@]}"; do wait "$p" 2>/dev/null || true; done
SECS=$(secs_since "$t0")
check "SIGKILL ends all 300 within 2 s ($SECS s): their interrupts reach the daemon" within 2
unmount_hubfs

# --- each helper may hold a connection and a block file: under a soft
# limit of 1,024 open files (a shell's, systemd's default), 4,096 helpers
# on blocks of their own would run out (EMFILE), cached reads beside them
# too. The mount raises the soft limit to the hard one, and where the hard
# one is low, runs fewer helpers ---
REAL_BIN=$HUBFS_BIN
# with_nofile SOFT:HARD: hubfs from now on runs under those limits (exec: the same pid).
with_nofile() {
	printf '#!/bin/sh\nexec prlimit --nofile=%s -- "%s" "$@"\n' "$1" "$REAL_BIN" >"$T/hubfs-$1"
	chmod +x "$T/hubfs-$1"
	HUBFS_BIN=$T/hubfs-$1
}
HARD=$(ulimit -Hn)
[ "$HARD" = unlimited ] || [ "$HARD" -gt 8192 ] && HARD=8192 # raising it needs CAP_SYS_RESOURCE
with_nofile "1024:$HARD"
mount_hubfs
expect_eq "$HARD $HARD" "$(awk '/Max open files/ {print $4, $5}' /proc/"$HUBFS_PID"/limits)" \
	"the mount raised its soft open-files limit to the hard one ($HARD)"
unmount_hubfs
with_nofile 1024:1024
mount_hubfs
check "... and under a hard limit of 1,024 runs fewer helpers, and says so" \
	grep -q "up to 170 helper threads at once: 1024 open files allowed" "$HUBFS_LOG"
unmount_hubfs
HUBFS_BIN=$REAL_BIN

# --- a read of a stalled file fails once, within the operation timeout ---
# The kernel retries a failed read-ahead page as a read of its own: that
# retry must not start a second full wait.
mount_hubfs --op-timeout 3
t0=$(now_cs)
cat "$D/shard-0020.csv" >/dev/null 2>"$T/cat.err"
expect_eq 1 "$?" "cat of a stalled file fails"
check "... with EIO" grep -q "Input/output error" "$T/cat.err"
SECS=$(secs_since "$t0")
say "cat failed after $SECS s (--op-timeout 3)"
check "... within the operation timeout and a little (5 s), not twice it" within 5
unmount_hubfs

# --- six readers of one file whose block the CDN keeps failing: they wait
# on the page's lock in the kernel one after another, and each then asks
# again; the failure stands for a second for every reader of those bytes,
# so they all end with about one retry budget, not six in a row ---
fakehub_ctl DELETE faults >/dev/null
HUBFS_RETRY_BASE_MS=500 mount_hubfs --retries 2
ls "$R" >/dev/null
fault '{"kind": "status", "code": 502, "host": "cdn", "glob": "/repos/*", "count": -1}'
t0=$(now_cs)
READERS=()
for i in 1 2 3 4 5 6; do
	cat "$R/model.safetensors" >/dev/null 2>&1 &
	READERS+=($!)
done
failed=0
for p in "${READERS[@]}"; do wait "$p" || failed=$((failed + 1)); done
SECS=$(secs_since "$t0")
say "six readers of a failing block ended after $SECS s"
expect_eq 6 "$failed" "every reader of the failing block gets EIO"
check "... all within about one retry budget (4 s), not one after another" within 4
fakehub_ctl DELETE faults >/dev/null
unmount_hubfs

# --- a reader that gave up on a rate-limited file: the fetches it left wait
# for the quota's reset (30 s), and the unmount does not. The CDN is slow
# and the window 2 wide, so that the reader catches up with a read-ahead
# fetch that met the 429 and joins it (that join held the unmount for the
# whole reset: the read-ahead's wait for a place ignored the unmount) ---
fakehub_ctl POST config '{"cdn_rate": 2000000}' >/dev/null
mount_hubfs --max-streams 2
ls "$R" >/dev/null
fakehub_ctl DELETE log >/dev/null
timeout -s INT 8 cat "$R/model.safetensors" >/dev/null 2>&1 &
reader=$!
wait_for 10 eval 'test "$(hub_count host=cdn "path~/repos/*")" -ge 1' || die "the reader did not reach the CDN"
fault '{"kind": "rate_limit", "reset_seconds": 30, "host": "cdn", "glob": "/repos/*", "count": -1}'
wait "$reader" || true
check "read-ahead met the rate limit ($(hub_count host=cdn status=429) times)" \
	test "$(hub_count host=cdn status=429)" -ge 1
t0=$(now_cs)
"$HUBFS_BIN" umount "$MNT"
expect_eq 0 "$?" "hubfs umount works while fetches wait for a rate limit's reset"
wait "$HUBFS_PID"
expect_eq 0 "$?" "the daemon exits cleanly"
HUBFS_PID=
check "... within 3 s of the unmount ($(secs_since "$t0") s), although the Hub asked for 31" \
	less_than_since "$t0" 3
fakehub_ctl DELETE faults >/dev/null
test_done
