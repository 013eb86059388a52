#!/usr/bin/env python3
"""Self-test of fakehub.py (plain unittest, standard library only).

Builds a small manifest (README format 1) and blobs in a temp dir, starts the server as
a subprocess on port 0, and checks answers and the request log. Run from anywhere:

    python3 tests/fakehub/test_fakehub.py
"""

import gzip
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
FAKEHUB = os.path.join(HERE, "fakehub.py")

ALICE = "hf_alice_test_token_0123456789"
BOB = "hf_bob_test_token_0123456789"

# --------------------------------------------------------------------------------------
# Test data: a manifest in the README's format 1, with real git oids for files.


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def pointer_text(sha256, size):
    return ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
            % (sha256, size)).encode()


class DataBuilder:
    def __init__(self, root):
        self.root = root
        self.blobs = os.path.join(root, "blobs")
        os.makedirs(self.blobs, exist_ok=True)
        self.content = {}  # sha256 -> bytes

    def file(self, content, lfs=False):
        sha = hashlib.sha256(content).hexdigest()
        path = os.path.join(self.blobs, sha)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(content)
        self.content[sha] = content
        if lfs:
            ptr = pointer_text(sha, len(content))
            return {"size": len(content), "sha256": sha, "oid": git_blob_sha1(ptr),
                    "lfs": {"oid": sha, "size": len(content), "pointerSize": len(ptr)}}
        return {"size": len(content), "sha256": sha, "oid": git_blob_sha1(content),
                "lfs": None}

    @staticmethod
    def dirs_of(files):
        # any 40-hex is fine for tree oids; make them depend on the content below
        dirs = {}
        for p in files:
            parts = p.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.setdefault("/".join(parts[:i]), [])
        for d in dirs:
            below = sorted((p, f["oid"]) for p, f in files.items() if p.startswith(d + "/"))
            dirs[d] = hashlib.sha1(json.dumps(below).encode()).hexdigest()
        return dirs

    @staticmethod
    def commit(commits, title, date, parents, files):
        files = dict(files)
        body = json.dumps([title, date, parents,
                           sorted((p, f["oid"]) for p, f in files.items())]).encode()
        sha = hashlib.sha1(body).hexdigest()
        tree = hashlib.sha1(b"tree" + body).hexdigest()
        commits[sha] = {"title": title, "date": date, "parents": parents, "tree": tree,
                        "files": files, "dirs": DataBuilder.dirs_of(files)}
        return sha


def build_data(root):
    """Writes root/manifest.json + root/blobs/; returns facts the tests use."""
    b = DataBuilder(root)
    rnd = random.Random(1234)
    facts = {}
    repos = {}

    def repo(key, commits, branches, **kw):
        rtype, _, rid = key.partition("/")
        d = {"type": rtype, "id": rid, "author": rid.split("/")[0] if "/" in rid else None,
             "private": False, "gated": False, "created_at": "2024-01-02T03:04:05.000Z",
             "tags": ["license:apache-2.0"], "card": {"license": "apache-2.0"},
             "default_branch": "main",
             "refs": {"branches": branches, "tags": kw.pop("tags", {}),
                      "pulls": kw.pop("pulls", {}), "converts": kw.pop("converts", {})},
             "spare": kw.pop("spare", {}), "commits": commits}
        d.update(kw)
        repos[key] = d

    # tiny-model --------------------------------------------------------------------
    gitattr = b.file(b"*.bin filter=lfs diff=lfs merge=lfs -text\n"
                     b"*.dat filter=lfs diff=lfs merge=lfs -text\n")
    big = bytes(rnd.getrandbits(8) for _ in range(300_000)) * 7 + b"tail"  # ~2 MiB
    text = ("".join("line %05d: the quick brown fox jumps over the lazy dog\n" % i
                    for i in range(3000))).encode()
    config = json.dumps({"model_type": "bert", "hidden_size": 64}).encode()
    files1 = {".gitattributes": gitattr}
    files2 = dict(files1, **{
        "README.md": b.file(b"---\nlicense: apache-2.0\n---\n# tiny\n"),
        "config.json": b.file(config),
        "big.bin": b.file(big, lfs=True),
        "text.txt": b.file(text),
        "empty.txt": b.file(b""),
        "extra/weights.dat": b.file(bytes(range(256)) * 1200, lfs=True),
        "sub/dir/a.txt": b.file(b"hello from a\n"),
        "sub/b.txt": b.file(b"hello from b\n"),
    })
    files3 = dict(files2, **{"README.md": b.file(b"---\nlicense: apache-2.0\n---\n# tiny v2\n")})
    files4 = dict(files3, **{"config.json": b.file(json.dumps(
        {"model_type": "bert", "hidden_size": 64, "max_position_embeddings": 8192}).encode())})
    files5 = dict(files3, **{"pr.txt": b.file(b"from a pull request\n")})
    files6 = dict(files3, **{"config.json": b.file(json.dumps(
        {"model_type": "bert", "hidden_size": 128}).encode())})
    commits = {}
    c1 = b.commit(commits, "initial commit", "2024-01-02T03:04:05.000Z", [], files1)
    c2 = b.commit(commits, "Upload model", "2024-01-03T00:00:00.000Z", [c1], files2)
    c3 = b.commit(commits, "Update README.md", "2024-01-04T00:00:00.000Z", [c2], files3)
    c4 = b.commit(commits, "Long context", "2024-01-05T00:00:00.000Z", [c3], files4)
    c5 = b.commit(commits, "Add pr.txt", "2024-01-06T00:00:00.000Z", [c3], files5)
    c6 = b.commit(commits, "Update config.json", "2024-01-07T00:00:00.000Z", [c3], files6)
    repo("model/hubfs-test/tiny-model", commits,
         {"main": c3, "feature/long-context": c4}, tags={"v1.0": c2}, pulls={"1": c5},
         spare={"main": c6})
    facts["tiny"] = {"c1": c1, "c2": c2, "c3": c3, "c4": c4, "c5": c5, "c6": c6,
                     "files": files3, "big": big, "text": text, "config": config}

    # big-dataset: README.md + 2500 files in 5 folders -> 2507 tree entries ----------
    files = {"README.md": b.file(b"# big\n")}
    for i in range(2500):
        files["data/part-%d/file-%04d.txt" % (i % 5, i)] = b.file(b"row %d\n" % i)
    commits = {}
    d1 = b.commit(commits, "initial commit", "2024-02-01T00:00:00.000Z", [], files)
    repo("dataset/hubfs-test/big-dataset", commits, {"main": d1}, tags={"v1.0": d1},
         converts={"parquet": d1}, description="A big dataset.")
    facts["big"] = {"sha": d1, "files": files}

    # private, gated, space, legacy -----------------------------------------------------
    for key, extra in (("model/hubfs-test/private-model", {"private": True}),
                       ("model/hubfs-test/gated-model", {"gated": "manual"}),
                       ("model/legacy-model", {})):
        commits = {}
        fl = {"config.json": b.file(b'{"model_type": "gpt2"}'),
              "weights.bin": b.file(b"W" * 5000, lfs=True)}
        sha = b.commit(commits, "initial commit", "2024-03-01T00:00:00.000Z", [], fl)
        repo(key, commits, {"main": sha}, **extra)
        facts[key] = {"sha": sha, "files": fl}
    commits = {}
    fl = {"app.py": b.file(b"import gradio\n"), "README.md": b.file(b"---\nsdk: gradio\n---\n")}
    sha = b.commit(commits, "initial commit", "2024-03-02T00:00:00.000Z", [], fl)
    repo("space/hubfs-test/demo-space", commits, {"main": sha}, sdk="gradio")

    # list-org: 25 public models, a gated and two private ones, two datasets; they share
    # one commit, as genrepos.py's bulk-org does -----------------------------------------
    commits = {}
    fl = {"config.json": b.file(b'{"model_type": "bert"}')}
    sha = b.commit(commits, "initial commit", "2024-04-01T00:00:00.000Z", [], fl)
    for i in range(25):
        repo("model/list-org/m-%02d" % i, commits, {"main": sha})
    repo("model/list-org/gated", commits, {"main": sha}, gated="auto")
    repo("model/list-org/secret-alice", commits, {"main": sha}, private=True)
    repo("model/list-org/secret-bob", commits, {"main": sha}, private=True)
    repo("dataset/list-org/d-0", commits, {"main": sha})
    repo("dataset/list-org/d-1", commits, {"main": sha})
    repo("model/list-organisation/other", commits, {"main": sha})
    repo("model/takedown-org/gone", commits, {"main": sha}, disabled=True)
    facts["list_sha"] = sha

    # wide: a commit whose file table is in a side file (genrepos.py's wide-dataset) ------
    commits = {}
    fl = {"data/big/r-%d.txt" % i: b.file(b"r %d\n" % (i % 3)) for i in range(30)}
    wsha = b.commit(commits, "initial commit", "2024-04-02T00:00:00.000Z", [], fl)
    os.makedirs(os.path.join(root, "wide"), exist_ok=True)
    with open(os.path.join(root, "wide", wsha + ".json"), "w") as f:
        json.dump({"files": commits[wsha].pop("files"), "dirs": commits[wsha].pop("dirs")}, f)
    commits[wsha]["files_in"] = "wide/%s.json" % wsha
    repo("dataset/hubfs-test/wide", commits, {"main": wsha}, wide=True)
    facts["wide"] = {"sha": wsha, "files": fl}

    manifest = {
        "format": 1, "generator": "test_fakehub",
        "tokens": {ALICE: {"user": "alice", "private": ["model/hubfs-test/private-model",
                                                        "model/list-org/secret-alice"],
                           "gated": ["model/hubfs-test/gated-model"]},
                   BOB: {"user": "bob", "private": ["model/list-org/secret-bob"],
                         "gated": []}},
        "repos": repos,
    }
    tmp = os.path.join(root, "manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f)
    os.replace(tmp, os.path.join(root, "manifest.json"))
    facts["content"] = b.content
    return facts


# --------------------------------------------------------------------------------------
# Server process and HTTP helpers


def start_server(data, workdir, extra=()):
    state = os.path.join(workdir, "state.json")
    log = os.path.join(workdir, "requests.log")
    for p in (state, log):
        if os.path.exists(p):
            os.unlink(p)
    proc = subprocess.Popen([sys.executable, FAKEHUB, "--data", data, "--state-file", state,
                             "--log", log] + list(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 15
    while time.time() < deadline:
        if os.path.exists(state):
            with open(state) as f:
                return proc, json.load(f), log
        if proc.poll() is not None:
            raise RuntimeError("fakehub exited: %s" % proc.stderr.read().decode())
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("fakehub did not write its state file")


class Resp:
    def __init__(self, status, headers, body, err=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.err = err

    def h(self, name):
        return self.headers.get(name)

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def request(base, method, path, headers=None, body=None, timeout=10, tolerant=False):
    """One request on a fresh connection; no redirects followed. With tolerant=True a
    broken body gives Resp(err=exception, body=what arrived)."""
    u = urllib.parse.urlsplit(base if path.startswith("/") else path)
    if not path.startswith("/"):
        path = u.path + ("?" + u.query if u.query else "")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        if not tolerant:
            return Resp(r.status, r.headers, r.read())
        chunks, err = [], None
        try:
            while True:
                b = r.read(65536)
                if not b:
                    break
                chunks.append(b)
        except http.client.IncompleteRead as e:
            chunks.append(e.partial)
            err = e
        except (OSError, http.client.HTTPException) as e:
            err = e
        data = b"".join(chunks)
        cl = r.headers.get("Content-Length")
        if err is None and cl is not None and len(data) != int(cl) and method != "HEAD":
            err = http.client.IncompleteRead(data, int(cl) - len(data))
        return Resp(r.status, r.headers, data, err)
    finally:
        conn.close()


def raw_exchange(url, headers=None, timeout=10, on_bytes=None):
    """GET with a bare socket, reading until EOF or error: http.client's buffered reader
    drops bytes it already holds when the connection is reset, a raw recv() does not.
    on_bytes(piece) is called as each piece arrives. Returns (every byte read, the
    exception that ended the reading or None)."""
    u = urllib.parse.urlsplit(url)
    s = socket.create_connection((u.hostname, u.port), timeout=timeout)
    lines = ["GET %s HTTP/1.1" % (u.path + ("?" + u.query if u.query else "")),
             "Host: %s" % u.netloc, "Connection: close"]
    lines += ["%s: %s" % kv for kv in (headers or {}).items()]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    data, err = b"", None
    try:
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            data += b
            if on_bytes:
                on_bytes(b)
    except OSError as e:
        err = e
    finally:
        s.close()
    return data, err


def raw_get(url, headers=None, timeout=10):
    """raw_exchange(): (status, body bytes after the header block, exception or None)."""
    data, err = raw_exchange(url, headers, timeout)
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head else None
    return status, body, err


# --------------------------------------------------------------------------------------


class FakeHubTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fakehub-test-")
        cls.data = os.path.join(cls.tmp, "data")
        cls.facts = build_data(cls.data)
        cls.proc, cls.state, cls.log = start_server(cls.data, cls.tmp)
        cls.hub = cls.state["hub"]
        cls.cdn = cls.state["cdn"]

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        try:
            rc = cls.proc.wait(10)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
            rc = "killed"
        err = cls.proc.stderr.read().decode()
        cls.proc.stdout.close()
        cls.proc.stderr.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert rc == 0, "fakehub did not exit cleanly on SIGTERM: %r %s" % (rc, err)
        assert "Traceback" not in err, err

    def setUp(self):
        self.ctl("DELETE", "/_fake/faults")
        self.ctl("POST", "/_fake/config", {"cdn_auth": "reject", "page_size": 1000,
                                           "quota": 100000, "url_ttl": 3600,
                                           "link_base": "", "latency_ms": 0,
                                           "cdn_rate": 0, "cdn_total_rate": 0,
                                           "cdn_max_active": 0, "cdn_retry_after": 1})
        self.ctl("DELETE", "/_fake/log")

    # helpers -------------------------------------------------------------------------
    def ctl(self, method, path, obj=None):
        body = json.dumps(obj).encode() if obj is not None else None
        r = request(self.hub, method, path, {"Content-Type": "application/json"}, body)
        self.assertLess(r.status, 300, r.body)
        return r.json()

    def get(self, path, **kw):
        return request(self.hub, "GET", path, **kw)

    def fault(self, **kw):
        return self.ctl("POST", "/_fake/faults", kw)["id"]

    def log_lines(self):
        with open(self.log, "rb") as f:
            return [json.loads(line) for line in f.read().splitlines() if line.strip()]

    def tiny(self, key):
        return self.facts["tiny"][key]

    def lfs_url(self, path="big.bin", token=None):
        h = {"Authorization": "Bearer " + token} if token else {}
        r = request(self.hub, "GET", "/hubfs-test/tiny-model/resolve/main/" + path, h)
        self.assertEqual(r.status, 302)
        return r.h("Location")

    def cdn_get(self, url, headers=None, **kw):
        return request(self.cdn, "GET", url, headers, **kw)

    # repo info -------------------------------------------------------------------------
    def test_repo_info(self):
        r = self.get("/api/models/hubfs-test/tiny-model")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.h("Content-Type"), "application/json; charset=utf-8")
        self.assertTrue(r.h("ETag").startswith('W/"'))
        self.assertTrue(r.h("X-Request-Id"))
        j = r.json()
        self.assertEqual(j["id"], "hubfs-test/tiny-model")
        self.assertEqual(j["sha"], self.tiny("c3"))
        self.assertEqual(j["lastModified"], "2024-01-04T00:00:00.000Z")
        for k in ("_id", "author", "private", "gated", "disabled", "tags", "siblings",
                  "createdAt", "downloads", "likes", "usedStorage", "cardData", "modelId",
                  "library_name", "config"):
            self.assertIn(k, j)
        self.assertEqual(j["config"]["hidden_size"], 64)
        self.assertIn({"rfilename": "big.bin"}, j["siblings"])
        self.assertEqual(len(j["siblings"]), len(self.tiny("files")))
        # blobs=true: lfs.sha256 (not lfs.oid), blobId, size
        j = self.get("/api/models/hubfs-test/tiny-model?blobs=true").json()
        sib = {s["rfilename"]: s for s in j["siblings"]}
        f = self.tiny("files")["big.bin"]
        self.assertEqual(sib["big.bin"]["lfs"], {"sha256": f["sha256"], "size": f["size"],
                                                 "pointerSize": f["lfs"]["pointerSize"]})
        self.assertEqual(sib["big.bin"]["blobId"], f["oid"])
        self.assertNotIn("lfs", sib["config.json"])
        # revisions
        for rev, sha in (("v1.0", "c2"), ("refs%2Fpr%2F1", "c5"), ("HEAD", "c3"),
                         ("feature%2Flong-context", "c4"), (self.tiny("c2")[:7], "c2"),
                         (self.tiny("c4"), "c4"), ("refs/pr/1", "c5")):
            r = self.get("/api/models/hubfs-test/tiny-model/revision/" + rev)
            self.assertEqual(r.status, 200, rev)
            self.assertEqual(r.json()["sha"], self.tiny(sha), rev)
        r = self.get("/api/models/hubfs-test/tiny-model/revision/nope")
        self.assertEqual((r.status, r.h("X-Error-Code"), r.h("X-Error-Message")),
                         (404, "RevisionNotFound", "Invalid rev id: nope"))
        # expand filtering
        r = self.get("/api/models/hubfs-test/tiny-model?expand=sha&expand[]=private")
        self.assertEqual(set(r.json()), {"_id", "id", "sha", "private"})
        r = self.get("/api/models/hubfs-test/tiny-model?expand=bogus")
        self.assertEqual(r.status, 400)
        self.assertIn("error", r.json())
        # every key huggingface.js modelInfo/datasetInfo/spaceInfo may ask for
        js_model = ["pipeline_tag", "private", "gated", "downloads", "likes", "lastModified",
                    "author", "cardData", "config", "createdAt", "disabled",
                    "downloadsAllTime", "gitalyUid", "inferenceProviderMapping",
                    "library_name", "model-index", "safetensors", "sha", "spaces", "tags",
                    "transformersInfo", "siblings"]
        q = "&".join("expand=" + k for k in js_model)
        r = self.get("/api/models/hubfs-test/tiny-model/revision/HEAD?" + q)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["gated"], False)
        js_dataset = ["private", "downloads", "gated", "likes", "lastModified", "author",
                      "cardData", "citation", "createdAt", "disabled", "description",
                      "downloadsAllTime", "gitalyUid", "paperswithcode_id", "sha", "tags"]
        q = "&".join("expand=" + k for k in js_dataset)
        r = self.get("/api/datasets/hubfs-test/big-dataset/revision/HEAD?" + q)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["description"], "A big dataset.")
        r = self.get("/api/datasets/hubfs-test/big-dataset?expand[]=likes")
        self.assertEqual(set(r.json()), {"_id", "id", "likes"})
        js_space = ["sdk", "likes", "private", "lastModified", "author", "cardData",
                    "datasets", "disabled", "gitalyUid", "createdAt", "runtime", "sha",
                    "subdomain", "tags", "models"]
        q = "&".join("expand=" + k for k in js_space)
        r = self.get("/api/spaces/hubfs-test/demo-space?" + q)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["sdk"], "gradio")
        self.assertEqual(r.json()["runtime"]["stage"], "RUNNING")
        # HEAD on an API route: headers only
        r = request(self.hub, "HEAD", "/api/models/hubfs-test/tiny-model")
        self.assertEqual((r.status, r.body), (200, b""))

    # tree ---------------------------------------------------------------------------------
    def test_tree_pagination(self):
        path = "/api/datasets/hubfs-test/big-dataset/tree/main"
        r = self.get(path + "?recursive=true")
        self.assertEqual(r.status, 200)
        pages, url = [r.json()], r.h("Link")
        while url:
            self.assertRegex(url, r'^<http://[^>]+>; rel="next"$')
            link = url[1:url.index(">")]
            self.assertTrue(link.startswith(self.hub + path + "?"), link)
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
            self.assertEqual((q["expand"], q["recursive"], q["limit"]),
                             ("false", "true", "1000"))
            r = request(self.hub, "GET", link)
            self.assertEqual(r.status, 200)
            pages.append(r.json())
            url = r.h("Link")
        self.assertEqual([len(p) for p in pages], [1000, 1000, 507])
        allp = [e["path"] for p in pages for e in p]
        self.assertEqual(allp, sorted(allp))
        self.assertEqual(len(set(allp)), 2507)  # README.md + 2500 files + 6 folders
        dirs = [e for p in pages for e in p if e["type"] == "directory"]
        self.assertEqual(sorted(e["path"] for e in dirs),
                         ["data"] + ["data/part-%d" % i for i in range(5)])
        self.assertTrue(all(e["size"] == 0 and len(e["oid"]) == 40 for e in dirs))
        log = [x for x in self.log_lines() if x["path"] == path]
        self.assertEqual(len(log), 3)
        self.assertTrue(all(x["status"] == 200 and x["host"] == "hub" for x in log))
        self.assertIn("cursor=", log[2]["query"])
        # limit honoured, and capped at the default page size
        r = self.get(path + "?recursive=True&limit=5")
        self.assertEqual(len(r.json()), 5)
        self.assertIn("limit=5", r.h("Link"))
        r2 = request(self.hub, "GET", r.h("Link")[1:r.h("Link").index(">")])
        self.assertEqual([e["path"] for e in r2.json()],
                         allp[5:10])
        self.assertEqual(len(self.get(path + "?recursive=1&limit=5000").json()), 1000)
        # expand=true: 100 per page, lastCommit and securityFileStatus
        r = self.get(path + "?recursive=true&expand=true")
        j = r.json()
        self.assertEqual(len(j), 100)
        self.assertIn("expand=true", r.h("Link"))
        f = [e for e in j if e["type"] == "file"][0]
        self.assertEqual(f["lastCommit"]["id"], self.facts["big"]["sha"])
        self.assertEqual(set(f["lastCommit"]), {"id", "title", "date"})
        self.assertEqual(f["securityFileStatus"],
                         {"status": "safe", "avScan": {"virusFound": False, "virusNames": None},
                          "pickleImportScan": None})
        # page size from the control endpoint
        self.ctl("POST", "/_fake/config", {"page_size": 600})
        self.assertEqual(len(self.get(path + "?recursive=true").json()), 600)
        # one level
        j = self.get(path).json()
        self.assertEqual([(e["type"], e["path"]) for e in j],
                         [("file", "README.md"), ("directory", "data")])

    # repo lists ----------------------------------------------------------------------------
    def list_all(self, path, token=None):
        """Follows the Link pages from @path; returns (ids, page sizes, next links)."""
        h = {"Authorization": "Bearer " + token} if token else {}
        ids, sizes, links = [], [], []
        r = self.get(path, headers=h)
        while True:
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.h("Content-Type"), "application/json; charset=utf-8")
            page = r.json()
            ids += [e["id"] for e in page]
            sizes.append(len(page))
            link = r.h("Link")
            if not link:
                return ids, sizes, links
            self.assertRegex(link, r'^<http://[^>]+>; rel="next"$')
            url = link[1:link.index(">")]
            links.append(url)
            r = request(self.hub, "GET", url, h)

    def test_list_repos(self):
        public = ["list-org/gated"] + ["list-org/m-%02d" % i for i in range(25)]
        self.ctl("POST", "/_fake/config", {"page_size": 10})
        ids, sizes, links = self.list_all("/api/models?author=list-org")
        self.assertEqual(ids, public)            # id order; private ones hidden, gated listed
        self.assertEqual(sizes, [10, 10, 6])
        for url in links:                          # absolute, on the Hub's own origin
            self.assertTrue(url.startswith(self.hub + "/api/models?author=list-org&"), url)
            self.assertIn("cursor=", url)
        log = [x for x in self.log_lines() if x["path"] == "/api/models"]
        self.assertEqual(len(log), 3)
        self.assertEqual(self.list_all("/api/models?author=list-org", ALICE)[0],
                         sorted(public + ["list-org/secret-alice"]))
        self.assertEqual(self.list_all("/api/models?author=LIST-ORG", BOB)[0],
                         sorted(public + ["list-org/secret-bob"]))
        self.assertEqual(self.list_all("/api/datasets?author=list-org")[0],
                         ["list-org/d-0", "list-org/d-1"])
        self.assertEqual(self.list_all("/api/spaces?author=list-org")[0], [])
        self.assertEqual(self.list_all("/api/models?author=nobody")[0], [])
        self.assertEqual(self.list_all("/api/models?author=list-org&search=M-1")[0],
                         ["list-org/m-%02d" % i for i in range(10, 20)])
        # limit: a page of that size, the Link keeps it; capped at the page size
        r = self.get("/api/models?author=list-org&limit=1")
        self.assertEqual([e["id"] for e in r.json()], ["list-org/gated"])
        self.assertIn("limit=1", r.h("Link"))
        self.assertEqual(len(self.get("/api/models?author=list-org&limit=500").json()), 10)
        self.assertEqual(self.get("/api/models?author=list-org&limit=x").status, 400)
        self.assertEqual(self.get("/api/models?author=list-org&cursor=%%%").status, 400)
        # expand: only _id, id and what was asked; an unknown property is a 400
        self.ctl("POST", "/_fake/config", {"page_size": 1000})
        j = self.get("/api/models?author=list-org&expand=private&expand[]=gated"
                     "&expand=sha&expand=lastModified",
                     headers={"Authorization": "Bearer " + ALICE}).json()
        by_id = {e["id"]: e for e in j}
        self.assertEqual(set(by_id["list-org/m-00"]),
                         {"_id", "id", "private", "gated", "sha", "lastModified"})
        self.assertEqual(by_id["list-org/gated"]["gated"], "auto")
        self.assertIs(by_id["list-org/secret-alice"]["private"], True)
        self.assertEqual(by_id["list-org/m-00"]["sha"], self.facts["list_sha"])
        self.assertEqual(by_id["list-org/m-00"]["lastModified"], "2024-04-01T00:00:00.000Z")
        r = self.get("/api/spaces?author=list-org&expand=gated")
        self.assertEqual(r.status, 400)            # spaces cannot be gated
        self.assertIn("expand", r.json()["error"])
        j = self.get("/api/models?author=list-org&limit=1").json()
        self.assertEqual(set(j[0]) - {"pipeline_tag", "library_name"},
                         {"_id", "id", "likes", "trendingScore", "private", "downloads", "tags",
                          "createdAt", "modelId"})
        # link_base: next-page links to another origin, for the clients' tests
        self.ctl("POST", "/_fake/config", {"link_base": self.cdn})
        r = self.get("/api/models?author=list-org&limit=2")
        self.assertTrue(r.h("Link").startswith("<" + self.cdn + "/api/models?"), r.h("Link"))
        self.assertTrue(self.get("/api/datasets/hubfs-test/big-dataset/tree/main?recursive=1&limit=2")
                        .h("Link").startswith("<" + self.cdn + "/api/"))
        r = request(self.hub, "POST", "/_fake/config", {"Content-Type": "application/json"},
                    json.dumps({"link_base": "/path"}).encode())
        self.assertEqual(r.status, 400)
        self.ctl("POST", "/_fake/config", {"link_base": ""})
        self.assertEqual(self.get("/api/models?author=list-org", headers={
            "Authorization": "Bearer hf_nope"}).status, 401)
        self.assertEqual(request(self.hub, "POST", "/api/models?author=list-org").status, 405)

    def test_list_repos_faults(self):
        self.ctl("POST", "/_fake/config", {"page_size": 10})
        self.fault(kind="status", code=503, glob="/api/models", count=1)
        self.assertEqual(self.get("/api/models?author=list-org").status, 503)
        r = self.get("/api/models?author=list-org")
        self.assertEqual(r.status, 200)
        link = r.h("Link")[1:r.h("Link").index(">")]
        self.fault(kind="reset", glob="/api/models", after_bytes=10, count=1)
        self.assertIsNotNone(request(self.hub, "GET", link, tolerant=True).err)
        self.assertEqual(len(request(self.hub, "GET", link).json()), 10)
        self.assertEqual([x["fault"] for x in self.log_lines()], ["status", None, "reset", None])

    def test_side_file_repo(self):
        """A commit whose files and dirs are in a side file (files_in) is served like any."""
        path = "/api/datasets/hubfs-test/wide/tree/main/data/big"
        ids, sizes, _ = [], [], None
        self.ctl("POST", "/_fake/config", {"page_size": 7})
        r = self.get(path)
        pages = [r.json()]
        while r.h("Link"):
            r = request(self.hub, "GET", r.h("Link")[1:r.h("Link").index(">")])
            pages.append(r.json())
        self.assertEqual([len(p) for p in pages], [7, 7, 7, 7, 2])
        self.assertEqual(sorted(e["path"] for p in pages for e in p),
                         sorted(self.facts["wide"]["files"]))
        r = self.get("/datasets/hubfs-test/wide/resolve/main/data/big/r-4.txt")
        self.assertEqual(r.status, 307)
        r = request(self.hub, "GET", r.h("Location"))
        self.assertEqual(r.body, b"r 1\n")

    def test_tree_paths_and_revisions(self):
        base = "/api/models/hubfs-test/tiny-model/tree/"
        a = self.get(base + "main/sub%2Fdir").json()
        b = self.get(base + "main/sub/dir").json()
        self.assertEqual(a, b)
        self.assertEqual([e["path"] for e in a], ["sub/dir/a.txt"])
        j = self.get(base + "main/sub").json()
        self.assertEqual([(e["type"], e["path"]) for e in j],
                         [("file", "sub/b.txt"), ("directory", "sub/dir")])
        j = self.get(base + "main?recursive=true").json()
        ent = {e["path"]: e for e in j}
        f = self.tiny("files")["big.bin"]
        self.assertEqual(ent["big.bin"], {"type": "file", "oid": f["oid"], "size": f["size"],
                                          "path": "big.bin", "lfs": f["lfs"]})
        self.assertEqual(f["oid"], git_blob_sha1(pointer_text(f["sha256"], f["size"])))
        self.assertNotIn("lfs", ent["config.json"])
        self.assertEqual(ent["sub"]["type"], "directory")
        r = self.get(base + "main/nope")
        self.assertEqual((r.status, r.h("X-Error-Code")), (404, "EntryNotFound"))
        self.assertEqual(r.json(), {"error": "Entry not found"})
        r = self.get(base + "nope")
        self.assertEqual((r.status, r.h("X-Error-Code"), r.json()["error"]),
                         (404, "RevisionNotFound", "Invalid rev id: nope"))
        for rev in ("refs/pr/1", "refs%2Fpr%2F1"):
            paths = [e["path"] for e in self.get(base + rev).json()]
            self.assertIn("pr.txt", paths, rev)
        r = self.get(base + "refs/pr/1/sub/dir")
        self.assertEqual([e["path"] for e in r.json()], ["sub/dir/a.txt"])
        self.assertEqual(self.get(base + "feature%2Flong-context").status, 200)
        # a literal "/" in a branch name is read as revision "feature" (as on the Hub)
        r = self.get(base + "feature/long-context")
        self.assertEqual((r.status, r.h("X-Error-Code")), (404, "RevisionNotFound"))
        r = self.get("/api/datasets/hubfs-test/big-dataset/tree/refs/convert/parquet")
        self.assertEqual(r.status, 200)
        # expand on a subfolder: lastCommit of a directory = newest change below it
        j = self.get(base + "main?expand=true").json()
        ent = {e["path"]: e for e in j}
        self.assertEqual(ent["README.md"]["lastCommit"]["id"], self.tiny("c3"))
        self.assertEqual(ent["config.json"]["lastCommit"]["id"], self.tiny("c2"))
        self.assertEqual(ent[".gitattributes"]["lastCommit"]["title"], "initial commit")
        self.assertEqual(ent["sub"]["lastCommit"]["id"], self.tiny("c2"))
        # treesize
        j = self.get("/api/models/hubfs-test/tiny-model/treesize/main/sub").json()
        self.assertEqual(j, {"path": "sub", "size": 26})

    def test_paths_info(self):
        url = "/api/models/hubfs-test/tiny-model/paths-info/main"
        want = ["config.json", "sub/dir", "big.bin"]
        form = urllib.parse.urlencode([("paths", "config.json"), ("paths", "nope"),
                                       ("paths", "sub/dir"), ("paths", "big.bin")]).encode()
        r = request(self.hub, "POST", url,
                    {"Content-Type": "application/x-www-form-urlencoded"}, form)
        self.assertEqual(r.status, 200, r.body)
        j = r.json()
        self.assertEqual([e["path"] for e in j], want)
        self.assertEqual(j[1]["type"], "directory")
        self.assertEqual(j[2]["lfs"]["oid"], self.tiny("files")["big.bin"]["sha256"])
        body = json.dumps({"paths": ["config.json", "nope", "sub/dir", "big.bin"],
                           "expand": True}).encode()
        r = request(self.hub, "POST", url, {"Content-Type": "application/json"}, body)
        j = r.json()
        self.assertEqual([e["path"] for e in j], want)
        self.assertEqual(j[0]["lastCommit"]["id"], self.tiny("c2"))
        r = request(self.hub, "POST", url.replace("/main", "/refs%2Fpr%2F1"),
                    {"Content-Type": "application/json"}, b'{"paths": "pr.txt"}')
        self.assertEqual([e["path"] for e in r.json()], ["pr.txt"])

    def test_refs_and_commits(self):
        j = self.get("/api/models/hubfs-test/tiny-model/refs").json()
        self.assertNotIn("pullRequests", j)
        br = {b["name"]: b for b in j["branches"]}
        self.assertEqual(br["main"], {"name": "main", "ref": "refs/heads/main",
                                      "targetCommit": self.tiny("c3")})
        self.assertIn("feature/long-context", br)
        self.assertEqual(j["tags"][0]["targetCommit"], self.tiny("c2"))
        j = self.get("/api/models/hubfs-test/tiny-model/refs?include_prs=1").json()
        self.assertEqual(j["pullRequests"][0]["ref"], "refs/pr/1")
        r = self.get("/api/models/hubfs-test/tiny-model/commits/main")
        self.assertEqual([c["title"] for c in r.json()],
                         ["Update README.md", "Upload model", "initial commit"])
        self.assertIsNone(r.h("Link"))
        r = self.get("/api/models/hubfs-test/tiny-model/commits/main?limit=2")
        self.assertEqual(len(r.json()), 2)
        link = r.h("Link")
        self.assertIn("p=1", link)
        r = request(self.hub, "GET", link[1:link.index(">")])
        self.assertEqual([c["id"] for c in r.json()], [self.tiny("c1")])
        j = self.get("/api/models/hubfs-test/tiny-model/commits/refs%2Fpr%2F1").json()
        self.assertEqual(j[0]["id"], self.tiny("c5"))

    # resolve ------------------------------------------------------------------------------
    def test_resolve_regular_file(self):
        c3 = self.tiny("c3")
        f = self.tiny("files")["config.json"]
        for method in ("GET", "HEAD"):
            r = request(self.hub, method, "/hubfs-test/tiny-model/resolve/main/config.json")
            self.assertEqual(r.status, 307)
            loc = r.h("Location")
            self.assertTrue(loc.startswith(
                "/api/resolve-cache/models/hubfs-test/tiny-model/%s/config.json?" % c3), loc)
            self.assertIn("etag=%22" + f["oid"] + "%22", loc)
            self.assertEqual(r.h("X-Repo-Commit"), c3)
            self.assertEqual(r.h("X-Linked-Etag"), '"%s"' % f["oid"])
            self.assertEqual(r.h("X-Linked-Size"), str(f["size"]))
            self.assertEqual(r.h("Accept-Ranges"), "bytes")
            self.assertIn("resolvers", r.h("RateLimit"))
        r2 = self.get(loc)
        self.assertEqual(r2.status, 200)
        self.assertEqual(r2.body, self.tiny("config"))
        self.assertEqual(r2.h("ETag"), '"%s"' % f["oid"])
        self.assertEqual(r2.h("X-Repo-Commit"), c3)
        self.assertEqual(r2.h("Content-Length"), str(f["size"]))
        self.assertEqual(r2.h("Accept-Ranges"), "bytes")
        r3 = self.get(loc.split("?")[0])  # without the query string
        self.assertEqual((r3.status, r3.body), (200, self.tiny("config")))
        # ranges on resolve-cache
        text = self.tiny("text")
        url = "/api/resolve-cache/models/hubfs-test/tiny-model/%s/text.txt" % c3
        n = len(text)
        for rng, status, want, cr in (
                ("bytes=2-5", 206, text[2:6], "bytes 2-5/%d" % n),
                ("bytes=-3", 206, text[-3:], "bytes %d-%d/%d" % (n - 3, n - 1, n)),
                ("bytes=%d-" % (n - 4), 206, text[-4:], "bytes %d-%d/%d" % (n - 4, n - 1, n)),
                ("bytes=10-%d" % (n + 50), 206, text[10:], "bytes 10-%d/%d" % (n - 1, n)),
                ("bytes=%d-" % n, 416, None, "bytes */%d" % n),
                ("bytes=0-1,5-6", 200, text, None)):
            r = self.get(url, headers={"Range": rng})
            self.assertEqual(r.status, status, rng)
            self.assertEqual(r.h("Content-Range"), cr, rng)
            if want is not None:
                self.assertEqual(r.body, want, rng)
        # empty file
        url = "/api/resolve-cache/models/hubfs-test/tiny-model/%s/empty.txt" % c3
        r = self.get(url)
        self.assertEqual((r.status, r.body, r.h("Content-Length")), (200, b"", "0"))
        r = self.get(url, headers={"Range": "bytes=0-0"})
        self.assertEqual((r.status, r.h("Content-Range")), (416, "bytes */0"))
        # raw: LFS pointer for LFS files, content otherwise
        r = self.get("/hubfs-test/tiny-model/raw/main/big.bin")
        f = self.tiny("files")["big.bin"]
        self.assertEqual(r.body, pointer_text(f["sha256"], f["size"]))
        self.assertEqual(self.get("/hubfs-test/tiny-model/raw/v1.0/config.json").body,
                         self.tiny("config"))
        log = self.log_lines()
        self.assertEqual(log[0]["path"], "/hubfs-test/tiny-model/resolve/main/config.json")
        self.assertEqual((log[0]["status"], log[0]["method"]), (307, "GET"))
        rl = [x for x in log if x.get("range") == "bytes=2-5"][0]
        self.assertEqual((rl["status"], rl["bytes"]), (206, 4))

    def test_resolve_lfs_and_cdn(self):
        f = self.tiny("files")["big.bin"]
        big = self.tiny("big")
        r = request(self.hub, "HEAD", "/hubfs-test/tiny-model/resolve/refs%2Fpr%2F1/big.bin")
        self.assertEqual(r.status, 302)
        self.assertEqual(r.h("X-Repo-Commit"), self.tiny("c5"))
        loc = r.h("Location")
        self.assertTrue(loc.startswith(self.cdn + "/repos/%s/%s/%s?" % (
            f["sha256"][:2], f["sha256"][2:4], f["sha256"])), loc)
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
        for k in ("Expires", "Signature", "Key-Pair-Id", "response-content-disposition"):
            self.assertIn(k, q)
        self.assertEqual(r.h("X-Linked-Etag"), '"%s"' % f["sha256"])
        self.assertEqual(r.h("X-Linked-Size"), str(f["size"]))
        self.assertNotEqual(urllib.parse.urlsplit(self.cdn).hostname,
                            urllib.parse.urlsplit(self.hub).hostname)
        r = self.cdn_get(loc)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, big)
        self.assertEqual(r.h("ETag"), '"%s"' % f["sha256"])
        self.assertEqual(r.h("Content-Length"), str(len(big)))
        self.assertEqual(r.h("Accept-Ranges"), "bytes")
        self.assertEqual(r.h("X-Cache"), "Hit from cloudfront")
        self.assertIn("filename=\"big.bin\"", r.h("Content-Disposition"))
        self.assertIn("max-age", r.h("Cache-Control"))
        self.assertIsNone(r.h("RateLimit"))
        r = self.cdn_get(loc, {"Range": "bytes=1000-1999"})
        self.assertEqual((r.status, r.body, r.h("Content-Range")),
                         (206, big[1000:2000], "bytes 1000-1999/%d" % len(big)))
        r = self.cdn_get(loc, {"Range": "bytes=%d-" % len(big)})
        self.assertEqual((r.status, r.h("Content-Range")), (416, "bytes */%d" % len(big)))
        # Authorization on the CDN: 403 in reject mode, served and logged in record mode
        r = self.cdn_get(loc, {"Authorization": "Bearer " + ALICE})
        self.assertEqual(r.status, 403)
        self.ctl("POST", "/_fake/config", {"cdn_auth": "record"})
        r = self.cdn_get(loc, {"Authorization": "Bearer " + ALICE})
        self.assertEqual((r.status, len(r.body)), (200, len(big)))
        cdnlog = [x for x in self.log_lines() if x["host"] == "cdn"]
        self.assertEqual([(x["status"], x["auth"]) for x in cdnlog],
                         [(200, False), (206, False), (416, False), (403, True), (200, True)])
        self.assertEqual(cdnlog[0]["bytes"], len(big))
        # tampered or expired signatures
        bad_sig = loc.replace("Signature=" + q["Signature"], "Signature=" + "0" * 64)
        self.assertEqual(self.cdn_get(bad_sig).status, 403)
        later = loc.replace("Expires=" + q["Expires"], "Expires=" + str(int(q["Expires"]) + 9))
        self.assertEqual(self.cdn_get(later).status, 403)
        # The Xet links' shape: X-Amz-Expires (a lifetime) before Expires, both signed.
        self.assertLess(loc.index("X-Amz-Expires="), loc.index("&Expires="))
        longer = loc.replace("X-Amz-Expires=" + q["X-Amz-Expires"], "X-Amz-Expires=999999")
        self.assertEqual(self.cdn_get(longer).status, 403)
        self.assertEqual(self.cdn_get(loc.split("?")[0]).status, 403)
        self.ctl("POST", "/_fake/config", {"url_ttl": -5})
        expired = self.lfs_url()
        r = self.cdn_get(expired)
        self.assertEqual(r.status, 403)
        self.assertIn(b"expired", r.body)
        self.ctl("POST", "/_fake/config", {"url_ttl": 2})
        short = self.lfs_url()
        self.assertEqual(self.cdn_get(short).status, 200)

    def test_entry_not_found_and_errors(self):
        for method in ("GET", "HEAD"):
            r = request(self.hub, method, "/hubfs-test/tiny-model/resolve/main/nope.txt")
            self.assertEqual((r.status, r.h("X-Error-Code"), r.h("X-Error-Message")),
                             (404, "EntryNotFound", "Entry not found"))
            self.assertEqual(r.h("X-Repo-Commit"), self.tiny("c3"))
            r = request(self.hub, method, "/hubfs-test/tiny-model/resolve/nope/config.json")
            self.assertEqual((r.status, r.h("X-Error-Code")), (404, "RevisionNotFound"))
            self.assertIsNone(r.h("X-Repo-Commit"))
        self.assertEqual(r.body, b"")  # HEAD
        r = self.get("/hubfs-test/tiny-model/resolve/main/nope.txt")
        self.assertEqual(r.json(), {"error": "Entry not found"})
        # a directory is not a file
        r = self.get("/hubfs-test/tiny-model/resolve/main/sub")
        self.assertEqual(r.h("X-Error-Code"), "EntryNotFound")

    def test_auth(self):
        def st(path, token=None, method="GET"):
            h = {"Authorization": "Bearer " + token} if token else {}
            return request(self.hub, method, path, h)

        for path in ("/api/models/hubfs-test/private-model",
                     "/api/models/hubfs-test/private-model/tree/main",
                     "/hubfs-test/private-model/resolve/main/config.json",
                     "/api/models/hubfs-test/no-such-repo",
                     "/hubfs-test/no-such-repo/resolve/main/config.json"):
            r = st(path)
            self.assertEqual(r.status, 401, path)
            self.assertEqual(r.json(), {"error": "Invalid username or password."})
            r = st(path, BOB)
            self.assertEqual((r.status, r.h("X-Error-Code")), (404, "RepoNotFound"), path)
        self.assertEqual(st("/api/models/hubfs-test/private-model", ALICE).status, 200)
        self.assertEqual(st("/hubfs-test/private-model/resolve/main/config.json",
                            ALICE).status, 307)
        r = st("/api/models/hubfs-test/tiny-model", "hf_wrong")
        self.assertEqual((r.status, r.h("X-Error-Message")),
                         (401, "Invalid credentials in Authorization header"))
        # gated: metadata for everyone, content only for approved tokens
        r = st("/api/models/hubfs-test/gated-model")
        self.assertEqual((r.status, r.json()["gated"]), (200, "manual"))
        self.assertEqual(st("/api/models/hubfs-test/gated-model/tree/main").status, 200)
        for path in ("/hubfs-test/gated-model/resolve/main/config.json",
                     "/hubfs-test/gated-model/resolve/main/weights.bin",
                     "/hubfs-test/gated-model/raw/main/config.json",
                     "/api/resolve-cache/models/hubfs-test/gated-model/%s/config.json"
                     % self.facts["model/hubfs-test/gated-model"]["sha"]):
            for method in ("GET", "HEAD"):
                r = st(path, method=method)
                self.assertEqual((r.status, r.h("X-Error-Code")), (401, "GatedRepo"), path)
                self.assertEqual(r.h("X-Error-Message"),
                                 "Access to model hubfs-test/gated-model is restricted. You "
                                 "must have access to it and be authenticated to access it. "
                                 "Please log in.")
                r = st(path, BOB, method)
                self.assertEqual((r.status, r.h("X-Error-Code")), (403, "GatedRepo"), path)
                self.assertIn("not in the authorized list", r.h("X-Error-Message"))
                self.assertIn(st(path, ALICE, method).status, (200, 302, 307), path)
        j = st("/api/whoami-v2", ALICE).json()
        self.assertEqual(j["name"], "alice")
        self.assertEqual(st("/api/whoami-v2").status, 401)
        self.assertEqual(st("/api/whoami-v2", "hf_wrong").status, 401)

    def test_disabled_repo(self):
        """403 with X-Error-Message "Access to this resource is disabled." (no error code)
        for every request about the repo, whoever asks; still listed, with disabled: true."""
        for path in ("/api/models/takedown-org/gone", "/api/models/takedown-org/gone/tree/main",
                     "/api/models/takedown-org/gone/refs",
                     "/api/models/takedown-org/gone/revision/main",
                     "/takedown-org/gone/resolve/main/config.json"):
            for token in (None, ALICE):
                for method in ("GET", "HEAD"):
                    h = {"Authorization": "Bearer " + token} if token else {}
                    r = request(self.hub, method, path, h)
                    self.assertEqual((r.status, r.h("X-Error-Code"), r.h("X-Error-Message")),
                                     (403, None, "Access to this resource is disabled."),
                                     (path, token, method))
        r = request(self.hub, "GET", "/api/models?author=takedown-org&expand=disabled")
        self.assertEqual(r.json(), [{"_id": r.json()[0]["_id"], "id": "takedown-org/gone",
                                     "disabled": True}])

    def test_miscased_repo_id(self):
        r = self.get("/api/models/HubFS-Test/TINY-model/tree/main?recursive=true")
        self.assertEqual((r.status, r.h("Location")),
                         (307, "/api/models/hubfs-test/tiny-model/tree/main?recursive=true"))
        r = request(self.hub, "HEAD", "/HUBFS-TEST/tiny-model/resolve/main/config.json")
        self.assertEqual((r.status, r.h("Location")),
                         (307, "/hubfs-test/tiny-model/resolve/main/config.json"))
        r = request(self.hub, "POST", "/api/models/hubfs-test/Tiny-Model/paths-info/main",
                    {"Content-Type": "application/json"}, b'{"paths": ["config.json"]}')
        self.assertEqual((r.status, r.h("Location")),
                         (307, "/api/models/hubfs-test/tiny-model/paths-info/main"))
        r = self.get("/api/datasets/HUBFS-TEST/big-dataset")
        self.assertEqual(r.h("Location"), "/api/datasets/hubfs-test/big-dataset")
        # private repos stay invisible when mis-cased
        self.assertEqual(self.get("/api/models/hubfs-test/PRIVATE-model").status, 401)
        # legacy single-segment id
        self.assertEqual(self.get("/api/models/legacy-model").json()["id"], "legacy-model")
        self.assertEqual(self.get("/legacy-model/resolve/main/config.json").status, 307)
        self.assertEqual(self.get("/api/models/legacy-model/tree/main").status, 200)

    def test_rate_limits(self):
        self.ctl("POST", "/_fake/config", {"quota": 3})
        seen = []
        for _ in range(3):
            r = self.get("/api/models/hubfs-test/tiny-model")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.h("RateLimit-Policy"), '"fixed window";"api";q=3;w=300')
            seen.append(r.h("RateLimit"))
        rs = [int(s.split(";")[1][2:]) for s in seen]
        ts = [int(s.split(";")[2][2:]) for s in seen]
        self.assertEqual(rs, [2, 1, 0])
        self.assertTrue(all(s.startswith('"api";') for s in seen))
        self.assertTrue(0 < ts[0] <= 300)
        r = self.get("/api/models/hubfs-test/tiny-model/tree/main")
        self.assertEqual(r.status, 429)
        t = int(r.h("RateLimit").split(";t=")[1])
        self.assertEqual(r.h("RateLimit").split(";t=")[0], '"api";r=0')
        self.assertTrue(0 < t <= ts[0])
        # the resolvers bucket is separate; errors carry the headers too
        r = self.get("/hubfs-test/tiny-model/resolve/main/nope")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.h("RateLimit").split(";t=")[0], '"resolvers";r=2')
        self.assertEqual(r.h("RateLimit-Policy"), '"fixed window";"resolvers";q=3;w=300')
        self.assertTrue(r.h("X-Request-Id"))
        self.assertEqual(self.log_lines()[-2]["status"], 429)

    def test_gzip_text(self):
        c3 = self.tiny("c3")
        url = "/api/resolve-cache/models/hubfs-test/tiny-model/%s/text.txt" % c3
        r = self.get(url, headers={"Accept-Encoding": "gzip"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.h("Content-Encoding"), "gzip")
        self.assertEqual(r.h("Transfer-Encoding"), "chunked")
        self.assertIsNone(r.h("Content-Length"))
        self.assertEqual(gzip.decompress(r.body), self.tiny("text"))
        r = self.get(url, headers={"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
        self.assertEqual((r.status, r.h("Content-Encoding"), r.body),
                         (206, None, self.tiny("text")[:10]))
        r = self.get(url, headers={"Accept-Encoding": "identity"})
        self.assertEqual((r.h("Content-Encoding"), r.body), (None, self.tiny("text")))
        r = self.get(url.replace("text.txt", "config.json"),
                     headers={"Accept-Encoding": "gzip;q=0"})
        self.assertIsNone(r.h("Content-Encoding"))
        r = self.cdn_get(self.lfs_url(), {"Accept-Encoding": "gzip"})
        self.assertIsNone(r.h("Content-Encoding"))
        # keep-alive: several answers on one connection
        u = urllib.parse.urlsplit(self.hub)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        for _ in range(3):
            conn.request("GET", url, headers={"Accept-Encoding": "gzip"})
            resp = conn.getresponse()
            self.assertEqual(gzip.decompress(resp.read()), self.tiny("text"))
            conn.request("GET", "/api/models/hubfs-test/tiny-model")
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            resp.read()
        conn.close()

    def test_move_branch(self):
        key = "model/hubfs-test/tiny-model"
        self.addCleanup(self.ctl, "POST", "/_fake/refs",
                        {"repo": key, "branch": "main", "commit": self.tiny("c3")})
        self.ctl("POST", "/_fake/refs", {"repo": key, "branch": "main",
                                         "commit": self.tiny("c6")})
        j = self.get("/api/models/hubfs-test/tiny-model").json()
        self.assertEqual(j["sha"], self.tiny("c6"))
        self.assertEqual(j["lastModified"], "2024-01-07T00:00:00.000Z")
        r = request(self.hub, "HEAD", "/hubfs-test/tiny-model/resolve/main/config.json")
        self.assertEqual(r.h("X-Repo-Commit"), self.tiny("c6"))
        self.ctl("POST", "/_fake/refs", {"repo": key, "branch": "new/branch",
                                         "commit": self.tiny("c1")})
        j = self.get("/api/models/hubfs-test/tiny-model/revision/new%2Fbranch").json()
        self.assertEqual(j["sha"], self.tiny("c1"))
        r = request(self.hub, "POST", "/_fake/refs", {"Content-Type": "application/json"},
                    json.dumps({"repo": key, "branch": "main", "commit": "0" * 40}).encode())
        self.assertEqual(r.status, 400)
        self.assertFalse(any("/_fake/" in x["path"] for x in self.log_lines()))

    def test_repo_settings(self):
        key = "model/hubfs-test/tiny-model"
        path = "/api/models/hubfs-test/tiny-model"
        self.addCleanup(self.ctl, "POST", "/_fake/repo",
                        {"repo": key, "private": False, "disabled": False})
        self.assertEqual(self.ctl("POST", "/_fake/repo", {"repo": key, "private": True}),
                         {"repo": key, "private": True, "disabled": False})
        self.assertEqual(self.get(path).status, 401)
        self.ctl("POST", "/_fake/repo", {"repo": key, "private": False, "disabled": True})
        self.assertEqual(self.get(path).status, 403)
        self.ctl("POST", "/_fake/repo", {"repo": key, "disabled": False})
        self.assertEqual(self.get(path).status, 200)
        for bad in ({"repo": "model/x/none", "private": True}, {"repo": key, "private": 1},
                    {"repo": key, "owner": "x"}):
            r = request(self.hub, "POST", "/_fake/repo", {"Content-Type": "application/json"},
                        json.dumps(bad).encode())
            self.assertGreaterEqual(r.status, 400)

    # faults ---------------------------------------------------------------------------------
    def test_fault_reset(self):
        big = self.tiny("big")
        loc = self.lfs_url()
        self.fault(kind="reset", glob="/repos/*", host="cdn", after_bytes=1000)
        status, body, err = raw_get(loc)
        self.assertEqual((status, body), (200, big[:1000]))
        self.assertIsInstance(err, ConnectionResetError)  # a real TCP RST, not a FIN
        line = self.log_lines()[-1]
        self.assertEqual((line["host"], line["fault"], line["bytes"], line["status"]),
                         ("cdn", "reset", 1000, 200))
        r = self.cdn_get(loc)  # count 1: used up
        self.assertEqual(r.body, big)
        self.assertIsNone(self.log_lines()[-1]["fault"])
        # reset on API JSON and on resolve-cache
        self.fault(kind="reset", glob="/api/models/*/tree/*", host="hub")
        r = self.get("/api/models/hubfs-test/tiny-model/tree/main", tolerant=True)
        self.assertIsNotNone(r.err)
        self.assertEqual(r.body, b"")
        self.fault(kind="reset", glob="/api/resolve-cache/*", after_bytes=7)
        status, body, err = raw_get(self.hub + "/api/resolve-cache/models/hubfs-test/"
                                    "tiny-model/%s/text.txt" % self.tiny("c3"))
        self.assertEqual((status, body), (200, self.tiny("text")[:7]))
        self.assertIsInstance(err, ConnectionResetError)
        self.assertEqual(self.log_lines()[-1]["bytes"], 7)

    def test_fault_corrupt_and_count(self):
        big = self.tiny("big")
        loc = self.lfs_url()
        self.fault(kind="corrupt", glob="/repos/*", count=2)
        for _ in range(2):
            r = self.cdn_get(loc)
            diff = [i for i in range(len(big)) if r.body[i] != big[i]]
            self.assertEqual(diff, [len(big) // 2])
            self.assertEqual(r.body[diff[0]], big[diff[0]] ^ 0xFF)
        self.assertEqual(self.cdn_get(loc).body, big)
        self.assertEqual([x["fault"] for x in self.log_lines()[-3:]],
                         ["corrupt", "corrupt", None])
        # explicit file offset inside a range
        self.fault(kind="corrupt", glob="/repos/*", offset=150)
        r = self.cdn_get(loc, {"Range": "bytes=100-199"})
        self.assertEqual(r.status, 206)
        diff = [i for i in range(100) if r.body[i] != big[100 + i]]
        self.assertEqual(diff, [50])
        # on the hub (resolve-cache); a redirect does not use the fault up
        self.fault(kind="corrupt", glob="*text.txt", host="hub")
        r = request(self.hub, "GET", "/hubfs-test/tiny-model/resolve/main/text.txt")
        self.assertEqual(r.status, 307)
        r = self.get(r.h("Location"))
        text = self.tiny("text")
        self.assertEqual([i for i in range(len(text)) if r.body[i] != text[i]],
                         [len(text) // 2])

    def test_fault_forever_and_status(self):
        path = "/api/models/hubfs-test/tiny-model"
        fid = self.fault(kind="status", glob=path, code=502, count=-1)
        for _ in range(3):
            r = self.get(path)
            self.assertEqual(r.status, 502)
            self.assertTrue(r.h("X-Error-Message"))
            self.assertIn("error", r.json())
            self.assertTrue(r.h("RateLimit"))
        self.assertEqual(self.get(path + "/tree/main").status, 200)  # glob
        faults = self.ctl("GET", "/_fake/faults")
        self.assertEqual([(f["id"], f["kind"], f["count"]) for f in faults],
                         [(fid, "status", -1)])
        self.ctl("DELETE", "/_fake/faults")
        self.assertEqual(self.get(path).status, 200)
        # default code 503, method filter, host filter
        self.fault(kind="status", method="HEAD")
        self.fault(kind="status", host="cdn", code=500)
        self.assertEqual(self.get(path).status, 200)
        self.assertEqual(request(self.hub, "HEAD", path).status, 503)
        self.assertEqual(self.cdn_get(self.lfs_url()).status, 500)
        self.assertEqual([x["fault"] for x in self.log_lines()[-4:]],
                         [None, "status", None, "status"])

    def test_fault_skip(self):
        path = "/api/models/hubfs-test/tiny-model"
        self.fault(kind="status", glob=path, code=403, skip=2)
        self.assertEqual(self.get(path + "/tree/main").status, 200)  # not its glob: no skip
        self.assertEqual([self.get(path).status for _ in range(4)], [200, 200, 403, 200])
        with self.assertRaises(Exception):
            self.fault(kind="status", skip=-1)

    def test_fault_rate_limit_and_delay(self):
        self.fault(kind="rate_limit", glob="/api/*", reset_seconds=7, retry_after=True)
        r = self.get("/api/models/hubfs-test/tiny-model")
        self.assertEqual((r.status, r.h("RateLimit"), r.h("Retry-After")),
                         (429, '"api";r=0;t=7', "7"))
        self.fault(kind="rate_limit", glob="*/resolve/*", reset_seconds=3)
        r = self.get("/hubfs-test/tiny-model/resolve/main/config.json")
        self.assertEqual((r.status, r.h("RateLimit"), r.h("Retry-After")),
                         (429, '"resolvers";r=0;t=3', None))
        self.fault(kind="delay", seconds=0.4)
        t0 = time.time()
        r = self.get("/api/models/hubfs-test/tiny-model")
        self.assertEqual(r.status, 200)
        self.assertGreaterEqual(time.time() - t0, 0.38)
        self.assertEqual(self.log_lines()[-1]["fault"], "delay")

    def test_fault_stall(self):
        self.fault(kind="stall", glob="/api/resolve-cache/*", after_bytes=10, seconds=1)
        t0 = time.time()
        r = self.get("/api/resolve-cache/models/hubfs-test/tiny-model/%s/text.txt"
                     % self.tiny("c3"), tolerant=True)
        self.assertGreaterEqual(time.time() - t0, 0.9)
        self.assertEqual(r.body, self.tiny("text")[:10])
        self.assertIsNotNone(r.err)
        line = self.log_lines()[-1]
        self.assertEqual((line["fault"], line["bytes"]), ("stall", 10))

    def drip_read(self, path, timeout=10):
        """Reads an answer with a bare socket, noting when each piece arrived."""
        times = []
        got, err = raw_exchange(self.hub + path, timeout=timeout,
                                on_bytes=lambda _: times.append(time.time()))
        if err:
            raise err
        return got, times

    def test_fault_drip_headers(self):
        path = "/api/resolve-cache/models/hubfs-test/tiny-model/%s/text.txt" % self.tiny("c3")
        self.fault(kind="drip_headers", glob="/api/resolve-cache/*", interval=0.01,
                   bytes=8)
        t0 = time.time()
        got, times = self.drip_read(path)
        head, _, body = got.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"))
        self.assertEqual(body, self.tiny("text"))
        # 8 bytes per interval: the header block took about len(head) / 8 intervals.
        self.assertGreaterEqual(time.time() - t0, 0.01 * (len(head) // 8) * 0.9)
        self.assertGreater(len(times), len(head) // 16)
        self.assertEqual(self.log_lines()[-1]["fault"], "drip_headers")

    def test_fault_drip_body(self):
        path = "/api/resolve-cache/models/hubfs-test/tiny-model/%s/text.txt" % self.tiny("c3")
        text = self.tiny("text")
        step = max(1, len(text) // 25)
        self.fault(kind="drip_body", glob="/api/resolve-cache/*", interval=0.02,
                   bytes=step, after_bytes=4)
        t0 = time.time()
        got, times = self.drip_read(path)
        head, _, body = got.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Length: %d" % len(text), head)
        self.assertEqual(body, text)
        self.assertGreaterEqual(time.time() - t0, 0.02 * ((len(text) - 4) // step) * 0.9)
        self.assertGreaterEqual(len(times), 10)
        self.assertEqual(self.log_lines()[-1]["fault"], "drip_body")

    def test_fault_drip_body_endless(self):
        self.fault(kind="drip_body", glob="/api/models/*", interval=0.01, bytes=100,
                   endless=True)
        u = urllib.parse.urlsplit(self.hub)
        s = socket.create_connection((u.hostname, u.port), timeout=5)
        s.sendall(b"GET /api/models/hubfs-test/tiny-model HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while len(got) < 20000:
            b = s.recv(1 << 16)
            self.assertTrue(b, "the endless body ended")
            got += b
        s.close()
        head, _, body = got.partition(b"\r\n\r\n")
        self.assertNotIn(b"Content-Length", head)
        doc = json.loads(body[:body.rindex(b"}") + 1])
        self.assertEqual(doc["id"], "hubfs-test/tiny-model")
        self.assertEqual(body[-100:], b" " * 100)  # past the document: spaces

    def test_fault_wrong_length_ignore_range_pointer_linked_size(self):
        big = self.tiny("big")
        f = self.tiny("files")["big.bin"]
        loc = self.lfs_url()
        self.fault(kind="wrong_length", glob="/repos/*", delta=5)
        r = self.cdn_get(loc, tolerant=True)
        self.assertEqual(r.h("Content-Length"), str(len(big) + 5))
        self.assertEqual(r.body, big)
        self.assertIsNotNone(r.err)
        self.fault(kind="wrong_length", glob="/repos/*", delta=-5)
        r = self.cdn_get(loc, tolerant=True)
        self.assertEqual((r.h("Content-Length"), r.body), (str(len(big) - 5), big[:-5]))
        self.assertEqual(self.log_lines()[-1]["bytes"], len(big) - 5)
        # ignore_range: not used up by a request without Range
        self.fault(kind="ignore_range", glob="/repos/*")
        self.assertEqual(self.cdn_get(loc).status, 200)
        r = self.cdn_get(loc, {"Range": "bytes=0-9"})
        self.assertEqual((r.status, len(r.body), r.h("Content-Range")), (200, len(big), None))
        self.assertEqual(self.log_lines()[-1]["fault"], "ignore_range")
        self.assertEqual(self.cdn_get(loc, {"Range": "bytes=0-9"}).status, 206)
        # lfs_pointer
        self.fault(kind="lfs_pointer", glob="/repos/*")
        r = self.cdn_get(loc, {"Range": "bytes=0-99"})
        ptr = pointer_text(f["sha256"], f["size"])
        self.assertEqual((r.status, r.body, r.h("Content-Length")), (200, ptr, str(len(ptr))))
        # wrong_linked_size on the resolve redirect only
        self.fault(kind="wrong_linked_size", delta=-10)
        r = self.get("/hubfs-test/tiny-model/resolve/main/big.bin")
        self.assertEqual(r.h("X-Linked-Size"), str(f["size"] - 10))
        self.assertEqual(self.get("/hubfs-test/tiny-model/resolve/main/big.bin")
                         .h("X-Linked-Size"), str(f["size"]))

    def test_fault_range_overrun_status_in_headers(self):
        big = self.tiny("big")
        loc = self.lfs_url()
        # range_overrun: not used up by a request without Range
        self.fault(kind="range_overrun", glob="/repos/*", short=10)
        self.assertEqual(self.cdn_get(loc).status, 200)
        r = self.cdn_get(loc, {"Range": "bytes=0-99"})
        self.assertEqual((r.status, r.h("Content-Range"), r.h("Content-Length"),
                          r.h("Transfer-Encoding")),
                         (206, "bytes 0-89/%d" % len(big), None, "chunked"))
        self.assertEqual(r.body, big[:90] + bytes(10))  # past the range named: not the file
        self.assertEqual(self.log_lines()[-1]["fault"], "range_overrun")
        self.assertEqual(self.cdn_get(loc, {"Range": "bytes=0-99"}).body, big[:100])
        # status_in_headers: a 404 with a status-like line and a 206's headers
        # (http.client stops at that line: read the answer as bytes)
        self.fault(kind="status_in_headers", glob="/repos/*")
        u = urllib.parse.urlsplit(loc)
        with socket.create_connection((u.hostname, u.port), timeout=10) as sock:
            sock.sendall(b"GET %s?%s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n"
                         b"Connection: close\r\n\r\n" % (u.path.encode(), u.query.encode()))
            raw = b""
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                raw += piece
        head, body = raw.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        self.assertTrue(lines[0].startswith(b"HTTP/1.1 404"))
        self.assertEqual(lines[1], b"HTTP/1.1 206 Partial Content: ")
        self.assertIn(b"Content-Range: bytes 0-99/%d" % len(big), lines)
        self.assertEqual((len(body), body[:6]), (100, b"<html>"))
        self.assertEqual(self.log_lines()[-1]["fault"], "status_in_headers")

    def test_bad_fault_and_non_loopback(self):
        r = request(self.hub, "POST", "/_fake/faults", {"Content-Type": "application/json"},
                    b'{"kind": "explode"}')
        self.assertEqual(r.status, 400)
        p = subprocess.run([sys.executable, FAKEHUB, "--data", self.data, "--state-file",
                            os.path.join(self.tmp, "x.state"), "--log",
                            os.path.join(self.tmp, "x.log"), "--hub-host", "8.8.8.8"],
                           capture_output=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"loopback", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x.state")))

    # WAN emulation -----------------------------------------------------------------------
    def timed(self, fn, *a, **kw):
        t = time.monotonic()
        r = fn(*a, **kw)
        return r, time.monotonic() - t

    @staticmethod
    def at_once(fns):
        """Runs the functions on a thread each, started together; the seconds until all ended."""
        threads = [threading.Thread(target=fn) for fn in fns]
        t0 = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return time.monotonic() - t0

    def test_wan_latency(self):
        loc = self.lfs_url()
        _, base_hub = self.timed(self.get, "/api/models/hubfs-test/tiny-model")
        _, base_cdn = self.timed(self.cdn_get, loc, {"Range": "bytes=0-99"})
        self.ctl("POST", "/_fake/config", {"latency_ms": 200})
        r, hub = self.timed(self.get, "/api/models/hubfs-test/tiny-model")
        self.assertEqual(r.status, 200)
        r, cdn = self.timed(self.cdn_get, loc, {"Range": "bytes=0-99"})
        self.assertEqual((r.status, len(r.body)), (206, 100))
        for t, base in ((hub, base_hub), (cdn, base_cdn)):
            self.assertGreaterEqual(t, 0.2, "latency not applied")
            self.assertLess(t, base + 0.2 + 0.3, "latency applied more than once")
        # an error answer waits too; control requests do not
        r, t = self.timed(self.get, "/api/models/hubfs-test/no-such-model")
        self.assertEqual(r.status, 401)
        self.assertGreaterEqual(t, 0.2)
        _, t = self.timed(self.ctl, "GET", "/_fake/config")
        self.assertLess(t, 0.2)

    def test_wan_rate_per_connection(self):
        f = self.tiny("files")["big.bin"]
        loc = self.lfs_url()
        rate = 4_000_000
        self.ctl("POST", "/_fake/config", {"cdn_rate": rate})
        want = f["size"] / rate
        r, t = self.timed(self.cdn_get, loc)
        self.assertEqual((r.status, hashlib.sha256(r.body).hexdigest()), (200, f["sha256"]))
        self.assertGreaterEqual(t, want * 0.9)
        self.assertLess(t, want * 1.3 + 0.1)
        # a range: its own length at the rate
        r, t = self.timed(self.cdn_get, loc, {"Range": "bytes=0-999999"})
        self.assertEqual((r.status, len(r.body)), (206, 1000000))
        self.assertGreaterEqual(t, 0.25 * 0.9)
        self.assertLess(t, 0.25 * 1.3 + 0.1)
        # each connection has its own bucket: three at once take as long as one
        res = {}

        def fetch(i):
            res[i] = self.timed(self.cdn_get, loc)

        t = self.at_once([lambda i=i: fetch(i) for i in range(3)])
        self.assertEqual([hashlib.sha256(res[i][0].body).hexdigest() for i in range(3)],
                         [f["sha256"]] * 3)
        self.assertGreaterEqual(t, want * 0.9)
        self.assertLess(t, want * 1.3 + 0.2)
        cdn = [x for x in self.log_lines() if x["host"] == "cdn"]
        self.assertEqual(len(cdn), 5)
        self.assertEqual(len({x["conn"] for x in cdn}), 5)  # fresh connections
        self.assertTrue(all(x["end"] >= x["t"] for x in cdn))

    def test_wan_total_rate(self):
        f = self.tiny("files")["big.bin"]
        loc = self.lfs_url()
        total = 6_000_000
        self.ctl("POST", "/_fake/config", {"cdn_total_rate": total})
        t = self.at_once([lambda: self.cdn_get(loc)] * 3)
        want = 3 * f["size"] / total
        self.assertGreaterEqual(t, want * 0.9)
        self.assertLess(t, want * 1.3 + 0.2)
        self.assertEqual([x["bytes"] for x in self.log_lines() if x["host"] == "cdn"],
                         [f["size"]] * 3)

    def test_wan_max_active(self):
        loc = self.lfs_url()
        self.ctl("POST", "/_fake/config", {"cdn_max_active": 2, "cdn_retry_after": 3,
                                           "latency_ms": 300})
        res = []

        def fetch():
            res.append(self.cdn_get(loc, {"Range": "bytes=0-99"}))

        threads = [threading.Thread(target=fetch) for _ in range(4)]
        for th in threads:
            th.start()
            time.sleep(0.05)  # all four arrive within the first one's latency
        for th in threads:
            th.join()
        codes = sorted(r.status for r in res)
        self.assertEqual(codes, [206, 206, 429, 429])
        self.assertEqual({r.h("Retry-After") for r in res if r.status == 429}, {"3"})
        log = [x for x in self.log_lines() if x["host"] == "cdn"]
        self.assertEqual(sorted((x["status"], x["fault"]) for x in log),
                         [(206, None), (206, None), (429, "max_active"), (429, "max_active")])
        # the answers in progress are counted down again: the next ones pass
        self.assertEqual(self.cdn_get(loc, {"Range": "bytes=0-99"}).status, 206)
        self.assertEqual(self.cdn_get(loc, {"Range": "bytes=0-99"}).status, 206)

    def test_wan_settings(self):
        r = request(self.hub, "POST", "/_fake/config", {"Content-Type": "application/json"},
                    b'{"cdn_rate": -1}')
        self.assertEqual(r.status, 400)
        j = self.ctl("POST", "/_fake/config", {"latency_ms": 2.5, "cdn_rate": 60000000})
        self.assertEqual((j["latency_ms"], j["cdn_rate"]), (2.5, 60000000))
        # and as flags at start-up
        tmp = tempfile.mkdtemp(dir=self.tmp)
        proc, state, _ = start_server(self.data, tmp, ["--latency-ms", "30", "--cdn-rate",
                                                       "60M", "--cdn-total-rate", "1.5G",
                                                       "--cdn-max-active", "8"])
        try:
            r = request(state["hub"], "GET", "/_fake/config")
            j = r.json()
            self.assertEqual((j["latency_ms"], j["cdn_rate"], j["cdn_total_rate"],
                              j["cdn_max_active"], j["cdn_retry_after"]),
                             (30.0, 60000000, 1500000000, 8, 1))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
            proc.stdout.close()
            proc.stderr.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
