"""huggingface_hub's HfFileSystem (against the fake Hub, HF_ENDPOINT) and the mount agree.

Usage: hffs_agree.py MNT      (driven by t2023-frameworks-hffs.sh)

For whole repos (a model at main and at a tag, a dataset): the same files and folders
(HfFileSystem.find vs os.walk of the mount), the same sizes (and the manifest's), the same
bytes (sha256 of each file read both ways, and the manifest's). From the request log: the
mount fetched each block of every LFS file exactly once, in whole blocks, and the tag (the
same contents) cost it no CDN request; HfFileSystem's own requests are there beside them.
"""

import hashlib
import os
import sys

from huggingface_hub import HfFileSystem

from common import (BS, by_hubfs, check, clear_log, done, expect_eq, fetched_blocks, log_entries,
                    repo_files, settle, sha256_file)

MNT = sys.argv[1]
REPOS = [("model/hubfs-ml/bert-tiny", "hubfs-ml/bert-tiny", "main"),
         ("model/hubfs-ml/bert-tiny", "hubfs-ml/bert-tiny@v1.0", "v1.0"),
         ("dataset/hubfs-ml/parquet-rows", "datasets/hubfs-ml/parquet-rows", "main")]

fs = HfFileSystem(token=False)


def hffs_tree(root):
    files, dirs = {}, set()
    for path, info in fs.find(root, withdirs=True, detail=True).items():
        rel = path[len(root) + 1:]
        if not rel:
            continue
        if info["type"] == "directory":
            dirs.add(rel)
        else:
            files[rel] = info["size"]
    return files, dirs


def mount_tree(root):
    files, dirs = {}, set()
    for top, subdirs, names in os.walk(root):
        rel_top = os.path.relpath(top, root)
        for d in subdirs:
            dirs.add(os.path.normpath(os.path.join(rel_top, d)))
        for n in names:
            rel = os.path.normpath(os.path.join(rel_top, n))
            files[rel] = os.stat(os.path.join(top, n)).st_size
    return files, dirs


def hffs_sha256(path):
    h = hashlib.sha256()
    with fs.open(path, "rb", block_size=BS) as f:
        for chunk in iter(lambda: f.read(BS), b""):
            h.update(chunk)
    return h.hexdigest()


clear_log()
for key, name, rev in REPOS:
    root_mnt = os.path.join(MNT, name)
    root_hf = name        # HfFileSystem's own spelling: datasets/ORG/NAME@REV
    manifest_files = repo_files(key, rev)
    hf_files, hf_dirs = hffs_tree(root_hf)
    mnt_files, mnt_dirs = mount_tree(root_mnt)
    expect_eq(sorted(hf_files), sorted(mnt_files),
              "%s: HfFileSystem and the mount list the same %d files" % (name, len(hf_files)))
    expect_eq(sorted(hf_dirs), sorted(mnt_dirs), "%s: ... and folders %s" % (name, sorted(hf_dirs)))
    expect_eq(hf_files, mnt_files, "%s: ... of the same sizes" % name)
    expect_eq({p: e["size"] for p, e in manifest_files.items()}, mnt_files,
              "%s: ... which are the published sizes" % name)
    before = len(log_entries())
    bad = [p for p in sorted(mnt_files)
           if not hffs_sha256(root_hf + "/" + p) == sha256_file(os.path.join(root_mnt, p))
           == manifest_files[p]["sha256"]]
    expect_eq([], bad, "%s: every file has the same bytes both ways, the published ones" % name)
    if rev == "v1.0":
        new = log_entries()[before:]
        expect_eq(0, len([e for e in new if e["host"] == "cdn" and by_hubfs(e)]),
                  "%s: the mount read the tag's files (same contents) from its cache" % name)

entries = log_entries()
theirs = [e for e in entries if not by_hubfs(e)]
check(any(e["host"] == "hub" and "/tree/" in e["path"] for e in theirs) and
      any(e["host"] == "cdn" for e in theirs),
      "HfFileSystem's own listings and downloads are in the log (ua %s)"
      % sorted({e.get("ua") for e in theirs})[:1])
for key, name, rev in REPOS:
    if rev != "main":
        continue
    for p, e in sorted(repo_files(key).items()):
        if e["lfs"]:
            settle(os.path.join(MNT, name, p), e["sha256"])
            n = (e["size"] + BS - 1) // BS
            expect_eq(set(range(n)), fetched_blocks(e["sha256"], "mount: " + p, e["size"]),
                      "mount: %s: its %d blocks, each once" % (p, n))
done()
