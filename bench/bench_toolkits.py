"""OmniGenBench's download toolkit, huggingface_hub and hubfs, side by side (issue #13).

    build-venv/bin/python bench/bench_toolkits.py [--build DIR] [--rounds N] [--small-rounds N] [--out FILE]

One run against the fake Hub on loopback (the build's fake Hub data, with the
hubfs-ml repos: run `ctest -R fakehub/generate` first). Writes the tables between
the markers in docs/benchmarks.md (or --out), and the raw numbers as JSON beside
the work dir it prints. Measures:

  1. files and bytes each tool leaves for a model, a sharded model, a private
     repo (alice's token) and a dataset; requests and CDN bytes it needed;
  2. what each detects on the same broken folders (LFS pointer stubs, a
     truncated file, a flipped byte, a missing config.json);
  3. a download killed (kill -9) while the CDN stalls, then run again;
  4. speed, cold caches, medians of --rounds (--small-rounds for the two model
     repos), tools taking turns: a full
     download of the model repo, the sharded repo and the 3,000-file dataset by
     download_from_hf_hub, snapshot_download and hubfs download.

Times of the Python tools are of the call alone (the interpreter and imports
not counted: importing omnigenbench takes ~10 s); hubfs's are of the whole
process. The machine is shared: numbers, not verdicts.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALICE = "hf_alice_0123456789abcdefghijklmnopqrstuvw"
BEGIN = "<!-- bench_toolkits.py: begin (generated; do not edit) -->"
END = "<!-- bench_toolkits.py: end -->"

sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
import manifest as manifest_lib  # noqa: E402


class Hub:
    """The fake Hub, its control endpoint and its request log."""

    def __init__(self, data, work):
        self.log = os.path.join(work, "hub.jsonl")
        state = os.path.join(work, "hub.state")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(TOP, "tests/fakehub/fakehub.py"), "--data", data,
             "--state-file", state, "--log", self.log],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "hub.stderr"), "w"))
        for _ in range(300):
            if os.path.exists(state) and os.path.getsize(state):
                break
            time.sleep(0.1)
        self.url = json.load(open(state))["hub"]

    def ctl(self, method, path, body=None):
        req = urllib.request.Request(self.url + "/_fake/" + path, method=method,
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    def clear(self):
        self.ctl("DELETE", "log")

    def entries(self):
        try:
            with open(self.log) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def usage(self):
        e = self.entries()
        return {"hub_requests": sum(1 for x in e if x["host"] == "hub"),
                "cdn_requests": sum(1 for x in e if x["host"] == "cdn"),
                "cdn_bytes": sum(x["bytes"] for x in e if x["host"] == "cdn"),
                "bytes": sum(x["bytes"] for x in e)}

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def tree_files(d):
    """(files, bytes) below d, without huggingface_hub's .cache/; and .cache's entries."""
    n = size = extra = 0
    for root, dirs, names in os.walk(d):
        rel = os.path.relpath(root, d)
        if rel == ".cache" or rel.startswith(".cache" + os.sep):
            extra += len(names)
            continue
        for name in names:
            n += 1
            size += os.path.getsize(os.path.join(root, name))
    return n, size, extra


def fmt_bytes(n):
    return "%.1f MB" % (n / 1e6) if n >= 1e5 else "%d B" % n


class Bench:
    def __init__(self, args):
        self.args = args
        self.hubfs = os.path.join(args.build, "cli", "hubfs")
        self.data = os.path.join(args.build, "fakehub-data")
        self.work = tempfile.mkdtemp(prefix="hubfs-bench-toolkits.")
        self.hub = Hub(self.data, self.work)
        os.environ.update(HF_ENDPOINT=self.hub.url, HF_HUB_DISABLE_TELEMETRY="1",
                          HF_HOME=os.path.join(self.work, "hf-home"),
                          HUBFS_CACHE_DIR=os.path.join(self.work, "hubfs-cache"),
                          TOKENIZERS_PARALLELISM="false")
        os.environ.pop("HF_TOKEN", None)
        self.token_file = os.path.join(self.work, "alice.token")
        with open(self.token_file, "w") as f:
            f.write(ALICE + "\n")
        sys.path.insert(0, os.path.join(TOP, "tests", "omni"))
        import omni_toolkit  # after HF_ENDPOINT: huggingface_hub reads it at import
        self.omni = omni_toolkit
        self.man = manifest_lib.load(self.data)
        self.n = 0

    def fresh(self, what):
        self.n += 1
        return os.path.join(self.work, "%s-%d" % (what, self.n))

    def lfs_bytes(self, key):
        repo = self.man["repos"][key]
        files = manifest_lib.commit_files(self.data, repo["commits"][manifest_lib.commit_of(repo, "main")])[0]
        return sum(f["size"] for f in files.values() if f["lfs"]), files

    # --- the three tools, one cold download each ---
    def run_hubfs(self, repo, rtype, local_dir=None, token=False):
        shutil.rmtree(os.environ["HUBFS_CACHE_DIR"], ignore_errors=True)
        argv = [self.hubfs, "download", "--quiet", repo, "--type", rtype]
        if local_dir:
            argv += ["--local-dir", local_dir]
        if token:
            argv += ["--token-file", self.token_file]
        self.hub.clear()
        t = time.monotonic()
        rc = subprocess.run(argv).returncode
        r = {"ok": rc == 0, "seconds": time.monotonic() - t}
        r.update(self.hub.usage())
        return r

    def run_toolkit(self, repo, rtype, token=False):
        cache = self.fresh("omni")
        self.hub.clear()
        r = self.omni.op_download({"repo": repo, "type": rtype, "cache_dir": cache,
                                   "token": ALICE if token else None})
        r.update(self.hub.usage())
        r["dir"] = os.path.join(cache, repo.replace("/", "--"))
        return r

    def run_snapshot(self, repo, rtype, token=False):
        self.hub.clear()
        r = self.omni.op_snapshot({"repo": repo, "type": rtype, "cache_dir": self.fresh("hf"),
                                   "token": ALICE if token else None})
        r.update(self.hub.usage())
        return r

    # --- 1. files and bytes ---
    def produced(self):
        rows = []
        for key, repo, rtype, token in (("model/hubfs-ml/bert-tiny", "hubfs-ml/bert-tiny", "model", False),
                                        ("model/hubfs-test/sharded-model", "hubfs-test/sharded-model", "model", False),
                                        ("model/hubfs-test/private-model", "hubfs-test/private-model", "model", True),
                                        ("dataset/hubfs-ml/parquet-rows", "hubfs-ml/parquet-rows", "dataset", True)):
            lfs, files = self.lfs_bytes(key)
            want = (len(files), sum(f["size"] for f in files.values()))
            o = self.run_toolkit(repo, rtype, token)
            of = tree_files(o["dir"])
            hdir = self.fresh("hubfs-local")
            h = self.run_hubfs(repo, rtype, hdir, token)
            hf = tree_files(hdir)
            same = subprocess.run(["diff", "-rq", "-x", ".cache", hdir, o["dir"]],
                                  stdout=subprocess.DEVNULL).returncode == 0
            rows.append({"repo": key, "files": want[0], "bytes": want[1], "lfs_bytes": lfs,
                         "toolkit": dict(o, files=of[0], size=of[1], extra=of[2]),
                         "hubfs": dict(h, files=hf[0], size=hf[1], extra=hf[2]), "same": same})
        return rows

    # --- 2. broken folders ---
    def detection(self, rows):
        out = []
        for key in ("model/hubfs-test/tiny-model", "model/hubfs-test/sharded-model"):
            repo = key.split("/", 1)[1]
            good = self.fresh("good")
            self.run_hubfs(repo, "model", good)
            big = max(os.listdir(good), key=lambda f: os.path.getsize(os.path.join(good, f)))
            size = os.path.getsize(os.path.join(good, big))
            names = sorted(p for p in self.lfs_bytes(key)[1])
            for kind in ("stubs", "truncated", "flipped", "missing"):
                d = self.fresh(kind)
                if kind == "stubs":
                    subprocess.run([sys.executable, os.path.join(TOP, "tests/lib/manifest.py"),
                                    self.data, "tree", key, d, "clone"], check=True)
                else:
                    shutil.copytree(good, d)
                if kind == "truncated":
                    os.truncate(os.path.join(d, big), size // 2)
                elif kind == "flipped":
                    with open(os.path.join(d, big), "r+b") as f:
                        f.seek(size // 2)
                        b = f.read(1)
                        f.seek(size // 2)
                        f.write(bytes([b[0] ^ 0xFF]))
                elif kind == "missing":
                    os.unlink(os.path.join(d, "config.json"))
                hv = lambda *extra: subprocess.run([self.hubfs, "verify", d] + list(extra),
                                                   stdout=subprocess.DEVNULL).returncode != 0
                out.append({"repo": repo, "kind": kind, "file": big if kind in ("truncated", "flipped") else None,
                            "toolkit_default": not self.omni.op_verify({"dir": d})["ok"],
                            "toolkit_all": not self.omni.op_verify({"dir": d, "required": names})["ok"],
                            "hubfs_plain": hv(),
                            "hubfs_repo": hv("--repo", repo),
                            "hubfs_deep": hv("--repo", repo, "--deep")})
        return out

    # --- 3. killed mid-download, run again ---
    def interrupted(self):
        """The CDN stalls pytorch_model.bin (after 1 MiB of each answer; hubfs asks for
        it last) and serves the other LFS files; each tool is killed (-9) once it has
        written those into its folder."""
        repo, key = "hubfs-test/tiny-model", "model/hubfs-test/tiny-model"
        lfs, files = self.lfs_bytes(key)
        st = files["pytorch_model.bin"]["sha256"]
        others = [p for p, f in files.items() if f["lfs"] and p != "pytorch_model.bin"]
        stall = {"kind": "stall", "host": "cdn", "glob": "/repos/*/" + st, "after_bytes": 1 << 20,
                 "seconds": 20, "count": -1}

        def others_done(folder):
            return all(os.path.isfile(os.path.join(folder, p)) for p in others)

        res = {}
        for tool in ("toolkit", "hubfs"):
            shutil.rmtree(os.environ["HUBFS_CACHE_DIR"], ignore_errors=True)
            self.hub.clear()
            self.hub.ctl("POST", "faults", stall)
            cache = self.fresh("int")
            if tool == "toolkit":
                steps = os.path.join(self.work, "int-steps.json")
                with open(steps, "w") as f:
                    json.dump([{"op": "download", "repo": repo, "cache_dir": cache}], f)
                argv = [sys.executable, os.path.join(TOP, "tests/omni/omni_toolkit.py"), steps,
                        os.path.join(self.work, "int-res.json")]
            else:
                argv = [self.hubfs, "download", "--quiet", repo, "--local-dir", cache]
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 120
            folder = os.path.join(cache, repo.replace("/", "--")) if tool == "toolkit" else cache
            while time.monotonic() < deadline and not others_done(folder):
                time.sleep(0.1)
            p.send_signal(signal.SIGKILL)
            p.wait()
            self.hub.ctl("DELETE", "faults")
            first = self.hub.usage()
            self.hub.clear()
            t = time.monotonic()
            if tool == "toolkit":
                again = self.omni.op_download({"repo": repo, "cache_dir": cache})
                d = again.get("path", "")
                ok_own = self.omni.op_verify({"dir": d})["ok"]
            else:
                again = {"ok": subprocess.run(argv).returncode == 0}
                d = cache
                ok_own = again["ok"]
            again["seconds"] = time.monotonic() - t
            v = subprocess.run([self.hubfs, "verify", d, "--repo", repo, "--deep", "--json"],
                               capture_output=True, text=True)
            problems = json.loads(v.stdout)["problems"] if v.stdout.strip() else []
            res[tool] = {"first": first, "again": dict(again, **self.hub.usage()),
                         "says_ok": bool(again["ok"] and ok_own), "problems": len(problems),
                         "missing": sorted(p["path"] for p in problems if p["kind"] == "missing"),
                         "lfs_bytes": lfs}
        return res

    # --- 4. speed ---
    def speed(self):
        repos = (("hubfs-ml/bert-tiny", "model"), ("hubfs-test/sharded-model", "model"),
                 ("hubfs-test/big-dataset", "dataset"))
        tools = {"download_from_hf_hub": lambda r, t: self.run_toolkit(r, t),
                 "snapshot_download": lambda r, t: self.run_snapshot(r, t),
                 "hubfs download": lambda r, t: self.run_hubfs(r, t),
                 "hubfs download --local-dir": lambda r, t: self.run_hubfs(r, t, self.fresh("speed-local"))}
        out = {}
        for rnd in range(max(self.args.rounds, self.args.small_rounds)):
            for repo, rtype in repos:
                if rnd >= (self.args.rounds if rtype == "dataset" else self.args.small_rounds):
                    continue
                order = list(tools) if rnd % 2 == 0 else list(reversed(tools))
                for name in order:
                    r = tools[name](repo, rtype)
                    if not r["ok"]:
                        raise SystemExit("bench_toolkits: %s of %s failed: %s" % (name, repo, r))
                    out.setdefault(repo, {}).setdefault(name, []).append(r)
                    print("round %d %-28s %-26s %6.2f s" % (rnd + 1, repo, name, r["seconds"]), flush=True)
        return out

    def run(self):
        t0 = time.monotonic()
        res = {"produced": self.produced()}
        res["detection"] = self.detection(res["produced"])
        res["interrupted"] = self.interrupted()
        res["speed"] = self.speed()
        res["wall"] = time.monotonic() - t0
        res["load"] = os.getloadavg()
        return res


def yes(b):
    return "detects" if b else "misses"


def render(res, rounds):
    L = []
    L.append("Written by `bench/bench_toolkits.py` from one run (%s UTC, load average %.1f on %d "
             "cores; the machine is shared, so read times as rough). The toolkit is OmniGenBench "
             "0.4.8a0's `omnigenbench.src.utility.model_hub.hf_download`; `snapshot_download` is "
             "huggingface_hub's; both run in the pinned test venv against the fake Hub on loopback."
             % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), res["load"][0], os.cpu_count()))
    L.append("")
    L.append("### Files and bytes each produced")
    L.append("")
    L.append("| repo | in the repo | `download_from_hf_hub` folder | hubfs `--local-dir` | same bytes | toolkit: requests (Hub/CDN), CDN bytes | hubfs: requests (Hub/CDN), CDN bytes |")
    L.append("|---|---|---|---|---|---|---|")
    for r in res["produced"]:
        o, h = r["toolkit"], r["hubfs"]
        L.append("| %s | %d files, %s | %d files, %s, + %d files in `.cache/huggingface/` | %d files, %s | %s | %d / %d, %s | %d / %d, %s |" % (
            r["repo"], r["files"], fmt_bytes(r["bytes"]), o["files"], fmt_bytes(o["size"]), o["extra"],
            h["files"], fmt_bytes(h["size"]), "yes" if r["same"] else "**no**",
            o["hub_requests"], o["cdn_requests"], fmt_bytes(o["cdn_bytes"]),
            h["hub_requests"], h["cdn_requests"], fmt_bytes(h["cdn_bytes"])))
    L.append("")
    L.append("### What each detects on the same broken folder")
    L.append("")
    L.append("`verify_download_integrity(dir)` (default: `config.json` required) and with every repo "
             "file required; `hubfs verify dir`, `--repo`, `--repo --deep`. Truncated and flipped: "
             "the folder's largest file, cut to half or one byte xor 0xff in its middle.")
    L.append("")
    L.append("| repo | breakage | toolkit, default | toolkit, all files required | hubfs verify | hubfs verify --repo | hubfs verify --repo --deep |")
    L.append("|---|---|---|---|---|---|---|")
    for d in res["detection"]:
        kind = d["kind"] + (" (%s)" % d["file"] if d["file"] else "")
        L.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            d["repo"], kind, yes(d["toolkit_default"]), yes(d["toolkit_all"]), yes(d["hubfs_plain"]),
            yes(d["hubfs_repo"]), yes(d["hubfs_deep"])))
    L.append("")
    L.append("### Killed mid-download, then run again")
    L.append("")
    L.append("hubfs-test/tiny-model; the CDN stalls pytorch_model.bin and serves the other LFS "
             "files; kill -9 once the tool has written those into its folder.")
    L.append("")
    L.append("| tool | fetched before the kill | the run again: says | fetched | time | what `hubfs verify --deep` finds after |")
    L.append("|---|---|---|---|---|---|")
    for tool, name in (("toolkit", "download_from_hf_hub"), ("hubfs", "hubfs download --local-dir")):
        x = res["interrupted"][tool]
        L.append("| %s | %s (%d CDN requests) | %s | %d requests, %s | %.2f s | %s |" % (
            name, fmt_bytes(x["first"]["cdn_bytes"]), x["first"]["cdn_requests"],
            "success" if x["says_ok"] else "failure", x["again"]["hub_requests"] + x["again"]["cdn_requests"],
            fmt_bytes(x["again"]["cdn_bytes"]), x["again"]["seconds"],
            "nothing wrong" if not x["problems"] else "%d problem%s: %s missing" % (
                x["problems"], "s" if x["problems"] > 1 else "", ", ".join(x["missing"]))))
    L.append("")
    L.append("### Speed: a full download, cold caches (medians of %d rounds for the dataset, %d for the models)"
             % rounds)
    L.append("")
    L.append("Hub and CDN requests and CDN bytes of one run in parentheses. hubfs download fills "
             "its verified cache (what the mount serves); with `--local-dir` it also writes the "
             "files out, as `download_from_hf_hub` does; `snapshot_download` writes huggingface_hub's cache.")
    L.append("")
    names = ["download_from_hf_hub", "snapshot_download", "hubfs download", "hubfs download --local-dir"]
    L.append("| repo | " + " | ".join(names) + " | the faster Python tool / hubfs download (--local-dir) |")
    L.append("|---|" + "---|" * (len(names) + 1))
    for repo, by in res["speed"].items():
        med = {n: statistics.median(x["seconds"] for x in by[n]) for n in names}
        cells = ["%.2f s (%d/%d, %s)" % (med[n], by[n][0]["hub_requests"], by[n][0]["cdn_requests"],
                                          fmt_bytes(by[n][0]["cdn_bytes"])) for n in names]
        best = min(med["download_from_hf_hub"], med["snapshot_download"])
        L.append("| %s | %s | %.2f× (%.2f×) |" % (repo, " | ".join(cells), best / med["hubfs download"],
                                               best / med["hubfs download --local-dir"]))
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--small-rounds", type=int, default=9,
                    help="rounds for the two model repos (under a second each, so noisier)")
    ap.add_argument("--out", default=os.path.join(TOP, "docs", "benchmarks.md"))
    args = ap.parse_args()
    b = Bench(args)
    try:
        res = b.run()
    finally:
        b.hub.stop()
    with open(os.path.join(b.work, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    for name in os.listdir(b.work):  # what the tools wrote: hundreds of MB
        path = os.path.join(b.work, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
    table = render(res, (args.rounds, max(args.rounds, args.small_rounds)))
    text = ""
    if os.path.exists(args.out):
        with open(args.out) as f:
            text = f.read()
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN) + len(BEGIN)] + "\n" + table + text[text.index(END):]
    else:
        text += "\n" + BEGIN + "\n" + table + END + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print("bench_toolkits: %s written; raw numbers in %s/results.json" % (args.out, b.work))


if __name__ == "__main__":
    main()
