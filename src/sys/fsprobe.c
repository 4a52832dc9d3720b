/*
 * fsprobe.c - is a device blank? libblkid's low-level probe, read-only.
 *
 * Both probing chains run in one blkid_do_safeprobe: superblocks (file
 * systems, RAID/LVM members, LUKS, swap...) and partition tables. Safe
 * probing, unlike blkid_do_probe, reports two signatures that contradict
 * each other as ambivalent (-2) instead of picking one: that is "not
 * blank" here (SYS_PROBE_OTHER).
 *
 * Superblocks whose checksum does not match are reported too
 * (BLKID_SUBLKS_BADCSUM): by default libblkid ignores them, so a file
 * system with a damaged primary superblock would look blank and be
 * formatted over. Here it counts as the file system it claims to be.
 *
 * The device is opened by us (O_RDONLY, never O_EXCL, so a mounted device
 * can be probed) and handed to libblkid, so that an open failure reports
 * its real errno. Anything that is neither a block device nor a regular
 * file is refused: a directory or a character device has no signatures
 * to look for, and "blank" would be a lie.
 */
#include "sys/fsprobe.h"

#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copies the probe's value name (or "") into buf; nothing when the
 * caller asked for no type (buf NULL or len 0). */
static int probe_copy_value(blkid_probe pr, const char *name, char *buf, size_t len)
{
	const char *value = NULL;
	size_t n;

	if (!buf || len == 0)
		return 0;
	if (!name || blkid_probe_lookup_value(pr, name, &value, NULL) < 0 || !value)
		value = "";
	n = strlen(value);
	/* A cut type name ("linux_raid" of "linux_raid_member") would
	 * mislead: refuse instead. */
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, value, n + 1);
	return 0;
}

static bool probe_has_value(blkid_probe pr, const char *name)
{
	return blkid_probe_has_value(pr, name) != 0;
}

/* Turns a successful probe (rc 0) into a kind and its type name. */
static int probe_classify(blkid_probe pr, sys_probe_kind *kind, char *type, size_t len)
{
	const char *usage = NULL;

	if (probe_has_value(pr, "TYPE")) {
		/* USAGE: "filesystem", "raid" (LVM2_member, linux_raid_member,
		 * zfs_member...), "crypto" (crypto_LUKS), "other" (swap,
		 * jbd...). Only the first is something we could mount. */
		if (blkid_probe_lookup_value(pr, "USAGE", &usage, NULL) == 0 && usage &&
		    strcmp(usage, "filesystem") == 0)
			*kind = SYS_PROBE_FILESYSTEM;
		else
			*kind = SYS_PROBE_OTHER;
		return probe_copy_value(pr, "TYPE", type, len);
	}
	if (probe_has_value(pr, "PTTYPE")) {
		*kind = SYS_PROBE_PARTITIONS;
		return probe_copy_value(pr, "PTTYPE", type, len);
	}
	/* Found something, named nothing: still not blank. */
	*kind = SYS_PROBE_OTHER;
	return probe_copy_value(pr, "TYPE", type, len);
}

int sys_probe(const char *path, sys_probe_kind *ret_kind, char *ret_type, size_t len)
{
	blkid_probe pr = NULL;
	sys_probe_kind kind = SYS_PROBE_OTHER;
	struct stat st;
	int fd, r;

	if (!path || !*path || !ret_kind || (!ret_type && len))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto done;
	}
	if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -ENOTBLK;
		goto done;
	}
	pr = blkid_new_probe();
	if (!pr) {
		r = -ENOMEM;
		goto done;
	}
	/* Size 0: the whole device or file. The fd stays ours. */
	r = blkid_probe_set_device(pr, fd, 0, 0);
	if (r == 0)
		r = blkid_probe_enable_superblocks(pr, 1);
	if (r == 0)
		r = blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE |
							  BLKID_SUBLKS_BADCSUM);
	if (r == 0)
		r = blkid_probe_enable_partitions(pr, 1);
	if (r < 0) {
		r = -EIO;
		goto done;
	}

	r = blkid_do_safeprobe(pr);
	switch (r) {
	case 0:
		r = probe_classify(pr, &kind, ret_type, len);
		break;
	case 1:
		kind = SYS_PROBE_BLANK;
		r = probe_copy_value(pr, NULL, ret_type, len);
		break;
	case -2:
		/* Several signatures that exclude each other. Whatever they
		 * are, someone wrote them. */
		kind = SYS_PROBE_OTHER;
		r = probe_copy_value(pr, NULL, ret_type, len);
		break;
	default:
		r = -EIO;
		break;
	}
	if (r == 0)
		*ret_kind = kind;
done:
	blkid_free_probe(pr);
	close(fd);
	return r;
}
