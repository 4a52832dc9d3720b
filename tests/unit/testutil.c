/*
 * Helpers shared by the unit test programs; see testutil.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sys/loop.h"
#include "testutil.h"

int testutil_count_open_fds(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int testutil_fd_leak(int fds_before)
{
	int fds_after = testutil_count_open_fds();

	if (fds_after == fds_before)
		return 0;
	print_error("descriptor leak: %d open before the tests, %d after\n", fds_before, fds_after);
	return 1;
}

const char *testutil_loop_unavailable(void)
{
	if (geteuid() != 0)
		return "needs root";
	if (access("/dev/loop-control", F_OK) != 0)
		return "/dev/loop-control is missing (no loop driver)";
	return NULL;
}

void testutil_require_root(const char *what)
{
	if (geteuid() != 0) {
		print_message("skip: %s: needs root (euid %u)\n", what, (unsigned)geteuid());
		skip();
	}
}

void testutil_require_loop(const char *what)
{
	const char *why;

	testutil_require_root(what);
	why = testutil_loop_unavailable();
	if (why) {
		print_message("skip: %s: %s\n", what, why);
		skip();
	}
}

int testutil_mkdtemp(char *out, size_t len, const char *base, const char *name)
{
	int n = snprintf(out, len, "%s/dynvol-%s-XXXXXX", base, name);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkdtemp(out) ? 0 : -1;
}

int testutil_loop_detach_retry(const char *dev)
{
	int r, i;

	for (i = 0; (r = sys_loop_detach(dev)) == -EBUSY && i < 50; i++)
		usleep(100 * 1000);
	return r;
}
