#!/usr/bin/env bash
# A reader lets go of the cache's copy of the blocks it was given whole: the
# kernel holds those bytes in the mount's own pages, and the block files'
# pages leave the page cache once the running hash took them. Without it a
# file read through the mount took its size twice in memory, and in a
# memory cgroup re-reads thrashed (docs/benchmarks.md, a seventeenth
# session). A cold `cat` of the 200 MiB file leaves a small tail of it in
# the block files' pages, and a second `cat` fetches nothing (the kernel's
# pages serve it, and hubfs reads the disk for what reclaim took of them).
# A mapping read in random 4 MiB pieces lets go of the blocks it read whole,
# and is not pushed what the kernel has whole already. A reader of a part of
# a block keeps it in the page cache. These run with --drop-behind always;
# the last section shows auto: where memory has room for both copies of the
# file (here, most likely) nothing is let go, and in a memory cgroup too
# small for them it is.
. "$HUBFS_TEST_LIB"
require_fuse
command -v fincore >/dev/null || skip_all "no fincore (util-linux)"
use_big_data
start_fakehub
KEY=model/hubfs-test/big-model
FILE=hubfs-test/big-model/model.safetensors
WANT=$(manifest field $KEY model.safetensors sha256)
SIZE=$(manifest field $KEY model.safetensors size)
[ "$(stat -f -c %T "$CACHE_DIR")" = tmpfs ] && skip_all "the cache is on tmpfs: its pages are its files"

status_field() { "$HUBFS_BIN" status "$MNT" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# resident [BLOCK...]: bytes of the object's block files (these only) in the page cache
resident() {
	local dir
	dir=$(find "$CACHE_DIR/objects" -type d -name "$WANT")
	if [ $# -eq 0 ]; then
		set -- $(cd "$dir" && ls | sed -n 's/^b//p')
	fi
	(cd "$dir" && fincore -b -n -o RES $(printf 'b%s ' "$@")) | awk '{s += $1} END {print s + 0}'
}

mount_hubfs --cache-dir "$CACHE_DIR" --drop-behind always
expect_eq "$WANT" "$(sha256sum <"$MNT/$FILE" | cut -d' ' -f1)" "a cold cat: the published bytes"
left=$(resident)
# The last blocks stay, never passed by the reader (16-20 MiB here; all of
# it, 200 MiB, before).
check "... the block files keep a tail of it in the page cache ($((left / 1048576)) of $((SIZE / 1048576)) MiB)" \
	test "$left" -le $((SIZE / 4))
cdn=$(hub_count host=cdn)
expect_eq "$WANT" "$(sha256sum <"$MNT/$FILE" | cut -d' ' -f1)" "a second cat: the same bytes"
expect_eq "$cdn" "$(hub_count host=cdn)" "... and nothing fetched again"
unmount_hubfs || die "unmount failed"

# --- a mapping read in random 4 MiB pieces ---
# Each piece is read whole, with the kernel's 512 KiB around it, so every
# block of the file ends up given whole to the kernel: by the piece's own
# reads, or by a push ahead of one. Pushes skip what the kernel has whole,
# and served bytes (reads and pushes) stay near the file's size:
# 209-219 MiB here, and 291-312 MiB before, when every piece pushed the
# four blocks after it, read or not (1.6 times the size for 1 GiB).
# Whether a piece pushes at all is the kernel's: 6.18.44 reads a piece's
# last MiB second (from 4 KiB short of it), the run is then out of order,
# and nothing is pushed; earlier 6.18 kernels read it in order, and runs
# of adjacent pieces pushed. So the pushes are counted, not required.
# The blocks read whole let go of their cache copies, like a cat's: on
# 6.18.44 only since the kernel's pages are counted one by one (fs/given.c),
# for its reads meet inside a 64 KiB chunk.
mount_hubfs --cache-dir "$CACHE_DIR" --drop-behind always
got=$("$PYTHON" -c 'import hashlib, mmap, random, sys
f = open(sys.argv[1], "rb"); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
pieces = list(range(0, len(m), 4 << 20)); random.Random(1).shuffle(pieces)
got = {b: hashlib.sha256(m[b:b + (4 << 20)]).digest() for b in pieces}
print(hashlib.sha256(b"".join(got[b] for b in sorted(got))).hexdigest())' "$MNT/$FILE") ||
	die "cannot map the file"
want=$("$PYTHON" -c 'import hashlib, sys
d = open(sys.argv[1], "rb").read()
print(hashlib.sha256(b"".join(hashlib.sha256(d[b:b + (4 << 20)]).digest()
      for b in range(0, len(d), 4 << 20))).hexdigest())' "$(manifest blob $KEY model.safetensors)")
expect_eq "$want" "$got" "a mapping read in random pieces: every piece's bytes"
served=$(status_field bytes_served)
check "... each byte given to the kernel about once ($((served / 1048576)) MiB served of $((SIZE / 1048576)), $(($(status_field bytes_pushed) / 1048576)) MiB of it pushed)" \
	test "$served" -le $((SIZE + SIZE / 4))
# The cache's copies of blocks read whole go once hashed and written; the
# disk may still be writing the last ones.
for _ in $(seq 50); do
	left=$(resident)
	[ "$left" -le $((SIZE / 2)) ] && break
	sleep 0.1
done
check "... and the block files keep less than half of it in the page cache ($((left / 1048576)) MiB)" \
	test "$left" -le $((SIZE / 2))
unmount_hubfs || die "unmount failed"

# --- a reader out of order keeps what it read ---
mount_hubfs --cache-dir "$CACHE_DIR" --drop-behind always
"$PYTHON" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for b in (30, 10, 20):
    os.pread(fd, 65536, b * 4194304 + 1048576)' "$MNT/$FILE" || die "cannot read the pieces"
for b in 30 10 20; do
	check "a reader out of order: block $b stays in the page cache" test "$(resident $b)" -gt 0
done
unmount_hubfs
expect_eq 0 "$?" "the daemon exits cleanly"

# --- auto: only where memory has no room for both copies ---
# A cold cat in a fresh cache, so that every block is stored anew; the
# room is the daemon's own measure (memory_room_bytes).
# The room is read before and after the cat: the read lets go while it is
# under 2 x 200 MiB and 256 MiB, and has 1 GiB more at both ends.
rm -rf "$CACHE_DIR"
mount_hubfs --cache-dir "$CACHE_DIR"
before=$(status_field memory_room_bytes)
expect_eq "$WANT" "$(sha256sum <"$MNT/$FILE" | cut -d' ' -f1)" "auto: a cold cat, the published bytes"
room=$(status_field memory_room_bytes)
[ "$before" != None ] && [ "$room" != None ] && [ "$before" -lt "$room" ] && room=$before
if [ "$room" != None ] && [ "$room" -gt $((2 * SIZE + (1 << 30))) ]; then
	left=$(resident)
	expect_eq 0 "$(status_field blocks_let_go)" "... with $((room >> 20)) MiB of room: nothing let go"
	check "... the block files stay in the page cache ($((left >> 20)) MiB)" \
		test "$left" -ge $((SIZE * 3 / 4))
else
	say "auto with $room bytes of room: too little to show that nothing is let go"
fi
unmount_hubfs || die "unmount failed"

# The daemon in a memory cgroup of 512 MiB, made below the test's own
# (v1's memory hierarchy, or v2's where the test's cgroup gives its
# children the memory controller): less than both copies of the file and
# 256 MiB.
CG=
v1=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup)
v2=$(awk -F: '$1 == 0 {print $3}' /proc/self/cgroup)
if [ -n "$v1" ] && [ -w "/sys/fs/cgroup/memory${v1%/}/cgroup.procs" ]; then
	CG=/sys/fs/cgroup/memory${v1%/}/hubfs-test.$$ LIMIT_FILE=memory.limit_in_bytes
elif [ -n "$v2" ] && grep -qw memory "/sys/fs/cgroup${v2%/}/cgroup.subtree_control" 2>/dev/null; then
	CG=/sys/fs/cgroup${v2%/}/hubfs-test.$$ LIMIT_FILE=memory.max
fi
if [ -n "$CG" ] && mkdir "$CG" 2>/dev/null; then
	# The daemon keeps the cgroup: unmount (lazily, as _cleanup does, so
	# that a daemon stuck in a request cannot hold us), end it, remove it.
	_cgroup_cleanup() {
		local rc=$?
		if [ -d "$CG" ]; then
			is_mounted && fusermount3 -u -z "$MNT"
			[ -n "$HUBFS_PID" ] && { kill "$HUBFS_PID"; wait "$HUBFS_PID"; }
			HUBFS_PID=
			rmdir "$CG"
		fi
		(exit "$rc")
		_cleanup
	}
	trap _cgroup_cleanup EXIT
	echo $((512 << 20)) >"$CG/$LIMIT_FILE" || die "cannot limit $CG"
	rm -rf "$CACHE_DIR"
	mount_hubfs --cache-dir "$CACHE_DIR"
	echo "$HUBFS_PID" >"$CG/cgroup.procs" || die "cannot move the daemon into $CG"
	expect_eq "$WANT" "$(sha256sum <"$MNT/$FILE" | cut -d' ' -f1)" "auto in a 512 MiB cgroup: the published bytes"
	room=$(status_field memory_room_bytes)
	left=$(resident)
	check "... the room is the cgroup's ($((room >> 20)) MiB)" test "$room" -le $((512 << 20))
	check "... the block copies are let go ($(status_field blocks_let_go) times)" \
		test "$(status_field blocks_let_go)" -gt 0
	check "... and leave the page cache ($((left >> 20)) MiB stay)" test "$left" -le $((SIZE / 4))
	unmount_hubfs || die "unmount failed"
	rmdir "$CG" || say "cannot remove $CG"
else
	say "no memory cgroup to be made here: auto under a limit not shown"
fi
test_done
