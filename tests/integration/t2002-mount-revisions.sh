#!/usr/bin/env bash
# Revisions in paths, as HfFileSystem writes them: a tag, a full sha,
# refs%2Fpr%2F1, a branch with '/' (%2F). A repo directory is pinned to its
# commit; a branch moved on the Hub shows after the TTL, while a file
# opened before keeps its commit.
. "$HUBFS_TEST_LIB"
start_mount_with --revision-ttl 1
KEY=model/hubfs-test/tiny-model
R=$MNT/hubfs-test/tiny-model
xattr() { getfattr --only-values -n "user.hubfs.$1" "$2" 2>/dev/null; }

# A commit asked for by its sha first, before any name of it was resolved:
# its files carry the commit's date, as @v1.0's (the same commit) do.
sha_mtime=$(stat -c %Y "$R@$(manifest commit $KEY v1.0)/config.json")
check "@sha: the files' mtime is the commit's date, not 1970 ($sha_mtime)" test "$sha_mtime" -gt 946684800
expect_eq "$(stat -c %Y "$R@v1.0/config.json")" "$sha_mtime" "... the same as @v1.0's"

for rev in v1.0 refs%2Fpr%2F1 feature%2Flong-context "$(manifest commit $KEY v1.0)"; do
	dec=$(printf '%b' "${rev//%/\\x}")
	expect_eq "$(manifest files $KEY "$dec" | sort | tr '\n' ' ')" \
		"$(cd "$R@$rev" && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ')" \
		"@$rev lists the files of its commit"
	expect_eq "$(manifest field $KEY config.json sha256 "$dec")" \
		"$(sha256sum <"$R@$rev/config.json" | cut -d' ' -f1)" "@$rev serves its own config.json"
	expect_eq "$(manifest commit $KEY "$dec")" "$(xattr commit "$R@$rev/config.json")" \
		"@$rev is pinned to its commit"
done
expect_eq 0 "$(hub_count 'path~*/feature/long-context*')" "a branch with '/' is sent %-encoded"
ls "$R@no-such-branch" 2>/dev/null
expect_eq 2 "$?" "an unknown revision is ENOENT"

# --- a branch that moves while mounted ---
old=$(manifest commit $KEY)
new=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]+"/manifest.json"))["repos"][sys.argv[2]]["spare"]["main"])' "$FAKEHUB_DATA" $KEY)
expect_eq "$old" "$(xattr commit "$R/config.json")" "main starts at its commit"
ino_of() { stat -c %i "$R/$1"; }
ino_config=$(ino_of config.json) ino_weights=$(ino_of model.safetensors) ino_extra=$(ino_of extra)
exec 7<"$R/config.json"          # an open file keeps its commit
exec 8<"$R"                      # so does a folder opened before the move
fakehub_ctl POST refs '{"repo": "'$KEY'", "branch": "main", "commit": "'$new'"}' >/dev/null
sleep 2.2                        # the TTL, and the kernel's entry timeout
expect_eq "$new" "$(xattr commit "$R/config.json")" "after the TTL, main shows the new commit"
expect_eq "$("$PYTHON" -c 'import json,sys; m=json.load(open(sys.argv[1]+"/manifest.json")); r=m["repos"][sys.argv[2]]; print(r["commits"][sys.argv[3]]["files"]["config.json"]["sha256"])' "$FAKEHUB_DATA" $KEY "$new")" \
	"$(sha256sum <"$R/config.json" | cut -d' ' -f1)" "... and its new config.json"
expect_eq "$(manifest field $KEY config.json sha256)" "$(sha256sum <&7 | cut -d' ' -f1)" \
	"a file opened before the move still reads the old commit's bytes"
exec 7<&-
# That folder, listed again from its start (a long scandir that rewinds):
# the old commit's names, but not linked in place of the new ones. They
# were, each for another TTL: config.json read the old bytes again.
"$PYTHON" -c 'import os; os.listdir(8); os.listdir(8)' 8<&8
expect_eq "$("$PYTHON" -c 'import json,sys; m=json.load(open(sys.argv[1]+"/manifest.json")); r=m["repos"][sys.argv[2]]; print(r["commits"][sys.argv[3]]["files"]["config.json"]["sha256"])' "$FAKEHUB_DATA" $KEY "$new")" \
	"$(sha256sum <"$R/config.json" | cut -d' ' -f1)" \
	"a repo folder opened before the move and listed again puts no old file back"
exec 8<&-
# hubfs status counts the commits' tables held: main's two, v1.0's (the sha's
# too), pr/1's and the feature branch's. The old one stays while the kernel
# keeps names that lead into it (unchanged files keep their node).
expect_eq 5 "$("$HUBFS_BIN" status "$MNT" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["commits"])')" \
	"hubfs status counts the commits whose tables the mount holds"
check "the changed config.json has a new inode number (tools see another file)" \
	test "$(ino_of config.json)" != "$ino_config"
expect_eq "$ino_weights $ino_extra" "$(ino_of model.safetensors) $(ino_of extra)" \
	"... and unchanged files and folders keep theirs"
fakehub_ctl DELETE log >/dev/null
ls "$R@$new" >/dev/null
expect_eq 1 "$(hub_count 'path~/api/models/hubfs-test/tiny-model/revision/*')" \
	"a sha path asks the Hub once, for the id's spelling"
fakehub_ctl DELETE log >/dev/null
sleep 1.2
ls "$R@$new" >/dev/null
expect_eq 0 "$(hub_count 'path~/api/models/hubfs-test/tiny-model/revision/*')" \
	"... and is never re-resolved"
finish_mount
