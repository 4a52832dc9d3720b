/* Unit tests: loop devices over image files. Needs root and loop devices
 * (skipped with a reason otherwise). Every device and mount a test makes
 * is recorded in the fixture right away and undone in teardown, also when
 * an assertion fails halfway. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "sys/loop.h"
#include "sys/spawn.h"

#include "testutil.h"

#define MiB (1024ULL * 1024ULL)
#define MAX_DEVS 8
#define MAX_FILES 4

typedef struct {
	char dir[128];
	char files[MAX_FILES][192];
	int fds[MAX_FILES];
	char devs[MAX_DEVS][32];
	int ndevs;
	char mnt[192];
	bool mounted;
	char ramfs[192];
	bool ramfs_mounted;
	int held_fd;
} loop_fixture;

static int setup(void **state)
{
	loop_fixture *f = calloc(1, sizeof(*f));
	int i;

	if (!f)
		return -1;
	for (i = 0; i < MAX_FILES; i++)
		f->fds[i] = -1;
	f->held_fd = -1;
	if (testutil_mkdtemp(f->dir, sizeof(f->dir), "/tmp", "loop") < 0) {
		free(f);
		return -1;
	}
	snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->dir);
	snprintf(f->ramfs, sizeof(f->ramfs), "%s/ramfs", f->dir);
	*state = f;
	return 0;
}

static void record_dev(loop_fixture *f, const char *dev)
{
	int i;

	for (i = 0; i < f->ndevs; i++)
		if (strcmp(f->devs[i], dev) == 0)
			return;
	if (f->ndevs < MAX_DEVS)
		snprintf(f->devs[f->ndevs++], sizeof(f->devs[0]), "%s", dev);
}

static int teardown(void **state)
{
	loop_fixture *f = *state;
	int i;

	if (!f)
		return 0;
	if (f->held_fd >= 0)
		close(f->held_fd);
	if (f->mounted && umount2(f->mnt, 0) < 0)
		umount2(f->mnt, MNT_DETACH);
	/* newest first: a device stacked on another holds it busy */
	for (i = f->ndevs - 1; i >= 0; i--) {
		int r = testutil_loop_detach_retry(f->devs[i]);

		if (r < 0 && r != -ENXIO)
			print_message("teardown: detach %s: %s\n", f->devs[i], strerror(-r));
	}
	/* Safety net for devices attached by child processes. */
	for (i = 0; i < MAX_FILES; i++) {
		char dev[32];
		int tries;

		for (tries = 0; f->fds[i] >= 0 && tries < 4 &&
				sys_loop_find(f->fds[i], dev, sizeof(dev)) >= 0;
		     tries++)
			testutil_loop_detach_retry(dev);
	}
	for (i = 0; i < MAX_FILES; i++) {
		if (f->fds[i] >= 0)
			close(f->fds[i]);
		if (f->files[i][0])
			unlink(f->files[i]);
	}
	if (f->ramfs_mounted)
		umount2(f->ramfs, MNT_DETACH);
	rmdir(f->ramfs);
	rmdir(f->mnt);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Sparse image of size bytes as file slot i, in dir (NULL: the temp dir). */
static int make_image(loop_fixture *f, int i, const char *dir, uint64_t size)
{
	/* Unique also in a shared directory like /dev/shm. */
	snprintf(f->files[i], sizeof(f->files[i]), "%s/dynvol-loop-test-%ld-img%d",
		 dir ? dir : f->dir, (long)getpid(), i);
	f->fds[i] = open(f->files[i], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(f->fds[i] >= 0);
	assert_int_equal(ftruncate(f->fds[i], (off_t)size), 0);
	return f->fds[i];
}

static int attach(loop_fixture *f, int fd, bool ro, bool dio, char *dev)
{
	int n = sys_loop_attach(fd, ro, dio, dev, 32);

	if (n >= 0)
		record_dev(f, dev);
	return n;
}

static uint32_t loop_flags(const char *dev)
{
	struct loop_info64 info;
	int fd = open(dev, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	memset(&info, 0, sizeof(info));
	assert_int_equal(ioctl(fd, LOOP_GET_STATUS64, &info), 0);
	close(fd);
	return info.lo_flags;
}

/* How many bound loop devices have this file behind them - counted here
 * independently of sys_loop_find. */
static int count_devices_for(int backing_fd)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int count = 0;

	assert_int_equal(fstat(backing_fd, &st), 0);
	d = opendir("/sys/block");
	assert_non_null(d);
	while ((de = readdir(d))) {
		struct loop_info64 info;
		char path[300];
		int fd;

		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		snprintf(path, sizeof(path), "/dev/%s", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (ioctl(fd, LOOP_GET_STATUS64, &info) == 0 && info.lo_device == st.st_dev &&
		    info.lo_inode == st.st_ino)
			count++;
		close(fd);
	}
	closedir(d);
	return count;
}

static void test_attach_find_grow_detach(void **state)
{
	loop_fixture *f = *state;
	char dev[32], dev2[32], found[32], expect[32];
	uint64_t size = 0;
	int fd, fd2, n, n2;

	testutil_require_loop("loop device tests");
	fd = make_image(f, 0, NULL, 64 * MiB);

	n = attach(f, fd, false, true, dev);
	assert_true(n >= 0);
	snprintf(expect, sizeof(expect), "/dev/loop%d", n);
	assert_string_equal(dev, expect);
	assert_false(loop_flags(dev) & LO_FLAGS_AUTOCLEAR);
	assert_false(loop_flags(dev) & LO_FLAGS_READ_ONLY);
	assert_false(loop_flags(dev) & LO_FLAGS_PARTSCAN);

	/* Found again by the file's identity, also through another open. */
	assert_int_equal(sys_loop_find(fd, found, sizeof(found)), n);
	assert_string_equal(found, dev);
	fd2 = open(f->files[0], O_RDWR | O_CLOEXEC);
	assert_true(fd2 >= 0);
	f->fds[1] = fd2;
	assert_int_equal(sys_loop_find(fd2, found, sizeof(found)), n);

	/* A second attach returns the same device, no double attach. */
	n2 = attach(f, fd2, false, true, dev2);
	assert_int_equal(n2, n);
	assert_string_equal(dev2, dev);
	assert_int_equal(count_devices_for(fd), 1);

	/* Growing the file shows only after refreshing the capacity. */
	assert_int_equal(sys_blockdev_size(dev, &size), 0);
	assert_int_equal(size, 64 * MiB);
	assert_int_equal(ftruncate(fd, (off_t)(96 * MiB)), 0);
	assert_int_equal(sys_blockdev_size(dev, &size), 0);
	assert_int_equal(size, 64 * MiB);
	assert_int_equal(sys_loop_refresh_capacity(dev), 0);
	assert_int_equal(sys_blockdev_size(dev, &size), 0);
	assert_int_equal(size, 96 * MiB);

	assert_int_equal(testutil_loop_detach_retry(dev), 0);
	assert_int_equal(sys_loop_detach(dev), -ENXIO);
	assert_int_equal(sys_loop_find(fd, found, sizeof(found)), -ENOENT);
	assert_int_equal(count_devices_for(fd), 0);
	assert_int_equal(sys_loop_refresh_capacity(dev), -ENXIO);
}

static void test_read_only(void **state)
{
	loop_fixture *f = *state;
	char dev[32], dev2[32];
	int fd, ro_fd, ro, n;

	testutil_require_loop("loop device tests");
	fd = make_image(f, 0, NULL, 16 * MiB);
	ro_fd = open(f->files[0], O_RDONLY | O_CLOEXEC);
	assert_true(ro_fd >= 0);
	f->fds[1] = ro_fd;

	/* A read-write device needs a read-write backing fd. */
	assert_int_equal(attach(f, ro_fd, false, false, dev), -EBADF);

	n = attach(f, ro_fd, true, false, dev);
	assert_true(n >= 0);
	assert_true(loop_flags(dev) & LO_FLAGS_READ_ONLY);
	{
		int bfd = open(dev, O_RDONLY | O_CLOEXEC);

		assert_true(bfd >= 0);
		assert_int_equal(ioctl(bfd, BLKROGET, &ro), 0);
		close(bfd);
		assert_int_equal(ro, 1);
	}
	/* Attached read-only; a read-write request for the same file is
	 * refused rather than handed a read-only device. */
	assert_int_equal(attach(f, fd, false, false, dev2), -EBUSY);
	assert_int_equal(attach(f, ro_fd, true, false, dev2), n);
	assert_int_equal(testutil_loop_detach_retry(dev), 0);
}

/* A read-only view of a loop device: a second, read-only loop device
 * backed by the first. Writes through it fail, it reads what is written
 * through the first at once, it is found again by the device it views
 * (through any node of it), and it holds that device busy. */
static void test_read_only_view_of_a_device(void **state)
{
	loop_fixture *f = *state;
	char dev[32], view[32], again[32];
	unsigned char *buf;
	int fd, dfd, rw_dfd, vfd, n, v;

	testutil_require_loop("loop device tests");
	fd = make_image(f, 0, NULL, 16 * MiB);
	n = attach(f, fd, false, true, dev);
	assert_true(n >= 0);
	dfd = f->held_fd = open(dev, O_RDONLY | O_CLOEXEC);
	assert_true(dfd >= 0);

	/* never a read-write device over a device */
	assert_int_equal(sys_loop_attach(dfd, false, true, view, sizeof(view)), -EINVAL);
	rw_dfd = open(dev, O_RDWR | O_CLOEXEC);
	assert_true(rw_dfd >= 0);
	assert_int_equal(sys_loop_attach(rw_dfd, false, true, view, sizeof(view)), -EINVAL);
	close(rw_dfd);

	v = attach(f, dfd, true, true, view);
	assert_true(v >= 0 && v != n);
	assert_true(loop_flags(view) & LO_FLAGS_READ_ONLY);
	assert_int_equal(sys_loop_find(dfd, again, sizeof(again)), v);
	assert_string_equal(again, view);
	assert_int_equal(attach(f, dfd, true, true, again), v);
	/* the image file still finds its own device, not the view */
	assert_int_equal(sys_loop_find(fd, again, sizeof(again)), n);

	assert_int_equal(posix_memalign((void **)&buf, 4096, 4096), 0);
	memset(buf, 0xa5, 4096);
	rw_dfd = open(dev, O_RDWR | O_DIRECT | O_CLOEXEC);
	assert_true(rw_dfd >= 0);
	assert_int_equal(pwrite(rw_dfd, buf, 4096, 8192), 4096);
	close(rw_dfd);
	memset(buf, 0, 4096);
	vfd = open(view, O_RDONLY | O_DIRECT | O_CLOEXEC);
	assert_true(vfd >= 0);
	assert_int_equal(pread(vfd, buf, 4096, 8192), 4096);
	assert_int_equal(buf[0], 0xa5);
	assert_int_equal(buf[4095], 0xa5);
	close(vfd);
	vfd = open(view, O_RDWR | O_CLOEXEC);
	if (vfd >= 0) {
		assert_true(pwrite(vfd, buf, 4096, 0) < 0);
		close(vfd);
	}
	free(buf);

	assert_int_equal(sys_loop_detach(dev), -EBUSY);
	assert_int_equal(testutil_loop_detach_retry(view), 0);
	assert_int_equal(sys_loop_find(dfd, again, sizeof(again)), -ENOENT);
	close(dfd);
	f->held_fd = -1;
	assert_int_equal(testutil_loop_detach_retry(dev), 0);
}

/* Direct I/O where the file system allows it, buffered where not - never
 * an error. Prints what this kernel did. */
static void test_direct_io(void **state)
{
	loop_fixture *f = *state;
	char dev[32];
	unsigned char buf[4096], back[4096];
	int fd, bfd, n;

	testutil_require_loop("loop device tests");

	/* The temp dir's file system (ext4 here). */
	fd = make_image(f, 0, NULL, 16 * MiB);
	n = attach(f, fd, false, true, dev);
	assert_true(n >= 0);
	print_message("direct I/O on /tmp: %s\n",
		      loop_flags(dev) & LO_FLAGS_DIRECT_IO ? "on" : "off (buffered)");
	assert_int_equal(testutil_loop_detach_retry(dev), 0);

	/* tmpfs. */
	if (access("/dev/shm", W_OK) == 0) {
		fd = make_image(f, 1, "/dev/shm", 16 * MiB);
		n = attach(f, fd, false, true, dev);
		assert_true(n >= 0);
		print_message("direct I/O on tmpfs: %s\n",
			      loop_flags(dev) & LO_FLAGS_DIRECT_IO ? "on" : "off (buffered)");
		assert_int_equal(testutil_loop_detach_retry(dev), 0);
	}

	/* ramfs has no direct I/O at all: attached buffered, not an error,
	 * and the device works. */
	assert_int_equal(mkdir(f->ramfs, 0755), 0);
	assert_int_equal(mount("dynvol-test", f->ramfs, "ramfs", MS_NOSUID | MS_NODEV, NULL), 0);
	f->ramfs_mounted = true;
	fd = make_image(f, 2, f->ramfs, 16 * MiB);
	n = attach(f, fd, false, true, dev);
	assert_true(n >= 0);
	print_message("direct I/O on ramfs: %s\n",
		      loop_flags(dev) & LO_FLAGS_DIRECT_IO ? "on" : "off (buffered)");
	assert_false(loop_flags(dev) & LO_FLAGS_DIRECT_IO);
	memset(buf, 0x5a, sizeof(buf));
	bfd = open(dev, O_RDWR | O_CLOEXEC);
	assert_true(bfd >= 0);
	assert_int_equal(pwrite(bfd, buf, sizeof(buf), 8192), (ssize_t)sizeof(buf));
	assert_int_equal(fsync(bfd), 0);
	close(bfd);
	assert_int_equal(pread(fd, back, sizeof(back), 8192), (ssize_t)sizeof(back));
	assert_memory_equal(buf, back, sizeof(buf));
	assert_int_equal(testutil_loop_detach_retry(dev), 0);
}

/* Held open by someone (a raw block volume, a dd): -EBUSY, and the device
 * is left exactly as it was - no deferred autoclear. */
static void test_detach_busy_open(void **state)
{
	loop_fixture *f = *state;
	char dev[32], found[32];
	int fd, n;

	testutil_require_loop("loop device tests");
	fd = make_image(f, 0, NULL, 16 * MiB);
	n = attach(f, fd, false, false, dev);
	assert_true(n >= 0);

	f->held_fd = open(dev, O_RDONLY | O_CLOEXEC);
	assert_true(f->held_fd >= 0);
	assert_int_equal(sys_loop_detach(dev), -EBUSY);
	assert_false(loop_flags(dev) & LO_FLAGS_AUTOCLEAR);
	close(f->held_fd);
	f->held_fd = -1;
	/* Still attached after the other opener left. */
	assert_int_equal(sys_loop_find(fd, found, sizeof(found)), n);

	assert_int_equal(testutil_loop_detach_retry(dev), 0);
	assert_int_equal(sys_loop_detach(dev), -ENXIO);
}

/* Someone ran "losetup -d" on our device while it was open: the kernel
 * armed a deferred detach. Attaching the same file again hands out the
 * same device and disarms it, so it keeps living until sys_loop_detach. */
static void test_attach_disarms_deferred_detach(void **state)
{
	loop_fixture *f = *state;
	char dev[32], dev2[32];
	int fd, n;

	testutil_require_loop("loop device tests");
	fd = make_image(f, 0, NULL, 16 * MiB);
	n = attach(f, fd, false, false, dev);
	assert_true(n >= 0);
	/* A user of the device (say a pod's raw block volume)... */
	f->held_fd = open(dev, O_RDONLY | O_CLOEXEC);
	assert_true(f->held_fd >= 0);
	/* ... and losetup -d from another opener. */
	{
		int other = open(dev, O_RDONLY | O_CLOEXEC);

		assert_true(other >= 0);
		assert_int_equal(ioctl(other, LOOP_CLR_FD, 0), 0);
		close(other);
	}
	assert_true(loop_flags(dev) & LO_FLAGS_AUTOCLEAR);

	assert_int_equal(attach(f, fd, false, false, dev2), n);
	assert_false(loop_flags(dev) & LO_FLAGS_AUTOCLEAR);
	close(f->held_fd);
	f->held_fd = -1;
	/* Still there after the last other opener closed. */
	assert_int_equal(count_devices_for(fd), 1);
	assert_int_equal(testutil_loop_detach_retry(dev), 0);
}

/* Mounted: -EBUSY without touching the device; detach works after the
 * unmount. */
static void test_detach_busy_mounted(void **state)
{
	loop_fixture *f = *state;
	const char *argv[] = { "mkfs.ext4", "-q", "-F", NULL, NULL };
	char dev[32], found[32], out[1024];
	int fd, n, r;

	testutil_require_loop("loop device tests");
	fd = make_image(f, 0, NULL, 64 * MiB);
	argv[3] = f->files[0];
	r = sys_spawn(argv, out, sizeof(out), 60000);
	if (r != 0)
		print_message("mkfs.ext4: %d: %s\n", r, out);
	assert_int_equal(r, 0);
	n = attach(f, fd, false, true, dev);
	assert_true(n >= 0);
	assert_int_equal(mkdir(f->mnt, 0755), 0);
	assert_int_equal(mount(dev, f->mnt, "ext4", MS_NOSUID | MS_NODEV, NULL), 0);
	f->mounted = true;

	assert_int_equal(sys_loop_detach(dev), -EBUSY);
	assert_false(loop_flags(dev) & LO_FLAGS_AUTOCLEAR);
	assert_int_equal(umount2(f->mnt, 0), 0);
	f->mounted = false;
	/* Had the kernel's deferred detach been left armed, the unmount
	 * would have detached it. */
	assert_int_equal(sys_loop_find(fd, found, sizeof(found)), n);
	assert_int_equal(testutil_loop_detach_retry(dev), 0);
}

/* Several processes attaching at once: one device per file, never two. */
static void test_concurrent_attach(void **state)
{
	loop_fixture *f = *state;
	enum { PROCS = 6 };
	int pipes[PROCS][2];
	pid_t pids[PROCS];
	int results[PROCS];
	int fd, i, j;

	testutil_require_loop("loop device tests");
	fd = make_image(f, 0, NULL, 16 * MiB);
	make_image(f, 1, NULL, 16 * MiB);
	make_image(f, 2, NULL, 16 * MiB);

	for (i = 0; i < PROCS; i++) {
		assert_int_equal(pipe2(pipes[i], O_CLOEXEC), 0);
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			/* Half attach file 0, the others files 1 and 2. */
			const char *file = f->files[i % 2 ? 0 : 1 + (i / 2) % 2];
			char dev[32];
			int cfd = open(file, O_RDWR | O_CLOEXEC);
			int n = cfd < 0 ? -errno
					: sys_loop_attach(cfd, false, false, dev, sizeof(dev));

			if (write(pipes[i][1], &n, sizeof(n)) != sizeof(n))
				_exit(2);
			_exit(0);
		}
		close(pipes[i][1]);
	}
	for (i = 0; i < PROCS; i++) {
		int status;

		assert_int_equal(read(pipes[i][0], &results[i], sizeof(results[i])),
				 (ssize_t)sizeof(results[i]));
		close(pipes[i][0]);
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		if (results[i] >= 0) {
			char dev[32];

			snprintf(dev, sizeof(dev), "/dev/loop%d", results[i]);
			record_dev(f, dev);
		}
	}
	for (i = 0; i < PROCS; i++) {
		assert_true(results[i] >= 0);
		for (j = 0; j < PROCS; j++) {
			const char *fi = f->files[i % 2 ? 0 : 1 + (i / 2) % 2];
			const char *fj = f->files[j % 2 ? 0 : 1 + (j / 2) % 2];

			if (strcmp(fi, fj) == 0)
				assert_int_equal(results[i], results[j]);
			else
				assert_int_not_equal(results[i], results[j]);
		}
	}
	assert_int_equal(count_devices_for(fd), 1);
	assert_int_equal(count_devices_for(f->fds[1]), 1);
	assert_int_equal(count_devices_for(f->fds[2]), 1);
}

/* Another attacher that does not take our lock (losetup, systemd) grabs
 * free devices in a tight loop: ours must still always get a device,
 * retrying when LOOP_CONFIGURE reports the free one taken. */
static void test_attach_races_foreign_attacher(void **state)
{
	loop_fixture *f = *state;
	char dev[32];
	pid_t pid;
	int fd, i, status;

	testutil_require_loop("loop device tests");
	fd = make_image(f, 0, NULL, 16 * MiB);
	make_image(f, 1, NULL, 16 * MiB);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

		for (i = 0; ctl >= 0 && i < 400; i++) {
			struct loop_config cfg;
			char p[32];
			int n = ioctl(ctl, LOOP_CTL_GET_FREE), lfd;

			if (n < 0)
				continue;
			snprintf(p, sizeof(p), "/dev/loop%d", n);
			lfd = open(p, O_RDWR | O_CLOEXEC);
			if (lfd < 0)
				continue;
			memset(&cfg, 0, sizeof(cfg));
			cfg.fd = (uint32_t)f->fds[1];
			if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0)
				ioctl(lfd, LOOP_CLR_FD, 0);
			close(lfd);
		}
		_exit(0);
	}
	for (i = 0; i < 100; i++) {
		int n = attach(f, fd, false, false, dev);

		if (n < 0)
			print_message("attach %d: %s\n", i, strerror(-n));
		assert_true(n >= 0);
		assert_int_equal(count_devices_for(fd), 1);
		assert_int_equal(testutil_loop_detach_retry(dev), 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(count_devices_for(fd), 0);
}

static void test_bad_arguments(void **state)
{
	loop_fixture *f = *state;
	char dev[32];
	uint64_t size;
	int dfd, fd;

	testutil_require_loop("loop device tests");
	fd = make_image(f, 0, NULL, 16 * MiB);
	assert_int_equal(sys_loop_attach(fd, false, false, dev, 16), -EINVAL);
	assert_int_equal(sys_loop_attach(fd, false, false, NULL, 32), -EINVAL);
	assert_int_equal(sys_loop_find(fd, dev, 8), -EINVAL);
	assert_int_equal(sys_loop_find(fd, dev, sizeof(dev)), -ENOENT);
	assert_int_equal(sys_loop_attach(-1, false, false, dev, sizeof(dev)), -EBADF);
	dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(sys_loop_attach(dfd, true, false, dev, sizeof(dev)), -EINVAL);
	close(dfd);

	/* Not loop devices: refused before any ioctl. */
	assert_int_equal(sys_loop_detach(NULL), -EINVAL);
	assert_int_equal(sys_loop_detach("/dev/null"), -EINVAL);
	assert_int_equal(sys_loop_detach(f->files[0]), -EINVAL);
	assert_int_equal(sys_loop_detach("/dev/loop-dynvol-does-not-exist"), -ENXIO);
	assert_int_equal(sys_loop_refresh_capacity("/dev/null"), -EINVAL);
	assert_int_equal(sys_blockdev_size(f->files[0], &size), -ENOTBLK);
	assert_int_equal(sys_blockdev_size("/dev/dynvol-does-not-exist", &size), -ENOENT);
}

int main(void)
{
	const char *skip_reason;
	int fds_before, failed;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_attach_find_grow_detach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_view_of_a_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_io, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detach_busy_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_disarms_deferred_detach, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_detach_busy_mounted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_attach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_races_foreign_attacher, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	};

	skip_reason = testutil_loop_unavailable();
	if (skip_reason)
		print_message("note: loop tests will be skipped: %s\n", skip_reason);
	fds_before = testutil_count_open_fds();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + testutil_fd_leak(fds_before);
}
