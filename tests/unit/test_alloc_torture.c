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
#include <errno.h>
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
#include "harness.h"
#include "log.h"
#include "pbjson.h"
#include "rpc/client.h"
#include "store/store.h"
#include "sys/spawn.h"

/* Atomic: the RPC path test runs an in-process server, whose event loop
 * and workers allocate while the test's client waits. */
static _Atomic long alloc_count;
static _Atomic long fail_at; /* 0: never */

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

/*
 * A request's whole path: the client packs CreateVolume and DeleteVolume,
 * the in-process server (tests/fuzz/harness.c: Identity + Controller over
 * a `dir` pool) reads them off the socket, the handlers run the store,
 * registry and pool, the replies go back. Whichever allocation fails, on
 * either side, the call must end with a status - never a crash, and never
 * a call the server dropped on the floor (DEADLINE_EXCEEDED) - and the
 * server must go on serving: a clean-up with the failure disarmed leaves
 * no volume behind.
 */
static rpc_client *rpc_cli;

static dv_code rpc_create(const char *name, char *id, size_t len, dv_status *st)
{
	Csi__V1__CreateVolumeRequest req = CSI__V1__CREATE_VOLUME_REQUEST__INIT;
	Csi__V1__VolumeCapability cap = CSI__V1__VOLUME_CAPABILITY__INIT;
	Csi__V1__VolumeCapability__MountVolume mnt = CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
	Csi__V1__VolumeCapability__AccessMode am = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;
	Csi__V1__VolumeCapability *caps[] = { &cap };
	Csi__V1__CapacityRange cr = CSI__V1__CAPACITY_RANGE__INIT;
	ProtobufCMessage *resp = NULL;
	dv_code code;

	am.mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER;
	cap.access_mode = &am;
	cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
	cap.mount = &mnt;
	cr.required_bytes = 1 << 20;
	req.name = (char *)name;
	req.n_volume_capabilities = 1;
	req.volume_capabilities = caps;
	req.capacity_range = &cr;
	code = rpc_client_call(rpc_cli, "/csi.v1.Controller/CreateVolume", &req.base,
			       &csi__v1__create_volume_response__descriptor, &resp, 5000000000LL, st);
	if (code == DV_OK) {
		const Csi__V1__CreateVolumeResponse *r = (const void *)resp;
		snprintf(id, len, "%s", r->volume && r->volume->volume_id ? r->volume->volume_id : "");
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	return code;
}

static dv_code rpc_delete(const char *id, dv_status *st)
{
	Csi__V1__DeleteVolumeRequest req = CSI__V1__DELETE_VOLUME_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	dv_code code;

	req.volume_id = (char *)id;
	code = rpc_client_call(rpc_cli, "/csi.v1.Controller/DeleteVolume", &req.base,
			       &csi__v1__delete_volume_response__descriptor, &resp, 5000000000LL, st);
	if (code == DV_OK)
		protobuf_c_message_free_unpacked(resp, NULL);
	return code;
}

static size_t rpc_volume_count(void)
{
	Csi__V1__ListVolumesRequest req = CSI__V1__LIST_VOLUMES_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	dv_status st = { 0 };
	size_t n = (size_t)-1;

	if (rpc_client_call(rpc_cli, "/csi.v1.Controller/ListVolumes", &req.base,
			    &csi__v1__list_volumes_response__descriptor, &resp, 5000000000LL,
			    &st) == DV_OK) {
		n = ((const Csi__V1__ListVolumesResponse *)resp)->n_entries;
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	dv_status_clear(&st);
	return n;
}

static int run_rpc(void *arg)
{
	char id[128] = "";
	dv_status st = { 0 };
	dv_code code;
	long saved;
	int ret = 0;

	(void)arg;
	code = rpc_create("torture-pvc", id, sizeof(id), &st);
	if (code == DV_OK && *id) {
		dv_status_clear(&st);
		code = rpc_delete(id, &st);
	}
	if (code == DV_DEADLINE_EXCEEDED)
		fail_msg("a call was lost (no answer in 5 s) with allocation %ld failing: %s",
			 (long)fail_at, st.message ? st.message : "");
	if (code != DV_OK)
		ret = -EIO;
	dv_status_clear(&st);

	/* disarmed: the server still serves, and the volume goes */
	saved = fail_at;
	fail_at = 0;
	*id = 0;
	code = rpc_create("torture-pvc", id, sizeof(id), &st);
	if (code != DV_OK)
		fail_msg("the server does not serve after allocation %ld failed: %d %s", saved,
			 code, st.message ? st.message : "");
	dv_status_clear(&st);
	code = rpc_delete(id, &st);
	if (code != DV_OK)
		fail_msg("clean-up delete after allocation %ld failed: %d %s", saved, code,
			 st.message ? st.message : "");
	dv_status_clear(&st);
	if (rpc_volume_count() != 0)
		fail_msg("a volume is left after allocation %ld failed", saved);
	fail_at = saved;
	return ret;
}

static void test_rpc_path(void **state)
{
	char endpoint[160];
	dv_status st = { 0 };

	(void)state;
	snprintf(endpoint, sizeof(endpoint), "unix://%s", harness_socket());
	assert_int_equal(rpc_client_new(&rpc_cli, endpoint, &st), 0);
	torture("rpc CreateVolume+DeleteVolume", run_rpc, NULL, 5000);
	rpc_client_free(rpc_cli);
	rpc_cli = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_pbjson),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_rpc_path),
	};
	dv_log_set_level(DV_LOG_LEVEL_MAX); /* quiet: failures are expected */
	json_set_alloc_funcs(json_alloc, free);
	return cmocka_run_group_tests_name("alloc_torture", tests, NULL, NULL);
}
