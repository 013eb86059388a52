#!/usr/bin/env bash
# pyarrow and datasets read parquet through the mount: read_table with a
# column projection fetches only the blocks of the footer and those columns,
# not the big column's; load_dataset("parquet", data_files=glob) gives the
# original rows (tests/frameworks/datasets_parquet.py).
. "$HUBFS_TEST_LIB"
. "$(dirname "$HUBFS_TEST_LIB")/../frameworks/lib.sh"
start_frameworks_mount
ls "$MNT/datasets/hubfs-ml/parquet-rows/data" >/dev/null
check "pyarrow and datasets through the mount" \
	fw_python "$FW_DIR/datasets_parquet.py" "$MNT"
check "nothing but hubfs asked the Hub for anything" test "$(hub_count 'ua~hubfs/*')" = "$(hub_count)"
finish_mount
