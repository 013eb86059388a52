#!/usr/bin/env python3
"""Whole-file readers of a mount against a CDN that flips a byte now and then.

    corrupt_race.py --mount DIR --hub URL --data FAKEHUB_DATA --seconds N [--seed S]

Each round injects one `corrupt` fault (one flipped byte, once) on a random
big LFS file of the fake Hub, drops the files' pages from the kernel's page
cache (every other round), then four threads read whole files at once: that
file and three picked at random. Three read in order (128 KiB reads,
unbuffered); one, picked at random, reads in 4 MiB pieces in random order,
each piece at once (a loader reading tensors in its header's order), ending
with the piece at the file's end, whose read waits for the verdict. A reader
ends one of three ways:

  ok      every byte read, and the sha256 is the published one;
  EIO     the mount refused: a hash failed, or a cap too small for the
          readers at once lost the running hash (documented, and retried by
          the next open);
  WRONG   the read ended with success and a wrong sha256: the mount served
          bytes that no hash vouched for. Never allowed.

others_ok and others_EIO count the readers in order of files other than the
round's victim: their EIO can only be a cap's doing. pieces_ok and pieces_EIO
count the readers in pieces: under a cap of a few blocks their EIO is common
(the running hash needs the blocks in order, and the cap takes them first).

A reader still reading ROUND_LIMIT seconds after its round began is a HANG.
Prints one JSON line of counts; exits 1 on any WRONG, HANG or other error,
else 0. The fake Hub's data must have files over 4 MiB (the tiny model's
three LFS files, or genrepos.py --big-size). Standard library only.

This found readers served wrong bytes under a 12 MiB cap, 887-1,746 a minute
before the fixes of 2026-12-05 (docs/benchmarks.md, a fifteenth session).
"""
import argparse
import hashlib
import json
import os
import random
import sys
import threading
import time
import urllib.request

READERS = 4
READ_SIZE = 128 << 10
PIECE = 4 << 20
ROUND_LIMIT = 120  # s: past --op-timeout's retries, well short of ctest's limit


def big_files(data):
    """(path in the mount, sha256) of every LFS file over 4 MiB on main."""
    manifest = json.load(open(os.path.join(data, "manifest.json")))
    out = []
    for key, repo in sorted(manifest["repos"].items()):
        kind, _, name = key.partition("/")
        if kind != "model":
            continue
        files = repo["commits"][repo["refs"]["branches"]["main"]].get("files", {})
        for path, f in sorted(files.items()):
            if f.get("sha256") and f["size"] > 4 << 20:
                out.append((name + "/" + path, f["sha256"]))
    return out


def control(hub, method, what, body=None):
    req = urllib.request.Request(hub + "/_fake/" + what, method=method,
                                 data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


def drop_pages(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # a refused file's open may fail: the round reports it
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_whole(path, want, out):
    h = hashlib.sha256()
    try:
        with open(path, "rb", buffering=0) as f:
            while True:
                b = f.read(READ_SIZE)
                if not b:
                    break
                h.update(b)
        out.append("ok" if h.hexdigest() == want else "WRONG")
    except OSError as e:
        out.append("EIO" if e.errno == 5 else "errno %d" % e.errno)


def read_pieces(path, want, out, seed):
    """As read_whole(), in 4 MiB pieces in random order, the file's end last."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        out.append("EIO" if e.errno == 5 else "errno %d" % e.errno)
        return
    try:
        size = os.fstat(fd).st_size
        starts = list(range(0, size, PIECE))
        last = starts.pop()
        random.Random(seed).shuffle(starts)
        content = bytearray(size)
        for start in starts + [last]:
            at, end = start, min(start + PIECE, size)
            while at < end:  # a read that fails midway returns what came first
                b = os.pread(fd, end - at, at)
                if not b:
                    raise OSError(0, "the file ends at %d, not %d" % (at, size))
                content[at:at + len(b)] = b
                at += len(b)
        out.append("ok" if hashlib.sha256(content).hexdigest() == want else "WRONG")
    except OSError as e:
        out.append("EIO" if e.errno == 5 else "errno %d" % e.errno)
    finally:
        os.close(fd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mount", required=True)
    ap.add_argument("--hub", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    files = big_files(a.data)
    if not files:
        sys.exit("corrupt_race.py: no LFS file over 4 MiB in %s" % a.data)
    counts = {"rounds": 0, "ok": 0, "EIO": 0, "WRONG": 0, "HANG": 0, "other": 0,
              "others_ok": 0, "others_EIO": 0, "pieces_ok": 0, "pieces_EIO": 0}
    wrong = []
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        counts["rounds"] += 1
        victim = rng.choice(files)
        control(a.hub, "POST", "faults", {"kind": "corrupt", "host": "cdn",
                                          "glob": "/repos/*/" + victim[1], "count": 1})
        picks = [victim] + [rng.choice(files) for _ in range(READERS - 1)]
        # Every other round reads through hubfs from the first page; the
        # rounds between find pages an earlier round left in the kernel's
        # page cache, and read the rest beside them (how 2026-12-05's wrong
        # bytes came).
        if counts["rounds"] % 2:
            for path, _ in picks:
                drop_pages(os.path.join(a.mount, path))
        results = [[] for _ in picks]
        in_pieces = rng.randrange(READERS)
        threads = [threading.Thread(target=read_whole, daemon=True,
                                    args=(os.path.join(a.mount, p), s, r))
                   if i != in_pieces else
                   threading.Thread(target=read_pieces, daemon=True,
                                    args=(os.path.join(a.mount, p), s, r, rng.random()))
                   for i, ((p, s), r) in enumerate(zip(picks, results))]
        deadline = time.monotonic() + ROUND_LIMIT
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for i, ((path, _), r) in enumerate(zip(picks, results)):
            what = r[0] if r else "HANG"
            counts[what if what in counts else "other"] += 1
            if i == in_pieces and what in ("ok", "EIO"):
                counts["pieces_" + what] += 1
            elif path != victim[0] and what in ("ok", "EIO"):
                counts["others_" + what] += 1
            if what not in ("ok", "EIO"):
                wrong.append({"round": counts["rounds"], "path": path, "result": what,
                              "victim": victim[0], "in_pieces": i == in_pieces})
                print("corrupt_race.py: round %d: %s: %s" % (counts["rounds"], path, what),
                      file=sys.stderr, flush=True)
        control(a.hub, "DELETE", "faults")
        if counts["HANG"]:
            break  # the hung threads hold the mount: nothing more to learn
    print(json.dumps(dict(counts, seed=a.seed, bad=wrong[:20])))
    return 1 if counts["WRONG"] or counts["HANG"] or counts["other"] else 0


if __name__ == "__main__":
    sys.exit(main())
