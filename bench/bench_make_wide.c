/* SPDX-License-Identifier: MIT */
/*
 * Write a wide repo's listing into a hubfs cache, for bench_namespace.sh:
 * model/wide-org/wide at a fixed commit, @files files of which @folder are
 * in one folder ("flat/") and the rest spread over folders of 1,000. The
 * mount then serves it offline: the namespace is measured, not the Hub.
 *
 *   bench_make_wide CACHE_DIR FILES FOLDER
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/meta.h"

#define COMMIT "1111111111111111111111111111111111111111"

int main(int argc, char **argv)
{
	struct cache_options opts = { 0 };
	struct cache_file_entry *e;
	struct cache *c;
	size_t files, folder;
	char **paths;
	int rc;

	if (argc != 4) {
		fprintf(stderr, "usage: %s CACHE_DIR FILES FOLDER\n", argv[0]);
		return 2;
	}
	files = strtoul(argv[2], NULL, 10);
	folder = strtoul(argv[3], NULL, 10);
	opts.dir = argv[1];
	if (folder > files || cache_open(&opts, &c) != 0)
		return 1;
	e = calloc(files, sizeof(*e));
	paths = calloc(files, sizeof(*paths));
	if (!e || !paths)
		return 1;
	for (size_t i = 0; i < files; i++) {
		int n = i < folder ? asprintf(&paths[i], "flat/file-%06zu.json", i) :
			asprintf(&paths[i], "tree/d%03zu/file-%06zu.json", (i - folder) / 1000, i);

		if (n < 0)
			return 1;
		e[i].path = paths[i];
		e[i].size = 100 + i % 1000;
		snprintf(e[i].oid, sizeof(e[i].oid), "%040zx", i + 1);
	}
	rc = cache_listing_store(argv[1], "model/wide-org/wide", COMMIT, e, files);
	if (rc == 0)
		rc = cache_ref_store(argv[1], "model/wide-org/wide", "main", COMMIT, 1);
	for (size_t i = 0; i < files; i++)
		free(paths[i]);
	free(paths);
	free(e);
	cache_close(c);
	return rc == 0 ? 0 : 1;
}
