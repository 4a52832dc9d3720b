/*
 * loop.c - loop devices over volume image files.
 *
 * Attach: LOOP_CTL_GET_FREE + LOOP_CONFIGURE (kernel >= 5.8), which binds
 * file and flags in one ioctl. Another process (losetup, systemd, a second
 * driver) can take the free device between the two calls; LOOP_CONFIGURE
 * then fails with EBUSY and we ask for the next free one.
 *
 * Find: every bound loop device (those with /sys/block/loopN/loop/) is
 * asked for LOOP_GET_STATUS64 and matched on the backing file's
 * (st_dev, st_ino) with offset 0 and no size limit: the identity of the
 * file, not its path, which can be renamed, deleted or live in another
 * mount namespace. Without sysfs, /dev/loop* is scanned instead.
 *
 * No double attach: find-then-attach runs under an exclusive flock on
 * /dev/loop-control, so two dynvol processes attaching the same image at
 * once serialise and the second finds the first's device. (Tools that do
 * not take that lock, like losetup, are only covered by the EBUSY retry.)
 *
 * Flags: never LO_FLAGS_AUTOCLEAR (devices outlive the driver process and
 * are found again after a restart), never LO_FLAGS_PARTSCAN (a tenant's
 * image must not make the host create partition devices for it). A device
 * found for reuse that carries a deferred detach (someone ran losetup -d
 * while it was open) has it cleared, so it keeps that promise too. An
 * existing device whose read-only flag differs from the request is not
 * reused: -EBUSY.
 *
 * Direct I/O: LO_FLAGS_DIRECT_IO is passed to LOOP_CONFIGURE. Observed on
 * 6.18: the kernel accepts it for files on ext4 and tmpfs (tmpfs has
 * O_DIRECT since 6.6); for a file system without direct I/O (ramfs) it attaches
 * anyway and silently clears the flag (LOOP_GET_STATUS64 then shows
 * buffered). Kernels that instead refuse with EINVAL get a second
 * LOOP_CONFIGURE without the flag. Either way the result is buffered I/O,
 * not an error, and it is logged.
 *
 * Detach and "still in use": LOOP_CLR_FD does NOT fail with EBUSY on a
 * device that is mounted or open (verified on 6.18, long the case): it
 * returns 0 and turns on LO_FLAGS_AUTOCLEAR, so the device silently goes
 * away at its last close - e.g. when a pod's mount is unmounted later. That
 * is not what a driver that thinks it still owns the device wants. So:
 *  1. open the device O_EXCL: fails with EBUSY while it is mounted or
 *     claimed by device-mapper, md, swap, or a tool that opens it O_EXCL
 *     (mkfs does) -> -EBUSY, untouched;
 *  2. LOOP_CLR_FD; if we were the only opener the kernel moves the device
 *     to "rundown" (LOOP_GET_STATUS64 -> ENXIO) and detaches it when we
 *     close our fd -> 0;
 *  3. if it is still bound, someone else holds it open (a raw block
 *     volume in a pod, a dd, udev probing it): clear the autoclear flag the
 *     kernel just set (LOOP_SET_STATUS64) and return -EBUSY, leaving the
 *     device as it was.
 * Because udev briefly opens block devices after changes, a detach right
 * after an attach or a write can see -EBUSY on hosts that run udev; the
 * caller retries later, like for any busy device.
 */
#include "sys/loop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/major.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOOP_CONTROL_PATH "/dev/loop-control"
/* "/dev/loop" + an int + NUL fits; the header promises callers need 32. */
#define LOOP_DEV_PATH_MIN 32
/* Free devices taken by others before we could configure them. Each
 * retry asks the kernel again, so this only bounds a pathological race. */
#define LOOP_ATTACH_MAX_TRIES 64
/* Kernels before 5.x could return EAGAIN from LOOP_SET_STATUS64 while
 * dirty pages were flushed. */
#define LOOP_SET_STATUS_MAX_TRIES 10

static int loop_dev_path(char *buf, size_t len, int n)
{
	int w = snprintf(buf, len, "/dev/loop%d", n);

	if (w < 0 || (size_t)w >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Parses "loopN" (N decimal, no sign, no trailing text). Returns N or -1. */
static int loop_parse_name(const char *name)
{
	long n;
	char *end;

	if (strncmp(name, "loop", 4) != 0 || name[4] < '0' || name[4] > '9')
		return -1;
	errno = 0;
	n = strtol(name + 4, &end, 10);
	if (errno || *end || n < 0 || n > 0x7fffffff)
		return -1;
	return (int)n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* 1 when /dev/loopN is bound to the file with identity st at offset 0 and
 * without size limit, 0 when not (or unbound, or gone), -errno on error. */
static int loop_matches(int n, const struct stat *st, struct loop_info64 *ret_info)
{
	struct loop_info64 info;
	char path[LOOP_DEV_PATH_MIN];
	int fd, r;

	r = loop_dev_path(path, sizeof(path), n);
	if (r < 0)
		return r;
	/* O_RDONLY: closing a write-opened block device makes udev re-probe it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		/* Node not (yet) there, or the device is being removed. */
		if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
			return 0;
		return -errno;
	}
	memset(&info, 0, sizeof(info));
	if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0) {
		r = errno == ENXIO ? 0 : -errno;
		close(fd);
		return r;
	}
	close(fd);
	/* A block device backing is the device, whichever node named it. */
	if (S_ISBLK(st->st_mode) ? info.lo_rdevice != (uint64_t)st->st_rdev
				 : (info.lo_device != (uint64_t)st->st_dev ||
				    info.lo_inode != (uint64_t)st->st_ino))
		return 0;
	if (info.lo_offset != 0 || info.lo_sizelimit != 0)
		return 0;
	if (ret_info)
		*ret_info = info;
	return 1;
}

/* Scans bound loop devices through sysfs. Returns N, -ENOENT, or -errno
 * (-ENODEV when sysfs cannot be read at all). */
static int loop_find_sysfs(const struct stat *st, struct loop_info64 *ret_info)
{
	struct dirent *de;
	DIR *d;
	int r = -ENOENT;

	d = opendir("/sys/block");
	if (!d)
		return -ENODEV;
	while ((de = readdir(d))) {
		char attr[300];
		int n = loop_parse_name(de->d_name), m;

		if (n < 0)
			continue;
		/* loopN/loop/ exists only while the device is bound: skip
		 * unbound ones without opening them. */
		snprintf(attr, sizeof(attr), "%s/loop", de->d_name);
		if (faccessat(dirfd(d), attr, F_OK, 0) < 0)
			continue;
		m = loop_matches(n, st, ret_info);
		if (m < 0) {
			r = m;
			break;
		}
		if (m > 0) {
			r = n;
			break;
		}
	}
	closedir(d);
	return r;
}

/* The same over /dev/loop*, for containers without /sys. */
static int loop_find_dev(const struct stat *st, struct loop_info64 *ret_info)
{
	struct dirent *de;
	DIR *d;
	int r = -ENOENT;

	d = opendir("/dev");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		int n = loop_parse_name(de->d_name), m;

		if (n < 0)
			continue;
		m = loop_matches(n, st, ret_info);
		if (m < 0) {
			r = m;
			break;
		}
		if (m > 0) {
			r = n;
			break;
		}
	}
	closedir(d);
	return r;
}

static int loop_find_by_stat(const struct stat *st, struct loop_info64 *ret_info)
{
	int r = loop_find_sysfs(st, ret_info);

	if (r == -ENODEV)
		r = loop_find_dev(st, ret_info);
	return r;
}

/* Binds backing_fd to the loop device open as loop_fd. */
static int loop_configure(int loop_fd, int backing_fd, bool read_only, bool direct_io)
{
	struct loop_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (uint32_t)backing_fd;
	cfg.info.lo_flags = read_only ? LO_FLAGS_READ_ONLY : 0;
	if (direct_io)
		cfg.info.lo_flags |= LO_FLAGS_DIRECT_IO;
	if (ioctl(loop_fd, LOOP_CONFIGURE, &cfg) == 0)
		return 0;
	if (errno != EINVAL || !direct_io)
		return -errno;
	/* Some kernels refuse direct I/O instead of falling back. */
	cfg.info.lo_flags &= ~(uint32_t)LO_FLAGS_DIRECT_IO;
	if (ioctl(loop_fd, LOOP_CONFIGURE, &cfg) == 0)
		return 0;
	return -errno;
}

static int flock_retry(int fd, int op)
{
	while (flock(fd, op) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/* Checks the backing fd can back a device of the requested mode: the
 * kernel would otherwise quietly make a read-write request read-only. */
static int loop_check_backing(int backing_fd, bool read_only, struct stat *ret_st)
{
	int fl;

	if (fstat(backing_fd, ret_st) < 0)
		return -errno;
	/* A block device backs only read-only views of it (a read-only
	 * publish of a raw block volume stacks one on the staged device). */
	if (!S_ISREG(ret_st->st_mode) && !(read_only && S_ISBLK(ret_st->st_mode)))
		return -EINVAL;
	fl = fcntl(backing_fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if ((fl & O_ACCMODE) == O_WRONLY)
		return -EBADF;
	if (!read_only && (fl & O_ACCMODE) != O_RDWR)
		return -EBADF;
	return 0;
}

static int loop_set_status_retry(int fd, const struct loop_info64 *info)
{
	int tries;

	for (tries = 0; tries < LOOP_SET_STATUS_MAX_TRIES; tries++) {
		if (ioctl(fd, LOOP_SET_STATUS64, info) == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		sleep_ms(100);
	}
	return -EAGAIN;
}

/* Takes back a deferred detach (LO_FLAGS_AUTOCLEAR, e.g. from an earlier
 * "losetup -d" while the device was in use) on a device we are about to
 * hand out again: the header promises it lives until sys_loop_detach().
 * An autoclear device always has another opener (it would be gone
 * otherwise), so our open and close here cannot trigger the detach. */
static int loop_clear_autoclear(int n)
{
	struct loop_info64 info;
	char path[LOOP_DEV_PATH_MIN];
	int fd, r;

	r = loop_dev_path(path, sizeof(path), n);
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&info, 0, sizeof(info));
	if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0) {
		r = -errno;
		goto done;
	}
	info.lo_flags &= ~(uint32_t)LO_FLAGS_AUTOCLEAR;
	r = loop_set_status_retry(fd, &info);
done:
	close(fd);
	return r;
}

int sys_loop_attach(int backing_fd, bool read_only, bool direct_io, char *ret_dev, size_t len)
{
	struct loop_info64 info;
	struct stat st;
	char path[LOOP_DEV_PATH_MIN];
	int ctl = -1, n = -1, r, tries;

	if (!ret_dev || len < LOOP_DEV_PATH_MIN)
		return -EINVAL;
	r = loop_check_backing(backing_fd, read_only, &st);
	if (r < 0)
		return r;

	ctl = open(LOOP_CONTROL_PATH, O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	/* Held until ctl is closed; see "No double attach" above. */
	r = flock_retry(ctl, LOCK_EX);
	if (r < 0)
		goto done;

	r = loop_find_by_stat(&st, &info);
	if (r >= 0) {
		/* Reusing a read-write device for a read-only request (or the
		 * reverse) would silently break the caller's expectation. */
		if (!!(info.lo_flags & LO_FLAGS_READ_ONLY) != read_only) {
			r = -EBUSY;
			goto done;
		}
		n = r;
		if (info.lo_flags & LO_FLAGS_AUTOCLEAR) {
			r = loop_clear_autoclear(n);
			if (r < 0)
				goto done;
		}
		goto found;
	}
	if (r != -ENOENT)
		goto done;

	r = -EBUSY;
	for (tries = 0; tries < LOOP_ATTACH_MAX_TRIES; tries++) {
		int lfd;

		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			r = -errno;
			goto done;
		}
		r = loop_dev_path(path, sizeof(path), n);
		if (r < 0)
			goto done;
		/* The open mode matters: the kernel makes the device read-only
		 * when the fd used for LOOP_CONFIGURE is. */
		lfd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (lfd < 0) {
			r = -errno;
			/* ENOENT: devtmpfs has not shown the node yet (or udev
			 * has not); ENXIO: someone removed the device. */
			if (r == -ENOENT || r == -ENXIO) {
				sleep_ms(10);
				continue;
			}
			goto done;
		}
		r = loop_configure(lfd, backing_fd, read_only, direct_io);
		if (r == 0 && direct_io) {
			memset(&info, 0, sizeof(info));
			if (ioctl(lfd, LOOP_GET_STATUS64, &info) == 0 &&
			    !(info.lo_flags & LO_FLAGS_DIRECT_IO))
				dv_log(DV_LOG_INFO, "%s: no direct I/O on the backing file system, "
				       "using buffered I/O", path);
		}
		close(lfd);
		if (r == -EBUSY)
			continue; /* taken by someone else since GET_FREE */
		if (r < 0)
			goto done;
		goto found;
	}
	goto done;

found:
	r = loop_dev_path(path, sizeof(path), n);
	if (r < 0)
		goto done;
	memcpy(ret_dev, path, strlen(path) + 1);
	r = n;
done:
	close(ctl);
	return r;
}

int sys_loop_find(int backing_fd, char *ret_dev, size_t len)
{
	char path[LOOP_DEV_PATH_MIN];
	struct stat st;
	int n, r;

	if (!ret_dev || len < LOOP_DEV_PATH_MIN)
		return -EINVAL;
	if (fstat(backing_fd, &st) < 0)
		return -errno;
	n = loop_find_by_stat(&st, NULL);
	if (n < 0)
		return n;
	r = loop_dev_path(path, sizeof(path), n);
	if (r < 0)
		return r;
	memcpy(ret_dev, path, strlen(path) + 1);
	return n;
}

/* Opens dev after checking it is a loop device: the ioctls below mean
 * something else (or nothing) on other block devices. */
static int loop_open(const char *dev, int flags)
{
	struct stat st;
	int fd;

	if (!dev)
		return -EINVAL;
	if (stat(dev, &st) < 0)
		return errno == ENOENT ? -ENXIO : -errno;
	if (!S_ISBLK(st.st_mode) || major(st.st_rdev) != LOOP_MAJOR)
		return -EINVAL;
	fd = open(dev, flags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fd;
}

int sys_loop_refresh_capacity(const char *dev)
{
	int fd, r = 0;

	fd = loop_open(dev, O_RDONLY);
	if (fd < 0)
		return fd;
	if (ioctl(fd, LOOP_SET_CAPACITY, 0) < 0)
		r = -errno;
	close(fd);
	return r;
}

int sys_loop_detach(const char *dev)
{
	struct loop_info64 before, after;
	int fd, r;

	/* O_EXCL fails with EBUSY while mounted or otherwise claimed; it
	 * also keeps anyone from mounting it while we work. */
	fd = loop_open(dev, O_RDONLY | O_EXCL);
	if (fd < 0)
		return fd;

	memset(&before, 0, sizeof(before));
	if (ioctl(fd, LOOP_GET_STATUS64, &before) < 0) {
		r = -errno; /* ENXIO: nothing attached */
		goto done;
	}
	if (ioctl(fd, LOOP_CLR_FD, 0) < 0) {
		r = -errno;
		goto done;
	}
	memset(&after, 0, sizeof(after));
	if (ioctl(fd, LOOP_GET_STATUS64, &after) < 0) {
		/* ENXIO: we were the only opener, the device is in rundown and
		 * is detached when we close it below. */
		r = errno == ENXIO ? 0 : -errno;
		goto done;
	}

	/* Still bound: another opener holds it and the kernel turned our
	 * request into "detach at last close". Take that back, unless the
	 * device was set up with autoclear by someone else to begin with. */
	r = -EBUSY;
	if (!(before.lo_flags & LO_FLAGS_AUTOCLEAR) && (after.lo_flags & LO_FLAGS_AUTOCLEAR)) {
		int s;

		after.lo_flags &= ~(uint32_t)LO_FLAGS_AUTOCLEAR;
		s = loop_set_status_retry(fd, &after);
		if (s < 0)
			dv_log(DV_LOG_WARN, "%s: in use; could not cancel the deferred detach "
			       "(%s), it goes away at its last close", dev, strerror(-s));
	}
done:
	close(fd);
	return r;
}

int sys_blockdev_size(const char *dev, uint64_t *ret_bytes)
{
	struct stat st;
	uint64_t size;
	int fd, r = 0;

	if (!dev || !ret_bytes)
		return -EINVAL;
	fd = open(dev, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto done;
	}
	if (!S_ISBLK(st.st_mode)) {
		r = -ENOTBLK;
		goto done;
	}
	if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
		r = -errno;
		goto done;
	}
	*ret_bytes = size;
done:
	close(fd);
	return r;
}
