#!/usr/bin/env bash
# Private and gated repos with and without a token; the token reaches the
# Hub's own host and never the CDN, and never a log.
. "$HUBFS_TEST_LIB"
start_fakehub
H=$HUBFS_BIN

# --- private ---
"$H" ls hubfs-test/private-model 2>"$T/err"
expect_eq 3 "$?" "private repo, anonymous: not found (exit 3), as huggingface_hub says"
check "... and the one-line message says how to log in" \
	sh -c 'test "$(wc -l <"$0")" = 1 && grep -q "not found, or private and you are not logged in (log in: set HF_TOKEN or pass --token-file)" "$0"' "$T/err"
HF_TOKEN=$BOB_TOKEN "$H" ls hubfs-test/private-model 2>"$T/err"
expect_eq 3 "$?" "private repo, a token without access: not found (exit 3)"
expect_eq "$(manifest files model/hubfs-test/private-model | wc -l)" \
	"$(HF_TOKEN=$ALICE_TOKEN "$H" ls -R hubfs-test/private-model | grep -vc '/$')" \
	"private repo with alice's token (HF_TOKEN) lists every file"
printf '%s\n' "$ALICE_TOKEN" >"$T/tok"
check "--token-file works" "$H" ls --token-file "$T/tok" hubfs-test/private-model
check "HF_TOKEN_PATH works" env HF_TOKEN_PATH="$T/tok" "$H" ls hubfs-test/private-model
mkdir -p "$HF_HOME" && cp "$T/tok" "$HF_HOME/token"
check "\$HF_HOME/token works" "$H" ls hubfs-test/private-model
rm "$HF_HOME/token"
HF_TOKEN=hf_not_a_real_token "$H" ls hubfs-test/tiny-model 2>"$T/err"
expect_eq 4 "$?" "an invalid token: exit 4"
check "... and the message says the token was refused" grep -q "refused the token" "$T/err"

# --- gated: metadata for everyone, content only with an approved token ---
check "gated repo: info works anonymously" "$H" info hubfs-test/gated-model
check "... and says it is gated" sh -c '"$0" info hubfs-test/gated-model | grep -q "^gated: *manual"' "$H"
want=$(manifest field model/hubfs-test/gated-model config.json sha256)
"$HUB_FETCH" hubfs-test/gated-model config.json >/dev/null 2>"$T/err"
expect_eq 1 "$?" "gated content, anonymous: refused"
check "... EACCES, with where to accept the terms" grep -q "EACCES.*accept its terms at $HUB_URL/hubfs-test/gated-model" "$T/err"
HF_TOKEN=$BOB_TOKEN "$HUB_FETCH" hubfs-test/gated-model config.json >/dev/null 2>"$T/err"
expect_eq 1 "$?" "gated content, token not approved: refused"
check "... EACCES, with where to ask for access" grep -q "EACCES.*ask for access" "$T/err"
lfs=$(manifest files model/hubfs-test/gated-model | while read -r f; do
	[ -n "$(manifest field model/hubfs-test/gated-model "$f" lfs_oid)" ] && echo "$f"; done | head -1)
expect_eq "$want" "$(HF_TOKEN=$ALICE_TOKEN "$HUB_FETCH" hubfs-test/gated-model config.json 2>/dev/null | sha256sum | cut -d' ' -f1)" \
	"gated git file with alice's token: the right bytes"
expect_eq "$(manifest field model/hubfs-test/gated-model "$lfs" sha256)" \
	"$(HF_TOKEN=$ALICE_TOKEN "$HUB_FETCH" hubfs-test/gated-model "$lfs" 2>/dev/null | sha256sum | cut -d' ' -f1)" \
	"gated LFS file '$lfs' with alice's token: the right bytes, via the CDN"

# --- where the token went ---
check "the CDN was used" test "$(hub_count host=cdn method=GET)" -gt 0
expect_eq 0 "$(hub_count host=cdn auth=true)" "zero requests carried the token to the CDN"
check "the Hub's own host got the token" test "$(hub_count host=hub auth=true)" -gt 0

# --- the token never appears in what hubfs prints, even at debug level ---
HF_TOKEN=$ALICE_TOKEN HUBFS_DEBUG=1 "$HUB_FETCH" hubfs-test/private-model config.json >/dev/null 2>"$T/debug"
HF_TOKEN=$ALICE_TOKEN "$H" ls --log-level debug hubfs-test/private-model >/dev/null 2>>"$T/debug"
check "debug logging happened" grep -q "GET " "$T/debug"
check "the token is not in any log line" sh -c '! grep -q "$0" "$1"' "$ALICE_TOKEN" "$T/debug"
test_done
