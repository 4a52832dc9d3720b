/*
 * Unit tests: group sync rounds (src/sys/syncgroup.c), the primitive under
 * the registry's group commit and the pools' directory syncs.
 *
 * What a caller relies on: sys_syncgroup_wait returns 0 only after a
 * successful round that began after its ticket (or that said it covered
 * it); a failed round fails every ticket it covered, and no later round
 * vouches for them; tickets marked failed (a rolled-back batch) fail.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include "sys/syncgroup.h"
#include "testutil.h"

typedef struct {
	sys_syncgroup g;
	_Atomic int rounds;
	_Atomic int running;
	_Atomic int overlap;
	int fail_next;          /* the next round returns this */
	uint64_t raise_to;      /* the next round covers up to here */
	unsigned delay_us;
} fixture;

static int sync_fn(void *payload, uint64_t *covered)
{
	fixture *f = payload;
	int r = f->fail_next;

	if (atomic_fetch_add(&f->running, 1))
		atomic_store(&f->overlap, 1);
	atomic_fetch_add(&f->rounds, 1);
	if (f->delay_us)
		usleep(f->delay_us);
	if (f->raise_to > *covered)
		*covered = f->raise_to;
	f->raise_to = 0;
	f->fail_next = 0;
	atomic_fetch_sub(&f->running, 1);
	return r;
}

static int setup(void **state)
{
	static fixture f;

	f = (fixture){ 0 };
	sys_syncgroup_init(&f.g);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	sys_syncgroup_destroy(&f->g);
	return 0;
}

/* A lone writer: one round per ticket, none for nothing. */
static void test_one_round_per_lone_writer(void **state)
{
	fixture *f = *state;

	for (int i = 0; i < 5; i++)
		assert_int_equal(sys_syncgroup_sync(&f->g, sync_fn, f), 0);
	assert_int_equal(atomic_load(&f->rounds), 5);
	assert_int_equal(sys_syncgroup_rounds(&f->g), 5);
	/* a ticket already covered needs no round */
	assert_int_equal(sys_syncgroup_wait(&f->g, 3, sync_fn, f), 0);
	assert_int_equal(atomic_load(&f->rounds), 5);
}

typedef struct {
	fixture *f;
	int n;
	int failures;
} worker;

static void *work(void *arg)
{
	worker *w = arg;

	for (int i = 0; i < w->n; i++)
		if (sys_syncgroup_sync(&w->f->g, sync_fn, w->f) < 0)
			w->failures++;
	return NULL;
}

/* Many writers: rounds are shared and never overlap. */
static void test_writers_share_rounds(void **state)
{
	enum { N = 16, EACH = 20 };
	fixture *f = *state;
	pthread_t t[N];
	worker w[N];

	f->delay_us = 2000;
	for (int i = 0; i < N; i++) {
		w[i] = (worker){ .f = f, .n = EACH };
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(atomic_load(&f->overlap), 0);
	assert_true(atomic_load(&f->rounds) < N * EACH / 2);
}

/* A failed round fails its tickets for good; later tickets sync again. */
static void test_failed_round_is_never_vouched_for(void **state)
{
	fixture *f = *state;
	uint64_t t1 = sys_syncgroup_ticket(&f->g);
	uint64_t t2;

	f->fail_next = -EIO;
	assert_int_equal(sys_syncgroup_wait(&f->g, t1, sync_fn, f), -EIO);
	/* a later round succeeds and covers more, but not t1 */
	t2 = sys_syncgroup_ticket(&f->g);
	assert_int_equal(sys_syncgroup_wait(&f->g, t2, sync_fn, f), 0);
	assert_int_equal(sys_syncgroup_wait(&f->g, t1, sync_fn, f), -EIO);
}

/* A round may say it covered tickets handed out after it began. */
static void test_round_may_cover_more(void **state)
{
	fixture *f = *state;
	uint64_t t1 = sys_syncgroup_ticket(&f->g);
	int before;

	f->raise_to = t1 + 2;
	assert_int_equal(sys_syncgroup_wait(&f->g, t1, sync_fn, f), 0);
	before = atomic_load(&f->rounds);
	/* the next two tickets are covered already: no round for them */
	assert_int_equal(sys_syncgroup_sync(&f->g, sync_fn, f), 0);
	assert_int_equal(sys_syncgroup_sync(&f->g, sync_fn, f), 0);
	assert_int_equal(atomic_load(&f->rounds), before);
	assert_int_equal(sys_syncgroup_sync(&f->g, sync_fn, f), 0);
	assert_int_equal(atomic_load(&f->rounds), before + 1);
}

/* Tickets marked failed (their changes were lost) fail; others do not. */
static void test_marked_failed(void **state)
{
	fixture *f = *state;
	uint64_t t1 = sys_syncgroup_ticket(&f->g);
	uint64_t t2 = sys_syncgroup_ticket(&f->g);
	uint64_t t3;

	sys_syncgroup_fail(&f->g, t2, -ENOSPC);
	t3 = sys_syncgroup_ticket(&f->g);
	assert_int_equal(sys_syncgroup_wait(&f->g, t1, sync_fn, f), -ENOSPC);
	assert_int_equal(sys_syncgroup_wait(&f->g, t2, sync_fn, f), -ENOSPC);
	assert_int_equal(sys_syncgroup_wait(&f->g, t3, sync_fn, f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_round_per_lone_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writers_share_rounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_round_is_never_vouched_for, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_round_may_cover_more, setup, teardown),
		cmocka_unit_test_setup_teardown(test_marked_failed, setup, teardown),
	};
	int fds = testutil_count_open_fds();
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	return failed + testutil_fd_leak(fds);
}
