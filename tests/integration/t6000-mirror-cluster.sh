#!/usr/bin/env bash
# The cluster tier: mounts behind nginx with contrib/nginx/hubfs-mirror.conf,
# in front of the fake Hub. Each byte comes from the origin once for the
# cluster; tokens never leak across the shared cache; with the mirror gone the
# mounts serve what they hold and fail in bounded time; the hostile-server
# faults still give EIO or the right bytes, never wrong ones; access lost on
# the Hub is lost through the mirror within the TTL; huggingface_hub downloads
# through it too; a Hub outage never serves an expired signed redirect.
. "$HUBFS_TEST_LIB"
# Only the proxies this test sets.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy NO_PROXY no_proxy
require_fuse
# Debian puts it in /usr/sbin, which a user's PATH may lack.
NGINX=$(command -v nginx || command -v /usr/sbin/nginx) ||
	skip_all "nginx is not installed (scripts/deps.sh)"
nginx_v=$("$NGINX" -V 2>&1)
for m in http_slice_module http_auth_request_module; do
	case $nginx_v in *"--with-$m"*) ;; *) skip_all "this nginx has no $m" ;; esac
done
TOP=$(cd "$TEST_LIB_DIR/../.." && pwd)

# --- the fake Hub with a 200 MiB big-model (generated once, then reused) ---
use_big_data
BIG=$((200 * 1048576))
start_fakehub
BIGKEY=model/hubfs-test/big-model
BIGSHA=$(manifest field $BIGKEY model.safetensors sha256)
PRIVKEY=model/hubfs-test/private-model
TINYKEY=model/hubfs-test/tiny-model

# --- nginx from the shipped template, on loopback, in the test's own dirs ---
NGINX_PID=
NGX=$T/nginx
MIRROR_CACHE=$NGX/cache
# As docs/deploy.md sets them up: the state (pid, logs) 0700, the workers'
# temp files in the cache's directory.
install -d -m 0700 "$NGX/state"
mkdir -p "$MIRROR_CACHE/tmp"
free_port() { "$PYTHON" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start_mirror() {
	NGINX_PID=
	for _ in 1 2 3; do
		"$NGINX" -p "$NGX/state" -c "$NGX/nginx.conf" -e "$NGX/state/error.log" \
			-g 'daemon off;' >>"$NGX/stderr" 2>&1 &
		NGINX_PID=$!
		if wait_for 10 curl -s -o /dev/null "$MIRROR/_mirror_up"; then
			return 0
		fi
		kill "$NGINX_PID" 2>/dev/null
		wait "$NGINX_PID" 2>/dev/null
		NGINX_PID=
	done
	return 1
}
stop_mirror() {
	[ -n "$NGINX_PID" ] || return 0
	kill -TERM "$NGINX_PID" 2>/dev/null
	wait "$NGINX_PID" 2>/dev/null
	NGINX_PID=
}
PORT=$(free_port)
MIRROR=http://127.0.0.1:$PORT
CDN_PORT=$(free_port)
CDNSIDE=http://127.0.0.1:$CDN_PORT
CDN_HOSTS=$(printf '%s' "${CDN_URL#http://}" | sed 's/[.]/\\./g')
sed -e "s|@USER@|$(id -un)|g; s|@LISTEN@|127.0.0.1:$PORT|g; s|@HUB@|$HUB_URL|g" \
	-e "s|@CDN_LISTEN@|127.0.0.1:$CDN_PORT|g" \
	-e "s|@CDN_SCHEME@|http|g; s|@CDN_HOSTS@|$CDN_HOSTS|g; s|@RESOLVER@|127.0.0.1|g" \
	-e "s|@STATE@|$NGX/state|g; s|@CACHE@|$MIRROR_CACHE|g; s|@CDN_MAX@|1g|g" \
	-e "s|@API_MAX@|100m|g; s|@BRANCH_TTL@|2s|g" \
	"$TOP/contrib/nginx/hubfs-mirror.conf" >"$NGX/nginx.conf"
check "the template has no @NAME@ left once filled" sh -c '! grep -v "^[[:space:]]*#" "$0" | grep -q "@[A-Z_]*@"' "$NGX/nginx.conf"
check "nginx's temp files are not in the state directory (the workers cannot enter it)" \
	sh -c '! grep -q "_temp_path $1/" "$0"' "$NGX/nginx.conf" "$NGX/state"
start_mirror || die "nginx did not start (see $NGX/state/error.log, $NGX/stderr)"
expect_eq 700 "$(stat -c %a "$NGX/state")" \
	"the state directory is 0700: its error log can name signed CDN URLs"
export HF_ENDPOINT=$MIRROR

# --- mounts of our own: MNTS[i], PIDS[i], logs in $T/hubfs-i.log ---
MNTS=()
PIDS=()
is_mounted_at() { grep -q " $1 fuse" /proc/mounts; }
# mount_at NAME [hubfs mount options...]: its own mountpoint and cache
mount_at() {
	local name=$1 i=${#MNTS[@]}
	shift
	mkdir -p "$T/mnt-$name" "$T/cache-$name"
	"$HUBFS_BIN" mount -f "$T/mnt-$name" --cache-dir "$T/cache-$name" "$@" \
		>>"$T/hubfs-$name.log" 2>&1 &
	PIDS[i]=$!
	MNTS[i]=$T/mnt-$name
	wait_for 20 is_mounted_at "$T/mnt-$name" || die "hubfs did not mount $name (see $T/hubfs-$name.log)"
}
umount_all() {
	local i rc=0
	for i in "${!MNTS[@]}"; do
		[ -n "${PIDS[i]}" ] || continue
		fusermount3 -u "${MNTS[i]}" || rc=1
		wait "${PIDS[i]}" || rc=1
		PIDS[i]=
	done
	return "$rc"
}
_mirror_cleanup() {
	local rc=$? i
	for i in "${!MNTS[@]}"; do
		if is_mounted_at "${MNTS[i]}"; then fusermount3 -u -z "${MNTS[i]}" 2>/dev/null; fi
		if [ -n "${PIDS[i]}" ]; then
			kill "${PIDS[i]}" 2>/dev/null
			wait "${PIDS[i]}" 2>/dev/null
		fi
	done
	stop_mirror
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] || [ "$_failures" -ne 0 ]; then
		for f in "$NGX/state/error.log" "$T"/hubfs-*.log; do
			[ -s "$f" ] && { printf '# --- tail of %s\n' "$f"; tail -n 15 "$f"; }
		done
	fi
	(exit "$rc")
	_cleanup
}
trap _mirror_cleanup EXIT

# read_file PATH: the sha256 of what a full read returned, or the errno name
read_file() { "$PYTHON" -c 'import errno,hashlib,sys
try:
    print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())
except OSError as e:
    print(errno.errorcode[e.errno])' "$1"; }
cdn_bytes() { hub_sum bytes host=cdn; }
# mirror_get URL [curl options...]: "STATUS MIRROR-CACHE-STATUS"
mirror_get() {
	local url=$1
	shift
	curl -sS --max-time 20 -o "$T/body" -D "$T/headers" "$@" "$url" >/dev/null
	printf '%s %s\n' "$(awk 'NR==1 {print $2}' "$T/headers")" \
		"$(tr -d '\r' <"$T/headers" | awk -F': ' 'tolower($1)=="x-hubfs-mirror" {print $2}')"
}
location_of() { tr -d '\r' <"$T/headers" | awk -F': ' 'tolower($1)=="location" {print $2}'; }

# ======== three mounts, separate caches, the same 200 MiB file at once ========
export HUBFS_MAX_RETRIES=2
for n in 1 2 3 4; do mount_at "node$n" --op-timeout 10; done
fakehub_ctl DELETE log >/dev/null
t0=$(now_cs)
readers=()
for n in 1 2 3; do
	read_file "$T/mnt-node$n/hubfs-test/big-model/model.safetensors" >"$T/sum-$n" &
	readers+=($!)
done
wait "${readers[@]}"
t_three=$(secs_since "$t0")
for n in 1 2 3; do
	expect_eq "$BIGSHA" "$(cat "$T/sum-$n")" "node$n read the 200 MiB file right, three at once"
done
# The fake Hub logs a request once its answer is sent: let the last lines land.
origin_has_all() { [ "$(cdn_bytes)" -ge "$BIG" ]; }
wait_for 5 origin_has_all
origin=$(cdn_bytes)
ratio=$(echo "scale=3; $origin / $BIG" | bc)
say "three nodes: $origin bytes from the origin CDN for a $BIG-byte file (x$ratio), $t_three s"
check "... the origin sent at most 1.05x the file (x$ratio)" \
	test "$(echo "$origin <= $BIG * 1.05" | bc)" = 1
check "... at least the file once (the log counts)" test "$origin" -ge "$BIG"
expect_eq 0 "$(hub_count host=cdn auth=true)" "... no request to the CDN carried a token"
expect_eq 0 "$(hub_count host=cdn method=GET status=200)" "... every CDN GET was a slice (206)"
# unaligned SIZE: the nodes' reads of /cdn/ (the mirror's access log) that were
# not whole 4 MiB blocks, aligned as the mirror's slices are
unaligned() { awk -v size="$1" '$2 == "GET" && $3 ~ /^\/cdn\// {
	r = $4; gsub(/"|bytes=/, "", r); split(r, a, "-")
	if (r == "-" || a[1] % 4194304 || ((a[2] + 1) % 4194304 && a[2] + 1 != size)) print }' \
	"$NGX/state/access.log"; }
check "... the nodes asked the mirror for byte ranges" grep -q '/cdn/.*"bytes=' "$NGX/state/access.log"
expect_eq "" "$(unaligned $BIG)" "... each a run of whole 4 MiB blocks: slices map 1:1, nothing is overfetched"

# ======== a fourth node, later: nothing from the origin ========
fakehub_ctl DELETE log >/dev/null
t0=$(now_cs)
expect_eq "$BIGSHA" "$(read_file "$T/mnt-node4/hubfs-test/big-model/model.safetensors")" \
	"node4, later, reads the file right"
t_fourth=$(secs_since "$t0")
expect_eq 0 "$(cdn_bytes)" "... with 0 bytes from the origin CDN"
say "node4: 0 bytes from the origin, $t_fourth s; $(hub_count host=cdn method=HEAD) signature checks (HEAD, 0 bytes), $(hub_count host=hub) Hub requests"

# ======== branches and commit shas: the same short TTL ========
REVMAIN=$MIRROR/api/models/hubfs-test/tiny-model/revision/main
OLD=$(manifest commit $TINYKEY)
SPARE=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]+"/manifest.json"))["repos"][sys.argv[2]]["spare"]["main"])' "$FAKEHUB_DATA" $TINYKEY)
mirror_get "$REVMAIN" >/dev/null
expect_eq "200 HIT" "$(mirror_get "$REVMAIN")" "revision/main: cached"
expect_eq "200 MISS" "$(mirror_get "$REVMAIN" -H 'Accept: application/vnd.xet-fileinfo+json')" \
	"... another Accept is another answer (the Hub answers some by Accept)"
mirror_get "$MIRROR/api/models/hubfs-test/tiny-model/revision/$OLD" >/dev/null
fakehub_ctl POST refs "{\"repo\": \"$TINYKEY\", \"branch\": \"main\", \"commit\": \"$SPARE\"}" >/dev/null
mirror_get "$REVMAIN" >/dev/null
check "... the Hub moves main; within the branch TTL the mirror still says the old head" \
	grep -q "\"sha\": *\"$OLD\"" "$T/body"
sleep 3.1
mirror_get "$REVMAIN" >/dev/null
check "... after the branch TTL (2 s) it says the new head" grep -q "\"sha\": *\"$SPARE\"" "$T/body"
r=$(mirror_get "$MIRROR/api/models/hubfs-test/tiny-model/revision/$OLD")
check "revision/<sha>: after the TTL the mirror asks the Hub again ($r)" \
	test "$r" = "200 EXPIRED" -o "$r" = "200 REVALIDATED"
fakehub_ctl POST refs "{\"repo\": \"$TINYKEY\", \"branch\": \"main\", \"commit\": \"$OLD\"}" >/dev/null

# ======== next-page links name the mirror ========
fakehub_ctl DELETE log >/dev/null
"$HUBFS_BIN" ls -R datasets/hubfs-test/big-dataset >"$T/ls.out" 2>"$T/ls.err"
expect_eq 0 "$?" "ls -R of the 3,000-file dataset through the mirror succeeds"
manifest entries dataset/hubfs-test/big-dataset |
	awk -F'\t' '{ print $1 ($2 == "dir" ? "/" : "") }' | sort >"$T/want"
check "... every file and folder, once" cmp -s "$T/want" <(sort "$T/ls.out")
check "... its pages followed the Link cursor, which named the mirror" \
	test "$(hub_count 'path~/api/datasets/hubfs-test/big-dataset/tree/*' 'query~*cursor=*')" -ge 2

# ======== access lost on the Hub is lost through the mirror ========
# A commit never changes, but who may read it does: a repo made private, or
# disabled by the Hub (a takedown: 403 even to its owner).
SPACE=space/hubfs-test/demo-space
SSHA=$(manifest commit $SPACE)
SAPI=$MIRROR/api/spaces/hubfs-test/demo-space
mirror_get "$MIRROR/spaces/hubfs-test/demo-space/resolve/$SSHA/app.py" >/dev/null
SRC=$MIRROR$(location_of)
check "a git file of a space by its sha: a redirect to resolve-cache" \
	test "${SRC#"$MIRROR/api/resolve-cache/"}" != "$SRC"
for u in "$SAPI/revision/$SSHA" "$SAPI/tree/$SSHA" "$SRC"; do
	mirror_get "$u" >/dev/null
	expect_eq "200 HIT" "$(mirror_get "$u")" "anonymous, cached: ${u#"$MIRROR"}"
done
check "... the git file's bytes" cmp -s "$T/body" "$(manifest blob $SPACE app.py)"
fakehub_ctl POST repo "{\"repo\": \"$SPACE\", \"private\": true}" >/dev/null
sleep 3.1	# nginx counts the TTL in whole seconds
for u in "$SAPI/revision/$SSHA" "$SAPI/tree/$SSHA" "$SRC" \
	"$MIRROR/spaces/hubfs-test/demo-space/resolve/$SSHA/app.py"; do
	expect_eq 401 "$(mirror_get "$u" | cut -d' ' -f1)" \
		"made private, after the TTL (2 s), anonymous: 401 for ${u#"$MIRROR"}"
done
fakehub_ctl POST repo "{\"repo\": \"$SPACE\", \"private\": false, \"disabled\": true}" >/dev/null
for u in "$SAPI/revision/$SSHA" "$SAPI/tree/$SSHA" "$SRC"; do
	expect_eq 403 "$(mirror_get "$u" | cut -d' ' -f1)" "disabled (a takedown): 403 for ${u#"$MIRROR"}"
done
fakehub_ctl POST repo "{\"repo\": \"$SPACE\", \"disabled\": false}" >/dev/null
fakehub_ctl DELETE log >/dev/null
expect_eq "200 REVALIDATED" "$(mirror_get "$SRC")" "public again: the git file, revalidated"
check "... by a conditional request the Hub answered 304, without the body" \
	test "$(hub_count host=hub status=304 'path~/api/resolve-cache/*')" -eq 1

# ======== tokens: alice's private file never reaches bob or no token ========
printf '%s\n' "$ALICE_TOKEN" >"$T/alice.tok"
printf '%s\n' "$BOB_TOKEN" >"$T/bob.tok"
mount_at alice --token-file "$T/alice.tok" --op-timeout 10
mount_at bob --token-file "$T/bob.tok" --op-timeout 10
PRIVSHA=$(manifest field $PRIVKEY model.safetensors sha256)
fakehub_ctl DELETE log >/dev/null
ALOG=$(wc -l <"$NGX/state/access.log")
expect_eq "$PRIVSHA" "$(read_file "$T/mnt-alice/hubfs-test/private-model/model.safetensors")" \
	"alice reads her private LFS file through the mirror"
expect_eq "$(manifest field $PRIVKEY config.json sha256)" \
	"$(read_file "$T/mnt-alice/hubfs-test/private-model/config.json")" "... and a git file of it"
check "... her requests reached the Hub with her token" test "$(hub_count host=hub auth=true 'path~*private-model*')" -ge 2
check "... its object is now in the mirror's slice cache" \
	grep -rqa "^KEY: .*/repos/../../$PRIVSHA bytes=0-" "$MIRROR_CACHE/cdn"
expect_eq "" "$(grep -rla 'private-model' "$MIRROR_CACHE/api" 2>/dev/null)" \
	"... but no answer given to a token is stored in the mirror's API cache"
expect_eq "" "$(grep -rla -e "$ALICE_TOKEN" -e "$BOB_TOKEN" "$MIRROR_CACHE" "$NGX/state" 2>/dev/null)" \
	"... and no token is written in the mirror's cache or logs"
for who in bob node4; do
	expect_eq ENOENT "$(read_file "$T/mnt-$who/hubfs-test/private-model/model.safetensors")" \
		"$who (mount): the private file does not exist"
done
check "... bob's request reached the Hub with his token, and got 404" \
	test "$(hub_count host=hub auth=true status=404 'path~*private-model*')" -ge 1
check "... the anonymous one reached the Hub and got 401" \
	test "$(hub_count host=hub auth=false status=401 'path~*private-model*')" -ge 1
# A node with a token: the bytes from the mirror too, and one resolve per file
fakehub_ctl DELETE log >/dev/null
expect_eq "$BIGSHA" "$(read_file "$T/mnt-alice/hubfs-test/big-model/model.safetensors")" \
	"alice's mount (a token) reads the 200 MiB file right"
expect_eq 0 "$(cdn_bytes)" "... with 0 bytes from the origin CDN"
expect_eq 1 "$(hub_count host=hub auth=true 'path~/hubfs-test/big-model/resolve/*')" \
	"... and one resolve at the Hub for its 50 blocks (hubfs keeps the mirror's signed URL)"
# new_cdn_lines FROM: the mirror's /cdn/ lines after line FROM of its access log
new_cdn_lines() { tail -n +"$(($1 + 1))" "$NGX/state/access.log" | awk '$3 ~ /^\/cdn\//'; }
check "... alice's mount fetched its files from the mirror's CDN side" \
	test "$(new_cdn_lines "$ALOG" | wc -l)" -ge 2
expect_eq "" "$(new_cdn_lines "$ALOG" | grep -v ' creds=0$')" \
	"... and sent its token with none of them (another origin)"
# The same through the mirror by hand, for every door.
RES=$MIRROR/hubfs-test/private-model/resolve/main/model.safetensors
expect_eq "302 BYPASS" "$(mirror_get "$RES" -H "Authorization: Bearer $ALICE_TOKEN")" \
	"resolve with alice's token: a redirect, never from the cache"
SIGNED=$(location_of)
check "... to the mirror's CDN side, another port" test "${SIGNED#"$CDNSIDE/cdn/"}" != "$SIGNED"
expect_eq "404 BYPASS" "$(mirror_get "$RES" -H "Authorization: Bearer $BOB_TOKEN")" "resolve with bob's token: 404"
expect_eq "401 MISS" "$(mirror_get "$RES")" "resolve without a token: 401"
expect_eq "401 MISS" "$(mirror_get "$MIRROR/api/models/hubfs-test/private-model/revision/main")" \
	"repo info without a token: 401"
OBJ=${SIGNED%%\?*}
QUERY=${SIGNED#*\?}
expect_eq "403 " "$(mirror_get "$OBJ" -r 0-99)" "the cached object without a signature: 403"
expect_eq "403 " "$(mirror_get "$OBJ" -r 0-99 -H "Authorization: Bearer $BOB_TOKEN")" \
	"... with bob's token and no signature: 403"
expect_eq "403 " "$(mirror_get "$OBJ" -r 0-99 -H "Authorization: Bearer $ALICE_TOKEN")" \
	"... even alice's token is no signature: 403"
FORGED=$(printf '%s' "$SIGNED" | sed -E 's/Signature=[0-9a-f]/Signature=x/')
expect_eq "403 " "$(mirror_get "$FORGED" -r 0-99)" "... a forged signature: 403"
# The parameter named Expires, not X-Amz-Expires (the signed URL has both).
OLDQ=$(printf '%s' "$QUERY" | sed -E 's/(^|&)Expires=[0-9]+/\1Expires=1700000000/')
expect_eq "403 " "$(mirror_get "$OBJ?$OLDQ" -r 0-99)" "... another Expires under that signature: 403"
mirror_get "$MIRROR/hubfs-test/big-model/resolve/main/model.safetensors" >/dev/null
PUBQ=$(location_of)
PUBQ=${PUBQ#*\?}
expect_eq "403 " "$(mirror_get "$OBJ?$PUBQ" -r 0-99)" "... the valid signature of a public object: 403"
expect_eq "206 HIT" "$(mirror_get "$SIGNED" -r 0-99)" "... the signed URL the Hub gave alice: served from the cache"
check "... and it is the file's first bytes" cmp -s "$T/body" <(head -c 100 "$(manifest blob $PRIVKEY model.safetensors)")
# gated: the same doors; bob is not approved, alice is
GATED=$MIRROR/hubfs-test/gated-model/resolve/main/model.safetensors
expect_eq "302 BYPASS" "$(mirror_get "$GATED" -H "Authorization: Bearer $ALICE_TOKEN")" \
	"gated, resolve with alice's token (approved): a redirect, never from the cache"
GSIGNED=$(location_of)
expect_eq "206 MISS" "$(mirror_get "$GSIGNED" -r 0-99)" "... her signed URL: the object, now cached"
expect_eq "403 BYPASS" "$(mirror_get "$GATED" -H "Authorization: Bearer $BOB_TOKEN")" "gated, bob's token (not approved): 403"
expect_eq "401 MISS" "$(mirror_get "$GATED")" "gated, no token: 401"
expect_eq "403 " "$(mirror_get "${GSIGNED%%\?*}" -r 0-99)" "... the cached gated object without a signature: 403"
expect_eq EACCES "$(read_file "$T/mnt-bob/hubfs-test/gated-model/model.safetensors")" \
	"bob (mount): the gated file is EACCES"
expect_eq "404 " "$(mirror_get "$CDNSIDE/cdn/example.org/repos/aa/bb/cc" -r 0-9)" \
	"a CDN host the mirror does not serve: 404 (not an open proxy)"
expect_eq "404 " "$(mirror_get "$CDNSIDE/api/models/hubfs-test/tiny-model")" "the CDN side serves no API: 404"
expect_eq "308 $SIGNED" "$(mirror_get "${SIGNED/#"$CDNSIDE"/"$MIRROR"}" -r 0-99 | cut -d' ' -f1) $(location_of)" \
	"/cdn/ on the Hub's side (a URL from before): a redirect to the CDN side"

# ======== huggingface_hub downloads through the mirror ========
# It stops at a redirect to another origin and reads the file's headers from
# it (X-Repo-Commit, X-Linked-Size, X-Linked-Etag): the CDN side must be one.
if [ -x "${HUBFS_VENV_PYTHON:-}" ]; then
	hf_get() { # REPO FILE [TOKEN]: the sha256 of what hf_hub_download gave, or its error
		env HF_HUB_CACHE="$T/hf-hub" HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_XET=1 \
			HF_TOKEN="${3:-}" HF_HUB_DISABLE_IMPLICIT_TOKEN=1 HF_HOME="$T/hf-home" \
			"$HUBFS_VENV_PYTHON" -c 'import hashlib, sys
from huggingface_hub import hf_hub_download
try:
    p = hf_hub_download(sys.argv[1], sys.argv[2], token=sys.argv[3] or False)
    print(hashlib.sha256(open(p, "rb").read()).hexdigest())
except Exception as e:
    print(type(e).__name__, str(e).splitlines()[0])' "$1" "$2" "${3:-}" 2>>"$T/hf.err"
	}
	HLOG=$(wc -l <"$NGX/state/access.log")
	expect_eq "$(manifest field model/legacy-model pytorch_model.bin sha256)" \
		"$(hf_get legacy-model pytorch_model.bin)" \
		"huggingface_hub: hf_hub_download of an LFS file through the mirror"
	expect_eq "$PRIVSHA" "$(hf_get hubfs-test/private-model model.safetensors "$ALICE_TOKEN")" \
		"... of alice's private LFS file, with her token"
	check "... its bytes came from the mirror's CDN side" test "$(new_cdn_lines "$HLOG" | wc -l)" -ge 2
	expect_eq "" "$(new_cdn_lines "$HLOG" | grep -v ' creds=0$')" "... which got no token"
else
	say "skipped the huggingface_hub checks: no $HUBFS_VENV_PYTHON (scripts/deps.sh --tests)"
fi

# ======== the hostile-server faults, through the mirror ========
R=$T/mnt-node4/hubfs-test/tiny-model
want() { manifest field $TINYKEY "$1" sha256; }
ls "$R" >/dev/null
fakehub_ctl DELETE log >/dev/null
mount_at node5 --op-timeout 10
# one flipped byte from the CDN: the mirror caches it, hubfs refuses it
fault '{"kind": "corrupt", "host": "cdn", "method": "GET", "glob": "/repos/*", "count": 1}'
expect_eq EIO "$(read_file "$R/pytorch_model.bin")" "a corrupt byte from the CDN: EIO, not the byte"
check "... the fault did happen" test "$(hub_count host=cdn 'fault~corrupt*')" -eq 1
check "... logged as a sha256 mismatch" grep -q "pytorch_model.bin: refused: the content's sha256 is" "$T/hubfs-node4.log"
expect_eq EIO "$(read_file "$R/pytorch_model.bin")" \
	"... the mirror keeps the corrupt slice: EIO again, never the wrong byte"
# repair: a holder of a valid signed URL fetches it again with no-cache
mirror_get "$MIRROR/hubfs-test/tiny-model/resolve/main/pytorch_model.bin" >/dev/null
gets=$(hub_count host=cdn method=GET)
expect_eq "200 BYPASS" "$(mirror_get "$(location_of)" -H 'Cache-Control: no-cache')" \
	"... 'Cache-Control: no-cache' with a signed URL fetches it again"
expect_eq 2 "$(($(hub_count host=cdn method=GET) - gets))" "... both of its slices, from the origin"
expect_eq "$(want pytorch_model.bin)" "$(read_file "$T/mnt-node5/hubfs-test/tiny-model/pytorch_model.bin")" \
	"... and another node reads it right"
# a body cut short: nginx does not keep it, hubfs resumes
fault '{"kind": "reset", "after_bytes": 1000000, "host": "cdn", "method": "GET", "glob": "/repos/*", "count": 1}'
expect_eq "$(want extra/weights.dat)" "$(read_file "$R/extra/weights.dat")" "a reset mid-slice: the right bytes"
fault '{"kind": "wrong_length", "delta": 1000, "host": "cdn", "method": "GET", "glob": "/repos/*", "count": 1}'
expect_eq "$(want model.safetensors)" "$(read_file "$R/model.safetensors")" "a wrong Content-Length: the right bytes"
SHARD=model-00001-of-00003.safetensors
fault '{"kind": "stall", "after_bytes": 100000, "seconds": 3, "host": "cdn", "method": "GET", "glob": "/repos/*", "count": 1}'
t0=$(now_cs)
expect_eq "$(manifest field model/hubfs-test/sharded-model $SHARD sha256)" \
	"$(read_file "$T/mnt-node4/hubfs-test/sharded-model/$SHARD")" "a 3 s stall mid-slice: the right bytes"
check "... within the op timeout" test "$(echo "$(secs_since "$t0") < 10" | bc)" = 1
for k in reset wrong_length stall; do
	expect_eq 1 "$(hub_count host=cdn fault=$k)" "... the $k fault did happen, once"
done
for f in extra/weights.dat model.safetensors; do
	expect_eq "$(want $f)" "$(read_file "$T/mnt-node5/hubfs-test/tiny-model/$f")" \
		"node5: $f from the mirror's cache is right (nothing cut short was kept)"
done
expect_eq "$(manifest field model/hubfs-test/sharded-model $SHARD sha256)" \
	"$(read_file "$T/mnt-node5/hubfs-test/sharded-model/$SHARD")" "node5: so is the shard that stalled"
# a 200 where a slice (206) was asked: passed on once, never kept as a slice
for k in lfs_pointer ignore_range; do
	case $k in
	lfs_pointer) f=model-00002-of-00003.safetensors ;;
	ignore_range) f=model-00003-of-00003.safetensors ;;
	esac
	w=$(manifest field model/hubfs-test/sharded-model $f sha256)
	fault "{\"kind\": \"$k\", \"host\": \"cdn\", \"method\": \"GET\", \"glob\": \"/repos/*\", \"count\": 1}"
	r=$(read_file "$T/mnt-node4/hubfs-test/sharded-model/$f")
	check "a $k fault (a 200, not a slice): node4 gets the right bytes or EIO ($r)" test "$r" = "$w" -o "$r" = EIO
	expect_eq 1 "$(hub_count host=cdn fault=$k)" "... the $k fault did happen, once"
	expect_eq "$w" "$(read_file "$T/mnt-node5/hubfs-test/sharded-model/$f")" \
		"... node5 then reads it right: the mirror did not keep the 200 as a slice"
done
expect_eq "" "$(grep -rlaE '^HTTP/1\.[01] [^2]|^HTTP/1\.[01] 20[^6]' "$MIRROR_CACHE/cdn")" \
	"the mirror's slice cache holds 206 answers only"
fakehub_ctl DELETE faults >/dev/null

# ======== the Hub down, the mirror up: never an expired signed redirect ========
LEGF=model.safetensors
LEGSHA=$(manifest field model/legacy-model $LEGF sha256)
LEGRES=$MIRROR/legacy-model/resolve/main/$LEGF
LEGAPI=$MIRROR/api/models/legacy-model/revision/main
# Signed URLs that expire in 3 s. The mirror holds the file's resolve
# redirects (by branch, and by commit sha as hubfs asks) and the repo's API
# answers; node4 lists the repo but reads nothing of it.
fakehub_ctl POST config '{"url_ttl": 3}' >/dev/null
ls "$T/mnt-node4/legacy-model@main" >/dev/null
mirror_get "$LEGRES" >/dev/null
mirror_get "$MIRROR/legacy-model/resolve/$(manifest commit model/legacy-model)/$LEGF" >/dev/null
mirror_get "$LEGAPI" >/dev/null
sleep 4	# past the TTL (2 s, in whole seconds) and the signature's 3 s
fault '{"kind": "status", "code": 503, "host": "hub", "glob": "*", "count": -1}'
expect_eq "200 STALE" "$(mirror_get "$LEGAPI")" "the Hub answers 503: the mirror serves its API answers stale"
r=$(mirror_get "$LEGRES")
expect_eq 503 "${r%% *}" "... but not a resolve: the Hub's 503, not a redirect whose signature expired ($r)"
expect_eq EIO "$(read_file "$T/mnt-node4/legacy-model@main/$LEGF")" \
	"... node4 reads the public file it never read: EIO for the outage, not EACCES"
fakehub_ctl DELETE faults >/dev/null
fakehub_ctl POST config '{"url_ttl": 3600}' >/dev/null
expect_eq "$LEGSHA" "$(read_file "$T/mnt-node4/legacy-model@main/$LEGF")" "... and right once the Hub is back"

# ======== the mirror goes away ========
stop_mirror
t0=$(now_cs)
for n in 1 2 3; do
	expect_eq "$BIGSHA" "$(read_file "$T/mnt-node$n/hubfs-test/big-model/model.safetensors")" \
		"mirror down: node$n serves the file it cached"
done
expect_eq "$PRIVSHA" "$(read_file "$T/mnt-alice/hubfs-test/private-model/model.safetensors")" \
	"mirror down: alice's mount serves her cached private file"
t_cached=$(secs_since "$t0")
t0=$(now_cs)
expect_eq EIO "$(read_file "$T/mnt-node1/hubfs-test/tiny-model/config.json")" \
	"mirror down: a file node1 never read is EIO"
r=$(read_file "$T/mnt-node2/hubfs-test/sharded-model/config.json")
check "mirror down: a repo node2 never listed is ENOENT or EIO ($r)" test "$r" = ENOENT -o "$r" = EIO
t_fail=$(secs_since "$t0")
check "... both within the op timeout (10 s each): $t_fail s" test "$(echo "$t_fail < 20" | bc)" = 1
say "mirror down: cached reads in $t_cached s, uncached failures in $t_fail s"

umount_all
expect_eq 0 "$?" "every daemon exits 0"
for f in "$T"/hubfs-*.log; do
	check "no sanitizer report in $(basename "$f")" scan_logs "$f"
done
check "no token in any daemon log" sh -c '! grep -q -e "$1" -e "$2" "$0"/hubfs-*.log' "$T" "$ALICE_TOKEN" "$BOB_TOKEN"
test_done
