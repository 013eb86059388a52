#!/usr/bin/env bash
# Offline: what was visited (listings) and read (content) is served by a
# remount with --offline or HF_HUB_OFFLINE=1 without a single request;
# what was never cached fails with EIO. With the Hub gone (network down),
# an online mount serves the same and fails uncached reads in bounded time.
. "$HUBFS_TEST_LIB"
start_mount_with
KEY=model/hubfs-test/tiny-model
R=$MNT/hubfs-test/tiny-model
cat "$R/config.json" "$R/model.safetensors" >/dev/null
ls "$MNT/datasets/hubfs-test/big-dataset/data" >/dev/null
unmount_hubfs
fakehub_ctl DELETE log >/dev/null

read_file() { "$PYTHON" -c 'import errno,hashlib,sys
try:
    print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())
except OSError as e:
    print(errno.errorcode[e.errno])' "$1"; }

for how in "--offline" "env"; do
	if [ "$how" = env ]; then HF_HUB_OFFLINE=1 mount_hubfs; else mount_hubfs --offline; fi
	expect_eq "$(manifest entries $KEY | awk -F'\t' '$1 !~ /\// {print $1}' | sort | tr '\n' ' ')" \
		"$(ls -A "$R" | sort | tr '\n' ' ')" "$how: a visited repo lists"
	expect_eq "$(manifest field $KEY model.safetensors sha256)" "$(read_file "$R/model.safetensors")" \
		"$how: a cached file reads"
	expect_eq EIO "$(read_file "$R/pytorch_model.bin")" "$how: an uncached file is EIO"
	check "$how: the visited dataset lists" test -d "$MNT/datasets/hubfs-test/big-dataset/data/train"
	check "$how: an unvisited repo does not" sh -c '! ls "$0" 2>/dev/null' "$MNT/hubfs-test/sharded-model"
	unmount_hubfs
	expect_eq 0 "$(hub_count)" "$how: not one request reached the Hub"
done

# A password in the endpoint's URL reaches no log (it did, twice: the
# endpoint line and the "mounted" line, in syslog for a daemon).
HF_ENDPOINT="http://user:s3cretpw@127.0.0.1:9" mount_hubfs --offline
unmount_hubfs
check "a password in the endpoint goes to no log line" sh -c '! grep -q s3cretpw "$0"' "$HUBFS_LOG"
check "... which shows it masked" grep -q "endpoint http://\*\*\*@127.0.0.1:9" "$HUBFS_LOG"

# --- the Hub goes away under an online mount ---
kill "$FAKEHUB_PID"
wait "$FAKEHUB_PID" 2>/dev/null
FAKEHUB_PID=
export HUBFS_MAX_RETRIES=1 HUBFS_CONNECT_TIMEOUT=2
mount_hubfs
start=$(now_cs)
expect_eq "$(manifest field $KEY config.json sha256)" "$(read_file "$R/config.json")" \
	"network down: a cached file of a visited commit reads"
expect_eq EIO "$(read_file "$R/vocab.txt")" "network down: an uncached file is EIO"
check "... within seconds" less_than_since "$start" 30
check "... and the log says the Hub is unreachable" grep -q "unreachable" "$HUBFS_LOG"
finish_mount
