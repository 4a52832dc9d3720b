/*
 * fsprobe.h - what is on a block device or image, through libblkid.
 *
 * The one question that keeps the node from destroying data: is this
 * device blank? Superblocks of any file system libblkid knows, partition
 * tables (DOS, GPT), RAID/LVM signatures: all count as "not blank".
 */
#ifndef DYNVOL_SYS_FSPROBE_H
#define DYNVOL_SYS_FSPROBE_H

#include <stddef.h>

typedef enum {
	SYS_PROBE_BLANK,       /* no signature at all */
	SYS_PROBE_FILESYSTEM,  /* a file system; type in ret_type */
	SYS_PROBE_PARTITIONS,  /* a partition table; type in ret_type ("dos", "gpt") */
	SYS_PROBE_OTHER,       /* another signature (LVM2_member, linux_raid_member...) */
} sys_probe_kind;

/*
 * Probes path (a block device or an image file) read-only. ret_type gets
 * the type name ("ext4", "xfs", "gpt", ...) or "" (ret_type may be NULL
 * with len 0). Ambiguous results (several signatures) count as
 * SYS_PROBE_OTHER, never as blank; so does a signature libblkid finds but
 * cannot name. A superblock with a bad checksum still counts as its file
 * system. Outputs are written only on success.
 * Returns 0 or -errno (the device could not be read: never "blank"):
 * -ENOTBLK/-EISDIR for something neither a block device nor a regular
 * file, -EIO when libblkid fails, -ENAMETOOLONG when the type does not
 * fit in len.
 */
int sys_probe(const char *path, sys_probe_kind *ret_kind, char *ret_type, size_t len);

#endif
