#!/usr/bin/env bash
# hubfs download: --dry-run, --include/--exclude (huggingface_hub's globs),
# --local-dir (real, verified files, modes under the umask, what a killed
# run left removed), progress lines (counted as the bytes come), a summary
# and exit 1 when a file fails, resuming after kill -9 without fetching
# twice, and reuse of verified blobs from huggingface_hub's cache (each
# hashed once; never a corrupt one).
. "$HUBFS_TEST_LIB"
start_fakehub
H=$HUBFS_BIN
REPO=hubfs-test/tiny-model
KEY=model/$REPO
read -r nfiles nlfs bytes < <(manifest total $KEY)

# --- dry run ---
"$H" download $REPO --dry-run >"$T/dry"
expect_eq 0 "$?" "--dry-run succeeds"
check "... and says how much it would fetch" grep -q "^$nfiles files, .* to fetch" "$T/dry"
expect_eq "0 0" "$(hub_count 'path~*/resolve/*') $(hub_count host=cdn)" "... fetching nothing"

# --- include / exclude ---
sel() { "$H" download --quiet "$@" $REPO && "$H" cache ls --json |
	"$PYTHON" -c 'import json,sys; r=[x for x in json.load(sys.stdin)["repos"] if x["repo"]==sys.argv[1]][0]; print(r["verified_files"])' $KEY; }
njson=$(manifest files $KEY | grep -c '\.json$')
expect_eq "$njson" "$(sel --include '*.json')" "--include '*.json' fetches the $njson json files"
check "... and requested no other file" sh -c '! "$0" "$1" list "path~*/resolve/*" | grep -v "\.json" | grep -q .' "$PYTHON $TEST_LIB_DIR/hublog.py" "$HUB_LOG"
expect_eq $((njson + 1)) "$(sel --include 'extra/')" "--include 'extra/' adds what is below extra/"
expect_eq "$(manifest files $KEY | grep -vc '\.safetensors$\|\.bin$')" \
	"$(sel --include '*' --exclude '*.safetensors' --exclude '*.bin')" "--exclude removes from --include"
# The files snapshot_download(allow_patterns=[GLOB]) chooses (fnmatchcase,
# '\' made '/'), where glibc's fnmatch() chose others: '?' was a byte,
# '[^c]' negated, '[[:alpha:]]' was a class, '\' escaped.
chosen() { "$H" download --dry-run "$@" | tail -1 | cut -d' ' -f1; }
expect_eq 1 "$(chosen datasets/hubfs-test/odd-names --include 'donn?es/*')" \
	"--include 'donn?es/*': '?' is one character, 'é' too"
expect_eq 1 "$(chosen datasets/hubfs-test/odd-names --include '日本語/???.txt')" \
	"--include '日本語/???.txt': three characters of nine bytes"
expect_eq 1 "$(chosen datasets/hubfs-test/odd-names --include '*/[éa]t*')" \
	"--include '*/[éa]t*': a set of characters, not of bytes"
expect_eq 1 "$(chosen $REPO --include '[^c]*')" "--include '[^c]*': a set of '^' and 'c' (config.json), no negation"
expect_eq $((nfiles - 1)) "$(chosen $REPO --include '[!c]*')" "--include '[!c]*': '!' negates"
expect_eq 0 "$(chosen $REPO --include '[[:alpha:]]*')" "--include '[[:alpha:]]*': no POSIX class"
expect_eq 1 "$(chosen $REPO --include 'extra\weights.dat')" "--include 'extra\weights.dat': '\' is '/'"
expect_eq $((nfiles - 1)) "$(chosen $REPO --exclude 'extra\')" "--exclude 'extra\': the folder, as 'extra/'"
many=()
for i in $(seq 100); do many+=(--include "nothing-$i" --exclude "none-$i"); done
expect_eq 1 "$(chosen $REPO "${many[@]}" --include config.json)" "200 patterns: no cap, as huggingface_hub"
"$H" cache evict --all >/dev/null

# --- local dir, progress ---
fakehub_ctl DELETE log >/dev/null
"$H" download $REPO --local-dir "$T/local" 2>"$T/progress"
expect_eq 0 "$?" "download --local-dir succeeds"
# Its 10 blocks start at once: one resolve, the others wait for its answer
# (the Hub counts resolves against a quota).
expect_eq "10 1" "$(hub_count host=cdn 'path~*/repos/*' 'range~bytes=*' "path~*$(manifest field $KEY model.safetensors sha256)") $(hub_count 'path~*/resolve/*/model.safetensors')" \
	"model.safetensors: 10 ranged CDN requests after 1 resolve"
check "progress lines are printed when stderr is not a terminal" grep -q "^hubfs: 100% .* files $nfiles/$nfiles" "$T/progress"
for f in $(manifest files $KEY); do
	[ -f "$T/local/$f" ] && [ ! -L "$T/local/$f" ] || not_ok "$f is a real file"
	[ "$(sha256sum <"$T/local/$f" | cut -d' ' -f1)" = "$(manifest field $KEY "$f" sha256)" ] || not_ok "$f content"
done
ok "every local file is a real file with the published bytes"
check "... no pointer among them" sh -c '! grep -rl "git-lfs.github.com/spec" "$0"' "$T/local"
check "... and no temporary file left" sh -c '! find "$0" -name "*.tmp.*" | grep -q .' "$T/local"
# A run killed while copying out leaves "<file>.tmp.<pid>.<n>" (up to a
# whole file); the next run that writes the file removes those of a dead
# pid, and nothing else: a live writer's, or a name that is no file of it.
( exit 0 ) &
wait $!
dead=$!
for f in model.safetensors.tmp.$dead.0 extra/weights.dat.tmp.$dead.12 config.json.tmp.$$.0 \
	notes.tmp.$dead.0 config.json.tmp.x.0; do
	printf 'partial' >"$T/local/$f"
done
"$H" download --quiet $REPO --local-dir "$T/local" 2>"$T/quiet"
check "--quiet prints nothing" test ! -s "$T/quiet"
check "a dead run's temporary files are removed" \
	test ! -e "$T/local/model.safetensors.tmp.$dead.0" -a ! -e "$T/local/extra/weights.dat.tmp.$dead.12"
check "... a live writer's stays" test -e "$T/local/config.json.tmp.$$.0"
check "... and so do names of another shape or of no file of the repo" \
	test -e "$T/local/notes.tmp.$dead.0" -a -e "$T/local/config.json.tmp.x.0"
rm -f "$T/local/"*.tmp.*
# Modes: 0777 and 0666 less the umask, as huggingface_hub makes them; under
# umask 002 a shared folder stays writable by the group.
(umask 002 && "$H" download --quiet $REPO --include config.json --include extra/ --local-dir "$T/shared/dir")
expect_eq "775 775 775 664 664" "$(stat -c %a "$T/shared" "$T/shared/dir" "$T/shared/dir/extra" \
	"$T/shared/dir/config.json" "$T/shared/dir/extra/weights.dat" | xargs)" \
	"--local-dir under umask 002: folders 775, files 664"
(umask 027 && "$H" download --quiet $REPO --include config.json --local-dir "$T/private")
expect_eq "750 640" "$(stat -c %a "$T/private" "$T/private/config.json" | xargs)" "... under umask 027: 750, 640"
# The end does not wait for the progress thread's next tick (200 ms, which
# every download with progress on took more than a quiet one): a small file
# fetched into an empty cache, with progress and --quiet by turns, the
# quickest of 5 each, in centiseconds.
quickest() { # NAME: the quickest of its spans
	sort -n "$T/span.$1" | head -1
}
for i in 1 2 3 4 5; do
	for how in progress quiet; do
		q=
		[ $how = quiet ] && q=--quiet
		t0=$(now_cs)
		"$H" download $q $REPO --include config.json --cache-dir "$T/tick.$how.$i" 2>/dev/null ||
			not_ok "download $how $i"
		echo $(($(now_cs) - t0)) >>"$T/span.$how"
	done
done
p=$(quickest progress) q=$(quickest quiet)
check "a download with progress ends when its work does (quickest of 5: ${p}0 ms, quiet ${q}0 ms)" \
	test $((p - q)) -lt 10
# The bar counts bytes as they come, not whole blocks: model.safetensors'
# first block sends 1 MiB, then drips; the download gives up after 2 s.
# Before, the bar said 0 B all along (the block never ended).
if command -v script >/dev/null; then
	fault "{\"kind\": \"drip_body\", \"host\": \"cdn\", \"glob\": \"*$(manifest field $KEY model.safetensors sha256)*\", \"after_bytes\": 1048576, \"interval\": 0.5, \"bytes\": 65536, \"count\": 1}"
	script -qfec "'$H' download $REPO --include model.safetensors --jobs 1 --retries 0 --op-timeout 2 --cache-dir '$T/drip'" "$T/bar" >/dev/null 2>&1 </dev/null
	fakehub_ctl DELETE faults >/dev/null
	shown=$(tr '\r' '\n' <"$T/bar" | grep -oE '\] +[0-9]+% [1-9][0-9.]* (KiB|MiB) /' | tail -1)
	check "the progress bar counts a block's bytes as they come (it showed '${shown#] }')" \
		test -n "$shown"
else
	say "no script(1) for a terminal: the progress bar's check skipped"
fi
# --hf-cache: a blob already in huggingface_hub's cache, of the right size but
# damaged, is replaced by the verified bytes, not kept because of its size.
sha=$(manifest field $KEY model.safetensors sha256)
HF_HUB_CACHE="$T/hfc" "$H" download --quiet $REPO --include model.safetensors --hf-cache
blob="$T/hfc/models--hubfs-test--tiny-model/blobs/$sha"
printf 'X' | dd of="$blob" bs=1 seek=1000 conv=notrunc status=none
HF_HUB_CACHE="$T/hfc" "$H" download --quiet $REPO --include model.safetensors --hf-cache
expect_eq 0 "$?" "--hf-cache again over a damaged blob of the right size succeeds"
expect_eq "$sha" "$(sha256sum <"$blob" | cut -d' ' -f1)" "... and the blob holds the right bytes again"

# cache export of a repo the cache holds in part: the files it lacks fail
# with that reason (not "offline mode", which nobody asked for), exit 1.
"$H" download --quiet $REPO --include config.json --cache-dir "$T/cpart"
HF_HUB_CACHE="$T/hfc2" "$H" cache export $REPO --cache-dir "$T/cpart" --quiet 2>"$T/export"
expect_eq 1 "$?" "cache export of a repo cached in part: exit 1"
check "... the files it lacks are 'not in the cache'" grep -q "model.safetensors: not in the cache" "$T/export"
check "... and nothing speaks of offline mode" sh -c '! grep -q "offline mode" "$0"' "$T/export"
check "... what it holds is exported" test -f "$T/hfc2/models--hubfs-test--tiny-model/snapshots/$(manifest commit $KEY)/config.json"

# A local dir that cannot be written: our failure, exit 1, whatever its errno
# (here ENOENT: /proc takes no new folder), not the code of a Hub's answer.
"$H" download --quiet $REPO --include config.json --local-dir /proc/hubfs-no/out 2>"$T/local-fail"
expect_eq 1 "$?" "a local dir that cannot be written: exit 1"
check "... saying so" grep -q "cannot write it to the local dir" "$T/local-fail"

# A file of the local dir that is not the Hub's is replaced, as
# huggingface_hub does, but not in silence.
echo '{"my": "edited"}' >"$T/linked2.json"
mkdir -p "$T/edited"
cp "$T/linked2.json" "$T/edited/config.json"
"$H" download --quiet $REPO --include config.json --local-dir "$T/edited" 2>"$T/edited.err"
expect_eq 0 "$?" "a local file edited by the user is replaced"
check "... and a warning names it" grep -q "edited/config.json: replaced: its content was not the Hub's config.json" "$T/edited.err"
"$H" download --quiet $REPO --include config.json --local-dir "$T/edited" 2>"$T/edited2.err"
check "... a file that holds the Hub's content is left, with no word" test ! -s "$T/edited2.err"

# A link in the local dir where a folder of the repo goes: not written
# through. Before, DIR/extra -> elsewhere had extra/weights.dat written
# there, replacing a file of that name (a helper's review). The same for
# the folders of a huggingface_hub cache.
mkdir -p "$T/linked" "$T/elsewhere"
echo precious >"$T/elsewhere/weights.dat"
ln -s "$T/elsewhere" "$T/linked/extra"
"$H" download --quiet $REPO --include extra/ --include config.json --local-dir "$T/linked" \
	2>"$T/linked.err"
expect_eq 1 "$?" "a link where a folder goes in the local dir: exit 1"
check "... saying so" grep -q "extra/weights.dat: cannot write it to the local dir: Too many levels of symbolic links" "$T/linked.err"
expect_eq precious "$(cat "$T/elsewhere/weights.dat")" "... and nothing written behind the link"
check "... the other file is written" cmp -s "$T/linked/config.json" "$(manifest blob $KEY config.json)"
commit=$(manifest commit $KEY)
mkdir -p "$T/hfc3/models--hubfs-test--tiny-model/snapshots/$commit" "$T/elsewhere2"
echo precious >"$T/elsewhere2/weights.dat"
ln -s "$T/elsewhere2" "$T/hfc3/models--hubfs-test--tiny-model/snapshots/$commit/extra"
HF_HUB_CACHE="$T/hfc3" "$H" download --quiet $REPO --include extra/ --hf-cache 2>"$T/hfc3.err"
expect_eq 1 "$?" "a link where a folder goes in huggingface_hub's cache: exit 1"
expect_eq precious "$(cat "$T/elsewhere2/weights.dat")" "... and nothing written behind it"

# --- a file that cannot be fetched ---
"$H" cache evict --all >/dev/null
fakehub_ctl POST faults '{"kind": "status", "code": 503, "glob": "*/vocab.txt", "count": -1}' >/dev/null
HUBFS_MAX_RETRIES=1 "$H" download --quiet $REPO 2>"$T/fail"
expect_eq 5 "$?" "a file the Hub failed: exit 5, the Hub's reason's code (1 for mixed reasons)"
check "... the summary names it and why" grep -q "vocab.txt: the Hub failed with HTTP 503" "$T/fail"
check "... the other files are verified" sh -c '"$0" cache ls | grep -q "partial ($1 verified"' "$H" $((nfiles - 1))
fakehub_ctl DELETE faults >/dev/null

# --- a resolve that fails lets the file's other transfers go at once ---
# The first of model.safetensors' 10 transfers to miss the location cache
# resolves it, and is told a wrong X-Linked-Size: it fails. The others,
# waiting for its answer, resolve on their own then, not after 10 s.
"$H" cache evict --all >/dev/null
fakehub_ctl DELETE log >/dev/null
fault '{"kind": "wrong_linked_size", "host": "hub", "glob": "*/resolve/*/model.safetensors", "count": 1}'
SECONDS=0
"$H" download --quiet $REPO --include model.safetensors 2>"$T/wls"
expect_eq "5 0" "$? $((SECONDS >= 8))" "a failed resolve fails its transfer (exit 5), and nobody waits for it"
# Blocks not started when the file failed are skipped (ASan's slower threads
# can leave all nine so); the ones that did start resolve on their own, and
# none fetches from a location the failed resolve gave.
resolves=$(hub_count 'path~*/resolve/*/model.safetensors')
fetches=$(hub_count host=cdn "path~*$(manifest field $KEY model.safetensors sha256)")
check "... the others resolved on their own ($resolves resolves, $fetches CDN requests)" \
	sh -c '[ "$0" -ge 2 ] || [ "$1" -eq 0 ]' "$resolves" "$fetches"
"$H" download --quiet $REPO --include model.safetensors
expect_eq 0 "$?" "... and the next run completes the file"

# --- kill -9 mid-way, run again: nothing fetched twice ---
"$H" cache evict --all >/dev/null
fakehub_ctl DELETE log >/dev/null
fakehub_ctl POST faults '{"kind": "delay", "seconds": 0.4, "host": "cdn", "glob": "/repos/*", "count": -1}' >/dev/null
"$H" download --quiet --jobs 2 $REPO &
pid=$!
sleep 1.5
kill -9 $pid
wait $pid 2>/dev/null
first=$(hub_sum bytes host=cdn)
check "the killed download had fetched part of it ($first bytes)" test "$first" -gt 0 -a "$first" -lt "$bytes"
fakehub_ctl DELETE faults >/dev/null
check "run again, it completes" "$H" download --quiet $REPO
lfs_bytes=0
for f in $(manifest files $KEY); do
	[ -n "$(manifest field $KEY "$f" lfs_oid)" ] && lfs_bytes=$((lfs_bytes + $(manifest field $KEY "$f" size)))
done
total=$(hub_sum bytes host=cdn)
check "CDN bytes over both runs ($total) ~ the LFS bytes once ($lfs_bytes), at most the blocks in flight more" \
	test "$total" -ge "$lfs_bytes" -a "$total" -le $((lfs_bytes + 2 * 4194304))
check "... and everything verifies" "$H" cache verify

# --- huggingface_hub's cache: a good blob is reused, a corrupt one is not ---
"$H" cache evict --all >/dev/null
fakehub_ctl DELETE log >/dev/null
blobs="$HF_HOME/hub/models--hubfs-test--tiny-model/blobs"
mkdir -p "$blobs"
st=$(manifest field $KEY model.safetensors sha256)
pt=$(manifest field $KEY pytorch_model.bin sha256)
cfg=$(manifest field $KEY config.json oid)
cp "$(manifest blob $KEY model.safetensors)" "$blobs/$st"
cp "$(manifest blob $KEY config.json)" "$blobs/$cfg"
cp "$(manifest blob $KEY pytorch_model.bin)" "$blobs/$pt"
printf '\x00' | dd of="$blobs/$pt" bs=1 seek=1000 conv=notrunc status=none
before=$(cd "$blobs" && sha256sum * | sha256sum)
"$H" download $REPO --log-level info 2>"$T/hf"
expect_eq 0 "$?" "download with a huggingface_hub cache present"
# Its 10 blocks, fetched at once, each hashed the whole blob (a 200 MiB one
# took 1.8 CPU-s where the network took 0.24 s): one check per file now.
expect_eq "1 1" "$(grep -c "reusing 'model.safetensors'.*(hash checked)" "$T/hf") $(grep -c "reusing 'config.json'" "$T/hf")" \
	"each hf blob is hashed once: model.safetensors (10 blocks) and config.json"
check "... the corrupt one once too" test "$(grep -c "ignoring .*$pt" "$T/hf")" -eq 1
expect_eq 0 "$(hub_count host=cdn "path~*/$st")" "a verified hf blob is used: no CDN request for model.safetensors"
expect_eq 0 "$(hub_count 'path~*/config.json')" "... nor any request for config.json"
check "a corrupt hf blob is not used: pytorch_model.bin came from the CDN" test "$(hub_count host=cdn "path~*/$pt")" -ge 1
check "... and the log says why" grep -q "ignoring .*$pt.*not the content it is named after" "$T/hf"
expect_eq "$before" "$(cd "$blobs" && sha256sum * | sha256sum)" "huggingface_hub's blobs are not modified"
check "everything verifies" "$H" cache verify
test_done
