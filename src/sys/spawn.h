/*
 * spawn.h - running external tools (mkfs, resize2fs, xfs_growfs) through
 * posix_spawn with an argv: never a shell, no string splitting.
 */
#ifndef DYNVOL_SYS_SPAWN_H
#define DYNVOL_SYS_SPAWN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Runs argv[0] (an absolute path, or a name looked up in /usr/sbin,
 * /sbin, /usr/bin, /bin only - not $PATH) with argv, stdin from /dev/null,
 * a minimal environment (LC_ALL=C, PATH=/usr/sbin:/usr/bin:/sbin:/bin),
 * and stdout+stderr captured (at most out_len - 1 bytes kept, NUL-terminated;
 * out may be NULL). Kills the child (SIGKILL) after timeout_ms (<= 0: no
 * limit) and returns -ETIMEDOUT. Otherwise returns the exit status (0..255),
 * or -errno when it cannot be started, or 128+signal when killed by one.
 */
int sys_spawn(const char *const argv[], char *out, size_t out_len, int64_t timeout_ms);

#endif
