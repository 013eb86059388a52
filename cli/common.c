/* SPDX-License-Identifier: MIT */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "util/log.h"
#include "util/size.h"
#include "util/time.h"
#include "util/utf8.h"

int cli_hub_opt(struct cli_hub_opts *o, int c, const char *arg)
{
	enum log_level level;

	switch (c) {
	case CLI_OPT_ENDPOINT:
		o->ovr.endpoint = arg;
		return 1;
	case CLI_OPT_TOKEN_FILE:
		o->ovr.token_file = arg;
		return 1;
	case CLI_OPT_OFFLINE:
		o->ovr.offline = true;
		return 1;
	case CLI_OPT_TYPE:
		if (hub_repo_type_parse(arg, &o->type) < 0) {
			fprintf(stderr, "hubfs: --type must be model, dataset or space\n");
			return -1;
		}
		o->type_given = true;
		return 1;
	case CLI_OPT_MIN_SPEED: {
		uint64_t bps;

		if (size_parse(arg, &bps) < 0 || bps < 1 || bps > (1u << 30)) {
			fprintf(stderr, "hubfs: --min-speed: '%s' is not a number of bytes "
				"per second from 1 to 1G\n", arg);
			return -1;
		}
		o->ovr.min_speed_bps = (long)bps;
		return 1;
	}
	case CLI_OPT_CONNECT_TIMEOUT:
	case CLI_OPT_STALL_TIMEOUT:
	case CLI_OPT_OP_TIMEOUT:
	case CLI_OPT_RETRIES: {
		char *end;
		double v = strtod(arg, &end);
		bool retries = c == CLI_OPT_RETRIES;

		/*
		 * Written so that NaN fails too; a timeout of 0 (or "") meant
		 * the default in silence, and retries past HUBFS_MAX_RETRIES's
		 * 100 were taken.
		 */
		if (end == arg || *end ||
		    !(retries ? v >= 0 && v <= 100 && v == (int)v : v > 0 && v <= 86400)) {
			fprintf(stderr, "hubfs: '%s' is not a valid %s\n", arg,
				retries ? "number of retries (0 to 100)"
					: "number of seconds (more than 0, at most 86400)");
			return -1;
		}
		if (c == CLI_OPT_CONNECT_TIMEOUT)
			o->ovr.connect_timeout_ms = time_secs_to_ms(v);
		else if (c == CLI_OPT_STALL_TIMEOUT)
			o->ovr.stall_timeout_ms = time_secs_to_ms(v);
		else if (c == CLI_OPT_OP_TIMEOUT)
			o->ovr.op_timeout_ms = time_secs_to_ms(v);
		else
			o->ovr.max_retries = (int)v;
		return 1;
	}
	case CLI_OPT_LOG_LEVEL:
		if (log_level_parse(arg, &level) < 0) {
			fprintf(stderr, "hubfs: unknown log level '%s'\n", arg);
			return -1;
		}
		log_init("hubfs", level, false);
		return 1;
	default:
		return 0;
	}
}

int cli_getopt(struct cli_hub_opts *o, int argc, char **argv,
	       const char *shortopts, const struct option *longopts)
{
	int c, rc;

	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		rc = cli_hub_opt(o, c, optarg);
		if (rc < 0)
			return CLI_OPT_BAD;
		if (rc == 0)
			return c;
	}
	return -1;
}

enum cli_exit cli_exit_code(int rc)
{
	switch (-rc) {
	case 0:
		return CLI_EXIT_OK;
	case EINVAL:
		return CLI_EXIT_USAGE;
	case ENOENT:
		return CLI_EXIT_NOT_FOUND;
	case EACCES:
	case EPERM:
		return CLI_EXIT_ACCESS;
	case EHOSTUNREACH:
	case ETIMEDOUT:
	case EAGAIN:
	case ENETDOWN:
	case EIO:
	case EPROTO:
	case ECONNRESET:
		return CLI_EXIT_NETWORK;
	default:
		return CLI_EXIT_FAIL;
	}
}

int cli_report(int rc, const struct hub_error *err)
{
	if (err && err->message[0])
		fprintf(stderr, "hubfs: %s\n", err->message);
	else
		fprintf(stderr, "hubfs: %s\n", strerror(-rc));
	return cli_exit_code(rc);
}

int cli_hub_connect(const struct cli_hub_opts *o, struct hub_config *cfg,
		    struct hub_client **client)
{
	struct hub_error err = { 0 };
	int rc;

	rc = hub_config_load(cfg, &o->ovr, &err);
	if (rc < 0)
		return cli_report(rc, &err);
	rc = hub_client_new(cfg, client);
	if (rc < 0) {
		hub_config_release(cfg);
		return cli_report(rc, NULL);
	}
	return 0;
}

int cli_parse_repo(const struct cli_hub_opts *o, const char *spec,
		   struct hub_repo *repo)
{
	struct hub_error err = { 0 };
	int rc = hub_repo_parse(spec, o->type, o->type_given, repo, &err);

	return rc < 0 ? cli_report(rc, &err) : 0;
}

void cli_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x80) {
			size_t n = utf8_seq_len(p);

			/*
			 * JSON is UTF-8: a byte of a name that is not is written
			 * as Python's surrogateescape writes it (os.fsencode()
			 * gives the byte back). Raw, it made the whole document
			 * unreadable to json.load().
			 */
			if (n == 0) {
				fprintf(out, "\\udc%02x", *p);
			} else {
				fwrite(p, 1, n, out);
				p += n - 1;
			}
			continue;
		}
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (*p < 0x20)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

int cli_snapshot_open(const struct cli_hub_opts *o, const char *spec,
		      const char *cache_dir_opt, struct repo_env *env,
		      struct hub_config *cfg, struct repo_snapshot **snap)
{
	/* One per process: a command opens one snapshot. */
	static char hf_cache[4096];
	struct cache_options copts = { 0 };
	struct hub_error err = { 0 };
	struct hub_repo repo;
	int rc;

	memset(env, 0, sizeof(*env));
	*snap = NULL;
	rc = cli_parse_repo(o, spec, &repo);
	if (rc)
		return rc;
	rc = cli_cache_open(cache_dir_opt, &copts, &env->cache);
	if (rc)
		return rc;
	rc = cli_hub_connect(o, cfg, &env->hub);
	if (rc) {
		cache_close(env->cache);
		env->cache = NULL;
		return rc;
	}
	env->offline = cfg->offline;
	if (repo_hf_hub_cache_dir(hf_cache, sizeof(hf_cache)) == 0)
		env->hf_hub_cache = hf_cache;
	rc = repo_snapshot_load(env, &repo, snap, &err);
	if (rc < 0) {
		rc = cli_report(rc, &err);
		hub_client_free(env->hub);
		hub_config_release(cfg);
		cache_close(env->cache);
		memset(env, 0, sizeof(*env));
		return rc;
	}
	return 0;
}

void cli_snapshot_close(struct repo_env *env, struct hub_config *cfg,
			struct repo_snapshot *snap)
{
	if (!snap)
		return;
	repo_snapshot_unref(snap);
	hub_client_free(env->hub);
	hub_config_release(cfg);
	cache_close(env->cache);
}

void cli_silence_init(struct cli_silence *s, int64_t window_ms)
{
	memset(s, 0, sizeof(*s));
	s->window_ms = window_ms;
	pthread_mutex_init(&s->lock, NULL);
	s->since_ms = time_mono_ms();
	atomic_init(&s->gave_up, false);
}

void cli_silence_start(struct cli_silence *s, uint64_t progress)
{
	pthread_mutex_lock(&s->lock);
	s->since_ms = time_mono_ms();
	s->progress_seen = progress;
	pthread_mutex_unlock(&s->lock);
}

void cli_silence_destroy(struct cli_silence *s)
{
	pthread_mutex_destroy(&s->lock);
}

bool cli_silence_failed(struct cli_silence *s, uint64_t progress, int rc, const char *detail)
{
	int64_t now = time_mono_ms();
	bool give_up = false;

	/* Timed out, unreachable, rate-limited or 5xx after the retries. */
	if ((rc != -ETIMEDOUT && rc != -EHOSTUNREACH && rc != -EAGAIN && rc != -EIO) ||
	    atomic_load(&s->gave_up))
		return false;
	pthread_mutex_lock(&s->lock);
	if (progress != s->progress_seen) {
		s->since_ms = now;
		s->progress_seen = progress;
	} else if (now - s->since_ms >= s->window_ms && !atomic_load(&s->gave_up)) {
		snprintf(s->why, sizeof(s->why),
			 "the Hub sent nothing for %.0f s (--op-timeout), each transfer in that "
			 "time failing (%s); run the same command again to resume",
			 (double)(now - s->since_ms) / 1000.0, detail);
		atomic_store(&s->gave_up, true);
		give_up = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (give_up)
		log_warn("giving up: %s", s->why);
	return give_up;
}
