#!/usr/bin/env bash
# hubfs ls and hubfs info against the fake Hub: listings equal the
# generator's manifest, pagination follows Link page by page, revisions
# resolve, bad input ends in one line and the documented exit code, and
# offline both answer from what the cache remembers.
. "$HUBFS_TEST_LIB"
start_fakehub
H=$HUBFS_BIN

# --- the 3,000-file dataset, recursively: every file and folder, once ---
"$H" ls -R datasets/hubfs-test/big-dataset >"$T/ls.out" 2>"$T/ls.err"
expect_eq 0 "$?" "ls -R of the dataset succeeds"
manifest entries dataset/hubfs-test/big-dataset |
	awk -F'\t' '{ print $1 ($2 == "dir" ? "/" : "") }' | sort >"$T/want"
sort "$T/ls.out" >"$T/got"
check "ls -R lists exactly the manifest's files and folders" cmp -s "$T/want" "$T/got"
entries=$(wc -l <"$T/want")
pages=$(( (entries + 999) / 1000 ))
expect_eq "$pages" "$(hub_count 'path~/api/datasets/hubfs-test/big-dataset/tree/*')" \
	"$entries entries took exactly $pages page requests"
expect_eq $((pages - 1)) "$(hub_count 'path~/api/datasets/hubfs-test/big-dataset/tree/*' 'query~*cursor=*')" \
	"every page after the first followed the Link cursor"

# --- one level, and a sub-folder ---
"$H" ls hubfs-test/tiny-model >"$T/top"
manifest entries model/hubfs-test/tiny-model |
	awk -F'\t' '$1 !~ /\// { print $1 ($2 == "dir" ? "/" : "") }' | sort >"$T/want-top"
check "ls lists one level" cmp -s "$T/want-top" <(sort "$T/top")
expect_eq "extra/weights.dat" "$("$H" ls hubfs-test/tiny-model extra)" "ls of a sub-folder"
expect_eq "extra/weights.dat" "$("$H" ls hubfs-test/tiny-model extra/)" "... named with a '/', as ls prints it"
expect_eq "config.json" "$("$H" ls hubfs-test/tiny-model config.json)" "ls of a file lists the file, as ls(1)"
expect_eq "extra/weights.dat" "$("$H" ls hubfs-test/tiny-model /extra/weights.dat)" "... in a sub-folder"
expect_eq "config.json" "$("$H" ls -R hubfs-test/tiny-model config.json)" "... with -R too"
expect_code 3 "not found" "a file named as a folder ('config.json/') is not found" \
	"$H" ls hubfs-test/tiny-model config.json/

# --- -l: size, kind and the Hub's hash ---
line=$("$H" ls -l hubfs-test/tiny-model | grep ' model.safetensors$')
set -- $line
expect_eq "$(manifest field model/hubfs-test/tiny-model model.safetensors size) lfs $(manifest field model/hubfs-test/tiny-model model.safetensors sha256)" \
	"$1 $2 $3" "ls -l shows the real size, lfs and the sha256"
line=$("$H" ls -l hubfs-test/tiny-model | grep ' config.json$')
set -- $line
expect_eq "$(manifest field model/hubfs-test/tiny-model config.json size) git $(manifest field model/hubfs-test/tiny-model config.json oid)" \
	"$1 $2 $3" "ls -l shows a git file's blob sha1"

# --- names with spaces and non-ASCII come out as the Hub spells them ---
"$H" ls -R datasets/hubfs-test/odd-names | grep -v '/$' | sort >"$T/odd"
check "odd names listed exactly" cmp -s <(manifest files dataset/hubfs-test/odd-names) "$T/odd"

# --- info: commit, counts and total size of exactly that commit ---
read -r nfiles nlfs bytes < <(manifest total model/hubfs-test/tiny-model)
json=$("$H" info hubfs-test/tiny-model --json)
field() { printf '%s' "$json" | "$PYTHON" -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
expect_eq "$(manifest commit model/hubfs-test/tiny-model)" "$(field sha)" "info: the commit of main"
expect_eq "$nfiles $nlfs $bytes" "$(field files) $(field lfs_files) $(field total_size)" \
	"info: number of files, LFS files and total size"
text=$("$H" info hubfs-test/tiny-model)
check "info text shows the human size" sh -c 'printf "%s" "$0" | grep -q "^total size: .*MiB ($1 bytes)"' "$text" "$bytes"

for rev in v1.0 refs/pr/1 refs%2Fpr%2F1 feature/long-context feature%2Flong-context; do
	dec=$(printf '%b' "${rev//%/\\x}")
	expect_eq "$(manifest commit model/hubfs-test/tiny-model "$dec")" \
		"$("$H" info "hubfs-test/tiny-model@$rev" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["sha"])')" \
		"info resolves revision '$rev'"
done
sha=$(manifest commit model/hubfs-test/tiny-model v1.0)
expect_eq "$(manifest files model/hubfs-test/tiny-model v1.0 | wc -l)" \
	"$("$H" ls -R "hubfs-test/tiny-model@$sha" | grep -vc '/$')" "ls at a full commit sha"
expect_eq 0 "$(hub_count 'path~*/tree/feature/long-context*')" \
	"a revision with '/' is sent %-encoded, never raw"

# --- repo types ---
expect_eq dataset "$("$H" info --type dataset hubfs-test/big-dataset --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["type"])')" \
	"--type dataset"
check "spaces/ prefix" sh -c '"$0" ls spaces/hubfs-test/demo-space | grep -qx app.py' "$H"
"$H" info --type model datasets/hubfs-test/big-dataset 2>"$T/err"
expect_eq 2 "$?" "a --type that contradicts the prefix exits 2"

# --- bad input: one line on stderr, documented exit codes ---
expect_code 2 "not a valid repo id" "malformed id exits 2" "$H" ls 'bad..id/x'
expect_code 2 "not a valid revision" "malformed revision exits 2" "$H" ls 'hubfs-test/tiny-model@bad..rev'
# Option values that meant the default, or no limit, in silence (a helper's review).
expect_code 2 "not a valid number of seconds" "--connect-timeout 0 exits 2" "$H" ls --connect-timeout 0 hubfs-test/tiny-model
expect_code 2 "not a valid number of seconds" "--op-timeout nan exits 2" "$H" ls --op-timeout nan hubfs-test/tiny-model
expect_code 2 "not a valid number of seconds" "an empty --stall-timeout exits 2" "$H" ls --stall-timeout= hubfs-test/tiny-model
expect_code 2 "not a valid number of retries" "--retries 5000 exits 2" "$H" ls --retries 5000 hubfs-test/tiny-model
expect_code 2 "ratio in \[0, 1)" "mount --min-free nan exits 2" "$H" mount "$T" --min-free nan
# As HfFileSystem (unquote): a '%' that starts no escape is the branch's own.
expect_code 3 "revision 'bad%zz' not found" "a '%' that starts no escape is part of the name" \
	"$H" ls 'hubfs-test/tiny-model@bad%zz'
expect_code 3 "not found, or private and you are not logged in (log in: set HF_TOKEN" \
	"missing repo, anonymous: the Hub's 401 is not found (exit 3) and says how to log in" "$H" info hubfs-test/no-such-repo
expect_code 3 "not found" "missing repo with a token exits 3" env HF_TOKEN=$ALICE_TOKEN "$H" info hubfs-test/no-such-repo
expect_code 3 "revision 'nope' not found" "missing revision exits 3" "$H" ls hubfs-test/tiny-model@nope
expect_code 3 "'nope/x' not found" "missing folder exits 3" "$H" ls hubfs-test/tiny-model nope/x
before=$(hub_count)
expect_code 5 "offline mode" "offline exits 5" env HF_HUB_OFFLINE=1 "$H" ls hubfs-test/tiny-model
expect_code 5 "offline mode" "--offline exits 5" "$H" info --offline hubfs-test/tiny-model
expect_eq "$before" "$(hub_count)" "offline commands send no request"
# Offline, what the cache remembers is served: the commit of the revision
# and its listing (a download, even --dry-run, keeps both), and the repos
# whose listings it holds. Both commands exited 5 whatever it held.
"$H" download --dry-run hubfs-test/tiny-model >/dev/null
"$H" ls -l hubfs-test/tiny-model | sort >"$T/online-l"
"$H" info hubfs-test/tiny-model --json >"$T/online-info"
"$H" download --dry-run datasets/hubfs-test/odd-names >/dev/null
online_docs=$("$H" ls -R datasets/hubfs-test/odd-names docs | sort | xargs)
before=$(hub_count)
"$H" ls --offline hubfs-test/tiny-model >"$T/off-top"
expect_eq 0 "$?" "ls --offline of a repo the cache holds: exit 0"
check "... lists one level, as online" cmp -s "$T/want-top" <(sort "$T/off-top")
check "ls -l with HF_HUB_OFFLINE=1: sizes, kinds and hashes, as online" \
	cmp -s "$T/online-l" <(HF_HUB_OFFLINE=1 "$H" ls -l hubfs-test/tiny-model | sort)
manifest entries model/hubfs-test/tiny-model |
	awk -F'\t' '{ print $1 ($2 == "dir" ? "/" : "") }' | sort >"$T/want-all"
check "ls -R --offline lists every file and folder" cmp -s "$T/want-all" \
	<("$H" ls -R --offline hubfs-test/tiny-model | sort)
expect_eq "extra/weights.dat" "$("$H" ls --offline hubfs-test/tiny-model extra/)" "ls --offline of a folder"
# "docs.txt" sorts between "docs" and "docs/...": a folder's entries are not all together.
expect_eq "$online_docs" "$("$H" ls -R --offline datasets/hubfs-test/odd-names docs | sort | xargs)" \
	"ls -R --offline of a folder, as online"
expect_eq "config.json" "$("$H" ls --offline hubfs-test/tiny-model config.json)" "... of a file"
expect_code 3 "not found" "... of a path it does not have: exit 3" \
	"$H" ls --offline hubfs-test/tiny-model nope/x
expect_code 3 "not found" "... of a file named as a folder: exit 3" \
	"$H" ls --offline hubfs-test/tiny-model config.json/
check "ls --offline ORG: the repos the cache holds" \
	sh -c '[ "$("$0" ls --offline hubfs-test)" = hubfs-test/tiny-model ] &&
		[ "$("$0" ls --offline datasets/hubfs-test)" = datasets/hubfs-test/odd-names ]' "$H"
"$H" info --offline hubfs-test/tiny-model --json >"$T/off-info"
expect_eq 0 "$?" "info --offline of a repo the cache holds: exit 0"
pick() { "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(*(d[k] for k in sys.argv[2:]))' "$@"; }
expect_eq "$(pick "$T/online-info" id sha last_modified files lfs_files total_size)" \
	"$(pick "$T/off-info" id sha last_modified files lfs_files total_size)" \
	"... the same id, commit, date, files, LFS files and size as online"
expect_eq "None None None" "$(pick "$T/off-info" private gated tags)" "... and null for what the cache does not keep"
check "info with HF_HUB_OFFLINE=1, as text" sh -c 'HF_HUB_OFFLINE=1 "$0" info hubfs-test/tiny-model | grep -q "^commit: *$1"' \
	"$H" "$(manifest commit model/hubfs-test/tiny-model)"
expect_code 5 "offline mode" "a revision the cache never saw: exit 5" "$H" info --offline hubfs-test/tiny-model@v1.0
expect_eq "$before" "$(hub_count)" "... and none of these asked the Hub"
expect_code 5 "cannot connect" "network down exits 5" env HUBFS_MAX_RETRIES=1 "$H" ls --endpoint http://127.0.0.1:9 hubfs-test/tiny-model
"$H" ls 2>"$T/err"
expect_eq 2 "$?" "no argument is a usage error (exit 2)"
check "... that shows the usage" grep -q "^usage: hubfs ls" "$T/err"
test_done
