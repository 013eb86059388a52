#!/usr/bin/env bash
# Reads through the mount fetch only what they touch: the safetensors
# header costs at most one block, a read in the middle one block; Python's
# open/seek and mmap see the published bytes; a sequential read fetches
# ahead with several range requests; 8 concurrent readers of a cold file
# fetch each block once.
. "$HUBFS_TEST_LIB"
start_mount_with
KEY=model/hubfs-test/tiny-model
M=$MNT/hubfs-test/tiny-model
F=$M/model.safetensors
blob=$(manifest blob $KEY model.safetensors)
size=$(manifest field $KEY model.safetensors size)
BS=4194304
ls "$M" >/dev/null
fakehub_ctl DELETE log >/dev/null

# --- the safetensors header: 8 bytes of length, then JSON ---
hdr=$("$PYTHON" - "$F" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
print(len([k for k in h if k != "__metadata__"]), h["__metadata__"]["format"])
PY
)
check "the safetensors header parses through the mount ($hdr)" test -n "$hdr"
expect_eq 1 "$(hub_count host=cdn method=GET)" "reading the header made one CDN request"
check "... of at most one block" test "$(hub_sum bytes host=cdn)" -le $BS
expect_eq "bytes=0-$((BS - 1))" "$(hub_fields range host=cdn)" "... the first block"
fakehub_ctl DELETE log >/dev/null

# --- a read in the middle: that block only ---
off=$((5 * BS + 12345))
expect_eq "$(dd if="$blob" bs=1 skip=$off count=100 status=none | sha256sum | cut -d' ' -f1)" \
	"$("$PYTHON" -c 'import sys; f=open(sys.argv[1],"rb"); f.seek(int(sys.argv[2])); sys.stdout.buffer.write(f.read(100))' "$F" $off | sha256sum | cut -d' ' -f1)" \
	"Python open/seek/read in the middle gives the published bytes"
expect_eq "bytes=$((5 * BS))-$((6 * BS - 1))" "$(hub_fields range host=cdn)" "... fetching block 5 alone"

# --- mmap ---
expect_eq "$(manifest field $KEY model.safetensors sha256)" \
	"$("$PYTHON" -c 'import hashlib,mmap,sys; f=open(sys.argv[1],"rb"); m=mmap.mmap(f.fileno(),0,access=mmap.ACCESS_READ); print(hashlib.sha256(m).hexdigest())' "$F")" \
	"mmap of the whole file hashes to the published sha256"
fakehub_ctl DELETE log >/dev/null

# --- a cold sequential read fetches ahead, each block once ---
F2=$M/extra/weights.dat
n2=$(( ($(manifest field $KEY extra/weights.dat size) + BS - 1) / BS ))
expect_eq "$(manifest field $KEY extra/weights.dat sha256)" "$(sha256sum <"$F2" | cut -d' ' -f1)" \
	"a sequential read of an LFS file"
expect_eq "$n2" "$(hub_count host=cdn method=GET)" "... fetches each of its $n2 blocks once"
fakehub_ctl DELETE log >/dev/null

# --- 8 concurrent readers of one cold file ---
F3=$M/pytorch_model.bin
want=$(manifest field $KEY pytorch_model.bin sha256)
n3=$(( ($(manifest field $KEY pytorch_model.bin size) + BS - 1) / BS ))
fakehub_ctl POST faults '{"kind": "delay", "seconds": 0.3, "host": "cdn", "glob": "/repos/*", "count": -1}' >/dev/null
pids=
for i in 1 2 3 4 5 6 7 8; do
	(sha256sum <"$F3" | cut -d' ' -f1 >"$T/reader.$i") &
	pids="$pids $!"
done
wait $pids # not a bare wait: the fake Hub and the daemon are children too
fakehub_ctl DELETE faults >/dev/null
for i in 1 2 3 4 5 6 7 8; do
	[ "$(cat "$T/reader.$i")" = "$want" ] || not_ok "reader $i got the right bytes"
done
ok "8 concurrent readers all got the published bytes"
expect_eq "$n3" "$(hub_count host=cdn method=GET)" "... and each of the $n3 blocks was fetched once"

# --- a second read costs nothing ---
cat "$M"/*.json "$M"/*.txt "$F" "$F2" "$F3" >/dev/null
fakehub_ctl DELETE log >/dev/null
cat "$M"/*.json "$M"/*.txt "$F" "$F2" "$F3" >/dev/null
expect_eq "0" "$(hub_count)" "reading cached files again makes no request at all"

# --- a direct read past the end, the read that completes the file: the
# file's bytes and no more (it was answered with the buffer's stale bytes
# beyond the end, a whole page of them, when answered before the hash) ---
SKEY=model/hubfs-test/sharded-model
PNAME=model-00003-of-00003.safetensors
P=$MNT/hubfs-test/sharded-model/$PNAME
psize=$(manifest field $SKEY $PNAME size)
pblob=$(manifest blob $SKEY $PNAME)
tail_page=$((psize / 4096))
ls "$(dirname "$P")" >/dev/null
fakehub_ctl DELETE log >/dev/null
for b in 0 1; do # a page of each block but the last
	dd if="$P" iflag=direct bs=4096 skip=$((b * 1024)) count=1 status=none >/dev/null ||
		die "direct read of block $b"
done
expect_eq 2 "$(hub_count host=cdn method=GET)" "a page of each of its first two blocks: two CDN requests"
dd if="$P" iflag=direct bs=4096 skip=$tail_page count=1 status=none >"$T/tail"
expect_eq 3 "$(hub_count host=cdn method=GET)" "... the last page, the third, which completes the file"
expect_eq $((psize - tail_page * 4096)) "$(stat -c %s "$T/tail")" \
	"a direct read of the last page of $PNAME gives the bytes to its end, no more"
expect_eq "$(dd if="$pblob" bs=4096 skip=$tail_page status=none | sha256sum)" "$(sha256sum <"$T/tail")" \
	"... the published ones"
expect_eq "$(manifest field $SKEY $PNAME sha256)" "$(sha256sum <"$P" | cut -d' ' -f1)" \
	"... and the file reads whole and right after"
finish_mount
