/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the Hub's JSON answers (hub/json.c), every parser on every
 * input: a tree or paths-info page, a repo-info object, an error body.
 * Checks what hub/hub.h promises of what gets through: entries with safe
 * paths, hex ids and sizes in range; repo info with a valid id and sha.
 */
#include <errno.h>
#include <string.h>

#include "hub/hub_int.h"
#include "tests/fuzz/fuzz.h"
#include "util/digest.h"
#include "util/log.h"
#include "util/path.h"

static int check_entry(void *ctx, const struct hub_entry *e)
{
	size_t *seen = ctx;

	FUZZ_CHECK(e->type == HUB_ENTRY_FILE || e->type == HUB_ENTRY_DIR);
	FUZZ_CHECK(e->path && path_validate_repo_path(e->path) == 0);
	FUZZ_CHECK(digest_is_hex(e->oid, HUB_OID_HEX) && e->oid[HUB_OID_HEX] == '\0');
	FUZZ_CHECK(e->size <= HUB_MAX_FILE_SIZE);
	if (e->type == HUB_ENTRY_DIR)
		FUZZ_CHECK(e->size == 0 && !e->is_lfs);
	if (e->is_lfs) {
		FUZZ_CHECK(digest_is_hex(e->lfs_sha256, HUB_SHA256_HEX));
		FUZZ_CHECK(e->lfs_sha256[HUB_SHA256_HEX] == '\0');
		FUZZ_CHECK(e->lfs_pointer_size <= 1024);
	}
	(*seen)++;
	/* Stop early now and then: the stop must reach the caller as is. */
	return *seen == 3 && e->path[0] == 's' ? -ECANCELED : 0;
}

static void check_message(const char *msg, size_t size)
{
	size_t n = strlen(msg);

	FUZZ_CHECK(n < size);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)msg[i] >= 0x20 && msg[i] != 0x7f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Rejected entries are logged as warnings: keep the run quiet. */
	log_init("fuzz", LOG_LVL_ERROR, false);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct hub_repo_info info;
	struct hub_error err;
	char msg[HUB_MESSAGE_MAX], tiny[5];
	size_t seen = 0, rejected = 0;
	int rc;

	rc = hub_json_parse_entries(text, size, check_entry, &seen, &rejected, &err);
	FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ECANCELED);
	if (rc == -EPROTO)
		FUZZ_CHECK(seen == 0 && err.code == -EPROTO);

	rc = hub_json_parse_repo_info(text, size, &info, &err);
	FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	if (rc == 0) {
		FUZZ_CHECK(hub_repo_id_is_valid(info.id));
		FUZZ_CHECK(digest_is_hex(info.sha, HUB_OID_HEX));
		FUZZ_CHECK(path_is_utf8(info.last_modified, strlen(info.last_modified)));
		FUZZ_CHECK(!info.gated[0] || strcmp(info.gated, "auto") == 0 ||
			   strcmp(info.gated, "manual") == 0);
		for (size_t i = 0; i < info.n_tags; i++)
			FUZZ_CHECK(path_is_utf8(info.tags[i], strlen(info.tags[i])));
		hub_repo_info_release(&info);
	} else {
		FUZZ_CHECK(info.tags == NULL && info.n_tags == 0);
	}

	hub_json_error_message(text, size, msg, sizeof(msg));
	check_message(msg, sizeof(msg));
	hub_json_error_message(text, size, tiny, sizeof(tiny));
	check_message(tiny, sizeof(tiny));
	return 0;
}
