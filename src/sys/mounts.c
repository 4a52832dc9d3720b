/*
 * mounts.c - mount(2)/umount2(2) wrappers and the mount table through
 * libmount.
 *
 * Symlinks at the target: the target is opened O_PATH|O_NOFOLLOW and the
 * mount is made on /proc/self/fd/N, the object that open found. A symlink
 * (checked with fstat on that fd) is refused with -ELOOP, and a target
 * swapped for a symlink between our check and mount(2) cannot redirect
 * the mount: the kernel resolves the fd, not the path. This needs /proc,
 * which reading the mount table needs anyway.
 *
 * Read-only binds: the kernel ignores MS_RDONLY (and nosuid, nodev...) on
 * the MS_BIND call; a second MS_REMOUNT|MS_BIND call sets the per-mount
 * flags. That call replaces all of them, so the flags the new bind
 * inherited from its source (read from statvfs) are carried over: a bind
 * made here never has fewer restrictions than the mount it came from.
 *
 * Mount table: libmount parses /proc/self/mountinfo (escapes such as
 * "\040" decoded). No libmount cache is attached, so targets are matched
 * as strings and never canonicalised: nothing stats or follows a path
 * that may be a hung NFS mount or a planted symlink.
 */
#include "sys/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <libmount/libmount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define MOUNTINFO_PATH "/proc/self/mountinfo"
/* The kernel reports nosymfollow in statfs f_flags (Linux >= 5.10, value
 * from linux/statfs.h) and glibc passes it through; older glibc headers
 * lack the name. */
#ifndef ST_NOSYMFOLLOW
#define ST_NOSYMFOLLOW 0x2000
#endif
/* "/proc/self/fd/" + an int + NUL. */
#define PROC_FD_PATH_MAX 32

/* Per-mount flags a bind (MS_REMOUNT|MS_BIND) can set. */
#define BIND_MNT_FLAGS                                                                    \
	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME |      \
	 MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW)
/* Super-block flags: meaningless for a bind of an existing mount; accepted
 * in sys_mount_bind's extra_flags (they may come from a CSI mount_flags
 * list) and ignored, as mount(8) does. */
#define BIND_IGNORED_FLAGS (MS_SYNCHRONOUS | MS_DIRSYNC | MS_LAZYTIME | MS_MANDLOCK | MS_SILENT)
/* What sys_mount_fs refuses: each has its own function, or none at all. */
#define FS_REFUSED_FLAGS                                                                  \
	(MS_BIND | MS_MOVE | MS_REMOUNT | MS_REC | MS_SHARED | MS_PRIVATE | MS_SLAVE |    \
	 MS_UNBINDABLE)

static bool path_is_absolute(const char *path)
{
	return path && path[0] == '/';
}

/*
 * Opens target without following a symlink at its last component and
 * writes the /proc/self/fd path of the result to buf. Returns the fd,
 * -ELOOP for a symlink, or -errno.
 */
static int target_open(const char *target, char *buf, size_t len)
{
	struct stat st;
	int fd, n;

	if (!path_is_absolute(target))
		return -EINVAL;
	fd = open(target, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	if (S_ISLNK(st.st_mode)) {
		close(fd);
		return -ELOOP;
	}
	n = snprintf(buf, len, "/proc/self/fd/%d", fd);
	if (n < 0 || (size_t)n >= len) {
		close(fd);
		return -ENAMETOOLONG;
	}
	return fd;
}

int sys_mount_fs(const char *source, const char *target, const char *fstype,
		 unsigned long flags, const char *data)
{
	char fd_path[PROC_FD_PATH_MAX];
	int fd, r = 0;

	if (!source || !*source || !fstype || !*fstype)
		return -EINVAL;
	if (flags & FS_REFUSED_FLAGS)
		return -EINVAL;
	fd = target_open(target, fd_path, sizeof(fd_path));
	if (fd < 0)
		return fd;
	if (mount(source, fd_path, fstype, flags, data) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* ST_* (statvfs) per-mount flags as MS_* flags; the values match on
 * Linux but the mapping is spelled out rather than assumed. */
static unsigned long statvfs_to_ms(unsigned long f)
{
	unsigned long ms = 0;

	if (f & ST_RDONLY)
		ms |= MS_RDONLY;
	if (f & ST_NOSUID)
		ms |= MS_NOSUID;
	if (f & ST_NODEV)
		ms |= MS_NODEV;
	if (f & ST_NOEXEC)
		ms |= MS_NOEXEC;
	if (f & ST_NOATIME)
		ms |= MS_NOATIME;
	if (f & ST_NODIRATIME)
		ms |= MS_NODIRATIME;
	if (f & ST_RELATIME)
		ms |= MS_RELATIME;
	if (f & ST_NOSYMFOLLOW)
		ms |= MS_NOSYMFOLLOW;
	return ms;
}

/* Undoes a bind made by sys_mount_bind. A lazy detach is the fallback:
 * the caller was told the bind failed and must not find it there. */
static void bind_undo(const char *target)
{
	if (umount2(target, UMOUNT_NOFOLLOW) < 0)
		umount2(target, UMOUNT_NOFOLLOW | MNT_DETACH);
}

int sys_mount_bind(const char *source, const char *target, bool readonly,
		   unsigned long extra_flags)
{
	char fd_path[PROC_FD_PATH_MAX];
	struct statvfs sv;
	unsigned long want;
	int fd, r = 0;

	if (!source || !*source)
		return -EINVAL;
	if (extra_flags & ~(BIND_MNT_FLAGS | BIND_IGNORED_FLAGS))
		return -EINVAL;
	extra_flags &= BIND_MNT_FLAGS;
	fd = target_open(target, fd_path, sizeof(fd_path));
	if (fd < 0)
		return fd;
	if (mount(source, fd_path, NULL, MS_BIND, NULL) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	close(fd);
	if (!readonly && !extra_flags)
		return 0;

	/*
	 * target is now a mount point: it cannot be renamed, removed or
	 * replaced by a symlink in this namespace (EBUSY), so the path names
	 * the new bind. The fd above would name the directory under it.
	 */
	if (statvfs(target, &sv) < 0) {
		r = -errno;
		goto fail;
	}
	want = statvfs_to_ms(sv.f_flag) | extra_flags | (readonly ? MS_RDONLY : 0);
	/* Only one atime mode can be set; an explicit one from the caller
	 * replaces the inherited one. */
	if (extra_flags & (MS_NOATIME | MS_RELATIME | MS_STRICTATIME))
		want = (want & ~(MS_NOATIME | MS_RELATIME | MS_STRICTATIME)) |
		       (extra_flags & (MS_NOATIME | MS_RELATIME | MS_STRICTATIME));
	if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | want, NULL) < 0) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	bind_undo(target);
	return r;
}

int sys_umount(const char *target)
{
	if (!path_is_absolute(target))
		return -EINVAL;
	if (umount2(target, UMOUNT_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/* Reads the mount table of this process's mount namespace. */
static int mount_table_read(struct libmnt_table **ret)
{
	struct libmnt_table *tb = mnt_new_table();
	int r;

	if (!tb)
		return -ENOMEM;
	r = mnt_table_parse_file(tb, MOUNTINFO_PATH);
	if (r < 0) {
		mnt_unref_table(tb);
		return r;
	}
	*ret = tb;
	return 0;
}

/* Copies src (NULL: "") into dst; -ENAMETOOLONG rather than a truncated
 * device name or option list that a caller could act on. */
static int copy_field(char *dst, size_t len, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= len)
		return -ENAMETOOLONG;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

/* 1 when the comma-separated optstr holds the option name, else 0. */
static int optstr_has(const char *optstr, const char *name)
{
	return optstr && mnt_optstr_get_option(optstr, name, NULL, NULL) == 0;
}

static int mount_info_fill(struct libmnt_fs *fs, sys_mount_info *info)
{
	const char *source = mnt_fs_get_srcpath(fs);
	int r;

	/* A tag source (LABEL=...) has no srcpath; mountinfo has none, but
	 * the raw source is the honest answer if one appears. */
	if (!source)
		source = mnt_fs_get_source(fs);
	r = copy_field(info->source, sizeof(info->source), source);
	if (r == 0)
		r = copy_field(info->root, sizeof(info->root), mnt_fs_get_root(fs));
	if (r == 0)
		r = copy_field(info->fstype, sizeof(info->fstype), mnt_fs_get_fstype(fs));
	/* Both halves: the per-mount ("ro,nosuid") and the file system's
	 * own ("rw,errors=remount-ro"); libmount joins them. */
	if (r == 0)
		r = copy_field(info->options, sizeof(info->options), mnt_fs_get_options(fs));
	if (r < 0)
		return r;
	/* Read-only when either the mount or its super block is. */
	info->readonly = optstr_has(mnt_fs_get_vfs_options(fs), "ro") ||
			 optstr_has(mnt_fs_get_fs_options(fs), "ro");
	info->dev = mnt_fs_get_devno(fs);
	return 0;
}

int sys_mount_find(const char *target, sys_mount_info *ret)
{
	struct libmnt_table *tb = NULL;
	struct libmnt_fs *fs;
	sys_mount_info *info = NULL;
	int r;

	if (!path_is_absolute(target) || !ret)
		return -EINVAL;
	r = mount_table_read(&tb);
	if (r < 0)
		return r;
	/* Backward: mounts stacked on one path appear in mount order, and
	 * the last one is what the path shows. */
	fs = mnt_table_find_target(tb, target, MNT_ITER_BACKWARD);
	if (!fs) {
		r = -ENOENT;
		goto done;
	}
	/* Filled aside so that ret is untouched on failure. The struct is
	 * about 9 KiB: too much for a daemon thread's stack. */
	info = calloc(1, sizeof(*info));
	if (!info) {
		r = -ENOMEM;
		goto done;
	}
	r = mount_info_fill(fs, info);
	if (r == 0)
		*ret = *info;
done:
	free(info);
	mnt_unref_table(tb);
	return r;
}

int sys_mount_count_source(const char *dev, size_t *ret)
{
	struct libmnt_table *tb = NULL;
	struct libmnt_iter *itr = NULL;
	struct libmnt_fs *fs;
	struct stat st;
	dev_t rdev = 0;
	bool is_blk = false;
	size_t count = 0;
	int r;

	if (!dev || !*dev || !ret)
		return -EINVAL;
	/* A block device is matched by number too: the table may name it
	 * differently (/dev/mapper/x vs /dev/dm-0). By name as well, for file
	 * systems like btrfs whose st_dev is an anonymous number. */
	if (stat(dev, &st) == 0 && S_ISBLK(st.st_mode)) {
		rdev = st.st_rdev;
		is_blk = true;
	}
	r = mount_table_read(&tb);
	if (r < 0)
		return r;
	itr = mnt_new_iter(MNT_ITER_FORWARD);
	if (!itr) {
		r = -ENOMEM;
		goto done;
	}
	while ((r = mnt_table_next_fs(tb, itr, &fs)) == 0) {
		const char *src = mnt_fs_get_srcpath(fs);

		if ((is_blk && mnt_fs_get_devno(fs) == rdev) || (src && strcmp(src, dev) == 0))
			count++;
	}
	if (r < 0)
		goto done;
	r = 0;
	*ret = count;
done:
	mnt_free_iter(itr);
	mnt_unref_table(tb);
	return r;
}

/*
 * The flag table. MS_* flags are set or cleared; the last of two
 * contradicting flags ("ro", "rw") wins, as with mount(8).
 */
typedef struct {
	const char *name;
	unsigned long set;
	unsigned long clear;
} mount_flag_def;

#define ATIME_MODES (MS_NOATIME | MS_RELATIME | MS_STRICTATIME)

static const mount_flag_def mount_flag_defs[] = {
	{ "ro", MS_RDONLY, 0 },
	{ "rw", 0, MS_RDONLY },
	{ "noatime", MS_NOATIME, ATIME_MODES },
	{ "relatime", MS_RELATIME, ATIME_MODES },
	{ "strictatime", MS_STRICTATIME, ATIME_MODES },
	{ "atime", 0, MS_NOATIME },
	{ "norelatime", 0, MS_RELATIME },
	{ "nostrictatime", 0, MS_STRICTATIME },
	{ "nodiratime", MS_NODIRATIME, 0 },
	{ "diratime", 0, MS_NODIRATIME },
	{ "nosuid", MS_NOSUID, 0 },
	{ "nodev", MS_NODEV, 0 },
	{ "noexec", MS_NOEXEC, 0 },
	{ "exec", 0, MS_NOEXEC },
	{ "nosymfollow", MS_NOSYMFOLLOW, 0 },
	{ "symfollow", 0, MS_NOSYMFOLLOW },
	{ "sync", MS_SYNCHRONOUS, 0 },
	{ "async", 0, MS_SYNCHRONOUS },
	{ "dirsync", MS_DIRSYNC, 0 },
	{ "lazytime", MS_LAZYTIME, 0 },
	{ "nolazytime", 0, MS_LAZYTIME },
	{ "silent", MS_SILENT, 0 },
	{ "loud", 0, MS_SILENT },
};

/*
 * Refused: "suid", "dev" (and "defaults", which implies both) would undo
 * the nosuid/nodev the node always adds; the rest change what is mounted
 * where (bind, move, remount) or how mounts propagate between namespaces,
 * which a volume request has no business deciding.
 */
static const char *const mount_flags_refused[] = {
	"suid",	      "dev",	    "defaults",	   "bind",	    "rbind",
	"remount",    "move",	    "rmove",	   "shared",	    "rshared",
	"slave",      "rslave",	    "private",	   "rprivate",	    "unbindable",
	"runbindable", "make-shared", "make-rshared", "make-slave",  "make-rslave",
	"make-private", "make-rprivate", "make-unbindable", "make-runbindable",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A flag that can be passed on: non-empty, no comma (it would smuggle in a
 * second option), no whitespace or control characters. */
static bool mount_flag_is_clean(const char *flag)
{
	const unsigned char *p;

	if (!flag || !*flag)
		return false;
	for (p = (const unsigned char *)flag; *p; p++)
		if (*p == ',' || *p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

int sys_mount_flags_parse(const char *const *flags, size_t n, unsigned long *ret_flags,
			  char *data, size_t len, size_t *ret_bad_index)
{
	unsigned long ms = 0;
	size_t i, j, used = 0;
	int r = 0;

	if (!ret_flags || !data || len == 0 || (n && !flags))
		return -EINVAL;
	data[0] = '\0';
	for (i = 0; i < n; i++) {
		const char *flag = flags[i];
		bool known = false;
		size_t flen;

		if (!mount_flag_is_clean(flag)) {
			r = -EINVAL;
			goto fail;
		}
		for (j = 0; j < ARRAY_SIZE(mount_flags_refused); j++) {
			if (strcmp(flag, mount_flags_refused[j]) == 0) {
				r = -EINVAL;
				goto fail;
			}
		}
		for (j = 0; j < ARRAY_SIZE(mount_flag_defs); j++) {
			if (strcmp(flag, mount_flag_defs[j].name) == 0) {
				ms = (ms & ~mount_flag_defs[j].clear) | mount_flag_defs[j].set;
				known = true;
				break;
			}
		}
		if (known)
			continue;
		/* A file system option: the file system decides (and refuses
		 * what it does not know with EINVAL at mount time). */
		flen = strlen(flag);
		if (used + (used ? 1 : 0) + flen >= len) {
			r = -ENAMETOOLONG;
			goto fail;
		}
		if (used)
			data[used++] = ',';
		memcpy(data + used, flag, flen);
		used += flen;
		data[used] = '\0';
	}
	*ret_flags = ms;
	return 0;
fail:
	data[0] = '\0';
	if (ret_bad_index)
		*ret_bad_index = i;
	return r;
}
