/*
 * spawn.c - running external tools with posix_spawn and an argv.
 *
 * What the child gets, and why:
 *  - stdin is /dev/null: a tool that unexpectedly prompts (mkfs asking
 *    "Proceed anyway?") reads EOF instead of hanging until the timeout.
 *  - stdout and stderr share one pipe, so the captured text is in the
 *    order the tool wrote it.
 *  - every other descriptor is closed (all ours are O_CLOEXEC, and
 *    closefrom catches a library's leaked one).
 *  - all signal dispositions are reset to default and the signal mask is
 *    empty: a daemon that ignores SIGPIPE or blocks SIGTERM would otherwise
 *    hand that to the tool.
 *  - its own process group, so the timeout kill also reaches anything the
 *    tool started itself.
 *  - the environment is exactly LC_ALL=C and a fixed PATH: messages we may
 *    parse stay in English and nothing from the daemon's environment
 *    (proxies, LD_PRELOAD, credentials) leaks into tools.
 *
 * The child is always reaped before returning, also on timeout, so no
 * zombie is left. The caller must not set SIGCHLD to SIG_IGN (the kernel
 * would then reap the child itself and the exit status would be lost).
 */
#include "sys/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const spawn_search_dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };

static char *const spawn_env[] = {
	(char *)"LC_ALL=C",
	(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	NULL,
};

/* Without a pidfd the loop polls for the child's exit this often. */
#define SPAWN_POLL_FALLBACK_MS 50

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Resolves argv[0] to an absolute path in buf. A name with a '/' must be
 * absolute: "./mkfs" would depend on the daemon's working directory. */
static int spawn_resolve(const char *name, char *buf, size_t len)
{
	size_t i;
	int n;

	if (!name || !*name)
		return -EINVAL;
	if (strchr(name, '/')) {
		if (name[0] != '/')
			return -EINVAL;
		n = snprintf(buf, len, "%s", name);
		if (n < 0 || (size_t)n >= len)
			return -ENAMETOOLONG;
		return is_executable_file(buf) ? 0 : (access(buf, F_OK) == 0 ? -EACCES : -ENOENT);
	}
	for (i = 0; i < sizeof(spawn_search_dirs) / sizeof(spawn_search_dirs[0]); i++) {
		n = snprintf(buf, len, "%s/%s", spawn_search_dirs[i], name);
		if (n < 0 || (size_t)n >= len)
			return -ENAMETOOLONG;
		if (is_executable_file(buf))
			return 0;
	}
	return -ENOENT;
}

/* Moves fd to a number >= 3 (keeping O_CLOEXEC), so that a dup2() onto
 * 1 or 2 in the child never finds source and target equal (for which
 * dup2 would not clear close-on-exec) when our own stdio is closed. */
static int fd_move_above_stdio(int fd)
{
	int nfd;

	if (fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0) {
		nfd = -errno;
		close(fd);
		return nfd;
	}
	close(fd);
	return nfd;
}

/* Appends what can be read now from fd to out, keeping at most
 * out_len - 1 bytes and discarding the rest (the pipe must still be
 * drained or the child blocks). Returns 1 on EOF, 0 when it would block,
 * -errno on error. */
static int spawn_drain(int fd, char *out, size_t out_len, size_t *used)
{
	char scratch[4096];

	for (;;) {
		ssize_t n = read(fd, scratch, sizeof(scratch));

		if (n == 0)
			return 1;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		if (out && out_len > 1 && *used < out_len - 1) {
			size_t room = out_len - 1 - *used;
			size_t take = (size_t)n < room ? (size_t)n : room;

			memcpy(out + *used, scratch, take);
			*used += take;
			out[*used] = '\0';
		}
	}
}

static int wait_blocking(pid_t pid, int *status)
{
	for (;;) {
		if (waitpid(pid, status, 0) == pid)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

static int spawn_status_to_result(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -ECHILD;
}

static int spawn_setup_attr(posix_spawnattr_t *attr)
{
	sigset_t all, none;
	int r;

	sigfillset(&all);
	sigemptyset(&none);
	r = posix_spawnattr_setsigdefault(attr, &all);
	if (r == 0)
		r = posix_spawnattr_setsigmask(attr, &none);
	if (r == 0)
		r = posix_spawnattr_setpgroup(attr, 0);
	if (r == 0)
		r = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
						   POSIX_SPAWN_SETPGROUP);
	return -r;
}

static int spawn_setup_actions(posix_spawn_file_actions_t *fa, int pipe_wr)
{
	int r;

	r = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(fa, pipe_wr, 1);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(fa, pipe_wr, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	if (r == 0)
		r = posix_spawn_file_actions_addclosefrom_np(fa, 3);
#endif
	return -r;
}

int sys_spawn(const char *const argv[], char *out, size_t out_len, int64_t timeout_ms)
{
	char path[PATH_MAX];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	bool fa_init = false, attr_init = false;
	int pipefd[2] = { -1, -1 };
	int pidfd = -1, status = 0, r;
	size_t used = 0;
	int64_t deadline = 0;
	pid_t pid = -1;

	if (out && out_len > 0)
		out[0] = '\0';
	if (!argv || !argv[0])
		return -EINVAL;
	r = spawn_resolve(argv[0], path, sizeof(path));
	if (r < 0)
		return r;

	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	/* Only the read end is ours to read without blocking; the child's
	 * end must be blocking or tools writing fast see EAGAIN. */
	if (fcntl(pipefd[1], F_SETFL, 0) < 0) {
		r = -errno;
		goto done;
	}
	r = fd_move_above_stdio(pipefd[1]);
	pipefd[1] = r;
	if (r < 0)
		goto done;

	r = -posix_spawn_file_actions_init(&fa);
	if (r < 0)
		goto done;
	fa_init = true;
	r = spawn_setup_actions(&fa, pipefd[1]);
	if (r < 0)
		goto done;
	r = -posix_spawnattr_init(&attr);
	if (r < 0)
		goto done;
	attr_init = true;
	r = spawn_setup_attr(&attr);
	if (r < 0)
		goto done;

	if (timeout_ms > 0)
		deadline = monotonic_ms() + timeout_ms;
	/* posix_spawn does not write argv; the cast only drops the const the
	 * historical prototype lacks. */
	r = -posix_spawn(&pid, path, &fa, &attr, (char *const *)argv, spawn_env);
	if (r < 0) {
		pid = -1;
		goto done;
	}
	close(pipefd[1]);
	pipefd[1] = -1;

	/* A pidfd turns "child exited" into a poll event. Without one (kernel
	 * < 5.3) the loop wakes up regularly and asks waitpid. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	for (;;) {
		struct pollfd pfd[2];
		nfds_t nfds = 0;
		int wait_ms = -1;
		pid_t w;

		if (deadline) {
			int64_t left = deadline - monotonic_ms();

			if (left <= 0) {
				/* The group dies with the child; the leader is
				 * still unreaped, so the group ID cannot have been
				 * reused. */
				kill(-pid, SIGKILL);
				kill(pid, SIGKILL);
				r = wait_blocking(pid, &status);
				pid = -1;
				if (r == 0)
					r = -ETIMEDOUT;
				goto done;
			}
			wait_ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		if (pidfd < 0 && (wait_ms < 0 || wait_ms > SPAWN_POLL_FALLBACK_MS))
			wait_ms = SPAWN_POLL_FALLBACK_MS;
		if (pipefd[0] >= 0)
			pfd[nfds++] = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
		if (pidfd >= 0)
			pfd[nfds++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		if (poll(pfd, nfds, wait_ms) < 0 && errno != EINTR) {
			r = -errno;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			wait_blocking(pid, &status);
			pid = -1;
			goto done;
		}
		if (pipefd[0] >= 0) {
			r = spawn_drain(pipefd[0], out, out_len, &used);
			if (r != 0) {
				/* EOF or a read error: either way nothing more
				 * will be read; keep waiting for the exit. */
				close(pipefd[0]);
				pipefd[0] = -1;
			}
		}
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			pid = -1;
			/* Whatever the child wrote before exiting is still in
			 * the pipe; a grandchild holding the write end open must
			 * not keep us here, so read only what is there now. */
			if (pipefd[0] >= 0)
				spawn_drain(pipefd[0], out, out_len, &used);
			r = spawn_status_to_result(status);
			goto done;
		}
		if (w < 0 && errno != EINTR) {
			r = -errno;
			pid = -1;
			goto done;
		}
	}

done:
	if (pid > 0) {
		/* Only reached when something failed after the spawn. */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		wait_blocking(pid, &status);
	}
	if (pidfd >= 0)
		close(pidfd);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (attr_init)
		posix_spawnattr_destroy(&attr);
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	return r;
}
