/*
 * mounts.h - mounting, bind mounts and the mount table (libmount).
 *
 * Targets are absolute paths the caller has already validated (the node
 * service checks them against its allowed prefixes). Nothing here follows
 * a symlink at the final component: umount uses UMOUNT_NOFOLLOW, and
 * mounts refuse a target that is a symlink (-ELOOP).
 * All functions return 0 on success and -errno on failure.
 */
#ifndef DYNVOL_SYS_MOUNTS_H
#define DYNVOL_SYS_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <sys/mount.h>

/* mount(2) of a file system. data may be NULL. flags must not contain
 * MS_BIND, MS_MOVE, MS_REMOUNT, MS_REC or a propagation flag (MS_SHARED,
 * MS_PRIVATE, MS_SLAVE, MS_UNBINDABLE): -EINVAL. -ELOOP when target is a
 * symlink; the mount is made on the object the check found (through
 * /proc/self/fd), so swapping target afterwards cannot redirect it. */
int sys_mount_fs(const char *source, const char *target, const char *fstype,
		 unsigned long flags, const char *data);

/* Bind-mounts source on target; readonly adds the MS_REMOUNT|MS_BIND|
 * MS_RDONLY step a read-only bind needs (a plain MS_RDONLY on the first
 * call is ignored by the kernel). extra_flags (MS_NOSUID, MS_NODEV,
 * MS_NOEXEC...) apply to the bind as well. On failure of the second step
 * the first is undone. The second step keeps the restrictions the bind
 * inherited from the source mount (nosuid, nodev, noexec, ro, atime mode,
 * nosymfollow): a bind never has fewer than its source. extra_flags may
 * hold per-mount flags (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC,
 * MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME, MS_NOSYMFOLLOW);
 * super-block flags (MS_SYNCHRONOUS, MS_DIRSYNC, MS_LAZYTIME, MS_MANDLOCK,
 * MS_SILENT) are accepted and ignored, as mount(8) does for binds; anything
 * else is -EINVAL. -ELOOP when target is a symlink. source may be a block
 * device (raw block volumes: target is then a regular file). */
int sys_mount_bind(const char *source, const char *target, bool readonly,
		   unsigned long extra_flags);

/* Unmounts the top-most mount at target (UMOUNT_NOFOLLOW). -EINVAL when
 * target is not a mount point (also when it is a symlink, which is not
 * followed) or not absolute, -EBUSY when in use, -ENOENT when it does not
 * exist. */
int sys_umount(const char *target);

typedef struct {
	char source[4096];   /* device or, for binds, the source device */
	char root[4096];     /* path within the source filesystem, for binds */
	char fstype[64];
	char options[1024];  /* VFS + fs options, comma separated */
	bool readonly;
	dev_t dev;           /* st_dev of the mounted filesystem, major:minor */
} sys_mount_info;

/* What is mounted exactly at target (the top-most mount there), read
 * through libmount from /proc/self/mountinfo. target is compared as a
 * string (a trailing '/' aside), never resolved: pass the path as the
 * kernel shows it (the one mounted on, with any symlinks in its parent
 * directories resolved). readonly is true when the mount or its super
 * block is read-only. ret is written only on success. -ENOENT when
 * nothing is mounted there, -EINVAL for a relative target, -ENAMETOOLONG
 * when a field does not fit its buffer (never truncated). */
int sys_mount_find(const char *target, sys_mount_info *ret);

/* Number of mount points whose source is dev (e.g. "/dev/loop3"), binds
 * of it included. A block device also matches by device number (the
 * table may spell its name differently); any source matches by name (for
 * btrfs, whose st_dev is anonymous, and non-device sources). */
int sys_mount_count_source(const char *dev, size_t *ret);

/*
 * Translates CSI mount_flags into MS_* flags plus a data string.
 *  - VFS flags become MS_* bits: ro, rw, noatime, relatime, strictatime,
 *    atime, norelatime, nostrictatime, nodiratime, diratime, nosuid, nodev,
 *    noexec, exec, nosymfollow, symfollow, sync, async, dirsync, lazytime,
 *    nolazytime, silent, loud. Of two contradicting ones the last wins
 *    ("ro","rw" is rw), as with mount(8); one atime mode replaces another.
 *  - Refused (-EINVAL): flags that widen access or change what is mounted
 *    or how mounts propagate: suid, dev, defaults (implies suid,dev), bind,
 *    rbind, remount, move, rmove, shared, rshared, slave, rslave, private,
 *    rprivate, unbindable, runbindable and their make-* spellings; also an
 *    empty flag or one with a comma (it would smuggle in another option),
 *    whitespace or a control character.
 *  - Anything else ("discard", "uid=1000", "data=ordered", "nouuid") is a
 *    file system option, appended to data comma separated in the given
 *    order; the file system refuses what it does not know at mount time.
 * data (len >= 1) is "" when there are none. On failure data is "",
 * *ret_flags is untouched and *ret_bad_index (may be NULL) is the index of
 * the offending flag: -EINVAL for a refused one, -ENAMETOOLONG for the one
 * that did not fit in data. Flags are matched exactly (case-sensitive).
 */
int sys_mount_flags_parse(const char *const *flags, size_t n, unsigned long *ret_flags,
			  char *data, size_t len, size_t *ret_bad_index);

#endif
