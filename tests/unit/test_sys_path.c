/* Unit tests: resolving names beneath a root (openat2) and name checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sys/path.h"

#include "testutil.h"

/* Layout made by setup, inside a fresh temp dir:
 *   root/            the directory open as root_fd
 *   root/file        "inside"
 *   root/sub/file    "sub"
 *   root/link_out    -> the outside dir (absolute)
 *   root/link_up     -> ../outside/secret (relative, climbs out)
 *   root/link_in     -> sub/file (stays inside, still refused)
 *   root/dangling    -> <tmp>/outside/created-through-link
 *   outside/secret   must never be reachable
 */
typedef struct {
	char tmp[64];
	char root[128];
	char outside[128];
	int root_fd;
	bool mounted;
	char mnt[160];
} path_fixture;

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int setup(void **state)
{
	path_fixture *f = calloc(1, sizeof(*f));
	char p[256];

	if (!f)
		return -1;
	f->root_fd = -1;
	if (testutil_mkdtemp(f->tmp, sizeof(f->tmp), "/tmp", "path") < 0) {
		free(f);
		return -1;
	}
	*state = f;
	snprintf(f->root, sizeof(f->root), "%s/root", f->tmp);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->tmp);
	if (mkdir(f->root, 0755) < 0 || mkdir(f->outside, 0755) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/secret", f->outside);
	write_file(p, "secret");
	snprintf(p, sizeof(p), "%s/file", f->root);
	write_file(p, "inside");
	snprintf(p, sizeof(p), "%s/sub", f->root);
	if (mkdir(p, 0755) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/sub/file", f->root);
	write_file(p, "sub");
	snprintf(p, sizeof(p), "%s/link_out", f->root);
	if (symlink(f->outside, p) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/link_up", f->root);
	if (symlink("../outside/secret", p) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/link_in", f->root);
	if (symlink("sub/file", p) < 0)
		return -1;
	{
		char target[256];

		snprintf(target, sizeof(target), "%s/created-through-link", f->outside);
		snprintf(p, sizeof(p), "%s/dangling", f->root);
		if (symlink(target, p) < 0)
			return -1;
	}
	f->root_fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return f->root_fd >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
	path_fixture *f = *state;
	char p[256];

	if (!f)
		return 0;
	if (f->mounted)
		umount2(f->mnt, MNT_DETACH);
	if (f->root_fd >= 0)
		close(f->root_fd);
	/* The tree is small and made by setup: remove it entry by entry
	 * rather than through a shell. */
	{
		static const char *const rel[] = {
			"root/sub/file", "root/sub/new", "root/new", "root/link_out",
			"root/link_up", "root/link_in", "root/dangling", "root/file", "root/mnt/x",
			"outside/secret", "outside/created-through-link", "outside/escaped",
		};
		size_t i;

		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(p, sizeof(p), "%s/%s", f->tmp, rel[i]);
			unlink(p);
		}
		snprintf(p, sizeof(p), "%s/root/mnt", f->tmp);
		rmdir(p);
		snprintf(p, sizeof(p), "%s/root/sub", f->tmp);
		rmdir(p);
		rmdir(f->root);
		rmdir(f->outside);
		rmdir(f->tmp);
	}
	free(f);
	return 0;
}

static void assert_content(int fd, const char *want)
{
	char buf[64] = { 0 };

	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), (ssize_t)strlen(want));
	assert_string_equal(buf, want);
	close(fd);
}

static void test_open_inside(void **state)
{
	path_fixture *f = *state;
	int fd, fl;

	assert_content(sys_open_beneath(f->root_fd, "file", O_RDONLY, 0), "inside");
	assert_content(sys_open_beneath(f->root_fd, "sub/file", O_RDONLY, 0), "sub");
	/* ".." that stays inside the root is fine. */
	assert_content(sys_open_beneath(f->root_fd, "sub/../file", O_RDONLY, 0), "inside");
	/* O_CLOEXEC is always added. */
	fd = sys_open_beneath(f->root_fd, "file", O_RDONLY, 0);
	assert_true(fd >= 0);
	fl = fcntl(fd, F_GETFD);
	assert_true(fl & FD_CLOEXEC);
	close(fd);
}

static void test_escapes_dotdot_and_absolute(void **state)
{
	path_fixture *f = *state;

	assert_int_equal(sys_open_beneath(f->root_fd, "../outside/secret", O_RDONLY, 0), -EXDEV);
	assert_int_equal(sys_open_beneath(f->root_fd, "sub/../../outside/secret", O_RDONLY, 0),
			 -EXDEV);
	assert_int_equal(sys_open_beneath(f->root_fd, "..", O_RDONLY | O_DIRECTORY, 0), -EXDEV);
	assert_int_equal(sys_open_beneath(f->root_fd, "/etc/passwd", O_RDONLY, 0), -EXDEV);
	assert_int_equal(sys_open_beneath(f->root_fd, f->root, O_RDONLY, 0), -EXDEV);
}

static void test_symlinks_refused(void **state)
{
	path_fixture *f = *state;

	/* Pointing out, absolute and relative. */
	assert_int_equal(sys_open_beneath(f->root_fd, "link_out/secret", O_RDONLY, 0), -ELOOP);
	assert_int_equal(sys_open_beneath(f->root_fd, "link_up", O_RDONLY, 0), -ELOOP);
	/* Pointing inside: refused too - it could be re-pointed later. */
	assert_int_equal(sys_open_beneath(f->root_fd, "link_in", O_RDONLY, 0), -ELOOP);
	/* Magic links are outside any root fd anyway. */
	assert_int_equal(sys_open_beneath(f->root_fd, "/proc/self/root/etc/passwd", O_RDONLY, 0),
			 -EXDEV);
}

static void test_create_beneath(void **state)
{
	path_fixture *f = *state;
	char p[256];
	struct stat st;
	mode_t old;
	int fd;

	old = umask(022);
	fd = sys_open_beneath(f->root_fd, "sub/new", O_WRONLY | O_CREAT | O_EXCL, 0640);
	umask(old);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	close(fd);
	snprintf(p, sizeof(p), "%s/sub/new", f->root);
	assert_int_equal(stat(p, &st), 0);
	/* Second O_EXCL: exists. */
	assert_int_equal(sys_open_beneath(f->root_fd, "sub/new", O_WRONLY | O_CREAT | O_EXCL, 0640),
			 -EEXIST);
	/* A mode without O_CREAT is ignored, not an error. */
	fd = sys_open_beneath(f->root_fd, "sub/new", O_RDONLY, 0640);
	assert_true(fd >= 0);
	close(fd);

	/* O_CREAT through a dangling symlink must not create its target. */
	assert_int_equal(sys_open_beneath(f->root_fd, "dangling", O_WRONLY | O_CREAT, 0600),
			 -ELOOP);
	snprintf(p, sizeof(p), "%s/created-through-link", f->outside);
	assert_int_equal(access(p, F_OK), -1);
	/* ... nor through a climbing path. */
	assert_int_equal(sys_open_beneath(f->root_fd, "../outside/escaped", O_WRONLY | O_CREAT,
					  0600),
			 -EXDEV);
	snprintf(p, sizeof(p), "%s/escaped", f->outside);
	assert_int_equal(access(p, F_OK), -1);
	/* ... nor through a symlinked directory. */
	assert_int_equal(sys_open_beneath(f->root_fd, "link_out/escaped", O_WRONLY | O_CREAT, 0600),
			 -ELOOP);
	assert_int_equal(access(p, F_OK), -1);
}

static void test_bad_arguments(void **state)
{
	path_fixture *f = *state;
	char longname[300];
	char *longpath;
	size_t i;

	assert_int_equal(sys_open_beneath(-1, "file", O_RDONLY, 0), -EBADF);
	assert_int_equal(sys_open_beneath(f->root_fd, NULL, O_RDONLY, 0), -EINVAL);
	assert_int_equal(sys_open_beneath(f->root_fd, "", O_RDONLY, 0), -ENOENT);
	assert_int_equal(sys_open_beneath(f->root_fd, "missing", O_RDONLY, 0), -ENOENT);

	memset(longname, 'a', 256);
	longname[256] = '\0';
	assert_int_equal(sys_open_beneath(f->root_fd, longname, O_RDONLY, 0), -ENAMETOOLONG);

	/* Longer than PATH_MAX in total, every component short. */
	longpath = malloc(PATH_MAX + 16);
	assert_non_null(longpath);
	for (i = 0; i + 2 < PATH_MAX + 8; i += 2) {
		longpath[i] = 'a';
		longpath[i + 1] = '/';
	}
	longpath[i] = '\0';
	assert_int_equal(sys_open_beneath(f->root_fd, longpath, O_RDONLY, 0), -ENAMETOOLONG);
	free(longpath);
}

/* A mount planted inside the root is refused (RESOLVE_NO_XDEV). Needs
 * root for mount(2). */
static void test_no_mount_crossing(void **state)
{
	path_fixture *f = *state;
	int fd;

	testutil_require_root("mounting a tmpfs inside the root");
	snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->root);
	assert_int_equal(mkdir(f->mnt, 0755), 0);
	assert_int_equal(mount("dynvol-test", f->mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m"), 0);
	f->mounted = true;
	assert_int_equal(sys_open_beneath(f->root_fd, "mnt", O_RDONLY | O_DIRECTORY, 0), -EXDEV);
	assert_int_equal(sys_open_beneath(f->root_fd, "mnt/x", O_WRONLY | O_CREAT, 0600), -EXDEV);
	assert_int_equal(umount2(f->mnt, 0), 0);
	f->mounted = false;
	fd = sys_open_beneath(f->root_fd, "mnt", O_RDONLY | O_DIRECTORY, 0);
	assert_true(fd >= 0);
	close(fd);
}

static void test_name_is_safe(void **state)
{
	char name[300];
	char *unterminated;

	assert_true(sys_name_is_safe("pvc-0123456789abcdef"));
	assert_true(sys_name_is_safe("a"));
	assert_true(sys_name_is_safe("..."));
	assert_true(sys_name_is_safe(".hidden"));
	assert_true(sys_name_is_safe("vol.img"));
	assert_true(sys_name_is_safe("caf\xc3\xa9")); /* UTF-8 is fine */

	assert_false(sys_name_is_safe(NULL));
	assert_false(sys_name_is_safe(""));
	assert_false(sys_name_is_safe("."));
	assert_false(sys_name_is_safe(".."));
	assert_false(sys_name_is_safe("a/b"));
	assert_false(sys_name_is_safe("/abs"));
	assert_false(sys_name_is_safe("trailing/"));
	assert_false(sys_name_is_safe("line\nbreak"));
	assert_false(sys_name_is_safe("tab\there"));
	assert_false(sys_name_is_safe("esc\x1b[31m"));
	assert_false(sys_name_is_safe("del\x7f"));
	assert_false(sys_name_is_safe("\x01"));

	/* A name can only be as long as its first NUL: what follows an
	 * embedded NUL is not part of it (and cannot smuggle a '/'). */
	assert_true(sys_name_is_safe("ok\0/../etc"));

	/* 255 bytes is the limit. */
	memset(name, 'x', sizeof(name));
	name[255] = '\0';
	assert_true(sys_name_is_safe(name));
	name[255] = 'x';
	name[256] = '\0';
	assert_false(sys_name_is_safe(name));

	/* An overlong buffer without any NUL: rejected without reading past
	 * the limit (ASan would flag an over-read of this exact allocation). */
	unterminated = malloc(256);
	assert_non_null(unterminated);
	memset(unterminated, 'y', 256);
	assert_false(sys_name_is_safe(unterminated));
	free(unterminated);
}

int main(void)
{
	int fds_before, failed;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_inside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escapes_dotdot_and_absolute, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinks_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_beneath, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_mount_crossing, setup, teardown),
		cmocka_unit_test(test_name_is_safe),
	};
	fds_before = testutil_count_open_fds();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + testutil_fd_leak(fds_before);
}
