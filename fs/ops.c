/* SPDX-License-Identifier: MIT */
/*
 * The FUSE low-level callbacks and the mount's life cycle.
 *
 * The tree is read-only: the mount is made with "ro", so the kernel answers
 * every write with EROFS before it reaches us. fs_errno_for_kernel() is
 * the one place where internal negative errno values become kernel
 * replies; a read that fails is logged once per open file, naming repo,
 * revision, file and reason.
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/iobuf.h"
#include "util/log.h"
#include "util/memroom.h"
#include "util/time.h"

/*
 * libfuse 3.14 stops at 10 worker threads by default, and a request that
 * waits for the Hub holds its thread until it is answered, interrupted or
 * timed out: with every worker waiting, nobody reads /dev/fuse, and a read
 * of a cached file, an `ls` and the kernel's INTERRUPTs queue behind the
 * stalled (300 direct readers of a stalled file held a cached read 26.8 s
 * at 256 workers). Each waiting thread costs ~20 KiB of memory and a
 * stack's address space; libfuse starts them only as requests wait, and
 * lets all but FUSE_MAX_IDLE_THREADS go once they are answered. A read
 * that waits holds none: it is parked (read_park()). Lookups, listings,
 * opens and getxattr still wait on their worker.
 */
#define FUSE_MAX_THREADS 4096
#define FUSE_MAX_IDLE_THREADS 16
#define FUSE_MAX_BACKGROUND 192  /* below FUSE_MAX_THREADS: each may hold a thread */

int fs_errno_for_kernel(int rc)
{
	switch (-rc) {
	case ENOENT:
	case EACCES:
	case ENOMEM:
	case EFBIG:
	case ENOTDIR:
	case EISDIR:
	case EROFS:
	case ENAMETOOLONG:
	case ENOSPC:
	case EINTR:
	case ENODATA:
	case ERANGE:
	case EINVAL:
	case ESTALE: /* the kernel looks the name up again (fs_op_open()) */
		return -rc;
	case ECANCELED:
		/*
		 * The mount is stopping (nothing else cancels): what the kernel
		 * answers a request its daemon left, not a failure of the data.
		 */
		return ECONNABORTED;
	default:
		/* Integrity, protocol and network failures: what storage says. */
		return EIO;
	}
}

/*
 * List @o, unless it opens file node @retirable (NULL: a directory) and
 * that node is retired (fs_nodes_retire_locked()): false then. Under the
 * lock that retires nodes and poisons their open files, so an open is
 * either refused or listed in time to be poisoned.
 */
static bool track_open(struct fs *fs, struct fs_open *o, void (*free_fn)(struct fs_open *),
		       const struct fs_node *retirable)
{
	bool listed;

	o->fs = fs;
	o->free = free_fn;
	pthread_mutex_lock(&fs->lock);
	listed = !retirable || !retirable->retired;
	if (listed) {
		o->next = fs->open_items.next;
		o->prev = &fs->open_items;
		fs->open_items.next->prev = o;
		fs->open_items.next = o;
	}
	pthread_mutex_unlock(&fs->lock);
	return listed;
}

/* Was @n retired (fs_nodes_retire_locked())? */
static bool node_retired(struct fs *fs, const struct fs_node *n)
{
	bool retired;

	pthread_mutex_lock(&fs->lock);
	retired = n->retired;
	pthread_mutex_unlock(&fs->lock);
	return retired;
}

static void untrack_open(struct fs *fs, struct fs_open *o)
{
	pthread_mutex_lock(&fs->lock);
	o->prev->next = o->next;
	o->next->prev = o->prev;
	pthread_mutex_unlock(&fs->lock);
}

static void reply_err(fuse_req_t req, int rc)
{
	fuse_reply_err(req, fs_errno_for_kernel(rc < 0 ? rc : -EIO));
}

/*
 * A read of a file that was opened fails as storage fails: a Hub that no
 * longer has the file (a squashed history, a deleted repo) must not turn
 * f.read() into FileNotFoundError, which a loader may take for "try the
 * next format". EACCES stays: it is how a gated file's content is refused
 * (README); so does a read cut short by the mount's end. The log line keeps
 * the Hub's answer.
 */
static void reply_read_err(fuse_req_t req, int rc)
{
	switch (-rc) {
	case EACCES:
	case EINTR:
	case ENOMEM:
	case ENOSPC:
	case ECANCELED:
		fuse_reply_err(req, fs_errno_for_kernel(rc));
		return;
	default:
		fuse_reply_err(req, EIO);
	}
}

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct fs_node *node_of(fuse_req_t req, fuse_ino_t ino)
{
	return fs_node_get(fs_of(req), ino);
}

/*
 * The kernel's read-ahead for a hubfs file, and so what one page fault of
 * a mapping reads around it: one 1 MiB request. 4 MiB was measured too
 * (docs/benchmarks.md, sixth session): no faster within this machine's
 * noise, and a mapping read at random would read four times as much
 * around each fault. Requests are synchronous (below), so a larger window
 * only sends more of them one after the other.
 */
#define READ_AHEAD_KIB 1024u

/*
 * A push of a block this mount stored is spliced from its file, a piece
 * at a time: libfuse splices a message only through a pipe that holds it
 * whole, and a 512 KiB piece with its header takes a pipe of 1 MiB, the
 * default pipe-max-size (a 1 MiB piece would need more: EPERM without
 * CAP_SYS_RESOURCE).
 */
#define SPLICE_PIECE (512u << 10)
#define SPLICE_PIPE_SIZE (1 << 20)

/*
 * Can this process's pipes hold a spliced push? Where they cannot, libfuse
 * would copy the file into a buffer of its own and send that, with nobody
 * reading the CRCs: pushes then read and check the bytes themselves.
 */
static bool pipes_hold_a_push(void)
{
	int p[2];
	bool ok;

	if (pipe2(p, O_CLOEXEC) < 0)
		return false;
	ok = fcntl(p[0], F_SETPIPE_SZ, SPLICE_PIPE_SIZE) >= SPLICE_PIPE_SIZE;
	close(p[0]);
	close(p[1]);
	return ok;
}

static void fs_op_init(void *fs_, struct fuse_conn_info *conn)
{
	struct fs *fs = fs_;

	/*
	 * Big read-ahead windows: the content behind them is immutable. The
	 * kernel keeps the smaller of this and the mount's read_ahead_kb
	 * (raise_readahead()) once this INIT is answered.
	 */
	if (conn->max_readahead < READ_AHEAD_KIB * 1024)
		conn->max_readahead = READ_AHEAD_KIB * 1024;
	/*
	 * libfuse sizes max_pages (the largest read request) from max_write:
	 * 1 MiB requests instead of 128 KiB cut the per-request cost of a
	 * warm read several times.
	 */
	conn->max_write = FS_MAX_WRITE;
	/*
	 * `ls -l` asks every file for its ACL (and its SELinux label). With
	 * POSIX ACLs on, the kernel remembers "none" per inode instead of
	 * asking us again at every listing; there are none to enforce on a
	 * read-only tree of 0444 files.
	 */
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	/*
	 * Lookups and readdirs of one folder at once: the kernel otherwise
	 * holds the folder's lock across each, and a name stalled on the Hub
	 * holds every sibling's first lookup (uninterruptibly) for as long.
	 * The namespace is safe for it: fs->lock guards the node tables.
	 * libfuse before 3.16 does not pass the flag on (this machine's 3.14
	 * neither): there, the wait is bounded by --op-timeout (hubfs.1, BUGS).
	 */
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/*
	 * The kernel queues read-ahead behind at most max_background requests
	 * (12 by default): a dozen readers stuck on a stalled Hub would hold
	 * every slot, and a read of a cached file would wait behind them.
	 * Unprivileged mounts are capped by /proc/sys/fs/fuse/max_user_bgreq.
	 */
	conn->max_background = FUSE_MAX_BACKGROUND;
	conn->congestion_threshold = FUSE_MAX_BACKGROUND * 3 / 4;
	/*
	 * With asynchronous reads the kernel reads pages in the background
	 * while the reader sleeps on the page, where only a fatal signal
	 * reaches it: a Python reader (SIGINT handled) would wait for the
	 * fetch. Synchronous reads are sent as the reader's own requests, so
	 * a signal makes the kernel send INTERRUPT and the read fails with
	 * EINTR. Read-ahead across the Hub is our own (prefetch.c).
	 */
	conn->want &= ~FUSE_CAP_ASYNC_READ;
	/*
	 * The same for O_DIRECT: with asynchronous direct I/O the kernel
	 * waits for its requests uninterruptibly, so a reader that opened the
	 * file O_DIRECT (dd iflag=direct, some loaders) stayed in D state,
	 * deaf even to SIGKILL, until the fetch ended or its deadline passed.
	 */
	conn->want &= ~FUSE_CAP_ASYNC_DIO;
	/*
	 * Splice the blocks pushed ahead of a reader from the files this
	 * mount has just stored (push_block()): the kernel copies them from
	 * the block files' pages, and we neither read them back nor pin a
	 * buffer. A cold `cat` of 1 GiB took 7-10% less time
	 * (docs/benchmarks.md, a nineteenth session). Replies to reads are
	 * written from memory as before.
	 */
	if ((conn->capable & FUSE_CAP_SPLICE_WRITE) && pipes_hold_a_push()) {
		conn->want |= FUSE_CAP_SPLICE_WRITE;
		atomic_store(&fs->splice_pushes, true);
	}
	log_dbg("pushes ahead of a reader are %s", atomic_load(&fs->splice_pushes) ?
		  "spliced from the blocks this mount stores" : "copied");
}

static void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fs_node *dir = node_of(req, parent), *n = NULL;
	struct fuse_entry_param e;
	struct fs_wait w;
	double timeout;
	int rc;

	memset(&e, 0, sizeof(e));
	if (!dir) {
		reply_err(req, -ENOENT);
		return;
	}
	/* statfs says so: a longer name is no name of ours, nor any on the Hub. */
	if (strlen(name) > FS_NAME_MAX) {
		reply_err(req, -ENAMETOOLONG);
		return;
	}
	fs_wait_init(&w, fs, req);
	rc = fs_lookup(fs, &w, dir, name, &n);
	if (rc == -ENOENT) {
		/* A negative entry: the kernel will not ask again for a while. */
		e.ino = 0;
		e.entry_timeout = (double)fs->opts.negative_ttl_secs;
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc == 0)
		rc = fs_node_stat(fs, &w, n, &e.attr, &timeout);
	if (rc < 0) {
		if (n)
			fs_node_forget(fs, n, 1);
		reply_err(req, rc);
		return;
	}
	e.ino = n->ino;
	e.entry_timeout = timeout;
	e.attr_timeout = timeout;
	if (fuse_reply_entry(req, &e) != 0)
		fs_node_forget(fs, n, 1); /* the kernel never got it */
}

static void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs_node *n = node_of(req, ino);

	if (n)
		fs_node_forget(fs_of(req), n, nlookup);
	fs_table_trim(fs_of(req));
	fuse_reply_none(req);
}

static void fs_op_forget_multi(fuse_req_t req, size_t count,
			       struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++) {
		struct fs_node *n = node_of(req, forgets[i].ino);

		if (n)
			fs_node_forget(fs_of(req), n, forgets[i].nlookup);
	}
	fs_table_trim(fs_of(req));
	fuse_reply_none(req);
}

static void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_node *n = node_of(req, ino);
	struct fs_wait w;
	struct stat st;
	double timeout;
	int rc;

	(void)fi;
	fs_wait_init(&w, fs_of(req), req);
	rc = n ? fs_node_stat(fs_of(req), &w, n, &st, &timeout) : -ENOENT;
	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	fuse_reply_attr(req, &st, timeout);
}

/* ---- directories ---- */

static void free_dir(struct fs_open *o)
{
	struct fs_dir *d = (struct fs_dir *)((char *)o - offsetof(struct fs_dir, open));

	fs_names_release(&d->names);
	repo_snapshot_unref(d->snap);
	fs_node_release(o->fs, d->node);
	free(d);
}

static void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_node *n = node_of(req, ino);
	struct fs_dir *d = calloc(1, sizeof(*d));
	struct fs_wait w;
	int rc = !d ? -ENOMEM : !n ? -ENOENT : 0;

	fs_wait_init(&w, fs, req);
	if (rc == 0 && (n->kind == NODE_REPO || n->kind == NODE_ENTRY)) {
		rc = fs_node_snapshot(fs, &w, n, &d->snap, &d->dir);
		if (rc == 0 && !d->snap->entries[d->dir].is_dir)
			rc = -ENOTDIR;
	} else if (rc == 0) {
		rc = fs_virtual_list(fs, &w, n, &d->names);
	}
	if (rc < 0) {
		if (d)
			repo_snapshot_unref(d->snap);
		free(d);
		reply_err(req, rc);
		return;
	}
	d->node = n;
	fs_node_hold(fs, n);
	track_open(fs, &d->open, free_dir, NULL);
	fi->fh = (uint64_t)(uintptr_t)d;
	/* A commit's folder never changes: the kernel may keep what it read. */
	fi->cache_readdir = n->kind == NODE_REPO || n->kind == NODE_ENTRY;
	/* An entry's folder is of one commit; a repo folder's only when pinned. */
	fi->keep_cache = n->kind == NODE_ENTRY || (n->kind == NODE_REPO && n->repo->pinned);
	fuse_reply_open(req, fi);
}

/*
 * Readdir offsets. 0 starts the listing; an entry's offset is where the
 * next one begins: "." is followed by 1 (".."), ".." by 2 (the first
 * name). In a repo folder a name is followed by its next sibling's
 * snapshot index + OFF_FIRST_CHILD: O(1) to resume anywhere. In a folder
 * of names, name i is followed by i + 1 + OFF_FIRST_CHILD.
 */
enum { OFF_DOTDOT = 1, OFF_FIRST_CHILD = 2, OFF_END = INT32_MAX };

struct dir_cursor {
	const char *name;
	uint32_t index;      /* repo folders: the entry's index in the snapshot */
	bool is_child;       /* not "." or ".." */
	bool is_dir;
	off_t next;
};

/* The entry at offset @off of @d, or false at the end. */
static bool dir_entry_at(const struct fs_dir *d, off_t off, struct dir_cursor *c)
{
	uint32_t first;

	memset(c, 0, sizeof(*c));
	if (d->snap) {
		const struct repo_entry *v = d->snap->entries;

		first = v[d->dir].first_child;
		if (off == 0 || off == OFF_DOTDOT) {
			c->name = off == 0 ? "." : "..";
			c->is_dir = true;
			c->next = off == 0 ? OFF_DOTDOT :
				  first == REPO_NO_ENTRY ? OFF_END : (off_t)first + OFF_FIRST_CHILD;
			return true;
		}
		/* Only an index of this folder's children is a valid place. */
		if (off < OFF_FIRST_CHILD || off >= OFF_END ||
		    (uint64_t)(off - OFF_FIRST_CHILD) >= d->snap->n_entries ||
		    v[off - OFF_FIRST_CHILD].parent != d->dir)
			return false;
		c->index = (uint32_t)(off - OFF_FIRST_CHILD);
		c->is_child = true;
		c->name = v[c->index].name;
		c->is_dir = v[c->index].is_dir;
		c->next = v[c->index].next_sibling == REPO_NO_ENTRY ? OFF_END :
			  (off_t)v[c->index].next_sibling + OFF_FIRST_CHILD;
		return true;
	}
	if (off == 0 || off == OFF_DOTDOT) {
		c->name = off == 0 ? "." : "..";
		c->is_dir = true;
		c->next = off + 1;
		return true;
	}
	if (off < OFF_FIRST_CHILD || (uint64_t)(off - OFF_FIRST_CHILD) >= d->names.n)
		return false;
	c->name = d->names.v[off - OFF_FIRST_CHILD];
	c->is_child = true;
	c->is_dir = true;
	c->next = off + 1;
	return true;
}

/* The number stat will show for @c: readdir's d_ino is what `ls -i` prints. */
static uint64_t dirent_ino(struct fs *fs, const struct fs_dir *d, const struct dir_cursor *c)
{
	const struct repo_entry *e;
	struct cache_key key;

	if (!c->is_child) /* "." or ".." */
		return c->name[1] == '\0' || !d->node->parent ? d->node->st_ino :
								 d->node->parent->st_ino;
	if (!d->snap)
		return fs_child_ino(d->node->st_ino, c->name, NULL, 0);
	e = &d->snap->entries[c->index];
	if (e->is_dir)
		return fs_child_ino(d->node->st_ino, e->name, NULL, 0);
	repo_entry_key(e, &key);
	return fs_child_ino(d->node->st_ino, e->name, e->oid,
			    cache_object_rejects(fs->deps.cache, &key));
}

static void reply_readdir(fuse_req_t req, size_t size, off_t off,
			  struct fuse_file_info *fi, bool plus)
{
	struct fs *fs = fs_of(req);
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;
	char *out = malloc(size ? size : 1);
	struct dir_cursor c;
	size_t used = 0;
	bool plus_links = true;

	if (!out) {
		reply_err(req, -ENOMEM);
		return;
	}
	/*
	 * A repo folder opened before its branch moved lists the commit it was
	 * opened at, but links no names: under the repo's one node they would
	 * put the old commit's files back in place of the new (a long scandir
	 * that rewinds), each for another TTL.
	 */
	if (plus && d->snap && d->node->kind == NODE_REPO && !fs_repo_is_current(d->node->repo, d->snap))
		plus_links = false;
	for (; dir_entry_at(d, off, &c); off = c.next) {
		struct fuse_entry_param e = { 0 };
		struct fs_node *n = NULL;
		double timeout;
		size_t len;

		/*
		 * readdirplus: an entry of a commit is looked up here and now, so
		 * that `ls -l` costs no LOOKUP per name. Names in a folder of names
		 * are repos and orgs (a Hub request each): left to lookup (ino 0).
		 */
		if (plus && plus_links && d->snap && c.is_child &&
		    (n = fs_entry_lookup(fs, d->node, d->snap, c.index)) != NULL) {
			if (fs_node_stat(fs, NULL, n, &e.attr, &timeout) == 0) {
				e.ino = n->ino;
				e.entry_timeout = e.attr_timeout = timeout;
			} else {
				fs_node_forget(fs, n, 1);
				n = NULL;
			}
		}
		if (!n) { /* no attributes: the number and the type */
			memset(&e.attr, 0, sizeof(e.attr));
			e.attr.st_ino = dirent_ino(fs, d, &c);
			e.attr.st_mode = c.is_dir ? S_IFDIR : S_IFREG;
		}
		len = plus ? fuse_add_direntry_plus(req, out + used, size - used, c.name, &e,
						    c.next) :
			     fuse_add_direntry(req, out + used, size - used, c.name, &e.attr,
					       c.next);
		if (len > size - used) {
			if (n)
				fs_node_forget(fs, n, 1); /* not handed out */
			break;
		}
		used += len;
	}
	fuse_reply_buf(req, out, used);
	free(out);
}

static void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	(void)ino;
	reply_readdir(req, size, off, fi, false);
}

static void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			      struct fuse_file_info *fi)
{
	(void)ino;
	reply_readdir(req, size, off, fi, true);
}

static void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;

	(void)ino;
	untrack_open(fs_of(req), &d->open);
	free_dir(&d->open);
	fuse_reply_err(req, 0);
}

/* ---- files ---- */

/* Files smaller than this (64 MiB) are never completed in the background. */
#define COMPLETE_MIN_BLOCKS 16

static void handle_free(struct fs_handle *h)
{
	if (!h)
		return;
	repo_snapshot_unref(h->snap);
	if (h->node)
		fs_node_release(h->open.fs, h->node);
	pthread_mutex_destroy(&h->lock);
	fs_given_free(&h->given);
	free(h->asked);
	free(h);
}

/* Drop a reference to @h: the last frees it. */
static void handle_put(struct fs_handle *h)
{
	if (atomic_fetch_sub(&h->refs, 1) == 1)
		handle_free(h);
}

static void free_handle_item(struct fs_open *o)
{
	handle_put((struct fs_handle *)o); /* the first member */
}

void fs_poison_object(struct fs *fs, const struct cache_key *key, uint32_t rejects)
{
	fuse_ino_t *inos;
	size_t n;

	pthread_mutex_lock(&fs->lock);
	for (struct fs_open *o = fs->open_items.next; o != &fs->open_items; o = o->next) {
		struct fs_handle *h = (struct fs_handle *)o;

		if (o->free == free_handle_item && h->node->born_rejects < rejects &&
		    h->key.algo == key->algo && strcmp(h->key.hash, key->hash) == 0)
			atomic_store(&h->poisoned, true);
	}
	n = fs_nodes_retire_locked(fs, key, rejects, &inos);
	pthread_mutex_unlock(&fs->lock);
	for (size_t i = 0; inos && i < n; i++)
		fs_inval(fs, inos[i]);
	free(inos);
}

void fs_refuse_object(struct fs *fs, const struct repo_snapshot *snap,
		      const struct repo_entry *entry, const struct cache_key *key,
		      const char *why)
{
	const char *rev = snap->repo.revision[0] ? snap->repo.revision : "main";

	/* Poisoned first: once the line is there, the next open is a new inode. */
	fs_poison_object(fs, key, cache_object_rejects(fs->deps.cache, key));
	/*
	 * The unmount cancelled a read-ahead fetch whose first bytes a read was
	 * given: nobody is left to read them, and an error line at each such
	 * unmount only alarmed. Nothing on disk is wrong (refuse_told()).
	 */
	if (fs_ending(fs))
		log_info("%s@%s:%s: not checked, the mount ended: %s", snap->repo_key, rev,
			 entry->path, why[0] ? why : "verification failed");
	else
		log_err("%s@%s:%s: refused: %s", snap->repo_key, rev, entry->path,
			why[0] ? why : "verification failed");
}

static void log_read_failure(struct fs *fs, struct fs_handle *h, int rc,
			     const char *why)
{
	char name[600];

	fs_node_describe(fs, h->node, name, sizeof(name));
	if (rc == -EBADMSG)
		log_err("%s: refused: %s", name, why[0] ? why : "verification failed");
	else if (rc == -EINTR || rc == -ECANCELED)
		log_dbg("%s: read %s", name, rc == -EINTR ? "interrupted" : "cancelled");
	else
		log_warn("%s: read failed: %s", name, why[0] ? why : strerror(-rc));
}

/* A read being answered: what its answer and what follows it need. */
struct read_ctx {
	struct fs *fs;
	fuse_req_t req;
	fuse_ino_t ino;
	struct fs_handle *h;
	size_t size;
	off_t off;
	bool streaming;              /* push blocks ahead once answered (push_ahead()) */
};

/*
 * A cache call that may fetch, run on a helper thread so that the FUSE
 * request can end without it (wait.c). The job holds its own snapshot
 * ref, key and source: the file may be closed while the helper still
 * works, and what it fetches goes into the cache for the next reader.
 */
struct cache_job {
	pthread_mutex_t lock;
	pthread_cond_t done_cond;    /* done became true */
	/*
	 * Who holds it: its helper, a worker waiting on it, fs->parked,
	 * fs->orphans, a round of the watcher, a read taking it over.
	 * Guarded by lock.
	 */
	int refs;
	bool done;                   /* guarded by lock */
	bool fill;                   /* cache_fill() rather than cache_read() */
	int64_t deadline_ms;         /* the helper's Hub deadline */
	struct repo_snapshot *snap;    /* a ref: keeps entry and source valid */
	struct cache_key key;
	struct repo_source source;
	struct cache_source src;
	char *buf;                   /* read: size bytes; given to the request when done */
	size_t size;
	uint64_t offset;
	uint32_t rejects;            /* the refusals of its content when its file was opened */
	ssize_t result;              /* bytes read, or -errno; set once done */
	struct cache_error cerr;
	/*
	 * buf, handed over when its bytes were in before the block they came
	 * in was (cache_read_early(), which writes no more to it): the request
	 * answers with it, and the helper goes on storing the block. Guarded
	 * by lock.
	 */
	char *early_buf;
	bool answered_early;         /* guarded by lock */
	bool abandoned;              /* the request stopped waiting first; guarded by lock */
	struct cache_job *next_orphan; /* on fs->orphans; guarded by fs->orphans_lock */
	/*
	 * A parked read (read_park()): its request is answered by whoever
	 * takes req first, under lock: the helper with its bytes, or the
	 * thread that watches parked reads when the reader got a signal or
	 * the deadline passed. Nobody else touches the request.
	 */
	bool parked;                 /* guarded by lock */
	fuse_req_t req;              /* rd.req until taken; guarded by lock */
	struct read_ctx rd;          /* written before req is set, under lock */
	int64_t req_deadline_ms;     /* when the request stops waiting */
	bool adopted;                /* a read asked again took it over; guarded by lock */
	bool helper_pending;         /* no helper could start yet; guarded by lock */
	bool running;                /* its helper runs, or is being started; guarded by lock */
	int stop_rc;                 /* why the watcher answered it; the watcher's */
	struct cache_job *next_try;  /* the watcher's list of helpers to start */
	bool after_due, after_given; /* answered early: read_after() once stored (helper only) */
	struct cache_job *next_parked; /* on fs->parked; guarded by fs->parked_lock */
};

static void cache_job_put(struct cache_job *job)
{
	int left;

	pthread_mutex_lock(&job->lock);
	left = --job->refs;
	pthread_mutex_unlock(&job->lock);
	if (left)
		return;
	repo_snapshot_unref(job->snap);
	pthread_mutex_destroy(&job->lock);
	pthread_cond_destroy(&job->done_cond);
	iobuf_free(job->buf, job->size);
	iobuf_free(job->early_buf, job->size);
	free(job);
}

/* What a read that ends at @end may do with the file's last pages (check_end_read()). */
enum end_read {
	END_NOT_REACHED,  /* the read stops short of the end */
	END_VOUCHED,      /* a hash vouched for the content: the pages may stay */
	END_PENDING,      /* no verdict yet: answered, then its pages dropped */
	END_LOST,         /* no verdict can come for what was served: EIO */
};

/*
 * Does this read reach the file's end, and has a hash vouched for the
 * content? The read of the last block waits for the verdict, but under a
 * cap the running hash can lose a block it had yet to take (evicted, or
 * taken and fetched again for another reader), and a complete object can
 * lose one before its verification: then nothing is decided, and a reader
 * of the whole file would get success for bytes no hash covered (a soak
 * saw a wrong sha256 that way, of content refused a second before). After
 * such a loss since the inode was made (END_LOST) it gets EIO instead, and
 * the content is refused, so that the next open fetches and hashes anew.
 * Any read of the end, not only one of a run from the first byte: the
 * page cache is the inode's, and a reader from the first byte finds the
 * pages other opens read there (under a 12 MiB cap four readers of a 41
 * MiB file each read a part, none a run from 0 to the end, and all four
 * got a wrong sha256 with success, 326 times in 18 s of a soak).
 * With no loss yet and no verdict (a footer read, the object incomplete:
 * END_PENDING), the read is answered, but its pages must not stay: the
 * verdict may be lost later, and a whole reader would then find them and
 * never ask. So the last pages stay in the page cache only with a verdict
 * (here, or pushed: push_block()), and every reader of the end asks us.
 */
static enum end_read check_end_read(struct fs *fs, struct fs_handle *h, uint64_t end)
{
	struct cache_object_info in;

	if (end < h->entry->size)
		return END_NOT_REACHED;
	cache_object_info(fs->deps.cache, &h->key, &in);
	if (in.vouched)
		return END_VOUCHED;
	return in.hash_losses != h->node->born_losses ? END_LOST : END_PENDING;
}

/*
 * A read whose request stopped waiting (a signal, its deadline) while its
 * helper still fetches is kept on fs->orphans until the helper ends, so
 * that the same read asked again adopts it instead of starting another
 * helper: Python retries a read that a timer's signal interrupted (PEP
 * 475) as often as the timer ticks, and each retry would otherwise add a
 * thread that lives until the stalled fetch's deadline. The list holds a
 * ref on each job; at most ORPHANS_MAX, the oldest let go first.
 */
#define ORPHANS_MAX 64

static void orphan_keep(struct fs *fs, struct cache_job *job)
{
	struct cache_job *drop = NULL, **p;
	size_t n = 0;

	pthread_mutex_lock(&fs->orphans_lock);
	pthread_mutex_lock(&job->lock);
	if (job->done) {
		/* Its helper ended meanwhile, and found it on no list. */
		pthread_mutex_unlock(&job->lock);
		pthread_mutex_unlock(&fs->orphans_lock);
		return;
	}
	job->refs++;
	pthread_mutex_unlock(&job->lock);
	job->next_orphan = fs->orphans;
	fs->orphans = job;
	for (p = &fs->orphans; *p; p = &(*p)->next_orphan) {
		if (++n > ORPHANS_MAX) {
			drop = *p; /* the oldest; none is after it */
			*p = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&fs->orphans_lock);
	if (drop)
		cache_job_put(drop);
}

/* Take @job off fs->orphans, if it is there: its helper ended. */
static void orphan_forget(struct fs *fs, struct cache_job *job)
{
	bool found = false;

	pthread_mutex_lock(&fs->orphans_lock);
	for (struct cache_job **p = &fs->orphans; *p; p = &(*p)->next_orphan) {
		if (*p == job) {
			*p = job->next_orphan;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&fs->orphans_lock);
	if (found)
		cache_job_put(job);
}

/*
 * The orphaned read of @size bytes at @offset of @h's file, taken off the
 * list with its ref, which the caller now owns; NULL when there is none.
 * Only one started by a file opened under the same refusals of its
 * content: a file opened after a refusal reads anew (recent_failure()),
 * and the bytes of a read begun before it may be of the content refused,
 * which no served set records any more.
 */
static struct cache_job *orphan_adopt(struct fs *fs, const struct fs_handle *h,
				      size_t size, uint64_t offset)
{
	const struct cache_key *key = &h->key;
	struct cache_job *job = NULL;

	pthread_mutex_lock(&fs->orphans_lock);
	for (struct cache_job **p = &fs->orphans; *p; p = &(*p)->next_orphan) {
		struct cache_job *o = *p;

		if (o->size != size || o->offset != offset || o->rejects != h->rejects_at_open ||
		    o->key.algo != key->algo || o->key.size != key->size ||
		    strcmp(o->key.hash, key->hash) != 0)
			continue;
		*p = o->next_orphan;
		pthread_mutex_lock(&o->lock);
		o->abandoned = false; /* heard again: its request reports what it meets */
		pthread_mutex_unlock(&o->lock);
		job = o;
		break;
	}
	pthread_mutex_unlock(&fs->orphans_lock);
	return job;
}

static void fs_orphans_release(struct fs *fs)
{
	while (fs->orphans) {
		struct cache_job *job = fs->orphans;

		fs->orphans = job->next_orphan;
		cache_job_put(job);
	}
}

static bool read_answer(const struct read_ctx *rd, ssize_t n, char *buf,
			const struct cache_error *cerr, bool *given);
static void read_after(const struct read_ctx *rd, ssize_t n, bool given);
static void parked_remove(struct fs *fs, struct cache_job *job);

/*
 * cache_read_early()'s news: the bytes are in; the request answers now.
 * It runs on the thread that has the bytes: the job's helper, or for a
 * read that joined another's fetch, the fetching thread.
 */
static void cache_job_early(void *job_)
{
	struct cache_job *job = job_;
	struct cache_error none = { 0 };
	fuse_req_t req = NULL;
	char *buf = NULL;

	pthread_mutex_lock(&job->lock);
	if (job->parked) {
		/* Answered here, if its request still waits. */
		req = job->req;
		job->req = NULL;
		if (req) {
			buf = job->buf;
			job->buf = NULL;
			job->answered_early = true;
		}
	} else {
		job->early_buf = job->buf;
		job->buf = NULL;
		job->answered_early = true;
		pthread_cond_broadcast(&job->done_cond);
	}
	pthread_mutex_unlock(&job->lock);
	if (!req)
		return;
	parked_remove(job->rd.fs, job);
	/* What follows the answer waits until the block is stored (run_cache_job()). */
	job->after_due = read_answer(&job->rd, (ssize_t)job->size, buf, &none, &job->after_given);
	fs_status_read_end(job->rd.fs);
}

/*
 * Should a parked read's fetch that ended in @n be made anew? When it
 * timed out and the fetch was another's (one it joined in the cache, or
 * the read it took over), while its request waits and has time, as
 * cache_call() does. Decided under the lock that then marks the job done,
 * so that a read taking it over meanwhile is not answered with a stale
 * timeout.
 */
static bool parked_read_again_due(struct fs *fs, struct cache_job *job, ssize_t n, int again)
{
	bool joined = job->adopted || job->cerr.joined_fetch_failed;

	return n == -ETIMEDOUT && again < 3 && job->req && joined && !fs_ending(fs) &&
	       job->req_deadline_ms - hub_now_ms() > 2 * FS_WAIT_GRACE_MS;
}

static void run_cache_job(struct fs *fs, void *job_)
{
	struct cache_job *job = job_;
	int64_t prev = hub_deadline_set(job->deadline_ms);
	fuse_req_t req = NULL;
	char *buf = NULL;
	bool unheard;
	ssize_t n;

	for (int again = 0;; again++) {
		if (job->fill)
			n = cache_fill(fs->deps.cache, &job->key, &job->src, &job->cerr);
		else
			n = cache_read_early(fs->deps.cache, &job->key, &job->src, job->buf,
					     job->size, job->offset, &job->cerr, cache_job_early,
					     job);
		pthread_mutex_lock(&job->lock);
		if (job->fill || !parked_read_again_due(fs, job, n, again))
			break; /* with the lock: done, below */
		job->adopted = false;
		hub_deadline_set(job->req_deadline_ms - FS_WAIT_GRACE_MS);
		pthread_mutex_unlock(&job->lock);
		memset(&job->cerr, 0, sizeof(job->cerr));
	}
	hub_deadline_set(prev);
	job->result = n;
	job->done = true;
	if (job->parked) {
		/* Its request, if nobody answered it: the answer is this result. */
		req = job->req;
		job->req = NULL;
		if (req) {
			buf = job->buf;
			job->buf = NULL;
		}
	}
	unheard = job->answered_early || job->abandoned;
	pthread_cond_broadcast(&job->done_cond);
	pthread_mutex_unlock(&job->lock);
	if (job->after_due) {
		/*
		 * Answered early: the reader has read on since, from workers that
		 * push ahead themselves; pages pushed now would be pages it read
		 * (t2030 counted 1.9 MiB of 11 served twice).
		 */
		struct read_ctx rd = job->rd;

		rd.streaming = false;
		read_after(&rd, (ssize_t)job->size, job->after_given);
	}
	if (req) {
		bool given;

		parked_remove(fs, job);
		if (read_answer(&job->rd, n, buf, &job->cerr, &given))
			read_after(&job->rd, n, given);
		fs_status_read_end(fs);
	}
	/*
	 * The file failed its hash and no request waits to say so: it was
	 * answered before its block was stored, or it gave up (a signal, its
	 * deadline) while this fetch went on to complete the file.
	 */
	if (n == -EBADMSG && unheard)
		fs_refuse_object(fs, job->snap, job->source.entry, &job->key, job->cerr.message);
	if (unheard)
		orphan_forget(fs, job);
	cache_job_put(job);
}

/*
 * A job for @h's file, @size bytes at @offset (with @fill: all of it),
 * with @refs refs; NULL when out of memory.
 */
static struct cache_job *cache_job_new(struct fs *fs, struct fs_handle *h, bool fill,
				       size_t size, uint64_t offset, int refs)
{
	struct cache_job *job = calloc(1, sizeof(*job));

	if (job && !fill)
		job->buf = iobuf_alloc(size);
	if (!job || (!fill && !job->buf)) {
		free(job);
		return NULL;
	}
	pthread_mutex_init(&job->lock, NULL);
	pthread_cond_init(&job->done_cond, NULL);
	job->refs = refs;
	job->fill = fill;
	/*
	 * A read needs a block or two: one deadline for all of it. A fill
	 * (strict open) needs the whole file, however large: each Hub call
	 * gets a deadline of its own instead (0: per call).
	 */
	job->deadline_ms = fill ? 0 : hub_now_ms() + fs->deps.hub_config->op_timeout_ms;
	job->req_deadline_ms = job->deadline_ms + FS_WAIT_GRACE_MS;
	repo_snapshot_ref(h->snap);
	job->snap = h->snap;
	job->key = h->key;
	repo_source_init(&job->source, fs->deps.hub, h->snap, h->entry, &job->src);
	job->size = size;
	job->offset = offset;
	job->rejects = h->rejects_at_open;
	return job;
}

/*
 * Read (or, with @fill, fetch and verify all of) @h's file within @w.
 * Returns what the cache returned, with the bytes in *@out (malloc'ed,
 * the caller frees), or -EINTR / -ETIMEDOUT / -ECANCELED when the request
 * stopped waiting first; @cerr says why for the log.
 */
static ssize_t cache_call_once(struct fs *fs, const struct fs_wait *w, struct fs_handle *h,
			       bool fill, size_t size, uint64_t offset, char **out,
			       struct cache_error *cerr, bool *adopted)
{
	struct cache_job *job = fill || !adopted ? NULL : orphan_adopt(fs, h, size, offset);
	bool left = false;
	ssize_t rc = 0;

	*out = NULL;
	if (adopted)
		*adopted = job != NULL;
	if (job)
		goto wait; /* the same read, left by a request before: its helper goes on */
	job = cache_job_new(fs, h, fill, size, offset, 2);
	if (!job)
		return -ENOMEM;
	job->running = true; /* a read that takes it over needs no helper of its own */
	rc = fs_helper_run(fs, w, run_cache_job, job);
	if (rc < 0) {
		cache_job_put(job); /* the helper's, never started */
		cache_job_put(job);
		return rc;
	}
wait:
	pthread_mutex_lock(&job->lock);
	while (!job->done && !job->early_buf && rc == 0)
		rc = fs_wait_slice(fs, w, &job->done_cond, &job->lock);
	if (job->early_buf) {
		/* The bytes came before their block was stored: the helper goes on. */
		rc = (ssize_t)job->size;
		*out = job->early_buf;
		job->early_buf = NULL;
	} else if (job->done) {
		rc = job->result;
		*cerr = job->cerr;
		*out = job->buf;
		job->buf = NULL;
	} else {
		job->abandoned = true; /* the helper reports what it meets */
		left = !job->fill;
		if (rc == -ETIMEDOUT)
			snprintf(cerr->message, sizeof(cerr->message),
				 "no answer within the %.0f s deadline; the fetch goes on for "
				 "the next reader", fs->deps.hub_config->op_timeout_ms / 1000.0);
	}
	pthread_mutex_unlock(&job->lock);
	if (left)
		orphan_keep(fs, job);
	cache_job_put(job);
	return rc;
}

static ssize_t cache_call(struct fs *fs, const struct fs_wait *w, struct fs_handle *h,
			  bool fill, size_t size, uint64_t offset, char **out,
			  struct cache_error *cerr)
{
	bool adopted = false;
	ssize_t rc = cache_call_once(fs, w, h, fill, size, offset, out, cerr, &adopted);

	/*
	 * A fetch this read adopted (a signalled reader's) or joined in the
	 * cache (read-ahead's, another reader's) runs to the deadline of the
	 * request that began it: when that ran out (the Hub stalled then)
	 * while this request still has time, the read is made anew, not
	 * reported. A reader that came after the Hub was back got EIO once
	 * the first reader's stall timed out (a helper's review). A timeout
	 * of its own fetch (--stall-timeout, its deadline) is reported.
	 */
	for (int again = 0; rc == -ETIMEDOUT && (adopted || cerr->joined_fetch_failed) &&
			    again < 3 && fs_wait_check(fs, w) == 0 &&
			    w->deadline_ms - hub_now_ms() > 2 * FS_WAIT_GRACE_MS;
	     again++) {
		memset(cerr, 0, sizeof(*cerr));
		adopted = false;
		/* A failed read may still hand its buffer over: it is not the answer. */
		if (!fill)
			iobuf_free(*out, size);
		*out = NULL;
		rc = cache_call_once(fs, w, h, fill, size, offset, out, cerr, NULL);
	}
	return rc;
}

/*
 * A gated repo's content may be refused to this mount's token: say so at
 * the open, not at the first read, which tar had already begun to archive
 * (the file was stored as zeros, and cp left it empty). Until one file of
 * the commit reached the Hub's content, an open of a file with nothing
 * cached fetches its first bytes: the block a reader asks for next anyway.
 * 0, or the refusal (EACCES, EPERM). Other errors are left to the reads.
 */
static int check_gated_access(struct fs *fs, const struct fs_wait *w, struct fs_handle *h)
{
	struct cache_object_info info;
	struct cache_error cerr = { 0 };
	char *buf = NULL;
	ssize_t n;

	if (!h->snap->gated || h->entry->size == 0 || fs->opts.strict ||
	    atomic_load(&h->snap->content_reached))
		return 0;
	cache_object_info(fs->deps.cache, &h->key, &info);
	if (info.blocks_present > 0 || info.verified)
		return 0;
	n = cache_call(fs, w, h, false, 1, 0, &buf, &cerr);
	iobuf_free(buf, 1);
	if (n >= 0)
		atomic_store(&h->snap->content_reached, true);
	if (n == -EACCES || n == -EPERM) {
		log_read_failure(fs, h, (int)n, cerr.message);
		return (int)n;
	}
	return 0;
}

static void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_node *n = node_of(req, ino);
	struct fs_handle *h;
	struct fs_wait w;
	uint32_t idx;
	int rc;

	/* O_TRUNC too: the kernel truncates in the open itself (atomic_o_trunc)
	 * where the mount is rw (remount,rw), and "succeeded" left it size 0. */
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		reply_err(req, -EROFS);
		return;
	}
	if (!n || n->kind != NODE_ENTRY) {
		reply_err(req, n ? -EISDIR : -ENOENT);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		reply_err(req, -ENOMEM);
		return;
	}
	pthread_mutex_init(&h->lock, NULL);
	atomic_init(&h->refs, 1);
	fs_wait_init(&w, fs, req);
	rc = fs_node_snapshot(fs, &w, n, &h->snap, &idx);
	if (rc < 0) {
		free(h);
		reply_err(req, rc);
		return;
	}
	h->open.fs = fs;
	h->node = n;
	fs_node_hold(fs, n);
	h->entry = &h->snap->entries[idx];
	if (h->entry->is_dir) {
		handle_free(h);
		reply_err(req, -EISDIR);
		return;
	}
	repo_entry_key(h->entry, &h->key);
	/* O_DIRECT reads leave no pages behind: nothing to note for them. */
	fs_given_init(&h->given, fi->flags & O_DIRECT ? 0 : h->entry->size);
	/* For complete_in_background(); without the memory, never completed. */
	if (cache_blocks_for(h->entry->size) >= COMPLETE_MIN_BLOCKS)
		h->asked = calloc(cache_blocks_for(h->entry->size), 1);
	fs_node_hold_object(fs, n);
	h->rejects_at_open = cache_object_rejects(fs->deps.cache, &h->key);
	/*
	 * Its content failed since this inode was made, and the thread that
	 * met the failure has not retired the inode yet: the cache counts a
	 * failure first, and its caller reports it after (fs_refuse_object()).
	 * Meanwhile the inode's pages may hold the failed content, which
	 * keep_cache would give this open. Retired here (once: the walk over
	 * the nodes is not made again for an open of it after), and ESTALE at
	 * once, on which the kernel's new lookup finds a new inode; a --strict
	 * open does not fetch the file first.
	 */
	if (n->born_rejects < h->rejects_at_open) {
		if (!node_retired(fs, n))
			fs_poison_object(fs, &h->key, h->rejects_at_open);
		handle_free(h);
		reply_err(req, -ESTALE);
		return;
	}
	h->opened_ms = time_mono_ms();
	repo_source_init(&h->source, fs->deps.hub, h->snap, h->entry, &h->src);
	/*
	 * An empty file has nothing to fetch, and no read reaches the cache:
	 * its hash, of nothing, is checked here, so that user.hubfs.verified
	 * says 1 and a listing that names content for it is refused.
	 */
	if (h->entry->size == 0) {
		struct cache_error cerr = { 0 };

		rc = cache_fill(fs->deps.cache, &h->key, &h->src, &cerr);
		if (rc < 0) {
			log_read_failure(fs, h, rc, cerr.message);
			handle_free(h);
			reply_err(req, rc);
			return;
		}
	}
	if (fs->opts.strict) {
		struct cache_error cerr = { 0 };
		char *none;

		/*
		 * Strict: not one byte before the whole file is verified. That
		 * takes as long as the file takes, so this wait has no deadline
		 * of its own (each fetch has one), but a signal still ends it.
		 */
		w.deadline_ms = INT64_MAX;
		rc = (int)cache_call(fs, &w, h, true, 0, 0, &none, &cerr);
		if (rc < 0) {
			log_read_failure(fs, h, rc, cerr.message);
			handle_free(h);
			reply_err(req, rc);
			return;
		}
	}
	rc = check_gated_access(fs, &w, h);
	if (rc < 0) {
		handle_free(h);
		reply_err(req, rc);
		return;
	}
	/*
	 * Its content failed since the kernel looked the name up: ESTALE has
	 * the kernel look it up again, and that finds a new inode, whose
	 * pages are not the failed content's (fs_poison_object()).
	 */
	if (!track_open(fs, &h->open, free_handle_item, n)) {
		handle_free(h);
		reply_err(req, -ESTALE);
		return;
	}
	/* One inode is one commit's file, and never shows failed content twice. */
	fi->keep_cache = 1;
	fi->fh = (uint64_t)(uintptr_t)h;
	fuse_reply_open(req, fi);
}

/*
 * A run longer than this is a reader's piece, not one page fault's
 * read-around (1 MiB) or a record: the reader reads in pieces.
 */
#define STREAMED_RUN CACHE_BLOCK_SIZE
/*
 * A run shorter than this (12 MiB) after one longer than a block was a
 * random reader's piece (of up to 8 MiB, read around): see the ramp in
 * plan_read_ahead().
 */
#define RANDOM_PIECE_MAX (3 * (uint64_t)CACHE_BLOCK_SIZE)

/*
 * A file whose reads, out of order, asked for bytes of more than half its
 * blocks (@asked, counted by this open file) is being read whole (a
 * mapping's tensors in the header's order, not the file's): its missing
 * blocks come as read-ahead, from the lowest one up, @limit at a time, so
 * that the running hash, which needs them in order, keeps up, and the file
 * ends verified even if the reader stops. Before, the reader's last read
 * waited for the whole file's hash: of 3.4 s for a 1 GiB file mapped and
 * read in random 4 MiB order, 1.3 s. It costs at most as many blocks again
 * as the reader asked for. The blocks read-ahead fetched ahead of its runs
 * do not count: when they did, a reader of 40 random 4 MiB pieces, 16% of
 * 1 GiB, had all of it fetched (docs/benchmarks.md, a twenty-first
 * session). More than half must be on disk or arriving as well (arriving:
 * a read is answered once its own bytes are in, cache_read_early()): under
 * a cap that holds less, completing would evict what the reader reads.
 * Called without h->lock, for a file not yet being completed.
 */
static void complete_in_background(struct fs *fs, struct fs_handle *h, uint32_t blocks,
				   uint32_t limit, uint32_t asked)
{
	struct cache_object_info in;
	bool start;

	if (2 * (uint64_t)asked <= blocks)
		return;
	cache_object_info(fs->deps.cache, &h->key, &in);
	if (in.verified || in.blocks_total != blocks ||
	    2 * ((uint64_t)in.blocks_present + in.blocks_arriving) <= blocks)
		return;
	pthread_mutex_lock(&h->lock);
	start = !h->completing; /* another read of this file may have been first */
	h->completing = true;
	pthread_mutex_unlock(&h->lock);
	if (start)
		fs_prefetch_complete(fs, h, in.first_absent, limit);
}

/*
 * Sequential reads fetch ahead, further the longer the run. A run is the
 * span the reads of a handle cover while each lands within a block of it;
 * a read further away starts a new one. A run read in order (read(2), the
 * kernel's read-ahead) starts to count once it has read more than half a
 * block: the kernel's own read-ahead after a small read (a safetensors
 * header) must not cost another block, nor must one page fault in a
 * mapping whose pages the kernel fills 2 MiB at a time (torch's mmap of a
 * safetensors or torch.save file): that arrives as two 1 MiB reads,
 * exactly half a block. A run read out of order counts past two and a
 * half blocks, more than a random reader of 4 MiB pieces covers: the
 * pieces the kernel reads around a page fault may come in any order.
 * (Kernel 6.18 with the 1 MiB read-ahead sends them in order, 1 MiB at
 * a time, from 512 KiB before the piece to 512 KiB past it.)
 * The limit is prefetch_blocks, or the read-ahead window when it is wider:
 * a lone reader may keep the whole window busy, as a download would, and
 * gets there within a few blocks (below).
 */
static bool plan_read_ahead(struct fs *fs, struct fs_handle *h, uint64_t off,
			    size_t size)
{
	uint32_t blocks = cache_blocks_for(h->entry->size);
	uint32_t here = (uint32_t)(off / CACHE_BLOCK_SIZE), want = 0, from, to, limit, window;
	uint32_t last = size ? (uint32_t)((off + size - 1) / CACHE_BLOCK_SIZE) : here;
	uint64_t cap = fs->deps.cache_options ? fs->deps.cache_options->max_bytes : 0;
	uint32_t cap_blocks = cap / CACHE_BLOCK_SIZE > UINT32_MAX ? UINT32_MAX :
			      (uint32_t)(cap / CACHE_BLOCK_SIZE);
	uint64_t reach;
	uint32_t asked;
	bool after_piece, may_complete, speculate, streaming;

	if (!fs->opts.prefetch_blocks || blocks <= 1 || (cap && cap_blocks <= 2))
		return false;
	/*
	 * Twice the window: of the blocks ahead of a reader some have
	 * arrived and wait to be read, and only a window kept full of
	 * fetches widens (hub/pace.h). With the window alone as the
	 * horizon it never grew past 16 under a 30 ms link.
	 */
	window = fs_prefetch_window(fs);
	limit = 2 * window;
	if (limit < fs->opts.prefetch_blocks)
		limit = fs->opts.prefetch_blocks;
	/*
	 * Under a cap, no more ahead than it holds beside the block the
	 * reader is in, the one it left and one of margin (each block file
	 * is a few KiB over its 4 MiB: 12 MiB holds two). More would evict
	 * the block the reader is in, or one the running hash still awaits,
	 * for blocks not read yet: under a 9 MiB cap the next open of an 11
	 * MiB file did both, and read EIO (t2012). The block left is kept
	 * for the kernel's reads of a page or two behind the reader (see
	 * run_in_order below): fetched again once hashed, it ends the hash,
	 * and a lone reader of a 41 MiB file under 12 MiB read EIO (t2017).
	 */
	if (cap_blocks && limit > cap_blocks - 3)
		limit = cap_blocks - 3;
	pthread_mutex_lock(&h->lock);
	/* The kernel's reads stop at the file's end, but a read is untrusted. */
	for (uint32_t k = here; h->asked && k <= last && k < blocks; k++) {
		h->n_asked += !h->asked[k];
		h->asked[k] = 1;
	}
	/* Pages pushed ahead (push_ahead()) are read without asking us. */
	reach = h->pushed_end > h->next_offset ? h->pushed_end : h->next_offset;
	if (off + CACHE_BLOCK_SIZE < h->run_start || off > reach + CACHE_BLOCK_SIZE ||
	    h->next_offset == 0) {
		h->last_run_len = h->next_offset - h->run_start;
		h->run_start = off;
		h->next_offset = off;
		h->run_in_order = true;
		h->ahead = 0;
		h->push_next = 0;
		h->pushed_end = 0;
	}
	/*
	 * In order: where the run ended, or into what was pushed. A read
	 * wholly inside what the run already covered is a page or two the
	 * kernel lacked there: reclaim took them before the reader came
	 * (seen behind a cat whose pages were pushed, 4 or 8 KiB, 2 MiB
	 * behind it; ftrace showed kdamond's proactive pageout removing
	 * them). Taking it for a reader out of order ended the pushes for
	 * the rest of the file (t2016, 1 run in 8).
	 */
	h->run_in_order = h->run_in_order &&
			  (off == h->next_offset || (off > h->next_offset && off <= h->pushed_end) ||
			   (off >= h->run_start && off + size <= reach));
	/* The last run was a random reader's piece: see the ramp below. */
	after_piece = h->last_run_len > STREAMED_RUN && h->last_run_len < RANDOM_PIECE_MAX;
	if (off < h->run_start)
		h->run_start = off;
	if (off + size > h->next_offset)
		h->next_offset = off + size;
	if (h->next_offset - h->run_start >
	    (h->run_in_order ? CACHE_BLOCK_SIZE / 2 : 2 * CACHE_BLOCK_SIZE + CACHE_BLOCK_SIZE / 2)) {
		/*
		 * One block ahead per block read so far while the run may be a
		 * random reader's one block (mmap in random order: a run of 4
		 * MiB counts two); past that, double with each block, so that
		 * a sequential reader has the whole window busy after a few
		 * blocks, not after as many blocks as the window is wide.
		 * Nothing, though, before two whole blocks of a run whose reader
		 * has read a piece before it (a run longer than a block and
		 * shorter than RANDOM_PIECE_MAX): the kernel reads a mapping's
		 * random 4 MiB piece as a run of 6 MiB (from 512 KiB before it),
		 * and two blocks went ahead of each, 5 fetched for 3 read. Not
		 * for every run: a reader of 32 MiB runs here and there 30 ms
		 * away took 1.3-1.5 times as long without the ramp's start.
		 */
		uint64_t read = h->next_offset - h->run_start;
		uint64_t run_blocks = read / CACHE_BLOCK_SIZE + 1;
		uint64_t ahead = run_blocks <= 2 ? run_blocks :
				 run_blocks >= 8 ? limit : 1ull << (run_blocks - 1);

		if (after_piece && read < 2 * CACHE_BLOCK_SIZE)
			ahead = 0;
		/*
		 * A run that did not start at the file's first byte may stop
		 * anywhere: no more ahead than twice the whole blocks it read,
		 * and two. The ramp is at 64 by a run's seventh block, and six
		 * runs of 32 MiB here and there 30 ms away had 242 blocks
		 * fetched for the 48 they read; 155 with the bound, in the same
		 * time (a run of 256 MiB took 3% longer).
		 */
		if (h->run_start != 0 && ahead > 2 * (read / CACHE_BLOCK_SIZE) + 2)
			ahead = 2 * (read / CACHE_BLOCK_SIZE) + 2;

		/*
		 * In order from the file's first byte (cat, cp, a checksum, a
		 * loader): the whole window at once, as a download starts.
		 * Growing with the blocks read, each a round trip away, cost
		 * 0.8 s of a 2.7 s read of 512 MiB at 100 ms.
		 */
		if (h->run_in_order && h->run_start == 0 && ahead < window)
			ahead = window;

		want = ahead < limit ? (uint32_t)ahead : limit;
	}
	/*
	 * The blocks past the first that this read itself spans are fetched
	 * beside the first, not after it: a page fault in a mapping is read
	 * around, 512 KiB before the fault and the rest after, so a random
	 * reader's every piece spans two blocks, and at 30 ms away the second
	 * fetch cost a round trip and a block's transfer more.
	 */
	/*
	 * A reader whose last run was longer than a block (a mapping read in
	 * pieces of 4 MiB or more, in random order) also has the block after
	 * this read's fetched beside it. The kernel faults a mapping in 1 MiB
	 * at a time, each read after the last one ended, so the piece's next
	 * block was asked for only once the first had arrived: two fetches in
	 * a row for every piece. At 30 ms away, a 512 MiB file mapped and
	 * read in random 4 MiB pieces took 4.5-4.7 s before and 3.4-3.6 s
	 * after. It costs at most a block per run, and only after a run that
	 * long; the block is one the kernel would ask for next. After a piece,
	 * with the run's first read only: the later reads of a piece, with
	 * nothing ahead, would each ask for the block after their own, and
	 * the last one for the block after the piece.
	 */
	speculate = !want && h->last_run_len > STREAMED_RUN && (!after_piece || off == h->run_start);
	to = here + want;
	if (to < last + speculate)
		to = last + speculate;
	if (to > blocks - 1)
		to = blocks - 1;
	from = h->ahead > here + 1 ? h->ahead : here + 1;
	if (from <= to) {
		for (uint32_t k = from; k <= to; k++)
			fs_prefetch_block(fs, h, k);
		h->ahead = to + 1;
	}
	may_complete = !want && blocks >= COMPLETE_MIN_BLOCKS && !h->completing;
	asked = h->n_asked;
	streaming = want && h->run_in_order && h->next_offset - h->run_start > STREAMED_RUN;
	pthread_mutex_unlock(&h->lock);
	if (may_complete)
		complete_in_background(fs, h, blocks, limit, asked);
	return streaming;
}

/*
 * @h's content failed its hash since the file was opened: it is poisoned,
 * or the cache counted a failure of its object since (fs_op_read()).
 * Nothing more of it may be given to the kernel.
 */
static bool content_failed(struct fs *fs, struct fs_handle *h)
{
	return atomic_load(&h->poisoned) ||
	       cache_object_rejects(fs->deps.cache, &h->key) != h->rejects_at_open;
}

/* Blocks ahead of a reader in order that push_ahead() hands to the kernel. */
#define PUSH_AHEAD 4
/* Pushed a piece at a time: a read's buffer, from the same pool (iobuf.h). */
#define PUSH_PIECE (1u << 20)
/*
 * Reads pushing at once, mount-wide: each holds a buffer. With eight cold
 * readers each pushing, the daemon's peak RSS went from 89-100 MiB to 106
 * and 110 (bench_read.sh's eight readers); they are CPU-bound, and the
 * pushes gained them nothing. A read past the cap answers as before.
 */
#define PUSHING_MAX 2

/*
 * Hand block @k of @h's file to the kernel's page cache (FUSE_NOTIFY_STORE),
 * if every byte of it can be served from disk now, and the file's last
 * block only once the file is verified (checked here: the cache serves the
 * last block of a file not yet complete, to a reader of its end alone, but
 * a push serves a reader in order, whose last read must wait for the
 * verdict). A block this mount stored less than 10 s before goes to
 * libfuse as its file, unread, once (cache_open_stored()): its CRCs were
 * computed from those bytes as they arrived. Any other is read into *@buf
 * (allocated here) and checked against its CRCs first
 * (cache_read_cached()), as a read would be. -EWOULDBLOCK when it cannot
 * be pushed now, and -EBADMSG once the file failed its hash.
 */
static int push_block(struct fs *fs, struct fs_handle *h, fuse_ino_t ino, uint32_t k,
		      char **buf)
{
	uint64_t start = (uint64_t)k * CACHE_BLOCK_SIZE, end = start + CACHE_BLOCK_SIZE, pos = 0;
	struct cache_error cerr = { 0 };
	size_t piece_max = PUSH_PIECE;
	int fd = -1, rc = 0;

	if (end >= h->entry->size) {
		struct cache_object_info in;

		/* The last block only with the verdict, as a read would wait for it. */
		cache_object_info(fs->deps.cache, &h->key, &in);
		if (!in.verified)
			return -EWOULDBLOCK;
		end = h->entry->size;
	}
	if (content_failed(fs, h))
		return -EBADMSG;
	if (atomic_load_explicit(&fs->splice_pushes, memory_order_relaxed))
		fd = cache_open_stored(fs->deps.cache, &h->key, start, end - start, &pos);
	if (fd >= 0)
		piece_max = SPLICE_PIECE;
	else if (!*buf && !(*buf = iobuf_alloc(PUSH_PIECE)))
		return -ENOMEM;
	for (uint64_t at = start; at < end && rc == 0; at += piece_max) {
		size_t len = end - at < piece_max ? (size_t)(end - at) : piece_max;
		struct fuse_bufvec piece = FUSE_BUFVEC_INIT(len);

		if (fd >= 0) {
			piece.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
			piece.buf[0].fd = fd;
			piece.buf[0].pos = (off_t)(pos + (at - start));
		} else if (cache_read_cached(fs->deps.cache, &h->key, *buf, len, at, &cerr) ==
			   (ssize_t)len) {
			piece.buf[0].mem = *buf;
		} else {
			rc = -EWOULDBLOCK;
			break;
		}
		/*
		 * Nobody answers the kernel's reads once the mount ends: a
		 * page one of them locked would hold this push, and the
		 * unmount that waits for this thread, for good.
		 */
		if (fs_ending(fs)) {
			rc = -EWOULDBLOCK;
			break;
		}
		/* Before the pages land: a read there goes on with the run. */
		pthread_mutex_lock(&h->lock);
		if (at + len > h->pushed_end)
			h->pushed_end = at + len;
		pthread_mutex_unlock(&h->lock);
		/*
		 * A piece in memory goes as it came: wanting splices, libfuse
		 * would write it into its pipe first, one copy more.
		 */
		if (fuse_lowlevel_notify_store(fs->se, ino, (off_t)at, &piece,
					       fd >= 0 ? 0 : FUSE_BUF_NO_SPLICE) < 0) {
			rc = -EWOULDBLOCK; /* unmounting, or the inode is forgotten */
			break;
		}
		fs_status_pushed(fs, len, fd >= 0);
		pthread_mutex_lock(&h->lock);
		fs_given_mark(&h->given, at, len);
		pthread_mutex_unlock(&h->lock);
		/*
		 * The content failed since the check before this piece (above,
		 * or the last piece's): the drop of the inode's pages may have
		 * run before these landed.
		 */
		if (content_failed(fs, h)) {
			fs_inval(fs, ino);
			rc = -EBADMSG;
		}
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * A reader in order past a block (cat, cp, a checksum, a loader) has the
 * PUSH_AHEAD blocks after the last one its read reached (@end: where the
 * read ended) handed to the kernel's page cache as soon as they are on
 * disk, by the thread that answered its read, after answering. Its reads
 * then find those pages and skip us. Reads are synchronous (fs_op_init()):
 * each 1 MiB request waited for the one before, and a warm read after a
 * remount ran at 0.58-0.69 of a `cat` of the cache's own files; pushed,
 * 0.76-0.88 (docs/benchmarks.md, an eighth session). The kernel still
 * asks for one block in PUSH_AHEAD + 1, and so the read-ahead above still
 * hears where the reader is. A page the kernel is reading at the same
 * moment waits for that read (page lock) and is then written with the
 * same bytes: wasted, never wrong.
 */
static void push_ahead(struct fs *fs, struct fs_handle *h, fuse_ino_t ino, uint64_t end)
{
	uint32_t blocks = cache_blocks_for(h->entry->size), first, last, k;
	char *buf = NULL;

	if (end == 0)
		return;
	first = (uint32_t)((end - 1) / CACHE_BLOCK_SIZE) + 1;
	last = first + PUSH_AHEAD - 1;
	if (atomic_fetch_add(&fs->n_pushing, 1) >= PUSHING_MAX) {
		atomic_fetch_sub(&fs->n_pushing, 1);
		return;
	}
	if (last > blocks - 1)
		last = blocks - 1;
	for (;;) {
		pthread_mutex_lock(&h->lock);
		k = h->push_next > first ? h->push_next : first;
		/* What the kernel has whole already would be copied there twice. */
		while (k <= last && fs_given_whole(&h->given, k))
			k++;
		if (k <= last)
			h->push_next = k + 1; /* ours: another read's thread takes the next */
		pthread_mutex_unlock(&h->lock);
		if (k > last)
			break;
		if (push_block(fs, h, ino, k, &buf) < 0) {
			/* Not on disk yet (or failed): the run's next read tries again. */
			pthread_mutex_lock(&h->lock);
			if (h->push_next == k + 1)
				h->push_next = k;
			pthread_mutex_unlock(&h->lock);
			break;
		}
	}
	if (buf)
		iobuf_free(buf, PUSH_PIECE);
	atomic_fetch_sub(&fs->n_pushing, 1);
}

/* How long a measure of the memory's room stands: a few small files read. */
#define MEMORY_ROOM_MS 100
/* How long the zones' watermarks stand: they seldom move (util/memroom.h). */
#define RECLAIM_LINE_MS 60000
/* What must stay free beside both copies of a file for the cache's to stay. */
#define MEMORY_ROOM_SPARE (UINT64_C(256) << 20)

/*
 * Measure the memory's room now (@now, time_mono_ms()), with the zones'
 * watermarks read again when they are RECLAIM_LINE_MS old. By one thread
 * at a time: fs_create(), then memory_short()'s winner of the turn.
 */
static void measure_memory_room(struct fs *fs, int64_t now)
{
	if (now - atomic_load(&fs->reclaim_line_ms) >= RECLAIM_LINE_MS) {
		atomic_store(&fs->reclaim_line, mem_reclaim_line("/proc"));
		atomic_store(&fs->reclaim_line_ms, now);
	}
	atomic_store(&fs->memory_room,
		     mem_room_under("/proc", "/sys/fs/cgroup", atomic_load(&fs->reclaim_line)));
}

/*
 * Whether the cache's copy of a file of @size bytes that a reader was
 * given should leave the page cache, by fs->opts.drop_behind: in auto,
 * when the memory's room (util/memroom.h), measured at most every
 * MEMORY_ROOM_MS by one thread at a time, holds less than both copies of
 * the file and MEMORY_ROOM_SPARE, or could not be measured.
 */
static bool memory_short(struct fs *fs, uint64_t size)
{
	int64_t now, at;
	uint64_t room;

	if (fs->opts.drop_behind != FS_DROP_AUTO)
		return fs->opts.drop_behind == FS_DROP_ALWAYS;
	now = time_mono_ms();
	at = atomic_load(&fs->memory_room_ms);
	if (now - at >= MEMORY_ROOM_MS && atomic_compare_exchange_strong(&fs->memory_room_ms, &at, now))
		measure_memory_room(fs, now);
	room = atomic_load(&fs->memory_room);
	return room == MEM_ROOM_UNKNOWN || room / 2 < size + MEMORY_ROOM_SPARE / 2;
}

/*
 * A read gave the kernel [@off, @end): noted (struct fs_given), and,
 * where memory is short (memory_short()), the blocks near it that the
 * kernel holds whole in the mount's own pages, read or pushed, leave the
 * page cache as the cache's copies (cache_drop_behind()), once a hash
 * took them. Without it a file read through the mount takes its size
 * twice in page cache; in a 1,600 MiB memory cgroup, re-reads of a 1 GiB
 * file thrashed (1.2-2.6 s, 480-1,050 reads reaching hubfs each), and
 * with it were served by the kernel's pages (0.16-0.28 s, 44 reads at
 * most): docs/benchmarks.md, a seventeenth session. Where the room holds
 * both copies, they stay: letting go costs the read's path the pages'
 * freeing and the blocks' early write-back (0.1-0.4 CPU-s per GiB read,
 * a twenty-fifth session). A mapping read in random pieces lets go of
 * each block it read whole, and keeps the ones it read a part of: the rest of
 * those is read from the cache's copy later. Dirty pages stay in the
 * page cache: the cache starts writing each block as soon as it is stored
 * once a reader lets go of blocks of its object, but the blocks stored
 * before that were still dirty the first time, so each block is named
 * again once FS_GIVEN_AGAIN_LAG more blocks have been (fs_given_passed()).
 */
static void drop_behind(struct fs *fs, struct fs_handle *h, uint64_t off, uint64_t end)
{
	uint32_t blocks[2 * FS_GIVEN_SCAN];
	bool let_go;
	size_t n = 0;

	if (!h->given.n_blocks)
		return; /* untracked (set at open): no lock taken for nothing */
	let_go = memory_short(fs, h->entry->size);
	pthread_mutex_lock(&h->lock);
	fs_given_mark(&h->given, off, end - off);
	if (let_go)
		n = fs_given_passed(&h->given, end, blocks);
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < n; i++)
		cache_drop_behind(fs->deps.cache, &h->key, blocks[i]);
	atomic_fetch_add(&fs->status.blocks_let_go, n);
}

/*
 * How long the answer of a failed read stands for a read of its bytes, of
 * the same content, by any file open when it failed. The kernel retries a failed
 * read-ahead page at once as a read of its own; and readers of one page
 * wait on its lock one after another, each then asking again: six readers
 * of a block the CDN kept failing took 9 to 37 s, each paying the whole
 * retry budget after the one before (a soak's finding).
 */
#define FAILED_READ_MEMO_MS 1000

/* The error of a read of [@off, …) of @h's content that failed just now, or 0. */
static int recent_failure(struct fs *fs, const struct fs_handle *h, uint64_t off)
{
	int64_t now = time_mono_ms();
	uint32_t rejects = 0;
	int rc = 0;

	pthread_mutex_lock(&fs->failed_lock);
	for (size_t i = 0; i < FS_FAILED_READS && rc == 0; i++) {
		const struct fs_failed_read *f = &fs->failed[i];

		/*
		 * For files open when it failed (their readers were waiting),
		 * not for one opened after, which tries anew.
		 */
		if (f->rc < 0 && off >= f->off && off < f->end &&
		    now - f->at_ms < FAILED_READ_MEMO_MS && h->opened_ms <= f->at_ms &&
		    f->key.algo == h->key.algo && strcmp(f->key.hash, h->key.hash) == 0) {
			rc = f->rc;
			rejects = f->rejects;
		}
	}
	pthread_mutex_unlock(&fs->failed_lock);
	/* Not across a rejection of the content either: that is fetched anew. */
	if (rc < 0 && cache_object_rejects(fs->deps.cache, &h->key) != rejects)
		rc = 0;
	return rc;
}

static void note_failure(struct fs *fs, const struct fs_handle *h, uint64_t off,
			 size_t size, int rc)
{
	struct fs_failed_read *oldest;
	uint32_t rejects;

	/*
	 * A reader interrupted asks nothing again; the next one tries anew.
	 * Nor does content that failed its hash stand: its files are gone,
	 * and the next open fetches and reads it afresh.
	 */
	if (rc == -EINTR || rc == -ECANCELED || rc == -EBADMSG)
		return;
	/* Nor a failure met by a reader of content rejected since it opened. */
	rejects = cache_object_rejects(fs->deps.cache, &h->key);
	if (rejects != h->rejects_at_open)
		return;
	pthread_mutex_lock(&fs->failed_lock);
	oldest = &fs->failed[0];
	for (size_t i = 1; i < FS_FAILED_READS; i++)
		if (fs->failed[i].at_ms < oldest->at_ms)
			oldest = &fs->failed[i];
	oldest->key = h->key;
	oldest->off = off;
	oldest->end = off + size;
	oldest->at_ms = time_mono_ms();
	oldest->rc = rc;
	oldest->rejects = rejects;
	pthread_mutex_unlock(&fs->failed_lock);
}

/*
 * Answer @rd's request with @n: bytes in @buf (freed here), or -errno
 * (@cerr says why). True when what follows an answer of bytes is due
 * (read_after(), with *@given): @rd->h then holds a ref for it.
 */
static bool read_answer(const struct read_ctx *rd, ssize_t n, char *buf,
			const struct cache_error *cerr, bool *given)
{
	struct fs *fs = rd->fs;
	struct fs_handle *h = rd->h;
	enum end_read end;

	*given = false;
	/*
	 * The content failed its hash since this file was opened (read-ahead
	 * may have completed it, and this read fetched a block anew): the
	 * bytes are right, the file is not, for bytes already given were of
	 * the wrong content. The cache counts failures under its lock, before
	 * anything is fetched again, so no read after one can miss it, even
	 * before fs_poison_object() marks the open files.
	 */
	if (n >= 0 && content_failed(fs, h)) {
		atomic_store(&h->poisoned, true);
		reply_read_err(rd->req, -EBADMSG);
		iobuf_free(buf, rd->size);
		return false;
	}
	end = n >= 0 ? check_end_read(fs, h, (uint64_t)rd->off + (uint64_t)n) : END_NOT_REACHED;
	if (end == END_LOST) {
		const char *why = "the whole file was read, and no hash vouched for it: its "
				  "blocks went before they were hashed (a cap too small for the "
				  "readers at once, --max-cache-size?); it is fetched again";

		atomic_store(&h->poisoned, true);
		cache_object_reject(fs->deps.cache, &h->key, why);
		fs_refuse_object(fs, h->snap, h->entry, &h->key, why);
		reply_read_err(rd->req, -EBADMSG);
		iobuf_free(buf, rd->size);
		return false;
	}
	/*
	 * A refusal the mount's end made (a transfer it cancelled after
	 * readers were given part of a block): the mount went, not the data.
	 */
	if (n == -EBADMSG && fs_ending(fs))
		n = -ECANCELED;
	if (n < 0) {
		if (n == -EBADMSG) {
			/* Every open file of it: another may hold unverified blocks. */
			atomic_store(&h->poisoned, true);
			fs_poison_object(fs, &h->key, cache_object_rejects(fs->deps.cache, &h->key));
		}
		log_read_failure(fs, h, (int)n, cerr->message);
		note_failure(fs, h, (uint64_t)rd->off, rd->size, (int)n);
		reply_read_err(rd->req, (int)n);
		iobuf_free(buf, rd->size);
		return false;
	}
	/* The file may be released once answered: hold it for what follows. */
	atomic_fetch_add(&h->refs, 1);
	fs_status_served(fs, (size_t)n);
	/* Pages dropped at once are not the kernel's to keep. */
	*given = fuse_reply_buf(rd->req, buf, (size_t)n) == 0 && end != END_PENDING;
	if (end == END_PENDING)
		fs_inval_range(fs, rd->ino, rd->off, (off_t)n);
	iobuf_free(buf, rd->size);
	return true;
}

/* What follows a read answered with @n bytes (read_answer() said it is due). */
static void read_after(const struct read_ctx *rd, ssize_t n, bool given)
{
	uint64_t off = (uint64_t)rd->off;

	if (given)
		drop_behind(rd->fs, rd->h, off, off + (uint64_t)n);
	if (rd->streaming)
		push_ahead(rd->fs, rd->h, rd->ino, off + (uint64_t)n);
	handle_put(rd->h);
}

/*
 * ---- parked reads ----
 *
 * A read that must wait for the Hub (a fetch, its own or one it joins)
 * gives its FUSE worker back at once: each request waiting held a worker,
 * and with all of them waiting nobody read /dev/fuse, so a cached read,
 * an `ls` and the kernel's INTERRUPTs waited for a stall to time out. Its
 * job's helper answers it (run_cache_job(), cache_job_early()); one
 * thread watches the parked reads every WATCH_MS and answers those whose
 * reader got a signal (EINTR) or whose deadline passed (ETIMEDOUT), and
 * starts the helpers that could not be had at once. The fetch of a read
 * answered so goes on for the next reader, kept for adoption (orphans).
 */
#define WATCH_MS 50

/* Off fs->parked, with the list's ref: its request was taken. */
static void parked_remove(struct fs *fs, struct cache_job *job)
{
	bool found = false;

	pthread_mutex_lock(&fs->parked_lock);
	for (struct cache_job **p = &fs->parked; *p; p = &(*p)->next_parked) {
		if (*p == job) {
			*p = job->next_parked;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&fs->parked_lock);
	if (found)
		cache_job_put(job);
}

/* How often, at most, a read parked with no helper to be had is logged. */
#define NO_HELPER_LOG_MS 10000

/*
 * Start @job's helper (with @try; without, as if none could be had: the
 * round's last try failed). When none can be had now, the watcher tries
 * again at its next round, unless the request was answered meanwhile:
 * then the helper's ref goes. Its caller had cleared helper_pending.
 * True when the helper started.
 */
static bool parked_start_helper(struct fs *fs, struct cache_job *job, bool say, bool try)
{
	static _Atomic int64_t said_ms;
	int64_t now, last;
	bool taken;
	int rc = -EBUSY;

	if (try) {
		/* Running from now on, for the watcher: a read it answers is kept for adoption. */
		pthread_mutex_lock(&job->lock);
		job->running = true;
		pthread_mutex_unlock(&job->lock);
		rc = fs_helper_try(fs, run_cache_job, job);
		if (rc == 0)
			return true;
	}
	pthread_mutex_lock(&job->lock);
	job->running = false;
	taken = job->req == NULL;
	job->helper_pending = !taken;
	pthread_mutex_unlock(&job->lock);
	if (taken) {
		orphan_forget(fs, job); /* kept by the watcher meanwhile: it will never run */
		cache_job_put(job);     /* the helper's, never started */
		return false;
	}
	/* Once in a while: thousands of reads parked at the cap are one condition. */
	now = time_mono_ms();
	last = atomic_load(&said_ms);
	if (say && (last == 0 || now - last >= NO_HELPER_LOG_MS) &&
	    atomic_compare_exchange_strong(&said_ms, &last, now))
		log_warn("no helper thread to be had (%s); reads wait for one",
			 rc == -EBUSY ? "at the cap" : strerror(-rc));
	return false;
}

/* Answer a parked read that stopped waiting, taken from @job by the watcher. */
static void parked_give_up(struct fs *fs, struct cache_job *job)
{
	struct cache_error cerr = { 0 };
	struct read_ctx rd = job->rd; /* an adopter may write job->rd once it is kept */
	bool given, never_ran, running;

	pthread_mutex_lock(&job->lock);
	never_ran = job->helper_pending;
	job->helper_pending = false;
	running = job->running;
	pthread_mutex_unlock(&job->lock);
	if (job->stop_rc == -ETIMEDOUT)
		snprintf(cerr.message, sizeof(cerr.message), never_ran ?
			 "no helper thread to be had within the %.0f s deadline" :
			 "no answer within the %.0f s deadline; the fetch goes on for the next "
			 "reader", fs->deps.hub_config->op_timeout_ms / 1000.0);
	/* Kept before the answer: the reader's retry comes at once (PEP 475). */
	if (running)
		orphan_keep(fs, job); /* the same read asked again takes it over */
	read_answer(&rd, job->stop_rc, NULL, &cerr, &given);
	fs_status_read_end(fs);
	if (never_ran)
		cache_job_put(job); /* the helper's, never started */
}

/* The watcher's round: answer what stopped waiting, start helpers now to be had. */
static void parked_sweep(struct fs *fs, bool stopping)
{
	struct cache_job *done = NULL, *tries = NULL;
	int64_t now = hub_now_ms();

	pthread_mutex_lock(&fs->parked_lock);
	for (struct cache_job **p = &fs->parked; *p;) {
		struct cache_job *job = *p;
		int rc = 0;

		pthread_mutex_lock(&job->lock);
		if (job->req) {
			if (stopping)
				rc = -ECANCELED;
			else if (fuse_req_interrupted(job->req))
				rc = -EINTR;
			else if (now >= job->req_deadline_ms)
				rc = -ETIMEDOUT;
		}
		if (rc) {
			/* Taken: the helper finds no request to answer, and says what it meets. */
			job->rd.req = job->req;
			job->req = NULL;
			job->stop_rc = rc;
			job->abandoned = true;
		} else if (job->helper_pending && !stopping) {
			/* Its helper is this round's to start (parked_start_helper()). */
			job->helper_pending = false;
			job->refs++;
			job->next_try = tries;
			tries = job;
		}
		pthread_mutex_unlock(&job->lock);
		if (rc) {
			*p = job->next_parked; /* with the list's ref */
			job->next_parked = done;
			done = job;
			continue;
		}
		p = &job->next_parked;
	}
	pthread_mutex_unlock(&fs->parked_lock);
	while (done) {
		struct cache_job *job = done;

		done = job->next_parked;
		parked_give_up(fs, job);
		cache_job_put(job); /* the list's */
	}
	/* After one start fails, the others of the round wait for the next. */
	for (bool try = true; tries;) {
		struct cache_job *job = tries;

		tries = job->next_try;
		if (!parked_start_helper(fs, job, false, try))
			try = false;
		cache_job_put(job); /* this round's */
	}
}

static void *parked_main(void *fs_)
{
	struct fs *fs = fs_;
	bool stop = false;

	while (!stop) {
		pthread_mutex_lock(&fs->parked_lock);
		/* Asleep while no read is parked: parked_add() wakes it. */
		while (!fs->parked && !fs->parked_stop)
			pthread_cond_wait(&fs->parked_cond, &fs->parked_lock);
		if (!fs->parked_stop)
			time_cond_wait_ms(&fs->parked_cond, &fs->parked_lock, WATCH_MS);
		stop = fs->parked_stop;
		pthread_mutex_unlock(&fs->parked_lock);
		parked_sweep(fs, stop || fs_ending(fs));
	}
	return NULL;
}

void fs_parked_wake(struct fs *fs)
{
	pthread_mutex_lock(&fs->parked_lock);
	pthread_cond_broadcast(&fs->parked_cond);
	pthread_mutex_unlock(&fs->parked_lock);
}

void fs_parked_stop(struct fs *fs)
{
	bool on;

	pthread_mutex_lock(&fs->parked_lock);
	fs->parked_stop = true;
	on = fs->parked_thread_on;
	fs->parked_thread_on = false; /* joined once; a read parked later waits on its worker */
	pthread_cond_broadcast(&fs->parked_cond);
	pthread_mutex_unlock(&fs->parked_lock);
	if (on)
		pthread_join(fs->parked_thread, NULL);
	parked_sweep(fs, true); /* none left: the thread may never have run */
}

/*
 * Put @job on fs->parked with a ref of the list's; the watcher starts with
 * the first. False when it cannot run (no thread): the read waits on its
 * worker, as before.
 */
static bool parked_add(struct fs *fs, struct cache_job *job)
{
	bool ok = true;

	pthread_mutex_lock(&fs->parked_lock);
	if (!fs->parked_thread_on)
		fs->parked_thread_on = !fs->parked_stop &&
				       pthread_create(&fs->parked_thread, NULL, parked_main, fs) == 0;
	ok = fs->parked_thread_on;
	if (ok) {
		pthread_mutex_lock(&job->lock);
		job->refs++;
		pthread_mutex_unlock(&job->lock);
		job->next_parked = fs->parked;
		fs->parked = job;
		if (!job->next_parked)
			pthread_cond_signal(&fs->parked_cond); /* the watcher slept */
	}
	pthread_mutex_unlock(&fs->parked_lock);
	return ok;
}

/*
 * Answer @rd once its bytes are fetched (or joined, or taken over from a
 * read asked before), from the helper, or from the watcher when it stops
 * waiting; this thread goes back to libfuse at once.
 */
static void read_park(struct read_ctx *rd)
{
	struct fs *fs = rd->fs;
	struct fs_handle *h = rd->h;
	struct cache_error cerr = { 0 };
	struct cache_job *job;
	struct fs_wait w;
	bool given, done = false;
	char *buf = NULL;
	ssize_t n = 0;

	fs_status_read_begin(fs); /* until answered: the worker's count ends on return */
	job = orphan_adopt(fs, h, rd->size, (uint64_t)rd->off);
	if (job) {
		/* The same read, left by a request before: its helper goes on, or is done. */
		if (!parked_add(fs, job)) {
			orphan_keep(fs, job); /* no watcher: wait here, as before */
			cache_job_put(job);
			goto wait_here;
		}
		/* On the list before its helper can find the request to answer. */
		pthread_mutex_lock(&job->lock);
		if ((job->done && !job->early_buf && job->result == -ETIMEDOUT) ||
		    (!job->done && !job->early_buf && !job->running && !job->helper_pending)) {
			/*
			 * Its deadline was another's: this read fetches anew
			 * (cache_call()'s rule). Or it has no helper: its start
			 * failed after the watcher kept it, and nothing would
			 * ever run it.
			 */
			pthread_mutex_unlock(&job->lock);
			parked_remove(fs, job);
			cache_job_put(job);
			goto fresh;
		}
		if (job->early_buf || job->done) {
			done = true;
			n = job->early_buf ? (ssize_t)job->size : job->result;
			buf = job->early_buf ? job->early_buf : job->buf;
			cerr = job->cerr;
			job->early_buf = job->buf = NULL;
		} else {
			job->rd = *rd;
			job->req_deadline_ms = hub_now_ms() + fs->deps.hub_config->op_timeout_ms +
					       FS_WAIT_GRACE_MS;
			job->adopted = true;
			job->parked = true;
			job->req = rd->req;
		}
		pthread_mutex_unlock(&job->lock);
		if (done)
			parked_remove(fs, job);
		cache_job_put(job); /* orphan_adopt()'s */
		if (!done)
			return;
		goto answer;
	}
fresh:
	/* The helper's ref; parked_add() adds the list's. */
	job = cache_job_new(fs, h, false, rd->size, (uint64_t)rd->off, 1);
	if (!job) {
		n = -ENOMEM;
		goto answer;
	}
	job->rd = *rd;
	job->parked = true;
	job->req = rd->req;
	if (!parked_add(fs, job)) {
		cache_job_put(job);
		goto wait_here;
	}
	parked_start_helper(fs, job, true, true);
	return;

wait_here:
	fs_wait_init(&w, fs, rd->req);
	n = cache_call(fs, &w, h, false, rd->size, (uint64_t)rd->off, &buf, &cerr);
answer:
	if (read_answer(rd, n, buf, &cerr, &given))
		read_after(rd, n, given);
	fs_status_read_end(fs);
}

static void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	struct read_ctx rd = { fs, req, ino, h, size, off, false };
	struct cache_error cerr = { 0 };
	char *buf = NULL;
	bool given;
	ssize_t n;

	/*
	 * The kernel retries a failed page on its own; after a failed hash
	 * that retry would be served fresh bytes next to pages it already
	 * took from the bad content. This open file stays failed instead.
	 * So does one whose content was refused since it opened, before it
	 * is poisoned: its read would fail after fetching (below), and the
	 * block would take the room of the next open's under a cap.
	 */
	if (atomic_load(&h->poisoned) || content_failed(fs, h)) {
		atomic_store(&h->poisoned, true);
		reply_read_err(req, -EBADMSG);
		return;
	}
	if (off < 0 || (uint64_t)off >= h->entry->size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/*
	 * Not past the end: the kernel asks for whole pages, and an answer
	 * of rd.size bytes made before the cache call returns (the early
	 * answer) would carry the buffer's stale bytes beyond it.
	 */
	if (size > h->entry->size - (uint64_t)off)
		rd.size = size = (size_t)(h->entry->size - (uint64_t)off);
	n = recent_failure(fs, h, (uint64_t)off);
	if (n < 0) {
		reply_read_err(req, (int)n);
		return;
	}
	buf = iobuf_alloc(size);
	if (!buf) {
		reply_read_err(req, -ENOMEM);
		return;
	}
	/*
	 * What is on disk is served here, on this thread: handing each read
	 * to a helper cost more than the read (two thread wake-ups a
	 * request). Only a read that must fetch or wait takes a helper.
	 */
	n = cache_read_cached(fs->deps.cache, &h->key, buf, size, (uint64_t)off, &cerr);
	/*
	 * Read-ahead is planned once this read's block, if on disk, is the
	 * cache's most recently used: a reader's first read of a block that
	 * read-ahead stored earlier would otherwise leave it the eviction's
	 * first pick, before the block the reader just left. Under a cap of
	 * two blocks, the block ahead then took the reader's own: fetched
	 * again, after the hash took it, it ended the hash, and the reader
	 * of the whole file got EIO (t2017). A read that must fetch still
	 * plans its read-ahead before it waits.
	 */
	rd.streaming = plan_read_ahead(fs, h, (uint64_t)off, size);
	if (n == -EWOULDBLOCK) {
		/* Answered by the helper that fetches, or when it stops waiting: not on this thread. */
		iobuf_free(buf, size);
		read_park(&rd);
		return;
	}
	if (read_answer(&rd, n, buf, &cerr, &given))
		read_after(&rd, n, given);
}

/* fs_op_read(), counted as in flight for `hubfs status`. */
static void fs_op_read_counted(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req); /* @req is gone once replied to */

	fs_status_read_begin(fs);
	fs_op_read(req, ino, size, off, fi);
	fs_status_read_end(fs);
}

static void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;

	(void)ino;
	fs_prefetch_forget(fs_of(req), h);
	untrack_open(fs_of(req), &h->open);
	handle_put(h);
	fuse_reply_err(req, 0);
}

static void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct statvfs sv;

	(void)ino;
	/* The space that matters is the cache's. */
	if (statvfs(cache_dir(fs->deps.cache), &sv) < 0) {
		/* Gone from under the mount (moved, say): no space, but a block
		 * size that df and stat -f can divide by. */
		memset(&sv, 0, sizeof(sv));
		sv.f_bsize = sv.f_frsize = 4096;
	}
	sv.f_namemax = FS_NAME_MAX;
	sv.f_flag |= ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

/* ---- extended attributes ---- */

static const char *const xattr_names[] = {
	"user.hubfs.sha256", "user.hubfs.oid",      "user.hubfs.commit",
	"user.hubfs.lfs",    "user.hubfs.cached",   "user.hubfs.verified",
	"user.hubfs.url",
};

/* The value of @name for @node into @b; -ENODATA when it has none. */
static int xattr_value(struct fs *fs, const struct fs_wait *w, struct fs_node *node,
		       const char *name, struct buf *b)
{
	struct cache_object_info info;
	struct repo_snapshot *snap;
	const struct repo_entry *e;
	struct cache_key key;
	uint32_t idx;
	int rc;

	if (node->kind != NODE_REPO && node->kind != NODE_ENTRY)
		return -ENODATA;
	rc = fs_node_snapshot(fs, w, node, &snap, &idx);
	if (rc < 0)
		return rc;
	e = &snap->entries[idx];
	repo_entry_key(e, &key);
	if (!e->is_dir && (strcmp(name, "user.hubfs.cached") == 0 ||
			   strcmp(name, "user.hubfs.verified") == 0)) {
		/* Another process may have evicted or verified it meanwhile. */
		cache_object_refresh(fs->deps.cache, &key);
		cache_object_info(fs->deps.cache, &key, &info);
	}
	rc = 0;
	if (strcmp(name, "user.hubfs.commit") == 0)
		rc = buf_append_str(b, snap->commit);
	else if (strcmp(name, "user.hubfs.url") == 0) {
		char endpoint[2048];

		/* Readable by every user of the mount: no password of the endpoint's. */
		hub_redact_url(fs->deps.hub_config->endpoint, endpoint, sizeof(endpoint));
		rc = buf_printf(b, "%s/%s%s/%s/%s%s", endpoint,
				hub_repo_url_prefix(snap->repo.type), snap->repo.id,
				e->is_dir ? "tree" : "resolve", snap->commit,
				e->path[0] ? "/" : "");
		if (rc == 0)
			rc = hub_url_escape_path(b, e->path);
	} else if (e->is_dir)
		rc = -ENODATA;
	else if (strcmp(name, "user.hubfs.sha256") == 0)
		rc = e->is_lfs ? buf_append_str(b, e->sha256) : -ENODATA;
	else if (strcmp(name, "user.hubfs.oid") == 0)
		rc = buf_append_str(b, e->oid);
	else if (strcmp(name, "user.hubfs.lfs") == 0)
		rc = buf_append_str(b, e->is_lfs ? "1" : "0");
	else if (strcmp(name, "user.hubfs.cached") == 0)
		rc = buf_printf(b, "%llu", (unsigned long long)info.cached_bytes);
	else if (strcmp(name, "user.hubfs.verified") == 0)
		rc = buf_append_str(b, info.verified ? "1" : "0");
	else
		rc = -ENODATA;
	repo_snapshot_unref(snap);
	return rc;
}

static void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs_node *n = node_of(req, ino);
	struct fs_wait w;
	struct buf b;
	int rc;

	/* ls -l asks every file for security.selinux: answer it at once. */
	if (strncmp(name, "user.hubfs.", 11) != 0) {
		reply_err(req, -ENODATA);
		return;
	}
	fs_wait_init(&w, fs_of(req), req);
	buf_init(&b, 8192);
	if (ino == FUSE_ROOT_ID && strcmp(name, FS_STATUS_XATTR) == 0)
		rc = fs_status_render(fs_of(req), &b);
	else
		rc = n ? xattr_value(fs_of(req), &w, n, name, &b) : -ENOENT;
	if (rc < 0)
		reply_err(req, rc);
	else if (size == 0)
		fuse_reply_xattr(req, b.len);
	else if (size < b.len)
		reply_err(req, -ERANGE);
	else
		fuse_reply_buf(req, buf_cstr(&b), b.len);
	buf_release(&b);
}

static void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fs_of(req);
	struct fs_node *n = node_of(req, ino);
	struct buf names, value;
	struct fs_wait w;
	int rc = 0;

	fs_wait_init(&w, fs, req);
	buf_init(&names, 4096);
	buf_init(&value, 8192);
	if (ino == FUSE_ROOT_ID)
		buf_append(&names, FS_STATUS_XATTR, sizeof(FS_STATUS_XATTR));
	/*
	 * A name's value missing (ENODATA) leaves it out; any other failure
	 * (the Hub stalled, a signal) fails the call: an empty list, as a
	 * success, told rsync -X and cp --preserve=xattr there were none.
	 */
	for (size_t i = 0; n && rc == 0 && i < sizeof(xattr_names) / sizeof(xattr_names[0]); i++) {
		buf_reset(&value);
		rc = xattr_value(fs, &w, n, xattr_names[i], &value);
		if (rc == 0)
			buf_append(&names, xattr_names[i], strlen(xattr_names[i]) + 1);
		else if (rc == -ENODATA)
			rc = 0;
	}
	if (rc < 0)
		reply_err(req, rc);
	else if (size == 0)
		fuse_reply_xattr(req, names.len);
	else if (size < names.len)
		reply_err(req, -ERANGE);
	else
		fuse_reply_buf(req, names.data, names.len);
	buf_release(&names);
	buf_release(&value);
}

/*
 * ---- writes: EROFS ----
 * The mount is "ro", so the kernel refuses them itself; but root can
 * `mount -o remount,rw` it, and then each would reach us and, without a
 * handler, fail with ENOSYS, EPERM or ENOTSUP: the file system is
 * read-only, whatever the mount says.
 */
static void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			  struct fuse_file_info *fi)
{
	(void)ino, (void)attr, (void)to_set, (void)fi;
	reply_err(req, -EROFS);
}

static void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	reply_err(req, -EROFS);
}

static void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	reply_err(req, -EROFS);
}

/* unlink and rmdir */
static void fs_op_remove(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	reply_err(req, -EROFS);
}

static void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	(void)link, (void)parent, (void)name;
	reply_err(req, -EROFS);
}

static void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	reply_err(req, -EROFS);
}

static void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	reply_err(req, -EROFS);
}

static void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			 struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	reply_err(req, -EROFS);
}

static void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   const char *value, size_t size, int flags)
{
	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	reply_err(req, -EROFS);
}

static void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino, (void)name;
	reply_err(req, -EROFS);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_op_init,
	.lookup = fs_op_lookup,
	.forget = fs_op_forget,
	.forget_multi = fs_op_forget_multi,
	.getattr = fs_op_getattr,
	.opendir = fs_op_opendir,
	.readdir = fs_op_readdir,
	.readdirplus = fs_op_readdirplus,
	.releasedir = fs_op_releasedir,
	.open = fs_op_open,
	.read = fs_op_read_counted,
	.release = fs_op_release,
	.statfs = fs_op_statfs,
	.getxattr = fs_op_getxattr,
	.listxattr = fs_op_listxattr,
	.setattr = fs_op_setattr,
	.mknod = fs_op_mknod,
	.mkdir = fs_op_mkdir,
	.unlink = fs_op_remove,
	.rmdir = fs_op_remove,
	.symlink = fs_op_symlink,
	.rename = fs_op_rename,
	.link = fs_op_link,
	.create = fs_op_create,
	.setxattr = fs_op_setxattr,
	.removexattr = fs_op_removexattr,
};

/* ---- the mount's life ---- */

/* The options every hubfs mount gets, before the user's own "-o". */
static int build_args(const struct fs_options *opts, struct fuse_args *args)
{
	struct buf o;
	int rc;

	buf_init(&o, 8192);
	rc = buf_append_str(&o, "ro,fsname=hubfs,subtype=hubfs,default_permissions");
	if (rc == 0 && opts->fuse_options && *opts->fuse_options)
		rc = buf_printf(&o, ",%s", opts->fuse_options);
	if (rc == 0 && (fuse_opt_add_arg(args, "hubfs") != 0 ||
			fuse_opt_add_arg(args, "-o") != 0 ||
			fuse_opt_add_arg(args, buf_cstr(&o)) != 0))
		rc = -ENOMEM;
	if (rc == 0 && opts->debug && fuse_opt_add_arg(args, "-d") != 0)
		rc = -ENOMEM;
	buf_release(&o);
	return rc;
}

/* Undo mountinfo's octal escapes ("\040" for ' ') of @s, in place. */
static void mountinfo_unescape(char *s)
{
	char *out = s;

	for (const char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' &&
		    p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
			*out++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*out++ = *p;
		}
	}
	*out = '\0';
}

/*
 * Is @real (a realpath) the mount point of a mount already? Its type goes
 * into @fstype ("fuse.hubfs", "tmpfs"...). False when it cannot tell:
 * then the kernel stacks a second mount, as it did before this check.
 */
static bool is_mount_point(const char *real, char *fstype, size_t size)
{
	char line[8192];
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "r");

	if (!f)
		return false;
	/* "36 35 0:48 / /mnt/point rw,nosuid shared:1 - fuse.hubfs hubfs ro,..." */
	while (!found && fgets(line, sizeof(line), f)) {
		char *save = NULL, *field = strtok_r(line, " \n", &save);

		for (int i = 0; field && i < 4; i++)
			field = strtok_r(NULL, " \n", &save);
		if (!field)
			continue;
		mountinfo_unescape(field);
		if (strcmp(field, real) != 0)
			continue;
		found = true;
		/* Optional fields end at "-"; the type comes next. */
		while ((field = strtok_r(NULL, " \n", &save)) && strcmp(field, "-") != 0)
			;
		field = field ? strtok_r(NULL, " \n", &save) : NULL;
		snprintf(fstype, size, "%s", field ? field : "unknown");
	}
	fclose(f);
	return found;
}

/*
 * The mount point must be a directory that is not a mount already: the
 * kernel would stack a second mount on it without a word. A crashed
 * hubfs leaves a mount whose every access fails with ENOTCONN.
 */
static int check_mountpoint(const char *mnt)
{
	char real[PATH_MAX], fstype[64];
	struct stat st;
	int rc;

	if (stat(mnt, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			log_err("cannot mount on '%s': not a directory", mnt);
			return -ENOTDIR;
		}
		if (realpath(mnt, real) && is_mount_point(real, fstype, sizeof(fstype))) {
			log_err("cannot mount on '%s': it is already a mount point "
				"(%s); unmount it first ('hubfs umount %s') or choose "
				"another directory", mnt, fstype, mnt);
			return -EBUSY;
		}
		return 0;
	}
	if (errno == ENOTCONN) {
		log_err("'%s' is a stale mount left by a hubfs that ended without "
			"unmounting; run 'hubfs umount %s' (or 'fusermount3 -uz %s') and "
			"mount again", mnt, mnt, mnt);
		return -ENOTCONN;
	}
	rc = -errno; /* before logging, which may change errno */
	log_err("cannot mount on '%s': %s", mnt, strerror(-rc));
	return rc;
}

/*
 * Go to the background the way fuse_daemonize() does (fork, setsid, chdir
 * "/"), except that the parent does not exit at once: it waits for the
 * child's verdict on the report pipe and exits with it, 0 once the mount
 * serves, 1 otherwise. Until it reports, the child keeps the terminal's
 * stderr, so whatever stops it is printed where the user is looking.
 * Returns, in the child only, the pipe's write end, or a negative errno.
 * Call before any thread starts: fork() keeps only the caller's.
 */
static int daemon_detach(void)
{
	int report[2], rc;
	pid_t pid;

	sigset_t stops, before;

	if (pipe2(report, O_CLOEXEC) < 0) {
		rc = -errno;
		log_err("cannot go to the background: pipe: %s", strerror(-rc));
		return rc;
	}
	/*
	 * Until the parent has put the default handlers back, a stop signal
	 * to it would run ours, which writes to the stopper's pipe that both
	 * processes hold: the daemon's mount would end, the parent live on.
	 */
	sigemptyset(&stops);
	sigaddset(&stops, SIGHUP);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stops, &before);
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		pthread_sigmask(SIG_SETMASK, &before, NULL);
		log_err("cannot go to the background: fork: %s", strerror(-rc));
		close(report[0]);
		close(report[1]);
		return rc;
	}
	if (pid > 0) {
		char verdict = 1;
		ssize_t n;

		fs_signals_remove(); /* a signal ends the waiting parent, not the daemon's mount */
		pthread_sigmask(SIG_SETMASK, &before, NULL);
		close(report[1]);
		/* No byte: the child died first; its stderr said why. */
		do
			n = read(report[0], &verdict, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 && verdict == 0 ? 0 : 1);
	}
	pthread_sigmask(SIG_SETMASK, &before, NULL); /* what came to the parent stays there */
	close(report[0]);
	if (setsid() < 0 || chdir("/") < 0) {
		rc = -errno;
		log_err("cannot go to the background: %s", strerror(-rc));
		close(report[1]);
		return rc;
	}
	return report[1];
}

/*
 * Tell the waiting parent (daemon_detach()) how the start went and close
 * @report. On success the terminal is let go first: logging moves to
 * syslog and stdin, stdout and stderr to /dev/null, so nothing of ours
 * lands after the shell's next prompt.
 */
static void daemon_report(int report, bool serving)
{
	char verdict = serving ? 0 : 1;

	if (serving) {
		int null = open("/dev/null", O_RDWR);

		log_use_syslog();
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}
	}
	while (write(report, &verdict, 1) < 0 && errno == EINTR)
		;
	close(report);
}

/*
 * The kernel offers FUSE mounts 128 KiB of read-ahead, so a sequential
 * read arrives as 128 KiB requests. As root we can raise the mount's own
 * limit (its backing_dev_info, named by the mount's device number in
 * /proc/self/mountinfo; reading it needs no access to the mount, which is
 * not served yet). Best effort: elsewhere the default stays. The answer
 * to INIT, which comes after this, caps it at conn->max_readahead
 * (fs_op_init()): both ask for READ_AHEAD_KIB.
 */
static void raise_readahead(const char *mountpoint, unsigned kib)
{
	char line[8192], real[4096], path[128];
	unsigned major, minor;
	FILE *f;

	if (!realpath(mountpoint, real))
		return;
	f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char mnt[4096];

		/* "36 35 0:48 / /mnt/point rw,... - fuse.hubfs hubfs ro,..." */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &major, &minor, mnt) != 3)
			continue;
		mountinfo_unescape(mnt); /* "\040" for a space */
		if (strcmp(mnt, real) == 0 && strstr(line, " fuse.hubfs ")) {
			FILE *ra;

			snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
				 major, minor);
			ra = fopen(path, "w");
			if (ra) {
				fprintf(ra, "%u\n", kib);
				if (fclose(ra) == 0)
					log_dbg("read-ahead of %s raised to %u KiB", real, kib);
			}
		}
	}
	fclose(f);
}

static bool has_option(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* A new mount's state from @opts and @deps, before anything is mounted. */
static struct fs *fs_create(const struct fs_options *opts, const struct fs_deps *deps)
{
	struct fs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->opts = *opts;
	fs->deps = *deps;
	fs->env.hub = deps->hub;
	fs->env.cache = deps->cache;
	fs->env.offline = deps->hub_config->offline;
	fs->open_items.next = fs->open_items.prev = &fs->open_items;
	fs->drain_fd = -1;
	pthread_mutex_init(&fs->helpers_lock, NULL);
	pthread_cond_init(&fs->helpers_done, NULL);
	fs_helpers_size(fs);
	pthread_mutex_init(&fs->orphans_lock, NULL);
	pthread_mutex_init(&fs->parked_lock, NULL);
	pthread_cond_init(&fs->parked_cond, NULL);
	pthread_mutex_init(&fs->failed_lock, NULL);
	if (repo_hf_hub_cache_dir(fs->hf_cache, sizeof(fs->hf_cache)) == 0)
		fs->env.hf_hub_cache = fs->hf_cache;
	fs->uid = getuid();
	fs->gid = getgid();
	if (opts->drop_behind == FS_DROP_AUTO) {
		fs->memory_room_ms = time_mono_ms();
		fs->reclaim_line_ms = INT64_MIN / 2; /* never read */
		measure_memory_room(fs, fs->memory_room_ms);
	}
	return fs;
}

/* Free @fs once its session is gone, with what the kernel had not released. */
static void fs_destroy(struct fs *fs)
{
	while (fs->open_items.next != &fs->open_items) {
		struct fs_open *o = fs->open_items.next;

		o->next->prev = o->prev;
		o->prev->next = o->next;
		o->free(o);
	}
	if (fs->nodes)
		fs_table_release(fs);
	fs_orphans_release(fs);
	pthread_mutex_destroy(&fs->orphans_lock);
	pthread_mutex_destroy(&fs->parked_lock);
	pthread_cond_destroy(&fs->parked_cond);
	pthread_mutex_destroy(&fs->failed_lock);
	pthread_mutex_destroy(&fs->helpers_lock);
	pthread_cond_destroy(&fs->helpers_done);
	free(fs);
}

/*
 * Serve the mounted session until it is unmounted or signalled: the
 * read-ahead threads, the multi-threaded loop, then every thread of ours
 * stopped. @report: the pipe to the parent still waiting in the
 * background (-1: none), told once nothing can fail before serving.
 * 0 for a clean end, or -errno.
 */
static int serve(struct fs *fs, int *report)
{
	struct fuse_loop_config *loop;
	char shown[512];
	int rc;

	/* Threads start after daemonizing: fork() keeps only the caller's. */
	rc = fs_inval_start(fs);
	if (rc < 0) {
		log_err("cannot start the thread that drops pages: %s", strerror(-rc));
		return rc;
	}
	rc = fs_prefetch_start(fs, fs->opts.prefetch_threads, fs->opts.max_streams);
	if (rc < 0) {
		log_err("cannot start the read-ahead threads: %s", strerror(-rc));
		fs_inval_stop(fs);
		return rc;
	}
	loop = fuse_loop_cfg_create();
	if (!loop) {
		log_err("cannot set up the FUSE loop: out of memory");
		rc = -ENOMEM;
		goto out;
	}
	fuse_loop_cfg_set_max_threads(loop, FUSE_MAX_THREADS);
	fuse_loop_cfg_set_idle_threads(loop, FUSE_MAX_IDLE_THREADS);
	/* Before the parent is told it went well, as the threads above. */
	rc = fs_stopper_start(fs);
	if (rc < 0) {
		log_err("cannot start the thread that ends the mount on a signal: %s",
			strerror(-rc));
		fuse_loop_cfg_destroy(loop);
		goto out;
	}
	if (*report >= 0) {
		daemon_report(*report, true);
		*report = -1;
	}
	hub_redact_url(fs->deps.hub_config->endpoint, shown, sizeof(shown)); /* no password */
	log_info("mounted %s on %s (endpoint %s, cache %s)",
		 fs->opts.repo ? fs->opts.repo : "the Hub", fs->opts.mountpoint,
		 fs->deps.hub_config->offline ? "none: offline" : shown, cache_dir(fs->deps.cache));
	rc = fuse_session_loop_mt(fs->se, loop);
	rc = rc < 0 ? rc : 0;
	/* Before anything else: the loop's end resets the session's "exited" (fs_ending()). */
	atomic_store(&fs->stopping, true);
	fs_stopper_stop(fs);
	fs_drainer_start(fs); /* what the kernel still asks is answered, to the end */
	fuse_loop_cfg_destroy(loop);
out:
	/* Fetches that nobody waits for any more end now, not at their deadline. */
	atomic_store(&fs->stopping, true); /* again, for a start that failed */
	hub_client_cancel(fs->deps.hub);
	/*
	 * And nobody waits for a place in the window any more: a Retry-After
	 * may hold it for minutes, and a reader's fetch that joined a
	 * read-ahead waiting there would hold up the drain below.
	 */
	fs_prefetch_cancel(fs);
	fs_parked_stop(fs); /* the reads still parked: ECANCELED, ECONNABORTED to the reader */
	fs_helpers_drain(fs);
	fs_prefetch_stop(fs);
	fs_inval_stop(fs);
	return rc;
}

int fs_run(const struct fs_options *opts, const struct fs_deps *deps)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fs *fs = fs_create(opts, deps);
	int report = -1; /* background: the pipe to the waiting parent */
	int rc;

	if (!fs)
		return -ENOMEM;
	rc = check_mountpoint(opts->mountpoint);
	if (rc == 0)
		rc = fs_table_init(fs);
	if (rc == 0)
		rc = fs_check_root_repo(fs);
	if (rc == 0)
		rc = build_args(opts, &args);
	if (rc < 0)
		goto out;
	if (has_option(opts->fuse_options, "allow_other") && deps->hub_config->token)
		log_warn("allow_other: every user of this machine can read what your "
			 "token (%s) gives access to, private and gated repos included",
			 deps->hub_config->token_source);
	fs->se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), fs);
	if (!fs->se) {
		log_err("cannot create the FUSE session (bad -o option?)");
		rc = -EINVAL;
		goto out;
	}
	rc = fs_signals_set();
	if (rc < 0) {
		log_err("cannot set the signal handlers: %s", strerror(-rc));
		goto out_session;
	}
	if (fuse_session_mount(fs->se, opts->mountpoint) != 0) {
		log_err("cannot mount on '%s'", opts->mountpoint);
		rc = -EIO;
		goto out_signals;
	}
	raise_readahead(opts->mountpoint, READ_AHEAD_KIB);
	if (opts->foreground) {
		rc = fuse_daemonize(1) != 0 ? -EIO : 0;
	} else {
		rc = report = daemon_detach();
		/* The parent exits: the directory's cap must name the daemon. */
		if (rc >= 0)
			cache_cap_follows_fork(fs->deps.cache);
	}
	if (rc >= 0)
		rc = serve(fs, &report);
	fuse_session_unmount(fs->se);
	fs_inval_finish(fs); /* a drop the kernel held up ends as the READ it waits on is answered */
	fs_drainer_stop(fs);
out_signals:
	fs_signals_remove();
out_session:
	fuse_session_destroy(fs->se);
out:
	fuse_opt_free_args(&args);
	fs_destroy(fs);
	/* Only after the unmount above: the parent's exit must find it gone. */
	if (report >= 0)
		daemon_report(report, false);
	return rc;
}
