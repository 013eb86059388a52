/* SPDX-License-Identifier: MIT */
/*
 * Private to cache/: the on-disk records (block.c) and the in-memory
 * index (cache.c). docs/cache-format.md is the spec of the records.
 *
 * Names: cache_block_* are block files (DIR/objects/.../b<k>);
 * cache_objmeta_* is the object meta file beside them (DIR/objects/.../meta),
 * one per object. Neither is the repo metadata of cache/meta.h (listings,
 * refs), which has no "meta" in its names: cache_listing_*, cache_ref_*.
 */
#ifndef HUBFS_CACHE_CACHE_INT_H
#define HUBFS_CACHE_CACHE_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache/cache.h"
#include "util/digest.h"
#include "util/fileio.h"
#include "util/uhash.h"

#define CACHE_FORMAT_VERSION 2 /* of block files: 2 added the content stamp */
#define CACHE_MARKER "hubfs-cache 1\n"
#define CACHE_CHUNKS_MAX (CACHE_BLOCK_SIZE / CACHE_CHUNK_SIZE)
/*
 * 1 TiB, as the Hub client accepts: an object's block states cost 64 bytes
 * per 4 MiB, 16 MiB at this size, and a tampered object meta file must
 * not make every open allocate 4 GiB.
 */
#define CACHE_MAX_OBJECT_SIZE (UINT64_C(1) << 40)

/* Block file: a header of cache_block_header_size() bytes, then the data. */
struct cache_block_header {
	enum cache_algo algo;
	uint8_t hash[32];       /* the object's hash, raw; sha1 uses 20 bytes */
	uint64_t object_size;
	uint64_t index;         /* block number */
	uint32_t data_len;      /* bytes of data that follow */
	uint32_t header_size;   /* where the data starts */
	uint32_t n_chunks;
	uint32_t chunk_crc[CACHE_CHUNKS_MAX];
	uint64_t write_id;      /* random, never 0: which write made this file */
	uint64_t key_id;        /* the stamp key's id (struct uhash_key); 0: format 1, no stamp */
	uint64_t stamp;         /* the data's keyed sum, never 0 (struct cache_block_id) */
};

#define CACHE_BLOCK_HEADER_ENCODED 368 /* bytes of a block header's fields */

/*
 * Object meta file (DIR/objects/.../meta): the object's identity and
 * whether it is verified. A verified object meta file names, per block,
 * the write id of the block file whose bytes were hashed: a block file
 * with any other id was not verified, whatever the clocks say
 * (docs/cache-format.md, "Why verified holds").
 */
struct cache_objmeta {
	enum cache_algo algo;
	uint8_t hash[32];
	uint64_t object_size;
	uint32_t block_size;
	bool verified;
	uint32_t n_ids;         /* 0, or (verified) the object's block count */
	uint64_t *ids;          /* n_ids write ids; owned, free with cache_objmeta_release() */
};

/*
 * Which file a block's bytes were read from, or written to, and what they
 * are. The write id names the file: ids never repeat. The content stamp
 * names the bytes: the keyed sum (util/uhash.h) of the data, made by the
 * writer as the bytes pass, with the key of the cache directory (its
 * stamp-key file), and kept in the header with the key's id; mixed with
 * that id, so that stamps of two keys never compare equal; never 0, 0
 * meaning "not known". A block file stamped with another key (or of
 * format 1, unstamped) is summed anew with this process's key when it is
 * opened, and its header rewritten (cache_block_read()). Two files of one
 * block whose stamps differ hold different bytes, so the Hub sent two
 * contents for one immutable object, and readers may have had the wrong
 * one (docs/cache-format.md, "A block that comes back different"). Equal
 * stamps of different bytes happen with probability at most 3 * 2^-64
 * (a sum of 0 is kept as 1) for whoever sent them, who never sees the
 * key: proof against a forger too, as a CRC is not.
 */
struct cache_block_id {
	uint64_t write_id;
	uint64_t content;
};

#define CACHE_OBJMETA_VERSION 2
#define CACHE_OBJMETA_FIXED 72 /* bytes before the ids; a CRC-32C follows them */

/* ---- block.c: block files ---- */

/* Hex hash of @key into its raw form; 0 or -EINVAL. */
int cache_hash_raw(const struct cache_key *key, uint8_t raw[32]);

/*
 * Decode and check the CACHE_BLOCK_HEADER_ENCODED bytes at @in: magic, version,
 * header CRC, geometry. Which object and index it names is the caller's
 * to check. 0 or -EBADMSG.
 */
int cache_block_header_decode(const uint8_t *in, struct cache_block_header *h);

/* Data offset for a block of @data_len bytes: small blocks use less. */
uint32_t cache_block_header_size(uint32_t data_len);

/*
 * A block file written as its bytes arrive, so that a fetch needs no
 * block-sized buffer: open a temporary file beside @path, put the data
 * in pieces, then close it into a complete block (header and CRCs) ready
 * to publish under @path. One thread at a time (the stage below is
 * shared); chunks may come in any order, each CACHE_CHUNK_SIZE chunk's
 * bytes in order (the CRCs are computed as the bytes pass).
 */
/*
 * The bytes put go to the file in pieces of CACHE_WRITER_STAGE: libcurl
 * hands a transfer over 16 KiB at a time, and a pwrite of each was 33,000
 * system calls for 512 MiB, more CPU than the copy into the stage costs.
 */
#define CACHE_WRITER_STAGE (256u << 10)

struct cache_block_writer {
	struct fileio_atomic file;             /* not fsync'ed (docs/cache-format.md) */
	struct cache_block_header h;
	const struct uhash_key *stamp_key;     /* the directory's, not owned */
	uint32_t chunk_done[CACHE_CHUNKS_MAX]; /* bytes of each chunk put so far */
	uint64_t chunk_sum[CACHE_CHUNKS_MAX];  /* each chunk's keyed sum so far */
	uint8_t *stage;                        /* bytes put, not yet written; or NULL */
	uint32_t stage_off, stage_len;         /* where in the data, how many */
	bool preallocated;                     /* its disk blocks were taken at open */
};

/*
 * Stamped with @stamp_key (the cache's; it outlives the writer). 0, or
 * -errno (-ENOENT: the object's directory is gone; -EROFS: no key).
 */
int cache_block_writer_open(struct cache_block_writer *w, const char *path,
			    const struct cache_key *key, uint32_t index, uint32_t len,
			    const struct uhash_key *stamp_key);

/*
 * Put @len bytes at @offset of the block's data. 0, -EINVAL or -errno. The
 * bytes may reach the file only at cache_block_writer_close().
 */
int cache_block_writer_put(struct cache_block_writer *w, uint32_t offset,
			   const void *data, size_t len);

/*
 * Copy @len bytes at @offset of the data put so far to @out: from the
 * stage, or read back from the file. The caller knows they were put.
 * 0, -EINVAL or -errno.
 */
int cache_block_writer_get(const struct cache_block_writer *w, uint32_t offset, void *out,
			   uint32_t len);

/*
 * Every byte put: write the header and close. The complete file then
 * waits in w->file for a commit; *@id (may be NULL) says which it is.
 * -EBADMSG when a byte is missing; on any failure the temporary file is
 * gone.
 */
int cache_block_writer_close(struct cache_block_writer *w, struct cache_block_id *id);

/* Give up: close and remove the temporary file. */
void cache_block_writer_abort(struct cache_block_writer *w);

/*
 * Feed the data of block @index of @key at @path to @d, read from the
 * file in pieces, and say which file that was (*@id). Each chunk's CRC is
 * checked, unless the file is the one this process just stored, write id
 * @fresh_id (0: none), whose CRCs were made from those very bytes as they
 * arrived (as cache_open_stored()'s): a block damaged on disk (zeros after
 * a power loss) is then one block to fetch again (-EBADMSG), where the
 * whole-object hash would refuse every block and blame the Hub. With
 * @drop_pages the file's clean pages leave the page cache after. 0,
 * -ENOENT, -EBADMSG (damaged, or not a block of this object) or -errno.
 */
int cache_block_hash(const char *path, const struct cache_key *key, uint32_t index,
		     struct digest *d, struct cache_block_id *id, bool drop_pages,
		     const struct uhash_key *stamp_key, uint64_t fresh_id);

/*
 * Write block @index of @key from @data (the block's @len bytes) into
 * @path atomically, with its CRCs, its stamp by @stamp_key and a new
 * random write id, which *@write_id (may be NULL) gets. 0 or -errno
 * (-ENOSPC).
 */
int cache_block_write(const char *path, const struct cache_key *key, uint32_t index,
		      const void *data, uint32_t len, const struct uhash_key *stamp_key,
		      uint64_t *write_id);

/*
 * Open block @index's file with its header checked as cache_block_read()
 * checks it, for [@off, @off + @len) of its data, which starts at *@pos
 * in the file. The data's CRCs are not checked: the caller vouches for
 * the bytes (cache_open_stored()). Without @may_restamp a file that
 * would need a new stamp is not read whole: its stamp is 0, not known.
 * The descriptor, or -errno.
 */
int cache_block_open_data(const char *path, const struct cache_key *key, uint32_t index,
			  uint32_t off, uint32_t len, struct cache_block_id *id, uint64_t *pos,
			  const struct uhash_key *stamp_key, bool may_restamp);

/*
 * Read bytes [@off, @off + @len) of the data of block @index of @key from
 * @path into @out, checking the header (magic, version, CRC, that it
 * belongs to this object and index) and the CRC of every chunk touched.
 * *@id (may be NULL) says which file the bytes came from: the very file
 * read (write id 0 for a block written before write ids existed).
 * A block file of format 1, or stamped with another key than @stamp_key,
 * is read whole first, checked against its chunk CRCs and summed with
 * @stamp_key; the header is rewritten with that stamp when the file can
 * be written (every one of these functions does that). With no key
 * (@stamp_key NULL: tests) such a file cannot be read: -EROFS, the file
 * stays, and other stamps are taken as they are.
 * Returns 0, -ENOENT (no file), -EBADMSG (corrupt or foreign), or -errno.
 */
int cache_block_read(const char *path, const struct cache_key *key, uint32_t index,
		     uint32_t off, uint32_t len, void *out, struct cache_block_id *id,
		     const struct uhash_key *stamp_key);

/*
 * Tests only: called with the descriptor of a block file that
 * cache_block_read() opened and checked, before it reads the bytes (a file
 * cut short there is damaged, not served).
 */
extern void (*cache_block_read_hook)(int fd);

/*
 * How long after its store a block file may be handed out unread
 * (cache_open_stored()): 10 s, within the kernel's 30 s before it writes
 * dirty pages back, so that the bytes are as a rule still the ones this
 * process wrote, in memory, not read back from the disk the CRCs guard
 * against. Tests may shorten it.
 */
extern int64_t cache_stored_fresh_ms;

/*
 * Tests only: called when a read that needs the object's verdict is about
 * to verify it whole (a block may go just then).
 */
extern void (*cache_settle_hook)(struct cache *c, const struct cache_key *key);

/*
 * Tests only: called when the running hash has read block @k from its
 * file, before it takes c->lock again to note it (another thread may
 * reject the object just then).
 */
extern void (*cache_hashed_block_hook)(struct cache *c, const struct cache_key *key,
				       uint32_t k);

/*
 * Tests only: called when cache_object_refresh() has looked at the disk,
 * before it takes c->lock to bring the index up to date.
 */
extern void (*cache_refresh_looked_hook)(struct cache *c, const struct cache_key *key);

/*
 * Ask the kernel to start reading block file @path into the page cache
 * (posix_fadvise WILLNEED), so that a sequential reader finds it there.
 * Best effort: no check, no error.
 */
void cache_block_readahead(const char *path);

/*
 * Block file @path's bytes are needed from memory no more: with @now, its
 * clean pages leave the page cache (posix_fadvise DONTNEED, which also
 * starts writing dirty ones); without, only the write of its dirty pages
 * starts (sync_file_range), so that a later drop finds them clean. Best
 * effort: no check, no error.
 */
void cache_block_drop_pages(const char *path, bool now);

/* ---- block.c: object meta files ---- */


/* @m->ids must hold @m->n_ids ids: 0, or the object's block count. */
int cache_objmeta_write(const char *path, const struct cache_objmeta *m);
/*
 * 0, -ENOENT, -EBADMSG, -errno. An object meta file of format 1 (before write
 * ids) reads as unverified. On success free @m with cache_objmeta_release().
 */
int cache_objmeta_read(const char *path, struct cache_objmeta *m);
void cache_objmeta_release(struct cache_objmeta *m);
/* Decode the @size bytes of an object meta file, as cache_objmeta_read() does. */
int cache_objmeta_decode(const uint8_t *buf, size_t size, struct cache_objmeta *m);

/* ---- paths and the stamp key (cache.c) ---- */

/* "<dir>/objects/<algo>/<h0h1>/<hash>" into @out. */
int cache_object_dir(const struct cache *c, const struct cache_key *key,
		     char *out, size_t size);

/*
 * The key of the directory's content stamps (its stamp-key file), read
 * or made when the cache is opened (which fails without one); a process
 * that replaced a damaged file has another key than those that read the
 * old one (cache_block_read() says what that costs).
 */
const struct uhash_key *cache_stamp_key(const struct cache *c);

#endif /* HUBFS_CACHE_CACHE_INT_H */
