"""OmniGenBench's download toolkit, driven step by step (issue #13).

Usage: omni_toolkit.py STEPS_JSON RESULTS_JSON

Runs in the pinned test venv (build-venv). STEPS_JSON is a list of steps; each
result is appended to RESULTS_JSON (a JSON list, rewritten after every step, so
a step that is killed leaves the earlier results). HF_ENDPOINT must name the
fake Hub. Importing omnigenbench takes about 10 s (it imports torch,
transformers, matplotlib...), so one process runs many steps.

Steps ({"op": ..., ...}):
  download  repo, cache_dir, [type, allow, ignore, token, force]
            -> download_from_hf_hub(); {"ok", "path", "seconds", "error"}
  snapshot  repo, cache_dir, [local_dir, type, token]
            -> huggingface_hub.snapshot_download()
  verify    dir, [required]   -> verify_download_integrity(); {"ok"}
  list      repo, [type, token] -> list_hf_repo_files(); {"files"}
  info      repo, [token]     -> get_model_info(); {"info"}
  load      model, cache_dir  -> ModelHub.load() on the CPU; {"ok", "class",
            "hidden_size", "last_hidden_state"} (a short forward pass)

Nothing may leave loopback. omnigenbench falls back, when a Hub download
fails, to `git clone https://huggingface.co/...` and to its own "OmniGenome
hub"; both are replaced here by functions that refuse and record the attempt
("blocked" in the result). metric_visualizer, which omnigenbench imports, asks
pypi.org for a newer version of itself at import time (update_checker): that
check is replaced by one that answers "no update" before the import.
"""

import json
import os
import sys
import time
import types

_blocked = []


def _no_update_check():
    mod = types.ModuleType("update_checker")

    class UpdateChecker:
        def __init__(self, *args, **kwargs):
            pass

        def check(self, *args, **kwargs):
            return None

    mod.UpdateChecker = UpdateChecker
    sys.modules["update_checker"] = mod


def _check_endpoint():
    from urllib.parse import urlsplit

    host = urlsplit(os.environ.get("HF_ENDPOINT", "")).hostname or ""
    if not host.startswith("127."):
        sys.exit("omni_toolkit: HF_ENDPOINT must be a loopback URL, not %r" % host)


_no_update_check()
_check_endpoint()

from omnigenbench.src.utility.model_hub import hf_download  # noqa: E402
from omnigenbench.src.utility.model_hub import model_hub  # noqa: E402


def _refuse(name):
    def refuse(*args, **kwargs):
        _blocked.append(name)
        raise RuntimeError("omni_toolkit: %s would leave loopback; refused" % name)

    return refuse


model_hub.clone_hf_model = _refuse("git clone https://huggingface.co")
model_hub.download_model = _refuse("OmniGenome hub download_model")


def op_download(s):
    t = time.monotonic()
    try:
        path = hf_download.download_from_hf_hub(
            s["repo"], cache_dir=s["cache_dir"], repo_type=s.get("type", "model"),
            allow_patterns=s.get("allow"), ignore_patterns=s.get("ignore"),
            token=s.get("token"), force_download=s.get("force", False))
        return {"ok": True, "path": path, "seconds": time.monotonic() - t}
    except Exception as e:  # the toolkit re-raises what huggingface_hub raised
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e),
                "seconds": time.monotonic() - t}


def op_snapshot(s):
    from huggingface_hub import snapshot_download

    t = time.monotonic()
    path = snapshot_download(s["repo"], repo_type=s.get("type", "model"),
                             local_dir=s.get("local_dir"), cache_dir=s["cache_dir"],
                             token=s.get("token"))
    return {"ok": True, "path": path, "seconds": time.monotonic() - t}


def op_verify(s):
    return {"ok": bool(hf_download.verify_download_integrity(s["dir"], s.get("required")))}


def op_list(s):
    return {"files": sorted(hf_download.list_hf_repo_files(
        s["repo"], repo_type=s.get("type", "model"), token=s.get("token")))}


def op_info(s):
    return {"info": hf_download.get_model_info(s["repo"], token=s.get("token"))}


def op_load(s):
    import torch

    try:
        model = model_hub.ModelHub.load(s["model"], cache_dir=s["cache_dir"],
                                        device="cpu", dtype=torch.float32)
    except Exception as e:
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
    ids = torch.tensor([[1, 5, 9, 2]])
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids))
    return {"ok": True, "class": type(model).__name__,
            "base": type(getattr(model, "base_model", model)).__name__,
            "hidden_size": model.config.hidden_size,
            "last_hidden_state": list(out.last_hidden_state.shape),
            "sum": float(out.last_hidden_state.sum())}


OPS = {"download": op_download, "snapshot": op_snapshot, "verify": op_verify,
       "list": op_list, "info": op_info, "load": op_load}


def main(argv):
    steps = json.load(open(argv[1]))
    results = []
    for s in steps:
        del _blocked[:]
        r = OPS[s["op"]](s)
        r["op"] = s["op"]
        r["blocked"] = list(_blocked)
        results.append(r)
        tmp = argv[2] + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1)
        os.replace(tmp, argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
