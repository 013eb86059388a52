/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/fileio.h"

/* Each test gets a fresh scratch directory (its state) and umask 022. */
struct scratch {
	char dir[64];
	mode_t old_umask;
};

static int setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	snprintf(s->dir, sizeof(s->dir), "%s", "/tmp/hubfs-test-fileio.XXXXXX");
	if (!mkdtemp(s->dir)) {
		free(s);
		return -1;
	}
	s->old_umask = umask(022);
	*state = s;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct scratch *s = *state;
	int rc;

	umask(s->old_umask);
	rc = nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(s);
	return rc;
}

/* "<dir>/<name>" into a buffer of PATH_MAX. */
static void join(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	assert_true(n > 0 && n < PATH_MAX);
}

/* The names in @dir, sorted and joined with '|' ("" when empty). */
static void list_dir(const char *dir, char *out, size_t size)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	size_t used = 0;

	assert_true(n >= 0);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;

		if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
			int w = snprintf(out + used, size - used, "%s%s",
					 used ? "|" : "", name);

			assert_true(w > 0 && (size_t)w < size - used);
			used += (size_t)w;
		}
		free(ents[i]);
	}
	free(ents);
}

static void assert_dir_lists(const char *dir, const char *want)
{
	char got[4096];

	list_dir(dir, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("%s holds '%s', expected '%s'", dir, got, want);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void assert_file_is(const char *path, const void *data, size_t len)
{
	struct buf b;

	buf_init(&b, 1 << 24);
	assert_int_equal(fileio_read_all(path, 1 << 24, &b), 0);
	assert_int_equal(b.len, len);
	if (len)
		assert_memory_equal(b.data, data, len);
	buf_release(&b);
}

/* "<path>.tmp.<our pid>.<number>" and nothing else. */
static void assert_tmp_form(const char *path, const char *tmp)
{
	size_t n = strlen(path);
	char *end;
	long pid;

	if (strncmp(tmp, path, n) != 0 || strncmp(tmp + n, ".tmp.", 5) != 0)
		fail_msg("'%s' is not '%s.tmp.*'", tmp, path);
	pid = strtol(tmp + n + 5, &end, 10);
	assert_int_equal(pid, (long)getpid());
	assert_int_equal(*end, '.');
	assert_true(end[1] >= '0' && end[1] <= '9');
	(void)strtoul(end + 1, &end, 10);
	assert_int_equal(*end, '\0');
}

static void fill_pattern(unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 131 + seed + (i >> 8)) & 0xff);
}

/* ---- fileio_write_atomic ---- */

static void test_write_atomic_creates(void **state)
{
	struct scratch *s = *state;
	char path[PATH_MAX], empty[PATH_MAX];
	struct stat st;
	static const char text[] = "hello\0world\n";

	join(path, s->dir, "file");
	assert_int_equal(fileio_write_atomic(path, text, sizeof(text), 0640, false), 0);
	assert_file_is(path, text, sizeof(text));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_size, sizeof(text));

	/* With fsync, another mode, and no bytes at all. */
	join(empty, s->dir, "empty");
	assert_int_equal(fileio_write_atomic(empty, "", 0, 0600, true), 0);
	assert_int_equal(stat(empty, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 0);

	/* Nothing else was left in the directory. */
	assert_dir_lists(s->dir, "empty|file");
}

static void test_write_atomic_replaces(void **state)
{
	struct scratch *s = *state;
	char path[PATH_MAX], old_seen[16];
	unsigned char *big = malloc(300000);
	struct stat st;
	int old_fd;

	assert_non_null(big);
	fill_pattern(big, 300000, 7);
	join(path, s->dir, "f");
	write_file(path, "old content that is longer", 26);
	old_fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(old_fd >= 0);

	assert_int_equal(fileio_write_atomic(path, "new", 3, 0644, true), 0);
	assert_file_is(path, "new", 3);
	/* Replaced by rename: whoever had the old file still reads it whole. */
	assert_int_equal(pread(old_fd, old_seen, 9, 0), 9);
	assert_memory_equal(old_seen, "old conte", 9);
	assert_int_equal(close(old_fd), 0);

	/* Bigger than any single write, then back to small, mode updated. */
	assert_int_equal(fileio_write_atomic(path, big, 300000, 0600, false), 0);
	assert_file_is(path, big, 300000);
	assert_int_equal(fileio_write_atomic(path, "x", 1, 0444, false), 0);
	assert_file_is(path, "x", 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0444);
	assert_dir_lists(s->dir, "f");

	/* Many replacements leave no temporary behind. */
	for (int i = 0; i < 50; i++) {
		char v[16];
		int n = snprintf(v, sizeof(v), "v%d", i);

		assert_int_equal(fileio_write_atomic(path, v, (size_t)n, 0644, false), 0);
		assert_file_is(path, v, (size_t)n);
	}
	assert_dir_lists(s->dir, "f");
	free(big);
}

static void test_write_atomic_failures(void **state)
{
	struct scratch *s = *state;
	char path[PATH_MAX], reg[PATH_MAX], sub[PATH_MAX];
	char *longp;
	struct stat st;

	/* A path inside a directory that does not exist. */
	join(path, s->dir, "missing/file");
	assert_int_equal(fileio_write_atomic(path, "x", 1, 0644, false), -ENOENT);
	join(path, s->dir, "missing/deeper/file");
	assert_int_equal(fileio_write_atomic(path, "x", 1, 0644, true), -ENOENT);
	assert_dir_lists(s->dir, "");

	/* A path through a regular file. */
	join(reg, s->dir, "reg");
	write_file(reg, "r", 1);
	join(path, s->dir, "reg/file");
	assert_int_equal(fileio_write_atomic(path, "x", 1, 0644, false), -ENOTDIR);
	assert_dir_lists(s->dir, "reg");
	assert_file_is(reg, "r", 1);

	/*
	 * The target is a directory: the temporary file is written, the
	 * rename fails, and the temporary must be removed again.
	 */
	join(sub, s->dir, "sub");
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(fileio_write_atomic(sub, "x", 1, 0644, true), -EISDIR);
	assert_int_equal(stat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_dir_lists(s->dir, "reg|sub");
	assert_dir_lists(sub, "");
	/* Also when the directory is not empty. */
	join(path, sub, "inner");
	write_file(path, "i", 1);
	assert_int_equal(fileio_write_atomic(sub, "x", 1, 0644, false), -EISDIR);
	assert_dir_lists(s->dir, "reg|sub");
	assert_dir_lists(sub, "inner");

	/* A name with no room for the temporary suffix. */
	longp = malloc(PATH_MAX);
	assert_non_null(longp);
	memset(longp, 'a', PATH_MAX - 1);
	memcpy(longp, s->dir, strlen(s->dir));
	longp[strlen(s->dir)] = '/';
	longp[PATH_MAX - 4] = '\0';
	assert_int_equal(fileio_write_atomic(longp, "x", 1, 0644, false),
			 -ENAMETOOLONG);
	/* A last component at NAME_MAX: the temporary name would exceed it. */
	memset(longp, 'b', PATH_MAX - 1);
	memcpy(longp, s->dir, strlen(s->dir));
	longp[strlen(s->dir)] = '/';
	longp[strlen(s->dir) + 1 + NAME_MAX] = '\0';
	assert_int_equal(fileio_write_atomic(longp, "x", 1, 0644, false),
			 -ENAMETOOLONG);
	free(longp);
	assert_dir_lists(s->dir, "reg|sub");

	/* An unwritable directory (root may write anywhere). */
	if (geteuid() != 0) {
		char ro[PATH_MAX];

		join(ro, s->dir, "ro");
		assert_int_equal(mkdir(ro, 0555), 0);
		join(path, ro, "file");
		assert_int_equal(fileio_write_atomic(path, "x", 1, 0644, false),
				 -EACCES);
		assert_dir_lists(ro, "");
		assert_int_equal(chmod(ro, 0755), 0);
	}
}

/*
 * A write that fails half way (the file size limit stands in for a full
 * disk, and applies to root too): the error comes back, the temporary
 * is removed and the old target is untouched.
 */
static void test_write_atomic_write_error_cleans_up(void **state)
{
	struct scratch *s = *state;
	char path[PATH_MAX];
	unsigned char *big = malloc(1 << 20);
	struct rlimit old, lim;
	void (*old_handler)(int);
	int rc;

	assert_non_null(big);
	memset(big, 'z', 1 << 20);
	join(path, s->dir, "target");
	write_file(path, "previous", 8);

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 65536;
	old_handler = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = fileio_write_atomic(path, big, 1 << 20, 0644, false);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_handler);

	assert_int_equal(rc, -EFBIG);
	assert_file_is(path, "previous", 8);
	assert_dir_lists(s->dir, "target");
	free(big);
}

/* ---- struct fileio_atomic ---- */

/*
 * fsync() as this program sees it, counted, and failing with
 * fsync_errno when that is set: defined here, it takes the place of the
 * C library's for util/fileio.c too (a static library linked in).
 */
static int fsync_calls, fsync_errno;

int fsync(int fd)
{
	fsync_calls++;
	if (fsync_errno) {
		errno = fsync_errno;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

static void test_atomic_commit(void **state)
{
	struct scratch *s = *state;
	char path[PATH_MAX];
	struct fileio_atomic af;
	struct stat st;

	join(path, s->dir, "f");
	write_file(path, "old", 3);
	assert_int_equal(fileio_atomic_open(&af, path, 0640, false), 0);
	assert_string_equal(af.path, path);
	assert_tmp_form(path, af.tmp);
	assert_int_equal(fileio_write_full(af.fd, "new ", 4), 0);
	assert_int_equal(fileio_pwrite_full(af.fd, "content", 7, 4), 0);
	/* Until the commit, the final name holds the old file, whole. */
	assert_file_is(path, "old", 3);
	assert_file_is(af.tmp, "new content", 11);
	assert_int_equal(fileio_atomic_commit(&af), 0);
	assert_file_is(path, "new content", 11);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(af.fd, -1);
	assert_string_equal(af.tmp, "");
	/* Nothing is left to roll back. */
	fileio_atomic_rollback(&af);
	assert_file_is(path, "new content", 11);
	assert_dir_lists(s->dir, "f");

	/* Closed first, committed later: the same. */
	assert_int_equal(fileio_atomic_open(&af, path, 0644, false), 0);
	assert_int_equal(fileio_write_full(af.fd, "third", 5), 0);
	assert_int_equal(fileio_atomic_close(&af), 0);
	assert_int_equal(af.fd, -1);
	assert_file_is(path, "new content", 11);
	assert_int_equal(fileio_atomic_commit(&af), 0);
	assert_file_is(path, "third", 5);
	assert_dir_lists(s->dir, "f");
}

/* A struct fileio_atomic for @path with @text written in it, not yet committed. */
static void open_written(struct fileio_atomic *af, const char *path, const char *text,
			 bool sync)
{
	assert_int_equal(fileio_atomic_open(af, path, 0644, sync), 0);
	assert_int_equal(fileio_write_full(af->fd, text, strlen(text)), 0);
}

/* Nothing of a rolled-back @af shows: @path holds "old", alone in @dir. */
static void assert_rolled_back(const struct fileio_atomic *af, const char *dir,
			       const char *path)
{
	assert_int_equal(af->fd, -1);
	assert_string_equal(af->tmp, "");
	assert_file_is(path, "old", 3);
	assert_dir_lists(dir, "f");
}

/* Rolled back on request or on an error: the old file stays, no temporary. */
static void test_atomic_rollback(void **state)
{
	struct scratch *s = *state;
	char path[PATH_MAX], fresh[PATH_MAX], sub[PATH_MAX];
	struct fileio_atomic af;

	join(path, s->dir, "f");
	write_file(path, "old", 3);
	/* While open, and after a close. */
	open_written(&af, path, "new", false);
	fileio_atomic_rollback(&af);
	assert_rolled_back(&af, s->dir, path);
	open_written(&af, path, "new", false);
	assert_int_equal(fileio_atomic_close(&af), 0);
	fileio_atomic_rollback(&af);
	fileio_atomic_rollback(&af); /* twice is harmless */
	assert_rolled_back(&af, s->dir, path);

	/* A new file rolled back never appears. */
	join(fresh, s->dir, "fresh");
	assert_int_equal(fileio_atomic_open(&af, fresh, 0644, false), 0);
	fileio_atomic_rollback(&af);
	assert_dir_lists(s->dir, "f");

	/* A failed open leaves nothing to roll back. */
	join(fresh, s->dir, "missing/fresh");
	assert_int_equal(fileio_atomic_open(&af, fresh, 0644, false), -ENOENT);
	assert_int_equal(af.fd, -1);
	fileio_atomic_rollback(&af);
	assert_dir_lists(s->dir, "f");

	/* An fsync or a rename that fails rolls back too. */
	open_written(&af, path, "new", true);
	fsync_errno = EIO;
	assert_int_equal(fileio_atomic_commit(&af), -EIO);
	fsync_errno = 0;
	assert_rolled_back(&af, s->dir, path);

	fsync_errno = ENOSPC;
	assert_int_equal(fileio_write_atomic(path, "new", 3, 0644, true), -ENOSPC);
	fsync_errno = 0;
	assert_file_is(path, "old", 3);
	assert_dir_lists(s->dir, "f");

	/* The final name is a directory: the rename fails. */
	join(sub, s->dir, "sub");
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(fileio_atomic_open(&af, sub, 0644, false), 0);
	assert_int_equal(fileio_atomic_commit(&af), -EISDIR);
	assert_dir_lists(s->dir, "f|sub");
}

/* fsync exactly when asked for: the promise of each caller depends on it. */
static void test_atomic_sync_flag(void **state)
{
	struct scratch *s = *state;
	char path[PATH_MAX];
	struct fileio_atomic af;

	join(path, s->dir, "f");
	fsync_calls = 0;
	assert_int_equal(fileio_atomic_open(&af, path, 0644, false), 0);
	assert_int_equal(fileio_atomic_commit(&af), 0);
	assert_int_equal(fileio_write_atomic(path, "x", 1, 0644, false), 0);
	assert_int_equal(fsync_calls, 0);

	assert_int_equal(fileio_atomic_open(&af, path, 0644, true), 0);
	assert_int_equal(fileio_write_full(af.fd, "y", 1), 0);
	assert_int_equal(fileio_atomic_close(&af), 0);
	assert_int_equal(fsync_calls, 1);
	assert_int_equal(fileio_atomic_commit(&af), 0);
	assert_int_equal(fsync_calls, 1); /* closed already: not again */
	assert_int_equal(fileio_write_atomic(path, "z", 1, 0644, true), 0);
	assert_int_equal(fsync_calls, 2);
	/* A rollback writes nothing durable. */
	assert_int_equal(fileio_atomic_open(&af, path, 0644, true), 0);
	fileio_atomic_rollback(&af);
	assert_int_equal(fsync_calls, 2);
	assert_file_is(path, "z", 1);
}

/* commit_new links and never replaces: -EEXIST keeps the temporary file. */
static void test_atomic_commit_new(void **state)
{
	struct scratch *s = *state;
	char path[PATH_MAX];
	struct fileio_atomic af;

	join(path, s->dir, "f");
	assert_int_equal(fileio_atomic_open(&af, path, 0644, false), 0);
	assert_int_equal(fileio_write_full(af.fd, "first", 5), 0);
	assert_int_equal(fileio_atomic_commit_new(&af), 0);
	assert_file_is(path, "first", 5);
	assert_dir_lists(s->dir, "f");

	assert_int_equal(fileio_atomic_open(&af, path, 0644, false), 0);
	assert_int_equal(fileio_write_full(af.fd, "second", 6), 0);
	assert_int_equal(fileio_atomic_commit_new(&af), -EEXIST);
	assert_file_is(path, "first", 5);
	assert_file_is(af.tmp, "second", 6);
	/* The place freed, the same temporary file goes in. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(fileio_atomic_commit_new(&af), 0);
	assert_file_is(path, "second", 6);
	assert_dir_lists(s->dir, "f");

	assert_int_equal(fileio_atomic_open(&af, path, 0644, false), 0);
	assert_int_equal(fileio_atomic_commit_new(&af), -EEXIST);
	fileio_atomic_rollback(&af);
	assert_file_is(path, "second", 6);
	assert_dir_lists(s->dir, "f");
}

struct watcher {
	const char *path;
	atomic_bool stop;
	int seen_a, seen_b;
};

/* Read @w->path over and over: it must always be one whole version. */
static void *watch(void *w_)
{
	struct watcher *w = w_;

	while (!atomic_load(&w->stop)) {
		struct buf b;

		buf_init(&b, 1 << 20);
		assert_int_equal(fileio_read_all(w->path, 1 << 20, &b), 0);
		if (b.len == 5 && memcmp(b.data, "aaaaa", 5) == 0)
			w->seen_a++;
		else if (b.len == 100000 && ((const char *)b.data)[99999] == 'b')
			w->seen_b++;
		else
			fail_msg("a reader saw %zu bytes: a torn file", b.len);
		buf_release(&b);
	}
	return NULL;
}

/* The final name goes from one whole file to the next, never a part. */
static void test_atomic_final_name_atomic(void **state)
{
	struct scratch *s = *state;
	struct watcher w = { 0 };
	char path[PATH_MAX], *b = malloc(100000);
	pthread_t th;

	assert_non_null(b);
	memset(b, 'b', 100000);
	join(path, s->dir, "f");
	write_file(path, "aaaaa", 5);
	w.path = path;
	assert_int_equal(pthread_create(&th, NULL, watch, &w), 0);
	for (int i = 0; i < 400; i++) {
		struct fileio_atomic af;
		bool big = i % 2 == 0;

		assert_int_equal(fileio_atomic_open(&af, path, 0644, false), 0);
		/* Written in pieces, so that a torn file would show. */
		for (size_t off = 0; off < (big ? 100000u : 5u); off += 4096) {
			size_t n = big ? (100000 - off < 4096 ? 100000 - off : 4096) : 5;

			assert_int_equal(fileio_write_full(af.fd, big ? b + off : "aaaaa", n), 0);
		}
		assert_int_equal(fileio_atomic_commit(&af), 0);
	}
	atomic_store(&w.stop, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(w.seen_a + w.seen_b > 0);
	assert_dir_lists(s->dir, "f");
	free(b);
}

/* ---- fileio_read_all ---- */

static void test_read_all(void **state)
{
	struct scratch *s = *state;
	char path[PATH_MAX], missing[PATH_MAX], empty[PATH_MAX];
	unsigned char *data = malloc(200000);
	struct buf b;

	assert_non_null(data);
	fill_pattern(data, 200000, 3);
	join(path, s->dir, "data");
	write_file(path, data, 200000);

	/* Exact content over several reads, NULs included. */
	buf_init(&b, 1 << 20);
	assert_int_equal(fileio_read_all(path, 200000, &b), 0);
	assert_int_equal(b.len, 200000);
	assert_memory_equal(b.data, data, 200000);
	assert_int_equal(b.data[200000], '\0');
	buf_release(&b);

	/* One byte over the limit. */
	buf_init(&b, 1 << 20);
	assert_int_equal(fileio_read_all(path, 199999, &b), -EFBIG);
	buf_release(&b);
	buf_init(&b, 1 << 20);
	assert_int_equal(fileio_read_all(path, 100, &b), -EFBIG);
	buf_release(&b);
	buf_init(&b, 1 << 20);
	assert_int_equal(fileio_read_all(path, 0, &b), -EFBIG);
	buf_release(&b);
	/* The buffer's own cap is enforced too. */
	buf_init(&b, 1000);
	assert_int_equal(fileio_read_all(path, 1 << 20, &b), -EFBIG);
	buf_release(&b);

	/* Exactly one read's worth, at the limit. */
	write_file(path, data, 65536);
	buf_init(&b, 1 << 20);
	assert_int_equal(fileio_read_all(path, 65536, &b), 0);
	assert_int_equal(b.len, 65536);
	assert_memory_equal(b.data, data, 65536);
	buf_release(&b);
	buf_init(&b, 1 << 20);
	assert_int_equal(fileio_read_all(path, 65535, &b), -EFBIG);
	buf_release(&b);

	/* Empty file. */
	join(empty, s->dir, "empty");
	write_file(empty, "", 0);
	buf_init(&b, 16);
	assert_int_equal(fileio_read_all(empty, 0, &b), 0);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_release(&b);

	/* Errors. */
	join(missing, s->dir, "missing");
	buf_init(&b, 16);
	assert_int_equal(fileio_read_all(missing, 16, &b), -ENOENT);
	join(missing, s->dir, "data/below");
	assert_int_equal(fileio_read_all(missing, 16, &b), -ENOTDIR);
	/* Not regular files: never followed, never blocking, all refused alike. */
	assert_int_equal(fileio_read_all(s->dir, 16, &b), -EBADMSG);
	join(missing, s->dir, "link");
	assert_int_equal(symlink(path, missing), 0);
	assert_int_equal(fileio_read_all(missing, 1 << 20, &b), -EBADMSG);
	unlink(missing);
	join(missing, s->dir, "fifo");
	assert_int_equal(mkfifo(missing, 0644), 0);
	assert_int_equal(fileio_read_all(missing, 16, &b), -EBADMSG);
	unlink(missing);
	assert_int_equal(b.len, 0);
	buf_release(&b);
	free(data);
}

/* ---- fileio_pread_full / fileio_write_full ---- */

static void test_pread_full(void **state)
{
	struct scratch *s = *state;
	char path[PATH_MAX];
	unsigned char data[1000], got[2000];
	unsigned char *big = malloc(300000), *big_got = malloc(300000);
	int fd, p[2];

	assert_non_null(big);
	assert_non_null(big_got);
	fill_pattern(data, sizeof(data), 11);
	join(path, s->dir, "f");
	write_file(path, data, sizeof(data));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);

	memset(got, 0xee, sizeof(got));
	assert_int_equal(fileio_pread_full(fd, got, 1000, 0), 1000);
	assert_memory_equal(got, data, 1000);
	assert_int_equal(fileio_pread_full(fd, got, 10, 500), 10);
	assert_memory_equal(got, data + 500, 10);
	/* Short only at EOF. */
	memset(got, 0xee, sizeof(got));
	assert_int_equal(fileio_pread_full(fd, got, 100, 950), 50);
	assert_memory_equal(got, data + 950, 50);
	assert_int_equal(got[50], 0xee);
	assert_int_equal(fileio_pread_full(fd, got, 2000, 0), 1000);
	assert_memory_equal(got, data, 1000);
	assert_int_equal(fileio_pread_full(fd, got, 100, 1000), 0);
	assert_int_equal(fileio_pread_full(fd, got, 100, 1 << 30), 0);
	assert_int_equal(fileio_pread_full(fd, got, 0, 0), 0);
	/* pread does not move the file offset. */
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
	assert_int_equal(close(fd), 0);

	/* A large file in one call. */
	fill_pattern(big, 300000, 5);
	write_file(path, big, 300000);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fileio_pread_full(fd, big_got, 300000, 0), 300000);
	assert_memory_equal(big_got, big, 300000);
	assert_int_equal(fileio_pread_full(fd, big_got, 300000, 299999), 1);
	assert_int_equal(big_got[0], big[299999]);
	assert_int_equal(close(fd), 0);

	/* Errors come back as -errno. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "abc", 3), 3);
	assert_int_equal(fileio_pread_full(p[0], got, 3, 0), -ESPIPE);
	assert_int_equal(close(p[0]), 0);
	assert_int_equal(close(p[1]), 0);
	assert_int_equal(fileio_pread_full(p[0], got, 3, 0), -EBADF);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fileio_pread_full(fd, got, 3, 0), -EBADF);
	assert_int_equal(close(fd), 0);
	fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fileio_pread_full(fd, got, 3, 0), -EISDIR);
	assert_int_equal(close(fd), 0);
	free(big);
	free(big_got);
}

/*
 * Reads a pipe to its end into data (8 MiB room): slowly when @small,
 * after @delay_ms when set.
 */
struct drain {
	int fd;
	bool small;
	long delay_ms;
	unsigned char *data;
	size_t len;
};

static void *drain_pipe(void *arg)
{
	struct drain *d = arg;

	if (d->delay_ms) {
		struct timespec ts = { .tv_nsec = d->delay_ms * 1000000 };

		nanosleep(&ts, NULL);
	}
	for (;;) {
		size_t room = ((size_t)1 << 23) - d->len;
		ssize_t n = read(d->fd, d->data + d->len,
				 d->small && room > 4096 ? 4096 : room);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		d->len += (size_t)n;
		if (d->small) {
			struct timespec pause_ts = { .tv_nsec = 20000 };

			nanosleep(&pause_ts, NULL);
		}
	}
	return NULL;
}

static void test_write_full(void **state)
{
	struct scratch *s = *state;
	enum { BIG = 1 << 20 };
	char path[PATH_MAX];
	unsigned char *big = malloc(BIG);
	struct drain d = { .data = malloc(1 << 23) };
	void (*old_handler)(int);
	pthread_t th;
	int fd, p[2], rc;

	assert_non_null(big);
	assert_non_null(d.data);
	fill_pattern(big, BIG, 9);

	/* A file, appended to by consecutive calls. */
	join(path, s->dir, "w");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fileio_write_full(fd, big, 1000), 0);
	assert_int_equal(fileio_write_full(fd, big + 1000, BIG - 1000), 0);
	assert_int_equal(fileio_write_full(fd, big, 0), 0);
	assert_int_equal(close(fd), 0);
	assert_file_is(path, big, BIG);

	/* A pipe far larger than its buffer, drained by another thread. */
	assert_int_equal(pipe(p), 0);
	d.fd = p[0];
	assert_int_equal(pthread_create(&th, NULL, drain_pipe, &d), 0);
	rc = fileio_write_full(p[1], big, BIG);
	assert_int_equal(close(p[1]), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(close(p[0]), 0);
	assert_int_equal(rc, 0);
	assert_int_equal(d.len, BIG);
	assert_memory_equal(d.data, big, BIG);

	/* A full non-blocking pipe: -EAGAIN, not a loop. */
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(fileio_write_full(p[1], big, BIG), -EAGAIN);
	assert_int_equal(close(p[0]), 0);
	assert_int_equal(close(p[1]), 0);

	/* No reader left. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(close(p[0]), 0);
	old_handler = signal(SIGPIPE, SIG_IGN);
	rc = fileio_write_full(p[1], "x", 1);
	signal(SIGPIPE, old_handler);
	assert_int_equal(rc, -EPIPE);
	assert_int_equal(close(p[1]), 0);

	/* Bad descriptors. */
	assert_int_equal(fileio_write_full(p[1], "x", 1), -EBADF);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fileio_write_full(fd, "x", 1), -EBADF);
	assert_int_equal(close(fd), 0);
	free(big);
	free(d.data);
}

static volatile sig_atomic_t ticks;

static void on_alarm(int sig)
{
	(void)sig;
	ticks++;
}

/*
 * Start draining @d in thread @th, which never takes SIGALRM, and count
 * SIGALRMs in ticks (no SA_RESTART: a blocked write() is interrupted).
 */
static void start_drain(struct drain *d, pthread_t *th, struct sigaction *old_sa)
{
	struct sigaction sa;
	sigset_t block, old_mask;

	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
	assert_int_equal(pthread_create(th, NULL, drain_pipe, d), 0);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &old_mask, NULL), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, old_sa), 0);
	ticks = 0;
}

/* Stop the timer and start_drain(): close pipe @p, join @th, restore @old_sa. */
static void stop_drain(pthread_t th, int p[2], const struct sigaction *old_sa)
{
	struct itimerval off;

	memset(&off, 0, sizeof(off));
	assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
	assert_int_equal(sigaction(SIGALRM, old_sa, NULL), 0);
	assert_int_equal(close(p[1]), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(close(p[0]), 0);
}

/*
 * Signals land while the writer waits on a slow reader, so write() comes
 * back short (some bytes written) or with EINTR (none): every byte must
 * still arrive once, in order.
 */
static void test_write_full_interrupted(void **state)
{
	enum { BIG = 1 << 20 };
	struct drain d = { .data = malloc(1 << 23) };
	unsigned char *big = malloc(BIG);
	struct itimerval it, old_it;
	struct sigaction old_sa;
	pthread_t th;
	int p[2], rc;

	(void)state;
	assert_non_null(big);
	assert_non_null(d.data);
	fill_pattern(big, BIG, 13);
	assert_int_equal(pipe(p), 0);
	d.fd = p[0];
	d.small = true;

	start_drain(&d, &th, &old_sa);
	memset(&it, 0, sizeof(it));
	it.it_interval.tv_usec = 100;
	it.it_value.tv_usec = 100;
	assert_int_equal(setitimer(ITIMER_REAL, &it, &old_it), 0);

	rc = fileio_write_full(p[1], big, BIG);

	stop_drain(th, p, &old_sa);

	assert_int_equal(rc, 0);
	assert_true(ticks > 0);
	assert_int_equal(d.len, BIG);
	assert_memory_equal(d.data, big, BIG);
	free(big);
	free(d.data);
}

/*
 * A signal while the pipe is full and nothing of this call is written
 * yet: write() fails with EINTR, which is retried, not returned.
 */
static void test_write_full_eintr(void **state)
{
	struct drain d = { .delay_ms = 100, .data = malloc(1 << 23) };
	unsigned char msg[4096];
	struct itimerval it;
	struct sigaction old_sa;
	size_t filled = 0;
	pthread_t th;
	int p[2], rc;

	(void)state;
	assert_non_null(d.data);
	fill_pattern(msg, sizeof(msg), 17);
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	for (;;) {
		ssize_t n = write(p[1], "f", 1);

		if (n < 0) {
			assert_int_equal(errno, EAGAIN);
			break;
		}
		filled++;
	}
	/* Blocking from here on, both ends. */
	assert_int_equal(fcntl(p[0], F_SETFL, 0), 0);
	assert_int_equal(fcntl(p[1], F_SETFL, 0), 0);
	d.fd = p[0];

	start_drain(&d, &th, &old_sa);
	/* One signal at 10 ms; the reader starts at 100 ms. */
	memset(&it, 0, sizeof(it));
	it.it_value.tv_usec = 10000;
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);

	rc = fileio_write_full(p[1], msg, sizeof(msg));

	stop_drain(th, p, &old_sa);

	assert_int_equal(rc, 0);
	assert_int_equal(ticks, 1);
	assert_int_equal(d.len, filled + sizeof(msg));
	assert_memory_equal(d.data + filled, msg, sizeof(msg));
	free(d.data);
}

/* ---- fileio_mkdirs ---- */

static void assert_is_dir(const char *path, mode_t mode)
{
	struct stat st;

	if (stat(path, &st) != 0)
		fail_msg("%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		fail_msg("%s is not a directory", path);
	assert_int_equal(st.st_mode & 07777, mode);
}

/*
 * Below a root (which may be a link), no link is followed, and no "." or
 * ".." is taken: what the cache removes through such a path is its own.
 */
static void test_open_beneath(void **state)
{
	struct scratch *s = *state;
	char path[PATH_MAX], link[PATH_MAX], root_link[PATH_MAX];
	int fd;

	join(path, s->dir, "a/b");
	assert_int_equal(fileio_mkdirs(path, 0755), 0);
	join(path, s->dir, "a/b/f");
	write_file(path, "x", 1);
	fd = fileio_open_beneath(s->dir, "a/b/f", O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	fd = fileio_open_beneath(s->dir, "a/b", O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	close(fd);
	/* The root itself may be a link. */
	join(root_link, s->dir, "root-link");
	assert_int_equal(symlink(s->dir, root_link), 0);
	fd = fileio_open_beneath(root_link, "a/b/f", O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	/* A link at any level below it is refused; so is a file on the way. */
	join(link, s->dir, "a/l");
	assert_int_equal(symlink("b", link), 0);
	assert_int_equal(fileio_open_beneath(s->dir, "a/l/f", O_RDONLY), -ELOOP);
	assert_int_equal(fileio_open_beneath(s->dir, "a/l", O_RDONLY | O_DIRECTORY), -ELOOP);
	assert_int_equal(fileio_open_beneath(s->dir, "a/b/f/g", O_RDONLY), -ENOTDIR);
	assert_int_equal(fileio_open_beneath(s->dir, "a/x/f", O_RDONLY), -ENOENT);
	/* Nor a way out by name. */
	assert_int_equal(fileio_open_beneath(s->dir, "a/../a/b", O_RDONLY), -EINVAL);
	assert_int_equal(fileio_open_beneath(s->dir, "./a", O_RDONLY), -EINVAL);
	assert_int_equal(fileio_open_beneath(s->dir, "a//b", O_RDONLY), -EINVAL);
	assert_int_equal(fileio_open_beneath(s->dir, "", O_RDONLY), -EINVAL);
	assert_int_equal(fileio_open_beneath(s->dir, "a/", O_RDONLY), -EINVAL);
	unlink(root_link);
	unlink(link);
}

/* mkdir -p below a root, through no link: one where a folder goes is refused. */
static void test_mkdirs_beneath(void **state)
{
	struct scratch *s = *state;
	char path[PATH_MAX], link[PATH_MAX];

	assert_int_equal(fileio_mkdirs_beneath(s->dir, "", 0755), 0);
	assert_int_equal(fileio_mkdirs_beneath(s->dir, "x/y/z", 0750), 0);
	join(path, s->dir, "x/y/z");
	assert_is_dir(path, 0750);
	assert_int_equal(fileio_mkdirs_beneath(s->dir, "x/y/z", 0700), 0); /* again: as it was */
	assert_is_dir(path, 0750);
	join(link, s->dir, "x/l");
	assert_int_equal(symlink("y", link), 0);
	assert_int_equal(fileio_mkdirs_beneath(s->dir, "x/l/w", 0755), -ELOOP);
	join(path, s->dir, "x/y/w");
	assert_false(access(path, F_OK) == 0); /* nothing made behind the link */
	join(path, s->dir, "x/f");
	write_file(path, "x", 1);
	assert_int_equal(fileio_mkdirs_beneath(s->dir, "x/f/w", 0755), -ENOTDIR);
	assert_int_equal(fileio_mkdirs_beneath(s->dir, "x/../x", 0755), -EINVAL);
	unlink(link);
}

static void test_mkdirs(void **state)
{
	struct scratch *s = *state;
	char path[PATH_MAX], p2[PATH_MAX], reg[PATH_MAX];

	join(path, s->dir, "a/b/c/d");
	assert_int_equal(fileio_mkdirs(path, 0750), 0);
	join(p2, s->dir, "a");
	assert_is_dir(p2, 0750);
	join(p2, s->dir, "a/b");
	assert_is_dir(p2, 0750);
	join(p2, s->dir, "a/b/c");
	assert_is_dir(p2, 0750);
	assert_is_dir(path, 0750);
	assert_dir_lists(path, "");

	/* Idempotent, and existing levels are left alone. */
	assert_int_equal(fileio_mkdirs(path, 0700), 0);
	assert_is_dir(path, 0750);
	join(p2, s->dir, "a/b/e");
	assert_int_equal(fileio_mkdirs(p2, 0700), 0);
	assert_is_dir(p2, 0700);
	join(p2, s->dir, "a/b");
	assert_dir_lists(p2, "c|e");
	assert_int_equal(fileio_mkdirs(s->dir, 0700), 0);
	assert_int_equal(fileio_mkdirs("/", 0755), 0);

	/* A trailing slash and a doubled one. */
	join(p2, s->dir, "x/y/");
	assert_int_equal(fileio_mkdirs(p2, 0755), 0);
	join(p2, s->dir, "x/y");
	assert_is_dir(p2, 0755);
	join(p2, s->dir, "p//q");
	assert_int_equal(fileio_mkdirs(p2, 0755), 0);
	join(p2, s->dir, "p/q");
	assert_is_dir(p2, 0755);

	/* A regular file in the way, as an inner component. */
	join(reg, s->dir, "reg");
	write_file(reg, "r", 1);
	join(p2, s->dir, "reg/sub");
	assert_int_equal(fileio_mkdirs(p2, 0755), -ENOTDIR);
	join(p2, s->dir, "reg/sub/deeper");
	assert_int_equal(fileio_mkdirs(p2, 0755), -ENOTDIR);
	assert_file_is(reg, "r", 1);

	/* A symlink to a directory is a directory; an empty path is not. */
	join(p2, s->dir, "link");
	assert_int_equal(symlink("a/b", p2), 0);
	assert_int_equal(fileio_mkdirs(p2, 0755), 0);
	join(p2, s->dir, "link/c/new");
	assert_int_equal(fileio_mkdirs(p2, 0755), 0);
	join(p2, s->dir, "a/b/c/new");
	assert_is_dir(p2, 0755);
	assert_true(fileio_mkdirs("", 0755) < 0);
}

/*
 * Regression test, fixed since (util/fileio.c, fileio_mkdirs): when the last component exists as a
 * regular file, mkdir() fails with EEXIST, which is taken for "already a
 * directory", and 0 is returned though no directory exists. mkdir -p
 * (and Python's makedirs(exist_ok=True)) fail here. Expected -EEXIST (or
 * -ENOTDIR); it used to give 0.
 */
static void test_mkdirs_last_component_regular_file(void **state)
{
	struct scratch *s = *state;
	char reg[PATH_MAX];
	int rc;

	join(reg, s->dir, "reg");
	write_file(reg, "r", 1);
	rc = fileio_mkdirs(reg, 0755);
	if (rc != -EEXIST && rc != -ENOTDIR)
		fail_msg("mkdirs over a regular file returned %d", rc);
}

/* ---- fileio_tmp_name / fileio_is_stale_tmp ---- */

static void test_tmp_name(void **state)
{
	static char names[100][PATH_MAX];
	char small[8];

	(void)state;
	for (int i = 0; i < 100; i++) {
		assert_int_equal(fileio_tmp_name("/some/dir/file.bin", names[i],
						 sizeof(names[i])),
				 0);
		assert_tmp_form("/some/dir/file.bin", names[i]);
	}
	/* Every call gives a new name. */
	for (int i = 0; i < 100; i++) {
		for (int j = i + 1; j < 100; j++) {
			if (strcmp(names[i], names[j]) == 0)
				fail_msg("calls %d and %d both gave '%s'", i, j,
					 names[i]);
		}
	}
	assert_int_equal(fileio_tmp_name("f", names[0], sizeof(names[0])), 0);
	assert_tmp_form("f", names[0]);

	/* No room: an error, never a cut name taken for a good one. */
	memset(small, 'q', sizeof(small));
	assert_int_equal(fileio_tmp_name("/some/dir/file.bin", small, sizeof(small)),
			 -ENAMETOOLONG);
	assert_int_equal(small[sizeof(small) - 1], '\0');
	assert_int_equal(fileio_tmp_name("/x", small, 0), -ENAMETOOLONG);
	assert_int_equal(fileio_tmp_name("abcdefg", small, sizeof(small)),
			 -ENAMETOOLONG);
}

static void stale_name(char *out, size_t size, long pid)
{
	int n = snprintf(out, size, "blob.tmp.%ld.0", pid);

	assert_true(n > 0 && (size_t)n < size);
}

static void test_is_stale_tmp(void **state)
{
	char name[PATH_MAX];
	pid_t child;
	int status;

	(void)state;
	/* Not temporaries at all. */
	assert_false(fileio_is_stale_tmp("blob"));
	assert_false(fileio_is_stale_tmp("blob.tmp"));
	assert_false(fileio_is_stale_tmp("blob.tmp1.2"));
	assert_false(fileio_is_stale_tmp("tmp.1.2"));
	assert_false(fileio_is_stale_tmp(""));

	/* Ours: never stale. */
	assert_int_equal(fileio_tmp_name("blob", name, sizeof(name)), 0);
	assert_false(fileio_is_stale_tmp(name));
	assert_int_equal(fileio_tmp_name("/a/b/blob", name, sizeof(name)), 0);
	assert_false(fileio_is_stale_tmp(name));
	stale_name(name, sizeof(name), (long)getpid());
	assert_false(fileio_is_stale_tmp(name));

	/* A process that has exited and been reaped. */
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, &status, 0), child);
	stale_name(name, sizeof(name), (long)child);
	assert_true(fileio_is_stale_tmp(name));

	/* Live processes other than us. */
	stale_name(name, sizeof(name), 1);
	assert_false(fileio_is_stale_tmp(name));
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	stale_name(name, sizeof(name), (long)child);
	assert_false(fileio_is_stale_tmp(name));
	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(waitpid(child, &status, 0), child);

	/* Not in our form after ".tmp.": junk, so stale. */
	assert_true(fileio_is_stale_tmp("blob.tmp."));
	assert_true(fileio_is_stale_tmp("blob.tmp.abc"));
	assert_true(fileio_is_stale_tmp("blob.tmp.abc.0"));
	assert_true(fileio_is_stale_tmp("blob.tmp.12x.0"));
	assert_true(fileio_is_stale_tmp("blob.tmp.1"));		/* no '.' after */
	assert_true(fileio_is_stale_tmp("blob.tmp.0.0"));	/* pid 0 */
	assert_true(fileio_is_stale_tmp("blob.tmp.-1.0"));	/* every process */
	assert_true(fileio_is_stale_tmp("blob.tmp.2147483648.0")); /* > INT_MAX */
	assert_true(fileio_is_stale_tmp("blob.tmp.99999999999999999999999.0"));
}

/*
 * Regression test, fixed since (util/fileio.c, fileio_is_stale_tmp): the pid is looked for after
 * the FIRST ".tmp." in the name (strstr), so when the target's own name
 * contains ".tmp." the temporary of a live writer - here our own - is
 * judged junk and stale, and a cleaner would delete it from under the
 * writer. fileio_tmp_name("<d>/model.tmp.bin") =
 * "<d>/model.tmp.bin.tmp.<our pid>.<n>". Expected false; it used to say true.
 */
static void test_is_stale_tmp_target_named_tmp(void **state)
{
	char name[PATH_MAX];

	(void)state;
	assert_int_equal(fileio_tmp_name("model.tmp.bin", name, sizeof(name)), 0);
	assert_tmp_form("model.tmp.bin", name);
	assert_false(fileio_is_stale_tmp(name));
}

/*
 * fileio_is_stale_tmp_of_shape(): for the folders of others, only
 * "<target>.tmp.<pid>.<n>" of a dead pid; junk of any other shape is
 * somebody's file, never stale.
 */
static void test_is_stale_tmp_of_shape(void **state)
{
	char name[PATH_MAX];
	size_t len = 0;
	pid_t child;
	int status;

	(void)state;
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, &status, 0), child);
	snprintf(name, sizeof(name), "model.safetensors.tmp.%ld.3", (long)child);
	assert_true(fileio_is_stale_tmp_of_shape(name, &len));
	assert_int_equal(len, strlen("model.safetensors"));
	/* The target's own ".tmp.": the last one is the writer's. */
	snprintf(name, sizeof(name), "a.tmp.1.tmp.%ld.0", (long)child);
	assert_true(fileio_is_stale_tmp_of_shape(name, &len));
	assert_int_equal(len, strlen("a.tmp.1"));

	/* Live: ours, init, a child that waits. */
	assert_int_equal(fileio_tmp_name("blob", name, sizeof(name)), 0);
	assert_false(fileio_is_stale_tmp_of_shape(name, &len));
	assert_false(fileio_is_stale_tmp_of_shape("blob.tmp.1.0", &len));
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	snprintf(name, sizeof(name), "blob.tmp.%ld.0", (long)child);
	assert_false(fileio_is_stale_tmp_of_shape(name, &len));
	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	/* ... and now that it is gone, its name is stale. */
	assert_true(fileio_is_stale_tmp_of_shape(name, &len));

	/* Any other shape: not one (fileio_is_stale_tmp() takes these for junk). */
	for (const char *const *bad = (const char *const[]){
		     "blob", "blob.tmp", "blob.tmp.", "blob.tmp.abc", "blob.tmp.abc.0",
		     "blob.tmp.12x.0", "blob.tmp.12.x", "blob.tmp.12.", "blob.tmp.1",
		     "blob.tmp.0.0", "blob.tmp.-5.0", "blob.tmp.2147483648.0",
		     "blob.tmp.99999999999.0", "blob.tmp.5.12345678901", ".tmp.99999.0",
		     "blob.tmp.99999.0~", "blob.tmpx99999.0", NULL };
	     *bad; bad++) {
		if (fileio_is_stale_tmp_of_shape(*bad, &len))
			fail_msg("'%s' taken for a stale temporary file", *bad);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_atomic_creates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_write_error_cleans_up,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_sync_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_commit_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_final_name_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pread_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_full, setup, teardown),
		cmocka_unit_test(test_write_full_interrupted),
		cmocka_unit_test(test_write_full_eintr),
		cmocka_unit_test_setup_teardown(test_open_beneath, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdirs_beneath, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdirs_last_component_regular_file,
						setup, teardown),
		cmocka_unit_test(test_tmp_name),
		cmocka_unit_test(test_is_stale_tmp),
		cmocka_unit_test(test_is_stale_tmp_target_named_tmp),
		cmocka_unit_test(test_is_stale_tmp_of_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
