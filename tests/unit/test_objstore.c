/*
 * test_objstore.c - the API server's object store: compare-and-swap
 * writes, group commit, durability across reopen, lists with a consistent
 * resourceVersion, and the watch history (410 past it).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "apiserver/objstore.h"
#include "testutil.h"

static char dir[256], db[300];

static int setup(void **state)
{
	assert_int_equal(testutil_mkdtemp(dir, sizeof dir, "/tmp", "objstore"), 0);
	snprintf(db, sizeof db, "%s/a.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char p[400];
	const char *files[] = { "a.db", "a.db-wal", "a.db-shm" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

static dv_objstore *open_store(size_t history)
{
	dv_objstore *st = NULL;
	char err[256];
	assert_int_equal(dv_objstore_open(db, history, &st, err, sizeof err), 0);
	return st;
}

static json_t *cm(const char *name, const char *v)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
			 "ConfigMap", "metadata", "name", name, "namespace", "default", "data", "v", v);
}

static int put(dv_objstore *st, dv_os_op op, const char *name, const char *v, uint64_t expect,
	       uint64_t *rv)
{
	json_t *o = cm(name, v);
	dv_os_write w = { .op = op, .res = "/configmaps", .ns = "default", .name = name,
			  .expect_rv = expect, .obj = o };
	int r = dv_objstore_write(st, &w);
	if (rv)
		*rv = w.rv;
	free(w.body);
	json_decref(o);
	return r;
}

static void test_cas(void **state)
{
	dv_objstore *st = open_store(64);
	uint64_t rv1, rv2, rv3;
	assert_int_equal(put(st, DV_OS_CREATE, "a", "1", 0, &rv1), 0);
	assert_int_equal(put(st, DV_OS_CREATE, "a", "1", 0, NULL), -EEXIST);
	assert_int_equal(put(st, DV_OS_UPDATE, "b", "1", 0, NULL), -ENOENT);
	assert_int_equal(put(st, DV_OS_UPDATE, "a", "2", rv1, &rv2), 0);
	assert_true(rv2 > rv1);
	/* a stale precondition changes nothing */
	assert_int_equal(put(st, DV_OS_UPDATE, "a", "3", rv1, NULL), -ESTALE);
	char *body = NULL;
	uint64_t rv;
	assert_int_equal(dv_objstore_get(st, "/configmaps", "default", "a", &body, &rv), 0);
	assert_int_equal(rv, rv2);
	assert_non_null(strstr(body, "\"v\":\"2\""));
	char want[64];
	snprintf(want, sizeof want, "\"resourceVersion\":\"%llu\"", (unsigned long long)rv2);
	assert_non_null(strstr(body, want));
	free(body);
	assert_int_equal(put(st, DV_OS_DELETE, "a", "2", rv2, &rv3), 0);
	assert_int_equal(dv_objstore_get(st, "/configmaps", "default", "a", &body, &rv), -ENOENT);
	assert_int_equal(dv_objstore_rv(st), rv3);
	dv_objstore_close(st);
}

typedef struct {
	dv_objstore *st;
	int id, n, failed;
} writer_arg;

static void *writer(void *p)
{
	writer_arg *a = p;
	for (int i = 0; i < a->n; i++) {
		char name[64];
		snprintf(name, sizeof name, "w%d-%d", a->id, i);
		if (put(a->st, DV_OS_CREATE, name, "x", 0, NULL) != 0)
			a->failed++;
	}
	return NULL;
}

/* 16 concurrent writers share transactions (and so fsyncs); every write
 * is there after the store is closed and opened again. */
static void test_group_commit_and_durability(void **state)
{
	enum { THREADS = 16, PER = 100 };
	dv_objstore *st = open_store(64);
	uint64_t c0 = dv_objstore_commits(st);
	pthread_t t[THREADS];
	writer_arg a[THREADS];
	for (int i = 0; i < THREADS; i++) {
		a[i] = (writer_arg){ st, i, PER, 0 };
		pthread_create(&t[i], NULL, writer, &a[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].failed, 0);
	}
	uint64_t commits = dv_objstore_commits(st) - c0;
	printf("# %d writes in %llu commits\n", THREADS * PER, (unsigned long long)commits);
	assert_true(commits < THREADS * PER);
	uint64_t rv = dv_objstore_rv(st);
	dv_objstore_close(st);

	st = open_store(64);
	assert_int_equal(dv_objstore_rv(st), rv);
	assert_int_equal(dv_objstore_count(st, "/configmaps"), THREADS * PER);
	dv_objstore_close(st);
}

typedef struct {
	int n;
	char last[64];
} list_ctx;

static int each(void *vctx, const char *ns, const char *name, const char *body, size_t len)
{
	list_ctx *c = vctx;
	assert_true(strcmp(name, c->last) > 0);
	snprintf(c->last, sizeof c->last, "%s", name);
	return ++c->n == 3;
}

static void test_list_pages_in_key_order(void **state)
{
	dv_objstore *st = open_store(64);
	const char *names[] = { "d", "a", "c", "e", "b" };
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(put(st, DV_OS_CREATE, names[i], "x", 0, NULL), 0);
	list_ctx c = { 0, "" };
	uint64_t rv = 0;
	assert_int_equal(dv_objstore_list(st, "/configmaps", "default", NULL, NULL, each, &c, &rv), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.last, "c");
	assert_int_equal(rv, dv_objstore_rv(st));
	/* the next page starts after the last key */
	list_ctx c2 = { 0, "c" };
	assert_int_equal(dv_objstore_list(st, "/configmaps", "default", "default", "c", each, &c2,
					  &rv), 0);
	assert_int_equal(c2.n, 2);
	assert_string_equal(c2.last, "e");
	dv_objstore_close(st);
}

static void test_watch_history(void **state)
{
	dv_objstore *st = open_store(16);
	uint64_t rv0 = dv_objstore_rv(st);
	dv_watch *w = NULL;
	assert_int_equal(dv_objstore_watch(st, "/configmaps", "default", rv0, &w), 0);
	uint64_t rv1, rv2;
	assert_int_equal(put(st, DV_OS_CREATE, "x", "1", 0, &rv1), 0);
	assert_int_equal(put(st, DV_OS_UPDATE, "x", "2", 0, &rv2), 0);
	dv_event *ev = NULL;
	uint64_t seen;
	assert_int_equal(dv_watch_next(w, 1000, &ev, &seen), 1);
	assert_int_equal(ev->type, DV_EV_ADDED);
	assert_int_equal(ev->rv, rv1);
	assert_null(ev->old_body);
	dv_event_release(ev);
	assert_int_equal(dv_watch_next(w, 1000, &ev, &seen), 1);
	assert_int_equal(ev->type, DV_EV_MODIFIED);
	assert_non_null(strstr(ev->old_body, "\"v\":\"1\""));
	dv_event_release(ev);
	assert_int_equal(dv_watch_next(w, 50, &ev, &seen), 0); /* nothing more */
	assert_int_equal(seen, rv2);
	dv_watch_close(w);

	/* a watch from rv1 resumes with the update */
	assert_int_equal(dv_objstore_watch(st, "/configmaps", NULL, rv1, &w), 0);
	assert_int_equal(dv_watch_next(w, 1000, &ev, &seen), 1);
	assert_int_equal(ev->rv, rv2);
	dv_event_release(ev);
	dv_watch_close(w);

	/* 40 more events push rv1 out of a 16-event history: 410 */
	for (int i = 0; i < 40; i++)
		assert_int_equal(put(st, DV_OS_UPDATE, "x", "n", 0, NULL), 0);
	assert_int_equal(dv_objstore_watch(st, "/configmaps", NULL, rv1, &w), -ERANGE);
	/* and a watcher that did not read falls behind */
	uint64_t now = dv_objstore_rv(st);
	assert_int_equal(dv_objstore_watch(st, "/configmaps", NULL, now, &w), 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(put(st, DV_OS_UPDATE, "x", "m", 0, NULL), 0);
	assert_int_equal(dv_watch_next(w, 100, &ev, &seen), -EOVERFLOW);
	dv_watch_close(w);
	uint64_t last = dv_objstore_rv(st);
	dv_objstore_close(st);

	/* after a restart: the current version resumes, an older one is gone */
	st = open_store(16);
	assert_int_equal(dv_objstore_watch(st, "/configmaps", NULL, last - 1, &w), -ERANGE);
	assert_int_equal(dv_objstore_watch(st, "/configmaps", NULL, last, &w), 0);
	assert_int_equal(put(st, DV_OS_UPDATE, "x", "after", 0, NULL), 0);
	assert_int_equal(dv_watch_next(w, 1000, &ev, &seen), 1);
	assert_int_equal(ev->rv, last + 1);
	dv_event_release(ev);
	dv_watch_close(w);
	dv_objstore_close(st);
}

int main(void)
{
	int fds = testutil_count_open_fds();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_and_durability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_pages_in_key_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_history, setup, teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + testutil_fd_leak(fds);
}
