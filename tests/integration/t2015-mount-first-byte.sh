#!/usr/bin/env bash
# A reader's first byte does not wait for its whole block: behind a CDN
# that gives each connection 2 MiB/s (a 4 MiB block takes 2 s), a cold
# read of a file's header is answered once its bytes are in, in one
# request for the block, which is stored and verified all the same; so is a
# second reader that finds the block arriving. A read
# of the file's last block still waits for that block (a reader of the
# whole file learns of a wrong hash before its last byte).
. "$HUBFS_TEST_LIB"
require_fuse
use_big_data
start_fakehub --cdn-rate 2M
KEY=model/hubfs-test/big-model
FILE=hubfs-test/big-model/model.safetensors
BLOB=$(manifest blob $KEY model.safetensors)
SIZE=$(manifest field $KEY model.safetensors size)
BS=4194304
mount_hubfs --cache-dir "$T/cache"
ls "$MNT/hubfs-test/big-model" >/dev/null
fakehub_ctl DELETE log >/dev/null

# --- the header: its bytes, long before the block's 2 s ---
header() { "$PYTHON" -c 'import struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
sys.stdout.buffer.write(f.read(n))' "$1"; }
timed header "$MNT/$FILE"
expect_eq 0 "$RC" "a cold header read through the mount"
expect_eq "$(header "$BLOB" | sha256sum)" "$(sha256sum <"$T/out")" "... gives the published header"
check "... within 1 s, not after the block's 2 s ($SECS s)" within 1
# --- a second reader, while that block arrives: answered once its bytes are in ---
# Its read (a page at 512 KiB, and the kernel's read-ahead to 1.5 MiB) finds
# block 0 being fetched for the header and joins that fetch: it gets the bytes
# already written and the rest as they come, not the whole block first.
timed dd if="$MNT/$FILE" bs=4096 skip=128 count=1 status=none
expect_eq "$(dd if="$BLOB" bs=4096 skip=128 count=1 status=none | sha256sum)" \
	"$(sha256sum <"$T/out")" "a read inside the block being fetched: the published bytes"
expect_eq 0 "$(hub_count host=cdn status=206)" "... answered while the block's request still runs"
check "... within 1.5 s, not after the block's 2 s ($SECS s)" within 1.5
status_field() { "$HUBFS_BIN" status "$MNT" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
check "... counted as a read that joined a fetch" test "$(status_field block_fetch_joins)" -ge 1

# The block goes on arriving and is stored: one request, the whole block.
block_stored() { [ "$(hub_count host=cdn status=206)" = 1 ]; }
wait_for 10 block_stored || not_ok "the block's request ended"
expect_eq "bytes=0-$((BS - 1)):$BS" "$(hub_fields range,bytes host=cdn)" \
	"... in one request for block 0, all of it"
fakehub_ctl DELETE log >/dev/null
header "$MNT/$FILE" >/dev/null
expect_eq 0 "$(hub_count host=cdn)" "the header again: from the cache, no request"

# --- the last block: never answered before it is stored ---
timed tail -c 100 "$MNT/$FILE"
expect_eq "$(tail -c 100 "$BLOB" | sha256sum)" "$(sha256sum <"$T/out")" "the file's last bytes"
check "... after their whole block's 2 s ($SECS s)" test "$(echo "$SECS >= 1.8" | bc)" = 1

# --- and the whole file, from a faster CDN: right, each block once ---
fakehub_ctl POST config '{"cdn_rate": 0}' >/dev/null
fakehub_ctl DELETE log >/dev/null
expect_eq "$(manifest field $KEY model.safetensors sha256)" "$(sha256sum <"$MNT/$FILE" | cut -d' ' -f1)" \
	"the whole file, after a header answered early: the published bytes"
expect_eq $(( (SIZE + BS - 1) / BS - 2 )) "$(hub_count host=cdn method=GET)" \
	"... fetching each block but the two cached once"
finish_mount
