#!/usr/bin/env bash
# hubfs ls ORG lists exactly the namespace's repos the caller may see (the
# 1,201 of bulk-org in two requests of 1,000, private ones only with a token
# that reads them), follows no next-page link off the Hub's origin, and
# reports a mistyped repo as not found (exit 3, how to log in) and gated
# content as an access problem (how to get access).
. "$HUBFS_TEST_LIB"
start_fakehub
H=$HUBFS_BIN

# ids ARGS...: what `hubfs ls` printed, without the markers, sorted.
ids() { sed 's/  (.*$//' "$1" | sort; }

# --- anonymous: every public and gated repo of bulk-org, none private ---
"$H" ls bulk-org >"$T/anon" 2>"$T/err"
expect_eq 0 "$?" "ls bulk-org succeeds anonymously"
manifest repos model bulk-org anonymous >"$T/want-anon"
expect_eq 1201 "$(wc -l <"$T/want-anon")" "the manifest has 1,200 public models and a gated one in bulk-org"
check "ls bulk-org prints exactly the manifest's public repos" cmp -s "$T/want-anon" <(ids "$T/anon")
check "... each once" test "$(sort -u "$T/anon" | wc -l)" = 1201
check "... in the Hub's order" cmp -s "$T/anon" <(sort "$T/anon")
check "the gated repo is marked" grep -qx 'bulk-org/gated-model  (gated: auto)' "$T/anon"
check "no private repo is listed" sh -c '! grep -q private "$0"' "$T/anon"
expect_eq 2 "$(hub_count host=hub path=/api/models)" "1,201 repos took 2 list requests (1,000 a page)"
expect_eq 1 "$(hub_count host=hub path=/api/models 'query~*&cursor=*')" \
	"... the second one followed the Link cursor"
expect_eq 2 "$(hub_count host=hub path=/api/models 'query~author=bulk-org&limit=1000&expand=private&expand=gated&expand=sha&expand=lastModified*')" \
	"... asking only for the fields a listing shows, 1,000 at a time"
expect_eq 0 "$(hub_count auth=true)" "... and no token was sent (none configured)"

# --- with a token: the private repos that token reads, and no other ---
fakehub_ctl DELETE log >/dev/null
HF_TOKEN=$ALICE_TOKEN "$H" ls bulk-org >"$T/alice"
check "alice sees exactly her view of bulk-org" \
	cmp -s <(manifest repos model bulk-org alice) <(ids "$T/alice")
check "... her private repo, marked" grep -qx 'bulk-org/private-alice  (private)' "$T/alice"
check "... not bob's" sh -c '! grep -q private-bob "$0"' "$T/alice"
expect_eq 2 "$(hub_count host=hub path=/api/models auth=true)" "both pages carried her token"
expect_eq 0 "$(hub_count host=cdn)" "nothing went to another host"
HF_TOKEN=$BOB_TOKEN "$H" ls bulk-org >"$T/bob"
check "bob sees exactly his view" cmp -s <(manifest repos model bulk-org bob) <(ids "$T/bob")
check "... his private repo, not alice's" \
	sh -c 'grep -qx "bulk-org/private-bob  (private)" "$0" && ! grep -q private-alice "$0"' "$T/bob"

# --- the other types, and -l ---
"$H" ls datasets/bulk-org >"$T/ds"
check "datasets/bulk-org: its datasets, named as hubfs takes them" \
	cmp -s <(manifest repos dataset bulk-org | sed 's|^|datasets/|') "$T/ds"
expect_eq "spaces/hubfs-test/demo-space" "$("$H" ls spaces/hubfs-test)" "spaces/hubfs-test"
expect_eq "$(manifest repos dataset hubfs-test | sed 's|^|datasets/|')" \
	"$("$H" ls --type dataset hubfs-test)" "--type dataset works for a namespace too"
line=$(HF_TOKEN=$ALICE_TOKEN "$H" ls -l hubfs-test | grep ' hubfs-test/private-model$')
set -- $line
expect_eq "$(manifest commit model/hubfs-test/private-model) private" "$1 $4" \
	"ls -l: the default branch's commit, and private"
expect_eq "2024-01-04 12:00" "$(HF_TOKEN=$ALICE_TOKEN "$H" ls -l hubfs-test | grep ' hubfs-test/tiny-model$' | cut -c43-58)" \
	"ls -l: the last modification (main's commit date)"
check "an empty namespace lists nothing and succeeds" test -z "$("$H" ls nobody-at-all)"
"$H" ls bulk-org config.json 2>"$T/err"
expect_eq 2 "$?" "a PATH after a namespace is a usage error"
"$H" ls --type model datasets/bulk-org 2>"$T/err"
expect_eq 2 "$?" "a --type that contradicts the prefix is a usage error"
"$H" ls 'bad..org' 2>"$T/err"
expect_eq 2 "$?" "an invalid namespace is a usage error"
check "... saying so" grep -q "'bad..org' is not a valid user or organization name" "$T/err"
check "the legacy repo is named with its revision" sh -c '"$0" ls legacy-model@main | grep -qx config.json' "$H"

# --- the client itself: max, every field, and a smaller page ---
fakehub_ctl DELETE log >/dev/null
"$HUB_FETCH" --list-repos 1 model bulk-org >"$T/one" 2>/dev/null
expect_eq "bulk-org/gated-model private=0 gated=auto sha=$(manifest commit model/bulk-org/gated-model) last_modified=1719792300" \
	"$(cat "$T/one")" "max = 1: one repo, every field parsed (sha, 2024-07-01T00:05:00Z)"
expect_eq "author=bulk-org&limit=1&expand=private&expand=gated&expand=sha&expand=lastModified" \
	"$($HUBLOG "$HUB_LOG" fields query path=/api/models)" "... in one request, asking limit=1"
fakehub_ctl POST config '{"page_size": 100}' >/dev/null
fakehub_ctl DELETE log >/dev/null
"$HUB_FETCH" --list-repos 0 model bulk-org >"$T/paged" 2>/dev/null
check "pages of 100: the same 1,201 repos" cmp -s "$T/want-anon" <(cut -d' ' -f1 "$T/paged" | sort)
expect_eq 13 "$(hub_count path=/api/models)" "... in 13 requests"
"$HUB_FETCH" --list-repos 150 model bulk-org >"$T/some" 2>/dev/null
expect_eq 150 "$(wc -l <"$T/some")" "max = 150 stops after 150 repos"
expect_eq 15 "$(hub_count path=/api/models)" "... after the second page of 100"

# --- a next-page link to another origin: refused, the token never goes there ---
fakehub_ctl POST config "{\"page_size\": 1000, \"link_base\": \"$CDN_URL\"}" >/dev/null
fakehub_ctl DELETE log >/dev/null
HF_TOKEN=$ALICE_TOKEN "$H" ls bulk-org >/dev/null 2>"$T/err"
expect_eq 5 "$?" "a Link to another origin fails the listing (exit 5)"
check "... saying so" grep -q "invalid next-page link" "$T/err"
expect_eq 0 "$(hub_count host=cdn)" "... and nothing was sent there, token or not"
expect_eq 1 "$(hub_count host=hub path=/api/models)" "... after the first page only"
fakehub_ctl POST config '{"link_base": ""}' >/dev/null

# --- faults apply to the list endpoints too: a 503 is retried ---
fakehub_ctl DELETE log >/dev/null
fakehub_ctl POST faults '{"kind": "status", "code": 503, "glob": "/api/models", "count": 1}' >/dev/null
check "a 503 on the first page is retried" sh -c '"$0" ls bulk-org | wc -l | grep -qx 1201' "$H"
expect_eq "503 200 200" "$(hub_fields status path=/api/models)" "... one retry, then both pages"

# --- errors as huggingface_hub reports them ---
expect_code 3 "model 'hubfs-test/tiny-modle' not found, or private and you are not logged in (log in: set HF_TOKEN or pass --token-file)" \
	"a mistyped repo, anonymously: not found (exit 3), not a permission problem, and how to log in" \
	"$H" ls hubfs-test/tiny-modle
expect_code 3 "not found, or private and you are not logged in" \
	"... info says the same" "$H" info datasets/hubfs-test/big-datset
expect_code 3 "not found (or your token cannot see it)" \
	"a mistyped repo with a token: not found" env HF_TOKEN=$BOB_TOKEN "$H" ls hubfs-test/tiny-modle
expect_eq 401 "$($HUBLOG "$HUB_LOG" fields status 'path~/api/models/hubfs-test/tiny-modle*' auth=false)" \
	"... the anonymous answer was the Hub's 401"
"$HUB_FETCH" hubfs-test/gated-model config.json >/dev/null 2>"$T/err"
check "gated content anonymously: EACCES, with how to get access" \
	grep -q "error EACCES: model 'hubfs-test/gated-model' is gated: log in (HF_TOKEN or --token-file) and accept its terms at $HUB_URL/hubfs-test/gated-model" "$T/err"
HF_TOKEN=$BOB_TOKEN "$HUB_FETCH" hubfs-test/gated-model config.json >/dev/null 2>"$T/err"
check "gated content, not approved: EACCES, ask for access" \
	grep -q "error EACCES: your token has no access to gated model 'hubfs-test/gated-model': ask for access at $HUB_URL/hubfs-test/gated-model" "$T/err"
"$H" download hubfs-test/gated-model --include config.json --local-dir "$T/g" >/dev/null 2>"$T/err"
expect_eq 4 "$?" "hubfs download of gated content: every file failed for no access (exit 4)"
check "... with the access message" grep -q "config.json: model 'hubfs-test/gated-model' is gated: log in" "$T/err"
fault '{"kind": "status", "code": 404, "host": "cdn", "glob": "/repos/*", "count": -1}'
fault '{"kind": "status", "code": 403, "host": "hub", "glob": "*/resolve/*/config.json", "count": -1}'
"$H" download hubfs-test/gated-model --include config.json --include '*.safetensors' \
	--token-file <(printf %s "$ALICE_TOKEN") --local-dir "$T/g2" >/dev/null 2>"$T/err"
expect_eq 1 "$?" "... and a download whose files failed for different reasons: exit 1"
fakehub_ctl DELETE faults >/dev/null
check "the token is in no output" sh -c '! grep -rq "$0" "$1"' "$ALICE_TOKEN" "$T"
test_done
