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
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "fs/fs.h"
#include "hub/hub.h"
#include "util/log.h"

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
		"  cache ls|verify|evict|prune  look after the local cache\n"
		"  mount MOUNTPOINT [options]  mount the Hub at MOUNTPOINT\n"
		"  umount MOUNTPOINT           unmount (same as 'fusermount3 -u')\n"
		"\n"
		"mount options:\n"
		"  -f, --foreground        stay in the foreground, log to stderr\n"
		"  -o OPT[,OPT...]         FUSE mount options (e.g. allow_other)\n"
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
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fs_options opts = { 0 };
	enum log_level level = LOG_LVL_INFO;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+fdo:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			opts.foreground = true;
			break;
		case 'd':
			opts.debug = true;
			opts.foreground = true;
			break;
		case 'o':
			opts.fuse_options = optarg;
			break;
		case 'L':
			if (log_level_parse(optarg, &level) < 0) {
				fprintf(stderr, "hubfs: unknown log level '%s'\n",
					optarg);
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
	log_init("hubfs", level, !opts.foreground);
	rc = fs_run(&opts);
	return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

static int cmd_umount(int argc, char **argv)
{
	pid_t pid;
	int status;

	if (argc != 2) {
		fprintf(stderr, "hubfs: umount needs exactly one MOUNTPOINT\n");
		return EXIT_USAGE;
	}
	/* fusermount3 is setuid and knows the rules for unprivileged users. */
	pid = fork();
	if (pid < 0) {
		perror("hubfs: fork");
		return EXIT_FAIL;
	}
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "--", argv[1],
		       (char *)NULL);
		perror("hubfs: cannot run fusermount3");
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return EXIT_FAIL;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? EXIT_OK :
							       EXIT_FAIL;
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
	    strcmp(argv[1], "download") == 0) {
		int rc;

		if (hub_global_init() < 0) {
			fprintf(stderr, "hubfs: cannot initialise libcurl\n");
			return EXIT_FAIL;
		}
		if (strcmp(argv[1], "ls") == 0)
			rc = cmd_ls(argc - 1, argv + 1);
		else if (strcmp(argv[1], "info") == 0)
			rc = cmd_info(argc - 1, argv + 1);
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
