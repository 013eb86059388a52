/* SPDX-License-Identifier: MIT */
/* Endpoint, token and offline discovery (hub/config.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hub/hub.h"

static char dir[] = "/tmp/hubfs-config-test.XXXXXX";

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int clear_env(void **state)
{
	(void)state;
	unsetenv("HF_ENDPOINT");
	unsetenv("HF_TOKEN");
	unsetenv("HUGGING_FACE_HUB_TOKEN");
	unsetenv("HF_TOKEN_PATH");
	unsetenv("HF_HUB_OFFLINE");
	unsetenv("XDG_CACHE_HOME");
	unsetenv("HUBFS_MIN_SPEED");
	unsetenv("HUBFS_OP_TIMEOUT");
	unsetenv("HUBFS_STALL_TIMEOUT");
	setenv("HOME", dir, 1);
	setenv("HF_HOME", dir, 1);
	unlink("/tmp/no-such-token-file-for-hubfs");
	for (const char *const *f = (const char *const[]){ "token", "other", "cli", NULL }; *f; f++) {
		char path[256];

		snprintf(path, sizeof(path), "%s/%s", dir, *f);
		unlink(path);
	}
	return 0;
}

static void test_defaults(void **state)
{
	struct hub_config cfg;

	(void)state;
	assert_int_equal(hub_config_load(&cfg, NULL, NULL), 0);
	assert_string_equal(cfg.endpoint, "https://huggingface.co");
	assert_null(cfg.token);
	assert_false(cfg.offline);
	assert_true(cfg.connect_timeout_ms > 0 && cfg.stall_timeout_ms > 0);
	assert_int_equal(cfg.min_speed_bps, 1024);
	assert_int_equal(cfg.op_timeout_ms, 120000);
	assert_string_equal(cfg.endpoint_source, "the default");
	hub_config_release(&cfg);
}

/* The configuration loads with @ovr and has these time bounds. */
static void assert_time_bounds(const struct hub_config_overrides *ovr, long min_speed_bps,
			       long op_timeout_ms)
{
	struct hub_config cfg;

	assert_int_equal(hub_config_load(&cfg, ovr, NULL), 0);
	assert_int_equal(cfg.min_speed_bps, min_speed_bps);
	assert_int_equal(cfg.op_timeout_ms, op_timeout_ms);
	hub_config_release(&cfg);
}

static void test_time_bounds(void **state)
{
	struct hub_config_overrides ovr = { .min_speed_bps = 50, .op_timeout_ms = 2500,
					    .max_retries = -1 };

	(void)state;
	setenv("HUBFS_MIN_SPEED", "4096", 1);
	setenv("HUBFS_OP_TIMEOUT", "7.5", 1);
	assert_time_bounds(NULL, 4096, 7500);
	/* The command line wins over the environment. */
	assert_time_bounds(&ovr, 50, 2500);
	/* Nonsense falls back to the defaults rather than to "no limit". */
	setenv("HUBFS_MIN_SPEED", "0", 1);
	setenv("HUBFS_OP_TIMEOUT", "-3", 1);
	assert_time_bounds(NULL, 1024, 120000);
	setenv("HUBFS_OP_TIMEOUT", "nan", 1);
	assert_time_bounds(NULL, 1024, 120000);
	/* A rate in the units --min-speed takes. */
	setenv("HUBFS_MIN_SPEED", "2K", 1);
	setenv("HUBFS_OP_TIMEOUT", "10s", 1);
	assert_time_bounds(NULL, 2048, 120000);
	/* Under a millisecond: 1 ms, not 0 (libcurl's 300 s for a connection). */
	setenv("HUBFS_OP_TIMEOUT", "0.0001", 1);
	assert_time_bounds(NULL, 2048, 1);
	unsetenv("HUBFS_OP_TIMEOUT");
}

/* The configuration loads with @ovr and has endpoint @want. */
static void assert_endpoint(const struct hub_config_overrides *ovr, const char *want)
{
	struct hub_config cfg;

	assert_int_equal(hub_config_load(&cfg, ovr, NULL), 0);
	assert_string_equal(cfg.endpoint, want);
	hub_config_release(&cfg);
}

/* The configuration loads with @ovr and has token @want from @source (NULL: any). */
static void assert_token(const struct hub_config_overrides *ovr, const char *want,
			 const char *source)
{
	struct hub_config cfg;

	assert_int_equal(hub_config_load(&cfg, ovr, NULL), 0);
	assert_string_equal(cfg.token, want);
	if (source)
		assert_string_equal(cfg.token_source, source);
	hub_config_release(&cfg);
}

static void test_endpoint_precedence(void **state)
{
	struct hub_config_overrides ovr = { .endpoint = "http://127.0.0.1:9/" };
	struct hub_config cfg;
	struct hub_error err = { 0 };

	(void)state;
	setenv("HF_ENDPOINT", "https://mirror.example///", 1);
	assert_endpoint(NULL, "https://mirror.example");
	assert_endpoint(&ovr, "http://127.0.0.1:9");
	setenv("HF_ENDPOINT", "ftp://nope", 1);
	assert_int_equal(hub_config_load(&cfg, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.message, "HF_ENDPOINT"));
	setenv("HF_ENDPOINT", "http://a b", 1);
	assert_int_equal(hub_config_load(&cfg, NULL, &err), -EINVAL);
}

static void test_token_precedence(void **state)
{
	char path[256];
	struct hub_config_overrides ovr = { 0 };

	(void)state;
	write_file("token", "hf_from_home\n");
	assert_token(NULL, "hf_from_home", "$HF_HOME/token");

	snprintf(path, sizeof(path), "%s/other", dir);
	write_file("other", "  hf_from_path \r\n");
	setenv("HF_TOKEN_PATH", path, 1);
	assert_token(NULL, "hf_from_path", NULL);

	setenv("HF_TOKEN", "hf_from_env", 1);
	assert_token(NULL, "hf_from_env", NULL);

	write_file("cli", "hf_from_cli");
	snprintf(path, sizeof(path), "%s/cli", dir);
	ovr.token_file = path;
	assert_token(&ovr, "hf_from_cli", "--token-file");

	/* An empty HF_TOKEN means "none" and the files are asked next. */
	setenv("HF_TOKEN", "", 1);
	assert_token(NULL, "hf_from_path", NULL);
	/* So does a blank one, as huggingface_hub's _clean_token() has it. */
	setenv("HF_TOKEN", " \n", 1);
	assert_token(NULL, "hf_from_path", "HF_TOKEN_PATH");
	/* The older HUGGING_FACE_HUB_TOKEN, when HF_TOKEN says nothing. */
	setenv("HF_TOKEN", "", 1);
	setenv("HUGGING_FACE_HUB_TOKEN", "hf_older", 1);
	assert_token(NULL, "hf_older", "HUGGING_FACE_HUB_TOKEN");
	setenv("HF_TOKEN", "hf_from_env", 1);
	assert_token(NULL, "hf_from_env", "HF_TOKEN");
	unsetenv("HF_TOKEN");
	unsetenv("HUGGING_FACE_HUB_TOKEN");
	/* "~" in HF_TOKEN_PATH and HF_HOME, as os.path.expanduser() has it. */
	setenv("HF_TOKEN_PATH", "~/other", 1);
	assert_token(NULL, "hf_from_path", "HF_TOKEN_PATH");
	unsetenv("HF_TOKEN_PATH");
	setenv("HF_HOME", "~", 1);
	assert_token(NULL, "hf_from_home", "$HF_HOME/token");
	setenv("HF_HOME", dir, 1);
}

/*
 * "$VAR" and "${VAR}" in HF_TOKEN_PATH and HF_HOME (and in the
 * XDG_CACHE_HOME the default comes from), after "~", as huggingface_hub's
 * os.path.expandvars(os.path.expanduser()) has it; a variable that is not
 * set stays as written. They were taken literally.
 */
static void assert_no_token(void)
{
	struct hub_config cfg;

	assert_int_equal(hub_config_load(&cfg, NULL, NULL), 0);
	assert_null(cfg.token);
	hub_config_release(&cfg);
}

static void test_token_paths_expand_vars(void **state)
{
	char path[256];

	(void)state;
	setenv("HUBFS_T_DIR", dir, 1);
	unsetenv("HUBFS_T_UNSET");
	write_file("other", "hf_from_path\n");
	setenv("HF_TOKEN_PATH", "$HUBFS_T_DIR/other", 1);
	assert_token(NULL, "hf_from_path", "HF_TOKEN_PATH");
	setenv("HF_TOKEN_PATH", "${HUBFS_T_DIR}/other", 1);
	assert_token(NULL, "hf_from_path", "HF_TOKEN_PATH");
	setenv("HF_TOKEN_PATH", "$HUBFS_T_UNSET/other", 1);
	assert_no_token();
	unsetenv("HF_TOKEN_PATH");

	write_file("token", "hf_from_home\n");
	setenv("HF_HOME", "${HUBFS_T_DIR}", 1);
	assert_token(NULL, "hf_from_home", "$HF_HOME/token");
	setenv("HF_HOME", "~/../$HUBFS_T_UNSET", 1);
	assert_no_token();
	/* No HF_HOME: ${XDG_CACHE_HOME}/huggingface, expanded the same way. */
	unsetenv("HF_HOME");
	snprintf(path, sizeof(path), "%s/huggingface", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	write_file("huggingface/token", "hf_from_xdg\n");
	setenv("XDG_CACHE_HOME", "$HUBFS_T_DIR", 1);
	assert_token(NULL, "hf_from_xdg", "$HF_HOME/token");
	snprintf(path, sizeof(path), "%s/huggingface/token", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/huggingface", dir);
	rmdir(path);
	unsetenv("XDG_CACHE_HOME");
	setenv("HF_HOME", dir, 1);
}

static void test_bad_tokens(void **state)
{
	struct hub_config_overrides ovr = { .token_file = "/tmp/no-such-token-file-for-hubfs" };
	struct hub_config cfg;
	struct hub_error err = { 0 };

	(void)state;
	/* A named token file must exist; the default one may be missing. */
	assert_int_equal(hub_config_load(&cfg, &ovr, &err), -EINVAL);
	assert_non_null(strstr(err.message, "no-such-token-file"));
	/* ... and hold a token: empty, it meant "anonymous" in silence, over HF_TOKEN too. */
	{
		char path[256];
		struct hub_config_overrides named = { 0 };

		write_file("cli", "\n");
		snprintf(path, sizeof(path), "%s/cli", dir);
		named.token_file = path;
		setenv("HF_TOKEN", "hf_from_env", 1);
		assert_int_equal(hub_config_load(&cfg, &named, &err), -EINVAL);
		assert_non_null(strstr(err.message, "holds no token"));
		unsetenv("HF_TOKEN");
	}
	/* A token that could smuggle a header is refused, and not echoed. */
	setenv("HF_TOKEN", "hf_x\r\nX-Evil: 1", 1);
	assert_int_equal(hub_config_load(&cfg, NULL, &err), -EINVAL);
	assert_null(strstr(err.message, "hf_x"));
	setenv("HF_TOKEN", "hf has space", 1);
	assert_int_equal(hub_config_load(&cfg, NULL, &err), -EINVAL);
	unsetenv("HF_TOKEN");
	write_file("token", "hf_a\nhf_b\n");
	assert_int_equal(hub_config_load(&cfg, NULL, &err), -EINVAL);
}

static void test_offline(void **state)
{
	static const char *const yes[] = { "1", "true", "YES", "On" };
	struct hub_config_overrides ovr = { .offline = true };
	struct hub_config cfg;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		setenv("HF_HUB_OFFLINE", yes[i], 1);
		assert_int_equal(hub_config_load(&cfg, NULL, NULL), 0);
		assert_true(cfg.offline);
		hub_config_release(&cfg);
	}
	setenv("HF_HUB_OFFLINE", "0", 1);
	assert_int_equal(hub_config_load(&cfg, NULL, NULL), 0);
	assert_false(cfg.offline);
	hub_config_release(&cfg);
	assert_int_equal(hub_config_load(&cfg, &ovr, NULL), 0);
	assert_true(cfg.offline);
	hub_config_release(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, clear_env),
		cmocka_unit_test_setup(test_time_bounds, clear_env),
		cmocka_unit_test_setup(test_endpoint_precedence, clear_env),
		cmocka_unit_test_setup(test_token_precedence, clear_env),
		cmocka_unit_test_setup(test_token_paths_expand_vars, clear_env),
		cmocka_unit_test_setup(test_bad_tokens, clear_env),
		cmocka_unit_test_setup(test_offline, clear_env),
	};
	int rc;

	if (!mkdtemp(dir))
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	system("rm -rf /tmp/hubfs-config-test.*"); /* best effort */
	return rc;
}
