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

# --- a read answered before its block was stored, whose fetch then fails the file ---
# Behind a 2 MiB/s CDN a header read is answered once its bytes are in, while
# block 0 goes on arriving for 2 s. Meanwhile another reader stores block 1,
# so block 0's fetch completes the file, and the hash fails there, where no
# request waits for the verdict. It is logged and the file refused all the
# same, and the pages the header read was given are not served again.
mount_hubfs --cache-dir "$T/cache2"
fakehub_ctl POST config '{"cdn_rate": 2097152}' >/dev/null
fakehub_ctl POST faults '{"kind": "corrupt", "host": "cdn", "glob": "/repos/*", "offset": 10, "count": 1}' >/dev/null
head -c 100 "$R/pytorch_model.bin" >"$T/head"
tail -c 100 "$R/pytorch_model.bin" >/dev/null
refused() { [ "$(grep -c "model/hubfs-test/tiny-model@main:pytorch_model.bin: refused: the content's sha256 is" "$HUBFS_LOG")" = 2 ]; }
check "a file failed by the fetch of a read already answered: logged" wait_for 10 refused
fakehub_ctl POST config '{"cdn_rate": 0}' >/dev/null
expect_eq "$(manifest field $KEY pytorch_model.bin sha256)" "$("$PYTHON" "$T/slow.py" "$R/pytorch_model.bin")" \
	"... and the next read is right, the bad page it gave included"
unmount_hubfs
expect_eq 0 "$?" "the daemon exits cleanly"
test_done
