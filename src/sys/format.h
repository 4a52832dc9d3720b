/*
 * format.h - making and growing file systems with the system's tools
 * (mkfs.ext4, mkfs.xfs, resize2fs, xfs_growfs) through sys_spawn.
 *
 * sys_mkfs never forces: no -F/-f, stdin is /dev/null, so the tools
 * themselves refuse a device that holds a file system - a second guard
 * behind the caller's own blkid check.
 */
#ifndef DYNVOL_SYS_FORMAT_H
#define DYNVOL_SYS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Formats dev with fstype ("ext4" or "xfs"). errbuf gets the tool's output
 * on failure. Returns 0, -EINVAL (unsupported type), -EIO (tool failed). */
int sys_mkfs(const char *dev, const char *fstype, char *errbuf, size_t len);

/* Grows the mounted file system on dev (mounted at mountpoint) to fill the
 * device: resize2fs for ext4, xfs_growfs for xfs, nothing for btrfs.
 * Idempotent: growing to the current size succeeds. */
int sys_fs_grow(const char *dev, const char *mountpoint, const char *fstype, char *errbuf,
		size_t len);

#endif
