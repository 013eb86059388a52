"""What the framework tests share: assertions in the TAP style of test-lib.sh, the fake
Hub's request log and the 4 MiB blocks a read of a file fetched from the CDN.

The shell test (tests/integration/t202x-frameworks-*.sh) exports HUB_URL, HUB_LOG,
FAKEHUB_DATA and FAKEHUB_ML; the scripts take the mount point as their first argument.
"""

import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from filehash import sha256_file  # noqa: E402  (tests/lib)

BS = 4 * 1024 * 1024          # the cache's block size
HALF_BLOCK = BS // 2          # sequential reading past this starts the mount's read-ahead
FAILURES = 0


def ok(what):
    print("ok - %s" % what, flush=True)


def not_ok(what):
    global FAILURES
    FAILURES += 1
    print("not ok - %s" % what, flush=True)


def check(cond, what):
    (ok if cond else not_ok)(what)
    return cond


def expect_eq(want, got, what):
    if want == got:
        ok(what)
        return True
    not_ok("%s: expected %r, got %r" % (what, want, got))
    return False


def done():
    print("# %s" % ("all checks passed" if not FAILURES else "%d check(s) failed" % FAILURES))
    sys.exit(1 if FAILURES else 0)


# ------------------------------------------------------------------ the fake Hub

def clear_log():
    """Truncate the request log (DELETE /_fake/log)."""
    req = urllib.request.Request(os.environ["HUB_URL"] + "/_fake/log", method="DELETE")
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def log_entries():
    with open(os.environ["HUB_LOG"], encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def manifest():
    with open(os.path.join(os.environ["FAKEHUB_DATA"], "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


def repo_files(key, rev="main"):
    """{path: entry} of a manifest repo at a branch or tag."""
    repo = manifest()["repos"][key]
    refs = repo["refs"]
    sha = refs["branches"].get(rev) or refs["tags"].get(rev) or rev
    return repo["commits"][sha]["files"]


def by_hubfs(e):
    """A request the mount made (not HfFileSystem's, in t2023)."""
    return (e.get("ua") or "").startswith("hubfs/")


def cdn_gets(sha256, entries=None):
    """The mount's CDN GETs of the content with this sha256: [(first, last)] byte ranges."""
    out = []
    for e in entries if entries is not None else log_entries():
        if e["host"] != "cdn" or e["method"] != "GET" or not e["path"].endswith("/" + sha256) \
                or not by_hubfs(e):
            continue
        rng = e.get("range")
        if not rng or not rng.startswith("bytes="):
            out.append((0, None))
            continue
        first, _, last = rng[len("bytes="):].partition("-")
        out.append((int(first), int(last) if last else None))
    return out


def blocks_of_ranges(ranges):
    """Block indices covered by [(first, last)] inclusive byte ranges, in order, with
    repeats (a block fetched twice appears twice)."""
    blocks = []
    for first, last in ranges:
        blocks += range(first // BS, last // BS + 1)
    return blocks


def blocks_of_spans(spans):
    """The set of blocks holding the bytes [begin, end) of each span."""
    out = set()
    for begin, end in spans:
        if end > begin:
            out.update(range(begin // BS, (end - 1) // BS + 1))
    return out


def settle(path, sha256, timeout=10.0):
    """Wait until the request log holds every CDN answer the mount has cached for the file
    at path: the fake Hub writes a log line once the answer is sent, which may be just after
    the reader got its bytes. The mount's own count is user.hubfs.cached; a cold file's
    cached bytes are what the CDN sent for it. Equal once is not enough: a read answered
    before its block was stored leaves that block out of both while its transfer ends (an
    ASan build's CI run counted a column chunk's block in the next step's log), so the two
    must agree twice, 0.3 s apart."""
    import time
    deadline = time.monotonic() + timeout
    agreed = None
    while True:
        cached = int(os.getxattr(path, "user.hubfs.cached"))
        logged = sum(e.get("bytes") or 0 for e in log_entries()
                     if e["host"] == "cdn" and e["path"].endswith("/" + sha256) and by_hubfs(e))
        if cached == logged and agreed == cached or time.monotonic() > deadline:
            return check(cached == logged, "%s: the CDN sent what the mount cached (%d bytes)"
                         % (os.path.basename(path), cached))
        agreed = cached if cached == logged else None
        time.sleep(0.3 if agreed is not None else 0.05)


def fetched_blocks(sha256, what, size):
    """The blocks of a file the CDN served, after checking that each GET asked for whole,
    block-aligned ranges (the last one may end at the end of the file) and that no block
    was fetched twice. Prints the ranges seen."""
    ranges = cdn_gets(sha256)
    print("# %s: CDN ranges %s" % (what, " ".join("%d-%s" % r for r in ranges) or "(none)"))
    aligned = all(last is not None and first % BS == 0 and
                  ((last + 1) % BS == 0 or last == size - 1) for first, last in ranges)
    check(aligned, "%s: every CDN request is for whole 4 MiB blocks" % what)
    blocks = blocks_of_ranges(r for r in ranges if r[1] is not None)
    check(len(blocks) == len(set(blocks)), "%s: no block fetched twice (%s)" % (what, blocks))
    return set(blocks)


# How far from the bytes a reader touches the kernel may read on its own: a page fault
# reads around it (read_ahead_kb of the mount, 1 MiB: half of it before the fault), and
# torch's 2 MiB-aligned mappings are filled 2 MiB at a time.
KERNEL_READ_AROUND = 2 * 1024 * 1024


def widened(spans, size, by=KERNEL_READ_AROUND):
    return [(max(0, b - by), min(size, e + by)) for b, e in spans]


def safetensors_layout(path):
    """(offset of the data, {tensor: (begin, end) in the file}) of a safetensors file."""
    import struct
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return 8 + n, {k: (8 + n + v["data_offsets"][0], 8 + n + v["data_offsets"][1])
                   for k, v in header.items()}


def ml_folder(name):
    """The folder make_ml_repos.py wrote: what the frameworks saved, before any Hub."""
    return os.path.join(os.environ["FAKEHUB_ML"], name)
