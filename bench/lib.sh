# shellcheck shell=bash
# lib.sh: what the bench scripts (bench_*.sh) source after `set -eu`.
#
#   top, py, build       the source tree, the Python to run the fake Hub with
#                        ($PYTHON or python3), the default build dir (--build)
#   bench_options "$@"   --size MiB (default 1024), --rounds N (3) and --build DIR into
#                        size_mib, rounds and build
#   bench_build [TARGET...]  a Release build of hubfs (and these targets of
#                        bench/) in $build unless it has them; H is its hubfs
#   bench_workdir NAME   a work dir W in /tmp with the mount point MNT; an EXIT
#                        trap unmounts, stops the fake Hub and removes it
#   bench_start_hub DATA [fakehub.py options...]
#                        the fake Hub over DATA on free ports (hub_pid); its
#                        URL in HUB and HF_ENDPOINT
#   mount_it [hubfs mount options...], umount_it
#                        a mount of $MNT (mnt_pid) with its cache in
#                        $W/cache, warnings to $W/hubfs.log
#   floor_mount, floor_umount
#                        bench_fuse_floor (built by bench_build
#                        bench_fuse_floor) on $W/floor: $W/floor/data,
#                        $size_mib MiB of FUSE with nothing behind it
#   now, median          the time in seconds; the median of numbers on stdin
#   busy_seconds         CPU time every process on the machine has used so far
#                        (user, nice, system, irq, softirq: /proc/stat), in seconds
#   steal_report         one line: how much of this run's CPU time the hypervisor
#                        gave to other guests (/proc/stat steal), since bench_workdir

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=${PYTHON:-python3}
build=$top/build-bench

bench_options() {
	size_mib=1024
	rounds=3
	while [ $# -gt 0 ]; do
		case $1 in
		--size) size_mib=$2; shift 2 ;;
		--rounds) rounds=$2; shift 2 ;;
		--build) build=$2; shift 2 ;;
		*) echo "usage: $0 [--size MiB] [--rounds N] [--build DIR]" >&2; exit 2 ;;
		esac
	done
}

bench_build() {
	local t missing=0
	[ -x "$build/cli/hubfs" ] || missing=1
	for t in "$@"; do [ -x "$build/bench/$t" ] || missing=1; done
	if [ "$missing" = 1 ]; then
		cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
		ninja -C "$build" hubfs "$@" >/dev/null
	fi
	H=$build/cli/hubfs
}

bench_cleanup() {
	grep -q " $MNT fuse" /proc/mounts && fusermount3 -uz "$MNT"
	grep -q " $W/floor fuse" /proc/mounts && fusermount3 -uz "$W/floor"
	grep -q " $W/tmpfs tmpfs" /proc/mounts && umount "$W/tmpfs"
	[ -n "${hub_pid:-}" ] && kill "$hub_pid" 2>/dev/null
	rm -rf "$W"
}

bench_workdir() {
	W=$(mktemp -d "/tmp/$1.XXXXXX")
	MNT=$W/mnt
	mkdir -p "$MNT"
	trap bench_cleanup EXIT
	bench_t0=$(now)
	bench_steal0=$(steal_seconds)
}

bench_start_hub() {
	local data=$1
	shift
	rm -f "$W/state"
	"$py" "$top/tests/fakehub/fakehub.py" --data "$data" --state-file "$W/state" "$@" &
	hub_pid=$!
	for _ in $(seq 100); do [ -s "$W/state" ] && break; sleep 0.1; done
	HUB=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["hub"])' "$W/state")
	export HF_ENDPOINT=$HUB
}

mount_it() {
	"$H" mount -f "$MNT" --cache-dir "$W/cache" --log-level warn "$@" 2>>"$W/hubfs.log" &
	mnt_pid=$!
	for _ in $(seq 100); do grep -q " $MNT fuse" /proc/mounts && break; sleep 0.05; done
}
umount_it() { fusermount3 -u "$MNT"; wait "$mnt_pid" 2>/dev/null || true; }
# The same read-ahead as hubfs sets on its mount (fs/ops.c, READ_AHEAD_KIB)
floor_mount() {
	mkdir -p "$W/floor"
	"$build/bench/bench_fuse_floor" "$W/floor" "$size_mib" &
	floor_pid=$!
	for _ in $(seq 100); do grep -q " $W/floor fuse" /proc/mounts && break; sleep 0.05; done
	echo 1024 >"/sys/class/bdi/$(mountpoint -d "$W/floor")/read_ahead_kb"
}
floor_umount() { fusermount3 -u "$W/floor"; wait "$floor_pid" 2>/dev/null || true; }

now() { date +%s.%N; }
busy_seconds() {
	awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat
}
steal_seconds() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f\n", $9 / hz }' /proc/stat; }
# A shared virtual machine's noise, measured: a run with much steal is not
# comparable with a quiet one.
steal_report() {
	local wall steal
	wall=$(echo "$(now) - $bench_t0" | bc)
	steal=$(echo "$(steal_seconds) - $bench_steal0" | bc)
	printf 'steal: other guests had %.1f of the %.0f core-seconds of this run (%.0f%%)\n' \
		"$steal" "$(echo "$wall * $(nproc)" | bc)" "$(echo "100 * $steal / ($wall * $(nproc))" | bc -l)"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
