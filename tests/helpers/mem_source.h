/* SPDX-License-Identifier: MIT */
/*
 * An in-memory struct cache_source for the cache's tests.
 *
 * Objects are generated deterministically from a seed (mem_content()), or
 * given verbatim; each one's key is computed from its content (sha256 or
 * the git blob sha1), so a healthy source always serves the bytes the key
 * names. Faults are opt-in: fail the next N fetches with an errno, flip
 * one byte of a block (a wrong-hash object), serve a Git-LFS pointer text
 * instead of the content, sleep per fetch so that concurrent misses
 * overlap.
 *
 * Every fetch is counted per (object, block) with atomics, and requests
 * that are not exactly one whole block are counted as bad_requests.
 *
 * With HUBFS_MEM_SOURCE_STREAM=1 in the environment the source also offers
 * fetch_stream(): the same bytes and faults in odd-sized pieces, out of
 * order across chunks, so that one test binary covers both cache paths.
 *
 * Threads: fetch() may run on many threads at once. Add objects and set
 * the non-atomic knobs (corrupt_block, serve_pointer, delay) before the
 * threads that read start; counters and fail_next are atomic.
 */
#ifndef HUBFS_TESTS_MEM_SOURCE_H
#define HUBFS_TESTS_MEM_SOURCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"

#define MEM_SOURCE_MAX_OBJECTS 64

struct mem_object {
	struct cache_key key;
	uint8_t *data;           /* key.size bytes (NULL when empty) */
	uint32_t n_blocks;
	atomic_uint *fetches;    /* per block */
	int64_t corrupt_block;   /* -1, or the block served with one byte flipped */
	uint32_t corrupt_at;     /* which byte of that block */
	bool serve_pointer;      /* block 0 is an LFS pointer text, padded */
};

struct mem_source {
	struct cache_source src;   /* what the cache is given */
	struct mem_object objs[MEM_SOURCE_MAX_OBJECTS];
	size_t n_objs;
	atomic_uint total_fetches;
	atomic_uint bad_requests;  /* not whole blocks, or unknown keys */
	atomic_uint stream_fetches; /* of total_fetches, through fetch_stream() */
	atomic_int fail_next;      /* fail this many more fetches ... */
	atomic_int fail_errno;     /* ... with this (positive) errno */
	atomic_uint delay_ms;      /* sleep per fetch */
	atomic_bool hold;          /* fetches wait while set ... */
	atomic_uint held;          /* ... and this many are waiting */
};

/* The deterministic content of object @seed: bytes [@off, @off + @len). */
void mem_content(uint64_t seed, uint64_t off, void *out, size_t len);

void mem_source_init(struct mem_source *ms);
void mem_source_release(struct mem_source *ms);

/* An object of @size bytes of mem_content(@seed), named by @algo. */
struct mem_object *mem_source_add(struct mem_source *ms, enum cache_algo algo,
				  uint64_t size, uint64_t seed);

/* An object of exactly these bytes (copied), named by @algo. */
struct mem_object *mem_source_add_data(struct mem_source *ms, enum cache_algo algo,
				       const void *data, size_t len);

/* Make the next @n fetches (of any object) fail with -@errnum. */
void mem_source_fail_next(struct mem_source *ms, int n, int errnum);

void mem_source_set_delay(struct mem_source *ms, unsigned int ms_per_fetch);

/*
 * Hold every fetch at the gate (@on), or let them go. With the cache's
 * fetch_waits counter, a test forces an order instead of hoping for it.
 */
void mem_source_hold(struct mem_source *ms, bool on);

/* Fetches waiting at the gate now. */
unsigned int mem_source_held(struct mem_source *ms);

/* Serve block @index of @o with byte @at flipped (a wrong-hash object). */
void mem_object_corrupt(struct mem_object *o, int64_t index, uint32_t at);

/* Fetches of block @index of @o so far. */
unsigned int mem_object_fetches(const struct mem_object *o, uint32_t index);

/* Fetches of every block of @o so far. */
unsigned int mem_object_fetches_all(const struct mem_object *o);

unsigned int mem_source_fetches(const struct mem_source *ms);

/* Zero every counter. */
void mem_source_reset_counts(struct mem_source *ms);

#endif /* HUBFS_TESTS_MEM_SOURCE_H */
