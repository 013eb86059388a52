/* SPDX-License-Identifier: MIT */
/*
 * The inode table and the namespace: which name in which directory is
 * which node, and what each node shows.
 *
 * Life of a node, as in libfuse's passthrough_ll.c: a lookup (or a
 * readdirplus entry) raises its nlookup, the kernel's FORGET lowers it;
 * our own holders (a child's parent pointer, an open file or directory)
 * count in refs. When both are zero the node leaves the tables and is
 * freed, and with it its hold on its parent, its repo and its snapshot:
 * after `find` and a drop of the kernel's caches, memory returns to what
 * it was. A node's number for the kernel (ino) is never reused while
 * mounted; the number stat shows (st_ino) comes from its path and
 * content, so that tools that remember (dev, ino) -- tar's incremental
 * dumps, rsync, find's loop check, du -- see the same file as the same
 * file after a FORGET, a remount or a move of the branch that left it.
 *
 * No name is invented: an org folder exists when the cache knows a repo
 * of it or the Hub lists one; a repo folder when its snapshot loads; a
 * file or folder when the snapshot has it. Everything else is ENOENT, and
 * ENOENT at the root or in an org folder is remembered for the negative
 * TTL, so that probes (git's HEAD, .git, desktop files) cost no request.
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "cache/meta.h"
#include "util/digest.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/path.h"
#include "util/time.h"

#define SHA_TIMEOUT_SECS 86400.0 /* what a commit shows never changes */
#define VIRTUAL_TIMEOUT_SECS 60.0

static uint64_t hash_str(const char *s)
{
	return hash_fnv1a_str(HASH_FNV1A_START, s);
}

/* ---- the node tables: by inode number and by key, under fs->lock ---- */

/* A snapshot of this many entries is worth a malloc_trim() when it goes. */
#define FS_TRIM_ENTRIES 10000

struct fs_node_table {
	struct fs_node **by_ino;  /* chained through next_by_ino */
	struct fs_node **by_key;  /* chained through next_by_key */
	size_t n_slots;           /* both have this many */
	size_t n_nodes;
	size_t trim_mark;         /* n_nodes at the last trim, or its peak since */
	bool big_table_freed;     /* a node dropped a big snapshot's last ref since */
	fuse_ino_t next_ino;
};

static size_t ino_slot(const struct fs_node_table *t, fuse_ino_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 17) % t->n_slots;
}

static size_t key_slot(const struct fs_node_table *t, const char *key)
{
	return (size_t)(hash_str(key) % t->n_slots);
}

static void table_link(struct fs_node_table *t, struct fs_node *n)
{
	size_t s = ino_slot(t, n->ino);

	n->next_by_ino = t->by_ino[s];
	t->by_ino[s] = n;
	if (n->key) {
		s = key_slot(t, n->key);
		n->next_by_key = t->by_key[s];
		t->by_key[s] = n;
	}
}

/* Take @n off the key table: no lookup finds it by name any more. */
static void table_unlink_key(struct fs_node_table *t, struct fs_node *n)
{
	if (!n->key)
		return;
	for (struct fs_node **p = &t->by_key[key_slot(t, n->key)]; *p; p = &(*p)->next_by_key) {
		if (*p == n) {
			*p = n->next_by_key;
			break;
		}
	}
}

static void table_unlink(struct fs_node_table *t, struct fs_node *n)
{
	for (struct fs_node **p = &t->by_ino[ino_slot(t, n->ino)]; *p; p = &(*p)->next_by_ino) {
		if (*p == n) {
			*p = n->next_by_ino;
			break;
		}
	}
	table_unlink_key(t, n);
}

/* Twice the slots, every node rehashed: amortized O(1) per insert. */
static int table_grow(struct fs_node_table *t)
{
	struct fs_node **old_ino = t->by_ino, **old_key = t->by_key;
	size_t old = t->n_slots;

	t->by_ino = calloc(2 * old, sizeof(*t->by_ino));
	t->by_key = calloc(2 * old, sizeof(*t->by_key));
	if (!t->by_ino || !t->by_key) {
		free(t->by_ino);
		free(t->by_key);
		t->by_ino = old_ino;
		t->by_key = old_key;
		return -ENOMEM;
	}
	t->n_slots = 2 * old;
	for (size_t i = 0; i < old; i++) {
		for (struct fs_node *n = old_ino[i], *next; n; n = next) {
			next = n->next_by_ino;
			table_link(t, n);
		}
	}
	free(old_ino);
	free(old_key);
	return 0;
}

static struct fs_node *find_by_key(struct fs_node_table *t, const char *key)
{
	for (struct fs_node *n = t->by_key[key_slot(t, key)]; n; n = n->next_by_key) {
		if (strcmp(n->key, key) == 0)
			return n;
	}
	return NULL;
}

/* ---- negative entries: key -> errno until a deadline, under fs->lock ---- */

struct fs_negative {
	struct fs_negative *next;
	int64_t expires;  /* monotonic seconds */
	int rc;
	char key[];
};

struct fs_negatives {
	struct fs_negative *slots[1024];
	size_t n, sweep_at;
};

/* Expired entries go, so that probes of ever new names stay bounded. */
static void negatives_sweep(struct fs_negatives *m, int64_t now)
{
	for (size_t i = 0; i < sizeof(m->slots) / sizeof(m->slots[0]); i++) {
		for (struct fs_negative **p = &m->slots[i]; *p;) {
			struct fs_negative *it = *p;

			if (now < 0 || it->expires <= now) {
				*p = it->next;
				free(it);
				m->n--;
			} else {
				p = &it->next;
			}
		}
	}
	m->sweep_at = 2 * m->n + 1024;
}

static struct fs_negative **negatives_find(struct fs_negatives *m, const char *key)
{
	struct fs_negative **p = &m->slots[hash_str(key) % 1024];

	for (; *p; p = &(*p)->next) {
		if (strcmp((*p)->key, key) == 0)
			break;
	}
	return p;
}

static bool negative_hit(struct fs *fs, const char *key, int *rc)
{
	struct fs_negative **p;
	bool hit = false;

	pthread_mutex_lock(&fs->lock);
	p = negatives_find(fs->negative, key);
	if (*p && (*p)->expires > time_mono_secs()) {
		*rc = (*p)->rc;
		hit = true;
	}
	pthread_mutex_unlock(&fs->lock);
	return hit;
}

static void negative_put(struct fs *fs, const char *key, int rc)
{
	struct fs_negatives *m = fs->negative;
	int64_t now = time_mono_secs();
	struct fs_negative **p, *it;

	pthread_mutex_lock(&fs->lock);
	if (m->n >= m->sweep_at)
		negatives_sweep(m, now);
	p = negatives_find(m, key);
	it = *p;
	if (!it) {
		it = malloc(sizeof(*it) + strlen(key) + 1);
		if (it) {
			memcpy(it->key, key, strlen(key) + 1);
			it->next = NULL;
			*p = it;
			m->n++;
		}
	}
	if (it) {
		it->rc = rc;
		it->expires = now + fs->opts.negative_ttl_secs;
	}
	pthread_mutex_unlock(&fs->lock);
}

static void negative_drop(struct fs *fs, const char *key)
{
	struct fs_negative **p, *it;

	pthread_mutex_lock(&fs->lock);
	p = negatives_find(fs->negative, key);
	it = *p;
	if (it) {
		*p = it->next;
		free(it);
		fs->negative->n--;
	}
	pthread_mutex_unlock(&fs->lock);
}

/* ---- nodes ---- */

static struct fs_repo *repo_new(const struct hub_repo *r)
{
	struct fs_repo *repo = calloc(1, sizeof(*repo));

	if (!repo)
		return NULL;
	repo->repo = *r;
	repo->pinned = strlen(r->revision) == 40 &&
		       strspn(r->revision, "0123456789abcdef") == 40;
	atomic_init(&repo->refs, 1);
	pthread_mutex_init(&repo->lock, NULL);
	pthread_cond_init(&repo->loaded, NULL);
	return repo;
}

/* Drop a reference: the node's, or that of a helper that was loading it. */
static void repo_free(struct fs_repo *repo)
{
	if (!repo || atomic_fetch_sub(&repo->refs, 1) != 1)
		return;
	repo_snapshot_unref(repo->snap);
	pthread_mutex_destroy(&repo->lock);
	pthread_cond_destroy(&repo->loaded);
	free(repo);
}

/* ---- repo loads begun by lookups, joined by their retries (fs->lock) ---- */

struct fs_pending_repo {
	struct fs_pending_repo *next;
	char *key;
	struct fs_repo *repo; /* the table's reference */
};

/* The most kept: past it the oldest goes (its load goes on, unjoined). */
#define PENDING_REPOS_MAX 256

/* The repo a lookup of @key is loading, or a new one for @r; a reference for the caller. */
static struct fs_repo *pending_repo_get(struct fs *fs, const char *key, const struct hub_repo *r)
{
	struct fs_pending_repo *p, **pp, *gone = NULL;
	struct fs_repo *repo = NULL;

	pthread_mutex_lock(&fs->lock);
	for (p = fs->pending_repos; p; p = p->next) {
		if (strcmp(p->key, key) == 0) {
			repo = p->repo;
			atomic_fetch_add(&repo->refs, 1);
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	if (repo)
		return repo;
	p = calloc(1, sizeof(*p));
	repo = repo_new(r);
	if (p)
		p->key = strdup(key);
	if (!p || !p->key || !repo) {
		if (p)
			free(p->key);
		free(p);
		return repo; /* unjoined, if it is there at all */
	}
	atomic_fetch_add(&repo->refs, 1); /* the caller's */
	p->repo = repo;
	pthread_mutex_lock(&fs->lock);
	if (fs->n_pending_repos >= PENDING_REPOS_MAX) {
		for (pp = &fs->pending_repos; (*pp)->next; pp = &(*pp)->next)
			;
		gone = *pp;
		*pp = NULL;
		fs->n_pending_repos--;
	}
	p->next = fs->pending_repos;
	fs->pending_repos = p;
	fs->n_pending_repos++;
	pthread_mutex_unlock(&fs->lock);
	if (gone) {
		repo_free(gone->repo);
		free(gone->key);
		free(gone);
	}
	return repo;
}

/* The load of @repo for @key gave its answer (a node, or an error): no one joins it now. */
static void pending_repo_done(struct fs *fs, const char *key, struct fs_repo *repo)
{
	struct fs_pending_repo *found = NULL;

	pthread_mutex_lock(&fs->lock);
	for (struct fs_pending_repo **pp = &fs->pending_repos; *pp; pp = &(*pp)->next) {
		if ((*pp)->repo == repo && strcmp((*pp)->key, key) == 0) {
			found = *pp;
			*pp = found->next;
			fs->n_pending_repos--;
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	if (found) {
		repo_free(found->repo);
		free(found->key);
		free(found);
	}
}

static void pending_repos_release(struct fs *fs)
{
	while (fs->pending_repos) {
		struct fs_pending_repo *p = fs->pending_repos;

		fs->pending_repos = p->next;
		repo_free(p->repo);
		free(p->key);
		free(p);
	}
	fs->n_pending_repos = 0;
}

static void names_free(struct fs_names *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, each name once: O(n log n), whatever the sources overlap. */
static void names_sort_unique(struct fs_names *l)
{
	size_t w = 0;

	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), cmp_names);
	for (size_t r = 0; r < l->n; r++) {
		if (w && strcmp(l->v[w - 1], l->v[r]) == 0)
			free(l->v[r]);
		else
			l->v[w++] = l->v[r];
	}
	l->n = w;
}

static void node_free(struct fs_node *n)
{
	if (n->kind == NODE_REPO)
		repo_free(n->repo);
	if (n->kind == NODE_ENTRY)
		repo_snapshot_unref(n->snap);
	names_free(n->listed);
	free(n->name);
	free(n->key);
	free(n);
}

/*
 * Make a node under @parent (NULL: the root) and enter it in the tables,
 * with @key (owned by the node from now on) when it has one. The caller
 * holds fs->lock. The new node holds a ref on its parent; virtual ones
 * (not entries) are also on the parent's child list, for readdir.
 */
static struct fs_node *node_add(struct fs *fs, enum fs_node_kind kind,
				struct fs_node *parent, char *key)
{
	struct fs_node_table *t = fs->nodes;
	struct fs_node *n;

	if (t->n_nodes >= t->n_slots && table_grow(t) < 0)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->ino = t->next_ino++;
	n->kind = kind;
	n->parent = parent;
	n->key = key;
	if (parent) {
		parent->refs++;
		n->type = parent->type;
		if (kind != NODE_ENTRY) {
			n->next_sibling = parent->first_child;
			if (parent->first_child)
				parent->first_child->prev_sibling = n;
			parent->first_child = n;
		}
	}
	table_link(t, n);
	t->n_nodes++;
	return n;
}

/*
 * Free @n if nobody holds it any more, then its parent if that was the
 * last hold on it, and so on up. The caller holds fs->lock.
 */
static void node_put_locked(struct fs *fs, struct fs_node *n)
{
	while (n && n->nlookup == 0 && n->refs == 0 && n->kind != NODE_ROOT) {
		struct fs_node *parent = n->parent;

		table_unlink(fs->nodes, n);
		fs->nodes->n_nodes--;
		if (n->holds_object) {
			struct cache_key k;

			repo_entry_key(&n->snap->entries[n->entry], &k);
			cache_object_release(fs->deps.cache, &k); /* c->lock inside fs->lock */
		}
		{
			const struct repo_snapshot *snap =
				n->kind == NODE_ENTRY ? n->snap :
				n->kind == NODE_REPO && n->repo && atomic_load(&n->repo->refs) == 1 ?
				n->repo->snap : NULL;

			/* Its last reference (another's may go meanwhile: then no trim). */
			if (snap && snap->n_entries >= FS_TRIM_ENTRIES &&
			    atomic_load(&snap->refs) == 1)
				fs->nodes->big_table_freed = true;
		}
		if (parent && n->kind != NODE_ENTRY) {
			if (n->prev_sibling)
				n->prev_sibling->next_sibling = n->next_sibling;
			else
				parent->first_child = n->next_sibling;
			if (n->next_sibling)
				n->next_sibling->prev_sibling = n->prev_sibling;
		}
		node_free(n);
		if (parent)
			parent->refs--;
		n = parent;
	}
}

void fs_node_hold_object(struct fs *fs, struct fs_node *node)
{
	struct cache_key k;

	if (node->kind != NODE_ENTRY || node->snap->entries[node->entry].is_dir)
		return;
	repo_entry_key(&node->snap->entries[node->entry], &k);
	pthread_mutex_lock(&fs->lock);
	if (!node->holds_object)
		node->holds_object = cache_object_hold(fs->deps.cache, &k) == 0;
	pthread_mutex_unlock(&fs->lock);
}

/*
 * Retire every file node whose content is @key and that was made before
 * its failure number @rejects (a late report of a failure must not retire
 * the node made after it, whose pages are the content fetched anew): it
 * leaves the key table, so the next lookup of its name makes a new node
 * with a new node id (its st_ino, from path and content, stays), and opens
 * of it fail with ESTALE (fs_op_open()), which has the kernel look the
 * name up again. The old inode's pages, which may hold
 * the failed content, are thus never seen by an open after the failure;
 * its open files are poisoned by the caller. Returns how many nodes were
 * retired, with their inode numbers in *@inos (malloc'ed; NULL if that
 * failed). The caller holds fs->lock. A walk over every node: a failed
 * hash is rare, and no index by object is kept for it.
 */
size_t fs_nodes_retire_locked(struct fs *fs, const struct cache_key *key, uint32_t rejects,
			      fuse_ino_t **inos)
{
	struct fs_node_table *t = fs->nodes;
	size_t n = 0, cap = 0;

	*inos = NULL;
	for (size_t i = 0; i < t->n_slots; i++) {
		for (struct fs_node *node = t->by_ino[i]; node; node = node->next_by_ino) {
			const struct repo_entry *e;
			struct cache_key k;

			if (node->kind != NODE_ENTRY || node->retired || node->born_rejects >= rejects)
				continue;
			e = &node->snap->entries[node->entry];
			if (e->is_dir)
				continue;
			repo_entry_key(e, &k);
			if (k.algo != key->algo || strcmp(k.hash, key->hash) != 0)
				continue;
			node->retired = true;
			table_unlink_key(t, node);
			free(node->key);
			node->key = NULL; /* table_grow() links it by inode only */
			if (n == cap) {
				fuse_ino_t *more = realloc(*inos, (cap ? 2 * cap : 8) * sizeof(**inos));

				if (!more) {
					log_err("out of memory: the kernel keeps pages of failed content");
					continue;
				}
				*inos = more;
				cap = cap ? 2 * cap : 8;
			}
			(*inos)[n++] = node->ino;
		}
	}
	return n;
}

int fs_table_init(struct fs *fs)
{
	struct fs_node_table *t = calloc(1, sizeof(*t));
	struct fs_node *root;

	fs->nodes = t;
	fs->negative = calloc(1, sizeof(*fs->negative));
	if (!t || !fs->negative)
		return -ENOMEM;
	fs->negative->sweep_at = 1024;
	t->n_slots = 1024;
	t->by_ino = calloc(t->n_slots, sizeof(*t->by_ino));
	t->by_key = calloc(t->n_slots, sizeof(*t->by_key));
	if (!t->by_ino || !t->by_key)
		return -ENOMEM;
	t->next_ino = FUSE_ROOT_ID;
	pthread_mutex_init(&fs->lock, NULL);
	fs->started_at = time(NULL);
	root = node_add(fs, NODE_ROOT, NULL, NULL);
	if (!root)
		return -ENOMEM;
	root->name = strdup("");
	root->st_ino = FUSE_ROOT_ID;
	if (fs->opts.repo) {
		struct hub_error err = { 0 };
		struct hub_repo r;
		int rc = hub_repo_parse(fs->opts.repo, HUB_REPO_MODEL, false, &r, &err);

		if (rc < 0) {
			log_err("--repo: %s", err.message);
			return rc;
		}
		root->kind = NODE_REPO;
		root->type = r.type;
		root->repo = repo_new(&r);
		if (!root->repo)
			return -ENOMEM;
		return 0;
	}
	/* "datasets" and "spaces" are always there: held by the table. */
	for (int i = 0; i < 2; i++) {
		char *key = strdup(i ? "v/1/spaces" : "v/1/datasets");
		struct fs_node *n = key ? node_add(fs, NODE_TYPE, root, key) : NULL;

		if (!n) {
			free(key);
			return -ENOMEM;
		}
		n->type = i ? HUB_REPO_SPACE : HUB_REPO_DATASET;
		n->name = strdup(i ? "spaces" : "datasets");
		n->refs = 1;
		if (!n->name)
			return -ENOMEM;
		n->st_ino = fs_child_ino(root->st_ino, n->name, NULL, 0);
	}
	return 0;
}

void fs_table_release(struct fs *fs)
{
	struct fs_node_table *t = fs->nodes;

	if (t) {
		for (size_t i = 0; t->by_ino && i < t->n_slots; i++) {
			for (struct fs_node *n = t->by_ino[i], *next; n; n = next) {
				next = n->next_by_ino;
				node_free(n);
			}
		}
		free(t->by_ino);
		free(t->by_key);
		free(t);
		fs->nodes = NULL;
		pthread_mutex_destroy(&fs->lock);
	}
	if (fs->negative) {
		negatives_sweep(fs->negative, -1);
		free(fs->negative);
		fs->negative = NULL;
	}
	pending_repos_release(fs);
}

struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino)
{
	struct fs_node *n;

	pthread_mutex_lock(&fs->lock);
	for (n = fs->nodes->by_ino[ino_slot(fs->nodes, ino)]; n; n = n->next_by_ino) {
		if (n->ino == ino)
			break;
	}
	pthread_mutex_unlock(&fs->lock);
	return n;
}

void fs_node_forget(struct fs *fs, struct fs_node *node, uint64_t n)
{
	pthread_mutex_lock(&fs->lock);
	node->nlookup = n < node->nlookup ? node->nlookup - n : 0;
	node_put_locked(fs, node);
	pthread_mutex_unlock(&fs->lock);
}

void fs_table_trim(struct fs *fs)
{
	size_t n, mark;
	bool trim;

	pthread_mutex_lock(&fs->lock);
	n = fs->nodes->n_nodes;
	if (n > fs->nodes->trim_mark)
		fs->nodes->trim_mark = n;
	mark = fs->nodes->trim_mark;
	trim = (mark >= 1024 && n < mark / 2) || fs->nodes->big_table_freed;
	if (trim) {
		fs->nodes->trim_mark = n;
		fs->nodes->big_table_freed = false;
	}
	pthread_mutex_unlock(&fs->lock);
	/*
	 * Most nodes (and the snapshots they held) went, or the last node of
	 * a big snapshot did: give the freed pages back, or a walk of a big
	 * dataset, or one file of it looked up (its table: 46 MB for 100,000
	 * files; the daemon stayed at 110-127 MB), would keep the daemon large.
	 */
	if (trim)
		malloc_trim(0);
}

void fs_node_hold(struct fs *fs, struct fs_node *node)
{
	pthread_mutex_lock(&fs->lock);
	node->refs++;
	pthread_mutex_unlock(&fs->lock);
}

void fs_node_release(struct fs *fs, struct fs_node *node)
{
	pthread_mutex_lock(&fs->lock);
	node->refs--;
	node_put_locked(fs, node);
	pthread_mutex_unlock(&fs->lock);
}

size_t fs_node_count(struct fs *fs)
{
	size_t n;

	pthread_mutex_lock(&fs->lock);
	n = fs->nodes->n_nodes;
	pthread_mutex_unlock(&fs->lock);
	return n;
}

/* ---- repo snapshots ---- */

static void log_load_failure(const struct hub_repo *repo, int rc,
			     const struct hub_error *err)
{
	char name[256];

	hub_repo_format(repo, name, sizeof(name));
	if (rc == -EACCES)
		log_warn("%s: no access: %s", name, err->message);
	else if (rc == -ENOENT)
		log_info("%s: %s", name, err->message);
	else
		log_warn("%s: %s", name, err->message[0] ? err->message : strerror(-rc));
}

/*
 * Load @r's snapshot (again, from @old, when not NULL) within @timeout_ms,
 * on the calling thread. -ENOENT offline for a repo the cache never saw.
 */
static int load_snapshot(struct fs *fs, const struct fs_repo *r,
			 const struct repo_snapshot *old, int64_t timeout_ms,
			 struct repo_snapshot **fresh, struct hub_error *err)
{
	int64_t prev = hub_deadline_set(hub_now_ms() + timeout_ms);
	int rc = old ? repo_snapshot_refresh(&fs->env, old, fresh, err) :
		       repo_snapshot_load(&fs->env, &r->repo, fresh, err);

	hub_deadline_set(prev);
	/* Offline, a repo the cache never saw is simply not there. */
	if (rc == -ENETDOWN && fs->env.offline)
		rc = -ENOENT;
	return rc;
}

/*
 * Load or refresh @r's snapshot and publish how it went: runs on a helper
 * thread (or, when none can be made, on the caller's), with no lock held
 * while the Hub is asked, and within a deadline of its own, so that it
 * ends whether or not the request that started it still waits. It holds
 * a reference on @r: the node may be forgotten meanwhile.
 */
static void load_repo(struct fs *fs, void *r_)
{
	struct fs_repo *r = r_;
	struct hub_error err = { 0 };
	struct repo_snapshot *fresh = NULL, *old = NULL;
	int rc;

	pthread_mutex_lock(&r->lock);
	old = r->snap;
	if (old)
		repo_snapshot_ref(old);
	pthread_mutex_unlock(&r->lock);

	/*
	 * Nothing at hand (the repo's first use, or its node forgotten by the
	 * kernel under memory pressure, drop_caches): what the cache remembers
	 * of the revision is put at hand first, so that a caller waits for the
	 * Hub REFRESH_WAIT_MS at most, as a refresh's do, not --op-timeout (a
	 * stalled Hub held every lookup under the repo that long: t2009, once,
	 * beside another test's drop_caches). A commit named by its sha, the
	 * same content whatever the Hub says, is served from it at once.
	 */
	if (!old && !fs->env.offline) {
		struct repo_env cached = fs->env;
		struct hub_error ignored = { 0 };

		cached.offline = true;
		if (repo_snapshot_load(&cached, &r->repo, &old, &ignored) == 0) {
			pthread_mutex_lock(&r->lock);
			if (!r->snap) {
				repo_snapshot_ref(old);
				r->snap = old;
				pthread_cond_broadcast(&r->loaded);
			}
			pthread_mutex_unlock(&r->lock);
		}
	}

	rc = load_snapshot(fs, r, old, fs->deps.hub_config->op_timeout_ms, &fresh, &err);

	pthread_mutex_lock(&r->lock);
	r->checked_at = time_mono_secs();
	if (rc == 0 && fresh) {
		if (old)
			log_info("%s moved from %.12s to %.12s", fresh->repo_key,
				 old->commit, fresh->commit);
		repo_snapshot_unref(r->snap);
		r->snap = fresh;
	} else if (rc < 0 && old) {
		/* The Hub is away: the commit we know is still a fine answer. */
		log_dbg("%s: keeping %.12s: %s", old->repo_key, old->commit, err.message);
		rc = 0;
	}
	r->loading = false;
	r->load_rc = rc;
	r->load_gen++;
	pthread_cond_broadcast(&r->loaded);
	pthread_mutex_unlock(&r->lock);
	repo_snapshot_unref(old);
	if (rc < 0)
		log_load_failure(&r->repo, rc, &err);
	repo_free(r);
}

/*
 * How long a caller that has a snapshot waits for its refresh past the
 * revision TTL. A Hub that answers in time shows a moved branch at once;
 * one that is slow or away must not hold every lookup, open and ls under
 * the repo for --op-timeout once a TTL: the commit at hand is served, and
 * the refresh goes on for whoever asks after it ends.
 */
#define REFRESH_WAIT_MS 2000

/*
 * A repo that never loaded because the Hub said it is not there (or not
 * ours to read), within the negative TTL of that answer: its error, as a
 * name that does not exist is answered. Else 0. r->lock held.
 */
static int repo_known_failure_locked(const struct fs *fs, const struct fs_repo *r)
{
	bool lasting = r->load_rc == -ENOENT || r->load_rc == -EACCES || r->load_rc == -EPERM;

	if (r->snap || r->loading || r->load_gen == 0 || !lasting ||
	    time_mono_secs() - r->checked_at >= fs->opts.negative_ttl_secs)
		return 0;
	return r->load_rc;
}

static int repo_known_failure(const struct fs *fs, struct fs_repo *r)
{
	int rc;

	pthread_mutex_lock(&r->lock);
	rc = repo_known_failure_locked(fs, r);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/*
 * The repo's snapshot now, (re)loading it when due. Returns a ref, or
 * -errno: the load's own error (a lasting one, ENOENT or EACCES, again
 * without asking for the negative TTL), or -EINTR / -ETIMEDOUT from @w
 * when the caller stops waiting (the load goes on for whoever asks next).
 */
static int repo_current_snapshot(struct fs *fs, const struct fs_wait *w,
				 struct fs_repo *r, struct repo_snapshot **out)
{
	bool waiting = false;
	unsigned gen = 0;
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		if (r->snap && (r->pinned ||
				time_mono_secs() - r->checked_at < fs->opts.revision_ttl_secs))
			break;
		if (waiting && r->load_gen != gen) {
			/* The load this call waited for ended: its answer is ours. */
			rc = r->snap ? 0 : r->load_rc;
			break;
		}
		/* Not asked again at every access: each costs the Hub's quota. */
		if ((rc = repo_known_failure_locked(fs, r)) < 0)
			break;
		if (!r->loading) {
			r->loading = true;
			r->load_started_ms = hub_now_ms();
			gen = r->load_gen;
			waiting = true;
			atomic_fetch_add(&r->refs, 1); /* the helper's */
			pthread_mutex_unlock(&r->lock);
			rc = fs_helper_run(fs, w, load_repo, r);
			pthread_mutex_lock(&r->lock);
			if (rc < 0) {
				/* No load ran: the next caller starts one. */
				r->loading = false;
				pthread_cond_broadcast(&r->loaded);
				/* Not the last ref: the caller's node holds one. */
				atomic_fetch_sub(&r->refs, 1);
				break;
			}
			continue;
		}
		if (r->snap && hub_now_ms() - r->load_started_ms >= REFRESH_WAIT_MS)
			break;
		if (!waiting) {
			gen = r->load_gen;
			waiting = true;
		}
		rc = fs_wait_slice(fs, w, &r->loaded, &r->lock);
		if (rc < 0)
			break;
	}
	if (rc == 0 && !r->snap)
		rc = -EIO; /* cannot happen: a load that worked left a snapshot */
	if (rc == 0) {
		repo_snapshot_ref(r->snap);
		*out = r->snap;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

#define ROOT_CHECK_MS 20000

int fs_check_root_repo(struct fs *fs)
{
	struct fs_node *root = fs_node_get(fs, FUSE_ROOT_ID);
	struct hub_error err = { 0 };
	struct repo_snapshot *snap = NULL;
	int64_t timeout_ms = fs->deps.hub_config->op_timeout_ms;
	struct fs_repo *r;
	bool hard;
	int rc;

	if (!root || root->kind != NODE_REPO)
		return 0;
	r = root->repo;
	/*
	 * Before the FUSE session and its threads: no helper, no wait. At
	 * most ROOT_CHECK_MS, for a mount unit waits for us (systemd's
	 * TimeoutSec=90 in contrib/): past that it is "unreachable", and the
	 * load goes on at the first ls. Hard: a listing of many pages does not
	 * push it on page by page.
	 */
	hard = hub_deadline_hard(true);
	rc = load_snapshot(fs, r, NULL, timeout_ms < ROOT_CHECK_MS ? timeout_ms : ROOT_CHECK_MS,
			   &snap, &err);
	hub_deadline_hard(hard);
	if (rc == 0) {
		/* The first ls needs no second load. */
		r->snap = snap;
		r->checked_at = time_mono_secs();
		return 0;
	}
	if (rc == -ENOENT || rc == -EACCES || rc == -EINVAL || rc == -EPERM) {
		log_err("--repo %s: %s", fs->opts.repo, err.message);
		return rc;
	}
	/* Unreachable: the cache may serve it, and the Hub may come back. */
	log_warn("--repo %s: %s; mounting all the same", fs->opts.repo, err.message);
	return 0;
}

int fs_node_snapshot(struct fs *fs, const struct fs_wait *w, struct fs_node *node,
		     struct repo_snapshot **snap, uint32_t *entry)
{
	if (node->kind == NODE_REPO) {
		int rc = repo_current_snapshot(fs, w, node->repo, snap);

		/*
		 * A folder from the org's list that is gone: remembered by name
		 * too, for the kernel may forget the node (and its repo's
		 * answer) before the name is looked up again.
		 */
		*entry = 0;
		if ((rc == -ENOENT || rc == -EACCES) && node->repo->from_org_list)
			negative_put(fs, node->key, rc);
		return rc;
	}
	if (node->kind == NODE_ENTRY) {
		repo_snapshot_ref(node->snap);
		*snap = node->snap;
		*entry = node->entry;
		return 0;
	}
	return -EINVAL;
}

/* ---- lookup ---- */

/*
 * The node of @key, made by @make when there is none, with its nlookup
 * raised: found and counted under one hold of the lock, so that a FORGET
 * cannot free it in between. @make gets fs->lock held and @key to own.
 */
typedef struct fs_node *(*node_maker)(struct fs *fs, struct fs_node *parent,
				      char *key, void *arg);

static struct fs_node *lookup_or_make(struct fs *fs, struct fs_node *parent,
				      const char *key, node_maker make, void *arg)
{
	struct fs_node *n;
	char *owned;

	pthread_mutex_lock(&fs->lock);
	n = find_by_key(fs->nodes, key);
	if (!n) {
		owned = strdup(key);
		n = owned ? make(fs, parent, owned, arg) : NULL;
		if (!n)
			free(owned);
	}
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&fs->lock);
	return n;
}

static struct fs_node *make_org(struct fs *fs, struct fs_node *parent, char *key,
				void *name_)
{
	char *name = strdup(name_);
	struct fs_node *n = name ? node_add(fs, NODE_ORG, parent, key) : NULL;

	if (!n) {
		free(name);
		return NULL;
	}
	n->name = name;
	n->st_ino = fs_child_ino(parent->st_ino, name, NULL, 0);
	return n;
}

struct repo_arg {
	const char *name;
	struct fs_repo *repo; /* taken over by the node */
};

static struct fs_node *make_repo(struct fs *fs, struct fs_node *parent, char *key,
				 void *arg_)
{
	struct repo_arg *arg = arg_;
	char *name = strdup(arg->name);
	struct fs_node *n = name ? node_add(fs, NODE_REPO, parent, key) : NULL;

	if (!n) {
		free(name);
		return NULL;
	}
	n->name = name;
	n->st_ino = fs_child_ino(parent->st_ino, name, NULL, 0);
	n->repo = arg->repo;
	arg->repo = NULL;
	return n;
}

struct entry_arg {
	struct repo_snapshot *snap;
	uint32_t index;
};

static struct fs_node *make_entry(struct fs *fs, struct fs_node *parent, char *key,
				  void *arg_)
{
	struct entry_arg *arg = arg_;
	struct fs_node *n = node_add(fs, NODE_ENTRY, parent, key);
	const struct repo_entry *e = &arg->snap->entries[arg->index];

	if (n) {
		n->repo = parent->repo;
		n->snap = arg->snap;
		n->entry = arg->index;
		repo_snapshot_ref(arg->snap);
		if (!e->is_dir) {
			struct cache_key k;

			repo_entry_key(e, &k);
			/* c->lock inside fs->lock: the cache never calls back. */
			n->born_rejects = cache_object_rejects(fs->deps.cache, &k);
			n->born_losses = cache_object_hash_losses(fs->deps.cache, &k);
		}
		n->st_ino = fs_child_ino(parent->st_ino, e->name, e->is_dir ? NULL : e->oid,
					 n->born_rejects);
	}
	return n;
}

/* Does the cache know a repo of namespace @org (of @type)? */
struct known_ctx {
	const char *type;
	const char *org;
};

static int find_known_org(void *ctx_, const char *repo, const char *commit)
{
	const struct known_ctx *ctx = ctx_;
	size_t tl = strlen(ctx->type), ol = strlen(ctx->org);

	(void)commit;
	return strncmp(repo, ctx->type, tl) == 0 && repo[tl] == '/' &&
	       strncmp(repo + tl + 1, ctx->org, ol) == 0 && repo[tl + 1 + ol] == '/';
}

static int names_add(struct fs_names *l, const char *name);
static int names_add_dated(struct fs_names *l, const char *name, int64_t date);
static int64_t names_date(const char *dated_name);

/*
 * A namespace listing, asked of the Hub on a helper thread while the
 * request waits within its fs_wait (fs/wait.c): the request can be
 * interrupted, the listing ends within its own deadline either way. Until
 * it ends, it is on fs->pending_lists, where a request for the same list
 * (a lookup retried after a signal, an `ls` beside it) joins it instead of
 * starting another with a helper of its own: ~20 threads a second under a
 * profiler's 100 Hz timer, each until the stalled listing's deadline.
 */
struct list_job {
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	int refs;                   /* the helper's and each waiter's */
	bool done;
	int rc;
	enum hub_repo_type type;
	char org[HUB_REPO_ID_MAX + 1];
	size_t max;                 /* 1: "has it any repo?"; 0: all of them */
	struct fs_names names;      /* the repos' names (without the org); read-only once done */
	bool never_ran;             /* done with no helper: rc is its starter's wait, not the Hub's */
	struct hub_error err;
	struct list_job *next_pending; /* on fs->pending_lists; guarded by fs->lock */
};

/*
 * A repo of the listing, by name. The Hub's author filter ignores case,
 * but the mount shows names as the Hub spells them: a repo of "org" is
 * not one of "ORG", else "ORG" would be a second folder of the same repos.
 */
static int add_listed(void *ctx, const struct hub_repo_summary *r)
{
	struct list_job *j = ctx;
	const char *slash = strchr(r->id, '/');

	if (!slash || (size_t)(slash - r->id) != strlen(j->org) ||
	    strncmp(r->id, j->org, (size_t)(slash - r->id)) != 0)
		return 0;
	return names_add_dated(&j->names, slash + 1, r->last_modified);
}

static void list_job_put(struct list_job *j)
{
	int left;

	pthread_mutex_lock(&j->lock);
	left = --j->refs;
	pthread_mutex_unlock(&j->lock);
	if (left)
		return;
	fs_names_release(&j->names);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->done_cond);
	free(j);
}

/* Take @j off fs->pending_lists: it is done. */
static void list_job_unlink(struct fs *fs, struct list_job *j)
{
	pthread_mutex_lock(&fs->lock);
	for (struct list_job **pp = &fs->pending_lists; *pp; pp = &(*pp)->next_pending) {
		if (*pp == j) {
			*pp = j->next_pending;
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
}

static void list_job_run(struct fs *fs, void *j_)
{
	struct list_job *j = j_;
	int64_t prev = hub_deadline_set(hub_now_ms() + fs->deps.hub_config->op_timeout_ms);
	int rc = hub_list_repos(fs->deps.hub, j->type, j->org, j->max, add_listed, j, &j->err);

	hub_deadline_set(prev);
	if (rc < 0)
		log_warn("cannot list namespace '%s': %s", j->org, j->err.message);
	pthread_mutex_lock(&j->lock);
	j->rc = rc;
	j->done = true;
	pthread_cond_broadcast(&j->done_cond);
	pthread_mutex_unlock(&j->lock);
	/* Asked again from now on: the next request wants a fresh answer. */
	list_job_unlink(fs, j);
	list_job_put(j);
}

/* The listing of (@type, @org, @max) in flight, with a reference for the caller, or NULL. */
static struct list_job *list_job_join(struct fs *fs, enum hub_repo_type type, const char *org,
				      size_t max)
{
	struct list_job *j;

	pthread_mutex_lock(&fs->lock);
	for (j = fs->pending_lists; j; j = j->next_pending) {
		if (j->type == type && j->max == max && strcmp(j->org, org) == 0) {
			pthread_mutex_lock(&j->lock);
			j->refs++;
			pthread_mutex_unlock(&j->lock);
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return j;
}

/* A new listing of (@type, @org, @max), begun on a helper: the caller's reference, or NULL and *@rc. */
static struct list_job *list_job_start(struct fs *fs, const struct fs_wait *w,
				       enum hub_repo_type type, const char *org, size_t max,
				       int *rc)
{
	struct list_job *j = calloc(1, sizeof(*j));

	if (!j) {
		*rc = -ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->done_cond, NULL);
	j->refs = 2; /* the caller's; the helper's, which covers its place in the table */
	j->type = type;
	j->max = max;
	snprintf(j->org, sizeof(j->org), "%s", org);
	/* Joinable before the helper runs, so that the helper always finds it to take off. */
	pthread_mutex_lock(&fs->lock);
	j->next_pending = fs->pending_lists;
	fs->pending_lists = j;
	pthread_mutex_unlock(&fs->lock);
	*rc = fs_helper_run(fs, w, list_job_run, j);
	if (*rc < 0) {
		/*
		 * No helper: end it for those who joined, who try again within
		 * their own wait; off the table first, or they would find it
		 * again at once.
		 */
		list_job_unlink(fs, j);
		pthread_mutex_lock(&j->lock);
		j->rc = *rc;
		j->never_ran = true;
		j->done = true;
		pthread_cond_broadcast(&j->done_cond);
		pthread_mutex_unlock(&j->lock);
		list_job_put(j); /* the helper's, never started */
		list_job_put(j);
		return NULL;
	}
	return j;
}

/* The repos of namespace @org into @out (what it held before is released). 0 or -errno. */
static int list_namespace(struct fs *fs, const struct fs_wait *w, enum hub_repo_type type,
			  const char *org, size_t max, struct fs_names *out)
{
	struct fs_names names = { 0 };
	struct list_job *j;
	bool retry;
	int rc;

	do {
		rc = 0;
		j = list_job_join(fs, type, org, max);
		if (!j)
			j = list_job_start(fs, w, type, org, max, &rc);
		if (!j)
			return rc;
		pthread_mutex_lock(&j->lock);
		while (!j->done && rc == 0)
			rc = fs_wait_slice(fs, w, &j->done_cond, &j->lock);
		retry = rc == 0 && j->never_ran; /* joined a start that found no helper */
		if (rc == 0)
			rc = j->rc;
		pthread_mutex_unlock(&j->lock);
		if (retry)
			list_job_put(j);
	} while (retry);
	/* Done, the names are read-only: each waiter takes a copy, dates and all. */
	for (size_t i = 0; rc == 0 && i < j->names.n; i++)
		rc = names_add_dated(&names, j->names.v[i], names_date(j->names.v[i]));
	list_job_put(j);
	if (rc < 0) {
		fs_names_release(&names);
		return rc;
	}
	fs_names_release(out);
	*out = names;
	return 0;
}

/*
 * Is @org a namespace with repos of @type? Known locally, or listed by
 * the Hub (one entry asked for). 0, -ENOENT, or why the Hub could not say
 * (or why the request stopped waiting).
 */
static int org_exists(struct fs *fs, const struct fs_wait *w, enum hub_repo_type type,
		      const char *org)
{
	struct known_ctx ctx = { hub_repo_type_name(type), org };
	struct fs_names some = { 0 };
	int rc;

	/* That org's folder of the cache only: a walk of them all cost 20 ms per
	 * probe of an unknown name with 1,908 repos cached. */
	if (cache_listings_each_under(cache_dir(fs->deps.cache), ctx.type, org, find_known_org,
				      &ctx) > 0)
		return 0;
	if (fs->env.offline)
		return -ENOENT;
	rc = list_namespace(fs, w, type, org, 1, &some);
	if (rc == 0 && some.n == 0)
		rc = -ENOENT;
	fs_names_release(&some);
	return rc;
}

static int lookup_org(struct fs *fs, const struct fs_wait *w, struct fs_node *parent,
		      const char *name, struct fs_node **out)
{
	char key[512];
	int rc;

	if (!hub_repo_id_is_valid(name) || strchr(name, '/'))
		return -ENOENT; /* ".git", "-x", "a..b": never a namespace */
	snprintf(key, sizeof(key), "v/%lu/%s", (unsigned long)parent->ino, name);
	/* A folder already shown needs no second look. */
	pthread_mutex_lock(&fs->lock);
	*out = find_by_key(fs->nodes, key);
	if (*out)
		(*out)->nlookup++;
	pthread_mutex_unlock(&fs->lock);
	if (*out)
		return 0;
	if (negative_hit(fs, key, &rc))
		return rc;
	rc = org_exists(fs, w, parent->type, name);
	if (rc == -ENOENT)
		negative_put(fs, key, rc);
	if (rc < 0)
		return rc;
	*out = lookup_or_make(fs, parent, key, make_org, (void *)name);
	return *out ? 0 : -ENOMEM;
}

static int cmp_name_key(const void *key, const void *name)
{
	return strcmp(key, *(char *const *)name);
}

/*
 * Does the Hub's list of org @parent, fresh within the TTL, have @name as
 * spelled? Then *@date is the date the list gives it (0: none).
 */
static bool org_lists(struct fs *fs, const struct fs_node *parent, const char *name,
		      int64_t *date)
{
	char *const *found = NULL;

	if (parent->kind != NODE_ORG || fs->env.offline)
		return false;
	pthread_mutex_lock(&fs->lock);
	if (parent->listed &&
	    time_mono_secs() - parent->listed_at < fs->opts.revision_ttl_secs)
		found = bsearch(name, parent->listed->v, parent->listed->n,
				sizeof(*parent->listed->v), cmp_name_key);
	if (found)
		*date = names_date(*found);
	pthread_mutex_unlock(&fs->lock);
	return found != NULL;
}

bool fs_repo_is_current(struct fs_repo *r, const struct repo_snapshot *snap)
{
	bool current;

	pthread_mutex_lock(&r->lock);
	current = r->snap == snap;
	pthread_mutex_unlock(&r->lock);
	return current;
}

static bool repo_loaded(struct fs_repo *r)
{
	bool loaded;

	pthread_mutex_lock(&r->lock);
	loaded = r->snap != NULL;
	pthread_mutex_unlock(&r->lock);
	return loaded;
}

/* "NAME@REV" (or "NAME") in directory @parent → a repo node. */
static int lookup_repo(struct fs *fs, const struct fs_wait *w, struct fs_node *parent,
		       const char *id, const char *name, struct fs_node **out)
{
	struct hub_error err = { 0 };
	struct repo_snapshot *snap = NULL;
	struct repo_arg arg = { .name = name };
	struct hub_repo repo;
	int64_t listed_date = 0;
	struct fs_node *n;
	char key[512];
	int rc;

	rc = hub_repo_parse(id, parent->type, true, &repo, &err);
	if (rc < 0)
		return -ENOENT;
	repo.type = parent->type;
	snprintf(key, sizeof(key), "v/%lu/%s", (unsigned long)parent->ino, name);
	pthread_mutex_lock(&fs->lock);
	n = find_by_key(fs->nodes, key);
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&fs->lock);
	if (n) {
		/*
		 * Made from the org's list and not used yet: nothing to resolve,
		 * unless its load found it gone (deleted, made private): then
		 * not a folder any more, as the org's next list will say.
		 */
		if (n->repo->from_org_list && !repo_loaded(n->repo)) {
			rc = repo_known_failure(fs, n->repo);
			if (rc < 0) {
				fs_node_forget(fs, n, 1);
				return rc;
			}
			*out = n;
			return 0;
		}
		/* Known: re-resolve its branch when due. */
		rc = repo_current_snapshot(fs, w, n->repo, &snap);
		if (rc < 0) {
			fs_node_forget(fs, n, 1);
			return rc;
		}
		repo_snapshot_unref(snap);
		*out = n;
		return 0;
	}
	if (negative_hit(fs, key, &rc))
		return rc;
	/*
	 * The default branch of a repo the Hub's list of the org has, as
	 * spelled: a folder at once, loaded at its first use inside. `ls -l
	 * ORG` looks up every name, and a load is two requests (info and
	 * tree): 2,402 for an org of 1,201 repos, most of the Hub's anonymous
	 * quota of 3,000 per five minutes.
	 */
	if (!repo.revision[0] && org_lists(fs, parent, name, &listed_date)) {
		arg.repo = repo_new(&repo);
		if (!arg.repo)
			return -ENOMEM;
		arg.repo->from_org_list = true;
		arg.repo->listed_date = listed_date;
		n = lookup_or_make(fs, parent, key, make_repo, &arg);
		repo_free(arg.repo); /* not taken: another thread made it first */
		if (!n)
			return -ENOMEM;
		*out = n;
		return 0;
	}
	/*
	 * Otherwise load first, into a repo no node has yet: a repo folder
	 * exists only once its snapshot does. The load runs on a helper; a
	 * request that stops waiting leaves it to finish into the cache for
	 * the next one.
	 */
	arg.repo = pending_repo_get(fs, key, &repo);
	if (!arg.repo)
		return -ENOMEM;
	rc = repo_current_snapshot(fs, w, arg.repo, &snap);
	if (rc == -EINTR || rc == -ETIMEDOUT || rc == -ECANCELED) {
		/* This request stopped waiting; the load goes on, for its retry to join. */
		repo_free(arg.repo);
		return rc;
	}
	pending_repo_done(fs, key, arg.repo);
	/*
	 * The Hub answers for "ORG/Name" as for "org/name" (a redirect): the
	 * mount has one folder per repo, under the Hub's spelling.
	 */
	if (rc == 0 && strcmp(snap->repo.id, repo.id) != 0 &&
	    strcasecmp(snap->repo.id, repo.id) == 0) {
		log_dbg("%s: not found; the Hub spells it %s", repo.id, snap->repo.id);
		rc = -ENOENT;
	}
	if (rc < 0) {
		if (rc == -ENOENT || rc == -EACCES)
			negative_put(fs, key, rc);
		repo_snapshot_unref(snap);
		repo_free(arg.repo);
		return rc;
	}
	repo_snapshot_unref(snap);
	n = lookup_or_make(fs, parent, key, make_repo, &arg);
	repo_free(arg.repo); /* not taken: another thread made it first */
	if (!n)
		return -ENOMEM;
	negative_drop(fs, key);
	*out = n;
	return 0;
}

/* The snapshot's pointer is in the key: its nodes hold it, so it cannot be reused. */
static struct fs_node *entry_node(struct fs *fs, struct fs_node *parent,
				  struct repo_snapshot *snap, uint32_t index)
{
	struct entry_arg arg = { snap, index };
	char key[64];

	snprintf(key, sizeof(key), "e/%p/%u", (void *)snap, index);
	return lookup_or_make(fs, parent, key, make_entry, &arg);
}

struct fs_node *fs_entry_lookup(struct fs *fs, struct fs_node *dir,
				struct repo_snapshot *snap, uint32_t index)
{
	return entry_node(fs, dir, snap, index);
}

int fs_lookup(struct fs *fs, const struct fs_wait *w, struct fs_node *parent,
	      const char *name, struct fs_node **out)
{
	struct repo_snapshot *snap = NULL;
	const struct repo_entry *e;
	char path[PATH_REPO_MAX + 1], id[300];
	uint32_t dir;
	int rc;

	*out = NULL;
	switch (parent->kind) {
	case NODE_ROOT:
	case NODE_TYPE:
		if (parent->kind == NODE_ROOT &&
		    (strcmp(name, "datasets") == 0 || strcmp(name, "spaces") == 0)) {
			char key[32];

			snprintf(key, sizeof(key), "v/1/%s", name);
			pthread_mutex_lock(&fs->lock);
			*out = find_by_key(fs->nodes, key);
			if (*out)
				(*out)->nlookup++;
			pthread_mutex_unlock(&fs->lock);
			return *out ? 0 : -ENOENT;
		}
		if (strchr(name, '@'))
			return lookup_repo(fs, w, parent, name, name, out); /* "gpt2@main" */
		return lookup_org(fs, w, parent, name, out);
	case NODE_ORG:
		if (snprintf(id, sizeof(id), "%s/%s", parent->name, name) >= (int)sizeof(id))
			return -ENAMETOOLONG;
		return lookup_repo(fs, w, parent, id, name, out);
	case NODE_REPO:
	case NODE_ENTRY:
		rc = fs_node_snapshot(fs, w, parent, &snap, &dir);
		if (rc < 0)
			return rc;
		rc = -ENOENT;
		if (!snap->entries[dir].is_dir)
			rc = -ENOTDIR;
		else if (snprintf(path, sizeof(path), "%s%s%s", snap->entries[dir].path,
				  dir ? "/" : "", name) >= (int)sizeof(path))
			rc = -ENAMETOOLONG;
		else if ((e = repo_snapshot_find(snap, path)) && e->parent != REPO_NO_ENTRY) {
			*out = entry_node(fs, parent, snap, (uint32_t)(e - snap->entries));
			rc = *out ? 0 : -ENOMEM;
		}
		repo_snapshot_unref(snap);
		return rc;
	}
	return -ENOENT;
}

/* ---- attributes ---- */

uint64_t fs_child_ino(uint64_t parent_ino, const char *name, const char *oid,
		     uint32_t refusals)
{
	unsigned char buf[8 + 256 + 1 + 41 + 4];
	size_t name_len = strnlen(name, 256), oid_len = oid ? strnlen(oid, 41) : 0, n = 0;
	uint64_t ino;

	for (int i = 0; i < 8; i++)
		buf[n++] = (unsigned char)(parent_ino >> (8 * i));
	memcpy(buf + n, name, name_len);
	n += name_len;
	buf[n++] = '\0'; /* "ab" + oid "c..." is not "a" + "bc..." */
	memcpy(buf + n, oid ? oid : "", oid_len);
	n += oid_len;
	for (int i = 0; refusals && i < 4; i++)
		buf[n++] = (unsigned char)(refusals >> (8 * i));
	ino = digest_sha256_u64(buf, n);
	if (ino == 0) { /* OpenSSL failed: a weaker number beats none */
		ino = HASH_FNV1A_START;
		for (size_t i = 0; i < n; i++)
			ino = hash_fnv1a(ino, buf[i]);
	}
	return ino <= FUSE_ROOT_ID ? ino + 2 : ino;
}

int fs_node_stat(struct fs *fs, const struct fs_wait *w, struct fs_node *node,
		 struct stat *st, double *timeout)
{
	struct repo_snapshot *snap;
	const struct repo_entry *e;
	uint32_t idx;
	int rc;

	memset(st, 0, sizeof(*st));
	st->st_ino = node->st_ino;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = 4096;
	if (node->kind == NODE_ROOT || node->kind == NODE_TYPE || node->kind == NODE_ORG) {
		/* Folders of names, not of a commit: they date from the mount. */
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_mtime = st->st_ctime = st->st_atime = fs->started_at;
		*timeout = VIRTUAL_TIMEOUT_SECS;
		return 0;
	}
	if (node->kind == NODE_REPO && node->repo->from_org_list && !repo_loaded(node->repo) &&
	    (rc = repo_known_failure(fs, node->repo)) < 0)
		return rc;
	if (node->kind == NODE_REPO && node->repo->from_org_list && !repo_loaded(node->repo)) {
		/*
		 * From the org's list, not loaded yet: dated as the list dates
		 * it (the date its repo info gives once loaded; as its org when
		 * the list has none: tar and rsync took the mount's date, and a
		 * new mount's rsync set every folder's time again), and asked
		 * again soon, for its commit's date then.
		 */
		time_t date = node->repo->listed_date > 0 ? (time_t)node->repo->listed_date :
							    fs->started_at;

		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_mtime = st->st_ctime = st->st_atime = date;
		*timeout = 1.0;
		return 0;
	}
	rc = fs_node_snapshot(fs, w, node, &snap, &idx);
	if (rc < 0)
		return rc;
	e = &snap->entries[idx];
	st->st_mtime = st->st_ctime = st->st_atime = (time_t)snap->commit_time;
	if (e->is_dir) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t)e->size;
		/*
		 * All of it, as every network filesystem says: tools take fewer
		 * blocks than bytes for holes (tar -S, cp --sparse) and would
		 * archive zeros. What is cached: user.hubfs.cached.
		 */
		st->st_blocks = (blkcnt_t)((e->size + 511) / 512);
	}
	if (node->repo->pinned)
		*timeout = SHA_TIMEOUT_SECS;
	else
		*timeout = (double)fs->opts.revision_ttl_secs;
	repo_snapshot_unref(snap);
	return 0;
}

void fs_node_describe(struct fs *fs, struct fs_node *node, char *out, size_t size)
{
	struct repo_snapshot *snap;
	uint32_t idx;

	if (node->kind == NODE_REPO && !repo_loaded(node->repo)) {
		snprintf(out, size, "%s", node->repo->repo.id); /* no load for a log line */
		return;
	}
	if ((node->kind != NODE_REPO && node->kind != NODE_ENTRY) ||
	    fs_node_snapshot(fs, NULL, node, &snap, &idx) < 0) {
		snprintf(out, size, "inode %lu", (unsigned long)node->ino);
		return;
	}
	snprintf(out, size, "%s@%s:%s", snap->repo_key,
		 snap->repo.revision[0] ? snap->repo.revision : "main",
		 snap->entries[idx].path);
	repo_snapshot_unref(snap);
}

/* ---- folders of names: the root, datasets/, spaces/, an org ---- */

/* Append a copy of @name, with @extra bytes of room after its NUL. */
static char *names_append(struct fs_names *l, const char *name, size_t extra)
{
	size_t len = strlen(name) + 1;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = malloc(len + extra);
	if (!l->v[l->n])
		return NULL;
	memcpy(l->v[l->n], name, len);
	return l->v[l->n++];
}

static int names_add(struct fs_names *l, const char *name)
{
	return names_append(l, name, 0) ? 0 : -ENOMEM;
}

/*
 * A name of the Hub's list of an org, with its repo's date kept after the
 * name's NUL, where sorting, listing and copying the name leave it be;
 * only names_date() reads it, and only of an org's list (fs_node.listed).
 */
static int names_add_dated(struct fs_names *l, const char *name, int64_t date)
{
	char *p = names_append(l, name, sizeof(date));

	if (!p)
		return -ENOMEM;
	memcpy(p + strlen(p) + 1, &date, sizeof(date));
	return 0;
}

static int64_t names_date(const char *dated_name)
{
	int64_t date;

	memcpy(&date, dated_name + strlen(dated_name) + 1, sizeof(date));
	return date;
}

struct local_ctx {
	struct fs_names *l;
	const char *type;   /* "model", ... */
	const char *org;    /* list repos of this org; NULL: list orgs */
	int rc;
};

/* What the cache knows: orgs of a type, or repos of an org. */
static int add_local(void *ctx_, const char *repo, const char *commit)
{
	struct local_ctx *ctx = ctx_;
	size_t tl = strlen(ctx->type);
	const char *rest, *slash;
	char part[128];

	(void)commit;
	if (strncmp(repo, ctx->type, tl) != 0 || repo[tl] != '/')
		return 0;
	rest = repo + tl + 1;
	slash = strchr(rest, '/');
	if (!slash)
		return 0; /* legacy ids are reached as NAME@REV, not listed */
	if (!ctx->org) {
		snprintf(part, sizeof(part), "%.*s", (int)(slash - rest), rest);
		ctx->rc = names_add(ctx->l, part);
	} else if ((size_t)(slash - rest) == strlen(ctx->org) &&
		   strncmp(rest, ctx->org, (size_t)(slash - rest)) == 0) {
		ctx->rc = names_add(ctx->l, slash + 1);
	}
	return ctx->rc;
}

/*
 * The Hub's list of @org's repos, kept in the node for the revision TTL
 * (not fetched again by every `ls`), and the old one kept when the Hub
 * cannot be reached. Appends to @out, and says in *@from_hub whether there
 * was a list of the Hub's to append. Returns 0, or the Hub's error when
 * there was none (offline: 0).
 */
/* Does the cache hold a listing of a repo of @org? (disk I/O: no lock held) */
struct org_probe {
	char prefix[HUB_REPO_ID_MAX + 16];
	size_t len;
	bool found;
};

static int probe_org(void *ctx_, const char *repo, const char *commit)
{
	struct org_probe *p = ctx_;

	(void)commit;
	if (strncmp(repo, p->prefix, p->len) != 0)
		return 0;
	p->found = true;
	return 1; /* one is enough */
}

static bool org_known_locally(struct fs *fs, const struct fs_node *org)
{
	struct org_probe p = { .found = false };
	int n = snprintf(p.prefix, sizeof(p.prefix), "%s/%s/", hub_repo_type_name(org->type),
			 org->name);

	if (n < 0 || (size_t)n >= sizeof(p.prefix))
		return false;
	p.len = (size_t)n;
	cache_listings_each_under(cache_dir(fs->deps.cache), hub_repo_type_name(org->type),
				  org->name, probe_org, &p);
	return p.found;
}

static int org_listing(struct fs *fs, const struct fs_wait *w, struct fs_node *org,
		       struct fs_names *out, bool *from_hub)
{
	struct fs_names *fresh = NULL, *cur;
	int64_t now = time_mono_secs();
	int rc = 0, failed = 0;

	pthread_mutex_lock(&fs->lock);
	if (!org->listed || now - org->listed_at >= fs->opts.revision_ttl_secs) {
		/*
		 * With a list at hand, a refresh is waited for briefly (above);
		 * so it is with repos of the org in the cache (a new mount, or
		 * the org's node forgotten by the kernel), which serve after it:
		 * a stalled Hub held such an `ls` for --op-timeout.
		 */
		struct fs_wait brief = { .req = w ? w->req : NULL,
					 .deadline_ms = hub_now_ms() + REFRESH_WAIT_MS };
		const struct fs_wait *wait_for = w;
		bool had = org->listed != NULL;

		pthread_mutex_unlock(&fs->lock);
		if ((had || (!fs->env.offline && org_known_locally(fs, org))) &&
		    (!w || w->deadline_ms > brief.deadline_ms))
			wait_for = &brief;
		fresh = fs->env.offline ? NULL : calloc(1, sizeof(*fresh));
		if (fresh) {
			rc = list_namespace(fs, wait_for, org->type, org->name, 0, fresh);
			if (rc == -EINTR || rc == -ECANCELED) {
				names_free(fresh);
				return rc; /* the caller is gone; the old list stays */
			}
			if (rc < 0) {
				names_free(fresh);
				fresh = NULL;
				failed = rc;
			}
		}
		if (fresh)
			names_sort_unique(fresh); /* for org_lists()'s bsearch */
		pthread_mutex_lock(&fs->lock);
		if (fresh) {
			names_free(org->listed);
			org->listed = fresh;
			org->listed_at = now;
		} else if (org->listed && !fs->env.offline) {
			/*
			 * The Hub failed or is slow: the list at hand serves
			 * until the next TTL, not one more wait per ls.
			 */
			org->listed_at = time_mono_secs();
		}
	}
	cur = org->listed;
	*from_hub = cur != NULL;
	rc = 0;
	for (size_t i = 0; cur && rc == 0 && i < cur->n; i++)
		rc = names_add(out, cur->v[i]);
	pthread_mutex_unlock(&fs->lock);
	return rc < 0 ? rc : cur ? 0 : failed;
}

int fs_virtual_list(struct fs *fs, const struct fs_wait *w, struct fs_node *dir,
		    struct fs_names *out)
{
	struct local_ctx ctx = {
		.l = out,
		.type = hub_repo_type_name(dir->kind == NODE_ROOT ? HUB_REPO_MODEL : dir->type),
		.org = dir->kind == NODE_ORG ? dir->name : NULL,
	};
	bool from_hub = false;
	int rc = 0, failed = 0;

	memset(out, 0, sizeof(*out));
	if (dir->kind == NODE_ORG) {
		failed = org_listing(fs, w, dir, out, &from_hub);
		if (failed == -EINTR || failed == -ECANCELED || failed == -ENOMEM) {
			fs_names_release(out);
			return failed;
		}
	}
	/*
	 * What the cache knows, when there is no list of the Hub's: offline,
	 * the root, an org whose listing failed. Not beside one: a repo
	 * cached by a token this mount lacks, or deleted since, would be
	 * listed and then refused by lookup.
	 */
	if (!from_hub) {
		rc = cache_listings_each_under(cache_dir(fs->deps.cache), ctx.type, ctx.org,
					       add_local, &ctx);
		if (rc == 0)
			rc = ctx.rc;
	}
	/*
	 * And what this mount has looked up and found, where no list of the
	 * Hub's is at hand (the root, offline, a failed list): beside one, a
	 * folder would show what anyone looked up, for as long as the kernel
	 * kept it. Never a revision (NAME@REV): reachable by name, listed by
	 * none, or du, find and tar of an org walked tiny-model once more for
	 * each @REV someone had visited (a helper's review).
	 */
	pthread_mutex_lock(&fs->lock);
	for (struct fs_node *c = dir->first_child; rc == 0 && !from_hub && c; c = c->next_sibling) {
		if (c->name && !strchr(c->name, '@'))
			rc = names_add(out, c->name);
	}
	pthread_mutex_unlock(&fs->lock);
	/* The Hub failed and nothing is known: an error, not an empty folder. */
	if (rc == 0 && failed < 0 && out->n == 0)
		rc = failed;
	if (rc == 0)
		names_sort_unique(out);
	if (rc < 0)
		fs_names_release(out);
	return rc < 0 ? rc : 0;
}

void fs_names_release(struct fs_names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
