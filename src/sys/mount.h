/*
 * mount.h - mounting, bind mounts and the mount table (libmount).
 *
 * Targets are absolute paths the caller has already validated (the node
 * service checks them against its allowed prefixes). Nothing here follows
 * a symlink at the final component: umount uses UMOUNT_NOFOLLOW, and
 * mounts refuse a target that is a symlink (-ELOOP).
 * All functions return 0 on success and -errno on failure.
 */
#ifndef DYNVOL_SYS_MOUNT_H
#define DYNVOL_SYS_MOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* mount(2) of a file system. data may be NULL. */
int sys_mount_fs(const char *source, const char *target, const char *fstype,
		 unsigned long flags, const char *data);

/* Bind-mounts source on target; readonly adds the MS_REMOUNT|MS_BIND|
 * MS_RDONLY step a read-only bind needs (a plain MS_RDONLY on the first
 * call is ignored by the kernel). extra_flags (MS_NOSUID, MS_NODEV,
 * MS_NOEXEC...) apply to the bind as well. On failure of the second step
 * the first is undone. */
int sys_mount_bind(const char *source, const char *target, bool readonly,
		   unsigned long extra_flags);

/* Unmounts target (UMOUNT_NOFOLLOW). -EINVAL when target is not a mount
 * point, -EBUSY when in use, -ENOENT when it does not exist. */
int sys_umount(const char *target);

typedef struct {
	char source[4096];   /* device or, for binds, the source device */
	char root[4096];     /* path within the source file system (binds) */
	char fstype[64];
	char options[1024];  /* VFS + fs options, comma separated */
	bool readonly;
	dev_t dev;           /* st_dev of the mounted file system (major:minor) */
} sys_mount_info;

/* What is mounted exactly at target (the top-most mount there), read
 * through libmount from /proc/self/mountinfo. -ENOENT when nothing is. */
int sys_mount_find(const char *target, sys_mount_info *ret);

/* Number of mount points whose source is dev (e.g. "/dev/loop3"). */
int sys_mount_count_source(const char *dev, size_t *ret);

/* Translates CSI mount_flags ("ro", "noatime", "nosuid", "discard",
 * "uid=1000"...) into MS_* flags plus a data string (comma separated, for
 * flags that are file system options). Rejects flags that could widen
 * access or change what is mounted: "bind", "rbind", "remount", "move",
 * "shared", "suid" with a setuid-enabling meaning, and anything with a
 * comma. -EINVAL names nothing: the caller reports which flag. */
int sys_mount_flags_parse(const char *const *flags, size_t n, unsigned long *ret_flags,
			  char *data, size_t len, size_t *ret_bad_index);

#endif
