/* Unit tests: mkfs and online grow on loop devices. Needs root and loop
 * devices (skipped with a reason otherwise); argument checks run for
 * anyone. Every device and mount is recorded in the fixture right away
 * and undone in teardown, also when an assertion fails halfway. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <cmocka.h>

#include "sys/format.h"
#include "sys/fsprobe.h"
#include "sys/loop.h"
#include "sys/mounts.h"
#include "sys/spawn.h"

#include "testutil.h"

#define MiB (1024ULL * 1024ULL)

typedef struct {
	char dir[128];
	char img[192];
	char mnt[192];
	int fd;
	char dev[32];
	bool attached;
	bool mounted;
} format_fixture;

static int setup(void **state)
{
	format_fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->fd = -1;
	if (testutil_mkdtemp(f->dir, sizeof(f->dir), "/tmp", "format") < 0) {
		free(f);
		return -1;
	}
	snprintf(f->img, sizeof(f->img), "%s/img", f->dir);
	snprintf(f->mnt, sizeof(f->mnt), "%s/mnt", f->dir);
	if (mkdir(f->mnt, 0755) < 0) {
		rmdir(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	format_fixture *f = *state;

	if (!f)
		return 0;
	if (f->mounted && umount2(f->mnt, UMOUNT_NOFOLLOW) < 0)
		umount2(f->mnt, UMOUNT_NOFOLLOW | MNT_DETACH);
	if (f->attached) {
		int r = testutil_loop_detach_retry(f->dev);

		if (r < 0 && r != -ENXIO)
			print_error("teardown: detach %s: %s\n", f->dev, strerror(-r));
	}
	if (f->fd >= 0)
		close(f->fd);
	unlink(f->img);
	rmdir(f->mnt);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* A sparse image of size bytes, attached to a loop device. */
static void make_device(format_fixture *f, uint64_t size)
{
	f->fd = open(f->img, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(f->fd >= 0);
	assert_int_equal(ftruncate(f->fd, (off_t)size), 0);
	assert_true(sys_loop_attach(f->fd, false, false, f->dev, sizeof(f->dev)) >= 0);
	f->attached = true;
}

static void mount_dev(format_fixture *f, const char *fstype)
{
	int r = sys_mount_fs(f->dev, f->mnt, fstype, MS_NOSUID | MS_NODEV, NULL);

	if (r < 0)
		print_message("mount %s: %s\n", f->dev, strerror(-r));
	assert_int_equal(r, 0);
	f->mounted = true;
}

static void mkfs_ok(const char *dev, const char *fstype)
{
	char err[2048] = "junk";
	int r = sys_mkfs(dev, fstype, err, sizeof(err));

	if (r != 0)
		print_message("sys_mkfs %s %s: %d: %s\n", fstype, dev, r, err);
	assert_int_equal(r, 0);
	assert_string_equal(err, "");
}

static void grow_ok(format_fixture *f, const char *fstype)
{
	char err[2048] = "junk";
	int r = sys_fs_grow(f->dev, f->mnt, fstype, err, sizeof(err));

	if (r != 0)
		print_message("sys_fs_grow %s %s: %d: %s\n", fstype, f->dev, r, err);
	assert_int_equal(r, 0);
}

static uint64_t fs_size(const char *mnt)
{
	struct statvfs sv;

	assert_int_equal(statvfs(mnt, &sv), 0);
	return (uint64_t)sv.f_blocks * sv.f_frsize;
}

static void probe_expect(const char *dev, sys_probe_kind want, const char *type)
{
	sys_probe_kind kind;
	char found[64];

	assert_int_equal(sys_probe(dev, &kind, found, sizeof(found)), 0);
	assert_int_equal(kind, want);
	assert_string_equal(found, type);
}

/* A second sys_mkfs on a device with a file system must fail, whatever
 * the two types are, and leave the file system intact. */
static void expect_refused(const char *dev, const char *existing)
{
	char err[2048] = "";

	assert_int_equal(sys_mkfs(dev, "ext4", err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "not blank"));
	assert_non_null(strstr(err, existing));
	assert_int_equal(sys_mkfs(dev, "xfs", err, sizeof(err)), -EEXIST);
	probe_expect(dev, SYS_PROBE_FILESYSTEM, existing);
}

static void test_mkfs_ext4(void **state)
{
	format_fixture *f = *state;
	const char *const again[] = { "mkfs.ext4", "-q", f->dev, NULL };
	const char *const xfs_again[] = { "mkfs.xfs", "-q", f->dev, NULL };
	sys_mount_info *mi;
	struct stat st;
	char out[2048];
	size_t n = 99;
	int r;

	testutil_require_loop("format tests");
	make_device(f, 64 * MiB);
	probe_expect(f->dev, SYS_PROBE_BLANK, "");
	mkfs_ok(f->dev, "ext4");
	probe_expect(f->dev, SYS_PROBE_FILESYSTEM, "ext4");
	expect_refused(f->dev, "ext4");

	mount_dev(f, "ext4");
	/* -m 0: nothing reserved for root (statfs cannot tell: ext4 also
	 * holds back a few clusters for delayed allocation). */
	{
		const char *const dump[] = { "dumpe2fs", "-h", f->dev, NULL };
		char sb[8192];
		const char *line;

		assert_int_equal(sys_spawn(dump, sb, sizeof(sb), 60000), 0);
		line = strstr(sb, "Reserved block count:");
		assert_non_null(line);
		line += strlen("Reserved block count:");
		while (*line == ' ')
			line++;
		assert_int_equal(strtoul(line, NULL, 10), 0);
	}
	/* The mount table knows the device, by name and by number. */
	mi = malloc(sizeof(*mi));
	assert_non_null(mi);
	assert_int_equal(sys_mount_find(f->mnt, mi), 0);
	assert_string_equal(mi->source, f->dev);
	assert_string_equal(mi->fstype, "ext4");
	assert_int_equal(stat(f->dev, &st), 0);
	assert_int_equal(mi->dev, st.st_rdev);
	free(mi);
	assert_int_equal(sys_mount_count_source(f->dev, &n), 0);
	assert_int_equal(n, 1);
	/* Mounted: refused as well. */
	expect_refused(f->dev, "ext4");
	assert_int_equal(sys_umount(f->mnt), 0);
	f->mounted = false;
	assert_int_equal(sys_mount_count_source(f->dev, &n), 0);
	assert_int_equal(n, 0);

	/* The tools on their own, never forced, stdin on /dev/null: mkfs.xfs
	 * refuses; mkfs.ext4 is only reported (e2fsprogs 1.47 formats over
	 * the old file system, which is why sys_mkfs probes first). Last,
	 * since it may have just destroyed what was checked above. */
	r = sys_spawn(xfs_again, out, sizeof(out), 60000);
	assert_true(r > 0);
	assert_non_null(strstr(out, "existing filesystem"));
	r = sys_spawn(again, out, sizeof(out), 60000);
	print_message("note: mkfs.ext4 without -F on a device holding ext4, stdin /dev/null: "
		      "%s\n", r == 0 ? "formats over it" : "refuses");
}

static void test_mkfs_xfs(void **state)
{
	format_fixture *f = *state;

	testutil_require_loop("format tests");
	/* mkfs.xfs refuses file systems under 300 MiB. */
	make_device(f, 320 * MiB);
	probe_expect(f->dev, SYS_PROBE_BLANK, "");
	mkfs_ok(f->dev, "xfs");
	probe_expect(f->dev, SYS_PROBE_FILESYSTEM, "xfs");
	expect_refused(f->dev, "xfs");
	mount_dev(f, "xfs");
}

/* Whether this process has capability cap in its effective set. */
static bool have_capability(int cap)
{
	char line[256];
	FILE *fp = fopen("/proc/self/status", "re");
	bool have = false;

	if (!fp)
		return false;
	while (fgets(line, sizeof(line), fp)) {
		if (strncmp(line, "CapEff:", 7) == 0) {
			unsigned long long eff = strtoull(line + 7, NULL, 16);

			have = (eff >> cap) & 1u;
			break;
		}
	}
	fclose(fp);
	return have;
}

/* CAP_SYS_RESOURCE, which ext4's online resize ioctls require. */
#define CAP_SYS_RESOURCE_BIT 24

/* Grow the image, tell the loop device, grow the file system online. */
static void grow_case(format_fixture *f, const char *fstype, uint64_t from, uint64_t to)
{
	uint64_t before, after, again;

	testutil_require_loop("format tests");
	/* ext4 online resize (EXT4_IOC_RESIZE_FS) needs CAP_SYS_RESOURCE;
	 * some containers run root without it. The failure must then be an
	 * error with the tool's reason, and the rest cannot be tested. */
	if (strcmp(fstype, "ext4") == 0 && !have_capability(CAP_SYS_RESOURCE_BIT)) {
		char err[2048] = "";

		make_device(f, from);
		mkfs_ok(f->dev, fstype);
		mount_dev(f, fstype);
		/* Nothing to grow: resize2fs says so without the ioctl. */
		grow_ok(f, fstype);
		assert_int_equal(ftruncate(f->fd, (off_t)to), 0);
		assert_int_equal(sys_loop_refresh_capacity(f->dev), 0);
		assert_int_equal(sys_fs_grow(f->dev, f->mnt, fstype, err, sizeof(err)), -EIO);
		assert_non_null(strstr(err, "Permission denied"));
		print_message("skip: no CAP_SYS_RESOURCE, so no ext4 online resize here "
			      "(sys_fs_grow failed as it should: -EIO, \"Permission denied\")\n");
		skip();
	}
	make_device(f, from);
	mkfs_ok(f->dev, fstype);
	mount_dev(f, fstype);
	before = fs_size(f->mnt);
	assert_true(before <= from);

	/* Nothing to grow yet: still succeeds. */
	grow_ok(f, fstype);
	assert_int_equal(fs_size(f->mnt), before);

	assert_int_equal(ftruncate(f->fd, (off_t)to), 0);
	assert_int_equal(sys_loop_refresh_capacity(f->dev), 0);
	grow_ok(f, fstype);
	after = fs_size(f->mnt);
	print_message("%s: %llu -> %llu bytes\n", fstype, (unsigned long long)before,
		      (unsigned long long)after);
	assert_true(after > before);
	/* The file system took (nearly) all the new space: it cannot
	 * exceed the device, and new metadata takes little. */
	assert_true(after <= to);
	assert_true(after - before >= (to - from) * 9 / 10);

	/* Idempotent. */
	grow_ok(f, fstype);
	again = fs_size(f->mnt);
	assert_int_equal(again, after);
}

static void test_grow_ext4(void **state)
{
	grow_case(*state, "ext4", 64 * MiB, 128 * MiB);
}

static void test_grow_xfs(void **state)
{
	grow_case(*state, "xfs", 320 * MiB, 400 * MiB);
}

/* Argument checks and refusals on image files: no root needed. */
static void test_bad_arguments(void **state)
{
	format_fixture *f = *state;
	char err[256], missing[256], mbr[512];
	int fd;

	assert_int_equal(sys_mkfs("relative/dev", "ext4", err, sizeof(err)), -EINVAL);
	assert_int_equal(sys_mkfs("-F", "ext4", err, sizeof(err)), -EINVAL);
	assert_int_equal(sys_mkfs(NULL, "ext4", err, sizeof(err)), -EINVAL);
	assert_int_equal(sys_mkfs(f->img, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(sys_mkfs(f->img, "vfat", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "vfat"));
	assert_int_equal(sys_mkfs(f->img, "btrfs", NULL, 0), -EINVAL);
	snprintf(missing, sizeof(missing), "%s/missing", f->dir);
	assert_int_equal(sys_mkfs(missing, "ext4", err, sizeof(err)), -ENOENT);

	/* A partition table is not blank either. */
	fd = open(f->img, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	f->fd = fd;
	assert_int_equal(ftruncate(fd, (off_t)(64 * MiB)), 0);
	memset(mbr, 0, sizeof(mbr));
	mbr[446 + 4] = (char)0x83;
	mbr[446 + 8] = 0x00;
	mbr[446 + 9] = 0x08; /* start 2048 */
	mbr[446 + 13] = 0x01; /* 65536 sectors */
	mbr[510] = 0x55;
	mbr[511] = (char)0xaa;
	assert_int_equal(pwrite(fd, mbr, sizeof(mbr), 0), (ssize_t)sizeof(mbr));
	assert_int_equal(sys_mkfs(f->img, "ext4", err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "partition table dos"));

	assert_int_equal(sys_fs_grow(f->img, f->mnt, "btrfs", err, sizeof(err)), 0);
	assert_int_equal(sys_fs_grow(f->img, f->mnt, "vfat", err, sizeof(err)), -EINVAL);
	assert_int_equal(sys_fs_grow(f->img, f->mnt, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(sys_fs_grow("dev", f->mnt, "ext4", err, sizeof(err)), -EINVAL);
	assert_int_equal(sys_fs_grow(f->img, "mnt", "xfs", err, sizeof(err)), -EINVAL);
	/* Not an xfs mount point: the tool fails and says why. */
	err[0] = '\0';
	assert_int_equal(sys_fs_grow(f->img, f->mnt, "xfs", err, sizeof(err)), -EIO);
	assert_true(err[0] != '\0');
	print_message("xfs_growfs on a plain directory: %s", err);
}

int main(void)
{
	const char *skip_reason;
	int fds_before, failed;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mkfs_ext4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkfs_xfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow_ext4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow_xfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	};

	skip_reason = testutil_loop_unavailable();
	if (skip_reason)
		print_message("note: format tests will be skipped: %s\n", skip_reason);
	fds_before = testutil_count_open_fds();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + testutil_fd_leak(fds_before);
}
