/* SPDX-License-Identifier: MIT */
#include "tests/helpers/mem_source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/digest.h"
#include "util/lfs.h"

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void mem_content(uint64_t seed, uint64_t off, void *out, size_t len)
{
	uint8_t *p = out;
	uint64_t base = mix64(seed * 0x2545f4914f6cdd1dull + 1);
	uint64_t word = off / 8;
	size_t skip = (size_t)(off % 8);

	while (len > 0) {
		uint64_t v = mix64(base ^ word);
		uint8_t bytes[8];
		size_t n = 8 - skip;

		for (int i = 0; i < 8; i++)
			bytes[i] = (uint8_t)(v >> (8 * i));
		if (n > len)
			n = len;
		memcpy(p, bytes + skip, n);
		p += n;
		len -= n;
		skip = 0;
		word++;
	}
}

static int fetch(void *ctx, const struct cache_key *key, uint64_t offset,
		 size_t len, void *out, struct cache_error *err)
{
	struct mem_source *ms = ctx;
	struct mem_object *o = NULL;
	unsigned int delay;
	uint32_t k;
	int fail;

	(void)err;
	for (size_t i = 0; i < ms->n_objs; i++) {
		if (ms->objs[i].key.algo == key->algo &&
		    strcmp(ms->objs[i].key.hash, key->hash) == 0 &&
		    ms->objs[i].key.size == key->size) {
			o = &ms->objs[i];
			break;
		}
	}
	/* The cache asks for whole blocks of objects it was given, nothing else. */
	if (!o || offset % CACHE_BLOCK_SIZE != 0 || offset >= key->size ||
	    len != (key->size - offset < CACHE_BLOCK_SIZE ? key->size - offset :
							     CACHE_BLOCK_SIZE)) {
		atomic_fetch_add(&ms->bad_requests, 1);
		return -EINVAL;
	}
	k = (uint32_t)(offset / CACHE_BLOCK_SIZE);
	atomic_fetch_add(&o->fetches[k], 1);
	atomic_fetch_add(&ms->total_fetches, 1);

	if (atomic_load(&ms->hold)) {
		struct timespec tick = { .tv_nsec = 1000000 };

		atomic_fetch_add(&ms->held, 1);
		while (atomic_load(&ms->hold))
			nanosleep(&tick, NULL);
		atomic_fetch_sub(&ms->held, 1);
	}
	delay = atomic_load(&ms->delay_ms);
	if (delay) {
		struct timespec ts = { .tv_sec = delay / 1000,
				       .tv_nsec = (long)(delay % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}

	fail = atomic_load(&ms->fail_next);
	while (fail > 0) {
		if (atomic_compare_exchange_weak(&ms->fail_next, &fail, fail - 1))
			return -atomic_load(&ms->fail_errno);
	}

	memcpy(out, o->data + offset, len);
	if (o->corrupt_block == (int64_t)k && o->corrupt_at < len)
		((uint8_t *)out)[o->corrupt_at] ^= 0x5a;
	if (o->serve_pointer && k == 0) {
		static const char zeros[] =
			"0000000000000000000000000000000000000000000000000000000000000000";
		const char *oid = o->key.algo == CACHE_ALGO_SHA256 ? o->key.hash : zeros;
		char text[LFS_POINTER_MAX];
		size_t n = lfs_pointer_format(oid, o->key.size, text, sizeof(text));

		/* The pointer, cut to @len or padded with zeros to it. */
		memset(out, 0, len);
		memcpy(out, text, n < len ? n : len);
	}
	return 0;
}

/* @len bytes at @from of @data to @sink, in odd-sized pieces. */
static int deliver(cache_sink_fn sink, void *sink_ctx, const uint8_t *data, size_t from,
		   size_t len)
{
	for (size_t done = 0; done < len;) {
		size_t n = len - done < 7777 ? len - done : 7777;
		int rc = sink(sink_ctx, from + done, data + from + done, n);

		if (rc < 0)
			return rc;
		done += n;
	}
	return 0;
}

/*
 * The streaming form: the same bytes and faults as fetch(), handed over in
 * odd-sized pieces, the second half (from a chunk boundary) before the
 * first, as two streams of one fetch may deliver them.
 */
static int fetch_stream(void *ctx, const struct cache_key *key, uint64_t offset,
			size_t len, cache_sink_fn sink, void *sink_ctx,
			struct cache_error *err)
{
	uint8_t *buf = malloc(len ? len : 1);
	size_t half = len / 2 / CACHE_CHUNK_SIZE * CACHE_CHUNK_SIZE;
	int rc;

	if (!buf)
		return -ENOMEM;
	atomic_fetch_add(&((struct mem_source *)ctx)->stream_fetches, 1);
	rc = fetch(ctx, key, offset, len, buf, err);
	if (rc == 0)
		rc = deliver(sink, sink_ctx, buf, half, len - half);
	if (rc == 0)
		rc = deliver(sink, sink_ctx, buf, 0, half);
	free(buf);
	return rc;
}

void mem_source_init(struct mem_source *ms)
{
	const char *stream = getenv("HUBFS_MEM_SOURCE_STREAM");

	memset(ms, 0, sizeof(*ms));
	ms->src.fetch = fetch;
	/* The cache's streaming path, for a second run of the same tests. */
	if (stream && strcmp(stream, "1") == 0)
		ms->src.fetch_stream = fetch_stream;
	ms->src.ctx = ms;
	atomic_init(&ms->total_fetches, 0);
	atomic_init(&ms->bad_requests, 0);
	atomic_init(&ms->stream_fetches, 0);
	atomic_init(&ms->fail_next, 0);
	atomic_init(&ms->fail_errno, EIO);
	atomic_init(&ms->delay_ms, 0);
	atomic_init(&ms->hold, false);
	atomic_init(&ms->held, 0);
}

void mem_source_hold(struct mem_source *ms, bool on)
{
	atomic_store(&ms->hold, on);
}

unsigned int mem_source_held(struct mem_source *ms)
{
	return atomic_load(&ms->held);
}

void mem_source_release(struct mem_source *ms)
{
	for (size_t i = 0; i < ms->n_objs; i++) {
		free(ms->objs[i].data);
		free(ms->objs[i].fetches);
	}
	memset(ms, 0, sizeof(*ms));
}

struct mem_object *mem_source_add_data(struct mem_source *ms, enum cache_algo algo,
				       const void *data, size_t len)
{
	struct mem_object *o;
	char hex[DIGEST_HEX_MAX];
	int rc;

	if (ms->n_objs == MEM_SOURCE_MAX_OBJECTS)
		abort();
	o = &ms->objs[ms->n_objs];
	memset(o, 0, sizeof(*o));
	o->key.algo = algo;
	o->key.size = len;
	o->corrupt_block = -1;
	o->n_blocks = cache_blocks_for(len);
	o->fetches = calloc(o->n_blocks ? o->n_blocks : 1, sizeof(*o->fetches));
	o->data = len ? malloc(len) : NULL;
	if (!o->fetches || (len && !o->data))
		abort();
	for (uint32_t k = 0; k < (o->n_blocks ? o->n_blocks : 1); k++)
		atomic_init(&o->fetches[k], 0);
	if (len)
		memcpy(o->data, data, len);
	rc = algo == CACHE_ALGO_SHA256 ? digest_hex(DIGEST_SHA256, data, len, hex) :
					 digest_git_blob_hex(data, len, hex);
	if (rc < 0)
		abort();
	memcpy(o->key.hash, hex, sizeof(o->key.hash));
	ms->n_objs++;
	return o;
}

struct mem_object *mem_source_add(struct mem_source *ms, enum cache_algo algo,
				  uint64_t size, uint64_t seed)
{
	struct mem_object *o;
	uint8_t *data = size ? malloc((size_t)size) : NULL;

	if (size && !data)
		abort();
	if (size)
		mem_content(seed, 0, data, (size_t)size);
	o = mem_source_add_data(ms, algo, data, (size_t)size);
	free(data);
	return o;
}

void mem_source_fail_next(struct mem_source *ms, int n, int errnum)
{
	atomic_store(&ms->fail_errno, errnum);
	atomic_store(&ms->fail_next, n);
}

void mem_source_set_delay(struct mem_source *ms, unsigned int ms_per_fetch)
{
	atomic_store(&ms->delay_ms, ms_per_fetch);
}

void mem_object_corrupt(struct mem_object *o, int64_t index, uint32_t at)
{
	o->corrupt_block = index;
	o->corrupt_at = at;
}

unsigned int mem_object_fetches(const struct mem_object *o, uint32_t index)
{
	return index < o->n_blocks ? atomic_load(&o->fetches[index]) : 0;
}

unsigned int mem_object_fetches_all(const struct mem_object *o)
{
	unsigned int n = 0;

	for (uint32_t k = 0; k < o->n_blocks; k++)
		n += atomic_load(&o->fetches[k]);
	return n;
}

unsigned int mem_source_fetches(const struct mem_source *ms)
{
	return atomic_load(&ms->total_fetches);
}

void mem_source_reset_counts(struct mem_source *ms)
{
	atomic_store(&ms->total_fetches, 0);
	atomic_store(&ms->bad_requests, 0);
	atomic_store(&ms->stream_fetches, 0);
	for (size_t i = 0; i < ms->n_objs; i++) {
		for (uint32_t k = 0; k < ms->objs[i].n_blocks; k++)
			atomic_store(&ms->objs[i].fetches[k], 0);
	}
}
