#!/usr/bin/env bash
# A signal ends a read or a lookup blocked on a stalled Hub within 1 s; the
# fetch goes on for a reader that still waits, and the daemon keeps serving.
. "$HUBFS_TEST_LIB"
start_mount_with --stall-timeout 5
KEY=model/hubfs-test/tiny-model
R=$MNT/hubfs-test/tiny-model
sha() { sha256sum <"$1" | cut -d' ' -f1; }
ls "$R" >/dev/null || die "cannot list $R"

# --- SIGINT to a cat of a file whose CDN stalls after the headers ---
fault '{"kind": "stall", "host": "cdn", "glob": "/repos/*", "after_bytes": 0, "seconds": 30, "count": -1}'
timed timeout -s INT 2 cat "$R/pytorch_model.bin"
expect_eq 124 "$RC" "the stalled cat was ended by SIGINT"
check "... within 1 s of the signal (2 s + 1 s)" within 3
check "... the daemon is alive" kill -0 "$HUBFS_PID"
expect_eq "$(manifest field $KEY config.json sha256)" "$(sha "$R/config.json")" \
	"... and serves another file"

# --- the same for a reader that handles SIGINT (Python, as PyTorch runs):
# its read(2) must fail with EINTR, not wait for the fetch (a page read in the
# background can only be left on a fatal signal) ---
cat >"$T/reader.py" <<'PY'
import errno, os, signal, sys
class Interrupted(Exception):
    pass
def on_int(*a):
    raise Interrupted()  # else Python retries the read (PEP 475)
signal.signal(signal.SIGINT, on_int)
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    os.read(fd, 1 << 20)
    print("read")
except Interrupted:
    print("EINTR")  # the read returned EINTR and the handler ran
except OSError as e:
    print(errno.errorcode[e.errno])
PY
timed timeout -s INT 2 "$PYTHON" "$T/reader.py" "$R/model.safetensors"
expect_eq "EINTR" "$(cat "$T/out")" "a reader that handles SIGINT gets EINTR from read(2)"
check "... within 1 s of the signal" within 3

# --- the same for O_DIRECT (dd iflag=direct): the kernel's asynchronous
# direct I/O would wait for the fetch uninterruptibly, not even SIGKILL
# ending it ---
timed timeout -s INT 2 dd if="$R/model.safetensors" of=/dev/null bs=1M count=1 iflag=direct
expect_eq 124 "$RC" "an O_DIRECT read is ended by SIGINT"
check "... within 1 s of the signal" within 3

# --- a reader that waits on the same stalled fetch is not disturbed ---
fakehub_ctl DELETE faults >/dev/null
fault '{"kind": "stall", "host": "cdn", "glob": "/repos/*", "after_bytes": 0, "seconds": 3, "count": 1}'
sha "$R/extra/weights.dat" >"$T/patient" &
PATIENT=$!
sleep 0.5
timed timeout -s INT 1 cat "$R/extra/weights.dat"
expect_eq 124 "$RC" "an impatient reader of the same file is interrupted"
check "... within 1 s" within 2
wait "$PATIENT"
expect_eq "$(manifest field $KEY extra/weights.dat sha256)" "$(cat "$T/patient")" \
	"the patient reader gets the right bytes once the CDN comes back"

# --- SIGINT to a lookup whose listing stalls; the answer is not remembered ---
fault '{"kind": "stall", "host": "hub", "glob": "/api/models/hubfs-test/sharded-model*", "after_bytes": 0, "seconds": 30, "count": -1}'
timed timeout -s INT 1 ls "$MNT/hubfs-test/sharded-model"
expect_eq 124 "$RC" "a stalled lookup is ended by SIGINT"
check "... within 1 s" within 2
timed timeout -s INT 1 ls "$MNT/hubfs-test/sharded-model"
expect_eq 124 "$RC" "a second lookup waits on the same load and is interrupted too"
check "... within 1 s" within 2
fakehub_ctl DELETE faults >/dev/null
wait_for 15 ls "$MNT/hubfs-test/sharded-model" >/dev/null 2>&1
check "once the Hub answers, the repo is there (EINTR was not cached as a failure)" \
	ls "$MNT/hubfs-test/sharded-model"
check "the daemon never logged an error for the interrupts" sh -c '! grep -q "ERROR" "$0"' "$HUBFS_LOG"

# --- a reader under a 100 Hz timer (as sampling profilers run): each tick
# interrupts its read of a stalled file, and Python asks the same read again
# (PEP 475). The retries adopt the read left before, with its helper: the
# daemon does not gain a thread per tick ---
fault '{"kind": "stall", "host": "cdn", "glob": "/repos/*", "after_bytes": 0, "seconds": 60, "count": -1}'
threads() { ls "/proc/$HUBFS_PID/task" | wc -l; }
# ticked_threads read|open PATH: the daemon's threads before and after 3 s
# of a Python reader (or opener) of PATH under a 100 Hz timer, in $before
# and $after.
ticked_threads() {
	before=$(threads)
	"$PYTHON" - "$1" "$2" <<'PY' &
import os, signal, sys
signal.signal(signal.SIGALRM, lambda *a: None)
signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
if sys.argv[1] == "read":
    with open(sys.argv[2], "rb") as f:
        f.read(1 << 20)
else:
    os.close(os.open(sys.argv[2], os.O_RDONLY))
PY
	local ticked=$!
	sleep 3
	after=$(threads)
	kill "$ticked"; wait "$ticked" 2>/dev/null
	say "daemon threads: $before before, $after after 3 s of 100 interrupts a second ($1)"
}
ticked_threads read "$MNT/hubfs-test/sharded-model/model-00002-of-00003.safetensors"
check "... at most 8 more threads ($before -> $after)" test "$after" -le $((before + 8))

# --- no thread to be had (a pids limit, as systemd's TasksMax sets): a
# read that needs a helper waits for one, interruptibly, rather than doing
# the fetch on its own thread, where SIGINT could not end it. On a fresh
# mount, whose FUSE threads are idle ---
fakehub_ctl DELETE faults >/dev/null
unmount_hubfs
mount_hubfs --stall-timeout 5
ls "$MNT/hubfs-test/sharded-model" >/dev/null
fault '{"kind": "stall", "host": "cdn", "glob": "/repos/*", "after_bytes": 0, "seconds": 60, "count": -1}'
CG=/sys/fs/cgroup/pids/hubfs-t2007-$$
if mkdir "$CG" 2>/dev/null && echo "$HUBFS_PID" >"$CG/cgroup.procs" 2>/dev/null; then
	echo $(($(threads) + 3)) >"$CG/pids.max"
	for i in 1 2 3; do  # each leaves a helper waiting for the stall: no room left
		timeout -s INT 0.3 dd if="$MNT/hubfs-test/sharded-model/model-00003-of-00003.safetensors" \
			of=/dev/null bs=64k count=1 skip=$((i * 20)) iflag=direct 2>/dev/null
	done
	timed timeout -s KILL 20 timeout -s INT 1 "$PYTHON" "$T/reader.py" \
		"$MNT/hubfs-test/sharded-model/model-00001-of-00003.safetensors"
	expect_eq "EINTR" "$(cat "$T/out")" "with no helper thread to be had, SIGINT ends the read: EINTR"
	check "... within 1 s of the signal ($SECS s)" within 2.5
	check "... and the log says the request waited for a helper" grep -q "no helper thread to be had" "$HUBFS_LOG"
	echo "$HUBFS_PID" >/sys/fs/cgroup/pids/cgroup.procs
	rmdir "$CG"
else
	rmdir "$CG" 2>/dev/null
	say "skipped the pids-limit check: no cgroup v1 pids controller to write"
fi
fakehub_ctl DELETE faults >/dev/null

unmount_hubfs
mount_hubfs --op-timeout 10
# --- a lookup of a repo whose info stalls, under the same timer: each
# retry started a load of its own, with a helper (20 -> 76 threads in 3 s;
# 534 in 26 s in a review); the retries join the load begun before ---
stat "$MNT/hubfs-test" >/dev/null
fault '{"kind": "stall", "host": "hub", "glob": "/api/models/hubfs-test/tiny-model*", "after_bytes": 0, "seconds": 60, "count": -1}'
ticked_threads open "$MNT/hubfs-test/tiny-model"
check "... a lookup's retries: at most 8 more threads ($before -> $after)" test "$after" -le $((before + 8))
fakehub_ctl DELETE faults >/dev/null
# --- the same for a name at the root that no cached repo explains: the
# Hub is asked whether it is an org; each retry listed anew (21 -> 80
# threads in 3 s), they join the listing in flight now ---
fault '{"kind": "stall", "host": "hub", "glob": "/api/models", "after_bytes": 0, "seconds": 4, "count": -1}'
ticked_threads open "$MNT/some-org-nobody-cached"
check "... an org's lookup retries: at most 8 more threads ($before -> $after)" test "$after" -le $((before + 8))
sleep 5 # each stalled listing is logged when the fake Hub closes it, 4 s after it began
# Begun in the 3 s of ticks: the client's own retry of the one listing
# comes 4 s after it, when the fake Hub closes the stalled connection.
LISTS=$(hub_fields t 'path=/api/models' 'query~*author=some-org-nobody-cached*' |
	tr ' ' '\n' | sort -n | awk 'NF { if (!first) first = $1; if ($1 < first + 3.5) n++ } END { print n + 0 }')
check "... and the Hub was asked for that org once in those 3 s, not at each tick ($LISTS)" \
	test "$LISTS" -eq 1
fakehub_ctl DELETE faults >/dev/null

# --- a reader that comes after the Hub is back, while the fetch a
# signalled reader left is still stalled: it read EIO once that fetch's
# deadline passed; the read is made anew within its own ---
F2=$MNT/hubfs-test/sharded-model/model-00001-of-00003.safetensors
ls "$MNT/hubfs-test/sharded-model" >/dev/null
fault '{"kind": "stall", "host": "cdn", "glob": "/repos/*", "after_bytes": 0, "seconds": 100, "count": -1}'
fault '{"kind": "stall", "host": "hub", "glob": "*resolve*", "after_bytes": 0, "seconds": 100, "count": -1}'
timeout -s INT 1 cat "$F2" >/dev/null 2>&1
fakehub_ctl DELETE faults >/dev/null
sleep 1
timed sh -c 'sha256sum <"$0" | cut -d" " -f1' "$F2"
expect_eq "$(manifest field model/hubfs-test/sharded-model model-00001-of-00003.safetensors sha256)" \
	"$(cat "$T/out")" "a reader after the Hub came back gets the right bytes ($SECS s), not EIO"

unmount_hubfs
expect_eq 0 "$?" "the daemon exits cleanly"
test_done
