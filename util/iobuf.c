/* SPDX-License-Identifier: MIT */
/* Reused, mapped I/O buffers: see iobuf.h for why. */
#include "util/iobuf.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Sizes are rounded up to this, so that nearby requests share buffers. */
#define IOBUF_GRAIN (1u << 20)

static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	void *buf;
	size_t size;
} spare[IOBUF_KEEP];  /* guarded by spare_lock; buf NULL: empty slot */

static size_t rounded(size_t size)
{
	return (size + IOBUF_GRAIN - 1) / IOBUF_GRAIN * IOBUF_GRAIN;
}

void *iobuf_alloc(size_t size)
{
	void *buf = NULL;

	if (size < IOBUF_MIN)
		return malloc(size ? size : 1);
	size = rounded(size);
	pthread_mutex_lock(&spare_lock);
	for (size_t i = 0; i < IOBUF_KEEP && !buf; i++) {
		if (spare[i].buf && spare[i].size == size) {
			buf = spare[i].buf;
			spare[i].buf = NULL;
		}
	}
	pthread_mutex_unlock(&spare_lock);
	if (!buf) {
		buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
		if (buf == MAP_FAILED)
			buf = NULL;
	}
	return buf;
}

void iobuf_free(void *buf, size_t size)
{
	if (!buf)
		return;
	if (size < IOBUF_MIN) {
		free(buf);
		return;
	}
	size = rounded(size);
	pthread_mutex_lock(&spare_lock);
	for (size_t i = 0; i < IOBUF_KEEP && buf; i++) {
		if (!spare[i].buf) {
			spare[i].buf = buf;
			spare[i].size = size;
			buf = NULL;
		}
	}
	pthread_mutex_unlock(&spare_lock);
	if (buf)
		munmap(buf, size);
}
