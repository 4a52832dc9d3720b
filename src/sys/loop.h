/*
 * loop.h - loop devices over volume image files.
 *
 * A loop device is found again by its backing file's (st_dev, st_ino), so a
 * driver that restarts reuses the device it attached before instead of
 * attaching the same file twice. Devices are attached without autoclear:
 * they live until sys_loop_detach(), across driver restarts.
 *
 * All functions return 0 (or a value >= 0) on success and -errno on failure.
 */
#ifndef DYNVOL_SYS_LOOP_H
#define DYNVOL_SYS_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Attaches the file open as backing_fd to a free loop device, or returns
 * the device already attached to that file (same dev/ino). direct_io asks
 * for LO_FLAGS_DIRECT_IO; when the backing file system refuses it, the
 * device is attached with buffered I/O instead (not an error).
 * On success writes "/dev/loopN" to ret_dev (size >= 32) and returns N.
 * read_only attaches with LO_FLAGS_READ_ONLY; only then may the backing be
 * a block device (a read-only view of another loop device: a read-only
 * bind of a device node does not stop writes through it, a read-only loop
 * device does). Safe against concurrent
 * attachers in other processes (retries when a free device is taken).
 */
int sys_loop_attach(int backing_fd, bool read_only, bool direct_io, char *ret_dev, size_t len);

/* Finds the loop device backed by the file open as backing_fd.
 * Returns N and writes "/dev/loopN", or -ENOENT. */
int sys_loop_find(int backing_fd, char *ret_dev, size_t len);

/* Re-reads the backing file's size into the device (after growing it). */
int sys_loop_refresh_capacity(const char *dev);

/* Detaches dev. -ENXIO when nothing is attached (callers treat as done),
 * -EBUSY when still in use (mounted or open). */
int sys_loop_detach(const char *dev);

/* Size in bytes of a block device. */
int sys_blockdev_size(const char *dev, uint64_t *ret_bytes);

#endif
