/* SPDX-License-Identifier: MIT */
/*
 * hubfs: command-line entry point.
 *
 * Parses the command and its options, sets up logging, and hands over to
 * the module that does the work. The only file with main().
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
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
#include "util/buf.h"
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
		"  cache ls|verify|evict|prune|export  look after the local cache\n"
		"  mount MOUNTPOINT [options]  mount the Hub at MOUNTPOINT\n"
		"  umount MOUNTPOINT           unmount (same as 'fusermount3 -u')\n"
		"  status MOUNTPOINT [--json|--prometheus]  what a live mount is doing\n"
		"\n"
		"mount options (without -f, mount returns once the mount serves\n"
		"and the daemon logs to syslog):\n"
		"  -f, --foreground        stay in the foreground, log to stderr\n"
		"  -o OPT[,OPT...]         FUSE mount options (e.g. allow_other)\n"
		"  --repo [datasets/]ORG/NAME[@REV]  mount one repo at the root\n"
		"  --type TYPE             model, dataset or space, for --repo\n"
		"  --strict                opening a file fetches and verifies all of it\n"
		"  --revision-ttl SECS     re-resolve branches after SECS (default 60)\n"
		"  --max-streams N         read-ahead fetches in flight at most: the cap of\n"
		"                          a window that starts at 16 (default 32, 1..64)\n"
		"  --drop-behind WHEN      the cache's copy of what a reader was given\n"
		"                          leaves the page cache: auto (where memory has\n"
		"                          no room for both copies; default), always, never\n"
		"  --cache-dir DIR, --max-cache-size SIZE, --min-free RATIO (0.05)\n"
		"  --endpoint URL, --token-file FILE, --offline\n"
		"  --connect-timeout SECS  wait this long for a connection (default 10)\n"
		"  --stall-timeout SECS    the low-speed window (default 30)\n"
		"  --min-speed BYTES/S     slower than this over that window fails (1K)\n"
		"  --op-timeout SECS       one operation, retries included (default 120)\n"
		"  --retries N             retry a failed request N times (default 5)\n"
		"  --log-level LEVEL       error, warn, info (default) or debug\n"
		"  -d, --debug             trace every FUSE request (implies -f)\n"
		"  Every long option but -f and -d has an -o form, NAME[=VALUE] with '_'\n"
		"  for '-', taken out of the list before FUSE sees it (fstab: hubfs(1));\n"
		"  mount(8)'s own (_netdev, nofail, noauto, x-*...) are ignored, rw too\n"
		"  (with a warning: the mount is read-only). The -o forms:\n"
		"    repo= type= strict revision_ttl= max_streams= drop_behind= cache_dir=\n"
		"    max_cache_size= min_free= endpoint= token_file= offline\n"
		"    connect_timeout= stall_timeout= min_speed= op_timeout= retries=\n"
		"    log_level=\n"
		"\n"
		"See hubfs(1) for details.\n");
}

/* What `hubfs mount` was told, by its options and their -o forms. */
struct mount_args {
	struct fs_options opts;
	struct cli_hub_opts hub;
	struct cache_options copts;
	enum log_level level;
	const char *cache_dir;
	struct buf fuse_opts;       /* the -o options hubfs leaves to FUSE */
	char *o_lists[16];          /* copies of -o lists: their values are kept */
	size_t n_o_lists;
	char repo_spec[HUB_REPO_ID_MAX + 3 * HUB_REVISION_MAX + 16]; /* --repo, typed */
	bool check_only;            /* mount -f (fake): every check, no mount */
};

static const struct option mount_longopts[] = {
	{ "foreground", no_argument, NULL, 'f' },
	{ "debug", no_argument, NULL, 'd' },
	{ "repo", required_argument, NULL, 'R' },
	{ "cache-dir", required_argument, NULL, 'C' },
	{ "max-cache-size", required_argument, NULL, 'M' },
	{ "min-free", required_argument, NULL, 'F' },
	{ "revision-ttl", required_argument, NULL, 'T' },
	{ "strict", no_argument, NULL, 'S' },
	{ "max-streams", required_argument, NULL, 'X' },
	{ "drop-behind", required_argument, NULL, 'B' },
	{ "help", no_argument, NULL, 'h' },
	CLI_HUB_LONGOPTS,
	{ NULL, 0, NULL, 0 },
};

static int mount_apply_list(struct mount_args *m, const char *list);

/* Apply option @c (a mount_longopts value) with @arg. 0, or an exit code. */
static int mount_apply(struct mount_args *m, int c, char *arg)
{
	char *end;
	int rc;

	if (c == CLI_OPT_LOG_LEVEL) {
		if (log_level_parse(arg, &m->level) < 0) {
			fprintf(stderr, "hubfs: unknown log level '%s'\n", arg);
			return EXIT_USAGE;
		}
		return 0;
	}
	rc = cli_hub_opt(&m->hub, c, arg);
	if (rc != 0)
		return rc < 0 ? EXIT_USAGE : 0;
	switch (c) {
	case 'f': m->opts.foreground = true; break;
	case 'd': m->opts.debug = m->opts.foreground = true; break;
	case 'o': return mount_apply_list(m, arg);
	case 'R': m->opts.repo = arg; break;
	case 'C': m->cache_dir = arg; break;
	case 'S': m->opts.strict = true; break;
	case 'M':
		if (size_parse(arg, &m->copts.max_bytes) < 0) {
			fprintf(stderr, "hubfs: --max-cache-size: '%s' is not a size\n", arg);
			return EXIT_USAGE;
		}
		break;
	case 'F':
		m->copts.min_free_ratio = strtod(arg, &end);
		/* So written that NaN fails too: it turned the floor off, and broke `hubfs status`. */
		if (end == arg || *end ||
		    !(m->copts.min_free_ratio >= 0 && m->copts.min_free_ratio < 1)) {
			fprintf(stderr, "hubfs: --min-free is a ratio in [0, 1)\n");
			return EXIT_USAGE;
		}
		break;
	case 'X': {
		unsigned long n = strtoul(arg, &end, 10);

		if (end == arg || *end || n < 1 || n > 64) {
			fprintf(stderr, "hubfs: --max-streams must be 1..64\n");
			return EXIT_USAGE;
		}
		m->opts.max_streams = (unsigned)n;
		break;
	}
	case 'B':
		if (strcmp(arg, "auto") == 0) {
			m->opts.drop_behind = FS_DROP_AUTO;
		} else if (strcmp(arg, "always") == 0) {
			m->opts.drop_behind = FS_DROP_ALWAYS;
		} else if (strcmp(arg, "never") == 0) {
			m->opts.drop_behind = FS_DROP_NEVER;
		} else {
			fprintf(stderr, "hubfs: --drop-behind is auto, always or never\n");
			return EXIT_USAGE;
		}
		break;
	case 'T':
		m->opts.revision_ttl_secs = strtol(arg, &end, 10);
		if (end == arg || *end || m->opts.revision_ttl_secs < 0) {
			fprintf(stderr, "hubfs: --revision-ttl is a number of seconds\n");
			return EXIT_USAGE;
		}
		break;
	default:
		return EXIT_USAGE;
	}
	return 0;
}

/* Is @opt one of mount(8)'s own options, which mean nothing to hubfs? */
static bool is_mount8_option(const char *opt)
{
	static const char *const ignored[] = {
		"_netdev", "nofail", "noauto", "auto", "defaults", "user", "nouser",
		"users", "owner", "group", "ro",
	};

	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		if (strcmp(opt, ignored[i]) == 0)
			return true;
	}
	return strncmp(opt, "x-", 2) == 0 || strncmp(opt, "comment=", 8) == 0;
}

/*
 * One -o list: hubfs's own options (every long option but foreground,
 * debug and help, with '_' for '-': cache_dir=DIR, strict) are taken out,
 * mount(8)'s own are dropped, and the rest is left to FUSE.
 */
static int mount_apply_list(struct mount_args *m, const char *list)
{
	char *copy, *save = NULL;

	if (m->n_o_lists == sizeof(m->o_lists) / sizeof(m->o_lists[0])) {
		fprintf(stderr, "hubfs: too many -o options\n");
		return EXIT_USAGE;
	}
	copy = strdup(list);
	if (!copy)
		return EXIT_FAIL;
	m->o_lists[m->n_o_lists++] = copy;
	for (char *opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		char *value = strchr(opt, '=');
		size_t name_len = value ? (size_t)(value - opt) : strlen(opt);
		const struct option *lo;
		int rc;

		for (lo = mount_longopts; lo->name; lo++) {
			size_t i;

			if (lo->val == 'f' || lo->val == 'd' || lo->val == 'h' ||
			    strlen(lo->name) != name_len)
				continue;
			for (i = 0; i < name_len; i++) {
				char ch = opt[i] == '_' ? '-' : opt[i];

				if (ch != lo->name[i])
					break;
			}
			if (i == name_len)
				break;
		}
		if (lo->name) {
			if (lo->has_arg == required_argument ? !value || !value[1] : value != NULL) {
				fprintf(stderr, "hubfs: -o %.*s %s\n", (int)name_len, opt,
					lo->has_arg != required_argument ? "takes no value" :
					"needs a value (NAME=VALUE)");
				return EXIT_USAGE;
			}
			rc = mount_apply(m, lo->val, value ? value + 1 : NULL);
			if (rc)
				return rc;
			continue;
		}
		if (strcmp(opt, "rw") == 0) {
			/* mount(8) turns "defaults" into "rw": refusing would break such lines. */
			log_warn("-o rw ignored: hubfs is read-only, the mount is ro");
			continue;
		}
		if (is_mount8_option(opt))
			continue;
		if (buf_printf(&m->fuse_opts, "%s%s", m->fuse_opts.len ? "," : "", opt) < 0)
			return EXIT_FAIL;
	}
	return 0;
}

/* mount -f: the mount point must be a directory we can enter. */
static int mountpoint_usable(const char *path)
{
	struct stat st;

	errno = 0;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode) || access(path, X_OK) < 0) {
		log_err("cannot mount on '%s': %s", path,
			errno ? strerror(errno) : "not a directory");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int mount_run(struct mount_args *m)
{
	struct hub_config cfg = { 0 };
	struct hub_client *hub = NULL;
	struct cache *cache = NULL;
	struct fs_deps deps;
	int rc;

	m->opts.fuse_options = m->fuse_opts.len ? buf_cstr(&m->fuse_opts) : NULL;
	if (m->opts.repo) {
		struct hub_repo r;

		rc = cli_parse_repo(&m->hub, m->opts.repo, &r);
		if (rc)
			return rc;
		/* With its type prefix: fs/ takes a name without one for a model. */
		if (hub_repo_format(&r, m->repo_spec, sizeof(m->repo_spec)) < 0)
			return EXIT_USAGE;
		m->opts.repo = m->repo_spec;
	}
	/*
	 * stderr even without -f: what stops the mount must reach the
	 * terminal. The daemon moves to syslog once it serves (fs_run()).
	 */
	log_init("hubfs", m->level, false);
	/*
	 * A block being read and one being fetched must fit together, with
	 * their headers: under less, every read of a file past one block
	 * ends in EIO (the blocks go before a hash takes them).
	 */
	if (m->copts.max_bytes && m->copts.max_bytes < 2 * ((uint64_t)CACHE_BLOCK_SIZE + 65536))
		log_warn("--max-cache-size %llu holds fewer than two 4 MiB blocks: every file "
			 "larger than one will fail to read (give it 9M at least)",
			 (unsigned long long)m->copts.max_bytes);
	if (hub_global_init() < 0)
		return EXIT_FAIL;
	rc = cli_cache_open(m->cache_dir, &m->copts, &cache);
	if (rc == 0)
		rc = cli_hub_connect(&m->hub, &cfg, &hub);
	if (rc == 0) {
		char line[1024], shown[512];

		/* Which Hub, and how long it gets: the first thing to know when it hangs. */
		/* A password in the endpoint's URL goes to no log. */
		hub_redact_url(cfg.endpoint, shown, sizeof(shown));
		if (cfg.offline)
			snprintf(line, sizeof(line), "offline: no network use; serving what "
				 "the cache holds (endpoint %s)", shown);
		else
			snprintf(line, sizeof(line), "Hub endpoint %s (from %s); connect "
				 "within %.1f s, at least %ld bytes/s over %.1f s, %.1f s per "
				 "operation, %u retries", shown, cfg.endpoint_source,
				 cfg.connect_timeout_ms / 1000.0, cfg.min_speed_bps,
				 cfg.stall_timeout_ms / 1000.0, cfg.op_timeout_ms / 1000.0,
				 cfg.max_retries);
		/* On stderr in the background too: the log goes to syslog only once the mount serves. */
		log_info("%s", line);
		deps = (struct fs_deps){ .hub = hub, .hub_config = &cfg, .cache = cache,
					 .cache_options = &m->copts };
		if (m->check_only)
			rc = mountpoint_usable(m->opts.mountpoint);
		else
			rc = fs_run(&m->opts, &deps) == 0 ? EXIT_OK : EXIT_FAIL;
		hub_client_free(hub);
		hub_config_release(&cfg);
	}
	cache_close(cache);
	hub_global_cleanup();
	return rc;
}

static void mount_args_init(struct mount_args *m)
{
	memset(m, 0, sizeof(*m));
	m->opts = (struct fs_options){
		.revision_ttl_secs = 60, .negative_ttl_secs = 30,
		.prefetch_blocks = 16, .prefetch_threads = 16, .max_streams = 32,
	};
	m->hub = (struct cli_hub_opts)CLI_HUB_OPTS_INIT;
	m->copts.min_free_ratio = 0.05;
	m->level = LOG_LVL_INFO;
	buf_init(&m->fuse_opts, 8192);
}

static void mount_args_release(struct mount_args *m)
{
	for (size_t i = 0; i < m->n_o_lists; i++)
		free(m->o_lists[i]);
	buf_release(&m->fuse_opts);
}

static int cmd_mount(int argc, char **argv)
{
	struct mount_args m;
	int c, rc = 0;

	mount_args_init(&m);
	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "fdo:h", mount_longopts, NULL)) != -1) {
		if (c == 'h') {
			print_usage(stdout);
			rc = -1;
		} else {
			rc = c == '?' ? EXIT_USAGE : mount_apply(&m, c, optarg);
		}
	}
	if (rc == 0 && optind != argc - 1) {
		fprintf(stderr, "hubfs: mount needs exactly one MOUNTPOINT\n");
		rc = EXIT_USAGE;
	}
	if (rc == 0) {
		m.opts.mountpoint = argv[optind];
		rc = mount_run(&m);
	}
	mount_args_release(&m);
	return rc < 0 ? EXIT_OK : rc;
}

/*
 * As mount(8)'s helper, /sbin/mount.fuse.hubfs (type fuse.hubfs) or
 * /sbin/mount.hubfs (type hubfs):
 *   mount.hubfs SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS] [-t TYPE]
 * SOURCE is "hubfs" (the repo is chosen with -o repo=). -f (fake) does
 * everything but mount; -s, -n and -v mean nothing here.
 */
static int cmd_mount_helper(const char *prog, int argc, char **argv)
{
	struct mount_args m;
	bool fake = false;
	int c, rc = 0;

	if (argc < 3 || argv[1][0] == '-' || argv[2][0] == '-') {
		fprintf(stderr, "usage: %s hubfs MOUNTPOINT [-sfnv] [-o OPTIONS]\n", prog);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "hubfs") != 0) {
		fprintf(stderr, "%s: the source must be 'hubfs' (choose a repo with "
			"-o repo=ORG/NAME), not '%s'\n", prog, argv[1]);
		return EXIT_USAGE;
	}
	mount_args_init(&m);
	m.opts.mountpoint = argv[2];
	/* The options after SOURCE and MOUNTPOINT, as mount(8) passes them. */
	optind = 1;
	while (rc == 0 && (c = getopt(argc - 2, argv + 2, "sfnvo:t:N:")) != -1) {
		switch (c) {
		case 's': case 'n': case 'v': break;
		case 'f': fake = true; break;
		case 'o': rc = mount_apply_list(&m, optarg); break;
		case 't':
			if (strcmp(optarg, "hubfs") != 0 && strcmp(optarg, "fuse.hubfs") != 0) {
				fprintf(stderr, "%s: type '%s' is not hubfs\n", prog, optarg);
				rc = EXIT_USAGE;
			}
			break;
		case 'N':
			fprintf(stderr, "%s: -N (another namespace) is not supported\n", prog);
			rc = EXIT_USAGE;
			break;
		default:
			rc = EXIT_USAGE;
		}
	}
	if (rc == 0 && optind != argc - 2) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind + 2]);
		rc = EXIT_USAGE;
	}
	if (rc == 0 && m.opts.foreground) {
		fprintf(stderr, "%s: foreground and debug are for 'hubfs mount'\n", prog);
		rc = EXIT_USAGE;
	}
	/* -f ("fake"): every check mount_run() makes (options, endpoint, token, cache), no mount. */
	if (rc == 0) {
		m.check_only = fake;
		rc = mount_run(&m);
	}
	mount_args_release(&m);
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

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: hubfs umount MOUNTPOINT\n"
		       "Unmount a hubfs mount (fusermount3 -u); a stale one, whose daemon is\n"
		       "gone, is detached (fusermount3 -uz).\n");
		return EXIT_OK;
	}
	if (argc != 2) {
		fprintf(stderr, "hubfs: umount needs exactly one MOUNTPOINT\n");
		return EXIT_USAGE;
	}
	if (argv[1][0] == '-') {
		/* An option (--version), not a folder: './-x' names one so named. */
		fprintf(stderr, "hubfs: umount: unknown option '%s' (see hubfs umount --help)\n",
			argv[1]);
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

/*
 * Allocations of 128 KiB and more (libcurl's 256 KiB receive buffer per
 * ranged transfer, a thread's scratch block) are mappings of their own,
 * given back when freed. By default glibc raises that threshold after the
 * first such free, and from then on they come from the arena of the
 * thread that asked, which keeps what was freed: with eight cold readers
 * and dozens of threads, a mount's peak RSS was 84-96 MiB, and 68-73 MiB
 * with the threshold fixed here (util/iobuf.h says the same of buffers).
 */
static void keep_big_allocations_apart(void)
{
#ifdef M_MMAP_THRESHOLD
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

int main(int argc, char **argv)
{
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

	keep_big_allocations_apart();

	/*
	 * mount(8) runs /sbin/mount.fuse.hubfs (type fuse.hubfs) or
	 * /sbin/mount.hubfs; without them, mount.fuse3 runs "hubfs hubfs DIR
	 * -o OPTIONS" (SOURCE "hubfs" is no command).
	 */
	if (strcmp(prog, "mount.fuse.hubfs") == 0 || strcmp(prog, "mount.hubfs") == 0 ||
	    (argc >= 3 && strcmp(argv[1], "hubfs") == 0)) {
		log_init(prog, LOG_LVL_WARN, false);
		return cmd_mount_helper(prog, argc, argv);
	}
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
	if (strcmp(argv[1], "status") == 0)
		return cmd_status(argc - 1, argv + 1);
	if (strcmp(argv[1], "umount") == 0 || strcmp(argv[1], "unmount") == 0)
		return cmd_umount(argc - 1, argv + 1);
	fprintf(stderr, "hubfs: unknown command '%s' (see 'hubfs --help')\n",
		argv[1]);
	return EXIT_USAGE;
}
