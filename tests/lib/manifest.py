#!/usr/bin/env python3
"""Answer questions about the fake Hub's manifest from shell tests.

    manifest.py DATA commit REPO [REV]          the commit sha REV names (default: main)
    manifest.py DATA files REPO [REV]           file paths, sorted, one per line
    manifest.py DATA entries REPO [REV]         "path<TAB>type<TAB>size" for files and dirs
    manifest.py DATA field REPO PATH FIELD [REV]  size | sha256 | oid | lfs_oid
    manifest.py DATA blob REPO PATH [REV]       the blob file's path (the content)
    manifest.py DATA total REPO [REV]           "files lfs_files bytes"
    manifest.py DATA tree REPO DIR clone|full   write the files at main into DIR: as a
                                                git clone without Git-LFS has them (LFS
                                                files as pointer stubs), or in full
    manifest.py DATA repos TYPE AUTHOR [anonymous|alice|bob]
                                                the ids of AUTHOR's repos of TYPE (model,
                                                dataset, space) that user may see, sorted:
                                                private ones only for a token that reads them

REPO is a manifest key such as model/hubfs-test/tiny-model. A wide repo's file table is
in a side file (its commits' "files_in"); commit_files() reads it.
"""
import json
import os
import shutil
import sys


def load(data):
    with open(os.path.join(data, "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


def commit_files(data, commit):
    """(files, dirs) of a manifest commit, from its side file when it has one."""
    if "files_in" in commit:
        with open(os.path.join(data, commit["files_in"]), encoding="utf-8") as f:
            side = json.load(f)
        return side["files"], side["dirs"]
    return commit["files"], commit.get("dirs", {})


def visible_repos(man, rtype, author, user):
    readable = set()
    for tok in man["tokens"].values():
        if tok["user"] == user:
            readable = set(tok.get("private") or [])
    return sorted(r["id"] for k, r in man["repos"].items()
                  if r["type"] == rtype and r.get("author") == author
                  and (not r["private"] or k in readable))


def commit_of(repo, rev):
    refs = repo["refs"]
    for kind in ("branches", "tags"):
        if rev in refs.get(kind, {}):
            return refs[kind][rev]
    if rev.startswith("refs/pr/") and rev[8:] in refs.get("pulls", {}):
        return refs["pulls"][rev[8:]]
    if rev in repo["commits"]:
        return rev
    raise SystemExit(f"manifest.py: no revision {rev!r}")


def write_tree(data, repo, out, mode):
    files = commit_files(data, repo["commits"][commit_of(repo, "main")])[0]
    for path, f in files.items():
        dst = os.path.join(out, path)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if f["lfs"] and mode == "clone":
            with open(dst, "w", encoding="ascii") as w:
                w.write("version https://git-lfs.github.com/spec/v1\n"
                        "oid sha256:%s\nsize %d\n" % (f["lfs"]["oid"], f["lfs"]["size"]))
        else:
            shutil.copyfile(os.path.join(data, "blobs", f["sha256"]), dst)


def main(argv):
    if len(argv) < 4:
        raise SystemExit(__doc__)
    data, cmd, key = argv[1], argv[2], argv[3]
    man = load(data)
    if cmd == "repos":
        user = argv[5] if len(argv) > 5 else "anonymous"
        for rid in visible_repos(man, key, argv[4], user):
            print(rid)
        return
    repo = man["repos"][key]
    rest = argv[4:]
    if cmd == "tree":
        write_tree(data, repo, rest[0], rest[1])
        return
    if cmd in ("field",):
        path, field = rest[0], rest[1]
        rev = rest[2] if len(rest) > 2 else "main"
    elif cmd in ("blob",):
        path = rest[0]
        rev = rest[1] if len(rest) > 1 else "main"
    else:
        rev = rest[0] if rest else "main"
    sha = commit_of(repo, rev)
    commit = repo["commits"][sha]
    files, dirs = commit_files(data, commit)
    if cmd == "commit":
        print(sha)
    elif cmd == "files":
        for p in sorted(files):
            print(p)
    elif cmd == "entries":
        for p in sorted(files):
            print(f"{p}\tfile\t{files[p]['size']}")
        for d in sorted(dirs):
            print(f"{d}\tdir\t0")
    elif cmd == "field":
        f = files[path]
        if field == "lfs_oid":
            print(f["lfs"]["oid"] if f.get("lfs") else "")
        else:
            print(f[field])
    elif cmd == "blob":
        print(os.path.join(data, "blobs", files[path]["sha256"]))
    elif cmd == "total":
        lfs = sum(1 for f in files.values() if f.get("lfs"))
        print(len(files), lfs, sum(f["size"] for f in files.values()))
    else:
        raise SystemExit(f"manifest.py: unknown command {cmd!r}")


if __name__ == "__main__":
    main(sys.argv)
