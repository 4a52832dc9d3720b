/*
 * path.h - resolving names beneath a root directory without following
 * symlinks: openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV. A planted symlink, a ".." or an
 * absolute path can never lead outside the root.
 */
#ifndef DYNVOL_SYS_PATH_H
#define DYNVOL_SYS_PATH_H

#include <stdbool.h>
#include <sys/types.h>

/* openat2 beneath root_fd. flags as for open(2) (O_CLOEXEC is added);
 * mode for O_CREAT. Returns the fd or -errno (-EXDEV, -ELOOP on escapes). */
int sys_open_beneath(int root_fd, const char *rel, int flags, mode_t mode);

/* True when name is one safe path component: non-empty, at most 255
 * bytes, no '/', not "." or "..", no NUL or control characters. */
bool sys_name_is_safe(const char *name);

#endif
