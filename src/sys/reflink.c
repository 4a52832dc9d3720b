/*
 * reflink.c - copying volume images: FICLONE, else a sparse-aware copy.
 *
 * The sparse copy walks the source's data extents with SEEK_DATA and
 * SEEK_HOLE and copies only those, with copy_file_range (in-kernel, and on
 * xfs/btrfs/nfs it may itself share or offload extents) or, when the
 * kernel refuses that for this pair of files, with pread/pwrite. In the
 * pread/pwrite path blocks that read back as all zeros are not written
 * either, so a source on a file system without SEEK_HOLE support (where
 * everything looks like data) still gives a sparse copy. Finally dst is
 * truncated to the source size, which turns a trailing hole into a hole.
 *
 * This relies on dst being empty at the start (checked): any range not
 * written reads back as zeros, which is exactly what a hole in src holds.
 *
 * A failed or cancelled copy truncates dst back to 0 bytes (best effort),
 * so a half-copied image never carries the source's size and cannot be
 * mistaken for a finished copy. Nothing is fsync'ed here: the caller
 * decides when the copy must be durable (before recording it as done).
 */
#include "sys/reflink.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Longest single copy step: the cancel flag is looked at least this
 * often, even inside one huge data extent. */
#define COPY_CHUNK_MAX (64ULL << 20)
/* Buffer for the pread/pwrite path, and the zero-detection granule. */
#define COPY_BUF_SIZE (1U << 20)
#define ZERO_BLOCK 4096U

static bool copy_cancelled(const volatile bool *cancel)
{
	return cancel && *cancel;
}

/* FICLONE failures that mean "not possible here" (fall back to copying)
 * rather than "something is wrong" (report it). */
static bool clone_unsupported(int err)
{
	return err == EOPNOTSUPP || err == ENOTTY || err == EINVAL || err == EXDEV ||
	       err == ENOSYS || err == EPERM;
}

/* copy_file_range failures after which pread/pwrite still works: other
 * file systems (EXDEV before 5.3 and again since 5.19 across types), no
 * syscall, or a file system that declines (EINVAL/EOPNOTSUPP, e.g. some
 * FUSE and overlay setups). */
static bool cfr_unsupported(int err)
{
	return err == EXDEV || err == ENOSYS || err == EOPNOTSUPP || err == EINVAL;
}

static bool block_is_zero(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static int pwrite_all(int fd, const unsigned char *p, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Writes buf to dst at off, skipping ZERO_BLOCK-sized blocks that are all
 * zeros (they stay holes in the empty destination). */
static int write_skipping_zeros(int dst_fd, const unsigned char *buf, size_t len, off_t off)
{
	size_t pos = 0;

	while (pos < len) {
		size_t run_start, blk;

		blk = len - pos < ZERO_BLOCK ? len - pos : ZERO_BLOCK;
		if (block_is_zero(buf + pos, blk)) {
			pos += blk;
			continue;
		}
		run_start = pos;
		while (pos < len) {
			blk = len - pos < ZERO_BLOCK ? len - pos : ZERO_BLOCK;
			if (block_is_zero(buf + pos, blk))
				break;
			pos += blk;
		}
		int r = pwrite_all(dst_fd, buf + run_start, pos - run_start,
				   off + (off_t)run_start);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Copies [off, off + len) with pread/pwrite. Returns bytes copied (short
 * only at the source's EOF) or -errno. */
static int64_t copy_range_rw(int src_fd, int dst_fd, unsigned char *buf, off_t off, uint64_t len)
{
	uint64_t done = 0;

	while (done < len) {
		size_t want = len - done < COPY_BUF_SIZE ? (size_t)(len - done) : COPY_BUF_SIZE;
		ssize_t n = pread(src_fd, buf, want, off + (off_t)done);
		int r;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		r = write_skipping_zeros(dst_fd, buf, (size_t)n, off + (off_t)done);
		if (r < 0)
			return r;
		done += (uint64_t)n;
	}
	return (int64_t)done;
}

/* Copies [off, off + len) with copy_file_range. Returns bytes copied
 * (short only at the source's EOF, or just before an error that the next
 * call will then report) or -errno. */
static int64_t copy_range_cfr(int src_fd, int dst_fd, off_t off, uint64_t len)
{
	uint64_t done = 0;

	while (done < len) {
		loff_t in = off + (off_t)done, outp = in;
		ssize_t n = copy_file_range(src_fd, &in, dst_fd, &outp, (size_t)(len - done), 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (done == 0)
				return -errno;
			break;
		}
		if (n == 0)
			break;
		done += (uint64_t)n;
	}
	return (int64_t)done;
}

static int copy_sparse(int src_fd, int dst_fd, uint64_t size, const volatile bool *cancel)
{
	unsigned char *buf = NULL;
	bool use_cfr = true, seek_data = true;
	uint64_t pos = 0;
	int r = 0;

	while (pos < size) {
		uint64_t data, hole;
		off_t o;

		if (copy_cancelled(cancel)) {
			r = -ECANCELED;
			goto done;
		}
		if (seek_data) {
			o = lseek(src_fd, (off_t)pos, SEEK_DATA);
			if (o < 0 && errno == ENXIO)
				break; /* only a hole up to EOF is left */
			if (o < 0 && (errno == EINVAL || errno == EOPNOTSUPP)) {
				/* No SEEK_DATA here: everything is data, and the
				 * zero-skipping pread path keeps the holes. */
				seek_data = false;
				use_cfr = false;
				continue;
			}
			if (o < 0) {
				r = -errno;
				goto done;
			}
			data = (uint64_t)o;
			if (data >= size)
				break;
			o = lseek(src_fd, (off_t)data, SEEK_HOLE);
			if (o < 0) {
				r = -errno;
				goto done;
			}
			hole = (uint64_t)o < size ? (uint64_t)o : size;
		} else {
			data = pos;
			hole = size;
		}

		/* The extent in steps of at most COPY_CHUNK_MAX, so a single
		 * huge extent still honours the cancel flag. */
		pos = data;
		while (pos < hole) {
			uint64_t step = hole - pos < COPY_CHUNK_MAX ? hole - pos : COPY_CHUNK_MAX;
			int64_t n;

			if (copy_cancelled(cancel)) {
				r = -ECANCELED;
				goto done;
			}
			if (use_cfr) {
				n = copy_range_cfr(src_fd, dst_fd, (off_t)pos, step);
				if (n < 0 && cfr_unsupported((int)-n)) {
					use_cfr = false;
					continue;
				}
			} else {
				if (!buf) {
					buf = malloc(COPY_BUF_SIZE);
					if (!buf) {
						r = -ENOMEM;
						goto done;
					}
				}
				n = copy_range_rw(src_fd, dst_fd, buf, (off_t)pos, step);
			}
			if (n < 0) {
				r = (int)n;
				goto done;
			}
			if (n == 0) {
				/* The source shrank under us: the copy would not be
				 * the image it claims to be. */
				r = -EIO;
				goto done;
			}
			pos += (uint64_t)n;
		}
	}

	if (ftruncate(dst_fd, (off_t)size) < 0)
		r = -errno;
done:
	free(buf);
	return r;
}

int sys_copy_file(int src_fd, int dst_fd, bool force_copy, const volatile bool *cancel,
		  sys_copy_method *ret_method)
{
	struct stat src_st, dst_st;
	int fl, r;

	if (fstat(src_fd, &src_st) < 0 || fstat(dst_fd, &dst_st) < 0)
		return -errno;
	if (!S_ISREG(src_st.st_mode) || !S_ISREG(dst_st.st_mode))
		return -EINVAL;
	if (src_st.st_dev == dst_st.st_dev && src_st.st_ino == dst_st.st_ino)
		return -EINVAL;
	/* The sparse path leaves unwritten ranges alone; on a non-empty dst
	 * they would keep stale data. Refuse rather than truncate a file the
	 * caller may not expect to lose. */
	if (dst_st.st_size != 0)
		return -ENOTEMPTY;
	/* pwrite on an O_APPEND fd ignores the offset and would pack the
	 * extents together. */
	fl = fcntl(dst_fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (fl & O_APPEND)
		return -EINVAL;

	if (!force_copy) {
		if (copy_cancelled(cancel))
			return -ECANCELED;
		if (ioctl(dst_fd, FICLONE, src_fd) == 0) {
			if (ret_method)
				*ret_method = SYS_COPY_REFLINK;
			return 0;
		}
		if (!clone_unsupported(errno))
			return -errno;
	}

	r = copy_sparse(src_fd, dst_fd, (uint64_t)src_st.st_size, cancel);
	if (r < 0) {
		/* Best effort: the error returned is the copy's, not this. */
		if (ftruncate(dst_fd, 0) < 0) {
			/* nothing more to do */
		}
		return r;
	}
	if (ret_method)
		*ret_method = SYS_COPY_SPARSE;
	return 0;
}

/* An unnamed file in dir_fd: O_TMPFILE where supported, else a named
 * file unlinked right after creation (so nothing is left behind even if
 * we crash before closing it). */
static int probe_tmpfile(int dir_fd)
{
	char name[64];
	struct timespec ts;
	int fd, i;

	fd = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	for (i = 0; i < 16; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		snprintf(name, sizeof(name), ".dynvol-reflink-probe-%ld-%ld-%d", (long)getpid(),
			 (long)ts.tv_nsec, i);
		fd = openat(dir_fd, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0) {
			unlinkat(dir_fd, name, 0);
			return fd;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

bool sys_reflink_supported(int dir_fd)
{
	unsigned char block[4096];
	bool ok = false;
	int a, b = -1;

	a = probe_tmpfile(dir_fd);
	if (a < 0)
		return false;
	b = probe_tmpfile(dir_fd);
	if (b < 0)
		goto done;
	/* A real block: cloning an empty file succeeds trivially on some
	 * file systems without proving anything. */
	memset(block, 0xa5, sizeof(block));
	if (pwrite_all(a, block, sizeof(block), 0) < 0)
		goto done;
	ok = ioctl(b, FICLONE, a) == 0;
done:
	if (b >= 0)
		close(b);
	close(a);
	return ok;
}
