#!/usr/bin/env bash
# Access through the mount: missing repos and files are ENOENT, and so is
# a private repo without a token (the Hub's anonymous 401, as
# huggingface_hub reports it); gated content without access is EACCES with
# a log line that says how to get access; with a token it works. Probes of names that do not exist
# (.git, __pycache__) are answered from memory the second time.
. "$HUBFS_TEST_LIB"
start_mount_with
errno_of() { "$PYTHON" -c 'import errno,os,sys
try:
    if sys.argv[2] == "stat": os.stat(sys.argv[1])
    elif sys.argv[2] == "open": os.close(os.open(sys.argv[1], os.O_RDONLY))
    else: open(sys.argv[1], "rb").read()
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])' "$1" "${2:-stat}"; }

expect_eq ENOENT "$(errno_of "$MNT/hubfs-test/tiny-model/no-such-file")" "a missing file: ENOENT"
expect_eq ENOENT "$(errno_of "$MNT/.git")" "a name that cannot be an org: ENOENT"
expect_eq ENOENT "$(errno_of "$MNT/hubfs-test/private-model")" "a private repo without a token: ENOENT"
expect_eq OK "$(errno_of "$MNT/hubfs-test/gated-model/config.json")" "a gated repo's listing is public"
expect_eq EACCES "$(errno_of "$MNT/hubfs-test/gated-model/config.json" read)" "... its content is EACCES"
check "... and the log names repo, file, and where to accept the terms" \
	grep -q "model/hubfs-test/gated-model@main:config.json: read failed: .*accept its terms at $HUB_URL/hubfs-test/gated-model" "$HUBFS_LOG"
# Refused at the open, not at the first read: tar had begun the file's
# member by then and archived it as zeros, and cp left an empty file.
for f in $(manifest files model/hubfs-test/gated-model); do
	[ "$(manifest field model/hubfs-test/gated-model "$f" size)" -gt 0 ] || continue
	expect_eq EACCES "$(errno_of "$MNT/hubfs-test/gated-model/$f" open)" "open of the gated $f: EACCES"
done
tar -C "$MNT/hubfs-test" -cf "$T/gated.tar" gated-model 2>"$T/tar.err"
check "tar of the gated repo stores no member it could not read" \
	sh -c '! tar -tvf "$0" | grep -q "^-"' "$T/gated.tar"
check "... and says why" grep -q "Permission denied" "$T/tar.err"

# --- negative lookups cost one request ---
fakehub_ctl DELETE log >/dev/null
for i in 1 2 3; do errno_of "$MNT/hubfs-test/__pycache__" >/dev/null; done
expect_eq 1 "$(hub_count 'path~/api/models/hubfs-test/__pycache__*')" \
	"three probes of a missing repo: one request"
unmount_hubfs

# --- with tokens ---
HF_TOKEN=$BOB_TOKEN mount_hubfs
expect_eq ENOENT "$(errno_of "$MNT/hubfs-test/private-model")" "bob cannot see the private repo: ENOENT"
expect_eq EACCES "$(errno_of "$MNT/hubfs-test/gated-model/config.json" read)" "bob is not approved for the gated repo: EACCES"
check "... and the log says where to ask for access" grep -q "ask for access at" "$HUBFS_LOG"
unmount_hubfs
HF_TOKEN=$ALICE_TOKEN mount_hubfs -o allow_other
check "allow_other with a token prints a warning" grep -q "allow_other: every user of this machine can read" "$HUBFS_LOG"
expect_eq "$(manifest field model/hubfs-test/private-model config.json sha256)" \
	"$(sha256sum <"$MNT/hubfs-test/private-model/config.json" | cut -d' ' -f1)" "alice reads the private repo"
lfs=$(cd "$MNT/hubfs-test/gated-model" && ls *.safetensors | head -1)
expect_eq "$(manifest field model/hubfs-test/gated-model "$lfs" sha256)" \
	"$(sha256sum <"$MNT/hubfs-test/gated-model/$lfs" | cut -d' ' -f1)" "alice reads the gated repo's LFS file"
expect_eq 0 "$(hub_count host=cdn auth=true)" "no request carried the token to the CDN"
check "the token appears in no log" sh -c '! grep -q "$0" "$1" "$2"' "$ALICE_TOKEN" "$HUBFS_LOG" "$HUB_LOG"

# --- an org's listing is the Hub's: what alice cached is not listed without her token ---
unmount_hubfs
mount_hubfs
check "the org lists its repos without the private one alice cached" \
	sh -c '! ls "$0/hubfs-test" | grep -qx private-model' "$MNT"
check "... so ls -l of the org lists no name it then refuses" ls -l "$MNT/hubfs-test"

# --- an org listing that fails, with nothing known: an error, not an empty folder ---
unmount_hubfs
HUBFS_MAX_RETRIES=0 mount_hubfs
check "spaces/hubfs-test exists" test -d "$MNT/spaces/hubfs-test"
fault '{"kind": "status", "code": 500, "host": "hub", "glob": "/api/spaces", "count": -1}'
ls "$MNT/spaces/hubfs-test" >/dev/null 2>"$T/ls-err"
expect_eq 2 "$?" "ls of an org whose listing fails, with nothing known: fails"
check "... with EIO" grep -q "Input/output error" "$T/ls-err"
fakehub_ctl DELETE faults >/dev/null
check "... and lists it once the Hub answers" sh -c 'ls "$0/spaces/hubfs-test" | grep -qx demo-space' "$MNT"
finish_mount
