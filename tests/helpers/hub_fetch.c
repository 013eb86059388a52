/* SPDX-License-Identifier: MIT */
/*
 * hub_fetch: drive hub_read_range(), hub_head_file() and hub_list_repos()
 * from shell tests.
 *
 *   hub_fetch [--offset N] [--length N] [--size N] REPO[@REV] PATH > bytes
 *   hub_fetch --head REPO[@REV] PATH
 *   hub_fetch --list-repos MAX TYPE AUTHOR   (MAX 0: all) one line per repo:
 *       id private=0|1 gated=G|- sha=S|- last_modified=SECONDS
 *
 * Configuration comes from the environment as for hubfs (HF_ENDPOINT,
 * HF_TOKEN, HUBFS_*). On exit it prints one line to stderr:
 *   stats requests=N retries=N resumes=N
 * and on failure "error <errno name>: <message>". Exit 0 on success.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"
#include "util/log.h"

static int write_out(void *ctx, const void *data, size_t len)
{
	(void)ctx;
	return fwrite(data, 1, len, stdout) == len ? 0 : -EIO;
}

static int print_summary(void *ctx, const struct hub_repo_summary *r)
{
	(void)ctx;
	printf("%s private=%d gated=%s sha=%s last_modified=%" PRId64 "\n", r->id,
	       r->is_private, r->gated[0] ? r->gated : "-", r->sha[0] ? r->sha : "-",
	       r->last_modified);
	return 0;
}

static uint64_t number(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*end) {
		fprintf(stderr, "hub_fetch: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "offset", required_argument, NULL, 'o' },
		{ "length", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "head", no_argument, NULL, 'H' },
		{ "list-repos", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t offset = 0, length = UINT64_MAX, size = UINT64_MAX;
	struct hub_error err = { 0 };
	struct hub_client *client = NULL;
	struct hub_config cfg;
	struct hub_stats stats;
	struct hub_repo repo;
	bool head = false, list = false;
	uint64_t list_max = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': offset = number(optarg); break;
		case 'n': length = number(optarg); break;
		case 's': size = number(optarg); break;
		case 'H': head = true; break;
		case 'L': list = true; list_max = number(optarg); break;
		default: return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: hub_fetch [--offset N] [--length N] [--size N] [--head] REPO[@REV] PATH\n"
			"       hub_fetch --list-repos MAX TYPE AUTHOR\n");
		return 2;
	}
	log_init("hub_fetch", getenv("HUBFS_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN, false);
	hub_global_init();
	if (list) {
		enum hub_repo_type type;

		rc = hub_repo_type_parse(argv[optind], &type);
		if (rc == 0)
			rc = hub_config_load(&cfg, NULL, &err);
		if (rc == 0) {
			rc = hub_client_new(&cfg, &client);
			hub_config_release(&cfg);
		}
		if (rc == 0)
			rc = hub_list_repos(client, type, argv[optind + 1], (size_t)list_max,
					    print_summary, NULL, &err);
		goto done;
	}
	rc = hub_repo_parse(argv[optind], HUB_REPO_MODEL, false, &repo, &err);
	if (rc == 0)
		rc = hub_config_load(&cfg, NULL, &err);
	if (rc == 0) {
		rc = hub_client_new(&cfg, &client);
		hub_config_release(&cfg);
	}
	if (rc == 0 && head) {
		struct hub_file_meta meta;

		rc = hub_head_file(client, &repo, argv[optind + 1], &meta, &err);
		if (rc == 0)
			printf("size=%" PRIu64 " etag=%s commit=%s lfs=%d location=%s\n",
			       meta.size, meta.etag, meta.commit, meta.is_lfs,
			       meta.location);
	} else if (rc == 0) {
		if (length == UINT64_MAX) {
			struct hub_file_meta meta;

			/* The whole file: its size from a HEAD first. */
			rc = hub_head_file(client, &repo, argv[optind + 1], &meta, &err);
			if (size == UINT64_MAX)
				size = meta.size;
			length = size - offset;
		}
		if (rc == 0)
			rc = hub_read_range(client, &repo, argv[optind + 1], offset,
					    length, size, write_out, NULL, &err);
	}
done:
	if (fflush(stdout) != 0 && rc == 0)
		rc = -EIO;
	if (client) {
		hub_client_stats(client, &stats);
		fprintf(stderr, "stats requests=%" PRIu64 " retries=%" PRIu64
			" resumes=%" PRIu64 "\n", stats.requests, stats.retries,
			stats.resumes);
	}
	if (rc < 0)
		fprintf(stderr, "error %s: %s\n", strerrorname_np(-rc), err.message);
	hub_client_free(client);
	hub_global_cleanup();
	return rc < 0 ? 1 : 0;
}
