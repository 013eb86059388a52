#!/usr/bin/env node
// Fidelity test of the fake Hub: run the official JavaScript client (@huggingface/hub) against
// it and compare everything the client reports with the generator's manifest.
//
//   node fidelity.mjs --hub URL --data DATA_DIR [--report FILE] [--expect-fail[=REGEX]]
//
//   --hub URL        the fake Hub's base URL (the "hub" entry of fakehub.py's state file)
//   --data DIR       the generator's output: DIR/manifest.json and DIR/blobs/<sha256>
//   --report FILE    write a JSON report: every request the client started (method, url,
//                    whether it carried Authorization, Range), for the driver's log checks
//   --expect-fail    invert the verdict: exit 0 only if at least one check failed (and, with
//                    =REGEX, at least one failed check's line matches REGEX)
//
// Output: one line per check, "ok   <name>" or "FAIL <name>: expected …, got …", lines
// starting with "info" (not counted), and last a line "N passed, M failed".
// Exit status: 0 all passed, 1 a check failed, 2 usage or set-up error (never 0 with
// --expect-fail).
//
// What the client does (read from @huggingface/hub 2.17.5, dist/chunk-*.mjs):
//  * listFiles: GET {hub}/api/{type}s/{id}/tree/{rev}[/{path}]?recursive=…&expand=…, with
//    accept: application/json and Authorization if a token is given; the revision and path go
//    into the URL raw (not percent-encoded); follows Link rel="next" (absolute URLs only).
//  * modelInfo / datasetInfo / spaceInfo: GET {hub}/api/{type}s/{id}/revision/{rev or HEAD}
//    with repeated expand=… (model: pipeline_tag private gated downloads likes lastModified,
//    dataset: private downloads gated likes lastModified, space: sdk likes private
//    lastModified) plus the additionalFields ("filePaths" maps to expand=siblings).
//  * fileDownloadInfo: GET {hub}/{prefix}{id}/resolve/{encodeURIComponent(rev)}/{path raw}
//    with Range: bytes=0-0, Accept: application/vnd.xet-fileinfo+json, */* and Authorization;
//    fetch follows the redirects (undici drops Authorization on the cross-origin hop to the
//    CDN). Size from the final response's Content-Range total (X-Linked-Size only for a xet
//    fileinfo answer); etag from the final response's X-Linked-ETag, else ETag, as sent (quotes
//    kept): for a regular file "<git blob sha1>" from resolve-cache; for an LFS file whatever
//    the CDN sends (the real Hub gives the sha256 only through the Xet fileinfo answer, which a
//    fake without Xet does not emulate). 404 with X-Error-Code: EntryNotFound gives null; any other non-2xx throws
//    HubApiError(statusCode, message from the JSON "error"). The URL it returns is the final
//    URL when it is on the hub's origin or when the answer carries "X-Cache: … cloudfront",
//    else the resolve URL.
//  * downloadFile: fileDownloadInfo, then a WebBlob on that URL; blob reads send the token
//    again, straight to that URL. So with a token and a CloudFront-looking CDN the client sends
//    Authorization to the CDN (the only requests that do); slice(a, b) sends Range: bytes=a-(b-1).
//  * fileExists: HEAD {hub}/{prefix}{id}/raw/{rev}/{path}; 404 -> false.
//  * pathsInfo: POST {hub}/api/{type}s/{id}/paths-info/{rev} with a JSON body {paths, expand}.
//  * listModels / listDatasets / listSpaces({search: {owner}}): GET {hub}/api/{type}s?limit=500
//    &author=OWNER&expand=… (models: pipeline_tag private gated downloads likes lastModified;
//    datasets: private downloads gated likes lastModified; spaces: sdk likes private
//    lastModified) plus the additionalFields, with Authorization if a token is given; follows
//    Link rel="next". Each entry: name (the id), private, gated (not spaces), updatedAt (from
//    lastModified), id (the _id).

import { readFile, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { join } from "node:path";
import * as hub from "@huggingface/hub";

// ---------------------------------------------------------------- arguments

function usage(msg) {
  if (msg) console.error(`fidelity.mjs: ${msg}`);
  console.error("usage: node fidelity.mjs --hub URL --data DATA_DIR [--report FILE] [--expect-fail[=REGEX]]");
  process.exit(2);
}

const opts = { hub: null, data: null, report: null, expectFail: false, expectRe: null };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === "--hub") opts.hub = val();
    else if (a.startsWith("--hub=")) opts.hub = a.slice(6);
    else if (a === "--data") opts.data = val();
    else if (a.startsWith("--data=")) opts.data = a.slice(7);
    else if (a === "--report") opts.report = val();
    else if (a.startsWith("--report=")) opts.report = a.slice(9);
    else if (a === "--expect-fail") opts.expectFail = true;
    else if (a.startsWith("--expect-fail=")) {
      opts.expectFail = true;
      opts.expectRe = new RegExp(a.slice(14));
    } else if (a === "-h" || a === "--help") usage();
    else usage(`unknown argument ${a}`);
  }
  if (!opts.hub || !opts.data) usage("--hub and --data are required");
  opts.hub = opts.hub.replace(/\/+$/, "");
}
const HUB = opts.hub;
const HUB_ORIGIN = new URL(HUB).origin;

// ---------------------------------------------------------------- checks and output

let passed = 0;
let failed = 0;
const failLines = [];

function show(v) {
  if (v === undefined) return "undefined";
  const s = typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v, (k, x) => (typeof x === "bigint" ? String(x) : x));
  return s === undefined ? String(v) : s.length > 300 ? s.slice(0, 297) + "..." : s;
}
function ok(name) {
  passed++;
  console.log(`ok   ${name}`);
}
function fail(name, detail) {
  failed++;
  const line = `FAIL ${name}: ${detail}`;
  failLines.push(line);
  console.log(line);
}
function info(name, detail) {
  console.log(`info ${name}: ${detail}`);
}
function eq(name, expected, got) {
  if (deepEqual(expected, got)) ok(name);
  else fail(name, `expected ${show(expected)}, got ${show(got)}`);
}
function truthy(name, cond, detail) {
  if (cond) ok(name);
  else fail(name, detail);
}
// A check over many items: one line, with the first few mismatches.
function many(name, problems, total) {
  if (problems.length === 0) ok(`${name} (${total} checked)`);
  else {
    const shown = problems.slice(0, 8).join("; ");
    fail(name, `${problems.length} of ${total} wrong: ${shown}${problems.length > 8 ? "; ..." : ""}`);
  }
}
function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return deepEqual(ka, kb) && ka.every((k) => deepEqual(a[k], b[k]));
}
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
const normEtag = (e) => (e == null ? e : e.replace(/^W\//, "").replace(/^"(.*)"$/, "$1"));

// Runs fn; returns {value} or {error: {cls, statusCode, message}}.
async function attempt(fn) {
  try {
    return { value: await fn() };
  } catch (e) {
    return { error: { cls: e?.constructor?.name ?? typeof e, statusCode: e?.statusCode, message: String(e?.message ?? e) } };
  }
}
function descr(r) {
  if (r.error) return `${r.error.cls}${r.error.statusCode !== undefined ? ` ${r.error.statusCode}` : ""}: ${r.error.message}`;
  return `success (${show(r.value)})`;
}
// The client reports an HTTP error as a HubApiError carrying the status.
function expectApiError(name, r, status) {
  if (r.error && r.error.cls === "HubApiError" && r.error.statusCode === status) ok(`${name} -> HubApiError ${status}`);
  else fail(`${name} -> HubApiError ${status}`, `expected HubApiError with statusCode ${status}, got ${descr(r)}`);
}
function expectSuccess(name, r) {
  if (r.error) {
    fail(name, `expected success, got ${descr(r)}`);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- a recording fetch

// Every request the client starts goes through this, so the report can say which of them
// carried Authorization (redirects are followed inside fetch and are not seen here).
const requests = [];
async function recordingFetch(input, init = {}) {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  const h = new Headers(init.headers ?? {});
  const rec = {
    method: (init.method ?? "GET").toUpperCase(),
    url,
    auth: h.has("authorization"),
    range: h.get("range"),
    status: null,
    finalUrl: null,
    xCache: null,
  };
  requests.push(rec);
  const resp = await fetch(input, init);
  rec.status = resp.status;
  rec.finalUrl = resp.url;
  rec.xCache = resp.headers.get("x-cache");
  return resp;
}
const common = { hubUrl: HUB, fetch: recordingFetch };

// Raw request (no client), for what the client does not show: the first redirect's headers.
async function rawHead(url, token, method = "GET", extra = {}) {
  const headers = { ...extra };
  if (token) headers.Authorization = `Bearer ${token}`;
  const resp = await fetch(url, { method, headers, redirect: "manual" });
  await resp.arrayBuffer().catch(() => {});
  return resp;
}

// ---------------------------------------------------------------- manifest

let manifest;
try {
  manifest = JSON.parse(await readFile(join(opts.data, "manifest.json"), "utf8"));
} catch (e) {
  console.error(`fidelity.mjs: cannot read ${join(opts.data, "manifest.json")}: ${e.message}`);
  process.exit(2);
}
// A wide repo's commits keep their file table in a side file ("files_in", see
// tests/fakehub/README.md): read them all in now, so every check below sees commit.files.
for (const r of Object.values(manifest.repos ?? {})) {
  for (const c of Object.values(r.commits ?? {})) {
    if (c.files_in) Object.assign(c, JSON.parse(await readFile(join(opts.data, c.files_in), "utf8")));
  }
}
const blob = (sha) => readFile(join(opts.data, "blobs", sha));

const tokenOf = (user) => Object.entries(manifest.tokens ?? {}).find(([, t]) => t.user === user)?.[0];
const ALICE = tokenOf("alice");
const BOB = tokenOf("bob");

function repo(key) {
  const r = manifest.repos?.[key];
  if (!r) throw new Error(`manifest has no repo ${key}`);
  const branch = r.default_branch ?? "main";
  const head = r.refs.branches[branch];
  return { key, r, type: r.type, id: r.id, head, commit: r.commits[head] };
}
const prefixOf = (type) => (type === "model" ? "" : `${type}s/`);
const jsRepo = (R) => ({ type: R.type, name: R.id });
const resolveUrl = (R, rev, path) =>
  `${HUB}/${prefixOf(R.type)}${R.id}/resolve/${encodeURIComponent(rev)}/${path.split("/").map(encodeURIComponent).join("/")}`;

// Expected tree entries of a commit (directories included), optionally under a path.
function expectedEntries(commit, { under = "", recursive = true } = {}) {
  const out = new Map();
  const inScope = (p) => {
    const rel = under ? (p.startsWith(under + "/") ? p.slice(under.length + 1) : null) : p;
    return rel !== null && rel !== "" && (recursive || !rel.includes("/"));
  };
  for (const [p, f] of Object.entries(commit.files)) if (inScope(p)) out.set(p, { type: "file", ...f });
  for (const [p, oid] of Object.entries(commit.dirs ?? {})) if (inScope(p)) out.set(p, { type: "directory", oid });
  return out;
}

// ---------------------------------------------------------------- repo lists vs manifest

// The repos of @owner of @type that @user ("anonymous", "alice", "bob") may see: private ones
// only when the user's token reads them; gated ones for everyone.
function visibleRepos(type, owner, user) {
  const token = tokenOf(user);
  const readable = new Set(token ? manifest.tokens[token].private ?? [] : []);
  return Object.entries(manifest.repos)
    .filter(([k, r]) => r.type === type && r.author === owner && (!r.private || readable.has(k)))
    .map(([, r]) => r);
}

async function checkRepoList(type, list, owner, user) {
  const name = `list${type[0].toUpperCase()}${type.slice(1)}s owner=${owner} (${user})`;
  const token = tokenOf(user);
  const before = requests.length;
  const r = await attempt(async () => {
    const got = [];
    for await (const e of list({ ...common, search: { owner }, accessToken: token, additionalFields: ["sha"] })) got.push(e);
    return got;
  });
  if (!expectSuccess(name, r)) return;
  const got = r.value;
  const pages = requests.slice(before).filter((q) => new URL(q.url).pathname === `/api/${type}s`);
  const want = new Map(visibleRepos(type, owner, user).map((w) => [w.id, w]));
  const names = got.map((e) => e.name);
  many(`${name}: names`, [
    ...[...want.keys()].filter((id) => !names.includes(id)).map((id) => `missing ${show(id)}`),
    ...names.filter((id) => !want.has(id)).map((id) => `unexpected ${show(id)}`),
    ...names.filter((id, i) => names.indexOf(id) !== i).map((id) => `${show(id)} twice`),
  ], want.size);
  const bad = [];
  for (const e of got) {
    const w = want.get(e.name);
    if (!w) continue;
    const head = w.refs.branches[w.default_branch ?? "main"];
    if (e.private !== w.private) bad.push(`${e.name}: private ${show(e.private)}`);
    if (type !== "space" && e.gated !== w.gated) bad.push(`${e.name}: gated ${show(e.gated)}`);
    if (e.sha !== head) bad.push(`${e.name}: sha ${show(e.sha)}`);
    const date = isNaN(e.updatedAt) ? String(e.updatedAt) : e.updatedAt.toISOString();
    if (date !== w.commits[head].date) bad.push(`${e.name}: updatedAt ${show(date)}`);
    if (typeof e.id !== "string" || !e.id) bad.push(`${e.name}: id (_id) ${show(e.id)}`);
  }
  many(`${name}: private, gated, sha, updatedAt of each`, bad, got.length);
  // The client asks 500 a page; past 1,000 repos it must have followed Link at least twice.
  const wantPages = Math.max(1, Math.ceil(want.size / 500));
  if (want.size > 1000 || pages.length !== wantPages)
    eq(`${name}: ${want.size} repos in ${wantPages} pages, following Link`, wantPages, pages.length);
  if (pages.length > 1)
    truthy(`${name}: every page after the first came from the Link cursor`,
      pages.slice(1).every((q) => new URL(q.url).searchParams.has("cursor")), show(pages.map((q) => q.url)));
  if (token)
    truthy(`${name}: every page carried the token`, pages.every((q) => q.auth), "");
}

// ---------------------------------------------------------------- listFiles vs manifest

async function checkListing(label, R, commit, { rev, token, under, recursive = true } = {}) {
  const name = `listFiles ${label}`;
  const before = requests.length;
  const r = await attempt(async () => {
    const got = [];
    for await (const e of hub.listFiles({ ...common, repo: jsRepo(R), revision: rev, path: under, recursive, accessToken: token })) got.push(e);
    return got;
  });
  if (!expectSuccess(name, r)) return null;
  const got = r.value;
  const pages = requests.slice(before).filter((q) => q.url.includes("/tree/")).length;
  const want = expectedEntries(commit, { under, recursive });

  const seen = new Map();
  const dups = [];
  for (const e of got) {
    if (seen.has(e.path)) dups.push(e.path);
    seen.set(e.path, e);
  }
  many(`${name}: no duplicate paths`, dups.map((p) => `${show(p)} twice`), got.length);
  const missing = [...want.keys()].filter((p) => !seen.has(p)).map((p) => `missing ${show(p)}`);
  const extra = [...seen.keys()].filter((p) => !want.has(p)).map((p) => `unexpected ${show(p)}`);
  many(`${name}: paths`, [...missing, ...extra], want.size);

  const bad = { type: [], size: [], oid: [], lfs: [], dir: [] };
  for (const [p, w] of want) {
    const e = seen.get(p);
    if (!e) continue;
    if (e.type !== w.type) {
      bad.type.push(`${show(p)}: expected ${w.type}, got ${show(e.type)}`);
      continue;
    }
    if (w.type === "directory") {
      if (e.oid !== w.oid) bad.dir.push(`${show(p)} oid: expected ${w.oid}, got ${show(e.oid)}`);
      if (e.size !== 0) bad.dir.push(`${show(p)} size: expected 0, got ${show(e.size)}`);
      if (e.lfs !== undefined) bad.dir.push(`${show(p)}: unexpected lfs ${show(e.lfs)}`);
      continue;
    }
    if (e.size !== w.size) bad.size.push(`${show(p)}: expected ${w.size}, got ${show(e.size)}`);
    if (e.oid !== w.oid) bad.oid.push(`${show(p)}: expected ${w.oid}, got ${show(e.oid)}`);
    const wl = w.lfs ? { oid: w.lfs.oid, size: w.lfs.size, pointerSize: w.lfs.pointerSize } : undefined;
    const gl = e.lfs ? { oid: e.lfs.oid, size: e.lfs.size, pointerSize: e.lfs.pointerSize } : e.lfs;
    if (!deepEqual(wl, gl)) bad.lfs.push(`${show(p)}: expected ${show(wl ?? null)}, got ${show(gl ?? null)}`);
  }
  const nFiles = [...want.values()].filter((w) => w.type === "file").length;
  many(`${name}: types`, bad.type, want.size);
  many(`${name}: file sizes`, bad.size, nFiles);
  many(`${name}: file oids`, bad.oid, nFiles);
  many(`${name}: lfs oid/size/pointerSize`, bad.lfs, nFiles);
  many(`${name}: directory oids and sizes`, bad.dir, want.size - nFiles);
  info(name, `${got.length} entries in ${pages} page(s)`);
  return { got, pages };
}

// ---------------------------------------------------------------- downloads vs manifest

async function checkDownloadInfo(label, R, path, { rev = "main", token, commit = R.commit } = {}) {
  const name = `fileDownloadInfo ${label}`;
  const f = commit.files[path];
  const r = await attempt(() => hub.fileDownloadInfo({ ...common, repo: jsRepo(R), path, revision: rev, accessToken: token }));
  if (!expectSuccess(name, r)) return null;
  const di = r.value;
  if (!di) {
    fail(name, "expected the file's info, got null (not found)");
    return null;
  }
  eq(`${name}: size`, f.size, di.size);
  if (f.lfs) {
    // The client takes the etag from the final (CDN) answer. The real Hub's CDN ETag is its
    // own (the xet hash for Xet-backed files, hub-api.md §3.1/§14), not the sha256: only the
    // first redirect's X-Linked-Etag carries the sha256 (checked in "resolve redirect" below).
    truthy(`${name}: etag present (CDN's own)`, typeof di.etag === "string" && normEtag(di.etag).length > 0, `got ${show(di.etag)}`);
    info(`${name}: etag`, `${show(di.etag)} (${normEtag(di.etag) === f.lfs.oid ? "the sha256" : "not the sha256"}; not judged: a real classic-LFS CloudFront ETag is S3's own, e.g. "41a0e5…-64")`);
    const cdn = new URL(di.url).origin !== HUB_ORIGIN;
    info(`${name}: url`, cdn ? `the CDN URL itself (answer had X-Cache cloudfront), so blob reads go straight there` : `the resolve URL (blob reads go through the Hub's redirect)`);
  } else {
    eq(`${name}: etag (git blob sha1, quoted)`, `"${f.oid}"`, di.etag);
    eq(`${name}: url on the Hub's origin`, HUB_ORIGIN, new URL(di.url).origin);
  }
  return di;
}

async function checkDownload(label, R, path, { rev = "main", token, commit = R.commit, ranges = [] } = {}) {
  const name = `downloadFile ${label}`;
  const f = commit.files[path];
  const want = await blob(f.sha256);
  const r = await attempt(async () => {
    const b = await hub.downloadFile({ ...common, repo: jsRepo(R), path, revision: rev, accessToken: token });
    if (!b) return null;
    return { size: b.size, bytes: Buffer.from(await b.arrayBuffer()), blob: b };
  });
  if (!expectSuccess(name, r)) return null;
  if (!r.value) {
    fail(name, "expected a blob, got null (not found)");
    return null;
  }
  eq(`${name}: blob size`, f.size, r.value.size);
  eq(`${name}: bytes length`, f.size, r.value.bytes.length);
  eq(`${name}: bytes sha256`, f.sha256, sha256(r.value.bytes));
  for (const [a, b] of ranges) {
    const rn = `${name}: range [${a}, ${b})`;
    const rr = await attempt(async () => Buffer.from(await r.value.blob.slice(a, b).arrayBuffer()));
    if (!expectSuccess(rn, rr)) continue;
    const exp = want.subarray(a, Math.min(b, want.length));
    if (Buffer.compare(exp, rr.value) === 0) ok(`${rn} (${exp.length} bytes)`);
    else fail(rn, `expected ${exp.length} bytes sha256 ${sha256(exp)}, got ${rr.value.length} bytes sha256 ${sha256(rr.value)}`);
  }
  return r.value;
}

// The first answer of /resolve, as the real Hub gives it (hub-api.md §3.1/§3.2). The JS client
// follows redirects and never sees these headers; huggingface_hub and hubfs read them.
async function checkResolveRedirect(label, R, path, { rev = "main", token } = {}) {
  const name = `resolve redirect ${label}`;
  const f = R.commit.files[path];
  const r = await attempt(() => rawHead(resolveUrl(R, rev, path), token, "HEAD"));
  if (!expectSuccess(name, r)) return;
  const h = r.value.headers;
  eq(`${name}: X-Repo-Commit`, R.head, h.get("x-repo-commit"));
  if (f.lfs) {
    eq(`${name}: status`, 302, r.value.status);
    eq(`${name}: X-Linked-Size`, String(f.lfs.size), h.get("x-linked-size"));
    eq(`${name}: X-Linked-Etag (quoted sha256)`, `"${f.lfs.oid}"`, h.get("x-linked-etag"));
    const loc = h.get("location") ?? "";
    truthy(`${name}: Location absolute, on another host`, /^https?:\/\//.test(loc) && new URL(loc).host !== new URL(HUB).host, `got ${show(loc)}`);
  } else {
    eq(`${name}: status`, 307, r.value.status);
    const loc = h.get("location") ?? "";
    truthy(`${name}: Location relative`, loc.startsWith("/"), `got ${show(loc)}`);
    const le = h.get("x-linked-etag");
    if (le !== null) eq(`${name}: X-Linked-Etag (quoted git sha1)`, `"${f.oid}"`, le);
  }
}

// ---------------------------------------------------------------- the test

async function main() {
  const tiny = repo("model/hubfs-test/tiny-model");
  const big = repo("dataset/hubfs-test/big-dataset");
  const priv = repo("model/hubfs-test/private-model");
  const gated = repo("model/hubfs-test/gated-model");
  if (!ALICE || !BOB) throw new Error("manifest has no token for alice or bob");

  // --- listings
  const bigL = await checkListing("dataset hubfs-test/big-dataset@main recursive", big, big.commit);
  if (bigL) {
    const nEntries = expectedEntries(big.commit).size;
    truthy(
      `listFiles dataset hubfs-test/big-dataset: followed Link pagination past 1000 entries`,
      nEntries > 1000 && bigL.pages >= Math.ceil(nEntries / 1000),
      `expected at least ${Math.ceil(nEntries / 1000)} pages for ${nEntries} entries (>1000), got ${bigL.pages}`,
    );
  }
  await checkListing("model hubfs-test/tiny-model@main recursive", tiny, tiny.commit);
  await checkListing("model hubfs-test/tiny-model@main root only", tiny, tiny.commit, { recursive: false });
  await checkListing("model hubfs-test/tiny-model@main under extra/", tiny, tiny.commit, { under: "extra" });
  for (const [tag, sha] of Object.entries(tiny.r.refs.tags ?? {}))
    await checkListing(`model hubfs-test/tiny-model@${tag} (tag)`, tiny, tiny.r.commits[sha], { rev: tag });
  for (const [n, sha] of Object.entries(tiny.r.refs.pulls ?? {}))
    await checkListing(`model hubfs-test/tiny-model@refs/pr/${n} (literal in the URL)`, tiny, tiny.r.commits[sha], { rev: `refs/pr/${n}` });
  await checkListing(`model hubfs-test/tiny-model@${tiny.head} (commit sha)`, tiny, tiny.commit, { rev: tiny.head });
  // The client does not encode the revision: a branch with "/" is read as branch + path by
  // the Hub, which answers 404 (hub-api.md §14).
  for (const b of Object.keys(tiny.r.refs.branches).filter((b) => b.includes("/"))) {
    const r = await attempt(async () => {
      for await (const _ of hub.listFiles({ ...common, repo: jsRepo(tiny), revision: b })) void _;
    });
    expectApiError(`listFiles model hubfs-test/tiny-model@${b} (unencoded "/" in revision)`, r, 404);
  }
  // Every other repo at its default branch (private with alice's token; gated anonymously:
  // only file contents are gated). bulk-org's repos share one commit: the first model and the
  // first dataset stand for them all.
  for (const key of Object.keys(manifest.repos).sort()) {
    if (key === tiny.key || key === big.key) continue;
    if (manifest.repos[key].bulk && !/\/(model-0000|data-0)$/.test(key)) continue;
    if (manifest.repos[key].disabled) continue; // 403 "Access to this resource is disabled." (fidelity_py.py checks it)
    const R = repo(key);
    const token = R.r.private ? ALICE : undefined;
    await checkListing(`${R.type} ${R.id}@${R.r.default_branch ?? "main"} recursive${token ? " (alice)" : ""}`, R, R.commit, { token });
  }

  // --- repo lists: every namespace, every type, as each user may see it
  const namespaces = [...new Set(Object.values(manifest.repos).map((r) => r.author).filter(Boolean))].sort();
  for (const owner of namespaces) {
    for (const [type, list] of [["model", hub.listModels], ["dataset", hub.listDatasets], ["space", hub.listSpaces]]) {
      for (const user of ["anonymous", "alice", "bob"]) {
        await checkRepoList(type, list, owner, user);
      }
    }
  }

  // --- repo info
  {
    const name = "modelInfo hubfs-test/tiny-model";
    const r = await attempt(() =>
      hub.modelInfo({ ...common, name: tiny.id, additionalFields: ["sha", "author", "createdAt", "tags", "cardData", "filePaths"] }),
    );
    if (expectSuccess(name, r)) {
      const m = r.value;
      eq(`${name}: name`, tiny.id, m.name);
      truthy(`${name}: id (_id) is a non-empty string`, typeof m.id === "string" && m.id.length > 0, `got ${show(m.id)}`);
      eq(`${name}: sha (HEAD = main)`, tiny.head, m.sha);
      eq(`${name}: private`, tiny.r.private, m.private);
      eq(`${name}: gated`, tiny.r.gated, m.gated);
      eq(`${name}: updatedAt (lastModified = main's date)`, tiny.commit.date, isNaN(m.updatedAt) ? String(m.updatedAt) : m.updatedAt.toISOString());
      eq(`${name}: author`, tiny.r.author, m.author);
      eq(`${name}: createdAt`, tiny.r.created_at, m.createdAt);
      const missingTags = (tiny.r.tags ?? []).filter((t) => !(m.tags ?? []).includes(t));
      truthy(`${name}: tags include the manifest's`, Array.isArray(m.tags) && missingTags.length === 0, `missing ${show(missingTags)} in ${show(m.tags)}`);
      if (tiny.r.card !== undefined) eq(`${name}: cardData`, tiny.r.card, m.cardData);
      eq(`${name}: filePaths (siblings)`, Object.keys(tiny.commit.files).sort(), [...(m.filePaths ?? [])].sort());
    }
    for (const [tag, sha] of Object.entries(tiny.r.refs.tags ?? {})) {
      const rt = await attempt(() => hub.modelInfo({ ...common, name: tiny.id, revision: tag, additionalFields: ["sha"] }));
      if (expectSuccess(`modelInfo hubfs-test/tiny-model@${tag}`, rt)) eq(`modelInfo hubfs-test/tiny-model@${tag}: sha`, sha, rt.value.sha);
    }
  }
  {
    const name = "datasetInfo hubfs-test/big-dataset";
    const r = await attempt(() => hub.datasetInfo({ ...common, name: big.id, additionalFields: ["sha", "author", "createdAt", "tags"] }));
    if (expectSuccess(name, r)) {
      const d = r.value;
      eq(`${name}: name`, big.id, d.name);
      truthy(`${name}: id (_id) is a non-empty string`, typeof d.id === "string" && d.id.length > 0, `got ${show(d.id)}`);
      eq(`${name}: sha (HEAD = main)`, big.head, d.sha);
      eq(`${name}: private`, big.r.private, d.private);
      eq(`${name}: gated`, big.r.gated, d.gated);
      eq(`${name}: updatedAt (lastModified = main's date)`, big.commit.date, isNaN(d.updatedAt) ? String(d.updatedAt) : d.updatedAt.toISOString());
      eq(`${name}: author`, big.r.author, d.author);
      eq(`${name}: createdAt`, big.r.created_at, d.createdAt);
    }
    for (const [tag, sha] of Object.entries(big.r.refs.tags ?? {})) {
      const rt = await attempt(() => hub.datasetInfo({ ...common, name: big.id, revision: tag, additionalFields: ["sha"] }));
      if (expectSuccess(`datasetInfo hubfs-test/big-dataset@${tag}`, rt)) eq(`datasetInfo hubfs-test/big-dataset@${tag}: sha`, sha, rt.value.sha);
    }
  }
  if (manifest.repos["space/hubfs-test/demo-space"]) {
    const sp = repo("space/hubfs-test/demo-space");
    const name = "spaceInfo hubfs-test/demo-space";
    const r = await attempt(() => hub.spaceInfo({ ...common, name: sp.id, additionalFields: ["sha"] }));
    if (expectSuccess(name, r)) {
      eq(`${name}: name`, sp.id, r.value.name);
      eq(`${name}: sha`, sp.head, r.value.sha);
      eq(`${name}: private`, sp.r.private, r.value.private);
      if (sp.r.sdk !== undefined) eq(`${name}: sdk`, sp.r.sdk, r.value.sdk);
    }
  }

  // --- downloads of the tiny model: a regular file and LFS files
  const lfsFiles = Object.entries(tiny.commit.files).filter(([, f]) => f.lfs).sort((a, b) => a[1].size - b[1].size);
  const smallLfs = (tiny.commit.files["pytorch_model.bin"]?.lfs ? "pytorch_model.bin" : lfsFiles[0]?.[0]);
  const safet = tiny.commit.files["model.safetensors"] ? "model.safetensors" : lfsFiles[lfsFiles.length - 1]?.[0];
  await checkResolveRedirect("hubfs-test/tiny-model config.json", tiny, "config.json");
  await checkResolveRedirect(`hubfs-test/tiny-model ${smallLfs}`, tiny, smallLfs);
  await checkDownloadInfo("hubfs-test/tiny-model config.json", tiny, "config.json");
  const lfsInfo = await checkDownloadInfo(`hubfs-test/tiny-model ${smallLfs}`, tiny, smallLfs);
  if (lfsInfo && new URL(lfsInfo.url).origin !== HUB_ORIGIN) ok(`fileDownloadInfo hubfs-test/tiny-model ${smallLfs}: CDN answers "X-Cache: … cloudfront" like the real one`);
  else if (lfsInfo) fail(`fileDownloadInfo hubfs-test/tiny-model ${smallLfs}: CDN answers "X-Cache: … cloudfront" like the real one`, `the client did not keep the CDN URL (final URL ${show(requests.at(-1)?.finalUrl)}, X-Cache ${show(requests.at(-1)?.xCache)})`);
  const cfg = tiny.commit.files["config.json"];
  await checkDownload("hubfs-test/tiny-model config.json", tiny, "config.json", {
    ranges: [[0, 1], [1, Math.min(17, cfg.size)], [Math.floor(cfg.size / 2), cfg.size]],
  });
  const sl = tiny.commit.files[smallLfs];
  await checkDownload(`hubfs-test/tiny-model ${smallLfs}`, tiny, smallLfs, {
    ranges: [[0, 4], [Math.floor(sl.size / 2), Math.floor(sl.size / 2) + 4096], [sl.size - 100, sl.size]],
  });
  // The big safetensors file: only ranges (its 8-byte header length and the JSON header).
  if (safet && safet !== smallLfs) {
    const f = tiny.commit.files[safet];
    const want = await blob(f.sha256);
    const name = `downloadFile hubfs-test/tiny-model ${safet}`;
    const r = await attempt(() => hub.downloadFile({ ...common, repo: jsRepo(tiny), path: safet }));
    if (expectSuccess(name, r) && r.value) {
      eq(`${name}: blob size`, f.size, r.value.size);
      const hdrLen = Number(want.readBigUInt64LE(0));
      for (const [a, b] of [[0, 8], [8, 8 + Math.min(hdrLen, 65536)], [f.size - 1, f.size]]) {
        const rn = `${name}: range [${a}, ${b})`;
        const rr = await attempt(async () => Buffer.from(await r.value.slice(a, b).arrayBuffer()));
        if (!expectSuccess(rn, rr)) continue;
        const exp = want.subarray(a, b);
        if (Buffer.compare(exp, rr.value) === 0) ok(`${rn} (${exp.length} bytes)`);
        else fail(rn, `expected ${exp.length} bytes sha256 ${sha256(exp)}, got ${rr.value.length} bytes sha256 ${sha256(rr.value)}`);
      }
    } else if (r.value === null) fail(name, "expected a blob, got null");
  }
  // The tag: a file as of v1.0 (the client encodes the revision in resolve URLs).
  for (const [tag, sha] of Object.entries(tiny.r.refs.tags ?? {})) {
    const c = tiny.r.commits[sha];
    if (c.files["config.json"]) await checkDownload(`hubfs-test/tiny-model@${tag} config.json`, tiny, "config.json", { rev: tag, commit: c });
  }
  // An empty file: the client's bytes=0-0 probe cannot be satisfied; what the real Hub answers
  // is not known (hub-api.md §14), so only report it.
  if (tiny.commit.files["empty.txt"]) {
    const r = await attempt(() => hub.fileDownloadInfo({ ...common, repo: jsRepo(tiny), path: "empty.txt" }));
    info("fileDownloadInfo hubfs-test/tiny-model empty.txt (not judged)", descr(r));
  }

  // --- missing things
  {
    const r = await attempt(() => hub.fileDownloadInfo({ ...common, repo: jsRepo(tiny), path: "no/such-file.txt" }));
    if (expectSuccess("fileDownloadInfo hubfs-test/tiny-model missing file", r)) eq("fileDownloadInfo hubfs-test/tiny-model missing file -> null (404 EntryNotFound)", null, r.value);
    const d = await attempt(() => hub.downloadFile({ ...common, repo: jsRepo(tiny), path: "no/such-file.txt" }));
    if (expectSuccess("downloadFile hubfs-test/tiny-model missing file", d)) eq("downloadFile hubfs-test/tiny-model missing file -> null", null, d.value);
    const fe = await attempt(() => hub.fileExists({ ...common, repo: jsRepo(tiny), path: "no/such-file.txt" }));
    if (expectSuccess("fileExists hubfs-test/tiny-model missing file", fe)) eq("fileExists hubfs-test/tiny-model missing file -> false", false, fe.value);
    const fe2 = await attempt(() => hub.fileExists({ ...common, repo: jsRepo(tiny), path: "config.json" }));
    if (expectSuccess("fileExists hubfs-test/tiny-model config.json", fe2)) eq("fileExists hubfs-test/tiny-model config.json -> true", true, fe2.value);
    const lf = await attempt(async () => {
      for await (const _ of hub.listFiles({ ...common, repo: jsRepo(tiny), path: "no-such-dir" })) void _;
    });
    expectApiError("listFiles hubfs-test/tiny-model missing folder", lf, 404);
    const rv = await attempt(async () => {
      for await (const _ of hub.listFiles({ ...common, repo: jsRepo(tiny), revision: "no-such-branch" })) void _;
    });
    expectApiError("listFiles hubfs-test/tiny-model unknown revision", rv, 404);
    const mi = await attempt(() => hub.modelInfo({ ...common, name: "hubfs-test/no-such-model" }));
    expectApiError("modelInfo missing repo, anonymous", mi, 401);
    const mi2 = await attempt(() => hub.modelInfo({ ...common, name: "hubfs-test/no-such-model", accessToken: ALICE }));
    expectApiError("modelInfo missing repo, alice", mi2, 404);
    const paths = ["config.json", "no-such-file", "extra", smallLfs];
    const pi = await attempt(() => hub.pathsInfo({ ...common, repo: jsRepo(tiny), paths, revision: "main" }));
    if (expectSuccess("pathsInfo hubfs-test/tiny-model", pi)) {
      const want = paths.filter((p) => tiny.commit.files[p] || tiny.commit.dirs?.[p]);
      eq("pathsInfo hubfs-test/tiny-model: request order, missing path omitted", want, pi.value.map((e) => e.path));
      const wantE = want.map((p) => {
        const f = tiny.commit.files[p];
        return f
          ? { path: p, type: "file", oid: f.oid, size: f.size, lfs: f.lfs ? { oid: f.lfs.oid, size: f.lfs.size, pointerSize: f.lfs.pointerSize } : null }
          : { path: p, type: "directory", oid: tiny.commit.dirs[p], size: 0, lfs: null };
      });
      const gotE = pi.value.map((e) => ({ path: e.path, type: e.type, oid: e.oid, size: e.size, lfs: e.lfs ? { oid: e.lfs.oid, size: e.lfs.size, pointerSize: e.lfs.pointerSize } : null }));
      eq("pathsInfo hubfs-test/tiny-model: entries", wantE, gotE);
    }
  }

  // --- private repo
  {
    const P = `hubfs-test/private-model`;
    const someFile = Object.keys(priv.commit.files).sort().find((p) => !priv.commit.files[p].lfs && priv.commit.files[p].size > 0);
    const lfsFile = Object.keys(priv.commit.files).sort().find((p) => priv.commit.files[p].lfs);
    expectApiError(`modelInfo ${P} anonymous`, await attempt(() => hub.modelInfo({ ...common, name: priv.id })), 401);
    expectApiError(`modelInfo ${P} bob`, await attempt(() => hub.modelInfo({ ...common, name: priv.id, accessToken: BOB })), 404);
    const ma = await attempt(() => hub.modelInfo({ ...common, name: priv.id, accessToken: ALICE, additionalFields: ["sha"] }));
    if (expectSuccess(`modelInfo ${P} alice`, ma)) {
      eq(`modelInfo ${P} alice: private`, true, ma.value.private);
      eq(`modelInfo ${P} alice: sha`, priv.head, ma.value.sha);
    }
    const la = await attempt(async () => {
      for await (const _ of hub.listFiles({ ...common, repo: jsRepo(priv) })) void _;
    });
    expectApiError(`listFiles ${P} anonymous`, la, 401);
    if (someFile) {
      expectApiError(`downloadFile ${P} ${someFile} anonymous`, await attempt(() => hub.downloadFile({ ...common, repo: jsRepo(priv), path: someFile })), 401);
      expectApiError(`fileDownloadInfo ${P} ${someFile} bob`, await attempt(() => hub.fileDownloadInfo({ ...common, repo: jsRepo(priv), path: someFile, accessToken: BOB })), 404);
      await checkDownload(`${P} ${someFile} alice`, priv, someFile, { token: ALICE });
    }
    if (lfsFile) await checkDownload(`${P} ${lfsFile} alice`, priv, lfsFile, { token: ALICE, ranges: [[0, 16]] });
  }

  // --- gated repo: metadata open, contents gated
  {
    const G = `hubfs-test/gated-model`;
    const files = Object.keys(gated.commit.files).sort();
    const regular = files.find((p) => !gated.commit.files[p].lfs && gated.commit.files[p].size > 0 && p !== ".gitattributes") ?? files.find((p) => !gated.commit.files[p].lfs);
    const lfsFile = files.find((p) => gated.commit.files[p].lfs);
    const mi = await attempt(() => hub.modelInfo({ ...common, name: gated.id, additionalFields: ["sha"] }));
    if (expectSuccess(`modelInfo ${G} anonymous (metadata is not gated)`, mi)) {
      eq(`modelInfo ${G} anonymous: gated`, gated.r.gated, mi.value.gated);
      eq(`modelInfo ${G} anonymous: sha`, gated.head, mi.value.sha);
    }
    for (const p of [regular, lfsFile].filter(Boolean)) {
      expectApiError(`downloadFile ${G} ${p} anonymous`, await attempt(() => hub.downloadFile({ ...common, repo: jsRepo(gated), path: p })), 401);
      expectApiError(`downloadFile ${G} ${p} bob (not approved)`, await attempt(() => hub.downloadFile({ ...common, repo: jsRepo(gated), path: p, accessToken: BOB })), 403);
      await checkDownloadInfo(`${G} ${p} alice`, gated, p, { token: ALICE });
      await checkDownload(`${G} ${p} alice`, gated, p, { token: ALICE, ranges: [[0, Math.min(16, gated.commit.files[p].size)]] });
    }
  }

  // --- odd names: the listing (already compared above) and downloads of the names the client
  // can put in a URL (it appends the path raw, so "%", "?" and "#" cannot work with it).
  if (manifest.repos["dataset/hubfs-test/odd-names"]) {
    const O = repo("dataset/hubfs-test/odd-names");
    const names = Object.keys(O.commit.files).filter((p) => !/[%?#]/.test(p) && /[^A-Za-z0-9_./-]/.test(p)).sort().slice(0, 4);
    for (const p of names) await checkDownload(`hubfs-test/odd-names ${show(p)}`, O, p);
  }
}

// ---------------------------------------------------------------- run

let crashed = null;
try {
  await main();
} catch (e) {
  crashed = e;
  fail("test driver", `unexpected exception: ${e?.stack ?? e}`);
}

if (opts.report) {
  const hubOrigin = HUB_ORIGIN;
  const report = {
    hub: HUB,
    requests,
    // Requests the client itself sent with Authorization to a host other than the Hub: the
    // only ones allowed to reach the CDN with a token.
    authToOtherHosts: requests
      .filter((q) => q.auth && new URL(q.url).origin !== hubOrigin)
      .map((q) => ({ method: q.method, url: q.url, range: q.range })),
    passed,
    failed,
  };
  await writeFile(opts.report, JSON.stringify(report, null, 1));
}

console.log(`${passed} passed, ${failed} failed`);
if (opts.expectFail) {
  const matched = opts.expectRe ? failLines.some((l) => opts.expectRe.test(l)) : failed > 0;
  if (crashed && !failLines.some((l) => !l.startsWith("FAIL test driver"))) {
    console.log("expect-fail: the run crashed before any real check failed");
    process.exit(1);
  }
  console.log(matched ? `expect-fail: as expected, a check failed${opts.expectRe ? ` matching /${opts.expectRe.source}/` : ""}` : `expect-fail: no failed check${opts.expectRe ? ` matches /${opts.expectRe.source}/` : ""}`);
  process.exit(matched ? 0 : 1);
}
process.exit(failed > 0 ? 1 : 0);
