/* SPDX-License-Identifier: MIT */
/*
 * The cache's records on disk: block files and object meta files, in the
 * versioned little-endian layout of docs/cache-format.md. Everything read
 * back is untrusted: magic, version, the header's own CRC, that the block
 * belongs to the object and index asked for, and each chunk's CRC.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "util/crc32c.h"
#include "util/digest.h"
#include "util/fileio.h"
#include "util/iobuf.h"
#include "util/log.h"
#include "util/uhash.h"

static const char block_magic[8] = { 'H', 'U', 'B', 'F', 'S', 'B', 'L', 'K' };
static const char objmeta_magic[8] = { 'H', 'U', 'B', 'F', 'S', 'O', 'B', 'J' };

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static size_t hash_len(enum cache_algo algo)
{
	return algo == CACHE_ALGO_SHA256 ? 32 : 20;
}

int cache_hash_raw(const struct cache_key *key, uint8_t raw[32])
{
	size_t n = hash_len(key->algo);

	memset(raw, 0, 32);
	if (!digest_is_hex(key->hash, 2 * n))
		return -EINVAL;
	/* Lower-case hex, checked above; not sscanf(), which is slow: every block read parses it. */
	for (size_t i = 0; i < 2 * n; i++) {
		char ch = key->hash[i];
		unsigned nibble = ch <= '9' ? (unsigned)(ch - '0') : (unsigned)(ch - 'a' + 10);

		raw[i / 2] = (uint8_t)(raw[i / 2] << 4 | nibble);
	}
	return 0;
}

uint32_t cache_block_header_size(uint32_t data_len)
{
	/* Page-aligned data for big blocks; small files stay small. */
	return data_len >= CACHE_CHUNK_SIZE ? 4096 : 512;
}

/*
 * Block header, format 2 (docs/cache-format.md): little-endian fields at
 * these offsets, then zeros up to the header size.
 */
enum {
	BLOCK_OFF_MAGIC = 0,
	BLOCK_OFF_VERSION = 8,
	BLOCK_OFF_HEADER_SIZE = 12,
	BLOCK_OFF_BLOCK_SIZE = 16,
	BLOCK_OFF_CHUNK_SIZE = 20,
	BLOCK_OFF_ALGO = 24, /* then 3 zero bytes */
	BLOCK_OFF_DATA_LEN = 28,
	BLOCK_OFF_HASH = 32,
	BLOCK_OFF_OBJECT_SIZE = 64,
	BLOCK_OFF_INDEX = 72,
	BLOCK_OFF_N_CHUNKS = 80,
	BLOCK_OFF_CHUNK_CRCS = 84,
	BLOCK_OFF_WRITE_ID = BLOCK_OFF_CHUNK_CRCS + 4 * CACHE_CHUNKS_MAX,
	BLOCK_OFF_KEY_ID = BLOCK_OFF_WRITE_ID + 8,
	BLOCK_OFF_STAMP = BLOCK_OFF_KEY_ID + 8,
	BLOCK_OFF_CRC = BLOCK_OFF_STAMP + 8,   /* CRC-32C of the bytes before it */
	BLOCK_V1_OFF_CRC = BLOCK_OFF_KEY_ID,   /* format 1 had no stamp: its CRC was here */
};
_Static_assert(BLOCK_OFF_HASH + 32 == BLOCK_OFF_OBJECT_SIZE, "the hash is 32 bytes");
_Static_assert(BLOCK_OFF_WRITE_ID == 340, "64 chunk CRCs, as the format says");
_Static_assert(BLOCK_OFF_CRC + 4 == CACHE_BLOCK_HEADER_ENCODED,
	       "the header CRC is the last encoded field");
_Static_assert(CACHE_BLOCK_HEADER_ENCODED <= 512, "the fields fit the smallest header");
_Static_assert(CACHE_CHUNK_SIZE == UHASH_SPAN && CACHE_CHUNKS_MAX <= UHASH_SPANS,
	       "a chunk is a span of the stamp's sum, and every chunk has a key");

static void encode_block_header(const struct cache_block_header *h, uint8_t *out)
{
	memset(out, 0, CACHE_BLOCK_HEADER_ENCODED);
	memcpy(out + BLOCK_OFF_MAGIC, block_magic, 8);
	put32(out + BLOCK_OFF_VERSION, CACHE_FORMAT_VERSION);
	put32(out + BLOCK_OFF_HEADER_SIZE, h->header_size);
	put32(out + BLOCK_OFF_BLOCK_SIZE, CACHE_BLOCK_SIZE);
	put32(out + BLOCK_OFF_CHUNK_SIZE, CACHE_CHUNK_SIZE);
	out[BLOCK_OFF_ALGO] = (uint8_t)h->algo;
	put32(out + BLOCK_OFF_DATA_LEN, h->data_len);
	memcpy(out + BLOCK_OFF_HASH, h->hash, 32);
	put64(out + BLOCK_OFF_OBJECT_SIZE, h->object_size);
	put64(out + BLOCK_OFF_INDEX, h->index);
	put32(out + BLOCK_OFF_N_CHUNKS, h->n_chunks);
	for (uint32_t i = 0; i < h->n_chunks; i++)
		put32(out + BLOCK_OFF_CHUNK_CRCS + 4 * i, h->chunk_crc[i]);
	put64(out + BLOCK_OFF_WRITE_ID, h->write_id);
	put64(out + BLOCK_OFF_KEY_ID, h->key_id);
	put64(out + BLOCK_OFF_STAMP, h->stamp);
	put32(out + BLOCK_OFF_CRC, crc32c(0, out, BLOCK_OFF_CRC));
}

/* A header of format 1 (*@old; no stamp, h->stamp 0) or 2. 0 or -EBADMSG. */
static int decode_header(const uint8_t *in, struct cache_block_header *h, bool *old)
{
	uint32_t version = get32(in + BLOCK_OFF_VERSION);
	uint32_t crc_at = version == 1 ? BLOCK_V1_OFF_CRC : BLOCK_OFF_CRC;

	if (memcmp(in + BLOCK_OFF_MAGIC, block_magic, 8) != 0 ||
	    (version != 1 && version != CACHE_FORMAT_VERSION) ||
	    get32(in + crc_at) != crc32c(0, in, crc_at))
		return -EBADMSG;
	if (get32(in + BLOCK_OFF_BLOCK_SIZE) != CACHE_BLOCK_SIZE ||
	    get32(in + BLOCK_OFF_CHUNK_SIZE) != CACHE_CHUNK_SIZE)
		return -EBADMSG;
	h->header_size = get32(in + BLOCK_OFF_HEADER_SIZE);
	h->algo = (enum cache_algo)in[BLOCK_OFF_ALGO];
	h->data_len = get32(in + BLOCK_OFF_DATA_LEN);
	memcpy(h->hash, in + BLOCK_OFF_HASH, 32);
	h->object_size = get64(in + BLOCK_OFF_OBJECT_SIZE);
	h->index = get64(in + BLOCK_OFF_INDEX);
	h->n_chunks = get32(in + BLOCK_OFF_N_CHUNKS);
	if (h->data_len > CACHE_BLOCK_SIZE || h->n_chunks > CACHE_CHUNKS_MAX ||
	    h->n_chunks != (h->data_len + CACHE_CHUNK_SIZE - 1) / CACHE_CHUNK_SIZE ||
	    h->header_size != cache_block_header_size(h->data_len))
		return -EBADMSG;
	for (uint32_t i = 0; i < h->n_chunks; i++)
		h->chunk_crc[i] = get32(in + BLOCK_OFF_CHUNK_CRCS + 4 * i);
	h->write_id = get64(in + BLOCK_OFF_WRITE_ID);
	*old = version == 1;
	h->key_id = *old ? 0 : get64(in + BLOCK_OFF_KEY_ID);
	h->stamp = *old ? 0 : get64(in + BLOCK_OFF_STAMP);
	return *old || (h->stamp && h->key_id) ? 0 : -EBADMSG;
}

int cache_block_header_decode(const uint8_t *in, struct cache_block_header *h)
{
	bool old;
	int rc = decode_header(in, h, &old);

	return rc == 0 && old ? -EBADMSG : rc;
}

/*
 * A write id no other block file will carry: 64 random bits, so that a
 * file replaced by any process, at any time, is told apart from the one
 * that was hashed. Not a clock: two writes in one clock tick differ.
 */
static int new_write_id(uint64_t *id)
{
	do {
		ssize_t n = getrandom(id, sizeof(*id), 0);

		if (n != (ssize_t)sizeof(*id))
			return n < 0 ? -errno : -EIO;
	} while (*id == 0); /* 0 marks blocks written before write ids */
	return 0;
}

/*
 * Take the disk blocks of a block file of @len bytes at once, on ext4:
 * each page of the writes then maps to a block the file has, instead of
 * ext4 reserving one per 4 KiB page as they come (a quarter of the writes'
 * CPU, docs/cache-format.md). Elsewhere it was not measured, and costs:
 * tmpfs would zero every page before the write, btrfs does not compress
 * into preallocated space. A hint: a failure leaves the writes as before.
 */
static bool preallocate(int fd, off_t len)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 && sf.f_type == EXT4_SUPER_MAGIC &&
	       fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, len) == 0;
}

int cache_block_writer_open(struct cache_block_writer *w, const char *path,
			    const struct cache_key *key, uint32_t index, uint32_t len,
			    const struct uhash_key *stamp_key)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->file.fd = -1;
	w->h = (struct cache_block_header){ .algo = key->algo, .object_size = key->size,
					    .index = index, .data_len = len };
	w->stamp_key = stamp_key;
	if (len > CACHE_BLOCK_SIZE || cache_hash_raw(key, w->h.hash) < 0)
		return -EINVAL;
	if (!stamp_key)
		return -EROFS; /* no key (tests: an open cache always has one) */
	w->h.header_size = cache_block_header_size(len);
	w->h.n_chunks = (len + CACHE_CHUNK_SIZE - 1) / CACHE_CHUNK_SIZE;
	rc = fileio_atomic_open(&w->file, path, 0644, false);
	if (rc == 0)
		w->preallocated = preallocate(w->file.fd, (off_t)w->h.header_size + len);
	return rc;
}

static uint32_t chunk_len(const struct cache_block_header *h, uint32_t i)
{
	uint32_t start = i * CACHE_CHUNK_SIZE;

	return h->data_len - start < CACHE_CHUNK_SIZE ? h->data_len - start : CACHE_CHUNK_SIZE;
}

/* The keyed sums of the @n whole chunks at @p, chunk @first on, into @sums[@first...]. */
static void sum_chunks(const struct uhash_key *k, const struct cache_block_header *h,
		       const uint8_t *p, uint32_t first, uint32_t n, uint64_t *sums)
{
	for (uint32_t i = first; i < first + n; i++)
		sums[i] = uhash_span_add(k, 0, 0, p + (size_t)(i - first) * CACHE_CHUNK_SIZE,
					 chunk_len(h, i));
}

/* The content stamp of @h's data from every chunk's keyed sum (@sums), never 0. */
static void set_stamp(struct cache_block_header *h, const struct uhash_key *k,
		      const uint64_t *sums)
{
	uint64_t sum = uhash_combine(k, sums, h->n_chunks);

	h->stamp = sum ? sum : 1;
	h->key_id = k->id;
}

/*
 * The chunk CRCs and keyed sums of [@offset, @offset + @len), as they
 * reach the file. A chunk's bytes come in order; whole chunks are summed
 * four at a time, three times as fast as one running CRC, which is why
 * they are summed from the stage, not from libcurl's 16 KiB pieces. The
 * keyed sums take the bytes while they are in the CPU's cache.
 */
static int crc_put(struct cache_block_writer *w, uint32_t offset, const uint8_t *p,
		   size_t len)
{
	size_t done = 0;

	while (done < len) {
		uint32_t at = offset + (uint32_t)done, i = at / CACHE_CHUNK_SIZE;
		uint32_t in = at % CACHE_CHUNK_SIZE, n = chunk_len(&w->h, i) - in;

		if (in != w->chunk_done[i])
			return -EINVAL;
		if (n > len - done)
			n = (uint32_t)(len - done);
		if (in == 0 && n == chunk_len(&w->h, i)) {
			uint32_t whole = (uint32_t)((len - done) / CACHE_CHUNK_SIZE);
			uint32_t bytes;

			if (whole == 0)
				whole = 1;
			bytes = whole * CACHE_CHUNK_SIZE;
			if (bytes > len - done)
				bytes = (uint32_t)(len - done);
			crc32c_chunks(p + done, bytes, CACHE_CHUNK_SIZE, &w->h.chunk_crc[i]);
			for (uint32_t k = i; k < i + whole; k++)
				w->chunk_done[k] = chunk_len(&w->h, k);
			sum_chunks(w->stamp_key, &w->h, p + done, i, whole, w->chunk_sum);
			done += bytes;
			continue;
		}
		w->h.chunk_crc[i] = crc32c(w->h.chunk_crc[i], p + done, n);
		w->chunk_sum[i] = uhash_span_add(w->stamp_key, w->chunk_sum[i], in, p + done, n);
		w->chunk_done[i] += n;
		done += n;
	}
	return 0;
}

/* Sum and write out what the stage holds. */
static int stage_flush(struct cache_block_writer *w)
{
	int rc = 0;

	if (w->stage_len) {
		rc = crc_put(w, w->stage_off, w->stage, w->stage_len);
		if (rc == 0)
			rc = fileio_pwrite_full(w->file.fd, w->stage, w->stage_len,
						(off_t)w->h.header_size + w->stage_off);
	}
	w->stage_len = 0;
	return rc;
}

/* To the file through the stage; a piece as big as the stage goes directly. */
static int stage_put(struct cache_block_writer *w, uint32_t offset, const uint8_t *p,
		     size_t len)
{
	size_t done = 0;
	int rc;

	if (w->stage_len && offset != w->stage_off + w->stage_len) {
		rc = stage_flush(w);
		if (rc < 0)
			return rc;
	}
	if (!w->stage_len && len >= CACHE_WRITER_STAGE) {
		rc = crc_put(w, offset, p, len);
		return rc < 0 ? rc : fileio_pwrite_full(w->file.fd, p, len,
							(off_t)w->h.header_size + offset);
	}
	if (!w->stage) {
		w->stage = iobuf_alloc(CACHE_WRITER_STAGE);
		if (!w->stage)
			return -ENOMEM;
	}
	while (done < len) {
		size_t n = CACHE_WRITER_STAGE - w->stage_len;

		if (n > len - done)
			n = len - done;
		if (!w->stage_len)
			w->stage_off = offset + (uint32_t)done;
		memcpy(w->stage + w->stage_len, p + done, n);
		w->stage_len += (uint32_t)n;
		done += n;
		if (w->stage_len == CACHE_WRITER_STAGE) {
			rc = stage_flush(w);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static void stage_release(struct cache_block_writer *w)
{
	iobuf_free(w->stage, CACHE_WRITER_STAGE);
	w->stage = NULL;
	w->stage_len = 0;
}

int cache_block_writer_put(struct cache_block_writer *w, uint32_t offset,
			   const void *data, size_t len)
{
	if (offset > w->h.data_len || len > w->h.data_len - offset)
		return -EINVAL;
	return stage_put(w, offset, data, len);
}

int cache_block_writer_get(const struct cache_block_writer *w, uint32_t offset, void *out,
			   uint32_t len)
{
	uint32_t done = 0;

	if (offset > w->h.data_len || len > w->h.data_len - offset)
		return -EINVAL;
	while (done < len) {
		uint32_t at = offset + done, n = len - done;

		if (w->stage_len && at >= w->stage_off && at < w->stage_off + w->stage_len) {
			if (n > w->stage_off + w->stage_len - at)
				n = w->stage_off + w->stage_len - at;
			memcpy((uint8_t *)out + done, w->stage + (at - w->stage_off), n);
		} else {
			ssize_t got;

			/* Up to the stage, if it lies ahead: the rest is in the file. */
			if (w->stage_len && at < w->stage_off && n > w->stage_off - at)
				n = w->stage_off - at;
			got = fileio_pread_full(w->file.fd, (uint8_t *)out + done, n,
						(off_t)w->h.header_size + at);
			if (got != (ssize_t)n)
				return got < 0 ? (int)got : -EIO;
		}
		done += n;
	}
	return 0;
}

/* A stamp mixed with its key's id: stamps of two keys never meet as equal. */
static void set_id(struct cache_block_id *id, const struct cache_block_header *h)
{
	uint64_t content = h->stamp ? h->stamp ^ (h->key_id * UINT64_C(0x9e3779b97f4a7c15)) : 0;

	if (id)
		*id = (struct cache_block_id){ h->write_id, h->stamp && !content ? 1 : content };
}

int cache_block_writer_close(struct cache_block_writer *w, struct cache_block_id *id)
{
	uint8_t head[4096];
	int rc = stage_flush(w);

	stage_release(w);
	for (uint32_t i = 0; i < w->h.n_chunks && rc == 0; i++) {
		if (w->chunk_done[i] != chunk_len(&w->h, i))
			rc = -EBADMSG;
	}
	if (rc == 0)
		rc = new_write_id(&w->h.write_id);
	if (rc == 0) {
		set_stamp(&w->h, w->stamp_key, w->chunk_sum);
		memset(head, 0, sizeof(head));
		encode_block_header(&w->h, head);
		rc = fileio_pwrite_full(w->file.fd, head, w->h.header_size, 0);
	}
	if (rc < 0) {
		fileio_atomic_rollback(&w->file);
		return rc;
	}
	rc = fileio_atomic_close(&w->file);
	if (rc == 0)
		set_id(id, &w->h);
	return rc;
}

void cache_block_writer_abort(struct cache_block_writer *w)
{
	stage_release(w);
	fileio_atomic_rollback(&w->file);
}

int cache_block_write(const char *path, const struct cache_key *key, uint32_t index,
		      const void *data, uint32_t len, const struct uhash_key *stamp_key,
		      uint64_t *write_id)
{
	struct cache_block_writer w;
	int rc = cache_block_writer_open(&w, path, key, index, len, stamp_key);

	if (rc < 0)
		return rc;
	rc = cache_block_writer_put(&w, 0, data, len);
	if (rc < 0) {
		cache_block_writer_abort(&w);
		return rc;
	}
	rc = cache_block_writer_close(&w, NULL);
	if (rc == 0 && write_id)
		*write_id = w.h.write_id;
	/* The rename publishes a complete block, or nothing. */
	return rc < 0 ? rc : fileio_atomic_commit(&w.file);
}

/* A per-thread scratch buffer for reads that are not chunk-aligned. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_init(void)
{
	pthread_key_create(&scratch_key, free);
}

static void *scratch(void)
{
	void *p;

	pthread_once(&scratch_once, scratch_init);
	p = pthread_getspecific(scratch_key);
	if (!p) {
		p = malloc(CACHE_BLOCK_SIZE);
		if (p && pthread_setspecific(scratch_key, p) != 0) {
			free(p);
			p = NULL;
		}
	}
	return p;
}

void (*cache_block_read_hook)(int fd);

/*
 * Block files are read whole (a hash, a new stamp) in pieces into one
 * buffer, not through a mapping of the block: a mapping's pages count in
 * the process's RSS while it lives, and with eight files hashing at once
 * mapped block files were 10-26 MiB of a mount's RSS. The CPU is the same
 * (the copy is into a buffer that stays in cache). Whole chunks.
 */
#define WHOLE_READ_PIECE (256u << 10)
_Static_assert(WHOLE_READ_PIECE % CACHE_CHUNK_SIZE == 0, "pieces of whole chunks");

/*
 * Block file @path (open at @fd, @st its fstat(), its header in @h) is of
 * format 1, or stamped with another key: sum its data with @stamp_key,
 * checking every chunk's CRC on the way, into @h. Then, so that the next
 * open needs no such pass, rewrite its header, when the file can be
 * written: the same write id (a verdict naming it still holds) and mtime
 * (it orders eviction), under an exclusive flock, which a reader that
 * finds a header failing its CRC waits for before it looks again
 * (read_header()). A file that cannot be written (another user's cache,
 * a read-only mount) is summed at each open. 0 or -EBADMSG, -errno.
 */
static int restamp(int fd, const struct stat *st, const char *path,
		   struct cache_block_header *h, const struct uhash_key *stamp_key)
{
	uint8_t head[CACHE_BLOCK_HEADER_ENCODED], *piece;
	uint32_t crcs[CACHE_CHUNKS_MAX];
	uint64_t sums[CACHE_CHUNKS_MAX];
	static atomic_bool told;
	struct stat wst;
	int rc = 0, wfd;

	piece = iobuf_alloc(WHOLE_READ_PIECE);
	if (!piece)
		return -ENOMEM;
	for (uint32_t done = 0; rc == 0 && done < h->data_len;) {
		uint32_t n = h->data_len - done < WHOLE_READ_PIECE ? h->data_len - done
								   : WHOLE_READ_PIECE;

		if (fileio_pread_full(fd, piece, n, (off_t)h->header_size + done) != (ssize_t)n) {
			rc = -EBADMSG;
			break;
		}
		crc32c_chunks(piece, n, CACHE_CHUNK_SIZE, crcs + done / CACHE_CHUNK_SIZE);
		sum_chunks(stamp_key, h, piece, done / CACHE_CHUNK_SIZE,
			   (n + CACHE_CHUNK_SIZE - 1) / CACHE_CHUNK_SIZE, sums);
		done += n;
	}
	iobuf_free(piece, WHOLE_READ_PIECE);
	for (uint32_t i = 0; rc == 0 && i < h->n_chunks; i++) {
		if (crcs[i] != h->chunk_crc[i])
			rc = -EBADMSG;
	}
	if (rc < 0)
		return rc;
	set_stamp(h, stamp_key, sums);
	/* Best effort from here: the stamp is made, the file only keeps it. */
	wfd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (wfd < 0)
		return 0;
	/* Not waited for: anyone who can read the file can hold a lock on it. */
	if (fstat(wfd, &wst) == 0 && wst.st_ino == st->st_ino && wst.st_dev == st->st_dev &&
	    flock(wfd, LOCK_EX | LOCK_NB) == 0) {
		const struct timespec times[2] = { st->st_atim, st->st_mtim };

		encode_block_header(h, head);
		if (fileio_pwrite_full(wfd, head, sizeof(head), 0) == 0) {
			futimens(wfd, times);
			if (!atomic_exchange(&told, true))
				log_info("cache: block files of format 1, or stamped with another "
					 "key, are stamped anew as they are first read (the first: %s)",
					 path);
		}
		flock(wfd, LOCK_UN);
	}
	close(wfd);
	return 0;
}

#define HEADER_WAIT_TRIES 200 /* of 1 ms: a rewrite holds its lock for one pwrite */

/*
 * The header of the block file at @fd into @h (*@old: format 1). One
 * that fails its CRC is looked at again once, after any rewrite under
 * way (restamp()) has ended: a read that met the rewrite half done would
 * otherwise take a good block for a damaged one. The lock is tried, not
 * waited for, and for 0.2 s at most: whoever can read the file can hold
 * one. 0, -EBADMSG or -errno.
 */
static int read_header(int fd, struct cache_block_header *h, bool *old)
{
	uint8_t head[CACHE_BLOCK_HEADER_ENCODED];
	ssize_t n = fileio_pread_full(fd, head, sizeof(head), 0);
	int rc;

	if (n != (ssize_t)sizeof(head))
		return n < 0 ? (int)n : -EBADMSG;
	rc = decode_header(head, h, old);
	for (int i = 0; rc == -EBADMSG && i < HEADER_WAIT_TRIES; i++) {
		if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
			if (fileio_pread_full(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head))
				rc = decode_header(head, h, old);
			flock(fd, LOCK_UN);
			break;
		}
		if (errno != EWOULDBLOCK)
			break;
		usleep(1000);
	}
	return rc;
}

/*
 * Open block @index of @key and check its header: magic, version, CRC,
 * that it belongs to this object and index, that its data and the file
 * are exactly as long as the object's size says (a file grown or cut
 * short is not the one stored), and holds [@off, @off + @len). A block
 * of format 1, or stamped with another key, is summed with @stamp_key
 * first (restamp()), if @may_restamp; else its stamp is "not known" (0).
 * Returns an open descriptor, or -ENOENT, -EBADMSG, -EROFS (such a block
 * and no key), -errno.
 */
static int open_checked(const char *path, const struct cache_key *key,
			uint32_t index, uint32_t off, uint32_t len,
			struct cache_block_header *h, const struct uhash_key *stamp_key,
			bool may_restamp)
{
	uint64_t start = (uint64_t)index * CACHE_BLOCK_SIZE, want;
	struct stat st;
	uint8_t raw[32];
	bool old = false;
	int fd, rc;

	if (cache_hash_raw(key, raw) < 0)
		return -EINVAL;
	fd = fileio_open_untrusted(path);
	if (fd < 0)
		return fd;
	rc = read_header(fd, h, &old);
	/* A valid block of another object or place is as wrong as noise. */
	if (rc == 0 && (h->algo != key->algo || memcmp(h->hash, raw, 32) != 0 ||
			h->object_size != key->size || h->index != index))
		rc = -EBADMSG;
	want = start < key->size ? key->size - start : 0;
	if (want > CACHE_BLOCK_SIZE)
		want = CACHE_BLOCK_SIZE;
	/* Exactly as long as the object's size says this block is. */
	if (rc == 0 && (h->data_len != want || off > h->data_len || len > h->data_len - off))
		rc = -EBADMSG;
	/* And the file exactly header + data long: one grown or cut short is not the one stored. */
	if (rc == 0 && fstat(fd, &st) < 0)
		rc = -errno;
	if (rc == 0 && (uint64_t)st.st_size != (uint64_t)h->header_size + h->data_len)
		rc = -EBADMSG;
	if (rc == 0 && (old || (stamp_key && h->key_id != stamp_key->id))) {
		if (!stamp_key)
			rc = -EROFS; /* not damaged: this process cannot tell what it holds */
		else if (may_restamp)
			rc = restamp(fd, &st, path, h, stamp_key);
		else
			h->stamp = h->key_id = 0;
	}
	if (rc < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return rc;
}

void cache_block_drop_pages(const char *path, bool now)
{
	int fd = fileio_open_untrusted(path);

	if (fd < 0)
		return;
	/*
	 * DONTNEED drops clean pages and starts the write-back of dirty ones
	 * (a block just fetched is dirty for up to 30 s): those go at the next
	 * call, after the write. Not now: the write starts, the pages stay.
	 */
	if (now)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	else
		sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	close(fd);
}

void cache_block_readahead(const char *path)
{
	int fd = fileio_open_untrusted(path);

	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
		close(fd);
	}
}

int cache_block_hash(const char *path, const struct cache_key *key, uint32_t index,
		     struct digest *d, struct cache_block_id *id, bool drop_pages,
		     const struct uhash_key *stamp_key, uint64_t fresh_id)
{
	uint32_t crcs[WHOLE_READ_PIECE / CACHE_CHUNK_SIZE];
	struct cache_block_header h;
	uint8_t *piece;
	bool check;
	int fd, rc = 0;

	fd = open_checked(path, key, index, 0, 0, &h, stamp_key, true);
	if (fd < 0)
		return fd;
	check = !fresh_id || h.write_id != fresh_id;
	piece = iobuf_alloc(WHOLE_READ_PIECE);
	if (!piece)
		rc = -ENOMEM;
	for (uint32_t done = 0; rc == 0 && done < h.data_len;) {
		uint32_t n = h.data_len - done < WHOLE_READ_PIECE ? h.data_len - done : WHOLE_READ_PIECE;
		ssize_t got = fileio_pread_full(fd, piece, n, (off_t)h.header_size + done);

		if (got != (ssize_t)n) {
			rc = got < 0 ? (int)got : -EBADMSG;
			break;
		}
		if (check) {
			/* Whole chunks: the pieces start on one, and only the last is short. */
			crc32c_chunks(piece, n, CACHE_CHUNK_SIZE, crcs);
			for (uint32_t i = 0; i * CACHE_CHUNK_SIZE < n && rc == 0; i++) {
				if (crcs[i] != h.chunk_crc[done / CACHE_CHUNK_SIZE + i])
					rc = -EBADMSG;
			}
		}
		if (rc == 0)
			rc = digest_update(d, piece, n);
		done += n;
	}
	iobuf_free(piece, WHOLE_READ_PIECE);
	if (drop_pages)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	if (rc == 0)
		set_id(id, &h);
	return rc;
}

int cache_block_read(const char *path, const struct cache_key *key, uint32_t index,
		     uint32_t off, uint32_t len, void *out, struct cache_block_id *id,
		     const struct uhash_key *stamp_key)
{
	uint32_t first, last, span_off, span_len, crcs[CACHE_CHUNKS_MAX];
	struct cache_block_header h;
	uint8_t *span;
	ssize_t n;
	int fd, rc = 0;

	fd = open_checked(path, key, index, off, len, &h, stamp_key, true);
	if (fd < 0)
		return fd;
	/* From this open file: the id and the bytes are of one and the same file. */
	set_id(id, &h);
	if (len == 0)
		goto out;
	if (cache_block_read_hook)
		cache_block_read_hook(fd);
	/*
	 * The chunks read with pread(), then their CRCs: a file cut short
	 * meanwhile reads short, and is damaged. Through a mapping, checked
	 * and copied in one pass, the same reads cost more on kernel 6.18 (a
	 * warm read of 1 GiB through the mount 16% more time, 18% more CPU:
	 * docs/benchmarks.md, a twenty-fifth session), and a file cut short
	 * under the mapping faulted.
	 */
	first = off / CACHE_CHUNK_SIZE;
	last = (off + len - 1) / CACHE_CHUNK_SIZE;
	span_off = first * CACHE_CHUNK_SIZE;
	span_len = (last + 1) * CACHE_CHUNK_SIZE;
	if (span_len > h.data_len)
		span_len = h.data_len;
	span_len -= span_off;
	/* Aligned reads land in the caller's buffer; others go through scratch. */
	span = off == span_off && len == span_len ? out : scratch();
	if (!span) {
		rc = -ENOMEM;
		goto out;
	}
	n = fileio_pread_full(fd, span, span_len, (off_t)h.header_size + span_off);
	if (n != (ssize_t)span_len) {
		rc = n < 0 ? (int)n : -EBADMSG;
		goto out;
	}
	crc32c_chunks(span, span_len, CACHE_CHUNK_SIZE, crcs);
	for (uint32_t i = first; i <= last; i++) {
		if (crcs[i - first] != h.chunk_crc[i]) {
			rc = -EBADMSG;
			goto out;
		}
	}
	if (span != out)
		memcpy(out, span + (off - span_off), len);
out:
	close(fd);
	return rc;
}

int cache_block_open_data(const char *path, const struct cache_key *key, uint32_t index,
			  uint32_t off, uint32_t len, struct cache_block_id *id, uint64_t *pos,
			  const struct uhash_key *stamp_key, bool may_restamp)
{
	struct cache_block_header h;
	int fd = open_checked(path, key, index, off, len, &h, stamp_key, may_restamp);

	if (fd < 0)
		return fd;
	set_id(id, &h);
	*pos = (uint64_t)h.header_size + off;
	return fd;
}

/*
 * Object meta file, format 2 (docs/cache-format.md): the fixed fields, then
 * n_ids write ids, then a CRC-32C of everything before it.
 */
enum {
	OBJMETA_OFF_MAGIC = 0,
	OBJMETA_OFF_VERSION = 8,
	OBJMETA_OFF_ALGO = 12,
	OBJMETA_OFF_HASH = 16,
	OBJMETA_OFF_SIZE = 48,
	OBJMETA_OFF_BLOCK_SIZE = 56,
	OBJMETA_OFF_FLAGS = 60,
	OBJMETA_OFF_N_IDS = 64,
	OBJMETA_OFF_IDS = CACHE_OBJMETA_FIXED,
	OBJMETA_V1_SIZE = 76, /* format 1: no ids; its CRC at 72 */
};
_Static_assert(OBJMETA_OFF_IDS == 72, "the ids follow the fixed fields");

#define OBJMETA_FLAG_VERIFIED 1u

static size_t objmeta_size(uint32_t n_ids)
{
	return CACHE_OBJMETA_FIXED + 8 * (size_t)n_ids + 4;
}

int cache_objmeta_write(const char *path, const struct cache_objmeta *m)
{
	size_t size = objmeta_size(m->n_ids);
	uint8_t *buf = calloc(1, size);
	int rc;

	if (!buf)
		return -ENOMEM;
	memcpy(buf + OBJMETA_OFF_MAGIC, objmeta_magic, 8);
	put32(buf + OBJMETA_OFF_VERSION, CACHE_OBJMETA_VERSION);
	buf[OBJMETA_OFF_ALGO] = (uint8_t)m->algo;
	memcpy(buf + OBJMETA_OFF_HASH, m->hash, 32);
	put64(buf + OBJMETA_OFF_SIZE, m->object_size);
	put32(buf + OBJMETA_OFF_BLOCK_SIZE, m->block_size);
	put32(buf + OBJMETA_OFF_FLAGS, m->verified ? OBJMETA_FLAG_VERIFIED : 0u);
	put32(buf + OBJMETA_OFF_N_IDS, m->n_ids);
	for (uint32_t i = 0; i < m->n_ids; i++)
		put64(buf + OBJMETA_OFF_IDS + 8 * (size_t)i, m->ids[i]);
	put32(buf + size - 4, crc32c(0, buf, size - 4));
	rc = fileio_write_atomic(path, buf, size, 0644, false);
	free(buf);
	return rc;
}

void cache_objmeta_release(struct cache_objmeta *m)
{
	free(m->ids);
	m->ids = NULL;
	m->n_ids = 0;
}

/* The fields both formats share, after the magic and version. */
static int decode_objmeta_fields(const uint8_t *buf, struct cache_objmeta *m)
{
	uint32_t flags = get32(buf + OBJMETA_OFF_FLAGS);

	m->algo = (enum cache_algo)buf[OBJMETA_OFF_ALGO];
	memcpy(m->hash, buf + OBJMETA_OFF_HASH, 32);
	m->object_size = get64(buf + OBJMETA_OFF_SIZE);
	m->block_size = get32(buf + OBJMETA_OFF_BLOCK_SIZE);
	m->verified = flags == OBJMETA_FLAG_VERIFIED;
	if ((m->algo != CACHE_ALGO_SHA256 && m->algo != CACHE_ALGO_GIT_SHA1) ||
	    m->block_size != CACHE_BLOCK_SIZE || m->object_size > CACHE_MAX_OBJECT_SIZE ||
	    flags > OBJMETA_FLAG_VERIFIED)
		return -EBADMSG;
	return 0;
}

/* The ids of a format-2 object meta file of @size bytes, checked against the fields. */
static int decode_objmeta_ids(const uint8_t *buf, size_t size, struct cache_objmeta *m)
{
	uint32_t n = get32(buf + OBJMETA_OFF_N_IDS);

	/* Exactly one id per block when verified, none otherwise. */
	if (n != (m->verified ? cache_blocks_for(m->object_size) : 0) || size != objmeta_size(n))
		return -EBADMSG;
	m->n_ids = n;
	m->ids = n ? malloc(8 * (size_t)n) : NULL;
	if (n && !m->ids)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		m->ids[i] = get64(buf + OBJMETA_OFF_IDS + 8 * (size_t)i);
	return 0;
}

int cache_objmeta_decode(const uint8_t *buf, size_t size, struct cache_objmeta *m)
{
	int rc;

	memset(m, 0, sizeof(*m));
	if (size < OBJMETA_V1_SIZE || memcmp(buf + OBJMETA_OFF_MAGIC, objmeta_magic, 8) != 0 ||
	    get32(buf + size - 4) != crc32c(0, buf, size - 4))
		return -EBADMSG;
	rc = decode_objmeta_fields(buf, m);
	if (rc == 0 && get32(buf + OBJMETA_OFF_VERSION) == 1) {
		/* Format 1 named no block files: its "verified" cannot be trusted. */
		rc = size == OBJMETA_V1_SIZE ? 0 : -EBADMSG;
		m->verified = false;
	} else if (rc == 0) {
		rc = get32(buf + OBJMETA_OFF_VERSION) == CACHE_OBJMETA_VERSION ?
			decode_objmeta_ids(buf, size, m) : -EBADMSG;
	}
	if (rc < 0)
		cache_objmeta_release(m);
	return rc;
}

int cache_objmeta_read(const char *path, struct cache_objmeta *m)
{
	uint8_t head[CACHE_OBJMETA_FIXED];
	uint8_t *buf = NULL;
	uint64_t max;
	struct stat st;
	size_t size;
	ssize_t n;
	int fd, rc;

	memset(m, 0, sizeof(*m));
	fd = fileio_open_untrusted(path);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	n = fileio_pread_full(fd, head, sizeof(head), 0);
	rc = n < 0 ? (int)n : 0;
	if (rc == 0 && (n != (ssize_t)sizeof(head) ||
			memcmp(head + OBJMETA_OFF_MAGIC, objmeta_magic, 8) != 0))
		rc = -EBADMSG;
	if (rc < 0)
		goto out;
	/* At most one id per block of the object it names. */
	max = get64(head + OBJMETA_OFF_SIZE);
	max = objmeta_size(cache_blocks_for(max < CACHE_MAX_OBJECT_SIZE ? max :
					 CACHE_MAX_OBJECT_SIZE));
	if ((uint64_t)st.st_size > max || st.st_size < OBJMETA_V1_SIZE) {
		rc = -EBADMSG;
		goto out;
	}
	size = (size_t)st.st_size;
	buf = malloc(size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	/* One byte more than stat said: a file that grew meanwhile is refused. */
	n = fileio_pread_full(fd, buf, size + 1, 0);
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	rc = (size_t)n == size ? cache_objmeta_decode(buf, size, m) : -EBADMSG;
out:
	free(buf);
	close(fd);
	if (rc < 0)
		cache_objmeta_release(m);
	return rc;
}
