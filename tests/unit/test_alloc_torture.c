/*
 * Allocation-failure torture (curl's idea): every allocation dynvol's own
 * code makes is failed in turn - the 1st, then the 2nd, ... - while a
 * request path runs, until the path completes without reaching the failing
 * allocation. Each run must end in success or a clean error: no crash, and
 * (under ASan, `make test-asan`) no leak.
 *
 * The test is linked with -Wl,--wrap for malloc, calloc, realloc, strdup,
 * strndup and vasprintf, so only calls from dynvol's objects are counted
 * (libraries allocate for themselves, untouched).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "csi.pb-c.h"
#include "log.h"
#include "pbjson.h"
#include "store/store.h"
#include "sys/spawn.h"

static long alloc_count;
static long fail_at; /* 0: never */

static int should_fail(void)
{
	return fail_at && ++alloc_count == fail_at;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_vasprintf(char **out, const char *fmt, va_list ap);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_vasprintf(char **out, const char *fmt, va_list ap);

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { return should_fail() ? NULL : __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return should_fail() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return should_fail() ? NULL : __real_strndup(s, n); }
int __wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
	if (should_fail()) {
		*out = NULL;
		return -1;
	}
	return __real_vasprintf(out, fmt, ap);
}

/* jansson allocates for pbjson: route it through the same counter. */
static void *json_alloc(size_t n)
{
	return __wrap_malloc(n);
}

/* Runs fn with the n-th allocation failing, for n = 1, 2, ... until fn no
 * longer reaches it. fn returns 0 on success or a negative errno. */
static void torture(const char *what, int (*fn)(void *), void *arg, long max_n)
{
	long n;

	for (n = 1; n <= max_n; n++) {
		alloc_count = 0;
		fail_at = n;
		int r = fn(arg);
		fail_at = 0;
		if (alloc_count < n) {
			/* the path completed without the failure: done */
			assert_int_equal(r, 0);
			break;
		}
		assert_true(r <= 0);
	}
	printf("# %s: %ld allocation failures survived\n", what, n - 1);
	assert_true(n > 1);
}

static int run_config(void *arg)
{
	const char *text =
		"driverName: csi.example.com\nnodeId: n1\nstateDir: /var/lib/x\n"
		"topology: {zone: a, rack: b}\npathPrefixes: [/var/lib/kubelet, /srv]\n"
		"pools:\n  - name: p1\n    backend: image\n    root: /srv/p1\n"
		"    options: {overcommit: \"2\", fsType: xfs}\n"
		"  - name: p2\n    backend: dir\n    root: /srv/p2\n";
	dv_config *cfg = NULL;
	dv_status st = { 0 };
	int r = dv_config_parse(&cfg, text, strlen(text), "t.yaml", &st);

	if (r == 0)
		dv_config_free(cfg);
	dv_status_clear(&st);
	return r < 0 ? r : 0;
}

static void test_config(void **state)
{
	torture("config", run_config, NULL, 10000);
}

static int run_pbjson(void *arg)
{
	Csi__V1__CreateVolumeRequest req = CSI__V1__CREATE_VOLUME_REQUEST__INIT;
	Csi__V1__CreateVolumeRequest__ParametersEntry pe = CSI__V1__CREATE_VOLUME_REQUEST__PARAMETERS_ENTRY__INIT;
	Csi__V1__CreateVolumeRequest__ParametersEntry *pep = &pe;
	Csi__V1__CapacityRange cap = CSI__V1__CAPACITY_RANGE__INIT;
	char *s;

	req.name = "pvc";
	pe.key = "pool";
	pe.value = "p1";
	req.n_parameters = 1;
	req.parameters = &pep;
	cap.required_bytes = 1 << 20;
	req.capacity_range = &cap;
	s = pbjson_dumps(&req.base, JSON_COMPACT);
	if (!s)
		return -12;
	free(s);
	return 0;
}

static void test_pbjson(void **state)
{
	torture("pbjson", run_pbjson, NULL, 1000);
}

/* The controller's data path: open a store over a dir pool, create,
 * snapshot, restore, expand, list, delete - the journal protocol and
 * recovery under allocation failure. */
static int run_store(void *arg)
{
	char dir[] = "/tmp/dvalloc-XXXXXX";
	char root[64], id1[64] = "", id2[64] = "", sid[64] = "";
	long saved = fail_at;
	dv_config cfg = { 0 };
	dv_pool_config pc = { 0 };
	store *s = NULL;
	dv_status st = { 0 };
	reg_volume v = { 0 };
	reg_snapshot sn = { 0 };
	uint64_t capb;
	int r, ret = 0;

	fail_at = 0; /* set-up outside the tortured path */
	if (!mkdtemp(dir))
		return -5;
	snprintf(root, sizeof(root), "%s/pool", dir);
	mkdir(root, 0700);
	pc.name = (char *)"p";
	pc.backend = (char *)"dir";
	pc.root = root;
	cfg.pools = &pc;
	cfg.n_pools = 1;
	fail_at = saved;

	r = store_open(&s, &cfg, dir, &st);
	if (r < 0) {
		ret = r;
		goto out;
	}
	store_volume_request req = { .name = "pvc-1", .required = 1 << 20, .parameters = "{}" };
	r = store_volume_create(s, &req, &v, &st);
	if (r == 0)
		snprintf(id1, sizeof(id1), "%s", v.id);
	reg_volume_clear(&v);
	if (r < 0)
		ret = r;
	if (*id1) {
		r = store_snapshot_create(s, "snap-1", id1, &sn, &st);
		if (r == 0)
			snprintf(sid, sizeof(sid), "%s", sn.id);
		reg_snapshot_clear(&sn);
		if (r < 0)
			ret = r;
		dv_status_clear(&st);
		r = store_volume_expand(s, id1, 2 << 20, 0, &capb, &st);
		if (r < 0)
			ret = r;
		dv_status_clear(&st);
	}
	if (*sid) {
		store_volume_request rr = { .name = "pvc-2", .parameters = "{}",
					    .source_kind = REG_SOURCE_SNAPSHOT, .source_id = sid };
		r = store_volume_create(s, &rr, &v, &st);
		if (r == 0)
			snprintf(id2, sizeof(id2), "%s", v.id);
		reg_volume_clear(&v);
		if (r < 0)
			ret = r;
		dv_status_clear(&st);
	}
	reg_volume *vs = NULL;
	size_t n = 0;
	r = registry_volume_list(store_registry(s), 0, 100, &vs, &n);
	registry_volumes_free(vs, n);
	if (r < 0)
		ret = r;
	/* tear down with the failure disarmed: what is left must go */
	saved = fail_at;
	fail_at = 0;
	if (*sid)
		store_snapshot_delete(s, sid, &st);
	dv_status_clear(&st);
	if (*id2)
		store_volume_delete(s, id2, &st);
	dv_status_clear(&st);
	if (*id1)
		store_volume_delete(s, id1, &st);
	dv_status_clear(&st);
	fail_at = saved;
out:
	saved = fail_at;
	fail_at = 0;
	store_close(s);
	dv_status_clear(&st);
	const char *argv[] = { "/bin/rm", "-rf", "--", dir, NULL };
	sys_spawn(argv, NULL, 0, 10000);
	fail_at = saved;
	return ret;
}

static void test_store(void **state)
{
	torture("store", run_store, NULL, 5000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_pbjson),
		cmocka_unit_test(test_store),
	};
	dv_log_set_level(DV_LOG_LEVEL_MAX); /* quiet: failures are expected */
	json_set_alloc_funcs(json_alloc, free);
	return cmocka_run_group_tests_name("alloc_torture", tests, NULL, NULL);
}
