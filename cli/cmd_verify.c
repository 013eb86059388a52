/* SPDX-License-Identifier: MIT */
/*
 * `hubfs verify`: is a directory of a repo's files (the mount, a
 * --local-dir, a git clone, a huggingface_hub snapshot folder) complete,
 * free of Git-LFS pointer stubs and, against a repo's listing, the bytes
 * the Hub published?
 *
 * `hubfs repair`: turn a git clone made without Git-LFS into a working
 * one, without git or git-lfs: each pointer stub is replaced by its
 * content, fetched into the verified cache by its oid.
 *
 * Both walk the directory the same way: .git is not the repo's content,
 * symlinks are followed (a huggingface_hub snapshot is made of them), and
 * a file small enough to be a pointer is parsed by the spec, never judged
 * by its size.
 */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/cache.h"
#include "repo/snapshot.h"
#include "util/digest.h"
#include "util/fileio.h"
#include "util/lfs.h"
#include "util/path.h"
#include "util/size.h"
#include "util/workers.h"

#define WALK_DEPTH_MAX 256
#define MAX_REQUIRE 64
#define MAX_JOBS 64
#define HASH_BUF_SIZE (1u << 20)

/* ---- walking a directory ---- */

enum found_kind {
	FOUND_FILE,        /* a regular file, or a symlink to one */
	FOUND_BROKEN_LINK, /* a symlink whose target is gone */
	FOUND_SPECIAL,     /* fifo, socket, device: never opened */
	FOUND_UNREADABLE,  /* could not be looked at; error says why */
	FOUND_LOOP,        /* a symlink to a directory walked already (above itself, or elsewhere) */
	FOUND_OUTSIDE,     /* a symlink to a directory outside the one verified: not walked */
};

struct found {
	char *path;       /* relative to the walked directory */
	enum found_kind kind;
	bool is_symlink;
	int error;        /* FOUND_UNREADABLE, FOUND_BROKEN_LINK: the errno */
	struct stat st;   /* of the target, for FOUND_FILE and FOUND_SPECIAL */
};

/* A directory walked, by its device and inode (ino 0: a free slot). */
struct walked {
	dev_t dev;
	ino_t ino;
};

struct walk {
	const char *root;
	char root_real[PATH_MAX]; /* its realpath(): folders linked outside it are not walked */
	const struct repo_snapshot *snap; /* verify --repo: its folders are walked wherever they lead */
	struct found *items;
	size_t n, cap;
	int depth;
	/*
	 * Every directory walked (open addressing; n_walked under half of
	 * cap_walked): one that a symlink leads to again is not walked again.
	 * Noticing only the folders above (a loop) let a chain of folders
	 * each holding two links to the next be walked 2^k times: 16 levels,
	 * 131,071 files "checked", 7.7 s (a helper's review).
	 */
	struct walked *walked;
	size_t n_walked, cap_walked;
};

static int add_found(struct walk *w, const char *path, enum found_kind kind,
		     bool is_symlink, int error, const struct stat *st)
{
	struct found *f;

	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct found *p = realloc(w->items, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		w->items = p;
		w->cap = cap;
	}
	f = &w->items[w->n];
	memset(f, 0, sizeof(*f));
	f->path = strdup(path[0] ? path : ".");
	if (!f->path)
		return -ENOMEM;
	f->kind = kind;
	f->is_symlink = is_symlink;
	f->error = error;
	if (st)
		f->st = *st;
	w->n++;
	return 0;
}

static size_t walked_slot(const struct walked *t, size_t cap, dev_t dev, ino_t ino)
{
	size_t i = (size_t)(((uint64_t)ino * 0x9e3779b97f4a7c15ull) ^ (uint64_t)dev) & (cap - 1);

	while (t[i].ino && !(t[i].dev == dev && t[i].ino == ino))
		i = (i + 1) & (cap - 1);
	return i;
}

/*
 * Note the directory @st as walked: 1 when it is new, 0 when it was walked
 * already, -ENOMEM.
 */
static int walked_add(struct walk *w, const struct stat *st)
{
	size_t i;

	if (2 * (w->n_walked + 1) > w->cap_walked) {
		size_t cap = w->cap_walked ? 2 * w->cap_walked : 1024;
		struct walked *t = calloc(cap, sizeof(*t));

		if (!t)
			return -ENOMEM;
		for (size_t k = 0; k < w->cap_walked; k++) {
			if (w->walked[k].ino)
				t[walked_slot(t, cap, w->walked[k].dev, w->walked[k].ino)] = w->walked[k];
		}
		free(w->walked);
		w->walked = t;
		w->cap_walked = cap;
	}
	i = walked_slot(w->walked, w->cap_walked, st->st_dev, st->st_ino);
	if (w->walked[i].ino)
		return 0;
	w->walked[i] = (struct walked){ st->st_dev, st->st_ino ? st->st_ino : 1 };
	w->n_walked++;
	return 1;
}

static int walk_dir(struct walk *w, const char *rel, const struct stat *dst);

/* Is @path a folder of @snap (NULL: none)? */
static bool listed_folder(const struct repo_snapshot *snap, const char *path)
{
	const struct repo_entry *e = snap ? repo_snapshot_find(snap, path) : NULL;

	return e && e->is_dir && e->parent != REPO_NO_ENTRY;
}

/* Does @full resolve to the walked directory or below it? */
static bool within_root(const struct walk *w, const char *full)
{
	char real[PATH_MAX];
	size_t n = strlen(w->root_real);

	if (!realpath(full, real))
		return false;
	if (strcmp(w->root_real, "/") == 0)
		return true;
	return strncmp(real, w->root_real, n) == 0 && (real[n] == '\0' || real[n] == '/');
}

/* One directory entry @name of @rel. Returns 0 or a fatal -errno. */
static int walk_entry(struct walk *w, const char *rel, const char *name)
{
	char child[PATH_MAX], full[PATH_MAX];
	struct stat st;
	bool is_link;

	/* .git is git's, not the repo's (a submodule's is a file). */
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strcmp(name, ".git") == 0)
		return 0;
	if (snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", name) >=
		    (int)sizeof(child) ||
	    snprintf(full, sizeof(full), "%s/%s", w->root, child) >= (int)sizeof(full))
		return add_found(w, child, FOUND_UNREADABLE, false, ENAMETOOLONG, NULL);
	if (lstat(full, &st) < 0)
		return errno == ENOENT ? 0 : /* gone meanwhile */
		       add_found(w, child, FOUND_UNREADABLE, false, errno, NULL);
	is_link = S_ISLNK(st.st_mode);
	if (is_link && stat(full, &st) < 0)
		return add_found(w, child, FOUND_BROKEN_LINK, true, errno, NULL);
	if (S_ISDIR(st.st_mode)) {
		int fresh;

		/*
		 * A folder a link leads out of DIR to (`x -> /`, `up -> ..`) is
		 * not the repo's: walked, verify read the whole filesystem, and
		 * repair rewrote stubs found there. Unless the repo has a folder
		 * there (verify --repo): one moved to another disk, a link left.
		 * A file linked outside is followed: a huggingface_hub snapshot's
		 * files are links to blobs/.
		 */
		if (is_link && !within_root(w, full) && !listed_folder(w->snap, child))
			return add_found(w, child, FOUND_OUTSIDE, true, 0, &st);
		fresh = walked_add(w, &st);
		if (fresh < 0)
			return fresh;
		if (!fresh)
			return add_found(w, child, FOUND_LOOP, is_link, 0, &st);
		return walk_dir(w, child, &st);
	}
	return add_found(w, child, S_ISREG(st.st_mode) ? FOUND_FILE : FOUND_SPECIAL,
			 is_link, 0, &st);
}

static int walk_dir(struct walk *w, const char *rel, const struct stat *dst)
{
	char full[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (w->depth == WALK_DEPTH_MAX)
		return add_found(w, rel, FOUND_UNREADABLE, false, ELOOP, NULL);
	snprintf(full, sizeof(full), "%s%s%s", w->root, rel[0] ? "/" : "", rel);
	d = opendir(full);
	if (!d)
		return add_found(w, rel, FOUND_UNREADABLE, false, errno, NULL);
	(void)dst;
	w->depth++;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				rc = add_found(w, rel, FOUND_UNREADABLE, false, errno, NULL);
			break;
		}
		rc = walk_entry(w, rel, de->d_name);
		if (rc < 0)
			break;
	}
	w->depth--;
	closedir(d);
	return rc;
}

static int by_found_path(const void *a_, const void *b_)
{
	const struct found *a = a_, *b = b_;

	return strcmp(a->path, b->path);
}

/* Everything under @root, sorted by path. 0 or -errno (-ENOMEM). */
static int walk_tree(struct walk *w, const char *root, const struct repo_snapshot *snap)
{
	struct stat st;
	int rc;

	memset(w, 0, sizeof(*w));
	w->root = root;
	w->snap = snap;
	if (stat(root, &st) < 0 || !realpath(root, w->root_real))
		return -errno;
	rc = walked_add(w, &st);
	if (rc >= 0)
		rc = walk_dir(w, "", &st);
	if (rc == 0 && w->n)
		qsort(w->items, w->n, sizeof(*w->items), by_found_path);
	return rc;
}

static void walk_release(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->items[i].path);
	free(w->items);
	free(w->walked);
}

/* ---- what both commands share ---- */

/* DIR must be a directory we can list: one line and exit 2 otherwise. */
static int check_dir_arg(const char *dir)
{
	struct stat st;
	DIR *d;

	if (stat(dir, &st) < 0) {
		fprintf(stderr, "hubfs: '%s': %s\n", dir, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "hubfs: '%s' is not a directory\n", dir);
		return CLI_EXIT_USAGE;
	}
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "hubfs: cannot read '%s': %s\n", dir, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	closedir(d);
	return 0;
}

/*
 * Is the file at @path one Git-LFS pointer? 1 (*@ptr filled); 2 when it
 * begins as one but is none by the spec (CRLF line ends, a cut, a line
 * added): a stub all the same, as the Python toolkit judges a small file
 * whose first line names git-lfs; 0; or -errno.
 */
static int read_pointer(const char *path, struct lfs_pointer *ptr)
{
	char data[LFS_POINTER_MAX + 1];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	/* One byte more than a pointer may have: a longer file is none. */
	n = fileio_pread_full(fd, data, sizeof(data), 0);
	close(fd);
	if (n < 0)
		return (int)n;
	if (lfs_pointer_parse(data, (size_t)n, ptr) == 0)
		return 1;
	return (size_t)n <= LFS_POINTER_MAX && lfs_pointer_prefix(data, (size_t)n) ? 2 : 0;
}

/* "hubfs-test/tiny-model@29050ce3da67": the snapshot, for messages. */
static void snapshot_label(const struct repo_snapshot *snap, char *out, size_t size)
{
	struct hub_repo r = snap->repo;
	char id[HUB_REPO_ID_MAX + 32];

	r.revision[0] = '\0';
	if (hub_repo_format(&r, id, sizeof(id)) < 0)
		snprintf(id, sizeof(id), "%s", snap->repo_key);
	snprintf(out, size, "%s@%.12s", id, snap->commit);
}

/* The Hub's hash of a local file, streamed: sha256 (LFS) or git blob sha1. */
static int hash_file(const char *path, bool lfs, uint64_t size, void *buf,
		     char hex[DIGEST_HEX_MAX])
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	rc = digest_hub_fd_hex(fd, lfs, size, buf, HASH_BUF_SIZE, hex);
	close(fd);
	return rc;
}

/* The repo's listing at its revision; prints the error itself. */
/* ---- hubfs verify ---- */

/* Problem kinds, in the order the summary counts them. */
static const char *const problem_kinds[] = {
	"missing", "lfs-pointer", "size", "hash", "broken-symlink", "not-a-file",
	"unreadable",
};

struct finding {
	char *path;
	const char *kind;  /* one of problem_kinds, or NULL for a note */
	char *detail;
	size_t seq;        /* keeps the order of findings on one path */
};

struct verify {
	const char *dir;
	struct repo_snapshot *snap; /* with --repo */
	char label[HUB_REPO_ID_MAX + 64];
	bool deep;
	struct finding *items;
	size_t n, cap;
	size_t files_checked, n_problems, n_notes;
	bool *seen;               /* per snapshot entry: found in DIR */
	void *buf;                /* for hashing */
};

static int add_finding(struct verify *v, const char *path, const char *kind,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int add_finding(struct verify *v, const char *path, const char *kind,
		       const char *fmt, ...)
{
	struct finding *f;
	va_list ap;

	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 32;
		struct finding *p = realloc(v->items, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		v->items = p;
		v->cap = cap;
	}
	f = &v->items[v->n];
	f->kind = kind;
	f->seq = v->n;
	f->path = strdup(path);
	va_start(ap, fmt);
	if (vasprintf(&f->detail, fmt, ap) < 0)
		f->detail = NULL;
	va_end(ap);
	if (!f->path || !f->detail) {
		free(f->path);
		free(f->detail);
		return -ENOMEM;
	}
	v->n++;
	if (kind)
		v->n_problems++;
	else
		v->n_notes++;
	return 0;
}

/* Linear: only --require asks, a few times. */
static bool has_problem(const struct verify *v, const char *path)
{
	for (size_t i = 0; i < v->n; i++) {
		if (v->items[i].kind && strcmp(v->items[i].path, path) == 0)
			return true;
	}
	return false;
}

/* The listing's file at @path, or NULL (also for a directory). */
static const struct repo_entry *listed_file(const struct verify *v, const char *path)
{
	const struct repo_entry *e = v->snap ? repo_snapshot_find(v->snap, path) : NULL;

	return e && !e->is_dir && e->parent != REPO_NO_ENTRY ? e : NULL;
}

static int report_pointer(struct verify *v, const char *path,
			  const struct lfs_pointer *ptr, const struct repo_entry *e)
{
	const char *fits = "";
	char hint[HUB_REPO_ID_MAX + 200] = "";

	if (e && e->is_lfs && strcmp(e->sha256, ptr->oid) == 0 && e->size == ptr->size)
		fits = "; `hubfs repair` can fetch it";
	else if (e && e->is_lfs)
		snprintf(hint, sizeof(hint), "; %s has sha256:%s, %llu bytes: "
			 "another revision's pointer", v->label, e->sha256,
			 (unsigned long long)e->size);
	return add_finding(v, path, "lfs-pointer",
			   "Git-LFS pointer, not the content (oid sha256:%s, %llu bytes)%s%s",
			   ptr->oid, (unsigned long long)ptr->size, fits, hint);
}

static int check_content(struct verify *v, const char *path, const char *full,
			 const struct stat *st, const struct repo_entry *e)
{
	char hex[DIGEST_HEX_MAX];
	const char *want;
	int rc;

	if ((uint64_t)st->st_size != e->size)
		return add_finding(v, path, "size", "%llu bytes, %s has %llu",
				   (unsigned long long)st->st_size, v->label,
				   (unsigned long long)e->size);
	if (!v->deep)
		return 0;
	rc = hash_file(full, e->is_lfs, e->size, v->buf, hex);
	if (rc < 0)
		return add_finding(v, path, "unreadable", "%s", strerror(-rc));
	want = e->is_lfs ? e->sha256 : e->oid;
	if (strcmp(hex, want) != 0)
		return add_finding(v, path, "hash", "content differs from %s "
				   "(%s %s, expected %s)", v->label,
				   e->is_lfs ? "sha256" : "git blob sha1", hex, want);
	return 0;
}

static int check_found(struct verify *v, const struct found *f)
{
	const struct repo_entry *e = listed_file(v, f->path);
	char full[PATH_MAX], target[PATH_MAX];
	struct lfs_pointer ptr;
	ssize_t n;
	int rc;

	if (e)
		v->seen[e - v->snap->entries] = true;
	snprintf(full, sizeof(full), "%s/%s", v->dir, f->path);
	switch (f->kind) {
	case FOUND_UNREADABLE:
		return add_finding(v, f->path, "unreadable", "%s", strerror(f->error));
	case FOUND_LOOP:
		/* Where a file of the repo goes, the file is missing, not a note (it was). */
		if (e)
			return add_finding(v, f->path, "missing", "missing: a symlink to a folder "
					   "is in its place");
		return add_finding(v, f->path, NULL, "a symlink to a folder walked already; "
				   "not followed");
	case FOUND_OUTSIDE:
		if (e)
			return add_finding(v, f->path, "missing", "missing: a symlink to a folder "
					   "is in its place");
		return add_finding(v, f->path, NULL, "a symlink to a folder outside %s; "
				   "not followed", v->dir);
	case FOUND_BROKEN_LINK:
		n = readlink(full, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		return add_finding(v, f->path, "broken-symlink", "broken symlink to '%s' (%s)",
				   target, strerror(f->error));
	case FOUND_SPECIAL:
		if (e)
			return add_finding(v, f->path, "not-a-file", "a %s, not a file",
					   S_ISFIFO(f->st.st_mode) ? "fifo" :
					   S_ISSOCK(f->st.st_mode) ? "socket" : "device");
		return add_finding(v, f->path, NULL, "not a regular file; not checked");
	case FOUND_FILE:
		break;
	}
	v->files_checked++;
	if (f->st.st_size <= LFS_POINTER_MAX) {
		rc = read_pointer(full, &ptr);
		if (rc < 0)
			return add_finding(v, f->path, "unreadable", "%s", strerror(-rc));
		/* A repo may hold pointer text as a plain git file: that is content. */
		if (rc == 1 && !(e && !e->is_lfs && e->size == (uint64_t)f->st.st_size))
			return report_pointer(v, f->path, &ptr, e);
		if (rc == 2 && !(e && !e->is_lfs && e->size == (uint64_t)f->st.st_size))
			return add_finding(v, f->path, "lfs-pointer", "a Git-LFS pointer that is "
					   "not one by the spec (CRLF line ends, cut, or a line "
					   "added), not the content");
	}
	if (v->snap && !e)
		return add_finding(v, f->path, NULL, "not in %s", v->label);
	return e ? check_content(v, f->path, full, &f->st, e) : 0;
}

/* Listing files DIR does not have. */
static int check_missing(struct verify *v)
{
	char full[PATH_MAX];
	struct stat st;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < v->snap->n_entries; i++) {
		const struct repo_entry *e = &v->snap->entries[i];

		if (e->is_dir || e->parent == REPO_NO_ENTRY || v->seen[i])
			continue;
		snprintf(full, sizeof(full), "%s/%s", v->dir, e->path);
		if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode))
			rc = add_finding(v, e->path, "missing", "missing: a folder is in its place");
		else
			rc = add_finding(v, e->path, "missing", "missing (%llu bytes in %s)",
					 (unsigned long long)e->size, v->label);
	}
	return rc;
}

static int check_required(struct verify *v, char *const *require, size_t n)
{
	char full[PATH_MAX];
	struct stat st;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (has_problem(v, require[i]))
			continue;
		snprintf(full, sizeof(full), "%s/%s", v->dir, require[i]);
		if (stat(full, &st) < 0)
			rc = add_finding(v, require[i], "missing", "required, but %s",
					 errno == ENOENT ? "missing" : strerror(errno));
		else if (!S_ISREG(st.st_mode))
			rc = add_finding(v, require[i], "not-a-file",
					 "required, but not a regular file");
	}
	return rc;
}

static int by_finding_path(const void *a_, const void *b_)
{
	const struct finding *a = a_, *b = b_;
	int cmp = strcmp(a->path, b->path);

	return cmp ? cmp : a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void print_text(const struct verify *v)
{
	size_t counts[sizeof(problem_kinds) / sizeof(problem_kinds[0])] = { 0 };
	const char *sep = " (";

	for (size_t i = 0; i < v->n; i++) {
		if (v->items[i].kind)
			printf("%s: %s\n", v->items[i].path, v->items[i].detail);
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct finding *f = &v->items[i];

		if (!f->kind) {
			printf("note: %s: %s\n", f->path, f->detail);
			continue;
		}
		for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
			if (strcmp(f->kind, problem_kinds[k]) == 0)
				counts[k]++;
		}
	}
	printf("%zu files checked%s%s", v->files_checked, v->snap ? " against " : "",
	       v->snap ? v->label : "");
	if (v->n_problems == 0) {
		printf(": no problems");
	} else {
		printf(": %zu problem%s", v->n_problems, v->n_problems == 1 ? "" : "s");
		for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
			if (counts[k]) {
				printf("%s%zu %s", sep, counts[k], problem_kinds[k]);
				sep = ", ";
			}
		}
		printf(")");
	}
	if (v->n_notes)
		printf(", %zu note%s", v->n_notes, v->n_notes == 1 ? "" : "s");
	printf("\n");
}

static void print_json(const struct verify *v)
{
	const char *sep = "";
	char repo[HUB_REPO_ID_MAX + HUB_REVISION_MAX * 3 + 16];

	printf("{\"dir\": ");
	cli_json_string(stdout, v->dir);
	printf(", \"repo\": ");
	if (v->snap && hub_repo_format(&v->snap->repo, repo, sizeof(repo)) == 0)
		cli_json_string(stdout, repo);
	else
		printf("null");
	printf(", \"commit\": ");
	if (v->snap)
		cli_json_string(stdout, v->snap->commit);
	else
		printf("null");
	printf(", \"files_checked\": %zu, \"problems\": [", v->files_checked);
	for (size_t i = 0; i < v->n; i++) {
		if (!v->items[i].kind)
			continue;
		printf("%s{\"path\": ", sep);
		cli_json_string(stdout, v->items[i].path);
		printf(", \"kind\": \"%s\", \"detail\": ", v->items[i].kind);
		cli_json_string(stdout, v->items[i].detail);
		printf("}");
		sep = ", ";
	}
	printf("], \"notes\": [");
	sep = "";
	for (size_t i = 0; i < v->n; i++) {
		if (v->items[i].kind)
			continue;
		printf("%s{\"path\": ", sep);
		cli_json_string(stdout, v->items[i].path);
		printf(", \"detail\": ");
		cli_json_string(stdout, v->items[i].detail);
		printf("}");
		sep = ", ";
	}
	printf("], \"ok\": %s}\n", v->n_problems ? "false" : "true");
}

static void verify_usage(FILE *out)
{
	fprintf(out,
		"usage: hubfs verify DIR [options]\n"
		"  Checks a folder of a repo's files: the mount, a --local-dir, a git clone,\n"
		"  a huggingface_hub snapshot folder. Exit 0: all is well; 1: a problem.\n"
		"  --repo REPO[@REV]   compare with the repo's listing: every file there, sizes\n"
		"  --deep              with --repo: also hash every file (sha256 / git sha1)\n"
		"  --require FILE      FILE must exist as a regular file (repeatable)\n"
		"  --json              one JSON object instead of lines\n"
		"  --cache-dir DIR, --type TYPE, --endpoint URL, --token-file FILE, --offline\n"
		CLI_HUB_OPTS_HELP);
}

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repo", required_argument, NULL, 'R' },
		{ "require", required_argument, NULL, 'r' },
		{ "deep", no_argument, NULL, 'D' },
		{ "cache-dir", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		CLI_HUB_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	char *require[MAX_REQUIRE];
	size_t n_require = 0;
	struct cli_hub_opts o = CLI_HUB_OPTS_INIT;
	struct verify v = { 0 };
	struct repo_env env = { 0 };
	struct hub_config cfg = { 0 };
	struct walk w = { 0 };
	const char *repo_spec = NULL, *cache_dir_opt = NULL;
	bool json = false;
	int c, rc;

	optind = 1;
	while ((c = cli_getopt(&o, argc, argv, "", longopts)) != -1) {
		switch (c) {
		case 'R': repo_spec = optarg; break;
		case 'r':
			if (n_require == MAX_REQUIRE) {
				fprintf(stderr, "hubfs: at most %d --require\n", MAX_REQUIRE);
				return CLI_EXIT_USAGE;
			}
			require[n_require++] = optarg;
			break;
		case 'D': v.deep = true; break;
		case 'C': cache_dir_opt = optarg; break;
		case CLI_OPT_JSON: json = true; break;
		case 'h': verify_usage(stdout); return CLI_EXIT_OK;
		case CLI_OPT_BAD: return CLI_EXIT_USAGE;
		default: verify_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		verify_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (v.deep && !repo_spec) {
		fprintf(stderr, "hubfs: --deep needs --repo: there is nothing to compare "
			"the hashes with\n");
		return CLI_EXIT_USAGE;
	}
	v.dir = argv[optind];
	rc = check_dir_arg(v.dir);
	if (rc)
		return rc;
	if (repo_spec) {
		rc = cli_snapshot_open(&o, repo_spec, cache_dir_opt, &env, &cfg, &v.snap);
		if (rc)
			return rc;
		snapshot_label(v.snap, v.label, sizeof(v.label));
	}

	v.seen = calloc(v.snap ? v.snap->n_entries : 1, sizeof(*v.seen));
	v.buf = v.deep ? malloc(HASH_BUF_SIZE) : NULL;
	rc = v.seen && (v.buf || !v.deep) ? walk_tree(&w, v.dir, v.snap) : -ENOMEM;
	for (size_t i = 0; rc == 0 && i < w.n; i++)
		rc = check_found(&v, &w.items[i]);
	if (rc == 0 && v.snap)
		rc = check_missing(&v);
	if (rc == 0)
		rc = check_required(&v, require, n_require);
	if (rc < 0) {
		fprintf(stderr, "hubfs: cannot verify '%s': %s\n", v.dir, strerror(-rc));
		rc = CLI_EXIT_FAIL;
	} else {
		if (v.n)
			qsort(v.items, v.n, sizeof(*v.items), by_finding_path);
		if (json)
			print_json(&v);
		else
			print_text(&v);
		rc = v.n_problems ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	}

	walk_release(&w);
	for (size_t i = 0; i < v.n; i++) {
		free(v.items[i].path);
		free(v.items[i].detail);
	}
	free(v.items);
	free(v.seen);
	free(v.buf);
	cli_snapshot_close(&env, &cfg, v.snap);
	return rc;
}

/* ---- hubfs repair ---- */

struct stub {
	const char *path;              /* relative; owned by the walk */
	struct cache_key key;
	struct repo_source source;
	struct cache_source src;
	struct stat st;                /* of the pointer file */
	char error[400];               /* why it failed, or "" */
};

struct fetch_work {
	struct stub *stub;
	uint32_t block;
};

struct repair {
	const char *dir;
	struct repo_env env;
	struct repo_snapshot *snap;
	char label[HUB_REPO_ID_MAX + 64];
	struct stub *stubs;
	size_t n_stubs;
	struct fetch_work *work;
	size_t n_work;
	atomic_size_t next_work;
	pthread_mutex_t lock;          /* guards stub->error while fetching */
	struct cli_silence silence;    /* of the Hub, over --op-timeout */
	size_t repaired;
	uint64_t repaired_bytes;
	size_t failed;                 /* pointers that could not be repaired */
};

static void stub_fail(struct repair *r, struct stub *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void stub_fail(struct repair *r, struct stub *s, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->lock);
	if (!s->error[0]) {
		va_start(ap, fmt);
		vsnprintf(s->error, sizeof(s->error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&r->lock);
}

/* The first line of a small file, without its line end. 0 or -errno. */
static int first_line(const char *path, char *line, size_t size)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return -errno;
	ok = fgets(line, (int)size, f) != NULL;
	fclose(f);
	if (!ok)
		return -ENODATA;
	line[strcspn(line, "\r\n")] = '\0';
	return 0;
}

/* The sha of @ref in DIR/.git/packed-refs ("<sha> <ref>" lines) into @line. */
static int packed_ref(const char *dir, const char *ref, char *line, size_t size)
{
	char path[PATH_MAX];
	FILE *f;
	int rc = -ENOENT;

	snprintf(path, sizeof(path), "%s/.git/packed-refs", dir);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (rc < 0 && fgets(line, (int)size, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strlen(line) > HUB_OID_HEX && line[HUB_OID_HEX] == ' ' &&
		    strcmp(line + HUB_OID_HEX + 1, ref) == 0) {
			line[HUB_OID_HEX] = '\0';
			rc = 0;
		}
	}
	fclose(f);
	return rc;
}

/* The commit a git clone's HEAD is at, read from DIR/.git without git. */
static int clone_head(const char *dir, char sha[HUB_OID_HEX + 1])
{
	char path[PATH_MAX], line[512], ref[256];
	int rc;

	snprintf(path, sizeof(path), "%s/.git/HEAD", dir);
	rc = first_line(path, line, sizeof(line));
	if (rc < 0)
		return rc;
	/* Detached, HEAD is the commit; else "ref: refs/heads/main" names it. */
	if (strncmp(line, "ref: ", 5) == 0) {
		if (path_validate_repo_path(line + 5) < 0 ||
		    snprintf(ref, sizeof(ref), "%s", line + 5) >= (int)sizeof(ref))
			return -EINVAL;
		snprintf(path, sizeof(path), "%s/.git/%s", dir, ref);
		rc = first_line(path, line, sizeof(line));
		if (rc < 0)
			rc = packed_ref(dir, ref, line, sizeof(line));
		if (rc < 0)
			return rc;
	}
	if (!digest_is_hex(line, HUB_OID_HEX))
		return -EINVAL;
	memcpy(sha, line, HUB_OID_HEX + 1);
	return 0;
}

/* A pointer that is not the listing's: say which --repo would fit. */
static void report_other_revision(const struct repair *r, const char *path,
				  const struct lfs_pointer *ptr, const struct repo_entry *e)
{
	char head[HUB_OID_HEX + 1], spec[HUB_REPO_ID_MAX + 64], advice[400];
	struct hub_repo at = r->snap->repo;
	bool head_known = clone_head(r->dir, head) == 0;

	if (head_known && strcmp(head, r->snap->commit) != 0) {
		snprintf(at.revision, sizeof(at.revision), "%s", head);
		if (hub_repo_format(&at, spec, sizeof(spec)) < 0)
			spec[0] = '\0';
		snprintf(advice, sizeof(advice), "the clone is at %.12s, another revision: "
			 "use --repo %s", head, spec);
	} else if (head_known) {
		snprintf(advice, sizeof(advice), "the clone's HEAD is that commit: the "
			 "pointer was changed after the checkout");
	} else {
		at.revision[0] = '\0';
		if (hub_repo_format(&at, spec, sizeof(spec)) < 0)
			spec[0] = '\0';
		snprintf(advice, sizeof(advice), "the clone is at another revision: use "
			 "--repo %s@COMMIT with the commit it was cloned at", spec);
	}
	printf("%s: not repaired: its pointer (sha256:%s, %llu bytes) is not the file "
	       "of %s (sha256:%s, %llu bytes); %s\n", path, ptr->oid,
	       (unsigned long long)ptr->size, r->label, e->sha256,
	       (unsigned long long)e->size, advice);
}

/* The stubs of this repo among the walked files; the others are reported. */
static int find_stubs(struct repair *r, const struct walk *w)
{
	char full[PATH_MAX];

	r->stubs = calloc(w->n ? w->n : 1, sizeof(*r->stubs));
	if (!r->stubs)
		return -ENOMEM;
	for (size_t i = 0; i < w->n; i++) {
		const struct found *f = &w->items[i];
		const struct repo_entry *e;
		struct lfs_pointer ptr;
		struct stub *s;
		int rc;

		if (f->kind != FOUND_FILE || f->st.st_size > LFS_POINTER_MAX)
			continue;
		snprintf(full, sizeof(full), "%s/%s", r->dir, f->path);
		rc = read_pointer(full, &ptr);
		if (rc < 0) {
			printf("%s: cannot read it: %s\n", f->path, strerror(-rc));
			r->failed++;
			continue;
		}
		if (rc == 0)
			continue;
		e = repo_snapshot_find(r->snap, f->path);
		if (e && !e->is_dir && !e->is_lfs)
			continue; /* the repo holds this pointer text as a plain file */
		if (rc == 2) {
			printf("%s: not repaired: a Git-LFS pointer that is not one by the spec "
			       "(CRLF line ends, cut, or a line added); its oid cannot be "
			       "trusted: fetch the file with hubfs download\n", f->path);
			r->failed++;
			continue;
		}
		/* Replacing a symlink by a file would change what the folder is. */
		if (f->is_symlink) {
			printf("%s: not repaired: a symlink to a Git-LFS pointer; repair the "
			       "file it points to\n", f->path);
			r->failed++;
			continue;
		}
		if (!e || e->is_dir) {
			printf("%s: not repaired: a Git-LFS pointer, but %s has no such file\n",
			       f->path, r->label);
			r->failed++;
			continue;
		}
		if (strcmp(ptr.oid, e->sha256) != 0 || ptr.size != e->size) {
			report_other_revision(r, f->path, &ptr, e);
			r->failed++;
			continue;
		}
		s = &r->stubs[r->n_stubs++];
		s->path = f->path;
		s->st = f->st;
		repo_entry_key(e, &s->key);
		repo_source_init(&s->source, r->env.hub, r->snap, e, &s->src);
	}
	return 0;
}

/* Every block of every stub not yet in the cache, as units of work. */
static int plan_fetches(struct repair *r)
{
	for (size_t i = 0; i < r->n_stubs; i++) {
		struct stub *s = &r->stubs[i];
		struct cache_object_info info;
		uint32_t blocks;
		struct fetch_work *p;

		cache_object_info(r->env.cache, &s->key, &info);
		blocks = info.verified ? 0 : cache_blocks_for(s->key.size);
		if (!blocks)
			continue;
		p = realloc(r->work, (r->n_work + blocks) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		r->work = p;
		for (uint32_t k = 0; k < blocks; k++)
			r->work[r->n_work++] = (struct fetch_work){ s, k };
	}
	return 0;
}

/* Blocks fetched from the Hub so far: the silence's progress (not those found on disk). */
static uint64_t blocks_fetched(struct repair *r)
{
	struct cache_stats st;

	cache_stats(r->env.cache, &st);
	return st.fetches;
}

/* @s failed with @rc (@cerr): once the repair gave up, every transfer fails so. */
static void stub_fail_for(struct repair *r, struct stub *s, int rc, const struct cache_error *cerr)
{
	if (rc == -ECANCELED && cli_silence_gave_up(&r->silence))
		stub_fail(r, s, "not fetched: the repair gave up on the Hub");
	else
		stub_fail(r, s, "%s", cerr->message[0] ? cerr->message : strerror(-rc));
}

/* A worker: the next unit of work until none is left. */
static void fetch_blocks(void *r_)
{
	struct repair *r = r_;

	for (;;) {
		size_t i = atomic_fetch_add(&r->next_work, 1);
		struct cache_error cerr = { 0 };
		struct fetch_work *wk;
		int rc;

		if (i >= r->n_work)
			break;
		wk = &r->work[i];
		/* A stub that failed asks for no more of its blocks. */
		pthread_mutex_lock(&r->lock);
		rc = wk->stub->error[0] ? -ECANCELED : 0;
		pthread_mutex_unlock(&r->lock);
		if (rc < 0)
			continue;
		rc = cache_prefetch(r->env.cache, &wk->stub->key, &wk->stub->src,
				    wk->block, &cerr);
		if (rc == 0)
			continue;
		if (cli_silence_failed(&r->silence, blocks_fetched(r), rc,
				       cerr.message[0] ? cerr.message : strerror(-rc)))
			hub_client_cancel(r->env.hub); /* what still waits; later ones fail at once */
		stub_fail_for(r, wk->stub, rc, &cerr);
	}
}

/*
 * Replace the stub at DIR/path by its verified content from the cache:
 * a temporary file in the same folder, the stub's permission bits, fsync,
 * rename. The stub must still be the file we read, or it is left alone.
 */
static int write_content(struct repair *r, const struct stub *s, void *buf)
{
	struct cache_error cerr = { 0 };
	struct fileio_atomic af;
	char path[PATH_MAX];
	struct stat now;
	uint64_t off = 0;
	int rc;

	if (snprintf(path, sizeof(path), "%s/%s", r->dir, s->path) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	rc = fileio_atomic_open(&af, path, 0600, true);
	if (rc < 0)
		return rc;
	while (rc == 0 && off < s->key.size) {
		ssize_t n = cache_read(r->env.cache, &s->key, &s->src, buf, CACHE_BLOCK_SIZE,
				       off, &cerr);

		if (n <= 0) {
			rc = n < 0 ? (int)n : -EIO;
			break;
		}
		rc = fileio_write_full(af.fd, buf, (size_t)n);
		off += (uint64_t)n;
	}
	if (rc == 0 && fchmod(af.fd, s->st.st_mode & 07777) < 0)
		rc = -errno;
	if (rc == 0)
		rc = fileio_atomic_close(&af);
	if (rc == 0 && (lstat(path, &now) < 0 || now.st_ino != s->st.st_ino ||
			now.st_size != s->st.st_size ||
			now.st_mtim.tv_sec != s->st.st_mtim.tv_sec ||
			now.st_mtim.tv_nsec != s->st.st_mtim.tv_nsec))
		rc = -EBUSY;
	if (rc == 0)
		return fileio_atomic_commit(&af);
	fileio_atomic_rollback(&af);
	return rc;
}

/* Verify each fetched object and put it in place of its stub. */
static void finish_stubs(struct repair *r)
{
	void *buf = malloc(CACHE_BLOCK_SIZE);

	for (size_t i = 0; i < r->n_stubs; i++) {
		struct stub *s = &r->stubs[i];
		struct cache_error cerr = { 0 };
		char size[32];
		bool held;
		int rc;

		/*
		 * Held from the fill to the last read: should the blocks go
		 * between reads, what comes back is held to the bytes hashed.
		 */
		held = !s->error[0] && cache_object_hold(r->env.cache, &s->key) == 0;
		if (!s->error[0]) {
			rc = buf ? cache_fill(r->env.cache, &s->key, &s->src, &cerr) : -ENOMEM;
			if (rc < 0)
				stub_fail_for(r, s, rc, &cerr);
		}
		if (!s->error[0]) {
			rc = write_content(r, s, buf);
			if (rc == -EBUSY)
				stub_fail(r, s, "it changed while it was being repaired");
			else if (rc == -ECANCELED && cli_silence_gave_up(&r->silence))
				stub_fail(r, s, "not fetched: the repair gave up on the Hub");
			else if (rc < 0)
				stub_fail(r, s, "cannot write it: %s", strerror(-rc));
		}
		if (held)
			cache_object_release(r->env.cache, &s->key);
		if (s->error[0]) {
			printf("%s: not repaired: %s\n", s->path, s->error);
			r->failed++;
			continue;
		}
		size_format(s->key.size, size, sizeof(size));
		printf("repaired: %s (%s)\n", s->path, size);
		r->repaired++;
		r->repaired_bytes += s->key.size;
	}
	free(buf);
}

static void repair_usage(FILE *out)
{
	fprintf(out,
		"usage: hubfs repair DIR --repo REPO[@REV] [options]\n"
		"  Replaces the Git-LFS pointer stubs of a clone made without git-lfs by\n"
		"  their verified content. Files that are not pointers are never touched.\n"
		"  --repo REPO[@REV]   the repo and revision the clone was made from\n"
		"  --dry-run           list what would be repaired, change nothing\n"
		"  --jobs N            parallel transfers (default 8)\n"
		"  --cache-dir DIR, --type TYPE, --endpoint URL, --token-file FILE, --offline\n"
		CLI_HUB_OPTS_HELP);
}

/* --dry-run: what would be repaired, and what could not be. */
static void repair_print_plan(const struct repair *r)
{
	uint64_t bytes = 0;
	char size[32];

	for (size_t i = 0; i < r->n_stubs; i++) {
		size_format(r->stubs[i].key.size, size, sizeof(size));
		printf("would repair: %s (%s)\n", r->stubs[i].path, size);
		bytes += r->stubs[i].key.size;
	}
	size_format(bytes, size, sizeof(size));
	printf("%zu Git-LFS stub%s would be repaired (%s) from %s", r->n_stubs,
	       r->n_stubs == 1 ? "" : "s", size, r->label);
	if (r->failed)
		printf(", %zu could not be", r->failed);
	printf("\n");
}

/* The planned fetches on @jobs threads, or on this one when none starts. */
static void repair_run_fetches(struct repair *r, long jobs)
{
	if ((size_t)jobs > r->n_work)
		jobs = (long)r->n_work;
	cli_silence_start(&r->silence, blocks_fetched(r));
	workers_run((unsigned)jobs, fetch_blocks, r);
}

static void repair_print_summary(const struct repair *r)
{
	char size[32];

	size_format(r->repaired_bytes, size, sizeof(size));
	if (r->repaired == 0 && r->failed == 0)
		printf("no Git-LFS stubs in %s: nothing to repair\n", r->dir);
	else if (r->failed == 0)
		printf("%zu Git-LFS stub%s repaired (%s) from %s\n", r->repaired,
		       r->repaired == 1 ? "" : "s", size, r->label);
	else
		printf("%zu Git-LFS stub%s repaired (%s) from %s, %zu not repaired\n",
		       r->repaired, r->repaired == 1 ? "" : "s", size, r->label, r->failed);
	if (cli_silence_gave_up(&r->silence))
		fprintf(stderr, "hubfs: gave up: %s\n", r->silence.why);
}

int cmd_repair(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repo", required_argument, NULL, 'R' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "cache-dir", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		CLI_HUB_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_hub_opts o = CLI_HUB_OPTS_INIT;
	struct repair r = { 0 };
	struct hub_config cfg = { 0 };
	struct walk w = { 0 };
	const char *repo_spec = NULL, *cache_dir_opt = NULL;
	bool dry_run = false;
	long jobs = 8;
	char *end;
	int c, rc;

	optind = 1;
	while ((c = cli_getopt(&o, argc, argv, "", longopts)) != -1) {
		switch (c) {
		case 'R': repo_spec = optarg; break;
		case 'n': dry_run = true; break;
		case 'j':
			jobs = strtol(optarg, &end, 10);
			if (*end || jobs < 1 || jobs > MAX_JOBS) {
				fprintf(stderr, "hubfs: --jobs must be 1..%d\n", MAX_JOBS);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'C': cache_dir_opt = optarg; break;
		case 'h': repair_usage(stdout); return CLI_EXIT_OK;
		case CLI_OPT_BAD: return CLI_EXIT_USAGE;
		default: repair_usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		repair_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!repo_spec) {
		fprintf(stderr, "hubfs: repair needs --repo REPO[@REV]: the repo the clone "
			"was made from\n");
		return CLI_EXIT_USAGE;
	}
	r.dir = argv[optind];
	rc = check_dir_arg(r.dir);
	if (rc)
		return rc;
	rc = cli_snapshot_open(&o, repo_spec, cache_dir_opt, &r.env, &cfg, &r.snap);
	if (rc)
		return rc;
	snapshot_label(r.snap, r.label, sizeof(r.label));
	pthread_mutex_init(&r.lock, NULL);
	cli_silence_init(&r.silence, cfg.op_timeout_ms);

	rc = walk_tree(&w, r.dir, NULL); /* repair writes nowhere a link leads out of DIR */
	if (rc == 0)
		rc = find_stubs(&r, &w);
	if (rc == 0 && dry_run) {
		repair_print_plan(&r);
		goto out;
	}
	if (rc == 0)
		rc = plan_fetches(&r);
	if (rc < 0)
		goto out;
	repair_run_fetches(&r, jobs);
	finish_stubs(&r);
	repair_print_summary(&r);
out:
	if (rc < 0)
		fprintf(stderr, "hubfs: cannot repair '%s': %s\n", r.dir, strerror(-rc));
	rc = rc < 0 || r.failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	pthread_mutex_destroy(&r.lock);
	cli_silence_destroy(&r.silence);
	free(r.work);
	free(r.stubs);
	walk_release(&w);
	cli_snapshot_close(&r.env, &cfg, r.snap);
	return rc;
}
