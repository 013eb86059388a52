#!/usr/bin/env python3
"""fakehub.py: a fake Hugging Face Hub for the hubfs tests.

Two HTTP/1.1 servers in one process, both on loopback:

* the Hub host: repo lists, repo info, tree, paths-info, refs, commits, treesize, whoami-v2,
  resolve (307 to resolve-cache for git files, 302 to the CDN for LFS files),
  resolve-cache, raw, the LFS batch API, and the control endpoint /_fake/...;
* the CDN host: signed URLs /repos/<aa>/<bb>/<sha256>?...&Expires=&Signature=.

The contract (CLI, manifest format, request log, control endpoint, fault kinds) is
README.md next to this file; the Hub behaviour it imitates is described in
shared/docs/hub-api.md (section 10 is the checklist). Python 3 standard library only.

    fakehub.py --data DATA --state-file F --log F [--hub-host H] [--hub-port P]
               [--cdn-host H] [--cdn-port P] [--page-size N] [--cdn-auth reject|record]
               [--quota N] [--url-ttl SECONDS] [--latency-ms MS] [--cdn-rate B/S]
               [--cdn-total-rate B/S] [--cdn-max-active N] [--cdn-retry-after S]
               [--verbose]
"""

import argparse
import base64
import bisect
import fnmatch
import gzip
import hashlib
import hmac
import http.server
import ipaddress
import json
import math
import os
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.parse
from email.utils import formatdate

HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEXPREFIX = re.compile(r"^[0-9a-f]{7,40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")

API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}

WINDOW = 300  # rate-limit window, seconds (fixed windows, as on the Hub)
GZIP_MAX = 16 << 20  # never gzip more than this in memory
SENDFILE_CHUNK = 64 << 20
PACE_SLICE = 0.01  # a rate-limited body goes out in pieces of this many seconds' worth
WAN_SETTINGS = ("latency_ms", "cdn_rate", "cdn_total_rate", "cdn_max_active",
                "cdn_retry_after")

MSG_BAD_TOKEN = "Invalid credentials in Authorization header"
MSG_ANON_NOT_FOUND = "Invalid username or password."
MSG_REPO_NOT_FOUND = "Repository not found"
MSG_ENTRY_NOT_FOUND = "Entry not found"
MSG_DISABLED = "Access to this resource is disabled."

FAULT_KINDS = ("reset", "corrupt", "lfs_pointer", "rate_limit", "status", "delay",
               "stall", "wrong_length", "ignore_range", "wrong_linked_size",
               "drip_headers", "drip_body", "range_overrun", "status_in_headers", "header")

# Properties accepted by expand= / expand[]= on repo info. The union of the Hub's own
# error text (hub-api.md 2.1), huggingface_hub's Expand*Property_T and the keys
# huggingface.js sends (MODEL_EXPANDABLE_KEYS etc., e.g. "gitalyUid").
EXPANDABLE = {
    "model": {
        "author", "baseModels", "cardData", "childrenModelCount", "config", "createdAt",
        "disabled", "downloads", "downloadsAllTime", "evalResults", "gated", "gguf",
        "gitalyUid", "inference", "inferenceProviderMapping", "lastModified",
        "library_name", "likes", "mask_token", "model-index", "pipeline_tag", "private",
        "resourceGroup", "safetensors", "sha", "siblings", "spaces", "tags",
        "transformersInfo", "trendingScore", "usedStorage", "widgetData", "xetEnabled",
    },
    "dataset": {
        "author", "cardData", "citation", "createdAt", "description", "disabled",
        "downloads", "downloadsAllTime", "gated", "gitalyUid", "lastModified", "likes",
        "mainSize", "paperswithcode_id", "private", "resourceGroup", "sha", "siblings",
        "tags", "trendingScore", "usedStorage", "xetEnabled",
    },
    "space": {
        "author", "cardData", "createdAt", "datasets", "disabled", "gitalyUid", "host",
        "lastModified", "likes", "models", "private", "region", "resourceGroup",
        "runtime", "sdk", "sha", "siblings", "subdomain", "tags", "trendingScore",
        "usedStorage", "xetEnabled",
    },
}

REASONS = {code: phrase for code, (phrase, _) in
           http.server.BaseHTTPRequestHandler.responses.items()}


def log_err(msg):
    sys.stderr.write("fakehub: %s\n" % msg)
    sys.stderr.flush()


def jdump(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def truthy(v):
    return v is not None and v.strip().lower() in ("true", "1", "yes")


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256, size):
    return ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
            % (sha256, size)).encode("ascii")


def weak_etag(body):
    # express-style weak ETag, as the Hub sends on API JSON: W/"<len hex>-<b64 sha1>"
    digest = base64.b64encode(hashlib.sha1(body).digest()).decode()[:27]
    return 'W/"%x-%s"' % (len(body), digest)


def header_safe(value):
    s = str(value).replace("\r", " ").replace("\n", " ")
    return s.encode("ascii", "backslashreplace").decode("ascii")


def qs_get(query, *names):
    for k, v in query:
        if k in names:
            return v
    return None


def qs_all(query, *names):
    return [v for k, v in query if k in names]


def content_disposition(name, attachment=False):
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace('"', "_")
    return "%s; filename*=UTF-8''%s; filename=\"%s\";" % (
        "attachment" if attachment else "inline",
        urllib.parse.quote(name, safe=""), ascii_name)


# ----------------------------------------------------------------------------------
# Data model: manifest (format 1) -> repos and commits


class Commit:
    def __init__(self, sha, d, data_dir=None):
        self.sha = sha
        self.title = d.get("title", "")
        self.message = d.get("message", "")
        self.date = d.get("date") or "1970-01-01T00:00:00.000Z"
        self.author = d.get("author")
        self.parents = list(d.get("parents") or [])
        self.tree = d.get("tree") or hashlib.sha1(("tree:" + sha).encode()).hexdigest()
        self._files = d.get("files") or {}
        self._dirs = d.get("dirs") or {}
        # A wide repo's file table is in a side file (genrepos.py move_wide_files_aside),
        # read on first use: most tests never touch it.
        self._side = os.path.join(data_dir or "", d["files_in"]) if d.get("files_in") else None
        self._side_lock = threading.Lock()
        self._index = None
        self._last = None

    def _load_side(self):
        with self._side_lock:
            if self._side:
                with open(self._side, "rb") as f:
                    side = json.load(f)
                self._files, self._dirs = side["files"], side["dirs"]
                self._side = None

    @property
    def files(self):
        if self._side:
            self._load_side()
        return self._files

    @property
    def dirs(self):
        if self._side:
            self._load_side()
        return self._dirs

    def index(self):
        """(entries by path, all paths sorted, children paths by directory).

        Listing order everywhere is plain code-point order of the full path, with
        directories interleaved with files (what a sorted git ls-tree gives; the Hub
        does not document its order, and clients must not depend on it)."""
        if self._index is None:
            entries = {}
            dirs = dict(self.dirs)
            for p in self.files:
                parent = p.rpartition("/")[0]
                while parent and parent not in dirs:
                    dirs[parent] = hashlib.sha1(("dir:%s:%s" % (self.sha, parent))
                                                .encode()).hexdigest()
                    parent = parent.rpartition("/")[0]
            for p, oid in dirs.items():
                entries[p] = {"type": "directory", "oid": oid, "size": 0, "path": p}
            for p, f in self.files.items():
                e = {"type": "file", "oid": f["oid"], "size": f["size"], "path": p}
                lfs = f.get("lfs")
                if lfs:
                    e["lfs"] = {"oid": lfs["oid"], "size": lfs["size"],
                                "pointerSize": lfs["pointerSize"]}
                entries[p] = e
            sorted_all = sorted(entries)
            children = {"": []}
            for p in sorted_all:
                children.setdefault(p.rpartition("/")[0], []).append(p)
            self._index = (entries, sorted_all, children)
        return self._index


class Repo:
    def __init__(self, key, d, data_dir=None):
        self.key = key
        self.d = d
        kind, _, rest = key.partition("/")
        self.type = d.get("type") or kind
        self.id = d.get("id") or rest
        self.author = d.get("author") or (self.id.split("/")[0] if "/" in self.id else None)
        self.private = bool(d.get("private"))
        self.gated = d.get("gated") or False
        self.disabled = bool(d.get("disabled"))
        self.default_branch = d.get("default_branch") or "main"
        refs = d.get("refs") or {}
        self.branches = dict(refs.get("branches") or {})
        self.tags = dict(refs.get("tags") or {})
        self.pulls = {str(k): v for k, v in (refs.get("pulls") or {}).items()}
        self.converts = dict(refs.get("converts") or {})
        self.commits = {sha: Commit(sha, c, data_dir)
                        for sha, c in (d.get("commits") or {}).items()}
        self.lock = threading.Lock()
        self.oid_hex = hashlib.md5(("repo:" + key).encode()).hexdigest()[:24]
        self._used_storage = None

    # revisions ---------------------------------------------------------------------
    def resolve(self, rev):
        """Branch, tag, refs/pr/N, refs/convert/X, refs/heads/X, refs/tags/X, full sha,
        unique sha prefix (>= 7 hex), HEAD. Returns the commit sha or None."""
        if not rev:
            return None
        with self.lock:
            if rev == "HEAD":
                rev = self.default_branch
            if rev in self.branches:
                return self.branches[rev]
            if rev in self.tags:
                return self.tags[rev]
            for prefix, table in (("refs/pr/", self.pulls), ("refs/convert/", self.converts),
                                  ("refs/heads/", self.branches), ("refs/tags/", self.tags)):
                if rev.startswith(prefix) and rev[len(prefix):] in table:
                    return table[rev[len(prefix):]]
        if HEX40.match(rev):
            return rev if rev in self.commits else None
        if HEXPREFIX.match(rev):
            found = [c for c in self.commits if c.startswith(rev)]
            if len(found) == 1:
                return found[0]
        return None

    def set_branch(self, branch, sha):
        with self.lock:
            self.branches[branch] = sha

    def refs_snapshot(self):
        with self.lock:
            return (dict(self.branches), dict(self.tags), dict(self.pulls),
                    dict(self.converts))

    # history -----------------------------------------------------------------------
    def first_parent_chain(self, sha):
        chain, seen = [], set()
        while sha and sha in self.commits and sha not in seen:
            seen.add(sha)
            chain.append(self.commits[sha])
            parents = self.commits[sha].parents
            sha = parents[0] if parents else None
        return chain

    def last_commits(self, commit):
        """path -> Commit: the newest commit of the first-parent history where the
        path's oid (blob or tree oid) changed."""
        if commit._last is None:
            last, prev = {}, {}
            for c in reversed(self.first_parent_chain(commit.sha)):
                entries = c.index()[0]
                cur = {p: e["oid"] for p, e in entries.items()}
                for p, oid in cur.items():
                    if prev.get(p) != oid:
                        last[p] = c
                prev = cur
            commit._last = last
        return commit._last

    def used_storage(self):
        if self._used_storage is None:
            seen = {}
            for c in self.commits.values():
                for f in c.files.values():
                    seen[f["sha256"]] = f["size"]
            self._used_storage = sum(seen.values())
        return self._used_storage

    def url_prefix(self):
        return URL_PREFIX.get(self.type, "")


class Store:
    def __init__(self, data_dir):
        self.data_dir = os.path.abspath(data_dir)
        self.blob_dir = os.path.join(self.data_dir, "blobs")
        with open(os.path.join(self.data_dir, "manifest.json"), "rb") as f:
            m = json.load(f)
        if m.get("format") != 1:
            raise SystemExit("fakehub: unsupported manifest format %r" % m.get("format"))
        self.tokens = m.get("tokens") or {}
        self.repos = {}
        self.by_lower = {}
        for key, d in (m.get("repos") or {}).items():
            r = Repo(key, d, self.data_dir)
            self.repos[key] = r
            self.by_lower[(r.type, r.id.lower())] = r
        # The repo lists (/api/models etc.): per type, in id order, as the cursor expects.
        self.listing = {t: sorted((r for r in self.repos.values() if r.type == t),
                                  key=lambda r: r.id) for t in URL_PREFIX}
        self._text_cache = {}
        self._json_cache = {}
        self._st_cache = {}
        self.cache_lock = threading.Lock()

    def find(self, rtype, rid):
        return self.by_lower.get((rtype, rid.lower()))

    def repo_by_key(self, key):
        if key in self.repos:
            return self.repos[key]
        return self.repos.get("model/" + key)

    def blob_path(self, sha256):
        return os.path.join(self.blob_dir, sha256)

    def is_text(self, sha256, size):
        """Decides whether a git (non-LFS) file is 'text' for gzip and Content-Type."""
        if size > GZIP_MAX:
            return False
        with self.cache_lock:
            if sha256 in self._text_cache:
                return self._text_cache[sha256]
        try:
            with open(self.blob_path(sha256), "rb") as f:
                head = f.read(8192)
            text = b"\0" not in head
            if text:
                try:
                    head.decode("utf-8")
                except UnicodeDecodeError as e:
                    text = e.start >= len(head) - 4  # a cut multi-byte char at the end
        except OSError:
            text = False
        with self.cache_lock:
            self._text_cache[sha256] = text
        return text

    def read_json_blob(self, sha256, size):
        if size > (4 << 20):
            return None
        with self.cache_lock:
            if sha256 in self._json_cache:
                return self._json_cache[sha256]
        try:
            with open(self.blob_path(sha256), "rb") as f:
                val = json.loads(f.read().decode("utf-8"))
        except (OSError, ValueError):
            val = None
        with self.cache_lock:
            self._json_cache[sha256] = val
        return val

    def safetensors_params(self, sha256):
        """{dtype: count} from a safetensors header, or None."""
        with self.cache_lock:
            if sha256 in self._st_cache:
                return self._st_cache[sha256]
        val = None
        try:
            with open(self.blob_path(sha256), "rb") as f:
                n = struct.unpack("<Q", f.read(8))[0]
                if n <= (100 << 20):
                    hdr = json.loads(f.read(n).decode("utf-8"))
                    val = {}
                    for name, t in hdr.items():
                        if name == "__metadata__" or not isinstance(t, dict):
                            continue
                        count = 1
                        for dim in t.get("shape", []):
                            count *= int(dim)
                        val[t["dtype"]] = val.get(t["dtype"], 0) + count
        except (OSError, ValueError, KeyError, struct.error, TypeError):
            val = None
        with self.cache_lock:
            self._st_cache[sha256] = val
        return val


# ----------------------------------------------------------------------------------
# Shared mutable state: config, faults, rate limits, request log, CDN signing


class App:
    def __init__(self, args):
        self.store = Store(args.data)
        self.lock = threading.Lock()
        self.config = {"cdn_auth": args.cdn_auth, "page_size": args.page_size,
                       "quota": args.quota, "url_ttl": args.url_ttl, "link_base": "",
                       "link_loop": 0,
                       "latency_ms": args.latency_ms, "cdn_rate": args.cdn_rate,
                       "cdn_total_rate": args.cdn_total_rate,
                       "cdn_max_active": args.cdn_max_active,
                       "cdn_retry_after": args.cdn_retry_after}
        self.cdn_active = {}  # client address -> CDN answers in progress
        self.total_vt = 0.0   # the total-rate bucket's clock (time.monotonic())
        self.faults = []
        self.next_fault_id = 1
        self.windows = {}
        self.secret = secrets.token_bytes(32)
        self.log_lock = threading.Lock()
        self.log_file = open(args.log, "ab", buffering=0)
        self.verbose = args.verbose
        self.hub_base = None
        self.cdn_base = None

    def cfg(self, name):
        with self.lock:
            return self.config[name]

    # request log ------------------------------------------------------------------
    def write_log(self, rec):
        line = jdump(rec) + b"\n"
        with self.log_lock:
            self.log_file.write(line)  # unbuffered: one write(2) per line
        if self.verbose:
            sys.stderr.write(line.decode("utf-8", "replace"))

    def truncate_log(self):
        with self.log_lock:
            os.ftruncate(self.log_file.fileno(), 0)

    # rate limits --------------------------------------------------------------------
    def rate_hit(self, bucket):
        """Counts one request in the bucket's fixed window. (allowed, remaining, reset)"""
        now = time.time()
        with self.lock:
            quota = self.config["quota"]
            w = self.windows.get(bucket)
            if w is None or now >= w[0] + WINDOW:
                w = self.windows[bucket] = [now, 0]
            reset = max(1, int(math.ceil(w[0] + WINDOW - now)))
            if w[1] >= quota:
                return False, 0, reset, quota
            w[1] += 1
            return True, quota - w[1], reset, quota

    # WAN emulation -----------------------------------------------------------------------
    def cdn_enter(self, client):
        """Counts a CDN answer of `client` in progress. False when over cdn_max_active
        (then it is not counted)."""
        with self.lock:
            cap = self.config["cdn_max_active"]
            n = self.cdn_active.get(client, 0)
            if cap and n >= cap:
                return False
            self.cdn_active[client] = n + 1
            return True

    def cdn_leave(self, client):
        with self.lock:
            n = self.cdn_active.get(client, 1) - 1
            if n:
                self.cdn_active[client] = n
            else:
                self.cdn_active.pop(client, None)

    def total_reserve(self, nbytes, rate):
        """Takes nbytes from the bucket shared by every CDN connection; returns when
        (time.monotonic()) they may go. The bucket holds one slice's worth."""
        now = time.monotonic()
        with self.lock:
            start = max(self.total_vt, now - PACE_SLICE)
            self.total_vt = start + nbytes / rate
        return start

    # faults -----------------------------------------------------------------------------
    def add_fault(self, d):
        kind = d.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError("unknown fault kind %r" % (kind,))
        host = d.get("host") or "any"
        if host not in ("hub", "cdn", "any"):
            raise ValueError("host must be hub, cdn or any")
        count = int(d.get("count", 1))
        if count == 0 or count < -1:
            raise ValueError("count must be positive or -1")
        skip = int(d.get("skip", 0))
        if skip < 0:
            raise ValueError("skip must not be negative")
        if kind == "header" and (
                not re.fullmatch(r"[!-9;-~]+", str(d.get("name", "")))
                or re.search(r"[\r\n]", str(d.get("value", "")))):
            raise ValueError("header: a token name and a value without CR or LF")
        f = {"kind": kind, "glob": d.get("glob") or "*", "host": host,
             "method": (d.get("method") or "").upper() or None, "count": count,
             "skip": skip,
             "params": {k: v for k, v in d.items()
                        if k not in ("kind", "glob", "host", "method", "count", "skip")}}
        with self.lock:
            f["id"] = self.next_fault_id
            self.next_fault_id += 1
            self.faults.append(f)
        return f["id"]

    def list_faults(self):
        with self.lock:
            return [dict(f, **f["params"]) for f in self.faults]

    def take_faults(self, role, method, dpath, candidates):
        """Consumes the first matching fault of each applicable kind.

        candidates: {kind: predicate(params) -> bool}. A fault is only consumed by an
        answer it can shape (a corrupt fault is not used up by a redirect)."""
        taken = {}
        if not candidates:
            return taken
        with self.lock:
            for f in list(self.faults):
                k = f["kind"]
                if k in taken or k not in candidates:
                    continue
                if f["host"] != "any" and f["host"] != role:
                    continue
                if f["method"] and f["method"] != method:
                    continue
                if not fnmatch.fnmatchcase(dpath, f["glob"]):
                    continue
                if not candidates[k](f["params"]):
                    continue
                if f["skip"] > 0:  # this many answers it could shape pass untouched first
                    f["skip"] -= 1
                    continue
                taken[k] = f["params"]
                if f["count"] > 0:
                    f["count"] -= 1
                    if f["count"] == 0:
                        self.faults.remove(f)
        return taken

    # CDN URL signing ---------------------------------------------------------------
    def sign(self, path, expires, amz_date="", amz_expires=""):
        """The signature covers every parameter that bounds the URL's life,
        as the CDN's does: editing X-Amz-Expires is no more use than Expires."""
        return hmac.new(self.secret, ("%s\n%s\n%s\n%s" % (path, expires, amz_date, amz_expires))
                        .encode("utf-8"), hashlib.sha256).hexdigest()

    def cdn_url(self, sha256, filename, attachment=False, disposition=True):
        path = "/repos/%s/%s/%s" % (sha256[:2], sha256[2:4], sha256)
        expires = int(time.time()) + int(self.cfg("url_ttl"))
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(expires - int(self.cfg("url_ttl"))))
        amz_expires = str(int(self.cfg("url_ttl")))
        q = []
        if disposition:
            q.append(("response-content-disposition", content_disposition(filename, attachment)))
        # The real Hub's Xet links carry an S3 signature's X-Amz-Expires (a
        # lifetime in seconds) before Expires (a date): a client must read the
        # parameter of that very name.
        q += [("response-content-type", "application/octet-stream"),
              ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
              ("X-Amz-Date", amz_date), ("X-Amz-Expires", amz_expires),
              ("Expires", str(expires)),
              ("Signature", self.sign(path, expires, amz_date, amz_expires)),
              ("Key-Pair-Id", "FAKE")]
        return "%s%s?%s" % (self.cdn_base, path,
                            urllib.parse.urlencode(q, quote_via=urllib.parse.quote))


# ----------------------------------------------------------------------------------
# HTTP plumbing


class Answer:
    """One response: status, headers, and a body of bytes or a slice of a blob file."""

    def __init__(self, status, headers=None, body=b"", kind="api"):
        self.status = status
        self.headers = list(headers or [])
        self.body = body            # bytes
        self.file = None            # (path, start, length) instead of body
        self.kind = kind            # api | redirect | file | error
        self.file_info = None       # for file answers: dict(size, lfs, sha256, ...)
        self.gzip_ok = False        # bytes body may be sent gzip+chunked
        self.gzip_file = False      # text blob: load into memory and gzip if accepted

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def set_header(self, name, value):
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))

    def del_header(self, name):
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]


class Abort(Exception):
    """Raised by route code to answer immediately."""

    def __init__(self, answer):
        super().__init__(answer.status)
        self.answer = answer


def json_answer(obj, status=200, headers=None):
    body = jdump(obj)
    h = [("Content-Type", "application/json; charset=utf-8"), ("ETag", weak_etag(body))]
    a = Answer(status, h + list(headers or []), body)
    a.gzip_ok = True
    return a


def error_answer(status, message, code=None, headers=None, body=True):
    h = [("Content-Type", "application/json; charset=utf-8")]
    if code:
        h.append(("X-Error-Code", code))
    h.append(("X-Error-Message", header_safe(message)))
    a = Answer(status, h + list(headers or []), jdump({"error": message}) if body else b"",
               kind="error")
    return a


def parse_range(value, size):
    """('full'|'partial'|'unsatisfiable', start, length) for a single-range header.
    Multi-range and malformed headers are ignored (whole body, as RFC 9110 allows)."""
    if not value:
        return "full", 0, size
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", value)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return "full", 0, size
    a, b = m.group(1), m.group(2)
    if a == "":
        n = int(b)
        if n == 0 or size == 0:
            return "unsatisfiable", 0, 0
        n = min(n, size)
        return "partial", size - n, n
    start = int(a)
    end = int(b) if b != "" else size - 1
    if b != "" and end < start:
        return "full", 0, size
    if start >= size:
        return "unsatisfiable", 0, 0
    end = min(end, size - 1)
    return "partial", start, end - start + 1


def accepts_gzip(value):
    if not value:
        return False
    for part in value.split(","):
        bits = part.strip().split(";")
        if bits[0].strip().lower() in ("gzip", "x-gzip"):
            for b in bits[1:]:
                k, _, v = b.strip().partition("=")
                if k.strip() == "q":
                    try:
                        return float(v) > 0
                    except ValueError:
                        return False
            return True
    return False


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, role, app):
        self.address_family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.role = role
        self.app = app
        super().__init__(addr, Handler)

    def server_bind(self):
        # Skip HTTPServer.server_bind: its getfqdn() can stall on a reverse DNS lookup.
        import socketserver
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def base_url(self):
        host, port = self.server_address[:2]
        if ":" in host:
            host = "[%s]" % host
        return "http://%s:%d" % (host, port)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, OSError)):
            return
        super().handle_error(request, client_address)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakehub"
    sys_version = ""

    # quiet: no per-request lines on stderr; real errors are reported explicitly
    def log_request(self, code="-", size="-"):
        pass

    def log_message(self, fmt, *args):
        if self.server.app.verbose:
            sys.stderr.write("fakehub %s: %s\n" % (self.server.role, fmt % args))

    def setup(self):
        super().setup()
        self.pace_t0 = None  # when this answer's paced body started (time.monotonic())
        self.pace_sent = 0   # body bytes of this answer counted by _pace()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_OPTIONS(self):
        self.dispatch()

    # ------------------------------------------------------------------------------
    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(65537).strip():
                        pass
                    break
                out += self.rfile.read(n)
                self.rfile.readline(3)
                if len(out) > (64 << 20):
                    raise ValueError("body too large")
            return bytes(out)
        n = int(self.headers.get("Content-Length") or 0)
        if n > (64 << 20):
            raise ValueError("body too large")
        return self.rfile.read(n) if n > 0 else b""

    def dispatch(self):
        app = self.server.app
        role = self.server.role
        self.t0 = time.time()
        self.sent = 0
        self.pace_t0 = None
        self.pace_sent = 0
        self.status_sent = None
        self.fault_names = []
        self.headers_done = False
        self.logged = False
        self.hold_log = False  # a reset answer is logged after the drain, before the RST
        target = self.path
        if target.startswith("http://") or target.startswith("https://"):
            target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
        raw_path, _, raw_query = target.partition("?")
        self.raw_path = raw_path or "/"
        self.raw_query = raw_query
        self.dpath = urllib.parse.unquote(self.raw_path)
        self.query = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
        try:
            self.body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.body = b""
        if role == "hub" and self.raw_path.startswith("/_fake/"):
            try:
                ans = self.control()
            except Exception as e:  # noqa: BLE001 - report, answer 500
                traceback.print_exc()
                ans = json_answer({"error": str(e)}, 500)
            self.logged = True  # control requests are not logged
            self.transmit(ans, {})
            return
        client = self.client_address[0]
        self.cdn_admitted = role == "cdn" and app.cdn_enter(client)
        try:
            latency = app.cfg("latency_ms")
            if latency > 0:
                time.sleep(latency / 1000.0)  # the WAN's round trip, before every answer
            if role == "hub":
                self.handle_hub()
            else:
                self.handle_cdn()
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True
        except Exception:  # noqa: BLE001 - a bug in the fake: say so on stderr
            log_err("error handling %s %s (%s):\n%s" % (self.command, self.path, role,
                                                       traceback.format_exc()))
            if not self.headers_done:
                try:
                    self.transmit(error_answer(500, "fake hub internal error"), {})
                except OSError:
                    self.close_connection = True
            else:
                self.close_connection = True
        finally:
            if self.cdn_admitted:
                app.cdn_leave(client)
        if not self.logged:
            self.log_now(self.sent, force=True)

    def log_now(self, nbytes, force=False):
        """Appends this request's log line (once). Called by transmit() just before the
        final byte of the answer goes out, so a client that has the whole answer can
        already read the line."""
        if self.logged or (self.hold_log and not force):
            return
        self.logged = True
        self.server.app.write_log({
            "t": round(self.t0, 3), "host": self.server.role, "method": self.command,
            "path": self.raw_path, "query": self.raw_query, "range": self.headers.get("Range"),
            "status": self.status_sent, "bytes": nbytes,
            "auth": self.headers.get("Authorization") is not None,
            "fault": ",".join(self.fault_names) if self.fault_names else None,
            "ua": self.headers.get("User-Agent"),
            "conn": self.client_address[1], "end": round(time.time(), 3),
        })

    # ------------------------------------------------------------------------------
    # Transmission with faults

    def _send_all(self, data):
        mv = memoryview(data)
        sock = self.connection
        while len(mv):
            n = sock.send(mv)
            self.sent += n
            mv = mv[n:]

    def _send_head(self, status, headers):
        lines = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, ""))]
        lines += ["%s: %s" % (k, header_safe(v)) for k, v in headers]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
        self.status_sent = status
        self.headers_done = True
        return data

    def _sendfile(self, path, start, end, flip):
        """Sends bytes [start, end) of a file (os.sendfile when available); the byte at
        absolute offset `flip`, if inside, goes out xor 0xff."""
        if end <= start:
            return
        sockfd = self.connection.fileno()
        app = self.server.app
        rate = total = 0
        if self.server.role == "cdn":
            rate, total = app.cfg("cdn_rate"), app.cfg("cdn_total_rate")
        step = SENDFILE_CHUNK
        if rate or total:
            step = int(min(r for r in (rate, total) if r) * PACE_SLICE)
            step = max(16 << 10, min(step, 4 << 20))
        with open(path, "rb") as f:
            fd = f.fileno()
            pos = start
            while pos < end:
                stop = flip if flip is not None and pos < flip < end else end
                if flip is not None and pos == flip:
                    f.seek(pos)
                    self._send_all(bytes([f.read(1)[0] ^ 0xFF]))
                    pos += 1
                    continue
                while pos < stop:
                    if rate or total:
                        self._pace(min(stop - pos, step), rate, total)
                    if hasattr(os, "sendfile"):
                        n = os.sendfile(sockfd, fd, pos, min(stop - pos, step))
                        if n == 0:
                            raise ConnectionError("sendfile: peer gone")
                        pos += n
                        self.sent += n
                    else:
                        f.seek(pos)
                        chunk = f.read(min(stop - pos, 1 << 20))
                        if not chunk:
                            raise OSError("short read on blob " + path)
                        self._send_all(chunk)
                        pos += len(chunk)

    def _pace(self, nbytes, rate, total):
        """Waits until nbytes more may go. Per answer (rate bytes/s): byte k of the body
        is due k / rate after the body started, so a piece that a busy machine sends late
        is caught up on within the answer, and an idle connection saves up nothing. All
        CDN connections together (total): one bucket holding one slice's worth."""
        now = time.monotonic()
        due = now
        if rate:
            if self.pace_t0 is None:
                self.pace_t0 = now
            due = max(due, self.pace_t0 + self.pace_sent / rate)
            self.pace_sent += nbytes
        if total:
            due = max(due, self.server.app.total_reserve(nbytes, total))
        if due > now:
            time.sleep(due - now)

    def _send_final(self, data, body_start):
        """Sends data (body bytes from index body_start on), holding back its last byte
        until the request log line is written."""
        base = self.sent
        mv = memoryview(data)
        n = len(data)
        done = 0
        try:
            while done < n - 1:
                done += self.connection.send(mv[done:n - 1])
        finally:
            self.sent = base + max(0, done - body_start)
        self.log_now(base + max(0, n - body_start))
        self.connection.sendall(mv[n - 1:])
        self.sent = base + max(0, n - body_start)

    def _wait_drained(self, timeout=2.0):
        """Waits until the peer has acknowledged what we wrote, so that a reset does not
        discard bytes we count as sent. Returns the bytes still unacknowledged."""
        deadline = time.time() + timeout
        try:
            import fcntl
            import termios
            while True:
                buf = fcntl.ioctl(self.connection.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
                left = struct.unpack("i", buf)[0]
                if left == 0 or time.time() >= deadline:
                    return left
                time.sleep(0.002)
        except (ImportError, OSError, AttributeError):
            time.sleep(0.05)
            return 0

    def _hard_reset(self):
        self.close_connection = True
        left = self._wait_drained()
        self.sent = max(0, self.sent - left)
        self.log_now(self.sent, force=True)
        # rfile/wfile hold references that would keep the fd open after close():
        # detach the fd and close it ourselves so that the RST goes out now.
        try:
            fd = self.connection.detach()
            s = socket.socket(fileno=fd)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        except OSError:
            pass

    def transmit(self, ans, faults):
        """Writes the answer, shaped by the transmission faults already taken
        (reset, stall, wrong_length, corrupt)."""
        is_head = self.command == "HEAD"
        headers = list(ans.headers)
        headers.insert(0, ("Date", formatdate(usegmt=True)))
        if self.close_connection:
            headers.append(("Connection", "close"))

        if ans.gzip_file and ans.file is not None and not faults and ans.status == 200 \
                and not is_head:
            with open(ans.file[0], "rb") as f:
                ans.body = f.read()
            ans.file = None
            ans.gzip_ok = True
        use_gzip = (ans.gzip_ok and not faults and not is_head and ans.file is None
                    and ans.status == 200 and len(ans.body) >= 1
                    and not self.headers.get("Range")
                    and accepts_gzip(self.headers.get("Accept-Encoding")))
        if use_gzip:
            gz = gzip.compress(ans.body, 6, mtime=0)
            headers += [("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked"),
                        ("Vary", "Accept-Encoding")]
            head = self._send_head(ans.status, headers)
            self.connection.sendall(head)
            mv = memoryview(gz)
            for i in range(0, len(gz), 65536):
                part = mv[i:i + 65536]
                self.connection.sendall(b"%x\r\n" % len(part))
                self._send_all(part)
                self.connection.sendall(b"\r\n")
            self._send_final(b"0\r\n\r\n", 5)
            return

        if "drip_headers" in faults or "drip_body" in faults:
            self._transmit_drip(ans, headers, faults, is_head)
            return
        if ("range_overrun" in faults or "status_in_headers" in faults) and not is_head:
            self._transmit_lie(ans, headers, faults)
            return
        self.hold_log = "reset" in faults
        length = ans.file[2] if ans.file else len(ans.body)
        declared = length
        limit = 0 if is_head else length
        if "wrong_length" in faults:
            declared = max(0, length + int(faults["wrong_length"].get("delta", 1)))
            limit = 0 if is_head else min(length, declared)
        if "reset" in faults:
            limit = min(limit, int(faults["reset"].get("after_bytes", 0)))
        if "stall" in faults:
            limit = min(limit, int(faults["stall"].get("after_bytes", 0)))
        corrupt_at = faults.get("corrupt_at")
        if "wrong_length" in faults and not is_head:
            headers.append(("Connection", "close"))
        headers.append(("Content-Length", str(declared)))
        head = self._send_head(ans.status, headers)
        if ans.file is None or limit == 0:
            body = ans.body[:limit] if ans.file is None else b""
            if corrupt_at is not None and corrupt_at < len(body):
                body = bytearray(body)
                body[corrupt_at] ^= 0xFF
            self._send_final(head + bytes(body), len(head))
        else:
            self.connection.sendall(head)
            path, start, flen = ans.file
            n = min(flen, limit)
            flip = start + corrupt_at if corrupt_at is not None else None
            self._sendfile(path, start, start + n - 1, flip)
            self.log_now(self.sent + 1)
            self._sendfile(path, start + n - 1, start + n, flip)
        if "reset" in faults:
            self._hard_reset()
        elif "stall" in faults:
            time.sleep(float(faults["stall"].get("seconds", 30)))
            self.close_connection = True
        elif "wrong_length" in faults and not is_head:
            self.close_connection = True

    def _transmit_lie(self, ans, headers, faults):
        """A 206 that lies about its body (range_overrun, status_in_headers)."""
        body = self._body_bytes(ans)
        if "range_overrun" in faults:
            # Its Content-Range names `short` bytes fewer than the body sent,
            # chunked: no Content-Length bounds it either. Those last bytes
            # are zeros, not the file's.
            short = max(1, min(len(body) - 1, int(faults["range_overrun"].get("short", 1))))
            body = body[:len(body) - short] + bytes(short)
            first, last, total = (int(v) for v in re.match(
                r"bytes (\d+)-(\d+)/(\d+)", ans.header("Content-Range")).groups())
            hdrs = [(k, v) for k, v in headers
                    if k.lower() not in ("content-range", "content-length")]
            hdrs += [("Content-Range", "bytes %d-%d/%d" % (first, last - short, total)),
                     ("Transfer-Encoding", "chunked"), ("Connection", "close")]
            head = self._send_head(206, hdrs)
            data = head + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
        else:
            # An error whose headers hold a line that looks like a status
            # line, then the headers the 206 would have had; its body, as long
            # as the range, is an error page.
            code = int(faults["status_in_headers"].get("code", 404))
            page = (b"<html>Entry not found</html>\n" * (len(body) // 29 + 1))[:len(body)]
            hdrs = [("HTTP/1.1 206 Partial Content", "")] + headers + \
                   [("Content-Length", str(len(page))), ("Connection", "close")]
            head = self._send_head(code, hdrs)
            data = head + page
        self._send_final(data, len(head))
        self.close_connection = True

    def _drip(self, data, params):
        """Sends data `bytes` (default 1) at a time, one piece per `interval` seconds
        (default 1). Ends when the peer goes away (the send fails)."""
        step = max(1, int(params.get("bytes", 1)))
        interval = float(params.get("interval", 1))
        for i in range(0, len(data), step):
            self._send_all(data[i:i + step])
            time.sleep(interval)

    def _body_bytes(self, ans, limit=None):
        """The answer's body (read from its blob when it is a file), at most limit."""
        if ans.file is None:
            return ans.body if limit is None else ans.body[:limit]
        path, start, flen = ans.file
        n = flen if limit is None else min(flen, limit)
        with open(path, "rb") as f:
            f.seek(start)
            return f.read(n)

    def _transmit_drip(self, ans, headers, faults, is_head):
        """drip_headers: the status line and headers a little at a time, then the body
        at full speed. drip_body: the headers, `after_bytes` of body at full speed, then
        the rest a little at a time; with `endless`, no Content-Length and, after the
        body, spaces for ever (valid JSON whitespace). Logged when the drip starts."""
        body = b"" if is_head else self._body_bytes(ans)
        drip = faults.get("drip_body")
        endless = bool(drip and drip.get("endless"))
        if endless:
            headers.append(("Connection", "close"))
        else:
            headers.append(("Content-Length", str(len(body))))
        head = self._send_head(ans.status, headers)
        self.close_connection = True
        self.log_now(0, force=True)
        if "drip_headers" in faults:
            self._drip(head, faults["drip_headers"])
            self._send_all(body)
            return
        self._send_all(head)
        fast = min(len(body), int(drip.get("after_bytes", 0)))
        self._send_all(body[:fast])
        self._drip(body[fast:], drip)
        while endless:
            self._drip(b" " * max(1, int(drip.get("bytes", 1))), drip)

    def finish_answer(self, ans, extra=None):
        """Takes the faults that can shape this answer, applies them, transmits."""
        app = self.server.app
        role = self.server.role
        is_head = self.command == "HEAD"
        cands = {"reset": lambda p: True, "stall": lambda p: True,
                 "drip_headers": lambda p: True, "header": lambda p: True}
        if not is_head:
            cands["drip_body"] = lambda p: True
        if not is_head:
            cands["wrong_length"] = lambda p: True
        info = ans.file_info
        if info is not None and ans.status in (200, 206, 416):
            rng = info.get("range_requested")
            if rng:
                cands["ignore_range"] = lambda p: True
                if ans.status == 206 and not is_head:
                    cands["range_overrun"] = lambda p: True
                    cands["status_in_headers"] = lambda p: True
            if info.get("lfs"):
                cands["lfs_pointer"] = lambda p: True
        if ans.header("X-Linked-Size") is not None and ans.kind == "redirect":
            cands["wrong_linked_size"] = lambda p: True
        faults = app.take_faults(role, self.command, self.dpath, cands)
        # body-shaping faults
        if "ignore_range" in faults:
            size = info["size"]
            ans.status = 200
            ans.headers = list(info["headers"])
            ans.body = b""
            ans.file = (info["blob"], 0, size) if size else None
        if "lfs_pointer" in faults:
            ans.status = 200
            ans.headers = list(info["headers"])
            ans.file = None
            ans.body = lfs_pointer(info["sha256"], info["size"])
        if "header" in faults:
            # A header set (or replaced) as a mirror or CDN might: any name, any value.
            p = faults["header"]
            ans.set_header(str(p["name"]), str(p.get("value", "")))
        if "wrong_linked_size" in faults:
            size = int(ans.header("X-Linked-Size"))
            ans.set_header("X-Linked-Size",
                           str(size + int(faults["wrong_linked_size"].get("delta", 1))))
        # corrupt is decided once the body is known
        if not is_head and ans.status in (200, 206) and info is not None:
            length = ans.file[2] if ans.file else len(ans.body)
            start = ans.file[1] if ans.file else 0

            def corrupt_rel(p, start=start, length=length):
                if length <= 0:
                    return None
                if p.get("offset") is None:
                    return length // 2  # the middle of the range sent
                off = int(p["offset"])
                return off - start if start <= off < start + length else None

            more = app.take_faults(role, self.command, self.dpath,
                                   {"corrupt": lambda p: corrupt_rel(p) is not None})
            if "corrupt" in more:
                faults["corrupt"] = more["corrupt"]
                faults["corrupt_at"] = corrupt_rel(more["corrupt"])
        self.fault_names += [k for k in ("ignore_range", "lfs_pointer", "corrupt",
                                         "wrong_linked_size", "wrong_length", "stall",
                                         "reset", "drip_headers", "drip_body",
                                         "range_overrun", "status_in_headers", "header")
                             if k in faults]
        if extra:
            ans.headers += extra
        self.transmit(ans, faults)

    # ------------------------------------------------------------------------------
    # Control endpoint

    def control(self):
        app = self.server.app
        p = self.raw_path.rstrip("/")
        m = self.command

        def body_json():
            try:
                return json.loads(self.body.decode("utf-8") or "{}")
            except ValueError:
                raise Abort(json_answer({"error": "body is not JSON"}, 400))

        try:
            if p == "/_fake/faults":
                if m == "POST":
                    try:
                        return json_answer({"id": app.add_fault(body_json())})
                    except (ValueError, TypeError) as e:
                        return json_answer({"error": str(e)}, 400)
                if m == "GET":
                    return json_answer(app.list_faults())
                if m == "DELETE":
                    with app.lock:
                        n = len(app.faults)
                        app.faults.clear()
                    return json_answer({"cleared": n})
            if p.startswith("/_fake/faults/") and m == "DELETE":
                fid = int(p.rsplit("/", 1)[1])
                with app.lock:
                    before = len(app.faults)
                    app.faults[:] = [f for f in app.faults if f["id"] != fid]
                    gone = before - len(app.faults)
                return json_answer({"deleted": gone}, 200 if gone else 404)
            if p == "/_fake/refs" and m == "POST":
                d = body_json()
                repo = app.store.repo_by_key(d.get("repo") or "")
                if repo is None:
                    return json_answer({"error": "no such repo %r" % d.get("repo")}, 404)
                branch, commit = d.get("branch"), d.get("commit") or ""
                sha = commit if commit in repo.commits else None
                if sha is None and HEXPREFIX.match(commit):
                    found = [c for c in repo.commits if c.startswith(commit)]
                    sha = found[0] if len(found) == 1 else None
                if not branch or sha is None:
                    return json_answer({"error": "need branch and an existing commit"}, 400)
                repo.set_branch(branch, sha)
                return json_answer({"repo": repo.key, "branch": branch, "commit": sha})
            if p == "/_fake/repo" and m == "POST":
                d = body_json()
                repo = app.store.repo_by_key(d.get("repo") or "")
                if repo is None:
                    return json_answer({"error": "no such repo %r" % d.get("repo")}, 404)
                for k in ("private", "disabled"):
                    if k in d and not isinstance(d[k], bool):
                        return json_answer({"error": "%s: true or false" % k}, 400)
                unknown = set(d) - {"repo", "private", "disabled"}
                if unknown:
                    return json_answer({"error": "unknown setting %r" % sorted(unknown)[0]}, 400)
                with repo.lock:
                    if "private" in d:
                        repo.private = repo.d["private"] = d["private"]
                    if "disabled" in d:
                        repo.disabled = repo.d["disabled"] = d["disabled"]
                return json_answer({"repo": repo.key, "private": repo.private,
                                    "disabled": repo.disabled})
            if p == "/_fake/config":
                if m == "POST":
                    d = body_json()
                    with app.lock:
                        for k, v in d.items():
                            if k not in app.config:
                                return json_answer({"error": "unknown setting %r" % k}, 400)
                            if k == "cdn_auth" and v not in ("reject", "record"):
                                return json_answer({"error": "cdn_auth: reject|record"}, 400)
                            if k == "link_base" and not re.fullmatch(r"(https?://[^/?#]+)?", v):
                                return json_answer({"error": "link_base: scheme://host:port"},
                                                   400)
                            if k in WAN_SETTINGS and float(v) < 0:
                                return json_answer({"error": "%s: not negative" % k}, 400)
                            app.config[k] = (v if k in ("cdn_auth", "link_base") else
                                             float(v) if k == "latency_ms" else int(v))
                            if k == "quota":
                                app.windows.clear()  # a new quota starts fresh windows
                    return json_answer(dict(app.config))
                if m == "GET":
                    with app.lock:
                        return json_answer(dict(app.config))
            if p == "/_fake/log" and m == "DELETE":
                app.truncate_log()
                return json_answer({"truncated": True})
            if p == "/_fake/state" and m == "GET":
                out = {}
                for key, r in app.store.repos.items():
                    b, t, pr, cv = r.refs_snapshot()
                    out[key] = {"branches": b, "tags": t, "pulls": pr, "converts": cv}
                return json_answer(out)
        except Abort as a:
            return a.answer
        return json_answer({"error": "no such control request %s %s" % (m, p)}, 404)

    # ------------------------------------------------------------------------------
    # Hub

    def answer(self, ans):
        self.finish_answer(ans, self._hub_headers)

    def handle_hub(self):
        app = self.server.app
        path = self.raw_path
        if "/resolve/" in path or path.startswith("/api/resolve-cache/"):
            bucket = "resolvers"
        elif path.startswith("/api/"):
            bucket = "api"
        else:
            bucket = "pages"
        self.bucket = bucket
        rid = "Root=1-%08x-%s" % (int(self.t0), secrets.token_hex(12))
        ok, remaining, reset, quota = app.rate_hit(bucket)
        self._hub_headers = [
            ("X-Request-Id", rid),
            ("RateLimit", '"%s";r=%d;t=%d' % (bucket, remaining, reset)),
            ("RateLimit-Policy", '"fixed window";"%s";q=%d;w=%d' % (bucket, quota, WINDOW)),
            ("Access-Control-Expose-Headers",
             "X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,"
             "Link,Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag,X-Xet-Hash"),
            ("Vary", "Origin"),
        ]
        if self.early_faults(bucket, quota):
            return
        if not ok:
            msg = ("You have been rate-limited; you can retry this action in about %d "
                   "seconds. (fake hub: quota %d per %d s in bucket %s)"
                   % (reset, quota, WINDOW, bucket))
            self.answer(error_answer(429, msg, body=self.command != "HEAD"))
            return
        self.auth_setup()
        if self.bad_token:
            self.answer(error_answer(401, MSG_BAD_TOKEN, body=self.command != "HEAD"))
            return
        try:
            ans = self.route_hub()
        except Abort as a:
            ans = a.answer
        self.answer(ans)

    def early_faults(self, bucket, quota):
        """delay / status / rate_limit. Returns True when the answer was sent."""
        app = self.server.app
        all_ok = {"delay": lambda p: True, "status": lambda p: True,
                  "rate_limit": lambda p: True}
        faults = app.take_faults(self.server.role, self.command, self.dpath, all_ok)
        if "delay" in faults:
            self.fault_names.append("delay")
            time.sleep(float(faults["delay"].get("seconds", 1)))
        hh = self._hub_headers if self.server.role == "hub" else []
        if "rate_limit" in faults:
            self.fault_names.append("rate_limit")
            p = faults["rate_limit"]
            t = int(p.get("reset_seconds", 10))
            hh = [h for h in hh if h[0] not in ("RateLimit", "RateLimit-Policy")]
            hh += [("RateLimit", '"%s";r=0;t=%d' % (bucket, t)),
                   ("RateLimit-Policy", '"fixed window";"%s";q=%d;w=%d'
                    % (bucket, quota, WINDOW))]
            if p.get("retry_after"):
                hh.append(("Retry-After", str(t)))
            ans = error_answer(429, "You have been rate-limited (fake hub fault).",
                               body=self.command != "HEAD")
            self.finish_answer(ans, hh)
            return True
        if "status" in faults:
            self.fault_names.append("status")
            code = int(faults["status"].get("code", 503))
            ans = error_answer(code, "fake hub fault: status %d" % code,
                               body=self.command != "HEAD")
            pad = int(faults["status"].get("body_bytes", 0))
            if pad and self.command != "HEAD":
                # A CDN's HTML error page, as big as asked.
                page = b"<html><body>" + b"x" * pad
                ans.body = page[:pad]
                ans.set_header("Content-Type", "text/html")
            self.finish_answer(ans, hh)
            return True
        return False

    def auth_setup(self):
        store = self.server.app.store
        self.token = None
        self.tok = None
        self.bad_token = False
        auth = self.headers.get("Authorization")
        if auth is None:
            return
        scheme, _, cred = auth.strip().partition(" ")
        cred = cred.strip()
        if scheme.lower() == "bearer":
            tok = cred
        elif scheme.lower() == "basic":
            try:
                tok = base64.b64decode(cred).decode("utf-8").partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                tok = ""
        else:
            tok = ""
        if tok and tok in store.tokens:
            self.token = tok
            self.tok = store.tokens[tok]
        else:
            self.bad_token = True

    def no_repo(self):
        if self.tok is None:
            return error_answer(401, MSG_ANON_NOT_FOUND, "RepoNotFound",
                                body=self.command != "HEAD")
        return error_answer(404, MSG_REPO_NOT_FOUND, "RepoNotFound",
                            body=self.command != "HEAD")

    def check_access(self, repo, content):
        """Raises Abort for a missing/invisible repo, and (content=True) for gated files."""
        if repo is None:
            raise Abort(self.no_repo())
        if repo.private and (self.tok is None or repo.key not in (self.tok.get("private") or [])):
            raise Abort(self.no_repo())
        if repo.disabled:
            # As the Hub answers for a disabled repo, whoever asks: no X-Error-Code, the
            # message alone (huggingface_hub's DisabledRepoError keys on it).
            raise Abort(error_answer(403, MSG_DISABLED, body=self.command != "HEAD"))
        if content and repo.gated:
            if self.tok is None:
                msg = ("Access to %s %s is restricted. You must have access to it and be "
                       "authenticated to access it. Please log in." % (repo.type, repo.id))
                raise Abort(error_answer(401, msg, "GatedRepo",
                                         [("WWW-Authenticate",
                                           'Bearer realm="Authentication required", '
                                           'charset="UTF-8"')],
                                         body=self.command != "HEAD"))
            if repo.key not in (self.tok.get("gated") or []):
                msg = ("Access to %s %s is restricted and you are not in the authorized "
                       "list. Visit https://huggingface.co/%s%s to ask for access."
                       % (repo.type, repo.id, repo.url_prefix(), repo.id))
                raise Abort(error_answer(403, msg, "GatedRepo",
                                         body=self.command != "HEAD"))

    def match_repo(self, rtype, segs):
        """(repo, n) for the 1- or 2-segment repo id at the start of segs, preferring
        an existing two-segment id. (None, 0) if nothing matches."""
        store = self.server.app.store
        for n in (2, 1):
            if len(segs) >= n and all(segs[:n]):
                rid = "/".join(urllib.parse.unquote(s) for s in segs[:n])
                r = store.find(rtype, rid)
                if r is not None:
                    return r, n
        return None, 0

    def maybe_recase(self, repo, segs, n, before):
        """307 with a path-only Location when the repo id is mis-cased."""
        given = "/".join(urllib.parse.unquote(s) for s in segs[:n])
        if given == repo.id:
            return
        self.check_access(repo, False)
        parts = list(before) + repo.id.split("/") + list(segs[n:])
        loc = "/" + "/".join(parts)
        if self.raw_query:
            loc += "?" + self.raw_query
        body = ("Temporary Redirect. Redirecting to %s" % loc).encode("utf-8")
        raise Abort(Answer(307, [("Location", loc),
                                 ("Content-Type", "text/plain; charset=utf-8")], body,
                           kind="redirect"))

    def split_rev(self, repo, segs, need_path):
        """Splits raw segments into (revision, sha or None, path segments).

        The revision is one segment (percent-decoded: refs%2Fpr%2F1, feature%2Fx),
        except for literal refs/...: there the longest prefix that names an existing
        ref wins (refs/pr/1, refs/convert/parquet). Other literal slashes are NOT
        joined: /tree/feature/long-context means revision "feature", as on the Hub."""
        if not segs or segs[0] == "":
            return "", None, segs[1:]
        first = urllib.parse.unquote(segs[0])
        if first == "refs" and len(segs) > 1:
            max_k = len(segs) - 1 if need_path else len(segs)
            for k in range(max_k, 1, -1):
                cand = "/".join(urllib.parse.unquote(s) for s in segs[:k])
                sha = repo.resolve(cand)
                if sha:
                    return cand, sha, segs[k:]
            k = max(1, min(3, max_k))
            return "/".join(urllib.parse.unquote(s) for s in segs[:k]), None, segs[k:]
        return first, repo.resolve(first), segs[1:]

    def rev_not_found(self, rev):
        return error_answer(404, "Invalid rev id: %s" % rev, "RevisionNotFound",
                            body=self.command != "HEAD")

    def route_hub(self):
        segs = self.raw_path.split("/")[1:]
        m = self.command
        if segs and segs[0] == "api":
            if segs[1:] == ["whoami-v2"] and m in ("GET", "HEAD"):
                return self.whoami()
            if len(segs) >= 3 and segs[1] == "resolve-cache" and segs[2] in API_TYPES:
                rtype = API_TYPES[segs[2]]
                rest = segs[3:]
                repo, n = self.match_repo(rtype, rest)
                if repo is None:
                    raise Abort(self.no_repo())
                self.maybe_recase(repo, rest, n, segs[:3])
                self.check_access(repo, True)
                if m not in ("GET", "HEAD"):
                    return self.not_allowed()
                return self.resolve_cache(repo, rest[n:])
            if len(segs) >= 2 and segs[1] in API_TYPES:
                rtype = API_TYPES[segs[1]]
                rest = segs[2:]
                if not rest or rest == [""]:
                    return self.list_repos(rtype)
                repo, n = self.match_repo(rtype, rest)
                if repo is None:
                    raise Abort(self.no_repo())
                self.maybe_recase(repo, rest, n, segs[:2])
                sub = rest[n:]
                return self.api_repo(repo, sub)
            return self.not_found_plain()
        # file routes: /{prefix}{id}/resolve|raw/{rev}/{path}, {id}.git/info/lfs/...
        rtype, rest, before = "model", segs, []
        if segs and segs[0] in ("datasets", "spaces"):
            rtype = "dataset" if segs[0] == "datasets" else "space"
            rest, before = segs[1:], segs[:1]
        for n in (2, 1):
            if len(rest) > n and rest[n - 1].endswith(".git") and \
                    rest[n:n + 4] == ["info", "lfs", "objects", "batch"]:
                ids = rest[:n - 1] + [rest[n - 1][:-4]]
                repo, k = self.match_repo(rtype, ids)
                if repo is None or k != n:
                    raise Abort(self.no_repo())
                return self.lfs_batch(repo)
        repo, n = self.match_repo(rtype, rest)
        if repo is not None and len(rest) > n and rest[n] in ("resolve", "raw"):
            self.maybe_recase(repo, rest, n, before)
            self.check_access(repo, True)
            if m not in ("GET", "HEAD"):
                return self.not_allowed()
            if rest[n] == "resolve":
                return self.resolve(repo, rest[n + 1:])
            return self.raw(repo, rest[n + 1:])
        if (len(rest) > 2 and rest[2] in ("resolve", "raw")) or \
                (len(rest) > 1 and rest[1] in ("resolve", "raw")):
            raise Abort(self.no_repo())
        return self.not_found_plain()

    def not_found_plain(self):
        return error_answer(404, "Not Found", body=self.command != "HEAD")

    def not_allowed(self):
        return error_answer(405, "Method not allowed", body=self.command != "HEAD")

    def base_url(self):
        host = self.headers.get("Host")
        return "http://" + host if host else self.server.base_url()

    def link_base(self):
        """Where next-page links point: this host, or (link_base, a test knob) another
        origin, to prove that a client does not follow one there with its token."""
        return self.server.app.cfg("link_base") or self.base_url()

    # whoami --------------------------------------------------------------------------
    def whoami(self):
        if self.tok is None:
            return error_answer(401, MSG_ANON_NOT_FOUND, body=self.command != "HEAD")
        user = self.tok.get("user", "user")
        store = self.server.app.store
        orgs = sorted({store.repos[k].author for k in (self.tok.get("private") or [])
                       if k in store.repos and store.repos[k].author})
        return json_answer({
            "type": "user", "id": hashlib.md5(("user:" + user).encode()).hexdigest()[:24],
            "name": user, "fullname": user.capitalize(), "email": "%s@example.com" % user,
            "emailVerified": True, "canPay": False, "isPro": False, "periodEnd": None,
            "avatarUrl": "/avatars/%s.svg" % user,
            "orgs": [{"type": "org", "name": o, "fullname": o, "roleInOrg": "admin",
                      "id": hashlib.md5(("org:" + o).encode()).hexdigest()[:24]}
                     for o in orgs],
            "auth": {"type": "access_token",
                     "accessToken": {"displayName": "fakehub", "role": "read",
                                     "createdAt": "2024-01-01T00:00:00.000Z"}},
        })

    # /api/{type}s?author=... -------------------------------------------------------------
    def repo_summary(self, repo):
        """Every property a repo list can show for @repo (expand= picks among them)."""
        d = repo.d
        card = d.get("card") or {}
        sha = repo.resolve("HEAD")
        commit = repo.commits.get(sha) if sha else None
        out = {"_id": repo.oid_hex, "id": repo.id, "author": repo.author, "sha": sha,
               "lastModified": commit.date if commit else None, "private": repo.private,
               "gated": repo.gated, "disabled": bool(d.get("disabled", False)),
               "likes": int(d.get("likes", 0)), "downloads": int(d.get("downloads", 0)),
               "downloadsAllTime": int(d.get("downloads_all_time", d.get("downloads", 0))),
               "trendingScore": 0, "tags": list(d.get("tags") or []),
               "createdAt": d.get("created_at") or (commit.date if commit else None)}
        if card:
            out["cardData"] = card
        if repo.type == "model":
            out["modelId"] = repo.id
            for k in ("pipeline_tag", "library_name"):
                if d.get(k) or card.get(k):
                    out[k] = d.get(k) or card.get(k)
        if repo.type == "space":
            out["sdk"] = d.get("sdk") or card.get("sdk") or "gradio"
        return out

    def list_repos(self, rtype):
        """GET /api/{models,datasets,spaces}: the repos of a type, filtered by author= and
        search=, in id order, paged by limit= (at most the page size) and an opaque cursor
        in an absolute Link; private repos only for a token that can read them."""
        app = self.server.app
        if self.command not in ("GET", "HEAD"):
            return self.not_allowed()
        expand = qs_all(self.query, "expand", "expand[]")
        allowed = EXPANDABLE.get(rtype, set())
        bad = [e for e in expand if e not in allowed]
        if bad:
            return error_answer(
                400, '"expand" must be one of [%s] (got %s)'
                % (", ".join(sorted(allowed)), ", ".join(bad)), body=self.command != "HEAD")
        author = qs_get(self.query, "author")
        search = (qs_get(self.query, "search") or "").lower()
        readable = set(self.tok.get("private") or []) if self.tok else set()
        pool = [r for r in app.store.listing[rtype]
                if (author is None or (r.author or "").lower() == author.lower())
                and (not r.private or r.key in readable)
                and search in r.id.lower()]
        page_size = int(app.cfg("page_size"))
        limit = page_size
        lim = qs_get(self.query, "limit")
        if lim:
            try:
                limit = max(1, min(int(lim), page_size))
            except ValueError:
                return error_answer(400, "Invalid limit", body=self.command != "HEAD")
        start = 0
        cursor = qs_get(self.query, "cursor")
        if cursor:
            try:
                last = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_",
                                        validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                last = ""
            if not last:
                return error_answer(400, "Invalid cursor", body=self.command != "HEAD")
            start = bisect.bisect_right([r.id for r in pool], last)
        page = pool[start:start + limit]
        out = []
        for r in page:
            full = self.repo_summary(r)
            if expand:
                keep = ["_id", "id"] + expand
            elif rtype == "model":
                keep = ["_id", "id", "likes", "trendingScore", "private", "downloads", "tags",
                        "pipeline_tag", "library_name", "createdAt", "modelId"]
            else:
                keep = ["_id", "id", "author", "disabled", "gated", "lastModified", "likes",
                        "trendingScore", "private", "sha", "downloads", "tags", "createdAt"]
                if rtype == "space":
                    keep.append("sdk")
            out.append({k: full[k] for k in keep if k in full})
        extra = []
        if start + limit < len(pool) and page:
            cur = base64.urlsafe_b64encode(page[-1].id.encode("utf-8")).decode().rstrip("=")
            q = [(k, v) for k, v in self.query if k != "cursor"] + [("cursor", cur)]
            url = "%s%s?%s" % (self.link_base(), self.raw_path,
                               urllib.parse.urlencode(q, quote_via=urllib.parse.quote))
            extra.append(("Link", '<%s>; rel="next"' % url))
        return json_answer(out, headers=extra)

    # /api/{type}s/{id}/... -------------------------------------------------------------
    def api_repo(self, repo, sub):
        m = self.command
        sub0 = sub[0] if sub else ""
        if sub0 == "paths-info":
            self.check_access(repo, False)
            if m != "POST":
                return self.not_allowed()
            return self.paths_info(repo, sub[1:])
        if m not in ("GET", "HEAD"):
            self.check_access(repo, False)
            return self.not_allowed()
        if sub0 == "" and len(sub) <= 1:
            self.check_access(repo, False)
            return self.repo_info(repo, repo.default_branch, repo.resolve("HEAD"))
        if sub0 == "revision":
            self.check_access(repo, False)
            rev, sha, rest = self.split_rev(repo, sub[1:], False)
            if sha is None or any(rest):
                return self.rev_not_found(rev if sha is None else "/".join(
                    [rev] + [urllib.parse.unquote(s) for s in rest]))
            return self.repo_info(repo, rev, sha)
        if sub0 == "tree":
            self.check_access(repo, False)
            return self.tree(repo, sub[1:])
        if sub0 == "treesize":
            self.check_access(repo, False)
            return self.treesize(repo, sub[1:])
        if sub0 == "refs" and len(sub) == 1:
            self.check_access(repo, False)
            return self.refs(repo)
        if sub0 == "commits":
            self.check_access(repo, False)
            return self.commits(repo, sub[1:])
        self.check_access(repo, False)
        return self.not_found_plain()

    def resolve_or_abort(self, repo, segs, need_path):
        rev, sha, rest = self.split_rev(repo, segs, need_path)
        if sha is None:
            raise Abort(self.rev_not_found(rev))
        return rev, repo.commits[sha], rest

    # repo info --------------------------------------------------------------------------
    def repo_info(self, repo, rev, sha):
        store = self.server.app.store
        if sha is None:
            return self.rev_not_found(rev)
        commit = repo.commits[sha]
        expand = qs_all(self.query, "expand", "expand[]")
        allowed = EXPANDABLE.get(repo.type, set())
        bad = [e for e in expand if e not in allowed]
        if bad:
            return error_answer(
                400, '"expand" must be one of [%s] (got %s)'
                % (", ".join(sorted(allowed)), ", ".join(bad)), body=self.command != "HEAD")
        blobs = truthy(qs_get(self.query, "blobs"))
        entries, _, _ = commit.index()
        files = sorted(commit.files)
        siblings = []
        for p in files:
            s = {"rfilename": p}
            if blobs:
                f = commit.files[p]
                s["blobId"] = f["oid"]
                s["size"] = f["size"]
                if f.get("lfs"):
                    s["lfs"] = {"sha256": f["lfs"]["oid"], "size": f["lfs"]["size"],
                                "pointerSize": f["lfs"]["pointerSize"]}
            siblings.append(s)
        d = repo.d
        card = d.get("card") or None
        full = {"_id": repo.oid_hex, "id": repo.id}
        default_keys = ["_id", "id"]

        def put(k, v, default=True):
            full[k] = v
            if default:
                default_keys.append(k)

        if repo.type == "model":
            put("modelId", repo.id)
        put("author", repo.author)
        put("sha", sha)
        put("lastModified", commit.date)
        put("private", repo.private)
        put("disabled", bool(d.get("disabled", False)))
        put("gated", repo.gated)
        if repo.type == "model":
            cfg = None
            if "config.json" in commit.files:
                f = commit.files["config.json"]
                if not f.get("lfs"):
                    cfg = store.read_json_blob(f["sha256"], f["size"])
            pipeline = d.get("pipeline_tag") or (card or {}).get("pipeline_tag")
            if pipeline:
                put("pipeline_tag", pipeline)
            library = d.get("library_name") or (card or {}).get("library_name") or \
                ("transformers" if cfg is not None else None)
            if library:
                put("library_name", library)
        put("tags", list(d.get("tags") or []))
        put("downloads", int(d.get("downloads", 0)))
        put("likes", int(d.get("likes", 0)))
        if repo.type == "model":
            mi = (card or {}).get("model-index")
            if mi is not None:
                put("model-index", mi)
            if cfg is not None:
                put("config", cfg)
        if card:
            put("cardData", card)
        if repo.type == "dataset":
            put("description", d.get("description") or (card or {}).get("description") or "")
            cit = d.get("citation") or (card or {}).get("citation")
            if cit:
                put("citation", cit)
            put("paperswithcode_id", d.get("paperswithcode_id"), False)
            put("mainSize", sum(f["size"] for f in commit.files.values()), False)
        if repo.type == "space":
            put("sdk", d.get("sdk") or (card or {}).get("sdk") or "gradio")
            put("runtime", {"stage": "RUNNING",
                            "hardware": {"current": "cpu-basic", "requested": "cpu-basic"},
                            "storage": None, "gcTimeout": 172800,
                            "replicas": {"current": 1, "requested": 1}, "devMode": False})
            sub = repo.id.replace("/", "-").replace("_", "-").lower()
            put("subdomain", sub)
            put("host", "https://%s.hf.space" % sub)
            put("models", list(d.get("models") or []))
            put("datasets", list(d.get("datasets") or []))
            put("region", "us", False)
        put("siblings", siblings)
        if repo.type == "model":
            put("spaces", [])
        put("createdAt", d.get("created_at") or commit.date)
        if repo.type == "model":
            params = {}
            for p, f in commit.files.items():
                if p.endswith(".safetensors"):
                    got = store.safetensors_params(f["sha256"])
                    if got:
                        for k, v in got.items():
                            params[k] = params.get(k, 0) + v
            if params:
                put("safetensors", {"parameters": params, "total": sum(params.values())})
            put("inferenceProviderMapping", {}, False)
            put("childrenModelCount", 0, False)
        put("usedStorage", repo.used_storage())
        put("downloadsAllTime", int(d.get("downloads_all_time", d.get("downloads", 0))), False)
        put("trendingScore", 0, False)
        put("xetEnabled", False, False)
        put("gitalyUid", hashlib.sha256(repo.key.encode()).hexdigest(), False)
        put("resourceGroup", None, False)
        if truthy(qs_get(self.query, "securityStatus")) and not expand:
            put("securityRepoStatus", {"scansDone": True, "filesWithIssues": []})
        if expand:
            out = {"_id": full["_id"], "id": full["id"]}
            for e in expand:
                if e in full:
                    out[e] = full[e]
            # valid Hub properties this fake has no value for (baseModels, gguf, ...)
            # are omitted, as the Hub omits absent ones
        else:
            out = {k: full[k] for k in default_keys}
        return json_answer(out)

    # tree -------------------------------------------------------------------------------
    def entry_out(self, repo, commit, e, expand):
        if not expand:
            return e
        o = dict(e)
        c = repo.last_commits(commit).get(e["path"])
        if c is not None:
            o["lastCommit"] = {"id": c.sha, "title": c.title, "date": c.date}
        if e["type"] == "file":
            # The shape hub-api.md 4.1 gives; huggingface_hub reads avScan
            # and pickleImportScan as keys (a KeyError without them).
            o["securityFileStatus"] = {"status": "safe",
                                       "avScan": {"virusFound": False, "virusNames": None},
                                       "pickleImportScan": None}
        return o

    def tree(self, repo, segs):
        app = self.server.app
        rev, commit, rest = self.resolve_or_abort(repo, segs, False)
        path = urllib.parse.unquote("/".join(rest)).strip("/")
        recursive = truthy(qs_get(self.query, "recursive"))
        expand = truthy(qs_get(self.query, "expand"))
        entries, sorted_all, children = commit.index()
        if path and (path not in entries or entries[path]["type"] != "directory"):
            # unknown path, or a file (the Hub's answer for a file is not documented)
            return error_answer(404, MSG_ENTRY_NOT_FOUND, "EntryNotFound",
                                body=self.command != "HEAD")
        if recursive:
            if path:
                lo = bisect.bisect_left(sorted_all, path + "/")
                hi = bisect.bisect_left(sorted_all, path + "0")  # "0" follows "/"
                pool = sorted_all[lo:hi]
            else:
                pool = sorted_all
        else:
            pool = children.get(path, [])
        page_size = int(app.cfg("page_size"))
        default = min(page_size, 100) if expand else page_size
        limit = default
        lim = qs_get(self.query, "limit")
        if lim:
            try:
                limit = max(1, min(int(lim), default))
            except ValueError:
                limit = default
        start = 0
        cursor = qs_get(self.query, "cursor")
        if cursor:
            try:
                last = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            except (ValueError, UnicodeDecodeError):
                return error_answer(400, "Invalid cursor", body=self.command != "HEAD")
            start = bisect.bisect_right(pool, last)
        page = pool[start:start + limit]
        out = [self.entry_out(repo, commit, entries[p], expand) for p in page]
        extra = []
        if start + limit < len(pool) and page:
            cur = base64.urlsafe_b64encode(page[-1].encode("utf-8")).decode()
            if app.cfg("link_loop") and start >= 2 * limit:
                # A test knob: the third page links back to the second, for good.
                cur = base64.urlsafe_b64encode(pool[limit - 1].encode("utf-8")).decode()
            url = "%s%s?expand=%s&recursive=%s&limit=%d&cursor=%s" % (
                self.link_base(), self.raw_path, "true" if expand else "false",
                "true" if recursive else "false", limit, urllib.parse.quote(cur, safe=""))
            extra.append(("Link", '<%s>; rel="next"' % url))
        return json_answer(out, headers=extra)

    def treesize(self, repo, segs):
        rev, commit, rest = self.resolve_or_abort(repo, segs, False)
        path = urllib.parse.unquote("/".join(rest)).strip("/")
        entries = commit.index()[0]
        if path and path not in entries:
            return error_answer(404, MSG_ENTRY_NOT_FOUND, "EntryNotFound",
                                body=self.command != "HEAD")
        if path and entries[path]["type"] == "file":
            total = entries[path]["size"]
        else:
            pre = path + "/" if path else ""
            total = sum(f["size"] for p, f in commit.files.items() if p.startswith(pre))
        return json_answer({"path": path, "size": total})

    def paths_info(self, repo, segs):
        rev, commit, rest = self.resolve_or_abort(repo, segs, False)
        if any(rest):
            raise Abort(self.rev_not_found("/".join([rev] + [urllib.parse.unquote(s)
                                                              for s in rest])))
        ctype = (self.headers.get("Content-Type") or "").lower()
        paths, expand = [], False
        text = self.body.decode("utf-8", "replace")
        parsed = None
        if "json" in ctype or (text.lstrip().startswith("{") and "form" not in ctype):
            try:
                parsed = json.loads(text or "{}")
            except ValueError:
                return error_answer(400, "Invalid JSON body", body=self.command != "HEAD")
        if isinstance(parsed, dict):
            p = parsed.get("paths", [])
            paths = [p] if isinstance(p, str) else list(p or [])
            ex = parsed.get("expand", False)
            expand = ex if isinstance(ex, bool) else truthy(str(ex))
        else:
            form = urllib.parse.parse_qsl(text, keep_blank_values=True)
            paths = qs_all(form, "paths", "paths[]")
            expand = truthy(qs_get(form, "expand"))
        if truthy(qs_get(self.query, "expand")):
            expand = True
        if len(paths) > 2000:
            return error_answer(400, "Too many paths (max 2000)", body=self.command != "HEAD")
        entries = commit.index()[0]
        out = []
        for p in paths:
            if not isinstance(p, str):
                continue
            key = p.strip("/")
            if key in entries:
                out.append(self.entry_out(repo, commit, entries[key], expand))
        return json_answer(out)

    def refs(self, repo):
        branches, tags, pulls, converts = repo.refs_snapshot()

        def ref_list(table, prefix, named_full=False):
            keys = sorted(table, key=lambda k: (k != repo.default_branch, k)) \
                if prefix == "refs/heads/" else sorted(table, key=lambda k: (len(k), k))
            return [{"name": prefix + k if named_full else k, "ref": prefix + k,
                     "targetCommit": table[k]} for k in keys]

        out = {"branches": ref_list(branches, "refs/heads/"),
               "converts": ref_list(converts, "refs/convert/"),
               "tags": ref_list(tags, "refs/tags/")}
        if truthy(qs_get(self.query, "include_prs")):
            out["pullRequests"] = ref_list(pulls, "refs/pr/", named_full=True)
        return json_answer(out)

    def commits(self, repo, segs):
        rev, commit, rest = self.resolve_or_abort(repo, segs, False)
        chain = repo.first_parent_chain(commit.sha)
        try:
            limit = max(1, min(int(qs_get(self.query, "limit") or 50), 1000))
            page = max(0, int(qs_get(self.query, "p") or 0))
        except ValueError:
            return error_answer(400, "Invalid pagination parameters",
                                body=self.command != "HEAD")
        formatted = "formatted" in qs_all(self.query, "expand", "expand[]")
        items = []
        user = repo.d.get("owner") or "alice"
        for c in chain[page * limit:(page + 1) * limit]:
            it = {"id": c.sha, "title": c.title, "message": c.message,
                  "authors": [{"user": c.author or user,
                               "avatar": "/avatars/%s.svg" % (c.author or user)}],
                  "date": c.date}
            if formatted:
                esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;")  # noqa: E731
                it["formatted"] = {"title": esc(c.title), "message": esc(c.message)}
            items.append(it)
        extra = [("X-Total-Count", str(len(chain)))]
        if (page + 1) * limit < len(chain):
            url = "%s%s?p=%d&limit=%d" % (self.base_url(), self.raw_path, page + 1, limit)
            extra.append(("Link", '<%s>; rel="next"' % url))
        return json_answer(items, headers=extra)

    # file content -------------------------------------------------------------------
    def lookup_file(self, repo, segs):
        """(rev, commit, path, file dict) or Abort(404 RevisionNotFound/EntryNotFound)."""
        rev, commit, rest = self.resolve_or_abort(repo, segs, True)
        path = urllib.parse.unquote("/".join(rest))
        f = commit.files.get(path)
        if f is None:
            raise Abort(error_answer(404, MSG_ENTRY_NOT_FOUND, "EntryNotFound",
                                     [("X-Repo-Commit", commit.sha)],
                                     body=self.command != "HEAD"))
        return rev, commit, path, f

    def resolve(self, repo, segs):
        app = self.server.app
        rev, commit, path, f = self.lookup_file(repo, segs)
        headers = [("X-Repo-Commit", commit.sha), ("Accept-Ranges", "bytes"),
                   ("Content-Type", "text/plain; charset=utf-8")]
        if f.get("lfs"):
            sha = f["lfs"]["oid"]
            dl = truthy(qs_get(self.query, "download"))
            nocd = truthy(qs_get(self.query, "noContentDisposition"))
            loc = app.cdn_url(sha, path.rsplit("/", 1)[-1], attachment=dl,
                              disposition=not nocd)
            headers += [("Location", loc), ("X-Linked-Etag", '"%s"' % sha),
                        ("X-Linked-Size", str(f["lfs"]["size"]))]
            body = ("Found. Redirecting to %s" % loc).encode("utf-8")
            return Answer(302, headers, body, kind="redirect")
        tp = repo.type + "s"
        quoted = urllib.parse.quote(path)
        origin = "/%s%s/resolve/%s/%s" % (repo.url_prefix(), repo.id, rev, path)
        loc = "/api/resolve-cache/%s/%s/%s/%s?%s=&etag=%s" % (
            tp, repo.id, commit.sha, quoted, urllib.parse.quote(origin, safe=""),
            urllib.parse.quote('"%s"' % f["oid"], safe=""))
        headers += [("Location", loc), ("X-Linked-Etag", '"%s"' % f["oid"]),
                    ("X-Linked-Size", str(f["size"]))]
        body = ("Temporary Redirect. Redirecting to %s" % loc).encode("utf-8")
        return Answer(307, headers, body, kind="redirect")

    def resolve_cache(self, repo, segs):
        rev, commit, path, f = self.lookup_file(repo, segs)
        if f.get("lfs"):
            return self.resolve(repo, segs)
        return self.file_answer(f["sha256"], f["size"], '"%s"' % f["oid"], commit,
                                path, lfs=None)

    def raw(self, repo, segs):
        rev, commit, path, f = self.lookup_file(repo, segs)
        if f.get("lfs"):
            ptr = lfs_pointer(f["lfs"]["oid"], f["lfs"]["size"])
            a = Answer(200, [("Content-Type", "text/plain; charset=utf-8"),
                             ("ETag", '"%s"' % f["oid"]), ("X-Repo-Commit", commit.sha),
                             ("Accept-Ranges", "bytes")], ptr)
            return self.range_bytes(a, ptr)
        return self.file_answer(f["sha256"], f["size"], '"%s"' % f["oid"], commit,
                                path, lfs=None)

    def range_bytes(self, a, data):
        kind, start, length = parse_range(self.headers.get("Range"), len(data))
        if kind == "partial":
            a.status = 206
            a.headers.append(("Content-Range", "bytes %d-%d/%d"
                              % (start, start + length - 1, len(data))))
            a.body = data[start:start + length]
        elif kind == "unsatisfiable":
            return error_answer(416, "Requested Range Not Satisfiable",
                                headers=[("Content-Range", "bytes */%d" % len(data))],
                                body=self.command != "HEAD")
        else:
            a.gzip_ok = True
        return a

    def file_answer(self, sha256, size, etag, commit, path, lfs):
        """200/206/416 for a git file on the Hub host (resolve-cache, raw)."""
        store = self.server.app.store
        blob = store.blob_path(sha256)
        text = store.is_text(sha256, size)
        headers = [("Content-Type", "text/plain; charset=utf-8" if text
                    else "application/octet-stream"),
                   ("ETag", etag), ("X-Repo-Commit", commit.sha), ("Accept-Ranges", "bytes"),
                   ("Content-Disposition", content_disposition(path.rsplit("/", 1)[-1]))]
        if self.if_none_match(etag):
            return Answer(304, headers, b"")
        return self.blob_answer(blob, size, headers, sha256, lfs=False, text=text,
                                error_json=True)

    def if_none_match(self, etag):
        inm = self.headers.get("If-None-Match")
        if not inm:
            return False
        want = etag.strip('"')
        return any(t.strip().removeprefix("W/").strip('"') in (want, "*")
                   for t in inm.split(","))

    def blob_answer(self, blob, size, headers, sha256, lfs, text, error_json):
        rng = self.headers.get("Range")
        kind, start, length = parse_range(rng, size)
        info = {"size": size, "lfs": lfs, "sha256": sha256, "blob": blob,
                "range_requested": bool(rng), "headers": list(headers)}
        if not os.path.exists(blob):
            log_err("missing blob %s" % blob)
            return error_answer(500, "fake hub: blob missing", body=self.command != "HEAD")
        if kind == "unsatisfiable":
            h = [h for h in headers if h[0] not in ("Content-Type",)]
            h.append(("Content-Range", "bytes */%d" % size))
            if error_json:
                a = error_answer(416, "Requested Range Not Satisfiable", headers=h,
                                 body=self.command != "HEAD")
            else:
                a = Answer(416, h + [("Content-Type", "application/xml")],
                           b"" if self.command == "HEAD" else
                           b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>'
                           b"InvalidRange</Code><Message>The requested range is not "
                           b"satisfiable</Message></Error>", kind="error")
            a.file_info = info
            return a
        a = Answer(206 if kind == "partial" else 200, headers, b"", kind="file")
        if kind == "partial":
            a.headers.append(("Content-Range", "bytes %d-%d/%d"
                              % (start, start + length - 1, size)))
        if length:
            a.file = (blob, start, length)
        a.file_info = info
        if kind == "full" and text and size <= GZIP_MAX and size > 0:
            # gzip + chunked for text, as the Hub's CDN does when the client accepts it
            if accepts_gzip(self.headers.get("Accept-Encoding")) and self.command == "GET":
                a.gzip_file = True
        return a

    def lfs_batch(self, repo):
        app = self.server.app
        self.check_access(repo, True)
        if self.command != "POST":
            return self.not_allowed()
        try:
            req = json.loads(self.body.decode("utf-8") or "{}")
        except ValueError:
            return json_answer({"message": "invalid JSON"}, 422)
        if req.get("operation") != "download":
            return json_answer({"message": "fake hub: only download is supported"}, 403)
        known = {}
        for c in repo.commits.values():
            for p, f in c.files.items():
                if f.get("lfs"):
                    known.setdefault(f["lfs"]["oid"], (f["lfs"]["size"], p))
        objs = []
        ttl = int(app.cfg("url_ttl"))
        for o in req.get("objects") or []:
            oid = o.get("oid")
            if oid in known:
                size, p = known[oid]
                objs.append({"oid": oid, "size": size, "authenticated": True,
                             "actions": {"download": {
                                 "href": app.cdn_url(oid, p.rsplit("/", 1)[-1]),
                                 "expires_in": ttl}}})
            else:
                objs.append({"oid": oid, "size": o.get("size"),
                             "error": {"code": 404, "message": "Object does not exist"}})
        a = json_answer({"transfer": "basic", "objects": objs, "hash_algo": "sha256"})
        a.set_header("Content-Type", "application/vnd.git-lfs+json; charset=utf-8")
        return a

    # ------------------------------------------------------------------------------
    # CDN

    def handle_cdn(self):
        app = self.server.app
        if not self.cdn_admitted:
            # Too many answers in progress for this client: 429, as a CDN edge would.
            ra = app.cfg("cdn_retry_after")
            self.fault_names.append("max_active")
            body = b"" if self.command == "HEAD" else \
                b"Too many concurrent requests from this client\n"
            self.transmit(Answer(429, [("Content-Type", "text/plain"),
                                       ("Retry-After", str(ra))], body, kind="error"), {})
            return
        if self.early_faults("cdn", 0):
            return
        extra = [("X-Cache", "Hit from cloudfront"),
                 ("Via", "1.1 %s.cloudfront.net (CloudFront)" % secrets.token_hex(16)),
                 ("X-Amz-Cf-Pop", "FAKE50-C1"),
                 ("X-Amz-Cf-Id", base64.urlsafe_b64encode(secrets.token_bytes(42)).decode()),
                 ("Access-Control-Allow-Origin", "*")]

        def deny(xcode, msg, status=403):
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
                    "<Message>%s</Message></Error>" % (xcode, msg)).encode()
            a = Answer(status, [("Content-Type", "application/xml"),
                                ("X-Error-Message", msg)],
                       b"" if self.command == "HEAD" else body, kind="error")
            self.finish_answer(a, [("X-Cache", "Error from cloudfront")] + extra[1:])

        if self.command not in ("GET", "HEAD"):
            return deny("MethodNotAllowed", "The specified method is not allowed",
                        status=405)
        if self.headers.get("Authorization") is not None and app.cfg("cdn_auth") == "reject":
            return deny("InvalidArgument",
                        "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                        "parameter, Signature query string parameter or the Authorization "
                        "header should be specified")
        m = re.fullmatch(r"/repos/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})", self.raw_path)
        expires = qs_get(self.query, "Expires")
        sig = qs_get(self.query, "Signature")
        if not m:
            return deny("NoSuchKey", "The specified key does not exist.", status=404)
        if not expires or not sig:
            return deny("MissingKey", "Missing Key-Pair-Id query parameter or cookie "
                                           "value")
        if not hmac.compare_digest(sig, app.sign(self.raw_path, expires,
                                                 qs_get(self.query, "X-Amz-Date") or "",
                                                 qs_get(self.query, "X-Amz-Expires") or "")):
            return deny("AccessDenied", "Access denied")
        try:
            if int(expires) < time.time():
                return deny("AccessDenied", "Request has expired")
        except ValueError:
            return deny("AccessDenied", "Access denied")
        sha = m.group(3)
        if m.group(1) != sha[:2] or m.group(2) != sha[2:4]:
            return deny("NoSuchKey", "The specified key does not exist.", status=404)
        blob = app.store.blob_path(sha)
        try:
            size = os.stat(blob).st_size
        except OSError:
            return deny("NoSuchKey", "The specified key does not exist.", status=404)
        etag = '"%s"' % sha
        headers = [("Content-Type", qs_get(self.query, "response-content-type")
                    or "application/octet-stream"),
                   ("ETag", etag), ("Accept-Ranges", "bytes"),
                   ("Cache-Control", "public, max-age=31536000, immutable"),
                   ("Last-Modified", "Tue, 02 Jan 2024 03:04:05 GMT"), ("Age", "42")]
        cd = qs_get(self.query, "response-content-disposition")
        if cd:
            headers.append(("Content-Disposition", cd))
        if self.if_none_match(etag):
            a = Answer(304, headers, b"")
        else:
            a = self.blob_answer(blob, size, headers, sha, lfs=True, text=False,
                                 error_json=False)
        self.finish_answer(a, extra)


# ----------------------------------------------------------------------------------
# main


def check_loopback(host):
    try:
        infos = socket.getaddrinfo(host, 0, proto=socket.IPPROTO_TCP)
    except socket.gaierror as e:
        raise SystemExit("fakehub: cannot resolve %s: %s" % (host, e))
    addrs = {i[4][0] for i in infos}
    for a in addrs:
        if not ipaddress.ip_address(a.split("%")[0]).is_loopback:
            raise SystemExit("fakehub: refusing to bind %s (%s): not a loopback address"
                             % (host, a))
    return sorted(addrs)[0] if host == "localhost" else host


def rate_arg(text):
    """'60M' -> 60000000 (decimal suffixes K, M, G; 'MB' and 'MB/s' too)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]?)B?(?:/s)?", text.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError("not a rate: %r" % text)
    mult = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}[m.group(2).upper()]
    return int(float(m.group(1)) * mult)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Hugging Face Hub (hub + CDN) for tests")
    ap.add_argument("--data", required=True, help="directory with manifest.json and blobs/")
    ap.add_argument("--state-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--hub-host", default="127.0.0.1")
    ap.add_argument("--hub-port", type=int, default=0)
    ap.add_argument("--cdn-host", default="127.0.0.2")
    ap.add_argument("--cdn-port", type=int, default=0)
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--cdn-auth", choices=("reject", "record"), default="reject")
    ap.add_argument("--quota", type=int, default=100000)
    ap.add_argument("--url-ttl", type=int, default=3600,
                    help="lifetime of signed CDN URLs in seconds (default 3600)")
    ap.add_argument("--latency-ms", type=float, default=0.0,
                    help="WAN emulation: wait this long before every answer (hub and CDN)")
    ap.add_argument("--cdn-rate", type=rate_arg, default=0,
                    help="WAN emulation: bytes/s per CDN connection (K/M/G suffixes, "
                         "decimal; 0 = unlimited)")
    ap.add_argument("--cdn-total-rate", type=rate_arg, default=0,
                    help="WAN emulation: bytes/s of all CDN connections together")
    ap.add_argument("--cdn-max-active", type=int, default=0,
                    help="at most this many CDN answers in progress per client address; "
                         "more get 429 with Retry-After (0 = no cap)")
    ap.add_argument("--cdn-retry-after", type=int, default=1,
                    help="the Retry-After (s) of those 429s (default 1)")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = ap.parse_args(argv)

    hub_host = check_loopback(args.hub_host)
    cdn_host = check_loopback(args.cdn_host)
    app = App(args)
    hub = Server((hub_host, args.hub_port), "hub", app)
    cdn = Server((cdn_host, args.cdn_port), "cdn", app)
    app.hub_base = hub.base_url()
    app.cdn_base = cdn.base_url()

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                                name="fakehub-" + s.role, daemon=True) for s in (hub, cdn)]
    for t in threads:
        t.start()

    state = {"hub": app.hub_base, "cdn": app.cdn_base, "pid": os.getpid()}
    tmp = "%s.tmp.%d" % (args.state_file, os.getpid())
    with open(tmp, "w") as f:
        json.dump(state, f)
        f.write("\n")
    os.replace(tmp, args.state_file)
    if args.verbose:
        log_err("listening: %s" % json.dumps(state))

    while not stop.wait(0.5):
        pass
    for s in (hub, cdn):
        s.shutdown()
        s.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
