/*
 * path.c - opening names beneath a root directory with openat2(2).
 *
 * The kernel does the whole resolution: RESOLVE_BENEATH refuses absolute
 * paths and any ".." that would climb above root_fd, RESOLVE_NO_SYMLINKS
 * refuses every symlink (also one that would stay inside: a symlink that
 * is harmless today can be re-pointed tomorrow by whoever can write the
 * pool), RESOLVE_NO_MAGICLINKS refuses /proc/<pid>/fd style links and
 * RESOLVE_NO_XDEV refuses crossing into another mount (a bind mount
 * planted inside the pool is as good as a symlink out of it).
 *
 * There is deliberately no fallback for kernels without openat2 (< 5.6):
 * a user-space re-implementation is racy, so -ENOSYS is returned and the
 * caller fails loudly instead of silently losing the guarantee.
 */
#include "sys/path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* openat2 returns -EAGAIN under RESOLVE_BENEATH when a concurrent rename
 * or mount could have let ".." escape; the lookup is simply retried. The
 * bound keeps a hostile renamer from making us spin forever. */
#define OPEN_BENEATH_MAX_TRIES 32

/* The longest component Linux accepts (NAME_MAX). */
#define SAFE_NAME_MAX 255

int sys_open_beneath(int root_fd, const char *rel, int flags, mode_t mode)
{
	struct open_how how;
	int tries, fd;

	if (root_fd < 0)
		return -EBADF;
	if (!rel)
		return -EINVAL;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(unsigned int)(flags | O_CLOEXEC);
	/* openat2, unlike openat, rejects a mode without O_CREAT/O_TMPFILE. */
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		how.mode = mode;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
		      RESOLVE_NO_XDEV;

	for (tries = 0; tries < OPEN_BENEATH_MAX_TRIES; tries++) {
		fd = (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
		if (fd >= 0)
			return fd;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	return -EAGAIN;
}

bool sys_name_is_safe(const char *name)
{
	size_t len, i;

	if (!name)
		return false;
	/* strnlen: a caller's buffer that lacks a NUL is never read past
	 * SAFE_NAME_MAX + 1 bytes. */
	len = strnlen(name, SAFE_NAME_MAX + 1);
	if (len == 0 || len > SAFE_NAME_MAX)
		return false;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* Control characters are legal in Linux names but end up in
		 * logs, mount tables and kubectl output, where a newline or an
		 * escape sequence can forge lines. Bytes >= 0x80 (UTF-8) are
		 * fine. */
		if (c == '/' || c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}
