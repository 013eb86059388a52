#!/usr/bin/env python3
"""Fidelity test of the fake Hub with the reference client: run huggingface_hub against it and
compare everything the library reports with the generator's manifest.

    fidelity_py.py --hub URL --data DATA_DIR --log REQUEST_LOG [--expect-fail[=REGEX]]

    --hub URL      the fake Hub's base URL (the "hub" entry of fakehub.py's state file)
    --data DIR     the generator's output: DIR/manifest.json and DIR/blobs/<sha256>
    --log FILE     the fake's request log (to count pages and see who sent a token where)
    --expect-fail  invert the verdict: exit 0 only if a check failed (and, with =REGEX, one
                   failed check's line matches REGEX)

Output: one line per check, "ok   <name>" or "FAIL <name>: ...", "info ..." lines (not
counted), and last "N passed, M failed". Exit 0 all passed, 1 a check failed, 2 set-up error.

The environment must keep the library on loopback and plain HTTP before it is imported:
HF_ENDPOINT=URL, HF_HOME=<temp dir>, HF_HUB_DISABLE_XET=1, HF_HUB_DISABLE_TELEMETRY=1 (the
driver run-fidelity-py.sh sets them; this script refuses to run otherwise).
"""
import argparse
import datetime
import fnmatch
import json
import os
import re
import sys
import tempfile
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from filehash import sha256_file  # noqa: E402  (tests/lib)

# ---------------------------------------------------------------- arguments and environment

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--hub", required=True)
parser.add_argument("--data", required=True)
parser.add_argument("--log", required=True)
parser.add_argument("--expect-fail", nargs="?", const="", default=None, metavar="REGEX")
args = parser.parse_args()
HUB = args.hub.rstrip("/")

for var, want in (("HF_ENDPOINT", HUB), ("HF_HUB_DISABLE_XET", "1"), ("HF_HUB_DISABLE_TELEMETRY", "1")):
    if os.environ.get(var) != want:
        sys.exit(f"fidelity_py.py: set {var}={want} before running (see the docstring)")
if not os.environ.get("HF_HOME"):
    sys.exit("fidelity_py.py: set HF_HOME to a temporary directory")
if urllib.parse.urlsplit(HUB).hostname not in ("127.0.0.1", "localhost", "::1"):
    sys.exit("fidelity_py.py: the hub must be on loopback")

import huggingface_hub  # noqa: E402  (after the environment checks, on purpose)
from huggingface_hub import HfApi, HfFileSystem, hf_hub_download, snapshot_download  # noqa: E402
from huggingface_hub import get_hf_file_metadata, hf_hub_url  # noqa: E402
from huggingface_hub import errors as hf_errors  # noqa: E402

HF_HOME = os.environ["HF_HOME"]
HUB_CACHE = os.path.join(HF_HOME, "hub")
api = HfApi(endpoint=HUB)

# ---------------------------------------------------------------- checks and output

passed = 0
failed = 0
fail_lines = []


def show(v, limit=300):
    s = repr(v)
    return s if len(s) <= limit else s[:limit - 3] + "..."


def ok(name):
    global passed
    passed += 1
    print(f"ok   {name}", flush=True)


def fail(name, detail):
    global failed
    failed += 1
    line = f"FAIL {name}: {detail}"
    fail_lines.append(line)
    print(line, flush=True)


def info(name, detail):
    print(f"info {name}: {detail}", flush=True)


def eq(name, expected, got):
    if expected == got:
        ok(name)
    else:
        fail(name, f"expected {show(expected)}, got {show(got)}")


def truthy(name, cond, detail=""):
    if cond:
        ok(name)
    else:
        fail(name, detail or "condition false")


def many(name, problems, total):
    """A check over many items: one line, with the first few problems."""
    if not problems:
        ok(f"{name} ({total} checked)")
    else:
        shown = "; ".join(problems[:8])
        fail(name, f"{len(problems)} of {total} wrong: {shown}{'; ...' if len(problems) > 8 else ''}")


def same_names(name, want, got):
    """A check that got names exactly the names of want: the missing, then the unexpected."""
    many(name, [f"missing {p!r}" for p in sorted(set(want) - set(got))] +
         [f"unexpected {p!r}" for p in sorted(set(got) - set(want))], len(want))


def in_both(want, got):
    """(path, kind, wanted value, entry got) for each path of want ({path: (kind, value)})
    that got ({path: entry}) has too."""
    return [(p, kind, w, got[p]) for p, (kind, w) in want.items() if p in got]


def size_blob_lfs_problem(path, got, want):
    """What is wrong with the size, blob id and LFS (sha256, size, pointer size) of the
    library's entry got against the manifest's file want, or None."""
    lfs = (want["lfs"]["oid"], want["lfs"]["size"], want["lfs"]["pointerSize"]) if want["lfs"] else None
    got_lfs = (got.lfs.sha256, got.lfs.size, got.lfs.pointer_size) if got.lfs else None
    if (got.size, got.blob_id, got_lfs) == (want["size"], want["oid"], lfs):
        return None
    return (f"{path!r}: size/blob_id/lfs {show((got.size, got.blob_id, got_lfs))}, "
            f"expected {show((want['size'], want['oid'], lfs))}")


def attempt(fn):
    """(value, None) or (None, exception)."""
    try:
        return fn(), None
    except Exception as e:  # noqa: BLE001  (the class is what we check)
        return None, e


def describe(err):
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"


def expect_success(name, value_err):
    value, err = value_err
    if err is not None:
        fail(name, f"expected success, got {describe(err)}")
        return None
    return value


def expect_error(name, value_err, cls):
    """The library must raise exactly cls (not a subclass, not a parent)."""
    value, err = value_err
    label = f"{name} -> {cls.__name__}"
    if err is None:
        fail(label, f"expected {cls.__name__}, got success ({show(value, 120)})")
    elif type(err) is not cls:
        fail(label, f"expected {cls.__name__}, got {describe(err)}")
    else:
        ok(label)


def iso(dt):
    """A datetime as the Hub writes it: 2024-01-02T03:04:05.000Z."""
    if dt is None:
        return None
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        "%03dZ" % (dt.microsecond // 1000)


# ---------------------------------------------------------------- the request log

class RequestLog:
    """The fake's request log, read incrementally: mark() then since(mark)."""

    def __init__(self, path):
        self.path = path

    def entries(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def mark(self):
        return len(self.entries())

    def since(self, mark):
        return self.entries()[mark:]


LOG = RequestLog(args.log)

# ---------------------------------------------------------------- the manifest

try:
    with open(os.path.join(args.data, "manifest.json"), encoding="utf-8") as f:
        MANIFEST = json.load(f)
except OSError as e:
    sys.exit(f"fidelity_py.py: cannot read the manifest: {e}")


def commit_files(commit):
    """(files, dirs) of a manifest commit, from its side file when it has one (wide repos)."""
    if "files_in" in commit:
        with open(os.path.join(args.data, commit["files_in"]), encoding="utf-8") as f:
            side = json.load(f)
        return side["files"], side["dirs"]
    return commit["files"], commit.get("dirs", {})


def blob_path(sha256):
    return os.path.join(args.data, "blobs", sha256)


def blob_bytes(sha256):
    with open(blob_path(sha256), "rb") as f:
        return f.read()


TOKENS = {t["user"]: tok for tok, t in MANIFEST["tokens"].items()}
ALICE, BOB = TOKENS["alice"], TOKENS["bob"]
USERS = {"anonymous": False, "alice": ALICE, "bob": BOB}


class Repo:
    """A manifest repo and its commit at a revision."""

    def __init__(self, key):
        self.key = key
        self.r = MANIFEST["repos"][key]
        self.type = self.r["type"]
        self.id = self.r["id"]
        self.head = self.r["refs"]["branches"][self.r.get("default_branch", "main")]

    def sha_of(self, rev):
        refs = self.r["refs"]
        if rev in refs["branches"]:
            return refs["branches"][rev]
        if rev in refs["tags"]:
            return refs["tags"][rev]
        if rev.startswith("refs/pr/"):
            return refs["pulls"][rev[len("refs/pr/"):]]
        if rev in self.r["commits"]:
            return rev
        raise KeyError(rev)

    def files(self, rev="main"):
        return commit_files(self.r["commits"][self.sha_of(rev)])[0]

    def dirs(self, rev="main"):
        return commit_files(self.r["commits"][self.sha_of(rev)])[1]

    def fs_root(self):
        """The repo's path in HfFileSystem: datasets/ and spaces/ prefixed."""
        return self.id if self.type == "model" else f"{self.type}s/{self.id}"

    def cache_dir(self, hub_cache=HUB_CACHE):
        return os.path.join(hub_cache, f"{self.type}s--" + self.id.replace("/", "--"))


def fresh_cache():
    """An empty cache folder: huggingface_hub answers from its cache when the Hub says no
    (any error of the metadata request, even RepositoryNotFound, falls back to a cached
    copy), so access and pattern checks each start from nothing."""
    return tempfile.mkdtemp(prefix="cache-", dir=HF_HOME)


def token_for(repo):
    """A token that reads the repo's metadata: alice's for private repos, none otherwise."""
    return ALICE if repo.r["private"] else False


# ---------------------------------------------------------------- repo info

def check_repo_info(repo, token):
    who = "alice" if token else "anonymous"
    name = f"{repo.type}_info {repo.id} ({who})"
    getter = {"model": api.model_info, "dataset": api.dataset_info, "space": api.space_info}[repo.type]
    wide = repo.r.get("wide")
    got = expect_success(name, attempt(lambda: getter(repo.id, token=token, files_metadata=not wide)))
    if got is None:
        return
    r = repo.r
    head_commit = r["commits"][repo.head]
    eq(f"{name}: id", repo.id, got.id)
    eq(f"{name}: sha", repo.head, got.sha)
    eq(f"{name}: private", r["private"], got.private)
    eq(f"{name}: gated", r["gated"], got.gated)
    eq(f"{name}: disabled", bool(r.get("disabled")), got.disabled)
    eq(f"{name}: last_modified", head_commit["date"], iso(got.last_modified))
    eq(f"{name}: created_at", r["created_at"], iso(got.created_at))
    eq(f"{name}: author", r.get("author"), got.author)
    eq(f"{name}: tags", r["tags"], got.tags)
    card = got.card_data.to_dict() if got.card_data is not None else None
    eq(f"{name}: card_data", r["card"] or None, card or None)
    if repo.type == "space":
        eq(f"{name}: sdk", r.get("sdk"), got.sdk)
    files = repo.files()
    siblings = {s.rfilename: s for s in got.siblings or []}
    same_names(f"{name}: siblings are the files of main", files, siblings)
    if wide:
        return
    bad = [size_blob_lfs_problem(path, siblings[path], f)
           for path, f in files.items() if path in siblings]
    many(f"{name}: siblings' size, blob_id, lfs (files_metadata=True)", [b for b in bad if b],
         len(files))


# ---------------------------------------------------------------- list_repo_tree

def expected_entries(repo, rev, under="", recursive=True):
    files, dirs = repo.files(rev), repo.dirs(rev)

    def in_scope(p):
        if under:
            if not p.startswith(under + "/"):
                return False
            p = p[len(under) + 1:]
        return p != "" and (recursive or "/" not in p)
    out = {p: ("file", f) for p, f in files.items() if in_scope(p)}
    out.update({p: ("directory", oid) for p, oid in dirs.items() if in_scope(p)})
    return out


def compare_entries(name, want, got_list):
    """got_list: RepoFile / RepoFolder objects from list_repo_tree or get_paths_info."""
    got = {}
    dups = []
    for e in got_list:
        if e.path in got:
            dups.append(f"{e.path!r} twice")
        got[e.path] = e
    many(f"{name}: no duplicate paths", dups, len(got_list))
    same_names(f"{name}: paths", want, got)
    bad = []
    for p, kind, w, e in in_both(want, got):
        if kind == "directory":
            if not isinstance(e, huggingface_hub.hf_api.RepoFolder) or e.tree_id != w:
                bad.append(f"{p!r}: expected folder {w}, got {show(e, 120)}")
            continue
        if not isinstance(e, huggingface_hub.hf_api.RepoFile):
            bad.append(f"{p!r}: expected a file, got {show(e, 120)}")
            continue
        problem = size_blob_lfs_problem(p, e, w)
        if problem:
            bad.append(problem)
    many(f"{name}: types, sizes, blob ids, lfs (sha256, size, pointer_size), tree ids", bad, len(want))


def tree_pages(entries):
    return [e for e in entries if e.get("host") == "hub" and "/tree/" in e.get("path", "")]


def check_tree(repo, rev="main", under="", recursive=True, token=None, min_pages=None):
    token = token_for(repo) if token is None else token
    name = f"list_repo_tree {repo.type} {repo.id}@{rev}{'/' + under if under else ''}" \
           f"{' recursive' if recursive else ''}"
    mark = LOG.mark()
    got = expect_success(name, attempt(lambda: list(api.list_repo_tree(
        repo.id, repo_type=repo.type, revision=rev, path_in_repo=under or None,
        recursive=recursive, token=token))))
    if got is None:
        return
    compare_entries(name, expected_entries(repo, rev, under, recursive), got)
    pages = tree_pages(LOG.since(mark))
    info(name, f"{len(got)} entries in {len(pages)} page(s)")
    if min_pages:
        truthy(f"{name}: followed the Link header over at least {min_pages} pages",
               len(pages) >= min_pages, f"{len(pages)} page(s)")
        truthy(f"{name}: every page after the first carried the Link cursor",
               all("cursor=" in (p.get("query") or "") for p in pages[1:]),
               show([p.get("query") for p in pages]))


# ---------------------------------------------------------------- refs and paths-info

def check_refs(repo):
    name = f"list_repo_refs {repo.type} {repo.id} (include_pull_requests)"
    got = expect_success(name, attempt(lambda: api.list_repo_refs(
        repo.id, repo_type=repo.type, include_pull_requests=True, token=token_for(repo))))
    if got is None:
        return
    refs = repo.r["refs"]
    eq(f"{name}: branches", refs["branches"], {b.name: b.target_commit for b in got.branches})
    eq(f"{name}: branch refs", sorted("refs/heads/" + b for b in refs["branches"]),
       sorted(b.ref for b in got.branches))
    eq(f"{name}: tags", refs["tags"], {t.name: t.target_commit for t in got.tags})
    eq(f"{name}: pull requests", {f"refs/pr/{n}": s for n, s in refs["pulls"].items()},
       {p.ref: p.target_commit for p in got.pull_requests or []})
    if repo.type == "dataset":
        eq(f"{name}: converts", refs.get("converts", {}), {c.name: c.target_commit for c in got.converts})


def check_paths_info(repo, paths, rev="main"):
    name = f"get_paths_info {repo.type} {repo.id}@{rev} {len(paths)} paths"
    got = expect_success(name, attempt(lambda: api.get_paths_info(
        repo.id, paths, repo_type=repo.type, revision=rev, token=token_for(repo))))
    if got is None:
        return
    files, dirs = repo.files(rev), repo.dirs(rev)
    want = {p: ("file", files[p]) if p in files else ("directory", dirs[p])
            for p in paths if p in files or p in dirs}
    compare_entries(name, want, got)
    eq(f"{name}: the paths in request order, missing ones dropped",
       [p for p in paths if p in want], [e.path for e in got])


def check_expanded(repo):
    """Listings with expand: every file's last commit and security status, as
    the library parses them (a fake securityFileStatus without avScan made
    each of these raise KeyError)."""
    files = repo.files()
    name = f"list_repo_tree {repo.type} {repo.id} recursive expand"
    got = expect_success(name, attempt(lambda: list(api.list_repo_tree(
        repo.id, repo_type=repo.type, recursive=True, expand=True, token=token_for(repo)))))
    if got is not None:
        compare_entries(name, expected_entries(repo, "main", "", True), got)
        many(f"{name}: a last commit on every entry, a safe status on every file",
             [e.path for e in got if e.last_commit is None or
              (e.path in files and not getattr(e.security, "safe", False))], len(got))
    paths = sorted(files)[:3]
    name = f"get_paths_info {repo.type} {repo.id} expand"
    got = expect_success(name, attempt(lambda: api.get_paths_info(
        repo.id, paths, repo_type=repo.type, expand=True, token=token_for(repo))))
    if got is not None:
        eq(f"{name}: the paths", paths, [e.path for e in got])
        truthy(f"{name}: each with its last commit", all(e.last_commit for e in got))
    fs = HfFileSystem(endpoint=HUB, token=token_for(repo))
    name = f"HfFileSystem.modified {repo.id}/{paths[0]}"
    got = expect_success(name, attempt(lambda: fs.modified(f"{repo.fs_root()}/{paths[0]}")))
    if got is not None:
        truthy(f"{name}: a date", hasattr(got, "year"), show(got))


# ---------------------------------------------------------------- repo lists

def visible_repos(rtype, author, user):
    readable = set()
    if user != "anonymous":
        readable = set(MANIFEST["tokens"][USERS[user]].get("private") or [])
    return {r["id"]: r for k, r in MANIFEST["repos"].items()
            if r["type"] == rtype and r.get("author") == author
            and (not r["private"] or k in readable)}


def check_repo_list(rtype, author, user):
    name = f"list_{rtype}s author={author} ({user})"
    lister = {"model": api.list_models, "dataset": api.list_datasets, "space": api.list_spaces}[rtype]
    expand = ["sha", "lastModified", "private", "disabled"] + (["gated"] if rtype != "space" else [])
    mark = LOG.mark()
    got = expect_success(name, attempt(lambda: list(lister(author=author, expand=expand,
                                                           token=USERS[user]))))
    if got is None:
        return
    want = visible_repos(rtype, author, user)
    ids = [e.id for e in got]
    many(f"{name}: ids", [f"missing {i!r}" for i in sorted(set(want) - set(ids))] +
         [f"unexpected {i!r}" for i in sorted(set(ids) - set(want))] +
         [f"{i!r} twice" for i in sorted({i for i in ids if ids.count(i) > 1})], len(want))
    bad = []
    for e in got:
        w = want.get(e.id)
        if w is None:
            continue
        head = w["refs"]["branches"][w.get("default_branch", "main")]
        facts = {"sha": (head, e.sha), "private": (w["private"], e.private),
                 "last_modified": (w["commits"][head]["date"], iso(e.last_modified)),
                 "disabled": (bool(w.get("disabled")), e.disabled)}
        if rtype != "space":
            facts["gated"] = (w["gated"], e.gated)
        bad += [f"{e.id}: {k} {show(g)}, expected {show(x)}" for k, (x, g) in facts.items() if x != g]
    many(f"{name}: sha, private, gated, disabled, last_modified of each", bad, len(got))
    pages = [q for q in LOG.since(mark) if q.get("path") == f"/api/{rtype}s"]
    if len(want) > 1000:
        truthy(f"{name}: {len(want)} repos over several pages, following Link with a cursor",
               len(pages) >= 2 and all("cursor=" in (q.get("query") or "") for q in pages[1:]),
               show([q.get("query") for q in pages]))
        info(name, f"{len(want)} repos in {len(pages)} page(s)")
    if user != "anonymous" and pages:
        truthy(f"{name}: the token went with every page", all(q.get("auth") for q in pages),
               show([q.get("auth") for q in pages]))


# ---------------------------------------------------------------- downloads

def check_download(label, repo, path, rev="main", token=False, subfolder=None, expect_sha=None):
    """hf_hub_download of one file: its bytes, the cache's layout (snapshot named by the
    commit, the ref file for a named revision, the blob named by the etag) and the metadata."""
    name = f"hf_hub_download {label}"
    full = f"{subfolder}/{path}" if subfolder else path
    sha = expect_sha or repo.sha_of(rev)
    f = commit_files(repo.r["commits"][sha])[0][full]
    local = expect_success(name, attempt(lambda: hf_hub_download(
        repo.id, path, subfolder=subfolder, repo_type=repo.type, revision=rev, token=token)))
    if local is None:
        return
    eq(f"{name}: bytes (sha256)", f["sha256"], sha256_file(local))
    eq(f"{name}: snapshot folder named by the commit (X-Repo-Commit)",
       os.path.join(repo.cache_dir(), "snapshots", sha, full), local)
    if rev != sha:
        ref_file = os.path.join(repo.cache_dir(), "refs", rev)
        got_ref = open(ref_file).read() if os.path.exists(ref_file) else None
        eq(f"{name}: refs/{rev} holds the commit", sha, got_ref)
    etag = f["lfs"]["oid"] if f["lfs"] else f["oid"]
    eq(f"{name}: blob named by the etag (X-Linked-Etag: {'sha256' if f['lfs'] else 'git sha1'})",
       os.path.join(repo.cache_dir(), "blobs", etag), os.path.realpath(local))
    meta = expect_success(f"{name}: get_hf_file_metadata", attempt(lambda: get_hf_file_metadata(
        hf_hub_url(repo.id, full, repo_type=repo.type, revision=rev), token=token)))
    if meta is None:
        return
    eq(f"{name}: metadata commit_hash", sha, meta.commit_hash)
    eq(f"{name}: metadata etag", etag, meta.etag)
    eq(f"{name}: metadata size (X-Linked-Size for LFS)", f["size"], meta.size)
    on_cdn = urllib.parse.urlsplit(meta.location).netloc != urllib.parse.urlsplit(HUB).netloc
    eq(f"{name}: metadata location on the CDN exactly for LFS files", bool(f["lfs"]), on_cdn)


def check_snapshot(label, repo, allow=None, ignore=None):
    name = f"snapshot_download {label}"
    cache = fresh_cache()
    folder = expect_success(name, attempt(lambda: snapshot_download(
        repo.id, repo_type=repo.type, allow_patterns=allow, ignore_patterns=ignore,
        token=token_for(repo), max_workers=4, cache_dir=cache)))
    if folder is None:
        return
    eq(f"{name}: folder named by the commit", os.path.join(repo.cache_dir(cache), "snapshots", repo.head),
       folder)

    def wanted(p):
        def matches(patterns):
            patterns = [patterns] if isinstance(patterns, str) else patterns
            return any(fnmatch.fnmatch(p, q + "*" if q.endswith("/") else q) for q in patterns)
        return (allow is None or matches(allow)) and (ignore is None or not matches(ignore))
    files = repo.files()
    want = {p for p in files if wanted(p)}
    got = set()
    for root, _, names in os.walk(folder):
        for n in names:
            got.add(os.path.relpath(os.path.join(root, n), folder))
    same_names(f"{name}: exactly the matching files", want, got)
    bad = [p for p in sorted(want & got) if sha256_file(os.path.join(folder, p)) != files[p]["sha256"]]
    many(f"{name}: bytes (sha256)", [f"{p!r} differs" for p in bad], len(want & got))
    truthy(f"{name}: at least one file matched (the patterns are not vacuous)", len(want) > 0,
           "no file of the manifest matches")


# ---------------------------------------------------------------- HfFileSystem

def check_filesystem(repo, token=False):
    fs = HfFileSystem(endpoint=HUB, token=token, skip_instance_cache=True)
    root = repo.fs_root()
    files, dirs = repo.files(), repo.dirs()
    name = f"HfFileSystem {root}"

    def compare_ls(under):
        label = f"{name}: ls {under or '/'}"
        got = expect_success(label, attempt(lambda: fs.ls(f"{root}/{under}".rstrip("/"), detail=True)))
        if got is None:
            return
        want = expected_entries(repo, "main", under, recursive=False)
        got_map = {e["name"][len(root) + 1:]: e for e in got}
        same_names(f"{label}: names", want, got_map)
        bad = []
        for p, kind, w, e in in_both(want, got_map):
            if kind == "directory":
                if e["type"] != "directory" or e.get("tree_id") != w:
                    bad.append(f"{p!r}: {show(e, 120)}")
            elif (e["type"], e["size"], e.get("blob_id"), (e.get("lfs") or {}).get("sha256")) != \
                    ("file", w["size"], w["oid"], w["lfs"]["oid"] if w["lfs"] else None):
                bad.append(f"{p!r}: {show(e, 160)}")
        many(f"{label}: type, size, blob_id, lfs sha256, tree_id", bad, len(want))

    compare_ls("")
    for d in sorted(d for d in dirs if "/" not in d)[:2]:
        compare_ls(d)

    # glob: every .json file at any depth.
    label = f"{name}: glob **/*.json"
    got = expect_success(label, attempt(lambda: fs.glob(f"{root}/**/*.json")))
    if got is not None:
        want = sorted(f"{root}/{p}" for p in files if p.endswith(".json"))
        eq(label, want, sorted(got))

    # info of a file and of a folder.
    some_file = sorted(files, key=lambda p: (not files[p]["lfs"], p))[0]
    label = f"{name}: info {some_file}"
    got = expect_success(label, attempt(lambda: fs.info(f"{root}/{some_file}")))
    if got is not None:
        f = files[some_file]
        eq(f"{label} (type, size, blob_id)", ("file", f["size"], f["oid"]),
           (got["type"], got["size"], got.get("blob_id")))
    if dirs:
        some_dir = sorted(dirs)[0]
        label = f"{name}: info {some_dir}/"
        got = expect_success(label, attempt(lambda: fs.info(f"{root}/{some_dir}")))
        if got is not None:
            eq(f"{label} (type, tree_id)", ("directory", dirs[some_dir]), (got["type"], got.get("tree_id")))

    # open: seek and ranged reads of the biggest LFS file and of a regular file.
    regular = sorted((p for p in files if not files[p]["lfs"] and files[p]["size"] > 64), key=len)
    lfs = sorted((p for p in files if files[p]["lfs"]), key=lambda p: -files[p]["size"])
    for path in (regular[:1] + lfs[:1]):
        f = files[path]
        content = blob_bytes(f["sha256"])
        size = f["size"]
        label = f"{name}: open {path} ({'LFS' if f['lfs'] else 'regular'}, {size} bytes)"

        def reads():
            out = []
            with fs.open(f"{root}/{path}", "rb", block_size=1 << 16) as h:
                for offset, length in ((0, 16), (size // 2, 4096), (size - 10, 10),
                                       (size - 5, 100), (7, 1)):
                    h.seek(offset)
                    out.append((offset, length, h.read(length), h.tell()))
                h.seek(-3, os.SEEK_END)
                out.append(("end-3", 3, h.read(), h.tell()))
            return out
        got = expect_success(label, attempt(reads))
        if got is None:
            continue
        bad = []
        for offset, length, data, pos in got:
            start = size - 3 if offset == "end-3" else offset
            want = content[start:start + length]
            if data != want or pos != start + len(want):
                bad.append(f"seek {offset} read {length}: {len(data)} bytes, tell {pos}"
                           f"{'' if data == want else ', wrong bytes'}")
        many(f"{label}: seek + read", bad, len(got))
        # A ranged read straight through the filesystem (HTTP Range on the resolve URL).
        a, b = size // 3, size // 3 + 1000
        got = expect_success(f"{label}: read_block", attempt(lambda: fs.read_block(
            f"{root}/{path}", a, b - a)))
        if got is not None:
            eq(f"{label}: read_block({a}, {b - a}) bytes", content[a:b], got)


# ---------------------------------------------------------------- access and errors

def check_access_and_errors():
    tiny = Repo("model/hubfs-test/tiny-model")
    private = Repo("model/hubfs-test/private-model")
    gated = Repo("model/hubfs-test/gated-model")
    E = hf_errors

    for user, token in USERS.items():
        if user == "alice":
            check_repo_info(private, ALICE)
            check_download(f"private {private.id} config.json (alice)", private, "config.json", token=ALICE)
        else:
            expect_error(f"model_info {private.id} ({user})",
                         attempt(lambda: api.model_info(private.id, token=token)), E.RepositoryNotFoundError)
            expect_error(f"hf_hub_download {private.id} config.json ({user})",
                         attempt(lambda: hf_hub_download(private.id, "config.json", token=token,
                                                           cache_dir=fresh_cache())),
                         E.RepositoryNotFoundError)
            expect_error(f"list_repo_tree {private.id} ({user})",
                         attempt(lambda: list(api.list_repo_tree(private.id, token=token))),
                         E.RepositoryNotFoundError)
        # Gated: metadata open to all, file contents to approved users only.
        got = expect_success(f"model_info {gated.id} ({user}): metadata readable",
                             attempt(lambda: api.model_info(gated.id, token=token)))
        if got is not None:
            eq(f"model_info {gated.id} ({user}): gated", gated.r["gated"], got.gated)
        got = expect_success(f"list_repo_tree {gated.id} ({user}): readable",
                             attempt(lambda: list(api.list_repo_tree(gated.id, token=token))))
        if got is not None:
            eq(f"list_repo_tree {gated.id} ({user}): paths",
               sorted(p for p in gated.files() if "/" not in p), sorted(e.path for e in got))
        if user == "alice":
            check_download(f"gated {gated.id} model.safetensors (alice)", gated, "model.safetensors",
                           token=ALICE)
        else:
            expect_error(f"hf_hub_download {gated.id} config.json ({user})",
                         attempt(lambda: hf_hub_download(gated.id, "config.json", token=token,
                                                           cache_dir=fresh_cache())),
                         E.GatedRepoError)
            expect_error(f"HfFileSystem open {gated.id}/model.safetensors ({user})",
                         attempt(lambda: HfFileSystem(endpoint=HUB, token=token, skip_instance_cache=True)
                                 .open(f"{gated.id}/model.safetensors", "rb").read(10)),
                         E.GatedRepoError)

    # A repo that does not exist, anonymously and with a token.
    for user in ("anonymous", "bob"):
        token = USERS[user]
        expect_error(f"model_info hubfs-test/no-such-repo ({user})",
                     attempt(lambda: api.model_info("hubfs-test/no-such-repo", token=token)),
                     E.RepositoryNotFoundError)
        expect_error(f"hf_hub_download hubfs-test/no-such-repo ({user})",
                     attempt(lambda: hf_hub_download("hubfs-test/no-such-repo", "config.json", token=token)),
                     E.RepositoryNotFoundError)
        expect_error(f"dataset_info hubfs-test/tiny-model (a model asked as a dataset, {user})",
                     attempt(lambda: api.dataset_info("hubfs-test/tiny-model", token=token)),
                     E.RepositoryNotFoundError)
    # Missing revision and file.
    expect_error(f"hf_hub_download {tiny.id}@no-such-branch",
                 attempt(lambda: hf_hub_download(tiny.id, "config.json", revision="no-such-branch", token=False)),
                 E.RevisionNotFoundError)
    expect_error(f"model_info {tiny.id}@no-such-branch",
                 attempt(lambda: api.model_info(tiny.id, revision="no-such-branch", token=False)),
                 E.RevisionNotFoundError)
    expect_error(f"list_repo_tree {tiny.id}@{'0' * 40}",
                 attempt(lambda: list(api.list_repo_tree(tiny.id, revision="0" * 40, token=False))),
                 E.RevisionNotFoundError)
    expect_error(f"hf_hub_download {tiny.id} no-such-file.txt",
                 attempt(lambda: hf_hub_download(tiny.id, "no-such-file.txt", token=False)),
                 E.RemoteEntryNotFoundError)
    no_exist = os.path.join(tiny.cache_dir(), ".no_exist", tiny.head, "no-such-file.txt")
    truthy(f"hf_hub_download {tiny.id} no-such-file.txt: .no_exist/<commit>/<path> written "
           "(the 404 carried X-Repo-Commit)", os.path.exists(no_exist), f"no {no_exist}")
    expect_error(f"list_repo_tree {tiny.id} no-such-folder",
                 attempt(lambda: list(api.list_repo_tree(tiny.id, path_in_repo="no-such-folder", token=False))),
                 E.RemoteEntryNotFoundError)
    expect_error("HfFileSystem info of a missing file",
                 attempt(lambda: HfFileSystem(endpoint=HUB, token=False, skip_instance_cache=True)
                         .info(f"{tiny.id}/no-such-file.txt")), FileNotFoundError)
    # An invalid token: 401 with "Invalid credentials in Authorization header".
    _, err = attempt(lambda: api.model_info(tiny.id, token="hf_not_a_real_token_000000000000000"))
    truthy("model_info with an invalid token -> HfHubHTTPError 401 (not RepositoryNotFoundError)",
           type(err) is E.HfHubHTTPError and getattr(err.response, "status_code", None) == 401,
           describe(err) if err else "success")

    # A disabled repo: 403 "Access to this resource is disabled." everywhere.
    disabled = [Repo(k) for k, r in MANIFEST["repos"].items() if r.get("disabled")]
    truthy("the manifest has a disabled repo", bool(disabled), "none: genrepos.py too old?")
    for repo in disabled:
        for user in ("anonymous", "alice"):
            token = USERS[user]
            expect_error(f"model_info {repo.id} (disabled, {user})",
                         attempt(lambda: api.model_info(repo.id, token=token)), E.DisabledRepoError)
            # hf_hub_download re-raises only repo-not-found, gated and 401 errors of its
            # metadata request as they are; anything else, a DisabledRepoError too, becomes
            # "not in the local cache either", raised from the real error.
            label = f"hf_hub_download {repo.id} config.json (disabled, {user})"
            _, err = attempt(lambda: hf_hub_download(repo.id, "config.json", token=token,
                                                     cache_dir=fresh_cache()))
            truthy(f"{label} -> LocalEntryNotFoundError from DisabledRepoError",
                   type(err) is E.LocalEntryNotFoundError and type(err.__cause__) is E.DisabledRepoError,
                   f"got {describe(err) if err else 'success'}, cause "
                   f"{describe(err.__cause__) if err is not None and err.__cause__ else None}")
            expect_error(f"list_repo_tree {repo.id} (disabled, {user})",
                         attempt(lambda: list(api.list_repo_tree(repo.id, token=token))),
                         E.DisabledRepoError)


# ---------------------------------------------------------------- retries and resume

def inject_fault(fault):
    req = urllib.request.Request(HUB + "/_fake/faults", data=json.dumps(fault).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def check_retries():
    """What the library does when the fake misbehaves once: the fake's faults must look to
    it like the real failures it was written for (each fault answers once, count 1)."""
    sharded = Repo("model/hubfs-test/sharded-model")
    files = sharded.files()
    shards = sorted(p for p in files if files[p]["lfs"])
    if len(shards) < 3:
        fail("retry: sharded-model has three LFS shards", f"got {shards}")
        return

    def run(label, path, fault, judge, repo=sharded):
        f = repo.files()[path]
        fault = dict(fault, count=1)
        if fault["host"] == "cdn":
            fault["glob"] = f"*{f['sha256']}*"
        else:
            fault["glob"] = f"/{repo.id}/resolve/main/{path}"
        inject_fault(fault)
        mark = LOG.mark()
        local = expect_success(label, attempt(lambda: hf_hub_download(
            repo.id, path, token=False, cache_dir=fresh_cache())))
        if local is None:
            return
        eq(f"{label}: bytes (sha256)", f["sha256"], sha256_file(local))
        cdn = [e for e in LOG.since(mark) if e.get("host") == "cdn" and f["sha256"] in e.get("path", "")]
        heads = [e for e in LOG.since(mark) if e.get("host") == "hub" and e.get("method") == "HEAD"]
        judge(label, cdn, heads, f)

    def resumed(label, cdn, heads, f):
        truthy(f"{label}: the first CDN answer was cut by the fault",
               len(cdn) >= 1 and cdn[0].get("fault") == "stall", show(cdn[:1]))
        m = re.fullmatch(r"bytes=(\d+)-", (cdn[1].get("range") or "") if len(cdn) > 1 else "")
        truthy(f"{label}: then resumed with Range: bytes=<the 10 MiB written>-",
               m is not None and int(m.group(1)) == 10 << 20 and cdn[1]["status"] == 206,
               show([(e.get("range"), e.get("status")) for e in cdn]))
    # A connection closed early (FIN) is resumed from what was written, in 10 MiB chunks: cut
    # a file over 10 MiB after 12 MiB. A TCP reset would not be resumed: httpx calls it
    # ReadError, which the library does not catch (README).
    tiny = Repo("model/hubfs-test/tiny-model")
    run(f"retry: hf_hub_download {tiny.id} model.safetensors after the CDN closed the connection mid-body",
        "model.safetensors", {"kind": "stall", "host": "cdn", "after_bytes": 12 << 20, "seconds": 0.2},
        resumed, repo=tiny)

    def retried_429(label, cdn, heads, f):
        truthy(f"{label}: a 429 from the CDN, then the whole file again (200)",
               [e.get("status") for e in cdn] == [429, 200], show([e.get("status") for e in cdn]))
    run(f"retry: hf_hub_download {sharded.id} {shards[1]} after a 429 from the CDN",
        shards[1], {"kind": "rate_limit", "host": "cdn", "reset_seconds": 1, "retry_after": True},
        retried_429)

    def retried_head(label, cdn, heads, f):
        truthy(f"{label}: the metadata HEAD asked again after the 503 (nothing cached)",
               [e.get("status") for e in heads] == [503, 302], show([e.get("status") for e in heads]))
    run(f"retry: hf_hub_download {sharded.id} {shards[2]} after a 503 on the metadata HEAD",
        shards[2], {"kind": "status", "host": "hub", "method": "HEAD", "code": 503}, retried_head)


# ---------------------------------------------------------------- who sent a token where

def check_token_never_reaches_cdn(mark):
    entries = LOG.since(mark)
    cdn = [e for e in entries if e.get("host") == "cdn"]
    authed_cdn = [e for e in cdn if e.get("auth")]
    authed_hub_resolves = [e for e in entries if e.get("host") == "hub" and e.get("auth")
                           and "/resolve/" in e.get("path", "") and e.get("status") in (301, 302, 307)]
    truthy("the token reached the Hub's resolve redirects (authenticated downloads happened)",
           len(authed_hub_resolves) > 0, "no authenticated resolve in the log")
    truthy(f"the token never reached the CDN ({len(cdn)} CDN requests, the library drops "
           "Authorization on the cross-host redirect)", not authed_cdn,
           show([(e["method"], e["path"]) for e in authed_cdn[:5]]))
    info("request log", f"{len(entries)} requests; {len(cdn)} on the CDN; "
         f"{len(authed_hub_resolves)} authenticated resolve redirects on the Hub")


# ---------------------------------------------------------------- main

def main():
    mark = LOG.mark()
    info("huggingface_hub", f"{huggingface_hub.__version__} against {HUB}, cache {HUB_CACHE}")
    keys = sorted(MANIFEST["repos"])
    bulk_sample = {"model/bulk-org/model-0000", "dataset/bulk-org/data-0"}
    plain = [Repo(k) for k in keys if not MANIFEST["repos"][k].get("disabled")
             and (not MANIFEST["repos"][k].get("bulk") or k in bulk_sample)]
    tiny = Repo("model/hubfs-test/tiny-model")
    big = Repo("dataset/hubfs-test/big-dataset")
    wide = Repo("dataset/hubfs-test/wide-dataset")

    # --- repo info of every repo (private ones with alice's token)
    for repo in plain:
        check_repo_info(repo, token_for(repo))

    # --- trees: every repo recursive (the wide one: one 50,000-file folder), revisions, folders
    for repo in plain:
        if repo is wide or repo.r.get("wide"):
            continue
        check_tree(repo, min_pages=2 if len(repo.files()) > 1000 else None)
    check_tree(wide, under="data/big", recursive=True, min_pages=50)
    check_tree(wide, under="data/parts/p-007", recursive=False)
    check_tree(tiny, recursive=False)
    check_tree(tiny, under="extra")
    for rev in list(tiny.r["refs"]["branches"]) + list(tiny.r["refs"]["tags"]) + \
            [f"refs/pr/{n}" for n in tiny.r["refs"]["pulls"]] + [tiny.sha_of("v1.0")]:
        check_tree(tiny, rev=rev)
    for rev in big.r["refs"]["tags"]:
        check_tree(big, rev=rev, min_pages=2)
    check_tree(big, under="data", recursive=False)

    # --- refs (with PRs) and paths-info
    for repo in plain:
        check_refs(repo)
    check_paths_info(tiny, ["config.json", "extra", "model.safetensors", "no-such-file",
                            "extra/weights.dat", ".gitattributes", "empty.txt"])
    check_paths_info(tiny, ["config.json", "model.safetensors"], rev="v1.0")
    check_paths_info(big, sorted(big.files())[:40] + sorted(big.dirs())[:5])
    check_expanded(tiny)

    # --- repo lists: every namespace, every type, as each user sees it
    namespaces = sorted({r.get("author") for r in MANIFEST["repos"].values() if r.get("author")})
    for author in namespaces:
        for rtype in ("model", "dataset", "space"):
            for user in USERS:
                check_repo_list(rtype, author, user)

    # --- hf_hub_download
    lfs_small = min((p for p, f in tiny.files().items() if f["lfs"]), key=lambda p: tiny.files()[p]["size"])
    check_download(f"{tiny.id} config.json (regular)", tiny, "config.json")
    check_download(f"{tiny.id} empty.txt (0 bytes)", tiny, "empty.txt")
    check_download(f"{tiny.id} {lfs_small} (LFS)", tiny, lfs_small)
    check_download(f"{tiny.id} model.safetensors (LFS, alice's token)", tiny, "model.safetensors", token=ALICE)
    for branch in (b for b in tiny.r["refs"]["branches"] if "/" in b):
        check_download(f"{tiny.id}@{branch} config.json", tiny, "config.json", rev=branch)
    for n in tiny.r["refs"]["pulls"]:
        check_download(f"{tiny.id}@refs/pr/{n} config.json", tiny, "config.json", rev=f"refs/pr/{n}")
    for tag in tiny.r["refs"]["tags"]:
        check_download(f"{tiny.id}@{tag} config.json", tiny, "config.json", rev=tag)
        check_download(f"{tiny.id}@{tag} model.safetensors (LFS)", tiny, "model.safetensors", rev=tag)
    old = tiny.sha_of("v1.0")
    check_download(f"{tiny.id}@<sha of v1.0> README.md", tiny, "README.md", rev=old)
    check_download(f"{tiny.id} subfolder=extra weights.dat (LFS)", tiny, "weights.dat", subfolder="extra")
    check_download(f"{big.id} README.md", big, "README.md")
    parquet = sorted(p for p, f in big.files().items() if f["lfs"])[:1]
    for p in parquet:
        check_download(f"{big.id} {p} (LFS)", big, p)
    odd = Repo("dataset/hubfs-test/odd-names")
    for p in sorted(odd.files()):
        if ":" in p:  # the library refuses it before asking (a Windows drive-path guard)
            expect_error(f"hf_hub_download {odd.id} {p!r} (refused by the library itself)",
                         attempt(lambda: hf_hub_download(odd.id, p, repo_type="dataset", token=False)),
                         ValueError)
        else:
            check_download(f"{odd.id} {p!r}", odd, p)
    space = Repo("space/hubfs-test/demo-space")
    check_download(f"{space.id} app.py", space, "app.py")

    # --- snapshot_download with patterns
    check_snapshot(f"{tiny.id} allow *.json", tiny, allow=["*.json"])
    check_snapshot(f"{tiny.id} ignore *.safetensors, *.bin, extra/", tiny,
                   ignore=["*.safetensors", "*.bin", "extra/"])
    check_snapshot(f"{big.id} allow data/train/part-00*", big, allow="data/train/part-00*")
    check_snapshot(f"{big.id} allow data/* ignore *.jsonl", big, allow="data/*", ignore="*.jsonl")

    # --- HfFileSystem
    check_filesystem(tiny)
    check_filesystem(big)
    check_filesystem(odd)
    check_filesystem(Repo("model/hubfs-test/gated-model"), token=ALICE)
    fs = HfFileSystem(endpoint=HUB, token=False, skip_instance_cache=True)
    label = f"HfFileSystem {tiny.id}@v1.0: ls"
    got = expect_success(label, attempt(lambda: fs.ls(f"{tiny.id}@v1.0", detail=False)))
    if got is not None:
        eq(label, sorted(f"{tiny.id}@v1.0/{p}" for p in expected_entries(tiny, "v1.0", recursive=False)),
           sorted(got))
    label = f"HfFileSystem {tiny.id}@refs%2Fpr%2F1: cat config.json"
    got = expect_success(label, attempt(lambda: fs.cat(f"{tiny.id}@refs%2Fpr%2F1/config.json")))
    if got is not None:
        eq(label, blob_bytes(tiny.files("refs/pr/1")["config.json"]["sha256"]), got)

    # --- access, errors, exceptions
    check_access_and_errors()

    check_retries()
    check_token_never_reaches_cdn(mark)

    print(f"{passed} passed, {failed} failed")
    if args.expect_fail is not None:
        if failed == 0:
            print("expected a failed check (broken fake), but every check passed")
            return 1
        if args.expect_fail and not any(re.search(args.expect_fail, line) for line in fail_lines):
            print(f"expected a failed check matching /{args.expect_fail}/, got other failures only")
            return 1
        return 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
