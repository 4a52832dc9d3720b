/*
 * node.c - CSI Node service: stage, publish, stats, expansion, ephemeral
 * inline volumes.
 *
 * This is where a storage driver can destroy data or wedge a node, so:
 *  - a device is formatted only when libblkid says it is blank AND the
 *    registry says this volume was never formatted (format_state 0), or
 *    when the registry says our own first mkfs started and never finished
 *    (format_state 1: no pod can have written to it yet);
 *  - every target lies beneath a configured prefix, is canonical, and no
 *    existing component of it is a symlink;
 *  - each step undoes itself on failure: no half-mounted target, no loop
 *    device left attached by a failed stage;
 *  - node state (what is staged where, on which loop device; what is
 *    published where) is in the registry, so a restarted driver reuses the
 *    loop device it attached and answers repeats idempotently.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "csi.h"
#include "csi.pb-c.h"
#include "crashpoint.h"
#include "log.h"
#include "strutil.h"
#include "sys/format.h"
#include "sys/fsprobe.h"
#include "sys/loop.h"
#include "sys/mounts.h"
#include "sys/path.h"

#define EPHEMERAL_KEY "csi.storage.k8s.io/ephemeral"
#define EPHEMERAL_PREFIX "ephemeral-"
#define DEFAULT_EPHEMERAL_SIZE (1ULL << 30)

typedef Csi__V1__VolumeCapability VolCap;

/* ------------------------------------------------------------------ */
/* paths                                                               */

static bool path_is_canonical(const char *p)
{
	size_t n = strlen(p);

	return p[0] == '/' && n < 4096 && !strstr(p, "//") && !strstr(p, "/./") &&
	       !strstr(p, "/../") && !(n >= 2 && !strcmp(p + n - 2, "/.")) &&
	       !(n >= 3 && !strcmp(p + n - 3, "/..")) && !(n > 1 && p[n - 1] == '/');
}

/* Checks a target or staging path. NULL when fine, else why. */
static const char *path_unsafe(const csi_driver *drv, const char *path)
{
	bool beneath = false;
	char buf[4096];

	if (!path_is_canonical(path))
		return "must be an absolute path without '.', '..', '//' or a trailing '/'";
	for (const unsigned char *c = (const unsigned char *)path; *c; c++)
		if (*c < 0x20)
			return "must not contain control characters";
	for (size_t i = 0; i < drv->config->n_path_prefixes; i++) {
		const char *pfx = drv->config->path_prefixes[i];
		size_t pl = strlen(pfx);
		if (!strcmp(pfx, "/") || (!strncmp(path, pfx, pl) && path[pl] == '/'))
			beneath = true;
	}
	if (!beneath)
		return "is not beneath an allowed path prefix (pathPrefixes in the config)";
	/* No existing component may be a symlink: a pod or a careless tool
	 * could otherwise steer our mount elsewhere. */
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == 0) {
			char save = *p;
			struct stat st;
			*p = 0;
			if (lstat(buf, &st) < 0) {
				*p = save;
				break; /* the rest does not exist yet */
			}
			if (S_ISLNK(st.st_mode))
				return "contains a symbolic link";
			*p = save;
			if (save == 0)
				break;
		}
	}
	return NULL;
}

/* A required node path: present and safe (path_unsafe), or the call
 * fails INVALID_ARGUMENT naming the field. */
static bool node_path_ok(const csi_driver *drv, rpc_call *call, const char *field,
			 const char *path)
{
	const char *why;

	if (!path || !*path) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "%s is required", field);
		return false;
	}
	if ((why = path_unsafe(drv, path))) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "%s %s %s", field, path, why);
		return false;
	}
	return true;
}

/*
 * The presence checks every Node call makes first: volume_id, the path
 * field, and (has_cap false) a volume_capability the call requires. Only
 * presence: the form of a field is judged after the volume is known, so a
 * volume that does not exist answers NOT_FOUND whatever its paths look
 * like (CSI lists NOT_FOUND; a format error must not mask it).
 */
static bool fields_present(rpc_call *call, const char *volume_id, const char *path_field,
			   const char *path, bool has_cap)
{
	if (!volume_id || !*volume_id) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_id is required");
		return false;
	}
	if (!path || !*path) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "%s is required", path_field);
		return false;
	}
	if (!has_cap) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_capability is required");
		return false;
	}
	return true;
}

static int ensure_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0750) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (lstat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int ensure_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EEXIST;
	}
	close(fd);
	return 0;
}

/* How long an unmount that finds its mount busy keeps trying (within the
 * call's deadline): a busy mount is most often a moment's, not a pod's. */
#define UMOUNT_PATIENCE_NS (5LL * 1000 * 1000 * 1000)

/*
 * sys_umount, retried while the mount is busy for a moment: a racing call
 * of the driver's own (NodeGetVolumeStats statvfs()ing the path, a publish
 * stat()ing it) or a scan by another tool holds a reference for
 * microseconds, and the kubelet should not see UNAVAILABLE for that. A
 * mount still busy after UMOUNT_PATIENCE_NS, or when the call's deadline
 * comes near, is truly in use (a pod's process): -EBUSY, and the caller
 * answers UNAVAILABLE, which CSI leaves the CO to retry.
 */
static int umount_patiently(rpc_call *call, const char *path)
{
	int64_t start = dv_now_ns(), end = start + UMOUNT_PATIENCE_NS;
	int64_t deadline = call ? rpc_call_deadline(call) : INT64_MAX;
	int64_t wait = 2 * 1000 * 1000;
	int r;

	if (deadline != INT64_MAX && deadline - 200 * 1000 * 1000 < end)
		end = deadline - 200 * 1000 * 1000; /* leave time to answer */
	for (;;) {
		r = sys_umount(path);
		if (r != -EBUSY || dv_now_ns() + wait > end)
			return r;
		if (call ? rpc_call_sleep(call, wait) < 0
			 : nanosleep(&(struct timespec){ 0, wait }, NULL) < 0)
			return r;
		if (wait < 100 * 1000 * 1000)
			wait *= 2;
	}
}

/* ------------------------------------------------------------------ */
/* volume lookup                                                       */

typedef struct {
	reg_volume v;
	pool *p;
	bool image;
} node_volume;

static int lookup(csi_driver *drv, rpc_call *call, const char *id, node_volume *nv)
{
	int r;

	memset(nv, 0, sizeof(*nv));
	if (!id || !*id) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_id is required");
		return -EINVAL;
	}
	if (!pool_id_is_valid(id)) {
		rpc_call_fail(call, DV_NOT_FOUND, "volume %s does not exist on node %s", id,
			      drv->node_id);
		return -ENOENT;
	}
	r = registry_volume_get(store_registry(drv->store), id, &nv->v);
	if (r < 0) {
		rpc_call_fail(call, r == -ENOENT ? DV_NOT_FOUND : DV_INTERNAL,
			      "volume %s %s", id, r == -ENOENT ? "does not exist on this node" : "lookup failed");
		return r;
	}
	nv->p = store_pool_find(drv->store, nv->v.pool);
	if (!nv->p) {
		rpc_call_fail(call, DV_FAILED_PRECONDITION, "volume %s lives in pool %s, which this "
			      "node does not have", id, nv->v.pool);
		reg_volume_clear(&nv->v);
		return -ENOENT;
	}
	nv->image = !strcmp(nv->p->ops->backend, "image");
	return 0;
}

/* Under the volume's lock: a DeleteVolume may have finished between the
 * lookup and the lock. */
static bool still_there(csi_driver *drv, rpc_call *call, const node_volume *nv)
{
	reg_volume v;

	if (registry_volume_get(store_registry(drv->store), nv->v.id, &v) == 0) {
		reg_volume_clear(&v);
		return true;
	}
	rpc_call_fail(call, DV_NOT_FOUND, "volume %s does not exist", nv->v.id);
	return false;
}

/* The directory or image file backing a volume, as an absolute path (the
 * pool root is configuration; the ID was validated). */
static void backing_path(const node_volume *nv, char *buf, size_t len)
{
	snprintf(buf, len, "%s/volumes/%s%s", nv->p->root, nv->v.id, nv->image ? ".img" : "");
}

/* lookup() without failing the call: 0, or < 0 when the volume or its
 * pool is not there (the caller goes on without knowing it). */
static int volume_find(csi_driver *drv, const char *id, node_volume *nv)
{
	memset(nv, 0, sizeof(*nv));
	if (registry_volume_get(store_registry(drv->store), id, &nv->v) < 0)
		return -ENOENT;
	nv->p = store_pool_find(drv->store, nv->v.pool);
	if (!nv->p) {
		reg_volume_clear(&nv->v);
		return -ENOENT;
	}
	nv->image = !strcmp(nv->p->ops->backend, "image");
	return 0;
}

/* Does this node know volume id at all: a volume record, or a stage
 * left from one? */
static bool volume_known(csi_driver *drv, const char *id)
{
	registry *reg = store_registry(drv->store);
	reg_volume v;
	reg_stage rs = { 0 };

	if (registry_volume_get(reg, id, &v) == 0) {
		reg_volume_clear(&v);
		return true;
	}
	if (registry_stage_get(reg, id, &rs) == 0) {
		reg_stage_clear(&rs);
		return true;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* staging                                                             */

static int join_flags(VolCap *cap, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	if (cap->access_type_case != CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT)
		return 0;
	for (size_t i = 0; i < cap->mount->n_mount_flags; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? "," : "", cap->mount->mount_flags[i]);
		if (n < 0 || (size_t)n >= len - off)
			return -ENAMETOOLONG;
		off += (size_t)n;
	}
	return 0;
}

static int check_node_cap(rpc_call *call, const VolCap *cap, const node_volume *nv)
{
	if (!cap) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_capability is required");
		return -EINVAL;
	}
	if (!cap->access_mode ||
	    cap->access_mode->mode == CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__UNKNOWN) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_capability.access_mode is required");
		return -EINVAL;
	}
	if (cap->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE__NOT_SET) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_capability needs mount or block");
		return -EINVAL;
	}
	bool block = cap->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
	if (nv && block != nv->v.block) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume %s is a %s volume", nv->v.id,
			      nv->v.block ? "block" : "filesystem");
		return -EINVAL;
	}
	if (nv && !block && cap->mount->fs_type && *cap->mount->fs_type && *nv->v.fs_type &&
	    strcmp(cap->mount->fs_type, nv->v.fs_type)) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume %s has fs_type %s, not %s", nv->v.id,
			      nv->v.fs_type, cap->mount->fs_type);
		return -EINVAL;
	}
	return 0;
}

/* Formats dev if, and only if, it is safe (see the file comment). */
static int format_if_blank(csi_driver *drv, rpc_call *call, node_volume *nv, const char *dev,
			   const char *fs_type)
{
	registry *reg = store_registry(drv->store);
	sys_probe_kind kind;
	char found[64], err[512];
	int r = sys_probe(dev, &kind, found, sizeof(found));

	if (r < 0) {
		rpc_call_fail(call, DV_INTERNAL, "cannot read %s to check for a file system: %s", dev,
			      strerror(-r));
		return r;
	}
	if (kind == SYS_PROBE_PARTITIONS || kind == SYS_PROBE_OTHER) {
		rpc_call_fail(call, DV_FAILED_PRECONDITION,
			      "volume %s (%s) holds %s%s; refusing to format it", nv->v.id, dev,
			      kind == SYS_PROBE_PARTITIONS ? "a partition table " : "a signature ",
			      found);
		return -EEXIST;
	}
	if (kind == SYS_PROBE_FILESYSTEM && nv->v.formatted != 1) {
		if (strcmp(found, fs_type)) {
			rpc_call_fail(call, DV_FAILED_PRECONDITION,
				      "volume %s holds a %s file system, not %s; refusing to format it",
				      nv->v.id, found, fs_type);
			return -EEXIST;
		}
		if (nv->v.formatted != 2)
			registry_volume_set_formatted(reg, nv->v.id, 2);
		return 0; /* ours, or made outside dynvol: mount it, never format */
	}
	if (kind == SYS_PROBE_BLANK && nv->v.formatted == 2) {
		rpc_call_fail(call, DV_DATA_LOSS,
			      "volume %s was formatted before but %s holds no file system now; "
			      "refusing to format it again", nv->v.id, dev);
		return -EIO;
	}
	if (kind == SYS_PROBE_FILESYSTEM) {
		/* format_state 1: our first mkfs was interrupted. Nothing was
		 * ever published from it, so a new mkfs loses nothing, but the
		 * tools refuse a device with a (partial) superblock: clear the
		 * first MiB, where both ext4 and xfs keep theirs. */
		int fd = open(dev, O_WRONLY | O_CLOEXEC);
		static const char zero[65536];
		for (int i = 0; fd >= 0 && i < 16; i++)
			if (pwrite(fd, zero, sizeof(zero), (off_t)i * (off_t)sizeof(zero)) < 0)
				break;
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
		log_warn("node: volume %s: finishing an interrupted first format", nv->v.id);
	}
	r = registry_volume_set_formatted(reg, nv->v.id, 1);
	if (r < 0) {
		rpc_call_fail(call, DV_INTERNAL, "cannot record the format");
		return r;
	}
	nv->v.formatted = 1;
	r = sys_mkfs(dev, fs_type, err, sizeof(err));
	if (r < 0) {
		rpc_call_fail(call, DV_INTERNAL, "mkfs.%s on %s failed: %s", fs_type, dev, err);
		return r;
	}
	registry_volume_set_formatted(reg, nv->v.id, 2);
	nv->v.formatted = 2;
	log_info("node: formatted volume %s (%s) as %s", nv->v.id, dev, fs_type);
	return 0;
}

static int attach_image(rpc_call *call, node_volume *nv, char *dev, size_t len)
{
	char name[128];
	int fd, r;

	snprintf(name, sizeof(name), "%s.img", nv->v.id);
	fd = sys_open_beneath(nv->p->volumes_fd, name, O_RDWR, 0);
	if (fd < 0) {
		rpc_call_fail(call, fd == -ENOENT ? DV_NOT_FOUND : DV_INTERNAL,
			      "image of volume %s: %s", nv->v.id, strerror(-fd));
		return fd;
	}
	r = sys_loop_attach(fd, false, nv->p->direct_io, dev, len);
	close(fd);
	if (r < 0)
		rpc_call_fail(call, DV_INTERNAL, "attaching volume %s to a loop device: %s", nv->v.id,
			      strerror(-r));
	return r < 0 ? r : 0;
}

/* Is what is mounted at path the volume's (device or backing dir)? */
static bool mounted_from(const char *path, const char *dev, const char *backing)
{
	sys_mount_info mi;
	struct stat st;

	if (sys_mount_find(path, &mi) < 0)
		return false;
	if (dev && *dev)
		return !strcmp(mi.source, dev) || (stat(dev, &st) == 0 && st.st_rdev == mi.dev);
	/* a bind of a directory: compare the file system and inode roots */
	struct stat a, b;
	return stat(path, &a) == 0 && stat(backing, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* Is dev the loop device of this volume's image? After a reboot the
 * recorded number may be free, or bound to another file: never trust it. */
static bool image_on(const node_volume *nv, const char *dev)
{
	char name[128], found[64];
	int fd, r;

	snprintf(name, sizeof(name), "%s.img", nv->v.id);
	fd = sys_open_beneath(nv->p->volumes_fd, name, O_RDONLY, 0);
	if (fd < 0)
		return false;
	r = sys_loop_find(fd, found, sizeof(found));
	close(fd);
	return r >= 0 && !strcmp(found, dev);
}

/*
 * A read-only view of a staged raw block volume: a read-only loop device
 * stacked on the staged one. A read-only bind of a device node does not
 * stop writes through it (the kernel checks MNT_READONLY for files and
 * directories, not for device nodes); a read-only device does. All
 * read-only publishes of a volume share one view; it is detached when the
 * volume's last publish goes (or at unstage, after a crash).
 */
static int ro_view_attach(const char *dev, char *ret, size_t len)
{
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = sys_loop_attach(fd, true, true, ret, len);
	close(fd);
	return r < 0 ? r : 0;
}

/* The read-only view stacked on dev: 0 and its path, -ENOENT without one
 * (or without dev), or -errno. */
static int ro_view_find(const char *dev, char *view, size_t len)
{
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = sys_loop_find(fd, view, len);
	close(fd);
	return r < 0 ? r : 0;
}

/* Detaches the read-only view of dev, if there is one. */
static int ro_view_detach(const char *dev)
{
	char view[64];
	int r = ro_view_find(dev, view, sizeof(view));

	if (r == -ENOENT || r == -ENXIO)
		return 0;
	if (r < 0)
		return r;
	r = sys_loop_detach(view);
	return r == -ENXIO ? 0 : r;
}

/* A grown device: its read-only view, if any, grows with it. */
static int ro_view_refresh(const char *dev)
{
	char view[64];
	int r = ro_view_find(dev, view, sizeof(view));

	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : sys_loop_refresh_capacity(view);
}

/* Is the device node statted as t the block device at dev? */
static bool same_node(const struct stat *t, const char *dev)
{
	struct stat w;

	return S_ISBLK(t->st_mode) && stat(dev, &w) == 0 && t->st_rdev == w.st_rdev;
}

/* Is the device node statted as t the read-only view of dev? */
static bool is_ro_view(const struct stat *t, const char *dev)
{
	char view[64];

	return ro_view_find(dev, view, sizeof(view)) == 0 && same_node(t, view);
}

/* Is the top mount at path this volume's: the file system on its loop
 * device, its directory or subvolume, or for raw block its device node or
 * read-only view? Only such mounts are ours to replace or remove. */
static bool mount_is_volumes(const node_volume *nv, const reg_stage *rs, const char *path)
{
	struct stat t, w;
	char backing[4200];

	if (stat(path, &t) < 0)
		return false;
	if (rs->block)
		return *rs->device && (same_node(&t, rs->device) || is_ro_view(&t, rs->device));
	if (nv->image)
		return *rs->device && stat(rs->device, &w) == 0 && t.st_dev == w.st_rdev;
	backing_path(nv, backing, sizeof(backing));
	return stat(backing, &w) == 0 && t.st_dev == w.st_dev && t.st_ino == w.st_ino;
}

/* Is the publish found at target the one asked for: the volume's own
 * mount or device, and read-only when it should be? A kill -9 between a
 * bind and its read-only remount leaves a read-write bind behind. */
static bool publish_intact(const node_volume *nv, const reg_stage *rs, const char *target,
			   const sys_mount_info *mi, bool readonly)
{
	struct stat t;

	if (!mount_is_volumes(nv, rs, target))
		return false;
	if (!rs->block)
		return !readonly || mi->readonly;
	if (stat(target, &t) < 0)
		return false;
	return readonly ? is_ro_view(&t, rs->device) : same_node(&t, rs->device);
}

static int do_stage(csi_driver *drv, rpc_call *call, node_volume *nv, const char *staging,
		    VolCap *cap, reg_stage *ret)
{
	registry *reg = store_registry(drv->store);
	char dev[64] = "", backing[4200], flags_s[1024], data[1024];
	unsigned long mflags = 0;
	size_t bad;
	const char *fs = nv->v.fs_type;
	reg_stage rs = { 0 };
	bool attached_here = false;
	int r;

	if (!nv->v.block && cap->mount->fs_type && *cap->mount->fs_type)
		fs = cap->mount->fs_type;
	if (join_flags(cap, flags_s, sizeof(flags_s)) < 0) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "mount_flags are too long");
		return -EINVAL;
	}
	long mount_gid = -1;
	if (!nv->v.block && cap->mount->volume_mount_group && *cap->mount->volume_mount_group) {
		char *end;
		errno = 0;
		mount_gid = strtol(cap->mount->volume_mount_group, &end, 10);
		if (errno || *end || mount_gid < 0 || mount_gid > 0x7fffffffL) {
			rpc_call_fail(call, DV_INVALID_ARGUMENT,
				      "volume_mount_group must be a numeric group ID");
			return -EINVAL;
		}
	}
	if (!nv->v.block) {
		r = sys_mount_flags_parse((const char *const *)cap->mount->mount_flags,
					  cap->mount->n_mount_flags, &mflags, data, sizeof(data), &bad);
		if (r < 0) {
			rpc_call_fail(call, DV_INVALID_ARGUMENT, "mount flag '%s' is not allowed",
				      bad < cap->mount->n_mount_flags ? cap->mount->mount_flags[bad] : "?");
			return r;
		}
	}
	backing_path(nv, backing, sizeof(backing));

	/* intent first: a crash from here on is found by the next call */
	snprintf(rs.volume_id, sizeof(rs.volume_id), "%s", nv->v.id);
	rs.staging_path = (char *)staging;
	rs.block = nv->v.block;
	snprintf(rs.fs_type, sizeof(rs.fs_type), "%s", nv->v.block ? "" : fs);
	rs.mount_flags = flags_s;
	rs.state = REG_STAGE_STAGING;
	if (registry_stage_put(reg, &rs) < 0) {
		rpc_call_fail(call, DV_INTERNAL, "cannot record the stage");
		return -EIO;
	}
	if (nv->image) {
		/* reuses the device a previous (crashed) attempt attached */
		char existing[64];
		int fd = -1;
		char name[128];
		snprintf(name, sizeof(name), "%s.img", nv->v.id);
		fd = sys_open_beneath(nv->p->volumes_fd, name, O_RDONLY, 0);
		attached_here = !(fd >= 0 && sys_loop_find(fd, existing, sizeof(existing)) >= 0);
		if (fd >= 0)
			close(fd);
		r = attach_image(call, nv, dev, sizeof(dev));
		if (r < 0)
			goto fail;
		snprintf(rs.device, sizeof(rs.device), "%s", dev);
		registry_stage_put(reg, &rs);
		dv_crashpoint("node.stage.after_attach");
	}
	if (!nv->v.block) {
		r = ensure_dir(staging);
		if (r < 0) {
			rpc_call_fail(call, r == -ENOENT ? DV_FAILED_PRECONDITION : DV_INTERNAL,
				      "staging path %s: %s", staging,
				      r == -ENOENT ? "its parent directory does not exist" : strerror(-r));
			goto fail;
		}
		if (sys_mount_find(staging, &(sys_mount_info){ 0 }) == 0 &&
		    !mounted_from(staging, nv->image ? dev : NULL, backing)) {
			/* never stack on (and later hide or unmount) a mount
			 * that is not this volume's: another volume's stage */
			rpc_call_fail(call, DV_ALREADY_EXISTS,
				      "staging path %s already has something else mounted on it",
				      staging);
			r = -EEXIST;
			goto fail;
		}
		if (!mounted_from(staging, nv->image ? dev : NULL, backing)) {
			if (nv->image) {
				r = format_if_blank(drv, call, nv, dev, fs);
				if (r < 0)
					goto fail;
				dv_crashpoint("node.stage.after_format");
				r = sys_mount_fs(dev, staging, fs, mflags | MS_NOSUID | MS_NODEV,
						 *data ? data : NULL);
			} else {
				r = sys_mount_bind(backing, staging, false, MS_NOSUID | MS_NODEV);
			}
			if (r < 0) {
				rpc_call_fail(call, DV_INTERNAL, "mounting volume %s at %s: %s", nv->v.id,
					      staging, strerror(-r));
				goto fail;
			}
		}
	}
	/* VolumeMountGroup: the pod's fsGroup owns the file system's root
	 * (setgid, group-writable), so the pod can write without running as
	 * root; ext4 and xfs have no gid= mount option to do it instead. */
	if (!nv->v.block && mount_gid >= 0) {
		if (chown(staging, (uid_t)-1, (gid_t)mount_gid) < 0 || chmod(staging, 02775) < 0) {
			r = -errno;
			rpc_call_fail(call, DV_INTERNAL, "giving %s to group %ld: %s", staging, mount_gid,
				      strerror(-r));
			goto fail;
		}
	}
	dv_crashpoint("node.stage.after_mount");
	rs.state = REG_STAGE_STAGED;
	if (registry_stage_put(reg, &rs) < 0) {
		rpc_call_fail(call, DV_INTERNAL, "cannot record the stage");
		r = -EIO;
		goto fail;
	}
	if (ret) {
		*ret = rs;
		ret->staging_path = strdup(staging);
		ret->mount_flags = strdup(flags_s);
	}
	log_info("node: staged volume %s at %s%s%s", nv->v.id, staging, *dev ? " via " : "", dev);
	return 0;
fail:
	/* undo what this call did; leave what an earlier stage did */
	if (!nv->v.block && sys_mount_find(staging, &(sys_mount_info){ 0 }) == 0 &&
	    mounted_from(staging, nv->image ? dev : NULL, backing))
		sys_umount(staging);
	if (attached_here && *dev)
		sys_loop_detach(dev);
	registry_stage_remove(reg, nv->v.id);
	return r;
}

static void node_stage(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__NodeStageVolumeRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };
	node_volume nv;
	reg_stage rs = { 0 };
	int r;

	if (!fields_present(call, req->volume_id, "staging_target_path", req->staging_target_path,
			    req->volume_capability != NULL))
		return;
	if (lookup(drv, call, req->volume_id, &nv) < 0)
		return;
	if (!node_path_ok(drv, call, "staging_target_path", req->staging_target_path) ||
	    check_node_cap(call, req->volume_capability, &nv) < 0)
		goto out;
	if (store_lock_volume_at(drv->store, nv.v.id, req->staging_target_path, &st) < 0) {
		rpc_call_fail_status(call, &st);
		goto out;
	}
	if (!still_there(drv, call, &nv))
		goto unlock;
	r = registry_stage_get(store_registry(drv->store), nv.v.id, &rs);
	if (r == 0 && rs.state == REG_STAGE_STAGED) {
		char backing[4200], flags_s[1024];
		backing_path(&nv, backing, sizeof(backing));
		join_flags(req->volume_capability, flags_s, sizeof(flags_s));
		if (strcmp(rs.staging_path, req->staging_target_path) ||
		    strcmp(rs.mount_flags ? rs.mount_flags : "", flags_s)) {
			rpc_call_fail(call, DV_ALREADY_EXISTS,
				      "volume %s is staged at %s with other flags or path; unstage first",
				      nv.v.id, rs.staging_path);
			goto unlock;
		}
		/* still mounted (or attached) as recorded: nothing to do */
		if (nv.v.block ? (!nv.image || image_on(&nv, rs.device))
			       : mounted_from(rs.staging_path, nv.image ? rs.device : NULL, backing)) {
			Csi__V1__NodeStageVolumeResponse resp = CSI__V1__NODE_STAGE_VOLUME_RESPONSE__INIT;
			rpc_call_reply(call, &resp.base);
			goto unlock;
		}
		/* after a reboot: the loop device and mount are gone: redo */
	}
	reg_stage_clear(&rs);
	if (do_stage(drv, call, &nv, req->staging_target_path, req->volume_capability, NULL) == 0) {
		Csi__V1__NodeStageVolumeResponse resp = CSI__V1__NODE_STAGE_VOLUME_RESPONSE__INIT;
		rpc_call_reply(call, &resp.base);
	}
unlock:
	store_unlock_volume_at(drv->store, nv.v.id, req->staging_target_path);
out:
	reg_stage_clear(&rs);
	reg_volume_clear(&nv.v);
	dv_status_clear(&st);
}

static int do_unstage(csi_driver *drv, rpc_call *call, const char *volume_id, const char *staging)
{
	registry *reg = store_registry(drv->store);
	reg_stage rs = { 0 };
	size_t pubs = 0;
	int r;

	r = registry_stage_get(reg, volume_id, &rs);
	if (r == -ENOENT) {
		/* unknown to us; still make sure nothing is mounted there */
		if (staging && sys_mount_find(staging, &(sys_mount_info){ 0 }) == 0) {
			rpc_call_fail(call, DV_FAILED_PRECONDITION,
				      "%s is a mount point dynvol did not make; not touching it", staging);
			return -EBUSY;
		}
		return 0;
	}
	if (r < 0) {
		rpc_call_fail(call, DV_INTERNAL, "registry lookup failed");
		return r;
	}
	if (staging && strcmp(staging, rs.staging_path)) {
		reg_stage_clear(&rs);
		return 0; /* staged elsewhere: that path is not ours to unstage */
	}
	if (registry_node_publish_count(reg, volume_id, &pubs) == 0 && pubs > 0) {
		rpc_call_fail(call, DV_FAILED_PRECONDITION,
			      "volume %s is still published to %zu target(s); unpublish first", volume_id,
			      pubs);
		reg_stage_clear(&rs);
		return -EBUSY;
	}
	if (!rs.block) {
		/* ours only: what else is mounted there stays (and stops us) */
		char backing[4200] = "";
		node_volume nv;
		if (volume_find(drv, volume_id, &nv) == 0) {
			backing_path(&nv, backing, sizeof(backing));
			reg_volume_clear(&nv.v);
		}
		for (int i = 0; i < 8 && sys_mount_find(rs.staging_path, &(sys_mount_info){ 0 }) == 0; i++) {
			if (*backing &&
			    !mounted_from(rs.staging_path, *rs.device ? rs.device : NULL, backing)) {
				rpc_call_fail(call, DV_FAILED_PRECONDITION,
					      "%s has a mount dynvol did not make for volume %s on it; "
					      "not touching it", rs.staging_path, volume_id);
				reg_stage_clear(&rs);
				return -EBUSY;
			}
			r = umount_patiently(call, rs.staging_path);
			if (r == -EBUSY) {
				rpc_call_fail(call, DV_UNAVAILABLE,
					      "staging path %s is busy; retry when nothing uses it",
					      rs.staging_path);
				reg_stage_clear(&rs);
				return r;
			}
			if (r < 0 && r != -EINVAL)
				break;
		}
	}
	dv_crashpoint("node.unstage.after_umount");
	if (*rs.device && rs.block) {
		r = ro_view_detach(rs.device);
		if (r < 0) {
			rpc_call_fail(call, r == -EBUSY ? DV_UNAVAILABLE : DV_INTERNAL,
				      "read-only view of %s (volume %s): %s; retry", rs.device,
				      volume_id, strerror(-r));
			reg_stage_clear(&rs);
			return r;
		}
	}
	if (*rs.device) {
		r = sys_loop_detach(rs.device);
		if (r == -EBUSY) {
			rpc_call_fail(call, DV_UNAVAILABLE, "loop device %s of volume %s is busy; retry",
				      rs.device, volume_id);
			reg_stage_clear(&rs);
			return r;
		}
	}
	registry_stage_remove(reg, volume_id);
	log_info("node: unstaged volume %s from %s", volume_id, rs.staging_path);
	reg_stage_clear(&rs);
	return 0;
}

static void node_unstage(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__NodeUnstageVolumeRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };

	if (!fields_present(call, req->volume_id, "staging_target_path", req->staging_target_path,
			    true))
		return;
	if (!pool_id_is_valid(req->volume_id) ||
	    (!volume_known(drv, req->volume_id) && path_unsafe(drv, req->staging_target_path))) {
		/* never staged here, and dynvol never mounts at an unsafe
		 * path: nothing to undo, whatever the path looks like */
		Csi__V1__NodeUnstageVolumeResponse resp = CSI__V1__NODE_UNSTAGE_VOLUME_RESPONSE__INIT;
		rpc_call_reply(call, &resp.base);
		return;
	}
	if (!node_path_ok(drv, call, "staging_target_path", req->staging_target_path))
		return;
	if (store_lock_volume_at(drv->store, req->volume_id, req->staging_target_path, &st) < 0) {
		rpc_call_fail_status(call, &st);
		return;
	}
	if (do_unstage(drv, call, req->volume_id, req->staging_target_path) == 0) {
		Csi__V1__NodeUnstageVolumeResponse resp = CSI__V1__NODE_UNSTAGE_VOLUME_RESPONSE__INIT;
		rpc_call_reply(call, &resp.base);
	}
	store_unlock_volume_at(drv->store, req->volume_id, req->staging_target_path);
}

/* ------------------------------------------------------------------ */
/* publishing                                                          */

/* After an unpublish (or a failed publish): a block volume without publishes needs no view. */
static void release_ro_view(registry *reg, const char *volume_id)
{
	reg_stage rs = { 0 };
	size_t pubs = 1;
	int r;

	if (registry_stage_get(reg, volume_id, &rs) == 0 && rs.block && *rs.device &&
	    registry_node_publish_count(reg, volume_id, &pubs) == 0 && pubs == 0 &&
	    (r = ro_view_detach(rs.device)) < 0)
		log_warn("node: cannot detach the read-only view of %s: %s", rs.device,
			 strerror(-r));
	reg_stage_clear(&rs);
}

static int do_publish(csi_driver *drv, rpc_call *call, const node_volume *nv, const char *target,
		      bool readonly)
{
	const char *volume_id = nv->v.id;
	registry *reg = store_registry(drv->store);
	reg_stage rs = { 0 };
	sys_mount_info mi;
	char view[64];
	bool ro_rec;
	int r;

	r = registry_stage_get(reg, volume_id, &rs);
	if (r < 0 || rs.state != REG_STAGE_STAGED) {
		rpc_call_fail(call, DV_FAILED_PRECONDITION, "volume %s is not staged on this node",
			      volume_id);
		reg_stage_clear(&rs);
		return -ENOENT;
	}
	const char *source = rs.block ? rs.device : rs.staging_path;
	if (rs.block && nv->image && !image_on(nv, rs.device)) {
		rpc_call_fail(call, DV_FAILED_PRECONDITION,
			      "volume %s is not attached at %s as recorded (the node restarted?); "
			      "stage it again", volume_id, rs.device);
		reg_stage_clear(&rs);
		return -ENOENT;
	}
	/* The record says staged; the mount table must agree, or the pod
	 * would get the bare host directory under the staging path (or
	 * whatever else is mounted there now). */
	char backing[4200];
	backing_path(nv, backing, sizeof(backing));
	if (!rs.block && !mounted_from(rs.staging_path, nv->image ? rs.device : NULL, backing)) {
		rpc_call_fail(call, DV_FAILED_PRECONDITION,
			      "volume %s is not mounted at its staging path %s; stage it again",
			      volume_id, rs.staging_path);
		reg_stage_clear(&rs);
		return -ENOENT;
	}
	if (registry_node_publish_get(reg, volume_id, target, &ro_rec) == 0 &&
	    sys_mount_find(target, &mi) == 0) {
		if (ro_rec != readonly) {
			rpc_call_fail(call, DV_ALREADY_EXISTS,
				      "volume %s is published at %s %s", volume_id, target,
				      ro_rec ? "read-only" : "read-write");
			reg_stage_clear(&rs);
			return -EEXIST;
		}
		if (publish_intact(nv, &rs, target, &mi, readonly)) {
			reg_stage_clear(&rs);
			return 0; /* the same publish again */
		}
		/* ours, but half done by a killed call: bind it again (a mount
		 * that is not the volume's stays, and is refused below) */
		log_warn("node: publish of volume %s at %s was left incomplete; redoing it",
			 volume_id, target);
		for (int i = 0; i < 8 && sys_mount_find(target, &(sys_mount_info){ 0 }) == 0 &&
				mount_is_volumes(nv, &rs, target);
		     i++)
			if ((r = sys_umount(target)) < 0 && r != -EINVAL)
				break;
	}
	if (sys_mount_find(target, &(sys_mount_info){ 0 }) == 0) {
		char other[REG_ID_MAX] = "";
		registry_node_publish_find(reg, target, other, sizeof(other));
		rpc_call_fail(call, DV_ALREADY_EXISTS, "%s already has %s mounted on it", target,
			      *other ? other : "something else");
		reg_stage_clear(&rs);
		return -EEXIST;
	}
	r = rs.block ? ensure_file(target) : ensure_dir(target);
	if (r < 0) {
		rpc_call_fail(call, r == -ENOENT ? DV_FAILED_PRECONDITION : DV_INTERNAL, "target %s: %s",
			      target, r == -ENOENT ? "its parent directory does not exist" : strerror(-r));
		reg_stage_clear(&rs);
		return r;
	}
	r = registry_node_publish_put(reg, volume_id, target, readonly);
	dv_crashpoint("node.publish.after_record");
	if (r == 0 && rs.block && readonly) {
		r = ro_view_attach(rs.device, view, sizeof(view));
		if (r < 0) {
			registry_node_publish_remove(reg, volume_id, target);
			rpc_call_fail(call, DV_INTERNAL, "a read-only view of %s: %s", rs.device,
				      strerror(-r));
			reg_stage_clear(&rs);
			return r;
		}
		source = view;
		dv_crashpoint("node.publish.after_view");
	}
	/* a bound device node must stay openable: no MS_NODEV for block */
	if (r == 0)
		r = sys_mount_bind(source, target, readonly, MS_NOSUID | (rs.block ? 0 : MS_NODEV));
	if (r < 0) {
		registry_node_publish_remove(reg, volume_id, target);
		release_ro_view(reg, volume_id);
		rpc_call_fail(call, DV_INTERNAL, "bind-mounting %s on %s: %s", source, target,
			      strerror(-r));
		reg_stage_clear(&rs);
		return r;
	}
	log_info("node: published volume %s at %s%s", volume_id, target, readonly ? " (ro)" : "");
	reg_stage_clear(&rs);
	return 0;
}

static int do_unpublish(csi_driver *drv, rpc_call *call, const char *volume_id, const char *target)
{
	registry *reg = store_registry(drv->store);
	struct stat st;
	int r;

	/* Only what dynvol published there is ours to unmount. */
	if (registry_node_publish_get(reg, volume_id, target, NULL) < 0) {
		if (sys_mount_find(target, &(sys_mount_info){ 0 }) == 0) {
			rpc_call_fail(call, DV_FAILED_PRECONDITION,
				      "%s is a mount point dynvol did not make for volume %s; not touching it",
				      target, volume_id);
			return -EBUSY;
		}
		return 0;
	}

	/* What the volume is, to tell its mounts from someone else's. */
	node_volume nv;
	reg_stage rs = { 0 };
	bool known = volume_find(drv, volume_id, &nv) == 0 &&
		     registry_stage_get(reg, volume_id, &rs) == 0;
	for (int i = 0; i < 8 && sys_mount_find(target, &(sys_mount_info){ 0 }) == 0; i++) {
		struct stat top;
		/* a device node bound at a raw block target is the one we bound,
		 * even when its number has since been detached and reused */
		bool node_bind = rs.block && stat(target, &top) == 0 && S_ISBLK(top.st_mode);
		if (known && !node_bind && !mount_is_volumes(&nv, &rs, target)) {
			rpc_call_fail(call, DV_FAILED_PRECONDITION,
				      "%s has a mount dynvol did not make for volume %s on it; "
				      "not touching it", target, volume_id);
			reg_stage_clear(&rs);
			reg_volume_clear(&nv.v);
			return -EBUSY;
		}
		r = umount_patiently(call, target);
		if (r == -EBUSY) {
			rpc_call_fail(call, DV_UNAVAILABLE, "%s is busy; retry when nothing uses it",
				      target);
			reg_stage_clear(&rs);
			reg_volume_clear(&nv.v);
			return r;
		}
		if (r < 0 && r != -EINVAL) {
			rpc_call_fail(call, DV_INTERNAL, "unmounting %s: %s", target, strerror(-r));
			reg_stage_clear(&rs);
			reg_volume_clear(&nv.v);
			return r;
		}
	}
	reg_stage_clear(&rs);
	reg_volume_clear(&nv.v);
	if (lstat(target, &st) == 0) {
		r = S_ISDIR(st.st_mode) ? rmdir(target) : unlink(target);
		if (r < 0 && errno != ENOENT) {
			/* a directory with content is not a mount we made: keep it */
			log_warn("node: leaving %s in place: %s", target, strerror(errno));
		}
	}
	registry_node_publish_remove(reg, volume_id, target);
	release_ro_view(reg, volume_id);
	return 0;
}

/* ------------------------------------------------------------------ */
/* ephemeral inline volumes                                            */

static const char *ctx_get(Csi__V1__NodePublishVolumeRequest__VolumeContextEntry *const *e, size_t n,
			   const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (e[i]->key && !strcmp(e[i]->key, key))
			return e[i]->value;
	return NULL;
}

/* The kubelet's handle for an inline volume: printable, no '/'. */
static bool text_ok_simple(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x21 || *p == 0x7f || *p == '/')
			return false;
	return true;
}

static void ephemeral_name(char *buf, size_t len, const char *handle)
{
	snprintf(buf, len, "%s%s", EPHEMERAL_PREFIX, handle);
}

static void ephemeral_staging(const csi_driver *drv, const char *vol_id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/ephemeral/%s", drv->state_dir, vol_id);
}

static void publish_ephemeral(csi_driver *drv, rpc_call *call,
			      const Csi__V1__NodePublishVolumeRequest *req)
{
	dv_status st = { 0 };
	char name[300], staging[4200];
	const char *size_s = ctx_get(req->volume_context, req->n_volume_context, "size");
	const char *pool_s = ctx_get(req->volume_context, req->n_volume_context, "pool");
	const char *fs_s = ctx_get(req->volume_context, req->n_volume_context, "fsType");
	uint64_t size = DEFAULT_EPHEMERAL_SIZE;
	reg_volume v = { 0 };
	node_volume nv;
	const char *pools[1];

	if (req->volume_capability->access_type_case != CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "ephemeral volumes are filesystem volumes");
		return;
	}
	if (size_s && (dv_parse_size(size_s, &size) < 0 || size == 0)) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT,
			      "volume attribute size '%s' is not a size like 1Gi", size_s);
		return;
	}
	for (size_t i = 0; i < req->n_volume_context; i++) {
		const char *k = req->volume_context[i]->key;
		if (strcmp(k, "size") && strcmp(k, "pool") && strcmp(k, "fsType") &&
		    strncmp(k, "csi.storage.k8s.io/", 19)) {
			rpc_call_fail(call, DV_INVALID_ARGUMENT,
				      "unknown volume attribute '%s' (known: size, pool, fsType)", k);
			return;
		}
	}
	if (!text_ok_simple(req->volume_id)) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_id is malformed");
		return;
	}
	ephemeral_name(name, sizeof(name), req->volume_id);
	pools[0] = pool_s;
	store_volume_request sreq = {
		.name = name,
		.pools = pool_s ? pools : NULL,
		.n_pools = pool_s ? 1 : 0,
		.required = size,
		.fs_type = fs_s,
		.parameters = "{\"ephemeral\":\"true\"}",
	};
	int r = store_volume_create(drv->store, &sreq, &v, &st);
	if (r < 0 && r != -EEXIST) {
		if (!st.code)
			dv_status_set(&st, DV_INTERNAL, "creating the ephemeral volume failed");
		rpc_call_fail_status(call, &st);
		return;
	}
	if (lookup(drv, call, v.id, &nv) < 0) {
		reg_volume_clear(&v);
		return;
	}
	reg_volume_clear(&v);
	ephemeral_staging(drv, nv.v.id, staging, sizeof(staging));
	{
		char parent[4200];
		snprintf(parent, sizeof(parent), "%s/ephemeral", drv->state_dir);
		ensure_dir(parent);
	}
	if (store_lock_volume_at(drv->store, nv.v.id, req->target_path, &st) < 0) {
		rpc_call_fail_status(call, &st);
		reg_volume_clear(&nv.v);
		return;
	}
	reg_stage rs = { 0 };
	r = 0;
	if (registry_stage_get(store_registry(drv->store), nv.v.id, &rs) < 0 ||
	    rs.state != REG_STAGE_STAGED)
		r = do_stage(drv, call, &nv, staging, req->volume_capability, NULL);
	reg_stage_clear(&rs);
	if (r == 0 && do_publish(drv, call, &nv, req->target_path, req->readonly) == 0) {
		Csi__V1__NodePublishVolumeResponse resp = CSI__V1__NODE_PUBLISH_VOLUME_RESPONSE__INIT;
		rpc_call_reply(call, &resp.base);
	}
	store_unlock_volume_at(drv->store, nv.v.id, req->target_path);
	reg_volume_clear(&nv.v);
}

/* Tears down an ephemeral volume published at target: unpublish,
 * unstage, delete. Returns 1 when handle was ephemeral. */
static int unpublish_ephemeral(csi_driver *drv, rpc_call *call, const char *handle,
			       const char *target)
{
	char name[300];
	reg_volume v;
	dv_status st = { 0 };
	int r;

	ephemeral_name(name, sizeof(name), handle);
	if (registry_volume_get_by_name(store_registry(drv->store), name, &v) < 0)
		return 0;
	if (!node_path_ok(drv, call, "target_path", target)) {
		reg_volume_clear(&v);
		return -EINVAL;
	}
	if (store_lock_volume_at(drv->store, v.id, target, &st) < 0) {
		rpc_call_fail_status(call, &st);
		reg_volume_clear(&v);
		return -EBUSY;
	}
	r = do_unpublish(drv, call, v.id, target);
	if (r == 0)
		r = do_unstage(drv, call, v.id, NULL);
	store_unlock_volume_at(drv->store, v.id, target);
	if (r == 0 && store_volume_delete(drv->store, v.id, &st) < 0) {
		rpc_call_fail_status(call, &st);
		r = -EIO;
	}
	if (r == 0) {
		char staging[4200];
		ephemeral_staging(drv, v.id, staging, sizeof(staging));
		rmdir(staging);
		log_info("node: ephemeral volume %s (%s) removed", v.id, handle);
	}
	reg_volume_clear(&v);
	return r < 0 ? r : 1;
}

static void node_publish(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__NodePublishVolumeRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };
	node_volume nv;
	const char *why;

	if (!fields_present(call, req->volume_id, "target_path", req->target_path,
			    req->volume_capability != NULL))
		return;
	const char *eph = ctx_get(req->volume_context, req->n_volume_context, EPHEMERAL_KEY);
	if (eph && !strcmp(eph, "true")) {
		/* made by this call: nothing to look up first */
		if (node_path_ok(drv, call, "target_path", req->target_path) &&
		    check_node_cap(call, req->volume_capability, NULL) == 0)
			publish_ephemeral(drv, call, req);
		return;
	}
	if (lookup(drv, call, req->volume_id, &nv) < 0)
		return;
	if (!node_path_ok(drv, call, "target_path", req->target_path))
		goto out;
	if (req->staging_target_path && *req->staging_target_path &&
	    (why = path_unsafe(drv, req->staging_target_path))) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "staging_target_path %s %s",
			      req->staging_target_path, why);
		goto out;
	}
	if (check_node_cap(call, req->volume_capability, &nv) < 0)
		goto out;
	if (store_lock_volume_at(drv->store, nv.v.id, req->target_path, &st) < 0) {
		rpc_call_fail_status(call, &st);
		goto out;
	}
	if (still_there(drv, call, &nv) &&
	    do_publish(drv, call, &nv, req->target_path, req->readonly) == 0) {
		Csi__V1__NodePublishVolumeResponse resp = CSI__V1__NODE_PUBLISH_VOLUME_RESPONSE__INIT;
		rpc_call_reply(call, &resp.base);
	}
	store_unlock_volume_at(drv->store, nv.v.id, req->target_path);
out:
	reg_volume_clear(&nv.v);
}

static void node_unpublish(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__NodeUnpublishVolumeRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };
	int r;

	if (!fields_present(call, req->volume_id, "target_path", req->target_path, true))
		return;
	if (!pool_id_is_valid(req->volume_id)) {
		r = unpublish_ephemeral(drv, call, req->volume_id, req->target_path);
		if (r >= 0) {
			Csi__V1__NodeUnpublishVolumeResponse resp = CSI__V1__NODE_UNPUBLISH_VOLUME_RESPONSE__INIT;
			rpc_call_reply(call, &resp.base); /* torn down, or never ours */
		}
		return;
	}
	if (!volume_known(drv, req->volume_id) && path_unsafe(drv, req->target_path)) {
		/* never published here (see node_unstage) */
		Csi__V1__NodeUnpublishVolumeResponse resp = CSI__V1__NODE_UNPUBLISH_VOLUME_RESPONSE__INIT;
		rpc_call_reply(call, &resp.base);
		return;
	}
	if (!node_path_ok(drv, call, "target_path", req->target_path))
		return;
	if (store_lock_volume_at(drv->store, req->volume_id, req->target_path, &st) < 0) {
		rpc_call_fail_status(call, &st);
		return;
	}
	if (do_unpublish(drv, call, req->volume_id, req->target_path) == 0) {
		Csi__V1__NodeUnpublishVolumeResponse resp = CSI__V1__NODE_UNPUBLISH_VOLUME_RESPONSE__INIT;
		rpc_call_reply(call, &resp.base);
	}
	store_unlock_volume_at(drv->store, req->volume_id, req->target_path);
}

/* ------------------------------------------------------------------ */
/* stats and expansion                                                 */

static void node_stats(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__NodeGetVolumeStatsRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	node_volume nv;
	reg_stage rs = { 0 };
	sys_mount_info mi;
	Csi__V1__NodeGetVolumeStatsResponse resp = CSI__V1__NODE_GET_VOLUME_STATS_RESPONSE__INIT;
	Csi__V1__VolumeUsage bytes = CSI__V1__VOLUME_USAGE__INIT, inodes = CSI__V1__VOLUME_USAGE__INIT;
	Csi__V1__VolumeUsage *usage[2] = { &bytes, &inodes };
	Csi__V1__VolumeCondition cond = CSI__V1__VOLUME_CONDITION__INIT;
	char msg[4400] = "healthy", backing[4200];
	const char *why;

	if (!fields_present(call, req->volume_id, "volume_path", req->volume_path, true))
		return;
	/* Is the volume there, and at that path? Both NOT_FOUND, before the
	 * path's form is looked at: an odd path (relative, say) names no
	 * place a volume of ours is available at. */
	if (lookup(drv, call, req->volume_id, &nv) < 0)
		return;
	if (registry_stage_get(store_registry(drv->store), nv.v.id, &rs) < 0) {
		rpc_call_fail(call, DV_NOT_FOUND, "volume %s is not staged on this node", nv.v.id);
		goto out;
	}
	bool published = registry_node_publish_get(store_registry(drv->store), nv.v.id,
						   req->volume_path, NULL) == 0;
	if (!published && strcmp(req->volume_path, rs.staging_path)) {
		rpc_call_fail(call, DV_NOT_FOUND, "volume %s is not available at %s", nv.v.id,
			      req->volume_path);
		goto out;
	}
	/* a recorded path was safe when it was mounted; a symlink may have
	 * been planted in it since (ephemeral stages live in the state dir) */
	if ((why = path_unsafe(drv, req->volume_path)) &&
	    strncmp(req->volume_path, drv->state_dir, strlen(drv->state_dir))) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_path %s %s", req->volume_path, why);
		goto out;
	}
	backing_path(&nv, backing, sizeof(backing));
	bool abnormal = false;
	if (access(backing, F_OK) < 0) {
		abnormal = true;
		snprintf(msg, sizeof(msg), "the volume's backing %s is missing", backing);
	} else if (sys_mount_find(req->volume_path, &mi) < 0) {
		abnormal = true;
		snprintf(msg, sizeof(msg), "%s is not mounted", req->volume_path);
	} else if (!rs.block && mi.readonly) {
		bool ro_pub = false;
		registry_node_publish_get(store_registry(drv->store), nv.v.id, req->volume_path, &ro_pub);
		if (!ro_pub && !strstr(rs.mount_flags ? rs.mount_flags : "", "ro")) {
			abnormal = true;
			snprintf(msg, sizeof(msg), "%s is read-only (file system errors?)",
				 req->volume_path);
		}
	}
	cond.abnormal = abnormal;
	cond.message = msg;
	resp.volume_condition = &cond;
	if (rs.block) {
		uint64_t size = 0;
		if (*rs.device && sys_blockdev_size(rs.device, &size) == 0) {
			bytes.unit = CSI__V1__VOLUME_USAGE__UNIT__BYTES;
			bytes.total = (int64_t)size;
			resp.n_usage = 1;
			resp.usage = usage;
		}
	} else if (!abnormal || mi.fstype[0]) {
		struct statvfs sv;
		if (statvfs(req->volume_path, &sv) == 0) {
			bytes.unit = CSI__V1__VOLUME_USAGE__UNIT__BYTES;
			bytes.total = (int64_t)(sv.f_blocks * sv.f_frsize);
			bytes.available = (int64_t)(sv.f_bavail * sv.f_frsize);
			bytes.used = (int64_t)((sv.f_blocks - sv.f_bfree) * sv.f_frsize);
			inodes.unit = CSI__V1__VOLUME_USAGE__UNIT__INODES;
			inodes.total = (int64_t)sv.f_files;
			inodes.available = (int64_t)sv.f_favail;
			inodes.used = (int64_t)(sv.f_files - sv.f_ffree);
			resp.n_usage = 2;
			resp.usage = usage;
		}
		/* btrfs and dir volumes share their pool's file system: the
		 * volume's own numbers come from the pool */
		pool_usage pu;
		if (!nv.image && nv.p->ops->volume_usage &&
		    nv.p->ops->volume_usage(nv.p, nv.v.id, &pu) == 0 && pu.total_bytes &&
		    (nv.p->caps & POOL_CAP_ENFORCES_SIZE)) {
			bytes.total = (int64_t)pu.total_bytes;
			bytes.used = (int64_t)pu.used_bytes;
			bytes.available = (int64_t)pu.available_bytes;
		}
	}
	rpc_call_reply(call, &resp.base);
out:
	reg_stage_clear(&rs);
	reg_volume_clear(&nv.v);
}

static void node_expand(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	const Csi__V1__NodeExpandVolumeRequest *req = (const void *)reqm;
	csi_driver *drv = payload;
	dv_status st = { 0 };
	node_volume nv;
	reg_stage rs = { 0 };
	char err[512];
	uint64_t size = 0;
	int r;

	if (!req->volume_path || !*req->volume_path) {
		rpc_call_fail(call, DV_INVALID_ARGUMENT, "volume_path is required");
		return;
	}
	if (lookup(drv, call, req->volume_id, &nv) < 0)
		return;
	if (req->capacity_range && req->capacity_range->limit_bytes > 0 &&
	    (uint64_t)req->capacity_range->limit_bytes < nv.v.capacity) {
		rpc_call_fail(call, DV_OUT_OF_RANGE, "volume %s is already %" PRIu64 " bytes", nv.v.id,
			      nv.v.capacity);
		goto out;
	}
	if (store_lock_volume(drv->store, nv.v.id, &st) < 0) {
		rpc_call_fail_status(call, &st);
		goto out;
	}
	if (!still_there(drv, call, &nv))
		goto unlock;
	if (registry_stage_get(store_registry(drv->store), nv.v.id, &rs) < 0 ||
	    rs.state != REG_STAGE_STAGED) {
		rpc_call_fail(call, DV_FAILED_PRECONDITION, "volume %s is not staged on this node",
			      nv.v.id);
		goto unlock;
	}
	if (nv.image) {
		r = sys_loop_refresh_capacity(rs.device);
		if (r == 0)
			r = sys_blockdev_size(rs.device, &size);
		if (r == 0 && rs.block)
			r = ro_view_refresh(rs.device);
		if (r < 0) {
			rpc_call_fail(call, DV_INTERNAL, "refreshing %s: %s", rs.device, strerror(-r));
			goto unlock;
		}
		if (!rs.block) {
			r = sys_fs_grow(rs.device, rs.staging_path, rs.fs_type, err, sizeof(err));
			if (r < 0) {
				rpc_call_fail(call, DV_INTERNAL, "growing the %s file system: %s", rs.fs_type,
					      err);
				goto unlock;
			}
		}
	} else {
		size = nv.v.capacity; /* btrfs/dir: the limit is the size, nothing to grow */
	}
	Csi__V1__NodeExpandVolumeResponse resp = CSI__V1__NODE_EXPAND_VOLUME_RESPONSE__INIT;
	resp.capacity_bytes = (int64_t)size;
	rpc_call_reply(call, &resp.base);
unlock:
	store_unlock_volume(drv->store, nv.v.id);
out:
	reg_stage_clear(&rs);
	reg_volume_clear(&nv.v);
	dv_status_clear(&st);
}

/* ------------------------------------------------------------------ */
/* recovery                                                            */

int csi_node_recover(csi_driver *drv)
{
	registry *reg = store_registry(drv->store);
	reg_stage *stages;
	size_t n;
	int r = registry_stage_list(reg, &stages, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		reg_stage *rs = &stages[i];
		if (rs->state != REG_STAGE_STAGING)
			continue;
		/* A stage that never answered OK: the CO will call again.
		 * Undo what it did so nothing stays attached or mounted. */
		if (!rs->block && rs->staging_path && *rs->device &&
		    mounted_from(rs->staging_path, rs->device, NULL))
			sys_umount(rs->staging_path);
		else if (!rs->block && rs->staging_path && !*rs->device) {
			node_volume nv;
			char backing[4200];
			memset(&nv, 0, sizeof(nv));
			if (registry_volume_get(reg, rs->volume_id, &nv.v) == 0 &&
			    (nv.p = store_pool_find(drv->store, nv.v.pool))) {
				backing_path(&nv, backing, sizeof(backing));
				if (mounted_from(rs->staging_path, NULL, backing))
					sys_umount(rs->staging_path);
			}
			reg_volume_clear(&nv.v);
		}
		if (!*rs->device) {
			/* killed between attach and recording it: find it */
			reg_volume v = { 0 };
			pool *p;
			if (registry_volume_get(reg, rs->volume_id, &v) == 0 &&
			    (p = store_pool_find(drv->store, v.pool)) && !strcmp(p->ops->backend, "image")) {
				char name[128];
				snprintf(name, sizeof(name), "%s.img", v.id);
				int fd = sys_open_beneath(p->volumes_fd, name, O_RDONLY, 0);
				if (fd >= 0) {
					if (sys_loop_find(fd, rs->device, sizeof(rs->device)) < 0)
						rs->device[0] = 0;
					close(fd);
				}
			}
			reg_volume_clear(&v);
			if (*rs->device && !rs->block && rs->staging_path &&
			    mounted_from(rs->staging_path, rs->device, NULL))
				sys_umount(rs->staging_path);
		}
		if (*rs->device) {
			r = sys_loop_detach(rs->device);
			if (r < 0 && r != -ENXIO)
				log_warn("recovery: cannot detach %s of volume %s: %s", rs->device,
					 rs->volume_id, strerror(-r));
		}
		registry_stage_remove(reg, rs->volume_id);
		log_info("recovery: interrupted stage of volume %s undone", rs->volume_id);
	}
	registry_stages_free(stages, n);
	return 0;
}

/* ------------------------------------------------------------------ */

static void node_caps(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	static const int types[] = {
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__STAGE_UNSTAGE_VOLUME,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME_STATS,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_CONDITION,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__SINGLE_NODE_MULTI_WRITER,
		CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_MOUNT_GROUP,
	};
	enum { N = sizeof(types) / sizeof(types[0]) };
	Csi__V1__NodeServiceCapability caps[N], *capp[N];
	Csi__V1__NodeServiceCapability__RPC rpcs[N];
	Csi__V1__NodeGetCapabilitiesResponse resp = CSI__V1__NODE_GET_CAPABILITIES_RESPONSE__INIT;

	for (size_t i = 0; i < N; i++) {
		csi__v1__node_service_capability__init(&caps[i]);
		csi__v1__node_service_capability__rpc__init(&rpcs[i]);
		rpcs[i].type = types[i];
		caps[i].type_case = CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC;
		caps[i].rpc = &rpcs[i];
		capp[i] = &caps[i];
	}
	resp.n_capabilities = N;
	resp.capabilities = capp;
	rpc_call_reply(call, &resp.base);
}

static void node_info(rpc_call *call, const ProtobufCMessage *reqm, void *payload)
{
	csi_driver *drv = payload;
	Csi__V1__NodeGetInfoResponse resp = CSI__V1__NODE_GET_INFO_RESPONSE__INIT;
	Csi__V1__Topology topo = CSI__V1__TOPOLOGY__INIT;
	size_t n = drv->config->n_topology + 1;
	Csi__V1__Topology__SegmentsEntry segs[n], *segp[n];

	for (size_t i = 0; i < n; i++) {
		csi__v1__topology__segments_entry__init(&segs[i]);
		segs[i].key = i ? drv->config->topology[i - 1].key : (char *)CSI_TOPOLOGY_NODE_KEY;
		segs[i].value = i ? drv->config->topology[i - 1].value : (char *)drv->node_id;
		segp[i] = &segs[i];
	}
	topo.n_segments = n;
	topo.segments = segp;
	resp.node_id = (char *)drv->node_id;
	resp.max_volumes_per_node = (int64_t)drv->max_volumes_per_node;
	resp.accessible_topology = &topo;
	rpc_call_reply(call, &resp.base);
}

#define NM(name, fn, handler, flags)                                                        \
	{ "/csi.v1.Node/" #name, &csi__v1__##fn##_request__descriptor,                      \
	  &csi__v1__##fn##_response__descriptor, handler, flags }

static const rpc_method node_methods[] = {
	NM(NodeStageVolume, node_stage_volume, node_stage, 0),
	NM(NodeUnstageVolume, node_unstage_volume, node_unstage, 0),
	NM(NodePublishVolume, node_publish_volume, node_publish, 0),
	NM(NodeUnpublishVolume, node_unpublish_volume, node_unpublish, 0),
	NM(NodeGetVolumeStats, node_get_volume_stats, node_stats, 0),
	NM(NodeExpandVolume, node_expand_volume, node_expand, 0),
	NM(NodeGetCapabilities, node_get_capabilities, node_caps, RPC_METHOD_INLINE),
	NM(NodeGetInfo, node_get_info, node_info, RPC_METHOD_INLINE),
};

int csi_node_register(rpc_server *srv, csi_driver *drv)
{
	for (size_t i = 0; i < sizeof(node_methods) / sizeof(node_methods[0]); i++) {
		int r = rpc_server_add_method(srv, &node_methods[i], drv);
		if (r < 0)
			return r;
	}
	return 0;
}
