#!/usr/bin/env bash
# When read-ahead completes a file whose hash is wrong, a reader that was
# already served its unverified first block gets EIO, never a whole file
# with a wrong byte (read-ahead, not the reader, met the failure).
. "$HUBFS_TEST_LIB"
start_mount_with
KEY=model/hubfs-test/tiny-model
R=$MNT/hubfs-test/tiny-model
ls "$R" >/dev/null || die "cannot list $R"
# Reads 3 MiB (read-ahead of block 1 starts after 2 MiB), waits for it to
# finish, then reads the rest: prints the sha256, or the errno.
cat >"$T/slow.py" <<'PY'
import errno, hashlib, sys, time
h = hashlib.sha256()
try:
    with open(sys.argv[1], "rb", buffering=0) as f:
        while f.tell() < (3 << 20):
            h.update(f.read(1 << 20))
        time.sleep(1.5)
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    print(h.hexdigest())
except OSError as e:
    print(errno.errorcode[e.errno])
PY
# One flipped byte in block 0 of pytorch_model.bin (2 blocks), once.
fakehub_ctl POST faults '{"kind": "corrupt", "host": "cdn", "glob": "/repos/*", "offset": 10, "count": 1}' >/dev/null
expect_eq EIO "$("$PYTHON" "$T/slow.py" "$R/pytorch_model.bin")" \
	"a slow reader of a file read-ahead found corrupt gets EIO"
check "... logged with repo, revision, file and reason" \
	grep -q "model/hubfs-test/tiny-model@main:pytorch_model.bin: refused: the content's sha256 is" "$HUBFS_LOG"
expect_eq "$(manifest field $KEY pytorch_model.bin sha256)" "$("$PYTHON" "$T/slow.py" "$R/pytorch_model.bin")" \
	"... and the next read is right"
unmount_hubfs
expect_eq 0 "$?" "the daemon exits cleanly"
test_done
