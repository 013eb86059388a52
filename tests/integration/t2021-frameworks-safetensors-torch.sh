#!/usr/bin/env bash
# safetensors and torch read weights through the mount and fetch only what
# they touch: safe_open (mmap) of a cold model.safetensors costs the header's
# block and the blocks of the tensors read; load_file and torch.load(mmap=True,
# weights_only=True) give the original tensors (tests/frameworks/safetensors_torch.py).
. "$HUBFS_TEST_LIB"
. "$(dirname "$HUBFS_TEST_LIB")/../frameworks/lib.sh"
start_frameworks_mount
ls "$MNT/hubfs-ml/bert-tiny/checkpoint" >/dev/null
check "safetensors and torch through the mount" \
	fw_python "$FW_DIR/safetensors_torch.py" "$MNT"
check "nothing but hubfs asked the Hub for anything" test "$(hub_count 'ua~hubfs/*')" = "$(hub_count)"
finish_mount
