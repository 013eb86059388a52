"""safetensors and torch read weights through the mount, fetching only what they touch.

Usage: safetensors_torch.py MNT      (driven by t2021-frameworks-safetensors-torch.sh)

1. safe_open(framework="pt"), which mmaps the file, reads three tensors and one row of the
   big embedding of a cold model.safetensors: the CDN sends exactly the blocks holding the
   header and those bytes (computed from the header's offsets), each once.
2. load_file of the whole file equals the original; the rest of the blocks come, none twice.
3. torch.load(mmap=True, weights_only=True) of a torch.save file: the plain values and one
   small tensor cost only the blocks of the zip's records, directory and that tensor; the
   whole state equals the original.
"""

import os
import sys
import zipfile

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from common import (BS, blocks_of_spans, check, clear_log, done, expect_eq, fetched_blocks,
                    ml_folder, repo_files, safetensors_layout, settle)

MNT = sys.argv[1]
REPO = os.path.join(MNT, "hubfs-ml", "bert-tiny")
SRC = ml_folder("bert-tiny")
FILES = repo_files("model/hubfs-ml/bert-tiny")


# ---------------------------------------------------------------- 1. safe_open, cold
st = FILES["model.safetensors"]
path = os.path.join(REPO, "model.safetensors")
data_start, offsets = safetensors_layout(os.path.join(SRC, "model.safetensors"))
nblocks = (st["size"] + BS - 1) // BS
picked = ["embeddings.position_embeddings.weight", "encoder.layer.1.output.dense.weight",
          "pooler.dense.bias"]
emb = "embeddings.word_embeddings.weight"
row = 20000
clear_log()
with safe_open(path, framework="pt") as f, \
        safe_open(os.path.join(SRC, "model.safetensors"), framework="pt") as g:
    expect_eq(sorted(g.keys()), sorted(f.keys()), "safe_open lists the tensors of the original")
    for name in picked:
        check(torch.equal(f.get_tensor(name), g.get_tensor(name)),
              "safe_open: %s equals the original" % name)
    check(torch.equal(f.get_slice(emb)[row:row + 1], g.get_slice(emb)[row:row + 1]),
          "safe_open: row %d of the %s embedding equals the original" % (row, emb))
settle(path, st["sha256"])
row_bytes = (offsets[emb][1] - offsets[emb][0]) // 50000
spans = [(0, data_start)] + [offsets[n] for n in picked]
spans.append((offsets[emb][0] + row * row_bytes, offsets[emb][0] + (row + 1) * row_bytes))
want = blocks_of_spans(spans)
got = fetched_blocks(st["sha256"], "safe_open", st["size"])
expect_eq(sorted(want), sorted(got),
          "safe_open fetched only the header's and those tensors' blocks %s (of %d)"
          % (sorted(want), nblocks))
check(nblocks - len(want) >= 3, "... leaving %d of the %d blocks unfetched"
      % (nblocks - len(want), nblocks))

# ---------------------------------------------------------------- 2. load_file
mine, theirs = load_file(path), load_file(os.path.join(SRC, "model.safetensors"))
expect_eq(sorted(theirs), sorted(mine), "load_file: the same tensor names")
check(all(torch.equal(mine[k], theirs[k]) for k in theirs), "load_file: every tensor equal")
settle(path, st["sha256"])
got = fetched_blocks(st["sha256"], "safe_open + load_file", st["size"])
expect_eq(set(range(nblocks)), got, "load_file fetched the other blocks, none twice")

# ---------------------------------------------------------------- 3. torch.load, mmap
pt = FILES["checkpoint/state.pt"]
path = os.path.join(REPO, "checkpoint", "state.pt")
src_pt = os.path.join(SRC, "checkpoint", "state.pt")
clear_log()
state = torch.load(path, mmap=True, weights_only=True)
expect_eq((1000, 0.001, "hubfs"), (state["step"], state["lr"], state["note"]),
          "torch.load(mmap=True, weights_only=True): the plain values")
original = torch.load(src_pt, weights_only=True)
check(torch.equal(state["small"], original["small"]), "... the small tensor equals the original")
settle(path, pt["sha256"])
# What reading the records touches: each member's local header (torch finds a record's
# data through it; 30 bytes, the name, and torch's alignment padding as "extra"), data.pkl,
# the central directory at the end, and the bytes of the small tensor's record.
with zipfile.ZipFile(src_pt) as z:
    infos = z.infolist()
    central = (z.start_dir, os.path.getsize(src_pt))


def record(info, with_data):
    begin = info.header_offset
    head = 30 + len(info.filename.encode()) + 64 + 63     # generous: extra field, alignment
    return (begin, begin + head + (info.file_size if with_data else 0))


small_bytes = state["small"].untyped_storage().nbytes()
spans = [central] + [record(i, i.filename.endswith("/data.pkl") or
                            ("/data/" in i.filename and i.file_size == small_bytes))
                     for i in infos]
want = blocks_of_spans(spans)
print("# torch.load: records %s" % ", ".join("%s@%d+%d" % (i.filename.rsplit("/", 1)[-1],
                                                          i.header_offset, i.file_size)
                                             for i in infos))
got = fetched_blocks(pt["sha256"], "torch.load(mmap=True)", pt["size"])
nblocks = (pt["size"] + BS - 1) // BS
expect_eq(sorted(want), sorted(got), "torch.load fetched only the blocks of the zip's records "
          "and of the tensor read %s (of %d)" % (sorted(want), nblocks))
check(len(got) < nblocks, "... not the big tensor's")
check(all(torch.equal(state[k], original[k]) if isinstance(original[k], torch.Tensor)
          else state[k] == original[k] for k in original) and set(state) == set(original),
      "the whole state through the mount equals the original")
settle(path, pt["sha256"])
got = fetched_blocks(pt["sha256"], "torch.load, then every tensor", pt["size"])
expect_eq(set(range(nblocks)), got, "... fetching the rest, no block twice")
done()
