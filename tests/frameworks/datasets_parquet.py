"""pyarrow and datasets read parquet files through the mount.

Usage: datasets_parquet.py MNT      (driven by t2022-frameworks-datasets.sh)

1. pyarrow.parquet.read_table of a cold 40 MiB file with a projection on two small columns
   gives the original's columns and fetches only the blocks holding the footer and those
   columns' chunks (computed from the file's metadata: four row groups, each ~10 MiB of a
   binary "payload" column that spans blocks never fetched).
2. datasets.load_dataset("parquet", data_files=MNT/.../data/*.parquet) gives the original
   rows, every column; the rest of the blocks come from the CDN, none twice.
"""

import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from common import (BS, blocks_of_spans, check, clear_log, done, expect_eq, fetched_blocks,
                    ml_folder, repo_files, settle, widened)

MNT = sys.argv[1]
REPO = os.path.join(MNT, "datasets", "hubfs-ml", "parquet-rows")
SRC = ml_folder("parquet-rows")
FILES = repo_files("dataset/hubfs-ml/parquet-rows")
BIG = "data/train-00000-of-00002.parquet"
COLUMNS = ["id", "text"]
FOOTER_READ = 64 * 1024     # pyarrow reads this much of the end first (footer_read_size)

# ---------------------------------------------------------------- 1. a projection, cold
entry = FILES[BIG]
path = os.path.join(REPO, BIG)
meta = pq.ParquetFile(os.path.join(SRC, BIG)).metadata
size = entry["size"]
nblocks = (size + BS - 1) // BS
spans = [(max(0, size - max(FOOTER_READ, meta.serialized_size + 8)), size)]
for g in range(meta.num_row_groups):
    rg = meta.row_group(g)
    for c in range(rg.num_columns):
        col = rg.column(c)
        if col.path_in_schema in COLUMNS:
            begin = col.dictionary_page_offset if col.has_dictionary_page else \
                col.data_page_offset
            spans.append((begin, begin + col.total_compressed_size))
print("# %s: %d row groups; footer and %s chunks at %s" % (
    BIG, meta.num_row_groups, "/".join(COLUMNS), ", ".join("%d-%d" % s for s in spans)))
need = blocks_of_spans(spans)
may = blocks_of_spans(widened(spans, size))
clear_log()
mine = pq.read_table(path, columns=COLUMNS)
theirs = pq.read_table(os.path.join(SRC, BIG), columns=COLUMNS)
check(mine.equals(theirs), "read_table(columns=%s) gives the original's %d rows"
      % (COLUMNS, theirs.num_rows))
expect_eq(COLUMNS, mine.column_names, "... and only those columns")
settle(path, entry["sha256"])
got = fetched_blocks(entry["sha256"], "read_table projection", size)
check(need <= got <= may, "read_table fetched blocks %s of %d: all of %s (footer and column "
      "chunks), none beyond %s" % (sorted(got), nblocks, sorted(need), sorted(may)))
check(nblocks - len(got) >= 4, "... leaving %d blocks of payload alone" % (nblocks - len(got)))

# ---------------------------------------------------------------- 2. load_dataset
import datasets  # noqa: E402  (after the projection: its import is slow and irrelevant)

datasets.disable_progress_bars()
ds = datasets.load_dataset("parquet", data_files=os.path.join(REPO, "data", "*.parquet"),
                           split="train")
original = pa.concat_tables(pq.read_table(os.path.join(SRC, p)) for p in sorted(FILES)
                            if p.endswith(".parquet"))
expect_eq(original.num_rows, ds.num_rows, "load_dataset: the original number of rows")
expect_eq(original.column_names, ds.column_names, "load_dataset: the original columns")
check(ds.data.table.equals(original), "load_dataset: every row and column equals the original")
expect_eq(original.slice(1030, 1).to_pylist()[0]["text"], ds[1030]["text"],
          "load_dataset: row 1030 (of the second file) is the original's")
for p, e in sorted(FILES.items()):
    if p.endswith(".parquet"):
        settle(os.path.join(REPO, p), e["sha256"])
        n = (e["size"] + BS - 1) // BS
        expect_eq(set(range(n)), fetched_blocks(e["sha256"], p, e["size"]),
                  "%s: all %d blocks came, none twice" % (p, n))
done()
