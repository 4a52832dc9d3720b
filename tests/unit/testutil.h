/*
 * Helpers shared by the unit test programs: the descriptor-leak check every
 * main() makes around its test run, the skips for tests that need root or
 * loop devices, and per-test scratch directories.
 *
 * Include after <cmocka.h> (and the headers cmocka wants before it).
 */
#ifndef DYNVOL_TESTUTIL_H
#define DYNVOL_TESTUTIL_H

#include <stddef.h>

/* Open descriptors of this process, or -1 when /proc/self/fd cannot be
 * read. */
int testutil_count_open_fds(void);

/* Compares the open descriptors now with fds_before, counted before the
 * tests ran: equal, or something leaked one on some path. Returns 0 when
 * they match, else prints both counts and returns 1, to be added to the
 * failure count main() returns. */
int testutil_fd_leak(int fds_before);

/* NULL when this process may attach loop devices (root, loop driver
 * present), else why not, for a skip message. */
const char *testutil_loop_unavailable(void);

/* Skip the running test, printing "skip: <what>: <reason>", unless this
 * process is root (testutil_require_root) or may also attach loop devices
 * (testutil_require_loop). what names the tests, e.g. "mount tests". */
void testutil_require_root(const char *what);
void testutil_require_loop(const char *what);

/* Makes a fresh directory <base>/dynvol-<name>-XXXXXX and writes its path
 * into out (len bytes). Returns 0, or -1 with errno set (ENAMETOOLONG when
 * the path does not fit); the caller removes the directory. */
int testutil_mkdtemp(char *out, size_t len, const char *base, const char *name);

/* sys_loop_detach, retried for up to five seconds while the device is
 * busy: udev, where it runs, opens a device for a moment after changes.
 * Returns what the last sys_loop_detach returned. */
int testutil_loop_detach_retry(const char *dev);

#endif
