/*
 * pool_btrfs.c - the `btrfs` backend: a subvolume per volume.
 *
 * The pool root must be on btrfs; quotas are enabled when the pool opens.
 * A volume's size is the limit of its qgroup (referenced bytes), so writing
 * past it fails with EDQUOT. Snapshots are read-only subvolume snapshots;
 * restores and clones are writable snapshots with their own limit. All of
 * these are atomic in btrfs: a crash leaves either no subvolume or a whole
 * one, and the registry journal decides which survive.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "crashpoint.h"
#include "pool.h"
#include "sys/btrfs.h"
#include "sys/path.h"

#define MIB (1024ULL * 1024ULL)

static int btrfs_open(pool *p, dv_status *err)
{
	int r;

	if (!sys_btrfs_is(p->root_fd)) {
		dv_status_set(err, DV_FAILED_PRECONDITION, "pool %s: root %s is not on btrfs",
			      p->name, p->root);
		return -EINVAL;
	}
	r = sys_btrfs_quota_enable(p->root_fd);
	if (r < 0) {
		dv_status_set(err, DV_FAILED_PRECONDITION, "pool %s: enabling quotas: %s", p->name,
			      strerror(-r));
		return r;
	}
	p->caps = POOL_CAP_ENFORCES_SIZE | POOL_CAP_SNAPSHOTS | POOL_CAP_REFLINK |
		  POOL_CAP_COMPRESSION | POOL_CAP_FILESYSTEM;
	p->min_size = 16 * MIB;
	p->granularity = MIB;
	snprintf(p->default_fs, sizeof(p->default_fs), "btrfs");
	return 0;
}

static bool compression_valid(const char *c)
{
	return !c || !strcmp(c, "zstd") || !strcmp(c, "lzo") || !strcmp(c, "zlib") ||
	       !strcmp(c, "none") || !*c;
}

static int subvol_open(int dir_fd, const char *id)
{
	return sys_open_beneath(dir_fd, id, O_RDONLY | O_DIRECTORY, 0);
}

/* Limit and compression of a freshly made writable subvolume. */
static int subvol_setup(pool *p, const char *id, const pool_volume_spec *spec, dv_status *st)
{
	int fd = subvol_open(p->volumes_fd, id);
	int r;

	if (fd < 0)
		return dv_fail(st, fd, DV_INTERNAL, "pool %s: %s: %s", p->name, id,
				     strerror(-fd));
	r = sys_btrfs_qgroup_limit(fd, spec->size);
	dv_crashpoint("btrfs.create.after_limit");
	if (r == 0 && spec->compression)
		r = sys_btrfs_set_compression(fd, strcmp(spec->compression, "none") ? spec->compression : "");
	if (r == 0)
		fchmod(fd, 0777);
	close(fd);
	if (r < 0)
		return dv_fail(st, r, DV_INTERNAL, "pool %s: setting up %s: %s", p->name, id,
				     strerror(-r));
	return 0;
}

static int btrfs_volume_create(pool *p, const char *id, const pool_volume_spec *spec, dv_status *st)
{
	int r;

	if (spec->block)
		return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
				     "pool %s (btrfs) cannot serve block volumes", p->name);
	if (!compression_valid(spec->compression))
		return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
				     "compression must be zstd, lzo, zlib or none");
	r = sys_btrfs_subvol_create(p->volumes_fd, id);
	bool created = r == 0;
	if (r == -EEXIST) {
		/* A retry of a create that finished: that subvolume may already
		 * hold data, so never delete it below. */
		int fd = subvol_open(p->volumes_fd, id);
		bool is_subvol = fd >= 0 && sys_btrfs_is_subvol(fd);
		if (fd >= 0)
			close(fd);
		if (!is_subvol)
			return dv_fail(st, -EEXIST, DV_INTERNAL,
				       "pool %s: %s exists and is not a subvolume", p->name, id);
		r = 0;
	}
	if (r < 0)
		return dv_fail(st, r, r == -ENOSPC ? DV_RESOURCE_EXHAUSTED : DV_INTERNAL,
				     "pool %s: creating subvolume %s: %s", p->name, id,
				     strerror(-r));
	dv_crashpoint("btrfs.create.after_subvol");
	r = subvol_setup(p, id, spec, st);
	if (r < 0 && created)
		sys_btrfs_subvol_delete(p->volumes_fd, id);
	return r;
}

static int snapshot_into_volume(pool *p, int src_dir_fd, const char *src_id, const char *id,
				const pool_volume_spec *spec, dv_status *st)
{
	int src = subvol_open(src_dir_fd, src_id);
	int r;

	if (src < 0)
		return dv_fail(st, src, DV_NOT_FOUND, "pool %s: source %s is gone", p->name, src_id);
	r = sys_btrfs_snapshot(src, p->volumes_fd, id, false);
	close(src);
	bool created = r == 0;
	if (r < 0 && r != -EEXIST)
		return dv_fail(st, r, DV_INTERNAL, "pool %s: snapshot of %s: %s", p->name, src_id,
				     strerror(-r));
	r = subvol_setup(p, id, spec, st);
	if (r < 0 && created)
		sys_btrfs_subvol_delete(p->volumes_fd, id);
	return r;
}

static int btrfs_volume_restore(pool *p, const char *id, const char *snap_id,
				const pool_volume_spec *spec, dv_status *st)
{
	return snapshot_into_volume(p, p->snapshots_fd, snap_id, id, spec, st);
}

static int btrfs_volume_clone(pool *p, const char *id, const char *src_id,
			      const pool_volume_spec *spec, dv_status *st)
{
	return snapshot_into_volume(p, p->volumes_fd, src_id, id, spec, st);
}

static int btrfs_volume_delete(pool *p, const char *id, dv_status *st)
{
	int r = sys_btrfs_subvol_delete(p->volumes_fd, id);

	if (r < 0 && r != -ENOENT)
		return dv_fail(st, r, r == -EBUSY ? DV_FAILED_PRECONDITION : DV_INTERNAL,
				     "pool %s: deleting subvolume %s: %s", p->name, id,
				     strerror(-r));
	return 0;
}

static int btrfs_volume_expand(pool *p, const char *id, uint64_t new_size, dv_status *st)
{
	uint64_t rfer, excl, limit;
	int fd = subvol_open(p->volumes_fd, id);
	int r;

	if (fd < 0)
		return dv_fail(st, fd, fd == -ENOENT ? DV_NOT_FOUND : DV_INTERNAL,
				     "pool %s: volume %s: %s", p->name, id, strerror(-fd));
	r = sys_btrfs_qgroup_usage(fd, &rfer, &excl, &limit);
	if (r == 0 && limit && limit > new_size) {
		close(fd);
		return dv_fail(st, -ERANGE, DV_OUT_OF_RANGE, "volume %s is %llu bytes; cannot shrink",
				     id, (unsigned long long)limit);
	}
	r = sys_btrfs_qgroup_limit(fd, new_size);
	close(fd);
	if (r < 0)
		return dv_fail(st, r, DV_INTERNAL, "pool %s: raising the limit of %s: %s", p->name,
				     id, strerror(-r));
	return 0;
}

static int subvol_exists(int dir_fd, const char *id)
{
	struct stat sb;

	if (fstatat(dir_fd, id, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	/* a subvolume's root directory has inode 256 */
	return S_ISDIR(sb.st_mode) && sb.st_ino == 256 ? 1 : -ENOTDIR;
}

static int btrfs_volume_exists(pool *p, const char *id)
{
	return subvol_exists(p->volumes_fd, id);
}

static int btrfs_volume_usage(pool *p, const char *id, pool_usage *ret)
{
	uint64_t rfer, excl, limit;
	struct statvfs sv;
	int fd = subvol_open(p->volumes_fd, id);
	int r;

	if (fd < 0)
		return fd;
	r = sys_btrfs_qgroup_usage(fd, &rfer, &excl, &limit);
	if (r == 0 && fstatvfs(fd, &sv) < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		return r;
	memset(ret, 0, sizeof(*ret));
	ret->total_bytes = limit;
	ret->used_bytes = rfer;
	ret->available_bytes = limit > rfer ? limit - rfer : 0;
	ret->total_inodes = sv.f_files;
	ret->free_inodes = sv.f_favail;
	ret->used_inodes = sv.f_files - sv.f_ffree;
	return 0;
}

static int btrfs_volume_set(pool *p, const char *id, const char *key, const char *value,
			    dv_status *st)
{
	int fd, r;

	if (strcmp(key, "compression") != 0)
		return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT, "parameter %s cannot be changed", key);
	if (!compression_valid(value))
		return dv_fail(st, -EINVAL, DV_INVALID_ARGUMENT,
				     "compression must be zstd, lzo, zlib or none");
	fd = subvol_open(p->volumes_fd, id);
	if (fd < 0)
		return dv_fail(st, fd, DV_NOT_FOUND, "volume %s is gone", id);
	r = sys_btrfs_set_compression(fd, strcmp(value, "none") ? value : "");
	close(fd);
	if (r < 0)
		return dv_fail(st, r, DV_INTERNAL, "setting compression on %s: %s", id,
				     strerror(-r));
	return 0;
}

static int btrfs_snapshot_create(pool *p, const char *snap_id, const char *src_id,
				 uint64_t *ret_size, dv_status *st)
{
	uint64_t rfer = 0, excl, limit = 0;
	int src = subvol_open(p->volumes_fd, src_id);
	int r;

	if (src < 0)
		return dv_fail(st, src, DV_NOT_FOUND, "pool %s: volume %s is gone", p->name, src_id);
	sys_btrfs_qgroup_usage(src, &rfer, &excl, &limit);
	*ret_size = limit ? limit : rfer;
	r = sys_btrfs_snapshot(src, p->snapshots_fd, snap_id, true);
	close(src);
	if (r < 0 && r != -EEXIST)
		return dv_fail(st, r, DV_INTERNAL, "pool %s: snapshot of %s: %s", p->name, src_id,
				     strerror(-r));
	return 0;
}

static int btrfs_snapshot_delete(pool *p, const char *snap_id, dv_status *st)
{
	int r = sys_btrfs_subvol_delete(p->snapshots_fd, snap_id);

	if (r < 0 && r != -ENOENT)
		return dv_fail(st, r, DV_INTERNAL, "pool %s: deleting snapshot %s: %s", p->name,
				     snap_id, strerror(-r));
	return 0;
}

static int btrfs_snapshot_exists(pool *p, const char *snap_id)
{
	return subvol_exists(p->snapshots_fd, snap_id);
}

static int btrfs_fs_capacity(pool *p, uint64_t *ret_total, uint64_t *ret_free)
{
	struct statvfs sv;

	if (fstatvfs(p->root_fd, &sv) < 0)
		return -errno;
	*ret_total = (uint64_t)sv.f_blocks * sv.f_frsize;
	*ret_free = (uint64_t)sv.f_bavail * sv.f_frsize;
	return 0;
}

static int btrfs_scan(pool *p, pool_scan_fn fn, void *payload)
{
	return pool_scan_objects(p, "", fn, payload);
}

const pool_ops pool_btrfs_ops = {
	.backend = "btrfs",
	.open = btrfs_open,
	.volume_create = btrfs_volume_create,
	.volume_restore = btrfs_volume_restore,
	.volume_clone = btrfs_volume_clone,
	.volume_delete = btrfs_volume_delete,
	.volume_expand = btrfs_volume_expand,
	.volume_exists = btrfs_volume_exists,
	.volume_usage = btrfs_volume_usage,
	.volume_set = btrfs_volume_set,
	.snapshot_create = btrfs_snapshot_create,
	.snapshot_delete = btrfs_snapshot_delete,
	.snapshot_exists = btrfs_snapshot_exists,
	.fs_capacity = btrfs_fs_capacity,
	.scan = btrfs_scan,
};
