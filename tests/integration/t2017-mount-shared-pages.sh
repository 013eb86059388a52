#!/usr/bin/env bash
# Four readers of one file at once share its inode's page cache: each reads
# some pages through hubfs and the rest from pages another read. Under a
# cap too small for them (12 MiB, a 41 MiB file) the running hash loses
# blocks and no verdict comes. With one byte the CDN sends wrong, all four
# readers used to end with that byte and success: none of them had a run
# from the first byte to the end, which the whole-read check asked for
# (fs/ops.c, whole_read_unvouched()). Each must now end in EIO or the
# right sha256, never a wrong one, and a later reader alone reads it right.
. "$HUBFS_TEST_LIB"
use_tiny_model
start_mount_with --max-cache-size 12M --max-streams 4
F=$MNT/$REPO/model.safetensors
WANT=$(manifest field $KEY model.safetensors sha256)
# readers.py FILE SHA256: four whole-file readers at once (128 KiB reads);
# prints one word each: ok, EIO, WRONG or the errno's name.
cat >"$T/readers.py" <<'PY'
import errno, hashlib, sys, threading
path, want = sys.argv[1], sys.argv[2]
out = []
def whole():
    h = hashlib.sha256()
    try:
        with open(path, "rb", buffering=0) as f:
            while True:
                b = f.read(128 << 10)
                if not b:
                    break
                h.update(b)
        out.append("ok" if h.hexdigest() == want else "WRONG")
    except OSError as e:
        out.append(errno.errorcode[e.errno])
ts = [threading.Thread(target=whole) for _ in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
print(" ".join(sorted(out)))
PY
: >"$T/results"
for round in 1 2 3 4 5; do
	fakehub_ctl POST faults "{\"kind\": \"corrupt\", \"host\": \"cdn\", \"glob\": \"*$WANT*\", \"count\": 1}" >/dev/null
	"$PYTHON" "$T/readers.py" "$F" "$WANT" >>"$T/results"
	fakehub_ctl DELETE faults >/dev/null
done
sed 's/^/# readers: /' "$T/results"
check "the CDN did send wrong bytes" test "$(hub_count host=cdn 'fault~corrupt*')" -ge 1
check "no reader of 20 ended with a wrong sha256 and success" sh -c '! grep -q WRONG "$0"' "$T/results"
check "... each ended in EIO or the right sum" sh -c '! grep -Eqv "^((ok|EIO) ?)+$" "$0"' "$T/results"
check "... and the refusals are logged" grep -q "model.safetensors: refused:" "$HUBFS_LOG"
# The readers' reads under way at their refusals may still fetch a block
# each, into the cap the lone reader needs: it starts once they are done.
status_fields() { "$HUBFS_BIN" status "$MNT" --json | "$PYTHON" -c 'import json, sys
s = json.load(sys.stdin); print(s["reads_in_flight"], s["readahead_in_flight"], s["bytes_fetched"])'; }
quiet() { a=$(status_fields); sleep 0.5; b=$(status_fields); [ "$a" = "$b" ] && [ "${a% *}" = "0 0" ]; }
check "the readers' fetches end" wait_for 20 quiet
expect_eq "$WANT" "$(sha256sum <"$F" | cut -d' ' -f1)" "a reader alone then reads it right"
unmount_hubfs
expect_eq 0 "$?" "the daemon exits cleanly"

# --- a footer read keeps no page of the end without a verdict ---
# A read of the end alone (a zip's or a parquet file's footer) is answered
# before any verdict: the file is not all there. Its pages must not stay in
# the page cache: were the verdict lost after, a reader of the whole file
# would find them there, and end with success without asking hubfs, whose
# check of the end (the first section) it would never meet.
mount_hubfs --cache-dir "$T/cache2"
W=$MNT/$REPO/extra/weights.dat
tail -c 100 "$W" >/dev/null || die "cannot read the end of $W"
# fincore: how many of the file's pages the kernel holds (util-linux).
resident() { fincore --bytes --noheadings --output RES "$W" | tr -d ' '; }
if wait_for 5 eval 'test "$(resident)" = 0'; then
	ok "a footer read leaves none of its pages cached"
else
	not_ok "a footer read leaves none of its pages cached: $(resident) bytes stay"
fi
expect_eq "$(manifest field $KEY extra/weights.dat sha256)" "$(sha256sum <"$W" | cut -d' ' -f1)" \
	"... and the whole file after is right"
unmount_hubfs
expect_eq 0 "$?" "the daemon exits cleanly"
test_done
