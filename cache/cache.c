/* SPDX-License-Identifier: MIT */
/*
 * The cache's in-memory index and its read path.
 *
 * Design note. The index knows, per object, which blocks are present,
 * which are being fetched and which are being read (pinned). It is a hint
 * about the disk, which is the truth: another process may add or evict
 * blocks at any time, so a block the index calls absent is still looked
 * for on disk before it is fetched, and a block the index calls present
 * may turn out missing or corrupt, and is then fetched again.
 *
 * Locking: c->lock guards every field of struct cache and of the objects
 * and block states it reaches. It is never held across disk or network
 * I/O: a thread marks a block "fetching" or "pinned" under the lock, drops
 * it for the I/O, and takes it again to publish the result; waiters sleep
 * on c->changed. An object lives while it has refs (a call using it, an
 * eviction of its block, an inode of the mount: cache_object_hold()) or
 * anything to remember (forgettable()); the last put_object() frees it.
 *
 * The directory's usage (bytes of block files, and the cap) is shared by
 * every process through the file DIR/usage: a block file is published
 * (linked into place, never replacing one) or removed, and the count
 * changed, under the usage lock (c->usage_mutex, then flock on the file).
 * Lock order: the usage lock before c->lock, never the other way round.
 * docs/cache-format.md, "Concurrency", has the whole model on one page.
 */
#include "cache/cache_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "util/crc32c.h"
#include "util/digest.h"
#include "util/fileio.h"
#include "util/hash.h"
#include "util/iobuf.h"
#include "util/lfs.h"
#include "util/log.h"
#include "util/path.h"
#include "util/time.h"

/*
 * Where a block is, in this process's view (docs/cache-format.md,
 * "Concurrency: the whole model"). Only the thread that moved a block to
 * BLOCK_FETCHING or BLOCK_EVICTING moves it on; the others wait on
 * c->changed.
 */
enum block_phase {
	BLOCK_ABSENT = 0, /* no file, as far as we know */
	BLOCK_FETCHING,   /* one thread fetches it into a temporary file */
	BLOCK_PRESENT,    /* its file is there; on the LRU list */
	BLOCK_EVICTING,   /* one thread removes its file */
};

struct block_state {
	struct block_state *lru_prev, *lru_next; /* on c->lru while present */
	struct cache_object *obj; /* which object it is a block of */
	enum block_phase phase;
	uint32_t pins;       /* readers inside cache_block_read() now */
	uint32_t gen;        /* bumped when a fetch of this block ends */
	int32_t fetch_rc;    /* how the last fetch ended */
	bool drop_when_hashed; /* the kernel holds it whole: its pages go once hashed */
	struct fetch_sink *sink; /* while fetching: where its bytes go (fetch_block()) */
	/*
	 * The write id of the block file whose bytes went into the object's
	 * hash. While the object is verified, a file read with another id
	 * was not verified: the object is hashed again before it is trusted.
	 */
	uint64_t hashed_id;
	/*
	 * The write id of the block file this process stored, until its bytes
	 * are handed on once (0: none, or handed on), and when (time_mono_ms()):
	 * its CRCs were computed from the very bytes it holds, as they arrived,
	 * so they may go on unread the first time, soon after
	 * (cache_open_stored()). Ids never repeat: a file put in its place by
	 * anyone has another id.
	 */
	uint64_t stored_id;
	int64_t stored_ms;
	/*
	 * The content stamp of the bytes this block has held (0: none seen
	 * since the object's last rejection). Kept when the block goes: a
	 * file of it read or stored later must hold the same bytes, for
	 * readers may have had the first ones (note_block()).
	 */
	uint64_t content;
};

/* A thread has the block's file in hand (fetching or evicting): wait for it. */
static bool block_busy(const struct block_state *b)
{
	return b->phase == BLOCK_FETCHING || b->phase == BLOCK_EVICTING;
}

struct cache_object {
	struct cache_object *next; /* hash chain */
	struct cache_key key;
	/*
	 * Who keeps a pointer to it across a drop of c->lock: each public
	 * call that uses it (lookup() .. put_object()), evict() for each
	 * victim's object, and each cache_object_hold().
	 */
	uint32_t refs;
	uint32_t n_blocks;
	uint32_t n_present;
	uint32_t n_fetching;  /* blocks being fetched by this process */
	/*
	 * Of those, the fetches that answered readers before their block was
	 * stored (cache_read_early()): those bytes meet the block's content
	 * stamp only when it is (note_block()). settle_served_whole() waits
	 * for them.
	 */
	uint32_t n_told;
	struct block_state *blocks;
	bool verified;
	/*
	 * A hash found the content right since its last rejection (a whole
	 * verification, the running hash's end, or the object meta file).
	 * Unlike verified, which an eviction clears, it stays: the blocks
	 * fetched again are held to the same content stamps.
	 */
	bool vouched;
	/*
	 * Running hashes that had taken blocks and ended with no verdict,
	 * stored blocks evicted before any hash took them or while one
	 * verified the object (mark_absent()), verifications given up
	 * (settle()), and a verdict ended by a block back with no stamp
	 * (note_block()): readers given those bytes may have nothing left to
	 * vouch for them. Never decreases.
	 */
	uint32_t hash_losses;
	bool verifying;      /* one thread is hashing the whole object */
	bool objmeta_checked; /* its object meta file was read or written */
	uint32_t rejects;    /* bumped when its content failed the hash */
	/*
	 * Rejections whose files are still on disk: reject_object() counts
	 * one, discard_rejected() takes it off once they are gone. Meanwhile
	 * no block is read from disk (get_block()): a file there is of the
	 * content refused.
	 */
	uint32_t discarding;
	/*
	 * The running hash of blocks [0, hashed): fed as blocks arrive in
	 * order, so that completing a big object costs little more hashing,
	 * and so that an object whose hashed blocks went away (a cap smaller
	 * than it) still gets a verdict. Owned by the thread that set hashing
	 * (or verifying).
	 */
	struct digest hasher;
	uint32_t hashed;
	bool hashing;
	bool hash_stale;     /* a block went away while verifying */
	bool hashed_gone;    /* a block the running hash took went away since */
	bool warned_unverifiable; /* logged that eviction ended its running hash */
	/*
	 * A reader let go of blocks of it (cache_drop_behind()): each block
	 * stored from now on starts its write at once, so that its pages are
	 * clean, and can go, when the reader has it whole.
	 */
	bool streamed;
	/*
	 * What this process handed out of it since its last rejection (reads,
	 * answers before a block was stored, pushes to the kernel), verified
	 * or not: the kernel keeps pages across opens and verdicts, and a
	 * reader may take them from there. A bit per 64 KiB chunk (NULL:
	 * nothing yet), n_served of them set, each before its bytes are read.
	 * The read that leaves no chunk unmarked, and every read after it,
	 * succeeds only under a verdict, or while no block went since the set
	 * began (settle_served_whole(); served_losses), so that a reader in
	 * any order, or several sharing the page cache, never has every byte
	 * of a wrong file. served_whole: every chunk was handed out (the bits
	 * are freed then), or there was no memory for them; every read counts
	 * as the last.
	 */
	uint64_t *served;
	uint32_t n_served;
	bool served_whole;
	uint32_t served_losses; /* hash_losses when the served set began */
	char *reject_why;    /* and why, for the readers it fails; NULL before (or no memory) */
};

struct cache {
	char *dir;
	struct cache_options opts;
	pthread_mutex_t lock;
	pthread_cond_t changed;    /* a fetch, eviction, hash step, verification or discard ended */
	/* Present blocks, most recently used first: lru.lru_next is the newest. */
	struct block_state lru;
	/* The directory-wide usage file and the lock around it (see above). */
	pthread_mutex_t usage_mutex;
	int usage_fd;
	bool usage_flocked;        /* under usage_mutex: the flock is ours now */
	int64_t usage_stuck_until; /* under usage_mutex: only try the flock till then */
	long usage_pid;            /* under usage_mutex: the pid our cap's slot names; 0: none */
	struct cache_object **table;
	size_t table_size;
	size_t n_objects;
	uint64_t disk_bytes;       /* block files this process knows of, headers included */
	uint64_t reserved_bytes;   /* blocks this process is fetching, counted against the cap */
	uint64_t n_blocks;
	struct cache_stats stats;
	/* Bytes the running hashes took, read without the lock (cache_hashed_bytes()). */
	_Atomic uint64_t hashed_bytes;
	struct uhash_key *stamp_key; /* owned; read-only once open (load_stamp_key()) */
};

static const char *algo_dir(enum cache_algo algo)
{
	return algo == CACHE_ALGO_SHA256 ? "sha256" : "gitsha1";
}

static void set_error(struct cache_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct cache_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

uint32_t cache_blocks_for(uint64_t size)
{
	return (uint32_t)((size + CACHE_BLOCK_SIZE - 1) / CACHE_BLOCK_SIZE);
}

static uint32_t block_len(const struct cache_key *key, uint32_t index)
{
	uint64_t start = (uint64_t)index * CACHE_BLOCK_SIZE;
	uint64_t left = key->size - start;

	return left < CACHE_BLOCK_SIZE ? (uint32_t)left : CACHE_BLOCK_SIZE;
}

bool cache_key_is_valid(const struct cache_key *key)
{
	size_t want = key->algo == CACHE_ALGO_SHA256 ? 64 :
		      key->algo == CACHE_ALGO_GIT_SHA1 ? 40 : 0;

	return want && digest_is_hex(key->hash, want) &&
	       key->size <= CACHE_MAX_OBJECT_SIZE;
}

int cache_default_dir(char *out, size_t size)
{
	const char *v = getenv("HUBFS_CACHE_DIR");

	if (v && *v) {
		int n = snprintf(out, size, "%s", v);

		return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
	}
	return path_user_cache_dir("hubfs", out, size);
}

const char *cache_dir(const struct cache *c)
{
	return c->dir;
}

int cache_object_dir(const struct cache *c, const struct cache_key *key,
		     char *out, size_t size)
{
	int n = snprintf(out, size, "%s/objects/%s/%.2s/%s", c->dir,
			 algo_dir(key->algo), key->hash, key->hash);

	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

static void block_path(const struct cache *c, const struct cache_object *o,
		       uint32_t index, char *out, size_t size)
{
	snprintf(out, size, "%s/objects/%s/%.2s/%s/b%u", c->dir,
		 algo_dir(o->key.algo), o->key.hash, o->key.hash, index);
}

static void objmeta_path(const struct cache *c, const struct cache_key *key,
			 char *out, size_t size)
{
	snprintf(out, size, "%s/objects/%s/%.2s/%s/meta", c->dir,
		 algo_dir(key->algo), key->hash, key->hash);
}

static void remove_at(int at, const char *name, unsigned depth);

/*
 * Remove what sits where a block file should be: normally a file, but the
 * cache directory is not trusted, so a directory put there goes too. A
 * symlink is removed itself, never followed.
 */
static void discard_path(const char *path)
{
	remove_at(AT_FDCWD, path, 0);
}

/* ---- the index (all under c->lock) ---- */

static size_t key_slot(const struct cache *c, const struct cache_key *key)
{
	uint64_t h = hash_fnv1a_str(HASH_FNV1A_START ^ (uint64_t)key->algo, key->hash);

	return (size_t)(h % c->table_size);
}

static struct cache_object *find_object(struct cache *c, const struct cache_key *key)
{
	for (struct cache_object *o = c->table[key_slot(c, key)]; o; o = o->next) {
		if (o->key.algo == key->algo && strcmp(o->key.hash, key->hash) == 0)
			return o;
	}
	return NULL;
}

static int grow_table(struct cache *c)
{
	size_t size = c->table_size * 2;
	struct cache_object **t = calloc(size, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < c->table_size; i++) {
		struct cache_object *o = c->table[i], *next;

		for (; o; o = next) {
			size_t slot;

			next = o->next;
			c->table_size = size; /* key_slot() reads it */
			slot = key_slot(c, &o->key);
			c->table_size = size / 2;
			o->next = t[slot];
			t[slot] = o;
		}
	}
	free(c->table);
	c->table = t;
	c->table_size = size;
	return 0;
}

static struct cache_object *add_object(struct cache *c, const struct cache_key *key)
{
	struct cache_object *o;
	size_t slot;

	if (c->n_objects >= c->table_size && grow_table(c) < 0)
		return NULL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->key = *key;
	o->n_blocks = cache_blocks_for(key->size);
	o->blocks = calloc(o->n_blocks ? o->n_blocks : 1, sizeof(*o->blocks));
	if (!o->blocks) {
		free(o);
		return NULL;
	}
	for (uint32_t k = 0; k < o->n_blocks; k++)
		o->blocks[k].obj = o;
	slot = key_slot(c, key);
	o->next = c->table[slot];
	c->table[slot] = o;
	c->n_objects++;
	return o;
}

/*
 * The object for @key, made if new. An object of the same hash with
 * another size is a contradiction (one of the two listings lies): it is
 * refused, and what is stored is left alone.
 */
static struct cache_object *get_object(struct cache *c, const struct cache_key *key)
{
	struct cache_object *o = find_object(c, key);

	if (o && o->key.size != key->size) {
		log_warn("cache: object %s is stored with size %llu, the listing says %llu; "
			 "ignoring the stored copy",
			 key->hash, (unsigned long long)o->key.size,
			 (unsigned long long)key->size);
		return NULL;
	}
	return o ? o : add_object(c, key);
}

static void drop_hash(struct cache_object *o);

/*
 * Is nothing of @o left to remember? No block on disk or arriving (the
 * index accounts for those), no verdict standing for an empty object, no
 * hash under way, and no rejection or lost hash: an inode of the mount
 * compares those counts with the ones it was born with, and an object
 * made anew starts them at 0 (fs/). Its content stamps and "vouched" go
 * with it: nobody holds it, so no inode has pages of it. Lock held.
 */
static bool forgettable(const struct cache_object *o)
{
	return o->refs == 0 && o->n_present == 0 && o->n_fetching == 0 && !o->verified &&
	       !o->verifying && !o->hashing && !o->hasher.ctx && o->hashed == 0 &&
	       o->rejects == 0 && o->discarding == 0 && o->hash_losses == 0;
}

/* Nothing of @o's content handed out (refused, or forgotten). Lock held. */
static void forget_served(struct cache_object *o)
{
	free(o->served);
	o->served = NULL;
	o->n_served = 0;
	o->served_whole = false;
}

static uint32_t chunks_of(const struct cache_object *o)
{
	return (uint32_t)((o->key.size + CACHE_CHUNK_SIZE - 1) / CACHE_CHUNK_SIZE);
}

static bool chunk_served(const struct cache_object *o, uint32_t i)
{
	return o->served && (o->served[i / 64] >> (i % 64) & 1);
}

/*
 * Once [@offset, @offset + @len) is handed out too, has every chunk of @o
 * been (@len 0: has it now)? An object of one block counts as whole from
 * its first byte: it is always hashed before that. Lock held.
 */
static bool serves_all(const struct cache_object *o, uint64_t offset, size_t len)
{
	uint32_t total = chunks_of(o), missing = 0;

	if (o->served_whole || o->n_blocks < 2)
		return true;
	if (len) {
		uint32_t last = (uint32_t)((offset + len - 1) / CACHE_CHUNK_SIZE);

		for (uint32_t i = (uint32_t)(offset / CACHE_CHUNK_SIZE); i <= last && i < total; i++)
			missing += !chunk_served(o, i);
	}
	return o->n_served + missing >= total;
}

/*
 * [@offset, @offset + @len) of @o is handed out: mark it, before its bytes
 * are read. Not for an object of one block, which serves_all() counts as
 * whole from its first byte: the bits would cost a million small files
 * read in part 32 bytes each, for nothing. Lock held.
 */
static void mark_served(struct cache_object *o, uint64_t offset, size_t len)
{
	uint32_t total = chunks_of(o), last;

	if (o->served_whole || len == 0 || o->n_blocks < 2)
		return;
	if (!o->served)
		o->served_losses = o->hash_losses; /* the set begins */
	if (!o->served && !(o->served = calloc((total + 63) / 64, sizeof(*o->served)))) {
		o->served_whole = true;
		return;
	}
	last = (uint32_t)((offset + len - 1) / CACHE_CHUNK_SIZE);
	for (uint32_t i = (uint32_t)(offset / CACHE_CHUNK_SIZE); i <= last && i < total; i++) {
		if (!chunk_served(o, i)) {
			o->served[i / 64] |= 1ull << (i % 64);
			o->n_served++;
		}
	}
	if (o->n_served >= total) {
		free(o->served);
		o->served = NULL;
		o->served_whole = true;
	}
}

/* Free @o and what it owns; it is out of the table (or the table goes). */
static void free_object(struct cache_object *o)
{
	drop_hash(o);
	forget_served(o);
	free(o->reject_why);
	free(o->blocks);
	free(o);
}

/*
 * Drop a ref on @o; the last one frees it when forgettable(), so that the
 * index holds what is cached and what is in use, not every object ever
 * read (a million-file dataset read through a cap). Lock held.
 */
static void put_object(struct cache *c, struct cache_object *o)
{
	if (--o->refs > 0 || !forgettable(o))
		return;
	for (struct cache_object **p = &c->table[key_slot(c, &o->key)]; *p; p = &(*p)->next) {
		if (*p == o) {
			*p = o->next;
			break;
		}
	}
	c->n_objects--;
	free_object(o);
}

/* put_object() with the lock taken here. */
static void put_object_unlocked(struct cache *c, struct cache_object *o)
{
	pthread_mutex_lock(&c->lock);
	put_object(c, o);
	pthread_mutex_unlock(&c->lock);
}

static uint32_t disk_size(const struct cache_key *key, uint32_t k);

static void lru_unlink(struct block_state *b)
{
	b->lru_prev->lru_next = b->lru_next;
	b->lru_next->lru_prev = b->lru_prev;
	b->lru_prev = b->lru_next = NULL;
}

/* Make @b the most recently used block. */
static void lru_touch(struct cache *c, struct block_state *b)
{
	/*
	 * Only a present block is on the list: a reader that re-takes the
	 * lock after its read may find its block gone meanwhile (a
	 * verification dropped it), and an absent block left on the list
	 * would outlive its object (put_object()).
	 */
	if (b->phase != BLOCK_PRESENT)
		return;
	if (b->lru_next)
		lru_unlink(b);
	b->lru_next = c->lru.lru_next;
	b->lru_prev = &c->lru;
	c->lru.lru_next->lru_prev = b;
	c->lru.lru_next = b;
}

/* Block @k is there (and just used): O(1), no timestamps. */
static void mark_present(struct cache *c, struct cache_object *o, uint32_t k)
{
	struct block_state *b = &o->blocks[k];

	if (b->phase != BLOCK_PRESENT) {
		b->phase = BLOCK_PRESENT;
		o->n_present++;
		c->disk_bytes += disk_size(&o->key, k);
		c->n_blocks++;
	}
	lru_touch(c, b);
}

/*
 * Block @k was read (or written) from the file @id names. If that is not
 * the file the object's hash covered, the object is not verified: another
 * process, or a crash between an eviction and its object meta rewrite,
 * replaced it. No clock is asked: ids never repeat. If the file holds
 * other bytes than the block held before, false: the caller rejects the
 * object (reject_changed()). Lock held.
 */
static bool note_block(struct cache_object *o, uint32_t k, const struct cache_block_id *id)
{
	struct block_state *b = &o->blocks[k];

	if (o->verified && id->write_id != b->hashed_id)
		o->verified = false;
	if (b->content && b->content != id->content)
		return false;
	/*
	 * Vouched for by a hash of other files (the object meta file, after a
	 * remount) and never read here: no stamp to hold these bytes to, so
	 * the verdict is not about them. evict() notes the stamps of the
	 * blocks it takes, so that only a file another process replaced
	 * comes here. The blocks that went while it was vouched for went
	 * with no loss counted (mark_absent()): one is counted now.
	 */
	if (o->vouched && !b->content && id->write_id != b->hashed_id) {
		o->vouched = false;
		o->hash_losses++;
	}
	b->content = id->content;
	return true;
}

/* Forget the running hash (the caller holds c->lock and it is not in use). */
static void drop_hash(struct cache_object *o)
{
	if (o->hasher.ctx)
		digest_release(&o->hasher);
	o->hashed = 0;
	o->hash_stale = false;
	o->hashed_gone = false;
}

/* drop_hash() with no verdict, of a hash that took blocks: counted. */
static void lose_hash(struct cache_object *o)
{
	if (o->hashed > 0)
		o->hash_losses++;
	drop_hash(o);
}

static void mark_absent(struct cache *c, struct cache_object *o, uint32_t k)
{
	struct block_state *b = &o->blocks[k];
	bool was_present = b->phase == BLOCK_PRESENT;

	if (was_present) {
		b->phase = BLOCK_ABSENT;
		b->drop_when_hashed = false;
		o->n_present--;
		c->disk_bytes -= disk_size(&o->key, k);
		c->n_blocks--;
		lru_unlink(b);
	}
	o->verified = false;
	/*
	 * A verification in progress needs every block: what comes back may
	 * not be what it hashed, so it must not end in "verified". The running
	 * hash keeps what it took of this block, the bytes readers were given,
	 * so that an object whose first blocks were evicted behind a reader in
	 * order still gets a verdict (running_verdict_due()); should the block
	 * be fetched again, the hash ends then (get_block()). A stored block it
	 * has not taken yet leaves it waiting there: what comes back is held
	 * to the block's content stamp (note_block()), as a verification's
	 * blocks are. Ending it instead left a reader in order with no verdict
	 * for an object whose later blocks an earlier reader had fetched and
	 * the cap then took (t2017's reader alone, after four at once).
	 */
	if (o->verifying) {
		o->hash_stale = true;
		/* A verification that then ends with the object incomplete decides nothing. */
		if (was_present && !o->vouched)
			o->hash_losses++;
		return;
	}
	if (k < o->hashed) {
		o->hashed_gone = true;
		return;
	}
	if (!was_present)
		return; /* a miss: nothing was served of it */
	/*
	 * Bytes of it may have been served, and only a hash that takes it
	 * again can vouch for them: until one does, a reader of the whole
	 * file must learn that nothing vouches for what it got (hash_losses).
	 */
	if (!o->vouched)
		o->hash_losses++;
}

static uint32_t disk_size(const struct cache_key *key, uint32_t k)
{
	uint32_t len = block_len(key, k);

	return cache_block_header_size(len) + len;
}

/* ---- object meta files ---- */

/*
 * Record @key as unverified (@ids NULL) or as verified over the block
 * files of write ids @ids (one per block).
 */
static void write_objmeta(struct cache *c, const struct cache_key *key,
			  const uint64_t *ids)
{
	struct cache_objmeta m = {
		.algo = key->algo, .object_size = key->size,
		.block_size = CACHE_BLOCK_SIZE, .verified = ids != NULL,
		.n_ids = ids ? cache_blocks_for(key->size) : 0,
		.ids = (uint64_t *)ids,
	};
	char path[PATH_MAX];
	int rc;

	cache_hash_raw(key, m.hash);
	objmeta_path(c, key, path, sizeof(path));
	rc = cache_objmeta_write(path, &m);
	if (rc < 0)
		log_dbg("cache: cannot write %s: %s", path, strerror(-rc));
}

/*
 * First use of an object in this process: make its directory and object
 * meta file, or read what another process (or an earlier run) left.
 */
static int check_objmeta(struct cache *c, struct cache_object *o)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct cache_objmeta m;
	uint8_t raw[32];
	bool verified = false;
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = o->objmeta_checked;
	pthread_mutex_unlock(&c->lock);
	if (rc)
		return 0;
	/*
	 * Its files are read, written and unlinked by path from here on: no
	 * link may stand on the way (a planted one led the unlinks of its
	 * blocks out of the cache). Where nothing stands yet, it is made.
	 */
	snprintf(path, sizeof(path), "objects/%s/%.2s/%s", algo_dir(o->key.algo), o->key.hash,
		 o->key.hash);
	rc = fileio_open_beneath(c->dir, path, O_RDONLY | O_DIRECTORY);
	if (rc >= 0)
		close(rc);
	else if (rc != -ENOENT)
		return rc;
	cache_object_dir(c, &o->key, dir, sizeof(dir));
	objmeta_path(c, &o->key, path, sizeof(path));
	cache_hash_raw(&o->key, raw);
	rc = cache_objmeta_read(path, &m);
	if (rc == 0 && m.algo == o->key.algo && memcmp(m.hash, raw, 32) == 0 &&
	    m.object_size == o->key.size) {
		verified = m.verified;
	} else {
		if (rc == 0)
			cache_objmeta_release(&m);
		rc = fileio_mkdirs(dir, 0755);
		if (rc < 0)
			return rc;
		write_objmeta(c, &o->key, NULL);
		m.n_ids = 0;
		m.ids = NULL;
	}
	pthread_mutex_lock(&c->lock);
	o->objmeta_checked = true;
	/* Verified on disk counts only with every block still there. */
	if (verified && o->n_present == o->n_blocks && !o->verified) {
		for (uint32_t k = 0; k < o->n_blocks; k++)
			o->blocks[k].hashed_id = m.ids[k];
		o->verified = true;
		o->vouched = true;
	}
	pthread_mutex_unlock(&c->lock);
	cache_objmeta_release(&m);
	return 0;
}

/* ---- room ---- */

static bool below_free_ratio(const struct cache *c)
{
	struct statvfs sv;

	if (c->opts.min_free_ratio <= 0 || statvfs(c->dir, &sv) < 0 || sv.f_blocks == 0)
		return false;
	return (double)sv.f_bavail / (double)sv.f_blocks < c->opts.min_free_ratio;
}

/* ---- the directory's usage, shared by every process ---- */

/*
 * DIR/usage: fixed-size lines, rewritten in place under the usage lock.
 * The first: the bytes of block files in the directory (and a cap with
 * its pid, which only hubfs before 2026-12-07 wrote: still honoured).
 * Then USAGE_SLOTS slots, one for each running process that was given a
 * cap: its cap and its pid. A cap lasts as long as its process: a mount's
 * --max-cache-size binds every download and mount that shares the
 * directory while it runs, and no longer; with several, the least binds.
 * A damaged first line is recounted from the block files at the next
 * open, and until then this process's own count stands; a damaged slot is
 * a free one. Damaged includes values no process writes: a count past
 * USAGE_BYTES_MAX, a pid past INT_MAX (kill() would ask about a group).
 */
#define USAGE_FORMAT "hubfs-usage 1 bytes %020llu cap %020llu pid %010ld\n"
#define USAGE_LEN 81
#define USAGE_SLOT_FORMAT "hubfs-cap %020llu pid %010ld\n"
#define USAGE_SLOT_LEN 46
#define USAGE_SLOTS 32
#define USAGE_BYTES_MAX (UINT64_C(1) << 60)

struct usage {
	uint64_t bytes;
	uint64_t cap;   /* 0: none (the first line's, from an older hubfs) */
	long pid;       /* who asked for it */
};

/* The cap slots that follow the count's line (usage_read_slots()). */
struct usage_slots {
	uint64_t cap[USAGE_SLOTS]; /* 0: a free slot */
	long pid[USAGE_SLOTS];
};

/*
 * How long a thread waits for another process's flock on DIR/usage before
 * it goes on without it. The flock only keeps the count exact (a link or
 * an unlink is atomic on its own), and its holder may be stopped (Ctrl-Z)
 * or walking a huge directory at its open: waiting for ever would hang
 * every fetch here. After a wait that ended so, the next ones wait
 * USAGE_TRY_MS at most, for USAGE_STUCK_MS (a window that only a full
 * wait opens, so brief contention later still gets the flock). The count
 * may drift meanwhile, until the next open recounts it.
 */
#define USAGE_WAIT_MS 2000
#define USAGE_TRY_MS 50
#define USAGE_STUCK_MS 10000

static void usage_lock(struct cache *c)
{
	int64_t now, until;
	unsigned nap_ms = 1;
	bool stuck;

	pthread_mutex_lock(&c->usage_mutex); /* flock does not exclude our own threads */
	c->usage_flocked = false;
	if (c->usage_fd < 0)
		return;
	now = time_mono_ms();
	stuck = now < c->usage_stuck_until;
	until = now + (stuck ? USAGE_TRY_MS : USAGE_WAIT_MS);
	for (;;) {
		if (flock(c->usage_fd, LOCK_EX | LOCK_NB) == 0) {
			c->usage_flocked = true;
			return;
		}
		if (errno != EWOULDBLOCK && errno != EINTR)
			return;
		now = time_mono_ms();
		if (now >= until)
			break;
		usleep(1000u * (unsigned)(until - now < nap_ms ? until - now : nap_ms));
		if (nap_ms < 64)
			nap_ms *= 2;
	}
	if (!stuck) {
		log_warn("cache: another process has held %s/usage for over %d s; going on "
			 "without it (the usage count may drift until the next open)",
			 c->dir, USAGE_WAIT_MS / 1000);
		c->usage_stuck_until = now + USAGE_STUCK_MS;
	}
}

static void usage_unlock(struct cache *c)
{
	if (c->usage_flocked)
		flock(c->usage_fd, LOCK_UN);
	c->usage_flocked = false;
	pthread_mutex_unlock(&c->usage_mutex);
}

/*
 * Under the usage lock, without c->lock (taken here, in the lock order,
 * when needed). A line that does not parse reads as our own count.
 */
static struct usage usage_read(struct cache *c)
{
	struct usage u = { 0 };
	char line[USAGE_LEN + 1] = "";
	unsigned long long b, m;
	long pid;
	int used = 0;

	/* No count past an exbibyte: "-1" reads as 2^64 - 1, and a sum would wrap. */
	if (c->usage_fd >= 0 && pread(c->usage_fd, line, USAGE_LEN, 0) == USAGE_LEN &&
	    sscanf(line, "hubfs-usage 1 bytes %20llu cap %20llu pid %10ld\n%n", &b, &m, &pid,
		   &used) == 3 && used == USAGE_LEN && b <= USAGE_BYTES_MAX && m <= USAGE_BYTES_MAX) {
		u.bytes = b;
		u.cap = m;
		u.pid = pid;
	} else {
		pthread_mutex_lock(&c->lock);
		u.bytes = c->disk_bytes;
		pthread_mutex_unlock(&c->lock);
	}
	return u;
}

/*
 * The cap slots, under the usage lock. Apart from usage_read(): the count
 * is read at every store and eviction, the slots only where a cap is
 * decided by another process's, or recorded.
 */
static struct usage_slots usage_read_slots(struct cache *c)
{
	struct usage_slots sl;
	char all[USAGE_SLOTS * USAGE_SLOT_LEN + 1] = "";
	ssize_t n;

	memset(&sl, 0, sizeof(sl));
	n = c->usage_fd >= 0 ? pread(c->usage_fd, all, sizeof(all) - 1, USAGE_LEN) : -1;
	for (size_t i = 0; i < USAGE_SLOTS && n >= (ssize_t)((i + 1) * USAGE_SLOT_LEN); i++) {
		char slot[USAGE_SLOT_LEN + 1];
		unsigned long long m;
		long pid;
		int used = 0;

		memcpy(slot, all + i * USAGE_SLOT_LEN, USAGE_SLOT_LEN);
		slot[USAGE_SLOT_LEN] = '\0';
		if (sscanf(slot, "hubfs-cap %20llu pid %10ld\n%n", &m, &pid, &used) == 2 &&
		    used == USAGE_SLOT_LEN && pid > 0 && pid <= INT_MAX && m <= USAGE_BYTES_MAX) {
			sl.cap[i] = m;
			sl.pid[i] = pid;
		}
	}
	return sl;
}

static void usage_write(struct cache *c, const struct usage *u)
{
	char line[USAGE_LEN + 1];

	snprintf(line, sizeof(line), USAGE_FORMAT, (unsigned long long)u->bytes,
		 (unsigned long long)u->cap, u->pid);
	if (c->usage_fd >= 0 && pwrite(c->usage_fd, line, USAGE_LEN, 0) != USAGE_LEN)
		log_dbg("cache: cannot update %s/usage: %s", c->dir, strerror(errno));
}

/* Write slot @i of DIR/usage: @cap for @pid (0, 0: free). Under the usage lock. */
static void usage_write_slot(struct cache *c, size_t i, uint64_t cap, long pid)
{
	char slot[96];

	if (snprintf(slot, sizeof(slot), USAGE_SLOT_FORMAT, (unsigned long long)cap, pid) !=
	    USAGE_SLOT_LEN)
		return; /* a pid past ten digits: none is */
	if (c->usage_fd >= 0 &&
	    pwrite(c->usage_fd, slot, USAGE_SLOT_LEN, (off_t)(USAGE_LEN + i * USAGE_SLOT_LEN)) !=
		    USAGE_SLOT_LEN)
		log_dbg("cache: cannot update %s/usage: %s", c->dir, strerror(errno));
}

/* Past INT_MAX a pid_t is negative: kill() would ask about a process group, or all. */
static bool alive(long pid)
{
	return pid > 0 && pid <= INT_MAX && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/*
 * Record this process's cap (c->opts.max_bytes) in a slot of its own, as
 * process @pid, in place of @was's (0: none). Under the usage lock.
 */
static void usage_claim(struct cache *c, long was, long pid)
{
	struct usage_slots sl = usage_read_slots(c);
	size_t at = USAGE_SLOTS;

	for (size_t i = 0; i < USAGE_SLOTS && at == USAGE_SLOTS; i++) {
		if (sl.pid[i] == pid || (was && sl.pid[i] == was))
			at = i;
	}
	for (size_t i = 0; i < USAGE_SLOTS && at == USAGE_SLOTS; i++) {
		if (!sl.cap[i] || !alive(sl.pid[i]))
			at = i;
	}
	if (at == USAGE_SLOTS) {
		log_warn("cache: %d processes with a cap share %s already; this one's (%llu bytes) "
			 "binds only itself", USAGE_SLOTS, c->dir,
			 (unsigned long long)c->opts.max_bytes);
		return;
	}
	usage_write_slot(c, at, c->opts.max_bytes, pid);
	c->usage_pid = pid;
}

/* This process's slot, and the first line's cap if it is ours, are free. Under the usage lock. */
static void usage_release(struct cache *c, struct usage *u)
{
	struct usage_slots sl = usage_read_slots(c);

	for (size_t i = 0; i < USAGE_SLOTS; i++) {
		if (c->usage_pid && sl.pid[i] == c->usage_pid)
			usage_write_slot(c, i, 0, 0);
	}
	if (u->pid == (long)getpid()) {
		u->cap = 0;
		u->pid = 0;
		usage_write(c, u);
	}
	c->usage_pid = 0;
}

/* The cap in force: ours when this process was given one, else the least of the live processes'. */
static uint64_t usage_cap(struct cache *c, const struct usage *u)
{
	struct usage_slots sl;
	uint64_t cap = 0;

	if (c->opts.max_bytes)
		return c->opts.max_bytes;
	if (u->cap && alive(u->pid))
		cap = u->cap;
	sl = usage_read_slots(c);
	for (size_t i = 0; i < USAGE_SLOTS; i++) {
		if (sl.cap[i] && (!cap || sl.cap[i] < cap) && alive(sl.pid[i]))
			cap = sl.cap[i];
	}
	return cap;
}

/* Count @delta bytes of block files more (or fewer) in the directory. */
static void usage_add_locked(struct cache *c, int64_t delta)
{
	struct usage u = usage_read(c);

	if (delta < 0 && (uint64_t)-delta > u.bytes)
		u.bytes = 0;
	else
		u.bytes += (uint64_t)delta;
	usage_write(c, &u);
}

/*
 * Remove block file @path (of @dsize bytes when it is one) and count it
 * out. Whatever else sits there (a directory put in its place) goes too.
 */
static void remove_block_file(struct cache *c, const char *path, uint32_t dsize)
{
	struct stat st;

	usage_lock(c);
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
		if (unlink(path) == 0)
			usage_add_locked(c, -(int64_t)dsize);
	} else {
		discard_path(path);
	}
	usage_unlock(c);
}

/*
 * Publish the complete temporary block file @af under its final name:
 * linked into place, never replacing a block another process published
 * first (the count would be off, and a verified object's block would
 * change under it). 0, -EEXIST (one is there: use it; @af stays), or
 * -errno.
 */
static int publish_block(struct cache *c, struct fileio_atomic *af, uint32_t dsize)
{
	int rc;

	usage_lock(c);
	rc = fileio_atomic_commit_new(af);
	if (rc == 0)
		usage_add_locked(c, dsize);
	usage_unlock(c);
	return rc;
}

/*
 * Blocks past the running hash's front that eviction spares while it can:
 * the front and the one after, where a reader in order and its read-ahead
 * are. Not all it has yet to take: a block far ahead (fetched by a reader
 * before, and left on disk) was spared over the block a reader in order
 * was still reading, under a cap of two blocks; that block, fetched again
 * once hashed, ended the hash, and the reader got EIO (t2017).
 */
#define HASH_FRONT_BLOCKS 2

/*
 * Is @b at the front of its object's running hash, to be taken next?
 * Evicting it stops the hash there until the block is fetched again, and
 * a reader of the whole file given its bytes meanwhile has no verdict
 * (mark_absent()). Lock held.
 */
static bool awaited_by_hash(const struct block_state *b)
{
	const struct cache_object *o = b->obj;
	uint32_t k = (uint32_t)(b - o->blocks);

	/* hashing first: while it is set, its thread may be writing o->hasher. */
	return (o->hashing || o->hasher.ctx) && k >= o->hashed &&
	       k - o->hashed < HASH_FRONT_BLOCKS;
}

enum { EVICT_BATCH = 16, FREE_STEP = 8 };

/*
 * Mark victims from the tail of the LRU list into @v (holding @n already),
 * until @need bytes are @taken (with @low, FREE_STEP blocks), sparing the
 * blocks a running hash awaits when @spare_hashed. Returns how many @v
 * holds. Lock held.
 */
static size_t pick_victims(struct cache *c, bool low, uint64_t need, bool spare_hashed,
			   struct block_state **v, size_t n, uint64_t *taken)
{
	for (struct block_state *b = c->lru.lru_prev, *prev;
	     (low || need) && b != &c->lru && n < EVICT_BATCH; b = prev) {
		prev = b->lru_prev;
		if (b->pins || b->phase != BLOCK_PRESENT || b->obj->verifying ||
		    (spare_hashed && awaited_by_hash(b)))
			continue;
		if (awaited_by_hash(b) && !b->obj->warned_unverifiable) {
			b->obj->warned_unverifiable = true;
			log_warn("cache: %s: block %u evicted before its hash took it: the "
				 "hash waits for it to be fetched again (a cap too small for the "
				 "reads at once, --max-cache-size?)",
				 b->obj->key.hash, (unsigned)(b - b->obj->blocks));
		}
		*taken += disk_size(&b->obj->key, (uint32_t)(b - b->obj->blocks));
		mark_absent(c, b->obj, (uint32_t)(b - b->obj->blocks));
		b->phase = BLOCK_EVICTING;
		b->obj->refs++; /* evict() puts it when the file is gone */
		c->stats.evicted_blocks++;
		v[n++] = b;
		if (low ? n >= FREE_STEP : *taken >= need)
			break;
	}
	return n;
}

/*
 * The content stamp of block @k's file at @path, if it is the file whose
 * write id is @write_id (the one a hash vouched for); else 0. A block of
 * a vouched object goes with its stamp noted, so that what comes back is
 * held to it (note_block()): its header only is read. Not a block of
 * format 1 or of another key, which would be read whole under the usage
 * lock to get its stamp: it goes with none, and when it comes back the
 * verdict ends.
 */
static uint64_t file_stamp(const struct cache *c, const char *path, const struct cache_key *key,
			   uint32_t k, uint64_t write_id)
{
	struct cache_block_id id = { 0, 0 };
	uint64_t pos;
	int fd = cache_block_open_data(path, key, k, 0, 0, &id, &pos, c->stamp_key, false);

	if (fd < 0)
		return 0;
	close(fd);
	return id.write_id == write_id ? id.content : 0;
}

/*
 * Evict least-recently-used blocks until the directory's block files and
 * this process's fetches in flight fit under @limit (0: no limit) and,
 * with @check_free, the filesystem keeps its free-space ratio. The victims
 * come from the tail of this process's LRU list, so the cost does not
 * depend on how much is cached; blocks being read, fetched or hashed are
 * never taken. Blocks only other processes know are theirs to evict: the
 * directory may exceed the cap by the blocks in flight. Returns the bytes
 * freed.
 */
static uint64_t evict(struct cache *c, uint64_t limit, bool check_free)
{
	struct block_state *v[EVICT_BATCH];
	/* Per victim: the file whose stamp to note (its hashed id), or 0; the stamp read. */
	uint64_t stamp_of[EVICT_BATCH], stamp[EVICT_BATCH];
	uint32_t rejects[EVICT_BATCH];
	char path[PATH_MAX];
	uint64_t freed = 0;

	for (;;) {
		/* statvfs is I/O: asked before taking the locks. */
		bool low = check_free && below_free_ratio(c);
		uint64_t need = 0, taken = 0, cap;
		struct usage u;
		size_t n = 0;

		usage_lock(c);
		u = usage_read(c);
		cap = limit ? limit : usage_cap(c, &u);
		pthread_mutex_lock(&c->lock);
		if (cap && u.bytes + c->reserved_bytes > cap)
			need = u.bytes + c->reserved_bytes - cap;
		/*
		 * Blocks a running hash has still to take go only when the
		 * others do not free enough (awaited_by_hash()).
		 */
		n = pick_victims(c, low, need, true, v, 0, &taken);
		if (low ? n < FREE_STEP : taken < need)
			n = pick_victims(c, low, need, false, v, n, &taken);
		for (size_t i = 0; i < n; i++) {
			stamp_of[i] = v[i]->obj->vouched && !v[i]->content ? v[i]->hashed_id : 0;
			rejects[i] = v[i]->obj->rejects;
		}
		pthread_mutex_unlock(&c->lock);
		for (size_t i = 0; i < n; i++) {
			struct cache_object *o = v[i]->obj;
			uint32_t k = (uint32_t)(v[i] - o->blocks);

			block_path(c, o, k, path, sizeof(path));
			stamp[i] = stamp_of[i] ? file_stamp(c, path, &o->key, k, stamp_of[i]) : 0;
			/* Another process may have removed it already: not counted twice. */
			if (unlink(path) == 0)
				u.bytes = u.bytes > disk_size(&o->key, k) ?
						  u.bytes - disk_size(&o->key, k) : 0;
		}
		if (n)
			usage_write(c, &u);
		usage_unlock(c);
		if (n == 0)
			break; /* nothing needed, or everything left is in use */
		/*
		 * The object meta file is left as it is: a "verified" that names a
		 * block file no longer there counts for nothing (an incomplete
		 * object is not verified, and a block fetched again has another
		 * write id). Rewriting it cost a rename, and ext4 flushes on a
		 * rename over a file: a millisecond per evicted block.
		 */
		pthread_mutex_lock(&c->lock);
		for (size_t i = 0; i < n; i++) {
			v[i]->phase = BLOCK_ABSENT;
			if (stamp[i] && !v[i]->content && v[i]->obj->rejects == rejects[i])
				v[i]->content = stamp[i];
			put_object(c, v[i]->obj);
		}
		pthread_cond_broadcast(&c->changed);
		pthread_mutex_unlock(&c->lock);
		freed += taken;
	}
	return freed;
}

/* ---- fetching ---- */

/* Refuse what cannot be the object before anything is stored. */
static int check_fetched(const struct cache_key *key, uint32_t k,
			 const uint8_t *data, uint32_t len, struct cache_error *err)
{
	struct lfs_pointer ptr;

	if (k != 0)
		return 0;
	if (lfs_pointer_parse(data, len, &ptr) == 0 ||
	    (key->size > LFS_POINTER_MAX && lfs_pointer_prefix(data, len))) {
		set_error(err, "a Git-LFS pointer stub was served instead of the content");
		return -EBADMSG;
	}
	return 0;
}

/* A reader to tell once its bytes are in (cache_read_early()). */
struct read_early {
	void (*ready)(void *ctx);
	void *ctx;
	bool told;
};

/*
 * A reader of part of a block being fetched: the bytes of
 * [off, off + len) of the block are copied to out as they arrive.
 */
struct fetch_reader {
	uint8_t *out;
	uint32_t off, len;
	uint32_t got;              /* out[0, got) arrived, in order */
	struct read_early *early;  /* to tell once out[] is full, or NULL */
	struct fetch_reader *next; /* on a sink's joining or joined list */
};

/*
 * Where a fetch's bytes go as they arrive: a block file being written,
 * the part of the block of the reader that fetches (when one does), the
 * parts of readers that came for the block while it was being fetched,
 * and the first bytes, for the pointer-stub check before anything is
 * published. Owned by the fetching thread, but for @joining.
 *
 * A reader that finds its block being fetched (get_block()) puts itself
 * on @joining under c->lock and waits for the fetch to end. The fetching
 * thread takes it onto @joined at its next piece, copies in the bytes
 * already written (cache_block_writer_get()) and, from then on, each
 * piece's share, and tells it once they are all in, as it tells its own
 * reader. Only while the bytes come in order: after a gap, joined readers
 * are dropped and read the block once it is stored, as before.
 */
struct fetch_sink {
	struct cache_block_writer w;
	struct fetch_reader own;     /* own.out NULL: no reader fetches */
	struct fetch_reader *joining; /* under c->lock */
	atomic_bool has_joining;     /* joining is not empty: look under the lock */
	struct fetch_reader *joined;
	uint32_t in_order;           /* bytes [0, in_order) arrived, and no other */
	bool out_of_order;           /* a piece came after a gap: nobody joins any more */
	struct cache *c;
	struct cache_object *o;
	uint32_t k;                  /* the block */
	uint32_t rejects;            /* o->rejects when the fetch began */
	uint8_t head[LFS_POINTER_MAX];
	uint32_t head_len;           /* bytes of head[] received */
	int store_rc;                /* why writing failed (the fetch then stops), or 0 */
	bool told;                   /* a reader was told its bytes are in: counted in o->n_told */
};

/* How a fetch_block() went, beside its return code. */
struct fetch_outcome {
	struct cache_block_id in_place; /* the file in place: ours, or another process's */
	uint64_t received;           /* the content stamp of the bytes this fetch received */
	uint64_t stored_id;          /* in_place's write id when it is ours, else 0 */
	bool told;                   /* readers were answered from them on the way */
};

/*
 * May a reader whose bytes are in be told so before the block is stored
 * (cache_read_early())? Not from the block that completes the object
 * (that read waits for the verdict; fetch_block() and join_fetch() leave
 * out the object's last block), nor from block 0 that is a Git-LFS
 * pointer, nor once every chunk was handed out: -EAGAIN while block 0's
 * head is still incomplete, then 0 or -EPERM. A yes is counted in
 * o->n_told until the fetch ends (get_block()).
 */
static int may_answer_early(struct fetch_sink *s)
{
	uint32_t need_head = s->w.h.data_len < LFS_POINTER_MAX ? s->w.h.data_len :
			     LFS_POINTER_MAX;
	bool may;

	if (s->k == 0 && s->head_len < need_head)
		return -EAGAIN;
	if (s->k == 0 && check_fetched(&s->o->key, 0, s->head, s->head_len, NULL) < 0)
		return -EPERM;
	pthread_mutex_lock(&s->c->lock);
	/* Nor from a fetch that began before the content was refused. */
	may = s->o->n_present + 1 < s->o->n_blocks && s->o->rejects == s->rejects &&
	      !serves_all(s->o, 0, 0);
	/* Counted under the lock that decided it: no read that completes the set may miss it. */
	if (may && !s->told) {
		s->told = true;
		s->o->n_told++;
	}
	pthread_mutex_unlock(&s->c->lock);
	return may ? 0 : -EPERM;
}

/*
 * Copy a piece's share into @r. Bytes are counted only in order: no byte
 * of a gap is ever answered.
 */
static void reader_put(struct fetch_reader *r, uint64_t offset, const void *data,
		       size_t len)
{
	uint64_t end = offset + len, r_end = (uint64_t)r->off + r->len;
	uint64_t lo, hi;

	if (end <= r->off || offset >= r_end)
		return;
	lo = offset > r->off ? offset : r->off;
	hi = end < r_end ? end : r_end;
	memcpy(r->out + (lo - r->off), (const uint8_t *)data + (lo - offset), (size_t)(hi - lo));
	if (lo - r->off == r->got)
		r->got += (uint32_t)(hi - lo);
}

/*
 * Tell @r its bytes are in, when they are and it may have them early.
 * Decided once: true when @r is done with (told, or never to be told),
 * false while its bytes or block 0's head are still to come.
 */
static bool answer_early(struct fetch_sink *s, struct fetch_reader *r)
{
	int rc;

	if (r->got < r->len)
		return false;
	rc = may_answer_early(s);
	if (rc == -EAGAIN)
		return false;
	if (rc == 0) {
		r->early->told = true; /* s->told is set: may_answer_early() */
		/* The buffer is the caller's to hand on from here: nothing more goes in. */
		r->out = NULL;
		r->early->ready(r->early->ctx);
	}
	return true;
}

/*
 * Take the readers that joined since the last piece (the fetching
 * thread): each gets the bytes already written, then goes on with the rest.
 */
static void adopt_joining(struct fetch_sink *s)
{
	struct fetch_reader *r, *next;

	pthread_mutex_lock(&s->c->lock);
	r = s->joining;
	s->joining = NULL;
	atomic_store(&s->has_joining, false);
	pthread_mutex_unlock(&s->c->lock);
	for (; r; r = next) {
		uint32_t have = s->in_order > r->off ? s->in_order - r->off : 0;

		next = r->next;
		if (have > r->len)
			have = r->len;
		if (s->out_of_order ||
		    (have && cache_block_writer_get(&s->w, r->off, r->out, have) < 0))
			continue; /* it reads the block once stored */
		r->got = have;
		r->next = s->joined;
		s->joined = r;
	}
}

static int sink_put(void *sink, uint64_t offset, const void *data, size_t len)
{
	struct fetch_sink *s = sink;
	uint64_t end = offset + len;
	struct fetch_reader **link;
	int rc;

	if (atomic_load(&s->has_joining))
		adopt_joining(s);
	rc = cache_block_writer_put(&s->w, (uint32_t)offset, data, len);
	if (rc < 0) {
		s->store_rc = rc;
		return rc;
	}
	if (offset < sizeof(s->head)) {
		uint64_t n = end < sizeof(s->head) ? len : sizeof(s->head) - offset;

		memcpy(s->head + offset, data, (size_t)n);
		if (offset + n > s->head_len)
			s->head_len = (uint32_t)(offset + n);
	}
	if (offset == s->in_order)
		s->in_order = (uint32_t)end;
	else
		s->out_of_order = true;
	if (s->own.out) {
		reader_put(&s->own, offset, data, len);
		if (s->own.early && answer_early(s, &s->own))
			s->own.early = NULL;
	}
	for (link = &s->joined; *link;) {
		struct fetch_reader *r = *link;

		if (!s->out_of_order)
			reader_put(r, offset, data, len);
		if (s->out_of_order || answer_early(s, r)) {
			*link = r->next; /* done with: told, or it reads the block once stored */
			if (r->early->told) {
				pthread_mutex_lock(&s->c->lock);
				s->c->stats.fetch_joins++;
				pthread_mutex_unlock(&s->c->lock);
			}
		} else {
			link = &r->next;
		}
	}
	return 0;
}

/*
 * Put the reader of @out ([@off, @off + @len) of block @k of @o) on the
 * block's fetch, so that it is answered as soon as its bytes arrive rather
 * than once the block is stored (struct fetch_sink). The caller holds
 * c->lock, then waits for the fetch to end; *@r is the fetching thread's
 * until then. Not for the object's last block, nor for a read with no
 * reader to tell (@early NULL: a read-ahead, or not the read's last block).
 */
static void join_fetch(struct cache_object *o, uint32_t k, struct fetch_reader *r,
		       uint8_t *out, uint32_t off, uint32_t len, struct read_early *early)
{
	struct fetch_sink *s = o->blocks[k].sink;

	if (!s || !out || !early || early->told || k + 1 >= o->n_blocks)
		return;
	*r = (struct fetch_reader){ .out = out, .off = off, .len = len, .early = early,
				    .next = s->joining };
	s->joining = r;
	atomic_store(&s->has_joining, true);
}

/* A source that fills a buffer: one buffer's worth through the sink. */
static int fetch_buffered(const struct cache_source *src, const struct cache_key *key,
			  uint64_t start, uint32_t len, struct fetch_sink *s,
			  struct cache_error *err)
{
	uint8_t *buf = iobuf_alloc(len);
	int rc = buf ? src->fetch(src->ctx, key, start, len, buf, err) : -ENOMEM;

	if (rc == 0)
		rc = sink_put(s, 0, buf, len);
	iobuf_free(buf, len);
	return rc;
}

/* Start block @k's temporary file, remaking the object's directory if evicted. */
static int open_block_writer(struct cache *c, struct cache_object *o, uint32_t k,
			     const char *path, struct cache_block_writer *w)
{
	int rc = cache_block_writer_open(w, path, &o->key, k, block_len(&o->key, k),
					 c->stamp_key);

	if (rc == -ENOENT) {
		char dir[PATH_MAX];

		cache_object_dir(c, &o->key, dir, sizeof(dir));
		rc = fileio_mkdirs(dir, 0755);
		if (rc == 0) {
			write_objmeta(c, &o->key, NULL);
			rc = cache_block_writer_open(w, path, &o->key, k, block_len(&o->key, k),
						     c->stamp_key);
		}
	}
	return rc;
}

/*
 * Publish the complete temporary block file @af as block @k. When another
 * process published it first, theirs is used as it is (its write id is
 * what a verification records), unless it is not a valid block: then it
 * goes, and ours takes its place. *@id says which file is now in place.
 * @af's temporary file is gone afterwards.
 */
static int store_block(struct cache *c, struct cache_object *o, uint32_t k,
		       struct fileio_atomic *af, struct cache_block_id *id)
{
	int rc = -EEXIST;

	for (int attempt = 0; attempt < 3 && rc == -EEXIST; attempt++) {
		rc = publish_block(c, af, disk_size(&o->key, k));
		if (rc != -EEXIST)
			break;
		rc = cache_block_read(af->path, &o->key, k, 0, 0, NULL, id, c->stamp_key);
		if (rc == -EBADMSG)
			remove_block_file(c, af->path, disk_size(&o->key, k));
		if (rc == -EBADMSG || rc == -ENOENT)
			rc = -EEXIST; /* the place is free again: once more */
	}
	fileio_atomic_rollback(af);
	return rc;
}

/*
 * Fetch block @k of @o through @src straight into a new block file and
 * publish it, copying [@off, @off + @len) of it to @out on the way (when
 * @out is not NULL). A streaming source needs no block-sized buffer. *@how
 * says which file is in place then (another process's, when it published
 * first), what this fetch received, and whether readers were answered
 * from that on the way: they were, even when the fetch fails.
 */
static int fetch_block(struct cache *c, struct cache_object *o,
		       const struct cache_source *src, uint32_t k, uint8_t *out,
		       uint32_t off, uint32_t len, struct read_early *early, uint32_t rejects,
		       struct fetch_outcome *how, struct cache_error *err)
{
	uint64_t start = (uint64_t)k * CACHE_BLOCK_SIZE;
	uint32_t blen = block_len(&o->key, k);
	struct fetch_sink *s = calloc(1, sizeof(*s));
	char path[PATH_MAX];
	bool streamed;
	int rc;

	if (!s)
		return -ENOMEM;
	s->own = (struct fetch_reader){ .out = out, .off = off, .len = len };
	/* A read of the object's last block waits for the verdict: never early. */
	s->own.early = out && k + 1 < o->n_blocks ? early : NULL;
	atomic_init(&s->has_joining, false);
	s->c = c;
	s->o = o;
	s->k = k;
	s->rejects = rejects;
	/* The block is already counted in reserved_bytes: make room for it. */
	evict(c, 0, c->opts.min_free_ratio > 0);
	block_path(c, o, k, path, sizeof(path));
	rc = open_block_writer(c, o, k, path, &s->w);
	if (rc < 0) {
		set_error(err, rc == -ENOSPC ? "the cache's disk is full" :
			  "cannot store block %u: %s", k, strerror(-rc));
		free(s);
		return rc;
	}
	pthread_mutex_lock(&c->lock);
	o->blocks[k].sink = s;
	pthread_mutex_unlock(&c->lock);
	rc = src->fetch_stream ?
		src->fetch_stream(src->ctx, &o->key, start, blen, sink_put, s, err) :
		fetch_buffered(src, &o->key, start, blen, s, err);
	/* Readers not told yet read the block once stored (get_block()). */
	pthread_mutex_lock(&c->lock);
	o->blocks[k].sink = NULL;
	streamed = o->streamed;
	pthread_mutex_unlock(&c->lock);
	how->told = s->told;
	if (rc < 0 && s->store_rc < 0) {
		/* The disk, not the Hub, stopped the transfer: say so. */
		rc = s->store_rc;
		set_error(err, rc == -ENOSPC ? "the cache's disk is full" :
			  "cannot store block %u: %s", k, strerror(-rc));
	} else if (rc < 0) {
		if (err && !err->message[0])
			set_error(err, "fetching block %u failed: %s", k, strerror(-rc));
	} else {
		rc = check_fetched(&o->key, k, s->head, s->head_len, err);
	}
	if (rc < 0) {
		cache_block_writer_abort(&s->w);
		free(s);
		return rc;
	}
	rc = cache_block_writer_close(&s->w, &how->in_place);
	if (rc == 0) {
		uint64_t ours = how->in_place.write_id;

		how->received = how->in_place.content;
		rc = store_block(c, o, k, &s->w.file, &how->in_place);
		how->stored_id = how->in_place.write_id == ours ? ours : 0;
	}
	/*
	 * A reader will let go of it soon (cache_drop_behind()): its write
	 * starts now, so that its pages are clean by then.
	 */
	if (rc == 0 && streamed)
		cache_block_drop_pages(path, false);
	if (rc < 0)
		set_error(err, rc == -ENOSPC ? "the cache's disk is full" :
			  rc == -EBADMSG ? "block %u arrived incomplete" :
			  "cannot store block %u: %s", k, strerror(-rc));
	free(s);
	return rc;
}

static void discard_rejected(struct cache *c, struct cache_object *o);

/* Why @o's content, which hashed to @hex, is refused. */
static void mismatch_why(const struct cache_object *o, const char *hex, char *why, size_t size)
{
	snprintf(why, size, "the content's %s is %s, not %s: discarded",
		 o->key.algo == CACHE_ALGO_SHA256 ? "sha256" : "git blob sha1", hex, o->key.hash);
}

static void set_reject_why(struct cache_object *o, const char *why)
{
	free(o->reject_why);
	o->reject_why = strdup(why); /* NULL: readers get a plainer message */
}

/* Why @o's content was last refused, for a reader's error. Lock held. */
static const char *reject_why(const struct cache_object *o)
{
	return o->reject_why ? o->reject_why : "the content failed its check: discarded";
}

/*
 * @o's content failed its hash (@why): every block is gone from the index,
 * and every read that overlapped this content fails too (o->rejects). The
 * caller discards the files once c->lock is dropped (discard_rejected()).
 * Lock held.
 */
static void reject_object(struct cache *c, struct cache_object *o, const char *why)
{
	for (uint32_t k = 0; k < o->n_blocks; k++) {
		mark_absent(c, o, k);
		o->blocks[k].content = 0; /* what comes next starts afresh */
	}
	/*
	 * The running hash is of the content refused: what is fetched next
	 * must not feed it, nor end it as a loss, for the rejection already
	 * fails every reader of those bytes. A thread hashing now drops it
	 * itself when it sees the rejection (advance_hash(),
	 * end_running_hash()); a verification hashes anew.
	 */
	if (!o->hashing && !o->verifying)
		drop_hash(o);
	o->rejects++;
	o->discarding++;
	o->vouched = false;
	forget_served(o); /* the next content starts afresh, on a new inode */
	set_reject_why(o, why);
	c->stats.rejected++;
}

/*
 * Block @k of @o came back with other bytes than it held before
 * (note_block()): one of the two contents is wrong, and readers may have
 * had either. The object is rejected as a failed hash is. Lock held; the
 * caller discards the files once it is dropped.
 */
static void reject_changed(struct cache *c, struct cache_object *o, uint32_t k,
			   struct cache_error *err)
{
	char why[256];

	snprintf(why, sizeof(why), "block %u came back with other bytes than before: the Hub "
		 "sent two contents for one file; discarded", k);
	set_error(err, "%s", why);
	reject_object(c, o, why);
}

/*
 * The fetch of block @k of @o failed (@rc, @err's message) after readers
 * were answered from its first bytes (answer_early()): no stamp says what
 * they got, so no later copy of the block could be checked against it.
 * Every read that overlapped @o fails (o->rejects, as after a failed hash:
 * the mount retires the inode, whose pages are gone with it), but nothing
 * on disk is wrong, and nothing is discarded. Lock held.
 */
static void refuse_told(struct cache_object *o, uint32_t k, int rc,
			struct cache_error *err)
{
	char why[256];

	snprintf(why, sizeof(why), "the transfer of block %u failed (%.120s) after readers "
		 "were given part of it, which nothing can check now", k,
		 err && err->message[0] ? err->message : strerror(-rc));
	set_error(err, "%s", why);
	o->rejects++;
	o->vouched = false;
	forget_served(o); /* as at any rejection: what is served next starts a set */
	set_reject_why(o, why);
}

/*
 * Is the running hash to decide @o, although @o is not complete? That is
 * when it has taken blocks that have gone since (evicted behind a reader
 * in order, under a cap smaller than the object), and every block it has
 * still to take is on disk or arriving: it reaches the end, and no
 * verification ever would. Lock held.
 */
static bool running_verdict_due(const struct cache_object *o)
{
	if (!o->hashed_gone || o->n_present == o->n_blocks || !o->hasher.ctx ||
	    o->verifying || o->verified)
		return false;
	for (uint32_t k = o->hashed; k < o->n_blocks; k++) {
		if (o->blocks[k].phase != BLOCK_PRESENT && o->blocks[k].phase != BLOCK_FETCHING)
			return false;
	}
	return true;
}

/*
 * The running hash took every block of @o, which is not complete (see
 * above): its verdict is the object's. Right: the hash goes, and nothing
 * is marked verified (the blocks left are checked again when all are
 * there). Wrong: the object is rejected, as end_verification() does, and
 * -EBADMSG returned. Called with c->lock held and o->hashing ours; returns
 * with the lock held, the files of a rejected object to discard after it.
 */
static int end_running_hash(struct cache *c, struct cache_object *o,
			    struct cache_error *err)
{
	struct digest d = o->hasher;
	char hex[DIGEST_HEX_MAX], why[256];
	uint32_t rejects = o->rejects;
	int rc;

	memset(&o->hasher, 0, sizeof(o->hasher));
	o->hashed = 0;
	o->hashed_gone = false;
	pthread_mutex_unlock(&c->lock);
	rc = digest_final_hex(&d, hex);
	digest_release(&d);
	pthread_mutex_lock(&c->lock);
	o->hash_stale = false; /* set by an eviction meanwhile: there is no hash left */
	/* Refused meanwhile: the verdict is about content that no longer stands. */
	if (o->rejects != rejects)
		return 0;
	if (rc < 0) {
		o->hash_losses++; /* no verdict, and blocks it took may have gone (lose_hash()) */
		return 0;
	}
	if (strcmp(hex, o->key.hash) == 0) {
		o->vouched = true;
		c->stats.verified++;
		return 0;
	}
	mismatch_why(o, hex, why, sizeof(why));
	set_error(err, "%s", why);
	reject_object(c, o, why);
	o->hash_stale = false; /* as above */
	return -EBADMSG;
}

/*
 * Feed the running hash: block @k just arrived. When it is the next one
 * the hash needs, it goes in from its file, and so do the blocks after it
 * already on disk. Best effort: a thread already hashing, or a block out
 * of order, leaves the work to a later call or to verify_object(). Returns
 * -EBADMSG when this call took the last block of an object that is not
 * complete and the content is wrong (end_running_hash()), or met a block
 * that came back with other bytes (note_block()); else 0.
 */
void (*cache_hashed_block_hook)(struct cache *c, const struct cache_key *key, uint32_t k);

/*
 * The write id of @b's file when this process stored it moments ago (its
 * CRCs made from the bytes as they arrived), else 0. c->lock held.
 */
static uint64_t fresh_stored_id(const struct block_state *b)
{
	return b->stored_id && time_mono_ms() - b->stored_ms <= cache_stored_fresh_ms ?
		       b->stored_id : 0;
}

static int advance_hash(struct cache *c, struct cache_object *o, uint32_t k,
			struct cache_error *err)
{
	char path[PATH_MAX];
	bool changed = false, drop;
	uint32_t rejects, gen;
	uint64_t fresh_id;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	if (o->hashing || o->verifying || o->verified || o->hashed != k ||
	    o->n_blocks < 2 || o->blocks[k].phase != BLOCK_PRESENT) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	o->hashing = true;
	o->blocks[k].pins++;
	drop = o->blocks[k].drop_when_hashed;
	gen = o->blocks[k].gen;
	fresh_id = fresh_stored_id(&o->blocks[k]);
	rejects = o->rejects;
	pthread_mutex_unlock(&c->lock);

	if (k == 0)
		rc = digest_init_hub(&o->hasher, o->key.algo == CACHE_ALGO_SHA256, o->key.size);
	for (;;) {
		struct cache_block_id id = { 0, 0 };
		bool next_ready;

		block_path(c, o, k, path, sizeof(path));
		if (rc == 0)
			rc = cache_block_hash(path, &o->key, k, &o->hasher, &id, drop, c->stamp_key,
					      fresh_id);
		if (cache_hashed_block_hook)
			cache_hashed_block_hook(c, &o->key, k);
		pthread_mutex_lock(&c->lock);
		o->blocks[k].pins--;
		/*
		 * The content was refused meanwhile (another thread's read or
		 * fetch met other bytes, or a reader of the whole file found no
		 * hash left): the file read was of the content refused. Its
		 * stamp must not be noted, for reject_object() cleared the
		 * stamps so that what is fetched next starts afresh, and the
		 * hash is of nothing that stands. Not a loss: the rejection
		 * already fails every reader of those bytes.
		 */
		if (o->rejects != rejects) {
			drop_hash(o);
			break; /* the lock is held */
		}
		/*
		 * A fetch of the block ended meanwhile (its file went, and a
		 * reader fetched it again): readers may have bytes other than
		 * the ones read here. Their stamps are compared when the fetch
		 * stores them (note_block()); the hash vouches only for bytes it
		 * read, so, as for a block the hash took that is fetched again
		 * (get_block()), it ends.
		 */
		if (rc < 0 || o->hash_stale || o->blocks[k].gen != gen) {
			/* Leave it to verify_object(), which reads everything anew. */
			lose_hash(o);
			break; /* the lock is held */
		}
		if (!note_block(o, k, &id)) {
			reject_changed(c, o, k, err);
			drop_hash(o);
			changed = true;
			break; /* the lock is held */
		}
		o->blocks[k].hashed_id = id.write_id;
		o->blocks[k].drop_when_hashed = false;
		atomic_fetch_add_explicit(&c->hashed_bytes, block_len(&o->key, k),
					  memory_order_relaxed);
		o->hashed = ++k;
		/* The next block came first (read-ahead): take it from disk too. */
		next_ready = k < o->n_blocks && o->blocks[k].phase == BLOCK_PRESENT;
		if (!next_ready)
			break; /* the lock is held */
		o->blocks[k].pins++;
		drop = o->blocks[k].drop_when_hashed;
		gen = o->blocks[k].gen;
		fresh_id = fresh_stored_id(&o->blocks[k]);
		pthread_mutex_unlock(&c->lock);
	}
	/* A complete object is verify_object()'s, which takes the hash over. */
	rc = changed ? -EBADMSG : 0;
	if (!changed && o->hashed == o->n_blocks && o->hashed_gone && o->hasher.ctx)
		rc = end_running_hash(c, o, err);
	o->hashing = false;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
	if (rc == -EBADMSG)
		discard_rejected(c, o);
	return rc;
}

/*
 * Get block @k of @o: copy [@off, @off + @len) of it into @out (when @out
 * is not NULL). Reads the disk first, fetches through @src on a miss or a
 * failed CRC; concurrent misses wait for the one fetch. Sets *@completed
 * when this call stored the object's last missing block.
 */
static int get_block(struct cache *c, struct cache_object *o,
		     const struct cache_source *src, uint32_t k, uint32_t off,
		     uint32_t len, void *out, struct read_early *early, bool spare_taken,
		     bool *completed, struct cache_error *err)
{
	struct block_state *b = &o->blocks[k];
	uint32_t dsize = disk_size(&o->key, k);
	struct cache_block_id id = { 0, 0 };
	struct fetch_outcome how = { { 0, 0 }, 0, 0, false };
	bool changed = false, stale = false;
	char path[PATH_MAX];
	uint32_t fetch_rejects;
	int rc;

	block_path(c, o, k, path, sizeof(path));
	pthread_mutex_lock(&c->lock);
	for (;;) {
		uint32_t gen, rejects;

		/* A file on disk now may be of content just refused. */
		if (o->discarding) {
			pthread_cond_wait(&c->changed, &c->lock);
			continue;
		}
		/*
		 * @spare_taken (read-ahead): a block the running hash took and
		 * that went since is left absent. Its fetch would end the hash
		 * (below), and no reader asked for it. Checked here, in the
		 * same hold of the lock as the decision to fetch: an eviction
		 * in between let read-ahead end the hash.
		 */
		if (spare_taken && k < o->hashed && o->hasher.ctx && !o->verifying &&
		    b->phase == BLOCK_ABSENT) {
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		if (block_busy(b)) {
			struct fetch_reader joined;

			rejects = o->rejects;
			gen = b->gen;
			if (b->phase == BLOCK_FETCHING) {
				c->stats.fetch_waits++;
				join_fetch(o, k, &joined, out, off, len, early);
			}
			while (block_busy(b))
				pthread_cond_wait(&c->changed, &c->lock);
			if (early && early->told) {
				/* Answered from the fetch's bytes: they are handed on. */
				pthread_mutex_unlock(&c->lock);
				return 0;
			}
			if (b->phase != BLOCK_PRESENT && b->gen != gen && b->fetch_rc < 0) {
				rc = b->fetch_rc;
				/* The fetch rejected the object (note_block()): say why. */
				if (o->rejects != rejects)
					set_error(err, "%s", reject_why(o));
				else
					set_error(err, "the fetch of block %u failed: %s", k,
						  strerror(-rc));
				if (err)
					err->joined_fetch_failed = true;
				pthread_mutex_unlock(&c->lock);
				return rc;
			}
			continue;
		}
		if (!out && b->phase == BLOCK_PRESENT) {
			/*
			 * Read-ahead of a block on disk: have the kernel read it
			 * now, so the reader's synchronous requests find it in
			 * memory instead of waiting on the disk one by one.
			 */
			lru_touch(c, b);
			pthread_mutex_unlock(&c->lock);
			cache_block_readahead(path);
			return 0;
		}
		gen = b->gen;
		rejects = o->rejects;
		b->pins++;
		pthread_mutex_unlock(&c->lock);
		rc = cache_block_read(path, &o->key, k, off, out ? len : 0, out, &id,
				      c->stamp_key);
		pthread_mutex_lock(&c->lock);
		b->pins--;
		/*
		 * A fetch ended or began meanwhile: what we read may predate it.
		 * A rejection: the file read is going, and its stamp with it.
		 */
		if (b->gen != gen || block_busy(b) || o->rejects != rejects)
			continue;
		if (rc == 0) {
			mark_present(c, o, k);
			if (!note_block(o, k, &id)) {
				reject_changed(c, o, k, err);
				pthread_mutex_unlock(&c->lock);
				discard_rejected(c, o);
				return -EBADMSG;
			}
			c->stats.disk_hits++;
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		if (rc == -EBADMSG) {
			mark_absent(c, o, k);
			c->stats.corrupt_blocks++;
			b->phase = BLOCK_FETCHING; /* nobody else touches the file meanwhile */
			o->n_fetching++;
			pthread_mutex_unlock(&c->lock);
			log_warn("cache: block %u of %s failed its checksum; dropped, "
				 "fetching it again", k, o->key.hash);
			remove_block_file(c, path, dsize);
			write_objmeta(c, &o->key, NULL);
			pthread_mutex_lock(&c->lock);
			c->reserved_bytes += dsize;
			fetch_rejects = o->rejects;
			break;
		}
		if (rc != -ENOENT) {
			pthread_mutex_unlock(&c->lock);
			set_error(err, "cannot read block %u from the cache: %s", k,
				  strerror(-rc));
			return rc;
		}
		mark_absent(c, o, k);
		b->phase = BLOCK_FETCHING;
		o->n_fetching++;
		c->reserved_bytes += dsize;
		fetch_rejects = o->rejects;
		break;
	}
	pthread_mutex_unlock(&c->lock);

	rc = fetch_block(c, o, src, k, out, off, len, early, fetch_rejects, &how, err);

	pthread_mutex_lock(&c->lock);
	if (rc == 0 && o->rejects != fetch_rejects) {
		/*
		 * Its content was refused while it arrived: these bytes may be
		 * the refused ones, and no reader may have them. Its file goes
		 * while the block is still "fetching", so that nobody reads it
		 * meanwhile; the readers waiting for it then ask again (-EAGAIN).
		 */
		pthread_mutex_unlock(&c->lock);
		remove_block_file(c, path, dsize);
		pthread_mutex_lock(&c->lock);
		stale = true;
		rc = -EAGAIN;
	}
	c->reserved_bytes -= dsize;
	b->phase = BLOCK_ABSENT; /* or present, below */
	o->n_fetching--;
	if (how.told)
		o->n_told--;
	b->gen++;
	if (rc == 0) {
		struct cache_block_id got = { how.in_place.write_id, how.received };

		mark_present(c, o, k);
		b->stored_id = how.stored_id;
		b->stored_ms = time_mono_ms();
		/*
		 * What this fetch received (readers answered on the way have
		 * it), then the file in place: another process's, when it
		 * published first, must hold the same bytes.
		 */
		if (!note_block(o, k, &got) || !note_block(o, k, &how.in_place)) {
			/* Those who joined this fetch fail with it (get_block()). */
			reject_changed(c, o, k, err);
			changed = true;
			rc = -EBADMSG;
		}
	} else if (how.told && !stale) {
		/* Readers were given part of this block, and the rest never came. */
		refuse_told(o, k, rc, err);
		rc = -EBADMSG;
	}
	b->fetch_rc = rc;
	if (rc == 0) {
		/*
		 * Fetched again after the running hash took it: readers may get
		 * these bytes, which it did not hash. Its verdict would not be
		 * about them, so it ends (mark_absent() did not end it).
		 */
		if (k < o->hashed && !o->verifying) {
			if (o->hashing)
				o->hash_stale = true;
			else
				lose_hash(o);
		}
		c->stats.fetches++;
		c->stats.fetch_bytes += block_len(&o->key, k);
		if (o->n_present == o->n_blocks && !o->verified)
			*completed = true;
	} else if (rc == -EBADMSG && !changed) {
		c->stats.rejected++;
	}
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
	if (changed)
		discard_rejected(c, o);
	/*
	 * The thread that completed the object verifies it (settle()) at once.
	 * The running hash takes the block before eviction may: under a cap
	 * smaller than the object, the blocks it took may go, but a block it
	 * never took breaks it, and the object then gets no verdict.
	 */
	if (rc == 0 && !*completed)
		rc = advance_hash(c, o, k, err);
	/* Several fetches at once may have overshot the cap together. */
	if (rc == 0)
		evict(c, 0, false);
	return rc;
}

static bool discard_files(struct cache *c, const struct cache_object *o);

/*
 * Remove the files of content reject_object() refused, then let readers
 * read the disk again: what is there from now on was stored after.
 */
static void discard_rejected(struct cache *c, struct cache_object *o)
{
	/*
	 * Its object meta file goes with them. When the directory stays (a
	 * file of another fetch is in it), nothing would write the meta file
	 * again, for this process checked it at first use: the blocks stored
	 * next would count for nothing (cache_object_refresh() marks them
	 * absent, and the next open removes them). So a new one, of an
	 * object not verified, is written now, before any block is read or
	 * fetched again (they wait for the discard).
	 */
	if (!discard_files(c, o))
		write_objmeta(c, &o->key, NULL);
	pthread_mutex_lock(&c->lock);
	o->discarding--;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
}

/* Remove every file of an object. False when its directory stays (not empty). */
static bool discard_files(struct cache *c, const struct cache_object *o)
{
	char path[PATH_MAX];

	for (uint32_t k = 0; k < o->n_blocks; k++) {
		block_path(c, o, k, path, sizeof(path));
		remove_block_file(c, path, disk_size(&o->key, k));
	}
	objmeta_path(c, &o->key, path, sizeof(path));
	unlink(path);
	cache_object_dir(c, &o->key, path, sizeof(path));
	return rmdir(path) == 0 || (errno != ENOTEMPTY && errno != EEXIST);
}

/*
 * What to do about block @k of @o, whose file at @path is missing (@rc
 * -ENOENT) or failed its checksum (-EBADMSG): 0 to hash on without it
 * (the hash is then worthless, which the caller knows), or a negative
 * code that ends the hashing.
 */
typedef int (*unreadable_block_fn)(struct cache *c, struct cache_object *o, uint32_t k,
				   const char *path, int rc, void *ctx);

/*
 * Block @k of @o was just hashed: if a reader passed it
 * (cache_drop_behind()), its pages go now, as the running hash lets them
 * go (advance_hash()). A mapping read in random pieces completes its
 * object before the running hash gets far, and verify_object() takes the
 * rest. Called without c->lock.
 */
static void drop_if_passed(struct cache *c, struct cache_object *o, uint32_t k)
{
	char path[PATH_MAX];
	bool drop;

	pthread_mutex_lock(&c->lock);
	drop = o->blocks[k].drop_when_hashed;
	o->blocks[k].drop_when_hashed = false;
	if (drop)
		block_path(c, o, k, path, sizeof(path));
	pthread_mutex_unlock(&c->lock);
	if (drop)
		cache_block_drop_pages(path, true);
}

/*
 * The whole-object hash loop of verify_object() and cache_verify_object():
 * blocks @start to the last of @o, read anew from their files, in order,
 * into @d (started by the caller), each file's write id into ids[k] and
 * content stamp into contents[k] (@contents may be NULL), through @buf (a
 * block's size). An unreadable block goes to @unreadable.
 * Returns 0, the code @unreadable gave, or the first other error of a read
 * or of the digest. Called without c->lock.
 */
static int hash_blocks(struct cache *c, struct cache_object *o, uint32_t start,
		       struct digest *d, uint8_t *buf, uint64_t *ids, uint64_t *contents,
		       unreadable_block_fn unreadable, void *ctx)
{
	char path[PATH_MAX];
	int rc = 0;

	for (uint32_t k = start; rc == 0 && k < o->n_blocks; k++) {
		uint32_t len = block_len(&o->key, k);
		struct cache_block_id id = { 0, 0 };

		block_path(c, o, k, path, sizeof(path));
		rc = cache_block_read(path, &o->key, k, 0, len, buf, &id, c->stamp_key);
		ids[k] = id.write_id;
		if (contents)
			contents[k] = id.content;
		if (rc == 0)
			rc = digest_update(d, buf, len);
		else if (rc == -ENOENT || rc == -EBADMSG)
			rc = unreadable(c, o, k, path, rc, ctx);
		if (rc == 0)
			drop_if_passed(c, o, k);
	}
	return rc;
}

/* verify_object(): a block gone bad is dropped, to be fetched again. */
static int drop_unreadable(struct cache *c, struct cache_object *o, uint32_t k,
			   const char *path, int rc, void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&c->lock);
	mark_absent(c, o, k);
	if (rc == -EBADMSG)
		c->stats.corrupt_blocks++;
	pthread_mutex_unlock(&c->lock);
	if (rc == -EBADMSG) {
		log_warn("cache: block %u of %s failed its checksum while "
			 "hashing; dropped", k, o->key.hash);
		remove_block_file(c, path, disk_size(&o->key, k));
	}
	return -EAGAIN;
}

/*
 * The end of verify_object(), whose hashing gave @rc: unpin the blocks,
 * and publish the outcome. Verified (0): the write ids of the files hashed
 * (@ids from block @start on; the running hash's before it) go into the
 * blocks and the object meta file, unless a file held other bytes than
 * its block did before (@contents, note_block()). Wrong (-EBADMSG, @why,
 * or that): the object is rejected and its files discarded. Returns @rc,
 * or -EAGAIN when a block went away meanwhile.
 */
static int end_verification(struct cache *c, struct cache_object *o, int rc,
			    uint32_t start, uint64_t *ids, const uint64_t *contents,
			    const char *why, struct cache_error *err)
{
	bool changed = false;

	pthread_mutex_lock(&c->lock);
	for (uint32_t k = 0; k < o->n_blocks; k++)
		o->blocks[k].pins--;
	/* A block went away meanwhile: what comes back has not been hashed. */
	if (rc == 0 && o->hash_stale)
		rc = -EAGAIN;
	o->hash_stale = false;
	for (uint32_t k = start; rc == 0 && k < o->n_blocks; k++) {
		struct cache_block_id id = { ids[k], contents[k] };

		if (!note_block(o, k, &id)) {
			reject_changed(c, o, k, err);
			changed = true;
			rc = -EBADMSG;
		}
	}
	if (rc == 0) {
		for (uint32_t k = 0; k < o->n_blocks; k++) {
			if (k < start)
				ids[k] = o->blocks[k].hashed_id;
			else
				o->blocks[k].hashed_id = ids[k];
		}
		o->verified = true;
		o->vouched = true;
		c->stats.verified++;
	} else if (rc == -EBADMSG && !changed) {
		reject_object(c, o, why);
	}
	o->verifying = false;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);

	if (rc == 0) {
		write_objmeta(c, &o->key, ids);
		/*
		 * Blocks named while it was verified were taken for not hashed
		 * (drop_hash() had reset the running hash): verified, they go.
		 */
		for (uint32_t k = 0; k < o->n_blocks; k++)
			drop_if_passed(c, o, k);
	} else if (rc == -EBADMSG) {
		discard_rejected(c, o);
	}
	return rc;
}

/* verify_object() found the object not complete: nothing was decided. */
#define VERIFY_INCOMPLETE 1

/*
 * Hash the whole object and compare. Returns 0 (verified),
 * VERIFY_INCOMPLETE (a block is not there: nothing to decide), -EBADMSG
 * (wrong hash: the object is discarded), -EAGAIN (a block went bad while
 * hashing: fetch and retry).
 */
static int verify_object(struct cache *c, struct cache_object *o,
			 struct cache_error *err)
{
	char hex[DIGEST_HEX_MAX], why[256] = "";
	struct digest d = { 0 };
	uint64_t *ids = NULL, *contents = NULL;
	uint8_t *buf = NULL;
	uint32_t start = 0, rejects;
	int rc;

	pthread_mutex_lock(&c->lock);
	while (o->verifying)
		pthread_cond_wait(&c->changed, &c->lock);
	if (o->verified || o->n_present != o->n_blocks) {
		rc = o->verified ? 0 : VERIFY_INCOMPLETE;
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	/*
	 * Ours from here, while the running hash ends: readers that need
	 * not wait for the verdict can tell it is coming (awaits_verdict()).
	 */
	o->verifying = true;
	rejects = o->rejects;
	while (o->hashing)
		pthread_cond_wait(&c->changed, &c->lock);
	if (o->n_present != o->n_blocks) {
		/*
		 * Refused while this waited: reject_object() left the running
		 * hash to us (it was verifying), and it is of the content
		 * refused. Kept, it would end as a loss at the next fetch.
		 */
		if (o->rejects != rejects)
			drop_hash(o);
		o->verifying = false;
		pthread_cond_broadcast(&c->changed);
		pthread_mutex_unlock(&c->lock);
		return VERIFY_INCOMPLETE; /* a block went away */
	}
	for (uint32_t k = 0; k < o->n_blocks; k++)
		o->blocks[k].pins++;
	/*
	 * Take over the running hash of the blocks that arrived in order.
	 * Their hashed_id say which files it covered: if one has been
	 * replaced since, its next read finds another id and the object is
	 * hashed again then. Not when one of them went away meanwhile: then
	 * all of it is hashed as it is on disk now.
	 */
	if (o->hasher.ctx && o->hashed && !o->hash_stale && !o->hashed_gone) {
		d = o->hasher;
		start = o->hashed;
		memset(&o->hasher, 0, sizeof(o->hasher));
	}
	drop_hash(o);
	pthread_mutex_unlock(&c->lock);

	buf = iobuf_alloc(CACHE_BLOCK_SIZE);
	/* The write ids, then the content stamps. */
	ids = calloc(2 * (size_t)o->n_blocks + 1, sizeof(*ids));
	contents = ids ? ids + o->n_blocks : NULL;
	rc = buf && ids ? 0 : -ENOMEM;
	if (rc == 0 && start == 0)
		rc = digest_init_hub(&d, o->key.algo == CACHE_ALGO_SHA256, o->key.size);
	if (rc == 0)
		rc = hash_blocks(c, o, start, &d, buf, ids, contents, drop_unreadable, NULL);
	if (rc == 0)
		rc = digest_final_hex(&d, hex);
	if (d.ctx)
		digest_release(&d);
	iobuf_free(buf, CACHE_BLOCK_SIZE);
	if (rc == 0 && strcmp(hex, o->key.hash) != 0) {
		mismatch_why(o, hex, why, sizeof(why));
		set_error(err, "%s", why);
		rc = -EBADMSG;
	}

	rc = end_verification(c, o, rc, start, ids, contents, why, err);
	free(ids);
	return rc;
}

/*
 * The object of @key, made if new, with a ref taken: 0, or -EINVAL (a bad
 * key), -EBADMSG (stored with another size) or -ENOMEM in *@rc.
 */
static struct cache_object *take_object(struct cache *c, const struct cache_key *key, int *rc)
{
	struct cache_object *o;

	if (!cache_key_is_valid(key)) {
		*rc = -EINVAL;
		return NULL;
	}
	pthread_mutex_lock(&c->lock);
	o = get_object(c, key);
	*rc = o ? 0 : find_object(c, key) ? -EBADMSG : -ENOMEM;
	if (o)
		o->refs++;
	pthread_mutex_unlock(&c->lock);
	return o;
}

/* take_object(), its object meta file checked, or NULL with @err said. */
static struct cache_object *lookup(struct cache *c, const struct cache_key *key,
				   struct cache_error *err, int *rc)
{
	struct cache_object *o = take_object(c, key, rc);

	if (!o) {
		set_error(err, *rc == -EINVAL ? "invalid object key" :
			  *rc == -EBADMSG ? "object %s is stored with another size" :
			  "cannot track object %s", key->hash);
		return NULL;
	}
	*rc = check_objmeta(c, o);
	if (*rc < 0) {
		set_error(err, "object %s: %s", key->hash,
			  *rc == -ELOOP ? "a symbolic link stands on the way to its directory in "
					  "the cache, and hubfs follows none there" :
					  strerror(-*rc));
		put_object_unlocked(c, o);
		return NULL;
	}
	return o;
}

/*
 * lookup() for a read of *@len bytes at @offset, cut to the object's end.
 * NULL with *@rc 0 when there is nothing to read, or an error in *@rc.
 */
static struct cache_object *lookup_range(struct cache *c, const struct cache_key *key,
					 uint64_t offset, size_t *len,
					 struct cache_error *err, int *rc)
{
	struct cache_object *o = lookup(c, key, err, rc);

	if (!o)
		return NULL;
	if (offset >= key->size || *len == 0) {
		put_object_unlocked(c, o);
		return NULL; /* *rc is 0 */
	}
	if (*len > key->size - offset)
		*len = (size_t)(key->size - offset);
	return o;
}

/* Would a read have to verify @o first (complete, not verified)? Lock held. */
static bool needs_settle(const struct cache_object *o)
{
	return o->n_present == o->n_blocks && !o->verified;
}

static bool reaches_last_block(const struct cache_object *o, uint64_t offset, size_t len)
{
	return o->n_blocks == 0 || (offset + len - 1) / CACHE_BLOCK_SIZE >= o->n_blocks - 1;
}

/*
 * Must a read of [@offset, @offset + @len), not complete, wait for the
 * running hash's verdict (running_verdict_due())? The read of its last block
 * does, as it would for a complete object (below). Lock held.
 */
static bool awaits_running_verdict(const struct cache_object *o, uint64_t offset, size_t len)
{
	return len && reaches_last_block(o, offset, len) && running_verdict_due(o);
}

/*
 * Must a read of [@offset, @offset + @len) wait for @o's verdict (@len 0:
 * not a read, always)? Lock held. A complete object that is not verified is
 * hashed before more of it is served, with one exception: while another
 * thread verifies it, reads go on, checked block by block as every read
 * before the object was complete was, until one would leave no chunk of it
 * unserved (serves_all()): that one waits. A reader in order would
 * otherwise stop for the whole hash at the block that completed the
 * object, and one out of order at its last block. A reader of the whole
 * file, in any order, learns of a wrong hash before its last byte, and
 * any other reader of it at its next read (o->rejects). An object of one
 * block is always hashed before its first byte.
 */
static bool awaits_verdict(const struct cache_object *o, uint64_t offset, size_t len)
{
	if (!needs_settle(o))
		return awaits_running_verdict(o, offset, len);
	return !o->verifying || len == 0 || serves_all(o, offset, len);
}

/*
 * Verify when this thread @completed the object, or when the object is
 * complete but not verified (e.g. after a crash) and awaits_verdict().
 */
void (*cache_settle_hook)(struct cache *c, const struct cache_key *key);

/* settle() once: 0, -errno, or VERIFY_INCOMPLETE when the verification found a block gone. */
static int settle_once(struct cache *c, struct cache_object *o, bool completed,
		       uint64_t offset, size_t len, struct cache_error *err)
{
	bool needed;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	/*
	 * The running hash is to decide an object not complete: this read
	 * waits for it, and takes the next block itself when no thread does
	 * (advance_hash()), until the verdict is in, or the hash cannot reach
	 * the end any more (a block it needs went away). So does the read
	 * that completed the object, when a block the hash took went away
	 * again since: verify_object() would find it incomplete.
	 */
	while (completed ? running_verdict_due(o) : awaits_running_verdict(o, offset, len)) {
		uint32_t next;

		while (o->hashing)
			pthread_cond_wait(&c->changed, &c->lock);
		if (!(completed ? running_verdict_due(o) : awaits_running_verdict(o, offset, len)))
			break;
		next = o->hashed;
		if (next >= o->n_blocks) {
			/*
			 * It took every block while the object was whole, and one
			 * went before a verification began: decide it here.
			 */
			o->hashing = true;
			rc = end_running_hash(c, o, err);
			o->hashing = false;
			pthread_cond_broadcast(&c->changed);
			if (rc == -EBADMSG) {
				pthread_mutex_unlock(&c->lock);
				discard_rejected(c, o);
				return rc;
			}
			continue;
		}
		if (o->blocks[next].phase == BLOCK_FETCHING) {
			pthread_cond_wait(&c->changed, &c->lock); /* its fetch feeds the hash */
			continue;
		}
		pthread_mutex_unlock(&c->lock);
		rc = advance_hash(c, o, next, err);
		pthread_mutex_lock(&c->lock);
		if (rc < 0)
			break;
	}
	needed = rc == 0 && (completed || awaits_verdict(o, offset, len));
	pthread_mutex_unlock(&c->lock);
	if (!needed)
		return rc;
	if (cache_settle_hook)
		cache_settle_hook(c, &o->key);
	return verify_object(c, o, err);
}

/*
 * settle_once() until it decides or gives up. @rejects: o->rejects when
 * the caller's read (or fill, or read-ahead) began, before it fetched.
 */
static int settle(struct cache *c, struct cache_object *o, bool completed,
		  uint64_t offset, size_t len, uint32_t rejects, struct cache_error *err)
{
	/*
	 * A block the hash took may go between the wait and the verification,
	 * which then decides nothing: the wait runs again, the running hash
	 * now being due. Three rounds at most; then, as before, no verdict
	 * (the log has said why: pick_victims()).
	 */
	for (int round = 0; round < 3; round++) {
		int rc = settle_once(c, o, completed, offset, len, err);

		if (rc != VERIFY_INCOMPLETE)
			return rc;
	}
	pthread_mutex_lock(&c->lock);
	/*
	 * A reader of all of it is told (cache_object_info()). Not when the
	 * content was refused since the caller began (incomplete for that):
	 * the loss would land in the next content's count (served_losses),
	 * and refuse it too. Since the caller began, not since this call: a
	 * read answered early may be refused between its fetch and here.
	 */
	if (o->rejects == rejects)
		o->hash_losses++;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/*
 * A read that leaves no chunk of @o unserved, while the blocks @o lacks are
 * all arriving (read-ahead's, or answered before they were stored), waits
 * for them: @o is then complete, and the read waits for its verdict
 * (settle()). A mapping read in random order otherwise had its last bytes
 * while the background completion still stored blocks, and the verdict
 * came after them. Not when a block is absent and not arriving (evicted
 * since it was served, under a cap): the running hash decides then, if
 * anything, as for a reader in order. Fetches end by their deadlines.
 */
static void await_arrivals(struct cache *c, struct cache_object *o)
{
	pthread_mutex_lock(&c->lock);
	while (!o->verified && o->n_fetching > 0 &&
	       o->n_present + o->n_fetching == o->n_blocks && serves_all(o, 0, 0))
		pthread_cond_wait(&c->changed, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

/*
 * Must a read of [@offset, @offset + @len) of @o not be served at once, by
 * a caller that cannot wait (cache_read_cached(), cache_open_stored())?
 * When it must wait for the verdict, and when it would leave no chunk
 * unserved of an object not verified: read_object() decides that one.
 * Lock held.
 */
static bool held_back(const struct cache_object *o, uint64_t offset, size_t len)
{
	return awaits_verdict(o, offset, len) || (!o->verified && serves_all(o, offset, len));
}

/*
 * May the read of [@offset, @offset + @len) that completed @o be answered
 * before its thread verifies @o? Yes when a chunk of it is still to be
 * served (then that read waits) and its content was not refused since
 * the read began (@rejects). A mapping read
 * in random order otherwise stopped for half the object's hash at the
 * read that happened to complete it (docs/benchmarks.md, a twenty-second
 * session).
 */
static bool may_answer_before_verdict(struct cache *c, struct cache_object *o,
				      uint64_t offset, size_t len, uint32_t rejects)
{
	bool may;

	pthread_mutex_lock(&c->lock);
	may = !o->verified && o->rejects == rejects && !serves_all(o, offset, len);
	pthread_mutex_unlock(&c->lock);
	return may;
}

/*
 * Every chunk of @o has been marked since its last rejection, this read's
 * included (serves_all()): a reader in any order, or several through the
 * page cache, may hold the whole file once the reads that marked them are
 * answered, and this read may succeed only if no byte handed out is beyond
 * a verdict's reach. So it waits for the fetches that answered readers
 * before their block was stored (their bytes meet the block's content
 * stamp only then), and takes a verdict that stands (verified; or
 * vouched, every block fetched since being held to the stamps the hash
 * saw), else asks for one when it can be had (settle(): the whole hash of
 * a complete object, or the running hash when it can reach the end).
 * Still none: while no block went since the set began (hash_losses), the
 * object is incomplete only because reads that marked their blocks are
 * still to fetch them, and the one that completes it meets the verdict.
 * When one went before any hash took it (a cap smaller than the readers
 * need, another process's eviction, a file gone while the object was
 * hashed), the blocks missing are fetched back (@src), each held to the
 * content stamp of the bytes handed out of it (note_block()), and a whole
 * hash decides: what it vouches for is what readers were given. Refusing
 * there instead failed with EIO every reader of the whole file that a
 * `hubfs cache evict` or `prune` beside the mount overtook, on a right
 * file (a helper's review). Where the blocks cannot all be had at once (a
 * cap smaller than the object), nothing can vouch for what was handed
 * out: the content is refused (-EBADMSG), to be fetched and hashed anew,
 * as the mount refuses an end read after a lost hash (fs/ops.c,
 * END_LOST). Fetches end by their deadlines.
 */
static int settle_served_whole(struct cache *c, struct cache_object *o,
			       const struct cache_source *src, uint64_t offset, size_t len,
			       uint32_t rejects, struct cache_error *err)
{
	const char *why = "every byte of it was handed out, and no hash can vouch for them: "
			  "blocks went before a hash took them (a cap too small for the "
			  "readers at once, --max-cache-size?); it is fetched again";
	bool decided, decidable, lost;
	int rc;

	pthread_mutex_lock(&c->lock);
	while (o->n_told > 0 && serves_all(o, 0, 0))
		pthread_cond_wait(&c->changed, &c->lock);
	/* Refused since the read began: the caller fails it (o->rejects). */
	decided = !serves_all(o, 0, 0) || o->verified || o->vouched || o->rejects != rejects;
	decidable = o->n_present == o->n_blocks || running_verdict_due(o);
	lost = o->hash_losses != o->served_losses;
	pthread_mutex_unlock(&c->lock);
	if (decided)
		return 0;
	if (!decidable && lost && src) {
		bool completed = false;

		/* Another process's eviction: learn every block it took at once, not one a round. */
		cache_object_refresh(c, &o->key);
		rc = 0;
		for (uint32_t k = 0; rc == 0 && k < o->n_blocks; k++)
			rc = get_block(c, o, src, k, 0, 0, NULL, NULL, false, &completed, err);
		if (rc < 0)
			return rc;
		pthread_mutex_lock(&c->lock);
		decidable = o->n_present == o->n_blocks || running_verdict_due(o);
		pthread_mutex_unlock(&c->lock);
	}
	if (decidable) {
		rc = settle(c, o, true, offset, len, rejects, err);
		if (rc < 0)
			return rc;
	}
	pthread_mutex_lock(&c->lock);
	/* Refused meanwhile: the caller learns it from o->rejects. */
	decided = o->verified || o->vouched || o->rejects != rejects ||
		  o->hash_losses == o->served_losses;
	if (!decided) {
		set_error(err, "%s", why);
		log_warn("cache: %s: %s", o->key.hash, why);
		reject_object(c, o, why);
	}
	pthread_mutex_unlock(&c->lock);
	if (decided)
		return 0;
	discard_rejected(c, o);
	return -EBADMSG;
}

ssize_t cache_read(struct cache *c, const struct cache_key *key,
		   const struct cache_source *src, void *buf, size_t len,
		   uint64_t offset, struct cache_error *err)
{
	return cache_read_early(c, key, src, buf, len, offset, err, NULL, NULL);
}

/* cache_read_early() of @len bytes, within @o, which the caller holds. */
static ssize_t read_object(struct cache *c, struct cache_object *o,
			   const struct cache_source *src, void *buf, size_t len,
			   uint64_t offset, struct cache_error *err,
			   void (*ready)(void *ctx), void *ctx)
{
	const struct cache_key *key = &o->key;
	struct read_early early = { .ready = ready, .ctx = ctx };
	int rc;

	/* A wrong block met while hashing is fetched again; a few rounds at most. */
	for (int round = 0; round < 3; round++) {
		bool completed = false, verify_after;
		size_t done = 0;
		uint32_t rejects;

		pthread_mutex_lock(&c->lock);
		rejects = o->rejects;
		mark_served(o, offset, len);
		/*
		 * Complete, not verified, and nobody verifies it yet (the
		 * read-ahead that completed it has not begun, or a crash came
		 * first): while chunks remain unserved, this read is answered
		 * first and hashes it after, as the read that completes it does.
		 */
		verify_after = ready && needs_settle(o) && !o->verifying && !serves_all(o, 0, 0);
		pthread_mutex_unlock(&c->lock);
		rc = verify_after ? 0 : settle(c, o, false, offset, len, rejects, err);
		while (rc == 0 && done < len) {
			uint64_t pos = offset + done;
			uint32_t k = (uint32_t)(pos / CACHE_BLOCK_SIZE);
			uint32_t in = (uint32_t)(pos % CACHE_BLOCK_SIZE);
			uint32_t n = block_len(key, k) - in;

			if (n > len - done)
				n = (uint32_t)(len - done);
			/* The read's last block: the one that may answer early. */
			rc = get_block(c, o, src, k, in, n, (uint8_t *)buf + done,
				       ready && done + n == len ? &early : NULL, false, &completed,
				       err);
			done += n;
		}
		/*
		 * The read that completes the object hashes it: after answering
		 * when it leaves chunks unserved (the read that serves the last
		 * of them will wait for the verdict), else before. So does one
		 * that found it complete with nobody hashing it (verify_after).
		 */
		if (rc == 0 && !completed)
			await_arrivals(c, o);
		if (rc == 0 && (completed || verify_after) && ready && !early.told &&
		    may_answer_before_verdict(c, o, offset, len, rejects)) {
			early.told = true;
			ready(ctx);
		}
		if (rc == 0)
			rc = settle(c, o, completed, offset, len, rejects, err);
		if (rc == 0)
			rc = settle_served_whole(c, o, src, offset, len, rejects, err);
		if (rc == 0) {
			/* Did the object fail its hash while we were reading it? */
			pthread_mutex_lock(&c->lock);
			if (o->rejects != rejects) {
				rc = -EBADMSG;
				set_error(err, "%s", reject_why(o));
			}
			pthread_mutex_unlock(&c->lock);
		}
		/* A reader told early has its bytes: no round may write @buf again. */
		if (rc != -EAGAIN || early.told)
			return rc < 0 ? rc : (ssize_t)len;
	}
	return -EBADMSG;
}

ssize_t cache_read_early(struct cache *c, const struct cache_key *key,
			 const struct cache_source *src, void *buf, size_t len,
			 uint64_t offset, struct cache_error *err,
			 void (*ready)(void *ctx), void *ctx)
{
	struct cache_object *o;
	ssize_t n;
	int rc;

	o = lookup_range(c, key, offset, &len, err, &rc);
	if (!o)
		return rc;
	n = read_object(c, o, src, buf, len, offset, err, ready, ctx);
	put_object_unlocked(c, o);
	return n;
}

/* May block @b's file be read with c->lock dropped (pinned)? Lock held. */
static bool readable_now(const struct block_state *b)
{
	return b->phase == BLOCK_PRESENT;
}

/*
 * Block @k's file, read as @id with c->lock dropped, pinned at @gen while
 * the object's rejections stood at @rejects: was it a clean read of the
 * file the index still has, with the bytes the block held before? Anything
 * else is cache_read()'s job, which rejects the object when the bytes
 * changed. Lock held.
 */
static bool read_stood(struct cache_object *o, uint32_t k, uint32_t gen, uint32_t rejects,
		       const struct cache_block_id *id)
{
	const struct block_state *b = &o->blocks[k];

	return b->gen == gen && !block_busy(b) && o->rejects == rejects &&
	       note_block(o, k, id);
}

ssize_t cache_read_cached(struct cache *c, const struct cache_key *key, void *buf,
			  size_t len, uint64_t offset, struct cache_error *err)
{
	struct cache_object *o;
	char path[PATH_MAX];
	uint32_t rejects;
	size_t done = 0;
	int rc;

	o = lookup_range(c, key, offset, &len, err, &rc);
	if (!o)
		return rc;
	pthread_mutex_lock(&c->lock);
	rejects = o->rejects;
	rc = held_back(o, offset, len) || o->discarding ? -EWOULDBLOCK : 0;
	if (rc == 0)
		mark_served(o, offset, len);
	while (rc == 0 && done < len) {
		uint64_t pos = offset + done;
		uint32_t k = (uint32_t)(pos / CACHE_BLOCK_SIZE);
		uint32_t in = (uint32_t)(pos % CACHE_BLOCK_SIZE);
		uint32_t n = block_len(key, k) - in, gen;
		struct block_state *b = &o->blocks[k];
		struct cache_block_id id = { 0, 0 };

		if (n > len - done)
			n = (uint32_t)(len - done);
		if (!readable_now(b)) {
			rc = -EWOULDBLOCK;
			break;
		}
		gen = b->gen;
		b->pins++;
		pthread_mutex_unlock(&c->lock);
		block_path(c, o, k, path, sizeof(path));
		rc = cache_block_read(path, key, k, in, n, (uint8_t *)buf + done, &id,
				      c->stamp_key);
		pthread_mutex_lock(&c->lock);
		b->pins--;
		if (rc < 0 || !read_stood(o, k, gen, rejects, &id)) {
			rc = -EWOULDBLOCK;
			break;
		}
		lru_touch(c, b);
		c->stats.disk_hits++;
		done += n;
	}
	/* A block another process replaced un-verified it; so did a failed hash. */
	if (rc == 0 && (awaits_verdict(o, offset, len) || o->rejects != rejects))
		rc = -EWOULDBLOCK;
	put_object(c, o);
	pthread_mutex_unlock(&c->lock);
	return rc < 0 ? rc : (ssize_t)len;
}

int64_t cache_stored_fresh_ms = 10000;

int cache_open_stored(struct cache *c, const struct cache_key *key, uint64_t offset,
		      size_t len, uint64_t *pos)
{
	uint32_t k = (uint32_t)(offset / CACHE_BLOCK_SIZE), in, gen, rejects;
	struct cache_block_id id = { 0, 0 };
	struct cache_object *o;
	struct block_state *b;
	char path[PATH_MAX];
	int rc, fd = -EWOULDBLOCK;

	o = lookup_range(c, key, offset, &len, NULL, &rc);
	if (!o)
		return rc < 0 ? rc : -EINVAL;
	in = (uint32_t)(offset % CACHE_BLOCK_SIZE);
	pthread_mutex_lock(&c->lock);
	b = &o->blocks[k];
	rejects = o->rejects;
	if (in + len > block_len(key, k)) {
		fd = -EINVAL; /* one block at a time */
	} else if (readable_now(b) && b->stored_id && !o->discarding &&
		   time_mono_ms() - b->stored_ms <= cache_stored_fresh_ms &&
		   !held_back(o, offset, len)) {
		mark_served(o, offset, len);
		gen = b->gen;
		b->pins++;
		pthread_mutex_unlock(&c->lock);
		block_path(c, o, k, path, sizeof(path));
		fd = cache_block_open_data(path, key, k, in, (uint32_t)len, &id, pos,
					   c->stamp_key, true);
		pthread_mutex_lock(&c->lock);
		b->pins--;
		/* Not the file this process stored: its bytes want their CRCs read. */
		if (fd >= 0 && (id.write_id != b->stored_id || !read_stood(o, k, gen, rejects, &id) ||
				awaits_verdict(o, offset, len))) {
			close(fd);
			fd = -EWOULDBLOCK;
		} else if (fd >= 0) {
			b->stored_id = 0; /* once: from now on its bytes are read and checked */
			lru_touch(c, b);
			c->stats.disk_hits++;
		} else {
			fd = -EWOULDBLOCK; /* cache_read_cached() or cache_read() says why */
		}
	}
	put_object(c, o);
	pthread_mutex_unlock(&c->lock);
	return fd;
}

/* cache_prefetch() of block @index of @o, which the caller holds. */
static int prefetch_block(struct cache *c, struct cache_object *o,
			  const struct cache_source *src, uint32_t index,
			  struct cache_error *err)
{
	bool completed = false, another_verifies;
	uint32_t rejects;
	int rc;

	if (index >= o->n_blocks)
		return 0;
	pthread_mutex_lock(&c->lock);
	rejects = o->rejects;
	pthread_mutex_unlock(&c->lock);
	/*
	 * A block the running hash took and that went since is not fetched
	 * again (get_block()'s @spare_taken): that would end the hash, and
	 * no reader asked for it. A read-ahead job queued for a block that
	 * the reader's own read fetched first, and that the cap took once it
	 * was hashed, did exactly that: a reader in order under a 12 MiB cap
	 * then read the whole file with no hash running, and got EIO (t2017).
	 */
	rc = get_block(c, o, src, index, 0, 0, NULL, NULL, true, &completed, err);
	/*
	 * Blocks found on disk (a file partly fetched by an earlier run) feed
	 * the running hash here, on the read-ahead's thread, as blocks stored
	 * by this process do when they arrive: read in order, such a file gets
	 * the running verdict under a cap smaller than it, and its last read
	 * does not wait for a hash of the whole file. A FUSE thread's read of
	 * a block on disk never hashes.
	 */
	if (rc == 0 && !completed) {
		uint32_t next;

		pthread_mutex_lock(&c->lock);
		next = o->hashed;
		pthread_mutex_unlock(&c->lock);
		if (next <= index)
			rc = advance_hash(c, o, next, err);
	}
	if (rc == 0) {
		/*
		 * Verify what this call completed, or a complete object nobody
		 * verifies (after a crash). One that another thread verifies
		 * is not waited for: read-ahead has nothing to take from the
		 * verdict, and a worker waiting out a whole hash is one that
		 * other files' readers cannot use. At the end of a mapping read
		 * in random order, 31 workers waited 0.6 s each.
		 */
		pthread_mutex_lock(&c->lock);
		another_verifies = !completed && o->verifying;
		pthread_mutex_unlock(&c->lock);
		if (!another_verifies)
			rc = settle(c, o, completed, 0, 0, rejects, err);
	}
	return rc == -EAGAIN ? 0 : rc;
}

int cache_prefetch(struct cache *c, const struct cache_key *key,
		   const struct cache_source *src, uint32_t index,
		   struct cache_error *err)
{
	struct cache_object *o;
	int rc;

	o = lookup(c, key, err, &rc);
	if (!o)
		return rc;
	rc = prefetch_block(c, o, src, index, err);
	put_object_unlocked(c, o);
	return rc;
}

/*
 * A verified object on the index's word: check that every block file is
 * still the one its hash covered (one header read each; a block of format
 * 1 or of another stamp key is read whole, once), so that a fill
 * never reports "verified" over a file some process replaced.
 */
static void confirm_verified(struct cache *c, struct cache_object *o)
{
	char path[PATH_MAX];
	bool verified;

	pthread_mutex_lock(&c->lock);
	verified = o->verified;
	pthread_mutex_unlock(&c->lock);
	for (uint32_t k = 0; verified && k < o->n_blocks; k++) {
		struct cache_block_id id = { 0, 0 };
		int rc;

		block_path(c, o, k, path, sizeof(path));
		rc = cache_block_read(path, &o->key, k, 0, 0, NULL, &id, c->stamp_key);
		pthread_mutex_lock(&c->lock);
		if (rc == 0 && o->verified && id.write_id != o->blocks[k].hashed_id)
			o->verified = false; /* get_block() finds out the rest */
		else if (rc == -ENOENT || rc == -EBADMSG)
			o->verified = false;
		verified = o->verified;
		pthread_mutex_unlock(&c->lock);
	}
}

int cache_fill(struct cache *c, const struct cache_key *key,
	       const struct cache_source *src, struct cache_error *err)
{
	struct cache_object *o;
	int rc;

	o = lookup(c, key, err, &rc);
	if (!o)
		return rc;
	confirm_verified(c, o);
	for (int round = 0; round < 3; round++) {
		bool completed = false;
		uint32_t rejects;

		pthread_mutex_lock(&c->lock);
		rejects = o->rejects;
		pthread_mutex_unlock(&c->lock);
		rc = 0;
		for (uint32_t k = 0; rc == 0 && k < o->n_blocks; k++)
			rc = get_block(c, o, src, k, 0, 0, NULL, NULL, false, &completed, err);
		if (rc == 0) {
			/* Present per the index is not proof: hash it all. */
			pthread_mutex_lock(&c->lock);
			completed = !o->verified;
			pthread_mutex_unlock(&c->lock);
			rc = settle(c, o, completed, 0, 0, rejects, err);
		}
		if (rc != -EAGAIN)
			break;
	}
	put_object_unlocked(c, o);
	return rc == -EAGAIN ? -EBADMSG : rc;
}

/* @key's rejections (or, with @losses, lost hashes); 0 for an object not known. */
static uint32_t object_count(struct cache *c, const struct cache_key *key, bool losses)
{
	struct cache_object *o;
	uint32_t n = 0;

	if (!cache_key_is_valid(key))
		return 0;
	pthread_mutex_lock(&c->lock);
	o = find_object(c, key);
	if (o)
		n = losses ? o->hash_losses : o->rejects;
	pthread_mutex_unlock(&c->lock);
	return n;
}

uint32_t cache_object_rejects(struct cache *c, const struct cache_key *key)
{
	return object_count(c, key, false);
}

void cache_object_reject(struct cache *c, const struct cache_key *key, const char *why)
{
	struct cache_object *o;

	if (!cache_key_is_valid(key))
		return;
	pthread_mutex_lock(&c->lock);
	o = find_object(c, key);
	if (o && o->key.size != key->size)
		o = NULL;
	if (o) {
		reject_object(c, o, why);
		o->refs++;
	}
	pthread_mutex_unlock(&c->lock);
	if (o) {
		discard_rejected(c, o);
		put_object_unlocked(c, o); /* rejected: kept, for its count */
	}
}

int cache_object_hold(struct cache *c, const struct cache_key *key)
{
	int rc;

	take_object(c, key, &rc);
	return rc;
}

void cache_object_release(struct cache *c, const struct cache_key *key)
{
	struct cache_object *o;

	if (!cache_key_is_valid(key))
		return;
	pthread_mutex_lock(&c->lock);
	o = find_object(c, key);
	if (o && o->key.size == key->size && o->refs > 0)
		put_object(c, o);
	pthread_mutex_unlock(&c->lock);
}

uint32_t cache_object_hash_losses(struct cache *c, const struct cache_key *key)
{
	return object_count(c, key, true);
}

uint32_t cache_hash_backlog(struct cache *c, const struct cache_key *key)
{
	struct cache_object *o;
	uint32_t ready = 0;

	if (!cache_key_is_valid(key))
		return 0;
	pthread_mutex_lock(&c->lock);
	o = find_object(c, key);
	if (o && o->hashing) {
		for (uint32_t k = o->hashed; k < o->n_blocks && o->blocks[k].phase == BLOCK_PRESENT;
		     k++)
			ready++;
	}
	pthread_mutex_unlock(&c->lock);
	return ready;
}

void cache_object_info(struct cache *c, const struct cache_key *key,
		       struct cache_object_info *out)
{
	struct cache_object *o;

	memset(out, 0, sizeof(*out));
	if (!cache_key_is_valid(key))
		return;
	out->blocks_total = cache_blocks_for(key->size);
	pthread_mutex_lock(&c->lock);
	o = find_object(c, key);
	if (o && o->key.size == key->size) {
		/*
		 * No walk over every block (the mount asks at reads of big
		 * files): all blocks but the last are full, and the walk to
		 * the first absent block stops there.
		 */
		if (o->n_blocks > 0) {
			uint32_t last = o->n_blocks - 1;
			bool last_present = o->blocks[last].phase == BLOCK_PRESENT;

			out->cached_bytes = (uint64_t)(o->n_present - last_present) *
						    CACHE_BLOCK_SIZE +
					    (last_present ? block_len(key, last) : 0);
		}
		if (o->n_present == o->n_blocks)
			out->first_absent = o->n_blocks;
		while (out->first_absent < o->n_blocks &&
		       o->blocks[out->first_absent].phase == BLOCK_PRESENT)
			out->first_absent++;
		out->blocks_present = o->n_present;
		out->blocks_arriving = o->n_fetching;
		out->vouched = o->vouched;
		out->hash_losses = o->hash_losses;
		out->verified = o->verified;
		out->verifying = o->verifying;
	}
	pthread_mutex_unlock(&c->lock);
}

void cache_drop_behind(struct cache *c, const struct cache_key *key, uint32_t k)
{
	struct cache_object *o;
	char path[PATH_MAX];
	bool found = false, hashed = false;

	if (!cache_key_is_valid(key))
		return;
	pthread_mutex_lock(&c->lock);
	o = find_object(c, key);
	if (o && o->key.size == key->size && k < o->n_blocks) {
		o->streamed = true;
		/* Taken by the running hash, or a hash vouched already. */
		hashed = o->verified || o->vouched || (o->n_blocks >= 2 && o->hashed > k);
		found = o->blocks[k].phase == BLOCK_PRESENT;
		o->blocks[k].drop_when_hashed = found && !hashed;
		if (found)
			block_path(c, o, k, path, sizeof(path));
	}
	pthread_mutex_unlock(&c->lock);
	if (found)
		cache_block_drop_pages(path, hashed);
}

void (*cache_refresh_looked_hook)(struct cache *c, const struct cache_key *key);

void cache_object_refresh(struct cache *c, const struct cache_key *key)
{
	char path[PATH_MAX];
	struct cache_objmeta m;
	struct cache_object *o;
	uint8_t raw[32];
	/*
	 * Per block: its file, and the stamp of the bytes in it (when
	 * verified elsewhere); and its phase and fetch count before the
	 * look, to tell whether this process moved it meanwhile.
	 */
	struct {
		bool on_disk;
		uint64_t content;
		enum block_phase phase;
		uint32_t gen;
	} *seen;
	bool stored, moved = false;
	uint32_t rejects;
	int rc;

	if (!cache_key_is_valid(key))
		return;
	objmeta_path(c, key, path, sizeof(path));
	stored = access(path, F_OK) == 0; /* I/O: before the lock */
	pthread_mutex_lock(&c->lock);
	o = find_object(c, key);
	/* Never read here and nothing on disk: nothing to follow (no state made). */
	if (!o && stored)
		o = get_object(c, key);
	if (o)
		o->refs++;
	pthread_mutex_unlock(&c->lock);
	if (!o)
		return;
	seen = calloc(o->n_blocks ? o->n_blocks : 1, sizeof(*seen));
	if (!seen) {
		put_object_unlocked(c, o);
		return;
	}
	pthread_mutex_lock(&c->lock);
	rejects = o->rejects;
	for (uint32_t k = 0; k < o->n_blocks; k++) {
		seen[k].phase = o->blocks[k].phase;
		seen[k].gen = o->blocks[k].gen;
	}
	pthread_mutex_unlock(&c->lock);
	rc = cache_objmeta_read(path, &m);
	cache_hash_raw(key, raw);
	if (rc == 0 && (m.algo != key->algo || m.object_size != key->size ||
			memcmp(m.hash, raw, 32) != 0)) {
		cache_objmeta_release(&m);
		rc = -EBADMSG;
	}
	/* Without an object meta file nothing of the object counts (scan() removes it). */
	for (uint32_t k = 0; rc == 0 && k < o->n_blocks; k++) {
		struct cache_block_id id = { 0, 0 };
		struct stat st;

		block_path(c, o, k, path, sizeof(path));
		seen[k].on_disk = lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
				  (uint64_t)st.st_size == disk_size(key, k);
		/* "Verified" names block files: each must be the one named. */
		if (m.verified && (!seen[k].on_disk ||
				   cache_block_read(path, key, k, 0, 0, NULL, &id, c->stamp_key) != 0 ||
				   id.write_id != m.ids[k]))
			m.verified = false;
		seen[k].content = id.content;
	}
	if (cache_refresh_looked_hook)
		cache_refresh_looked_hook(c, key);
	pthread_mutex_lock(&c->lock);
	/*
	 * While refused files are being removed, what the disk shows is
	 * theirs; and once refused since the look, what it showed was.
	 */
	if (!o->verifying && !o->hashing && !o->discarding && o->rejects == rejects) {
		for (uint32_t k = 0; k < o->n_blocks; k++) {
			struct block_state *b = &o->blocks[k];

			/*
			 * This process knows better: the block was fetched,
			 * stored or evicted since the look (a file the look
			 * missed may be one it just stored, and marking it
			 * absent would count a lost hash and stop the running
			 * one there), or it is in a thread's hands or read now.
			 */
			if (b->phase != seen[k].phase || b->gen != seen[k].gen) {
				moved = true;
				continue;
			}
			if (block_busy(b) || b->pins)
				continue;
			if (seen[k].on_disk)
				mark_present(c, o, k);
			else if (b->phase == BLOCK_PRESENT)
				mark_absent(c, o, k);
		}
		/*
		 * Another process's verdict is about its files' bytes. Readers
		 * here may have had other ones (note_block()): then it is not
		 * this object's, and their next read rejects it.
		 */
		for (uint32_t k = 0; rc == 0 && m.verified && k < o->n_blocks; k++) {
			if (o->blocks[k].content && o->blocks[k].content != seen[k].content)
				m.verified = false;
		}
		if (rc == 0 && m.verified && !moved && o->n_present == o->n_blocks) {
			/* Verified elsewhere: reads still check each block's write id. */
			for (uint32_t k = 0; k < m.n_ids; k++)
				o->blocks[k].hashed_id = m.ids[k];
			o->verified = true;
			o->vouched = true; /* the same stamps as the blocks read here */
		} else if (rc < 0 || !m.verified) {
			o->verified = false;
		}
	}
	put_object(c, o);
	pthread_mutex_unlock(&c->lock);
	if (rc == 0)
		cache_objmeta_release(&m);
	free(seen);
}

/* ---- open, scan, close ---- */

/* Parse "b<index>" into @index. */
static bool parse_block_name(const char *name, uint32_t *index)
{
	char *end;
	unsigned long v;

	if (name[0] != 'b' || name[1] < '0' || name[1] > '9' ||
	    (name[1] == '0' && name[2]))
		return false;
	v = strtoul(name + 1, &end, 10);
	if (*end || v > UINT32_MAX)
		return false;
	*index = (uint32_t)v;
	return true;
}

/* "@a/@b" into @out; false when it does not fit. */
static bool join(char *out, size_t size, const char *a, const char *b)
{
	int n = snprintf(out, size, "%s/%s", a, b);

	return n > 0 && (size_t)n < size;
}

/* Deeper than the cache's layout goes: what is below is left. */
#define REMOVE_DEPTH_MAX 8

/*
 * Remove @name in the directory @at, with all it holds when it is a
 * directory. A symbolic link is removed itself, never followed, at every
 * level: the cache makes none, and one planted in it must not lead a
 * removal out of it.
 */
static void remove_at(int at, const char *name, unsigned depth)
{
	struct dirent *de;
	DIR *d = NULL;
	int fd;

	if (unlinkat(at, name, 0) == 0 || errno != EISDIR || depth > REMOVE_DEPTH_MAX)
		return;
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && !(d = fdopendir(fd)))
		close(fd);
	if (d) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				remove_at(dirfd(d), de->d_name, depth + 1);
		}
		closedir(d);
	}
	unlinkat(at, name, AT_REMOVEDIR);
}

/*
 * Open @name in @at as a directory of the cache's own: a symbolic
 * link, or anything else that is not a directory, is removed (the cache
 * makes none) and NULL returned. Never follows a link.
 */
static DIR *open_cache_dir_at(int at, const char *name)
{
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;

	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			remove_at(at, name, 0);
		return NULL;
	}
	d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

/* Take one object directory into the index, or remove what is not ours. */
/* Blocks found at open, put in LRU order (by file time) once all are known. */
struct scan_found {
	struct block_state *b;
	int64_t mtime;
};
struct scan_list {
	struct scan_found *v;
	size_t n, cap;
};

static void scan_note(struct cache *c, struct scan_list *l, struct block_state *b,
		      const struct stat *st)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		struct scan_found *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			mark_present(c, b->obj, (uint32_t)(b - b->obj->blocks)); /* unordered */
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].b = b;
	l->v[l->n].mtime = time_ts_ns(&st->st_mtim);
	l->n++;
}

static int by_mtime(const void *a_, const void *b_)
{
	const struct scan_found *a = a_, *b = b_;

	return a->mtime < b->mtime ? -1 : a->mtime > b->mtime;
}

/*
 * Take the object directory @hash of the fan-out directory @fan into the
 * index, or remove what is not ours. Removals go through the directories'
 * descriptors, opened without following links (remove_at()).
 */
/*
 * An object directory with no usable meta file: what is in it goes, but
 * not another process's block in flight (a live temporary file), whose
 * link would then fail. A discard that found one left the directory so
 * (discard_files()'s rmdir fails), and a download's fetch then failed
 * with ENOENT after any process opened the cache. Only blocks and the
 * like count as damage; temporary files and an empty directory do not.
 * Closes @d.
 */
static void remove_unusable_object(struct cache *c, DIR *fan, DIR *d, const char *hash)
{
	bool in_flight = false, damaged = false;
	struct dirent *de;

	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strstr(de->d_name, ".tmp.") && !fileio_is_stale_tmp(de->d_name)) {
			in_flight = true;
			continue;
		}
		if (!strstr(de->d_name, ".tmp."))
			damaged = true;
		remove_at(dirfd(d), de->d_name, 1);
	}
	closedir(d);
	if (!in_flight)
		unlinkat(dirfd(fan), hash, AT_REMOVEDIR);
	if (damaged)
		c->stats.dropped_at_open++;
}

static void scan_object(struct cache *c, struct scan_list *found, enum cache_algo algo,
			DIR *fan, const char *dir, const char *hash)
{
	struct cache_key key = { .algo = algo };
	struct cache_objmeta m;
	struct cache_object *o;
	char path[PATH_MAX];
	struct dirent *de;
	uint32_t n_found = 0;
	uint8_t raw[32];
	DIR *d;

	d = open_cache_dir_at(dirfd(fan), hash);
	if (!d)
		return;
	if (strlen(hash) >= sizeof(key.hash) || !join(path, sizeof(path), dir, "meta"))
		goto remove;
	memcpy(key.hash, hash, strlen(hash) + 1);
	/* No trustworthy identity: nothing in it can be used. */
	if (!cache_key_is_valid(&key) || cache_objmeta_read(path, &m) < 0)
		goto remove;
	if (m.algo != algo || cache_hash_raw(&key, raw) < 0 || memcmp(raw, m.hash, 32) != 0) {
		cache_objmeta_release(&m);
		goto remove;
	}
	key.size = m.object_size;
	o = add_object(c, &key);
	if (!o) {
		cache_objmeta_release(&m);
		closedir(d);
		return;
	}
	o->objmeta_checked = true;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		uint32_t k;

		if (fileio_is_stale_tmp(de->d_name)) {
			unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (!parse_block_name(de->d_name, &k) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISREG(st.st_mode) || k >= o->n_blocks ||
		    (uint64_t)st.st_size != disk_size(&key, k)) {
			remove_at(dirfd(d), de->d_name, 1); /* cannot be a block of this object */
			c->stats.dropped_at_open++;
			continue;
		}
		scan_note(c, found, &o->blocks[k], &st);
		n_found++;
	}
	closedir(d);
	/*
	 * The record says which block files were hashed; each block's id is
	 * compared with it when the block is read (note_block()), so a
	 * file replaced since is never served as verified.
	 */
	o->verified = m.verified && n_found == o->n_blocks;
	o->vouched = o->verified;
	for (uint32_t k = 0; k < m.n_ids; k++)
		o->blocks[k].hashed_id = m.ids[k];
	cache_objmeta_release(&m);
	return;
remove:
	remove_unusable_object(c, fan, d, hash);
}

static void scan(struct cache *c)
{
	static const enum cache_algo algos[] = { CACHE_ALGO_SHA256, CACHE_ALGO_GIT_SHA1 };
	char top[PATH_MAX], fan[PATH_MAX], obj[PATH_MAX];
	struct scan_list found = { 0 };

	for (size_t a = 0; a < 2; a++) {
		DIR *d1, *d2;
		struct dirent *e1, *e2;

		char rel[32];
		int fd;

		snprintf(top, sizeof(top), "%s/objects/%s", c->dir, algo_dir(algos[a]));
		snprintf(rel, sizeof(rel), "objects/%s", algo_dir(algos[a]));
		/* No link followed: what the scan removes must be the cache's (no_links_at_top()). */
		fd = fileio_open_beneath(c->dir, rel, O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			continue;
		d1 = fdopendir(fd);
		if (!d1) {
			close(fd);
			continue;
		}
		while ((e1 = readdir(d1)) != NULL) {
			if (strlen(e1->d_name) != 2 || e1->d_name[0] == '.')
				continue;
			if (!join(fan, sizeof(fan), top, e1->d_name))
				continue;
			d2 = open_cache_dir_at(dirfd(d1), e1->d_name);
			if (!d2)
				continue;
			while ((e2 = readdir(d2)) != NULL) {
				if (e2->d_name[0] == '.')
					continue;
				if (!join(obj, sizeof(obj), fan, e2->d_name))
					continue;
				if (strncmp(e2->d_name, e1->d_name, 2) != 0) {
					/* filed under the wrong prefix */
					remove_at(dirfd(d2), e2->d_name, 0);
					c->stats.dropped_at_open++;
					continue;
				}
				scan_object(c, &found, algos[a], d2, obj, e2->d_name);
			}
			closedir(d2);
		}
		closedir(d1);
	}
	/* Oldest first, so that the newest ends at the head of the LRU list. */
	if (found.n)
		qsort(found.v, found.n, sizeof(*found.v), by_mtime);
	for (size_t i = 0; i < found.n; i++) {
		struct block_state *b = found.v[i].b;

		mark_present(c, b->obj, (uint32_t)(b - b->obj->blocks));
	}
	free(found.v);
}

/*
 * The cache's own directories below its root are directories, not links
 * (the root itself may be one): the scan below removes what it does not
 * know in them, evictions and rejections unlink block files there, and a
 * link at objects/sha256 made an open remove the files of a git
 * repository it led to. A link there is refused, and left for its owner:
 * -ELOOP, and the log says where.
 */
static int no_links_at_top(const struct cache *c)
{
	static const char *const dirs[] = { "objects", "objects/sha256", "objects/gitsha1",
					    "listings", "refs", "commits" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		int fd = fileio_open_beneath(c->dir, dirs[i], O_RDONLY | O_DIRECTORY);

		if (fd >= 0) {
			close(fd);
		} else if (fd != -ENOENT) {
			log_err("cache: %s/%s is not a directory of the cache (%s): hubfs "
				"follows no link inside its cache directory; move it away, or "
				"give --cache-dir the directory it leads to", c->dir, dirs[i],
				fd == -ELOOP ? "a symbolic link" : strerror(-fd));
			return -ELOOP;
		}
	}
	return 0;
}

/* Leftovers of dead writers at the top (the marker files' temporaries). */
static void sweep_tmp(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (fileio_is_stale_tmp(de->d_name) && join(path, sizeof(path), dir, de->d_name))
			unlink(path);
	}
	closedir(d);
}

/* The format marker: refuse a directory written by another format. */
/*
 * Is @dir empty but for what a marker write cut short leaves? The marker
 * is the first file a new cache gets (fsync'ed): a directory with other
 * files and no marker is someone else's, and opening it would sweep its
 * temporary-looking files, rewrite a "usage" file and tag it for backups
 * to skip.
 */
static bool holds_only_marker_leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool only = d != NULL;

	while (only && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    strncmp(de->d_name, "hubfs-cache.tmp.", 16) != 0)
			only = false;
	}
	if (d)
		closedir(d);
	return only;
}

static int check_marker(struct cache *c)
{
	char path[PATH_MAX];
	struct buf b;
	int rc;

	snprintf(path, sizeof(path), "%s/hubfs-cache", c->dir);
	buf_init(&b, 256);
	rc = fileio_read_all(path, 256, &b);
	if (rc == -ENOENT && !holds_only_marker_leftovers(c->dir))
		rc = -ENOTEMPTY;
	else if (rc == -ENOENT) {
		static const char tag[] =
			"Signature: 8a477f597d28d172789f06886806bc55\n"
			"# This file is a cache directory tag created by hubfs.\n";

		rc = fileio_write_atomic(path, CACHE_MARKER, strlen(CACHE_MARKER), 0644, true);
		snprintf(path, sizeof(path), "%s/CACHEDIR.TAG", c->dir);
		if (rc == 0)
			fileio_write_atomic(path, tag, strlen(tag), 0644, false);
	} else if (rc == 0 && strcmp(buf_cstr(&b), CACHE_MARKER) != 0) {
		rc = -EPROTO;
	}
	buf_release(&b);
	return rc;
}

/*
 * DIR/stamp-key: the secret of the directory's content stamps (struct
 * cache_block_id), "hubfs-stamp-key 1\nkey <64 hex>\ncrc <8 hex>\n".
 * 0, -ENOENT, -EBADMSG or -errno.
 */
#define STAMP_KEY_HEAD "hubfs-stamp-key 1\nkey "
#define STAMP_KEY_FILE_LEN (sizeof(STAMP_KEY_HEAD) - 1 + 2 * UHASH_SECRET + 1 + CRC32C_LINE_LEN)

static int hex_digit(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static int read_stamp_key(const char *path, uint8_t secret[UHASH_SECRET])
{
	const size_t head = sizeof(STAMP_KEY_HEAD) - 1;
	struct buf b;
	const char *t;
	int rc;

	buf_init(&b, STAMP_KEY_FILE_LEN + 1);
	rc = fileio_read_all(path, STAMP_KEY_FILE_LEN + 1, &b);
	if (rc == -EFBIG)
		rc = -EBADMSG; /* too long to be a key: damaged */
	t = buf_cstr(&b);
	if (rc == 0 && (b.len != STAMP_KEY_FILE_LEN || memcmp(t, STAMP_KEY_HEAD, head) != 0 ||
			!crc32c_line_check(t, b.len)))
		rc = -EBADMSG;
	for (size_t i = 0; rc == 0 && i < UHASH_SECRET; i++) {
		int hi = hex_digit(t[head + 2 * i]), lo = hex_digit(t[head + 2 * i + 1]);

		if (hi < 0 || lo < 0)
			rc = -EBADMSG;
		else
			secret[i] = (uint8_t)(hi << 4 | lo);
	}
	buf_release(&b);
	return rc;
}

static int write_stamp_key(const char *path, bool replace)
{
	uint8_t secret[UHASH_SECRET];
	char text[STAMP_KEY_FILE_LEN + 1];
	struct fileio_atomic af;
	size_t n;
	int rc;

	if (getrandom(secret, sizeof(secret), 0) != (ssize_t)sizeof(secret))
		return -EIO;
	n = (size_t)snprintf(text, sizeof(text), "%s", STAMP_KEY_HEAD);
	for (size_t i = 0; i < UHASH_SECRET; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%02x", secret[i]);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "\n");
	n = crc32c_line_append(text, n, sizeof(text));
	explicit_bzero(secret, sizeof(secret));
	if (n != STAMP_KEY_FILE_LEN)
		return -EINVAL; /* cannot be: the sizes are fixed */
	rc = fileio_atomic_open(&af, path, 0644, true);
	if (rc == 0)
		rc = fileio_write_full(af.fd, text, n);
	if (rc == 0)
		rc = replace ? fileio_atomic_commit(&af) : fileio_atomic_commit_new(&af);
	if (rc < 0)
		fileio_atomic_rollback(&af);
	return rc == -EEXIST ? 0 : rc; /* another process's key went in first: read it */
}

/*
 * Read the directory's stamp key, making it first if there is none. A
 * damaged key file is replaced: processes running with the old key keep
 * it, and each stamps anew a block file of another key when it opens it
 * (cache_block_read()). Where no key can be had the cache does not open:
 * a process that cannot stamp cannot tell a block that came back with
 * other bytes, and without a key of its own it would compare stamps of
 * two keys. 0 or -errno.
 */
static int load_stamp_key(struct cache *c)
{
	uint8_t secret[UHASH_SECRET];
	char path[PATH_MAX];
	int rc = -ENOENT;

	snprintf(path, sizeof(path), "%s/stamp-key", c->dir);
	for (int attempt = 0; attempt < 3 && rc < 0; attempt++) {
		rc = read_stamp_key(path, secret);
		if (rc == -EBADMSG)
			log_warn("cache: %s is damaged: it is replaced by a new key", path);
		if (rc == -ENOENT || rc == -EBADMSG) {
			int wrc = write_stamp_key(path, rc == -EBADMSG);

			if (wrc < 0) {
				rc = wrc;
				break;
			}
		} else if (rc < 0) {
			break;
		}
	}
	if (rc == 0) {
		c->stamp_key = malloc(sizeof(*c->stamp_key));
		if (c->stamp_key && uhash_key_init(c->stamp_key, secret) < 0) {
			free(c->stamp_key);
			c->stamp_key = NULL;
		}
	}
	explicit_bzero(secret, sizeof(secret));
	if (!c->stamp_key) {
		rc = rc < 0 ? rc : -ENOMEM;
		log_err("cache: cannot read or make the stamp key %s: %s (a cache of another "
			"user is opened first by its owner)", path, strerror(-rc));
	}
	return rc;
}

const struct uhash_key *cache_stamp_key(const struct cache *c)
{
	return c->stamp_key;
}

/*
 * DIR/usage, kept open for flock. Where it cannot be written (a cache of
 * another user), this process counts only what it knows.
 */
static void open_usage(struct cache *c)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/usage", c->dir);
	for (int attempt = 0; attempt < 2 && c->usage_fd < 0; attempt++) {
		c->usage_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
				   0644);
		if (c->usage_fd >= 0 && (fstat(c->usage_fd, &st) < 0 || !S_ISREG(st.st_mode))) {
			close(c->usage_fd);
			c->usage_fd = -1;
			errno = ELOOP;
		}
		/* Not ours (a symlink, a FIFO...): replaced by a file of ours. */
		if (c->usage_fd < 0 && errno == ELOOP)
			discard_path(path);
		else if (c->usage_fd < 0)
			break;
	}
	if (c->usage_fd < 0)
		log_dbg("cache: cannot open %s: %s", path, strerror(errno));
}

int cache_open(const struct cache_options *opts, struct cache **out)
{
	struct cache *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->opts = *opts;
	c->dir = strdup(opts->dir);
	c->table_size = 1024;
	c->table = calloc(c->table_size, sizeof(*c->table));
	if (!c->dir || !c->table) {
		rc = -ENOMEM;
		goto fail;
	}
	c->opts.dir = c->dir;
	c->lru.lru_next = c->lru.lru_prev = &c->lru;
	c->usage_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->changed, NULL);
	pthread_mutex_init(&c->usage_mutex, NULL);
	/*
	 * A cache made here is its owner's alone (0700): it holds what the
	 * token reads, private repos included, and its files are 0644 like
	 * huggingface_hub's; other users read through the mount, with
	 * allow_other. One that exists keeps its mode (a helper's review
	 * found a private repo's weights readable by every local user).
	 */
	rc = fileio_mkdirs(c->dir, 0700);
	if (rc == 0) {
		/*
		 * Absolute from here on: a mount's daemon moves to "/", and a
		 * relative --cache-dir would then fill a folder of that name there.
		 */
		char *abs = realpath(c->dir, NULL);

		if (abs) {
			free(c->dir);
			c->dir = abs;
			c->opts.dir = abs;
		} else {
			rc = -errno;
		}
	}
	if (rc == 0)
		rc = check_marker(c);
	if (rc == 0)
		rc = no_links_at_top(c);
	if (rc == 0)
		rc = load_stamp_key(c);
	if (rc < 0)
		goto fail_locks;
	sweep_tmp(c->dir);
	open_usage(c);
	/* Counted afresh at every open: a crash between a publish and its count is forgotten. */
	usage_lock(c);
	scan(c);
	{
		struct usage u = usage_read(c);

		u.bytes = c->disk_bytes;
		usage_write(c, &u);
		if (c->opts.max_bytes)
			usage_claim(c, 0, (long)getpid());
	}
	usage_unlock(c);
	*out = c;
	return 0;
fail_locks:
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->changed);
	pthread_mutex_destroy(&c->usage_mutex);
	free(c->stamp_key);
fail:
	free(c->table);
	free(c->dir);
	free(c);
	return rc;
}

void cache_close(struct cache *c)
{
	if (!c)
		return;
	for (size_t s = 0; s < c->table_size; s++) {
		struct cache_object *o = c->table[s], *next;

		for (; o; o = next) {
			next = o->next;
			free_object(o);
		}
	}
	free(c->table);
	if (c->usage_fd >= 0) {
		struct usage u;

		/* Our cap ends with us. */
		usage_lock(c);
		u = usage_read(c);
		usage_release(c, &u);
		usage_unlock(c);
		close(c->usage_fd);
	}
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->changed);
	pthread_mutex_destroy(&c->usage_mutex);
	free(c->stamp_key);
	free(c->dir);
	free(c);
}

void cache_cap_follows_fork(struct cache *c)
{
	if (!c->opts.max_bytes)
		return;
	usage_lock(c);
	usage_claim(c, c->usage_pid, (long)getpid());
	usage_unlock(c);
}

/* ---- maintenance ---- */

void cache_usage(struct cache *c, struct cache_usage *out)
{
	usage_lock(c);
	out->dir_bytes = usage_read(c).bytes;
	usage_unlock(c);
	pthread_mutex_lock(&c->lock);
	out->bytes = c->disk_bytes;
	out->blocks = c->n_blocks;
	out->objects = c->n_objects;
	pthread_mutex_unlock(&c->lock);
}

uint64_t cache_hashed_bytes(void *cache)
{
	struct cache *c = cache;

	return atomic_load_explicit(&c->hashed_bytes, memory_order_relaxed);
}

void cache_stats(struct cache *c, struct cache_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
}

int cache_each_object(struct cache *c, cache_object_fn fn, void *ctx)
{
	struct cache_key *keys = NULL;
	size_t n = 0;
	int rc = 0;

	/* Copy the keys, then call back without the lock. */
	pthread_mutex_lock(&c->lock);
	keys = malloc((c->n_objects ? c->n_objects : 1) * sizeof(*keys));
	if (keys) {
		for (size_t s = 0; s < c->table_size; s++) {
			for (struct cache_object *o = c->table[s]; o; o = o->next) {
				if (o->n_present || (o->key.size == 0 && o->verified))
					keys[n++] = o->key;
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct cache_object_info info;

		cache_object_info(c, &keys[i], &info);
		rc = fn(ctx, &keys[i], &info);
	}
	free(keys);
	return rc;
}

struct verify_report_ctx {
	struct cache_verify_report *out;
	bool repair;
	uint32_t missing;
};

/* cache_verify_object(): count a block that cannot be read; repair drops it. */
static int report_unreadable(struct cache *c, struct cache_object *o, uint32_t k,
			     const char *path, int rc, void *ctx)
{
	struct verify_report_ctx *v = ctx;

	v->out->complete = false;
	if (rc == -ENOENT) {
		v->missing++;
		pthread_mutex_lock(&c->lock);
		mark_absent(c, o, k);
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	v->out->blocks_corrupt++;
	if (v->repair) {
		pthread_mutex_lock(&c->lock);
		mark_absent(c, o, k);
		pthread_mutex_unlock(&c->lock);
		remove_block_file(c, path, disk_size(&o->key, k));
		write_objmeta(c, &o->key, NULL);
	}
	return 0;
}

static int verify_whole(struct cache *c, struct cache_object *o, bool repair,
			struct cache_verify_report *out);

int cache_verify_object(struct cache *c, const struct cache_key *key,
			bool repair, struct cache_verify_report *out)
{
	struct cache_object *o;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!cache_key_is_valid(key))
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	o = find_object(c, key);
	if (o)
		o->refs++;
	pthread_mutex_unlock(&c->lock);
	if (!o)
		return -ENOENT;
	rc = verify_whole(c, o, repair, out);
	put_object_unlocked(c, o);
	return rc;
}

/* cache_verify_object() of @o, which the caller holds. */
static int verify_whole(struct cache *c, struct cache_object *o, bool repair,
			struct cache_verify_report *out)
{
	struct verify_report_ctx v = { .out = out, .repair = repair };
	const struct cache_key *key = &o->key;
	struct digest d = { 0 };
	char hex[DIGEST_HEX_MAX];
	uint64_t *ids;
	uint8_t *buf;
	int rc;

	buf = iobuf_alloc(CACHE_BLOCK_SIZE);
	ids = calloc(o->n_blocks ? o->n_blocks : 1, sizeof(*ids));
	if (!buf || !ids) {
		iobuf_free(buf, CACHE_BLOCK_SIZE);
		free(ids);
		return -ENOMEM;
	}
	rc = digest_init_hub(&d, key->algo == CACHE_ALGO_SHA256, key->size);
	out->complete = rc == 0;
	if (rc == 0)
		rc = hash_blocks(c, o, 0, &d, buf, ids, NULL, report_unreadable, &v);
	if (rc == 0)
		out->blocks_checked = o->n_blocks - v.missing;
	if (rc == 0 && out->complete) {
		rc = digest_final_hex(&d, hex);
		out->hash_ok = rc == 0 && strcmp(hex, key->hash) == 0;
	}
	if (d.ctx)
		digest_release(&d);
	iobuf_free(buf, CACHE_BLOCK_SIZE);
	if (rc < 0) {
		free(ids);
		return rc;
	}
	if (out->complete && out->hash_ok) {
		/* Verified: exactly the block files just read, by their ids. */
		pthread_mutex_lock(&c->lock);
		for (uint32_t k = 0; k < o->n_blocks; k++)
			o->blocks[k].hashed_id = ids[k];
		o->verified = o->n_present == o->n_blocks;
		o->vouched = o->vouched || o->verified;
		pthread_mutex_unlock(&c->lock);
		write_objmeta(c, key, ids);
	} else if (out->complete && !repair) {
		/* Wrong content is never "verified", repaired or not. */
		pthread_mutex_lock(&c->lock);
		o->verified = false;
		pthread_mutex_unlock(&c->lock);
		write_objmeta(c, key, NULL);
	} else if (out->complete && repair) {
		pthread_mutex_lock(&c->lock);
		for (uint32_t k = 0; k < o->n_blocks; k++)
			mark_absent(c, o, k);
		pthread_mutex_unlock(&c->lock);
		discard_files(c, o);
	}
	free(ids);
	return out->blocks_corrupt || (out->complete && !out->hash_ok) ? -EBADMSG : 0;
}

int cache_evict_object(struct cache *c, const struct cache_key *key)
{
	struct cache_object *o;

	if (!cache_key_is_valid(key))
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	o = find_object(c, key);
	/* An empty object is there while it is verified (its object meta file). */
	if (!o || (o->key.size ? o->n_present == 0 : !o->verified)) {
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	for (uint32_t k = 0; k < o->n_blocks; k++) {
		if (o->blocks[k].pins || o->blocks[k].phase == BLOCK_FETCHING || o->verifying) {
			pthread_mutex_unlock(&c->lock);
			return -EBUSY;
		}
	}
	for (uint32_t k = 0; k < o->n_blocks; k++)
		mark_absent(c, o, k);
	o->verified = false;
	c->stats.evicted_blocks += o->n_blocks;
	o->refs++;
	pthread_mutex_unlock(&c->lock);
	/*
	 * The directory stays when another process is storing a block of it
	 * (its temporary file): without a meta file, the block it links next
	 * would be taken for damage and removed at the next open (a helper's
	 * review: `cache evict` beside a download). A meta file of an object
	 * not verified keeps it, as discard_rejected() does.
	 */
	if (!discard_files(c, o))
		write_objmeta(c, &o->key, NULL);
	put_object_unlocked(c, o);
	return 0;
}

int cache_prune(struct cache *c, uint64_t max_bytes, uint64_t *freed)
{
	uint64_t n = evict(c, max_bytes ? max_bytes : 1, false);

	if (freed)
		*freed = n;
	return 0;
}
