/* SPDX-License-Identifier: MIT */
/*
 * Private to fs/: the inode table, repo directories, open files, and the
 * read-ahead pool.
 *
 * Locking: fs->lock guards the node tables, each node's counts, child
 * list and org listing, the negative cache and the list of open items.
 * Each struct fs_repo has its own lock for its current snapshot, and a
 * reference count (its node and a helper loading it hold one each);
 * fs->helpers_lock the count of helper threads, fs->orphans_lock the
 * reads whose request left (taken before such a job's own lock), and
 * fs->failed_lock the reads that failed just now. An open file's lock
 * (struct fs_handle) is held while it queues read-ahead, so it is taken
 * before the read-ahead queue's or the read-ahead window's (prefetch.c,
 * hub/pace.h), never after; the queue's code reads the window before it
 * takes its own lock, so those two are never held together. Every other
 * lock here is taken alone. No lock is held across network or disk I/O
 * or a FUSE reply.
 *
 * Lifetime: a node lives while the kernel holds lookups on it (nlookup)
 * or we hold it (refs: its children, open files and folders). A node the
 * kernel sends a request about is held by the kernel for the request's
 * length; anything else that keeps a node pointer takes a ref.
 */
#ifndef HUBFS_FS_FS_INT_H
#define HUBFS_FS_FS_INT_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fs/fs.h"
#include "repo/snapshot.h"
#include "hub/pace.h"

enum fs_node_kind {
	NODE_ROOT,  /* "/" (unless one repo is mounted there) */
	NODE_TYPE,  /* "/datasets", "/spaces" */
	NODE_ORG,   /* "/ORG", "/datasets/ORG" */
	NODE_REPO,  /* "/ORG/NAME[@REV]": its tree is a snapshot's */
	NODE_ENTRY, /* a folder or file inside a repo */
};

/* A repo directory: a (type, id, revision as named) and its snapshot. */
struct fs_repo {
	struct hub_repo repo;        /* revision as named ("" = default branch) */
	bool pinned;                 /* the revision is a commit: never changes */
	bool from_org_list;          /* made from the Hub's list of its org, loaded at first use */
	int64_t listed_date;         /* the date that list gives it (unix seconds; 0: none) */
	pthread_mutex_t lock;        /* guards the fields below */
	pthread_cond_t loaded;       /* a load ended */
	struct repo_snapshot *snap;    /* current; NULL until first loaded */
	int64_t checked_at;          /* monotonic seconds of the last resolve */
	atomic_int refs;             /* its node's, and a loading helper's */
	bool loading;                /* one helper thread is asking the Hub */
	int64_t load_started_ms;     /* since when (hub_now_ms()) */
	unsigned load_gen;           /* loads ended so far */
	int load_rc;                 /* how the last one ended: 0 or -errno */
};

/* A list of names (a folder of names' listing). */
struct fs_names {
	char **v;
	size_t n, cap;
};

struct fs_node {
	fuse_ino_t ino;              /* the kernel's handle: never reused while mounted */
	uint64_t st_ino;             /* what stat and readdir show: fs_child_ino(); constant */
	enum fs_node_kind kind;
	struct fs_node *parent;      /* a ref on it; NULL for the root */
	enum hub_repo_type type;     /* TYPE, ORG, REPO, ENTRY */
	char *name;                  /* ROOT, TYPE, ORG, REPO: as looked up */
	struct fs_repo *repo;        /* REPO: owned; ENTRY: its repo node's */
	struct repo_snapshot *snap;    /* ENTRY: the snapshot it belongs to (a ref) */
	uint32_t entry;              /* ENTRY: index in snap->entries */

	/* Guarded by fs->lock: */
	bool retired;                /* ENTRY: its content failed (fs_nodes_retire_locked()) */
	uint32_t born_rejects;       /* ENTRY: its object's failures when it was made; constant */
	uint32_t born_losses;        /* ENTRY: cache_object_hash_losses() then (ops.c); constant */
	bool holds_object;           /* ENTRY: opened: its pages keep the cache's object (fs_node_hold_object()) */
	uint64_t nlookup;            /* the kernel's references */
	uint64_t refs;               /* ours */
	char *key;                   /* its key in the table, or NULL (the root) */
	struct fs_node *next_by_ino, *next_by_key;
	/* Virtual children (not entries), for listing the folders of names. */
	struct fs_node *first_child, *next_sibling, *prev_sibling;
	struct fs_names *listed;     /* ORG: the Hub's list of its repos (names_add_dated()) ... */
	int64_t listed_at;           /* ... as of then (monotonic seconds) */
};

struct fs_prefetch;
struct fs_inval;
struct cache_job;

/*
 * What a FUSE open gave out (a file handle or a directory listing), on a
 * list so that whatever the kernel never released before an unmount
 * (a SIGTERM can come between a close and its RELEASE) is freed at exit.
 */
struct fs_open {
	struct fs_open *prev, *next; /* guarded by fs->lock */
	struct fs *fs;
	void (*free)(struct fs_open *o);
};

/* What `hubfs status` reads of the FUSE side (status.c renders it). */
struct fs_status_counters {
	atomic_uint_fast64_t bytes_served;     /* content bytes replied to reads */
	atomic_uint_fast64_t reads;            /* read requests answered with bytes */
	atomic_uint_fast64_t bytes_pushed;     /* of bytes_served, put in the page cache unasked */
	atomic_uint_fast64_t bytes_spliced;    /* of bytes_pushed, spliced from blocks we stored */
	atomic_uint_fast64_t reads_in_flight;  /* read requests being served now */
	atomic_uint_fast64_t readahead_in_flight; /* read-ahead fetches running now */
	atomic_uint_fast64_t blocks_let_go;    /* cache copies told to leave the page cache */
};

/* A read that failed, remembered for the next read of its bytes (ops.c). */
struct fs_failed_read {
	struct cache_key key;
	uint64_t off, end;
	int64_t at_ms;               /* time_mono_ms() */
	int rc;                      /* -errno; 0: an empty slot */
	uint32_t rejects;            /* cache_object_rejects() then */
};
#define FS_FAILED_READS 16

/* How much longer a request waits than the work it started may take (fs/wait.c). */
#define FS_WAIT_GRACE_MS 1000
/* The largest write, and so the largest read request, the kernel sends (fs_op_init()). */
#define FS_MAX_WRITE (1u << 20)

/* The longest name a folder of the mount has (statfs's f_namemax): longer is ENAMETOOLONG. */
#define FS_NAME_MAX 255

struct fs {
	struct fs_options opts;
	struct fs_deps deps;
	struct repo_env env;
	struct fuse_session *se;
	uid_t uid;
	gid_t gid;

	pthread_mutex_t lock;        /* guards the tables below */
	struct fs_node_table *nodes; /* by inode number and by key (inode.c) */
	struct fs_negatives *negative; /* failed lookups: key -> errno, until expiry */
	/*
	 * Repos a lookup began to load and no node has yet, by key: a lookup
	 * retried after a signal joins the load instead of starting another
	 * (each held a helper: 534 threads in 26 s under a 100 Hz timer).
	 */
	struct fs_pending_repo *pending_repos;
	size_t n_pending_repos;
	struct list_job *pending_lists; /* org listings in flight, joined the same way (inode.c) */
	time_t started_at;           /* the folders of names are dated from it */

	struct fs_prefetch *prefetch;
	struct fs_inval *inval;      /* the pages' drops (inval.c); constant while serving */
	struct fs_open open_items;   /* list head; guarded by lock */
	char hf_cache[4096];         /* huggingface_hub's cache dir, when there is one */

	atomic_bool stopping;        /* the session ended: waits end, helpers finish */
	/*
	 * A signal ends the mount (signals.c): set first, so that pushes end
	 * while the loop still answers the reads they may wait for; then the
	 * loop is told to end, and its thread woken until loop_ended.
	 */
	atomic_bool ending;
	atomic_bool loop_ended;
	pthread_t loop_thread;       /* serve()'s, which runs the loop */
	pthread_t stopper;           /* the thread that does that, when stopper_on */
	bool stopper_on;
	/* After the loop: the thread that answers what still comes (signals.c). */
	pthread_t drainer;
	bool drainer_on;
	int drain_fd;                /* its own /dev/fuse descriptor; -1: none */
	atomic_bool drain_stop;
	pthread_mutex_t helpers_lock; /* guards n_helpers */
	pthread_cond_t helpers_done; /* a helper ended */
	unsigned n_helpers;          /* helper threads running (wait.c) */
	unsigned helpers_max;        /* at once, at most: set at start (fs_helpers_size()) */
	pthread_mutex_t orphans_lock; /* guards orphans; taken before a job's lock */
	struct cache_job *orphans;   /* reads whose request left (ops.c) */
	/*
	 * Reads answered by their helper, the FUSE worker given back at once
	 * (read_park() in ops.c), and the thread that ends their wait on a
	 * signal, their deadline or the mount's end. parked_lock guards the
	 * four below; it is taken before a job's lock.
	 */
	pthread_mutex_t parked_lock;
	pthread_cond_t parked_cond;  /* a read was parked, or the thread is to stop */
	struct cache_job *parked;
	bool parked_thread_on, parked_stop;
	pthread_t parked_thread;
	pthread_mutex_t failed_lock; /* guards failed */
	struct fs_failed_read failed[FS_FAILED_READS]; /* the last reads that failed */
	atomic_uint n_pushing;       /* reads pushing blocks ahead now (push_ahead()) */
	atomic_bool splice_pushes;   /* set once, at INIT (fs_op_init()), before any read */
	/*
	 * The memory's room (util/memroom.h) and when it was measured
	 * (measure_memory_room()); the zones' watermarks it is measured under, and
	 * when they were read. Written by the one thread whose turn it is.
	 */
	_Atomic uint64_t memory_room;
	_Atomic int64_t memory_room_ms; /* time_mono_ms() */
	_Atomic uint64_t reclaim_line;
	_Atomic int64_t reclaim_line_ms;
	struct fs_status_counters status;
};

/*
 * What a FUSE request may wait for: until the kernel interrupts it or its
 * deadline passes. NULL where a function takes one: a thread of ours,
 * which waits until the work ends or the mount does.
 */
struct fs_wait {
	fuse_req_t req;              /* NULL: never interrupted */
	int64_t deadline_ms;         /* hub_now_ms() time */
};

/*
 * What of an open file the kernel was given, by read replies and pushes
 * (fs/given.c), and which blocks of it the cache was told to let go of
 * (drop_behind() in ops.c). A bit per page, 128 bytes per block: the
 * kernel's reads meet at any page (6.18.44 splits a mapping's 4 MiB piece
 * 4 KiB short of a MiB), and with a bit per 64 KiB chunk, counting only
 * chunks wholly inside one read, no piece was ever given whole (t2019).
 * A block given whole was put in the mount's page cache:
 * a push of it would copy it there again, and the cache's copy of it may
 * leave the page cache. A hint: the kernel may have lost pages since
 * (reclaim), and those are then read again from the cache's copy, on disk
 * if it went. Files of one block are not tracked (n_blocks 0), nor O_DIRECT
 * opens, nor any when memory ran out. Guarded by the handle's lock.
 */
#define FS_GIVEN_AGAIN_LAG 10  /* see fs_given_passed() */
#define FS_GIVEN_PAGE 4096u
#define FS_GIVEN_WORDS (CACHE_BLOCK_SIZE / FS_GIVEN_PAGE / 64)
struct fs_given {
	uint64_t size;               /* the file's */
	uint32_t n_blocks;           /* 0: nothing tracked */
	uint64_t *pages;             /* FS_GIVEN_WORDS per block: bit p set, its page p was given */
	uint8_t *let_go;             /* per block: fs_given_passed() returned it */
	uint32_t again[FS_GIVEN_AGAIN_LAG]; /* the last blocks returned, to return again */
	uint32_t n_again;            /* blocks returned so far */
};

/* Track a file of @size bytes. Without memory it tracks nothing. */
void fs_given_init(struct fs_given *g, uint64_t size);
void fs_given_free(struct fs_given *g);
/* The kernel has the bytes [@off, @off + @len): the pages wholly inside. */
void fs_given_mark(struct fs_given *g, uint64_t off, uint64_t len);
/* Every page of block @k was given. */
bool fs_given_whole(const struct fs_given *g, uint32_t k);
/* At most this many blocks behind a read fs_given_passed() looks at. */
#define FS_GIVEN_SCAN 16
/*
 * A read ended at @end: the blocks the cache may let go of now, written to
 * @out (room for 2 * FS_GIVEN_SCAN), their count returned. Those are the
 * blocks given whole among the FS_GIVEN_SCAN up to the one @end falls in,
 * each once; and each of those again once FS_GIVEN_AGAIN_LAG more blocks
 * have been returned, for pages that were still dirty the first time (the
 * last ones returned never are).
 */
size_t fs_given_passed(struct fs_given *g, uint64_t end, uint32_t *out);

/* An open file. */
struct fs_handle {
	struct fs_open open;         /* first: on fs->open_items */
	struct fs_node *node;        /* held */
	struct repo_snapshot *snap;    /* a ref: the file keeps its commit */
	const struct repo_entry *entry;
	struct cache_key key;
	struct repo_source source;
	struct cache_source src;
	pthread_mutex_t lock;        /* guards the read-ahead state */
	uint64_t next_offset;        /* the end of the current run: where a sequential read goes on */
	uint64_t run_start;          /* where the current run began */
	bool run_in_order;           /* every read of the run began where the last ended */
	uint64_t last_run_len;       /* how long the run before this one was, in bytes */
	uint32_t ahead;              /* blocks below this were queued for read-ahead */
	bool completing;             /* its missing blocks were queued (complete_in_background()) */
	uint8_t *asked;              /* per block: a read asked for a byte of it; NULL: not counted */
	uint32_t n_asked;            /* blocks with asked set */
	uint32_t push_next;          /* blocks below this were handed to the kernel (push_ahead()) */
	struct fs_given given;       /* what the kernel has of it */
	uint64_t pushed_end;         /* where the bytes handed to the kernel end; 0: none this run */
	atomic_bool poisoned;        /* its content failed verification: EIO from now on */
	atomic_uint refs;            /* the kernel's (open to release), and a pushing read's */
	uint32_t rejects_at_open;    /* cache_object_rejects() when opened; constant */
	int64_t opened_ms;           /* time_mono_ms() then; constant */
};

/* ---- inode.c ---- */

int fs_table_init(struct fs *fs);
/*
 * With --repo: load the root's repo before mounting. 0, or -errno when the
 * Hub says it or its revision is not there or not ours to read (said in
 * the log); a Hub that cannot be reached is no reason not to mount.
 */
int fs_check_root_repo(struct fs *fs);
void fs_table_release(struct fs *fs);
/* The node of inode @ino, or NULL; not held (see "Lifetime"). */
struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino);
/* Our own hold on @node, for as long as we keep the pointer. */
void fs_node_hold(struct fs *fs, struct fs_node *node);
void fs_node_release(struct fs *fs, struct fs_node *node);
/* The kernel dropped @n lookups of @node: freed when nothing holds it. */
void fs_node_forget(struct fs *fs, struct fs_node *node, uint64_t n);
/*
 * Retire the file nodes of object @key, whose content failed its hash:
 * see inode.c. The caller holds fs->lock.
 */
size_t fs_nodes_retire_locked(struct fs *fs, const struct cache_key *key, uint32_t rejects,
			      fuse_ino_t **inos);

/* After FORGETs: return freed memory to the system once most nodes went. */
void fs_table_trim(struct fs *fs);
/* Nodes alive now (tests and status). */
size_t fs_node_count(struct fs *fs);

/*
 * Find @name in directory @parent, making the node if needed (an org or
 * repo lookup may ask the Hub). On success *@out has its lookup count
 * raised by one. Returns 0 or -errno (-ENOENT, -EACCES, -EIO...).
 */
int fs_lookup(struct fs *fs, const struct fs_wait *w, struct fs_node *parent,
	      const char *name, struct fs_node **out);

/* The node of entry @index of @snap inside folder @dir, its lookup count raised. */
struct fs_node *fs_entry_lookup(struct fs *fs, struct fs_node *dir,
				struct repo_snapshot *snap, uint32_t index);

/* Is @snap the one @r shows now (not one a branch moved away from)? */
bool fs_repo_is_current(struct fs_repo *r, const struct repo_snapshot *snap);

/*
 * The snapshot @node shows now (re-resolving a branch after its TTL). A
 * ref. Loading runs on a helper thread; the caller waits within @w and
 * may get -EINTR or -ETIMEDOUT while the load goes on for later callers.
 */
int fs_node_snapshot(struct fs *fs, const struct fs_wait *w, struct fs_node *node,
		     struct repo_snapshot **snap, uint32_t *entry);

/*
 * The inode number stat and readdir show for @name in the folder whose
 * number is @parent_ino (the root's is FUSE_ROOT_ID), and of content
 * @oid for a file (NULL for a folder), refused @refusals times in this
 * mount (cache_object_rejects(), 0 for a folder): the first 8 bytes of a
 * sha256 of them. A name keeps its number when the kernel forgets it,
 * across mounts and across commits while its content stays; other
 * content under the name has another, and so has the inode made after
 * its content was refused (fs_nodes_retire_locked()): what was served
 * under the old number was refused, and a tool that compares (dev, ino)
 * must not take the file for the one it read. Never 0 or FUSE_ROOT_ID.
 */
uint64_t fs_child_ino(uint64_t parent_ino, const char *name, const char *oid,
		     uint32_t refusals);

/*
 * At a file's open: have the cache keep what it knows of @node's content
 * for as long as the node lives, for the kernel may keep its pages as
 * long (cache_object_hold()). Once per node; best effort.
 */
void fs_node_hold_object(struct fs *fs, struct fs_node *node);

/* Attributes of @node; also says how long the kernel may keep them. */
int fs_node_stat(struct fs *fs, const struct fs_wait *w, struct fs_node *node,
		 struct stat *st, double *timeout);

/*
 * The names in a folder of names (the root, datasets/, spaces/, an org):
 * what the cache knows, what the Hub lists for an org (kept for the
 * revision TTL), and what this mount has found; sorted, each once.
 */
int fs_virtual_list(struct fs *fs, const struct fs_wait *w, struct fs_node *dir,
		    struct fs_names *out);
void fs_names_release(struct fs_names *l);

/*
 * An open folder. A repo folder's listing is its snapshot's: an entry's
 * readdir offset is derived from its index there, so offsets stay valid
 * for as long as the folder is open. A folder of names is a sorted list.
 */
struct fs_dir {
	struct fs_open open;         /* on fs->open_items while open */
	struct fs_node *node;        /* held */
	struct repo_snapshot *snap;    /* REPO, ENTRY: a ref */
	uint32_t dir;                /* REPO, ENTRY: the folder's index in snap */
	struct fs_names names;       /* ROOT, TYPE, ORG */
};

/* "model/ORG/NAME@REV" and such, for log lines. */
void fs_node_describe(struct fs *fs, struct fs_node *node, char *out,
		      size_t size);

/* ---- prefetch.c ---- */

/*
 * Start read-ahead with a window of @threads fetches that adapts up to
 * @max_streams (hub/pace.h); the mount's Hub client reports its 429s and
 * 503s to it until fs_prefetch_stop().
 */
int fs_prefetch_start(struct fs *fs, unsigned threads, unsigned max_streams);
/* At the unmount, first: no place in the window is given any more. */
void fs_prefetch_cancel(struct fs *fs);
void fs_prefetch_stop(struct fs *fs);
/* The read-ahead window now (0 without read-ahead). */
unsigned fs_prefetch_window(struct fs *fs);
/* The read-ahead window's counters (all 0 without read-ahead). */
void fs_prefetch_pace_stats(struct fs *fs, struct hub_pace_stats *out);
/* Queue block @index of @h's file; takes its own snapshot ref. */
void fs_prefetch_block(struct fs *fs, struct fs_handle *h, uint32_t index);
/*
 * Fetch every block of @h's file from @from to its end, @stride at a time
 * in the queue: each fetch that succeeds queues the block @stride further
 * on (a failure ends the chain). Best effort, as all read-ahead.
 */
void fs_prefetch_complete(struct fs *fs, struct fs_handle *h, uint32_t from, uint32_t stride);
/*
 * @h was closed: the read-ahead its reads queued and no worker has taken
 * yet goes (fetches in flight end as they would). Nothing reads through
 * it any more; a reader of 32 MiB from the first byte, 30 ms away, that
 * then closed had 72 blocks fetched for its 8, 44-48 now. What completes its
 * file (fs_prefetch_complete()) stays: the file ends verified.
 */
void fs_prefetch_forget(struct fs *fs, const struct fs_handle *h);

/* ---- inval.c ---- */

/*
 * The thread that drops the kernel's pages (fs_inval()); until
 * fs_inval_stop(), which waits a second at most for a drop the kernel
 * holds up, and then fs_inval_finish(), after the unmount, which joins it.
 */
int fs_inval_start(struct fs *fs);
void fs_inval_stop(struct fs *fs);
void fs_inval_finish(struct fs *fs);
/*
 * Drop the kernel's cached pages of @ino, soon, from a thread of its own:
 * inside the read that found the problem the kernel would wait for that
 * read's page locks, and behind the read-ahead's fetches for a stalled Hub.
 * Never lost: a drop pending for @ino widens to take this one in. None
 * once fs_inval_close() closed the queue.
 */
void fs_inval(struct fs *fs, fuse_ino_t ino);
/* fs_inval() of the pages of [@off, @off + @len) only. */
void fs_inval_range(struct fs *fs, fuse_ino_t ino, off_t off, off_t len);
/*
 * Take no more drops, once none is pending or in the kernel; with @force
 * now, the pending ones given up unsent. True when it closed with none
 * pending or in the kernel. For the end of the mount on a signal
 * (signals.c), while the loop still answers the READs a drop may wait on.
 */
bool fs_inval_close(struct fs *fs, bool force);

/* ---- wait.c ---- */

/* @w for @req (NULL: a thread of ours): the mount's op_timeout, plus a second. */
void fs_wait_init(struct fs_wait *w, struct fs *fs, fuse_req_t req);

/*
 * The mount ends: a signal came, or its session loop was told to exit (an
 * unmount); nobody reads /dev/fuse any more, or soon will not (signals.c).
 */
bool fs_ending(struct fs *fs);

/*
 * Handlers of SIGHUP, SIGINT and SIGTERM (where their disposition is the
 * default) that end the mount by way of fs_stopper_start()'s thread, and
 * SIGPIPE ignored, as libfuse's fuse_set_signal_handlers() does; one mount
 * per process. 0 or -errno. fs_signals_remove() puts the defaults back
 * (the parent that waits for the daemon's report too: a signal ends it,
 * not the daemon's mount).
 */
int fs_signals_set(void);
void fs_signals_remove(void);
/*
 * On the thread that will run the session loop, after daemonizing: start
 * the thread that ends the mount on a signal. 0 or -errno. Once the loop
 * has returned, fs_stopper_stop() ends and joins it.
 */
int fs_stopper_start(struct fs *fs);
void fs_stopper_stop(struct fs *fs);
/*
 * Once the session loop has returned: a thread answers every request the
 * kernel still sends (ECONNABORTED), so that a notification waiting on a
 * page of a queued READ ends; fs_drainer_stop() ends it, last, and closes
 * its descriptor, the last hold on the connection.
 */
void fs_drainer_start(struct fs *fs);
void fs_drainer_stop(struct fs *fs);

/*
 * 0 while @w may go on waiting; -EINTR once the kernel interrupted its
 * request, -ETIMEDOUT past its deadline, -ECANCELED when the mount ends.
 */
int fs_wait_check(struct fs *fs, const struct fs_wait *w);

/*
 * pthread_cond_wait() on @cond (with @lock held) for at most a short
 * slice, then fs_wait_check(). Spurious and timed-out wake-ups are
 * normal: the caller loops on its own condition.
 */
int fs_wait_slice(struct fs *fs, const struct fs_wait *w, pthread_cond_t *cond,
		  pthread_mutex_t *lock);

/*
 * Run @fn(@fs, @arg) on a new detached thread, counted so that the mount
 * can wait for all of them at its end (fs_helpers_drain()). When none can
 * be had, waits for one within @w; with no request (@w NULL) runs @fn on
 * the caller's thread. Returns 0 once @fn runs or ran, or -EINTR /
 * -ETIMEDOUT / -ECANCELED from @w: then @fn never runs, and the caller
 * undoes what it prepared for it.
 */
int fs_helper_run(struct fs *fs, const struct fs_wait *w,
		  void (*fn)(struct fs *fs, void *arg), void *arg);
void fs_helpers_drain(struct fs *fs);
/* fs_helper_run() without waiting: 0, or -EBUSY (the cap) or -errno (no thread now). */
int fs_helper_try(struct fs *fs, void (*fn)(struct fs *fs, void *arg), void *arg);
/*
 * Answer what reads still wait (ECANCELED, which the reader gets as
 * ECONNABORTED) and end the thread that watches them; again is harmless
 * (ops.c).
 */
void fs_parked_stop(struct fs *fs);
/* Have the watcher of parked reads look at them now: the mount ends (fs_ending()). */
void fs_parked_wake(struct fs *fs);
/*
 * How many helpers may run at once (fs->helpers_max), from the open files
 * allowed, after raising that limit to its hard one. Before the first
 * request; a thread of its own is not needed.
 */
void fs_helpers_size(struct fs *fs);

/* ---- ops.c ---- */

/*
 * The FUSE callbacks fs_run() serves. Not static only so that
 * tests/unit/test_fs_ops.c can call them with requests of its own.
 */
extern const struct fuse_lowlevel_ops fs_ops;

/* The one place where internal errors become kernel errnos. */
int fs_errno_for_kernel(int rc);

/*
 * The object @key failed its whole-object hash, its failure number
 * @rejects (cache_object_rejects() after it): every open file of an inode
 * made before that fails from now on, the kernel's pages of those inodes
 * are dropped (queued to a worker), and their names lead to new inodes
 * (fs_nodes_retire_locked()): an open after the failure never shares pages
 * with one before it, and a late report of the failure leaves it alone.
 */
void fs_poison_object(struct fs *fs, const struct cache_key *key, uint32_t rejects);

/*
 * @entry of @snap (the object @key) failed its hash where no reader's
 * request waits to say so (read-ahead, or a read answered before its block
 * was stored): log it, with repo, revision, file and @why, and poison it.
 */
void fs_refuse_object(struct fs *fs, const struct repo_snapshot *snap,
		      const struct repo_entry *entry, const struct cache_key *key,
		      const char *why);

/* ---- status.c ---- */

/* The root's attribute that `hubfs status` reads: one JSON object. */
#define FS_STATUS_XATTR "user.hubfs.status"

struct buf;
/* The mount's counters as JSON into @out. 0 or -ENOMEM. */
int fs_status_render(struct fs *fs, struct buf *out);

/* Around a read request; fs_status_served() as it replies with @n bytes. */
void fs_status_read_begin(struct fs *fs);
void fs_status_read_end(struct fs *fs);
void fs_status_served(struct fs *fs, size_t n);
/* @n bytes handed to the kernel's page cache ahead of the reads (push_ahead()). */
void fs_status_pushed(struct fs *fs, size_t n, bool spliced);

#endif /* HUBFS_FS_FS_INT_H */
