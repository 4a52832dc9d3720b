/*
 * pool.c - backend-independent parts of pools: opening, sizes, IDs, and
 * directory helpers that never follow symlinks.
 */
#include "pool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sys/path.h"

#define MIB (1024ULL * 1024ULL)
#define XFS_MIN_SIZE (300ULL * MIB) /* mkfs.xfs refuses smaller file systems */

static const pool_ops *const backends[] = { &pool_dir_ops, &pool_image_ops, &pool_btrfs_ops };

const char *pool_option(const dv_pool_config *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->n_options; i++)
		if (strcmp(cfg->options[i].key, key) == 0)
			return cfg->options[i].value;
	return NULL;
}

int pool_open_subdir(int dir_fd, const char *name, int *ret_fd)
{
	int fd;

	if (mkdirat(dir_fd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = sys_open_beneath(dir_fd, name, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	*ret_fd = fd;
	return 0;
}

static int fsync_fd(void *payload, uint64_t *covered)
{
	(void)covered;
	return fsync(*(const int *)payload) < 0 ? -errno : 0;
}

int pool_sync_dir(pool *p, int dir_fd)
{
	if (dir_fd == p->volumes_fd)
		return sys_syncgroup_sync(&p->volumes_sync, fsync_fd, &p->volumes_fd);
	if (dir_fd == p->snapshots_fd)
		return sys_syncgroup_sync(&p->snapshots_sync, fsync_fd, &p->snapshots_fd);
	return fsync_fd(&dir_fd, NULL);
}

/* Depth-first removal of the tree at name in dir_fd. Symlinks are removed,
 * never followed; a mount point inside (another st_dev) stops the removal
 * with -EBUSY rather than deleting another file system's data. */
static int remove_at(int dir_fd, const char *name, dev_t dev, int depth)
{
	struct stat st;
	int fd, r = 0;
	DIR *d;
	struct dirent *de;

	if (depth > 256)
		return -ELOOP;
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	if (st.st_dev != dev)
		return -EBUSY;
	/* an empty directory (a volume nobody wrote to) goes at once */
	if (unlinkat(dir_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	if (errno != ENOTEMPTY && errno != EEXIST)
		return -errno;
	fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = remove_at(dirfd(d), de->d_name, dev, depth + 1);
		if (r < 0)
			break;
	}
	closedir(d);
	if (r < 0)
		return r;
	return unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

int pool_remove_tree(int dir_fd, const char *name)
{
	struct stat st;

	if (!sys_name_is_safe(name))
		return -EINVAL;
	if (fstat(dir_fd, &st) < 0)
		return -errno;
	return remove_at(dir_fd, name, st.st_dev, 0);
}

/* Calls fn for each "<id><suffix>" in dir_fd whose id dynvol could have
 * made; other names are not ours to report. */
static int scan_one(int dir_fd, pool_obj_kind kind, const char *suffix, pool_scan_fn fn,
		    void *payload)
{
	size_t sl = strlen(suffix);
	int fd = dup(dir_fd);
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	while (r == 0 && (de = readdir(d))) {
		char id[64];
		size_t n = strlen(de->d_name);
		if (n < sl || n - sl >= sizeof(id) || strcmp(de->d_name + n - sl, suffix) != 0)
			continue;
		memcpy(id, de->d_name, n - sl);
		id[n - sl] = 0;
		if (pool_id_is_valid(id))
			r = fn(kind, id, payload);
	}
	closedir(d);
	return r;
}

int pool_scan_objects(pool *p, const char *suffix, pool_scan_fn fn, void *payload)
{
	int r = scan_one(p->volumes_fd, POOL_OBJ_VOLUME, suffix, fn, payload);

	return r < 0 ? r : scan_one(p->snapshots_fd, POOL_OBJ_SNAPSHOT, suffix, fn, payload);
}

void pool_remove_leftovers(const pool *p, const char *suffix)
{
	int fds[2] = { p->volumes_fd, p->snapshots_fd };
	size_t sl = strlen(suffix);

	for (int i = 0; i < 2; i++) {
		int fd = dup(fds[i]);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;
		if (!d) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		while ((de = readdir(d))) {
			size_t n = strlen(de->d_name);
			if (n > sl && strcmp(de->d_name + n - sl, suffix) == 0)
				pool_remove_tree(fds[i], de->d_name);
		}
		closedir(d);
	}
}

bool pool_id_is_valid(const char *id)
{
	const char *dash = strchr(id, '-');
	size_t plen;

	if (!dash)
		return false;
	plen = (size_t)(dash - id);
	if (!((plen == 3 && strncmp(id, "vol", 3) == 0) || (plen == 4 && strncmp(id, "snap", 4) == 0)))
		return false;
	if (strlen(dash + 1) != 32)
		return false;
	for (const char *p = dash + 1; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

int pool_id_generate(const char *prefix, char *buf, size_t len)
{
	uint8_t rnd[16];
	size_t off;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -EIO;
	off = (size_t)snprintf(buf, len, "%s-", prefix);
	if (off + 33 > len)
		return -ENOBUFS;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(buf + off + 2 * i, 3, "%02x", rnd[i]);
	return 0;
}

int pool_round_size(const pool *p, uint64_t required, uint64_t limit, const char *fs_type,
		    bool block, uint64_t *ret)
{
	uint64_t size = required > p->min_size ? required : p->min_size;
	uint64_t g = p->granularity ? p->granularity : 1;

	if (!block && (p->caps & POOL_CAP_FILESYSTEM)) {
		const char *fs = fs_type && *fs_type ? fs_type : p->default_fs;
		if (strcmp(fs, "xfs") == 0 && size < XFS_MIN_SIZE)
			size = XFS_MIN_SIZE;
	}
	if (size % g) {
		if (size > UINT64_MAX - g)
			return -ERANGE;
		size += g - size % g;
	}
	/* A limit below the minimum, or that rounding cannot meet. */
	if (limit && size > limit)
		return -ERANGE;
	*ret = size;
	return 0;
}

/* The config's options for p: each known, each valid, or -EINVAL. */
static int apply_options(pool *p, const dv_pool_config *cfg, dv_status *err)
{
	/* A typo must not silently change how a pool behaves. */
	static const char *const known[] = { "overcommit", "fsType", "tier", "directIO" };
	const size_t n_known = sizeof(known) / sizeof(known[0]);
	const char *oc;

	for (size_t i = 0; i < cfg->n_options; i++) {
		size_t k = 0;
		while (k < n_known && strcmp(cfg->options[i].key, known[k]))
			k++;
		if (k == n_known)
			return dv_fail(err, -EINVAL, DV_INVALID_ARGUMENT,
				       "pool %s: unknown option '%s' (known: overcommit, fsType, tier, "
				       "directIO)", cfg->name, cfg->options[i].key);
	}
	p->direct_io = true;
	if ((oc = pool_option(cfg, "directIO"))) {
		if (strcmp(oc, "true") && strcmp(oc, "false"))
			return dv_fail(err, -EINVAL, DV_INVALID_ARGUMENT,
				       "pool %s: directIO must be true or false", cfg->name);
		p->direct_io = !strcmp(oc, "true");
	}
	if ((oc = pool_option(cfg, "overcommit"))) {
		char *end;
		double v = strtod(oc, &end);
		if (*end || !(v >= 1.0 && v <= 100.0))
			return dv_fail(err, -EINVAL, DV_INVALID_ARGUMENT,
				       "pool %s: overcommit must be a number from 1.0 to 100", cfg->name);
		p->overcommit = v;
	}
	if ((oc = pool_option(cfg, "fsType"))) {
		if (strcmp(oc, "ext4") && strcmp(oc, "xfs"))
			return dv_fail(err, -EINVAL, DV_INVALID_ARGUMENT,
				       "pool %s: fsType must be ext4 or xfs", cfg->name);
		snprintf(p->default_fs, sizeof(p->default_fs), "%s", oc);
	}
	return 0;
}

int pool_open(pool **ret, const dv_pool_config *cfg, dv_status *err)
{
	const pool_ops *ops = NULL;
	pool *p;
	int r;

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i]->backend, cfg->backend) == 0)
			ops = backends[i];
	if (!ops) {
		dv_status_set(err, DV_INVALID_ARGUMENT, "pool %s: backend '%s' is not available",
			      cfg->name, cfg->backend);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ops = ops;
	p->root_fd = p->volumes_fd = p->snapshots_fd = -1;
	sys_syncgroup_init(&p->volumes_sync);
	sys_syncgroup_init(&p->snapshots_sync);
	p->name = strdup(cfg->name);
	p->root = strdup(cfg->root);
	p->overcommit = 1.0;
	p->granularity = 1;
	snprintf(p->default_fs, sizeof(p->default_fs), "ext4");
	if (!p->name || !p->root) {
		pool_close(p);
		return -ENOMEM;
	}
	r = apply_options(p, cfg, err);
	if (r < 0) {
		pool_close(p);
		return r;
	}
	p->root_fd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (p->root_fd < 0) {
		r = -errno;
		dv_status_set(err, DV_FAILED_PRECONDITION, "pool %s: root %s: %s", cfg->name,
			      cfg->root, strerror(-r));
		pool_close(p);
		return r;
	}
	if ((r = pool_open_subdir(p->root_fd, "volumes", &p->volumes_fd)) < 0 ||
	    (r = pool_open_subdir(p->root_fd, "snapshots", &p->snapshots_fd)) < 0) {
		dv_status_set(err, DV_FAILED_PRECONDITION, "pool %s: %s/volumes, snapshots: %s",
			      cfg->name, cfg->root, strerror(-r));
		pool_close(p);
		return r;
	}
	r = ops->open(p, err);
	if (r < 0) {
		pool_close(p);
		return r;
	}
	*ret = p;
	return 0;
}

void pool_close(pool *p)
{
	if (!p)
		return;
	if (p->priv && p->ops->close)
		p->ops->close(p);
	if (p->volumes_fd >= 0)
		close(p->volumes_fd);
	if (p->snapshots_fd >= 0)
		close(p->snapshots_fd);
	if (p->root_fd >= 0)
		close(p->root_fd);
	sys_syncgroup_destroy(&p->volumes_sync);
	sys_syncgroup_destroy(&p->snapshots_sync);
	free(p->name);
	free(p->root);
	free(p);
}
