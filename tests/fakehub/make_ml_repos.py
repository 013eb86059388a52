#!/usr/bin/env python3
"""Files made by the ML frameworks themselves, for the fake Hub's "hubfs-ml" repos.

Usage: make_ml_repos.py OUT        (run by the pinned venv's python: build-venv/bin/python)

Writes, with transformers, tokenizers, torch and pyarrow (seeded, no network):

  OUT/bert-tiny/          BertModel.save_pretrained (config.json, model.safetensors of
                          ~26 MiB, most of it one 50,000 x 128 word embedding) and a
                          BertTokenizer on a WordPiece vocab built here; plus
                          checkpoint/state.pt, a torch.save file (~9 MiB)
  OUT/bert-tiny-sharded/  the same model, save_pretrained(max_shard_size="500KB"): shards
                          and model.safetensors.index.json
  OUT/parquet-rows/       data/train-0000{0,1}-of-00002.parquet written by pyarrow: four
                          columns (id, label, text, payload), several row groups, the
                          payload column (40 KiB of random bytes a row) most of the bytes
  OUT/ml-repos.json       what genrepos.py --ml OUT imports: the repos, their commits and
                          tags, and every file's path and sha256 (written last)

genrepos.py (standard library only) turns these into repos with exact git and LFS ids.
A run whose OUT/ml-repos.json carries this script's stamp (its version and the framework
versions) does nothing, without importing the frameworks.
"""

import importlib.metadata
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from filehash import sha256_file  # noqa: E402  (tests/lib)

VERSION = 2
FRAMEWORKS = ("torch", "transformers", "tokenizers", "safetensors", "pyarrow", "numpy")
ORG = "hubfs-ml"
SEED = 1234
VOCAB_SIZE = 50000          # the config's; the tokenizer's vocab is much smaller
HIDDEN = 128
PARQUET_BIG_ROWS = 1024     # 4 row groups of 256 rows, 40 KiB of payload each: ~40 MiB
PARQUET_ROW_GROUP = 256
PAYLOAD = 40 * 1024

WORDS = ("the of and to in is was for on that with as by at from it an were are which this "
         "be or has had not but first one their new after who they have two been more other "
         "when all time would into also three only may year most some world over hub file "
         "cache mount read range block page tree commit branch tag shard index vector tensor "
         "batch epoch learning rate value query key attention head hidden output input model "
         "embedding position layer weight token train data quick brown fox jumps lazy dog").split()


def stamp():
    versions = " ".join("%s=%s" % (p, importlib.metadata.version(p)) for p in FRAMEWORKS)
    return "make_ml_repos/%d %s" % (VERSION, versions)


def vocab():
    """A WordPiece vocab: specials, characters, ## characters, whole words."""
    v = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    v += list("!\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}~abcdefghijklmnopqrstuvwxyz")
    v += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    v += ["##" + s for s in ("s", "ed", "ing", "ly", "er", "est", "tion", "ment")]
    v += [w for w in dict.fromkeys(WORDS) if w not in v]
    return v


def make_bert(out):
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    torch.manual_seed(SEED)
    tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(vocab())}, do_lower_case=True,
                              model_max_length=64)
    if tokenizer.tokenize("The quick fox") != ["the", "quick", "fox"]:
        raise SystemExit("make_ml_repos: the tokenizer does not use its vocab")
    config = BertConfig(vocab_size=VOCAB_SIZE, hidden_size=HIDDEN, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=256,
                        max_position_embeddings=64)
    model = BertModel(config).eval()
    single = os.path.join(out, "bert-tiny")
    sharded = os.path.join(out, "bert-tiny-sharded")
    for folder, kwargs in ((single, {}), (sharded, {"max_shard_size": "500KB"})):
        model.save_pretrained(folder, safe_serialization=True, **kwargs)
        tokenizer.save_pretrained(folder)

    # A torch.save file: a small tensor, a big one, a few plain values.
    g = torch.Generator().manual_seed(SEED + 1)
    state = {"step": 1000, "lr": 0.001, "note": "hubfs",
             "small": torch.randn(16, 16, generator=g),
             "big": torch.randn(2048, 1024, generator=g),          # 8 MiB
             "ids": torch.arange(4096, dtype=torch.int64)}
    os.makedirs(os.path.join(single, "checkpoint"))
    torch.save(state, os.path.join(single, "checkpoint", "state.pt"))


def make_parquet(out):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    r = np.random.default_rng(SEED)
    folder = os.path.join(out, "parquet-rows", "data")
    os.makedirs(folder)
    for shard, rows in ((0, PARQUET_BIG_ROWS), (1, 64)):
        start = shard * PARQUET_BIG_ROWS
        words = np.array(WORDS)
        text = [" ".join(words[r.integers(0, len(WORDS), size=int(n))])
                for n in r.integers(4, 16, size=rows)]
        payload = r.integers(0, 256, size=(rows, PAYLOAD), dtype=np.uint8)
        table = pa.table({
            "id": pa.array(np.arange(start, start + rows, dtype=np.int64)),
            "label": pa.array(r.integers(0, 3, size=rows, dtype=np.int32)),
            "text": pa.array(text, type=pa.string()),
            "payload": pa.array([row.tobytes() for row in payload], type=pa.binary()),
        })
        pq.write_table(table, os.path.join(folder, "train-%05d-of-00002.parquet" % shard),
                       row_group_size=PARQUET_ROW_GROUP, compression="snappy")


def file_table(folder):
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            files[os.path.relpath(path, folder)] = sha256_file(path)
    return dict(sorted(files.items()))


def describe(out):
    """ml-repos.json: the repos genrepos.py builds from the folders."""
    bert = file_table(os.path.join(out, "bert-tiny"))
    upload = {p: s for p, s in bert.items() if not p.startswith("checkpoint/")}
    card = {"license": "apache-2.0", "library_name": "transformers"}
    readme = ("---\nlicense: apache-2.0\nlibrary_name: transformers\n---\n\n# bert-tiny\n\n"
              "A tiny BertModel saved by transformers, for hubfs's framework tests.\n")
    return {
        "generator": stamp(),
        "repos": [
            {"type": "model", "id": ORG + "/bert-tiny", "folder": "bert-tiny",
             "created_at": "2024-09-01T00:00:00.000Z", "card": card,
             "tags": ["transformers", "safetensors", "bert", "license:apache-2.0",
                      "endpoints_compatible", "region:us"],
             "commits": [
                 {"title": "Upload BertModel", "date": "2024-09-01T00:10:00.000Z",
                  "files": upload, "tag": "v1.0"},
                 {"title": "Add a checkpoint and a card", "date": "2024-09-02T00:00:00.000Z",
                  "files": dict(bert), "text": {"README.md": readme}},
             ]},
            {"type": "model", "id": ORG + "/bert-tiny-sharded", "folder": "bert-tiny-sharded",
             "created_at": "2024-09-03T00:00:00.000Z", "card": {},
             "tags": ["transformers", "safetensors", "bert", "endpoints_compatible",
                      "region:us"],
             "commits": [
                 {"title": "Upload BertModel", "date": "2024-09-03T00:10:00.000Z",
                  "files": file_table(os.path.join(out, "bert-tiny-sharded"))},
             ]},
            {"type": "dataset", "id": ORG + "/parquet-rows", "folder": "parquet-rows",
             "created_at": "2024-09-04T00:00:00.000Z", "card": {"license": "mit"},
             "tags": ["license:mit", "format:parquet", "library:datasets", "region:us"],
             "commits": [
                 {"title": "Upload dataset", "date": "2024-09-04T00:10:00.000Z",
                  "files": file_table(os.path.join(out, "parquet-rows")),
                  "text": {"README.md": "---\nlicense: mit\n---\n\n# parquet-rows\n\n"
                                        "Rows with a big binary column, written by pyarrow.\n"}},
             ]},
        ],
    }


def main(argv):
    if len(argv) != 2:
        raise SystemExit(__doc__)
    out = os.path.abspath(argv[1])
    index = os.path.join(out, "ml-repos.json")
    try:
        with open(index, encoding="utf-8") as f:
            if json.load(f).get("generator") == stamp():
                print("make_ml_repos: %s is up to date" % out)
                return 0
    except (OSError, ValueError):
        pass
    started = time.monotonic()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    make_bert(out)
    make_parquet(out)
    desc = describe(out)
    with open(index + ".tmp", "w", encoding="utf-8") as f:
        json.dump(desc, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(index + ".tmp", index)
    size = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(out) for n in ns)
    print("make_ml_repos: %d repos, %.1f MiB in %.1f s -> %s"
          % (len(desc["repos"]), size / 2**20, time.monotonic() - started, out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
