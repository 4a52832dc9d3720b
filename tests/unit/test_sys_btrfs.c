/*
 * Unit tests for src/sys/btrfs.c against a real btrfs: the group setup makes
 * a 512 MiB sparse image, formats it with mkfs.btrfs, attaches it to a loop
 * device and mounts it; the group teardown undoes all of that, whatever the
 * tests did. Needs root, /dev/loop-control and mkfs.btrfs; without them
 * every test is skipped (the reason is printed once).
 *
 * External tools are run through posix_spawn with an argv, never a shell.
 * The project's loop module is not used on purpose: these tests must not
 * depend on the code of another module being correct.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "sys/btrfs.h"

#include "testutil.h"

extern char **environ;

#define MIB (1024ULL * 1024ULL)
#define IMAGE_SIZE (512 * MIB)

typedef struct {
	const char *skip_reason; /* set when the environment cannot run these */
	char mkfs[PATH_MAX];
	char losetup[PATH_MAX];
	char base[256];          /* mkdtemp directory holding image and mnt */
	char image[320];
	char mnt[320];
	char loopdev[64];        /* "" until attached */
	bool mounted;
	int mnt_fd;
} btrfs_fixture;

static btrfs_fixture fx = { .mnt_fd = -1 };

/* Finds an executable in the usual system directories: root's PATH under a
 * test runner may lack the sbin directories. */
static bool find_tool(const char *name, char *out, size_t len)
{
	static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		int n = snprintf(out, len, "%s/%s", dirs[i], name);

		if (n > 0 && (size_t)n < len && access(out, X_OK) == 0)
			return true;
	}
	return false;
}

/*
 * Runs argv (argv[0] an absolute path) with stdin from /dev/null. When out
 * is given, its stdout is captured there (NUL-terminated, truncated to
 * len - 1); otherwise stdout goes to /dev/null. stderr stays the test's,
 * so a failing tool explains itself in the test log. 0 when the tool
 * exited with 0.
 */
static int run_tool(char *const argv[], char *out, size_t len)
{
	posix_spawn_file_actions_t fa;
	int pipefd[2] = { -1, -1 };
	size_t used = 0;
	pid_t pid;
	int r, status;

	if (out && pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	r = posix_spawn_file_actions_init(&fa);
	if (r != 0)
		goto done_pipe;
	r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (r == 0)
		r = out ? posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1)
			: posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (r == 0)
		r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		goto done_pipe;

	if (out) {
		close(pipefd[1]);
		pipefd[1] = -1;
		for (;;) {
			char chunk[256];
			ssize_t n = read(pipefd[0], chunk, sizeof(chunk));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			for (ssize_t i = 0; i < n && used + 1 < len; i++)
				out[used++] = chunk[i];
		}
		out[used] = '\0';
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			r = errno;
			goto done_pipe;
		}
	}
	r = (WIFEXITED(status) && WEXITSTATUS(status) == 0) ? 0 : ECHILD;

done_pipe:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	return -r;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * A failed assertion leaves the test by longjmp, past its close() calls;
 * descriptors still open beneath the mount point would keep it busy, so
 * close every one whose path lies under it.
 */
static void close_fds_under_mount(void)
{
	size_t prefix = strlen(fx.mnt);
	struct dirent *de;
	DIR *d;

	d = opendir("/proc/self/fd");
	if (!d)
		return;
	while ((de = readdir(d))) {
		char link[32], target[PATH_MAX];
		int fd = atoi(de->d_name);
		ssize_t n;

		if (de->d_name[0] == '.' || fd == dirfd(d) || fd == fx.mnt_fd)
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, fx.mnt, prefix) == 0 && (target[prefix] == '/' || target[prefix] == '\0'))
			close(fd);
	}
	closedir(d);
}

/* Undoes whatever the setup got to; safe to call at any stage and twice.
 * Unmounting retries on EBUSY (a closing fd, the btrfs cleaner) before it
 * falls back to a lazy unmount, so the loop device can always go. */
static int group_teardown(void **state)
{
	int failed = 0;

	if (fx.mounted)
		close_fds_under_mount();
	if (fx.mnt_fd >= 0) {
		close(fx.mnt_fd);
		fx.mnt_fd = -1;
	}
	if (fx.mounted) {
		int i;

		for (i = 0; i < 50; i++) {
			if (umount2(fx.mnt, 0) == 0 || errno == EINVAL || errno == ENOENT)
				break;
			sleep_ms(100);
		}
		if (i == 50) {
			print_error("umount %s: %s; detaching lazily\n", fx.mnt, strerror(errno));
			if (umount2(fx.mnt, MNT_DETACH) < 0)
				print_error("umount2 MNT_DETACH %s: %s\n", fx.mnt, strerror(errno));
			failed = 1;
		}
		fx.mounted = false;
	}
	if (fx.loopdev[0]) {
		char *argv[] = { fx.losetup, (char *)"-d", fx.loopdev, NULL };
		int r = -1;

		for (int i = 0; i < 20 && (r = run_tool(argv, NULL, 0)) < 0; i++)
			sleep_ms(100);
		if (r < 0) {
			print_error("losetup -d %s failed\n", fx.loopdev);
			failed = 1;
		}
		fx.loopdev[0] = '\0';
	}
	if (fx.image[0]) {
		unlink(fx.image);
		fx.image[0] = '\0';
	}
	if (fx.mnt[0]) {
		rmdir(fx.mnt);
		fx.mnt[0] = '\0';
	}
	if (fx.base[0]) {
		if (rmdir(fx.base) < 0)
			print_error("rmdir %s: %s\n", fx.base, strerror(errno));
		fx.base[0] = '\0';
	}
	return failed ? -1 : 0;
}

static int setup_fail(void **state, const char *what)
{
	print_error("btrfs test setup: %s: %s\n", what, strerror(errno));
	group_teardown(state);
	return -1;
}

static int group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char out[64];
	int fd;

	fx.skip_reason = testutil_loop_unavailable();
	if (!fx.skip_reason && !find_tool("mkfs.btrfs", fx.mkfs, sizeof(fx.mkfs)))
		fx.skip_reason = "mkfs.btrfs not installed";
	if (fx.skip_reason) {
		print_message("skipping btrfs tests: %s\n", fx.skip_reason);
		return 0;
	}
	if (!find_tool("losetup", fx.losetup, sizeof(fx.losetup))) {
		errno = ENOENT;
		return setup_fail(state, "losetup");
	}

	if (testutil_mkdtemp(fx.base, sizeof(fx.base), tmp && *tmp ? tmp : "/tmp", "btrfs") < 0) {
		fx.base[0] = '\0';
		return setup_fail(state, "mkdtemp");
	}
	snprintf(fx.image, sizeof(fx.image), "%s/image", fx.base);
	snprintf(fx.mnt, sizeof(fx.mnt), "%s/mnt", fx.base);

	fd = open(fx.image, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		fx.image[0] = '\0';
		return setup_fail(state, "create image");
	}
	if (ftruncate(fd, (off_t)IMAGE_SIZE) < 0) {
		close(fd);
		return setup_fail(state, "ftruncate image");
	}
	close(fd);

	{
		char *argv[] = { fx.mkfs, (char *)"-f", (char *)"-q", fx.image, NULL };

		if (run_tool(argv, NULL, 0) < 0) {
			errno = EIO;
			return setup_fail(state, "mkfs.btrfs");
		}
	}
	{
		char *argv[] = { fx.losetup, (char *)"--find", (char *)"--show", fx.image, NULL };

		if (run_tool(argv, out, sizeof(out)) < 0 || strncmp(out, "/dev/loop", 9) != 0) {
			errno = EIO;
			return setup_fail(state, "losetup --find --show");
		}
		out[strcspn(out, "\n")] = '\0';
		snprintf(fx.loopdev, sizeof(fx.loopdev), "%s", out);
	}
	if (mkdir(fx.mnt, 0700) < 0) {
		fx.mnt[0] = '\0';
		return setup_fail(state, "mkdir mnt");
	}
	if (mount(fx.loopdev, fx.mnt, "btrfs", 0, NULL) < 0)
		return setup_fail(state, "mount");
	fx.mounted = true;
	fx.mnt_fd = open(fx.mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fx.mnt_fd < 0)
		return setup_fail(state, "open mnt");
	*state = &fx;
	return 0;
}

#define REQUIRE_BTRFS()                  \
	do {                             \
		if (fx.skip_reason)      \
			skip();          \
	} while (0)

static int open_dir(int dir_fd, const char *name)
{
	return openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static bool exists(int dir_fd, const char *name)
{
	struct stat st;

	return fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Incompressible, seed-dependent bytes: xorshift64. */
static void fill_random(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)(x >> 24);
	}
}

/* Writes size bytes of seeded data to name in dir_fd (created or
 * truncated), fsynced. */
static void write_file(int dir_fd, const char *name, size_t size, uint64_t seed)
{
	uint8_t *buf = malloc(MIB);
	int fd;

	assert_non_null(buf);
	fd = openat(dir_fd, name, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	for (size_t off = 0; off < size; off += MIB) {
		size_t n = size - off < MIB ? size - off : MIB;

		fill_random(buf, n, seed + off);
		assert_int_equal(write(fd, buf, n), (ssize_t)n);
	}
	assert_int_equal(fsync(fd), 0);
	close(fd);
	free(buf);
}

/* FNV-1a over the whole file. */
static uint64_t file_checksum(int dir_fd, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint8_t buf[65536];
	ssize_t n;
	int fd;

	fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 0x100000001b3ULL;
	assert_int_equal(n, 0);
	close(fd);
	return h;
}

static void test_is_btrfs(void **state)
{
	int base_fd;

	REQUIRE_BTRFS();
	assert_true(sys_btrfs_is(fx.mnt_fd));
	/* The top level is a subvolume too (id 5, root inode 256). */
	assert_true(sys_btrfs_is_subvol(fx.mnt_fd));
	base_fd = open_dir(AT_FDCWD, fx.base);
	assert_true(base_fd >= 0);
	if (!sys_btrfs_is(base_fd)) {
		/* Not btrfs: the ioctls fail cleanly instead of doing anything. */
		assert_false(sys_btrfs_is_subvol(base_fd));
		assert_true(sys_btrfs_subvol_create(base_fd, "nope") < 0);
		assert_false(exists(base_fd, "nope"));
	}
	close(base_fd);
	assert_false(sys_btrfs_is(-1));
}

/* Runs before quotas get enabled (cmocka keeps the array order). */
static void test_qgroup_without_quota(void **state)
{
	uint64_t rfer;
	int fd;

	REQUIRE_BTRFS();
	assert_int_equal(sys_btrfs_subvol_create(fx.mnt_fd, "noquota"), 0);
	fd = open_dir(fx.mnt_fd, "noquota");
	assert_true(fd >= 0);
	assert_int_equal(sys_btrfs_qgroup_limit(fd, 16 * MIB), -ENOTCONN);
	assert_int_equal(sys_btrfs_qgroup_usage(fd, &rfer, NULL, NULL), -ENOTCONN);
	close(fd);
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "noquota"), 0);
}

static void test_subvol_lifecycle(void **state)
{
	int fd;

	REQUIRE_BTRFS();
	assert_int_equal(sys_btrfs_subvol_create(fx.mnt_fd, "vol1"), 0);
	fd = open_dir(fx.mnt_fd, "vol1");
	assert_true(fd >= 0);
	assert_true(sys_btrfs_is_subvol(fd));
	close(fd);
	assert_int_equal(sys_btrfs_subvol_create(fx.mnt_fd, "vol1"), -EEXIST);
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "vol1"), 0);
	assert_false(exists(fx.mnt_fd, "vol1"));
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "vol1"), -ENOENT);

	/* A plain directory is neither a subvolume nor deletable as one. */
	assert_int_equal(mkdirat(fx.mnt_fd, "plain", 0700), 0);
	fd = open_dir(fx.mnt_fd, "plain");
	assert_true(fd >= 0);
	assert_false(sys_btrfs_is_subvol(fd));
	close(fd);
	assert_int_equal(sys_btrfs_subvol_create(fx.mnt_fd, "plain"), -EEXIST);
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "plain"), -EINVAL);
	assert_true(exists(fx.mnt_fd, "plain"));
	assert_int_equal(unlinkat(fx.mnt_fd, "plain", AT_REMOVEDIR), 0);
}

static void test_hostile_names(void **state)
{
	char long_name[257], max_name[256], path[320];
	const char *bad[] = { "../x", "a/b", "/abs", "", ".", "..", "x\ny", long_name, NULL };
	int src;

	REQUIRE_BTRFS();
	memset(long_name, 'a', 256);
	long_name[256] = '\0';
	memset(max_name, 'b', 255);
	max_name[255] = '\0';
	assert_int_equal(sys_btrfs_subvol_create(fx.mnt_fd, "hsrc"), 0);
	src = open_dir(fx.mnt_fd, "hsrc");
	assert_true(src >= 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sys_btrfs_subvol_create(fx.mnt_fd, bad[i]), -EINVAL);
		assert_int_equal(sys_btrfs_snapshot(src, fx.mnt_fd, bad[i], true), -EINVAL);
		assert_int_equal(sys_btrfs_snapshot(src, fx.mnt_fd, bad[i], false), -EINVAL);
		assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, bad[i]), -EINVAL);
	}
	/* "../x" must not have landed next to the mount point. */
	snprintf(path, sizeof(path), "%s/x", fx.base);
	assert_false(exists(AT_FDCWD, path));
	/* Deleting ".." or "." would have hit the parent or the pool itself. */
	assert_true(sys_btrfs_is_subvol(src));
	assert_true(exists(fx.mnt_fd, "hsrc"));

	/* 255 bytes is the longest valid name. */
	assert_int_equal(sys_btrfs_subvol_create(fx.mnt_fd, max_name), 0);
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, max_name), 0);

	close(src);
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "hsrc"), 0);
}

static void test_snapshot_readonly(void **state)
{
	uint64_t sum, src_id, snap_id;
	int src, snap, fd, plain;

	REQUIRE_BTRFS();
	assert_int_equal(sys_btrfs_subvol_create(fx.mnt_fd, "ro-src"), 0);
	src = open_dir(fx.mnt_fd, "ro-src");
	assert_true(src >= 0);
	write_file(src, "data", 4 * MIB, 1);
	sum = file_checksum(src, "data");

	assert_int_equal(sys_btrfs_snapshot(src, fx.mnt_fd, "ro-snap", true), 0);
	assert_int_equal(sys_btrfs_snapshot(src, fx.mnt_fd, "ro-snap", true), -EEXIST);
	snap = open_dir(fx.mnt_fd, "ro-snap");
	assert_true(snap >= 0);
	assert_true(sys_btrfs_is_subvol(snap));
	assert_int_equal(file_checksum(snap, "data"), sum);
	assert_int_equal(sys_btrfs_subvol_id(src, &src_id), 0);
	assert_int_equal(sys_btrfs_subvol_id(snap, &snap_id), 0);
	assert_int_not_equal(src_id, snap_id);

	/* Nothing can be written into it. */
	fd = openat(snap, "new", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_int_equal(fd, -1);
	assert_int_equal(errno, EROFS);
	fd = openat(snap, "data", O_WRONLY | O_CLOEXEC);
	assert_int_equal(fd, -1);
	assert_int_equal(errno, EROFS);
	assert_int_equal(sys_btrfs_set_compression(snap, "zstd"), -EROFS);

	/* The flag can be flipped both ways, idempotently. */
	assert_int_equal(sys_btrfs_set_readonly(snap, false), 0);
	assert_int_equal(sys_btrfs_set_readonly(snap, false), 0);
	write_file(snap, "new", 4096, 9);
	assert_int_equal(sys_btrfs_set_readonly(snap, true), 0);
	assert_int_equal(sys_btrfs_set_readonly(snap, true), 0);
	fd = openat(snap, "new2", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_int_equal(fd, -1);
	assert_int_equal(errno, EROFS);

	/* Only subvolume roots carry the flag; a plain directory cannot be
	 * snapshotted either. */
	assert_int_equal(mkdirat(src, "plain", 0700), 0);
	plain = open_dir(src, "plain");
	assert_true(plain >= 0);
	assert_int_equal(sys_btrfs_set_readonly(plain, true), -EINVAL);
	assert_true(sys_btrfs_snapshot(plain, fx.mnt_fd, "from-plain", true) < 0);
	assert_false(exists(fx.mnt_fd, "from-plain"));
	close(plain);

	/* The source stays writable. */
	write_file(src, "more", 4096, 10);

	close(snap);
	close(src);
	/* Deleting a read-only snapshot works (as root). */
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "ro-snap"), 0);
	assert_false(exists(fx.mnt_fd, "ro-snap"));
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "ro-src"), 0);
}

static void test_snapshot_writable(void **state)
{
	uint64_t before, after, clone_sum;
	int src, clone;

	REQUIRE_BTRFS();
	assert_int_equal(sys_btrfs_subvol_create(fx.mnt_fd, "rw-src"), 0);
	src = open_dir(fx.mnt_fd, "rw-src");
	assert_true(src >= 0);
	write_file(src, "data", 4 * MIB + 123, 2);
	before = file_checksum(src, "data");

	assert_int_equal(sys_btrfs_snapshot(src, fx.mnt_fd, "rw-clone", false), 0);
	clone = open_dir(fx.mnt_fd, "rw-clone");
	assert_true(clone >= 0);
	assert_int_equal(file_checksum(clone, "data"), before);

	/* Later changes to the source do not show in the clone... */
	write_file(src, "data", 4 * MIB + 123, 3);
	after = file_checksum(src, "data");
	assert_int_not_equal(after, before);
	assert_int_equal(file_checksum(clone, "data"), before);

	/* ...and the clone is writable without touching the source. */
	write_file(clone, "data", 2 * MIB, 4);
	clone_sum = file_checksum(clone, "data");
	assert_int_not_equal(clone_sum, before);
	assert_int_equal(file_checksum(src, "data"), after);

	close(clone);
	close(src);
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "rw-clone"), 0);
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "rw-src"), 0);
}

static void test_quota_enable_idempotent(void **state)
{
	REQUIRE_BTRFS();
	assert_int_equal(sys_btrfs_quota_enable(fx.mnt_fd), 0);
	assert_int_equal(sys_btrfs_quota_enable(fx.mnt_fd), 0);
}

/* Writes up to max bytes of real (non-hole, incompressible) data in 1 MiB
 * chunks, fsyncing each; returns the bytes written and the errno that
 * stopped it (0 when all went in). */
static size_t fill(int fd, size_t max, uint64_t seed, int *ret_err)
{
	uint8_t *buf = malloc(MIB);
	size_t written = 0;

	assert_non_null(buf);
	*ret_err = 0;
	while (written < max) {
		ssize_t n;

		fill_random(buf, MIB, seed + written);
		n = write(fd, buf, MIB);
		if (n < 0) {
			*ret_err = errno;
			break;
		}
		written += (size_t)n;
		if (fsync(fd) < 0) {
			*ret_err = errno;
			break;
		}
	}
	free(buf);
	return written;
}

static void test_qgroup_limit(void **state)
{
	uint64_t id, rfer, excl, limit;
	size_t written, more;
	int vol, fd, err;

	REQUIRE_BTRFS();
	assert_int_equal(sys_btrfs_quota_enable(fx.mnt_fd), 0);
	assert_int_equal(sys_btrfs_subvol_create(fx.mnt_fd, "quota"), 0);
	vol = open_dir(fx.mnt_fd, "quota");
	assert_true(vol >= 0);
	assert_int_equal(sys_btrfs_subvol_id(vol, &id), 0);

	/* A fresh subvolume: no limit, only its (empty) tree referenced. */
	assert_int_equal(sys_btrfs_qgroup_usage(vol, &rfer, &excl, &limit), 0);
	assert_int_equal(limit, 0);
	assert_true(rfer < MIB);

	assert_int_equal(sys_btrfs_qgroup_limit(vol, 16 * MIB), 0);
	assert_int_equal(sys_btrfs_qgroup_usage(vol, NULL, NULL, &limit), 0);
	assert_int_equal(limit, 16 * MIB);

	fd = openat(vol, "fill", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	written = fill(fd, 32 * MIB, 100, &err);
	print_message("qgroup: %zu bytes went in under a 16 MiB limit, then %s\n", written,
		      strerror(err));
	assert_int_equal(err, EDQUOT);
	assert_true(written >= 12 * MIB);
	assert_true(written <= 16 * MIB);

	assert_int_equal(sys_btrfs_qgroup_usage(vol, &rfer, &excl, &limit), 0);
	print_message("qgroup 0/%llu: rfer %llu excl %llu limit %llu\n", (unsigned long long)id,
		      (unsigned long long)rfer, (unsigned long long)excl,
		      (unsigned long long)limit);
	assert_int_equal(limit, 16 * MIB);
	assert_true(rfer + 4 * MIB >= written && rfer <= written + 4 * MIB);
	assert_true(rfer <= 16 * MIB + MIB);
	/* Nothing is shared with another subvolume. */
	assert_true(excl + MIB >= rfer && excl <= rfer);

	/* A higher limit lets writing continue. */
	assert_int_equal(sys_btrfs_qgroup_limit(vol, 64 * MIB), 0);
	more = fill(fd, 16 * MIB, 200, &err);
	assert_int_equal(err, 0);
	assert_int_equal(more, 16 * MIB);
	assert_int_equal(sys_btrfs_qgroup_usage(vol, &rfer, NULL, &limit), 0);
	assert_int_equal(limit, 64 * MIB);
	assert_true(rfer + 4 * MIB >= written + more && rfer <= written + more + 4 * MIB);

	/* 0 removes the limit. */
	assert_int_equal(sys_btrfs_qgroup_limit(vol, 0), 0);
	assert_int_equal(sys_btrfs_qgroup_usage(vol, NULL, NULL, &limit), 0);
	assert_int_equal(limit, 0);
	more = fill(fd, 40 * MIB, 300, &err);
	assert_int_equal(err, 0);

	close(fd);
	close(vol);
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "quota"), 0);
}

static void test_delete_with_files(void **state)
{
	int vol, sub, inner;

	REQUIRE_BTRFS();
	assert_int_equal(sys_btrfs_subvol_create(fx.mnt_fd, "full"), 0);
	vol = open_dir(fx.mnt_fd, "full");
	assert_true(vol >= 0);
	assert_int_equal(mkdirat(vol, "a", 0700), 0);
	sub = open_dir(vol, "a");
	assert_true(sub >= 0);
	assert_int_equal(mkdirat(sub, "b", 0700), 0);
	write_file(sub, "file", 3 * MIB, 5);
	write_file(vol, "top", 100, 6);
	assert_int_equal(symlinkat("/etc/passwd", vol, "link"), 0);
	close(sub);

	/* Nested subvolumes block the delete; the outer one stays intact. */
	assert_int_equal(sys_btrfs_subvol_create(vol, "inner"), 0);
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "full"), -ENOTEMPTY);
	assert_true(exists(vol, "top"));
	inner = open_dir(vol, "inner");
	assert_true(inner >= 0);
	write_file(inner, "x", 4096, 7);
	close(inner);
	assert_int_equal(sys_btrfs_subvol_delete(vol, "inner"), 0);
	close(vol);

	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "full"), 0);
	assert_false(exists(fx.mnt_fd, "full"));
	/* The link was not followed. */
	assert_true(exists(AT_FDCWD, "/etc/passwd"));
}

static void test_compression(void **state)
{
	char buf[32], tiny[3];
	int vol, fd;

	REQUIRE_BTRFS();
	assert_int_equal(sys_btrfs_subvol_create(fx.mnt_fd, "comp"), 0);
	vol = open_dir(fx.mnt_fd, "comp");
	assert_true(vol >= 0);

	assert_int_equal(sys_btrfs_get_compression(vol, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(sys_btrfs_set_compression(vol, "zstd"), 0);
	assert_int_equal(sys_btrfs_get_compression(vol, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "zstd");
	assert_int_equal(sys_btrfs_get_compression(vol, tiny, sizeof(tiny)), -ERANGE);

	/* New files inherit it from the directory. */
	write_file(vol, "f", 4096, 8);
	fd = openat(vol, "f", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sys_btrfs_get_compression(fd, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "zstd");
	close(fd);

	assert_int_equal(sys_btrfs_set_compression(vol, "lzo"), 0);
	assert_int_equal(sys_btrfs_get_compression(vol, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "lzo");
	assert_int_equal(sys_btrfs_set_compression(vol, "zlib"), 0);
	assert_int_equal(sys_btrfs_get_compression(vol, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "zlib");

	assert_int_equal(sys_btrfs_set_compression(vol, ""), 0);
	assert_int_equal(sys_btrfs_get_compression(vol, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(sys_btrfs_set_compression(vol, ""), 0);

	assert_int_equal(sys_btrfs_set_compression(vol, "gzip"), -EINVAL);
	assert_int_equal(sys_btrfs_set_compression(vol, "none"), -EINVAL);
	assert_int_equal(sys_btrfs_set_compression(vol, NULL), -EINVAL);
	assert_int_equal(sys_btrfs_get_compression(vol, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");

	close(vol);
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "comp"), 0);
}

static void test_subvol_id(void **state)
{
	uint64_t top, a1, a2, a_file, b, snap;
	int a, b_fd, s, fd;

	REQUIRE_BTRFS();
	assert_int_equal(sys_btrfs_subvol_id(fx.mnt_fd, &top), 0);
	assert_int_equal(top, 5);

	assert_int_equal(sys_btrfs_subvol_create(fx.mnt_fd, "id-a"), 0);
	assert_int_equal(sys_btrfs_subvol_create(fx.mnt_fd, "id-b"), 0);
	a = open_dir(fx.mnt_fd, "id-a");
	b_fd = open_dir(fx.mnt_fd, "id-b");
	assert_true(a >= 0 && b_fd >= 0);
	assert_int_equal(sys_btrfs_subvol_id(a, &a1), 0);
	assert_int_equal(sys_btrfs_subvol_id(b_fd, &b), 0);
	assert_true(a1 >= 256);
	assert_true(b >= 256);
	assert_int_not_equal(a1, b);

	/* Stable across opens and for any file inside. */
	close(a);
	a = open_dir(fx.mnt_fd, "id-a");
	assert_true(a >= 0);
	assert_int_equal(sys_btrfs_subvol_id(a, &a2), 0);
	assert_int_equal(a1, a2);
	write_file(a, "f", 10, 11);
	fd = openat(a, "f", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(sys_btrfs_subvol_id(fd, &a_file), 0);
	assert_int_equal(a_file, a1);
	close(fd);

	assert_int_equal(sys_btrfs_snapshot(a, fx.mnt_fd, "id-snap", true), 0);
	s = open_dir(fx.mnt_fd, "id-snap");
	assert_true(s >= 0);
	assert_int_equal(sys_btrfs_subvol_id(s, &snap), 0);
	assert_int_not_equal(snap, a1);
	assert_int_not_equal(snap, b);

	close(s);
	close(a);
	close(b_fd);
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "id-snap"), 0);
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "id-a"), 0);
	assert_int_equal(sys_btrfs_subvol_delete(fx.mnt_fd, "id-b"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_btrfs),
		cmocka_unit_test(test_qgroup_without_quota),
		cmocka_unit_test(test_subvol_lifecycle),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_snapshot_readonly),
		cmocka_unit_test(test_snapshot_writable),
		cmocka_unit_test(test_quota_enable_idempotent),
		cmocka_unit_test(test_qgroup_limit),
		cmocka_unit_test(test_delete_with_files),
		cmocka_unit_test(test_compression),
		cmocka_unit_test(test_subvol_id),
	};
	return cmocka_run_group_tests_name("sys_btrfs", tests, group_setup, group_teardown);
}
