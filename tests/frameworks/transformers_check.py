"""transformers loads a model from the mount as from the folder it saved.

Usage: transformers_check.py MNT     (driven by t2020-frameworks-transformers.sh)

AutoConfig, AutoTokenizer and AutoModel.from_pretrained of MNT/hubfs-ml/bert-tiny (main),
MNT/hubfs-ml/bert-tiny@v1.0 (a tag) and MNT/hubfs-ml/bert-tiny-sharded (shards and an
index) give the same config, tokens and outputs (torch.allclose on a fixed input) as the
folders save_pretrained wrote. From the request log: the weights came from the CDN in whole
blocks, each block once, and only the blocks holding the header, the tensors and the
embedding rows the input used (transformers 5 keeps the weights mmapped) and what the
kernel reads around those bytes; the tag's files, the same contents, cost no CDN request.
"""

import os
import sys

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from common import (BS, blocks_of_spans, check, clear_log, done, expect_eq, fetched_blocks,
                    log_entries, ml_folder, repo_files, safetensors_layout, settle, widened)

MNT = sys.argv[1]
TEXT = ["The quick brown fox jumps over the lazy dog.", "A hub mount reads tensors by blocks!"]
EMBEDDING = "embeddings.word_embeddings.weight"


def load(folder):
    config = AutoConfig.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    batch = tokenizer(TEXT, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch).last_hidden_state
    cfg = config.to_dict()
    cfg.pop("_name_or_path", None)
    return cfg, tokenizer.convert_ids_to_tokens(batch["input_ids"][0]), batch["input_ids"], out


def same(label, mine, theirs):
    expect_eq(theirs[0], mine[0], "%s: AutoConfig gives the original config" % label)
    expect_eq(theirs[1], mine[1], "%s: AutoTokenizer gives the original tokens" % label)
    check(torch.equal(mine[2], theirs[2]), "%s: ... and ids" % label)
    check(torch.allclose(mine[3], theirs[3], atol=1e-6, rtol=0),
          "%s: AutoModel gives the original outputs (max diff %.3g)"
          % (label, (mine[3] - theirs[3]).abs().max()))


def weights_fetched(files, mount_dir, src_dir, ids):
    """Each safetensors file that from_pretrained read: the CDN sent each block at most
    once, every block holding its header, a tensor or an embedding row of the ids used,
    and nothing further than the kernel's read-around from those bytes."""
    for path, entry in sorted(files.items()):
        if not path.endswith(".safetensors"):
            continue
        settle(os.path.join(mount_dir, path), entry["sha256"])
        data_start, offsets = safetensors_layout(os.path.join(src_dir, path))
        spans = [(0, data_start)] + [v for k, v in offsets.items() if k != EMBEDDING]
        if EMBEDDING in offsets:
            begin, end = offsets[EMBEDDING]
            row = (end - begin) // 50000
            spans += [(begin + i * row, begin + (i + 1) * row) for i in ids]
        need, may = blocks_of_spans(spans), blocks_of_spans(widened(spans, entry["size"]))
        got = fetched_blocks(entry["sha256"], path, entry["size"])
        nblocks = (entry["size"] + BS - 1) // BS
        check(need <= got <= may, "%s: fetched blocks %s of %d: all of %s, none beyond %s"
              % (path, sorted(got), nblocks, sorted(need), sorted(may)))


original = load(ml_folder("bert-tiny"))
check(len(original[1]) > 10 and "[UNK]" not in original[1][:10],
      "the original tokenizer splits the text into word pieces: %s" % original[1][:12])

# main: a cold mount
main_dir = os.path.join(MNT, "hubfs-ml", "bert-tiny")
clear_log()
same("main", load(main_dir), original)
ids = sorted(set(original[2].flatten().tolist()))
weights_fetched(repo_files("model/hubfs-ml/bert-tiny"), main_dir, ml_folder("bert-tiny"), ids)

# v1.0: another commit, the same contents: nothing new from the CDN
tag_dir = os.path.join(MNT, "hubfs-ml", "bert-tiny@v1.0")
clear_log()
same("v1.0", load(tag_dir), original)
expect_eq([], [e["path"] for e in log_entries() if e["host"] == "cdn"],
          "v1.0: the same weights cost no CDN request")
check(not os.path.exists(os.path.join(tag_dir, "checkpoint")),
      "v1.0 has the tagged commit's files (no checkpoint/)")

# sharded: the same model in shards, loaded through the index
sharded_dir = os.path.join(MNT, "hubfs-ml", "bert-tiny-sharded")
clear_log()
sharded = load(sharded_dir)
same("sharded", sharded, load(ml_folder("bert-tiny-sharded")))
same("sharded vs single file", sharded, original)
files = repo_files("model/hubfs-ml/bert-tiny-sharded")
expect_eq(4, len([p for p in files if p.endswith(".safetensors")]), "sharded: four shards")
weights_fetched(files, sharded_dir, ml_folder("bert-tiny-sharded"), ids)
done()
