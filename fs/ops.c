/* SPDX-License-Identifier: MIT */
/*
 * The FUSE low-level callbacks and the mount's life cycle.
 *
 * The tree is read-only: the mount is made with "ro", so the kernel answers
 * every write with EROFS before it reaches us. This file is the one place
 * where internal negative errno values become kernel replies.
 */
#include "fs/fs.h"

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"

/* Attributes of immutable entries may be cached by the kernel for long. */
#define FS_ATTR_TIMEOUT_SECS 3600.0

static void reply_err(fuse_req_t req, int rc)
{
	fuse_reply_err(req, rc < 0 ? -rc : EIO);
}

static void root_attr(struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = FUSE_ROOT_ID;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_uid = getuid();
	st->st_gid = getgid();
}

static void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	reply_err(req, -ENOENT);
}

static void fs_op_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (ino != FUSE_ROOT_ID) {
		reply_err(req, -ENOENT);
		return;
	}
	root_attr(&st);
	fuse_reply_attr(req, &st, FS_ATTR_TIMEOUT_SECS);
}

static void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	static const char *const names[] = { ".", ".." };
	struct stat st;
	char *out;
	size_t used = 0;

	(void)fi;
	if (ino != FUSE_ROOT_ID) {
		reply_err(req, -ENOTDIR);
		return;
	}
	out = malloc(size);
	if (!out) {
		reply_err(req, -ENOMEM);
		return;
	}
	root_attr(&st);
	for (off_t i = off; i < 2; i++) {
		size_t n = fuse_add_direntry(req, out + used, size - used,
					     names[i], &st, i + 1);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, out, used);
	free(out);
}

static void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops fs_ops = {
	.lookup = fs_op_lookup,
	.getattr = fs_op_getattr,
	.readdir = fs_op_readdir,
	.statfs = fs_op_statfs,
};

/* The options every hubfs mount gets, before the user's own "-o". */
static int build_args(const struct fs_options *opts, struct fuse_args *args)
{
	struct buf o;
	int rc;

	buf_init(&o, 8192);
	rc = buf_append_str(&o, "ro,fsname=hubfs,subtype=hubfs,default_permissions");
	if (rc == 0 && opts->fuse_options && *opts->fuse_options)
		rc = buf_printf(&o, ",%s", opts->fuse_options);
	if (rc == 0 && (fuse_opt_add_arg(args, "hubfs") != 0 ||
			fuse_opt_add_arg(args, "-o") != 0 ||
			fuse_opt_add_arg(args, buf_cstr(&o)) != 0))
		rc = -ENOMEM;
	if (rc == 0 && opts->debug && fuse_opt_add_arg(args, "-d") != 0)
		rc = -ENOMEM;
	buf_release(&o);
	return rc;
}

int fs_run(const struct fs_options *opts)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct fuse_loop_config *loop = NULL;
	int rc;

	rc = build_args(opts, &args);
	if (rc < 0)
		goto out;
	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), NULL);
	if (!se) {
		log_err("cannot create the FUSE session (bad -o option?)");
		rc = -EINVAL;
		goto out;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		rc = -EIO;
		goto out_session;
	}
	if (fuse_session_mount(se, opts->mountpoint) != 0) {
		log_err("cannot mount on '%s' (a stale mount there? try "
			"'fusermount3 -u %s')",
			opts->mountpoint, opts->mountpoint);
		rc = -EIO;
		goto out_signals;
	}
	if (fuse_daemonize(opts->foreground) != 0) {
		rc = -EIO;
		goto out_unmount;
	}
	loop = fuse_loop_cfg_create();
	if (!loop) {
		rc = -ENOMEM;
		goto out_unmount;
	}
	/* A positive result is the signal that ended the loop: a clean exit. */
	rc = fuse_session_loop_mt(se, loop);
	rc = rc < 0 ? rc : 0;
	fuse_loop_cfg_destroy(loop);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	fuse_opt_free_args(&args);
	return rc;
}
