/* SPDX-License-Identifier: MIT */
/*
 * `hubfs download`: fill the verified cache with a repo's files (all, or
 * those the patterns select), with parallel block transfers, and
 * optionally write real, verified files into a directory.
 *
 * Transfers: one thread per place in the window (--jobs, the cap), each
 * fetching whole cache blocks (one ranged request each, on a pooled
 * connection); how many run at once is a hub_pace window that widens
 * while throughput grows and narrows when the server pushes back.
 *
 * Resuming is free: blocks already in the cache are not fetched again and
 * verified files are skipped, so an interrupted download simply runs
 * again.
 *
 * A Hub that answers nothing is given up on (cli_silence_failed()): the
 * transfers in flight are cancelled, every later one fails at once (a
 * block already on disk still counts), and the files not complete are
 * reported in one line as not fetched (exit 5).
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "repo/snapshot.h"
#include "hub/pace.h"
#include "util/digest.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/pattern.h"
#include "util/size.h"
#include "util/time.h"
#include "util/workers.h"

#define MAX_JOBS 64
#define DEFAULT_JOBS 32   /* the cap; the window starts at FIRST_WINDOW */
#define FIRST_WINDOW 16

struct download;

struct dl_file {
	const struct repo_entry *entry;
	struct cache_key key;
	struct repo_source source;
	struct cache_source src;
	struct cache_source counted; /* src, each byte counted in the progress as it comes */
	struct download *dl;
	size_t first_work;        /* its blocks' progress: dl->block_bytes[first_work + k] */
	atomic_uint blocks_left;  /* blocks still to fetch */
	atomic_bool failed;
	pthread_mutex_t lock;     /* guards error, error_rc and given_up */
	char error[600];
	int error_rc;             /* the Hub's or the cache's -errno of the first reason; 0: ours */
	bool given_up;            /* the first reason: the download gave up on the Hub */
	bool done;                /* verified (and written out) */
};

struct dl_work {
	uint32_t file;
	uint32_t block;
};

/*
 * Every file's first block before any file's second: small files (most
 * of a dataset, the configs and tokenizers of a model) start at once
 * instead of after the big files listed before them, and a big file's
 * blocks still come in order.
 */
static int by_block_then_file(const void *a_, const void *b_)
{
	const struct dl_work *a = a_, *b = b_;

	if (a->block != b->block)
		return a->block < b->block ? -1 : 1;
	return a->file < b->file ? -1 : a->file > b->file;
}

struct download {
	bool cache_only;           /* cache export: offline, and says "not in the cache" */
	struct repo_env env;
	struct repo_snapshot *snap;
	struct dl_file *files;
	size_t n_files;
	struct dl_work *work;
	size_t n_work;
	struct hub_pace *pace;   /* how many transfers run at once */
	atomic_size_t next_work;
	const char *local_dir;
	char hf_repo_dir[4096];  /* --hf-cache: huggingface_hub's folder of the repo, or "" */
	/* progress */
	uint64_t total_bytes;
	atomic_uint_fast64_t done_bytes;   /* present or fetched, counted as they arrive */
	atomic_uint_fast64_t *block_bytes; /* per block of the plan: what it added so far */
	atomic_uint_fast64_t fetched_bytes;
	atomic_uint_fast64_t received_bytes; /* from the network, only ever growing */
	atomic_size_t files_done, files_failed;
	struct cli_silence silence;        /* of the Hub, over --op-timeout */
	uint64_t start_bytes;      /* cached when it began, in part or verified */
	uint64_t verified_bytes;   /* of files verified when it began: nothing to go through */
	struct timespec start;
	int progress;                      /* 0 none, 1 periodic lines, 2 tty bar */
	/* The transfers ended: the progress thread's tick ends now, not at its next one. */
	pthread_mutex_t finish_lock;
	pthread_cond_t finish_cond;
	bool finished;                     /* guarded by finish_lock */
};

/*
 * --include or --exclude: huggingface_hub's allow_patterns or
 * ignore_patterns, as many as given, matched as the library matches them
 * (util/pattern.h).
 */
struct patterns {
	struct pattern_hf **p;
	size_t n;
};

static int patterns_add(struct patterns *l, const char *glob)
{
	struct pattern_hf **p = realloc(l->p, (l->n + 1) * sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	l->p = p;
	rc = pattern_hf_compile(glob, &l->p[l->n]);
	if (rc == 0)
		l->n++;
	return rc;
}

static bool patterns_match(const struct patterns *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++) {
		if (pattern_hf_match(l->p[i], path))
			return true;
	}
	return false;
}

static void patterns_free(struct patterns *l)
{
	for (size_t i = 0; i < l->n; i++)
		pattern_hf_free(l->p[i]);
	free(l->p);
}

/*
 * Progress as the bytes come, not a whole block (4 MiB) at a time: at 30
 * MB/s the bar said "0% 20.2 KiB / 55.5 MiB, ETA 37:32" of a download that
 * took 3 s. The source of fetch_blocks() counts what passes on its way to
 * the cache's sink; the block's count is set right once it is in.
 */
struct counting_sink {
	cache_sink_fn sink;
	void *sink_ctx;
	struct download *dl;
	atomic_uint_fast64_t *block_bytes;
};

static int count_bytes(void *cs_, uint64_t offset, const void *data, size_t len)
{
	struct counting_sink *cs = cs_;

	atomic_fetch_add(cs->block_bytes, len);
	atomic_fetch_add(&cs->dl->done_bytes, len);
	atomic_fetch_add(&cs->dl->received_bytes, len);
	return cs->sink(cs->sink_ctx, offset, data, len);
}

static int counted_fetch_stream(void *f_, const struct cache_key *key, uint64_t offset,
				size_t len, cache_sink_fn sink, void *sink_ctx,
				struct cache_error *err)
{
	struct dl_file *f = f_;
	struct counting_sink cs = {
		.sink = sink, .sink_ctx = sink_ctx, .dl = f->dl,
		.block_bytes = &f->dl->block_bytes[f->first_work + offset / CACHE_BLOCK_SIZE],
	};

	return f->src.fetch_stream(f->src.ctx, key, offset, len, count_bytes, &cs, err);
}

static int counted_fetch(void *f_, const struct cache_key *key, uint64_t offset, size_t len,
			 void *out, struct cache_error *err)
{
	struct dl_file *f = f_;
	int rc = f->src.fetch(f->src.ctx, key, offset, len, out, err);

	if (rc == 0) {
		atomic_fetch_add(&f->dl->block_bytes[f->first_work + offset / CACHE_BLOCK_SIZE], len);
		atomic_fetch_add(&f->dl->done_bytes, len);
		atomic_fetch_add(&f->dl->received_bytes, len);
	}
	return rc;
}

/*
 * Block @k of @f is gone through, @ok or not: what it added to the
 * progress becomes its length (a block already cached added nothing, a
 * retried transfer some bytes twice), or nothing when it failed.
 */
static void block_counted(struct download *dl, struct dl_file *f, uint32_t k, uint64_t len,
			  bool ok)
{
	uint64_t added = atomic_exchange(&dl->block_bytes[f->first_work + k], 0);
	uint64_t want = ok ? len : 0;

	if (want > added)
		atomic_fetch_add(&dl->done_bytes, want - added);
	else
		atomic_fetch_sub(&dl->done_bytes, added - want);
}

/*
 * Keep the first reason @f failed: @rc, @prefix then @detail; with @ours,
 * the error is this machine's (exit 1 whatever the errno). Once the
 * download gave up on the Hub every transfer fails with ECANCELED, a
 * fetch made again (a block evicted under a shared cap) too: that reason
 * is said once for all such files (download_report()).
 */
static void file_fail(struct download *dl, struct dl_file *f, int rc, bool ours,
		      const char *prefix, const char *detail)
{
	bool given_up = rc == -ECANCELED && cli_silence_gave_up(&dl->silence);

	pthread_mutex_lock(&f->lock);
	if (!f->error[0] && given_up) {
		snprintf(f->error, sizeof(f->error), "not fetched: the download gave up on the Hub");
		f->error_rc = -ETIMEDOUT;
		f->given_up = true;
	} else if (!f->error[0]) {
		snprintf(f->error, sizeof(f->error), "%s%s", prefix, detail);
		f->error_rc = ours ? 0 : rc;
	}
	pthread_mutex_unlock(&f->lock);
	atomic_store(&f->failed, true);
}

/* Copy a verified object out of the cache into DIR/path, atomically. */
static int write_local(struct download *dl, struct dl_file *f)
{
	char path[PATH_MAX], dir[PATH_MAX];
	const char *slash;
	struct stat st;
	int rc;

	if (snprintf(path, sizeof(path), "%s/%s", dl->local_dir, f->entry->path) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	/* A run killed while writing it left "<path>.tmp.<pid>.<n>", up to a whole file. */
	cli_remove_stale_tmps(dl->local_dir, f->entry->path);
	if (cli_file_holds(path, &f->key))
		return 0;
	/* huggingface_hub replaces it too, but says nothing: say which. */
	if (lstat(path, &st) == 0)
		log_warn("%s: replaced: its content was not the Hub's %s", path,
			 f->entry->path);
	/*
	 * Its folders below DIR, made or found, never through a link: one
	 * there (DIR/extra -> elsewhere) had the file written, and a file of
	 * the same name replaced, outside DIR (a helper's review). Modes are
	 * 0777 less the umask, as huggingface_hub makes them.
	 */
	slash = strrchr(f->entry->path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - f->entry->path) : 0,
		 f->entry->path);
	rc = fileio_mkdirs(dl->local_dir, 0777); /* DIR itself may be a link: the user's */
	if (rc == 0)
		rc = fileio_mkdirs_beneath(dl->local_dir, dir, 0777);
	/* No fsync per file, as huggingface_hub: it cost 3,068 of them on a dataset. */
	return rc < 0 ? rc : cli_copy_object(dl->env.cache, &f->key, &f->src, path);
}

/* All blocks of @f are in: verify it (cache_fill fetches nothing more). */
static void finish_file(struct download *dl, struct dl_file *f)
{
	struct cache_error cerr = { 0 };
	int rc;

	if (atomic_load(&f->failed))
		goto failed;
	rc = cache_fill(dl->env.cache, &f->key, &f->src, &cerr);
	if (rc < 0) {
		file_fail(dl, f, rc, false, "", cerr.message[0] ? cerr.message : strerror(-rc));
		goto failed;
	}
	rc = dl->local_dir ? write_local(dl, f) : 0;
	if (rc < 0) {
		file_fail(dl, f, rc, true, "cannot write it to the local dir: ", strerror(-rc));
		goto failed;
	}
	rc = dl->hf_repo_dir[0] ? cli_hf_export_file(dl->hf_repo_dir, dl->snap, f->entry,
						     dl->env.cache, &f->src) : 0;
	if (rc < 0) {
		file_fail(dl, f, rc, true, "cannot write it to huggingface_hub's cache: ",
			  strerror(-rc));
		goto failed;
	}
	f->done = true;
	atomic_fetch_add(&dl->files_done, 1);
	return;
failed:
	atomic_fetch_add(&dl->files_failed, 1);
}

/* A worker: the next unit of work until none is left. */
static void fetch_blocks(void *dl_)
{
	struct download *dl = dl_;

	/*
	 * The place first, then the work: blocks start in order, whichever
	 * thread has the place, and the running hash never waits long for
	 * one block that the others overtook. A thread keeps its place for
	 * its next block when it can (hub_pace_next()), not while it
	 * verifies a file.
	 */
	hub_pace_acquire(dl->pace, 0);
	for (;;) {
		struct cache_error cerr = { 0 };
		struct dl_file *f;
		uint64_t len = 0;
		size_t i;
		int rc;

		i = atomic_fetch_add(&dl->next_work, 1);
		if (i >= dl->n_work) {
			hub_pace_release(dl->pace, 0);
			break;
		}
		f = &dl->files[dl->work[i].file];
		if (!atomic_load(&f->failed)) {
			uint32_t k = dl->work[i].block;

			len = f->entry->size - (uint64_t)k * CACHE_BLOCK_SIZE;
			if (len > CACHE_BLOCK_SIZE)
				len = CACHE_BLOCK_SIZE;
			rc = cache_prefetch(dl->env.cache, &f->key, &f->counted, k, &cerr);
			hub_pace_backlog(dl->pace, cache_hash_backlog(dl->env.cache, &f->key));
			block_counted(dl, f, k, len, rc == 0);
			if (rc < 0) {
				const char *why = cerr.message[0] ? cerr.message : strerror(-rc);

				if (cli_silence_failed(&dl->silence,
						       atomic_load(&dl->received_bytes), rc, why)) {
					/* What still waits, and what would wait for a place. */
					hub_client_cancel(dl->env.hub);
					hub_pace_close(dl->pace);
				}
				file_fail(dl, f, rc, false, "", why);
				len = 0;
			}
		}
		if (atomic_fetch_sub(&f->blocks_left, 1) == 1) {
			hub_pace_release(dl->pace, len);
			finish_file(dl, f);
			hub_pace_acquire(dl->pace, 0);
		} else {
			hub_pace_next(dl->pace, len, 0);
		}
	}
}

static double elapsed(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) +
	       (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

static void print_progress(struct download *dl, bool last)
{
	uint64_t done = atomic_load(&dl->done_bytes);
	double secs = elapsed(&dl->start);
	double rate = secs > 0 && done > dl->start_bytes ?
			      (double)(done - dl->start_bytes) / secs : 0;
	char a[32], b[32], r[32], eta[32] = "--:--";
	size_t files = atomic_load(&dl->files_done) + atomic_load(&dl->files_failed);
	int pct = dl->total_bytes ? (int)(100.0 * (double)done / (double)dl->total_bytes) : 100;

	size_format(done, a, sizeof(a));
	size_format(dl->total_bytes, b, sizeof(b));
	size_format((uint64_t)rate, r, sizeof(r));
	if (rate > 0 && done < dl->total_bytes) {
		uint64_t left = (uint64_t)((double)(dl->total_bytes - done) / rate);

		snprintf(eta, sizeof(eta), "%02" PRIu64 ":%02" PRIu64, left / 60, left % 60);
	}
	if (dl->progress == 2) {
		char bar[31];
		int fill = pct * 30 / 100;

		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(30 - fill));
		bar[30] = '\0';
		fprintf(stderr, "\r[%s] %3d%% %s / %s  %s/s  ETA %s  files %zu/%zu \033[K%s",
			bar, pct, a, b, r, eta, files, dl->n_files, last ? "\n" : "");
	} else {
		fprintf(stderr, "hubfs: %3d%% %s / %s, %s/s, ETA %s, files %zu/%zu\n", pct,
			a, b, r, eta, files, dl->n_files);
	}
	fflush(stderr);
}

#define PROGRESS_TICK_MS 200

/*
 * A tick at a time until the transfers end. Woken by the end, not slept
 * through: a sleep of a whole tick kept every download (a 15 ms one of a
 * small file too) until the next tick after its end.
 */
static void show_progress(void *dl_)
{
	struct download *dl = dl_;
	int n = 0;

	pthread_mutex_lock(&dl->finish_lock);
	while (!dl->finished) {
		if (time_cond_wait_ms(&dl->finish_cond, &dl->finish_lock, PROGRESS_TICK_MS) == 0)
			continue; /* the end, or a spurious wake */
		pthread_mutex_unlock(&dl->finish_lock);
		/* A terminal gets a live bar; a log gets a line every 5 s. */
		if (dl->progress == 2 || ++n % 25 == 0)
			print_progress(dl, false);
		pthread_mutex_lock(&dl->finish_lock);
	}
	pthread_mutex_unlock(&dl->finish_lock);
}

static void download_usage(FILE *out)
{
	fprintf(out,
		"usage: hubfs download REPO[@REV] [options]\n"
		"  --include GLOB      only files matching (repeatable; 'dir/' = below dir)\n"
		"  --exclude GLOB      not files matching (repeatable); globs are matched as\n"
		"                      huggingface_hub's allow/ignore_patterns: '*' crosses '/'\n"
		"  --local-dir DIR     also write real, verified files into DIR\n"
		"  --hf-cache          also write them into huggingface_hub's cache (HF_HUB_CACHE,\n"
		"                      else $HF_HOME/hub): from_pretrained() finds them offline\n"
		"  --jobs N            at most N transfers at once (default %d); how many run\n"
		"                      adapts below that: more while throughput grows, fewer\n"
		"                      when the server answers 429/503, throughput falls or\n"
		"                      a file's hash falls behind (the CPU is the limit)\n"
		"  --max-streams N     the same as --jobs\n"
		"  --dry-run           print what would be fetched, fetch nothing\n"
		"  --quiet             no progress\n"
		"  --cache-dir DIR, --type TYPE, --endpoint URL, --token-file FILE, --offline\n"
		CLI_HUB_OPTS_HELP,
		DEFAULT_JOBS);
}

/*
 * --hf-cache: huggingface_hub's folder of the repo into dl->hf_repo_dir,
 * named after the id as the user spelled it, as the library names it (and
 * looks it up offline): hf_hub_download("HubFS-Test/Tiny-Model") uses
 * models--HubFS-Test--Tiny-Model, whatever the Hub's spelling.
 */
static int find_hf_repo_dir(struct download *dl)
{
	struct hub_repo asked = dl->snap->repo;
	char root[4096];
	int rc = repo_hf_hub_cache_path(root, sizeof(root));

	memcpy(asked.id, dl->snap->asked_id, sizeof(asked.id));
	if (rc == 0)
		rc = repo_hf_repo_dir(root, &asked, dl->hf_repo_dir, sizeof(dl->hf_repo_dir));
	return rc;
}

/*
 * The files of the snapshot that the patterns select, and their missing
 * blocks as units of work in the order they are fetched; with @dry_run,
 * a line for each file instead of work. 0 or -ENOMEM.
 */
static int plan_download(struct download *dl, const struct patterns *include,
			 const struct patterns *exclude, bool dry_run)
{
	dl->files = calloc(dl->snap->n_entries, sizeof(*dl->files));
	dl->work = calloc(1, sizeof(*dl->work));
	if (!dl->files || !dl->work)
		return -ENOMEM;
	for (size_t i = 0; i < dl->snap->n_entries; i++) {
		const struct repo_entry *e = &dl->snap->entries[i];
		struct cache_object_info info;
		struct dl_file *f;
		uint32_t blocks;

		if (e->is_dir || e->parent == REPO_NO_ENTRY ||
		    (include->n && !patterns_match(include, e->path)) ||
		    patterns_match(exclude, e->path))
			continue;
		f = &dl->files[dl->n_files++];
		f->entry = e;
		pthread_mutex_init(&f->lock, NULL);
		repo_entry_key(e, &f->key);
		repo_source_init(&f->source, dl->env.hub, dl->snap, e, &f->src);
		f->dl = dl;
		f->first_work = dl->n_work;
		f->counted = (struct cache_source){ .fetch = counted_fetch,
						    .fetch_stream = counted_fetch_stream,
						    .ctx = f };
		cache_object_info(dl->env.cache, &f->key, &info);
		dl->total_bytes += e->size;
		dl->start_bytes += info.verified ? e->size : info.cached_bytes;
		dl->verified_bytes += info.verified ? e->size : 0;
		if (dry_run) {
			char s[32];

			size_format(info.verified ? 0 : e->size - info.cached_bytes, s, sizeof(s));
			printf("%10s  %s%s\n", s, e->path, info.verified ? "  (cached)" : "");
			continue;
		}
		blocks = info.verified ? 0 : cache_blocks_for(e->size);
		atomic_init(&f->blocks_left, blocks);
		if (blocks) {
			struct dl_work *w = realloc(dl->work, (dl->n_work + blocks) * sizeof(*w));

			if (!w)
				return -ENOMEM;
			dl->work = w;
			for (uint32_t k = 0; k < blocks; k++)
				dl->work[dl->n_work++] = (struct dl_work){ (uint32_t)(f - dl->files), k };
		}
	}
	qsort(dl->work, dl->n_work, sizeof(*dl->work), by_block_then_file);
	dl->block_bytes = calloc(dl->n_work ? dl->n_work : 1, sizeof(*dl->block_bytes));
	return dl->block_bytes ? 0 : -ENOMEM;
}

/*
 * Fetch the planned blocks on up to @jobs threads (on this one when no
 * thread can be had), dl->pace deciding how many transfer at once, with
 * progress on one more thread (none when it cannot start).
 */
static void download_run(struct download *dl, long jobs)
{
	struct workers *progress = NULL;

	/* Every block of a file not verified is counted as it is gone through. */
	atomic_init(&dl->done_bytes, dl->verified_bytes);
	clock_gettime(CLOCK_MONOTONIC, &dl->start);
	pthread_mutex_init(&dl->finish_lock, NULL);
	pthread_cond_init(&dl->finish_cond, NULL);
	dl->finished = false;
	/* Without a thread for it, no live progress: the last line still comes. */
	if (dl->progress)
		workers_start(1, 1, show_progress, dl, &progress);
	/* Files with nothing to fetch (verified, or empty) are finished here. */
	for (size_t i = 0; i < dl->n_files; i++) {
		if (atomic_load(&dl->files[i].blocks_left) == 0)
			finish_file(dl, &dl->files[i]);
	}
	hub_client_set_pace(dl->env.hub, dl->pace);
	if ((size_t)jobs > dl->n_work)
		jobs = (long)dl->n_work;
	cli_silence_start(&dl->silence, atomic_load(&dl->received_bytes));
	workers_run((unsigned)jobs, fetch_blocks, dl);
	hub_client_set_pace(dl->env.hub, NULL);
	pthread_mutex_lock(&dl->finish_lock);
	dl->finished = true;
	pthread_cond_signal(&dl->finish_cond);
	pthread_mutex_unlock(&dl->finish_lock);
	workers_join(progress);
	pthread_cond_destroy(&dl->finish_cond);
	pthread_mutex_destroy(&dl->finish_lock);
	if (dl->progress)
		print_progress(dl, true);
}

/* What came of it, on stderr (@cap: --jobs), and the ref. Returns the exit code. */
static int download_report(struct download *dl, long cap, bool quiet)
{
	char s[32];
	int rc;

	if (dl->progress) {
		struct hub_pace_stats ps;

		hub_pace_stats(dl->pace, &ps);
		fprintf(stderr, "hubfs: transfers at once: at most %u (cap %ld), %u at the end; "
			"the server pushed back %" PRIu64 " times; narrowed %" PRIu64
			" times for the hash\n", ps.peak_window, cap, ps.window, ps.congestions,
			ps.backlogs);
	}
	if (atomic_load(&dl->files_failed)) {
		size_t given_up = 0;
		int code = -1;

		fprintf(stderr, "hubfs: %zu of %zu files failed:\n", atomic_load(&dl->files_failed),
			dl->n_files);
		for (size_t i = 0; i < dl->n_files; i++) {
			const struct dl_file *f = &dl->files[i];
			bool absent = dl->cache_only && f->error_rc == -ENETDOWN;
			/* Not in the cache, for cache export: a file that failed (1). */
			int c = absent ? CLI_EXIT_FAIL : cli_exit_code(f->error_rc);

			if (f->done)
				continue;
			code = code < 0 || code == c ? c : CLI_EXIT_FAIL;
			if (f->given_up) {
				given_up++; /* one line for them all, below */
				continue;
			}
			fprintf(stderr, "  %s: %s\n", f->entry->path,
				absent ? "not in the cache (cache export reads only the cache)" :
				f->error[0] ? f->error : "failed");
		}
		if (given_up)
			fprintf(stderr, "  %zu file%s not fetched: %s\n", given_up,
				given_up == 1 ? "" : "s", dl->silence.why);
		/*
		 * One reason for every file that failed (a gated repo without
		 * access, the Hub away): its own code, as a command that asked
		 * the Hub once would say. Else 1.
		 */
		return code > 0 ? code : CLI_EXIT_FAIL;
	}
	/* The ref last: a snapshot folder is complete once a ref names it. */
	rc = dl->hf_repo_dir[0] ? cli_hf_export_ref(dl->hf_repo_dir, dl->snap) : 0;
	if (rc < 0) {
		fprintf(stderr, "hubfs: cannot write the ref in %s: %s\n", dl->hf_repo_dir,
			strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	if (!quiet) {
		size_format(dl->total_bytes, s, sizeof(s));
		fprintf(stderr, "hubfs: %zu files, %s, verified in the cache%s%s%s%s\n",
			dl->n_files, s, dl->local_dir ? " and written to " : "",
			dl->local_dir ? dl->local_dir : "",
			dl->hf_repo_dir[0] ? " and to " : "", dl->hf_repo_dir);
	}
	return CLI_EXIT_OK;
}

int cmd_download(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "include", required_argument, NULL, 'i' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "local-dir", required_argument, NULL, 'L' },
		{ "hf-cache", no_argument, NULL, 'H' },
		{ "cache-only", no_argument, NULL, 'E' }, /* cache export's, not shown */
		{ "jobs", required_argument, NULL, 'j' },
		{ "max-streams", required_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "cache-dir", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		CLI_HUB_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct patterns include = { 0 }, exclude = { 0 };
	struct download dl = { 0 };
	struct cli_hub_opts o = CLI_HUB_OPTS_INIT;
	struct hub_config cfg = { 0 };
	const char *cache_dir_opt = NULL;
	bool dry_run = false, quiet = false, hf_cache = false, help = false;
	long jobs = DEFAULT_JOBS;
	int c, rc, exit_code = CLI_EXIT_OK;
	char *end;

	optind = 1;
	while (exit_code == CLI_EXIT_OK && !help &&
	       (c = cli_getopt(&o, argc, argv, "", longopts)) != -1) {
		switch (c) {
		case 'i':
		case 'x':
			/* No cap: huggingface_hub has none. */
			rc = patterns_add(c == 'i' ? &include : &exclude, optarg);
			if (rc < 0)
				exit_code = cli_report(rc, NULL);
			break;
		case 'L': dl.local_dir = optarg; break;
		case 'H': hf_cache = true; break;
		case 'E':
			dl.cache_only = true;
			o.ovr.offline = true;
			break;
		case 'j':
			jobs = strtol(optarg, &end, 10);
			if (*end || jobs < 1 || jobs > MAX_JOBS) {
				fprintf(stderr, "hubfs: --jobs (--max-streams) must be 1..%d\n",
					MAX_JOBS);
				exit_code = CLI_EXIT_USAGE;
			}
			break;
		case 'n': dry_run = true; break;
		case 'q': quiet = true; break;
		case 'C': cache_dir_opt = optarg; break;
		case 'h': help = true; break;
		case CLI_OPT_BAD: exit_code = CLI_EXIT_USAGE; break;
		default:
			download_usage(stderr);
			exit_code = CLI_EXIT_USAGE;
		}
	}
	if (help) {
		download_usage(stdout);
		goto out_patterns;
	}
	if (exit_code == CLI_EXIT_OK && argc - optind != 1) {
		download_usage(stderr);
		exit_code = CLI_EXIT_USAGE;
	}
	if (exit_code != CLI_EXIT_OK)
		goto out_patterns;
	exit_code = cli_snapshot_open(&o, argv[optind], cache_dir_opt, &dl.env, &cfg, &dl.snap);
	if (exit_code)
		goto out_patterns;
	cli_silence_init(&dl.silence, cfg.op_timeout_ms);
	rc = hf_cache ? find_hf_repo_dir(&dl) : 0;
	if (rc == 0)
		rc = plan_download(&dl, &include, &exclude, dry_run);
	if (rc < 0) {
		exit_code = cli_report(rc, NULL);
		goto out;
	}
	if (dry_run) {
		char a[32], b[32];

		size_format(dl.total_bytes - dl.start_bytes, a, sizeof(a));
		size_format(dl.total_bytes, b, sizeof(b));
		printf("%zu files, %s of %s to fetch (%s@%.12s)\n", dl.n_files, a, b,
		       dl.snap->repo_key, dl.snap->commit);
		goto out;
	}
	if (dl.n_files == 0)
		fprintf(stderr, "hubfs: no file of %s matches\n", dl.snap->repo_key);
	rc = hub_pace_new(&(struct hub_pace_opts){ .initial = FIRST_WINDOW,
						   .probe_ms = HUB_PACE_PROBE_MS,
						   .max = (unsigned)jobs,
						   .consumed = cache_hashed_bytes,
						   .consumed_ctx = dl.env.cache }, &dl.pace);
	if (rc < 0) {
		exit_code = cli_report(rc, NULL);
		goto out;
	}
	dl.progress = quiet ? 0 : isatty(STDERR_FILENO) ? 2 : 1;
	download_run(&dl, jobs);
	exit_code = download_report(&dl, jobs, quiet);
out:
	for (size_t i = 0; i < dl.n_files; i++)
		pthread_mutex_destroy(&dl.files[i].lock);
	free(dl.files);
	free(dl.work);
	free(dl.block_bytes);
	hub_pace_free(dl.pace);
	cli_silence_destroy(&dl.silence);
	cli_snapshot_close(&dl.env, &cfg, dl.snap);
out_patterns:
	patterns_free(&include);
	patterns_free(&exclude);
	return exit_code;
}
