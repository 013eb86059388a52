#!/usr/bin/env bash
# A big file read out of order (a mapping's tensors in the header's order,
# not the file's) gets its missing blocks in the background once more than
# half of it is on disk, the lowest first, so that its hash keeps up and
# the file ends verified without being read to the end; a reader that
# touched less than half gets nothing it did not read, also one that reads
# in pieces of 4 MiB (nothing goes ahead of a random piece, and what
# read-ahead fetched does not count). A read that spans
# two blocks fetches them at once, and a reader of pieces longer than a
# block gets the block after its next piece's first read with it.
. "$HUBFS_TEST_LIB"
require_fuse
use_big_data  # a 200 MiB file: 50 blocks
start_fakehub
KEY=model/hubfs-test/big-model
FILE=$MNT/hubfs-test/big-model/model.safetensors
BLOB=$(manifest blob $KEY model.safetensors)
BS=4194304
NBLOCKS=50

# read_blocks N SEED: 64 KiB from the middle of N distinct blocks, in a
# shuffled order, through pread; the bytes must be the published ones.
read_blocks() {
	"$PYTHON" - "$FILE" "$BLOB" "$1" "$2" <<'PY'
import os, random, sys
path, blob, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
blocks = list(range(50))
random.Random(seed).shuffle(blocks)
fd, ref = os.open(path, os.O_RDONLY), open(blob, "rb")
for k in blocks[:n]:
    at = k * 4194304 + 1048576
    ref.seek(at)
    if os.pread(fd, 65536, at) != ref.read(65536):
        sys.exit("wrong bytes in block %d" % k)
print(" ".join(str(k) for k in sorted(blocks[:n])))
PY
}
fetched_blocks() { # the blocks the CDN served, sorted
	hub_fields range host=cdn status=206 | tr ' ' '\n' | sed -n 's/^bytes=\([0-9]*\)-.*/\1/p' |
		while read -r at; do echo $((at / BS)); done | sort -n | uniq | tr '\n' ' ' | sed 's/ $//'
}
verified() { [ "$(getfattr --only-values -n user.hubfs.verified "$FILE" 2>/dev/null)" = 1 ]; }

# --- 20 of 50 blocks, out of order: those 20, nothing more ---
mount_hubfs --cache-dir "$T/cache1"
ls "$MNT/hubfs-test/big-model" >/dev/null
fakehub_ctl DELETE log >/dev/null
read=$(read_blocks 20 7) || die "a read failed"
sleep 1 # what read-ahead would have queued has had time to start
expect_eq "$read" "$(fetched_blocks)" "20 blocks read out of order: exactly those fetched"
check "... and the file is not verified" sh -c '! getfattr --only-values -n user.hubfs.verified "$0" | grep -q 1' "$FILE"
unmount_hubfs || die "unmount failed"

# --- 27 of 50 (more than half): the other 23 come, and the hash keeps up ---
mount_hubfs --cache-dir "$T/cache2"
ls "$MNT/hubfs-test/big-model" >/dev/null
fakehub_ctl DELETE log >/dev/null
# The 27th read finds 26 blocks stored, more than half: it starts the rest.
read_blocks 27 7 >/dev/null || die "a read failed"
check "the missing blocks came in the background, and the file verified" wait_for 30 verified
expect_eq "$(seq -s ' ' 0 $((NBLOCKS - 1)))" "$(fetched_blocks)" "... every block fetched"
expect_eq "$NBLOCKS" "$(hub_count host=cdn status=206)" "... each once"
expect_eq "$(manifest field $KEY model.safetensors sha256)" "$(sha256sum <"$FILE" | cut -d' ' -f1)" \
	"... and the whole file reads back right"
expect_eq "$NBLOCKS" "$(hub_count host=cdn status=206)" "... from the cache"
unmount_hubfs || die "unmount failed"
# --- a mapping read in random 4 MiB pieces, as the kernel reads one (six
# reads of 1 MiB from 512 KiB before the piece), through one open file:
# once it has read a piece, nothing goes ahead of the next ones, and the
# blocks read-ahead fetched do not count towards half, so that while its
# reads have asked for less than half the blocks, only those are fetched
# (and two ahead of its first piece, which might have been a sequential
# run's start); past half, the rest comes. Before, a reader of 16% of a
# file had all of it fetched ---
mount_hubfs --cache-dir "$T/cache-pieces"
ls "$MNT/hubfs-test/big-model" >/dev/null
fakehub_ctl DELETE log >/dev/null
"$PYTHON" - "$FILE" "$BLOB" "$T/pieces-half" "$T/pieces-go" >"$T/pieces.out" 2>&1 <<'PY' &
import os, sys, time
fd, ref = os.open(sys.argv[1], os.O_RDONLY), open(sys.argv[2], "rb")
def read_pieces(*blocks):
    for block in blocks:
        for i in range(6):
            at = block * 4194304 - 524288 + i * 1048576
            ref.seek(at)
            if os.pread(fd, 1048576, at) != ref.read(1048576):
                sys.exit("wrong bytes at %d" % at)
read_pieces(3, 10, 17, 24, 31, 38)
open(sys.argv[3], "w").close()
for _ in range(600):
    if os.path.exists(sys.argv[4]):
        break
    time.sleep(0.1)
read_pieces(45, 13, 20) # 27 blocks asked for, more than half
PY
reader=$!
check "6 pieces read" wait_for 30 test -e "$T/pieces-half"
sleep 1 # what read-ahead would have queued has had time to start
expect_eq "2 3 4 5 6 9 10 11 16 17 18 23 24 25 30 31 32 37 38 39" "$(fetched_blocks)" \
	"6 pieces, 18 blocks asked for: those fetched, and 2 ahead of the first piece only"
check "... and the file is not verified" sh -c '! getfattr --only-values -n user.hubfs.verified "$0" | grep -q 1' "$FILE"
touch "$T/pieces-go"
wait "$reader" || die "the reads in pieces failed: $(cat "$T/pieces.out")"
check "past half the blocks asked for, the rest came, and the file verified" wait_for 30 verified
expect_eq "$(seq -s ' ' 0 $((NBLOCKS - 1)))" "$(fetched_blocks)" "... every block fetched"
expect_eq "$NBLOCKS" "$(hub_count host=cdn status=206)" "... each once"
unmount_hubfs || die "unmount failed"

# --- what read-ahead fetched ahead of a run does not count towards half,
# and a run that did not start at the file's first byte has at most twice
# the blocks it read fetched ahead of it, and two: a run of 40 MiB in order
# from block 10 puts more than half the file on disk, and reads here and
# there after it, through the same open file, do not start the completion ---
mount_hubfs --cache-dir "$T/cache-ahead"
ls "$MNT/hubfs-test/big-model" >/dev/null
fakehub_ctl DELETE log >/dev/null
"$PYTHON" - "$FILE" "$BLOB" <<'PY' || die "the run and the reads after it failed"
import os, sys, time
fd, ref = os.open(sys.argv[1], os.O_RDONLY), open(sys.argv[2], "rb")
def check(at, n):
    ref.seek(at)
    if os.pread(fd, n, at) != ref.read(n):
        sys.exit("wrong bytes at %d" % at)
for at in range(10 * 4194304, 20 * 4194304, 1048576):
    check(at, 1048576)
time.sleep(1) # the read-ahead lands
for k in (2, 5, 8, 44, 47):
    check(k * 4194304 + 1048576, 65536)
time.sleep(1) # a completion would have started by now
PY
fetched=$(fetched_blocks)
ahead=$(echo "$fetched" | tr ' ' '\n' | awk '$1 >= 20 && $1 < 44' | wc -l)
check "the run had blocks fetched ahead of it ($ahead)" test "$ahead" -ge 8
check "... at most twice the 10 blocks it read, and two" test "$ahead" -le 22
check "... more than half the file on disk ($(echo "$fetched" | wc -w) blocks)" \
	test "$(echo "$fetched" | wc -w)" -gt $((NBLOCKS / 2))
check "... but 15 blocks asked for did not start the completion: block 0 not fetched" \
	sh -c 'case " $0 " in *" 0 "*) exit 1;; esac' "$fetched"
unmount_hubfs || die "unmount failed"

# --- a read across a block boundary fetches both blocks at once: the
# kernel reads around a page fault (512 KiB before it), so a mapping read
# in random order has every piece span two blocks ---
fakehub_ctl POST config '{"cdn_rate": 4194304}' >/dev/null # a block takes a second
mount_hubfs --cache-dir "$T/cache3"
ls "$MNT/hubfs-test/big-model" >/dev/null
fakehub_ctl DELETE log >/dev/null
"$PYTHON" - "$FILE" "$BLOB" <<'PY' || die "the read across blocks 9 and 10 failed"
import os, sys
at = 10 * 4194304 - 524288
fd, ref = os.open(sys.argv[1], os.O_RDONLY), open(sys.argv[2], "rb")
ref.seek(at)
sys.exit(os.pread(fd, 1048576, at) != ref.read(1048576))
PY
ok "1 MiB across the boundary of blocks 9 and 10: the right bytes"
expect_eq "9 10" "$(fetched_blocks)" "... those two blocks fetched"
expect_eq 2 "$(hub_peak host=cdn status=206)" "... at once, not one after the other"
unmount_hubfs || die "unmount failed"

# --- a reader whose last run went on past one block (a mapping read in
# 4 MiB pieces in random order: the kernel reads 1 MiB at a time from
# 512 KiB before the piece to 512 KiB past it) has the block after its
# next run's first read fetched beside it, not a fetch later. The same
# requests as the kernel's, by pread, so that the order is exact ---
fakehub_ctl POST config '{"cdn_rate": 8388608}' >/dev/null # half a second a block
mount_hubfs --cache-dir "$T/cache4"
ls "$MNT/hubfs-test/big-model" >/dev/null
fakehub_ctl DELETE log >/dev/null
second_run=$("$PYTHON" - "$FILE" "$BLOB" <<'PY' || die "the reads in pieces failed"
import os, sys, time
fd, ref = os.open(sys.argv[1], os.O_RDONLY), open(sys.argv[2], "rb")
def piece_reads(block, n):
    for i in range(n):
        at = block * 4194304 - 524288 + i * 1048576
        ref.seek(at)
        if os.pread(fd, 1048576, at) != ref.read(1048576):
            sys.exit("wrong bytes at %d" % at)
piece_reads(10, 6)   # the piece of block 10: a run of 6 MiB
time.sleep(2)        # its read-ahead has ended
print(time.time())
piece_reads(40, 1)   # the next piece's first read: blocks 39 and 40
time.sleep(1.5)      # what it queued beside them has had time to arrive
PY
)
ok "a piece, then the first read of the next piece: the right bytes"
expect_eq "39 40 41" "$(fetched_blocks | tr ' ' '\n' | awk '$1 >= 30' | tr '\n' ' ' | sed 's/ $//')" \
	"... block 41 fetched beside 39 and 40, before any read of it"
expect_eq 3 "$(hub_peak host=cdn status=206 "t>=$second_run")" "... all three at once"
unmount_hubfs || die "unmount failed"
# --- a reader out of order of a wrong file: the end first (a footer), then
# every other block in random order through one open file. Past half, the
# rest comes in the background and its verification runs while the reader
# reads on from disk; the read that leaves nothing of the file unserved
# waits for the verdict and gets EIO. Before, the reads that did not
# reach the last block went on during the verification, and the reader
# could have every byte of the wrong file with success ---
fakehub_ctl POST config '{"cdn_rate": 0}' >/dev/null
for round in 1 2 3; do
	mount_hubfs --cache-dir "$T/cache-wrong-$round"
	ls "$MNT/hubfs-test/big-model" >/dev/null
	fakehub_ctl DELETE log >/dev/null
	# A byte of block 20's answer flipped, whichever reader asks for it.
	fakehub_ctl POST faults "{\"kind\": \"corrupt\", \"host\": \"cdn\", \"glob\": \"/repos/*\", \"offset\": $((20 * BS + 100)), \"count\": 1}" >/dev/null
	got=$("$PYTHON" - "$FILE" "$round" <<'PY'
import os, random, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size, bs = os.fstat(fd).st_size, 4194304
n = (size + bs - 1) // bs
order = [n - 1] + random.Random(int(sys.argv[2])).sample(range(n - 1), n - 1)
def read_block(k):  # all of it: a read cut short by a failed page is asked again
    at, end = k * bs, min(size, (k + 1) * bs)
    while at < end:
        got = os.pread(fd, end - at, at)
        if not got:
            sys.exit("end of file at %d" % at)
        at += len(got)
try:
    for k in order:
        read_block(k)
except OSError as e:
    print("errno %d" % e.errno)
    sys.exit(0)
print("every byte read")
PY
)
	expect_eq "errno 5" "$got" "round $round: a reader of a wrong file, its end first, then the rest out of order, gets EIO"
	unmount_hubfs || die "unmount failed"
done
fakehub_ctl DELETE faults >/dev/null
check "no sanitizer report in the daemon's log" scan_logs "$HUBFS_LOG"
test_done
