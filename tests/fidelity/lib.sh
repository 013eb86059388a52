# shellcheck shell=bash
# lib.sh: what run-fidelity.sh and run-fidelity-py.sh share. They set HERE (their folder)
# and FIDELITY_NAME (the prefix of their messages), then source this.
#
#   FAKEHUB, DATA, WORKROOT  the defaults of --fakehub, --data and --workdir (the
#                            environment's FAKEHUB, FAKEHUB_DATA, HUBFS_TEST_TMP or TMPDIR)
#   BREAK, KEEP              --break and --keep: none by default
#   die, skip, say MESSAGE   a fatal error (exit 1), a skip (exit 77), a note
#   fidelity_options OPTION VAR "$@"
#                            the options both take (--fakehub, --data, --workdir, --break,
#                            --keep, --help) and the script's own OPTION, its value into VAR
#   fidelity_workdir NAME    the work dir W ($WORKROOT/NAME[-BREAK].XXXXXX), DATA in it unless
#                            given, and the EXIT trap: it ends the client, the fake Hub (and
#                            STATE_PID, the pid its state file names, when that differs) and
#                            the watchdog, and removes W unless the run failed or --keep
#   fidelity_data            DATA/manifest.json, generated once (genrepos.py beside FAKEHUB)
#   fidelity_start_fakehub   the fake Hub on free ports (SERVER_PID), its request log in LOG
#                            and its state file in STATE, with a watchdog for SIGKILL
#   fidelity_verdict CLIENT  waits for the client (CLIENT_PID, its output in W/fidelity.out)
#                            and shows its output. With --break: exit 0 only if it failed a
#                            check matching EXPECT, else 1. Without: exit 1 if it failed.

# shellcheck disable=SC2317  # cleanup runs from a trap

FAKEHUB=${FAKEHUB:-$HERE/../fakehub/fakehub.py}
DATA=${FAKEHUB_DATA:-}
WORKROOT=${HUBFS_TEST_TMP:-${TMPDIR:-/tmp}}
BREAK=
KEEP=0

die() { printf '%s: FATAL: %s\n' "$FIDELITY_NAME" "$*" >&2; exit 1; }
skip() { printf '%s: SKIP: %s\n' "$FIDELITY_NAME" "$*"; exit 77; }
say() { printf '%s: %s\n' "$FIDELITY_NAME" "$*"; }

fidelity_options() {
	local own=$1 var=$2
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--fakehub) FAKEHUB=${2:?}; shift 2 ;;
		--data) DATA=${2:?}; shift 2 ;;
		--workdir) WORKROOT=${2:?}; shift 2 ;;
		--break) BREAK=${2:?}; shift 2 ;;
		--keep) KEEP=1; shift ;;
		-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
		"$own") printf -v "$var" '%s' "${2:?}"; shift 2 ;;
		*) die "unknown argument: $1 (see --help)" ;;
		esac
	done
}

SERVER_PID=
STATE_PID=
WATCHDOG_PID=
CLIENT_PID=

cleanup() {
	local rc=$?
	if [ -n "$CLIENT_PID" ] && kill -0 "$CLIENT_PID" 2>/dev/null; then
		kill "$CLIENT_PID" 2>/dev/null
		wait "$CLIENT_PID" 2>/dev/null
		[ -f "$W/fidelity.out" ] && cat "$W/fidelity.out"
	fi
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill "$SERVER_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	# The state file names the server's own pid; end it too if it is another process.
	if [ -n "$STATE_PID" ] && [ "$STATE_PID" != "$SERVER_PID" ] && kill -0 "$STATE_PID" 2>/dev/null; then
		kill "$STATE_PID" 2>/dev/null
	fi
	if [ -n "$WATCHDOG_PID" ]; then
		kill "$WATCHDOG_PID" 2>/dev/null
		wait "$WATCHDOG_PID" 2>/dev/null
	fi
	if { [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; } && [ "$KEEP" -eq 0 ]; then
		rm -rf "$W"
	else
		say "kept the work dir: $W (server output $W/fakehub.stderr, request log $W/requests.jsonl, client output $W/fidelity.out)"
	fi
	exit "$rc"
}

fidelity_workdir() {
	mkdir -p "$WORKROOT" || die "cannot create $WORKROOT"
	W=$(mktemp -d "$WORKROOT/$1${BREAK:+-$BREAK}.XXXXXX") || die "mktemp failed"
	[ -n "$DATA" ] || DATA=$W/data
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

fidelity_data() {
	local gen
	[ -f "$DATA/manifest.json" ] && return 0
	gen=$(dirname "$FAKEHUB")/genrepos.py
	[ -f "$gen" ] || die "no $DATA/manifest.json and no generator at $gen"
	mkdir -p "$(dirname "$DATA")"
	say "generating $DATA"
	if command -v flock >/dev/null 2>&1; then
		flock "$DATA.lock" sh -c '[ -f "$2/manifest.json" ] || "$0" "$1" "$2"' "$PYTHON" "$gen" "$DATA" ||
			die "genrepos.py failed"
	else
		"$PYTHON" "$gen" "$DATA" || die "genrepos.py failed"
	fi
	[ -f "$DATA/manifest.json" ] || die "genrepos.py wrote no $DATA/manifest.json"
}

fidelity_start_fakehub() {
	STATE=$W/state.json
	LOG=$W/requests.jsonl
	"$PYTHON" "$FAKEHUB" --data "$DATA" --state-file "$STATE" --log "$LOG" \
		--cdn-auth record >"$W/fakehub.stderr" 2>&1 &
	SERVER_PID=$!
	# A watchdog ends the server should the script be killed without running its trap (SIGKILL).
	(
		trap - EXIT INT TERM
		exec 0</dev/null >/dev/null 2>&1
		while kill -0 $$ 2>/dev/null; do sleep 1; done
		kill "$SERVER_PID" 2>/dev/null
	) &
	WATCHDOG_PID=$!
	for _ in $(seq 200); do
		[ -s "$STATE" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || { sed 's/^/fakehub: /' "$W/fakehub.stderr" >&2; die "the fake Hub exited before it was ready"; }
		sleep 0.1
	done
	[ -s "$STATE" ] || { sed 's/^/fakehub: /' "$W/fakehub.stderr" >&2; die "the fake Hub wrote no state file in 20 s"; }
}

fidelity_verdict() {
	local rc
	wait "$CLIENT_PID"
	rc=$?
	CLIENT_PID=
	cat "$W/fidelity.out"
	if [ -n "$BREAK" ]; then
		if [ "$rc" -eq 0 ]; then
			say "broken fake ($BREAK) caught: $(grep -E "$EXPECT" "$W/fidelity.out" | head -n 1)"
			exit 0
		fi
		say "FAIL: with the fault $BREAK the client run should have failed a check matching /$EXPECT/"
		exit 1
	fi
	[ "$rc" -eq 0 ] || { say "FAIL: $1 exited $rc"; exit 1; }
}
