/* SPDX-License-Identifier: MIT */
/*
 * What a live mount is doing, for `hubfs status`: the counters of the Hub
 * client, the cache and the FUSE side as one JSON object, the value of
 * the root's user.hubfs.status attribute. Reading it through the mount
 * needs no socket of its own: whoever may enter the mount may read it,
 * and it holds no secret (never the token, nor where it came from, nor
 * a password in the endpoint's URL).
 *
 * The fields (docs/hubfs.1, STATUS, says what each means):
 *   version, pid, endpoint, offline, repo, strict, uptime_seconds, nodes,
 *   commits, commit_entries,
 *   bytes_fetched, bytes_received, bytes_served, bytes_pushed, bytes_spliced, reads,
 *   cache_hit_ratio, requests, requests_by_status {"200": n, ...}, retries,
 *   resumes, timeouts, transport_errors, verification_failures, corrupt_blocks,
 *   rejected, block_fetches, block_fetch_waits, block_fetch_joins, block_disk_hits,
 *   reads_in_flight, readahead_in_flight, readahead_window,
 *   readahead_peak_window, readahead_congestions, readahead_link, drop_behind,
 *   blocks_let_go,
 *   memory_room_bytes, cache {dir, bytes, max_bytes, min_free_ratio, objects, blocks}
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/memroom.h"
#include "util/utf8.h"

void fs_status_read_begin(struct fs *fs)
{
	atomic_fetch_add(&fs->status.reads_in_flight, 1);
}

void fs_status_read_end(struct fs *fs)
{
	atomic_fetch_sub(&fs->status.reads_in_flight, 1);
}

void fs_status_served(struct fs *fs, size_t n)
{
	atomic_fetch_add(&fs->status.bytes_served, n);
	atomic_fetch_add(&fs->status.reads, 1);
}

void fs_status_pushed(struct fs *fs, size_t n, bool spliced)
{
	atomic_fetch_add(&fs->status.bytes_served, n);
	atomic_fetch_add(&fs->status.bytes_pushed, n);
	if (spliced)
		atomic_fetch_add(&fs->status.bytes_spliced, n);
}

/* @s as a JSON string literal, or null. */
static int json_str(struct buf *b, const char *s)
{
	int rc = 0;

	if (!s)
		return buf_append_str(b, "null");
	rc = buf_append_str(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
		size_t n = utf8_seq_len(p);

		if (*p == '"' || *p == '\\')
			rc = buf_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			rc = buf_printf(b, "\\u%04x", *p);
		else if (n == 0) /* JSON is UTF-8: a path's stray byte is U+FFFD here */
			rc = buf_append_str(b, "\\ufffd");
		else {
			rc = buf_append(b, p, n);
			p += n - 1;
		}
	}
	return rc ? rc : buf_append_str(b, "\"");
}

/* The endpoint, with a user:password its URL may carry replaced by three stars. */
static int json_endpoint(struct buf *b, const char *url)
{
	char shown[2048];

	hub_redact_url(url, shown, sizeof(shown));
	return json_str(b, shown);
}

static int json_u64(struct buf *b, const char *name, uint64_t v)
{
	return buf_printf(b, ",\"%s\":%llu", name, (unsigned long long)v);
}

int fs_status_render(struct fs *fs, struct buf *b)
{
	const struct hub_config *cfg = fs->deps.hub_config;
	const struct cache_options *copts = fs->deps.cache_options;
	struct hub_stats *hs = calloc(1, sizeof(*hs)); /* 4 KiB of status slots */
	struct cache_stats cs;
	struct cache_usage cu;
	struct hub_pace_stats ps;
	uint64_t served = atomic_load(&fs->status.bytes_served);
	/* As drop_behind() last measured it; only auto measures. */
	uint64_t room = fs->opts.drop_behind == FS_DROP_AUTO ? atomic_load(&fs->memory_room) :
							      MEM_ROOM_UNKNOWN;
	time_t now = time(NULL);
	size_t commits, commit_entries;
	bool first = true;
	int rc;

	if (!hs)
		return -ENOMEM;
	hub_client_stats(fs->deps.hub, hs);
	cache_stats(fs->deps.cache, &cs);
	cache_usage(fs->deps.cache, &cu);
	fs_prefetch_pace_stats(fs, &ps);

	rc = buf_printf(b, "{\"version\":\"%s\",\"pid\":%ld,\"endpoint\":", HUBFS_VERSION,
			(long)getpid());
	rc = rc ? rc : json_endpoint(b, cfg->endpoint);
	rc = rc ? rc : buf_printf(b, ",\"offline\":%s,\"repo\":",
				  cfg->offline ? "true" : "false");
	rc = rc ? rc : json_str(b, fs->opts.repo);
	rc = rc ? rc : buf_printf(b, ",\"strict\":%s", fs->opts.strict ? "true" : "false");
	rc = rc ? rc : json_u64(b, "uptime_seconds",
				now > fs->started_at ? (uint64_t)(now - fs->started_at) : 0);
	repo_tables_count(&commits, &commit_entries);
	rc = rc ? rc : json_u64(b, "nodes", fs_node_count(fs));
	rc = rc ? rc : json_u64(b, "commits", commits);
	rc = rc ? rc : json_u64(b, "commit_entries", commit_entries);
	rc = rc ? rc : json_u64(b, "bytes_fetched", cs.fetch_bytes);
	rc = rc ? rc : json_u64(b, "bytes_received", hs->bytes_body);
	rc = rc ? rc : json_u64(b, "bytes_served", served);
	rc = rc ? rc : json_u64(b, "bytes_pushed", atomic_load(&fs->status.bytes_pushed));
	rc = rc ? rc : json_u64(b, "bytes_spliced", atomic_load(&fs->status.bytes_spliced));
	rc = rc ? rc : json_u64(b, "reads", atomic_load(&fs->status.reads));
	/*
	 * The byte hit ratio: the share of the bytes served that this mount
	 * did not fetch. Read-ahead that nobody read yet lowers it.
	 */
	if (rc == 0 && served == 0)
		rc = buf_append_str(b, ",\"cache_hit_ratio\":null");
	else if (rc == 0)
		rc = buf_printf(b, ",\"cache_hit_ratio\":%.4f",
				cs.fetch_bytes >= served ? 0.0 :
				1.0 - (double)cs.fetch_bytes / (double)served);
	rc = rc ? rc : json_u64(b, "requests", hs->requests);
	rc = rc ? rc : buf_append_str(b, ",\"requests_by_status\":{");
	for (size_t i = 0; rc == 0 && i < HUB_STATUS_SLOTS; i++) {
		if (!hs->by_status[i])
			continue;
		rc = buf_printf(b, "%s\"%zu\":%llu", first ? "" : ",", i + HUB_STATUS_MIN,
				(unsigned long long)hs->by_status[i]);
		first = false;
	}
	rc = rc ? rc : buf_append_str(b, "}");
	rc = rc ? rc : json_u64(b, "retries", hs->retries);
	rc = rc ? rc : json_u64(b, "resumes", hs->resumes);
	rc = rc ? rc : json_u64(b, "timeouts", hs->timeouts);
	rc = rc ? rc : json_u64(b, "transport_errors", hs->transport_errors);
	rc = rc ? rc : json_u64(b, "verification_failures", cs.corrupt_blocks + cs.rejected);
	rc = rc ? rc : json_u64(b, "corrupt_blocks", cs.corrupt_blocks);
	rc = rc ? rc : json_u64(b, "rejected", cs.rejected);
	rc = rc ? rc : json_u64(b, "block_fetches", cs.fetches);
	rc = rc ? rc : json_u64(b, "block_fetch_waits", cs.fetch_waits);
	rc = rc ? rc : json_u64(b, "block_fetch_joins", cs.fetch_joins);
	rc = rc ? rc : json_u64(b, "block_disk_hits", cs.disk_hits);
	rc = rc ? rc : json_u64(b, "reads_in_flight", atomic_load(&fs->status.reads_in_flight));
	rc = rc ? rc : json_u64(b, "readahead_in_flight",
				atomic_load(&fs->status.readahead_in_flight));
	rc = rc ? rc : json_u64(b, "readahead_window", ps.window);
	rc = rc ? rc : json_u64(b, "readahead_peak_window", ps.peak_window);
	rc = rc ? rc : json_u64(b, "readahead_congestions", ps.congestions);
	/* What the window's probe found (hub/pace.h): the window starts at 2 on a near link. */
	rc = rc ? rc : buf_printf(b, ",\"readahead_link\":\"%s\"",
				  ps.probing ? "probing" : !ps.probed ? "none" :
				  ps.near ? "near" : "far");
	rc = rc ? rc : buf_printf(b, ",\"drop_behind\":\"%s\"",
				  fs->opts.drop_behind == FS_DROP_ALWAYS ? "always" :
				  fs->opts.drop_behind == FS_DROP_NEVER  ? "never" : "auto");
	rc = rc ? rc : json_u64(b, "blocks_let_go", atomic_load(&fs->status.blocks_let_go));
	if (rc == 0 && room == MEM_ROOM_UNKNOWN)
		rc = buf_append_str(b, ",\"memory_room_bytes\":null");
	else
		rc = rc ? rc : json_u64(b, "memory_room_bytes", room);
	rc = rc ? rc : buf_append_str(b, ",\"cache\":{\"dir\":");
	rc = rc ? rc : json_str(b, cache_dir(fs->deps.cache));
	rc = rc ? rc : json_u64(b, "bytes", cu.dir_bytes); /* what the cap compares */
	rc = rc ? rc : json_u64(b, "max_bytes", copts ? copts->max_bytes : 0);
	rc = rc ? rc : buf_printf(b, ",\"min_free_ratio\":%.4f",
				  copts ? copts->min_free_ratio : 0.0);
	rc = rc ? rc : json_u64(b, "objects", cu.objects);
	rc = rc ? rc : json_u64(b, "blocks", cu.blocks);
	rc = rc ? rc : buf_append_str(b, "}}\n");
	free(hs);
	return rc < 0 ? rc : 0;
}
