/* Unit tests: copying images - sparse copy keeps holes, FICLONE falls back
 * gracefully, cancel works; and on a real xfs with reflink (loop-mounted,
 * needs root) the copy shares extents. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sys/loop.h"
#include "sys/reflink.h"
#include "sys/spawn.h"

#include "testutil.h"

#define MiB (1024ULL * 1024ULL)

/* Per-test scratch: one temp dir with src and dst, plus (xfs test) an
 * image, its loop device and a mount point. Everything is undone in
 * teardown, whatever assertion failed. */
typedef struct {
	char dir[128];
	char src[160];
	char dst[160];
	char img[160];
	char mnt[160];
	char loopdev[32];
	int src_fd, dst_fd, img_fd;
	bool mounted, attached;
} copy_fixture;

static int fixture_setup_in(void **state, const char *base)
{
	copy_fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->src_fd = f->dst_fd = f->img_fd = -1;
	if (testutil_mkdtemp(f->dir, sizeof(f->dir), base, "reflink") < 0) {
		free(f);
		return -1;
	}
	snprintf(f->src, sizeof(f->src), "%s/src", f->dir);
	snprintf(f->dst, sizeof(f->dst), "%s/dst", f->dir);
	snprintf(f->img, sizeof(f->img), "%s/xfs.img", f->dir);
	snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->dir);
	*state = f;
	return 0;
}

static int setup_tmp(void **state)
{
	return fixture_setup_in(state, "/tmp");
}

/* tmpfs: no FICLONE, copy_file_range to /tmp crosses file systems. */
static int setup_shm(void **state)
{
	if (access("/dev/shm", W_OK) != 0)
		return setup_tmp(state);
	return fixture_setup_in(state, "/dev/shm");
}

static int teardown(void **state)
{
	copy_fixture *f = *state;

	if (!f)
		return 0;
	if (f->src_fd >= 0)
		close(f->src_fd);
	if (f->dst_fd >= 0)
		close(f->dst_fd);
	if (f->mounted && umount2(f->mnt, 0) < 0)
		umount2(f->mnt, MNT_DETACH);
	if (f->attached)
		testutil_loop_detach_retry(f->loopdev);
	if (f->img_fd >= 0)
		close(f->img_fd);
	unlink(f->src);
	unlink(f->dst);
	unlink(f->img);
	rmdir(f->mnt);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void pwrite_pattern(int fd, uint64_t off, size_t len, unsigned char seed)
{
	unsigned char *buf = malloc(len);
	size_t i;

	assert_non_null(buf);
	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed + i * 7);
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	free(buf);
}

/* 64 MiB, sparse, with three small data extents (start, middle, and one
 * ending exactly at EOF-minus-a-hole, so the file ends in a hole). */
static void make_sparse_source(copy_fixture *f, const char *path, int *ret_fd)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(64 * MiB)), 0);
	pwrite_pattern(fd, 0, 8192, 1);
	pwrite_pattern(fd, 20 * MiB + 4096, 12288, 2);
	pwrite_pattern(fd, 40 * MiB, 4096 * 3, 3);
	assert_int_equal(fsync(fd), 0);
	*ret_fd = fd;
	(void)f;
}

static void assert_files_equal(int a, int b)
{
	struct stat sa, sb;
	unsigned char *ba = malloc(MiB), *bb = malloc(MiB);
	off_t off;

	assert_non_null(ba);
	assert_non_null(bb);
	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	assert_int_equal(sa.st_size, sb.st_size);
	for (off = 0; off < sa.st_size; off += (off_t)MiB) {
		ssize_t na = pread(a, ba, MiB, off), nb = pread(b, bb, MiB, off);

		assert_true(na >= 0);
		assert_int_equal(na, nb);
		assert_memory_equal(ba, bb, (size_t)na);
	}
	free(ba);
	free(bb);
}

static void open_dst(copy_fixture *f, const char *path)
{
	f->dst_fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(f->dst_fd >= 0);
}

static void test_sparse_copy_keeps_holes(void **state)
{
	copy_fixture *f = *state;
	sys_copy_method how = SYS_COPY_REFLINK;
	struct stat st;

	make_sparse_source(f, f->src, &f->src_fd);
	open_dst(f, f->dst);
	assert_int_equal(sys_copy_file(f->src_fd, f->dst_fd, true, NULL, &how), 0);
	assert_int_equal(how, SYS_COPY_SPARSE);
	assert_files_equal(f->src_fd, f->dst_fd);
	assert_int_equal(fstat(f->dst_fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)(64 * MiB));
	/* 32 KiB of data; allow for file system metadata and preallocation,
	 * but nowhere near the 64 MiB a dense copy would take. */
	assert_true((uint64_t)st.st_blocks * 512 < 2 * MiB);
}

/* Without force_copy, FICLONE is tried first; on ext4 or tmpfs it is not
 * supported and the sparse path is taken, without error. */
static void test_clone_falls_back(void **state)
{
	copy_fixture *f = *state;
	sys_copy_method how = SYS_COPY_REFLINK;
	struct stat st;
	int dfd;

	make_sparse_source(f, f->src, &f->src_fd);
	open_dst(f, f->dst);
	dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	if (sys_reflink_supported(dfd)) {
		close(dfd);
		print_message("skip: %s supports reflinks, no fallback to see\n", f->dir);
		skip();
	}
	close(dfd);
	assert_int_equal(sys_copy_file(f->src_fd, f->dst_fd, false, NULL, &how), 0);
	assert_int_equal(how, SYS_COPY_SPARSE);
	assert_files_equal(f->src_fd, f->dst_fd);
	assert_int_equal(fstat(f->dst_fd, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 < 2 * MiB);
}

static void test_clone_falls_back_tmp(void **state)
{
	test_clone_falls_back(state);
}

static void test_clone_falls_back_tmpfs(void **state)
{
	test_clone_falls_back(state);
}

/* Source on tmpfs, destination on /tmp: copy_file_range refuses the
 * cross-file-system pair and pread/pwrite takes over, still sparse. */
static void test_cross_fs_copy(void **state)
{
	copy_fixture *f = *state;
	sys_copy_method how = SYS_COPY_REFLINK;
	char dst[96];
	struct stat st;
	int dfd;

	make_sparse_source(f, f->src, &f->src_fd);
	snprintf(dst, sizeof(dst), "/tmp/dynvol-reflink-dst-%ld", (long)getpid());
	dfd = open(dst, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(dfd >= 0);
	unlink(dst); /* nothing to clean up whatever happens below */
	f->dst_fd = dfd;
	assert_int_equal(sys_copy_file(f->src_fd, f->dst_fd, false, NULL, &how), 0);
	assert_int_equal(how, SYS_COPY_SPARSE);
	assert_files_equal(f->src_fd, f->dst_fd);
	assert_int_equal(fstat(f->dst_fd, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 < 2 * MiB);
}

/* Sizes that are not block multiples, and empty files. */
static void test_odd_sizes(void **state)
{
	copy_fixture *f = *state;
	sys_copy_method how;
	struct stat st;

	f->src_fd = open(f->src, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(f->src_fd >= 0);
	open_dst(f, f->dst);
	assert_int_equal(sys_copy_file(f->src_fd, f->dst_fd, true, NULL, &how), 0);
	assert_int_equal(fstat(f->dst_fd, &st), 0);
	assert_int_equal(st.st_size, 0);

	close(f->dst_fd);
	unlink(f->dst);
	open_dst(f, f->dst);
	assert_int_equal(ftruncate(f->src_fd, (off_t)(3 * MiB + 123)), 0);
	pwrite_pattern(f->src_fd, 3 * MiB + 100, 23, 9);
	assert_int_equal(sys_copy_file(f->src_fd, f->dst_fd, true, NULL, &how), 0);
	assert_files_equal(f->src_fd, f->dst_fd);
}

static void test_cancel(void **state)
{
	copy_fixture *f = *state;
	volatile bool cancel = true;
	sys_copy_method how = SYS_COPY_REFLINK;
	struct stat st;

	make_sparse_source(f, f->src, &f->src_fd);
	open_dst(f, f->dst);
	assert_int_equal(sys_copy_file(f->src_fd, f->dst_fd, true, &cancel, &how), -ECANCELED);
	/* Not reported as success, and dst does not look like a finished
	 * copy (it does not have the source's size). */
	assert_int_equal(how, SYS_COPY_REFLINK);
	assert_int_equal(fstat(f->dst_fd, &st), 0);
	assert_int_equal(st.st_size, 0);

	/* Not set: the same call completes. */
	cancel = false;
	assert_int_equal(sys_copy_file(f->src_fd, f->dst_fd, true, &cancel, &how), 0);
	assert_files_equal(f->src_fd, f->dst_fd);
}

static void test_bad_arguments(void **state)
{
	copy_fixture *f = *state;
	sys_copy_method how;
	int dfd;

	make_sparse_source(f, f->src, &f->src_fd);
	open_dst(f, f->dst);
	assert_int_equal(write(f->dst_fd, "x", 1), 1);
	/* dst not empty: refused, and left alone. */
	assert_int_equal(sys_copy_file(f->src_fd, f->dst_fd, true, NULL, &how), -ENOTEMPTY);
	assert_int_equal(lseek(f->dst_fd, 0, SEEK_END), 1);
	/* same file */
	assert_int_equal(sys_copy_file(f->src_fd, f->src_fd, true, NULL, &how), -EINVAL);
	/* not a regular file */
	dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(sys_copy_file(dfd, f->dst_fd, true, NULL, &how), -EINVAL);
	close(dfd);
	assert_int_equal(sys_copy_file(-1, f->dst_fd, true, NULL, &how), -EBADF);
	/* O_APPEND would make pwrite ignore offsets. */
	close(f->dst_fd);
	unlink(f->dst);
	f->dst_fd = open(f->dst, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	assert_true(f->dst_fd >= 0);
	assert_int_equal(sys_copy_file(f->src_fd, f->dst_fd, true, NULL, &how), -EINVAL);
}

/* xfs with reflink=1 on a loop device made with our own loop code. */
static void test_xfs_reflink(void **state)
{
	copy_fixture *f = *state;
	const char *argv[] = { "mkfs.xfs", "-q", "-m", "reflink=1", NULL, NULL };
	sys_copy_method how = SYS_COPY_SPARSE;
	char out[2048];
	struct stat st;
	int dfd, r;

	testutil_require_loop("xfs reflink test");
	if (access("/usr/sbin/mkfs.xfs", X_OK) != 0 && access("/sbin/mkfs.xfs", X_OK) != 0) {
		print_message("skip: mkfs.xfs is not installed\n");
		skip();
	}

	f->img_fd = open(f->img, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(f->img_fd >= 0);
	/* above mkfs.xfs's 300 MB floor with room to spare (sparse, so free) */
	assert_int_equal(ftruncate(f->img_fd, (off_t)(512 * MiB)), 0);
	r = sys_loop_attach(f->img_fd, false, true, f->loopdev, sizeof(f->loopdev));
	assert_true(r >= 0);
	f->attached = true;
	/* The device must be the image we just made: a mkfs.xfs that prints
	 * its usage (once in CI, under ASan) says the device was wrong. */
	{
		uint64_t bytes = 0;
		int ssz = 0, bfd = open(f->loopdev, O_RDONLY | O_CLOEXEC);

		assert_true(bfd >= 0);
		assert_int_equal(ioctl(bfd, BLKGETSIZE64, &bytes), 0);
		assert_int_equal(ioctl(bfd, BLKSSZGET, &ssz), 0);
		close(bfd);
		if (bytes != 512 * MiB)
			print_message("%s: %llu bytes, %d-byte sectors\n", f->loopdev,
				      (unsigned long long)bytes, ssz);
		assert_int_equal(bytes, 512 * MiB);
	}
	/* formatted through the device, as the Node service does: a file
	 * formatted through the page cache and then read by a direct-I/O loop
	 * device once failed to mount here (CI, under ASan) */
	argv[4] = f->loopdev;
	r = sys_spawn(argv, out, sizeof(out), 60000);
	if (r != 0) {
		/* the reason is the first line; the usage text after it is long */
		out[strcspn(out, "\n")] = '\0';
		print_message("mkfs.xfs %s: exit %d: %s\n", f->loopdev, r, out);
	}
	assert_int_equal(r, 0);
	assert_int_equal(mkdir(f->mnt, 0755), 0);
	r = mount(f->loopdev, f->mnt, "xfs", MS_NOSUID | MS_NODEV, NULL);
	if (r != 0)
		print_message("mount %s on %s: %s\n", f->loopdev, f->mnt, strerror(errno));
	assert_int_equal(r, 0);
	f->mounted = true;

	dfd = open(f->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_true(sys_reflink_supported(dfd));
	/* The probe leaves nothing behind. */
	{
		char ls_out[256];
		const char *const ls[] = { "/bin/ls", "-A", f->mnt, NULL };

		assert_int_equal(sys_spawn(ls, ls_out, sizeof(ls_out), 5000), 0);
		assert_string_equal(ls_out, "");
	}
	close(dfd);

	{
		char src[200], dst[200];

		snprintf(src, sizeof(src), "%s/src", f->mnt);
		snprintf(dst, sizeof(dst), "%s/dst", f->mnt);
		make_sparse_source(f, src, &f->src_fd);
		open_dst(f, dst);
		assert_int_equal(sys_copy_file(f->src_fd, f->dst_fd, false, NULL, &how), 0);
		assert_int_equal(how, SYS_COPY_REFLINK);
		assert_files_equal(f->src_fd, f->dst_fd);
		assert_int_equal(fstat(f->dst_fd, &st), 0);
		assert_int_equal(st.st_size, (off_t)(64 * MiB));

		/* force_copy still copies correctly on xfs. */
		close(f->dst_fd);
		unlink(dst);
		open_dst(f, dst);
		assert_int_equal(sys_copy_file(f->src_fd, f->dst_fd, true, NULL, &how), 0);
		assert_int_equal(how, SYS_COPY_SPARSE);
		assert_files_equal(f->src_fd, f->dst_fd);

		close(f->src_fd);
		close(f->dst_fd);
		f->src_fd = f->dst_fd = -1;
	}

	/* Busy while mounted, detached after unmounting. */
	assert_int_equal(sys_loop_detach(f->loopdev), -EBUSY);
	assert_int_equal(umount2(f->mnt, 0), 0);
	f->mounted = false;
	assert_int_equal(testutil_loop_detach_retry(f->loopdev), 0);
	f->attached = false;
}

int main(void)
{
	int fds_before, failed;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sparse_copy_keeps_holes, setup_tmp, teardown),
		cmocka_unit_test_setup_teardown(test_clone_falls_back_tmp, setup_tmp, teardown),
		cmocka_unit_test_setup_teardown(test_clone_falls_back_tmpfs, setup_shm, teardown),
		cmocka_unit_test_setup_teardown(test_cross_fs_copy, setup_shm, teardown),
		cmocka_unit_test_setup_teardown(test_odd_sizes, setup_tmp, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup_tmp, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup_tmp, teardown),
		cmocka_unit_test_setup_teardown(test_xfs_reflink, setup_tmp, teardown),
	};
	fds_before = testutil_count_open_fds();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + testutil_fd_leak(fds_before);
}
