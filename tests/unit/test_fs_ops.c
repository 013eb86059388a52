/* SPDX-License-Identifier: MIT */
/*
 * The FUSE callbacks (fs/ops.c) without a kernel: the test links its own
 * fuse_reply_*() and fuse_add_direntry*() over libfuse's, so a request is
 * a struct of ours that records the one reply each callback must give.
 * Behind them: an offline fs over a cache holding one repo's listing, in
 * which a fixture verified the blocks of some files and not of others.
 * Reads of cached files give their bytes, a file never fetched fails
 * with EIO, and concurrent readers of one file all get its bytes (TSan).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/meta.h"
#include "fs/fs_int.h"
#include "tests/helpers/mem_source.h"
#include "tests/helpers/scratch.h"
#include "util/time.h"

#define REPO_KEY "model/acme/files"
#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define MODEL_SIZE (CACHE_BLOCK_SIZE + 300000) /* two blocks */

/* ---- requests: what a callback replied ---- */

enum reply_kind { REPLY_NONE, REPLY_ERR, REPLY_BUF, REPLY_ATTR, REPLY_OPEN, REPLY_ENTRY };

struct fuse_req {
	struct fs *fs;
	unsigned replies;            /* a callback replies exactly once */
	enum reply_kind kind;
	int err;                     /* REPLY_ERR: a positive errno (0: success) */
	char *data;                  /* REPLY_BUF: a copy (malloc'ed) */
	size_t size;
	struct stat attr;            /* REPLY_ATTR, REPLY_ENTRY */
	struct fuse_file_info fi;    /* REPLY_OPEN */
	struct fuse_entry_param entry; /* REPLY_ENTRY */
};

static void req_init(struct fuse_req *r, struct fs *fs)
{
	memset(r, 0, sizeof(*r));
	r->fs = fs;
}

static void req_release(struct fuse_req *r)
{
	free(r->data);
	r->data = NULL;
}

/* A read may be answered from another thread (a helper's, the watcher's). */
static pthread_mutex_t replies_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t replies_cond = PTHREAD_COND_INITIALIZER;

/* After its fields are set: the request is answered. */
static void replied(fuse_req_t req, enum reply_kind kind)
{
	pthread_mutex_lock(&replies_lock);
	req->replies++;
	req->kind = kind;
	pthread_cond_broadcast(&replies_cond);
	pthread_mutex_unlock(&replies_lock);
}

/* Wait up to 60 s for @req's answer, which may come from another thread. */
static void wait_replied(fuse_req_t req)
{
	int64_t until = time_mono_ms() + 60000;

	pthread_mutex_lock(&replies_lock);
	while (req->replies == 0 && time_mono_ms() < until)
		time_cond_wait_ms(&replies_cond, &replies_lock, 100);
	pthread_mutex_unlock(&replies_lock);
}

void *fuse_req_userdata(fuse_req_t req)
{
	return req->fs;
}

/* Set: every request is interrupted (the reader got a signal). */
static atomic_bool interrupt_requests;

int fuse_req_interrupted(fuse_req_t req)
{
	(void)req;
	return atomic_load(&interrupt_requests);
}

/* The drops of pages the kernel was told of, and when (time_mono_ms()). */
#define DROPS_MAX 1024
static pthread_mutex_t drops_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	fuse_ino_t ino;
	off_t off, len;
	int64_t at_ms;
} drops[DROPS_MAX];
static unsigned n_drops;

int fuse_lowlevel_notify_inval_inode(struct fuse_session *se, fuse_ino_t ino, off_t off,
				     off_t len)
{
	(void)se;
	pthread_mutex_lock(&drops_lock);
	if (n_drops < DROPS_MAX)
		drops[n_drops++] = (__typeof__(drops[0])){ ino, off, len, time_mono_ms() };
	pthread_mutex_unlock(&drops_lock);
	return 0;
}

static unsigned drops_seen(void)
{
	unsigned n;

	pthread_mutex_lock(&drops_lock);
	n = n_drops;
	pthread_mutex_unlock(&drops_lock);
	return n;
}

/* Wait up to @ms for @n drops: how many there were. */
static unsigned wait_for_drops(unsigned n, int ms)
{
	for (int i = 0; i < ms && drops_seen() < n; i++)
		usleep(1000);
	return drops_seen();
}

/*
 * Read requests live until the test's teardown, after the helpers and
 * the watcher of parked reads are done: a second answer from another
 * thread would land in a request still there, and teardown checks that
 * each was answered exactly once (reads_answered_once()).
 */
#define KEPT_READS_MAX 65536
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fuse_req *kept_reads[KEPT_READS_MAX];
static size_t n_kept_reads;

static bool reads_answered_once(void)
{
	bool ok = true;

	pthread_mutex_lock(&kept_lock);
	for (size_t i = 0; i < n_kept_reads; i++) {
		ok = ok && kept_reads[i]->replies == 1;
		req_release(kept_reads[i]);
		free(kept_reads[i]);
	}
	n_kept_reads = 0;
	pthread_mutex_unlock(&kept_lock);
	return ok;
}

int fuse_reply_err(fuse_req_t req, int err)
{
	req->err = err;
	replied(req, REPLY_ERR);
	return 0;
}

void fuse_reply_none(fuse_req_t req)
{
	replied(req, REPLY_NONE);
}

int fuse_reply_buf(fuse_req_t req, const char *buf, size_t size)
{
	req->data = malloc(size ? size : 1);
	assert_non_null(req->data);
	if (size)
		memcpy(req->data, buf, size);
	req->size = size;
	replied(req, REPLY_BUF);
	return 0;
}

int fuse_reply_attr(fuse_req_t req, const struct stat *attr, double attr_timeout)
{
	(void)attr_timeout;
	req->attr = *attr;
	replied(req, REPLY_ATTR);
	return 0;
}

int fuse_reply_open(fuse_req_t req, const struct fuse_file_info *fi)
{
	req->fi = *fi;
	replied(req, REPLY_OPEN);
	return 0;
}

int fuse_reply_entry(fuse_req_t req, const struct fuse_entry_param *e)
{
	req->entry = *e;
	req->attr = e->attr;
	replied(req, REPLY_ENTRY);
	return 0;
}

/*
 * A directory entry as this test lays it out in a readdir reply (libfuse's
 * own layout is the kernel's business): where the next one starts, the
 * inode (readdirplus: the looked-up node's, else st_ino), the mode, the name.
 */
struct test_dirent {
	int64_t next;
	uint64_t ino;
	uint32_t mode;
	char name[];
};

static size_t dirent_len(const char *name)
{
	return (sizeof(struct test_dirent) + strlen(name) + 1 + 7) & ~(size_t)7;
}

static size_t add_dirent(char *buf, size_t bufsize, const char *name, uint64_t ino,
			 mode_t mode, off_t off)
{
	size_t len = dirent_len(name);
	struct test_dirent *d = (struct test_dirent *)buf;

	if (len > bufsize)
		return len; /* as libfuse: the size it needs, nothing written */
	d->next = off;
	d->ino = ino;
	d->mode = mode;
	memcpy(d->name, name, strlen(name) + 1);
	return len;
}

size_t fuse_add_direntry(fuse_req_t req, char *buf, size_t bufsize, const char *name,
			 const struct stat *stbuf, off_t off)
{
	(void)req;
	return add_dirent(buf, bufsize, name, (uint64_t)stbuf->st_ino, stbuf->st_mode, off);
}

size_t fuse_add_direntry_plus(fuse_req_t req, char *buf, size_t bufsize, const char *name,
			      const struct fuse_entry_param *e, off_t off)
{
	(void)req;
	return add_dirent(buf, bufsize, name, e->ino, e->attr.st_mode, off);
}

/* ---- the fixture ---- */

/* ---- a Hub on loopback that accepts connections and never answers ---- */

struct stall {
	int fd;                      /* listening; -1: not started */
	int port;
	pthread_t thread;
	atomic_uint accepted;
	int conns[64];               /* held open, so that requests wait */
};

static void *stall_main(void *st_)
{
	struct stall *st = st_;

	for (;;) {
		int c = accept(st->fd, NULL, NULL);
		unsigned n;

		if (c < 0)
			return NULL; /* shut down */
		n = atomic_fetch_add(&st->accepted, 1);
		if (n < 64)
			st->conns[n] = c;
		else
			close(c);
	}
}

static void stall_start(struct stall *st)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	st->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(st->fd >= 0);
	assert_int_equal(bind(st->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(st->fd, 64), 0);
	assert_int_equal(getsockname(st->fd, (struct sockaddr *)&a, &len), 0);
	st->port = ntohs(a.sin_port);
	atomic_init(&st->accepted, 0);
	assert_int_equal(pthread_create(&st->thread, NULL, stall_main, st), 0);
}

static void stall_stop(struct stall *st)
{
	unsigned n = atomic_load(&st->accepted);

	shutdown(st->fd, SHUT_RDWR);
	pthread_join(st->thread, NULL);
	close(st->fd);
	for (unsigned i = 0; i < n && i < 64; i++)
		close(st->conns[i]);
	st->fd = -1;
}

struct fx {
	char dir[PATH_MAX];
	struct cache *cache;
	struct hub_config hub_config;
	struct hub_client *hub;
	struct mem_source ms;        /* what the fixture filled the cache from */
	struct mem_object *config, *model, *cold;
	struct fs fs;
	size_t base;                 /* nodes of an fs nobody looked into */
	struct stall stall;          /* go_online()'s Hub (fd -1: none) */
	struct hub_config online_config;
	struct hub_client *online;
};

/*
 * config.json (a git blob) and model.bin (LFS, two blocks) are in the
 * cache, verified; cold.bin (LFS) and sub/notes.txt are only listed.
 */
static void store_repo(struct fx *f)
{
	struct cache_file_entry e[4] = { { 0 } };
	struct cache_error cerr = { 0 };

	mem_source_init(&f->ms);
	f->config = mem_source_add(&f->ms, CACHE_ALGO_GIT_SHA1, 300, 1);
	f->model = mem_source_add(&f->ms, CACHE_ALGO_SHA256, MODEL_SIZE, 2);
	f->cold = mem_source_add(&f->ms, CACHE_ALGO_SHA256, 5000, 3);
	e[0].path = "config.json";
	e[0].size = f->config->key.size;
	memcpy(e[0].oid, f->config->key.hash, sizeof(e[0].oid) - 1); /* a sha1: 40 digits */
	e[1].path = "model.bin";
	e[1].size = f->model->key.size;
	e[1].is_lfs = true;
	snprintf(e[1].oid, sizeof(e[1].oid), "%040x", 0xb1);
	snprintf(e[1].lfs_sha256, sizeof(e[1].lfs_sha256), "%s", f->model->key.hash);
	e[2].path = "cold.bin";
	e[2].size = f->cold->key.size;
	e[2].is_lfs = true;
	snprintf(e[2].oid, sizeof(e[2].oid), "%040x", 0xc0);
	snprintf(e[2].lfs_sha256, sizeof(e[2].lfs_sha256), "%s", f->cold->key.hash);
	e[3].path = "sub/notes.txt";
	e[3].size = 42;
	snprintf(e[3].oid, sizeof(e[3].oid), "%040x", 0x42);
	assert_int_equal(cache_listing_store(f->dir, REPO_KEY, COMMIT, e, 4), 0);
	assert_int_equal(cache_ref_store(f->dir, REPO_KEY, "main", COMMIT, 1), 0);
	assert_int_equal(cache_fill(f->cache, &f->config->key, &f->ms.src, &cerr), 0);
	assert_int_equal(cache_fill(f->cache, &f->model->key, &f->ms.src, &cerr), 0);
}

static int setup(void **state)
{
	static char unreachable[] = "http://127.0.0.1:9";
	struct fx *f = calloc(1, sizeof(*f));
	struct cache_options opts = { 0 };

	assert_non_null(f);
	scratch_dir_make(f->dir, sizeof(f->dir), "test_fs_ops");
	opts.dir = f->dir;
	assert_int_equal(cache_open(&opts, &f->cache), 0);
	store_repo(f);
	/* Offline: a file the cache lacks fails as the mount's would, with no request. */
	f->hub_config.endpoint = unreachable;
	f->hub_config.offline = true;
	f->hub_config.op_timeout_ms = 10000;
	assert_int_equal(hub_client_new(&f->hub_config, &f->hub), 0);

	f->fs.opts.revision_ttl_secs = 60;
	f->fs.opts.negative_ttl_secs = 30;
	f->fs.deps.cache = f->cache;
	f->fs.deps.hub = f->hub;
	f->fs.deps.hub_config = &f->hub_config;
	f->fs.env.cache = f->cache;
	f->fs.env.hub = f->hub;
	f->fs.env.offline = true;
	f->fs.uid = getuid();
	f->fs.gid = getgid();
	f->fs.open_items.next = f->fs.open_items.prev = &f->fs.open_items;
	pthread_mutex_init(&f->fs.helpers_lock, NULL);
	pthread_cond_init(&f->fs.helpers_done, NULL);
	pthread_mutex_init(&f->fs.parked_lock, NULL);
	pthread_cond_init(&f->fs.parked_cond, NULL);
	assert_int_equal(fs_table_init(&f->fs), 0);
	f->base = fs_node_count(&f->fs);
	f->stall.fd = -1;
	pthread_mutex_lock(&drops_lock);
	n_drops = 0;
	pthread_mutex_unlock(&drops_lock);
	*state = f;
	return 0;
}

/*
 * Fetches from files opened from now on go to a Hub that never answers,
 * each for @op_timeout_ms at most; names are still looked up offline.
 */
static void go_online(struct fx *f, long op_timeout_ms)
{
	static char endpoint[64];

	stall_start(&f->stall);
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", f->stall.port);
	f->online_config.endpoint = endpoint;
	f->online_config.connect_timeout_ms = 1000;
	f->online_config.stall_timeout_ms = 60000;
	f->online_config.min_speed_bps = 1;
	f->online_config.op_timeout_ms = op_timeout_ms;
	assert_int_equal(hub_client_new(&f->online_config, &f->online), 0);
	f->fs.deps.hub = f->online;
	f->fs.deps.hub_config = &f->online_config;
}

/* The helper threads running now. */
static unsigned helpers(struct fx *f)
{
	unsigned n;

	pthread_mutex_lock(&f->fs.helpers_lock);
	n = f->fs.n_helpers;
	pthread_mutex_unlock(&f->fs.helpers_lock);
	return n;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	atomic_store(&interrupt_requests, false);
	fs_parked_stop(&f->fs);
	fs_helpers_drain(&f->fs);
	assert_true(reads_answered_once()); /* none twice, none never */
	if (f->fs.prefetch)
		fs_prefetch_stop(&f->fs);
	fs_inval_stop(&f->fs);
	if (f->online)
		hub_client_free(f->online);
	if (f->stall.fd >= 0)
		stall_stop(&f->stall);
	/*
	 * What a failed test left open, freed as fs_run() frees it at the end of a
	 * mount (a test that passes released everything: its node count says so).
	 */
	while (f->fs.open_items.next != &f->fs.open_items) {
		struct fs_open *o = f->fs.open_items.next;

		o->next->prev = o->prev;
		o->prev->next = o->next;
		o->free(o);
	}
	fs_table_release(&f->fs);
	pthread_mutex_destroy(&f->fs.helpers_lock);
	pthread_cond_destroy(&f->fs.helpers_done);
	pthread_mutex_destroy(&f->fs.parked_lock);
	pthread_cond_destroy(&f->fs.parked_cond);
	hub_client_free(f->hub);
	cache_close(f->cache);
	mem_source_release(&f->ms);
	scratch_dir_remove(f->dir);
	free(f);
	return 0;
}

/* ---- one request each ---- */

/* The inode of @name in @parent; the caller forgets it. */
static fuse_ino_t lookup(struct fx *f, fuse_ino_t parent, const char *name)
{
	struct fuse_req r;

	req_init(&r, &f->fs);
	fs_ops.lookup(&r, parent, name);
	assert_int_equal(r.replies, 1);
	assert_int_equal(r.kind, REPLY_ENTRY);
	/* The node id is the kernel's handle; st_ino comes from the path (fs_child_ino()). */
	assert_true(r.attr.st_ino > FUSE_ROOT_ID);
	return r.entry.ino;
}

static void forget(struct fx *f, fuse_ino_t ino)
{
	struct fuse_req r;

	req_init(&r, &f->fs);
	fs_ops.forget(&r, ino, 1);
	assert_int_equal(r.replies, 1);
	assert_int_equal(r.kind, REPLY_NONE);
}

/* The repo folder's inode, and its parent's (the org) in *@org. */
static fuse_ino_t lookup_repo(struct fx *f, fuse_ino_t *org)
{
	*org = lookup(f, FUSE_ROOT_ID, "acme");
	return lookup(f, *org, "files");
}

/* getattr: 0 and *@st, or the errno replied. */
static int getattr(struct fx *f, fuse_ino_t ino, struct stat *st)
{
	struct fuse_req r;

	req_init(&r, &f->fs);
	fs_ops.getattr(&r, ino, NULL);
	assert_int_equal(r.replies, 1);
	if (r.kind == REPLY_ERR)
		return r.err;
	assert_int_equal(r.kind, REPLY_ATTR);
	*st = r.attr;
	return 0;
}

/* open with @flags: 0 and the handle in *@fi, or the errno replied. */
static int open_file(struct fx *f, fuse_ino_t ino, int flags, struct fuse_file_info *fi)
{
	struct fuse_req r;

	memset(fi, 0, sizeof(*fi));
	fi->flags = flags;
	req_init(&r, &f->fs);
	fs_ops.open(&r, ino, fi);
	assert_int_equal(r.replies, 1);
	if (r.kind == REPLY_ERR)
		return r.err;
	assert_int_equal(r.kind, REPLY_OPEN);
	*fi = r.fi;
	return 0;
}

static void release(struct fx *f, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_req r;

	req_init(&r, &f->fs);
	fs_ops.release(&r, ino, fi);
	assert_int_equal(r.replies, 1);
	assert_int_equal(r.kind, REPLY_ERR);
	assert_int_equal(r.err, 0);
}

#define READ_BAD_REPLY (-100000) /* not exactly one reply of bytes or an errno */

/*
 * read: the byte count with the bytes in @out, or the negative errno
 * replied. No cmocka assertion: threads call it too.
 */
static ssize_t read_req(struct fs *fs, fuse_ino_t ino, struct fuse_file_info *fi,
			void *out, size_t size, off_t off)
{
	struct fuse_req *r = malloc(sizeof(*r));
	ssize_t n = READ_BAD_REPLY;

	if (!r)
		return n;
	req_init(r, fs);
	pthread_mutex_lock(&kept_lock);
	if (n_kept_reads < KEPT_READS_MAX)
		kept_reads[n_kept_reads++] = r;
	else
		r->replies = 1000; /* more reads than kept: teardown fails, loudly */
	pthread_mutex_unlock(&kept_lock);
	fs_ops.read(r, ino, size, off, fi);
	wait_replied(r);
	pthread_mutex_lock(&replies_lock);
	if (r->replies == 1 && r->kind == REPLY_ERR && r->err > 0) {
		n = -r->err;
	} else if (r->replies == 1 && r->kind == REPLY_BUF && r->size <= size) {
		memcpy(out, r->data, r->size);
		n = (ssize_t)r->size;
	}
	pthread_mutex_unlock(&replies_lock);
	return n;
}

static ssize_t read_at(struct fs *fs, fuse_ino_t ino, struct fuse_file_info *fi,
		       void *out, size_t size, off_t off)
{
	ssize_t n = read_req(fs, ino, fi, out, size, off);

	assert_int_not_equal(n, READ_BAD_REPLY);
	return n;
}

/* ---- tests ---- */

/* A file of the listing opens read-only, and only so; a folder does not open. */
static void test_open(void **state)
{
	struct fx *f = *state;
	struct fuse_file_info fi;
	fuse_ino_t org, repo = lookup_repo(f, &org);
	fuse_ino_t config = lookup(f, repo, "config.json");
	fuse_ino_t sub = lookup(f, repo, "sub");

	assert_int_equal(open_file(f, config, O_RDONLY, &fi), 0);
	assert_int_not_equal(fi.fh, 0);
	assert_int_equal(fi.keep_cache, 1); /* one inode is one commit's file */
	assert_int_equal(fs_node_count(&f->fs), f->base + 4);
	release(f, config, &fi);
	assert_int_equal(open_file(f, config, O_WRONLY, &fi), EROFS);
	assert_int_equal(open_file(f, config, O_RDWR, &fi), EROFS);
	assert_int_equal(open_file(f, sub, O_RDONLY, &fi), EISDIR);
	assert_int_equal(open_file(f, repo, O_RDONLY, &fi), EISDIR);
	assert_int_equal(open_file(f, 999999, O_RDONLY, &fi), ENOENT);

	forget(f, sub);
	forget(f, config);
	forget(f, repo);
	forget(f, org);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

/* What the fixture verified is served offline, from the cache's blocks. */
static void test_read_cached(void **state)
{
	struct fx *f = *state;
	struct fuse_file_info fi;
	fuse_ino_t org, repo = lookup_repo(f, &org);
	fuse_ino_t config = lookup(f, repo, "config.json");
	fuse_ino_t model = lookup(f, repo, "model.bin");
	char *buf = malloc(MODEL_SIZE);
	size_t done = 0;

	assert_non_null(buf);
	/* A small file in one read, asked for more than it has. */
	assert_int_equal(open_file(f, config, O_RDONLY, &fi), 0);
	assert_int_equal(read_at(&f->fs, config, &fi, buf, 4096, 0), 300);
	assert_memory_equal(buf, f->config->data, 300);
	assert_int_equal(read_at(&f->fs, config, &fi, buf, 100, 250), 50);
	assert_memory_equal(buf, f->config->data + 250, 50);
	assert_int_equal(read_at(&f->fs, config, &fi, buf, 100, 300), 0); /* at the end */
	assert_int_equal(read_at(&f->fs, config, &fi, buf, 100, 1 << 20), 0);
	release(f, config, &fi);

	/* Two blocks: across their boundary, then the whole file in kernel-sized reads. */
	assert_int_equal(open_file(f, model, O_RDONLY, &fi), 0);
	assert_int_equal(read_at(&f->fs, model, &fi, buf, 8192, CACHE_BLOCK_SIZE - 4096), 8192);
	assert_memory_equal(buf, f->model->data + CACHE_BLOCK_SIZE - 4096, 8192);
	while (done < MODEL_SIZE) {
		ssize_t n = read_at(&f->fs, model, &fi, buf + done, 128 << 10, (off_t)done);

		assert_true(n > 0);
		done += (size_t)n;
	}
	assert_int_equal(done, MODEL_SIZE);
	assert_memory_equal(buf, f->model->data, MODEL_SIZE);
	release(f, model, &fi);
	/* Every byte replied is counted for `hubfs status`. */
	assert_int_equal(atomic_load(&f->fs.status.bytes_served), 300 + 50 + 8192 + MODEL_SIZE);
	free(buf);

	forget(f, model);
	forget(f, config);
	forget(f, repo);
	forget(f, org);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

/* A file whose blocks were never fetched, offline: EIO, and no bytes ever. */
static void test_read_absent_offline(void **state)
{
	struct fx *f = *state;
	struct fuse_file_info fi;
	fuse_ino_t org, repo = lookup_repo(f, &org);
	fuse_ino_t cold = lookup(f, repo, "cold.bin");
	char buf[4096];

	assert_int_equal(open_file(f, cold, O_RDONLY, &fi), 0); /* open fetches nothing */
	assert_int_equal(read_at(&f->fs, cold, &fi, buf, sizeof(buf), 0), -EIO);
	assert_int_equal(read_at(&f->fs, cold, &fi, buf, sizeof(buf), 0), -EIO);
	assert_int_equal(read_at(&f->fs, cold, &fi, buf, sizeof(buf), 5000), 0); /* EOF needs no block */
	release(f, cold, &fi);

	/* Strict: the open itself needs the whole file, and fails the same way. */
	f->fs.opts.strict = true;
	assert_int_equal(open_file(f, cold, O_RDONLY, &fi), EIO);
	f->fs.opts.strict = false;

	forget(f, cold);
	forget(f, repo);
	forget(f, org);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

/* Sizes, modes and owners as the listing and the mount say. */
static void test_getattr(void **state)
{
	struct fx *f = *state;
	fuse_ino_t org, repo = lookup_repo(f, &org);
	fuse_ino_t model = lookup(f, repo, "model.bin");
	fuse_ino_t config = lookup(f, repo, "config.json");
	fuse_ino_t sub = lookup(f, repo, "sub");
	fuse_ino_t notes = lookup(f, sub, "notes.txt");
	struct stat st;

	assert_int_equal(getattr(f, FUSE_ROOT_ID, &st), 0);
	assert_int_equal(st.st_mode, S_IFDIR | 0555);
	assert_int_equal(st.st_ino, FUSE_ROOT_ID);
	assert_int_equal(getattr(f, org, &st), 0);
	assert_int_equal(st.st_mode, S_IFDIR | 0555);
	assert_int_equal(getattr(f, repo, &st), 0);
	assert_int_equal(st.st_mode, S_IFDIR | 0555);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(getattr(f, sub, &st), 0);
	assert_int_equal(st.st_mode, S_IFDIR | 0555);

	assert_int_equal(getattr(f, model, &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0444);
	assert_int_equal(st.st_nlink, 1);
	assert_true(st.st_ino > FUSE_ROOT_ID); /* fs_child_ino(), not the node id */
	assert_int_equal(st.st_size, MODEL_SIZE);
	assert_int_equal(st.st_blocks, (MODEL_SIZE + 511) / 512);
	assert_int_equal(st.st_uid, getuid());
	assert_int_equal(st.st_gid, getgid());
	assert_int_equal(getattr(f, config, &st), 0);
	assert_int_equal(st.st_size, 300);
	assert_int_equal(getattr(f, notes, &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0444);
	assert_int_equal(st.st_size, 42); /* listed only: nothing cached is needed */

	assert_int_equal(getattr(f, 999999, &st), ENOENT);

	forget(f, notes);
	forget(f, sub);
	forget(f, config);
	forget(f, model);
	forget(f, repo);
	forget(f, org);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

/* opendir: 0 and the handle in *@fi, or the errno replied. */
static int opendir_ino(struct fx *f, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_req r;

	memset(fi, 0, sizeof(*fi));
	req_init(&r, &f->fs);
	fs_ops.opendir(&r, ino, fi);
	assert_int_equal(r.replies, 1);
	if (r.kind == REPLY_ERR)
		return r.err;
	assert_int_equal(r.kind, REPLY_OPEN);
	*fi = r.fi;
	return 0;
}

/*
 * readdir(plus) from @off into a buffer of @size: the names, space
 * separated, into @names; the next offset in *@next; with @plus, the
 * entries' inodes are forgotten again (as the kernel would, later).
 */
static void readdir_into(struct fx *f, fuse_ino_t ino, struct fuse_file_info *fi, bool plus,
			 size_t size, off_t off, char *names, size_t names_size, off_t *next)
{
	struct fuse_req r;
	size_t at = 0;

	req_init(&r, &f->fs);
	if (plus)
		fs_ops.readdirplus(&r, ino, size, off, fi);
	else
		fs_ops.readdir(&r, ino, size, off, fi);
	assert_int_equal(r.replies, 1);
	assert_int_equal(r.kind, REPLY_BUF);
	names[0] = '\0';
	*next = off;
	while (at < r.size) {
		const struct test_dirent *d = (const struct test_dirent *)(r.data + at);
		bool dot = strcmp(d->name, ".") == 0 || strcmp(d->name, "..") == 0;

		snprintf(names + strlen(names), names_size - strlen(names), "%s%s",
			 names[0] ? " " : "", d->name);
		assert_true(S_ISDIR(d->mode) == (dot || strcmp(d->name, "sub") == 0));
		if (plus && !dot) {
			struct stat st;

			assert_int_not_equal(d->ino, 0); /* looked up: no LOOKUP per name */
			assert_int_equal(getattr(f, d->ino, &st), 0);
			forget(f, d->ino);
		}
		*next = d->next;
		at += dirent_len(d->name);
	}
	req_release(&r);
}

/* A repo folder lists its commit's entries, resumes at any offset it gave, and closes. */
static void test_readdir(void **state)
{
	struct fx *f = *state;
	struct fuse_file_info fi;
	fuse_ino_t org, repo = lookup_repo(f, &org);
	fuse_ino_t config = lookup(f, repo, "config.json");
	char all[256], part[256], rest[256], joined[520];
	off_t next, end;

	assert_int_equal(opendir_ino(f, repo, &fi), 0);
	assert_int_equal(fi.cache_readdir, 1); /* a commit's folder never changes */
	readdir_into(f, repo, &fi, false, 4096, 0, all, sizeof(all), &end);
	/* The snapshot's order: sorted by path. */
	assert_string_equal(all, ". .. cold.bin config.json model.bin sub");
	readdir_into(f, repo, &fi, false, 4096, end, rest, sizeof(rest), &next);
	assert_string_equal(rest, ""); /* at the end */

	/* A buffer of three entries, then the rest from where it stopped. */
	readdir_into(f, repo, &fi, false, dirent_len(".") + dirent_len("..") + dirent_len("cold.bin"),
		     0, part, sizeof(part), &next);
	assert_string_equal(part, ". .. cold.bin");
	readdir_into(f, repo, &fi, false, 4096, next, rest, sizeof(rest), &next);
	snprintf(joined, sizeof(joined), "%s %s", part, rest);
	assert_string_equal(joined, all);

	/* readdirplus: the same names, each child with its node. */
	readdir_into(f, repo, &fi, true, 4096, 0, part, sizeof(part), &next);
	assert_string_equal(part, all);

	{
		struct fuse_req r;

		req_init(&r, &f->fs);
		fs_ops.releasedir(&r, repo, &fi);
		assert_int_equal(r.replies, 1);
		assert_int_equal(r.kind, REPLY_ERR);
		assert_int_equal(r.err, 0);
	}
	assert_int_equal(opendir_ino(f, config, &fi), ENOTDIR);
	assert_int_equal(opendir_ino(f, 999999, &fi), ENOENT);

	forget(f, config);
	forget(f, repo);
	forget(f, org);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

#define READERS 8
#define CHUNK (128u << 10)

struct reader {
	struct fs *fs;
	fuse_ino_t ino;
	struct fuse_file_info *shared; /* NULL: opens the file itself */
	const uint8_t *want;
	unsigned stripe;               /* shared: reads chunks stripe, stripe + READERS, ... */
	unsigned wrong;                /* chunks whose bytes were not the file's */
};

static void *reader_main(void *r_)
{
	struct reader *r = r_;
	struct fuse_file_info own, *fi = r->shared;
	uint8_t *buf = malloc(CHUNK);
	unsigned step = r->shared ? READERS : 1;

	if (!buf) {
		r->wrong++;
		return NULL;
	}
	if (!fi) {
		struct fuse_req q;

		memset(&own, 0, sizeof(own));
		own.flags = O_RDONLY;
		req_init(&q, r->fs);
		fs_ops.open(&q, r->ino, &own);
		if (q.replies != 1 || q.kind != REPLY_OPEN) {
			r->wrong++;
			free(buf);
			return NULL;
		}
		own = q.fi;
		fi = &own;
	}
	for (uint64_t off = (uint64_t)(r->shared ? r->stripe : 0) * CHUNK; off < MODEL_SIZE;
	     off += (uint64_t)step * CHUNK) {
		size_t want = MODEL_SIZE - off < CHUNK ? MODEL_SIZE - off : CHUNK;
		ssize_t n = read_req(r->fs, r->ino, fi, buf, CHUNK, (off_t)off);

		if (n != (ssize_t)want || memcmp(buf, r->want + off, want) != 0)
			r->wrong++;
	}
	if (!r->shared) {
		struct fuse_req q;

		req_init(&q, r->fs);
		fs_ops.release(&q, r->ino, fi);
		if (q.replies != 1 || q.kind != REPLY_ERR || q.err != 0)
			r->wrong++;
	}
	free(buf);
	return NULL;
}

/*
 * Readers at once, half of them on one open file (as the kernel sends
 * reads of one handle from several threads), with read-ahead planning
 * and its workers running: every one gets the file's bytes.
 */
static void test_concurrent_readers(void **state)
{
	struct fx *f = *state;
	struct fuse_file_info shared;
	fuse_ino_t org, repo = lookup_repo(f, &org);
	fuse_ino_t model = lookup(f, repo, "model.bin");
	struct reader readers[READERS];
	pthread_t threads[READERS];

	f->fs.opts.prefetch_blocks = 4;
	assert_int_equal(fs_prefetch_start(&f->fs, 2, 4), 0);
	assert_int_equal(open_file(f, model, O_RDONLY, &shared), 0);
	for (unsigned i = 0; i < READERS; i++) {
		readers[i] = (struct reader){
			.fs = &f->fs, .ino = model, .want = f->model->data,
			.shared = i % 2 ? &shared : NULL, .stripe = i,
		};
		assert_int_equal(pthread_create(&threads[i], NULL, reader_main, &readers[i]), 0);
	}
	for (unsigned i = 0; i < READERS; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(readers[i].wrong, 0);
	}
	release(f, model, &shared);
	fs_prefetch_stop(&f->fs);

	forget(f, model);
	forget(f, repo);
	forget(f, org);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

/*
 * Content that failed its hash: its open files fail from then on, an open
 * of its inode is ESTALE (the kernel then looks the name up again), and
 * that lookup finds a new inode, which serves the content anew. The old
 * node goes once the kernel forgets it.
 */
static void test_failed_content_retires_its_inode(void **state)
{
	struct fx *f = *state;
	struct fuse_file_info fi, fi2;
	fuse_ino_t org, repo = lookup_repo(f, &org);
	fuse_ino_t old = lookup(f, repo, "config.json"), fresh;
	struct fs_node *n = fs_node_get(&f->fs, old);
	struct cache_key key;
	char buf[400];

	assert_non_null(n);
	repo_entry_key(&n->snap->entries[n->entry], &key);
	assert_int_equal(open_file(f, old, O_RDONLY, &fi), 0);
	assert_int_equal(read_at(&f->fs, old, &fi, buf, sizeof(buf), 0), 300);

	fs_poison_object(&f->fs, &key, 1); /* its first failure */
	assert_int_equal(read_at(&f->fs, old, &fi, buf, sizeof(buf), 0), -EIO);
	assert_int_equal(open_file(f, old, O_RDONLY, &fi2), ESTALE);
	fresh = lookup(f, repo, "config.json");
	assert_int_not_equal(fresh, old);
	assert_int_equal(lookup(f, repo, "config.json"), fresh); /* one new node, not one each */
	assert_int_equal(open_file(f, fresh, O_RDONLY, &fi2), 0);
	assert_int_equal(read_at(&f->fs, fresh, &fi2, buf, sizeof(buf), 0), 300);
	assert_memory_equal(buf, f->config->data, 300);
	/*
	 * A late report of a failure the new inode was made after (a read
	 * that began before it) leaves that inode and its open file alone.
	 */
	fs_poison_object(&f->fs, &key, fs_node_get(&f->fs, fresh)->born_rejects);
	assert_int_equal(read_at(&f->fs, fresh, &fi2, buf, sizeof(buf), 0), 300);
	assert_int_equal(lookup(f, repo, "config.json"), fresh);
	forget(f, fresh);
	release(f, fresh, &fi2);
	release(f, old, &fi);

	forget(f, fresh);
	forget(f, fresh);
	forget(f, old);
	forget(f, repo);
	forget(f, org);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

/*
 * The cache counted a failure of the content that nobody reported to the
 * mount yet (the thread that met it reports it after): an open of the old
 * inode, whose pages may hold that content, is ESTALE all the same, and
 * retires it, so that the kernel's new lookup finds a new inode.
 */
static void test_failure_not_yet_reported_retires_at_open(void **state)
{
	struct fx *f = *state;
	struct cache_error cerr = { 0 };
	struct fuse_file_info fi, fi2;
	fuse_ino_t org, repo = lookup_repo(f, &org);
	fuse_ino_t old = lookup(f, repo, "config.json"), fresh;
	char buf[400];

	assert_int_equal(open_file(f, old, O_RDONLY, &fi), 0);
	assert_int_equal(read_at(&f->fs, old, &fi, buf, sizeof(buf), 0), 300);
	cache_object_reject(f->cache, &f->config->key, "a test's refusal");
	assert_int_equal(open_file(f, old, O_RDONLY, &fi2), ESTALE);
	assert_int_equal(read_at(&f->fs, old, &fi, buf, sizeof(buf), 0), -EIO);
	assert_int_equal(open_file(f, old, O_RDONLY, &fi2), ESTALE); /* and again */
	fresh = lookup(f, repo, "config.json");
	assert_int_not_equal(fresh, old);
	/* The refusal removed the files: fetched again (offline here, so by hand). */
	assert_int_equal(cache_fill(f->cache, &f->config->key, &f->ms.src, &cerr), 0);
	assert_int_equal(open_file(f, fresh, O_RDONLY, &fi2), 0);
	/* The report of the failure, late: the new inode and its open file stay. */
	fs_poison_object(&f->fs, &f->config->key, cache_object_rejects(f->cache, &f->config->key));
	assert_int_equal(read_at(&f->fs, fresh, &fi2, buf, sizeof(buf), 0), 300);
	assert_memory_equal(buf, f->config->data, 300);
	assert_int_equal(lookup(f, repo, "config.json"), fresh);
	forget(f, fresh);
	release(f, fresh, &fi2);
	release(f, old, &fi);

	forget(f, fresh);
	forget(f, old);
	forget(f, repo);
	forget(f, org);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

/*
 * The kernel's pages are dropped at once, whatever the read-ahead does: a
 * fetch stalled on the Hub held its only worker, and the drop waited for
 * the fetch's deadline (3.7 s of a 4 s one here, up to 120 s by
 * default), and a queue full of drops lost the rest (256 of 300 ran).
 * Drops of one inode pending at once are one drop, widened.
 */
static void test_page_drops_do_not_wait_for_fetches(void **state)
{
	struct fx *f = *state;
	struct fuse_file_info fi;
	fuse_ino_t org, repo = lookup_repo(f, &org);
	fuse_ino_t cold = lookup(f, repo, "cold.bin");
	struct fs_handle *h;
	int64_t t0;

	go_online(f, 3000);
	f->fs.opts.prefetch_blocks = 4;
	assert_int_equal(fs_inval_start(&f->fs), 0);
	assert_int_equal(fs_prefetch_start(&f->fs, 1, 1), 0);
	assert_int_equal(open_file(f, cold, O_RDONLY, &fi), 0);
	h = (struct fs_handle *)(uintptr_t)fi.fh;
	fs_prefetch_block(&f->fs, h, 0);
	for (int i = 0; i < 2000 && atomic_load(&f->stall.accepted) == 0; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&f->stall.accepted), 1); /* the one worker waits on the Hub */

	t0 = time_mono_ms();
	fs_inval(&f->fs, cold);
	assert_int_equal(wait_for_drops(1, 2000), 1);
	assert_true(drops[0].at_ms - t0 < 500);
	assert_int_equal(drops[0].ino, cold);
	assert_int_equal(drops[0].len, 0);

	/* 300 inodes at once: every one dropped. */
	for (fuse_ino_t ino = 1000; ino < 1300; ino++)
		fs_inval_range(&f->fs, ino, 4096, 8192);
	assert_int_equal(wait_for_drops(301, 2000), 301);
	for (unsigned i = 1; i < 301; i++) {
		assert_int_equal(drops[i].ino, 1000 + i - 1);
		assert_int_equal(drops[i].off, 4096);
		assert_int_equal(drops[i].len, 8192);
	}
	release(f, cold, &fi);
	fs_prefetch_stop(&f->fs);
	fs_inval_stop(&f->fs);

	/* Pending together, ranges of one inode widen; apart ones take the file. */
	pthread_mutex_lock(&drops_lock);
	n_drops = 0;
	pthread_mutex_unlock(&drops_lock);
	assert_int_equal(fs_inval_start(&f->fs), 0);
	pthread_mutex_lock(&drops_lock); /* the thread waits for this lock to report */
	fs_inval_range(&f->fs, 7, 0, 100);  /* taken at once; reports once unlocked */
	usleep(20000);
	fs_inval_range(&f->fs, 8, 4096, 4096);
	fs_inval_range(&f->fs, 8, 8192, 4096);  /* meets it: [4096, 12288) */
	fs_inval_range(&f->fs, 9, 0, 4096);
	fs_inval_range(&f->fs, 9, 1 << 20, 4096); /* apart: the whole file */
	pthread_mutex_unlock(&drops_lock);
	assert_int_equal(wait_for_drops(3, 2000), 3);
	usleep(20000);
	assert_int_equal(drops_seen(), 3);
	assert_int_equal(drops[1].ino, 8);
	assert_int_equal(drops[1].off, 4096);
	assert_int_equal(drops[1].len, 8192);
	assert_int_equal(drops[2].ino, 9);
	assert_int_equal(drops[2].off, 0);
	assert_int_equal(drops[2].len, 0);

	forget(f, cold);
	forget(f, repo);
	forget(f, org);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

/*
 * The stop waits a second at most for a drop the kernel holds up (page
 * locks of reads queued there, which nobody answers once the session
 * loop has ended): joined without a bound, it held up the unmount that
 * would free them. The thread is joined after the unmount.
 */
static void test_page_drops_stop_in_bounded_time(void **state)
{
	struct fx *f = *state;
	int64_t t0, took;

	assert_int_equal(fs_inval_start(&f->fs), 0);
	pthread_mutex_lock(&drops_lock); /* the "kernel" holds the drop up */
	fs_inval(&f->fs, 5);
	usleep(50000);
	t0 = time_mono_ms();
	fs_inval_stop(&f->fs);
	took = time_mono_ms() - t0;
	assert_true(took >= 800 && took < 2000);
	assert_non_null(f->fs.inval); /* still to be joined */
	pthread_mutex_unlock(&drops_lock); /* the unmount aborts what held it */
	fs_inval_finish(&f->fs);
	assert_null(f->fs.inval);
	assert_int_equal(drops_seen(), 1);
}

/*
 * A read whose request gave up (a signal) while its fetch stalls is kept
 * for the same read asked again, but not for a file opened after a
 * refusal of the content: that one reads anew, for the bytes of the read
 * begun before may be of the content refused, which nothing records any
 * more. It adopted it before: no new helper, the old read's bytes.
 */
static void test_a_read_after_a_refusal_starts_anew(void **state)
{
	struct fx *f = *state;
	struct fuse_file_info fi, fi2;
	fuse_ino_t org, repo = lookup_repo(f, &org);
	fuse_ino_t old = lookup(f, repo, "cold.bin"), fresh;
	char buf[4096];

	go_online(f, 5000);
	assert_int_equal(open_file(f, old, O_RDONLY, &fi), 0);
	atomic_store(&interrupt_requests, true);
	assert_int_equal(read_at(&f->fs, old, &fi, buf, sizeof(buf), 0), -EINTR);
	assert_int_equal(helpers(f), 1); /* its fetch goes on, kept for the same read */
	assert_int_equal(read_at(&f->fs, old, &fi, buf, sizeof(buf), 0), -EINTR);
	assert_int_equal(helpers(f), 1); /* asked again: adopted */

	cache_object_reject(f->cache, &f->cold->key, "a test's refusal");
	assert_int_equal(open_file(f, old, O_RDONLY, &fi2), ESTALE);
	fresh = lookup(f, repo, "cold.bin");
	assert_int_not_equal(fresh, old);
	assert_int_equal(open_file(f, fresh, O_RDONLY, &fi2), 0);
	assert_int_equal(read_at(&f->fs, fresh, &fi2, buf, sizeof(buf), 0), -EINTR);
	assert_int_equal(helpers(f), 2); /* a fetch of its own */
	atomic_store(&interrupt_requests, false);
	release(f, fresh, &fi2);
	release(f, old, &fi);
	fs_helpers_drain(&f->fs);

	forget(f, fresh);
	forget(f, old);
	forget(f, repo);
	forget(f, org);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

struct parked_reader {
	struct fs *fs;
	fuse_ino_t ino;
	struct fuse_file_info *fi;
	ssize_t n;
};

static void *parked_reader_main(void *arg)
{
	struct parked_reader *p = arg;
	char buf[4096];

	p->n = read_req(p->fs, p->ino, p->fi, buf, sizeof(buf), 0);
	return NULL;
}

/*
 * The mount ends (serve()'s steps) while a read waits on a Hub that never
 * answers: the read is answered at once with ECONNABORTED, what the kernel
 * answers a request its daemon left, not EIO, which says the data failed.
 */
static void test_a_read_parked_when_the_mount_ends(void **state)
{
	struct fx *f = *state;
	struct fuse_file_info fi;
	fuse_ino_t org, repo = lookup_repo(f, &org);
	fuse_ino_t cold = lookup(f, repo, "cold.bin");
	struct parked_reader p = { .fs = &f->fs, .ino = cold, .fi = &fi };
	pthread_t reader;
	int64_t t0;

	go_online(f, 30000);
	assert_int_equal(open_file(f, cold, O_RDONLY, &fi), 0);
	assert_int_equal(pthread_create(&reader, NULL, parked_reader_main, &p), 0);
	for (int i = 0; i < 2000 && atomic_load(&f->stall.accepted) == 0; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&f->stall.accepted), 1); /* its fetch waits on the Hub */

	t0 = time_mono_ms();
	atomic_store(&f->fs.stopping, true);
	hub_client_cancel(f->fs.deps.hub);
	fs_parked_stop(&f->fs);
	pthread_join(reader, NULL);
	assert_int_equal(p.n, -ECONNABORTED);
	assert_true(time_mono_ms() - t0 < 2000);
	fs_helpers_drain(&f->fs);
	atomic_store(&f->fs.stopping, false);

	release(f, cold, &fi);
	forget(f, cold);
	forget(f, repo);
	forget(f, org);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_open),
		TEST(test_read_cached),
		TEST(test_read_absent_offline),
		TEST(test_getattr),
		TEST(test_readdir),
		TEST(test_concurrent_readers),
		TEST(test_failed_content_retires_its_inode),
		TEST(test_failure_not_yet_reported_retires_at_open),
		TEST(test_page_drops_do_not_wait_for_fetches),
		TEST(test_a_read_after_a_refusal_starts_anew),
		TEST(test_page_drops_stop_in_bounded_time),
		TEST(test_a_read_parked_when_the_mount_ends),
	};

	if (hub_global_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
