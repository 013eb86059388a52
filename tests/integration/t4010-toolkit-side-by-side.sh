#!/usr/bin/env bash
# The seed's own toolkit side by side with hubfs (issue #13, item 1).
# OmniGenBench's download_from_hf_hub, verify_download_integrity,
# list_hf_repo_files, get_model_info and ModelHub.load, run against the fake
# Hub, and hubfs download / verify / ls / info and the mount on the same
# repos: a model, a sharded model, a private repo with a token, a dataset.
# Same bytes; what each detects on the same broken folders (LFS pointer
# stubs, a truncated file, a flipped byte, a missing required file); a run
# killed mid-download and run again. The toolkit's results are asserted as
# measured (docs/benchmarks.md has the table, from bench/bench_toolkits.py).
. "$HUBFS_TEST_LIB"
[ -x "${HUBFS_VENV_PYTHON:-}" ] ||
	skip_all "no Python test environment at '${HUBFS_VENV_PYTHON:-}' (scripts/deps.sh --tests)"
"$HUBFS_VENV_PYTHON" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("omnigenbench") is None)' ||
	skip_all "omnigenbench is not in the test environment (tests/requirements.txt)"
grep -q '"model/hubfs-ml/bert-tiny"' "$FAKEHUB_DATA/manifest.json" ||
	skip_all "no hubfs-ml repos in the fake Hub's data (made with the test environment)"
start_fakehub
OMNI=$(dirname "$0")/../omni/omni_toolkit.py
export HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1
printf '%s\n' "$ALICE_TOKEN" >"$T/alice.token"

# omni OUT STEP...: run the toolkit's steps (JSON objects) in one process.
omni() {
	local out=$1
	shift
	(IFS=,; printf '[%s]\n' "$*") >"$T/steps.json"
	"$HUBFS_VENV_PYTHON" "$OMNI" "$T/steps.json" "$out" >>"$T/omni.log" 2>&1
}
# res FILE INDEX EXPR: EXPR evaluated on result INDEX (as r).
res() {
	"$PYTHON" -c 'import json,sys; r=json.load(open(sys.argv[1]))[int(sys.argv[2])]; print(eval(sys.argv[3]))' "$@"
}
# files DIR: the files below DIR, sorted, without huggingface_hub's .cache/.
files() { (cd "$1" && find . -path ./.cache -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort); }
lfs_bytes() { # KEY: the bytes of KEY's LFS files
	local f n=0
	for f in $(manifest files "$1"); do
		[ -n "$(manifest field "$1" "$f" lfs_oid)" ] && n=$((n + $(manifest field "$1" "$f" size)))
	done
	echo $n
}

M=hubfs-test/tiny-model S=hubfs-test/sharded-model P=hubfs-test/private-model
D=hubfs-ml/parquet-rows B=hubfs-ml/bert-tiny
O=$T/omni H=$T/hubfs

# --- 1. hubfs download --local-dir of each repo ---
fakehub_ctl DELETE log >/dev/null
for r in $M $S $B; do
	check "hubfs download $r" "$HUBFS_BIN" download --quiet "$r" --local-dir "$H/${r#*/}"
done
check "hubfs download $P with alice's token" \
	"$HUBFS_BIN" download --quiet "$P" --token-file "$T/alice.token" --local-dir "$H/${P#*/}"
check "hubfs download datasets/$D" "$HUBFS_BIN" download --quiet "datasets/$D" --local-dir "$H/${D#*/}"
want=0
for k in model/$M model/$S model/$P model/$B dataset/$D; do want=$((want + $(lfs_bytes $k))); done
expect_eq "$want" "$(hub_sum bytes host=cdn)" "hubfs fetched every LFS byte once from the CDN"
expect_eq 0 "$(hub_count host=cdn auth=true)" "... and never sent the token to the CDN"

# --- 2. the toolkit on the same repos ---
fakehub_ctl DELETE log >/dev/null
omni "$T/r2.json" \
	"{\"op\":\"download\",\"repo\":\"$M\",\"cache_dir\":\"$O\"}" \
	"{\"op\":\"download\",\"repo\":\"$S\",\"cache_dir\":\"$O\"}" \
	"{\"op\":\"download\",\"repo\":\"$P\",\"cache_dir\":\"$O\",\"token\":\"$ALICE_TOKEN\"}" \
	"{\"op\":\"download\",\"repo\":\"$D\",\"type\":\"dataset\",\"cache_dir\":\"$O\"}" \
	"{\"op\":\"download\",\"repo\":\"$B\",\"cache_dir\":\"$O\"}" \
	"{\"op\":\"download\",\"repo\":\"$P\",\"cache_dir\":\"$T/omni-anon\"}" \
	"{\"op\":\"download\",\"repo\":\"$M\",\"cache_dir\":\"$T/omni-inc\",\"allow\":[\"*.json\"]}" \
	"{\"op\":\"download\",\"repo\":\"$M\",\"cache_dir\":\"$T/omni-exc\",\"ignore\":[\"*.safetensors\",\"*.bin\"]}" \
	"{\"op\":\"list\",\"repo\":\"$M\"}" \
	"{\"op\":\"list\",\"repo\":\"$S\"}" \
	"{\"op\":\"list\",\"repo\":\"$P\",\"token\":\"$ALICE_TOKEN\"}" \
	"{\"op\":\"list\",\"repo\":\"$D\",\"type\":\"dataset\"}" \
	"{\"op\":\"info\",\"repo\":\"$M\"}" \
	"{\"op\":\"info\",\"repo\":\"$S\"}" \
	"{\"op\":\"info\",\"repo\":\"$P\",\"token\":\"$ALICE_TOKEN\"}" \
	"{\"op\":\"load\",\"model\":\"$B\",\"cache_dir\":\"$T/omni-load\"}" \
	"{\"op\":\"load\",\"model\":\"$H/bert-tiny\",\"cache_dir\":\"$T/omni-load\"}" \
	"{\"op\":\"load\",\"model\":\"hubfs-test/no-such-model\",\"cache_dir\":\"$T/omni-load\"}"
expect_eq 0 "$?" "the toolkit's steps ran (see $T/omni.log)"
R=$T/r2.json
for i in 0 1 2 3 4; do
	expect_eq True "$(res $R $i 'r["ok"]')" "download_from_hf_hub of the repo of step $i succeeds"
done
expect_eq False "$(res $R 5 'r["ok"]')" "without the token, the private repo fails"
check "... the Hub said 401" test "$(hub_count status=401 "path~/api/models/$P/*")" -ge 1
expect_eq 0 "$(hub_count host=cdn auth=true)" "the toolkit sent no token to the CDN either"

# --- 3. the same files, the same bytes; ls and info agree ---
for r in $M $S $P $D $B; do
	n=${r#*/} od=$O/${r%%/*}--$n
	check "$r: the toolkit's folder and hubfs's hold the same files" \
		diff <(files "$H/$n") <(files "$od")
	check "$r: ... with the same bytes" diff -r -x .cache "$H/$n" "$od"
done
check "hubfs verify --deep passes the toolkit's download of $M" \
	"$HUBFS_BIN" verify "$O/hubfs-test--tiny-model" --repo $M --deep
i=8
for r in $M $S $P datasets/$D; do
	tok=
	[ "$r" = $P ] && tok="--token-file $T/alice.token"
	# shellcheck disable=SC2086
	"$HUBFS_BIN" ls "$r" -R $tok | grep -v '/$' | LC_ALL=C sort >"$T/ls"
	expect_eq "$(res $R $i '"\n".join(sorted(r["files"]))')" "$(cat "$T/ls")" \
		"hubfs ls -R $r lists what list_hf_repo_files lists"
	i=$((i + 1))
done
for r in $M $S $P; do
	tok=
	[ "$r" = $P ] && tok="--token-file $T/alice.token"
	# shellcheck disable=SC2086
	"$HUBFS_BIN" info "$r" --json $tok >"$T/info"
	expect_eq "$(res $R $i 'r["info"]["sha"], len(r["info"]["siblings"])')" \
		"$("$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print((d["sha"], d["files"]))' "$T/info")" \
		"hubfs info $r: the commit and file count get_model_info gives"
	i=$((i + 1))
done
# The mount serves the same bytes.
mount_hubfs --cache-dir "$CACHE_DIR" --token-file "$T/alice.token"
for r in $M $P datasets/$D; do
	n=${r##*/}
	check "$r through the mount: the same bytes" diff -r "$H/$n" "$MNT/$r"
done
unmount_hubfs
check "... the daemon exited cleanly" scan_logs "$HUBFS_LOG"

# --include / --exclude select what allow_patterns / ignore_patterns select.
"$HUBFS_BIN" download --quiet $M --include '*.json' --local-dir "$T/hubfs-inc"
check "--include '*.json' = allow_patterns=['*.json']" \
	diff <(files "$T/hubfs-inc") <(files "$T/omni-inc/hubfs-test--tiny-model")
"$HUBFS_BIN" download --quiet $M --include '*' --exclude '*.safetensors' --exclude '*.bin' \
	--local-dir "$T/hubfs-exc"
check "--exclude = ignore_patterns" \
	diff <(files "$T/hubfs-exc") <(files "$T/omni-exc/hubfs-test--tiny-model")

# ModelHub.load on the CPU, from the Hub and from hubfs's folder.
expect_eq "True GenericOmniModelWrapper BertModel [1, 4, 128] []" \
	"$(res $R 15 '" ".join(map(str, (r["ok"], r["class"], r["base"], r["last_hidden_state"], r["blocked"])))')" \
	"ModelHub.load('$B') downloads it from the fake Hub and runs on the CPU"
expect_eq "$(res $R 15 'r["sum"]')" "$(res $R 16 'r["sum"]')" \
	"... and gives the outputs it gives from hubfs's folder"
expect_eq "False" "$(res $R 17 'r["ok"]')" "ModelHub.load of a repo that does not exist fails"
check "... after trying git clone https://huggingface.co (refused here)" \
	grep -q "git clone https://huggingface.co" <(res $R 17 'r["blocked"]')

# --- 4. the same broken folders: what each detects ---
# For M and S: pointer stubs (a clone without Git-LFS), the largest file
# truncated to half, one byte of it flipped, config.json missing.
breakages="stubs truncated flipped missing"
steps=()
for r in $M $S; do
	n=${r#*/} big=$(cd "$H/${r#*/}" && ls -S | head -1)
	manifest tree model/$r "$T/broken/$n-stubs" clone
	for b in truncated flipped missing; do cp -r "$H/$n" "$T/broken/$n-$b"; done
	size=$(stat -c %s "$H/$n/$big")
	truncate -s $((size / 2)) "$T/broken/$n-truncated/$big"
	printf '\x5a' | dd of="$T/broken/$n-flipped/$big" bs=1 seek=$((size / 2)) conv=notrunc status=none
	rm "$T/broken/$n-missing/config.json"
	all=$(manifest files model/$r | sed 's/.*/"&"/' | paste -sd, -)
	for b in $breakages; do
		steps+=("{\"op\":\"verify\",\"dir\":\"$T/broken/$n-$b\"}"
			"{\"op\":\"verify\",\"dir\":\"$T/broken/$n-$b\",\"required\":[$all]}")
		"$HUBFS_BIN" verify "$T/broken/$n-$b" --repo $r --deep --json >"$T/v-$n-$b"
		expect_eq 1 "$?" "hubfs verify --repo --deep detects $n-$b"
	done
	expect_eq "hash" "$("$PYTHON" -c 'import json,sys; print(" ".join(sorted({p["kind"] for p in json.load(open(sys.argv[1]))["problems"]})))' "$T/v-$n-flipped")" \
		"... the flipped byte as a hash mismatch"
	"$HUBFS_BIN" verify "$T/broken/$n-stubs" >"$T/v-$n-plain"
	expect_eq 1 "$?" "hubfs verify without --repo detects the pointer stubs of $n"
done
omni "$T/r4.json" "${steps[@]}"
expect_eq 0 "$?" "verify_download_integrity ran on the 8 folders"
detected() { # R I: 'detects' when verify_download_integrity said False
	[ "$(res "$T/r4.json" "$2" 'r["ok"]')" = False ] && echo detects || echo misses
}
i=0
got=
for r in $M $S; do
	for b in $breakages; do
		got="$got ${r#*/}-$b:$(detected "$r" $i)/$(detected "$r" $((i + 1)))"
		i=$((i + 2))
	done
done
# As measured (default required_files / every repo file required): it looks
# for pointer stubs only among *.bin files, never at sizes or hashes.
expect_eq " tiny-model-stubs:detects/detects tiny-model-truncated:misses/misses tiny-model-flipped:misses/misses tiny-model-missing:detects/detects sharded-model-stubs:misses/misses sharded-model-truncated:misses/misses sharded-model-flipped:misses/misses sharded-model-missing:detects/detects" \
	"$got" "verify_download_integrity detects stubs only in *.bin, and missing files"

# --- 5. killed mid-download, run again ---
# The CDN stalls pytorch_model.bin (after 1 MiB of each answer; hubfs asks
# for it last) and serves the other LFS files; each tool is killed (-9) once
# it has written those two into its folder.
st=$(manifest field model/$M model.safetensors sha256)
pt=$(manifest field model/$M pytorch_model.bin sha256)
wt=$(manifest field model/$M extra/weights.dat sha256)
stall="{\"kind\": \"stall\", \"host\": \"cdn\", \"glob\": \"/repos/*/$pt\", \"after_bytes\": 1048576, \"seconds\": 20, \"count\": -1}"
others_done() { [ -f "$1/model.safetensors" ] && [ -f "$1/extra/weights.dat" ]; }
killed_midway() { # PID DIR
	wait_for 120 others_done "$2" || not_ok "model.safetensors and extra/weights.dat never came"
	kill -9 "$1"
	wait "$1" 2>/dev/null
}
fakehub_ctl DELETE log >/dev/null
fakehub_ctl POST faults "$stall" >/dev/null
(IFS=,; printf '[{"op":"download","repo":"%s","cache_dir":"%s"}, {"op":"verify","dir":"%s"}]\n' \
	$M "$T/int" "$T/int/hubfs-test--tiny-model") >"$T/steps-int.json"
"$HUBFS_VENV_PYTHON" "$OMNI" "$T/steps-int.json" "$T/r5a.json" >>"$T/omni.log" 2>&1 &
killed_midway $! "$T/int/hubfs-test--tiny-model"
fakehub_ctl DELETE faults >/dev/null
fakehub_ctl DELETE log >/dev/null
"$HUBFS_VENV_PYTHON" "$OMNI" "$T/steps-int.json" "$T/r5.json" >>"$T/omni.log" 2>&1
expect_eq "True True" "$(res "$T/r5.json" 0 'r["ok"]') $(res "$T/r5.json" 1 'r["ok"]')" \
	"the toolkit, run again after kill -9: download and verify_download_integrity say all is well"
expect_eq 0 "$(hub_count)" "... without asking the Hub anything (the folder exists)"
"$HUBFS_BIN" verify "$T/int/hubfs-test--tiny-model" --repo $M --deep --json >"$T/v-int"
expect_eq "1 missing:pytorch_model.bin" "$?$("$PYTHON" -c 'import json,sys; print("".join(sorted({" %s:%s" % (p["kind"], p["path"]) for p in json.load(open(sys.argv[1]))["problems"]})))' "$T/v-int")" \
	"... yet pytorch_model.bin is missing from it (hubfs verify)"

"$HUBFS_BIN" cache evict --all >/dev/null
fakehub_ctl DELETE log >/dev/null
fakehub_ctl POST faults "$stall" >/dev/null
"$HUBFS_BIN" download --quiet $M --local-dir "$T/int-hubfs" &
killed_midway $! "$T/int-hubfs"
fakehub_ctl DELETE faults >/dev/null
fakehub_ctl DELETE log >/dev/null
check "hubfs download, run again after kill -9, completes" \
	"$HUBFS_BIN" download --quiet $M --local-dir "$T/int-hubfs"
check "... every file verified" "$HUBFS_BIN" verify "$T/int-hubfs" --repo $M --deep
expect_eq 0 "$(($(hub_count host=cdn "path~*/$st") + $(hub_count host=cdn "path~*/$wt")))" \
	"... fetching nothing of the files completed before the kill"
again=$(hub_sum bytes host=cdn)
expect_eq "$(manifest field model/$M pytorch_model.bin size)" "$again" \
	"... and pytorch_model.bin once (its blocks had not been verified)"
test_done
