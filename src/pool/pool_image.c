/*
 * pool_image.c - the `image` backend: a sparse file per volume.
 *
 * <root>/volumes/<id>.img holds the volume's bytes; the node attaches it to
 * a loop device and formats it at first stage (or leaves it raw for Block
 * volumes). The file's size is the volume's size, so writes past it fail:
 * the size is enforced. Snapshots and clones are copies made by
 * sys_copy_file: shared extents (FICLONE) on xfs with reflink and btrfs, a
 * sparse copy elsewhere. A copy is written under a temporary name and
 * renamed into place, so a crash never leaves a partial image under a
 * real name; temporary leftovers are removed when the pool opens.
 *
 * Accounting is thick: a volume counts its full size against the pool
 * whether or not its blocks are allocated (see store.c).
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
#include "sys/loop.h"
#include "sys/path.h"
#include "sys/reflink.h"

#define MIB (1024ULL * 1024ULL)
#define IMG_SUFFIX ".img"
#define TMP_SUFFIX ".img.tmp"

typedef struct {
	bool reflink;
} image_priv;

static void img_name(char *buf, size_t len, const char *id, const char *suffix)
{
	snprintf(buf, len, "%s%s", id, suffix);
}

static int image_open(pool *p, dv_status *err)
{
	image_priv *priv = calloc(1, sizeof(*priv));

	if (!priv)
		return -ENOMEM;
	priv->reflink = sys_reflink_supported(p->volumes_fd);
	p->priv = priv;
	p->caps = POOL_CAP_ENFORCES_SIZE | POOL_CAP_SNAPSHOTS | POOL_CAP_BLOCK | POOL_CAP_FILESYSTEM |
		  (priv->reflink ? POOL_CAP_REFLINK : 0);
	/* Without overcommit a volume is thick: its blocks are allocated
	 * (fallocate) when it is made or grown, so the file system can never
	 * run out under a volume that was promised its size. */
	if (p->overcommit <= 1.0)
		p->caps |= POOL_CAP_PREALLOCATES;
	/* ext4 needs a few MiB for its metadata; 1 MiB granularity keeps
	 * loop device sizes and file system geometry aligned. */
	p->min_size = 16 * MIB;
	p->granularity = MIB;
	pool_remove_leftovers(p, TMP_SUFFIX);
	return 0;
}

static void image_close(pool *p)
{
	free(p->priv);
	p->priv = NULL;
}

/* Allocates [0, size) of a thick pool's image; sparse pools skip it. */
static int preallocate(const pool *p, int fd, uint64_t size)
{
	if (!(p->caps & POOL_CAP_PREALLOCATES) || size == 0)
		return 0;
	if (fallocate(fd, 0, 0, (off_t)size) < 0)
		return errno == EOPNOTSUPP ? 0 : -errno; /* a file system without it: stay sparse */
	return 0;
}

static int open_image(int dir_fd, const char *id, int flags)
{
	char name[128];

	img_name(name, sizeof(name), id, IMG_SUFFIX);
	return sys_open_beneath(dir_fd, name, flags, 0);
}

static int image_volume_create(pool *p, const char *id, const pool_volume_spec *spec, dv_status *st)
{
	char name[128];
	struct stat sb;
	int fd, r;

	img_name(name, sizeof(name), id, IMG_SUFFIX);
	fd = sys_open_beneath(p->volumes_fd, name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd == -EEXIST) {
		/* idempotent: the same volume, finished before */
		fd = open_image(p->volumes_fd, id, O_RDONLY);
		if (fd < 0 || fstat(fd, &sb) < 0 || (uint64_t)sb.st_size != spec->size) {
			if (fd >= 0)
				close(fd);
			return dv_fail(st, -EEXIST, DV_ALREADY_EXISTS,
					     "pool %s: volume %s exists with another size", p->name, id);
		}
		close(fd);
		return 0;
	}
	if (fd < 0)
		return dv_fail(st, fd, DV_INTERNAL, "pool %s: creating %s: %s", p->name, name,
				     strerror(-fd));
	dv_crashpoint("image.create.after_open");
	r = 0;
	if (ftruncate(fd, (off_t)spec->size) < 0 || (r = preallocate(p, fd, spec->size)) < 0 ||
	    fsync(fd) < 0) {
		r = r < 0 ? r : -errno;
		close(fd);
		unlinkat(p->volumes_fd, name, 0);
		return dv_fail(st, r, r == -ENOSPC || r == -EFBIG ? DV_OUT_OF_RANGE : DV_INTERNAL,
				     "pool %s: sizing %s: %s", p->name, name, strerror(-r));
	}
	close(fd);
	dv_crashpoint("image.create.after_size");
	return pool_sync_dir(p, p->volumes_fd);
}

/* Copies src (open) into dst_dir/<dst_id>.img via a temporary name, then
 * grows it to size. */
static int copy_image(pool *p, int src_fd, int dst_dir_fd, const char *dst_id, uint64_t size,
		      dv_status *st)
{
	char tmp[128], final[128];
	sys_copy_method how;
	int dst, r;

	img_name(tmp, sizeof(tmp), dst_id, TMP_SUFFIX);
	img_name(final, sizeof(final), dst_id, IMG_SUFFIX);
	unlinkat(dst_dir_fd, tmp, 0);
	dst = sys_open_beneath(dst_dir_fd, tmp, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (dst < 0)
		return dv_fail(st, dst, DV_INTERNAL, "pool %s: %s: %s", p->name, tmp,
				     strerror(-dst));
	r = sys_copy_file(src_fd, dst, false, NULL, &how);
	dv_crashpoint("image.copy.after_copy");
	if (r == 0 && size) {
		struct stat sb;
		if (fstat(dst, &sb) < 0)
			r = -errno;
		else if ((uint64_t)sb.st_size < size && ftruncate(dst, (off_t)size) < 0)
			r = -errno;
		if (r == 0 && dst_dir_fd == p->volumes_fd)
			r = preallocate(p, dst, size);
	}
	if (r == 0 && fsync(dst) < 0)
		r = -errno;
	close(dst);
	if (r == 0 && renameat(dst_dir_fd, tmp, dst_dir_fd, final) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dst_dir_fd, tmp, 0);
		return dv_fail(st, r, r == -ENOSPC ? DV_RESOURCE_EXHAUSTED : DV_INTERNAL,
				     "pool %s: copying into %s: %s", p->name, final, strerror(-r));
	}
	return pool_sync_dir(p, dst_dir_fd);
}

static int image_volume_from(pool *p, int src_dir_fd, const char *src_id, const char *id,
			     const pool_volume_spec *spec, dv_status *st)
{
	int src, r;

	r = open_image(p->volumes_fd, id, O_RDONLY);
	if (r >= 0) {
		close(r);
		return 0; /* finished before */
	}
	src = open_image(src_dir_fd, src_id, O_RDONLY);
	if (src < 0)
		return dv_fail(st, src, DV_NOT_FOUND, "pool %s: source %s is gone", p->name, src_id);
	r = copy_image(p, src, p->volumes_fd, id, spec->size, st);
	close(src);
	return r;
}

static int image_volume_restore(pool *p, const char *id, const char *snap_id,
				const pool_volume_spec *spec, dv_status *st)
{
	return image_volume_from(p, p->snapshots_fd, snap_id, id, spec, st);
}

static int image_volume_clone(pool *p, const char *id, const char *src_id,
			      const pool_volume_spec *spec, dv_status *st)
{
	return image_volume_from(p, p->volumes_fd, src_id, id, spec, st);
}

static int image_volume_delete(pool *p, const char *id, dv_status *st)
{
	char name[128], dev[32];
	int fd;

	img_name(name, sizeof(name), id, IMG_SUFFIX);
	fd = open_image(p->volumes_fd, id, O_RDONLY);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return dv_fail(st, fd, DV_INTERNAL, "pool %s: %s: %s", p->name, name,
				     strerror(-fd));
	/* Never pull the file from under a loop device: the node must
	 * unstage first. */
	if (sys_loop_find(fd, dev, sizeof(dev)) >= 0) {
		close(fd);
		return dv_fail(st, -EBUSY, DV_FAILED_PRECONDITION,
				     "volume %s is still attached to %s; unstage it first", id, dev);
	}
	close(fd);
	if (unlinkat(p->volumes_fd, name, 0) < 0 && errno != ENOENT) {
		int e = errno;
		return dv_fail(st, -e, DV_INTERNAL, "pool %s: removing %s: %s", p->name, name,
				     strerror(e));
	}
	return pool_sync_dir(p, p->volumes_fd);
}

static int image_volume_expand(pool *p, const char *id, uint64_t new_size, dv_status *st)
{
	struct stat sb;
	int fd = open_image(p->volumes_fd, id, O_RDWR);
	int r = 0;

	if (fd < 0)
		return dv_fail(st, fd, fd == -ENOENT ? DV_NOT_FOUND : DV_INTERNAL,
				     "pool %s: volume %s: %s", p->name, id, strerror(-fd));
	if (fstat(fd, &sb) < 0) {
		r = -errno;
	} else if ((uint64_t)sb.st_size > new_size) {
		close(fd);
		return dv_fail(st, -ERANGE, DV_OUT_OF_RANGE, "volume %s is %lld bytes; cannot shrink",
				     id, (long long)sb.st_size);
	} else if ((uint64_t)sb.st_size < new_size) {
		if (ftruncate(fd, (off_t)new_size) < 0 || (r = preallocate(p, fd, new_size)) < 0 ||
		    fsync(fd) < 0)
			r = r < 0 ? r : -errno;
	}
	close(fd);
	if (r < 0)
		return dv_fail(st, r, r == -ENOSPC ? DV_RESOURCE_EXHAUSTED : DV_INTERNAL,
			       "pool %s: growing %s: %s", p->name, id,
				     strerror(-r));
	return 0;
}

static int image_exists(int dir_fd, const char *id)
{
	int fd = open_image(dir_fd, id, O_RDONLY);

	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	close(fd);
	return 1;
}

static int image_volume_exists(pool *p, const char *id)
{
	return image_exists(p->volumes_fd, id);
}

static int image_volume_usage(pool *p, const char *id, pool_usage *ret)
{
	struct stat sb;
	int fd = open_image(p->volumes_fd, id, O_RDONLY);

	if (fd < 0)
		return fd;
	if (fstat(fd, &sb) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	close(fd);
	memset(ret, 0, sizeof(*ret));
	/* the image's view; the file system inside is the node's to report */
	ret->total_bytes = (uint64_t)sb.st_size;
	ret->used_bytes = (uint64_t)sb.st_blocks * 512;
	ret->available_bytes = ret->total_bytes > ret->used_bytes ? ret->total_bytes - ret->used_bytes : 0;
	return 0;
}

static int image_snapshot_create(pool *p, const char *snap_id, const char *src_id,
				 uint64_t *ret_size, dv_status *st)
{
	struct stat sb;
	int src, r;

	src = open_image(p->volumes_fd, src_id, O_RDONLY);
	if (src < 0)
		return dv_fail(st, src, DV_NOT_FOUND, "pool %s: volume %s is gone", p->name, src_id);
	if (fstat(src, &sb) < 0) {
		r = -errno;
		close(src);
		return r;
	}
	*ret_size = (uint64_t)sb.st_size;
	r = image_exists(p->snapshots_fd, snap_id);
	if (r == 0)
		r = copy_image(p, src, p->snapshots_fd, snap_id, 0, st);
	else if (r == 1)
		r = 0;
	close(src);
	return r;
}

static int image_snapshot_delete(pool *p, const char *snap_id, dv_status *st)
{
	char name[128];

	img_name(name, sizeof(name), snap_id, IMG_SUFFIX);
	if (unlinkat(p->snapshots_fd, name, 0) < 0 && errno != ENOENT) {
		int e = errno;
		return dv_fail(st, -e, DV_INTERNAL, "pool %s: removing %s: %s", p->name, name,
				     strerror(e));
	}
	return pool_sync_dir(p, p->snapshots_fd);
}

static int image_snapshot_exists(pool *p, const char *snap_id)
{
	return image_exists(p->snapshots_fd, snap_id);
}

static int image_fs_capacity(pool *p, uint64_t *ret_total, uint64_t *ret_free)
{
	struct statvfs sv;

	if (fstatvfs(p->root_fd, &sv) < 0)
		return -errno;
	*ret_total = (uint64_t)sv.f_blocks * sv.f_frsize;
	*ret_free = (uint64_t)sv.f_bavail * sv.f_frsize;
	return 0;
}

static int image_scan(pool *p, pool_scan_fn fn, void *payload)
{
	return pool_scan_objects(p, IMG_SUFFIX, fn, payload);
}

const pool_ops pool_image_ops = {
	.backend = "image",
	.open = image_open,
	.close = image_close,
	.volume_create = image_volume_create,
	.volume_restore = image_volume_restore,
	.volume_clone = image_volume_clone,
	.volume_delete = image_volume_delete,
	.volume_expand = image_volume_expand,
	.volume_exists = image_volume_exists,
	.volume_usage = image_volume_usage,
	.snapshot_create = image_snapshot_create,
	.snapshot_delete = image_snapshot_delete,
	.snapshot_exists = image_snapshot_exists,
	.fs_capacity = image_fs_capacity,
	.scan = image_scan,
};
