/*
 * test_metrics.c - the Prometheus registry and endpoint (src/metrics/):
 * what a scrape reads, byte for byte where the format is strict.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "metrics.h"
#include "testutil.h"

static char *render(dv_metrics *m)
{
	dv_buf b;

	dv_buf_init(&b, 0);
	assert_int_equal(dv_metrics_render(m, &b), 0);
	assert_int_equal(dv_buf_append(&b, "", 1), 0);
	return (char *)b.data;
}

static void test_counter_lines(void **state)
{
	static const char *const labels[] = { "controller", "operation" };
	const char *const v1[] = { "provisioner", "provision" };
	const char *const v2[] = { "provisioner", "delete" };
	dv_metrics *m;
	dv_metric *c;
	char *page;

	(void)state;
	assert_int_equal(dv_metrics_new(&m), 0);
	c = dv_metrics_counter(m, "ops_total", "Operations.", 2, labels);
	assert_non_null(c);
	/* get-or-create: the same family */
	assert_ptr_equal(dv_metrics_counter(m, "ops_total", "Operations.", 2, labels), c);
	dv_metric_add(c, v1, 1);
	dv_metric_add(c, v1, 2);
	dv_metric_add(c, v2, 1);
	dv_metric_add(c, v2, -5); /* counters never go down */
	page = render(m);
	assert_string_equal(page, "# HELP ops_total Operations.\n"
				  "# TYPE ops_total counter\n"
				  "ops_total{controller=\"provisioner\",operation=\"provision\"} 3\n"
				  "ops_total{controller=\"provisioner\",operation=\"delete\"} 1\n");
	free(page);
	dv_metrics_free(m);
}

static void test_histogram_cumulative(void **state)
{
	static const char *const labels[] = { "op" };
	static const double bounds[] = { 0.1, 1, 10 };
	const char *const v[] = { "x" };
	dv_metrics *m;
	dv_metric *h;
	char *page;

	(void)state;
	assert_int_equal(dv_metrics_new(&m), 0);
	h = dv_metrics_histogram(m, "d_seconds", "Durations.", 1, labels, bounds, 3);
	assert_non_null(h);
	dv_metric_observe(h, v, 0.05);
	dv_metric_observe(h, v, 0.1); /* le is inclusive */
	dv_metric_observe(h, v, 5);
	dv_metric_observe(h, v, 100);
	page = render(m);
	assert_string_equal(page, "# HELP d_seconds Durations.\n"
				  "# TYPE d_seconds histogram\n"
				  "d_seconds_bucket{op=\"x\",le=\"0.1\"} 2\n"
				  "d_seconds_bucket{op=\"x\",le=\"1\"} 2\n"
				  "d_seconds_bucket{op=\"x\",le=\"10\"} 3\n"
				  "d_seconds_bucket{op=\"x\",le=\"+Inf\"} 4\n"
				  "d_seconds_sum{op=\"x\"} 105.15000000000001\n"
				  "d_seconds_count{op=\"x\"} 4\n");
	free(page);
	dv_metrics_free(m);
}

static void test_escaping_and_bad_names(void **state)
{
	static const char *const labels[] = { "reason" };
	static const char *const bad_label[] = { "le" };
	static const char *const bad_label2[] = { "1x" };
	static const char *const other[] = { "other" };
	const char *const v[] = { "a\"b\\c\nd" };
	dv_metrics *m;
	dv_metric *c;
	char *page;

	(void)state;
	assert_int_equal(dv_metrics_new(&m), 0);
	assert_null(dv_metrics_counter(m, "bad-name", "x", 0, NULL));
	assert_null(dv_metrics_counter(m, "9lives", "x", 0, NULL));
	assert_null(dv_metrics_counter(m, "ok_total", "x", 1, bad_label));
	assert_null(dv_metrics_counter(m, "ok_total", "x", 1, bad_label2));
	c = dv_metrics_counter(m, "e_total", "Help with \\ and\nnewline.", 1, labels);
	assert_non_null(c);
	/* the same name with another shape is refused, not mixed in */
	assert_null(dv_metrics_counter(m, "e_total", "x", 1, other));
	assert_null(dv_metrics_histogram(m, "e_total", "x", 1, labels, dv_metrics_op_buckets,
					 dv_metrics_op_nbuckets));
	dv_metric_add(c, v, 1);
	dv_metric_add(NULL, v, 1); /* a family that failed to register: nothing */
	page = render(m);
	assert_string_equal(page, "# HELP e_total Help with \\\\ and\\nnewline.\n"
				  "# TYPE e_total counter\n"
				  "e_total{reason=\"a\\\"b\\\\c\\nd\"} 1\n");
	free(page);
	dv_metrics_free(m);
}

static void collect(dv_metrics_out *o, void *payload)
{
	static const char *const labels[] = { "name" };
	const char *const v[] = { "claims" };

	dv_metrics_out_family(o, "workqueue_depth", "gauge", "Depth.");
	dv_metrics_out_sample(o, "workqueue_depth", 1, labels, v, *(int *)payload);
}

static void test_collectors(void **state)
{
	dv_metrics *m;
	int depth = 7;
	char *page;

	(void)state;
	assert_int_equal(dv_metrics_new(&m), 0);
	assert_int_equal(dv_metrics_add_collector(m, collect, &depth), 0);
	page = render(m);
	assert_string_equal(page, "# HELP workqueue_depth Depth.\n# TYPE workqueue_depth gauge\n"
				  "workqueue_depth{name=\"claims\"} 7\n");
	free(page);
	dv_metrics_remove_collector(m, collect, &depth);
	page = render(m);
	assert_string_equal(page, "");
	free(page);
	dv_metrics_free(m);
}

typedef struct {
	dv_metric *c;
	int n;
} hammer_arg;

static void *hammer(void *p)
{
	hammer_arg *a = p;
	const char *const v[] = { "x" };

	for (int i = 0; i < a->n; i++)
		dv_metric_add(a->c, v, 1);
	return NULL;
}

/* Updates from many threads are all counted. */
static void test_threads(void **state)
{
	static const char *const labels[] = { "k" };
	pthread_t t[4];
	dv_metrics *m;
	hammer_arg a;
	char *page;

	(void)state;
	assert_int_equal(dv_metrics_new(&m), 0);
	a.c = dv_metrics_counter(m, "n_total", "N.", 1, labels);
	a.n = 20000;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &a), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	page = render(m);
	assert_non_null(strstr(page, "n_total{k=\"x\"} 80000\n"));
	free(page);
	dv_metrics_free(m);
}

static bool not_ready(char *reason, size_t len, void *payload)
{
	snprintf(reason, len, "%s", (const char *)payload);
	return false;
}

/* One HTTP/1.0 GET; the whole answer. */
static char *http_get(int port, const char *path)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	char req[256];
	dv_buf b;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ssize_t n;

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
	assert_int_equal(write(fd, req, (size_t)n), n);
	dv_buf_init(&b, 0);
	for (;;) {
		char chunk[4096];

		n = read(fd, chunk, sizeof(chunk));
		assert_true(n >= 0);
		if (n == 0)
			break;
		assert_int_equal(dv_buf_append(&b, chunk, (size_t)n), 0);
	}
	close(fd);
	assert_int_equal(dv_buf_append(&b, "", 1), 0);
	return (char *)b.data;
}

static void test_server(void **state)
{
	static const char *const labels[] = { "op" };
	const char *const v[] = { "provision" };
	dv_metrics_server *s;
	dv_metrics *m;
	char err[256], *r;

	(void)state;
	assert_int_equal(dv_metrics_new(&m), 0);
	dv_metric_add(dv_metrics_counter(m, "x_total", "X.", 1, labels), v, 1);
	dv_probes probes = { .ready = not_ready, .payload = "starting" };

	assert_int_equal(dv_metrics_serve("nonsense", m, NULL, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "HOST:PORT"));
	assert_int_equal(dv_metrics_serve("127.0.0.1:99999", m, NULL, &s, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(dv_metrics_serve("127.0.0.1:0", m, &probes, &s, err, sizeof(err)), 0);
	assert_true(dv_metrics_server_port(s) > 0);

	r = http_get(dv_metrics_server_port(s), "/metrics");
	assert_non_null(strstr(r, "200 OK"));
	assert_non_null(strstr(r, "text/plain; version=0.0.4"));
	assert_non_null(strstr(r, "x_total{op=\"provision\"} 1\n"));
	free(r);
	r = http_get(dv_metrics_server_port(s), "/healthz");
	assert_non_null(strstr(r, "200 OK"));
	free(r);
	r = http_get(dv_metrics_server_port(s), "/readyz");
	assert_non_null(strstr(r, "503"));
	assert_non_null(strstr(r, "not ready: starting"));
	free(r);
	r = http_get(dv_metrics_server_port(s), "/nothing");
	assert_non_null(strstr(r, "404"));
	free(r);
	dv_metrics_server_stop(s);
	dv_metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_lines),
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_escaping_and_bad_names),
		cmocka_unit_test(test_collectors),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
