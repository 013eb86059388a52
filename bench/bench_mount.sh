#!/usr/bin/env bash
# Benchmarks of the mount against the fake Hub on loopback (not a test:
# numbers, not verdicts). Each pair is measured side by side, taking turns,
# so that a noisy machine hurts both alike; medians are reported.
#
#   bash bench/bench_mount.sh [--size MiB] [--rounds N] [--build DIR]
#
#   1. cold sequential read of a big LFS file through the mount vs
#      curl -o of the same CDN URL into a file          (goal >= 0.8)
#   2. warm read after a remount vs reading the same bytes straight
#      from the cache's block files                      (goal >= 0.8)
#   3. find over the 3,000-file dataset, cold and warm, with API requests
#   4. the daemon's peak RSS while reading the big file  (goal <= 64 MiB)
#   5. peers, one big file: huggingface_hub.hf_hub_download vs hubfs download vs
#      a cold cat through the mount, each from an empty cache
#   6. peers, the 3,000-file dataset: huggingface_hub.snapshot_download vs
#      hubfs download vs a cold find + cat of every file through the mount
#   (5 and 6 need the test venv, build-venv/ or $HUBFS_VENV_PYTHON, with
#   huggingface_hub; the page cache is dropped before every cold measure.
#   Times are of the whole command, interpreter start included.)
set -eu
. "$(dirname "$0")/lib.sh"
bench_options "$@"
bench_build
bench_workdir hubfs-bench
data=/tmp/hubfs-bench-data-$size_mib

"$py" "$top/tests/fakehub/genrepos.py" "$data" --big-size $((size_mib * 1048576)) >/dev/null
bench_start_hub "$data" --log "$W/log"
FILE=hubfs-test/big-model/model.safetensors
bytes=$((size_mib * 1048576))

mibps() { echo "scale=1; $bytes / 1048576 / ($2 - $1)" | bc; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }

echo "file: $FILE, $size_mib MiB; $rounds rounds each; machine: $(nproc) cores"
cdn=$(curl -sI "$HF_ENDPOINT/hubfs-test/big-model/resolve/main/model.safetensors" | awk 'tolower($1) == "location:" {print $2}' | tr -d '\r')
hdr="curl_mibps mount_mibps ratio peak_rss_kib"
echo "== 1. cold sequential read: mount vs curl -o (both from the same CDN)"
echo "   $hdr"
: >"$W/r1"
for r in $(seq "$rounds"); do
	rm -f "$W/curl.out"; drop_caches
	t0=$(now); curl -s -o "$W/curl.out" "$cdn"; t1=$(now)
	c=$(mibps "$t0" "$t1")
	rm -f "$W/curl.out"
	rm -rf "$W/cache"; drop_caches
	mount_it
	t0=$(now); dd if="$MNT/$FILE" of=/dev/null bs=4M status=none; t1=$(now)
	m=$(mibps "$t0" "$t1")
	rss=$(awk '/VmHWM/ {print $2}' /proc/$mnt_pid/status)
	umount_it
	echo "   $c $m $(echo "scale=2; $m / $c" | bc) $rss" | tee -a "$W/r1"
done
echo "   median ratio: $(awk '{print $3}' "$W/r1" | median)   median peak RSS: $(awk '{print $4}' "$W/r1" | median) KiB"

echo "== 2. warm read after a remount vs the cache's own files"

mount_it
dd if="$MNT/$FILE" of=/dev/null bs=4M status=none # fill (cached already)
sha=$(getfattr --only-values -n user.hubfs.sha256 "$MNT/$FILE")
umount_it
echo "   plain_mibps mount_mibps ratio"
: >"$W/r2"
for r in $(seq "$rounds"); do
	t0=$(now); cat "$W/cache/objects/sha256/${sha:0:2}/$sha"/b* >/dev/null; t1=$(now)
	p=$(mibps "$t0" "$t1")
	mount_it
	t0=$(now); dd if="$MNT/$FILE" of=/dev/null bs=4M status=none; t1=$(now)
	m=$(mibps "$t0" "$t1")
	umount_it
	echo "   $p $m $(echo "scale=2; $m / $p" | bc)" | tee -a "$W/r2"
done
echo "   median ratio: $(awk '{print $3}' "$W/r2" | median)"

echo "== 3. find over the 3,000-file dataset"
rm -rf "$W/cache"
mount_it
: >"$W/log"
t0=$(now); n=$(find "$MNT/datasets/hubfs-test/big-dataset" | wc -l); t1=$(now)
api=$("$py" "$top/tests/lib/hublog.py" "$W/log" count 'path~/api/*')
echo "   cold: $n entries in $(echo "$t1 - $t0" | bc) s, $api API requests"
: >"$W/log"
t0=$(now); find "$MNT/datasets/hubfs-test/big-dataset" >/dev/null; t1=$(now)
echo "   warm: $(echo "$t1 - $t0" | bc) s, $("$py" "$top/tests/lib/hublog.py" "$W/log" count 'path~/api/*') API requests"
umount_it

# ---- 5 and 6: the peers (huggingface_hub) beside hubfs download and the mount
vpy=${HUBFS_VENV_PYTHON:-$top/build-venv/bin/python}
if ! [ -x "$vpy" ] || ! "$vpy" -c 'import huggingface_hub' 2>/dev/null; then
	echo "== 5, 6: skipped: no huggingface_hub in $vpy (scripts/deps.sh --tests makes build-venv/)"
	exit 0
fi
# huggingface_hub on the fake only, plain HTTP (no Xet), nothing sent home; a fresh HF_HOME
# per run. hubfs download gets an empty HF_HOME too: it would reuse huggingface_hub's blobs.
hf_env() { env HF_HOME="$1" HF_HUB_DISABLE_XET=1 HF_HUB_DISABLE_TELEMETRY=1 \
	HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_DISABLE_UPDATE_CHECK=1 HF_TOKEN= "${@:2}"; }
secs() { printf '%.2f' "$(echo "$2 - $1" | bc)"; }
ratio() { echo "scale=2; $1 / $2" | bc; }
# time_cmd CMD...: the command's wall time in seconds, cold (page cache dropped first)
time_cmd() {
	local t0 t1
	drop_caches
	t0=$(now)
	"$@" >/dev/null 2>>"$W/peers.err" || { echo "   FAILED: $* (see below)" >&2; tail -n 5 "$W/peers.err" >&2; return 1; }
	t1=$(now)
	secs "$t0" "$t1"
}
hf_file() { hf_env "$W/hf" "$vpy" -c 'import sys; from huggingface_hub import hf_hub_download
hf_hub_download(sys.argv[1], sys.argv[2])' hubfs-test/big-model model.safetensors; }
hf_snapshot() { hf_env "$W/hf" "$vpy" -c 'import sys; from huggingface_hub import snapshot_download
snapshot_download(sys.argv[1], repo_type="dataset")' hubfs-test/big-dataset; }
hubfs_file() { hf_env "$W/hf" "$H" download hubfs-test/big-model --include model.safetensors \
	--cache-dir "$W/cache" --quiet; }
hubfs_snapshot() { hf_env "$W/hf" "$H" download datasets/hubfs-test/big-dataset \
	--cache-dir "$W/cache" --quiet; }
mount_file() { cat "$MNT/$FILE" >/dev/null; }
mount_snapshot() { find "$MNT/datasets/hubfs-test/big-dataset" -type f -exec cat {} + >/dev/null; }
fresh() { rm -rf "$W/hf" "$W/cache"; mkdir -p "$W/hf"; }

# peers LABEL HF_FN HUBFS_FN MOUNT_FN: rounds of the three, taking turns, each from empty caches
peers() {
	local label=$1 hf_fn=$2 hubfs_fn=$3 mount_fn=$4 r a b c
	echo "   seconds: hf_hub hubfs_download mount_cold   speed vs hf_hub: hubfs_download mount"
	: >"$W/peers.$label"
	for r in $(seq "$rounds"); do
		fresh; a=$(time_cmd "$hf_fn") || return 1
		fresh; b=$(time_cmd "$hubfs_fn") || return 1
		fresh; mount_it
		c=$(time_cmd "$mount_fn") || { umount_it; return 1; }
		umount_it
		echo "   $a $b $c   $(ratio "$a" "$b") $(ratio "$a" "$c")" | tee -a "$W/peers.$label"
	done
	a=$(awk '{print $1}' "$W/peers.$label" | median)
	b=$(awk '{print $2}' "$W/peers.$label" | median)
	c=$(awk '{print $3}' "$W/peers.$label" | median)
	echo "   medians: hf_hub $a s, hubfs download $b s, mount $c s;" \
		"hubfs download is $(ratio "$a" "$b")x and the mount $(ratio "$a" "$c")x the speed of huggingface_hub"
}

echo "== 5. one $size_mib MiB LFS file: hf_hub_download vs hubfs download vs cold cat through the mount"
peers file hf_file hubfs_file mount_file
read -r n_files n_lfs n_bytes < <("$py" "$top/tests/lib/manifest.py" "$data" total dataset/hubfs-test/big-dataset)
echo "== 6. hubfs-test/big-dataset ($n_files files, $n_lfs LFS, $n_bytes bytes): snapshot_download vs hubfs download vs cold find + cat"
peers snapshot hf_snapshot hubfs_snapshot mount_snapshot
