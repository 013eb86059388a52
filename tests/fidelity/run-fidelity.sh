#!/usr/bin/env bash
# run-fidelity.sh: run the official JS client (@huggingface/hub) against the fake Hub and
# compare what it reports with the generator's manifest (fidelity.mjs). ctest runs it.
#
#   run-fidelity.sh [--fakehub PATH] [--data DIR] [--workdir DIR] [--python PY]
#                   [--break KIND] [--keep]
#
#   --fakehub PATH  the fake Hub server        (env FAKEHUB; default ../fakehub/fakehub.py)
#   --data DIR      the generator's output     (env FAKEHUB_DATA; default WORK/data);
#                   generated with genrepos.py (beside fakehub.py) if DIR/manifest.json is missing
#   --workdir DIR   where a fresh temp dir for this run goes
#                   (env HUBFS_TEST_TMP, else TMPDIR, else /tmp)
#   --python PY     interpreter for the fake Hub (env PYTHON; default python3)
#   --break KIND    "broken fake" mode: inject a fault through POST /_fake/faults before the
#                   client runs; then the run must FAIL, with a failed check naming the broken
#                   value. Exit 0 only then. KINDs:
#                     corrupt_cdn        one byte flipped in every CDN answer: the LFS download's
#                                        sha256 (what the JS client itself downloads) is wrong
#                     wrong_linked_size  X-Linked-Size off by one on the resolve redirects: the
#                                        JS client never reads it (it follows the redirect and
#                                        takes Content-Range), so only the raw redirect check
#                                        of fidelity.mjs can catch it
#                     ignore_range_cdn   the CDN answers 200 with the whole body to a Range
#                                        request: the client's bytes=0-0 probe gets no
#                                        Content-Range and fileDownloadInfo fails
#                     list_link_elsewhere  next-page links point to the CDN host (the fake's
#                                        link_base setting): listModels of bulk-org's 1,201
#                                        repos follows one there and fails
#   --keep          keep the work dir even when the test passes
#
# Exit: 0 pass, 1 fail, 77 skipped (no node/npm, or the npm install failed: no registry).
#
# Auth to the CDN: the JS client sends the user's token straight to the CDN when the CDN's
# answer carries "X-Cache: … cloudfront" (see fidelity.mjs), so the fake runs with
# --cdn-auth record here. After the run this script checks the request log: every CDN request
# that carried Authorization must be one the client itself sent there with a token (a blob
# read after fileDownloadInfo kept the CDN URL, listed in fidelity.mjs's report); redirected
# requests must not carry it (node's fetch drops it on a cross-origin redirect).

# shellcheck disable=SC2016  # JS/sh snippets in single quotes

set -u
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIDELITY_NAME=run-fidelity
. "$HERE/lib.sh"
PYTHON=${PYTHON:-python3}

fidelity_options --python PYTHON "$@"

# ---- the fault of --break, and the failed check it must cause (a regex on a FAIL line)
FAULT=
CONFIG=
EXPECT=
case $BREAK in
'') ;;
corrupt_cdn)
	FAULT='{"kind": "corrupt", "host": "cdn", "glob": "*", "count": -1}'
	EXPECT='^FAIL downloadFile hubfs-test/tiny-model [^ ]+: bytes sha256: expected "[0-9a-f]{64}", got "[0-9a-f]{64}"' ;;
wrong_linked_size)
	FAULT='{"kind": "wrong_linked_size", "host": "hub", "glob": "*", "count": -1, "delta": 1}'
	EXPECT='^FAIL resolve redirect hubfs-test/tiny-model [^ ]+: X-Linked-Size: expected "[0-9]+", got "[0-9]+"' ;;
ignore_range_cdn)
	FAULT='{"kind": "ignore_range", "host": "cdn", "glob": "*", "count": -1}'
	EXPECT='^FAIL (fileDownloadInfo|downloadFile) hubfs-test/tiny-model [^ ]+(: (size|blob size|bytes|range)|: expected success)' ;;
list_link_elsewhere)
	CONFIG=link_base_cdn
	EXPECT='^FAIL listModels owner=bulk-org \(anonymous\)' ;;
*) die "unknown --break kind: $BREAK (corrupt_cdn, wrong_linked_size, ignore_range_cdn, list_link_elsewhere)" ;;
esac

# ---- node, npm and the client
command -v node >/dev/null 2>&1 || skip "node is not installed"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || skip "node does not run"
[ "${NODE_MAJOR:-0}" -ge 20 ] || skip "node >= 20 needed (found $(node --version))"
[ -f "$FAKEHUB" ] || die "no fake Hub at $FAKEHUB"
command -v "$PYTHON" >/dev/null 2>&1 || die "no python: $PYTHON"

# exec_bounded SECONDS CMD...: replace this (sub)shell by CMD, under timeout(1) when there is one
# (bounds npm and the client; ctest has its own timeout too).
exec_bounded() {
	local s=$1
	shift
	if command -v timeout >/dev/null 2>&1; then exec timeout "$s" "$@"; else exec "$@"; fi
}
fidelity_workdir fidelity

# Where the client lives: tests/fidelity/node_modules, installed by `npm ci` when it is missing
# or holds another version than package.json pins. If the source dir cannot be written, the
# install goes into the work dir, with a copy of the files. Concurrent runs (ctest -j) take turns
# through a lock on package.json.
installed() {
	[ -f "$1/node_modules/.package-lock.json" ] &&
		node -e '
			const fs = require("fs"), d = process.argv[1];
			const want = JSON.parse(fs.readFileSync(d + "/package.json", "utf8")).dependencies["@huggingface/hub"];
			const got = JSON.parse(fs.readFileSync(d + "/node_modules/@huggingface/hub/package.json", "utf8")).version;
			process.exit(want === got ? 0 : 1);' "$1" 2>/dev/null
}
JSDIR=$HERE
if ! installed "$JSDIR"; then
	command -v npm >/dev/null 2>&1 || skip "npm is not installed and $HERE/node_modules is missing"
	if ! [ -w "$HERE" ]; then
		JSDIR=$W/js
		mkdir -p "$JSDIR" || die "cannot create $JSDIR"
		cp "$HERE/package.json" "$HERE/package-lock.json" "$HERE/fidelity.mjs" "$JSDIR/" || die "cannot copy the client files"
	fi
	exec 9<"$JSDIR/package.json"
	command -v flock >/dev/null 2>&1 && flock 9
	if ! installed "$JSDIR"; then
		say "installing the client: npm ci in $JSDIR"
		(cd "$JSDIR" && exec_bounded 180 npm ci --no-audit --no-fund --prefer-offline \
			--fetch-retries=1 --fetch-timeout=30000 >"$W/npm-ci.log" 2>&1)
		rc=$?
		if [ "$rc" -ne 0 ]; then
			tail -n 20 "$W/npm-ci.log" | sed 's/^/npm: /'
			if [ "$rc" -eq 124 ] || grep -qiE 'ENOTFOUND|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|network|offline|ENOTCACHED|request to .* failed' "$W/npm-ci.log"; then
				skip "npm ci failed: no package registry reachable (see above)"
			fi
			die "npm ci failed in $JSDIR (log: $W/npm-ci.log)"
		fi
	fi
	exec 9<&-
fi

# ---- the data
fidelity_data

# ---- the fake Hub, on free ports
fidelity_start_fakehub
read -r HUB_URL STATE_PID < <(node -e '
	const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
	console.log(s.hub, s.pid ?? "");' "$STATE") || die "unreadable state file $STATE"
[ -n "$HUB_URL" ] || die "no hub URL in $STATE"
say "fake Hub at $HUB_URL (pid $SERVER_PID), data $DATA"

# ---- the fault of --break
if [ -n "$FAULT" ]; then
	node --input-type=module -e '
		const [hub, body] = process.argv.slice(1);
		const r = await fetch(hub + "/_fake/faults", { method: "POST", headers: { "Content-Type": "application/json" }, body });
		const t = await r.text();
		if (!r.ok) { console.error(`POST /_fake/faults: ${r.status} ${t}`); process.exit(1); }
		console.log(`run-fidelity: injected fault ${body} -> ${t}`);' "$HUB_URL" "$FAULT" ||
		die "could not inject the fault"
fi

if [ "$CONFIG" = link_base_cdn ]; then
	node --input-type=module -e '
		const [hub, state] = process.argv.slice(1);
		const cdn = JSON.parse((await import("node:fs")).readFileSync(state, "utf8")).cdn;
		const body = JSON.stringify({ link_base: cdn });
		const r = await fetch(hub + "/_fake/config", { method: "POST", headers: { "Content-Type": "application/json" }, body });
		if (!r.ok) { console.error(`POST /_fake/config: ${r.status} ${await r.text()}`); process.exit(1); }
		console.log(`run-fidelity: set ${body}`);' "$HUB_URL" "$STATE" ||
		die "could not set link_base"
fi

# ---- the client
REPORT=$W/report.json
EXPECT_ARG=()
[ -z "$BREAK" ] || EXPECT_ARG=("--expect-fail=$EXPECT")
# In the background, so that a TERM from ctest runs the trap at once (bash delays traps until a
# foreground command ends); the output is shown when it is done.
(cd "$JSDIR" && exec_bounded 300 node fidelity.mjs --hub "$HUB_URL" --data "$DATA" --report "$REPORT" "${EXPECT_ARG[@]}") \
	>"$W/fidelity.out" 2>&1 &
CLIENT_PID=$!
fidelity_verdict fidelity.mjs

# ---- who carried Authorization to the CDN (the fake ran with --cdn-auth record)
"$PYTHON" - "$REPORT" "$LOG" <<'EOF' || exit 1
import json, sys
from urllib.parse import urlsplit

report = json.load(open(sys.argv[1]))
hub = urlsplit(report["hub"]).netloc
allowed = {}
for q in report["authToOtherHosts"]:
    u = urlsplit(q["url"])
    allowed[(q["method"], u.path, u.query, q["range"] or "")] = 0
bad = []
authed_cdn = 0
for line in open(sys.argv[2]):
    e = json.loads(line)
    if e.get("host") != "cdn" or not e.get("auth"):
        continue
    authed_cdn += 1
    key = (e.get("method"), e.get("path"), e.get("query") or "", e.get("range") or "")
    if key in allowed:
        allowed[key] += 1
    else:
        bad.append(key)


def verdict(problems, fail, ok):
    """One check: a FAIL line and the first problems, or the ok line. 1 if it failed."""
    if problems:
        print("FAIL cdn auth: " + fail)
        for k in problems[:10]:
            print("     ", k)
        return 1
    print("ok   cdn auth: " + ok)
    return 0


fails = verdict(bad, "requests that reached the CDN with Authorization although the client "
                "never sent them there itself (a redirect kept the token, or an unknown request):",
                f"the {authed_cdn} CDN request(s) with Authorization are all blob reads "
                "the client sent straight to a CDN URL with a token")
fails += verdict([k for k, n in allowed.items() if n == 0],
                 "the client sent these to the CDN with a token, but the fake's log "
                 "does not show them with auth: true:",
                 f"every one of the client's {len(allowed)} token-carrying CDN request(s) "
                 "is logged with auth: true")
sys.exit(1 if fails else 0)
EOF
exit 0
