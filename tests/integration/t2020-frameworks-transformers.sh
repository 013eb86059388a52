#!/usr/bin/env bash
# transformers loads a model from the mount as from the folder it saved:
# AutoConfig, AutoTokenizer and AutoModel.from_pretrained at main, at a tag
# and from shards give the original config, tokens and outputs, fetching each
# block once (tests/frameworks/transformers_check.py).
. "$HUBFS_TEST_LIB"
. "$(dirname "$HUBFS_TEST_LIB")/../frameworks/lib.sh"
start_frameworks_mount
check "transformers through the mount" \
	fw_python "$FW_DIR/transformers_check.py" "$MNT"
check "nothing but hubfs asked the Hub for anything" test "$(hub_count 'ua~hubfs/*')" = "$(hub_count)"
finish_mount
