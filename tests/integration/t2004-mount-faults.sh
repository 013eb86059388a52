#!/usr/bin/env bash
# Faults between the Hub and the mount give the right bytes or EIO, never
# wrong bytes: a corrupt byte, a pointer stub, a reset connection, 5xx.
. "$HUBFS_TEST_LIB"
require_fuse
start_fakehub
export HUBFS_MAX_RETRIES=2
mount_hubfs
KEY=model/hubfs-test/tiny-model
R=$MNT/hubfs-test/tiny-model
ls -R "$R" >/dev/null
want() { manifest field $KEY "$1" sha256; }
# read_file PATH: the sha256 of what a full read returned, or "EIO"
read_file() { "$PYTHON" -c 'import errno,hashlib,sys
try:
    print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())
except OSError as e:
    print(errno.errorcode[e.errno])' "$1"; }

# --- one corrupt byte in a git file (one block): refused, then right ---
fault '{"kind": "corrupt", "glob": "/api/resolve-cache/*/config.json", "count": 1}'
expect_eq EIO "$(read_file "$R/config.json")" "a corrupt byte in a small file: EIO, not one byte served"
check "... logged with repo, revision, file and reason" \
	grep -q "model/hubfs-test/tiny-model@main:config.json: refused: the content's git blob sha1 is .*, not $(manifest field $KEY config.json oid)" "$HUBFS_LOG"
expect_eq "$(want config.json)" "$(read_file "$R/config.json")" "... the next read fetches it again and is right"

# --- one corrupt byte in a 2-block LFS file: the whole read fails ---
fault '{"kind": "corrupt", "host": "cdn", "glob": "/repos/*", "count": 1}'
expect_eq EIO "$(read_file "$R/pytorch_model.bin")" "a corrupt byte in a big file: the full read ends in EIO"
check "... logged as a sha256 mismatch" grep -q "pytorch_model.bin: refused: the content's sha256 is" "$HUBFS_LOG"
expect_eq "$(want pytorch_model.bin)" "$(read_file "$R/pytorch_model.bin")" "... and the next read is right"

# --- a pointer stub instead of the content ---
fault '{"kind": "lfs_pointer", "host": "cdn", "glob": "/repos/*", "count": -1}'
expect_eq EIO "$(read_file "$R/extra/weights.dat")" "a pointer stub every time: EIO"
check "... never the stub's text" sh -c '! head -c 200 "$0" 2>/dev/null | grep -q "git-lfs"' "$R/extra/weights.dat"
fakehub_ctl DELETE faults >/dev/null
fault '{"kind": "lfs_pointer", "host": "cdn", "glob": "/repos/*", "count": 1}'
expect_eq "$(want extra/weights.dat)" "$(read_file "$R/extra/weights.dat")" "a pointer stub once: refused, then right"

# --- a reset mid-body and 5xx: right bytes ---
fault '{"kind": "reset", "after_bytes": 1000000, "host": "cdn", "glob": "/repos/*", "count": 2}'
fault '{"kind": "status", "code": 502, "host": "cdn", "glob": "/repos/*", "count": 2}'
expect_eq "$(want model.safetensors)" "$(read_file "$R/model.safetensors")" "resets and 502s: the right bytes"
check "... the faults did happen" test "$(hub_count host=cdn 'fault~*')" -ge 3

# --- 503 for ever: EIO in bounded time ---
fault '{"kind": "status", "code": 503, "glob": "*/tokenizer.json", "count": -1}'
start=$(now_cs)
expect_eq EIO "$(read_file "$R/tokenizer.json")" "503 for ever: EIO"
check "... within seconds" less_than_since "$start" 20
fakehub_ctl DELETE faults >/dev/null
expect_eq "$(want tokenizer.json)" "$(read_file "$R/tokenizer.json")" "... and right once the Hub is well"

# --- a file the Hub no longer has (a squashed history, a deleted repo):
# the read of an open file is EIO, not ENOENT, which Python would raise as
# FileNotFoundError from f.read(); the log keeps the Hub's answer ---
fault '{"kind": "status", "code": 404, "host": "any", "glob": "*/vocab.txt", "method": "GET", "count": -1}'
expect_eq EIO "$(read_file "$R/vocab.txt")" "a 404 for an open file's content: EIO"
check "... and the log says the Hub had no such file" grep -q "tiny-model@main:vocab.txt: read failed: .*\(not found\|404\)" "$HUBFS_LOG"
fakehub_ctl DELETE faults >/dev/null
finish_mount
