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
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
size_mib=1024
rounds=3
build=$top/build-bench
while [ $# -gt 0 ]; do
	case $1 in
	--size) size_mib=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	*) echo "usage: $0 [--size MiB] [--rounds N] [--build DIR]" >&2; exit 2 ;;
	esac
done
py=${PYTHON:-python3}
if [ ! -x "$build/cli/hubfs" ]; then
	cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	ninja -C "$build" hubfs >/dev/null
fi
H=$build/cli/hubfs
W=$(mktemp -d /tmp/hubfs-bench.XXXXXX)
data=/tmp/hubfs-bench-data-$size_mib
MNT=$W/mnt
mkdir -p "$MNT"
cleanup() {
	grep -q " $MNT fuse" /proc/mounts && fusermount3 -uz "$MNT"
	[ -n "${hub_pid:-}" ] && kill "$hub_pid" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

"$py" "$top/tests/fakehub/genrepos.py" "$data" --big-size $((size_mib * 1048576)) >/dev/null
"$py" "$top/tests/fakehub/fakehub.py" --data "$data" --state-file "$W/state" --log "$W/log" &
hub_pid=$!
for _ in $(seq 100); do [ -s "$W/state" ] && break; sleep 0.1; done
export HF_ENDPOINT=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["hub"])' "$W/state")
FILE=hubfs-test/big-model/model.safetensors
bytes=$((size_mib * 1048576))

now() { date +%s.%N; }
mibps() { echo "scale=1; $bytes / 1048576 / ($2 - $1)" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
mount_it() {
	"$H" mount -f "$MNT" --cache-dir "$W/cache" --log-level warn 2>>"$W/hubfs.log" &
	mnt_pid=$!
	for _ in $(seq 100); do grep -q " $MNT fuse" /proc/mounts && break; sleep 0.05; done
}
umount_it() { fusermount3 -u "$MNT"; wait "$mnt_pid" 2>/dev/null || true; }

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
