#!/usr/bin/env bash
# run-fidelity-py.sh: run the reference Python client (huggingface_hub, from the pinned test
# venv) against the fake Hub and compare what it reports with the generator's manifest
# (fidelity_py.py). ctest runs it.
#
#   run-fidelity-py.sh [--fakehub PATH] [--data DIR] [--workdir DIR] [--venv-python PY]
#                      [--break KIND] [--keep]
#
#   --fakehub PATH      the fake Hub server     (env FAKEHUB; default ../fakehub/fakehub.py)
#   --data DIR          the generator's output  (env FAKEHUB_DATA; default WORK/data);
#                       generated with genrepos.py (beside fakehub.py) if DIR/manifest.json
#                       is missing
#   --workdir DIR       where a fresh temp dir for this run goes
#                       (env HUBFS_TEST_TMP, else TMPDIR, else /tmp)
#   --venv-python PY    the test venv's interpreter, with huggingface_hub
#                       (env HUBFS_VENV_PYTHON; default ../../build-venv/bin/python)
#   --break KIND        "broken fake" mode: inject a fault through POST /_fake/faults before
#                       the client runs; then the run must FAIL, with a failed check naming
#                       the broken value. Exit 0 only then. KINDs:
#                         corrupt_cdn        one byte flipped in every CDN answer: the sha256
#                                            of every downloaded LFS file is wrong (the library
#                                            does not verify it; the test does)
#                         wrong_linked_size  X-Linked-Size off by one on the resolve redirects:
#                                            the library itself notices (it trusts X-Linked-Size
#                                            and fails its "Consistency check" on the bytes);
#                                            the JS client never reads that header
#                         lfs_pointer_cdn    the CDN serves the LFS pointer text instead of the
#                                            content: wrong size, caught by the library's own
#                                            consistency check
#                         ignore_range_cdn   the CDN answers 200 with the whole body to a Range
#                                            request: HfFileSystem's ranged reads get wrong bytes
#   --keep              keep the work dir even when the test passes
#
# The fake runs with --cdn-auth record, and fidelity_py.py checks the request log: no request
# that reached the CDN may carry Authorization (the library drops it on the cross-host
# redirect). huggingface_hub is kept on loopback and plain HTTP: HF_ENDPOINT is the fake,
# HF_HOME a fresh dir, Xet and telemetry off, no token from the environment.
#
# Exit: 0 pass, 1 fail, 77 skipped (no test venv, or no huggingface_hub in it).

set -u
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIDELITY_NAME=run-fidelity-py
. "$HERE/lib.sh"
VENV_PY=${HUBFS_VENV_PYTHON:-$HERE/../../build-venv/bin/python}

fidelity_options --venv-python VENV_PY "$@"

# ---- the fault of --break, and the failed check it must cause (a regex on a FAIL line)
FAULT=
EXPECT=
case $BREAK in
'') ;;
corrupt_cdn)
	FAULT='{"kind": "corrupt", "host": "cdn", "glob": "*", "count": -1}'
	EXPECT='^FAIL hf_hub_download hubfs-test/tiny-model [^:]*\(LFS[^:]*: bytes \(sha256\): expected' ;;
wrong_linked_size)
	FAULT='{"kind": "wrong_linked_size", "host": "hub", "glob": "*", "count": -1, "delta": 1}'
	EXPECT='^FAIL hf_hub_download hubfs-test/tiny-model [^:]*\(LFS[^:]*: expected success, got OSError: Consistency check failed' ;;
lfs_pointer_cdn)
	FAULT='{"kind": "lfs_pointer", "host": "cdn", "glob": "*", "count": -1}'
	EXPECT='^FAIL hf_hub_download hubfs-test/tiny-model [^:]*\(LFS[^:]*: expected success, got OSError: Consistency check failed' ;;
ignore_range_cdn)
	FAULT='{"kind": "ignore_range", "host": "cdn", "glob": "*", "count": -1}'
	EXPECT='^FAIL HfFileSystem [^:]*: open [^:]*\(LFS[^:]*: (seek \+ read|read_block)' ;;
*) die "unknown --break kind: $BREAK (corrupt_cdn, wrong_linked_size, lfs_pointer_cdn, ignore_range_cdn)" ;;
esac

# ---- the test venv
[ -x "$VENV_PY" ] || skip "no test venv at $VENV_PY (make it with scripts/deps.sh --tests)"
"$VENV_PY" -c 'import huggingface_hub' 2>/dev/null || skip "$VENV_PY has no huggingface_hub"
[ -f "$FAKEHUB" ] || die "no fake Hub at $FAKEHUB"
PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=$VENV_PY

fidelity_workdir fidelity-py

# ---- the data
fidelity_data

# ---- the fake Hub, on free ports
fidelity_start_fakehub
HUB_URL=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["hub"])' "$STATE") ||
	die "unreadable state file $STATE"
say "fake Hub at $HUB_URL (pid $SERVER_PID), data $DATA"

# ---- the fault of --break
if [ -n "$FAULT" ]; then
	"$PYTHON" - "$HUB_URL" "$FAULT" <<-'EOF' || die "could not inject the fault"
		import sys, urllib.request
		hub, body = sys.argv[1], sys.argv[2]
		req = urllib.request.Request(hub + "/_fake/faults", data=body.encode(), method="POST",
		                             headers={"Content-Type": "application/json"})
		with urllib.request.urlopen(req) as r:
		    print(f"run-fidelity-py: injected fault {body} -> {r.read().decode()}")
	EOF
fi

# ---- the client, on loopback only, with an empty cache and no token of the environment
mkdir -p "$W/hf-home"
EXPECT_ARG=()
[ -z "$BREAK" ] || EXPECT_ARG=("--expect-fail=$EXPECT")
# In the background, so that a TERM from ctest runs the trap at once; output shown when done.
(
	unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_TOKEN_PATH HF_HUB_OFFLINE HF_HUB_CACHE \
		HUGGINGFACE_HUB_CACHE HF_XET_CACHE HUGGINGFACE_CO_STAGING HF_HUB_DISABLE_IMPLICIT_TOKEN
	export HF_ENDPOINT=$HUB_URL HF_HOME=$W/hf-home HF_HUB_DISABLE_XET=1 \
		HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 \
		HF_HUB_DISABLE_UPDATE_CHECK=1 HF_HUB_DISABLE_SYMLINKS_WARNING=1 \
		NO_PROXY='*' no_proxy='*'
	unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
	if command -v timeout >/dev/null 2>&1; then
		exec timeout 400 "$VENV_PY" "$HERE/fidelity_py.py" --hub "$HUB_URL" --data "$DATA" --log "$LOG" "${EXPECT_ARG[@]}"
	fi
	exec "$VENV_PY" "$HERE/fidelity_py.py" --hub "$HUB_URL" --data "$DATA" --log "$LOG" "${EXPECT_ARG[@]}"
) >"$W/fidelity.out" 2>&1 &
CLIENT_PID=$!
fidelity_verdict fidelity_py.py
exit 0
