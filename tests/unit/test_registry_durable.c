/*
 * Unit tests: the registry's group commit (src/registry/registry.c).
 *
 * A writing call must not return before a sync that began after its
 * commit has finished (else a caller could answer OK for a record a power
 * loss takes back); concurrent writers share syncs; a failed sync fails
 * the call. The sync is replaced by a hook (registry_set_sync_hook) that
 * the test controls; reads never wait for it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "registry/registry.h"
#include "testutil.h"

/* A sync the test holds until it lets it go. */
typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered;       /* syncs begun */
	int finished;      /* syncs ended */
	bool hold;         /* block inside the sync until cleared */
	int fail;          /* return this (-errno) from the next sync */
	unsigned delay_us; /* each sync takes this long */
	_Atomic int in_sync; /* a sync is running now */
	_Atomic int overlap; /* two ran at once (must never happen) */
} gate;

static int gate_sync(void *payload)
{
	gate *g = payload;
	int r;

	if (atomic_fetch_add(&g->in_sync, 1) != 0)
		atomic_store(&g->overlap, 1);
	pthread_mutex_lock(&g->mu);
	g->entered++;
	pthread_cond_broadcast(&g->cv);
	while (g->hold)
		pthread_cond_wait(&g->cv, &g->mu);
	r = g->fail;
	g->fail = 0;
	pthread_mutex_unlock(&g->mu);
	if (g->delay_us)
		usleep(g->delay_us);
	atomic_fetch_sub(&g->in_sync, 1);
	pthread_mutex_lock(&g->mu);
	g->finished++;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	return r;
}

typedef struct {
	char dir[256];
	registry *reg;
	gate g;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char path[300];
	dv_status st = { 0 };

	assert_non_null(f);
	assert_int_equal(testutil_mkdtemp(f->dir, sizeof(f->dir), "/tmp", "regdur"), 0);
	snprintf(path, sizeof(path), "%s/registry.db", f->dir);
	assert_int_equal(registry_open(&f->reg, path, &st), 0);
	pthread_mutex_init(&f->g.mu, NULL);
	pthread_cond_init(&f->g.cv, NULL);
	registry_set_sync_hook(f->reg, gate_sync, &f->g);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	static const char *const files[] = { "registry.db", "registry.db-wal", "registry.db-shm" };
	char path[300];

	registry_close(f->reg);
	pthread_cond_destroy(&f->g.cv);
	pthread_mutex_destroy(&f->g.mu);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
		unlink(path);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Volume number i; name is the caller's buffer for its name. */
static void new_volume(reg_volume *v, int i, char *name, size_t len)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->id, sizeof(v->id), "vol-%032x", i);
	snprintf(name, len, "pvc-%d", i);
	v->name = name;
	snprintf(v->pool, sizeof(v->pool), "default");
	v->capacity = 1 << 20;
}

typedef struct {
	fixture *f;
	int index;
	int rounds;
	_Atomic int done;
	int result;
} writer;

/* Creates a volume and commits it, `rounds` times with fresh volumes. */
static void *write_volumes(void *arg)
{
	writer *w = arg;
	int r = 0;

	for (int k = 0; k < w->rounds && r == 0; k++) {
		reg_volume v;
		char name[32];
		int64_t op;
		new_volume(&v, w->index * 1000 + k, name, sizeof(name));
		r = registry_volume_create_intent(w->f->reg, &v, "create_volume", NULL, &op);
		if (r == 0)
			r = registry_volume_create_commit(w->f->reg, v.id, v.capacity, op);
	}
	w->result = r;
	atomic_store(&w->done, 1);
	return NULL;
}

static void wait_entered(gate *g, int n)
{
	pthread_mutex_lock(&g->mu);
	while (g->entered < n)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void release(gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->hold = false;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* The call is held for as long as its sync is, and returns after it. */
static void test_write_returns_after_its_sync(void **state)
{
	fixture *f = *state;
	writer w = { .f = f, .index = 1, .rounds = 1 };
	pthread_t t;
	reg_volume got;
	char id[REG_ID_MAX];
	uint64_t before = registry_sync_count(f->reg);

	snprintf(id, sizeof(id), "vol-%032x", 1000);
	f->g.hold = true;
	assert_int_equal(pthread_create(&t, NULL, write_volumes, &w), 0);
	wait_entered(&f->g, 1);
	/* committed (a reader sees the record) but not synced: not returned */
	assert_int_equal(registry_volume_get(f->reg, id, &got), 0);
	reg_volume_clear(&got);
	usleep(50 * 1000);
	assert_int_equal(atomic_load(&w.done), 0);
	release(&f->g);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.result, 0);
	/* the intent and the commit each waited for a sync of their own */
	assert_int_equal(f->g.finished, 2);
	assert_int_equal(registry_sync_count(f->reg), before + 2);
}

/* Reads and calls that change nothing do not sync. */
static void test_reads_do_not_sync(void **state)
{
	fixture *f = *state;
	reg_volume v;
	uint64_t before = registry_sync_count(f->reg);

	assert_int_equal(registry_volume_get(f->reg, "vol-00000000000000000000000000000009", &v),
			 -ENOENT);
	assert_int_equal(registry_volume_set_state(f->reg, "vol-00000000000000000000000000000009",
						   REG_STATE_READY),
			 -ENOENT);
	assert_int_equal(registry_stage_remove(f->reg, "vol-00000000000000000000000000000009"), 0);
	assert_int_equal(registry_sync_count(f->reg), before);
}

/* 16 writers, each sync slow: far fewer syncs than commits, never two at
 * once, and every call returns only after a sync that began after its
 * commit (checked by the first test; here: that all complete). */
static void test_concurrent_writers_share_syncs(void **state)
{
	enum { N = 16, ROUNDS = 10 };
	fixture *f = *state;
	writer w[N];
	pthread_t t[N];
	reg_volume *vs;
	size_t n;

	f->g.delay_us = 5000;
	for (int i = 0; i < N; i++) {
		w[i] = (writer){ .f = f, .index = i + 1, .rounds = ROUNDS };
		assert_int_equal(pthread_create(&t[i], NULL, write_volumes, &w[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].result, 0);
	}
	assert_int_equal(atomic_load(&f->g.overlap), 0);
	/* 2 * N * ROUNDS commits; with 5 ms syncs most share one */
	printf("# %d commits, %llu syncs\n", 2 * N * ROUNDS,
	       (unsigned long long)registry_sync_count(f->reg));
	assert_true(registry_sync_count(f->reg) < (uint64_t)(N * ROUNDS));
	assert_int_equal(registry_volume_list(f->reg, 0, 1000, &vs, &n), 0);
	assert_int_equal(n, N * ROUNDS);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(vs[i].state, REG_STATE_READY);
	registry_volumes_free(vs, n);
}

/* A failed sync fails the call that waited for it: its caller must not
 * answer OK. The next call syncs again. */
static void test_failed_sync_fails_the_call(void **state)
{
	fixture *f = *state;
	reg_volume v;
	char name[32];
	int64_t op;

	new_volume(&v, 7, name, sizeof(name));
	f->g.fail = -EIO;
	assert_int_equal(registry_volume_create_intent(f->reg, &v, "create_volume", NULL, &op),
			 -EIO);
	assert_int_equal(registry_volume_create_commit(f->reg, v.id, v.capacity, op), 0);
}

/* Without the hook: the real fdatasync of the WAL runs and counts. */
static void test_real_sync(void **state)
{
	fixture *f = *state;
	reg_volume v;
	char name[32];
	int64_t op;
	uint64_t before;

	registry_set_sync_hook(f->reg, NULL, NULL);
	before = registry_sync_count(f->reg);
	new_volume(&v, 8, name, sizeof(name));
	assert_int_equal(registry_volume_create_intent(f->reg, &v, "create_volume", NULL, &op), 0);
	assert_int_equal(registry_sync_count(f->reg), before + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_returns_after_its_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_do_not_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers_share_syncs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_sync_fails_the_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_sync, setup, teardown),
	};
	int fds = testutil_count_open_fds();
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	return failed + testutil_fd_leak(fds);
}
