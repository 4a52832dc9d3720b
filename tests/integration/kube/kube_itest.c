/*
 * kube_itest.c - drives the src/kube client library against a live API
 * server for tests/integration/kube/test_kube_client.py. One scenario per
 * subcommand; results are lines on stdout ("ok ...", event lines), and
 * the interactive scenarios (informer, lease) take commands on stdin so
 * the test can change the server (kubectl, restarts) in between.
 *
 *   kube_itest crud KUBECONFIG NS
 *   kube_itest informer KUBECONFIG NS
 *   kube_itest lease KUBECONFIG NS NAME IDENTITY
 *   kube_itest events KUBECONFIG NS
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "events.h"
#include "informer.h"
#include "kubeconfig.h"
#include "lease.h"
#include "log.h"

#define CHECK(cond, ...)                                                           \
	do {                                                                       \
		if (!(cond)) {                                                     \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);               \
			printf(__VA_ARGS__);                                       \
			printf("\n");                                              \
			fflush(stdout);                                            \
			exit(1);                                                   \
		}                                                                  \
	} while (0)

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&out_lock);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	va_end(ap);
}

static kube_client *connect_client(const char *kubeconfig)
{
	kube_config *cfg;
	char err[256];
	int r = kube_config_load(kubeconfig, NULL, &cfg, err, sizeof(err));
	CHECK(r == 0, "kubeconfig: %s", err);
	kube_client *c;
	kube_client_opts o = { .qps = 500, .burst = 1000, .timeout_ms = 10000 };
	CHECK(kube_client_new(cfg, &o, &c) == 0, "client");
	kube_config_free(cfg);
	return c;
}

static void ensure_namespace(kube_client *c, const char *ns)
{
	kube_response resp = { 0 };
	json_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
				"metadata", "name", ns);
	int r = kube_create(c, &KUBE_NAMESPACES, NULL, obj, &resp);
	CHECK(r == 201 || r == 409, "create namespace: %d %s", r, resp.message);
	json_decref(obj);
	kube_response_clear(&resp);
}

/* --- crud ---------------------------------------------------------- */

typedef struct {
	kube_client *c;
	const char *ns;
	int done;
} incr_arg;

static int increment(json_t *obj, void *payload)
{
	(void)payload;
	json_t *data = json_object_get(obj, "data");
	long n = atol(json_string_value(json_object_get(data, "n")));
	char buf[32];
	snprintf(buf, sizeof(buf), "%ld", n + 1);
	json_object_set_new(data, "n", json_string(buf));
	return 0;
}

static void *incr_main(void *arg)
{
	incr_arg *a = arg;
	for (int i = 0; i < 10; i++) {
		kube_response resp = { 0 };
		int r = kube_update_retry(a->c, &KUBE_CONFIGMAPS, a->ns, "counter", false, 50,
					  increment, NULL, &resp);
		if (r == 200)
			a->done++;
		else
			say("increment failed: %d %s", r, resp.message);
		kube_response_clear(&resp);
	}
	return NULL;
}

static int scenario_crud(const char *kubeconfig, const char *ns)
{
	kube_client *c = connect_client(kubeconfig);
	ensure_namespace(c, ns);
	kube_response resp = { 0 };
	json_t *cm = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
			       "ConfigMap", "metadata", "name", "one", "data", "a", "1");
	int r = kube_create(c, &KUBE_CONFIGMAPS, ns, cm, &resp);
	CHECK(r == 201, "create: %d %s", r, resp.message);
	r = kube_create(c, &KUBE_CONFIGMAPS, ns, cm, &resp);
	CHECK(r == 409 && strcmp(resp.reason, "AlreadyExists") == 0, "second create: %d %s", r,
	      resp.reason);
	say("ok create 201 then 409 %s", resp.reason);
	r = kube_get(c, &KUBE_CONFIGMAPS, ns, "one", &resp);
	CHECK(r == 200, "get: %d", r);
	json_t *stale = json_deep_copy(resp.body);
	json_t *upd = json_deep_copy(resp.body);
	json_object_set_new(json_object_get(upd, "data"), "a", json_string("2"));
	r = kube_update(c, &KUBE_CONFIGMAPS, ns, upd, &resp);
	CHECK(r == 200, "update: %d %s", r, resp.message);
	json_object_set_new(json_object_get(stale, "data"), "a", json_string("3"));
	r = kube_update(c, &KUBE_CONFIGMAPS, ns, stale, &resp);
	CHECK(r == 409 && strcmp(resp.reason, "Conflict") == 0, "stale update: %d", r);
	say("ok stale update 409 Conflict");
	json_decref(stale);
	json_decref(upd);

	json_t *mp = json_pack("{s:{s:s}}", "data", "b", "merge");
	r = kube_patch(c, &KUBE_CONFIGMAPS, ns, "one", NULL, KUBE_PATCH_MERGE, mp, &resp);
	CHECK(r == 200, "merge patch: %d %s", r, resp.message);
	json_decref(mp);
	json_t *jp = json_pack("[{s:s, s:s, s:s}]", "op", "add", "path", "/data/c", "value", "json");
	r = kube_patch(c, &KUBE_CONFIGMAPS, ns, "one", NULL, KUBE_PATCH_JSON, jp, &resp);
	CHECK(r == 200, "json patch: %d %s", r, resp.message);
	json_decref(jp);
	json_t *sp = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "k", "strategic");
	r = kube_patch(c, &KUBE_CONFIGMAPS, ns, "one", NULL, KUBE_PATCH_STRATEGIC, sp, &resp);
	CHECK(r == 200, "strategic patch: %d %s", r, resp.message);
	json_decref(sp);
	json_t *data = json_object_get(resp.body, "data");
	CHECK(strcmp(json_string_value(json_object_get(data, "a")), "2") == 0 &&
		      strcmp(json_string_value(json_object_get(data, "b")), "merge") == 0 &&
		      json_object_get(data, "c") &&
		      strcmp(json_string_value(json_object_get(data, "c")), "json") == 0 &&
		      strcmp(json_string_value(json_object_get(json_object_get(
				     json_object_get(resp.body, "metadata"), "labels"), "k")),
			     "strategic") == 0,
	      "patched data");
	say("ok patches merge json strategic");

	/* Status subresource: a PVC's status is written only through /status. */
	json_t *pvc = json_pack("{s:s, s:s, s:{s:s}, s:{s:[s], s:{s:{s:s}}, s:s}}", "apiVersion",
				"v1", "kind", "PersistentVolumeClaim", "metadata", "name", "claim",
				"spec", "accessModes", "ReadWriteOnce", "resources", "requests",
				"storage", "1Gi", "storageClassName", "");
	r = kube_create(c, &KUBE_PVCS, ns, pvc, &resp);
	CHECK(r == 201, "create pvc: %d %s", r, resp.message);
	json_decref(pvc);
	json_t *st = json_deep_copy(resp.body);
	json_object_set_new(st, "status", json_pack("{s:s}", "phase", "Lost"));
	r = kube_update_status(c, &KUBE_PVCS, ns, st, &resp);
	CHECK(r == 200, "update status: %d %s", r, resp.message);
	json_decref(st);
	r = kube_get(c, &KUBE_PVCS, ns, "claim", &resp);
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(resp.body, "status"),
						       "phase")), "Lost") == 0, "status phase");
	say("ok status subresource");

	/* Conflict retry: 8 threads x 10 increments of one counter. */
	json_t *counter = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
				    "ConfigMap", "metadata", "name", "counter", "data", "n", "0");
	r = kube_create(c, &KUBE_CONFIGMAPS, ns, counter, &resp);
	CHECK(r == 201, "create counter: %d", r);
	json_decref(counter);
	pthread_t t[8];
	incr_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i] = (incr_arg){ .c = c, .ns = ns };
		pthread_create(&t[i], NULL, incr_main, &args[i]);
	}
	int total = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		total += args[i].done;
	}
	r = kube_get(c, &KUBE_CONFIGMAPS, ns, "counter", &resp);
	const char *n = json_string_value(json_object_get(json_object_get(resp.body, "data"), "n"));
	kube_client_stats stats;
	kube_client_get_stats(c, &stats);
	CHECK(total == 80 && strcmp(n, "80") == 0, "counter %s after %d increments", n, total);
	say("ok conflict retry counter=%s retries=%llu", n,
	    (unsigned long long)stats.conflict_retries);

	r = kube_delete(c, &KUBE_CONFIGMAPS, ns, "one", NULL, &resp);
	CHECK(r == 200, "delete: %d", r);
	r = kube_get(c, &KUBE_CONFIGMAPS, ns, "one", &resp);
	CHECK(r == 404 && strcmp(resp.reason, "NotFound") == 0, "get deleted: %d", r);
	say("ok delete then 404 %s", resp.message);

	/* Keep-alive: 100 sequential requests open no new connection. */
	kube_client_get_stats(c, &stats);
	uint64_t before = stats.connects;
	for (int i = 0; i < 100; i++)
		kube_get(c, &KUBE_CONFIGMAPS, ns, "counter", &resp);
	kube_client_get_stats(c, &stats);
	CHECK(stats.connects - before <= 1, "100 requests opened %llu connections",
	      (unsigned long long)(stats.connects - before));
	say("ok keepalive 100 requests %llu new connections, %llu total requests, %llu connections",
	    (unsigned long long)(stats.connects - before), (unsigned long long)stats.requests,
	    (unsigned long long)stats.connects);
	kube_response_clear(&resp);
	json_decref(cm);
	kube_client_free(c);
	return 0;
}

/* --- informer ------------------------------------------------------ */

static void print_key(const char *what, const json_t *obj)
{
	char key[512];
	if (kube_object_key(obj, key, sizeof(key)) == 0)
		say("%s %s", what, key);
}

static void on_add(const json_t *obj, void *p)
{
	(void)p;
	print_key("ADD", obj);
}

static void on_update(const json_t *o, const json_t *n, void *p)
{
	(void)p;
	(void)o;
	print_key("UPDATE", n);
}

static void on_delete(const json_t *obj, void *p)
{
	(void)p;
	print_key("DELETE", obj);
}

/* Keeps metadata.name/namespace/resourceVersion and data.class only. */
static json_t *trim_cm(json_t *obj, void *p)
{
	(void)p;
	json_t *meta = json_object_get(obj, "metadata");
	json_t *out = json_pack("{s:{s:O*, s:O*, s:O*}}", "metadata", "name",
				json_object_get(meta, "name"), "namespace",
				json_object_get(meta, "namespace"), "resourceVersion",
				json_object_get(meta, "resourceVersion"));
	json_t *cls = json_object_get(json_object_get(obj, "data"), "class");
	if (out && cls)
		json_object_set_new(out, "data", json_pack("{s:O}", "class", cls));
	return out;
}

static int index_class(const json_t *obj, char *out, size_t len, void *p)
{
	(void)p;
	const char *cls = json_string_value(json_object_get(json_object_get(obj, "data"), "class"));
	if (!cls)
		return 0;
	snprintf(out, len, "%s", cls);
	return 1;
}

static int scenario_informer(const char *kubeconfig, const char *ns)
{
	kube_client *c = connect_client(kubeconfig);
	ensure_namespace(c, ns);
	kube_informer_opts o = {
		.resource = &KUBE_CONFIGMAPS,
		.namespace = ns,
		.page_size = 7,
		.trim = trim_cm,
		.handlers = { on_add, on_update, on_delete, NULL },
		.backoff_initial_ns = 100LL * 1000000,
		.backoff_max_ns = 2LL * 1000000000,
	};
	kube_informer *inf;
	CHECK(kube_informer_new(c, &o, &inf) == 0, "informer");
	CHECK(kube_informer_add_index(inf, "class", index_class, NULL) == 0, "index");
	CHECK(kube_informer_start(inf) == 0, "start");
	CHECK(kube_informer_wait_synced(inf, 10000), "sync");
	say("SYNCED %zu", kube_informer_count(inf));
	char line[1024];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "quit") == 0)
			break;
		if (strcmp(line, "count") == 0) {
			say("COUNT %zu", kube_informer_count(inf));
		} else if (strncmp(line, "get ", 4) == 0) {
			json_t *obj = kube_informer_get(inf, ns, line + 4);
			char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
			say("GOT %s", s ? s : "null");
			free(s);
			json_decref(obj);
		} else if (strncmp(line, "index ", 6) == 0) {
			json_t *arr = kube_informer_by_index(inf, "class", line + 6);
			say("INDEX %zu", json_array_size(arr));
			json_decref(arr);
		} else if (strcmp(line, "stats") == 0) {
			kube_informer_stats st;
			kube_informer_get_stats(inf, &st);
			say("STATS lists=%llu watches=%llu expired=%llu reconnects=%llu events=%llu rv=%s",
			    (unsigned long long)st.lists, (unsigned long long)st.watches,
			    (unsigned long long)st.expired, (unsigned long long)st.reconnects,
			    (unsigned long long)st.events, st.resource_version);
		}
	}
	kube_informer_free(inf);
	kube_client_free(c);
	say("BYE");
	return 0;
}

/* --- lease --------------------------------------------------------- */

static void started(void *p)
{
	say("LEADING %s", (const char *)p);
}

static void stopped(void *p)
{
	say("STOPPED %s", (const char *)p);
}

static void new_leader(const char *id, void *p)
{
	(void)p;
	say("LEADER %s", id);
}

static int scenario_lease(const char *kubeconfig, const char *ns, const char *name,
			  const char *id)
{
	kube_client *c = connect_client(kubeconfig);
	ensure_namespace(c, ns);
	kube_leader_opts o = {
		.namespace = ns,
		.name = name,
		.identity = id,
		.lease_duration_ns = 3LL * 1000000000,
		.renew_deadline_ns = 2LL * 1000000000,
		.retry_period_ns = 300LL * 1000000,
		.on_started_leading = started,
		.on_stopped_leading = stopped,
		.on_new_leader = new_leader,
		.payload = (void *)id,
	};
	kube_leader *l;
	CHECK(kube_leader_start(c, &o, &l) == 0, "leader");
	say("READY %s", id);
	char line[256];
	while (fgets(line, sizeof(line), stdin)) {
		if (strncmp(line, "quit", 4) == 0)
			break;
		if (strncmp(line, "status", 6) == 0)
			say("IS %s %d", id, kube_leader_is_leader(l));
	}
	kube_leader_stop(l);
	kube_client_free(c);
	say("BYE %s", id);
	return 0;
}

/* --- events -------------------------------------------------------- */

static int scenario_events(const char *kubeconfig, const char *ns)
{
	kube_client *c = connect_client(kubeconfig);
	ensure_namespace(c, ns);
	kube_response resp = { 0 };
	json_t *cm = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
				"metadata", "name", "target");
	int r = kube_create(c, &KUBE_CONFIGMAPS, ns, cm, &resp);
	CHECK(r == 201 || r == 409, "create target: %d", r);
	json_decref(cm);
	r = kube_get(c, &KUBE_CONFIGMAPS, ns, "target", &resp);
	CHECK(r == 200, "get target");
	kube_recorder *rec;
	CHECK(kube_recorder_new(c, "dynvol-itest", "itest-host", &rec) == 0, "recorder");
	for (int i = 0; i < 5; i++)
		kube_event_on(rec, resp.body, "ConfigMap", "v1", KUBE_EVENT_NORMAL, "Repeated",
			      "the same thing happened");
	kube_event_on(rec, resp.body, "ConfigMap", "v1", KUBE_EVENT_WARNING, "Other",
		      "something else happened");
	CHECK(kube_recorder_flush(rec, 10000), "flush");
	kube_recorder_stats st;
	kube_recorder_get_stats(rec, &st);
	say("ok events created=%llu aggregated=%llu dropped=%llu failed=%llu",
	    (unsigned long long)st.created, (unsigned long long)st.aggregated,
	    (unsigned long long)st.dropped, (unsigned long long)st.failed);
	kube_recorder_free(rec);
	kube_response_clear(&resp);
	kube_client_free(c);
	return 0;
}

int main(int argc, char **argv)
{
	dv_log_set_level(DV_LOG_WARN);
	if (argc >= 4 && strcmp(argv[1], "crud") == 0)
		return scenario_crud(argv[2], argv[3]);
	if (argc >= 4 && strcmp(argv[1], "informer") == 0)
		return scenario_informer(argv[2], argv[3]);
	if (argc >= 6 && strcmp(argv[1], "lease") == 0)
		return scenario_lease(argv[2], argv[3], argv[4], argv[5]);
	if (argc >= 4 && strcmp(argv[1], "events") == 0)
		return scenario_events(argv[2], argv[3]);
	fprintf(stderr, "usage: kube_itest crud|informer|lease|events KUBECONFIG NS [NAME ID]\n");
	return 64;
}
