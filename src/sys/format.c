/*
 * format.c - mkfs and online grow through the system's tools.
 *
 * Never forced, and guarded twice:
 *  - mkfs.xfs without -f refuses a device with any signature libblkid
 *    knows (file system or partition table), whatever stdin is.
 *  - mkfs.ext4 (mke2fs 1.47) without -F does NOT: it only asks "Proceed
 *    anyway?" when stdin and stdout are both terminals. With stdin on
 *    /dev/null, as sys_spawn runs it, it formats over an existing file
 *    system on a regular file and on a loop device alike (checked on
 *    e2fsprogs 1.47.0; it does still refuse a mounted device).
 *  So sys_mkfs probes the device itself (sys_probe) and refuses anything
 *  that is not blank, for both types: the tools' own checks are a second
 *  guard, not the only one. A gap remains between our probe and the tool
 *  opening the device; the caller holds the volume's lock across it.
 *
 * Options:
 *  - ext4: -m 0 (no root reserve: the volume is the tenant's, and the
 *    reserve would silently shrink what was provisioned); -E nodiscard
 *    (discarding a fresh sparse image only costs time) and lazy
 *    inode-table/journal init, so formatting a large volume takes
 *    seconds; the kernel zeroes those areas in the background.
 *  - xfs: -K (no discard at mkfs time), for the same reason.
 *
 * Device and mount point must be absolute paths: a name starting with
 * '-' would otherwise be read as an option by the tool.
 */
#include "sys/format.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sys/fsprobe.h"
#include "sys/spawn.h"

#define MKFS_TIMEOUT_MS (10LL * 60 * 1000)
#define GROW_TIMEOUT_MS (5LL * 60 * 1000)

/* Writes a message into errbuf (may be NULL). */
static void errbuf_set(char *errbuf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errbuf_set(char *errbuf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!errbuf || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, len, fmt, ap);
	va_end(ap);
}

/* Runs a tool; maps its result. The tool's output is in errbuf on
 * failure, or a message of ours when it could not run at all. */
static int format_run(const char *const argv[], int64_t timeout_ms, char *errbuf, size_t len)
{
	int r;

	r = sys_spawn(argv, errbuf, len, timeout_ms);
	if (r == 0) {
		errbuf_set(errbuf, len, "%s", "");
		return 0;
	}
	if (r == -ETIMEDOUT) {
		errbuf_set(errbuf, len, "%s did not finish within %lld s (killed)", argv[0],
			   (long long)(timeout_ms / 1000));
		return r;
	}
	if (r < 0) {
		errbuf_set(errbuf, len, "cannot run %s: %s", argv[0], strerror(-r));
		return r;
	}
	/* Exit status or 128+signal: the output says why. An empty output
	 * (killed by a signal, say) still gets a message. */
	if (errbuf && len && !errbuf[0])
		errbuf_set(errbuf, len, "%s failed with status %d", argv[0], r);
	return -EIO;
}

static bool path_is_absolute(const char *path)
{
	return path && path[0] == '/';
}

int sys_mkfs(const char *dev, const char *fstype, char *errbuf, size_t len)
{
	const char *const ext4_argv[] = { "mkfs.ext4", "-q", "-m", "0", "-E",
					   "nodiscard,lazy_itable_init=1,lazy_journal_init=1",
					   dev, NULL };
	const char *const xfs_argv[] = { "mkfs.xfs", "-q", "-K", dev, NULL };
	const char *const *argv;
	sys_probe_kind kind;
	char found[64];
	int r;

	if (!fstype || !path_is_absolute(dev)) {
		errbuf_set(errbuf, len, "invalid arguments");
		return -EINVAL;
	}
	if (strcmp(fstype, "ext4") == 0) {
		argv = ext4_argv;
	} else if (strcmp(fstype, "xfs") == 0) {
		argv = xfs_argv;
	} else {
		errbuf_set(errbuf, len, "unsupported file system type %s", fstype);
		return -EINVAL;
	}

	r = sys_probe(dev, &kind, found, sizeof(found));
	if (r < 0) {
		errbuf_set(errbuf, len, "cannot probe %s: %s", dev, strerror(-r));
		return r;
	}
	if (kind != SYS_PROBE_BLANK) {
		errbuf_set(errbuf, len, "%s is not blank (it holds %s%s); not formatting it", dev,
			   kind == SYS_PROBE_FILESYSTEM   ? "a file system "
			   : kind == SYS_PROBE_PARTITIONS ? "a partition table "
							  : "a signature ",
			   found[0] ? found : "of unknown type");
		return -EEXIST;
	}
	return format_run(argv, MKFS_TIMEOUT_MS, errbuf, len);
}

int sys_fs_grow(const char *dev, const char *mountpoint, const char *fstype, char *errbuf,
		size_t len)
{
	const char *const ext4_argv[] = { "resize2fs", dev, NULL };
	/* -d: grow the data section to the device's size. */
	const char *const xfs_argv[] = { "xfs_growfs", "-d", mountpoint, NULL };

	if (!fstype) {
		errbuf_set(errbuf, len, "invalid arguments");
		return -EINVAL;
	}
	if (strcmp(fstype, "btrfs") == 0) {
		errbuf_set(errbuf, len, "%s", "");
		return 0;
	}
	if (strcmp(fstype, "ext4") == 0) {
		if (!path_is_absolute(dev)) {
			errbuf_set(errbuf, len, "invalid device path");
			return -EINVAL;
		}
		/* Online when mounted; "Nothing to do!" (status 0) when the
		 * file system already fills the device. */
		return format_run(ext4_argv, GROW_TIMEOUT_MS, errbuf, len);
	}
	if (strcmp(fstype, "xfs") == 0) {
		if (!path_is_absolute(mountpoint)) {
			errbuf_set(errbuf, len, "invalid mount point");
			return -EINVAL;
		}
		/* xfs grows only mounted; an unchanged size is status 0. */
		return format_run(xfs_argv, GROW_TIMEOUT_MS, errbuf, len);
	}
	errbuf_set(errbuf, len, "unsupported file system type %s", fstype);
	return -EINVAL;
}
