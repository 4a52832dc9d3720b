/*
 * test_rpc_server.c - where the gRPC server runs a handler and how it hands
 * calls to its workers and back: RPC_METHOD_INLINE and RPC_METHOD_TRY_INLINE
 * run on the loop thread, rpc_call_defer() moves a call to a worker, and a
 * burst of worker calls from many connections is answered in full (the
 * batched job queue and the coalesced wake-ups never lose a call).
 *
 * A real server on a unix socket in a scratch directory, its loop on a
 * thread of its own, driven with the project's own rpc_client.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "csi.pb-c.h"
#include "rpc/client.h"
#include "rpc/server.h"
#include "testutil.h"

#define CALL_TIMEOUT_NS (5 * 1000000000LL)

/* What a handler saw, per method. */
typedef struct {
	atomic_int runs;
	atomic_int loop_runs;       /* runs on the loop thread */
	atomic_int worker_runs;
	atomic_int deferred;        /* rpc_call_defer() returned true */
	bool want_defer;            /* ask for a worker whenever possible */
} handler_log;

typedef struct {
	rpc_server *srv;
	pthread_t loop;
	char dir[256];
	char endpoint[300];
	handler_log inline_log, try_log, worker_log;
} fixture;

static pthread_t loop_thread;

static void record(rpc_call *call, handler_log *log)
{
	atomic_fetch_add(&log->runs, 1);
	if (pthread_equal(pthread_self(), loop_thread))
		atomic_fetch_add(&log->loop_runs, 1);
	else
		atomic_fetch_add(&log->worker_runs, 1);
}

static void answer(rpc_call *call)
{
	Csi__V1__ProbeResponse resp = CSI__V1__PROBE_RESPONSE__INIT;
	Google__Protobuf__BoolValue ready = GOOGLE__PROTOBUF__BOOL_VALUE__INIT;

	ready.value = 1;
	resp.ready = &ready;
	rpc_call_reply(call, &resp.base);
}

static void logged_handler(rpc_call *call, const ProtobufCMessage *req, void *payload)
{
	handler_log *log = payload;

	record(call, log);
	if (log->want_defer && rpc_call_defer(call)) {
		atomic_fetch_add(&log->deferred, 1);
		return;
	}
	answer(call);
}

#define METHOD(path, flags)                                                             \
	{ path, &csi__v1__probe_request__descriptor, &csi__v1__probe_response__descriptor, \
	  logged_handler, flags }

static const rpc_method m_inline = METHOD("/t.T/Inline", RPC_METHOD_INLINE);
static const rpc_method m_try = METHOD("/t.T/Try", RPC_METHOD_TRY_INLINE);
static const rpc_method m_worker = METHOD("/t.T/Worker", 0);

static void *serve(void *arg)
{
	rpc_server_run(arg);
	return NULL;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	dv_status err = { 0 };
	rpc_server_options opts = { .workers = 4 };

	assert_non_null(f);
	assert_int_equal(testutil_mkdtemp(f->dir, sizeof(f->dir), "/tmp", "rpcsrv"), 0);
	snprintf(f->endpoint, sizeof(f->endpoint), "unix://%s/s.sock", f->dir);
	assert_int_equal(rpc_server_new(&f->srv, &opts), 0);
	assert_int_equal(rpc_server_add_method(f->srv, &m_inline, &f->inline_log), 0);
	assert_int_equal(rpc_server_add_method(f->srv, &m_try, &f->try_log), 0);
	assert_int_equal(rpc_server_add_method(f->srv, &m_worker, &f->worker_log), 0);
	assert_int_equal(rpc_server_listen(f->srv, f->endpoint, &err), 0);
	assert_int_equal(pthread_create(&f->loop, NULL, serve, f->srv), 0);
	loop_thread = f->loop;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	rpc_server_stop(f->srv);
	pthread_join(f->loop, NULL);
	rpc_server_free(f->srv);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* One call of path; returns its code, checks an OK answer's content. */
static dv_code call_once(rpc_client *cl, const char *path)
{
	Csi__V1__ProbeRequest req = CSI__V1__PROBE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	dv_status st = { 0 };
	dv_code code = rpc_client_call(cl, path, &req.base, &csi__v1__probe_response__descriptor,
				       &resp, CALL_TIMEOUT_NS, &st);

	if (code == DV_OK) {
		Csi__V1__ProbeResponse *pr = (Csi__V1__ProbeResponse *)resp;
		if (!pr->ready || !pr->ready->value)
			code = DV_DATA_LOSS; /* the answer is not the handler's */
		protobuf_c_message_free_unpacked(resp, NULL);
	} else {
		fprintf(stderr, "%s: %s: %s\n", path, dv_code_name(code),
			st.message ? st.message : "");
	}
	dv_status_clear(&st);
	return code;
}

static rpc_client *client(fixture *f)
{
	rpc_client *cl = NULL;
	dv_status err = { 0 };

	assert_int_equal(rpc_client_new(&cl, f->endpoint, &err), 0);
	return cl;
}

static void test_inline_runs_on_the_loop(void **state)
{
	fixture *f = *state;
	rpc_client *cl = client(f);

	f->inline_log.want_defer = true; /* an INLINE handler can never defer */
	for (int i = 0; i < 5; i++)
		assert_int_equal(call_once(cl, "/t.T/Inline"), DV_OK);
	assert_int_equal(f->inline_log.runs, 5);
	assert_int_equal(f->inline_log.loop_runs, 5);
	assert_int_equal(f->inline_log.deferred, 0);
	rpc_client_free(cl);
}

static void test_try_inline_answers_on_the_loop(void **state)
{
	fixture *f = *state;
	rpc_client *cl = client(f);

	for (int i = 0; i < 5; i++)
		assert_int_equal(call_once(cl, "/t.T/Try"), DV_OK);
	assert_int_equal(f->try_log.runs, 5);
	assert_int_equal(f->try_log.loop_runs, 5);
	assert_int_equal(f->try_log.worker_runs, 0);
	rpc_client_free(cl);
}

static void test_defer_runs_the_handler_again_on_a_worker(void **state)
{
	fixture *f = *state;
	rpc_client *cl = client(f);

	f->try_log.want_defer = true;
	for (int i = 0; i < 5; i++)
		assert_int_equal(call_once(cl, "/t.T/Try"), DV_OK);
	/* each call: once on the loop (deferred), once on a worker (answered) */
	assert_int_equal(f->try_log.runs, 10);
	assert_int_equal(f->try_log.deferred, 5);
	assert_int_equal(f->try_log.loop_runs, 5);
	assert_int_equal(f->try_log.worker_runs, 5);
	rpc_client_free(cl);
}

static void test_plain_method_runs_on_a_worker(void **state)
{
	fixture *f = *state;
	rpc_client *cl = client(f);

	f->worker_log.want_defer = true; /* already on a worker: no-op */
	assert_int_equal(call_once(cl, "/t.T/Worker"), DV_OK);
	assert_int_equal(f->worker_log.runs, 1);
	assert_int_equal(f->worker_log.worker_runs, 1);
	assert_int_equal(f->worker_log.deferred, 0);
	rpc_client_free(cl);
}

#define BURST_CLIENTS 12
#define BURST_CALLS 300

typedef struct {
	fixture *f;
	const char *path;
	int failures;
} burst_arg;

static void *burst_client(void *arg)
{
	burst_arg *a = arg;
	rpc_client *cl = NULL;
	dv_status err = { 0 };

	if (rpc_client_new(&cl, a->f->endpoint, &err) < 0) {
		a->failures = BURST_CALLS;
		return NULL;
	}
	for (int i = 0; i < BURST_CALLS; i++)
		if (call_once(cl, a->path) != DV_OK)
			a->failures++;
	rpc_client_free(cl);
	return NULL;
}

/* More clients than workers, each with a call always in flight: calls
 * queue, workers finish them in bursts. A lost wake-up would leave a call
 * unanswered until its 5 s deadline (DEADLINE_EXCEEDED, a failure here). */
static void run_burst(fixture *f, const char *path, handler_log *log, int runs_per_call)
{
	pthread_t t[BURST_CLIENTS];
	burst_arg a[BURST_CLIENTS];
	int failures = 0;

	for (int i = 0; i < BURST_CLIENTS; i++) {
		a[i] = (burst_arg){ .f = f, .path = path };
		assert_int_equal(pthread_create(&t[i], NULL, burst_client, &a[i]), 0);
	}
	for (int i = 0; i < BURST_CLIENTS; i++) {
		pthread_join(t[i], NULL);
		failures += a[i].failures;
	}
	assert_int_equal(failures, 0);
	assert_int_equal(log->runs, BURST_CLIENTS * BURST_CALLS * runs_per_call);
}

static void test_burst_on_workers_is_answered_in_full(void **state)
{
	fixture *f = *state;

	run_burst(f, "/t.T/Worker", &f->worker_log, 1);
	assert_int_equal(f->worker_log.worker_runs, BURST_CLIENTS * BURST_CALLS);
}

static void test_burst_of_deferred_calls_is_answered_in_full(void **state)
{
	fixture *f = *state;

	f->try_log.want_defer = true;
	run_burst(f, "/t.T/Try", &f->try_log, 2);
	assert_int_equal(f->try_log.deferred, BURST_CLIENTS * BURST_CALLS);
}

static void test_unknown_method_is_unimplemented(void **state)
{
	fixture *f = *state;
	rpc_client *cl = client(f);
	Csi__V1__ProbeRequest req = CSI__V1__PROBE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	dv_status st = { 0 };

	/* a registered path with a suffix, and one too long to be a method */
	assert_int_equal(rpc_client_call(cl, "/t.T/TryX", &req.base,
					 &csi__v1__probe_response__descriptor, &resp,
					 CALL_TIMEOUT_NS, &st),
			 DV_UNIMPLEMENTED);
	assert_non_null(strstr(st.message, "/t.T/TryX"));
	dv_status_clear(&st);

	char long_path[400];
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = 0;
	assert_int_equal(rpc_client_call(cl, long_path, &req.base,
					 &csi__v1__probe_response__descriptor, &resp,
					 CALL_TIMEOUT_NS, &st),
			 DV_UNIMPLEMENTED);
	dv_status_clear(&st);
	assert_int_equal(call_once(cl, "/t.T/Try"), DV_OK); /* connection still fine */
	rpc_client_free(cl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inline_runs_on_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_try_inline_answers_on_the_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defer_runs_the_handler_again_on_a_worker,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_method_runs_on_a_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst_on_workers_is_answered_in_full, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_burst_of_deferred_calls_is_answered_in_full,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_method_is_unimplemented, setup,
						teardown),
	};
	int fds = testutil_count_open_fds();
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	return failed + testutil_fd_leak(fds);
}
