/*
 * Fuzz target: the embedded API server's request decoding, end to end
 * below HTTP: routing, query parameters, selectors, bodies, patches,
 * admission and validation, against a real object store in a temporary
 * directory.
 *
 * Input: "METHOD PATH[?QUERY]\nCONTENT-TYPE\n" then the body. Watch
 * responses are opened and dropped unread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/objstore.h"
#include "apiserver/resources.h"
#include "apiserver/rest.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dv_objstore *st;
static dv_rest *rest;

#define MAX_Q 16

typedef struct {
	char *k[MAX_Q], *v[MAX_Q];
	int n;
} query;

static const char *query_get(void *ctx, const char *key)
{
	query *q = ctx;
	for (int i = 0; i < q->n; i++)
		if (strcmp(q->k[i], key) == 0)
			return q->v[i];
	return NULL;
}

static void setup(void)
{
	char dir[] = "/tmp/fuzz-rest-XXXXXX";
	if (!mkdtemp(dir))
		abort();
	char db[128], err[256];
	snprintf(db, sizeof db, "%s/apiserver.db", dir);
	dv_log_set_level(DV_LOG_ERROR);
	if (dv_resources_init() < 0 || dv_objstore_open(db, 256, &st, err, sizeof err) < 0)
		abort();
	/* Throughput over durability: the fuzzer's store is scratch. */
	dv_objstore_set_durable(st, false);
	if (dv_rest_new(st, "127.0.0.1:6443", &rest) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!st)
		setup();
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	char *nl1 = memchr(buf, '\n', size);
	char *nl2 = nl1 ? memchr(nl1 + 1, '\n', size - (size_t)(nl1 + 1 - buf)) : NULL;
	if (!nl1 || !nl2) {
		free(buf);
		return 0;
	}
	*nl1 = '\0';
	*nl2 = '\0';
	char *sp = strchr(buf, ' ');
	if (!sp) {
		free(buf);
		return 0;
	}
	*sp = '\0';
	char *path = sp + 1;
	query q = { .n = 0 };
	char *qs = strchr(path, '?');
	if (qs) {
		*qs++ = '\0';
		while (qs && *qs && q.n < MAX_Q) {
			char *amp = strchr(qs, '&');
			if (amp)
				*amp++ = '\0';
			char *eq = strchr(qs, '=');
			q.k[q.n] = qs;
			q.v[q.n] = eq ? (*eq = '\0', eq + 1) : (char *)"";
			q.n++;
			qs = amp;
		}
	}
	dv_rest_req req = {
		.method = buf,
		.path = path,
		.accept = "application/json",
		.content_type = nl1 + 1,
		.body = nl2 + 1,
		.body_len = size - (size_t)(nl2 + 1 - buf),
		.query = query_get,
		.query_ctx = &q,
	};
	if (query_get(&q, "as") && strcmp(query_get(&q, "as"), "Table") == 0)
		req.accept = "application/json;as=Table;v=v1;g=meta.k8s.io";
	dv_rest_resp resp;
	dv_rest_handle(rest, &req, &resp);
	if (resp.stream)
		dv_rest_stream_free(resp.stream);
	free(resp.body);
	free(buf);
	return 0;
}
