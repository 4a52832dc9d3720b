/* Unit tests: running tools with posix_spawn (exit codes, capture,
 * timeouts, no shell, clean environment, no zombies or leaked fds). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "sys/spawn.h"

#include "testutil.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* No child of ours is left, not even a zombie. */
static void assert_no_children(void)
{
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void test_exit_codes(void **state)
{
	const char *const t[] = { "/bin/true", NULL };
	const char *const f[] = { "/bin/false", NULL };
	const char *const seven[] = { "/bin/sh", "-c", "exit 7", NULL };
	const char *const big[] = { "/bin/sh", "-c", "exit 255", NULL };
	const char *const sig[] = { "/bin/sh", "-c", "kill -TERM $$", NULL };

	assert_int_equal(sys_spawn(t, NULL, 0, 5000), 0);
	assert_int_equal(sys_spawn(f, NULL, 0, 5000), 1);
	assert_int_equal(sys_spawn(seven, NULL, 0, 5000), 7);
	assert_int_equal(sys_spawn(big, NULL, 0, 0), 255);
	assert_int_equal(sys_spawn(sig, NULL, 0, 5000), 128 + SIGTERM);
	assert_no_children();
}

static void test_capture(void **state)
{
	const char *const both[] = { "/bin/sh", "-c", "echo out; echo err >&2; echo out2", NULL };
	const char *const hello[] = { "/bin/echo", "hello world", NULL };
	char out[128];
	char small[6];

	assert_int_equal(sys_spawn(both, out, sizeof(out), 5000), 0);
	assert_string_equal(out, "out\nerr\nout2\n");

	/* Truncated to len - 1 bytes, always NUL-terminated. */
	memset(small, 'Z', sizeof(small));
	assert_int_equal(sys_spawn(hello, small, sizeof(small), 5000), 0);
	assert_string_equal(small, "hello");
	/* len 1: only the NUL. */
	assert_int_equal(sys_spawn(hello, small, 1, 5000), 0);
	assert_string_equal(small, "");
	/* out NULL: output is drained and dropped. */
	assert_int_equal(sys_spawn(hello, NULL, 0, 5000), 0);
	assert_no_children();
}

/* Far more output than a pipe holds: the child must not block on a full
 * pipe while we keep only the beginning. */
static void test_capture_large_output(void **state)
{
	const char *const seq[] = { "/usr/bin/seq", "1", "200000", NULL };
	char out[16];

	assert_int_equal(sys_spawn(seq, out, sizeof(out), 10000), 0);
	assert_string_equal(out, "1\n2\n3\n4\n5\n6\n7\n8");
	assert_no_children();
}

static void test_timeout_kills(void **state)
{
	const char *const sleeper[] = { "/bin/sleep", "10", NULL };
	/* A child that started a grandchild holding the pipe open. */
	const char *const tree[] = { "/bin/sh", "-c", "/bin/sleep 10 & /bin/sleep 10", NULL };
	int64_t t0, elapsed;

	t0 = now_ms();
	assert_int_equal(sys_spawn(sleeper, NULL, 0, 200), -ETIMEDOUT);
	elapsed = now_ms() - t0;
	assert_true(elapsed >= 190);
	assert_true(elapsed < 1000);
	assert_no_children();

	t0 = now_ms();
	assert_int_equal(sys_spawn(tree, NULL, 0, 200), -ETIMEDOUT);
	elapsed = now_ms() - t0;
	assert_true(elapsed < 1000);
	assert_no_children();
}

static void test_not_found(void **state)
{
	const char *const abs_missing[] = { "/nonexistent/dynvol-no-such-tool", NULL };
	const char *const name_missing[] = { "dynvol-no-such-tool", NULL };
	const char *const relative[] = { "./true", NULL };
	char plain[64], junk[64];
	const char *const not_exec[] = { plain, NULL };
	const char *const bad_format[] = { junk, NULL };
	int fd, r1, r2;
	const char *const empty[] = { NULL };
	char out[16] = "junk";

	assert_int_equal(sys_spawn(abs_missing, out, sizeof(out), 1000), -ENOENT);
	assert_string_equal(out, "");
	assert_int_equal(sys_spawn(name_missing, NULL, 0, 1000), -ENOENT);
	assert_int_equal(sys_spawn(relative, NULL, 0, 1000), -EINVAL);
	/* Not executable: refused. Executable but not a program (no #!):
	 * not handed to a shell either. */
	snprintf(plain, sizeof(plain), "/tmp/dynvol-spawn-plain-%ld", (long)getpid());
	snprintf(junk, sizeof(junk), "/tmp/dynvol-spawn-junk-%ld", (long)getpid());
	fd = open(plain, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	fd = open(junk, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "echo pwned\n", 11), 11);
	close(fd);
	r1 = sys_spawn(not_exec, NULL, 0, 1000);
	r2 = sys_spawn(bad_format, out, sizeof(out), 1000);
	unlink(plain);
	unlink(junk);
	assert_int_equal(r1, -EACCES);
	assert_int_equal(r2, -ENOEXEC);
	assert_string_equal(out, "");
	assert_int_equal(sys_spawn(empty, NULL, 0, 1000), -EINVAL);
	assert_int_equal(sys_spawn(NULL, NULL, 0, 1000), -EINVAL);
	assert_no_children();
}

/* A bare name is looked up in the fixed directories, not $PATH. */
static void test_name_lookup(void **state)
{
	const char *const echo[] = { "echo", "found", NULL };
	char out[32];
	char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;

	setenv("PATH", "/nonexistent", 1);
	assert_int_equal(sys_spawn(echo, out, sizeof(out), 5000), 0);
	assert_string_equal(out, "found\n");
	if (old) {
		setenv("PATH", old, 1);
		free(old);
	}
}

static void test_no_shell_interpretation(void **state)
{
	const char *const echo[] = { "/bin/echo", "$(echo x)", "`id`", "a;b", "*", "$HOME", NULL };
	char out[128];

	assert_int_equal(sys_spawn(echo, out, sizeof(out), 5000), 0);
	assert_string_equal(out, "$(echo x) `id` a;b * $HOME\n");
}

static void test_environment_is_minimal(void **state)
{
	const char *const env[] = { "/usr/bin/env", NULL };
	char out[256];

	setenv("DYNVOL_TEST_SECRET", "must-not-leak", 1);
	assert_int_equal(sys_spawn(env, out, sizeof(out), 5000), 0);
	unsetenv("DYNVOL_TEST_SECRET");
	assert_string_equal(out, "LC_ALL=C\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n");
}

/* stdin is /dev/null: a tool waiting for input sees EOF at once. */
static void test_stdin_is_devnull(void **state)
{
	const char *const cat[] = { "/bin/cat", NULL };
	char out[16] = "junk";
	int64_t t0 = now_ms();

	assert_int_equal(sys_spawn(cat, out, sizeof(out), 5000), 0);
	assert_string_equal(out, "");
	assert_true(now_ms() - t0 < 2000);
}

/* Descriptors of ours do not reach the child, not even ones some library
 * forgot to mark close-on-exec. */
static void test_no_fd_leak(void **state)
{
	const char *const probe[] = { "/bin/sh", "-c",
				      "[ -e /proc/self/fd/77 ] && echo leaked; exit 0", NULL };
	char out[32];
	int fd = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */

	assert_true(fd >= 0);
	assert_int_equal(dup2(fd, 77), 77);
	close(fd);
	assert_int_equal(sys_spawn(probe, out, sizeof(out), 5000), 0);
	close(77);
	assert_string_equal(out, "");
}

/* An ignored SIGPIPE (as a server sets it) is not inherited. */
static void test_signals_reset(void **state)
{
	const char *const probe[] = { "/bin/sh", "-c",
				      "/bin/sleep 5 & kill -PIPE $!; wait $!; echo $?", NULL };
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	char out[16];

	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old);
	assert_int_equal(sys_spawn(probe, out, sizeof(out), 5000), 0);
	sigaction(SIGPIPE, &old, NULL);
	/* 128 + SIGPIPE (13): the grandchild died of it. */
	assert_string_equal(out, "141\n");
}

int main(void)
{
	int fds_before, failed;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_capture),
		cmocka_unit_test(test_capture_large_output),
		cmocka_unit_test(test_timeout_kills),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_name_lookup),
		cmocka_unit_test(test_no_shell_interpretation),
		cmocka_unit_test(test_environment_is_minimal),
		cmocka_unit_test(test_stdin_is_devnull),
		cmocka_unit_test(test_no_fd_leak),
		cmocka_unit_test(test_signals_reset),
	};
	fds_before = testutil_count_open_fds();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + testutil_fd_leak(fds_before);
}
