/* SPDX-License-Identifier: MIT */
/*
 * The inode table and the namespace: which name in which directory is
 * which node, and what each node shows.
 *
 * Nodes are made on lookup and kept until unmount (forget only lowers the
 * count): a node pointer stays valid without a lock, and a name looked up
 * twice gets the same inode. A repo directory's node keeps the repo's
 * current snapshot and re-resolves a branch after the revision TTL; the
 * nodes of its files and folders each hold the snapshot they were found
 * in, so an open file keeps its commit.
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cache/meta.h"
#include "util/log.h"

#define SHA_TIMEOUT_SECS 86400.0 /* what a commit shows never changes */
#define VIRTUAL_TIMEOUT_SECS 60.0

/* ---- a small string map (open hashing), guarded by fs->lock ---- */

struct map_item {
	struct map_item *next;
	uint64_t value;
	int64_t expires; /* monotonic seconds; 0: never */
	char key[];
};

struct fs_map {
	struct map_item **slots;
	size_t n_slots, n_items;
};

static struct fs_map *map_new(void)
{
	struct fs_map *m = calloc(1, sizeof(*m));

	if (m) {
		m->n_slots = 1024;
		m->slots = calloc(m->n_slots, sizeof(*m->slots));
		if (!m->slots) {
			free(m);
			m = NULL;
		}
	}
	return m;
}

static void map_free(struct fs_map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_slots; i++) {
		for (struct map_item *it = m->slots[i], *next; it; it = next) {
			next = it->next;
			free(it);
		}
	}
	free(m->slots);
	free(m);
}

static size_t map_slot(const struct fs_map *m, const char *key)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return (size_t)(h % m->n_slots);
}

static struct map_item *map_find(struct fs_map *m, const char *key)
{
	for (struct map_item *it = m->slots[map_slot(m, key)]; it; it = it->next) {
		if (strcmp(it->key, key) == 0)
			return it;
	}
	return NULL;
}

static int map_put(struct fs_map *m, const char *key, uint64_t value, int64_t expires)
{
	struct map_item *it = map_find(m, key);
	size_t slot;

	if (it) {
		it->value = value;
		it->expires = expires;
		return 0;
	}
	if (m->n_items >= m->n_slots) {
		/* Grow: rehash every item into twice the slots. */
		struct map_item **old = m->slots;
		size_t n_old = m->n_slots;

		m->slots = calloc(2 * n_old, sizeof(*m->slots));
		if (!m->slots) {
			m->slots = old;
			return -ENOMEM;
		}
		m->n_slots = 2 * n_old;
		for (size_t i = 0; i < n_old; i++) {
			for (struct map_item *x = old[i], *next; x; x = next) {
				next = x->next;
				slot = map_slot(m, x->key);
				x->next = m->slots[slot];
				m->slots[slot] = x;
			}
		}
		free(old);
	}
	it = malloc(sizeof(*it) + strlen(key) + 1);
	if (!it)
		return -ENOMEM;
	strcpy(it->key, key);
	it->value = value;
	it->expires = expires;
	slot = map_slot(m, key);
	it->next = m->slots[slot];
	m->slots[slot] = it;
	m->n_items++;
	return 0;
}

static int64_t now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* ---- the table ---- */

static struct fs_node *add_node(struct fs *fs, enum fs_node_kind kind,
				fuse_ino_t parent, const char *key)
{
	struct fs_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	if (fs->n_nodes == fs->cap_nodes) {
		size_t cap = fs->cap_nodes ? 2 * fs->cap_nodes : 1024;
		struct fs_node **p = realloc(fs->nodes, cap * sizeof(*p));

		if (!p) {
			free(n);
			return NULL;
		}
		fs->nodes = p;
		fs->cap_nodes = cap;
	}
	n->ino = fs->n_nodes;
	n->kind = kind;
	n->parent = parent;
	if (key && map_put(fs->names, key, n->ino, 0) < 0) {
		free(n);
		return NULL;
	}
	fs->nodes[fs->n_nodes++] = n;
	return n;
}

static struct fs_repo *repo_new(const struct hub_repo *r)
{
	struct fs_repo *repo = calloc(1, sizeof(*repo));

	if (!repo)
		return NULL;
	repo->repo = *r;
	repo->pinned = strlen(r->revision) == 40 &&
		       strspn(r->revision, "0123456789abcdef") == 40;
	pthread_mutex_init(&repo->lock, NULL);
	pthread_cond_init(&repo->loaded, NULL);
	return repo;
}

static void repo_free(struct fs_repo *repo)
{
	if (!repo)
		return;
	fs_snapshot_unref(repo->snap);
	pthread_mutex_destroy(&repo->lock);
	pthread_cond_destroy(&repo->loaded);
	free(repo);
}

int fs_table_init(struct fs *fs)
{
	struct fs_node *root;

	fs->names = map_new();
	fs->negative = map_new();
	if (!fs->names || !fs->negative)
		return -ENOMEM;
	pthread_mutex_init(&fs->lock, NULL);
	/* Inode 0 is invalid; FUSE_ROOT_ID is 1. */
	if (!add_node(fs, NODE_ROOT, 0, NULL))
		return -ENOMEM;
	root = add_node(fs, NODE_ROOT, FUSE_ROOT_ID, NULL);
	if (!root)
		return -ENOMEM;
	root->name = strdup("");
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
	}
	return 0;
}

void fs_table_release(struct fs *fs)
{
	for (size_t i = 0; i < fs->n_nodes; i++) {
		struct fs_node *n = fs->nodes[i];

		if (n->kind == NODE_REPO)
			repo_free(n->repo);
		if (n->kind == NODE_ENTRY)
			fs_snapshot_unref(n->snap);
		free(n->name);
		free(n);
	}
	free(fs->nodes);
	map_free(fs->names);
	map_free(fs->negative);
	pthread_mutex_destroy(&fs->lock);
}

struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino)
{
	struct fs_node *n = NULL;

	pthread_mutex_lock(&fs->lock);
	if (ino > 0 && ino < fs->n_nodes)
		n = fs->nodes[ino];
	pthread_mutex_unlock(&fs->lock);
	return n;
}

void fs_node_forget(struct fs *fs, struct fs_node *node, uint64_t n)
{
	(void)fs;
	atomic_fetch_sub(&node->nlookup, n);
}

/* ---- repo snapshots ---- */

static void log_load_failure(const struct fs_repo *r, int rc,
			     const struct hub_error *err)
{
	char name[256];

	hub_repo_format(&r->repo, name, sizeof(name));
	if (rc == -EACCES)
		log_warn("%s: no access: %s", name, err->message);
	else if (rc == -ENOENT)
		log_dbg("%s: %s", name, err->message);
	else
		log_warn("%s: %s", name, err->message[0] ? err->message : strerror(-rc));
}

/*
 * Load or refresh @r's snapshot and publish how it went: runs on a helper
 * thread (or, when none can be made, on the caller's), with no lock held
 * while the Hub is asked, and within a deadline of its own, so that it
 * ends whether or not the request that started it still waits.
 */
static void load_repo(struct fs *fs, void *r_)
{
	struct fs_repo *r = r_;
	struct hub_error err = { 0 };
	struct fs_snapshot *fresh = NULL, *old = NULL;
	int64_t prev;
	int rc;

	pthread_mutex_lock(&r->lock);
	old = r->snap;
	if (old)
		fs_snapshot_ref(old);
	pthread_mutex_unlock(&r->lock);

	prev = hub_deadline_set(hub_now_ms() + fs->deps.hub_config->op_timeout_ms);
	rc = old ? fs_snapshot_refresh(&fs->env, old, &fresh, &err) :
		   fs_snapshot_load(&fs->env, &r->repo, &fresh, &err);
	hub_deadline_set(prev);

	pthread_mutex_lock(&r->lock);
	r->checked_at = now_secs();
	if (rc == 0 && fresh) {
		if (old)
			log_info("%s moved from %.12s to %.12s", fresh->repo_key,
				 old->commit, fresh->commit);
		fs_snapshot_unref(r->snap);
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
	fs_snapshot_unref(old);
	if (rc < 0)
		log_load_failure(r, rc, &err);
}

/*
 * The repo's snapshot now, (re)loading it when due. Returns a ref, or
 * -errno: the load's own error, or -EINTR / -ETIMEDOUT from @w when the
 * caller stops waiting (the load goes on for whoever asks next).
 */
static int repo_snapshot(struct fs *fs, const struct fs_wait *w, struct fs_repo *r,
			 struct fs_snapshot **out)
{
	bool waiting = false;
	unsigned gen = 0;
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		if (r->snap && (r->pinned ||
				now_secs() - r->checked_at < fs->opts.revision_ttl_secs))
			break;
		if (waiting && r->load_gen != gen) {
			/* The load this call waited for ended: its answer is ours. */
			rc = r->snap ? 0 : r->load_rc;
			break;
		}
		if (!r->loading) {
			r->loading = true;
			gen = r->load_gen;
			waiting = true;
			pthread_mutex_unlock(&r->lock);
			if (fs_helper_start(fs, load_repo, r) < 0)
				load_repo(fs, r);
			pthread_mutex_lock(&r->lock);
			continue;
		}
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
		fs_snapshot_ref(r->snap);
		*out = r->snap;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int fs_node_snapshot(struct fs *fs, const struct fs_wait *w, struct fs_node *node,
		     struct fs_snapshot **snap, uint32_t *entry)
{
	if (node->kind == NODE_REPO) {
		*entry = 0;
		return repo_snapshot(fs, w, node->repo, snap);
	}
	if (node->kind == NODE_ENTRY) {
		fs_snapshot_ref(node->snap);
		*snap = node->snap;
		*entry = node->entry;
		return 0;
	}
	return -EINVAL;
}

/* ---- lookup ---- */

/* A virtual child (type, org or repo directory) by its name. */
static struct fs_node *virtual_child(struct fs *fs, struct fs_node *parent,
				     const char *name, enum fs_node_kind kind,
				     enum hub_repo_type type,
				     const struct hub_repo *repo)
{
	char key[512];
	struct map_item *it;
	struct fs_node *n;

	snprintf(key, sizeof(key), "v/%lu/%s", (unsigned long)parent->ino, name);
	pthread_mutex_lock(&fs->lock);
	it = map_find(fs->names, key);
	if (it) {
		n = fs->nodes[it->value];
		pthread_mutex_unlock(&fs->lock);
		return n;
	}
	n = add_node(fs, kind, parent->ino, key);
	if (n) {
		n->type = type;
		n->name = strdup(name);
		if (repo)
			n->repo = repo_new(repo);
		if (!n->name || (repo && !n->repo)) {
			/* Leave the half-made node unreachable rather than unsafe. */
			n->kind = NODE_ORG;
			n = NULL;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return n;
}

static struct fs_node *entry_node(struct fs *fs, struct fs_node *parent,
				  struct fs_snapshot *snap, uint32_t index)
{
	char key[64];
	struct map_item *it;
	struct fs_node *n;

	snprintf(key, sizeof(key), "e/%p/%u", (void *)snap, index);
	pthread_mutex_lock(&fs->lock);
	it = map_find(fs->names, key);
	if (it) {
		n = fs->nodes[it->value];
		pthread_mutex_unlock(&fs->lock);
		return n;
	}
	n = add_node(fs, NODE_ENTRY, parent->ino, key);
	if (n) {
		n->type = parent->type;
		n->repo = parent->repo;
		n->snap = snap;
		n->entry = index;
		fs_snapshot_ref(snap);
	}
	pthread_mutex_unlock(&fs->lock);
	return n;
}

/* Failed repo lookups are remembered: tools probe names that do not exist. */
static bool negative_hit(struct fs *fs, const char *key, int *rc)
{
	struct map_item *it;
	bool hit = false;

	pthread_mutex_lock(&fs->lock);
	it = map_find(fs->negative, key);
	if (it && it->expires > now_secs()) {
		*rc = -(int)it->value;
		hit = true;
	}
	pthread_mutex_unlock(&fs->lock);
	return hit;
}

static void negative_put(struct fs *fs, const char *key, int rc)
{
	pthread_mutex_lock(&fs->lock);
	map_put(fs->negative, key, (uint64_t)-rc, now_secs() + fs->opts.negative_ttl_secs);
	pthread_mutex_unlock(&fs->lock);
}

/* "NAME@REV" (or "NAME") in directory @org_or_type → a repo node. */
static int lookup_repo(struct fs *fs, const struct fs_wait *w, struct fs_node *parent,
		       const char *id, const char *name, struct fs_node **out)
{
	struct hub_error err = { 0 };
	struct fs_snapshot *snap = NULL;
	struct hub_repo repo;
	struct fs_node *n;
	char key[512];
	int rc;

	rc = hub_repo_parse(id, parent->type, true, &repo, &err);
	if (rc < 0)
		return -ENOENT;
	repo.type = parent->type;
	snprintf(key, sizeof(key), "n/%s/%s@%s", hub_repo_type_name(repo.type), repo.id,
		 repo.revision);
	if (negative_hit(fs, key, &rc))
		return rc;
	n = virtual_child(fs, parent, name, NODE_REPO, parent->type, &repo);
	if (!n)
		return -ENOMEM;
	rc = repo_snapshot(fs, w, n->repo, &snap);
	if (rc < 0) {
		/* Not the caller's own impatience: the repo may well exist. */
		if (rc != -EINTR && rc != -ECANCELED)
			negative_put(fs, key, rc);
		return rc;
	}
	fs_snapshot_unref(snap);
	atomic_store(&n->found, true);
	*out = n;
	return 0;
}

int fs_lookup(struct fs *fs, const struct fs_wait *w, struct fs_node *parent,
	      const char *name, struct fs_node **out)
{
	struct fs_snapshot *snap = NULL;
	const struct fs_entry *e;
	char path[4096], id[300];
	struct fs_node *n = NULL;
	uint32_t dir;
	int rc = 0;

	switch (parent->kind) {
	case NODE_ROOT:
	case NODE_TYPE:
		if (parent->kind == NODE_ROOT &&
		    (strcmp(name, "datasets") == 0 || strcmp(name, "spaces") == 0)) {
			n = virtual_child(fs, parent, name, NODE_TYPE,
					  name[0] == 'd' ? HUB_REPO_DATASET : HUB_REPO_SPACE,
					  NULL);
			break;
		}
		if (strchr(name, '@')) {
			/* A legacy single-part id needs its @REV: "gpt2@main". */
			rc = lookup_repo(fs, w, parent, name, name, &n);
			if (rc < 0)
				return rc;
			break;
		}
		if (!hub_repo_id_is_valid(name) || strchr(name, '/'))
			return -ENOENT;
		n = virtual_child(fs, parent, name, NODE_ORG, parent->type, NULL);
		break;
	case NODE_ORG:
		if (snprintf(id, sizeof(id), "%s/%s", parent->name, name) >= (int)sizeof(id))
			return -ENAMETOOLONG;
		rc = lookup_repo(fs, w, parent, id, name, &n);
		if (rc < 0)
			return rc;
		break;
	case NODE_REPO:
	case NODE_ENTRY:
		rc = fs_node_snapshot(fs, w, parent, &snap, &dir);
		if (rc < 0)
			return rc;
		if (!snap->entries[dir].is_dir) {
			fs_snapshot_unref(snap);
			return -ENOTDIR;
		}
		if (snprintf(path, sizeof(path), "%s%s%s", snap->entries[dir].path,
			     dir ? "/" : "", name) >= (int)sizeof(path)) {
			fs_snapshot_unref(snap);
			return -ENAMETOOLONG;
		}
		e = fs_snapshot_find(snap, path);
		if (e && e->parent != FS_NO_PARENT)
			n = entry_node(fs, parent, snap, (uint32_t)(e - snap->entries));
		fs_snapshot_unref(snap);
		if (!e || e->parent == FS_NO_PARENT)
			return -ENOENT;
		break;
	}
	if (!n)
		return -ENOMEM;
	atomic_fetch_add(&n->nlookup, 1);
	*out = n;
	return 0;
}

/* ---- attributes ---- */

int fs_node_stat(struct fs *fs, const struct fs_wait *w, struct fs_node *node,
		 struct stat *st, double *timeout)
{
	struct fs_snapshot *snap;
	const struct fs_entry *e;
	uint32_t idx;
	int rc;

	memset(st, 0, sizeof(*st));
	st->st_ino = node->ino;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = 4096;
	if (node->kind == NODE_ROOT || node->kind == NODE_TYPE || node->kind == NODE_ORG) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		*timeout = VIRTUAL_TIMEOUT_SECS;
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
		struct cache_object_info info;
		struct cache_key key;

		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t)e->size;
		fs_entry_key(e, &key);
		cache_object_info(fs->deps.cache, &key, &info);
		/* du shows what is here; du --apparent-size what the Hub has. */
		st->st_blocks = (blkcnt_t)((info.cached_bytes + 511) / 512);
	}
	if (node->repo->pinned)
		*timeout = SHA_TIMEOUT_SECS;
	else
		*timeout = (double)fs->opts.revision_ttl_secs;
	fs_snapshot_unref(snap);
	return 0;
}

void fs_node_describe(struct fs *fs, struct fs_node *node, char *out, size_t size)
{
	struct fs_snapshot *snap;
	uint32_t idx;

	if ((node->kind != NODE_REPO && node->kind != NODE_ENTRY) ||
	    fs_node_snapshot(fs, NULL, node, &snap, &idx) < 0) {
		snprintf(out, size, "inode %lu", (unsigned long)node->ino);
		return;
	}
	snprintf(out, size, "%s@%s:%s", snap->repo_key,
		 snap->repo.revision[0] ? snap->repo.revision : "main",
		 snap->entries[idx].path);
	fs_snapshot_unref(snap);
}

/* ---- directory listings ---- */

struct dir_builder {
	struct fs_dirlist *l;
	size_t cap;
	int rc;
};

static void add_dirent(struct dir_builder *b, const char *name, fuse_ino_t ino,
		       bool is_dir)
{
	struct fs_dirent *d;

	if (b->rc < 0)
		return;
	for (size_t i = 0; i < b->l->n; i++) {
		if (strcmp(b->l->v[i].name, name) == 0)
			return; /* known both locally and from this session */
	}
	if (b->l->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 32;
		struct fs_dirent *p = realloc(b->l->v, cap * sizeof(*p));

		if (!p) {
			b->rc = -ENOMEM;
			return;
		}
		b->l->v = p;
		b->cap = cap;
	}
	d = &b->l->v[b->l->n];
	d->name = strdup(name);
	if (!d->name) {
		b->rc = -ENOMEM;
		return;
	}
	d->ino = ino;
	d->is_dir = is_dir;
	b->l->n++;
}

struct local_ctx {
	struct dir_builder *b;
	const char *type;   /* "model", ... */
	const char *org;    /* list repos of this org; NULL: list orgs */
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
		add_dirent(ctx->b, part, 0, true);
	} else if ((size_t)(slash - rest) == strlen(ctx->org) &&
		   strncmp(rest, ctx->org, (size_t)(slash - rest)) == 0) {
		add_dirent(ctx->b, slash + 1, 0, true);
	}
	return 0;
}

int fs_dir_list(struct fs *fs, const struct fs_wait *w, struct fs_node *dir,
		struct fs_dirlist *out)
{
	struct dir_builder b = { .l = out };
	struct fs_snapshot *snap;
	uint32_t idx;
	int rc;

	memset(out, 0, sizeof(*out));
	add_dirent(&b, ".", dir->ino, true);
	add_dirent(&b, "..", dir->parent ? dir->parent : dir->ino, true);
	if (dir->kind == NODE_REPO || dir->kind == NODE_ENTRY) {
		rc = fs_node_snapshot(fs, w, dir, &snap, &idx);
		if (rc < 0) {
			fs_dirlist_release(out);
			return rc;
		}
		if (!snap->entries[idx].is_dir) {
			fs_snapshot_unref(snap);
			fs_dirlist_release(out);
			return -ENOTDIR;
		}
		for (uint32_t c = snap->entries[idx].first_child; c != FS_NO_PARENT;
		     c = snap->entries[c].next_sibling)
			add_dirent(&b, snap->entries[c].name, 0, snap->entries[c].is_dir);
		fs_snapshot_unref(snap);
	} else {
		struct local_ctx ctx = {
			.b = &b,
			.type = hub_repo_type_name(dir->kind == NODE_ROOT ? HUB_REPO_MODEL :
						   dir->type),
			.org = dir->kind == NODE_ORG ? dir->name : NULL,
		};

		if (dir->kind == NODE_ROOT) {
			add_dirent(&b, "datasets", 0, true);
			add_dirent(&b, "spaces", 0, true);
		}
		cache_listings_each(cache_dir(fs->deps.cache), add_local, &ctx);
		/* And what this mount has looked up. */
		pthread_mutex_lock(&fs->lock);
		for (size_t i = 2; i < fs->n_nodes; i++) {
			struct fs_node *n = fs->nodes[i];

			if (n->parent == dir->ino && n->kind != NODE_ENTRY && n->name &&
			    (n->kind != NODE_REPO || atomic_load(&n->found)))
				add_dirent(&b, n->name, n->ino, true);
		}
		pthread_mutex_unlock(&fs->lock);
	}
	if (b.rc < 0)
		fs_dirlist_release(out);
	return b.rc;
}

void fs_dirlist_release(struct fs_dirlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
