/*
 * pool_dir.c - the `dir` backend: a plain directory per volume.
 *
 * For development and tests. It cannot enforce a volume's size (there is
 * no quota here) and says so: POOL_CAP_ENFORCES_SIZE is not set, and the
 * capacity it reports is the file system's, from statvfs. Snapshots and
 * clones are full copies (cp -a --reflink=auto: shared extents where the
 * file system can), made under a temporary name and renamed into place,
 * so a crash never leaves a half-copied snapshot under its real name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <dirent.h>

#include "crashpoint.h"
#include "pool.h"
#include "sys/path.h"
#include "sys/spawn.h"

#define TMP_SUFFIX ".tmp"

static int dir_open(pool *p, dv_status *err)
{
	p->caps = POOL_CAP_SNAPSHOTS | POOL_CAP_FILESYSTEM;
	p->default_fs[0] = 0; /* no file system of its own: a bind mount */
	p->min_size = 0;
	p->granularity = 1;
	pool_remove_leftovers(p, TMP_SUFFIX);
	return 0;
}

static int exists_at(int dir_fd, const char *name)
{
	struct stat st;

	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	return S_ISDIR(st.st_mode) ? 1 : -ENOTDIR;
}

static int dir_volume_create(pool *p, const char *id, const pool_volume_spec *spec, dv_status *st)
{
	if (spec->block)
		return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
				     "pool %s (dir) cannot serve block volumes", p->name);
	if (mkdirat(p->volumes_fd, id, 0777) < 0 && errno != EEXIST) {
		int e = errno;
		dv_status_set(st, DV_INTERNAL, "pool %s: creating volume %s: %s", p->name, id,
			      strerror(e));
		return -e;
	}
	dv_crashpoint("dir.create.after_mkdir");
	/* world-writable like an emptyDir: the pod's user owns its data */
	int fd = sys_open_beneath(p->volumes_fd, id, O_RDONLY | O_DIRECTORY, 0);
	if (fd >= 0) {
		fchmod(fd, 0777);
		close(fd);
	}
	return pool_sync_dir(p, p->volumes_fd);
}

/* cp -a src dst_tmp, then rename dst_tmp dst. Absolute paths are built
 * from the pool root (configured, trusted) and validated IDs only. */
static int copy_tree(pool *p, const char *src_sub, const char *src_id, int dst_dir_fd,
		     const char *dst_sub, const char *dst_id, dv_status *st)
{
	char src[4096], dst[4096], tmp[300], out[1024];
	int r;

	/* cp resolves the source path: make sure the object itself is a
	 * real directory beneath the pool, not a symlink planted there. */
	int src_dir_fd = !strcmp(src_sub, "volumes") ? p->volumes_fd : p->snapshots_fd;
	int probe = sys_open_beneath(src_dir_fd, src_id, O_RDONLY | O_DIRECTORY, 0);
	if (probe < 0)
		return dv_fail(st, probe, probe == -ENOENT ? DV_NOT_FOUND : DV_FAILED_PRECONDITION,
			       "pool %s: %s/%s is not a directory of this pool", p->name, src_sub,
			       src_id);
	close(probe);
	snprintf(tmp, sizeof(tmp), "%s%s", dst_id, TMP_SUFFIX);
	snprintf(src, sizeof(src), "%s/%s/%s/.", p->root, src_sub, src_id);
	snprintf(dst, sizeof(dst), "%s/%s/%s", p->root, dst_sub, tmp);
	pool_remove_tree(dst_dir_fd, tmp);
	if (mkdirat(dst_dir_fd, tmp, 0777) < 0)
		return dv_fail(st, -EIO, DV_INTERNAL, "pool %s: %s", p->name, strerror(errno));
	const char *argv[] = { "cp", "-a", "--reflink=auto", "--no-target-directory", src, dst, NULL };
	r = sys_spawn(argv, out, sizeof(out), 0);
	if (r != 0) {
		pool_remove_tree(dst_dir_fd, tmp);
		dv_status_set(st, DV_INTERNAL, "pool %s: copying %s: %s", p->name, src_id,
			      r < 0 ? strerror(-r) : out);
		return -EIO;
	}
	dv_crashpoint("dir.copy.before_rename");
	if (renameat(dst_dir_fd, tmp, dst_dir_fd, dst_id) < 0) {
		int e = errno;
		pool_remove_tree(dst_dir_fd, tmp);
		if (e == ENOTEMPTY || e == EEXIST)
			return 0; /* a finished copy is already there */
		dv_status_set(st, DV_INTERNAL, "pool %s: %s", p->name, strerror(e));
		return -e;
	}
	return pool_sync_dir(p, dst_dir_fd);
}

static int dir_volume_restore(pool *p, const char *id, const char *snap_id,
			      const pool_volume_spec *spec, dv_status *st)
{
	if (exists_at(p->volumes_fd, id) == 1)
		return 0;
	return copy_tree(p, "snapshots", snap_id, p->volumes_fd, "volumes", id, st);
}

static int dir_volume_clone(pool *p, const char *id, const char *src_id,
			    const pool_volume_spec *spec, dv_status *st)
{
	if (exists_at(p->volumes_fd, id) == 1)
		return 0;
	return copy_tree(p, "volumes", src_id, p->volumes_fd, "volumes", id, st);
}

static int dir_volume_delete(pool *p, const char *id, dv_status *st)
{
	int r = pool_remove_tree(p->volumes_fd, id);

	if (r < 0)
		return dv_fail(st, r, r == -EBUSY ? DV_FAILED_PRECONDITION : DV_INTERNAL,
				     "pool %s: deleting volume %s: %s", p->name, id,
				     r == -EBUSY ? "something is mounted inside it" : strerror(-r));
	return pool_sync_dir(p, p->volumes_fd);
}

static int dir_volume_expand(pool *p, const char *id, uint64_t new_size, dv_status *st)
{
	int r = exists_at(p->volumes_fd, id);

	if (r <= 0)
		return dv_fail(st, -ENOENT, DV_NOT_FOUND, "pool %s: volume %s is gone", p->name, id);
	return 0; /* nothing enforces the size: nothing to grow */
}

static int dir_volume_exists(pool *p, const char *id)
{
	return exists_at(p->volumes_fd, id);
}

static int statvfs_usage(int fd, pool_usage *ret)
{
	struct statvfs sv;

	if (fstatvfs(fd, &sv) < 0)
		return -errno;
	ret->total_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
	ret->available_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	ret->used_bytes = ret->total_bytes - (uint64_t)sv.f_bfree * sv.f_frsize;
	ret->total_inodes = sv.f_files;
	ret->free_inodes = sv.f_favail;
	ret->used_inodes = sv.f_files - sv.f_ffree;
	return 0;
}

static int dir_volume_usage(pool *p, const char *id, pool_usage *ret)
{
	int fd = sys_open_beneath(p->volumes_fd, id, O_RDONLY | O_DIRECTORY, 0);
	int r;

	if (fd < 0)
		return fd;
	r = statvfs_usage(fd, ret);
	close(fd);
	return r;
}

static int dir_snapshot_create(pool *p, const char *snap_id, const char *src_id, uint64_t *ret_size,
			       dv_status *st)
{
	*ret_size = 0;
	if (exists_at(p->snapshots_fd, snap_id) == 1)
		return 0;
	return copy_tree(p, "volumes", src_id, p->snapshots_fd, "snapshots", snap_id, st);
}

static int dir_snapshot_delete(pool *p, const char *snap_id, dv_status *st)
{
	int r = pool_remove_tree(p->snapshots_fd, snap_id);

	if (r < 0)
		return dv_fail(st, r, DV_INTERNAL, "pool %s: deleting snapshot %s: %s", p->name,
				     snap_id, strerror(-r));
	return pool_sync_dir(p, p->snapshots_fd);
}

static int dir_snapshot_exists(pool *p, const char *snap_id)
{
	return exists_at(p->snapshots_fd, snap_id);
}

static int dir_fs_capacity(pool *p, uint64_t *ret_total, uint64_t *ret_free)
{
	pool_usage u = { 0 };
	int r = statvfs_usage(p->root_fd, &u);

	if (r < 0)
		return r;
	*ret_total = u.total_bytes;
	*ret_free = u.available_bytes;
	return 0;
}

static int dir_scan(pool *p, pool_scan_fn fn, void *payload)
{
	return pool_scan_objects(p, "", fn, payload);
}

const pool_ops pool_dir_ops = {
	.backend = "dir",
	.open = dir_open,
	.volume_create = dir_volume_create,
	.volume_restore = dir_volume_restore,
	.volume_clone = dir_volume_clone,
	.volume_delete = dir_volume_delete,
	.volume_expand = dir_volume_expand,
	.volume_exists = dir_volume_exists,
	.volume_usage = dir_volume_usage,
	.snapshot_create = dir_snapshot_create,
	.snapshot_delete = dir_snapshot_delete,
	.snapshot_exists = dir_snapshot_exists,
	.fs_capacity = dir_fs_capacity,
	.scan = dir_scan,
};
