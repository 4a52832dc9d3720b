/*
 * server.c - the gRPC server: event loop, nghttp2 sessions, worker pool.
 *
 * Threads and ownership. The loop thread owns listeners, connections,
 * nghttp2 sessions and every rpc_call's bookkeeping (refs, heap index,
 * connection links). A worker only touches a call between taking it from
 * the job queue and putting it on the done queue: it reads the request and
 * writes the result fields. The queues' mutexes order those accesses. The
 * one field both sides touch concurrently is `cancelled` (atomic).
 *
 * A call holds up to two references: its HTTP/2 stream (dropped when the
 * stream closes) and a worker (dropped by the loop when the worker hands
 * the call back). It is freed when both are gone, so a deadline or a
 * client reset never frees memory a running handler still uses.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "crashpoint.h"
#include "endpoint.h"
#include "frame.h"
#include "log.h"
#include "pbcheck.h"
#include "percent.h"
#include "strutil.h"
#include "timeout.h"

#define MAX_LISTENERS 4
#define READ_CHUNK 65536
#define WRITE_BATCH 65536
#define OUT_KEEP 16384          /* an empty out buffer larger than this is freed */
#define GOAWAY_PING_WAIT_NS 1000000000LL
#define LINGER_NS 1000000000LL
#define MAX_STATUS_MESSAGE 1024

enum { EV_LISTENER, EV_CONN, EV_WAKE };

typedef struct {
	int kind; /* EV_* : first member of everything epoll points at */
} ev_tag;

typedef struct {
	const rpc_method *m;
	void *payload;
	int64_t delay_ns;
} method_entry;

typedef struct rpc_conn rpc_conn;

typedef enum {
	CALL_RECEIVING,  /* headers/body arriving */
	CALL_RUNNING,    /* handler inline or on a worker */
	CALL_RESPONDED,  /* answer handed to nghttp2, or stream gone */
} call_state;

struct rpc_call {
	rpc_server *srv;
	rpc_conn *conn;          /* NULL once the stream is gone */
	int32_t stream_id;
	int refs;
	call_state state;
	const method_entry *method; /* set from :path as it arrives */
	const char *path;        /* the method's own path, or path_owned */
	char *path_owned;        /* an unknown :path, for its error message */
	int64_t start_ns;
	int64_t deadline_ns;
	atomic_bool cancelled;
	bool on_worker;
	bool on_loop;            /* a TRY_INLINE handler runs on the loop now */
	bool deferred;           /* ... and asked for a worker */

	/* request */
	rpc_frame_reader reader;
	size_t buffered;         /* bytes counted against srv->buffered */
	size_t header_bytes;
	bool bad_headers;
	bool is_post;
	bool grpc_content_type;
	bool encoding_identity;
	char *encoding;
	bool has_timeout;
	bool bad_timeout;
	int64_t timeout_ns;
	ProtobufCMessage *request;

	/* result: written by the handler's thread */
	bool answered;
	dv_code code;
	char *message;
	uint8_t *response;       /* framed: prefix + message */
	size_t response_len;
	/* A small answer (Probe's is 9 bytes framed) is packed here rather
	 * than into a malloc'ed buffer. */
	uint8_t response_inline[64];

	/* An answer the loop gives without the handler (early errors, the
	 * deadline, a reset). Separate from the handler's fields because the
	 * handler may still be writing those on its worker. */
	bool overridden;
	dv_code loop_code;
	char *loop_message;

	/* what was sent: loop thread */
	dv_code final_code;
	const char *final_message;
	size_t response_sent;
	char *message_encoded;   /* grpc-message header value */
	char status_str[4];

	size_t heap_idx;         /* index in the deadline heap or SIZE_MAX */
	rpc_call *next;          /* job/done queue link */
	rpc_call *conn_prev, *conn_next;
};

struct rpc_conn {
	ev_tag tag;
	rpc_server *srv;
	int fd;
	nghttp2_session *session;
	dv_buf out;             /* serialized, not yet written */
	bool out_blocked;       /* waiting for EPOLLOUT */
	bool dead;
	bool in_dirty;
	bool goaway_final;
	bool lingering;         /* our side is shut; draining what the peer sends */
	int64_t linger_until;
	rpc_call *calls;        /* open streams */
	rpc_conn *prev, *next;
	rpc_conn *dirty_next;
};

typedef struct {
	ev_tag tag;
	int fd;
	bool is_unix;
	char path[108];
	dev_t dev;
	ino_t ino;
	int port;
} rpc_listener;

struct rpc_server {
	rpc_server_options opts;
	method_entry *methods;
	size_t n_methods;
	rpc_observer_fn observer;
	void *observer_payload;

	/* idle hook: armed by finished calls and closed connections, fired
	 * idle_quiet_ns after the last event (loop thread) */
	rpc_idle_fn idle_fn;
	void *idle_payload;
	int64_t idle_quiet_ns;
	bool idle_armed;
	int64_t idle_at;

	/* The loop's clock, read once per round (when epoll_wait returns):
	 * what a call's start and the idle hook's timing are measured from,
	 * instead of a clock read per call for each. */
	int64_t loop_now;

	int epfd;
	ev_tag wake_tag;
	int wake_fd;             /* eventfd: stop requests and finished jobs */
	atomic_bool stop_requested;
	rpc_listener listeners[MAX_LISTENERS];
	size_t n_listeners;
	rpc_conn *conns;
	unsigned n_conns;
	rpc_conn *dirty;
	size_t buffered;

	/* deadline min-heap of calls (loop thread) */
	rpc_call **heap;
	size_t heap_len, heap_cap;

	/* draining */
	bool draining;
	int64_t drain_deadline;
	int64_t goaway_deadline;
	unsigned running;        /* calls on workers */

	/* workers */
	pthread_t *threads;
	unsigned n_threads;
	pthread_mutex_t job_mu;
	pthread_cond_t job_cv;
	rpc_call *job_head, *job_tail;
	unsigned job_idle;       /* workers waiting on job_cv */
	bool job_stop;
	/* calls decoded in this loop round, queued for the workers at its
	 * end in one go (loop thread only) */
	rpc_call *batch_head, *batch_tail;
	pthread_mutex_t done_mu;
	rpc_call *done_head, *done_tail;

	/* cancellable sleeps wait here; broadcast on any cancellation */
	pthread_mutex_t cancel_mu;
	pthread_cond_t cancel_cv;
};

static void conn_close(rpc_conn *c);
static void call_respond(rpc_call *call);
static void call_unref(rpc_call *call);

/* ------------------------------------------------------------------ */
/* deadline heap                                                       */

static bool heap_less(rpc_call *a, rpc_call *b)
{
	return a->deadline_ns < b->deadline_ns;
}

static void heap_swap(rpc_server *srv, size_t i, size_t j)
{
	rpc_call *t = srv->heap[i];
	srv->heap[i] = srv->heap[j];
	srv->heap[j] = t;
	srv->heap[i]->heap_idx = i;
	srv->heap[j]->heap_idx = j;
}

static void heap_up(rpc_server *srv, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!heap_less(srv->heap[i], srv->heap[p]))
			break;
		heap_swap(srv, i, p);
		i = p;
	}
}

static void heap_down(rpc_server *srv, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < srv->heap_len && heap_less(srv->heap[l], srv->heap[m]))
			m = l;
		if (r < srv->heap_len && heap_less(srv->heap[r], srv->heap[m]))
			m = r;
		if (m == i)
			break;
		heap_swap(srv, i, m);
		i = m;
	}
}

static int heap_push(rpc_server *srv, rpc_call *call)
{
	if (srv->heap_len == srv->heap_cap) {
		size_t ncap = srv->heap_cap ? srv->heap_cap * 2 : 64;
		rpc_call **h = realloc(srv->heap, ncap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		srv->heap = h;
		srv->heap_cap = ncap;
	}
	srv->heap[srv->heap_len] = call;
	call->heap_idx = srv->heap_len++;
	heap_up(srv, call->heap_idx);
	return 0;
}

static void heap_remove(rpc_server *srv, rpc_call *call)
{
	size_t i = call->heap_idx;

	if (i == SIZE_MAX)
		return;
	call->heap_idx = SIZE_MAX;
	srv->heap_len--;
	if (i == srv->heap_len)
		return;
	srv->heap[i] = srv->heap[srv->heap_len];
	srv->heap[i]->heap_idx = i;
	heap_down(srv, i);
	heap_up(srv, i);
}

/* ------------------------------------------------------------------ */
/* calls                                                               */

/* Memory was just freed (a call, a connection): arms the idle hook and
 * pushes it back, so a burst ends in a single hook call. */
static void idle_touch(rpc_server *srv)
{
	if (!srv->idle_fn)
		return;
	srv->idle_armed = true;
	srv->idle_at = srv->loop_now + srv->idle_quiet_ns;
}

static void call_release_buffer(rpc_call *call)
{
	call->srv->buffered -= call->buffered;
	call->buffered = 0;
	rpc_frame_reader_free(&call->reader);
}

static void call_free(rpc_call *call)
{
	idle_touch(call->srv);
	call_release_buffer(call);
	if (call->request)
		protobuf_c_message_free_unpacked(call->request, NULL);
	free(call->path_owned);
	free(call->encoding);
	free(call->message);
	free(call->loop_message);
	free(call->message_encoded);
	if (call->response != call->response_inline)
		free(call->response);
	free(call);
}

static void call_unref(rpc_call *call)
{
	if (--call->refs == 0)
		call_free(call);
}

static void call_cancel(rpc_call *call)
{
	rpc_server *srv = call->srv;

	if (atomic_exchange(&call->cancelled, true))
		return;
	if (call->on_worker) {
		pthread_mutex_lock(&srv->cancel_mu);
		pthread_cond_broadcast(&srv->cancel_cv);
		pthread_mutex_unlock(&srv->cancel_mu);
	}
}

static void call_observe(rpc_call *call)
{
	rpc_server *srv = call->srv;
	rpc_call_record rec;

	if (!srv->observer)
		return;
	rec.method = call->path ? call->path : "";
	rec.request = call->request;
	rec.code = call->final_code;
	rec.message = call->final_message;
	rec.duration_ns = dv_now_ns() - call->start_ns;
	srv->observer(&rec, srv->observer_payload);
}

/* The loop's own answer (early errors, deadlines, resets). */
static void call_override(rpc_call *call, dv_code code, const char *msg)
{
	free(call->loop_message);
	call->loop_message = msg ? strdup(msg) : NULL;
	call->loop_code = code;
	call->overridden = true;
}

void rpc_call_reply(rpc_call *call, const ProtobufCMessage *resp)
{
	size_t len;
	uint8_t *buf;

	if (call->answered)
		return;
	len = protobuf_c_message_get_packed_size(resp);
	if (len > UINT32_MAX - RPC_FRAME_PREFIX) {
		rpc_call_fail(call, DV_RESOURCE_EXHAUSTED, "response of %zu bytes is too large", len);
		return;
	}
	buf = len + RPC_FRAME_PREFIX <= sizeof(call->response_inline) ? call->response_inline
								     : malloc(len + RPC_FRAME_PREFIX);
	if (!buf) {
		rpc_call_fail(call, DV_RESOURCE_EXHAUSTED, "out of memory packing the response");
		return;
	}
	rpc_frame_prefix(buf, false, (uint32_t)len);
	protobuf_c_message_pack(resp, buf + RPC_FRAME_PREFIX);
	call->response = buf;
	call->response_len = len + RPC_FRAME_PREFIX;
	call->code = DV_OK;
	call->answered = true;
	/* done, but the client has not heard: its retry must find it done */
	dv_crashpoint_at("rpc.before_reply", call->path);
}

void rpc_call_fail(rpc_call *call, dv_code code, const char *fmt, ...)
{
	va_list ap;

	if (call->answered)
		return;
	if (code == DV_OK)
		code = DV_UNKNOWN; /* a failure must not read as success */
	call->code = code;
	va_start(ap, fmt);
	if (vasprintf(&call->message, fmt, ap) < 0)
		call->message = NULL;
	va_end(ap);
	call->answered = true;
}

void rpc_call_fail_status(rpc_call *call, dv_status *st)
{
	if (call->answered) {
		dv_status_clear(st);
		return;
	}
	call->code = st->code == DV_OK ? DV_UNKNOWN : st->code;
	call->message = st->message;
	st->message = NULL;
	st->code = DV_OK;
	call->answered = true;
}

bool rpc_call_cancelled(const rpc_call *call)
{
	return atomic_load(&((rpc_call *)call)->cancelled) ||
	       dv_now_ns() >= call->deadline_ns;
}

int64_t rpc_call_deadline(const rpc_call *call)
{
	return call->deadline_ns;
}

bool rpc_call_defer(rpc_call *call)
{
	if (!call->on_loop)
		return false;
	call->deferred = true;
	return true;
}

const char *rpc_call_method(const rpc_call *call)
{
	return call->path;
}

int rpc_call_sleep(rpc_call *call, int64_t ns)
{
	rpc_server *srv = call->srv;
	int64_t until = dv_now_ns() + ns;
	int r = 0;

	if (until > call->deadline_ns)
		until = call->deadline_ns;
	pthread_mutex_lock(&srv->cancel_mu);
	for (;;) {
		if (atomic_load(&call->cancelled)) {
			r = -ECANCELED;
			break;
		}
		int64_t now = dv_now_ns();
		if (now >= until) {
			if (now >= call->deadline_ns)
				r = -ECANCELED;
			break;
		}
		struct timespec ts = { .tv_sec = until / 1000000000LL, .tv_nsec = until % 1000000000LL };
		pthread_cond_timedwait(&srv->cancel_cv, &srv->cancel_mu, &ts);
	}
	pthread_mutex_unlock(&srv->cancel_mu);
	return r;
}

/* Runs the handler (worker or loop thread). */
static void call_execute(rpc_call *call)
{
	const method_entry *me = call->method;

	if (me->delay_ns > 0 && rpc_call_sleep(call, me->delay_ns) < 0)
		return; /* the loop has answered (deadline) or the peer left */
	if (atomic_load(&call->cancelled))
		return;
	me->m->handler(call, call->request, me->payload);
	if (call->deferred)
		return; /* it runs again on a worker */
	if (!call->answered)
		rpc_call_fail(call, DV_INTERNAL, "handler for %s returned no answer", call->path);
}

/* ------------------------------------------------------------------ */
/* workers                                                             */

/*
 * Hands a finished call back to the loop. Only the push onto an empty
 * queue wakes it: until the loop has taken the queue (drain_done), later
 * calls ride on the same wake-up. Under load that saves a write(2) on the
 * eventfd, and the loop's read(2) and epoll round, for most calls.
 */
static void done_push(rpc_server *srv, rpc_call *call)
{
	bool wake;

	pthread_mutex_lock(&srv->done_mu);
	wake = srv->done_head == NULL;
	if (srv->done_tail)
		srv->done_tail->next = call;
	else
		srv->done_head = call;
	srv->done_tail = call;
	pthread_mutex_unlock(&srv->done_mu);
	if (wake) {
		uint64_t one = 1;
		ssize_t n = write(srv->wake_fd, &one, sizeof(one));
		(void)n; /* eventfd write fails only when the counter saturates */
	}
}

static void *worker_main(void *arg)
{
	rpc_server *srv = arg;

	for (;;) {
		rpc_call *call;

		pthread_mutex_lock(&srv->job_mu);
		while (!srv->job_head && !srv->job_stop) {
			srv->job_idle++;
			pthread_cond_wait(&srv->job_cv, &srv->job_mu);
			srv->job_idle--;
		}
		if (!srv->job_head) {
			pthread_mutex_unlock(&srv->job_mu);
			return NULL;
		}
		call = srv->job_head;
		srv->job_head = call->next;
		if (!srv->job_head)
			srv->job_tail = NULL;
		pthread_mutex_unlock(&srv->job_mu);

		call->next = NULL;
		call_execute(call);
		done_push(srv, call);
	}
}

/* Loop thread: the call goes to a worker at the end of this loop round. */
static void job_push(rpc_server *srv, rpc_call *call)
{
	call->next = NULL;
	if (srv->batch_tail)
		srv->batch_tail->next = call;
	else
		srv->batch_head = call;
	srv->batch_tail = call;
}

/*
 * Loop thread, once per round: queues the round's calls for the workers
 * under one lock, and wakes only as many idle workers as there are calls,
 * after the unlock. Signalling under the lock made each woken worker block
 * at once on the mutex the loop still held, and a signal per call woke
 * workers for calls a busy worker was about to take anyway: about three
 * futex calls per call in `perf record -e syscalls:sys_enter_futex`.
 */
static void job_submit(rpc_server *srv)
{
	unsigned n = 0, wake;

	if (!srv->batch_head)
		return;
	for (rpc_call *c = srv->batch_head; c; c = c->next)
		n++;
	pthread_mutex_lock(&srv->job_mu);
	if (srv->job_tail)
		srv->job_tail->next = srv->batch_head;
	else
		srv->job_head = srv->batch_head;
	srv->job_tail = srv->batch_tail;
	wake = n < srv->job_idle ? n : srv->job_idle;
	pthread_mutex_unlock(&srv->job_mu);
	srv->batch_head = srv->batch_tail = NULL;
	while (wake--)
		pthread_cond_signal(&srv->job_cv);
}

/* Loop thread: takes back calls the workers finished. */
static void drain_done(rpc_server *srv)
{
	rpc_call *list;

	pthread_mutex_lock(&srv->done_mu);
	list = srv->done_head;
	srv->done_head = srv->done_tail = NULL;
	pthread_mutex_unlock(&srv->done_mu);

	while (list) {
		rpc_call *call = list;
		list = call->next;
		call->next = NULL;
		call->on_worker = false;
		srv->running--;
		if (call->state == CALL_RUNNING && call->conn)
			call_respond(call);
		call_unref(call);
	}
}

/* ------------------------------------------------------------------ */
/* responding                                                          */

static void conn_mark_dirty(rpc_conn *c)
{
	if (c->in_dirty || c->dead)
		return;
	c->in_dirty = true;
	c->dirty_next = c->srv->dirty;
	c->srv->dirty = c;
}

#define NV(n, v, vl)                                                          \
	{ (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl),                \
	  NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE }
#define NVS(n, v) NV(n, v, sizeof(v) - 1)

static ssize_t response_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
			     size_t length, uint32_t *data_flags, nghttp2_data_source *source,
			     void *user_data)
{
	rpc_call *call = source->ptr;
	size_t left = call->response_len - call->response_sent;
	size_t n = left < length ? left : length;

	memcpy(buf, call->response + call->response_sent, n);
	call->response_sent += n;
	if (call->response_sent == call->response_len) {
		nghttp2_nv trailers[] = { NVS("grpc-status", "0") };
		*data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(session, stream_id, trailers, 1) != 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return (ssize_t)n;
}

/*
 * Hands the call's result to nghttp2 (loop thread). A successful answer is
 * HEADERS, DATA, then trailers with grpc-status 0; an error is a single
 * trailers-only HEADERS frame carrying grpc-status and grpc-message.
 */
static void call_respond(rpc_call *call)
{
	rpc_conn *c = call->conn;
	int rv;

	if (call->state == CALL_RESPONDED)
		return;
	call->state = CALL_RESPONDED;
	heap_remove(call->srv, call);
	if (!call->overridden && !call->answered) {
		/* The handler gave up because the deadline passed before the
		 * loop's timer fired, or it was cancelled: say which. */
		if (dv_now_ns() >= call->deadline_ns)
			call_override(call, DV_DEADLINE_EXCEEDED, "deadline exceeded");
		else if (atomic_load(&call->cancelled))
			call_override(call, DV_CANCELLED, "call cancelled");
		else
			call_override(call, DV_INTERNAL, "call ended without an answer");
	}
	if (call->overridden) {
		call->final_code = call->loop_code;
		call->final_message = call->loop_message;
	} else {
		call->final_code = call->code;
		call->final_message = call->message;
	}
	call_observe(call);
	if (!c)
		return;

	if (!call->overridden && call->code == DV_OK && call->response) {
		nghttp2_nv hdrs[] = {
			NVS(":status", "200"),
			NVS("content-type", "application/grpc"),
			NVS("grpc-accept-encoding", "identity"),
		};
		nghttp2_data_provider prd = { .source.ptr = call, .read_callback = response_read };
		rv = nghttp2_submit_response(c->session, call->stream_id, hdrs, 3, &prd);
	} else {
		nghttp2_nv hdrs[5];
		size_t n = 0;
		const char *http_status = "200";

		/* Requests that are not gRPC at all get the HTTP answer the
		 * protocol prescribes, with a gRPC status for gRPC peers too. */
		if (!call->is_post)
			http_status = "405";
		else if (!call->grpc_content_type)
			http_status = "415";
		snprintf(call->status_str, sizeof(call->status_str), "%d", (int)call->final_code);
		hdrs[n++] = (nghttp2_nv)NV(":status", http_status, 3);
		hdrs[n++] = (nghttp2_nv)NVS("content-type", "application/grpc");
		hdrs[n++] = (nghttp2_nv)NV("grpc-status", call->status_str, strlen(call->status_str));
		if (call->final_message && *call->final_message) {
			/* Clients cap metadata (grpcio: 8 KiB); a message echoing a
			 * huge request field must not turn into their error. */
			if (strlen(call->final_message) > MAX_STATUS_MESSAGE) {
				char *m = call->overridden ? call->loop_message : call->message;
				memcpy(m + MAX_STATUS_MESSAGE - 4, "...", 4);
			}
			call->message_encoded = rpc_percent_encode(call->final_message);
			if (call->message_encoded)
				hdrs[n++] = (nghttp2_nv)NV("grpc-message", call->message_encoded,
							   strlen(call->message_encoded));
		}
		rv = nghttp2_submit_response(c->session, call->stream_id, hdrs, n, NULL);
	}
	if (rv != 0)
		nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, call->stream_id,
					  NGHTTP2_INTERNAL_ERROR);
	conn_mark_dirty(c);
}

static void call_fail_now(rpc_call *call, dv_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void call_fail_now(rpc_call *call, dv_code code, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (call->state == CALL_RESPONDED)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	call_override(call, code, msg);
	free(msg);
	call_release_buffer(call);
	call_respond(call);
}

/* ------------------------------------------------------------------ */
/* request handling                                                    */

static const method_entry *method_find(const rpc_server *srv, const char *path)
{
	size_t lo = 0, hi = srv->n_methods;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(path, srv->methods[mid].m->path);
		if (c == 0)
			return &srv->methods[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The request headers are complete: check them before any body arrives. */
static void call_headers_done(rpc_call *call)
{
	rpc_server *srv = call->srv;
	int64_t timeout_ns;

	if (call->bad_headers) {
		call_fail_now(call, DV_RESOURCE_EXHAUSTED,
			      "request headers exceed %zu bytes", srv->opts.max_header_bytes);
		return;
	}
	if (!call->is_post) {
		call_fail_now(call, DV_INTERNAL, "gRPC requires the POST method");
		return;
	}
	if (!call->grpc_content_type) {
		call_fail_now(call, DV_INTERNAL, "content-type must be application/grpc");
		return;
	}
	if (!call->path) {
		call_fail_now(call, DV_INTERNAL, "request has no :path");
		return;
	}
	if (!call->method) {
		call_fail_now(call, DV_UNIMPLEMENTED, "unknown method %s", call->path);
		return;
	}
	if (call->bad_timeout) {
		call_fail_now(call, DV_INTERNAL, "malformed grpc-timeout");
		return;
	}
	if (call->has_timeout) {
		timeout_ns = call->timeout_ns;
		if (timeout_ns > INT64_MAX - call->start_ns)
			timeout_ns = INT64_MAX - call->start_ns;
		call->deadline_ns = call->start_ns + timeout_ns;
		if (heap_push(srv, call) < 0) {
			call_fail_now(call, DV_RESOURCE_EXHAUSTED, "out of memory");
			return;
		}
	}
}

/* The request stream ended: decode and run. */
static void call_request_done(rpc_call *call)
{
	rpc_server *srv = call->srv;
	const uint8_t *msg;
	size_t len;
	bool compressed;
	rpc_frame_result fr;

	if (call->state != CALL_RECEIVING)
		return;
	fr = rpc_frame_reader_finish(&call->reader, &msg, &len, &compressed);
	if (fr != RPC_FRAME_OK) {
		call_fail_now(call, DV_INTERNAL, "unary call needs exactly one request message");
		return;
	}
	if (compressed) {
		if (call->encoding && !call->encoding_identity)
			call_fail_now(call, DV_UNIMPLEMENTED,
				      "grpc-encoding %s is not supported; use identity", call->encoding);
		else
			call_fail_now(call, DV_INTERNAL, "compressed message without grpc-encoding");
		return;
	}
	const char *bad_field;
	if (rpc_pbcheck_strings(call->method->m->input, msg, len, &bad_field) < 0) {
		call_fail_now(call, DV_INVALID_ARGUMENT,
			      "field %s holds a NUL byte or is not valid UTF-8", bad_field);
		return;
	}
	call->request = protobuf_c_message_unpack(call->method->m->input, NULL, len, msg);
	call_release_buffer(call);
	if (!call->request) {
		call_fail_now(call, DV_INTERNAL, "request is not a valid %s message",
			      call->method->m->input->name);
		return;
	}
	call->state = CALL_RUNNING;
	if ((call->method->m->flags & (RPC_METHOD_INLINE | RPC_METHOD_TRY_INLINE)) &&
	    call->method->delay_ns == 0) {
		call->on_loop = (call->method->m->flags & RPC_METHOD_INLINE) == 0;
		call_execute(call);
		call->on_loop = false;
		if (!call->deferred) {
			call_respond(call);
			return;
		}
		call->deferred = false;
	}
	call->refs++;
	call->on_worker = true;
	srv->running++;
	job_push(srv, call);
}

/* ------------------------------------------------------------------ */
/* nghttp2 callbacks                                                   */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	rpc_conn *c = user_data;
	rpc_call *call;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	call = calloc(1, sizeof(*call));
	if (!call)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
	call->srv = c->srv;
	call->conn = c;
	call->stream_id = frame->hd.stream_id;
	call->refs = 1;
	call->state = CALL_RECEIVING;
	call->start_ns = c->srv->loop_now;
	call->deadline_ns = INT64_MAX;
	call->heap_idx = SIZE_MAX;
	call->encoding_identity = true;
	atomic_init(&call->cancelled, false);
	rpc_frame_reader_init(&call->reader, c->srv->opts.max_message);
	call->conn_next = c->calls;
	if (c->calls)
		c->calls->conn_prev = call;
	c->calls = call;
	nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, call);
	return 0;
}

/*
 * :path names the method: look it up now and point at the method table's
 * own copy, so a known method costs no allocation. Only an unknown path is
 * copied, for its UNIMPLEMENTED message. A path of 256 bytes or more is
 * never a registered method.
 */
static void call_set_path(rpc_call *call, const uint8_t *value, size_t len)
{
	char key[256];

	free(call->path_owned);
	call->path_owned = NULL;
	call->path = NULL;
	call->method = NULL;
	if (len < sizeof(key) && !memchr(value, 0, len)) {
		memcpy(key, value, len);
		key[len] = 0;
		call->method = method_find(call->srv, key);
	}
	if (call->method) {
		call->path = call->method->m->path;
		return;
	}
	call->path_owned = strndup((const char *)value, len);
	call->path = call->path_owned;
}

static bool header_is(const uint8_t *name, size_t namelen, const char *want)
{
	return namelen == strlen(want) && memcmp(name, want, namelen) == 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user_data)
{
	rpc_conn *c = user_data;
	rpc_call *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);

	if (!call || frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0; /* trailers from the client carry nothing we use */
	call->header_bytes += namelen + valuelen + 32; /* RFC 7540 6.5.2 accounting */
	if (call->header_bytes > c->srv->opts.max_header_bytes)
		call->bad_headers = true;
	if (call->bad_headers)
		return 0;

	if (header_is(name, namelen, ":method")) {
		call->is_post = valuelen == 4 && memcmp(value, "POST", 4) == 0;
	} else if (header_is(name, namelen, ":path")) {
		call_set_path(call, value, valuelen);
	} else if (header_is(name, namelen, "content-type")) {
		call->grpc_content_type =
			valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
			(valuelen == 16 || value[16] == '+' || value[16] == ';');
	} else if (header_is(name, namelen, "grpc-timeout")) {
		/* parsed here, so nothing is copied; a malformed one is
		 * answered once the headers are complete */
		call->has_timeout = true;
		call->bad_timeout = rpc_timeout_parse((const char *)value, valuelen,
						      &call->timeout_ns) < 0;
	} else if (header_is(name, namelen, "grpc-encoding")) {
		free(call->encoding);
		call->encoding = strndup((const char *)value, valuelen);
		call->encoding_identity = valuelen == 8 && memcmp(value, "identity", 8) == 0;
	}
	return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id,
			      const uint8_t *data, size_t len, void *user_data)
{
	rpc_conn *c = user_data;
	rpc_server *srv = c->srv;
	rpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);
	rpc_frame_result fr;
	size_t before;

	if (!call || call->state != CALL_RECEIVING)
		return 0; /* answered early: the rest of the body is dropped */
	if (srv->buffered + len > srv->opts.max_buffered) {
		call_fail_now(call, DV_RESOURCE_EXHAUSTED,
			      "server is buffering too many request bytes; retry later");
		return 0;
	}
	before = call->reader.msg.len;
	fr = rpc_frame_reader_feed(&call->reader, data, len);
	if (call->reader.msg.len > before) {
		srv->buffered += call->reader.msg.len - before;
		call->buffered += call->reader.msg.len - before;
	}
	switch (fr) {
	case RPC_FRAME_OK:
		break;
	case RPC_FRAME_TOO_LARGE:
		call_fail_now(call, DV_RESOURCE_EXHAUSTED,
			      "request message of %u bytes exceeds the limit of %zu bytes",
			      call->reader.msg_len, srv->opts.max_message);
		break;
	case RPC_FRAME_EXTRA:
		call_fail_now(call, DV_INTERNAL, "unary call received more than one message");
		break;
	case RPC_FRAME_BAD_FLAG:
		call_fail_now(call, DV_INTERNAL, "invalid message compression flag");
		break;
	default:
		call_fail_now(call, DV_RESOURCE_EXHAUSTED, "out of memory buffering the request");
		break;
	}
	return 0;
}

static void conn_send_final_goaway(rpc_conn *c)
{
	if (c->goaway_final)
		return;
	c->goaway_final = true;
	nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(c->session), NGHTTP2_NO_ERROR,
			      NULL, 0);
	conn_mark_dirty(c);
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	rpc_conn *c = user_data;
	rpc_call *call;

	if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
		/* The peer has seen our shutdown notice: streams it opened
		 * before this are the last ones we take. */
		if (c->srv->draining)
			conn_send_final_goaway(c);
		return 0;
	}
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!call)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
		call_headers_done(call);
	if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && call->state == CALL_RECEIVING)
		call_request_done(call);
	return 0;
}

/* The stream is gone: nothing more can be sent on it. */
static void call_detach(rpc_call *call, uint32_t error_code)
{
	rpc_conn *c = call->conn;

	if (!c)
		return;
	if (call->conn_prev)
		call->conn_prev->conn_next = call->conn_next;
	else
		c->calls = call->conn_next;
	if (call->conn_next)
		call->conn_next->conn_prev = call->conn_prev;
	call->conn = NULL;
	call->conn_prev = call->conn_next = NULL;
	heap_remove(call->srv, call);
	if (call->state != CALL_RESPONDED) {
		/* The client reset the stream or the connection died. */
		call_cancel(call);
		call->state = CALL_RESPONDED;
		if (error_code == NGHTTP2_NO_ERROR || error_code == NGHTTP2_CANCEL)
			call_override(call, DV_CANCELLED, "call cancelled by the client");
		else {
			char msg[64];
			snprintf(msg, sizeof(msg), "stream reset (HTTP/2 error %u)", error_code);
			call_override(call, DV_CANCELLED, msg);
		}
		call->final_code = call->loop_code;
		call->final_message = call->loop_message;
		call_observe(call);
	}
	call_release_buffer(call);
	call_unref(call);
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
			   void *user_data)
{
	rpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);

	if (call) {
		nghttp2_session_set_stream_user_data(session, stream_id, NULL);
		call_detach(call, error_code);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* connections                                                         */

static nghttp2_session_callbacks *server_cbs;

static void server_callbacks_init(void)
{
	nghttp2_session_callbacks *cbs;

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	server_cbs = cbs;
}

static nghttp2_session_callbacks *server_callbacks(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, server_callbacks_init);
	return server_cbs;
}

static int epoll_mod(rpc_server *srv, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(srv->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static void conn_accept(rpc_server *srv, rpc_listener *l)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		rpc_conn *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				log_warn("rpc: cannot accept: %s", strerror(errno));
			return; /* EAGAIN and friends: try on the next event */
		}
		if (srv->draining || srv->n_conns >= srv->opts.max_connections) {
			if (!srv->draining)
				log_warn("rpc: connection limit (%u) reached; refusing a client",
					 srv->opts.max_connections);
			close(fd);
			continue;
		}
		if (!l->is_unix) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->tag.kind = EV_CONN;
		c->srv = srv;
		c->fd = fd;
		dv_buf_init(&c->out, 0);

		/* nghttp2's HTTP messaging checks reject an :authority holding a
		 * socket path, which grpc-go clients of the kubelet's era send;
		 * gRPC servers accept it. The checks gRPC needs (method, path,
		 * content-type) are ours, in call_headers_done().
		 *
		 * By default nghttp2 keeps closed streams (about 220 bytes each,
		 * up to max_streams per connection) to maintain the RFC 7540
		 * priority tree, which a gRPC server never uses: at concurrency 64
		 * that was a fifth of the heap's peak (mtrace). */
		nghttp2_option *opt = NULL;
		int rv = nghttp2_option_new(&opt);
		if (rv == 0) {
			nghttp2_option_set_no_http_messaging(opt, 1);
			nghttp2_option_set_no_closed_streams(opt, 1);
			rv = nghttp2_session_server_new2(&c->session, server_callbacks(), c, opt);
			nghttp2_option_del(opt);
		}
		nghttp2_settings_entry iv[] = {
			{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, srv->opts.max_streams },
			{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)srv->opts.max_header_bytes },
			{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 256 * 1024 },
		};
		if (rv != 0 ||
		    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
		    nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
							  4 * 1024 * 1024) != 0 ||
		    epoll_mod(srv, EPOLL_CTL_ADD, fd, EPOLLIN, c) < 0) {
			if (c->session)
				nghttp2_session_del(c->session);
			close(fd);
			dv_buf_free(&c->out);
			free(c);
			continue;
		}
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		srv->n_conns++;
		conn_mark_dirty(c);
	}
}

/* Writes what nghttp2 has queued. Returns -1 when the connection died. */
static int conn_flush(rpc_conn *c)
{
	for (;;) {
		while (c->out.len < WRITE_BATCH) {
			const uint8_t *data;
			ssize_t n = nghttp2_session_mem_send(c->session, &data);
			if (n < 0)
				return -1;
			if (n == 0)
				break;
			if (dv_buf_append(&c->out, data, (size_t)n) < 0)
				return -1;
		}
		if (c->out.len == 0)
			break;
		ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		dv_buf_consume(&c->out, (size_t)w);
		if (c->out.len > 0)
			break; /* the socket is full */
	}
	/* A large response (a ListVolumes page) grows the batch buffer to
	 * 128 KiB; a connection lives as long as its sidecar, so give the
	 * buffer back once it is empty rather than keep it for the next. */
	if (c->out.len == 0 && c->out.cap > OUT_KEEP)
		dv_buf_free(&c->out);
	/* Back-pressure: while the peer does not read, we do not read either,
	 * so it cannot make us queue responses without bound. */
	bool blocked = c->out.len > 0;
	if (blocked != c->out_blocked) {
		c->out_blocked = blocked;
		epoll_mod(c->srv, EPOLL_CTL_MOD, c->fd, blocked ? EPOLLOUT : EPOLLIN, c);
	}
	if (!blocked && !c->lingering && !nghttp2_session_want_read(c->session) &&
	    !nghttp2_session_want_write(c->session)) {
		/* Both sides are done. Closing now could reset the connection
		 * while the peer still sends (a WINDOW_UPDATE, a PING ack), and
		 * a reset makes it drop responses it has not read yet. Shut our
		 * side and wait for its close instead. */
		shutdown(c->fd, SHUT_WR);
		c->lingering = true;
		c->linger_until = dv_now_ns() + LINGER_NS;
	}
	return 0;
}

static void conn_read(rpc_conn *c)
{
	uint8_t buf[READ_CHUNK];
	ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		c->dead = true;
		return;
	}
	if (c->lingering)
		return; /* the session is over: discard */
	if (nghttp2_session_mem_recv(c->session, buf, (size_t)n) < 0) {
		/* protocol error: nghttp2 queued a GOAWAY; send it, then close */
		conn_flush(c);
		c->dead = true;
		return;
	}
	conn_mark_dirty(c);
}

static void conn_close(rpc_conn *c)
{
	rpc_server *srv = c->srv;

	/* nghttp2_session_del does not report stream closes: detach the
	 * calls ourselves so running handlers see the cancellation. */
	while (c->calls) {
		rpc_call *call = c->calls;
		nghttp2_session_set_stream_user_data(c->session, call->stream_id, NULL);
		call_detach(call, NGHTTP2_CANCEL);
	}
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	nghttp2_session_del(c->session);
	dv_buf_free(&c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	idle_touch(srv);
	free(c);
}

static void flush_dirty(rpc_server *srv)
{
	while (srv->dirty) {
		rpc_conn *c = srv->dirty;
		srv->dirty = c->dirty_next;
		c->in_dirty = false;
		c->dirty_next = NULL;
		if (c->dead || conn_flush(c) < 0)
			c->dead = true;
	}
}

static void close_dead(rpc_server *srv)
{
	rpc_conn *c = srv->conns;
	int64_t now = dv_now_ns();

	while (c) {
		rpc_conn *next = c->next;
		if (c->dead || (c->lingering && now >= c->linger_until))
			conn_close(c);
		c = next;
	}
}

/* ------------------------------------------------------------------ */
/* listeners                                                           */

static int listen_unix(rpc_server *srv, rpc_listener *l, const char *path, dv_status *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			dv_status_set(err, DV_FAILED_PRECONDITION,
				      "%s exists and is not a socket; refusing to replace it", path);
			return -EEXIST;
		}
		rpc_endpoint ep = { .kind = RPC_ENDPOINT_UNIX };
		memcpy(ep.path, path, strlen(path) + 1);
		int probe = rpc_endpoint_connect(&ep);
		if (probe >= 0) {
			close(probe);
			dv_status_set(err, DV_FAILED_PRECONDITION,
				      "another process is listening on %s", path);
			return -EADDRINUSE;
		}
		if (probe != -ECONNREFUSED && probe != -ENOENT) {
			dv_status_set(err, DV_FAILED_PRECONDITION, "cannot probe %s: %s", path,
				      strerror(-probe));
			return probe;
		}
		/* a socket file left by a process that died: safe to remove */
		if (unlink(path) < 0 && errno != ENOENT) {
			int e = errno;
			dv_status_set(err, DV_FAILED_PRECONDITION, "cannot remove stale socket %s: %s",
				      path, strerror(e));
			return -e;
		}
		log_info("rpc: removed stale socket %s", path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 256) < 0 ||
	    lstat(path, &st) < 0)
		goto fail;
	l->fd = fd;
	l->is_unix = true;
	memcpy(l->path, path, strlen(path) + 1);
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return 0;
fail:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	dv_status_set(err, DV_UNAVAILABLE, "cannot listen on %s: %s", path, strerror(e));
	return -e;
}

static int listen_tcp(rpc_server *srv, rpc_listener *l, const rpc_endpoint *ep, dv_status *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	int fd = -1, e = 0, one = 1;

	if (getaddrinfo(ep->host, ep->port, &hints, &res) != 0 || !res) {
		dv_status_set(err, DV_INVALID_ARGUMENT, "cannot resolve %s", ep->host);
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 256) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		dv_status_set(err, DV_UNAVAILABLE, "cannot listen on %s:%s: %s", ep->host,
			      ep->port, strerror(e));
		return -e;
	}
	freeaddrinfo(res);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							  : ((struct sockaddr_in *)&ss)->sin_port);
	l->fd = fd;
	return 0;
}

int rpc_server_listen(rpc_server *srv, const char *endpoint, dv_status *err)
{
	rpc_endpoint ep;
	const char *why;
	rpc_listener *l;
	int r;

	if (rpc_endpoint_parse(endpoint, &ep, &why) < 0) {
		dv_status_set(err, DV_INVALID_ARGUMENT, "endpoint %s: %s", endpoint, why);
		return -EINVAL;
	}
	if (srv->n_listeners == MAX_LISTENERS) {
		dv_status_set(err, DV_RESOURCE_EXHAUSTED, "too many endpoints");
		return -ENOSPC;
	}
	l = &srv->listeners[srv->n_listeners];
	memset(l, 0, sizeof(*l));
	l->tag.kind = EV_LISTENER;
	l->fd = -1;
	r = ep.kind == RPC_ENDPOINT_UNIX ? listen_unix(srv, l, ep.path, err)
					 : listen_tcp(srv, l, &ep, err);
	if (r < 0)
		return r;
	r = epoll_mod(srv, EPOLL_CTL_ADD, l->fd, EPOLLIN, l);
	if (r < 0) {
		close(l->fd);
		if (l->is_unix)
			unlink(l->path);
		dv_status_set(err, DV_INTERNAL, "epoll: %s", strerror(-r));
		return r;
	}
	srv->n_listeners++;
	return 0;
}

int rpc_server_tcp_port(const rpc_server *srv)
{
	for (size_t i = 0; i < srv->n_listeners; i++)
		if (!srv->listeners[i].is_unix)
			return srv->listeners[i].port;
	return 0;
}

/* Closes the listeners; removes a unix socket file only if it is still
 * the one we created (another instance may have taken the path). */
static void close_listeners(rpc_server *srv)
{
	for (size_t i = 0; i < srv->n_listeners; i++) {
		rpc_listener *l = &srv->listeners[i];
		struct stat st;

		if (l->fd < 0)
			continue;
		epoll_ctl(srv->epfd, EPOLL_CTL_DEL, l->fd, NULL);
		close(l->fd);
		l->fd = -1;
		if (l->is_unix && lstat(l->path, &st) == 0 && st.st_dev == l->dev &&
		    st.st_ino == l->ino)
			unlink(l->path);
	}
}

/* ------------------------------------------------------------------ */
/* life cycle                                                          */

static int method_cmp(const void *a, const void *b)
{
	return strcmp(((const method_entry *)a)->m->path, ((const method_entry *)b)->m->path);
}

int rpc_server_add_method(rpc_server *srv, const rpc_method *m, void *payload)
{
	method_entry *ms;

	if (!m->path || m->path[0] != '/' || !m->input || !m->output || !m->handler)
		return -EINVAL;
	if (method_find(srv, m->path))
		return -EEXIST;
	ms = realloc(srv->methods, (srv->n_methods + 1) * sizeof(*ms));
	if (!ms)
		return -ENOMEM;
	srv->methods = ms;
	srv->methods[srv->n_methods++] = (method_entry){ .m = m, .payload = payload };
	qsort(srv->methods, srv->n_methods, sizeof(*ms), method_cmp);
	return 0;
}

int rpc_server_set_delay(rpc_server *srv, const char *name, int64_t ns)
{
	size_t nl = strlen(name);
	int found = -ENOENT;

	for (size_t i = 0; i < srv->n_methods; i++) {
		const char *p = srv->methods[i].m->path;
		size_t pl = strlen(p);
		if (pl > nl && p[pl - nl - 1] == '/' && strcmp(p + pl - nl, name) == 0) {
			srv->methods[i].delay_ns = ns;
			found = 0;
		}
	}
	return found;
}

void rpc_server_set_observer(rpc_server *srv, rpc_observer_fn fn, void *payload)
{
	srv->observer = fn;
	srv->observer_payload = payload;
}

void rpc_server_set_idle_hook(rpc_server *srv, int64_t quiet_ns, rpc_idle_fn fn, void *payload)
{
	srv->idle_fn = fn;
	srv->idle_payload = payload;
	srv->idle_quiet_ns = quiet_ns > 0 ? quiet_ns : 0;
	srv->idle_armed = false;
}

/* The idle hook may fire (at idle_at): armed and no handler running. */
static bool idle_due(const rpc_server *srv)
{
	return srv->idle_fn && srv->idle_armed && srv->running == 0 && !srv->draining;
}

int rpc_server_new(rpc_server **ret, const rpc_server_options *opts)
{
	rpc_server *srv = calloc(1, sizeof(*srv));
	pthread_condattr_t ca;
	int r;

	if (!srv)
		return -ENOMEM;
	if (opts)
		srv->opts = *opts;
	if (!srv->opts.max_message)
		srv->opts.max_message = 4 * 1024 * 1024;
	if (!srv->opts.workers)
		srv->opts.workers = 8;
	if (!srv->opts.max_connections)
		srv->opts.max_connections = 256;
	if (!srv->opts.max_streams)
		srv->opts.max_streams = 128;
	if (!srv->opts.max_header_bytes)
		srv->opts.max_header_bytes = 16 * 1024;
	if (!srv->opts.max_buffered)
		srv->opts.max_buffered = 64 * 1024 * 1024;
	if (!srv->opts.grace_ns)
		srv->opts.grace_ns = 30 * 1000000000LL;
	if (!server_callbacks()) {
		free(srv);
		return -ENOMEM;
	}

	srv->wake_tag.kind = EV_WAKE;
	srv->wake_fd = -1;
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (srv->epfd < 0 || srv->wake_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = epoll_mod(srv, EPOLL_CTL_ADD, srv->wake_fd, EPOLLIN, &srv->wake_tag);
	if (r < 0)
		goto fail;
	atomic_init(&srv->stop_requested, false);
	pthread_mutex_init(&srv->job_mu, NULL);
	pthread_cond_init(&srv->job_cv, NULL);
	pthread_mutex_init(&srv->done_mu, NULL);
	pthread_mutex_init(&srv->cancel_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->cancel_cv, &ca);
	pthread_condattr_destroy(&ca);

	srv->threads = calloc(srv->opts.workers, sizeof(pthread_t));
	if (!srv->threads) {
		r = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < srv->opts.workers; i++) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		/* handlers do not recurse deeply; small stacks keep RSS low */
		pthread_attr_setstacksize(&attr, 256 * 1024);
		r = -pthread_create(&srv->threads[i], &attr, worker_main, srv);
		pthread_attr_destroy(&attr);
		if (r < 0)
			goto fail;
		srv->n_threads++;
	}
	*ret = srv;
	return 0;
fail:
	rpc_server_free(srv);
	return r;
}

void rpc_server_stop(rpc_server *srv)
{
	uint64_t one = 1;
	ssize_t n;

	atomic_store(&srv->stop_requested, true);
	n = write(srv->wake_fd, &one, sizeof(one));
	(void)n;
}

static void begin_drain(rpc_server *srv)
{
	int64_t now = dv_now_ns();

	srv->draining = true;
	srv->drain_deadline = now + srv->opts.grace_ns;
	srv->goaway_deadline = now + GOAWAY_PING_WAIT_NS;
	close_listeners(srv);
	log_info("rpc: draining %u connection(s), %u call(s) running", srv->n_conns, srv->running);
	/* Two-step GOAWAY: a notice first, then, once a PING round trip
	 * proves the client has seen it, the final one with the last
	 * stream we processed. Streams in flight finish normally. */
	for (rpc_conn *c = srv->conns; c; c = c->next) {
		nghttp2_submit_shutdown_notice(c->session);
		nghttp2_submit_ping(c->session, NGHTTP2_FLAG_NONE, NULL);
		conn_mark_dirty(c);
	}
}

static void expire_deadlines(rpc_server *srv, int64_t now)
{
	while (srv->heap_len > 0 && srv->heap[0]->deadline_ns <= now) {
		rpc_call *call = srv->heap[0];
		heap_remove(srv, call);
		call_cancel(call);
		if (call->state != CALL_RESPONDED)
			call_fail_now(call, DV_DEADLINE_EXCEEDED, "deadline exceeded after %.3fs",
				      (double)(now - call->start_ns) / 1e9);
	}
}

static int compute_timeout_ms(rpc_server *srv, int64_t now)
{
	int64_t next = INT64_MAX;

	if (srv->heap_len > 0)
		next = srv->heap[0]->deadline_ns;
	if (srv->draining) {
		if (srv->drain_deadline < next)
			next = srv->drain_deadline;
		if (srv->goaway_deadline > now && srv->goaway_deadline < next)
			next = srv->goaway_deadline;
	}
	for (rpc_conn *c = srv->conns; c; c = c->next)
		if (c->lingering && c->linger_until < next)
			next = c->linger_until;
	/* not while a handler runs: its end is an event that re-arms */
	if (idle_due(srv) && srv->idle_at < next)
		next = srv->idle_at;
	if (next == INT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	int64_t ms = (next - now + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

int rpc_server_run(rpc_server *srv)
{
	struct epoll_event evs[64];

	for (;;) {
		int64_t now = srv->loop_now = dv_now_ns();

		if (!srv->draining && atomic_load(&srv->stop_requested))
			begin_drain(srv);
		if (srv->draining) {
			if (now >= srv->goaway_deadline)
				for (rpc_conn *c = srv->conns; c; c = c->next)
					conn_send_final_goaway(c);
			if (now >= srv->drain_deadline) {
				if (srv->conns || srv->running)
					log_warn("rpc: grace period over; cancelling %u call(s)",
						 srv->running);
				for (rpc_conn *c = srv->conns; c; c = c->next)
					c->dead = true;
			}
		}
		expire_deadlines(srv, now);
		flush_dirty(srv);
		close_dead(srv);
		if (srv->draining && !srv->conns &&
		    (srv->running == 0 || now >= srv->drain_deadline))
			break;
		if (idle_due(srv) && now >= srv->idle_at) {
			srv->idle_armed = false;
			srv->idle_fn(srv->idle_payload);
			now = dv_now_ns();
		}

		int n = epoll_wait(srv->epfd, evs, 64, compute_timeout_ms(srv, now));
		srv->loop_now = dv_now_ns();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			ev_tag *tag = evs[i].data.ptr;
			if (tag->kind == EV_WAKE) {
				uint64_t v;
				ssize_t rn = read(srv->wake_fd, &v, sizeof(v));
				(void)rn;
				drain_done(srv);
			} else if (tag->kind == EV_LISTENER) {
				conn_accept(srv, (rpc_listener *)tag);
			} else {
				rpc_conn *c = (rpc_conn *)tag;
				if (c->dead)
					continue;
				if (evs[i].events & (EPOLLERR | EPOLLHUP) &&
				    !(evs[i].events & EPOLLIN))
					c->dead = true;
				else if (evs[i].events & EPOLLIN)
					conn_read(c);
				conn_mark_dirty(c);
			}
		}
		job_submit(srv);
	}
	return 0;
}

void rpc_server_free(rpc_server *srv)
{
	if (!srv)
		return;
	if (srv->n_threads) {
		pthread_mutex_lock(&srv->job_mu);
		srv->job_stop = true;
		pthread_cond_broadcast(&srv->job_cv);
		pthread_mutex_unlock(&srv->job_mu);
		for (unsigned i = 0; i < srv->n_threads; i++)
			pthread_join(srv->threads[i], NULL);
	}
	while (srv->conns)
		conn_close(srv->conns);
	/* workers empty the job queue before they exit; take back their calls */
	drain_done(srv);
	close_listeners(srv);
	free(srv->threads);
	free(srv->heap);
	free(srv->methods);
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->wake_fd >= 0)
		close(srv->wake_fd);
	if (srv->n_threads || srv->threads) {
		pthread_mutex_destroy(&srv->job_mu);
		pthread_cond_destroy(&srv->job_cv);
		pthread_mutex_destroy(&srv->done_mu);
		pthread_mutex_destroy(&srv->cancel_mu);
		pthread_cond_destroy(&srv->cancel_cv);
	}
	free(srv);
}
