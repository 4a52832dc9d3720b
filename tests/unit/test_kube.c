/* Unit tests for src/kube's pure parts: kubeconfig parsing (files, data,
 * contexts, in-cluster), base64, the token bucket and backoff, the work
 * queue (fake clock: backoff, de-duplication, one worker per key), the
 * string map and secret redaction. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kubeconfig.h"
#include "map.h"
#include "ratelimit.h"
#include "redact.h"
#include "workqueue.h"
#include "testutil.h"

#define SEC 1000000000LL

static void write_file(const char *dir, const char *name, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void rm_dir(const char *dir, const char *const *names)
{
	char p[512];
	for (; *names; names++) {
		snprintf(p, sizeof(p), "%s/%s", dir, *names);
		unlink(p);
	}
	rmdir(dir);
}

/* "hello CA" and "tok-secret" in base64. */
static const char *KUBECONFIG_TEXT =
	"apiVersion: v1\n"
	"kind: Config\n"
	"current-context: one\n"
	"clusters:\n"
	"- name: c1\n"
	"  cluster:\n"
	"    server: https://127.0.0.1:6443/\n"
	"    certificate-authority-data: aGVsbG8gQ0E=\n"
	"- name: c2\n"
	"  cluster:\n"
	"    server: https://10.0.0.1\n"
	"    insecure-skip-tls-verify: true\n"
	"    certificate-authority: ca.pem\n"
	"users:\n"
	"- name: u1\n"
	"  user:\n"
	"    token: abc.def\n"
	"- name: u2\n"
	"  user:\n"
	"    tokenFile: tok\n"
	"    client-certificate: cert.pem\n"
	"    client-key-data: a2V5IGJ5dGVz\n"
	"contexts:\n"
	"- name: one\n"
	"  context: {cluster: c1, user: u1}\n"
	"- name: two\n"
	"  context: {cluster: c2, user: u2, namespace: team}\n";

static void test_kubeconfig_current_context(void **state)
{
	kube_config *cfg;
	char err[256] = "";
	int r = kube_config_parse(KUBECONFIG_TEXT, strlen(KUBECONFIG_TEXT), NULL, NULL, &cfg, err,
				  sizeof(err));
	assert_int_equal(r, 0);
	assert_string_equal(cfg->server, "https://127.0.0.1:6443");
	assert_string_equal(cfg->context, "one");
	assert_string_equal(cfg->namespace, "default");
	assert_int_equal(cfg->ca_pem_len, 8);
	assert_memory_equal(cfg->ca_pem, "hello CA", 8);
	assert_string_equal(cfg->token, "abc.def");
	assert_false(cfg->insecure);
	assert_null(cfg->cert_pem);
	kube_config_free(cfg);
}

static void test_kubeconfig_files_relative(void **state)
{
	char dir[256];
	assert_int_equal(testutil_mkdtemp(dir, sizeof(dir), "/tmp", "kubecfg"), 0);
	write_file(dir, "ca.pem", "CA FILE");
	write_file(dir, "cert.pem", "CERT FILE");
	write_file(dir, "tok", "  file-token\n");
	write_file(dir, "config", KUBECONFIG_TEXT);
	char path[512];
	snprintf(path, sizeof(path), "%s/config", dir);
	kube_config *cfg;
	char err[256] = "";
	assert_int_equal(kube_config_load(path, "two", &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->server, "https://10.0.0.1");
	assert_string_equal(cfg->namespace, "team");
	assert_true(cfg->insecure);
	assert_string_equal(cfg->ca_pem, "CA FILE");
	assert_string_equal(cfg->cert_pem, "CERT FILE");
	assert_int_equal(cfg->key_pem_len, 9);
	assert_memory_equal(cfg->key_pem, "key bytes", 9);
	assert_string_equal(cfg->token, "file-token");
	char want[512];
	snprintf(want, sizeof(want), "%s/tok", dir);
	assert_string_equal(cfg->token_file, want);
	kube_config_free(cfg);

	/* KUBECONFIG: the first file of the list. */
	char env[1024];
	snprintf(env, sizeof(env), "%s:/nonexistent/other", path);
	setenv("KUBECONFIG", env, 1);
	assert_int_equal(kube_config_load(NULL, NULL, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->context, "one");
	kube_config_free(cfg);
	unsetenv("KUBECONFIG");

	const char *names[] = { "ca.pem", "cert.pem", "tok", "config", NULL };
	rm_dir(dir, names);
}

static void test_kubeconfig_errors_hide_secrets(void **state)
{
	kube_config *cfg = NULL;
	char err[256] = "";
	assert_int_equal(kube_config_parse(KUBECONFIG_TEXT, strlen(KUBECONFIG_TEXT), NULL, "nope",
					   &cfg, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "context \"nope\" not found"));
	const char *bad = "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
			  "clusters:\n- name: c\n  cluster: {server: 'https://h', "
			  "certificate-authority-data: 'not base64!!'}\n"
			  "users:\n- name: u\n  user: {token: supersecrettoken}\n";
	assert_int_equal(kube_config_parse(bad, strlen(bad), NULL, NULL, &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "certificate-authority-data"));
	assert_null(strstr(err, "supersecret"));
	const char *half = "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
			   "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
			   "users:\n- name: u\n  user: {client-key-data: a2V5}\n";
	assert_int_equal(kube_config_parse(half, strlen(half), NULL, NULL, &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(kube_config_parse("[1, 2", 5, NULL, NULL, &cfg, err, sizeof(err)), -EINVAL);
}

static void test_in_cluster(void **state)
{
	char dir[256];
	assert_int_equal(testutil_mkdtemp(dir, sizeof(dir), "/tmp", "sa"), 0);
	write_file(dir, "token", "sa-token\n");
	write_file(dir, "ca.crt", "SA CA");
	write_file(dir, "namespace", "storage-ns");
	kube_config *cfg;
	char err[256] = "";
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(kube_config_in_cluster(dir, &cfg, err, sizeof(err)), -ENOENT);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(kube_config_in_cluster(dir, &cfg, err, sizeof(err)), 0);
	assert_true(cfg->in_cluster);
	assert_string_equal(cfg->server, "https://10.96.0.1:443");
	assert_string_equal(cfg->token, "sa-token");
	assert_string_equal(cfg->ca_pem, "SA CA");
	assert_string_equal(cfg->namespace, "storage-ns");
	kube_config_free(cfg);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	assert_int_equal(kube_config_in_cluster(dir, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->server, "https://[fd00::1]:443");
	kube_config_free(cfg);
	/* No token: an error naming the file. */
	char p[512];
	snprintf(p, sizeof(p), "%s/token", dir);
	unlink(p);
	assert_int_equal(kube_config_in_cluster(dir, &cfg, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/token"));
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	const char *names[] = { "ca.crt", "namespace", NULL };
	rm_dir(dir, names);
}

static void test_base64(void **state)
{
	char *out;
	size_t len;
	assert_int_equal(kube_base64_decode("aGVsbG8=", &out, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal(out, "hello");
	free(out);
	assert_int_equal(kube_base64_decode("aGVs\nbG8", &out, &len), 0);
	assert_string_equal(out, "hello");
	free(out);
	assert_int_equal(kube_base64_decode("aGV*", &out, &len), -EINVAL);
	assert_int_equal(kube_base64_decode("aG=Vs", &out, &len), -EINVAL);
}

static void test_token_bucket(void **state)
{
	kube_token_bucket tb;
	kube_token_bucket_init(&tb, 10, 3, 0);
	/* The burst is free, then one token per 100 ms. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(kube_token_bucket_reserve(&tb, 0), 0);
	assert_int_equal(kube_token_bucket_reserve(&tb, 0), SEC / 10);
	assert_int_equal(kube_token_bucket_reserve(&tb, 0), 2 * SEC / 10);
	/* After a long idle time only burst tokens are saved up. */
	int64_t later = 100 * SEC;
	for (int i = 0; i < 3; i++)
		assert_int_equal(kube_token_bucket_reserve(&tb, later), 0);
	assert_true(kube_token_bucket_reserve(&tb, later) > 0);
	kube_token_bucket_destroy(&tb);
	kube_token_bucket_init(&tb, 0, 1, 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(kube_token_bucket_reserve(&tb, 0), 0);
	kube_token_bucket_destroy(&tb);
}

static void test_backoff(void **state)
{
	assert_int_equal(kube_backoff_delay(SEC, 300 * SEC, 0), SEC);
	assert_int_equal(kube_backoff_delay(SEC, 300 * SEC, 1), 2 * SEC);
	assert_int_equal(kube_backoff_delay(SEC, 300 * SEC, 8), 256 * SEC);
	assert_int_equal(kube_backoff_delay(SEC, 300 * SEC, 9), 300 * SEC);
	assert_int_equal(kube_backoff_delay(SEC, 300 * SEC, 4000000000u), 300 * SEC);
	for (int i = 0; i < 100; i++) {
		int64_t j = kube_jitter(SEC, 0.2);
		assert_true(j >= 8 * SEC / 10 && j <= 12 * SEC / 10);
	}
}

static int64_t fake_now;

static int64_t fake_clock(void *p)
{
	(void)p;
	return fake_now;
}

static kube_workqueue *fake_queue(double qps, int burst)
{
	kube_workqueue_opts o = { .name = "t", .qps = qps, .burst = burst, .clock = fake_clock };
	kube_workqueue *q;
	fake_now = 1000 * SEC;
	assert_int_equal(kube_workqueue_new(&o, &q), 0);
	return q;
}

static void test_workqueue_dedup_and_one_worker(void **state)
{
	kube_workqueue *q = fake_queue(-1, 0);
	char *k;
	kube_workqueue_add(q, "ns/a");
	kube_workqueue_add(q, "ns/b");
	kube_workqueue_add(q, "ns/a");
	kube_workqueue_stats st;
	kube_workqueue_get_stats(q, &st);
	assert_int_equal(st.depth, 2);
	assert_true(kube_workqueue_try_get(q, &k));
	assert_string_equal(k, "ns/a");
	/* Added while processed: not handed to a second worker... */
	kube_workqueue_add(q, "ns/a");
	kube_workqueue_add(q, "ns/a");
	char *k2;
	assert_true(kube_workqueue_try_get(q, &k2));
	assert_string_equal(k2, "ns/b");
	char *k3;
	assert_false(kube_workqueue_try_get(q, &k3));
	/* ...but once more, after the first is done. */
	kube_workqueue_done(q, k);
	assert_true(kube_workqueue_try_get(q, &k3));
	assert_string_equal(k3, "ns/a");
	kube_workqueue_done(q, k3);
	kube_workqueue_done(q, k2);
	assert_false(kube_workqueue_try_get(q, &k3));
	free(k);
	free(k2);
	free(k3);
	kube_workqueue_shutdown(q);
	kube_workqueue_add(q, "ns/c");
	assert_false(kube_workqueue_get(q, &k));
	kube_workqueue_free(q);
}

static void test_workqueue_backoff(void **state)
{
	kube_workqueue *q = fake_queue(-1, 0);
	/* 1 s doubling per failure, up to 5 min; forget resets. */
	assert_int_equal(kube_workqueue_when(q, "x"), SEC);
	assert_int_equal(kube_workqueue_when(q, "x"), 2 * SEC);
	assert_int_equal(kube_workqueue_when(q, "x"), 4 * SEC);
	assert_int_equal(kube_workqueue_when(q, "y"), SEC);
	assert_int_equal(kube_workqueue_num_requeues(q, "x"), 3);
	for (int i = 0; i < 20; i++)
		kube_workqueue_when(q, "x");
	assert_int_equal(kube_workqueue_when(q, "x"), 300 * SEC);
	kube_workqueue_forget(q, "x");
	assert_int_equal(kube_workqueue_num_requeues(q, "x"), 0);
	assert_int_equal(kube_workqueue_when(q, "x"), SEC);
	kube_workqueue_forget(q, "x");

	/* A rate-limited add becomes ready only after its delay. */
	char *k;
	kube_workqueue_add_rate_limited(q, "x");
	assert_false(kube_workqueue_try_get(q, &k));
	fake_now += SEC - 1;
	assert_false(kube_workqueue_try_get(q, &k));
	fake_now += 1;
	assert_true(kube_workqueue_try_get(q, &k));
	assert_string_equal(k, "x");
	kube_workqueue_done(q, k);
	free(k);

	/* An earlier add_after wins over a later one; a later one does not
	 * postpone. */
	kube_workqueue_add_after(q, "z", 10 * SEC);
	kube_workqueue_add_after(q, "z", 2 * SEC);
	kube_workqueue_add_after(q, "z", 5 * SEC);
	fake_now += 2 * SEC;
	assert_true(kube_workqueue_try_get(q, &k));
	assert_string_equal(k, "z");
	kube_workqueue_done(q, k);
	free(k);
	fake_now += 20 * SEC;
	assert_false(kube_workqueue_try_get(q, &k));
	kube_workqueue_free(q);
}

static void test_workqueue_overall_bucket(void **state)
{
	/* 10 qps, burst 2: new keys' first failures are spaced by the bucket. */
	kube_workqueue *q = fake_queue(10, 2);
	assert_int_equal(kube_workqueue_when(q, "a"), SEC);
	assert_int_equal(kube_workqueue_when(q, "b"), SEC);
	kube_workqueue_opts o = { .qps = 1, .burst = 1, .base_delay_ns = 1000000,
				  .clock = fake_clock };
	kube_workqueue *q2;
	assert_int_equal(kube_workqueue_new(&o, &q2), 0);
	assert_int_equal(kube_workqueue_when(q2, "a"), 1000000);
	assert_int_equal(kube_workqueue_when(q2, "b"), SEC);
	assert_int_equal(kube_workqueue_when(q2, "c"), 2 * SEC);
	kube_workqueue_free(q2);
	kube_workqueue_free(q);
}

/* Real threads: 4 workers, keys re-added while processed; no key is ever
 * held by two workers and every add after the last processing start is
 * processed. */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static int active[8], max_active[8], processed[8];

static int64_t work(const char *key, void *payload)
{
	(void)payload;
	int i = key[0] - 'a';
	pthread_mutex_lock(&seen_lock);
	active[i]++;
	if (active[i] > max_active[i])
		max_active[i] = active[i];
	pthread_mutex_unlock(&seen_lock);
	kube_sleep_ns(2000000);
	pthread_mutex_lock(&seen_lock);
	active[i]--;
	processed[i]++;
	pthread_mutex_unlock(&seen_lock);
	return 0;
}

static void test_workqueue_workers(void **state)
{
	kube_workqueue_opts o = { .qps = -1 };
	kube_workqueue *q;
	assert_int_equal(kube_workqueue_new(&o, &q), 0);
	assert_int_equal(kube_workqueue_run(q, 4, work, NULL), 0);
	const char *keys[] = { "a", "b", "c", "d", "e", "f", "g", "h" };
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 8; i++)
			kube_workqueue_add(q, keys[i]);
		kube_sleep_ns(500000);
	}
	/* Let the queue drain, then stop. */
	for (int i = 0; i < 200; i++) {
		kube_workqueue_stats st;
		kube_workqueue_get_stats(q, &st);
		if (st.depth == 0 && st.processing == 0)
			break;
		kube_sleep_ns(10000000);
	}
	kube_workqueue_free(q);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(max_active[i], 1);
		/* De-duplicated: far fewer runs than the 50 adds, but at least 2. */
		assert_true(processed[i] >= 2 && processed[i] <= 50);
	}
}

static int count_cb(const char *key, void *value, void *payload)
{
	(void)key;
	(void)value;
	(*(int *)payload)++;
	return 0;
}

static void test_map(void **state)
{
	kube_map m;
	kube_map_init(&m);
	char k[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "ns/obj-%d", i);
		assert_int_equal(kube_map_put(&m, k, (void *)(intptr_t)(i + 1), NULL), 0);
	}
	assert_int_equal(m.count, 1000);
	assert_int_equal((intptr_t)kube_map_get(&m, "ns/obj-500"), 501);
	void *old;
	kube_map_put(&m, "ns/obj-500", (void *)7, &old);
	assert_int_equal((intptr_t)old, 501);
	assert_int_equal((intptr_t)kube_map_remove(&m, "ns/obj-500"), 7);
	assert_false(kube_map_has(&m, "ns/obj-500"));
	assert_null(kube_map_remove(&m, "absent"));
	int n = 0;
	kube_map_foreach(&m, count_cb, &n);
	assert_int_equal(n, 999);
	kube_map_clear(&m);
	assert_null(kube_map_get(&m, "ns/obj-1"));
}

static void test_redact(void **state)
{
	kube_redact_reset();
	assert_int_equal(kube_redact_add("hunter22"), 0);
	assert_int_equal(kube_redact_add("abc"), 0); /* too short: ignored */
	char msg[128] = "login with hunter22 failed (hunter22); abc stays";
	kube_redact(msg);
	assert_string_equal(msg, "login with *** failed (***); abc stays");
	kube_redact_reset();
}

int main(void)
{
	int fds = testutil_count_open_fds();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kubeconfig_current_context),
		cmocka_unit_test(test_kubeconfig_files_relative),
		cmocka_unit_test(test_kubeconfig_errors_hide_secrets),
		cmocka_unit_test(test_in_cluster),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_token_bucket),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_workqueue_dedup_and_one_worker),
		cmocka_unit_test(test_workqueue_backoff),
		cmocka_unit_test(test_workqueue_overall_bucket),
		cmocka_unit_test(test_workqueue_workers),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_redact),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + testutil_fd_leak(fds);
}
