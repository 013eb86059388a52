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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/crc32c.h"
#include "util/digest.h"
#include "util/fileio.h"

static const char block_magic[8] = { 'H', 'U', 'B', 'F', 'S', 'B', 'L', 'K' };
static const char meta_magic[8] = { 'H', 'U', 'B', 'F', 'S', 'O', 'B', 'J' };

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
	for (size_t i = 0; i < n; i++) {
		unsigned int v;

		sscanf(key->hash + 2 * i, "%2x", &v);
		raw[i] = (uint8_t)v;
	}
	return 0;
}

uint32_t block_header_size(uint32_t data_len)
{
	/* Page-aligned data for big blocks; small files stay small. */
	return data_len >= CACHE_CHUNK_SIZE ? 4096 : 512;
}

static void encode_block_header(const struct block_header *h, uint8_t *out)
{
	memset(out, 0, BLOCK_HEADER_ENCODED);
	memcpy(out, block_magic, 8);
	put32(out + 8, CACHE_FORMAT_VERSION);
	put32(out + 12, h->header_size);
	put32(out + 16, CACHE_BLOCK_SIZE);
	put32(out + 20, CACHE_CHUNK_SIZE);
	out[24] = (uint8_t)h->algo;
	put32(out + 28, h->data_len);
	memcpy(out + 32, h->hash, 32);
	put64(out + 64, h->object_size);
	put64(out + 72, h->index);
	put32(out + 80, h->n_chunks);
	for (uint32_t i = 0; i < h->n_chunks; i++)
		put32(out + 84 + 4 * i, h->chunk_crc[i]);
	put32(out + 348, crc32c(0, out, 348));
}

static int decode_block_header(const uint8_t *in, struct block_header *h)
{
	if (memcmp(in, block_magic, 8) != 0 || get32(in + 8) != CACHE_FORMAT_VERSION ||
	    get32(in + 348) != crc32c(0, in, 348))
		return -EBADMSG;
	if (get32(in + 16) != CACHE_BLOCK_SIZE || get32(in + 20) != CACHE_CHUNK_SIZE)
		return -EBADMSG;
	h->header_size = get32(in + 12);
	h->algo = (enum cache_algo)in[24];
	h->data_len = get32(in + 28);
	memcpy(h->hash, in + 32, 32);
	h->object_size = get64(in + 64);
	h->index = get64(in + 72);
	h->n_chunks = get32(in + 80);
	if (h->data_len > CACHE_BLOCK_SIZE || h->n_chunks > CACHE_CHUNKS_MAX ||
	    h->n_chunks != (h->data_len + CACHE_CHUNK_SIZE - 1) / CACHE_CHUNK_SIZE ||
	    h->header_size != block_header_size(h->data_len))
		return -EBADMSG;
	for (uint32_t i = 0; i < h->n_chunks; i++)
		h->chunk_crc[i] = get32(in + 84 + 4 * i);
	return 0;
}

int block_write(const char *path, const struct cache_key *key, uint32_t index,
		const void *data, uint32_t len, int64_t *mtime_ns)
{
	struct block_header h = { .algo = key->algo, .object_size = key->size,
				  .index = index, .data_len = len };
	uint8_t head[4096];
	char tmp[PATH_MAX];
	int fd, rc;

	if (len > CACHE_BLOCK_SIZE || cache_hash_raw(key, h.hash) < 0)
		return -EINVAL;
	h.header_size = block_header_size(len);
	h.n_chunks = (len + CACHE_CHUNK_SIZE - 1) / CACHE_CHUNK_SIZE;
	crc32c_chunks(data, len, CACHE_CHUNK_SIZE, h.chunk_crc);
	memset(head, 0, sizeof(head));
	encode_block_header(&h, head);

	rc = fileio_tmp_name(path, tmp, sizeof(tmp));
	if (rc < 0)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = fileio_write_full(fd, head, h.header_size);
	if (rc == 0)
		rc = fileio_write_full(fd, data, len);
	if (rc == 0 && mtime_ns) {
		struct stat st;

		/* rename() keeps it: this is the published file's time. */
		if (fstat(fd, &st) < 0)
			rc = -errno;
		else
			*mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	/* The rename publishes a complete block, or nothing. */
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
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

/*
 * Large aligned reads map the block and check and copy it in one pass:
 * the data is read once instead of twice (copy, then CRC). Block files
 * are only ever replaced by rename, never truncated in place, so the
 * mapping stays valid; a file shorter than its header says is refused
 * before it is mapped.
 */
#define MAP_MIN_SPAN (512u << 10)

static int read_mapped(int fd, const struct block_header *h, uint32_t off,
		       uint32_t len, void *out)
{
	uint32_t crcs[CACHE_CHUNKS_MAX], first = off / CACHE_CHUNK_SIZE;
	size_t map_len = (size_t)h->header_size + off + len;
	struct stat st;
	uint8_t *map;

	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size != (uint64_t)h->header_size + h->data_len)
		return -EBADMSG;
	map = mmap(NULL, map_len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	crc32c_copy_chunks(out, map + h->header_size + off, len, CACHE_CHUNK_SIZE, crcs);
	munmap(map, map_len);
	for (uint32_t i = 0; i < (len + CACHE_CHUNK_SIZE - 1) / CACHE_CHUNK_SIZE; i++) {
		if (crcs[i] != h->chunk_crc[first + i])
			return -EBADMSG;
	}
	return 0;
}

/*
 * Open block @index of @key and check its header: magic, version, CRC,
 * that it belongs to this object and index, and that it is exactly as
 * long as the object's size says, and holds [@off, @off + @len).
 * Returns an open descriptor, or -ENOENT, -EBADMSG, -errno.
 */
static int open_checked(const char *path, const struct cache_key *key,
			uint32_t index, uint32_t off, uint32_t len,
			struct block_header *h, int64_t *mtime_ns)
{
	uint8_t head[BLOCK_HEADER_ENCODED], raw[32];
	uint64_t start = (uint64_t)index * CACHE_BLOCK_SIZE, want;
	ssize_t n;
	int fd, rc;

	if (cache_hash_raw(key, raw) < 0)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (mtime_ns) {
		struct stat st;

		if (fstat(fd, &st) < 0) {
			rc = -errno;
			goto fail;
		}
		*mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	}
	n = fileio_pread_full(fd, head, sizeof(head), 0);
	if (n != (ssize_t)sizeof(head)) {
		rc = n < 0 ? (int)n : -EBADMSG;
		goto fail;
	}
	rc = decode_block_header(head, h);
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
	if (rc < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return rc;
}

int block_read(const char *path, const struct cache_key *key, uint32_t index,
	       uint32_t off, uint32_t len, void *out, int64_t *mtime_ns)
{
	uint32_t first, last, span_off, span_len, crcs[CACHE_CHUNKS_MAX];
	struct block_header h;
	uint8_t *span;
	ssize_t n;
	int fd, rc = 0;

	fd = open_checked(path, key, index, off, len, &h, mtime_ns);
	if (fd < 0)
		return fd;
	if (len == 0)
		goto out;

	first = off / CACHE_CHUNK_SIZE;
	if (len >= MAP_MIN_SPAN && off % CACHE_CHUNK_SIZE == 0 &&
	    (len % CACHE_CHUNK_SIZE == 0 || off + len == h.data_len)) {
		rc = read_mapped(fd, &h, off, len, out);
		goto out;
	}
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

int meta_write(const char *path, const struct object_meta *m)
{
	uint8_t buf[OBJECT_META_ENCODED] = { 0 };

	memcpy(buf, meta_magic, 8);
	put32(buf + 8, CACHE_FORMAT_VERSION);
	buf[12] = (uint8_t)m->algo;
	memcpy(buf + 16, m->hash, 32);
	put64(buf + 48, m->object_size);
	put32(buf + 56, m->block_size);
	put32(buf + 60, m->verified ? 1u : 0u);
	put64(buf + 64, m->verified_at);
	put32(buf + 72, crc32c(0, buf, 72));
	return fileio_write_atomic(path, buf, sizeof(buf), 0644, false);
}

int meta_read(const char *path, struct object_meta *m)
{
	uint8_t buf[OBJECT_META_ENCODED + 1];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = fileio_pread_full(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n < 0)
		return (int)n;
	if (n != OBJECT_META_ENCODED || memcmp(buf, meta_magic, 8) != 0 ||
	    get32(buf + 8) != CACHE_FORMAT_VERSION || get32(buf + 72) != crc32c(0, buf, 72))
		return -EBADMSG;
	m->algo = (enum cache_algo)buf[12];
	if (m->algo != CACHE_ALGO_SHA256 && m->algo != CACHE_ALGO_GIT_SHA1)
		return -EBADMSG;
	memcpy(m->hash, buf + 16, 32);
	m->object_size = get64(buf + 48);
	m->block_size = get32(buf + 56);
	m->verified = get32(buf + 60) == 1;
	m->verified_at = get64(buf + 64);
	if (m->block_size != CACHE_BLOCK_SIZE || m->object_size > CACHE_MAX_OBJECT_SIZE ||
	    get32(buf + 60) > 1)
		return -EBADMSG;
	return 0;
}
