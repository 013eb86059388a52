#!/usr/bin/env bash
# Downloads over an emulated WAN (issue #17): the fake Hub with a latency
# before every answer and a rate per CDN connection, and side by side in
# one run, for each setting:
#   - one big LFS file (1 GiB, as in issue #17; --size): curl -o (one stream), the emulation's ceiling on this
#     machine (every 4 MiB block as its own curl, all at once),
#     @huggingface/hub downloadFile, hubfs download, and a cold cat through
#     the mount, and the cat's time against the download's;
#   - the 3,000-file dataset: hubfs download against a loop of single curl
#     requests (timed on the first --loop-files files and scaled to all:
#     every file costs the same two round trips).
# "Cold" is an empty hubfs cache (a fresh mount for cat); the page cache is
# not dropped (the fake Hub's blobs stay in it, as on a CDN edge).
# Numbers, not verdicts: this machine is shared; run it on a quiet one.
#
#   bash bench/bench_wan.sh [--size MiB] [--settings "0:0 30:60M 100:20M"]
#                           [--loop-files N] [--no-mount] [--build DIR]
#
# A setting is LATENCY_MS:RATE_PER_CDN_CONNECTION (0: none; fakehub.py
# --latency-ms and --cdn-rate). Needs node with tests/fidelity's npm
# packages (npm ci there) for the JS client, FUSE for the mount row, and
# the fake Hub's data with a big file (made here, in /tmp, once).
set -eu
. "$(dirname "$0")/lib.sh"
size_mib=1024
settings="0:0 30:60M 100:20M"
loop_files=200
do_mount=1
while [ $# -gt 0 ]; do
	case $1 in
	--size) size_mib=$2; shift 2 ;;
	--settings) settings=$2; shift 2 ;;
	--loop-files) loop_files=$2; shift 2 ;;
	--no-mount) do_mount=0; shift ;;
	--build) build=$2; shift 2 ;;
	*) echo "usage: $0 [--size MiB] [--settings \"MS:RATE ...\"] [--loop-files N]" \
		"[--no-mount] [--build DIR]" >&2; exit 2 ;;
	esac
done
bench_build
have_js=0
[ -d "$top/tests/fidelity/node_modules/@huggingface/hub" ] && command -v node >/dev/null &&
	have_js=1
[ "$do_mount" = 1 ] && { [ -c /dev/fuse ] && command -v fusermount3 >/dev/null || do_mount=0; }
bench_workdir hubfs-bench-wan
data=/tmp/hubfs-wan-data-$size_mib
[ -f "$data/manifest.json" ] ||
	"$py" "$top/tests/fakehub/genrepos.py" "$data" --big-size $((size_mib * 1048576)) >/dev/null
REPO=hubfs-test/big-model
FILE=model.safetensors
DS=hubfs-test/big-dataset
bytes=$((size_mib * 1048576))
"$py" "$top/tests/lib/manifest.py" "$data" files dataset/$DS >"$W/ds-files"
ds_n=$(wc -l <"$W/ds-files")
[ "$loop_files" -gt "$ds_n" ] && loop_files=$ds_n

timed() { local t0 t1; t0=$(now); "$@" >/dev/null 2>&1 || echo "failed: $*" >&2; t1=$(now); echo "$t1 - $t0" | bc; }
mbps() { echo "scale=0; $bytes / 1000000 / $1" | bc; }
ratio() { echo "scale=1; $1 / $2" | bc; }

start_hub() { # LATENCY_MS RATE
	bench_start_hub "$data" --log "$W/requests.log" --latency-ms "$1" --cdn-rate "$2"
}
stop_hub() { kill "$hub_pid"; wait "$hub_pid" 2>/dev/null || true; hub_pid=; }
# CDN requests, connections they used, most in progress at once (the request log)
log_stats() {
	"$py" - "$W/requests.log" <<'EOF'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
edges = sorted([(r["t"], 1) for r in rs] + [(r["end"], -1) for r in rs])
cur = top = 0
for _, d in edges:
    cur += d
    top = max(top, cur)
print("%d requests on %d connections, at most %d at once"
      % (len(rs), len({(r["host"], r["conn"]) for r in rs}), top))
EOF
	: >"$W/requests.log"
}

# The emulation's ceiling on this machine: every block of the file as its
# own 4 MiB range, one curl process each, all at once (after one resolve).
curl_all_blocks() {
	local url i n=$(( (bytes + 4194303) / 4194304 ))
	url=$(curl -sS -o /dev/null -w '%{redirect_url}' "$HUB/$REPO/resolve/main/$FILE")
	[ -n "$url" ] || url=$HUB/$REPO/resolve/main/$FILE
	for i in $(seq 0 $((n - 1))); do
		curl -sSf -o /dev/null -r $((i * 4194304))-$(((i + 1) * 4194304 - 1)) "$url" &
	done
	wait
}

curl_loop() {
	head -n "$loop_files" "$W/ds-files" | while read -r p; do
		curl -sSfL -o /dev/null "$HUB/datasets/$DS/resolve/main/$p" || echo "failed: $p" >&2
	done
}

declare -A res
for s in $settings; do
	lat=${s%%:*} rate=${s#*:}
	start_hub "$lat" "$rate"
	say=$([ "$lat" = 0 ] && [ "$rate" = 0 ] && echo loopback || echo "${lat} ms, $rate/s per conn")
	echo "== $say" >&2
	res[$s,curl]=$(timed curl -sSfL -o "$W/curl.out" "$HUB/$REPO/resolve/main/$FILE")
	rm -f "$W/curl.out"
	res[$s,ceiling]=$(timed curl_all_blocks)
	: >"$W/requests.log"
	if [ "$have_js" = 1 ]; then
		res[$s,js]=$(timed node "$top/bench/js_download.mjs" "$HUB" $REPO $FILE "$W/js.out")
		rm -f "$W/js.out"
	fi
	: >"$W/requests.log"
	rm -rf "$W/cache"
	b0=$(busy_seconds)
	res[$s,dl]=$(timed "$H" download --quiet --cache-dir "$W/cache" $REPO --include $FILE)
	res[$s,dl_cpu]=$(echo "$(busy_seconds) - $b0" | bc)
	echo "   hubfs download: $(log_stats)" >&2
	if [ "$do_mount" = 1 ]; then
		rm -rf "$W/cache"
		mount_it
		: >"$W/requests.log"
		b0=$(busy_seconds)
		res[$s,cat]=$(timed cat "$MNT/$REPO/$FILE")
		res[$s,cat_cpu]=$(echo "$(busy_seconds) - $b0" | bc)
		echo "   mount cat:      $(log_stats)" >&2
		umount_it
	fi
	rm -rf "$W/cache"
	: >"$W/requests.log"
	res[$s,ds]=$(timed "$H" download --quiet --cache-dir "$W/cache" --type dataset $DS)
	echo "   dataset:        $(log_stats)" >&2
	rm -rf "$W/cache"
	t=$(timed curl_loop)
	res[$s,loop]=$(echo "scale=3; $t * $ds_n / $loop_files" | bc)
	: >"$W/requests.log"
	stop_hub
done

printf '\n%s, %d MiB (%s); dataset %s, %d files. MB/s (× curl, one stream)\n' \
	"$REPO/$FILE" "$size_mib" "$(date -u +%FT%TZ)" "$DS" "$ds_n"
printf '%-34s' "setting (latency : rate per conn)"
for s in $settings; do printf '%20s' "$s"; done
printf '\n'
row() { # LABEL KEY
	printf '%-34s' "$1"
	for s in $settings; do
		local t=${res[$s,$2]:-}
		if [ -z "$t" ]; then printf '%20s' "-"; continue; fi
		printf '%20s' "$(mbps "$t") ($(ratio "${res[$s,curl]}" "$t")×)"
	done
	printf '\n'
}
row "curl -o" curl
row "ceiling: every block at once" ceiling
row "@huggingface/hub downloadFile" js
row "hubfs download" dl
row "cat through the mount, cold" cat
printf '%-34s' "cat ÷ hubfs download"
for s in $settings; do
	if [ -n "${res[$s,cat]:-}" ]; then printf '%20s' "$(echo "scale=2; ${res[$s,dl]} / ${res[$s,cat]}" | bc)"
	else printf '%20s' "-"; fi
done
printf '\n'
printf '%-34s' "dataset: hubfs download (× loop)"
for s in $settings; do
	printf '%20s' "$(printf '%.1fs' "${res[$s,ds]}") ($(ratio "${res[$s,loop]}" "${res[$s,ds]}")×)"
done
printf '\n%-34s' "dataset: loop of curl (scaled)"
for s in $settings; do printf '%20s' "$(printf '%.1fs' "${res[$s,loop]}")"; done
printf '\n'
# What every process on the machine spent (hubfs, the fake Hub, cat): where
# the cores, not the network, are the limit, cat's extra copies show here
printf '%-34s' "CPU-s per GiB: download / cat"
for s in $settings; do
	printf '%20s' "$(echo "scale=1; ${res[$s,dl_cpu]} * 1024 / $size_mib" | bc) / $(
		[ -n "${res[$s,cat_cpu]:-}" ] && echo "scale=1; ${res[$s,cat_cpu]} * 1024 / $size_mib" | bc || echo -)"
done
printf '\n'
echo "goals at 30:60M: hubfs download >= 8x curl; cat >= 0.9x hubfs download; dataset >= 10x the loop"
steal_report
