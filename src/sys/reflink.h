/*
 * reflink.h - copying volume images: shared extents when the file system
 * can (FICLONE on xfs with reflink, btrfs), else a sparse-aware copy that
 * copies only data extents (SEEK_DATA/SEEK_HOLE + copy_file_range) and
 * leaves holes as holes.
 */
#ifndef DYNVOL_SYS_REFLINK_H
#define DYNVOL_SYS_REFLINK_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
	SYS_COPY_REFLINK,  /* extents shared, O(1) */
	SYS_COPY_SPARSE,   /* data copied, holes kept */
} sys_copy_method;

/*
 * Makes dst_fd (an empty regular file opened for writing) a copy of
 * src_fd. Tries FICLONE first unless force_copy. The sparse path checks
 * *cancel (may be NULL) between extents and returns -ECANCELED when set,
 * so a long copy can be abandoned. dst ends with src's size. On success
 * *ret_method tells which path was taken.
 */
int sys_copy_file(int src_fd, int dst_fd, bool force_copy, const volatile bool *cancel,
		  sys_copy_method *ret_method);

/* True when the file system holding fd supports FICLONE (probed by cloning
 * a temporary file inside dir_fd). */
bool sys_reflink_supported(int dir_fd);

#endif
