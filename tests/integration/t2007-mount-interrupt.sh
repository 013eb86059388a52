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

unmount_hubfs
expect_eq 0 "$?" "the daemon exits cleanly"
test_done
