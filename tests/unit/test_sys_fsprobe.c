/* Unit tests: sys_probe (libblkid) on image files. No root needed: mkfs
 * and libblkid work on regular files. Partition tables are written here
 * byte by byte (DOS and GPT, with real CRCs), so the tests need no
 * partitioning tool. */
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
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "sys/fsprobe.h"
#include "sys/spawn.h"

#include "testutil.h"

#define MiB (1024ULL * 1024ULL)
#define SECTOR 512
#define MAX_FILES 4

typedef struct {
	char dir[128];
	char files[MAX_FILES][192];
} probe_fixture;

static int setup(void **state)
{
	probe_fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (testutil_mkdtemp(f->dir, sizeof(f->dir), "/tmp", "probe") < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	probe_fixture *f = *state;
	int i;

	if (!f)
		return 0;
	for (i = 0; i < MAX_FILES; i++)
		if (f->files[i][0])
			unlink(f->files[i]);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* A sparse image of size bytes as file slot i; returns its path. */
static const char *make_image(probe_fixture *f, int i, uint64_t size)
{
	char path[sizeof(f->files[0])];
	int fd;

	snprintf(path, sizeof(path), "%s/img%d", f->dir, i);
	memcpy(f->files[i], path, sizeof(path));
	fd = open(f->files[i], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	return f->files[i];
}

static void run_tool(const char *const argv[])
{
	char out[2048] = "";
	int r = sys_spawn(argv, out, sizeof(out), 120000);

	if (r != 0)
		print_message("%s: %d: %s\n", argv[0], r, out);
	assert_int_equal(r, 0);
}

static void write_at(const char *path, uint64_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void read_at(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void probe_expect(const char *path, sys_probe_kind want_kind, const char *want_type)
{
	sys_probe_kind kind = (sys_probe_kind)-1;
	char type[64] = "junk";

	assert_int_equal(sys_probe(path, &kind, type, sizeof(type)), 0);
	assert_int_equal(kind, want_kind);
	assert_string_equal(type, want_type);
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

/* CRC-32 (IEEE 802.3, reflected), as GPT uses. */
static uint32_t crc32_ieee(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xffffffffu;
	size_t i;
	int b;

	for (i = 0; i < len; i++) {
		crc ^= p[i];
		for (b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

/* One MBR partition entry (CHS fields left 0: LBA is what counts). */
static void mbr_entry(uint8_t *mbr, int slot, uint8_t type, uint32_t start, uint32_t count)
{
	uint8_t *e = mbr + 446 + 16 * slot;

	e[0] = 0x00;
	e[4] = type;
	put_le32(e + 8, start);
	put_le32(e + 12, count);
}

static void write_dos_table(const char *path, uint64_t size)
{
	uint8_t mbr[SECTOR];

	memset(mbr, 0, sizeof(mbr));
	put_le32(mbr + 440, 0x12345678); /* disk identifier */
	mbr_entry(mbr, 0, 0x83, 2048, (uint32_t)(size / SECTOR - 2048));
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	write_at(path, 0, mbr, sizeof(mbr));
}

/* Protective MBR, primary header at LBA 1 with 128 entries at LBA 2 (one
 * Linux file system partition), and the backup at the end. */
static void write_gpt_table(const char *path, uint64_t size)
{
	static const uint8_t linux_fs_guid[16] = { 0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84,
						   0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69,
						   0xd8, 0x47, 0x7d, 0xe4 };
	enum { ENTRIES = 128, ENTRY_SIZE = 128, ARRAY_SECTORS = ENTRIES * ENTRY_SIZE / SECTOR };
	uint64_t last = size / SECTOR - 1;
	uint8_t mbr[SECTOR], hdr[SECTOR], backup[SECTOR];
	uint8_t *entries = calloc(ENTRIES, ENTRY_SIZE);
	int i;

	assert_non_null(entries);
	memset(mbr, 0, sizeof(mbr));
	mbr_entry(mbr, 0, 0xee, 1, (uint32_t)(last > 0xffffffffu ? 0xffffffffu : last));
	mbr[510] = 0x55;
	mbr[511] = 0xaa;

	memcpy(entries, linux_fs_guid, 16);
	for (i = 0; i < 16; i++)
		entries[16 + i] = (uint8_t)(0xa0 + i); /* unique partition GUID */
	put_le64(entries + 32, 2048);
	put_le64(entries + 40, last - 34);

	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, "EFI PART", 8);
	put_le32(hdr + 8, 0x00010000);
	put_le32(hdr + 12, 92);
	put_le64(hdr + 24, 1);
	put_le64(hdr + 32, last);
	put_le64(hdr + 40, 2 + ARRAY_SECTORS);
	put_le64(hdr + 48, last - 1 - ARRAY_SECTORS);
	for (i = 0; i < 16; i++)
		hdr[56 + i] = (uint8_t)(0x10 + i); /* disk GUID */
	put_le64(hdr + 72, 2);
	put_le32(hdr + 80, ENTRIES);
	put_le32(hdr + 84, ENTRY_SIZE);
	put_le32(hdr + 88, crc32_ieee(entries, ENTRIES * ENTRY_SIZE));
	memcpy(backup, hdr, sizeof(hdr));
	put_le32(hdr + 16, crc32_ieee(hdr, 92));

	put_le64(backup + 24, last);
	put_le64(backup + 32, 1);
	put_le64(backup + 72, last - ARRAY_SECTORS);
	put_le32(backup + 16, crc32_ieee(backup, 92));

	write_at(path, 0, mbr, sizeof(mbr));
	write_at(path, SECTOR, hdr, sizeof(hdr));
	write_at(path, 2 * SECTOR, entries, ENTRIES * ENTRY_SIZE);
	write_at(path, (last - ARRAY_SECTORS) * SECTOR, entries, ENTRIES * ENTRY_SIZE);
	write_at(path, last * SECTOR, backup, sizeof(backup));
	free(entries);
}

static void test_blank(void **state)
{
	probe_fixture *f = *state;
	const char *img = make_image(f, 0, 64 * MiB);
	sys_probe_kind kind = (sys_probe_kind)-1;

	probe_expect(img, SYS_PROBE_BLANK, "");
	/* The type is optional. */
	assert_int_equal(sys_probe(img, &kind, NULL, 0), 0);
	assert_int_equal(kind, SYS_PROBE_BLANK);
	/* An empty file has nothing on it either. */
	probe_expect(make_image(f, 1, 0), SYS_PROBE_BLANK, "");
}

static void test_ext4(void **state)
{
	probe_fixture *f = *state;
	const char *img = make_image(f, 0, 64 * MiB);
	const char *argv[] = { "mkfs.ext4", "-q", "-F", img, NULL };
	uint8_t label = 'X';

	run_tool(argv);
	probe_expect(img, SYS_PROBE_FILESYSTEM, "ext4");

	/* A superblock whose checksum no longer matches (a byte of the volume
	 * label changed, checksum not) is still a file system, not blank. */
	write_at(img, 1024 + 0x78, &label, 1);
	probe_expect(img, SYS_PROBE_FILESYSTEM, "ext4");
}

static void test_xfs(void **state)
{
	probe_fixture *f = *state;
	/* mkfs.xfs refuses file systems under 300 MiB. */
	const char *img = make_image(f, 0, 320 * MiB);
	const char *argv[] = { "mkfs.xfs", "-q", "-f", img, NULL };

	run_tool(argv);
	probe_expect(img, SYS_PROBE_FILESYSTEM, "xfs");
}

static void test_partition_tables(void **state)
{
	probe_fixture *f = *state;
	const char *dos = make_image(f, 0, 64 * MiB);
	const char *gpt = make_image(f, 1, 64 * MiB);

	write_dos_table(dos, 64 * MiB);
	probe_expect(dos, SYS_PROBE_PARTITIONS, "dos");
	write_gpt_table(gpt, 64 * MiB);
	probe_expect(gpt, SYS_PROBE_PARTITIONS, "gpt");
}

static void test_other_signatures(void **state)
{
	probe_fixture *f = *state;
	const char *swap = make_image(f, 0, 16 * MiB);
	const char *mkswap[] = { "mkswap", swap, NULL };
	const char *both = make_image(f, 1, 320 * MiB);
	const char *ext4 = make_image(f, 2, 64 * MiB);
	const char *mkxfs[] = { "mkfs.xfs", "-q", "-f", both, NULL };
	const char *mkext4[] = { "mkfs.ext4", "-q", "-F", ext4, NULL };
	uint8_t sb[1024];
	sys_probe_kind kind = (sys_probe_kind)-1;
	char type[64] = "junk";

	/* Not a file system (usage "other"), but not blank either. */
	run_tool(mkswap);
	probe_expect(swap, SYS_PROBE_OTHER, "swap");

	/* xfs with an ext4 superblock copied over its AGI sector: two
	 * signatures that exclude each other. libblkid calls that
	 * ambivalent; it is never blank. */
	run_tool(mkxfs);
	run_tool(mkext4);
	read_at(ext4, 1024, sb, sizeof(sb));
	write_at(both, 1024, sb, sizeof(sb));
	assert_int_equal(sys_probe(both, &kind, type, sizeof(type)), 0);
	assert_int_equal(kind, SYS_PROBE_OTHER);
	assert_string_equal(type, "");
}

static void test_errors(void **state)
{
	probe_fixture *f = *state;
	const char *img = make_image(f, 0, 64 * MiB);
	const char *argv[] = { "mkfs.ext4", "-q", "-F", img, NULL };
	sys_probe_kind kind = SYS_PROBE_BLANK;
	char type[4] = "old";
	char missing[256];

	snprintf(missing, sizeof(missing), "%s/does-not-exist", f->dir);
	assert_int_equal(sys_probe(missing, &kind, type, sizeof(type)), -ENOENT);
	assert_int_equal(sys_probe(f->dir, &kind, type, sizeof(type)), -EISDIR);
	assert_int_equal(sys_probe("/dev/null", &kind, type, sizeof(type)), -ENOTBLK);
	assert_int_equal(sys_probe(NULL, &kind, type, sizeof(type)), -EINVAL);
	assert_int_equal(sys_probe(img, NULL, type, sizeof(type)), -EINVAL);
	assert_int_equal(sys_probe(img, &kind, NULL, 8), -EINVAL);

	/* "ext4" does not fit in 4 bytes: an error, not a cut name. */
	run_tool(argv);
	assert_int_equal(sys_probe(img, &kind, type, sizeof(type)), -ENAMETOOLONG);
	/* Outputs untouched on failure. */
	assert_int_equal(kind, SYS_PROBE_BLANK);
	assert_string_equal(type, "old");

	/* Unreadable: an error, never "blank". Root reads anything, so as
	 * root the probe runs in a child that became "nobody". */
	assert_int_equal(chmod(img, 0600), 0);
	if (geteuid() != 0) {
		assert_int_equal(chmod(img, 0), 0);
		assert_int_equal(sys_probe(img, &kind, type, sizeof(type)), -EACCES);
	} else {
		pid_t pid = fork();
		int status;

		assert_true(pid >= 0);
		if (pid == 0) {
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(2);
			_exit(sys_probe(img, &kind, type, sizeof(type)) == -EACCES ? 0 : 1);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	/* A path through a regular file. */
	snprintf(missing, sizeof(missing), "%s/below", img);
	assert_int_equal(sys_probe(missing, &kind, type, sizeof(type)), -ENOTDIR);
}

int main(void)
{
	int fds_before, failed;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blank, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ext4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partition_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_signatures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	fds_before = testutil_count_open_fds();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + testutil_fd_leak(fds_before);
}
