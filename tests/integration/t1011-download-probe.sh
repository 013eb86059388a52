#!/usr/bin/env bash
# hubfs download probes the link with its first transfer before it opens
# its window (hub/pace.h): behind a CDN 20 ms away the window opens to 16
# and more transfers run at once. A block already in the cache says nothing
# of the link: a download resumed over a file whose first blocks a mount
# stored opens to 16 too (before, the first block read from disk in a few
# ms made the link "near", and 2 transfers at a time crawled).
. "$HUBFS_TEST_LIB"
require_fuse
use_big_data
start_fakehub --latency-ms 20 --cdn-rate 32M
H=$HUBFS_BIN
REPO=hubfs-test/big-model
FILE=model.safetensors
WANT=$(manifest field model/$REPO $FILE sha256)

# download_peak CACHE: a download of the big file into CACHE; prints the
# window's peak from its report ("transfers at once: at most N")
download_peak() {
	"$H" download --cache-dir "$1" --local-dir "$T/local" $REPO --include $FILE \
		>/dev/null 2>"$T/err" || { cat "$T/err" >&2; die "the download failed"; }
	sed -n 's/.*transfers at once: at most \([0-9]*\) .*/\1/p' "$T/err"
}

# --- a download from nothing: the first transfer is slow, the window opens ---
fakehub_ctl DELETE log >/dev/null
peak=$(download_peak "$T/cache1")
expect_eq "$WANT" "$(sha256sum <"$T/local/$FILE" | cut -d' ' -f1)" "the download: the right bytes"
check "... its window opened past the probe's one transfer (at most $peak at once)" \
	test "$peak" -ge 16
check "... and so many ran at once ($(hub_peak host=cdn status=206))" \
	test "$(hub_peak host=cdn status=206)" -ge 8

# --- resumed over blocks a mount stored: they say nothing of the link ---
mount_hubfs --cache-dir "$T/cache2" -o max_streams=1
head -c $((8 << 20)) "$MNT/$REPO/$FILE" >/dev/null
unmount_hubfs || die "unmount failed"
# A read-ahead fetch cancelled by the unmount, whose first bytes a read
# was given, is no refusal of the content to shout about: nobody is left
# to read it (an error line at each such unmount before).
check "the unmount during read-ahead logged no refusal" \
	test "$(grep -c 'error: .*refused' "$HUBFS_LOG")" = 0
rm -rf "$T/local"
fakehub_ctl DELETE log >/dev/null
peak=$(download_peak "$T/cache2")
expect_eq "$WANT" "$(sha256sum <"$T/local/$FILE" | cut -d' ' -f1)" "resumed: the right bytes"
check "... the blocks found on disk did not make the link near (at most $peak at once)" \
	test "$peak" -ge 16
check "... it fetched only the blocks the mount had not ($(hub_count host=cdn status=206) of 50)" \
	test "$(hub_count host=cdn status=206)" -lt 50
check "no sanitizer report in the daemon's log" scan_logs "$HUBFS_LOG"
test_done
