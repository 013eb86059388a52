#!/usr/bin/env python3
"""Self-test of genrepos.py: checks DATA/manifest.json against the blobs, against git,
and against the formats the files claim to be.

Usage: test_genrepos.py [DATA_DIR] [unittest options]   (or env FAKEHUB_DATA=DATA_DIR)

Without a manifest in DATA_DIR it generates one there first; with no DATA_DIR at all it
uses a temporary directory. The checks recompute everything independently of the
generator (only the commit identity constants are imported from it).
"""

import collections
import fnmatch
import hashlib
import json
import math
import os
import pickle
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
GENERATOR = os.path.join(HERE, "genrepos.py")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True      # keep the source tree free of __pycache__
import genrepos  # noqa: E402  (for AUTHOR_NAME / AUTHOR_EMAIL only)

ORG = "hubfs-test"
TINY = "model/hubfs-test/tiny-model"
ALICE = "hf_alice_0123456789abcdefghijklmnopqrstuvw"
BOB = "hf_bob_0123456789abcdefghijklmnopqrstuvwxy"
MIB = 1024 * 1024
DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2,
               "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")

DATA = None          # set in setUpModule
MANIFEST = None      # manifest.json with the wide repos' side files read in
RAW_MANIFEST = None  # manifest.json as written
_TEMP_DATA = None
WIDE = "dataset/hubfs-test/wide-dataset"
BULK_ORG = "bulk-org"


def git_sha1(kind, body):
    return hashlib.sha1(b"%s %d\0" % (kind.encode(), len(body)) + body).hexdigest()


def pointer_text(sha256, size):
    return ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
            % (sha256, size)).encode()


def blob_path(sha256):
    return os.path.join(DATA, "blobs", sha256)


def read_blob(sha256):
    with open(blob_path(sha256), "rb") as f:
        return f.read()


def main_commit(repo):
    return repo["commits"][repo["refs"]["branches"]["main"]]


def all_commit_files():
    """(repo key, commit sha, path, entry) for every file of every commit."""
    for key, sha, commit in unique_commits():
        for path, entry in commit["files"].items():
            yield key, sha, path, entry


def run_generator(data_dir, *args):
    return subprocess.run([sys.executable, GENERATOR, data_dir] + list(args), check=True,
                          capture_output=True, text=True).stdout


def read_manifest(data_dir):
    """(manifest as written, manifest with every side file's files and dirs read in)."""
    with open(os.path.join(data_dir, "manifest.json"), "rb") as f:
        raw = f.read()
    full = json.loads(raw)
    for repo in full["repos"].values():
        for commit in repo["commits"].values():
            if "files_in" in commit:
                with open(os.path.join(data_dir, commit.pop("files_in")), "rb") as f:
                    commit.update(json.load(f))
    return json.loads(raw), full


def unique_commits():
    """(repo key, sha, commit) once per commit sha: bulk-org's repos share theirs."""
    seen = set()
    for key, repo in sorted(MANIFEST["repos"].items()):
        for sha, commit in repo["commits"].items():
            if sha not in seen:
                seen.add(sha)
                yield key, sha, commit


def big_size_of_stamp(stamp):
    m = re.fullmatch(r"genrepos/\d+ big=(\d+)(?: ml=[0-9a-f]{64})?", stamp)
    return int(m.group(1)) if m else None


def has_ml_repos(stamp):
    """Generated with --ml (make_ml_repos.py's files, where the venv exists)."""
    return " ml=" in stamp


ML_REPOS = {"model/hubfs-ml/bert-tiny", "model/hubfs-ml/bert-tiny-sharded",
            "dataset/hubfs-ml/parquet-rows"}


def setUpModule():
    global DATA, MANIFEST, _TEMP_DATA
    if DATA is None:
        _TEMP_DATA = tempfile.mkdtemp(prefix="genrepos-test-")
        DATA = _TEMP_DATA
    if not os.path.exists(os.path.join(DATA, "manifest.json")):
        run_generator(DATA)
    global RAW_MANIFEST
    RAW_MANIFEST, MANIFEST = read_manifest(DATA)


def tearDownModule():
    if _TEMP_DATA:
        shutil.rmtree(_TEMP_DATA, ignore_errors=True)


# ---------------------------------------------------------------------- helpers

def simple_yaml(text):
    """Parse the front matter subset the cards use: `key: scalar` and `key:` + `- item`."""
    card, current = {}, None

    def scalar(s):
        if s.startswith('"'):
            return json.loads(s)
        if s in ("true", "false"):
            return s == "true"
        if re.fullmatch(r"-?\d+", s):
            return int(s)
        return s

    for line in text.splitlines():
        if line.startswith("- "):
            card[current].append(scalar(line[2:]))
        elif line.endswith(":"):
            current = line[:-1]
            card[current] = []
        else:
            key, _, value = line.partition(": ")
            card[key] = scalar(value)
    return card


def lfs_patterns(gitattributes):
    return [line.split()[0] for line in gitattributes.splitlines()
            if line.strip() and not line.startswith("#") and "filter=lfs" in line.split()]


def pattern_matches(pattern, path):
    """git attribute matching, independently of the generator's regex translation."""
    if "/" not in pattern:
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern)
    if pattern.endswith("/**/*"):
        return path.startswith(pattern[:-len("**/*")])
    if any(c in pattern for c in "*?["):
        raise AssertionError("test cannot evaluate pattern %r" % pattern)
    return path == pattern.lstrip("/")


def parse_safetensors_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        raw = f.read(n)
    return n, raw


def float_values(raw, dtype):
    if dtype == "F32":
        return struct.unpack("<%df" % (len(raw) // 4), raw)
    if dtype == "F64":
        return struct.unpack("<%dd" % (len(raw) // 8), raw)
    if dtype == "F16":
        return struct.unpack("<%de" % (len(raw) // 2), raw)
    if dtype == "BF16":
        halves = struct.unpack("<%dH" % (len(raw) // 2), raw)
        return struct.unpack("<%df" % len(halves), struct.pack("<%dI" % len(halves),
                                                                *(h << 16 for h in halves)))
    return []


class StateDictUnpickler(pickle.Unpickler):
    """Loads a torch data.pkl without torch: tensors become (storage pid, offset, size, stride)."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, size, stride, requires_grad, hooks: \
                (storage, offset, size, stride)
        if module == "torch" and name.endswith("Storage"):
            return name
        raise pickle.UnpicklingError("unexpected global %s.%s" % (module, name))

    def persistent_load(self, pid):
        return pid


def git_available():
    return shutil.which("git") is not None


def git_env(home):
    env = dict(os.environ, HOME=home, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
               LC_ALL="C")
    for var in list(env):
        if var.startswith("GIT_") and var not in ("GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL"):
            del env[var]
    return env


# ------------------------------------------------------------------------ tests

class ManifestShape(unittest.TestCase):

    def test_header_and_tokens(self):
        self.assertEqual(MANIFEST["format"], 1)
        self.assertIsNotNone(big_size_of_stamp(MANIFEST["generator"]), MANIFEST["generator"])
        self.assertEqual(MANIFEST["tokens"], {
            ALICE: {"user": "alice", "private": ["model/hubfs-test/private-model",
                                                "model/bulk-org/private-alice"],
                    "gated": ["model/hubfs-test/gated-model", "model/bulk-org/gated-model"]},
            BOB: {"user": "bob", "private": ["model/bulk-org/private-bob"], "gated": []},
        })

    def test_repo_list_and_metadata(self):
        expected = {TINY, "model/hubfs-test/sharded-model", "dataset/hubfs-test/big-dataset",
                    "model/hubfs-test/private-model", "model/hubfs-test/gated-model",
                    "dataset/hubfs-test/odd-names", "space/hubfs-test/demo-space",
                    "model/legacy-model", WIDE, "model/takedown-org/disabled-model"}
        expected |= {"model/bulk-org/model-%04d" % i for i in range(1200)}
        expected |= {"model/bulk-org/" + n for n in ("gated-model", "private-alice",
                                                     "private-bob")}
        expected |= {"dataset/bulk-org/data-%d" % i for i in range(5)}
        if big_size_of_stamp(MANIFEST["generator"]):
            expected.add("model/hubfs-test/big-model")
        if has_ml_repos(MANIFEST["generator"]):
            expected |= ML_REPOS
        repos = MANIFEST["repos"]
        self.assertEqual(set(repos), expected)
        for key, repo in repos.items():
            with self.subTest(repo=key):
                self.assertEqual("%s/%s" % (repo["type"], repo["id"]), key)
                self.assertRegex(repo["created_at"], DATE_RE)
                self.assertEqual(repo["default_branch"], "main")
                self.assertIsInstance(repo["tags"], list)
                self.assertIsInstance(repo["card"], dict)
                self.assertEqual(set(repo["refs"]), {"branches", "tags", "pulls", "converts"})
                if "/" in repo["id"]:
                    self.assertEqual(repo["author"], repo["id"].split("/")[0])
                self.assertEqual(repo["private"], key.endswith("/private-model") or
                                 "/private-" in key and repo["author"] == BULK_ORG)
                self.assertEqual(repo["gated"], False if not key.endswith("/gated-model") else
                                 "auto" if repo["author"] == BULK_ORG else "manual")
                self.assertEqual(repo.get("sdk"), "gradio" if repo["type"] == "space" else None)
        self.assertIn("license:apache-2.0", repos[TINY]["tags"])
        self.assertIn("safetensors", repos[TINY]["tags"])

    def test_entry_shapes(self):
        for key, sha, path, entry in all_commit_files():
            self.assertRegex(entry["sha256"], HEX64)
            self.assertRegex(entry["oid"], HEX40)
            self.assertFalse(path.startswith("/") or path.endswith("/") or "//" in path, path)
            if entry["lfs"] is not None:
                self.assertEqual(set(entry["lfs"]), {"oid", "size", "pointerSize"})


class Blobs(unittest.TestCase):

    def test_every_blob_size_sha256_and_git_oid(self):
        """Read every blob once: size, sha256 (its name) and the tree oid of each entry."""
        entries = collections.defaultdict(list)
        for key, sha, path, entry in all_commit_files():
            entries[entry["sha256"]].append((key, path, entry))
        for sha256, uses in entries.items():
            size = uses[0][2]["size"]
            h256, h1 = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % size)
            total = 0
            with open(blob_path(sha256), "rb") as f:
                for chunk in iter(lambda: f.read(4 * MIB), b""):
                    h256.update(chunk)
                    h1.update(chunk)
                    total += len(chunk)
            self.assertEqual(total, size, uses[0][:2])
            self.assertEqual(h256.hexdigest(), sha256, uses[0][:2])
            for key, path, entry in uses:
                self.assertEqual(entry["size"], size, (key, path))
                if entry["lfs"] is None:
                    self.assertEqual(entry["oid"], h1.hexdigest(), (key, path))
                else:
                    pointer = pointer_text(sha256, size)
                    self.assertEqual(entry["lfs"], {"oid": sha256, "size": size,
                                                    "pointerSize": len(pointer)}, (key, path))
                    self.assertEqual(entry["oid"], git_sha1("blob", pointer), (key, path))

    def test_no_temporary_files_left(self):
        leftovers = [n for n in os.listdir(os.path.join(DATA, "blobs")) if not HEX64.match(n)]
        self.assertEqual(leftovers, [])
        self.assertFalse([n for n in os.listdir(DATA) if n.startswith(".tmp-")])

    @unittest.skipUnless(git_available(), "git not installed")
    def test_blob_oids_with_git(self):
        """`git hash-object` of a sample of contents and of every LFS pointer text."""
        sample = {}
        for key in (TINY, "dataset/hubfs-test/odd-names", "space/hubfs-test/demo-space"):
            files = main_commit(MANIFEST["repos"][key])["files"]
            sample.update({(key, p): e for p, e in files.items()})
        dataset = main_commit(MANIFEST["repos"]["dataset/hubfs-test/big-dataset"])["files"]
        sample.update({("big-dataset", p): dataset[p] for p in sorted(dataset)[::300]})
        with tempfile.TemporaryDirectory() as tmp:
            paths, expected = [], []
            for i, ((key, path), entry) in enumerate(sorted(sample.items())):
                if entry["lfs"] is None:
                    paths.append(blob_path(entry["sha256"]))
                else:
                    paths.append(os.path.join(tmp, "pointer-%d" % i))
                    with open(paths[-1], "wb") as f:
                        f.write(pointer_text(entry["lfs"]["oid"], entry["lfs"]["size"]))
                expected.append(entry["oid"])
            out = subprocess.run(["git", "hash-object", "--no-filters", "--stdin-paths"],
                                 input="\n".join(paths) + "\n", capture_output=True, text=True,
                                 check=True, cwd=tmp, env=git_env(tmp)).stdout.split()
        self.assertEqual(out, expected)
        self.assertGreater(len(expected), 20)


class GitObjects(unittest.TestCase):

    def test_dirs_cover_every_folder(self):
        for key, sha, commit in unique_commits():
            folders = set()
            for path in commit["files"]:
                parts = path.split("/")[:-1]
                folders.update("/".join(parts[:i + 1]) for i in range(len(parts)))
            self.assertEqual(set(commit["dirs"]), folders, (key, sha))

    @unittest.skipUnless(git_available(), "git not installed")
    def test_trees_and_commits_with_git(self):
        """Rebuild every tree with `git mktree` and every commit with `git commit-tree`."""
        with tempfile.TemporaryDirectory() as tmp:
            env = git_env(tmp)
            subprocess.run(["git", "init", "-q", tmp], check=True, env=env)

            def git(args, stdin=b"", extra_env=None):
                return subprocess.run(["git"] + args, input=stdin, check=True, cwd=tmp,
                                      capture_output=True, env=dict(env, **(extra_env or {}))
                                      ).stdout.decode().strip()

            def mktree(node, prefix, dirs):
                records = []
                for name, child in node.items():
                    if isinstance(child, dict):
                        oid = mktree(child, prefix + name + "/", dirs)
                        dirs[prefix + name] = oid
                        records.append(b"040000 tree %s\t%s\0" % (oid.encode(), name.encode()))
                    else:
                        records.append(b"100644 blob %s\t%s\0" % (child.encode(), name.encode()))
                return git(["mktree", "-z", "--missing"], b"".join(records))

            checked = 0
            done = set()        # bulk-org's repos share their commits: check each once
            for key, repo in MANIFEST["repos"].items():
                pending = {s: c for s, c in repo["commits"].items() if s not in done}
                done |= set(pending)
                while pending:          # parents first: commit-tree needs them to exist
                    ready = [s for s, c in pending.items() if not set(c["parents"]) & set(pending)]
                    self.assertTrue(ready, "parent cycle or missing parent in %s" % key)
                    for sha in sorted(ready):
                        commit = pending.pop(sha)
                        root = {}
                        for path, entry in commit["files"].items():
                            node = root
                            parts = path.split("/")
                            for part in parts[:-1]:
                                node = node.setdefault(part, {})
                            node[parts[-1]] = entry["oid"]
                        dirs = {}
                        tree = mktree(root, "", dirs)
                        self.assertEqual(tree, commit["tree"], (key, commit["title"]))
                        self.assertEqual(dirs, commit["dirs"], (key, commit["title"]))
                        stamp = "@%d +0000" % genrepos.iso_to_unix(commit["date"])
                        ident = {"GIT_AUTHOR_NAME": genrepos.AUTHOR_NAME,
                                 "GIT_AUTHOR_EMAIL": genrepos.AUTHOR_EMAIL,
                                 "GIT_AUTHOR_DATE": stamp,
                                 "GIT_COMMITTER_NAME": genrepos.AUTHOR_NAME,
                                 "GIT_COMMITTER_EMAIL": genrepos.AUTHOR_EMAIL,
                                 "GIT_COMMITTER_DATE": stamp}
                        args = ["commit-tree", tree, "-m", commit["title"]]
                        for parent in commit["parents"]:
                            args += ["-p", parent]
                        self.assertEqual(git(args, extra_env=ident), sha, (key, commit["title"]))
                        checked += 1
            self.assertGreaterEqual(checked, 15)

    def test_commit_dates_are_iso(self):
        for key, sha, commit in unique_commits():
            self.assertRegex(sha, HEX40)
            self.assertRegex(commit["date"], DATE_RE)
            self.assertRegex(commit["tree"], HEX40)


class Refs(unittest.TestCase):

    def test_refs_point_to_commits(self):
        for key, repo in MANIFEST["repos"].items():
            commits = repo["commits"]
            self.assertIn("main", repo["refs"]["branches"], key)
            for kind, refs in repo["refs"].items():
                for name, sha in refs.items():
                    self.assertIn(sha, commits, (key, kind, name))
            for branch, sha in repo["spare"].items():
                self.assertIn(branch, repo["refs"]["branches"], key)
                self.assertIn(sha, commits, (key, "spare"))
            for sha, commit in commits.items():
                for parent in commit["parents"]:
                    self.assertIn(parent, commits, (key, sha))

    def test_tiny_model_history(self):
        repo = MANIFEST["repos"][TINY]
        commits, refs = repo["commits"], repo["refs"]
        main = refs["branches"]["main"]
        self.assertEqual(commits[main]["title"], "Update README.md")
        upload = commits[main]["parents"][0]
        self.assertEqual(commits[upload]["title"], "Upload model")
        self.assertEqual(refs["tags"], {"v1.0": upload})
        initial = commits[upload]["parents"][0]
        self.assertEqual(commits[initial]["title"], "initial commit")
        self.assertEqual(commits[initial]["parents"], [])
        self.assertEqual(list(commits[initial]["files"]), [".gitattributes"])
        self.assertEqual(set(refs["branches"]), {"main", "feature/long-context"})
        self.assertEqual(commits[refs["branches"]["feature/long-context"]]["parents"], [main])
        self.assertEqual(set(refs["pulls"]), {"1"})
        self.assertEqual(commits[refs["pulls"]["1"]]["parents"], [main])
        spare = repo["spare"]["main"]
        self.assertEqual(commits[spare]["title"], "Update config.json")
        self.assertEqual(commits[spare]["parents"], [main])
        referenced = {sha for kind in refs.values() for sha in kind.values()}
        self.assertNotIn(spare, referenced)
        self.assertNotEqual(commits[spare]["files"]["config.json"]["oid"],
                            commits[main]["files"]["config.json"]["oid"])
        dates = [commits[s]["date"] for s in (initial, upload, main, spare)]
        self.assertEqual(dates, sorted(dates))

    def test_tiny_model_files(self):
        files = main_commit(MANIFEST["repos"][TINY])["files"]
        self.assertEqual(set(files), {
            ".gitattributes", "README.md", "config.json", "generation_config.json",
            "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
            "model.safetensors", "pytorch_model.bin", "extra/weights.dat", "empty.txt"})
        self.assertEqual(files["empty.txt"]["size"], 0)
        self.assertEqual(files["empty.txt"]["oid"], "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")
        self.assertEqual(files["extra/weights.dat"]["size"], 11 * MIB)
        self.assertTrue(30 * MIB < files["model.safetensors"]["size"] < 50 * MIB)
        config = json.loads(read_blob(files["config.json"]["sha256"]))
        vocab = read_blob(files["vocab.txt"]["sha256"]).decode().splitlines()
        self.assertEqual(config["vocab_size"], len(vocab))
        self.assertGreaterEqual(len(vocab), 200)
        self.assertEqual(len(set(vocab)), len(vocab))
        tokenizer = json.loads(read_blob(files["tokenizer.json"]["sha256"]))
        self.assertEqual(tokenizer["model"]["vocab"], {t: i for i, t in enumerate(vocab)})
        for name in ("generation_config.json", "tokenizer_config.json", "special_tokens_map.json"):
            json.loads(read_blob(files[name]["sha256"]))


class LfsRule(unittest.TestCase):

    def test_lfs_follows_each_commits_gitattributes(self):
        checked = 0
        for key, sha, commit in unique_commits():
            attrs = read_blob(commit["files"][".gitattributes"]["sha256"]).decode()
            patterns = lfs_patterns(attrs)
            paths = sorted(commit["files"])
            if len(paths) > 5000:
                paths = paths[::97] + paths[-3:]    # the wide dataset: a sample
            for path in paths:
                entry = commit["files"][path]
                expected = any(pattern_matches(p, path) for p in patterns)
                self.assertEqual(entry["lfs"] is not None, expected, (key, path))
                if entry["size"] > 10 * MIB:
                    self.assertIsNotNone(entry["lfs"], (key, path))
                checked += 1
        self.assertGreater(checked, 3000)

    def test_tiny_model_size_rule(self):
        repo = MANIFEST["repos"][TINY]
        main = main_commit(repo)
        files = main["files"]
        self.assertIsNotNone(files["extra/weights.dat"]["lfs"])
        self.assertIsNotNone(files["model.safetensors"]["lfs"])
        self.assertIsNotNone(files["pytorch_model.bin"]["lfs"])
        for name in ("config.json", "README.md", "empty.txt", ".gitattributes", "vocab.txt"):
            self.assertIsNone(files[name]["lfs"], name)
        attrs = read_blob(files[".gitattributes"]["sha256"]).decode()
        lines = attrs.splitlines()
        self.assertEqual(lines[-1], "extra/weights.dat filter=lfs diff=lfs merge=lfs -text")
        self.assertIn("*.safetensors filter=lfs diff=lfs merge=lfs -text", lines)
        self.assertIn("saved_model/**/* filter=lfs diff=lfs merge=lfs -text", lines)
        # weights.dat is LFS only through the explicit line, not by any default pattern.
        defaults = lfs_patterns("\n".join(lines[:-1]))
        self.assertFalse(any(pattern_matches(p, "extra/weights.dat") for p in defaults))
        initial = repo["commits"][repo["refs"]["tags"]["v1.0"]]["parents"][0]
        first = read_blob(repo["commits"][initial]["files"][".gitattributes"]["sha256"]).decode()
        self.assertNotIn("weights.dat", first)


class FileFormats(unittest.TestCase):

    def safetensors_files(self):
        seen = {}
        for key, sha, path, entry in all_commit_files():
            if path.endswith(".safetensors"):
                seen[entry["sha256"]] = (key, path, entry["size"])
        return seen

    def check_safetensors(self, sha256, size, where):
        path = blob_path(sha256)
        n, raw = parse_safetensors_header(path)
        self.assertEqual(n % 8, 0, where)
        raw.decode("ascii")
        self.assertEqual(raw, raw.rstrip(b" ") + b" " * (len(raw) - len(raw.rstrip(b" "))), where)
        header = json.loads(raw)
        self.assertEqual(header.pop("__metadata__"), {"format": "pt"}, where)
        spans = sorted((v["data_offsets"], name, v) for name, v in header.items())
        end = 0
        with open(path, "rb") as f:
            for (begin, stop), name, v in spans:
                self.assertEqual(begin, end, (where, name))
                itemsize = DTYPE_SIZES[v["dtype"]]
                self.assertEqual(stop - begin, math.prod(v["shape"]) * itemsize, (where, name))
                end = stop
                if v["dtype"] not in ("F32", "F16", "BF16", "F64") or stop == begin:
                    continue
                # Sample the start, middle and end of each float tensor.
                nitems = (stop - begin) // itemsize
                for first in sorted({0, nitems // 2, max(0, nitems - 1024)}):
                    f.seek(8 + n + begin + first * itemsize)
                    values = float_values(f.read(min(1024, nitems - first) * itemsize), v["dtype"])
                    self.assertTrue(values and all(math.isfinite(x) for x in values), (where, name))
        self.assertEqual(8 + n + end, size, where)
        self.assertEqual(os.path.getsize(path), size, where)
        return header

    def test_safetensors_files_are_valid(self):
        files = self.safetensors_files()
        self.assertGreaterEqual(len(files), 6)
        for sha256, (key, path, size) in files.items():
            with self.subTest(repo=key, path=path):
                self.check_safetensors(sha256, size, (key, path))

    def test_big_model_size(self):
        big = big_size_of_stamp(MANIFEST["generator"])
        if not big:
            self.skipTest("generated without --big-size")
        files = main_commit(MANIFEST["repos"]["model/hubfs-test/big-model"])["files"]
        self.assertEqual(files["model.safetensors"]["size"], big)
        self.assertIsNotNone(files["model.safetensors"]["lfs"])

    def test_sharded_index_names_every_tensor(self):
        files = main_commit(MANIFEST["repos"]["model/hubfs-test/sharded-model"])["files"]
        shards = sorted(p for p in files if p.endswith(".safetensors"))
        self.assertEqual(shards, ["model-%05d-of-00003.safetensors" % i for i in (1, 2, 3)])
        index = json.loads(read_blob(files["model.safetensors.index.json"]["sha256"]))
        mapping, total = {}, 0
        for shard in shards:
            self.assertTrue(6 * MIB <= files[shard]["size"] <= 11 * MIB, shard)
            header = self.check_safetensors(files[shard]["sha256"], files[shard]["size"], shard)
            for name, v in header.items():
                mapping[name] = shard
                total += v["data_offsets"][1] - v["data_offsets"][0]
        self.assertEqual(index["weight_map"], mapping)
        self.assertEqual(index["metadata"]["total_size"], total)

    def test_pytorch_model_bin_is_a_torch_zip(self):
        checked = 0
        for key, sha, path, entry in all_commit_files():
            if path != "pytorch_model.bin":
                continue
            with zipfile.ZipFile(blob_path(entry["sha256"])) as zf:
                infos = {i.filename: i for i in zf.infolist()}
                prefix = next(iter(infos)).split("/")[0]
                self.assertTrue(all(n.startswith(prefix + "/") for n in infos), key)
                self.assertTrue(all(i.compress_type == zipfile.ZIP_STORED for i in infos.values()))
                state = StateDictUnpickler(zf.open(prefix + "/data.pkl")).load()
                self.assertIsInstance(state, collections.OrderedDict)
                self.assertGreater(len(state), 0)
                for name, (pid, offset, size, stride) in state.items():
                    tag, storage_type, storage_key, device, numel = pid
                    self.assertEqual((tag, storage_type, device, offset),
                                     ("storage", "FloatStorage", "cpu", 0))
                    self.assertEqual(math.prod(size), numel, name)
                    expect_stride = [math.prod(size[i + 1:]) for i in range(len(size))]
                    self.assertEqual(list(stride), expect_stride, name)
                    self.assertEqual(infos["%s/data/%s" % (prefix, storage_key)].file_size,
                                     numel * 4, name)
                checked += 1
        self.assertGreaterEqual(checked, 2)

    def test_cards_match_readme_front_matter(self):
        for key, repo in MANIFEST["repos"].items():
            if repo.get("bulk") and not key.endswith(("-0000", "-0")):
                continue
            readme = main_commit(repo)["files"].get("README.md")
            if readme is None:
                continue
            text = read_blob(readme["sha256"]).decode("utf-8")
            self.assertTrue(text.startswith("---\n"), key)
            front = text[4:text.index("\n---\n", 4)]
            self.assertEqual(simple_yaml(front), repo["card"], key)
        self.assertEqual(MANIFEST["repos"]["space/hubfs-test/demo-space"]["card"]["sdk"], "gradio")
        self.assertEqual(MANIFEST["repos"][TINY]["card"]["license"], "apache-2.0")


class Datasets(unittest.TestCase):

    def test_big_dataset(self):
        repo = MANIFEST["repos"]["dataset/hubfs-test/big-dataset"]
        files = main_commit(repo)["files"]
        self.assertGreaterEqual(len(files), 3000)
        self.assertEqual(repo["refs"]["tags"]["v1.0"], repo["refs"]["branches"]["main"])
        data = [p for p in files if p.startswith("data/")]
        self.assertGreaterEqual(len(data), 3000)
        self.assertTrue(all(p.count("/") >= 3 for p in data))
        self.assertEqual(len({files[p]["sha256"] for p in data}), len(data),
                         "contents not distinct")
        self.assertTrue(all(50 <= files[p]["size"] <= 4096 for p in data))
        for p in sorted(data)[::97]:
            text = read_blob(files[p]["sha256"]).decode()
            if p.endswith(".jsonl"):
                for line in text.splitlines():
                    json.loads(line)
            else:
                self.assertTrue(text.startswith("id,text,label\n"), p)
        parquet = [p for p in files if p.endswith(".parquet")]
        self.assertGreaterEqual(len(parquet), 3)
        for p in parquet:
            self.assertIsNotNone(files[p]["lfs"], p)
            blob = read_blob(files[p]["sha256"])
            self.assertTrue(blob.startswith(b"PAR1") and blob.endswith(b"PAR1"), p)
        self.assertIn("README.md", files)
        self.assertIn(".gitattributes", files)

    def test_wide_dataset(self):
        """100,000 files, 50,000 of them in data/big/; the file table is in a side file, so
        manifest.json stays small."""
        raw = RAW_MANIFEST["repos"][WIDE]
        self.assertTrue(raw.get("wide"))
        (commit,) = raw["commits"].values()
        self.assertNotIn("files", commit)
        self.assertEqual(commit["files_in"], "wide/%s.json" % raw["refs"]["branches"]["main"])
        self.assertLess(os.path.getsize(os.path.join(DATA, "manifest.json")), 8 << 20)
        files = main_commit(MANIFEST["repos"][WIDE])["files"]
        data = [p for p in files if p.startswith("data/")]
        self.assertEqual(len(data), 100000)
        self.assertEqual(sum(1 for p in data if p.rsplit("/", 1)[0] == "data/big"), 50000)
        self.assertEqual(len({files[p]["sha256"] for p in data}), 251)
        self.assertTrue(all(files[p]["lfs"] is None and files[p]["size"] < 64 for p in data))
        self.assertEqual(read_blob(files["data/big/row-00252.txt"]["sha256"]),
                         b"wide-dataset row group 1\n")

    def test_bulk_org(self):
        """More repos in one namespace than a listing page holds, all on one tiny commit."""
        repos = {k: r for k, r in MANIFEST["repos"].items() if r["author"] == BULK_ORG}
        models = [k for k, r in repos.items() if r["type"] == "model"]
        self.assertEqual(len(models), 1203)
        self.assertEqual(sum(1 for k in repos if k.startswith("dataset/")), 5)
        self.assertTrue(all(r.get("bulk") for r in repos.values()))
        heads = {r["refs"]["branches"]["main"] for k, r in repos.items() if k in models}
        self.assertEqual(len(heads), 1)
        self.assertEqual(sorted(main_commit(repos[models[0]])["files"]),
                         [".gitattributes", "README.md", "config.json"])

    def test_odd_names(self):
        files = main_commit(MANIFEST["repos"]["dataset/hubfs-test/odd-names"])["files"]
        for name in ("docs/with space.txt", "docs.txt", "données/été.csv",
                     "日本語/テスト.txt",
                     "weird/100%?#.txt", "weird/a:b,c.txt", "README.md", ".gitattributes"):
            self.assertIn(name, files)
        repo = MANIFEST["repos"]["dataset/hubfs-test/odd-names"]
        self.assertIn("日本語", main_commit(repo)["dirs"])


class MLRepos(unittest.TestCase):
    """The hubfs-ml repos (genrepos.py --ml DIR): the files make_ml_repos.py wrote, as
    ordinary repo files (LFS by .gitattributes or size), history and tag as described."""

    def setUp(self):
        if not has_ml_repos(MANIFEST["generator"]):
            self.skipTest("generated without --ml (no Python test environment)")

    def test_bert_tiny_history_and_tag(self):
        repo = MANIFEST["repos"]["model/hubfs-ml/bert-tiny"]
        main = repo["refs"]["branches"]["main"]
        v1 = repo["refs"]["tags"]["v1.0"]
        self.assertEqual(repo["commits"][main]["parents"], [v1])
        old, new = repo["commits"][v1]["files"], repo["commits"][main]["files"]
        self.assertEqual(set(new) - set(old), {"README.md", "checkpoint/state.pt"})
        for path in old:
            if path != ".gitattributes":
                self.assertEqual(old[path]["sha256"], new[path]["sha256"], path)
        self.assertGreater(new["model.safetensors"]["size"], 20 * MIB)
        self.assertIsNotNone(new["model.safetensors"]["lfs"])
        self.assertIsNotNone(new["checkpoint/state.pt"]["lfs"])
        self.assertIsNone(new["config.json"]["lfs"])
        self.check_safetensors_header(new["model.safetensors"])

    def test_sharded_index_names_every_tensor(self):
        files = main_commit(MANIFEST["repos"]["model/hubfs-ml/bert-tiny-sharded"])["files"]
        shards = sorted(p for p in files if p.endswith(".safetensors"))
        self.assertGreaterEqual(len(shards), 2)
        index = json.loads(read_blob(files["model.safetensors.index.json"]["sha256"]))
        mapping = {}
        for shard in shards:
            for name in self.check_safetensors_header(files[shard]):
                mapping[name] = shard
        self.assertEqual(index["weight_map"], mapping)

    def test_parquet_files(self):
        files = main_commit(MANIFEST["repos"]["dataset/hubfs-ml/parquet-rows"])["files"]
        parquet = sorted(p for p in files if p.endswith(".parquet"))
        self.assertEqual(parquet, ["data/train-0000%d-of-00002.parquet" % i for i in (0, 1)])
        for path in parquet:
            with open(blob_path(files[path]["sha256"]), "rb") as f:
                self.assertEqual(f.read(4), b"PAR1", path)
                f.seek(-4, os.SEEK_END)
                self.assertEqual(f.read(4), b"PAR1", path)
            self.assertIsNotNone(files[path]["lfs"], path)
        self.assertGreater(files[parquet[0]]["size"], 32 * MIB)

    def check_safetensors_header(self, entry):
        """The tensors of a safetensors file tile its data exactly. Returns their names."""
        with open(blob_path(entry["sha256"]), "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        header.pop("__metadata__", None)
        spans = sorted(tuple(v["data_offsets"]) for v in header.values())
        end = 0
        for begin, stop in spans:
            self.assertEqual(begin, end)
            end = stop
        self.assertEqual(8 + n + end, entry["size"])
        return list(header)


class Determinism(unittest.TestCase):

    def test_second_run_gives_identical_output_and_rerun_is_a_no_op(self):
        with tempfile.TemporaryDirectory(prefix="genrepos-again-") as tmp:
            run_generator(tmp)
            manifest_path = os.path.join(tmp, "manifest.json")
            again = read_manifest(tmp)[1]
            ours = dict(MANIFEST, repos=dict(MANIFEST["repos"]))
            ours["repos"].pop("model/hubfs-test/big-model", None)
            for key in ML_REPOS:
                ours["repos"].pop(key, None)
            self.assertEqual(again["generator"], "genrepos/%d big=0" % genrepos.GENERATOR_VERSION)
            ours["generator"] = again["generator"]
            for key in ours["repos"]:
                self.assertEqual(again["repos"][key], ours["repos"][key], key)
            self.assertEqual(again, ours)
            ours_blobs = set(os.listdir(os.path.join(DATA, "blobs")))
            self.assertLessEqual(set(os.listdir(os.path.join(tmp, "blobs"))), ours_blobs)

            before = os.stat(manifest_path).st_mtime_ns
            out = run_generator(tmp)
            self.assertIn("up to date", out)
            self.assertEqual(os.stat(manifest_path).st_mtime_ns, before)


def parse_args():
    global DATA
    args = sys.argv[1:]
    if args and not args[0].startswith("-"):
        DATA = args.pop(0)
    DATA = DATA or os.environ.get("FAKEHUB_DATA") or None
    if DATA:
        DATA = os.path.abspath(DATA)
    sys.argv[1:] = args


if __name__ == "__main__":
    parse_args()
    unittest.main()
