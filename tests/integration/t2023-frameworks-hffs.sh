#!/usr/bin/env bash
# huggingface_hub's HfFileSystem, against the fake Hub, and the mount agree
# on whole repos: the same files, folders, sizes and bytes
# (tests/frameworks/hffs_agree.py).
. "$HUBFS_TEST_LIB"
. "$(dirname "$HUBFS_TEST_LIB")/../frameworks/lib.sh"
start_frameworks_mount
FW_HUB_OFFLINE=0 # HfFileSystem talks to the fake Hub (HF_ENDPOINT)
check "HfFileSystem and the mount agree" fw_python "$FW_DIR/hffs_agree.py" "$MNT"
finish_mount
