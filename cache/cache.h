/* SPDX-License-Identifier: MIT */
/*
 * The verified block cache: bytes a reader gets are the bytes the Hub
 * published, or an error.
 *
 * Objects are content-addressed by the Hub's own hash (sha256 for LFS
 * files, the git blob sha1 otherwise), split into CACHE_BLOCK_SIZE blocks.
 * Each block file carries a CRC-32C per 64 KiB chunk, checked on every
 * read that serves bytes from disk; a block that fails is dropped and
 * fetched again. When all blocks of an object are present, the whole
 * object is hashed and compared with its name: only then is it verified;
 * on a mismatch it is discarded and the read that completed it fails with
 * -EBADMSG.
 *
 * The cache never speaks HTTP: missing blocks come through a struct
 * cache_source. The directory may be shared by several processes; every
 * file is written to a temporary name and then linked (blocks: never over
 * an existing one) or renamed (meta) into place, so a crash (kill -9)
 * loses at most the blocks in flight (docs/cache-format.md). The cap
 * (max_bytes) is the directory's: DIR/usage counts every block file.
 *
 * Threads: every function may be called from many threads at once. One
 * mutex guards the in-memory index; it is never held across network I/O.
 * The directory's usage lock is taken before it, never after.
 * Concurrent misses of one block in one process cause one fetch.
 *
 * Errors: 0 (or a count) or a negative errno. -EBADMSG: integrity failure
 * (corrupt data, wrong hash, a Git-LFS pointer where content was due, a
 * size other than the listing's); -ENOSPC: the cache cannot make room;
 * anything else a source returned. Details go to struct cache_error.
 */
#ifndef HUBFS_CACHE_CACHE_H
#define HUBFS_CACHE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CACHE_BLOCK_SIZE (4u << 20)  /* docs/cache-format.md says why */
#define CACHE_CHUNK_SIZE (64u << 10) /* the unit of the per-block CRCs */

enum cache_algo {
	CACHE_ALGO_SHA256 = 1,   /* LFS files: sha256 of the content */
	CACHE_ALGO_GIT_SHA1 = 2, /* git files: sha1("blob <size>\0" + content) */
};

/* Which object: its hash, and what the listing says about it. */
struct cache_key {
	enum cache_algo algo;
	char hash[65];   /* lower-case hex: 64 (sha256) or 40 (git sha1) */
	uint64_t size;   /* from the listing */
};

struct cache_error {
	char message[512]; /* why, for the log; "" when not set */
	/*
	 * The failure was that of a fetch another caller began and this one
	 * joined (its deadline, not this caller's): worth asking again.
	 */
	bool joined_fetch_failed;
};

/*
 * Receives the bytes of a fetch_stream(): @len bytes at @offset within
 * the range asked for. 0, or a negative errno to stop the fetch.
 */
typedef int (*cache_sink_fn)(void *sink, uint64_t offset, const void *data, size_t len);

/*
 * Where missing bytes come from. fetch() must deliver exactly @len bytes
 * at @offset of the object into @out, or fail with a negative errno and
 * say why in @err (may be NULL). It is called without any cache lock
 * held, from many threads at once.
 */
struct cache_source {
	int (*fetch)(void *ctx, const struct cache_key *key, uint64_t offset,
		     size_t len, void *out, struct cache_error *err);
	/*
	 * Optional, and used when set: the same bytes handed to @sink as they
	 * arrive, so that a fetch holds no block-sized buffer. Each byte once,
	 * one call to @sink at a time (a sink is not thread-safe); chunks
	 * (CACHE_CHUNK_SIZE-aligned) may come in any order, each chunk's bytes
	 * in order.
	 */
	int (*fetch_stream)(void *ctx, const struct cache_key *key, uint64_t offset,
			    size_t len, cache_sink_fn sink, void *sink_ctx,
			    struct cache_error *err);
	void *ctx;
};

struct cache_options {
	const char *dir;        /* the cache directory (created if missing) */
	uint64_t max_bytes;     /* the directory's cap while this process lives; 0: none of its own */
	double min_free_ratio;  /* keep this share of the filesystem free (0..1) */
};

struct cache;

/*
 * Open (creating) the cache in opts->dir: checks the format marker,
 * removes leftovers of dead writers, and counts what is stored.
 * Returns 0 or -errno; -EPROTO for a directory of another format.
 */
int cache_open(const struct cache_options *opts, struct cache **out);
/*
 * The process that opened @c forked, and the child goes on with it (a
 * mount going to the background): the cap it recorded in the directory
 * (--max-cache-size, which binds the other processes that share it) is
 * the child's now. Recorded under the parent's pid, it ended when the
 * parent exited, and bound nothing beside the mount.
 */
void cache_cap_follows_fork(struct cache *c);
void cache_close(struct cache *c);

/* "${HUBFS_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/hubfs}" into @out. */
int cache_default_dir(char *out, size_t size);

/* The cache directory, for the metadata functions of cache/meta.h. */
const char *cache_dir(const struct cache *c);

/* Is @key well-formed (algo, hex length, size within bounds)? */
bool cache_key_is_valid(const struct cache_key *key);

/*
 * Read up to @len bytes at @offset of the object into @buf, fetching the
 * missing blocks through @src. Returns the number of bytes read (short
 * only at the end of the object) or a negative errno; never wrong bytes.
 * The read that completes an object waits for its whole-object hash.
 */
ssize_t cache_read(struct cache *c, const struct cache_key *key,
		   const struct cache_source *src, void *buf, size_t len,
		   uint64_t offset, struct cache_error *err);

/*
 * cache_read() that also calls @ready(@ctx) as soon as @buf holds all the
 * bytes asked for (up to the object's end: the caller answers with no
 * more), when that is before the call returns: the read's last block is
 * being fetched, and the bytes have arrived, not yet the rest of the
 * block. A reader's first byte then waits for its own bytes,
 * not for the block's 4 MiB. Never for a read of the object's last block
 * or one that would complete the object while the block arrives, nor for
 * block 0 before its first bytes are known not to be a Git-LFS pointer.
 * The read that completes the object is told once its block is stored,
 * before this call hashes the whole object, while a chunk of the object
 * remains that no read was given (the read that serves the last of them
 * is told after the verdict): a failed hash is then this call's return
 * only. @ready runs at most once, with no cache lock held, on the thread
 * that has the bytes: this one, or the one fetching the block this read
 * joined (so it must not wait long). From then on nothing more is written
 * to @buf, so the caller may hand it on (the mount answers with it while
 * this call stores the block, or hashes the object).
 */
ssize_t cache_read_early(struct cache *c, const struct cache_key *key,
			 const struct cache_source *src, void *buf, size_t len,
			 uint64_t offset, struct cache_error *err,
			 void (*ready)(void *ctx), void *ctx);

/*
 * cache_read() when it can answer from disk at once: every block of the
 * range present and no fetch, eviction or hash to wait for. Never fetches
 * and never waits on another thread, so a caller that must stay
 * responsive (a FUSE request) may call it inline. -EWOULDBLOCK: it would
 * have to do one of those, or met something only cache_read() handles (a
 * failed CRC, a vanished file): call cache_read(), which also reports it.
 */
ssize_t cache_read_cached(struct cache *c, const struct cache_key *key, void *buf,
			  size_t len, uint64_t offset, struct cache_error *err);

/*
 * cache_read_cached() of [@offset, @offset + @len), within one block, that
 * hands out the block's file instead of its bytes, unread: once, for a
 * file this process stored less than 10 s before. Its CRCs were computed
 * from those very bytes as they arrived, and its pages are as a rule still
 * the ones written, in memory (the mount splices them into the kernel's
 * page cache ahead of a reader in order; fs/ops.c). A file changed in
 * place between the two goes unnoticed by this call, and by the object's
 * hash only if the hash reads it after. Every other read of the block
 * reads and checks its bytes. The open descriptor, the bytes at *@pos in
 * it; the caller closes it. -EWOULDBLOCK when cache_read_cached() must
 * read and check them instead: absent, busy, awaiting a verdict, stored by
 * another process, an earlier one or too long ago, or handed out before.
 * -EINVAL across blocks.
 */
int cache_open_stored(struct cache *c, const struct cache_key *key, uint64_t offset,
		      size_t len, uint64_t *pos);

/*
 * Make block @index present (fetching it if needed), without copying.
 * Verifies the object when this call completed it, or when it is complete
 * and nobody verifies it; a verification running in another thread is
 * not waited for. A block that the object's running hash took and that
 * has gone since is left absent (0): fetched again, it would end the hash,
 * and a reader that needs it fetches it itself.
 */
int cache_prefetch(struct cache *c, const struct cache_key *key,
		   const struct cache_source *src, uint32_t index,
		   struct cache_error *err);

/*
 * Fetch every missing block and verify the whole object (the strict mode
 * of opening a file, and downloads). 0 once verified, or -errno.
 */
int cache_fill(struct cache *c, const struct cache_key *key,
	       const struct cache_source *src, struct cache_error *err);

struct cache_object_info {
	uint64_t cached_bytes;  /* content bytes present */
	uint32_t blocks_present;
	uint32_t blocks_arriving; /* being fetched by this process, not yet stored */
	uint32_t blocks_total;
	uint32_t first_absent;  /* the lowest block not stored (blocks_total: none) */
	bool verified;
	bool verifying;         /* a thread is hashing the whole of it */
	bool vouched;           /* a hash found it right since its last rejection */
	uint32_t hash_losses;   /* hashes that ended with no verdict, ever (never decreases) */
};

/*
 * How many times @key's content has failed its hash in this process (0
 * for an object it never saw). A reader that noted the count before its
 * first read knows, at any later read, whether bytes it was already given
 * belonged to content found wrong since. O(1), no I/O.
 */
uint32_t cache_object_rejects(struct cache *c, const struct cache_key *key);

/*
 * Keep what this process knows of @key's content (the stamps of the bytes
 * its readers were given, whether a hash vouched for them, its counts)
 * until cache_object_release(), though all its blocks be evicted. The
 * mount holds an object for each inode of it that was opened, whose pages
 * may hold its bytes. Without a hold, an object nothing uses and with
 * nothing cached is forgotten, so that the index stays the size of what
 * is cached and in use. 0, -EINVAL, -EBADMSG (stored with another size)
 * or -ENOMEM; no I/O.
 */
int cache_object_hold(struct cache *c, const struct cache_key *key);
void cache_object_release(struct cache *c, const struct cache_key *key);

/*
 * How many hashes of @key's content ended with no verdict in this process
 * (cache_object_info()'s hash_losses, in O(1) and with no walk).
 */
uint32_t cache_object_hash_losses(struct cache *c, const struct cache_key *key);

/*
 * Refuse @key's content as a failed hash does (@why, for readers that
 * fail after): every reader of it fails, its files go, and it is fetched
 * again. For a reader that got all of it with no hash to vouch for it.
 */
void cache_object_reject(struct cache *c, const struct cache_key *key, const char *why);

/*
 * How many blocks of @key its running hash could take now and has not:
 * stored, in order from the first it has not taken, while a thread is
 * hashing them (0 when none is: one block, verified, not begun). What
 * fetches ahead (downloads, read-ahead) tells its pace by this that the
 * hash, not the network, is the limit. O(that many), no I/O.
 */
uint32_t cache_hash_backlog(struct cache *c, const struct cache_key *key);

/* What is stored of @key (zeros when nothing). Never does I/O past a stat. */
void cache_object_info(struct cache *c, const struct cache_key *key,
		       struct cache_object_info *out);

/*
 * The kernel holds block @k of @key whole in the mount's own page cache
 * (a reader was given all of it): the block file's pages need not stay
 * there too. Its clean pages go now if the running hash has taken
 * the block (or a hash vouched for the object), else when the hash takes it;
 * dirty ones start their write, and go at a later call: call it again
 * for the block some blocks later. From the first call on, each block
 * of @key stored starts its write at once, so that it is clean when let
 * go of. Best effort, no error: a block read again comes from disk.
 */
void cache_drop_behind(struct cache *c, const struct cache_key *key, uint32_t k);

/*
 * Bring the index's view of @key up to date with the disk, where other
 * processes (hubfs cache evict|prune, a download) may have added, evicted
 * or verified blocks: one stat per block, a read of the meta file, and,
 * when that says verified, each block's header (its write id).
 * For what shows the cache's state to people (getfattr); reads need it
 * not, they find out on their own.
 */
void cache_object_refresh(struct cache *c, const struct cache_key *key);

/* Number of blocks of an object of @size bytes. */
uint32_t cache_blocks_for(uint64_t size);

/* ---- maintenance (hubfs cache ...) ---- */

/*
 * What this process knows of (the scan at open, and what it used since),
 * and the directory's shared count.
 */
struct cache_usage {
	uint64_t bytes;     /* of the block files this process knows, headers included */
	uint64_t objects;   /* the same, objects */
	uint64_t blocks;    /* the same, blocks */
	uint64_t dir_bytes; /* of the whole directory, every process's (DIR/usage) */
};
void cache_usage(struct cache *c, struct cache_usage *out);

typedef int (*cache_object_fn)(void *ctx, const struct cache_key *key,
			       const struct cache_object_info *info);
/* Every stored object. A non-zero return of @fn stops and is returned. */
int cache_each_object(struct cache *c, cache_object_fn fn, void *ctx);

struct cache_verify_report {
	uint32_t blocks_checked;
	uint32_t blocks_corrupt;   /* failed their CRC (dropped with repair) */
	bool complete;             /* all blocks present */
	bool hash_ok;              /* complete and the whole hash matched */
};

/*
 * Re-read every block of @key and, when complete, rehash it. With
 * @repair, corrupt blocks are dropped and an object whose hash is wrong is
 * discarded. Returns 0 when nothing was wrong, -EBADMSG when something
 * was, or another -errno.
 */
int cache_verify_object(struct cache *c, const struct cache_key *key,
			bool repair, struct cache_verify_report *out);

/* Remove an object. -EBUSY while a reader uses it, -ENOENT if absent. */
int cache_evict_object(struct cache *c, const struct cache_key *key);

/* Evict least-recently-used blocks until the cache holds at most @max_bytes. */
int cache_prune(struct cache *c, uint64_t max_bytes, uint64_t *freed);

/* Counters for tests and benchmarks. */
struct cache_stats {
	uint64_t fetches;        /* blocks fetched from the source */
	uint64_t fetch_waits;    /* reads that waited for another's fetch of a block */
	uint64_t fetch_joins;    /* of those, answered from its bytes as they arrived */
	uint64_t fetch_bytes;
	uint64_t disk_hits;      /* block reads served from disk */
	uint64_t corrupt_blocks; /* dropped for a failed CRC */
	uint64_t evicted_blocks;
	uint64_t verified;       /* whole-content hashes that matched (again for each time) */
	/* objects or blocks refused: hash, pointer, size, stamp, a broken transfer already answered */
	uint64_t rejected;
	/* files or object folders the walk at open removed: they could not be what they claimed */
	uint64_t dropped_at_open;
};
void cache_stats(struct cache *c, struct cache_stats *out);

/*
 * The bytes the running hashes of @cache (a struct cache) have taken so
 * far: how fast the verified read goes, for the windows of transfers. A
 * void pointer, so that it is hub_pace_opts.consumed as it stands. Takes
 * no lock; any thread.
 */
uint64_t cache_hashed_bytes(void *cache);

#endif /* HUBFS_CACHE_CACHE_H */
