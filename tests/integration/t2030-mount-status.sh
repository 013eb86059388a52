#!/usr/bin/env bash
# `hubfs status MNT` reads a live mount's counters through the mount (the
# root's user.hubfs.status): its numbers match the fake Hub's request log
# (requests by status, CDN bytes) and the bytes read; a 503 shows as a
# retry, a corrupt object as a verification failure; --prometheus is valid
# text exposition format; a second mount over the warm cache fetches 0
# bytes and has a hit ratio of 1.
. "$HUBFS_TEST_LIB"
start_mount_with --max-cache-size 1G
KEY=model/hubfs-test/tiny-model
M=$MNT/hubfs-test/tiny-model
F=extra/weights.dat
size=$(manifest field $KEY $F size)

# status_field FILE KEY: a field of the --json output ("cache.bytes" for nested ones).
status_field() {
	"$PYTHON" -c '
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(json.dumps(v) if not isinstance(v, str) else v)' "$1" "$2"
}

# --- before any read ---
"$HUBFS_BIN" status "$MNT" --json >"$T/s0.json" 2>"$T/s0.err"
check "hubfs status --json on a fresh mount succeeds" test -s "$T/s0.json"
expect_eq "$HUB_URL" "$(status_field "$T/s0.json" endpoint)" "the endpoint is the fake Hub's"
expect_eq false "$(status_field "$T/s0.json" offline)" "... and the mount is online"
expect_eq 0 "$(status_field "$T/s0.json" bytes_served)" "nothing served yet"
expect_eq null "$(status_field "$T/s0.json" cache_hit_ratio)" "... so no hit ratio yet"
expect_eq 1073741824 "$(status_field "$T/s0.json" cache.max_bytes)" "the cache's cap is --max-cache-size"
expect_eq "$HUBFS_PID" "$(status_field "$T/s0.json" pid)" "the status comes from the mount's daemon"
expect_eq probing "$(status_field "$T/s0.json" readahead_link)" "no fetch has probed the link yet"
expect_eq 1 "$(status_field "$T/s0.json" readahead_window)" "... and the read-ahead window is 1"

# --- one cold read of an 11 MiB LFS file, with one 503 on the CDN ---
fakehub_ctl POST faults '{"kind": "status", "code": 503, "host": "cdn", "glob": "/repos/*", "count": 1}' >/dev/null
expect_eq "$(manifest field $KEY $F sha256)" "$(sha256sum <"$M/$F" | cut -d' ' -f1)" \
	"a cold read through the mount gives the published bytes"
"$HUBFS_BIN" status "$MNT" --json >"$T/s1.json"
cdn_bytes=$(hub_sum bytes host=cdn status=206)
expect_eq 1 "$(hub_count host=cdn status=503)" "the CDN answered one request with 503"
expect_eq "$cdn_bytes" "$(status_field "$T/s1.json" bytes_fetched)" \
	"bytes_fetched is the content the CDN sent ($cdn_bytes)"
expect_eq "$size" "$cdn_bytes" "... which is the file's size: each block once"
expect_eq "$(hub_sum bytes)" "$(status_field "$T/s1.json" bytes_received)" \
	"bytes_received is every body byte the fake Hub sent"
# A page the kernel was reading just as a push brought it counts twice
# (docs/hubfs.1): 8 KiB more, once, on a loaded CI machine.
served=$(status_field "$T/s1.json" bytes_served)
check "bytes_served is the bytes read, a page pushed as it was read aside ($served for $size)" \
	test "$served" -ge "$size" -a "$served" -le $((size + 65536))
expect_eq "$(hub_count)" "$(status_field "$T/s1.json" requests)" \
	"requests is the number of requests in the fake Hub's log ($(hub_count))"
want=$("$PYTHON" -c '
import collections, json, sys
c = collections.Counter(str(json.loads(l)["status"]) for l in open(sys.argv[1]) if l.strip())
print(json.dumps(dict(sorted(c.items())), sort_keys=True))' "$HUB_LOG")
got=$("$PYTHON" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["requests_by_status"], sort_keys=True))' "$T/s1.json")
expect_eq "$want" "$got" "requests_by_status is the log's count of each status"
expect_eq 1 "$(status_field "$T/s1.json" retries)" "the 503 shows as one retry"
link=$(status_field "$T/s1.json" readahead_link)
check "after read-ahead the link is known: $link" test "$link" = near -o "$link" = far
expect_eq 0 "$(status_field "$T/s1.json" timeouts)" "no timeouts"
expect_eq 0 "$(status_field "$T/s1.json" verification_failures)" "no verification failures"
expect_eq 0 "$(status_field "$T/s1.json" reads_in_flight)" "no read in flight once it is done"
check "a cold read has a hit ratio of 0 (or the pages counted twice above)" \
	"$PYTHON" -c 'import json,sys; assert json.load(open(sys.argv[1]))["cache_hit_ratio"] < 0.01' "$T/s1.json"
check "the cache holds the file (cache.bytes >= its size)" \
	test "$(status_field "$T/s1.json" cache.bytes)" -ge "$size"
# cache.bytes is the directory's, as the cap counts it: another process's too.
"$HUBFS_BIN" download hubfs-test/tiny-model --include model.safetensors --quiet ||
	die "the download beside the mount failed"
"$HUBFS_BIN" status "$MNT" --json >"$T/s1b.json"
big=$(manifest field $KEY model.safetensors size)
check "... and counts what a download beside the mount stored (+$big)" \
	test "$(status_field "$T/s1b.json" cache.bytes)" -ge "$((size + big))"

# --- a corrupt object: the read fails, and status counts it ---
fakehub_ctl POST faults '{"kind": "corrupt", "host": "cdn", "glob": "/repos/*", "count": 1}' >/dev/null
check "a read of a corrupted file fails" bash -c "! cat '$M/pytorch_model.bin' >/dev/null 2>&1"
"$HUBFS_BIN" status "$MNT" --json >"$T/s2.json"
check "verification_failures counts it" test "$(status_field "$T/s2.json" verification_failures)" -ge 1

# --- the human table ---
"$HUBFS_BIN" status "$MNT" >"$T/human.txt"
check "the table names the endpoint" grep -q "endpoint  *$HUB_URL\$" "$T/human.txt"
check "... bytes served" grep -qE "bytes served .*\([0-9]+\) in [0-9]+ reads" "$T/human.txt"
check "... the cache against its cap" grep -qE "cache size .* of 1\.0 GiB .* cap" "$T/human.txt"
check "... requests by status" grep -qE "HTTP requests +[0-9]+ \(.*503: 1" "$T/human.txt"

# --- Prometheus text exposition format, checked by a strict parser ---
"$HUBFS_BIN" status "$MNT" --prometheus >"$T/prom.txt"
real_mnt=$(realpath "$MNT")
check "the --prometheus output parses as the text exposition format" \
	"$PYTHON" - "$T/prom.txt" "$T/s2.json" "$real_mnt" <<'PY'
import json, math, re, sys
text, status, mnt = open(sys.argv[1]).read(), json.load(open(sys.argv[2])), sys.argv[3]
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
label_re = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(rf"^({name_re})(?:\{{({label_re}(?:,{label_re})*)?\}})? "
                    r"(NaN|[+-]?Inf|[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)$")
assert text.endswith("\n"), "no final newline"
types, helps, samples = {}, set(), {}
for line in text.splitlines():
    if line.startswith("# HELP "):
        name = line.split(" ", 3)[2]
        assert re.fullmatch(name_re, name) and name not in helps, line
        helps.add(name)
    elif line.startswith("# TYPE "):
        _, _, name, kind = line.split(" ")
        assert kind in ("counter", "gauge") and name not in types, line
        assert name not in {n for n, _ in samples}, "TYPE after its samples: " + line
        types[name] = kind
    else:
        m = sample.match(line)
        assert m, "not a sample line: " + repr(line)
        name, labels, value = m.groups()
        assert name in types, "sample without TYPE: " + line
        assert types[name] != "counter" or name.endswith("_total"), line
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels or ""))
        assert labels.get("mount") == mnt, line
        key = (name, tuple(sorted(labels.items())))
        assert key not in samples, "duplicate sample: " + line
        samples[key] = float(value)
def get(name, **extra):
    return samples[(name, tuple(sorted(dict(mount=mnt, **extra).items())))]
assert get("hubfs_bytes_fetched_total") == status["bytes_fetched"]
assert get("hubfs_bytes_served_total") == status["bytes_served"]
assert get("hubfs_http_retries_total") == status["retries"]
assert get("hubfs_verification_failures_total") == status["verification_failures"]
assert get("hubfs_cache_max_bytes") == 1073741824
for code, n in status["requests_by_status"].items():
    assert get("hubfs_http_responses_total", code=code) == n, code
assert math.isclose(get("hubfs_cache_hit_ratio"), status["cache_hit_ratio"], abs_tol=1e-4)
print("ok:", len(samples), "samples of", len(types), "metrics")
PY

# --- not a mount: a clear error ---
mkdir -p "$T/plain"
check "status of a plain directory fails" bash -c "! '$HUBFS_BIN' status '$T/plain' 2>'$T/plain.err'"
check "... saying it is not a hubfs mount" grep -q "not the root of a hubfs mount" "$T/plain.err"
check "status of a folder inside the mount fails the same way" \
	bash -c "! '$HUBFS_BIN' status '$M' 2>/dev/null"

# --- a second mount over the warm cache: nothing fetched, all hits ---
check "the first mount unmounts cleanly" unmount_hubfs
fakehub_ctl DELETE log >/dev/null
mount_hubfs
expect_eq "$(manifest field $KEY $F sha256)" "$(sha256sum <"$M/$F" | cut -d' ' -f1)" \
	"the warm read gives the published bytes"
"$HUBFS_BIN" status "$MNT" --json >"$T/s3.json"
expect_eq 0 "$(hub_count host=cdn)" "the warm read made no CDN request"
expect_eq 0 "$(status_field "$T/s3.json" bytes_fetched)" "... and status says 0 bytes fetched"
check "... and a hit ratio of 1" \
	"$PYTHON" -c 'import json,sys; assert json.load(open(sys.argv[1]))["cache_hit_ratio"] == 1' "$T/s3.json"
expect_eq "$(hub_count)" "$(status_field "$T/s3.json" requests)" \
	"... with as many requests as the log has ($(hub_count))"
check "the second mount unmounts cleanly" unmount_hubfs

# A cache directory named in no UTF-8 (paths are bytes): the status is
# still JSON and Prometheus text a strict parser reads (a helper's review:
# the byte went through as it was, and json.load() failed).
odd=$(printf '%s/c\377"d' "$T")
MNT=$(printf '%s/m\377n"t' "$T") # the mount's path is a Prometheus label
mkdir -p "$MNT"
mount_hubfs --cache-dir "$odd"
"$HUBFS_BIN" status "$MNT" --json >"$T/odd.json"
check "status --json of a cache dir named in no UTF-8 is valid JSON" \
	"$PYTHON" -c 'import json,sys; d = json.load(open(sys.argv[1], encoding="utf-8")); assert d["cache"]["dir"].endswith("c\ufffd\"d"), d["cache"]["dir"]' "$T/odd.json"
"$HUBFS_BIN" status "$MNT" --prometheus >"$T/odd.prom"
check "... and --prometheus is UTF-8, its mount label too" "$PYTHON" -c 'import sys; t = open(sys.argv[1], "rb").read().decode("utf-8"); assert "m\ufffdn\\\"t" in t, t[:300]' "$T/odd.prom"
check "the third mount unmounts cleanly" unmount_hubfs
check "no sanitizer report in the daemon's log" scan_logs "$HUBFS_LOG"
test_done
