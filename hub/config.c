/* SPDX-License-Identifier: MIT */
/*
 * Configuration from the command line and the environment, with the
 * conventions of huggingface_hub (hub-api.md 6.1-6.2). The token is read
 * here and nowhere else; it is validated so it cannot inject a header,
 * and never logged.
 */
#include "hub/hub_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/time.h"
#include "util/path.h"
#include "util/pattern.h"
#include "util/size.h"

#define DEFAULT_ENDPOINT "https://huggingface.co"

/*
 * The defaults, for a datacentre link and a slow home line alike
 * (docs/architecture.md, "Bounded time", says why these numbers):
 * a connection is made within 10 s or never; a transfer that moves less
 * than 1 KiB/s over 30 s has stalled (a drip of a byte a second
 * included); one operation gets 120 s, retries included: a 4 MiB block
 * takes 3.4 s at 10 Mbit/s and 34 s at 1 Mbit/s.
 */
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_STALL_TIMEOUT_MS 30000
#define DEFAULT_MIN_SPEED_BPS 1024
#define DEFAULT_OP_TIMEOUT_MS 120000
#define TOKEN_FILE_MAX 4096

static bool env_is_true(const char *name)
{
	const char *v = getenv(name);

	return v && (strcasecmp(v, "1") == 0 || strcasecmp(v, "true") == 0 ||
		     strcasecmp(v, "yes") == 0 || strcasecmp(v, "on") == 0);
}

/* A variable set to what it cannot be: said once, and the default used. */
static void env_refused(const char *name, const char *v, const char *want)
{
	log_warn("%s='%.40s' is not %s; the default is used", name, v, want);
}

/* A positive number of seconds from @name, as milliseconds, or @dflt. */
static long env_secs_ms(const char *name, long dflt)
{
	const char *v = getenv(name);
	char *end;
	double secs;

	if (!v || !*v)
		return dflt;
	secs = strtod(v, &end);
	if (*end || !(secs > 0 && secs <= 86400)) {
		env_refused(name, v, "a number of seconds in (0, 86400]");
		return dflt;
	}
	return time_secs_to_ms(secs);
}

static long env_long(const char *name, long dflt, long max)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return dflt;
	n = strtol(v, &end, 10);
	if (*end || n < 0 || n > max) {
		char want[48];

		snprintf(want, sizeof(want), "a whole number in [0, %ld]", max);
		env_refused(name, v, want);
		return dflt;
	}
	return n;
}

/*
 * Clean a token as huggingface_hub does (strip CR, LF, surrounding
 * blanks) and check that every byte may stand in an HTTP header.
 * Returns a new string, NULL for "no token", or sets *bad.
 */
static char *clean_token(const char *raw, bool *bad)
{
	size_t start = 0, end = strlen(raw);
	char *tok;

	*bad = false;
	while (start < end && strchr(" \t\r\n", raw[start]))
		start++;
	while (end > start && strchr(" \t\r\n", raw[end - 1]))
		end--;
	if (start == end)
		return NULL;
	for (size_t i = start; i < end; i++) {
		unsigned char c = (unsigned char)raw[i];

		if (c <= 0x20 || c >= 0x7f) {
			*bad = true;
			return NULL;
		}
	}
	tok = strndup(raw + start, end - start);
	if (!tok)
		*bad = true;
	return tok;
}

/* Read a small token file. 0 with *out (maybe NULL), or -errno. */
static int read_token_file(const char *path, bool must_exist, char **out,
			   struct hub_error *err)
{
	char buf[TOKEN_FILE_MAX + 1];
	ssize_t n;
	bool bad;
	int fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ELOOP)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (!must_exist && errno == ENOENT)
			return 0;
		return hub_fail(err, -EINVAL, 0, "cannot read the token file '%s': %s",
				path, strerror(errno));
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || n > TOKEN_FILE_MAX)
		return hub_fail(err, -EINVAL, 0,
				"the token file '%s' is unreadable or too large", path);
	buf[n] = '\0';
	if (memchr(buf, '\0', (size_t)n))
		return hub_fail(err, -EINVAL, 0,
				"the token file '%s' holds binary data", path);
	*out = clean_token(buf, &bad);
	if (bad)
		return hub_fail(err, -EINVAL, 0,
				"the token in '%s' has characters a token cannot have",
				path);
	return 0;
}

static int set_endpoint(struct hub_config *cfg, const char *value,
			const char *source, struct hub_error *err)
{
	size_t len = strlen(value);

	if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
		return hub_fail(err, -EINVAL, 0,
				"%s '%s' is not an http:// or https:// URL", source,
				value);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#')
			return hub_fail(err, -EINVAL, 0,
					"%s has characters a base URL cannot have",
					source);
	}
	while (len > 0 && value[len - 1] == '/')
		len--;
	cfg->endpoint = strndup(value, len);
	return cfg->endpoint ? 0 : hub_fail(err, -ENOMEM, 0, "out of memory");
}

/*
 * $HF_HOME, else ${XDG_CACHE_HOME:-~/.cache}/huggingface, into @out, with
 * "~" and "$VAR" expanded as huggingface_hub expands them
 * (os.path.expandvars(os.path.expanduser()) in its constants.py).
 */
static int hf_home(char *out, size_t size)
{
	const char *v = getenv("HF_HOME");
	char dflt[4096];
	int rc;

	if (v && *v)
		return pattern_expand_path(v, out, size);
	rc = path_user_cache_dir("huggingface", dflt, sizeof(dflt));
	return rc < 0 ? rc : pattern_expand_path(dflt, out, size);
}

/* Nothing but what clean_token() strips (spaces, CR, LF, tabs). */
static bool token_is_blank(const char *t)
{
	return t[strspn(t, " \t\r\n")] == '\0';
}

/*
 * The token of HF_TOKEN_PATH, else of $HF_HOME/token, if there is one:
 * either path expanded as huggingface_hub does ("~", "$VAR"), the second
 * once more, as the library joins and expands it.
 */
static int token_from_files(struct hub_config *cfg, char *path, size_t size,
			    struct hub_error *err)
{
	const char *v = getenv("HF_TOKEN_PATH");
	char home[4096];
	int rc;

	if (v && *v) {
		cfg->token_source = "HF_TOKEN_PATH";
		rc = pattern_expand_path(v, path, size);
		return rc < 0 ? hub_fail(err, rc, 0, "HF_TOKEN_PATH is too long") :
			read_token_file(path, false, &cfg->token, err);
	}
	if (hf_home(home, sizeof(home) - 6) < 0)
		return 0;
	memcpy(home + strlen(home), "/token", sizeof("/token"));
	if (pattern_expand_path(home, path, size) < 0)
		return 0;
	cfg->token_source = "$HF_HOME/token";
	return read_token_file(path, false, &cfg->token, err);
}

int hub_config_load(struct hub_config *cfg,
		    const struct hub_config_overrides *ovr,
		    struct hub_error *err)
{
	static const struct hub_config_overrides none = { .max_retries = -1 };
	const char *endpoint, *env_token;
	char path[4096];
	int rc;

	if (!ovr)
		ovr = &none;
	memset(cfg, 0, sizeof(*cfg));
	cfg->connect_timeout_ms = env_secs_ms("HUBFS_CONNECT_TIMEOUT",
					      DEFAULT_CONNECT_TIMEOUT_MS);
	cfg->stall_timeout_ms = env_secs_ms("HUBFS_STALL_TIMEOUT",
					    DEFAULT_STALL_TIMEOUT_MS);
	cfg->min_speed_bps = DEFAULT_MIN_SPEED_BPS;
	{
		/* Bytes per second, in the units --min-speed takes (1K, 10M). */
		const char *v = getenv("HUBFS_MIN_SPEED");
		uint64_t bps;

		if (v && *v && (size_parse(v, &bps) < 0 || bps < 1 || bps > (1ull << 30)))
			env_refused("HUBFS_MIN_SPEED", v, "a rate in bytes/s (1K, 10M) up to 1G");
		else if (v && *v)
			cfg->min_speed_bps = (long)bps;
	}
	cfg->op_timeout_ms = env_secs_ms("HUBFS_OP_TIMEOUT", DEFAULT_OP_TIMEOUT_MS);
	cfg->max_retries = (unsigned)env_long("HUBFS_MAX_RETRIES", 5, 100);
	cfg->retry_base_ms = env_long("HUBFS_RETRY_BASE_MS", 500, 60000);
	cfg->max_retry_wait_ms = env_secs_ms("HUBFS_MAX_RETRY_WAIT", 120000);
	cfg->offline = ovr->offline || env_is_true("HF_HUB_OFFLINE");
	if (ovr->connect_timeout_ms > 0)
		cfg->connect_timeout_ms = ovr->connect_timeout_ms;
	if (ovr->stall_timeout_ms > 0)
		cfg->stall_timeout_ms = ovr->stall_timeout_ms;
	if (ovr->min_speed_bps > 0)
		cfg->min_speed_bps = ovr->min_speed_bps;
	if (ovr->op_timeout_ms > 0)
		cfg->op_timeout_ms = ovr->op_timeout_ms;
	if (ovr->max_retries >= 0)
		cfg->max_retries = (unsigned)ovr->max_retries;

	endpoint = ovr->endpoint;
	rc = 0;
	if (endpoint) {
		rc = set_endpoint(cfg, endpoint, "--endpoint", err);
		cfg->endpoint_source = "--endpoint";
	} else if ((endpoint = getenv("HF_ENDPOINT")) && *endpoint) {
		rc = set_endpoint(cfg, endpoint, "HF_ENDPOINT", err);
		cfg->endpoint_source = "HF_ENDPOINT";
	} else {
		rc = set_endpoint(cfg, DEFAULT_ENDPOINT, "the default endpoint", err);
		cfg->endpoint_source = "the default";
	}
	if (rc < 0)
		goto fail;

	/*
	 * As huggingface_hub's get_token(): HF_TOKEN, else the older
	 * HUGGING_FACE_HUB_TOKEN, each only when it holds a token once
	 * cleaned (a blank one falls through to the file), else the file.
	 */
	env_token = getenv("HF_TOKEN");
	if (!env_token || !*env_token)
		env_token = getenv("HUGGING_FACE_HUB_TOKEN");
	if (ovr->token_file) {
		rc = read_token_file(ovr->token_file, true, &cfg->token, err);
		cfg->token_source = "--token-file";
		if (rc == 0 && !cfg->token)
			rc = hub_fail(err, -EINVAL, 0, "the token file '%s' holds no token",
				      ovr->token_file);
	} else if (env_token && *env_token && token_is_blank(env_token)) {
		/* huggingface_hub's _clean_token() makes it None: the file decides. */
		rc = token_from_files(cfg, path, sizeof(path), err);
	} else if (env_token && *env_token) {
		bool bad;

		cfg->token = clean_token(env_token, &bad);
		cfg->token_source = env_token == getenv("HF_TOKEN") ? "HF_TOKEN"
								    : "HUGGING_FACE_HUB_TOKEN";
		if (bad)
			rc = hub_fail(err, -EINVAL, 0,
				      "%s has characters a token cannot have", cfg->token_source);
	} else {
		rc = token_from_files(cfg, path, sizeof(path), err);
	}
	if (rc < 0)
		goto fail;
	if (!cfg->token)
		cfg->token_source = NULL;
	return 0;
fail:
	hub_config_release(cfg);
	return rc;
}

void hub_config_release(struct hub_config *cfg)
{
	free(cfg->endpoint);
	if (cfg->token) {
		/* Do not leave the secret lying in freed memory. */
		explicit_bzero(cfg->token, strlen(cfg->token));
		free(cfg->token);
	}
	memset(cfg, 0, sizeof(*cfg));
}
