#!/usr/bin/env bash
# The corrupt-race soak, short: rounds of four whole-file readers at once,
# under a 12 MiB cap, against a CDN that flips one byte of a random big file
# each round (tests/soak/corrupt_race.py); one of them reads 4 MiB pieces in
# random order, the file's end last. Every reader must end with the
# published sha256 or EIO: never success with a wrong byte, never a hang.
# This soak found readers served wrong bytes (887-1,746 a minute, 2026-12-05)
# that every targeted test had missed. SOAK_SECONDS sets its length (30 s),
# SOAK_CAP the cap (12M), SOAK_SEED the seed: scripts/soak.sh runs it for
# minutes under several caps.
. "$HUBFS_TEST_LIB"
require_fuse
SECONDS_WANTED=${SOAK_SECONDS:-30}
CAP=${SOAK_CAP:-12M}
start_fakehub
mount_hubfs --endpoint "$HUB_URL" --cache-dir "$CACHE_DIR" --max-cache-size "$CAP" \
	--max-streams 4 --op-timeout 10
"$PYTHON" "$TEST_LIB_DIR/../soak/corrupt_race.py" --mount "$MNT" --hub "$HUB_URL" \
	--data "$FAKEHUB_DATA" --seconds "$SECONDS_WANTED" --seed "${SOAK_SEED:-$$}" \
	>"$T/counts" 2>"$T/soak.err"
rc=$?
say "$(cat "$T/counts")"
[ -s "$T/soak.err" ] && say "$(head -20 "$T/soak.err")"
count() { "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/counts" "$1"; }
expect_eq 0 "$rc" "$(count rounds) rounds under a $CAP cap: no reader ended with a wrong byte, none hung"
expect_eq 0 "$(count WRONG)" "... no wrong sha256"
expect_eq 0 "$(count HANG)" "... no reader still reading after 120 s"
# A reader of the round's victim gets EIO (its hash fails); a reader in
# order of another file only when the cap took a block its hash still
# needed. Readers in pieces are counted apart (pieces_ok, pieces_EIO).
check "... readers of the other files mostly read them right ($(count others_ok) ok, $(count others_EIO) EIO)" \
	test "$(count others_ok)" -gt $((2 * $(count others_EIO)))
corrupted=$(hub_count host=cdn fault=corrupt)
check "... the CDN did send flipped bytes ($corrupted answers)" test "$corrupted" -ge 1
check "... and hubfs caught them: a hash failed and was logged" \
	grep -q "sha256 mismatch\|refused" "$HUBFS_LOG"
unmount_hubfs
expect_eq 0 "$?" "the daemon exits cleanly"
test_done
