// @huggingface/hub's downloadFile of one file into a file, as a user of the JS
// client would: bench_read.sh times it beside hubfs. Uses the client pinned
// for the fidelity test (tests/fidelity/package-lock.json; npm ci there first).
//
//   node bench/js_download.mjs HUB_URL REPO PATH OUT
import { createRequire } from "node:module";
import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const require = createRequire(`${here}../tests/fidelity/package.json`);
const hub = await import(pathToFileURL(require.resolve("@huggingface/hub")).href);
const [hubUrl, repo, path, out] = process.argv.slice(2);
const blob = await hub.downloadFile({ hubUrl, repo, path });
if (!blob) throw new Error(`${repo}/${path}: not found`);
await pipeline(Readable.fromWeb(blob.stream()), createWriteStream(out));
