/* Unit tests: mounts, bind mounts and the mount table. The mount tests
 * need root (skipped with a reason otherwise); flag parsing runs for
 * anyone. Every mount a test makes is recorded in the fixture right away
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

#include "sys/mounts.h"

#include "testutil.h"

#define MAX_MOUNTS 8

typedef struct {
	char dir[128];
	char src[192];	 /* tmpfs mounted here */
	char rw[192];	 /* bind targets */
	char ro[192];
	char link[192];	 /* symlink to rw */
	char file[192];	 /* a file in the tmpfs, and a file target */
	char file_target[192];
	char tag[64];	 /* unique tmpfs source name */
	char mounts[MAX_MOUNTS][192];
	int nmounts;
	int held_fd;
} mount_fixture;

static int setup(void **state)
{
	static int seq;
	mount_fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->held_fd = -1;
	if (testutil_mkdtemp(f->dir, sizeof(f->dir), "/tmp", "mount") < 0) {
		free(f);
		return -1;
	}
	snprintf(f->src, sizeof(f->src), "%s/src", f->dir);
	snprintf(f->rw, sizeof(f->rw), "%s/rw", f->dir);
	snprintf(f->ro, sizeof(f->ro), "%s/ro", f->dir);
	snprintf(f->link, sizeof(f->link), "%s/link", f->dir);
	snprintf(f->file, sizeof(f->file), "%s/src/file", f->dir);
	snprintf(f->file_target, sizeof(f->file_target), "%s/file-target", f->dir);
	snprintf(f->tag, sizeof(f->tag), "dynvol-test-%ld-%d", (long)getpid(), seq++);
	if (mkdir(f->src, 0755) < 0 || mkdir(f->rw, 0755) < 0 || mkdir(f->ro, 0755) < 0 ||
	    symlink(f->rw, f->link) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

/* Records target as mounted (once per mount: stacked mounts count twice). */
static void record_mount(mount_fixture *f, const char *target)
{
	if (f->nmounts < MAX_MOUNTS)
		snprintf(f->mounts[f->nmounts++], sizeof(f->mounts[0]), "%s", target);
}

static void forget_mount(mount_fixture *f, const char *target)
{
	int i;

	for (i = f->nmounts - 1; i >= 0; i--) {
		if (strcmp(f->mounts[i], target) == 0) {
			memmove(f->mounts[i], f->mounts[i + 1],
				(size_t)(f->nmounts - 1 - i) * sizeof(f->mounts[0]));
			f->nmounts--;
			return;
		}
	}
}

static int teardown(void **state)
{
	mount_fixture *f = *state;
	sys_mount_info *mi;
	int i;

	if (!f)
		return 0;
	if (f->held_fd >= 0)
		close(f->held_fd);
	/* Newest first: binds of the tmpfs go before the tmpfs. */
	for (i = f->nmounts - 1; i >= 0; i--)
		if (umount2(f->mounts[i], UMOUNT_NOFOLLOW) < 0)
			umount2(f->mounts[i], UMOUNT_NOFOLLOW | MNT_DETACH);
	/* Nothing of ours may be left in the mount table. */
	mi = malloc(sizeof(*mi));
	if (mi) {
		const char *paths[] = { f->src, f->rw, f->ro, f->file_target };

		for (i = 0; i < 4; i++) {
			if (sys_mount_find(paths[i], mi) == 0) {
				print_error("teardown: %s is still mounted\n", paths[i]);
				umount2(paths[i], MNT_DETACH);
			}
		}
		free(mi);
	}
	unlink(f->file_target);
	unlink(f->link);
	rmdir(f->ro);
	rmdir(f->rw);
	rmdir(f->src);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void mount_tmpfs(mount_fixture *f, unsigned long flags)
{
	assert_int_equal(sys_mount_fs(f->tag, f->src, "tmpfs", flags, "size=8m,mode=0755"), 0);
	record_mount(f, f->src);
}

static void bind(mount_fixture *f, const char *source, const char *target, bool ro,
		 unsigned long extra)
{
	int r = sys_mount_bind(source, target, ro, extra);

	if (r < 0)
		print_message("bind %s -> %s: %s\n", source, target, strerror(-r));
	assert_int_equal(r, 0);
	record_mount(f, target);
}

static void unmount(mount_fixture *f, const char *target)
{
	assert_int_equal(sys_umount(target), 0);
	forget_mount(f, target);
}

/* The mount table entry of target; the struct is large, so on the heap. */
static sys_mount_info *find(const char *target)
{
	sys_mount_info *mi = malloc(sizeof(*mi));

	assert_non_null(mi);
	assert_int_equal(sys_mount_find(target, mi), 0);
	return mi;
}

static bool has_option(const char *options, const char *name)
{
	size_t n = strlen(name);
	const char *p = options;

	while ((p = strstr(p, name))) {
		if ((p == options || p[-1] == ',') && (p[n] == ',' || p[n] == '\0' || p[n] == '='))
			return true;
		p += n;
	}
	return false;
}

static int write_file(const char *dir, const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, "x", 1) != 1) {
		int r = -errno;

		close(fd);
		return r;
	}
	close(fd);
	return 0;
}

static size_t count_source(const char *source)
{
	size_t n = 12345;

	assert_int_equal(sys_mount_count_source(source, &n), 0);
	return n;
}

static void test_mount_and_find(void **state)
{
	mount_fixture *f = *state;
	sys_mount_info *mi, keep;
	struct stat st;
	char slash[256], other[80];

	testutil_require_root("mount tests");
	assert_int_equal(sys_mount_find(f->src, &keep), -ENOENT);
	assert_int_equal(count_source(f->tag), 0);

	mount_tmpfs(f, MS_NOSUID | MS_NODEV);
	mi = find(f->src);
	assert_string_equal(mi->fstype, "tmpfs");
	assert_string_equal(mi->source, f->tag);
	assert_string_equal(mi->root, "/");
	assert_false(mi->readonly);
	assert_true(has_option(mi->options, "rw"));
	assert_true(has_option(mi->options, "nosuid"));
	assert_true(has_option(mi->options, "nodev"));
	assert_false(has_option(mi->options, "noexec"));
	assert_true(has_option(mi->options, "size"));
	assert_int_equal(stat(f->src, &st), 0);
	assert_int_equal(mi->dev, st.st_dev);
	free(mi);
	assert_int_equal(count_source(f->tag), 1);
	assert_int_equal(write_file(f->src, "a"), 0);

	/* The same mount with a trailing slash; its parent is no mount. */
	snprintf(slash, sizeof(slash), "%s/", f->src);
	mi = find(slash);
	assert_string_equal(mi->source, f->tag);
	free(mi);
	/* ret untouched on failure. */
	memset(&keep, 0, sizeof(keep));
	snprintf(keep.source, sizeof(keep.source), "before");
	assert_int_equal(sys_mount_find(f->dir, &keep), -ENOENT);
	assert_string_equal(keep.source, "before");

	/* Stacked: the top-most mount is what the path shows. */
	snprintf(other, sizeof(other), "%s-top", f->tag);
	assert_int_equal(sys_mount_fs(other, f->src, "tmpfs", MS_RDONLY, NULL), 0);
	record_mount(f, f->src);
	mi = find(f->src);
	assert_string_equal(mi->source, other);
	assert_true(mi->readonly);
	free(mi);
	assert_int_equal(write_file(f->src, "b"), -EROFS);
	unmount(f, f->src);
	mi = find(f->src);
	assert_string_equal(mi->source, f->tag);
	assert_false(mi->readonly);
	free(mi);

	unmount(f, f->src);
	assert_int_equal(sys_mount_find(f->src, &keep), -ENOENT);
	assert_int_equal(count_source(f->tag), 0);
}

static void test_bind_rw_ro(void **state)
{
	mount_fixture *f = *state;
	char data[256];
	sys_mount_info *mi;
	struct statvfs sv;

	testutil_require_root("mount tests");
	mount_tmpfs(f, MS_NOSUID | MS_NODEV);
	snprintf(data, sizeof(data), "%s/data", f->src);
	assert_int_equal(mkdir(data, 0755), 0);

	bind(f, data, f->rw, false, 0);
	assert_int_equal(write_file(f->rw, "via-rw"), 0);
	mi = find(f->rw);
	assert_false(mi->readonly);
	assert_string_equal(mi->source, f->tag);
	assert_string_equal(mi->root, "/data");
	assert_string_equal(mi->fstype, "tmpfs");
	free(mi);

	bind(f, data, f->ro, true, MS_NOEXEC);
	assert_int_equal(write_file(f->ro, "via-ro"), -EROFS);
	/* The file written through the rw bind is visible here. */
	assert_int_equal(access(f->ro, R_OK), 0);
	{
		char p[256];

		snprintf(p, sizeof(p), "%s/via-rw", f->ro);
		assert_int_equal(access(p, F_OK), 0);
	}
	mi = find(f->ro);
	assert_true(mi->readonly);
	assert_true(has_option(mi->options, "ro"));
	assert_true(has_option(mi->options, "noexec"));
	/* Kept from the source mount, though not asked for again. */
	assert_true(has_option(mi->options, "nosuid"));
	assert_true(has_option(mi->options, "nodev"));
	assert_string_equal(mi->root, "/data");
	free(mi);
	assert_int_equal(statvfs(f->ro, &sv), 0);
	assert_true(sv.f_flag & ST_RDONLY);
	assert_true(sv.f_flag & ST_NOSUID);
	assert_true(sv.f_flag & ST_NOEXEC);
	/* The source itself stays writable. */
	assert_int_equal(write_file(data, "direct"), 0);

	/* The tmpfs and its two binds. */
	assert_int_equal(count_source(f->tag), 3);
	unmount(f, f->ro);
	assert_int_equal(count_source(f->tag), 2);
	unmount(f, f->rw);
	unmount(f, f->src);
	assert_int_equal(count_source(f->tag), 0);
}

/* A bind never has fewer restrictions than its source: a read-only,
 * noexec source stays so after a bind that asks for neither. */
static void test_bind_keeps_source_restrictions(void **state)
{
	mount_fixture *f = *state;
	struct statvfs sv;

	testutil_require_root("mount tests");
	mount_tmpfs(f, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY);
	bind(f, f->src, f->rw, false, MS_NOATIME);
	assert_int_equal(statvfs(f->rw, &sv), 0);
	assert_true(sv.f_flag & ST_RDONLY);
	assert_true(sv.f_flag & ST_NOSUID);
	assert_true(sv.f_flag & ST_NODEV);
	assert_true(sv.f_flag & ST_NOEXEC);
	assert_true(sv.f_flag & ST_NOATIME);
	assert_int_equal(write_file(f->rw, "x"), -EROFS);
}

/* A raw block volume is a bind of a device onto a file; here a file. */
static void test_bind_file(void **state)
{
	mount_fixture *f = *state;
	int fd;

	testutil_require_root("mount tests");
	mount_tmpfs(f, MS_NOSUID | MS_NODEV);
	assert_int_equal(write_file(f->src, "file"), 0);
	fd = open(f->file_target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	bind(f, f->file, f->file_target, true, 0);
	fd = open(f->file_target, O_WRONLY | O_CLOEXEC);
	assert_int_equal(fd, -1);
	assert_int_equal(errno, EROFS);
	assert_int_equal(count_source(f->tag), 2);
}

static void test_umount_errors(void **state)
{
	mount_fixture *f = *state;
	char missing[256], inside[256];

	testutil_require_root("mount tests");
	/* Not a mount point, missing, relative. */
	assert_int_equal(sys_umount(f->rw), -EINVAL);
	snprintf(missing, sizeof(missing), "%s/missing", f->dir);
	assert_int_equal(sys_umount(missing), -ENOENT);
	assert_int_equal(sys_umount("tmp/x"), -EINVAL);
	assert_int_equal(sys_umount(NULL), -EINVAL);

	/* In use. */
	mount_tmpfs(f, MS_NOSUID | MS_NODEV);
	snprintf(inside, sizeof(inside), "%s/open", f->src);
	f->held_fd = open(inside, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	assert_true(f->held_fd >= 0);
	assert_int_equal(sys_umount(f->src), -EBUSY);
	close(f->held_fd);
	f->held_fd = -1;
	unmount(f, f->src);
	assert_int_equal(sys_umount(f->src), -EINVAL);
}

static void test_symlink_target_refused(void **state)
{
	mount_fixture *f = *state;
	sys_mount_info keep;

	testutil_require_root("mount tests");
	assert_int_equal(sys_mount_fs(f->tag, f->link, "tmpfs", 0, NULL), -ELOOP);
	assert_int_equal(sys_mount_find(f->rw, &keep), -ENOENT);
	assert_int_equal(sys_mount_find(f->link, &keep), -ENOENT);

	mount_tmpfs(f, MS_NOSUID | MS_NODEV);
	assert_int_equal(sys_mount_bind(f->src, f->link, false, 0), -ELOOP);
	assert_int_equal(sys_mount_bind(f->src, f->link, true, MS_NOSUID), -ELOOP);
	assert_int_equal(sys_mount_find(f->rw, &keep), -ENOENT);
	assert_int_equal(count_source(f->tag), 1);

	/* umount does not follow one either: the mount behind it stays. */
	bind(f, f->src, f->rw, false, 0);
	assert_int_equal(sys_umount(f->link), -EINVAL);
	assert_int_equal(sys_mount_find(f->rw, &keep), 0);
}

static void test_bad_arguments(void **state)
{
	mount_fixture *f = *state;
	sys_mount_info keep;
	size_t n;

	testutil_require_root("mount tests");
	assert_int_equal(sys_mount_fs(f->tag, "relative", "tmpfs", 0, NULL), -EINVAL);
	assert_int_equal(sys_mount_fs(NULL, f->src, "tmpfs", 0, NULL), -EINVAL);
	assert_int_equal(sys_mount_fs(f->tag, f->src, NULL, 0, NULL), -EINVAL);
	assert_int_equal(sys_mount_fs(f->tag, f->src, "tmpfs", MS_BIND, NULL), -EINVAL);
	assert_int_equal(sys_mount_fs(f->tag, f->src, "tmpfs", MS_REMOUNT, NULL), -EINVAL);
	assert_int_equal(sys_mount_fs(f->tag, f->src, "tmpfs", MS_SHARED, NULL), -EINVAL);
	assert_int_equal(sys_mount_fs(f->tag, f->src, "tmpfs", MS_MOVE, NULL), -EINVAL);
	assert_int_equal(sys_mount_bind(f->dir, f->rw, false, MS_REC), -EINVAL);
	assert_int_equal(sys_mount_bind(f->dir, f->rw, false, MS_SHARED), -EINVAL);
	assert_int_equal(sys_mount_bind(f->dir, f->rw, false, MS_MOVE), -EINVAL);
	assert_int_equal(sys_mount_bind(f->dir, "relative", false, 0), -EINVAL);
	assert_int_equal(sys_mount_bind(NULL, f->rw, false, 0), -EINVAL);
	assert_int_equal(sys_mount_find("relative", &keep), -EINVAL);
	assert_int_equal(sys_mount_find(f->src, NULL), -EINVAL);
	assert_int_equal(sys_mount_count_source(NULL, &n), -EINVAL);
	assert_int_equal(sys_mount_count_source(f->tag, NULL), -EINVAL);
	/* Nothing was mounted by any of these. */
	assert_int_equal(sys_mount_find(f->src, &keep), -ENOENT);
	assert_int_equal(sys_mount_find(f->rw, &keep), -ENOENT);
}

/* sys_mount_flags_parse: a table of inputs and what they must give. */
typedef struct {
	const char *flags[6];
	int r;
	unsigned long ms;
	const char *data;
	size_t bad;
} flags_case;

static void test_flags_parse(void **state)
{
	static const flags_case cases[] = {
		{ { NULL }, 0, 0, "", 0 },
		{ { "ro" }, 0, MS_RDONLY, "", 0 },
		{ { "ro", "rw" }, 0, 0, "", 0 },
		{ { "rw", "ro" }, 0, MS_RDONLY, "", 0 },
		{ { "noatime", "nodiratime", "nosuid", "nodev", "noexec" },
		  0, MS_NOATIME | MS_NODIRATIME | MS_NOSUID | MS_NODEV | MS_NOEXEC, "", 0 },
		{ { "relatime" }, 0, MS_RELATIME, "", 0 },
		{ { "noatime", "relatime" }, 0, MS_RELATIME, "", 0 },
		{ { "relatime", "strictatime" }, 0, MS_STRICTATIME, "", 0 },
		{ { "noatime", "atime" }, 0, 0, "", 0 },
		{ { "sync", "dirsync", "lazytime" }, 0, MS_SYNCHRONOUS | MS_DIRSYNC | MS_LAZYTIME,
		  "", 0 },
		{ { "sync", "async" }, 0, 0, "", 0 },
		{ { "noexec", "exec" }, 0, 0, "", 0 },
		{ { "nosymfollow" }, 0, MS_NOSYMFOLLOW, "", 0 },
		{ { "discard" }, 0, 0, "discard", 0 },
		{ { "ro", "uid=1000", "noatime", "gid=1000" }, 0, MS_RDONLY | MS_NOATIME,
		  "uid=1000,gid=1000", 0 },
		{ { "data=ordered", "nouuid", "errors=remount-ro" }, 0, 0,
		  "data=ordered,nouuid,errors=remount-ro", 0 },
		/* Refused: widening access, changing mounts or propagation. */
		{ { "suid" }, -EINVAL, 0, "", 0 },
		{ { "ro", "dev" }, -EINVAL, 0, "", 1 },
		{ { "noatime", "discard", "bind" }, -EINVAL, 0, "", 2 },
		{ { "rbind" }, -EINVAL, 0, "", 0 },
		{ { "remount" }, -EINVAL, 0, "", 0 },
		{ { "move" }, -EINVAL, 0, "", 0 },
		{ { "shared" }, -EINVAL, 0, "", 0 },
		{ { "rshared" }, -EINVAL, 0, "", 0 },
		{ { "slave" }, -EINVAL, 0, "", 0 },
		{ { "rslave" }, -EINVAL, 0, "", 0 },
		{ { "private" }, -EINVAL, 0, "", 0 },
		{ { "rprivate" }, -EINVAL, 0, "", 0 },
		{ { "unbindable" }, -EINVAL, 0, "", 0 },
		{ { "make-shared" }, -EINVAL, 0, "", 0 },
		{ { "defaults" }, -EINVAL, 0, "", 0 },
		/* Smuggling a second option, or odd bytes. */
		{ { "ro", "noatime,suid" }, -EINVAL, 0, "", 1 },
		{ { "uid=0,dev" }, -EINVAL, 0, "", 0 },
		{ { "" }, -EINVAL, 0, "", 0 },
		{ { "ro", "no atime" }, -EINVAL, 0, "", 1 },
		{ { "noatime\n" }, -EINVAL, 0, "", 0 },
		/* Case matters: "RO" is not a VFS flag, so the fs gets it. */
		{ { "RO" }, 0, 0, "RO", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const flags_case *c = &cases[i];
		unsigned long ms = 0xdead;
		char data[128] = "junk";
		size_t n = 0, bad = 999;
		int r;

		while (n < 6 && c->flags[n])
			n++;
		r = sys_mount_flags_parse(c->flags, n, &ms, data, sizeof(data), &bad);
		if (r != c->r || (r == 0 && (ms != c->ms || strcmp(data, c->data))) ||
		    (r < 0 && bad != c->bad))
			print_error("case %zu (%s...): r %d flags %#lx data '%s' bad %zu\n", i,
				    c->flags[0] ? c->flags[0] : "-", r, ms, data, bad);
		assert_int_equal(r, c->r);
		assert_string_equal(data, c->data);
		if (r == 0) {
			assert_int_equal(ms, c->ms);
		} else {
			assert_int_equal(ms, 0xdead); /* untouched */
			assert_int_equal(bad, c->bad);
		}
	}
}

static void test_flags_parse_limits(void **state)
{
	const char *fs_opts[] = { "uid=1000", "gid=1000", "discard" };
	const char *empty[] = { NULL };
	unsigned long ms = 0;
	char data[16];
	size_t bad = 999;

	(void)state;
	/* "uid=1000,gid=1000" needs 18 bytes: the second does not fit. */
	assert_int_equal(sys_mount_flags_parse(fs_opts, 3, &ms, data, sizeof(data), &bad),
			 -ENAMETOOLONG);
	assert_int_equal(bad, 1);
	assert_string_equal(data, "");
	/* Exactly fits: 15 chars + NUL. */
	{
		const char *fit[] = { "uid=1000", "gid=10" };

		assert_int_equal(sys_mount_flags_parse(fit, 2, &ms, data, sizeof(data), NULL), 0);
		assert_string_equal(data, "uid=1000,gid=10");
	}
	assert_int_equal(sys_mount_flags_parse(NULL, 0, &ms, data, sizeof(data), NULL), 0);
	assert_int_equal(sys_mount_flags_parse(NULL, 1, &ms, data, sizeof(data), &bad), -EINVAL);
	assert_int_equal(sys_mount_flags_parse(empty, 1, &ms, data, sizeof(data), &bad), -EINVAL);
	assert_int_equal(bad, 0);
	assert_int_equal(sys_mount_flags_parse(fs_opts, 1, NULL, data, sizeof(data), &bad),
			 -EINVAL);
	assert_int_equal(sys_mount_flags_parse(fs_opts, 1, &ms, NULL, 0, &bad), -EINVAL);
	assert_int_equal(sys_mount_flags_parse(fs_opts, 1, &ms, data, 0, &bad), -EINVAL);
}

int main(void)
{
	int fds_before, failed;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mount_and_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_rw_ro, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_keeps_source_restrictions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bind_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_umount_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_target_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test(test_flags_parse),
		cmocka_unit_test(test_flags_parse_limits),
	};

	if (geteuid() != 0)
		print_message("note: not root: mount tests will be skipped\n");
	fds_before = testutil_count_open_fds();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + testutil_fd_leak(fds_before);
}
