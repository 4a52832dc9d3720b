/*
 * format.h - making and growing file systems with the system's tools
 * (mkfs.ext4, mkfs.xfs, resize2fs, xfs_growfs) through sys_spawn.
 *
 * sys_mkfs never forces: no -F/-f, stdin is /dev/null. mkfs.xfs then
 * refuses a device that holds a file system or partition table, but
 * mkfs.ext4 (mke2fs) does NOT: it asks "Proceed anyway?" only when stdin
 * and stdout are terminals, and otherwise formats over an existing file
 * system, on image files and loop devices alike (observed with e2fsprogs
 * 1.47.0). So sys_mkfs probes the device itself (libblkid, sys_probe) and
 * refuses anything that is not blank with -EEXIST - the guard behind the
 * caller's own blkid check does not depend on the tool. A caller that
 * must redo its own interrupted first format clears the old signatures
 * first.
 */
#ifndef DYNVOL_SYS_FORMAT_H
#define DYNVOL_SYS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Formats dev (an absolute path: block device or image file) with fstype
 * ("ext4" or "xfs"). errbuf (may be NULL) gets the tool's output or a
 * message on failure, "" on success. Returns 0, -EINVAL (unsupported
 * type, relative path), -EEXIST (dev is not blank), -EIO (tool failed),
 * -ETIMEDOUT (still running after 10 minutes: killed), or the -errno of
 * probing dev or starting the tool. */
int sys_mkfs(const char *dev, const char *fstype, char *errbuf, size_t len);

/* Grows the mounted file system on dev (mounted at mountpoint) to fill the
 * device: resize2fs dev for ext4, xfs_growfs -d mountpoint for xfs,
 * nothing for btrfs. Idempotent: growing to the current size succeeds.
 * The path the tool uses must be absolute. Returns 0, -EINVAL, -EIO (tool
 * failed; errbuf as for sys_mkfs), -ETIMEDOUT (after 5 minutes), or the
 * -errno of starting the tool. */
int sys_fs_grow(const char *dev, const char *mountpoint, const char *fstype, char *errbuf,
		size_t len);

#endif
