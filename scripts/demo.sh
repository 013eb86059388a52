#!/usr/bin/env bash
# README command (a): install what is needed, build hubfs, start the bundled
# demo Hub on loopback and mount it.
#   bash scripts/demo.sh          start (again: a no-op when already running)
#   bash scripts/demo.sh stop     unmount and stop the demo Hub
# Everything lives in ./demo: the Hub's data, its logs, the mount point.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
demo=$top/demo
mnt=$demo/hub
py=${PYTHON:-python3}

stop() {
	if grep -q " $mnt fuse" /proc/mounts 2>/dev/null; then
		fusermount3 -u "$mnt" && echo "unmounted $mnt"
	fi
	if [ -f "$demo/fakehub.pid" ]; then
		kill "$(cat "$demo/fakehub.pid")" 2>/dev/null && echo "stopped the demo Hub"
		rm -f "$demo/fakehub.pid" "$demo/fakehub.state"
	fi
}
if [ "${1:-}" = stop ]; then
	stop
	exit 0
fi

bash scripts/deps.sh
cmake -S . -B build-demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build-demo hubfs
mkdir -p "$demo" "$mnt"
"$py" tests/fakehub/genrepos.py "$demo/data"

if ! { [ -f "$demo/fakehub.pid" ] && kill -0 "$(cat "$demo/fakehub.pid")" 2>/dev/null; }; then
	rm -f "$demo/fakehub.state"
	setsid "$py" tests/fakehub/fakehub.py --data "$demo/data" \
		--state-file "$demo/fakehub.state" --log "$demo/requests.jsonl" \
		>"$demo/fakehub.stderr" 2>&1 </dev/null &
	echo $! >"$demo/fakehub.pid"
	for _ in $(seq 100); do [ -s "$demo/fakehub.state" ] && break; sleep 0.1; done
fi
[ -s "$demo/fakehub.state" ] || { echo "the demo Hub did not start: see $demo/fakehub.stderr" >&2; exit 1; }
hub=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["hub"])' "$demo/fakehub.state")
export HF_ENDPOINT=$hub

grep -q " $mnt fuse" /proc/mounts ||
	build-demo/cli/hubfs mount "$mnt" --cache-dir "$demo/cache"

cat <<EOT

The demo Hub runs at $hub (its request log: demo/requests.jsonl);
the whole Hub is mounted at demo/hub (cache: demo/cache). Try:
  ls demo/hub/hubfs-test/tiny-model
  cat demo/hub/hubfs-test/tiny-model/config.json
  sha256sum demo/hub/hubfs-test/tiny-model/model.safetensors
  ls demo/hub/hubfs-test; getfattr -n user.hubfs.cached demo/hub/hubfs-test/tiny-model/model.safetensors
  getfattr -d demo/hub/hubfs-test/tiny-model/model.safetensors
  ls demo/hub/hubfs-test/tiny-model@v1.0 demo/hub/datasets/hubfs-test/big-dataset/data
  export HF_ENDPOINT=$hub HUBFS_CACHE_DIR=$demo/cache
  build-demo/cli/hubfs info hubfs-test/tiny-model
  build-demo/cli/hubfs ls -l -h datasets/hubfs-test/big-dataset data/train/part-00
  build-demo/cli/hubfs cache ls
Stop it all with: bash scripts/demo.sh stop
EOT
