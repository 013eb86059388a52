/* SPDX-License-Identifier: MIT */
/*
 * The mount's end on a signal (SIGTERM, SIGINT, SIGHUP), in two steps.
 *
 * libfuse's own handlers end the session loop at once. From then on nobody
 * reads /dev/fuse, and a push into the page cache (FUSE_NOTIFY_STORE,
 * push_ahead()) that meets a page a queued READ holds locked waits in the
 * kernel for an answer that never comes: the daemon, which waits for that
 * thread, never exited (a SIGTERM during a warm `cat` hung it in 3 of 3
 * runs, and in 1 of 20 once pushes checked for the end before each piece).
 *
 * Here the handler only wakes a thread of ours. It marks the mount ending
 * (fs_ending(): no push goes on, a request waiting for the Hub stops
 * waiting), waits for the pushes in flight, which end because the loop
 * still answers the reads they wait for, and then ends the loop.
 *
 * The handler's state is a pipe, global as handlers need it: one mount
 * per process. Installed like libfuse's, only over a default disposition
 * (a signal a shell's background job ignores stays ignored).
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/time.h"

/* How long the pushes in flight may take to end before the loop does anyway. */
#define PUSHES_END_MS 2000
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
	/* Seen by a push after it counted itself in n_pushing: it stops, or is waited for. */
	until = time_mono_ms() + PUSHES_END_MS;
	while (atomic_load(&fs->n_pushing) > 0 && time_mono_ms() < until)
		sleep_ms(5);
	if (atomic_load(&fs->n_pushing) > 0)
		log_warn("%u pushes into the page cache still run %d ms after the signal",
			 atomic_load(&fs->n_pushing), PUSHES_END_MS);
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
	fs->loop_thread = pthread_self();
	atomic_store(&fs->loop_ended, false);
	if (stop_pipe[0] < 0)
		return 0; /* no handlers (tests): libfuse's loop ends on unmount only */
	if (pthread_create(&fs->stopper, NULL, stopper_main, fs) != 0)
		return -EAGAIN;
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
