/*
 * btrfs.h - btrfs subvolumes, snapshots, qgroup limits and compression,
 * through the kernel's ioctls (no btrfs-progs at run time).
 *
 * Paths are always (dir_fd, name): name is a single path component created
 * or looked up inside the directory open as dir_fd, never a path string.
 * All functions return 0 on success, -errno on failure.
 */
#ifndef DYNVOL_SYS_BTRFS_H
#define DYNVOL_SYS_BTRFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when fd is on btrfs. */
bool sys_btrfs_is(int fd);

/* True when fd is the root directory of a btrfs subvolume (inode 256),
 * e.g. to tell an existing subvolume from a plain directory of that name. */
bool sys_btrfs_is_subvol(int fd);

/* Enables quotas on the file system of fd (idempotent). */
int sys_btrfs_quota_enable(int fd);

/* Creates subvolume name in dir_fd. -EEXIST when it exists. Names that are
 * not one safe path component (empty, "/", ".", "..", > 255 bytes, control
 * characters) give -EINVAL here and in snapshot and delete. */
int sys_btrfs_subvol_create(int dir_fd, const char *name);

/* Snapshots the subvolume open as src_fd to name in dir_fd; read_only for
 * snapshots, writable for restores and clones. */
int sys_btrfs_snapshot(int src_fd, int dir_fd, const char *name, bool read_only);

/* Deletes subvolume name in dir_fd (also read-only ones). -ENOENT when gone,
 * -EINVAL when name is a plain directory, -ENOTEMPTY when subvolumes are
 * nested inside. Space is freed asynchronously by the kernel afterwards. */
int sys_btrfs_subvol_delete(int dir_fd, const char *name);

/* The subvolume ID (== its level-0 qgroup ID) of the subvolume open as fd
 * (any file inside it gives the same answer; the top level is 5). */
int sys_btrfs_subvol_id(int fd, uint64_t *ret_id);

/* Sets the referenced-bytes limit of qgroup 0/<subvol id of fd>; 0 = none.
 * -ENOTCONN when quotas are not enabled. Writes beyond it fail with EDQUOT. */
int sys_btrfs_qgroup_limit(int fd, uint64_t max_referenced);

/* Referenced and exclusive bytes of the subvolume's qgroup, and its limit
 * (0 when none). Any output may be NULL. Forces a quota rescan wait when
 * needed to be accurate: commits the file system first (BTRFS_IOC_SYNC,
 * which flushes dirty data) and rescans when the kernel marked qgroups
 * inconsistent - not for hot paths.
 * -ENOTCONN when quotas are not enabled. */
int sys_btrfs_qgroup_usage(int fd, uint64_t *ret_referenced, uint64_t *ret_exclusive,
			   uint64_t *ret_limit);

/* Sets the compression property: "zstd", "lzo", "zlib" or "" (none: the
 * property is removed and the mount options apply). Anything else -EINVAL.
 * Applies to files created afterwards, not to existing data. */
int sys_btrfs_set_compression(int fd, const char *algo);

/* Reads it back into buf ("" when none). -ERANGE when buf is too small. */
int sys_btrfs_get_compression(int fd, char *buf, size_t len);

/* Sets/clears the read-only flag of the subvolume open as fd (must be its
 * root directory, else -EINVAL). Idempotent. */
int sys_btrfs_set_readonly(int fd, bool read_only);

#endif
