/*
 * btrfs.c - btrfs subvolumes, snapshots, qgroups and compression through
 * the kernel's ioctls.
 *
 * Everything here works on file descriptors the caller already resolved
 * safely (beneath the pool root); names handed to the kernel are checked
 * to be one plain path component first, so a request can never make the
 * kernel create or destroy a subvolume somewhere else.
 *
 * Most of these ioctls need CAP_SYS_ADMIN (quota control, tree search,
 * subvolume deletion of subvolumes the caller does not own); the driver
 * runs as root.
 */
#include "btrfs.h"
#include "path.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>

#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>

/* The property the kernel maps onto the inode's compression flags; new
 * files and directories inherit it from their parent directory. */
#define BTRFS_XATTR_COMPRESSION "btrfs.compression"

/* BTRFS_IOC_QGROUP_LIMIT treats this value as "remove the limit"; 0 would
 * be a real limit of zero bytes. */
#define BTRFS_QGROUP_LIMIT_CLEAR UINT64_MAX

/* ioctl() that returns 0 or -errno, so callers can propagate it as is. */
static int btrfs_ioctl(int fd, unsigned long req, void *arg)
{
	if (ioctl(fd, req, arg) < 0)
		return -errno;
	return 0;
}

/* Fills a vol_args_v2 for name-based subvolume ioctls; name is validated. */
static int btrfs_vol_args_init(struct btrfs_ioctl_vol_args_v2 *args, const char *name)
{
	/* One component looked up in dir_fd itself. The kernel rejects '/'
	 * too, but "." and ".." it would look up and act on. */
	if (!sys_name_is_safe(name))
		return -EINVAL;
	memset(args, 0, sizeof(*args));
	/* <= 255 bytes against a 4040-byte buffer: always NUL-terminated. */
	memcpy(args->name, name, strlen(name));
	return 0;
}

bool sys_btrfs_is(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return false;
	return sfs.f_type == (__typeof__(sfs.f_type))BTRFS_SUPER_MAGIC;
}

bool sys_btrfs_is_subvol(int fd)
{
	struct stat st;

	if (!sys_btrfs_is(fd))
		return false;
	if (fstat(fd, &st) < 0)
		return false;
	/* Every subvolume's root directory is inode 256 of its own tree;
	 * nothing else on btrfs has that inode number. */
	return S_ISDIR(st.st_mode) && st.st_ino == BTRFS_FIRST_FREE_OBJECTID;
}

/*
 * Commits the running transaction after flushing dirty data (the kernel's
 * btrfs_sync_fs with wait): delayed references are run, which is when
 * qgroups are accounted, and the qgroup items in the quota tree are
 * rewritten with the new numbers.
 */
static int btrfs_sync(int fd)
{
	return btrfs_ioctl(fd, BTRFS_IOC_SYNC, NULL);
}

int sys_btrfs_quota_enable(int fd)
{
	struct btrfs_ioctl_quota_ctl_args args = { .cmd = BTRFS_QUOTA_CTL_ENABLE };
	int r;

	/* The kernel returns 0 when quotas are already on. */
	r = btrfs_ioctl(fd, BTRFS_IOC_QUOTA_CTL, &args);
	if (r < 0)
		return r;
	/*
	 * Enabling starts a rescan of everything already on the file system;
	 * until it ends, qgroup numbers (and so limits) are not trustworthy.
	 * Waiting here makes "enabled" mean "accounting is correct". When no
	 * rescan runs this returns at once.
	 */
	return btrfs_ioctl(fd, BTRFS_IOC_QUOTA_RESCAN_WAIT, NULL);
}

int sys_btrfs_subvol_create(int dir_fd, const char *name)
{
	struct btrfs_ioctl_vol_args_v2 args;
	int r;

	r = btrfs_vol_args_init(&args, name);
	if (r < 0)
		return r;
	return btrfs_ioctl(dir_fd, BTRFS_IOC_SUBVOL_CREATE_V2, &args);
}

int sys_btrfs_snapshot(int src_fd, int dir_fd, const char *name, bool read_only)
{
	struct btrfs_ioctl_vol_args_v2 args;
	int r;

	r = btrfs_vol_args_init(&args, name);
	if (r < 0)
		return r;
	if (src_fd < 0)
		return -EBADF;
	args.fd = src_fd;
	/* The snapshot is read-only from the moment it appears: no window in
	 * which a writer could change it before a SETFLAGS. */
	args.flags = read_only ? BTRFS_SUBVOL_RDONLY : 0;
	return btrfs_ioctl(dir_fd, BTRFS_IOC_SNAP_CREATE_V2, &args);
}

int sys_btrfs_subvol_delete(int dir_fd, const char *name)
{
	struct btrfs_ioctl_vol_args_v2 args;
	struct btrfs_ioctl_vol_args args_v1;
	int r;

	r = btrfs_vol_args_init(&args, name);
	if (r < 0)
		return r;
	/*
	 * With CAP_SYS_ADMIN the kernel deletes read-only subvolumes too (the
	 * read-only flag protects the contents, not the entry in the parent
	 * directory). It refuses with -EINVAL when name is not a subvolume
	 * (a plain directory is never removed by this call), -ENOTEMPTY when
	 * other subvolumes are nested inside, -EPERM while it is the default
	 * subvolume, being sent or holds an active swap file.
	 * The directory entry goes at once; the extents are freed later by
	 * the cleaner thread, so free space and qgroup numbers lag behind.
	 */
	r = btrfs_ioctl(dir_fd, BTRFS_IOC_SNAP_DESTROY_V2, &args);
	if (r != -ENOTTY)
		return r;

	/* Kernels before 5.7 only have the v1 call (the same by name). If
	 * dir_fd is not on btrfs at all, this fails with -ENOTTY as well. */
	memset(&args_v1, 0, sizeof(args_v1));
	memcpy(args_v1.name, name, strlen(name));
	return btrfs_ioctl(dir_fd, BTRFS_IOC_SNAP_DESTROY, &args_v1);
}

int sys_btrfs_subvol_id(int fd, uint64_t *ret_id)
{
	struct btrfs_ioctl_ino_lookup_args args;
	int r;

	/*
	 * treeid 0 asks for the tree (subvolume) of the inode behind fd; with
	 * objectid 256 the kernel returns that tree id without resolving a
	 * path, and without needing CAP_SYS_ADMIN. fd may be any file in the
	 * subvolume; the answer is the subvolume containing it.
	 */
	memset(&args, 0, sizeof(args));
	args.treeid = 0;
	args.objectid = BTRFS_FIRST_FREE_OBJECTID;
	r = btrfs_ioctl(fd, BTRFS_IOC_INO_LOOKUP, &args);
	if (r < 0)
		return r;
	*ret_id = args.treeid;
	return 0;
}

int sys_btrfs_qgroup_limit(int fd, uint64_t max_referenced)
{
	struct btrfs_ioctl_qgroup_limit_args args;
	uint64_t id;
	int r;

	r = sys_btrfs_subvol_id(fd, &id);
	if (r < 0)
		return r;
	memset(&args, 0, sizeof(args));
	/* Level-0 qgroup ids are 0/<subvol id>: the level is in the top 16
	 * bits, so the id is the subvolume id itself. */
	args.qgroupid = id;
	args.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER;
	args.lim.max_rfer = max_referenced ? max_referenced : BTRFS_QGROUP_LIMIT_CLEAR;
	/* -ENOTCONN when quotas are off, -ENOENT when the qgroup is gone. */
	return btrfs_ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &args);
}

/*
 * Reads the one item with key (0, type, offset) from the quota tree into
 * item (its first len bytes). -ENOENT when there is no such item,
 * -ENOTCONN when quotas are off (the kernel has no quota tree then),
 * -EIO when the item is shorter than expected.
 */
static int btrfs_quota_item(int fd, uint32_t type, uint64_t offset, void *item, size_t len)
{
	struct btrfs_ioctl_search_args args;
	struct btrfs_ioctl_search_header sh;
	int r;

	memset(&args, 0, sizeof(args));
	args.key.tree_id = BTRFS_QUOTA_TREE_OBJECTID;
	args.key.min_objectid = 0;
	args.key.max_objectid = 0;
	args.key.min_type = type;
	args.key.max_type = type;
	args.key.min_offset = offset;
	args.key.max_offset = offset;
	args.key.min_transid = 0;
	args.key.max_transid = UINT64_MAX;
	args.key.nr_items = 1;
	r = btrfs_ioctl(fd, BTRFS_IOC_TREE_SEARCH, &args);
	if (r == -ENOENT)
		return -ENOTCONN;
	if (r < 0)
		return r;
	if (args.key.nr_items == 0)
		return -ENOENT;
	/* Headers are packed into buf without alignment guarantees. */
	memcpy(&sh, args.buf, sizeof(sh));
	if (sh.objectid != 0 || sh.type != type || sh.offset != offset)
		return -ENOENT;
	/* Newer kernels append fields (the status item grew enable_gen for
	 * simple quotas); the prefix we know keeps its layout. */
	if (sh.len < len || sizeof(sh) + sh.len > sizeof(args.buf))
		return -EIO;
	memcpy(item, args.buf + sizeof(sh), len);
	return 0;
}

/*
 * Makes the numbers in the quota tree current: commits (so accounting of
 * all written data has run and the items are rewritten), and when the
 * kernel marked qgroups inconsistent (e.g. after deleting a big subvolume
 * or a qgroup relation change) rescans and commits again.
 */
static int btrfs_qgroup_settle(int fd)
{
	struct btrfs_qgroup_status_item status;
	struct btrfs_ioctl_quota_rescan_args rescan;
	uint64_t flags;
	int r;

	r = btrfs_sync(fd);
	if (r < 0)
		return r;
	r = btrfs_quota_item(fd, BTRFS_QGROUP_STATUS_KEY, 0, &status, sizeof(status));
	if (r < 0)
		return r;
	flags = le64toh(status.flags);
	if (!(flags & (BTRFS_QGROUP_STATUS_FLAG_INCONSISTENT | BTRFS_QGROUP_STATUS_FLAG_RESCAN)))
		return 0;
	if ((flags & BTRFS_QGROUP_STATUS_FLAG_INCONSISTENT) &&
	    !(flags & BTRFS_QGROUP_STATUS_FLAG_RESCAN)) {
		memset(&rescan, 0, sizeof(rescan));
		r = btrfs_ioctl(fd, BTRFS_IOC_QUOTA_RESCAN, &rescan);
		/* Someone else started one meanwhile: wait for theirs. */
		if (r < 0 && r != -EINPROGRESS)
			return r;
	}
	r = btrfs_ioctl(fd, BTRFS_IOC_QUOTA_RESCAN_WAIT, NULL);
	if (r < 0)
		return r;
	return btrfs_sync(fd);
}

int sys_btrfs_qgroup_usage(int fd, uint64_t *ret_referenced, uint64_t *ret_exclusive,
			   uint64_t *ret_limit)
{
	struct btrfs_qgroup_info_item info;
	struct btrfs_qgroup_limit_item limit;
	uint64_t id, limit_bytes = 0;
	int r;

	r = sys_btrfs_subvol_id(fd, &id);
	if (r < 0)
		return r;
	r = btrfs_qgroup_settle(fd);
	if (r < 0)
		return r;
	r = btrfs_quota_item(fd, BTRFS_QGROUP_INFO_KEY, id, &info, sizeof(info));
	if (r < 0)
		return r;
	/* A qgroup that never had a limit set may have no limit item. */
	r = btrfs_quota_item(fd, BTRFS_QGROUP_LIMIT_KEY, id, &limit, sizeof(limit));
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0 && (le64toh(limit.flags) & BTRFS_QGROUP_LIMIT_MAX_RFER))
		limit_bytes = le64toh(limit.max_rfer);

	if (ret_referenced)
		*ret_referenced = le64toh(info.rfer);
	if (ret_exclusive)
		*ret_exclusive = le64toh(info.excl);
	if (ret_limit)
		*ret_limit = limit_bytes;
	return 0;
}

int sys_btrfs_set_compression(int fd, const char *algo)
{
	static const char *const known[] = { "zstd", "lzo", "zlib" };
	bool ok = false;

	if (!algo)
		return -EINVAL;
	/*
	 * An empty value removes the property and clears the inode's
	 * compression flags, so the mount options decide again (the kernel
	 * treats a zero-length set as a delete and succeeds when nothing was
	 * set). The kernel's "no"/"none" mean "never compress, whatever the
	 * mount says" - not offered here, callers only get the documented set.
	 */
	if (algo[0] == '\0')
		return fsetxattr(fd, BTRFS_XATTR_COMPRESSION, "", 0, 0) < 0 ? -errno : 0;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(algo, known[i]) == 0)
			ok = true;
	if (!ok)
		return -EINVAL;
	if (fsetxattr(fd, BTRFS_XATTR_COMPRESSION, algo, strlen(algo), 0) < 0)
		return -errno;
	return 0;
}

int sys_btrfs_get_compression(int fd, char *buf, size_t len)
{
	ssize_t n;

	if (!buf || len == 0)
		return -EINVAL;
	/* Leave room for the NUL: the xattr value is not terminated. */
	n = fgetxattr(fd, BTRFS_XATTR_COMPRESSION, buf, len - 1);
	if (n < 0) {
		if (errno == ENODATA) {
			buf[0] = '\0';
			return 0;
		}
		return -errno;
	}
	buf[n] = '\0';
	return 0;
}

int sys_btrfs_set_readonly(int fd, bool read_only)
{
	uint64_t flags, want;
	int r;

	r = btrfs_ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags);
	if (r < 0)
		return r;
	want = read_only ? (flags | BTRFS_SUBVOL_RDONLY) : (flags & ~(uint64_t)BTRFS_SUBVOL_RDONLY);
	/* Already so: no transaction, and no clearing of received_uuid that
	 * the kernel does when a received subvolume turns writable. */
	if (want == flags)
		return 0;
	return btrfs_ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, &want);
}
