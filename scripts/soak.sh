#!/usr/bin/env bash
# The corrupt-race soak (tests/integration/t2018-mount-corrupt-race.sh) for
# minutes under each cap: a nightly job. CI runs its 30 s version at 12 MiB.
#
#   bash scripts/soak.sh [--minutes N] [--caps "12M 40M"] [--build DIR]
#
# A Release build (the build users run) in --build (build-soak/). The test
# runs with the environment ctest gives it (ctest --show-only), without
# ctest's time limit. Exits 1 if any run failed; each run's work dir, with
# the daemon's and the fake Hub's logs, is kept when it failed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
minutes=10
caps="12M 40M"
build=$top/build-soak
while [ $# -gt 0 ]; do
	case $1 in
	--minutes) minutes=$2; shift 2 ;;
	--caps) caps=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	*) echo "usage: $0 [--minutes N] [--caps \"12M 40M\"] [--build DIR]" >&2; exit 2 ;;
	esac
done
CC=${CC:-gcc} cmake -S "$top" -B "$build" -G Ninja -DHUBFS_WERROR=ON \
	-DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build" >/dev/null
# The fake Hub's data, as the test's fixture makes it.
(cd "$build" && ctest -R '^fakehub/generate$' >/dev/null 2>&1)
failed=0
for cap in $caps; do
	echo "== corrupt-race soak: $minutes min under a $cap cap"
	(cd "$build" && ctest -R 't2018-mount-corrupt-race$' --show-only=json-v1) |
		SOAK_SECONDS=$((minutes * 60)) SOAK_CAP=$cap python3 -c '
import json, os, subprocess, sys
test = [t for t in json.load(sys.stdin)["tests"] if t["name"].endswith("t2018-mount-corrupt-race")][0]
env = dict(os.environ)
for p in test.get("properties", []):
    if p["name"] == "ENVIRONMENT":
        env.update(v.split("=", 1) for v in p["value"])
sys.exit(subprocess.run(test["command"], env=env).returncode)' || failed=1
done
exit $failed
