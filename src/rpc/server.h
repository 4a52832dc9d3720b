/*
 * server.h - unary gRPC server over HTTP/2 (nghttp2) on unix or TCP sockets.
 *
 * One event-loop thread owns every socket and nghttp2 session; handlers run
 * on a worker pool so a slow one (mkfs, mount) never stalls other streams.
 * Handlers flagged RPC_METHOD_INLINE are cheap and never block: they run on
 * the loop itself and skip two thread hand-offs. RPC_METHOD_TRY_INLINE ones
 * run on the loop while they can answer at once, on a worker otherwise.
 *
 * What the server guarantees to clients (PROTOCOL-HTTP2.md):
 *  - grpc-timeout is honoured: at the deadline the call ends with
 *    DEADLINE_EXCEEDED and the handler sees rpc_call_cancelled();
 *  - RST_STREAM from the client cancels the call the same way;
 *  - errors found before dispatch get a trailers-only response; unknown
 *    methods UNIMPLEMENTED, undecodable requests INTERNAL, oversized ones
 *    RESOURCE_EXHAUSTED, compressed ones UNIMPLEMENTED;
 *  - everything a peer controls is bounded: header bytes, streams per
 *    connection, connections, bytes buffered for requests;
 *  - rpc_server_stop() drains: GOAWAY, in-flight calls finish within the
 *    grace period, listeners close and the unix socket file is removed.
 */
#ifndef DYNVOL_RPC_SERVER_H
#define DYNVOL_RPC_SERVER_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "status.h"

typedef struct rpc_server rpc_server;
typedef struct rpc_call rpc_call;

/*
 * A handler decodes nothing itself: req is the unpacked request (owned by
 * the call, read-only). It must finish the call with exactly one of
 * rpc_call_reply() or rpc_call_fail*(); returning without either answers
 * INTERNAL.
 */
typedef void (*rpc_handler_fn)(rpc_call *call, const ProtobufCMessage *req, void *payload);

enum {
	RPC_METHOD_INLINE = 1 << 0, /* cheap, never blocks: run on the loop */
	/* Runs on the loop first; a handler that finds it would block calls
	 * rpc_call_defer() and returns, and runs again on a worker. For
	 * handlers that are usually cheap (Probe answered from a cache). */
	RPC_METHOD_TRY_INLINE = 1 << 1,
};

typedef struct {
	const char *path; /* "/csi.v1.Identity/Probe" */
	const ProtobufCMessageDescriptor *input;
	const ProtobufCMessageDescriptor *output;
	rpc_handler_fn handler;
	unsigned flags;
} rpc_method;

typedef struct {
	size_t max_message;        /* request size limit; default 4 MiB */
	unsigned workers;          /* handler threads; default 8 */
	unsigned max_connections;  /* default 256 */
	unsigned max_streams;      /* concurrent streams per connection; default 128 */
	size_t max_header_bytes;   /* request header list; default 16 KiB */
	size_t max_buffered;       /* request bytes buffered server-wide; default 64 MiB */
	int64_t grace_ns;          /* drain time on stop; default 30 s */
} rpc_server_options;

/* What the observer sees once per finished call (on the loop thread). */
typedef struct {
	const char *method;
	const ProtobufCMessage *request; /* NULL when never decoded */
	dv_code code;
	const char *message;             /* NULL or the grpc-message sent */
	int64_t duration_ns;
} rpc_call_record;

typedef void (*rpc_observer_fn)(const rpc_call_record *rec, void *payload);

/* Called on the loop thread when the server has gone quiet (see below). */
typedef void (*rpc_idle_fn)(void *payload);

/* opts may be NULL for defaults. Returns 0 or -errno. */
int rpc_server_new(rpc_server **ret, const rpc_server_options *opts);

/* Registers a method; the table entry must outlive the server. */
int rpc_server_add_method(rpc_server *srv, const rpc_method *m, void *payload);

void rpc_server_set_observer(rpc_server *srv, rpc_observer_fn fn, void *payload);

/*
 * Calls fn once each time the server goes quiet after work: at least one
 * call finished or a connection closed since the last time, no handler is
 * running, and nothing has arrived for quiet_ns. A burst of calls thus
 * ends in one fn call, a sidecar's probe every few seconds in one each.
 * The driver returns memory there (heap pages freed by the burst, the
 * registry's page cache). fn runs on the loop thread, so it must be short:
 * while it runs no request is read.
 */
void rpc_server_set_idle_hook(rpc_server *srv, int64_t quiet_ns, rpc_idle_fn fn, void *payload);

/*
 * Fault injection for tests: calls to the method whose path ends in
 * "/<name>" wait ns (cancellably) before their handler runs.
 * Returns -ENOENT when no such method is registered.
 */
int rpc_server_set_delay(rpc_server *srv, const char *name, int64_t ns);

/*
 * Binds an endpoint ("unix:///path" or "tcp://host:port"). A leftover unix
 * socket file nobody listens on is removed; a live one, or a file that is
 * not a socket, makes this fail with a message in *err.
 */
int rpc_server_listen(rpc_server *srv, const char *endpoint, dv_status *err);

/* The local port of the first TCP listener, or 0. */
int rpc_server_tcp_port(const rpc_server *srv);

/* Serves until rpc_server_stop() and the drain complete. 0 or -errno. */
int rpc_server_run(rpc_server *srv);

/* Begins a graceful stop. Async-signal-safe; callable from any thread. */
void rpc_server_stop(rpc_server *srv);

/* Joins the workers and frees everything. NULL-safe. */
void rpc_server_free(rpc_server *srv);

/* --- inside a handler --- */

/* Packs resp as the call's answer (status OK). */
void rpc_call_reply(rpc_call *call, const ProtobufCMessage *resp);
void rpc_call_fail(rpc_call *call, dv_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Takes the status' code and message; st is left cleared. */
void rpc_call_fail_status(rpc_call *call, dv_status *st);

/*
 * In a RPC_METHOD_TRY_INLINE handler: returns true when the handler is on
 * the loop thread; the call is then queued for a worker, where the handler
 * runs again, and this run must return at once without answering. Returns
 * false on a worker (the handler carries on and answers there).
 */
bool rpc_call_defer(rpc_call *call);

bool rpc_call_cancelled(const rpc_call *call);
/* Monotonic deadline in ns (dv_now_ns clock); INT64_MAX when none. */
int64_t rpc_call_deadline(const rpc_call *call);
/* Sleeps up to ns; returns 0, or -ECANCELED early on cancel/deadline. */
int rpc_call_sleep(rpc_call *call, int64_t ns);
const char *rpc_call_method(const rpc_call *call);

#endif
