/* SPDX-License-Identifier: MIT */
/*
 * The mount's end on a signal (SIGTERM, SIGINT, SIGHUP), in two steps.
 *
 * libfuse's own handlers end the session loop at once. From then on nobody
 * reads /dev/fuse, and a push into the page cache (FUSE_NOTIFY_STORE,
 * push_ahead()) that meets a page a queued READ holds locked waits in the
 * kernel for an answer that never comes: the daemon, which waits for that
 * thread, never exited (a SIGTERM during a warm `cat` hung it within two
 * rounds in 4 runs of 4, and in 1 round of 20 once pushes checked for the
 * end before each piece).
 *
 * Here the handler only wakes a thread of ours. It marks the mount ending
 * (fs_ending(): no push goes on past its piece, a request waiting for the
 * Hub stops waiting), cancels the transfers and has the parked reads
 * answered, so that every READ a push may wait on is answered while the
 * loop still runs; it waits for the pushes in flight (at most a request's
 * deadline), and then ends the loop.
 *
 * The handler's state is a pipe, global as handlers need it: one mount
 * per process. Installed like libfuse's, only over a default disposition
 * (a signal a shell's background job ignores stays ignored).
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/time.h"

/* When pushes in flight that have not ended are said in the log. */
#define PUSHES_SAY_MS 2000
/* How often the loop's thread is woken until it has returned. */
#define LOOP_WAKE_MS 50

static const int stop_signals[] = { SIGHUP, SIGINT, SIGTERM };
static bool installed[sizeof(stop_signals) / sizeof(stop_signals[0])];
static bool pipe_ignored; /* SIGPIPE was ours to ignore */
static int stop_pipe[2] = { -1, -1 }; /* a byte per signal; 0: the thread's end */

static void on_stop_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	/* Non-blocking: a full pipe already holds a wake-up. */
	if (write(stop_pipe[1], &b, 1) < 0) {
		/* nothing to do in a handler */
	}
	errno = saved;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static bool is_default(int sig)
{
	struct sigaction old;

	return sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_DFL;
}

int fs_signals_set(void)
{
	struct sigaction sa;

	if (pipe2(stop_pipe, O_CLOEXEC) != 0)
		return -errno;
	if (fcntl(stop_pipe[1], F_SETFL, O_NONBLOCK) != 0) {
		int rc = -errno;

		fs_signals_remove();
		return rc;
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop_signal; /* no SA_RESTART: the loop's sem_wait() returns */
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++) {
		if (!is_default(stop_signals[i]))
			continue;
		if (sigaction(stop_signals[i], &sa, NULL) != 0) {
			int rc = -errno;

			fs_signals_remove();
			return rc;
		}
		installed[i] = true;
	}
	/* A reader gone from a pipe is an error to handle, not a death (as libfuse). */
	if (is_default(SIGPIPE)) {
		signal(SIGPIPE, SIG_IGN);
		pipe_ignored = true;
	}
	return 0;
}

void fs_signals_remove(void)
{
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++) {
		if (installed[i])
			signal(stop_signals[i], SIG_DFL);
		installed[i] = false;
	}
	if (pipe_ignored)
		signal(SIGPIPE, SIG_DFL);
	pipe_ignored = false;
	for (int i = 0; i < 2; i++) {
		if (stop_pipe[i] >= 0)
			close(stop_pipe[i]);
		stop_pipe[i] = -1;
	}
}

bool fs_ending(struct fs *fs)
{
	return atomic_load(&fs->ending) || atomic_load(&fs->stopping) ||
	       (fs->se && fuse_session_exited(fs->se));
}

static void *stopper_main(void *fs_)
{
	struct fs *fs = fs_;
	unsigned char sig = 0;
	int64_t until;

	for (;;) {
		ssize_t n = read(stop_pipe[0], &sig, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || sig == 0)
			return NULL; /* the mount ended otherwise: fs_stopper_stop() */
		break;
	}
	log_info("signal %d: the mount ends", sig);
	atomic_store(&fs->ending, true);
	/*
	 * Every READ a push may wait on is answered now, while the loop still
	 * reads /dev/fuse: the transfers end (a parked read's helper answers
	 * at once), the read-ahead's window closes, and the watcher answers
	 * what is still parked.
	 */
	hub_client_cancel(fs->deps.hub);
	fs_prefetch_cancel(fs);
	fs_parked_wake(fs);
	/*
	 * Seen by a push after it counted itself in n_pushing: it stops, or
	 * is waited for. Ending the loop under one is the hang above; the
	 * wait is bounded by a request's, and said after PUSHES_SAY_MS.
	 */
	until = time_mono_ms() + fs->deps.hub_config->op_timeout_ms + FS_WAIT_GRACE_MS;
	/*
	 * Not once the loop ended by itself (an unmount as the signal came):
	 * nobody answers those READs until the drainer starts, after this.
	 */
	for (int64_t said = time_mono_ms() + PUSHES_SAY_MS;
	     (atomic_load(&fs->n_pushing) > 0 || !fs_inval_close(fs, false)) &&
	     !atomic_load(&fs->loop_ended) && time_mono_ms() < until;
	     sleep_ms(5)) {
		if (said && time_mono_ms() >= said) {
			log_warn("%u pushes into the page cache (or a drop of pages) still run %d ms "
				 "after the signal; waiting for them",
				 atomic_load(&fs->n_pushing), PUSHES_SAY_MS);
			said = 0;
		}
	}
	if ((!fs_inval_close(fs, true) || atomic_load(&fs->n_pushing) > 0) &&
	    !atomic_load(&fs->loop_ended))
		log_err("pushes into the page cache or a drop of pages still run after %.0f s: "
			"the mount may not end until its readers close their files",
			(fs->deps.hub_config->op_timeout_ms + FS_WAIT_GRACE_MS) / 1000.0);
	fuse_session_exit(fs->se);
	/*
	 * The loop's thread sleeps in sem_wait(), which a signal interrupts;
	 * one may come just before it sleeps, so again until it has returned.
	 */
	while (!atomic_load(&fs->loop_ended)) {
		pthread_kill(fs->loop_thread, sig);
		sleep_ms(LOOP_WAKE_MS);
	}
	return NULL;
}

int fs_stopper_start(struct fs *fs)
{
	int rc;

	fs->loop_thread = pthread_self();
	atomic_store(&fs->loop_ended, false);
	if (stop_pipe[0] < 0)
		return 0; /* no handlers (tests): libfuse's loop ends on unmount only */
	rc = pthread_create(&fs->stopper, NULL, stopper_main, fs);
	if (rc != 0)
		return -rc;
	fs->stopper_on = true;
	return 0;
}

void fs_stopper_stop(struct fs *fs)
{
	unsigned char end = 0;

	atomic_store(&fs->loop_ended, true);
	if (!fs->stopper_on)
		return;
	/*
	 * A thread that already read its signal returns once loop_ended; a
	 * pipe too full for this byte holds a signal the thread will read.
	 */
	if (write(stop_pipe[1], &end, 1) < 0) {
		/* as above */
	}
	pthread_join(fs->stopper, NULL);
	fs->stopper_on = false;
}

/*
 * After the session loop: nobody else reads /dev/fuse, and a notification
 * still in the kernel (a drop of pages from fs/inval.c, which a refusal at
 * the mount's end asks for; a push) waits for a page a queued READ holds
 * locked. The unmount does not end that READ while its reader keeps the
 * file open, and the descriptor's close does not abort the connection
 * while the notification holds it: the daemon waited for good (a SIGTERM
 * during a cold `cat`, 4 rounds of 8 even with the pushes stopped first).
 * This thread answers every request that still comes with ECONNABORTED,
 * from a descriptor of its own, until fs_drainer_stop().
 */

/* The largest request: a WRITE of max_write bytes and its headers (the kernel's rule). */
#define DRAIN_BUF_SIZE (FS_MAX_WRITE + 8192)
#define DRAIN_POLL_MS 50

static bool needs_no_answer(uint32_t opcode)
{
	return opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET ||
	       opcode == FUSE_INTERRUPT || opcode == FUSE_NOTIFY_REPLY;
}

static void *drainer_main(void *fs_)
{
	struct fs *fs = fs_;
	struct pollfd pfd = { .fd = fs->drain_fd, .events = POLLIN };
	char *buf = malloc(DRAIN_BUF_SIZE);
	unsigned answered = 0;

	while (buf && !atomic_load(&fs->drain_stop)) {
		struct fuse_in_header in;
		struct fuse_out_header out;
		ssize_t n;

		if (poll(&pfd, 1, DRAIN_POLL_MS) <= 0 || !(pfd.revents & POLLIN)) {
			if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
				break; /* the connection is gone */
			continue;
		}
		n = read(fs->drain_fd, buf, DRAIN_BUF_SIZE);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOENT))
			continue; /* ENOENT: the request was interrupted meanwhile */
		if (n < (ssize_t)sizeof(in))
			break;
		memcpy(&in, buf, sizeof(in));
		if (needs_no_answer(in.opcode))
			continue;
		out = (struct fuse_out_header){ .len = sizeof(out), .error = -ECONNABORTED,
						.unique = in.unique };
		if (write(fs->drain_fd, &out, sizeof(out)) == (ssize_t)sizeof(out))
			answered++;
	}
	free(buf);
	if (answered)
		log_info("answered %u requests that came after the end (ECONNABORTED)", answered);
	return NULL;
}

void fs_drainer_start(struct fs *fs)
{
	int fd = fs->se ? fuse_session_fd(fs->se) : -1;

	fs->drain_fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (fs->drain_fd < 0)
		return;
	/*
	 * A request may leave the queue between poll() and read() (its
	 * reader killed, an INTERRUPT whose READ was answered): a blocking
	 * read would then wait for the next, which may never come. Shared
	 * with libfuse's descriptor, which after the loop only writes.
	 */
	if (fcntl(fs->drain_fd, F_SETFL, fcntl(fs->drain_fd, F_GETFL) | O_NONBLOCK) != 0)
		log_warn("cannot make the drainer's descriptor non-blocking: %s", strerror(errno));
	atomic_store(&fs->drain_stop, false);
	if (pthread_create(&fs->drainer, NULL, drainer_main, fs) != 0) {
		log_warn("no thread to answer the requests after the end: a drop of pages "
			 "may wait for the reader to close its file");
		close(fs->drain_fd);
		fs->drain_fd = -1;
		return;
	}
	fs->drainer_on = true;
}

void fs_drainer_stop(struct fs *fs)
{
	if (fs->drainer_on) {
		atomic_store(&fs->drain_stop, true);
		pthread_join(fs->drainer, NULL);
		fs->drainer_on = false;
	}
	if (fs->drain_fd >= 0)
		close(fs->drain_fd); /* the last hold on the connection: the kernel aborts it */
	fs->drain_fd = -1;
}
