"""huggingface_hub and transformers find what hubfs wrote into their cache, offline.

Usage: offline_check.py REPO_ID EXPECT_JSON [MODEL_ID MODEL_FOLDER]

HF_HUB_CACHE (and HF_HUB_OFFLINE=1) come from the environment. EXPECT_JSON maps each
file path of REPO_ID to {"size": N, "sha256": HEX, "etag": HEX}. Prints ok/not ok lines;
exit status 1 if any check failed.
"""

import json
import os
import sys

from huggingface_hub import hf_hub_download, scan_cache_dir, snapshot_download

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from filehash import sha256_file  # noqa: E402  (tests/lib)

failures = 0


def check(cond, what):
    global failures
    print(("ok - " if cond else "not ok - ") + what)
    if not cond:
        failures += 1


repo_id, expect = sys.argv[1], json.load(open(sys.argv[2]))
check(os.environ.get("HF_HUB_OFFLINE") == "1", "HF_HUB_OFFLINE=1: no network at all")

one = sorted(expect)[0]
path = hf_hub_download(repo_id, one)
check(sha256_file(path) == expect[one]["sha256"], "hf_hub_download(%s) gives the right bytes" % one)

folder = snapshot_download(repo_id)
got = {}
for root, _, names in os.walk(folder):
    for n in names:
        p = os.path.join(root, n)
        got[os.path.relpath(p, folder)] = sha256_file(p)
check(sorted(got) == sorted(expect), "snapshot_download lists exactly the repo's %d files" % len(expect))
check(all(got.get(p) == e["sha256"] for p, e in expect.items()), "... every one with its published bytes")

info = scan_cache_dir()
repos = [r for r in info.repos if r.repo_id == repo_id]
check(len(repos) == 1, "scan_cache_dir() lists the repo once")
check(not info.warnings, "... with no warning (%s)" % [str(w) for w in info.warnings])
if repos:
    r = repos[0]
    blobs = {e["etag"]: e["size"] for e in expect.values()}
    check(r.size_on_disk == sum(blobs.values()),
          "... size_on_disk %d is the sum of its distinct blobs %d" % (r.size_on_disk, sum(blobs.values())))
    check(r.nb_files == len(blobs), "... nb_files %d is its number of blobs %d" % (r.nb_files, len(blobs)))
    revs = list(r.revisions)
    check(len(revs) == 1 and "main" in revs[0].refs, "... one revision, which refs/main names")
    if revs:
        check(len(revs[0].commit_hash) == 40, "... by its commit sha")
        names = {str(f.file_path.relative_to(revs[0].snapshot_path)): f for f in revs[0].files}
        check(sorted(names) == sorted(expect), "... whose files are the repo's")
        check(all(os.path.basename(str(f.blob_path)) == expect[p]["etag"] for p, f in names.items()),
              "... each a link to the blob named by its etag (sha256 or git blob sha1)")

if len(sys.argv) > 4:
    import torch
    from transformers import AutoModel, AutoTokenizer
    model_id, original = sys.argv[3], sys.argv[4]
    text = ["hubfs puts weights where from_pretrained looks."]
    outs = []
    for where in (model_id, original):
        tok = AutoTokenizer.from_pretrained(where)
        model = AutoModel.from_pretrained(where).eval()
        with torch.no_grad():
            outs.append(model(**tok(text, return_tensors="pt")).last_hidden_state)
    check(torch.allclose(outs[0], outs[1], atol=1e-6, rtol=0),
          "from_pretrained(%r) offline gives the outputs of the folder save_pretrained wrote" % model_id)

print("# %d check(s) failed" % failures if failures else "# all checks passed")
sys.exit(1 if failures else 0)
