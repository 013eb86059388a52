/* SPDX-License-Identifier: MIT */
/*
 * hubfs: command-line entry point.
 *
 * Parses the command and its options, sets up logging, and hands over to
 * the module that does the work. The only file with main().
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "fs/fs.h"
#include "hub/hub.h"
#include "util/log.h"
#include "util/size.h"

#define EXIT_OK CLI_EXIT_OK
#define EXIT_FAIL CLI_EXIT_FAIL
#define EXIT_USAGE CLI_EXIT_USAGE

static void print_usage(FILE *out)
{
	fprintf(out,
		"usage: hubfs [--help] [--version] COMMAND [ARGS]\n"
		"\n"
		"The Hugging Face Hub as a read-only, verified filesystem.\n"
		"\n"
		"Commands:\n"
		"  ls REPO[@REV] [PATH] [-R] [-l]  list a repo's files\n"
		"  info REPO[@REV] [--json]    id, commit, tags, access, files, size\n"
		"  download REPO[@REV] [options]  fetch files into the verified cache\n"
		"  verify DIR [--repo REPO[@REV]] [--deep]  check a folder of a repo's files\n"
		"  repair DIR --repo REPO[@REV]  put content in place of Git-LFS pointer stubs\n"
		"  cache ls|verify|evict|prune  look after the local cache\n"
		"  mount MOUNTPOINT [options]  mount the Hub at MOUNTPOINT\n"
		"  umount MOUNTPOINT           unmount (same as 'fusermount3 -u')\n"
		"\n"
		"mount options (without -f, mount returns once the mount serves\n"
		"and the daemon logs to syslog):\n"
		"  -f, --foreground        stay in the foreground, log to stderr\n"
		"  -o OPT[,OPT...]         FUSE mount options (e.g. allow_other)\n"
		"  --repo [datasets/]ORG/NAME[@REV]  mount one repo at the root\n"
		"  --type TYPE             model, dataset or space, for --repo\n"
		"  --strict                opening a file fetches and verifies all of it\n"
		"  --revision-ttl SECS     re-resolve branches after SECS (default 60)\n"
		"  --cache-dir DIR, --max-cache-size SIZE, --min-free RATIO (0.05)\n"
		"  --endpoint URL, --token-file FILE, --offline\n"
		"  --connect-timeout SECS  wait this long for a connection (default 10)\n"
		"  --stall-timeout SECS    the low-speed window (default 30)\n"
		"  --min-speed BYTES/S     slower than this over that window fails (1K)\n"
		"  --op-timeout SECS       one operation, retries included (default 120)\n"
		"  --retries N             retry a failed request N times (default 5)\n"
		"  --log-level LEVEL       error, warn, info (default) or debug\n"
		"  -d, --debug             trace every FUSE request (implies -f)\n"
		"\n"
		"See hubfs(1) for details.\n");
}

static int cmd_mount(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "repo", required_argument, NULL, 'R' },
		{ "cache-dir", required_argument, NULL, 'C' },
		{ "max-cache-size", required_argument, NULL, 'M' },
		{ "min-free", required_argument, NULL, 'F' },
		{ "revision-ttl", required_argument, NULL, 'T' },
		{ "strict", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		CLI_HUB_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct fs_options opts = {
		.revision_ttl_secs = 60, .negative_ttl_secs = 30,
		.prefetch_blocks = 8, .prefetch_threads = 4,
		.prefetch_streams = 1, .reader_streams = 1,
	};
	struct cli_hub_opts o = CLI_HUB_OPTS_INIT;
	struct cache_options copts = { .min_free_ratio = 0.05 };
	struct hub_config cfg = { 0 };
	struct hub_client *hub = NULL;
	struct cache *cache = NULL;
	struct fs_deps deps;
	enum log_level level = LOG_LVL_INFO;
	const char *cache_dir_opt = NULL;
	char *end;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "fdo:h", longopts, NULL)) != -1) {
		if (c == CLI_OPT_LOG_LEVEL) {
			if (log_level_parse(optarg, &level) < 0) {
				fprintf(stderr, "hubfs: unknown log level '%s'\n", optarg);
				return EXIT_USAGE;
			}
			continue;
		}
		rc = cli_hub_opt(&o, c, optarg);
		if (rc < 0)
			return EXIT_USAGE;
		if (rc > 0)
			continue;
		switch (c) {
		case 'f': opts.foreground = true; break;
		case 'd': opts.debug = opts.foreground = true; break;
		case 'o': opts.fuse_options = optarg; break;
		case 'R': opts.repo = optarg; break;
		case 'C': cache_dir_opt = optarg; break;
		case 'S': opts.strict = true; break;
		case 'M':
			if (size_parse(optarg, &copts.max_bytes) < 0) {
				fprintf(stderr, "hubfs: --max-cache-size: '%s' is not a size\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'F':
			copts.min_free_ratio = strtod(optarg, &end);
			if (*end || copts.min_free_ratio < 0 || copts.min_free_ratio >= 1) {
				fprintf(stderr, "hubfs: --min-free is a ratio in [0, 1)\n");
				return EXIT_USAGE;
			}
			break;
		case 'T':
			opts.revision_ttl_secs = strtol(optarg, &end, 10);
			if (*end || opts.revision_ttl_secs < 0) {
				fprintf(stderr, "hubfs: --revision-ttl is a number of seconds\n");
				return EXIT_USAGE;
			}
			break;
		case 'h':
			print_usage(stdout);
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "hubfs: mount needs exactly one MOUNTPOINT\n");
		return EXIT_USAGE;
	}
	opts.mountpoint = argv[optind];
	if (opts.repo) {
		struct hub_repo r;

		rc = cli_parse_repo(&o, opts.repo, &r);
		if (rc)
			return rc;
	}
	/*
	 * stderr even without -f: what stops the mount must reach the
	 * terminal. The daemon moves to syslog once it serves (fs_run()).
	 */
	log_init("hubfs", level, false);
	if (hub_global_init() < 0)
		return EXIT_FAIL;
	rc = cli_cache_open(cache_dir_opt, &copts, &cache);
	if (rc == 0)
		rc = cli_hub_connect(&o, &cfg, &hub);
	if (rc == 0) {
		char line[1024];

		/* Which Hub, and how long it gets: the first thing to know when it hangs. */
		if (cfg.offline)
			snprintf(line, sizeof(line), "offline: no network use; serving what "
				 "the cache holds (endpoint %s)", cfg.endpoint);
		else
			snprintf(line, sizeof(line), "Hub endpoint %s (from %s); connect "
				 "within %.1f s, at least %ld bytes/s over %.1f s, %.1f s per "
				 "operation, %u retries", cfg.endpoint, cfg.endpoint_source,
				 cfg.connect_timeout_ms / 1000.0, cfg.min_speed_bps,
				 cfg.stall_timeout_ms / 1000.0, cfg.op_timeout_ms / 1000.0,
				 cfg.max_retries);
		/* On stderr in the background too: the log goes to syslog only once the mount serves. */
		log_info("%s", line);
		deps = (struct fs_deps){ .hub = hub, .hub_config = &cfg, .cache = cache };
		rc = fs_run(&opts, &deps) == 0 ? EXIT_OK : EXIT_FAIL;
		hub_client_free(hub);
		hub_config_release(&cfg);
	}
	cache_close(cache);
	hub_global_cleanup();
	return rc;
}

/* Run "fusermount3 @flags -- @mnt"; its exit status, or -1. */
static int run_fusermount(const char *flags, const char *mnt)
{
	pid_t pid;
	int status;

	/* fusermount3 is setuid and knows the rules for unprivileged users. */
	pid = fork();
	if (pid < 0) {
		perror("hubfs: fork");
		return -1;
	}
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", flags, "--", mnt, (char *)NULL);
		perror("hubfs: cannot run fusermount3");
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int cmd_umount(int argc, char **argv)
{
	struct stat st;

	if (argc != 2) {
		fprintf(stderr, "hubfs: umount needs exactly one MOUNTPOINT\n");
		return EXIT_USAGE;
	}
	if (run_fusermount("-u", argv[1]) == 0)
		return EXIT_OK;
	/* A stale mount (its hubfs is gone) may still be busy: detach it. */
	if (stat(argv[1], &st) < 0 && errno == ENOTCONN &&
	    run_fusermount("-uz", argv[1]) == 0) {
		fprintf(stderr, "hubfs: '%s' was a stale mount; detached it\n", argv[1]);
		return EXIT_OK;
	}
	return EXIT_FAIL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		print_usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("hubfs %s\n", HUBFS_VERSION);
		return EXIT_OK;
	}
	log_init("hubfs", LOG_LVL_WARN, false);
	if (strcmp(argv[1], "mount") == 0)
		return cmd_mount(argc - 1, argv + 1);
	if (strcmp(argv[1], "cache") == 0)
		return cmd_cache(argc - 1, argv + 1);
	if (strcmp(argv[1], "ls") == 0 || strcmp(argv[1], "info") == 0 ||
	    strcmp(argv[1], "download") == 0 || strcmp(argv[1], "verify") == 0 ||
	    strcmp(argv[1], "repair") == 0) {
		int rc;

		if (hub_global_init() < 0) {
			fprintf(stderr, "hubfs: cannot initialise libcurl\n");
			return EXIT_FAIL;
		}
		if (strcmp(argv[1], "ls") == 0)
			rc = cmd_ls(argc - 1, argv + 1);
		else if (strcmp(argv[1], "info") == 0)
			rc = cmd_info(argc - 1, argv + 1);
		else if (strcmp(argv[1], "verify") == 0)
			rc = cmd_verify(argc - 1, argv + 1);
		else if (strcmp(argv[1], "repair") == 0)
			rc = cmd_repair(argc - 1, argv + 1);
		else
			rc = cmd_download(argc - 1, argv + 1);
		hub_global_cleanup();
		return rc;
	}
	if (strcmp(argv[1], "umount") == 0 || strcmp(argv[1], "unmount") == 0)
		return cmd_umount(argc - 1, argv + 1);
	fprintf(stderr, "hubfs: unknown command '%s' (see 'hubfs --help')\n",
		argv[1]);
	return EXIT_USAGE;
}
