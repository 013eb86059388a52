#!/usr/bin/env bash
# hubfs writes huggingface_hub's own cache (issue #13, item 2): after
# `hubfs download --hf-cache`, or `hubfs cache export` of what the mount
# read, huggingface_hub (hf_hub_download, snapshot_download,
# scan_cache_dir) and transformers (from_pretrained) find the files with
# HF_HUB_OFFLINE=1 and no Hub at all. And the other way round: blobs the
# real library wrote are reused, not fetched again. The folder is named,
# and its modes set, as the library does; "$VAR" in HF_HUB_CACHE is
# expanded; what a killed run left is removed.
. "$HUBFS_TEST_LIB"
[ -x "${HUBFS_VENV_PYTHON:-}" ] ||
	skip_all "no Python test environment at '${HUBFS_VENV_PYTHON:-}' (scripts/deps.sh --tests)"
start_fakehub
CHECK=$(dirname "$0")/../hfcache/offline_check.py
export HF_HUB_CACHE="$T/hf-hub"

manifest_json() { # KEY OUT: the manifest's files of KEY at main, as offline_check.py wants them
	"$PYTHON" - "$TEST_LIB_DIR" "$FAKEHUB_DATA" "$1" >"$2" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import manifest
man = manifest.load(sys.argv[2])
repo = man["repos"][sys.argv[3]]
files = manifest.commit_files(sys.argv[2], repo["commits"][manifest.commit_of(repo, "main")])[0]
print(json.dumps({p: {"size": f["size"], "sha256": f["sha256"],
                      "etag": f["lfs"]["oid"] if f["lfs"] else f["oid"]} for p, f in files.items()}))
PY
}
offline() { env HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 \
	HF_ENDPOINT=http://127.0.0.1:9 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1 \
	"$HUBFS_VENV_PYTHON" "$CHECK" "$@"; }

# --- 1. hubfs download --hf-cache, then the library, offline ---
K=model/hubfs-test/tiny-model
manifest_json $K "$T/tiny.json"
check "hubfs download --hf-cache" "$HUBFS_BIN" download --quiet --hf-cache hubfs-test/tiny-model
requests=$(hub_count)
offline hubfs-test/tiny-model "$T/tiny.json" >"$T/py1.out" 2>&1
expect_eq 0 "$?" "huggingface_hub finds every file offline (see below)"
sed 's/^/    /' "$T/py1.out"
grep -q '^not ok' "$T/py1.out" && not_ok "offline_check: $(grep -c '^not ok' "$T/py1.out") failures"
expect_eq "$requests" "$(hub_count)" "... and nothing asked the fake Hub meanwhile"
check "blobs are plain files, snapshots relative links" sh -c \
	'[ -f "$0/models--hubfs-test--tiny-model/blobs/$1" ] && [ "$(readlink "$0/models--hubfs-test--tiny-model/snapshots/$2/config.json")" = "../../blobs/$3" ]' \
	"$HF_HUB_CACHE" "$(manifest field $K model.safetensors sha256)" "$(manifest commit $K)" \
	"$(manifest field $K config.json oid)"

# --- 2. from_pretrained("org/name") offline, after a download of a real model ---
if [ -f "${FAKEHUB_ML:-}/ml-repos.json" ] && grep -q '"model/hubfs-ml/bert-tiny"' "$FAKEHUB_DATA/manifest.json"; then
	manifest_json model/hubfs-ml/bert-tiny "$T/bert.json"
	orig=$("$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["model/hubfs-ml/bert-tiny"]["main"] if isinstance(d.get("model/hubfs-ml/bert-tiny"), dict) and "main" in d["model/hubfs-ml/bert-tiny"] else "")' "$FAKEHUB_ML/ml-repos.json" 2>/dev/null)
	[ -n "$orig" ] || orig=$(find "$FAKEHUB_ML" -maxdepth 3 -type d -name 'bert-tiny' | head -1)
	check "hubfs download --hf-cache of a transformers model" "$HUBFS_BIN" download --quiet --hf-cache hubfs-ml/bert-tiny
	offline hubfs-ml/bert-tiny "$T/bert.json" hubfs-ml/bert-tiny "$orig" >"$T/py2.out" 2>&1
	expect_eq 0 "$?" "from_pretrained('hubfs-ml/bert-tiny') works offline, same outputs"
	sed 's/^/    /' "$T/py2.out" | tail -4
else
	say "no hubfs-ml repos in this data: from_pretrained part skipped"
fi

# --- 3. hubfs cache export of what the mount read, no network ---
rm -rf "$HF_HUB_CACHE"
mount_hubfs --cache-dir "$CACHE_DIR"
K2=model/hubfs-test/sharded-model
for f in $(manifest files $K2); do cat "$MNT/hubfs-test/sharded-model/$f" >/dev/null; done
unmount_hubfs
requests=$(hub_count)
check "hubfs cache export, from the cache alone" "$HUBFS_BIN" cache export hubfs-test/sharded-model --quiet
expect_eq "$requests" "$(hub_count)" "... asking the Hub nothing"
manifest_json $K2 "$T/sharded.json"
offline hubfs-test/sharded-model "$T/sharded.json" >"$T/py3.out" 2>&1
expect_eq 0 "$?" "huggingface_hub finds the exported repo offline"
# A ref huggingface_hub wrote since (a newer commit, say) is not rolled back
# to the one the cache only remembers: it was, with no word.
ref=$HF_HUB_CACHE/models--hubfs-test--sharded-model/refs/main
printf '%s' "$(printf '%040d' 7)" >"$ref"
"$HUBFS_BIN" cache export hubfs-test/sharded-model --quiet 2>"$T/export-ref.err"
expect_eq 0 "$?" "a second export beside a ref that names another commit"
expect_eq "$(printf '%040d' 7)" "$(cat "$ref")" "... leaves that ref as it is"
check "... and says so" grep -q "left as it is" "$T/export-ref.err"
"$HUBFS_BIN" cache export hubfs-test/odd-names --type dataset --quiet 2>"$T/export.err"
check "exporting a repo the cache never saw fails" test $? -ne 0
check "... and says why" grep -q "cache has never seen" "$T/export.err"

# --- 4. the other way: the real library writes its cache, hubfs reuses it ---
rm -rf "$HF_HUB_CACHE" "$CACHE_DIR"
env HF_ENDPOINT="$HUB_URL" HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_XET=1 "$HUBFS_VENV_PYTHON" -c \
	'from huggingface_hub import snapshot_download; snapshot_download("hubfs-test/tiny-model")' \
	>"$T/snap.out" 2>&1
expect_eq 0 "$?" "huggingface_hub's own snapshot_download from the fake Hub"
cdn=$(hub_count host=cdn)
check "hubfs download then" "$HUBFS_BIN" download --quiet hubfs-test/tiny-model
expect_eq "$cdn" "$(hub_count host=cdn)" "... takes every LFS file from the library's blobs: no CDN request"
# --- 5. the folder as the id was typed, $VARS, the umask, what killed runs left ---
# huggingface_hub files hf_hub_download("HubFS-Test/Tiny-Model") under
# models--HubFS-Test--Tiny-Model, whatever the Hub's spelling, and looks
# it up there offline; hubfs wrote models--hubfs-test--tiny-model. It
# expands "$VAR" in HF_HUB_CACHE (os.path.expandvars); hubfs took it
# literally. Its modes are 0777 and 0666 less the umask; hubfs's were 0755
# and 0644 whatever the umask.
HF_HUB_CACHE="$T/hf-typed" "$HUBFS_BIN" download --quiet --hf-cache HubFS-Test/Tiny-Model --include config.json
check "download --hf-cache HubFS-Test/Tiny-Model: the folder as the id was typed, not as the Hub spells it" \
	test -d "$T/hf-typed/models--HubFS-Test--Tiny-Model/snapshots" -a ! -e "$T/hf-typed/models--hubfs-test--tiny-model"
export HUBFS_T_HF="$T/hf-vars"
sha=$(manifest field $K model.safetensors sha256)
commit=$(manifest commit $K)
typed=$HUBFS_T_HF/hub/models--HubFS-Test--Tiny-Model
(cd "$T" && umask 002 && HF_HUB_CACHE='${HUBFS_T_HF}/hub' "$HUBFS_BIN" download --quiet \
	--hf-cache HubFS-Test/Tiny-Model --include config.json --include model.safetensors)
expect_eq 0 "$?" "download --hf-cache HubFS-Test/Tiny-Model, HF_HUB_CACHE='\${HUBFS_T_HF}/hub', umask 002"
check "... the folder is named as the id was typed, in the expanded path" test -f "$typed/blobs/$sha"
check "... not as the Hub spells it" test ! -e "$HUBFS_T_HF/hub/models--hubfs-test--tiny-model"
check "... and no folder named '\${HUBFS_T_HF}'" test ! -e "$T/\${HUBFS_T_HF}"
expect_eq "775 775 775 775 775 664 664" "$(stat -c %a "$HUBFS_T_HF/hub" "$typed" "$typed/blobs" \
	"$typed/snapshots/$commit" "$typed/refs" "$typed/blobs/$sha" "$typed/refs/main" | xargs)" \
	"... folders 775, files 664 under umask 002, as huggingface_hub makes them"
env HF_HUB_CACHE='${HUBFS_T_HF}/hub' HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 \
	"$HUBFS_VENV_PYTHON" -c 'from huggingface_hub import hf_hub_download
import sys
print(hf_hub_download("HubFS-Test/Tiny-Model", "model.safetensors"))' >"$T/typed.out" 2>&1
expect_eq "0 $typed/snapshots/$commit/model.safetensors" "$? $(tail -1 "$T/typed.out")" \
	"huggingface_hub finds it offline under the same spelling and the same variable"
# A run killed while writing leaves "<name>.tmp.<pid>.<n>" in blobs/ (up
# to a whole file), snapshots/ (a link) and refs/: a run that writes the
# name removes those of a dead pid, never a live writer's, never through a link.
export HF_HUB_CACHE="$T/hf-stale"
repo_dir=$HF_HUB_CACHE/models--hubfs-test--tiny-model
"$HUBFS_BIN" download --quiet --hf-cache hubfs-test/tiny-model --include config.json --include model.safetensors
( exit 0 ) &
wait $!
dead=$!
echo keep >"$T/keep"
printf partial >"$repo_dir/blobs/$sha.tmp.$dead.0"
printf writing >"$repo_dir/blobs/$sha.tmp.$$.0"
ln -s "$T/keep" "$repo_dir/snapshots/$commit/config.json.tmp.$dead.1"
printf x >"$repo_dir/refs/main.tmp.$dead.2"
"$HUBFS_BIN" download --quiet --hf-cache hubfs-test/tiny-model --include config.json --include model.safetensors
expect_eq 0 "$?" "a full run again"
check "... removes a dead run's temporary blob, link and ref" test ! -e "$repo_dir/blobs/$sha.tmp.$dead.0" -a \
	! -L "$repo_dir/snapshots/$commit/config.json.tmp.$dead.1" -a ! -e "$repo_dir/refs/main.tmp.$dead.2"
check "... not what the link pointed at" test -f "$T/keep"
check "... and leaves a live writer's" test -f "$repo_dir/blobs/$sha.tmp.$$.0"

# --- 6. a verdict on each of the library's blobs, however many ---
# A ring of 256 verdicts forgot the first of 300 blobs: read again after
# an evict, it was hashed again (about 1 CPU-s for 200 MiB). Each blob is
# hashed once per process now.
export HF_HUB_CACHE="$T/hf-many"
"$PYTHON" - "$TEST_LIB_DIR" "$FAKEHUB_DATA" dataset/hubfs-test/big-dataset \
	"$HF_HUB_CACHE/datasets--hubfs-test--big-dataset/blobs" >"$T/many" <<'PY'
import os, shutil, sys
sys.path.insert(0, sys.argv[1])
import manifest
data, key, out = sys.argv[2:5]
repo = manifest.load(data)["repos"][key]
files = manifest.commit_files(data, repo["commits"][manifest.commit_of(repo, "main")])[0]
os.makedirs(out)
oids = set()
for p in sorted(files):
    f = files[p]
    if f["lfs"] or f["oid"] in oids or len(oids) == 300:
        continue
    oids.add(f["oid"])
    shutil.copyfile(os.path.join(data, "blobs", f["sha256"]), os.path.join(out, f["oid"]))
    print(p)
PY
first=$(head -1 "$T/many")
skip=$(wc -l <"$HUBFS_LOG")
mount_hubfs --cache-dir "$CACHE_DIR" --log-level info
while read -r f; do cat "$MNT/datasets/hubfs-test/big-dataset/$f"; done <"$T/many" >/dev/null
"$HUBFS_BIN" cache evict datasets/hubfs-test/big-dataset >/dev/null
dd if="$MNT/datasets/hubfs-test/big-dataset/$first" iflag=direct of=/dev/null status=none
expect_eq 0 "$?" "the first file read again (O_DIRECT) after an evict"
unmount_hubfs
tail -n +$((skip + 1)) "$HUBFS_LOG" >"$T/many.log"
expect_eq "$(wc -l <"$T/many") 1" "$(grep -c "reusing .*(hash checked)" "$T/many.log") $(grep -c "reusing '$first'" "$T/many.log")" \
	"$(wc -l <"$T/many") blobs hashed once each, the first too, read again after all the others"
expect_eq 0 "$(hub_count 'path~/datasets/hubfs-test/big-dataset/resolve/*')" "... and none asked of the Hub"

check "no sanitizer report" scan_logs "$HUBFS_LOG"
test_done
