/*
 * rest.h - the Kubernetes REST API on top of the object store: routing,
 * discovery, get/list/watch/create/update/patch/delete, admission and the
 * Status errors, independent of the HTTP library (http.c feeds it).
 */
#ifndef DYNVOL_APISERVER_REST_H
#define DYNVOL_APISERVER_REST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "objstore.h"

typedef struct dv_rest dv_rest;

typedef struct {
	const char *method;
	const char *path;
	const char *accept;
	const char *content_type;
	const char *body;
	size_t body_len;
	/* query parameter lookup (NULL if absent) */
	const char *(*query)(void *ctx, const char *key);
	void *query_ctx;
} dv_rest_req;

/* A streamed response (watch). read() fills buf with up to max bytes,
 * blocking until there is something to send; returns the byte count, 0 at
 * the end, -1 on error. abort_check() (may be NULL) tells whether the peer
 * has gone. */
typedef struct dv_rest_stream dv_rest_stream;
ssize_t dv_rest_stream_read(dv_rest_stream *s, char *buf, size_t max,
			    bool (*peer_gone)(void *), void *peer_ctx);
void dv_rest_stream_free(dv_rest_stream *s);

typedef struct {
	int status;
	char *body; /* malloc'd */
	size_t len;
	char content_type[128];
	dv_rest_stream *stream; /* set for watches; body is NULL then */
	unsigned stream_seconds; /* how long the stream may last */
} dv_rest_resp;

int dv_rest_new(dv_objstore *st, const char *server_addr, dv_rest **out);
void dv_rest_free(dv_rest *r);
/* Background work (garbage collection, namespace finalization). */
int dv_rest_start_gc(dv_rest *r);
void dv_rest_stop_gc(dv_rest *r);

void dv_rest_handle(dv_rest *r, const dv_rest_req *req, dv_rest_resp *resp);

/* A Status error body (for the HTTP layer's own errors: 401, 413). */
void dv_rest_status(dv_rest_resp *resp, int code, const char *reason, const char *message);

#endif
