/*
 * bench_fuse_floor: a FUSE file system that does nothing but answer reads,
 * for what FUSE itself costs on this kernel (bench_read.sh, issue #11).
 *
 *   bench_fuse_floor MOUNTPOINT SIZE_MIB [--async]
 *
 * One file, /data, of SIZE_MIB MiB. Each read is answered from one static
 * buffer, with no cache, no hash and no network behind it: a cold read
 * through hubfs has to do at least this on top of a download. The mount is
 * set up as hubfs's is (1 MiB requests and read-ahead, synchronous reads,
 * the page cache kept), so the kernel does the same work for both; --async
 * lets the kernel read ahead in the background instead, whichever is
 * cheaper being the floor. Runs in the foreground until unmounted.
 */
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DATA_INO 2
#define REPLY_MAX (1u << 20)

static const char data_name[] = "data";
static off_t data_size;
static int async_reads;
static char reply[REPLY_MAX];

static void fill_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = data_size;
	}
}

static void floor_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->max_readahead = REPLY_MAX;
	conn->max_write = REPLY_MAX;
	if (!async_reads)
		conn->want &= ~FUSE_CAP_ASYNC_READ;
}

static void floor_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	if (parent != FUSE_ROOT_ID || strcmp(name, data_name) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = DATA_INO;
	e.attr_timeout = 3600;
	e.entry_timeout = 3600;
	fill_attr(DATA_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void floor_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (ino != FUSE_ROOT_ID && ino != DATA_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(ino, &st);
	fuse_reply_attr(req, &st, 3600);
}

static void floor_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != DATA_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void floor_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	if (off >= data_size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if ((off_t)size > data_size - off)
		size = (size_t)(data_size - off);
	if (size > REPLY_MAX)
		size = REPLY_MAX;
	fuse_reply_buf(req, reply, size);
}

static const struct fuse_lowlevel_ops floor_ops = {
	.init = floor_init,
	.lookup = floor_lookup,
	.getattr = floor_getattr,
	.open = floor_open,
	.read = floor_read,
};

int main(int argc, char **argv)
{
	static char opt_o[] = "-o", opt_list[] = "ro,fsname=hubfs-floor";
	char *fuse_argv[] = {argv[0], opt_o, opt_list, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fuse_argv);
	struct fuse_loop_config *loop;
	struct fuse_session *se;
	int rc;

	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "--async") != 0)) {
		fprintf(stderr, "usage: %s MOUNTPOINT SIZE_MIB [--async]\n", argv[0]);
		return 2;
	}
	data_size = (off_t)strtoll(argv[2], NULL, 10) << 20;
	async_reads = argc == 4;
	/* Not zeros: a page of zeros could be shared or compared cheaply. */
	for (size_t i = 0; i < sizeof(reply); i++)
		reply[i] = (char)(i * 131 + 7);
	se = fuse_session_new(&args, &floor_ops, sizeof(floor_ops), NULL);
	if (!se)
		return 1;
	if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, argv[1]) != 0) {
		fuse_session_destroy(se);
		return 1;
	}
	loop = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(loop, 16);
	rc = fuse_session_loop_mt(se, loop);
	fuse_loop_cfg_destroy(loop);
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	return rc < 0 ? 1 : 0;
}
