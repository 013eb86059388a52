/* SPDX-License-Identifier: MIT */
/*
 * hubfs status MOUNTPOINT [--json | --prometheus]
 *
 * What a live mount is doing, read through the mount itself: the root's
 * user.hubfs.status attribute, a JSON object the daemon renders
 * (fs/status.c). No socket: whoever may enter the mount may read it.
 * The value is checked like any input: an object, every field of the
 * expected type, or the command fails.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "util/size.h"
#include "util/utf8.h"

#define STATUS_XATTR "user.hubfs.status"
#define STATUS_MAX (64 * 1024)

/* A counter or gauge of the JSON object, and its Prometheus name. */
struct status_metric {
	const char *key;    /* "bytes_fetched", or "cache.bytes" */
	const char *name;   /* hubfs_... */
	const char *type;   /* counter or gauge */
	const char *help;
};

static const struct status_metric status_metrics[] = {
	{ "uptime_seconds", "hubfs_uptime_seconds", "gauge",
	  "Seconds since the mount started." },
	{ "offline", "hubfs_offline", "gauge",
	  "1 when the mount makes no network use (offline mode)." },
	{ "nodes", "hubfs_nodes", "gauge",
	  "Files and folders the kernel holds of the mount now." },
	{ "commits", "hubfs_commits", "gauge",
	  "Commits whose file tables the mount holds now." },
	{ "commit_entries", "hubfs_commit_entries", "gauge",
	  "Entries of those tables (files and folders)." },
	{ "bytes_fetched", "hubfs_bytes_fetched_total", "counter",
	  "File content bytes fetched from the Hub into the cache." },
	{ "bytes_received", "hubfs_bytes_received_total", "counter",
	  "HTTP body bytes received, API answers included." },
	{ "bytes_served", "hubfs_bytes_served_total", "counter",
	  "Bytes returned to readers of the mount." },
	{ "bytes_pushed", "hubfs_bytes_pushed_total", "counter",
	  "Of the bytes served, those put in the kernel's page cache ahead of a sequential reader." },
	{ "bytes_spliced", "hubfs_bytes_spliced_total", "counter",
	  "Of the bytes pushed, those handed on unread from blocks this mount had just stored." },
	{ "reads", "hubfs_reads_total", "counter",
	  "Read requests answered with data." },
	{ "cache_hit_ratio", "hubfs_cache_hit_ratio", "gauge",
	  "Share of the bytes served that this mount did not have to fetch." },
	{ "requests", "hubfs_http_requests_total", "counter",
	  "HTTP requests sent, retries included." },
	{ "retries", "hubfs_http_retries_total", "counter",
	  "HTTP requests that were retries." },
	{ "resumes", "hubfs_http_resumes_total", "counter",
	  "Broken-off bodies resumed with a Range request." },
	{ "timeouts", "hubfs_http_timeouts_total", "counter",
	  "HTTP requests that timed out (connect, stall, too slow, deadline)." },
	{ "transport_errors", "hubfs_http_transport_errors_total", "counter",
	  "HTTP requests that failed otherwise (refused, reset, invalid answer)." },
	{ "verification_failures", "hubfs_verification_failures_total", "counter",
	  "Blocks that failed their checksum and objects or blocks refused (hash, pointer, size)." },
	{ "block_fetches", "hubfs_cache_block_fetches_total", "counter",
	  "Cache blocks fetched from the Hub." },
	{ "block_disk_hits", "hubfs_cache_block_hits_total", "counter",
	  "Cache block reads served from disk." },
	{ "reads_in_flight", "hubfs_reads_in_flight", "gauge",
	  "Read requests being served now." },
	{ "readahead_in_flight", "hubfs_readahead_in_flight", "gauge",
	  "Read-ahead fetches running now." },
	{ "readahead_window", "hubfs_readahead_window", "gauge",
	  "Read-ahead fetches allowed in flight now (adapts up to --max-streams)." },
	{ "readahead_peak_window", "hubfs_readahead_peak_window", "gauge",
	  "The widest the read-ahead window has been." },
	{ "readahead_congestions", "hubfs_readahead_congestions_total", "counter",
	  "429 and 503 answers the read-ahead met (a burst narrows its window once)." },
	{ "blocks_let_go", "hubfs_blocks_let_go_total", "counter",
	  "Times the cache's copy of a block the kernel holds was let go of the page cache (--drop-behind)." },
	{ "cache.bytes", "hubfs_cache_bytes", "gauge",
	  "Bytes the cache directory holds." },
	{ "cache.max_bytes", "hubfs_cache_max_bytes", "gauge",
	  "The cache's cap in bytes (0: none of its own, only min_free)." },
	{ "cache.min_free_ratio", "hubfs_cache_min_free_ratio", "gauge",
	  "Share of the cache's filesystem kept free." },
};

/* The field @key ("a" or "a.b") of @root, or NULL. */
static struct json_object *status_field(struct json_object *root, const char *key)
{
	const char *dot = strchr(key, '.');
	struct json_object *v = NULL;
	char outer[32];

	if (!dot)
		return json_object_object_get_ex(root, key, &v) ? v : NULL;
	snprintf(outer, sizeof(outer), "%.*s", (int)(dot - key), key);
	if (!json_object_object_get_ex(root, outer, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return json_object_object_get_ex(v, dot + 1, &v) ? v : NULL;
}

/*
 * Is field @key of @root a number of the kind a metric holds (or a bool,
 * or the ratio's null, which json-c gives as NULL)?
 */
static bool status_value_ok(struct json_object *root, const char *key)
{
	struct json_object *v = status_field(root, key);

	if (!v)
		return strcmp(key, "cache_hit_ratio") == 0 &&
		       json_object_object_get_ex(root, key, NULL);
	if (json_object_is_type(v, json_type_int))
		return json_object_get_int64(v) >= 0;
	if (json_object_is_type(v, json_type_double))
		return json_object_get_double(v) >= 0 && json_object_get_double(v) <= 1;
	return json_object_is_type(v, json_type_boolean) && strcmp(key, "offline") == 0;
}

/* Is the daemon's answer complete: every field there, each of its type? */
static bool status_is_valid(struct json_object *root)
{
	struct json_object *by;

	if (!json_object_is_type(root, json_type_object))
		return false;
	for (size_t i = 0; i < sizeof(status_metrics) / sizeof(status_metrics[0]); i++) {
		if (!status_value_ok(root, status_metrics[i].key))
			return false;
	}
	if (!json_object_is_type(status_field(root, "endpoint"), json_type_string) ||
	    !json_object_is_type(status_field(root, "version"), json_type_string) ||
	    !json_object_is_type(status_field(root, "pid"), json_type_int) ||
	    !json_object_object_get_ex(root, "requests_by_status", &by) ||
	    !json_object_is_type(by, json_type_object))
		return false;
	json_object_object_foreach(by, code, count) {
		if (strlen(code) != 3 || code[0] < '1' || code[0] > '5' ||
		    strspn(code, "0123456789") != 3 ||
		    !json_object_is_type(count, json_type_int) ||
		    json_object_get_int64(count) < 0)
			return false;
	}
	return true;
}

static int status_check(struct json_object *root, const char *mnt)
{
	if (status_is_valid(root))
		return 0;
	fprintf(stderr, "hubfs: %s: the mount's status is not what this hubfs "
		"understands (another version?)\n", mnt);
	return CLI_EXIT_FAIL;
}

static uint64_t status_u64(struct json_object *root, const char *key)
{
	struct json_object *v = status_field(root, key);

	if (v && json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v) ? 1 : 0;
	return v ? (uint64_t)json_object_get_int64(v) : 0;
}

static const char *status_str(struct json_object *root, const char *key)
{
	struct json_object *v = status_field(root, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* A Prometheus label value: \, " and newline escaped. */
/* A label value: UTF-8 (a path's stray byte becomes U+FFFD), '\\', '"' and newline escaped. */
static void prom_label(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		size_t n = utf8_seq_len(p);

		if (*p == '\\' || *p == '"') {
			fprintf(out, "\\%c", *p);
		} else if (*p == '\n') {
			fputs("\\n", out);
		} else if (n == 0) {
			fputs(UTF8_REPLACEMENT, out);
		} else {
			fwrite(p, 1, n, out);
			p += n - 1;
		}
	}
	fputc('"', out);
}

static void print_prometheus(FILE *out, struct json_object *root, const char *mnt)
{
	struct json_object *by;

	fputs("# HELP hubfs_info The mount's hubfs version and Hub endpoint.\n"
	      "# TYPE hubfs_info gauge\nhubfs_info{mount=", out);
	prom_label(out, mnt);
	fputs(",endpoint=", out);
	prom_label(out, status_str(root, "endpoint"));
	fputs(",version=", out);
	prom_label(out, status_str(root, "version"));
	fputs("} 1\n", out);
	for (size_t i = 0; i < sizeof(status_metrics) / sizeof(status_metrics[0]); i++) {
		const struct status_metric *m = &status_metrics[i];
		struct json_object *v = status_field(root, m->key);

		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n%s{mount=", m->name, m->help,
			m->name, m->type, m->name);
		prom_label(out, mnt);
		if (json_object_is_type(v, json_type_null))
			fputs("} NaN\n", out);
		else if (json_object_is_type(v, json_type_double))
			fprintf(out, "} %.6g\n", json_object_get_double(v));
		else
			fprintf(out, "} %llu\n", (unsigned long long)status_u64(root, m->key));
	}
	fputs("# HELP hubfs_http_responses_total HTTP answers by status code.\n"
	      "# TYPE hubfs_http_responses_total counter\n", out);
	json_object_object_get_ex(root, "requests_by_status", &by);
	json_object_object_foreach(by, code, count) {
		fputs("hubfs_http_responses_total{mount=", out);
		prom_label(out, mnt);
		fprintf(out, ",code=\"%s\"} %lld\n", code, (long long)json_object_get_int64(count));
	}
}

/* "12.3 MiB (12897484)" */
static const char *status_bytes(uint64_t n, char *out, size_t size)
{
	char human[32];

	size_format(n, human, sizeof(human));
	snprintf(out, size, "%s (%llu)", human, (unsigned long long)n);
	return out;
}

static void print_human(FILE *out, struct json_object *root, const char *mnt)
{
	struct json_object *by, *ratio = status_field(root, "cache_hit_ratio");
	uint64_t up = status_u64(root, "uptime_seconds");
	uint64_t cap = status_u64(root, "cache.max_bytes");
	const char *repo = status_str(root, "repo");
	char a[64], b[64];
	bool first = true;

	fprintf(out, "hubfs mount at %s (pid %llu, hubfs %s, up %llud %02lluh %02llum %02llus)\n",
		mnt, (unsigned long long)status_u64(root, "pid"), status_str(root, "version"),
		(unsigned long long)(up / 86400), (unsigned long long)(up / 3600 % 24),
		(unsigned long long)(up / 60 % 60), (unsigned long long)(up % 60));
	fprintf(out, "  %-24s %s%s\n", "endpoint", status_str(root, "endpoint"),
		status_u64(root, "offline") ? " (offline: no network use)" : "");
	fprintf(out, "  %-24s %s\n", "mounted", repo ? repo : "the whole Hub");
	fprintf(out, "  %-24s %llu nodes; %llu commits' tables, %llu entries\n", "namespace",
		(unsigned long long)status_u64(root, "nodes"),
		(unsigned long long)status_u64(root, "commits"),
		(unsigned long long)status_u64(root, "commit_entries"));
	fprintf(out, "  %-24s %s\n", "bytes fetched",
		status_bytes(status_u64(root, "bytes_fetched"), a, sizeof(a)));
	fprintf(out, "  %-24s %s\n", "bytes received (HTTP)",
		status_bytes(status_u64(root, "bytes_received"), a, sizeof(a)));
	fprintf(out, "  %-24s %s in %llu reads", "bytes served",
		status_bytes(status_u64(root, "bytes_served"), a, sizeof(a)),
		(unsigned long long)status_u64(root, "reads"));
	if (status_u64(root, "bytes_pushed"))
		fprintf(out, ", %s of them pushed ahead",
			status_bytes(status_u64(root, "bytes_pushed"), a, sizeof(a)));
	if (status_u64(root, "bytes_spliced"))
		fprintf(out, " (%s spliced)",
			status_bytes(status_u64(root, "bytes_spliced"), a, sizeof(a)));
	fputc('\n', out);
	if (json_object_is_type(ratio, json_type_double) || json_object_is_type(ratio, json_type_int))
		fprintf(out, "  %-24s %.1f %%\n", "cache hit ratio",
			100.0 * json_object_get_double(ratio));
	else
		fprintf(out, "  %-24s -\n", "cache hit ratio");
	fprintf(out, "  %-24s %llu", "HTTP requests",
		(unsigned long long)status_u64(root, "requests"));
	json_object_object_get_ex(root, "requests_by_status", &by);
	json_object_object_foreach(by, code, count) {
		fprintf(out, "%s%s: %lld", first ? " (" : ", ", code,
			(long long)json_object_get_int64(count));
		first = false;
	}
	fputs(first ? "\n" : ")\n", out);
	fprintf(out, "  %-24s %llu retries, %llu resumes, %llu timeouts, %llu other failures\n",
		"HTTP trouble", (unsigned long long)status_u64(root, "retries"),
		(unsigned long long)status_u64(root, "resumes"),
		(unsigned long long)status_u64(root, "timeouts"),
		(unsigned long long)status_u64(root, "transport_errors"));
	fprintf(out, "  %-24s %llu\n", "verification failures",
		(unsigned long long)status_u64(root, "verification_failures"));
	fprintf(out, "  %-24s %llu (read-ahead fetches: %llu)\n", "reads in flight",
		(unsigned long long)status_u64(root, "reads_in_flight"),
		(unsigned long long)status_u64(root, "readahead_in_flight"));
	fprintf(out, "  %-24s %llu now, %llu at most so far, %llu pushbacks (429/503); "
		"the link: %s\n",
		"read-ahead window", (unsigned long long)status_u64(root, "readahead_window"),
		(unsigned long long)status_u64(root, "readahead_peak_window"),
		(unsigned long long)status_u64(root, "readahead_congestions"),
		status_str(root, "readahead_link") ? status_str(root, "readahead_link") : "?");
	fprintf(out, "  %-24s %s, %llu block copies let go", "drop-behind",
		status_str(root, "drop_behind") ? status_str(root, "drop_behind") : "?",
		(unsigned long long)status_u64(root, "blocks_let_go"));
	if (json_object_is_type(status_field(root, "memory_room_bytes"), json_type_int))
		fprintf(out, ", memory's room %s",
			status_bytes(status_u64(root, "memory_room_bytes"), a, sizeof(a)));
	fputc('\n', out);
	status_bytes(status_u64(root, "cache.bytes"), a, sizeof(a));
	if (cap)
		fprintf(out, "  %-24s %s of %s cap (%.0f %%)\n", "cache size", a,
			status_bytes(cap, b, sizeof(b)),
			100.0 * (double)status_u64(root, "cache.bytes") / (double)cap);
	else
		fprintf(out, "  %-24s %s, no cap of its own\n", "cache size", a);
	fprintf(out, "  %-24s %s\n", "cache directory", status_str(root, "cache.dir") ?
		status_str(root, "cache.dir") : "?");
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum { HUMAN, JSON, PROMETHEUS } format = HUMAN;
	struct json_tokener *tok;
	struct json_object *root;
	char real[PATH_MAX], *value;
	const char *mnt;
	ssize_t n;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': format = JSON; break;
		case 'p': format = PROMETHEUS; break;
		case 'h':
			printf("usage: hubfs status MOUNTPOINT [--json | --prometheus]\n");
			return CLI_EXIT_OK;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: hubfs status MOUNTPOINT [--json | --prometheus]\n");
		return CLI_EXIT_USAGE;
	}
	mnt = realpath(argv[optind], real) ? real : argv[optind];
	value = malloc(STATUS_MAX + 1);
	if (!value)
		return CLI_EXIT_FAIL;
	n = getxattr(mnt, STATUS_XATTR, value, STATUS_MAX);
	if (n < 0) {
		int e = errno;

		if (e == ENODATA || e == ENOTSUP)
			fprintf(stderr, "hubfs: %s is not the root of a hubfs mount\n", argv[optind]);
		else if (e == ENOTCONN)
			fprintf(stderr, "hubfs: %s is a stale mount (its hubfs is gone); "
				"'hubfs umount %s' detaches it\n", argv[optind], argv[optind]);
		else
			fprintf(stderr, "hubfs: %s: %s\n", argv[optind], strerror(e));
		free(value);
		return e == ENOENT ? CLI_EXIT_NOT_FOUND : CLI_EXIT_FAIL;
	}
	value[n] = '\0';
	tok = json_tokener_new_ex(8);
	root = tok ? json_tokener_parse_ex(tok, value, (int)n) : NULL;
	if (tok && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(root);
		root = NULL;
	}
	json_tokener_free(tok);
	rc = root ? status_check(root, mnt) : status_check(NULL, mnt);
	if (rc == 0) {
		if (format == JSON)
			fputs(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_NOSLASHESCAPE), stdout);
		else if (format == PROMETHEUS)
			print_prometheus(stdout, root, mnt);
		else
			print_human(stdout, root, mnt);
		if (format == JSON)
			putchar('\n');
		if (fflush(stdout) != 0)
			rc = CLI_EXIT_FAIL;
	}
	json_object_put(root);
	free(value);
	return rc;
}
