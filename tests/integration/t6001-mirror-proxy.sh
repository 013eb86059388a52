#!/usr/bin/env bash
# hubfs honours the proxy variables as libcurl does (docs/deploy.md): a real
# forward proxy (nginx) between hubfs and the fake Hub sees every request
# under http_proxy, none of the hosts in NO_PROXY, none under HTTP_PROXY
# (upper case: libcurl ignores it for http://); the token goes to the Hub's
# host only, never to the CDN, through the proxy or not.
. "$HUBFS_TEST_LIB"
# Only the proxies this test sets.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy NO_PROXY no_proxy
# Debian puts it in /usr/sbin, which a user's PATH may lack.
NGINX=$(command -v nginx || command -v /usr/sbin/nginx) ||
	skip_all "nginx is not installed (scripts/deps.sh)"
start_fakehub
H=$HUBFS_BIN
HUB_HOSTPORT=${HUB_URL#http://}
CDN_HOSTPORT=${CDN_URL#http://}

# --- nginx as a plain-HTTP forward proxy: absolute-form requests, logged ---
NGX=$T/proxy
mkdir -p "$NGX/tmp"
PORT=$("$PYTHON" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PROXY=http://127.0.0.1:$PORT
cat >"$NGX/nginx.conf" <<EOF
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 64; }
http {
	client_body_temp_path $NGX/tmp/body;
	proxy_temp_path $NGX/tmp/proxy;
	fastcgi_temp_path $NGX/tmp/fastcgi;
	uwsgi_temp_path $NGX/tmp/uwsgi;
	scgi_temp_path $NGX/tmp/scgi;
	map \$http_authorization \$has_auth { "" no; default yes; }
	log_format fwd '\$http_host \$request_method \$uri auth=\$has_auth \$status';
	access_log $NGX/access.log fwd;
	server {
		listen 127.0.0.1:$PORT;
		location / {
			proxy_pass http://\$http_host\$request_uri;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_buffering off;
		}
	}
}
EOF
"$NGINX" -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" -g 'daemon off;' >"$NGX/stderr" 2>&1 &
NGINX_PID=$!
# Stop it, then test-lib's cleanup with this script's exit status.
_proxy_cleanup() {
	local rc=$?
	kill "$NGINX_PID" 2>/dev/null
	wait "$NGINX_PID" 2>/dev/null
	(exit "$rc")
	_cleanup
}
trap _proxy_cleanup EXIT
wait_for 10 curl -s -o /dev/null --proxy "$PROXY" "$HUB_URL/api/models" ||
	die "the proxy did not start (see $NGX/error.log)"
# Both write a request's log line only after the answer went out, which
# can be after curl returned: wait for the readiness probe's lines before
# clearing the logs, or one lands in the counts below.
wait_for 5 grep -q /api/models "$NGX/access.log" || die "the proxy logged no request"
wait_for 5 eval 'test "$(hub_count path=/api/models)" -ge 1' || die "the fake Hub logged no request"
: >"$NGX/access.log"
# proxied HOSTPORT [auth=yes|auth=no]: lines of the proxy's log for that host
proxied() { awk -v h="$1" -v a="${2:-}" '$1 == h && (a == "" || $4 == a)' "$NGX/access.log" | wc -l; }
want() { manifest field "$1" "$2" sha256; }
got() { sha256sum <"$1" | cut -d' ' -f1; }
TINY=model/hubfs-test/tiny-model
PRIV=model/hubfs-test/private-model

# --- http_proxy: every request, the Hub's and the CDN's, goes through it ---
fakehub_ctl DELETE log >/dev/null
check "http_proxy: the download works" env http_proxy="$PROXY" "$H" download hubfs-test/tiny-model \
	--include config.json --include pytorch_model.bin --local-dir "$T/d1" --cache-dir "$T/c1" --quiet
expect_eq "$(want $TINY config.json) $(want $TINY pytorch_model.bin)" \
	"$(got "$T/d1/config.json") $(got "$T/d1/pytorch_model.bin")" "... and the files are right"
check "... the Hub's requests went through the proxy" test "$(proxied "$HUB_HOSTPORT")" -ge 1
check "... and the CDN's" test "$(proxied "$CDN_HOSTPORT")" -ge 1
# Both write a request's log line once the answer is sent: let them finish.
same_count() { [ "$(hub_count)" = "$(($(proxied "$HUB_HOSTPORT") + $(proxied "$CDN_HOSTPORT")))" ]; }
wait_for 5 same_count
expect_eq "$(hub_count)" "$(($(proxied "$HUB_HOSTPORT") + $(proxied "$CDN_HOSTPORT")))" \
	"... all of them: the fake Hub saw as many requests as the proxy"

# --- a token through the proxy: to the Hub's host only ---
: >"$NGX/access.log"
fakehub_ctl DELETE log >/dev/null
check "a token through the proxy: alice's private file" env http_proxy="$PROXY" HF_TOKEN="$ALICE_TOKEN" \
	"$H" download hubfs-test/private-model --include model.safetensors --local-dir "$T/d2" \
	--cache-dir "$T/c2" --quiet
expect_eq "$(want $PRIV model.safetensors)" "$(got "$T/d2/model.safetensors")" "... right"
check "... the token went to the Hub's host (through the proxy)" test "$(proxied "$HUB_HOSTPORT" auth=yes)" -ge 1
check "... the CDN's requests went through it too" test "$(proxied "$CDN_HOSTPORT")" -ge 1
expect_eq 0 "$(proxied "$CDN_HOSTPORT" auth=yes)" "... without the token"
expect_eq 0 "$(hub_count host=cdn auth=true)" "... as the CDN saw them"

# --- NO_PROXY: the CDN direct, the Hub through the proxy ---
for v in NO_PROXY no_proxy; do
	: >"$NGX/access.log"
	fakehub_ctl DELETE log >/dev/null
	check "$v=${CDN_HOSTPORT%:*}: the download works" env http_proxy="$PROXY" "$v=${CDN_HOSTPORT%:*}" \
		"$H" download hubfs-test/tiny-model --include config.json --include pytorch_model.bin \
		--local-dir "$T/d-$v" --cache-dir "$T/c-$v" --quiet
	expect_eq "$(want $TINY pytorch_model.bin)" "$(got "$T/d-$v/pytorch_model.bin")" "... right"
	expect_eq 0 "$(proxied "$CDN_HOSTPORT")" "... no CDN request through the proxy"
	check "... the CDN served it directly" test "$(hub_count host=cdn)" -ge 1
	check "... the Hub's requests still went through the proxy" test "$(proxied "$HUB_HOSTPORT")" -ge 1
done

# --- HTTP_PROXY in upper case: libcurl ignores it for http:// URLs ---
: >"$NGX/access.log"
check "HTTP_PROXY (upper case) alone: the download works" env HTTP_PROXY="$PROXY" "$H" download \
	hubfs-test/tiny-model --include config.json --local-dir "$T/d3" --cache-dir "$T/c3" --quiet
expect_eq 0 "$(wc -l <"$NGX/access.log")" "... and nothing went through the proxy, as libcurl does"

# --- a proxy that is down: a clear failure, in bounded time ---
start=$(now_cs)
HUBFS_MAX_RETRIES=1 http_proxy=http://127.0.0.1:1 "$H" ls hubfs-test/tiny-model >/dev/null 2>"$T/err"
check "a dead proxy: the command fails" test $? -ne 0
check "... within seconds" less_than_since "$start" 15
check "... and says it could not connect to the proxy's port" grep -q "port 1" "$T/err"
test_done
