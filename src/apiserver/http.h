/*
 * http.h - the embedded API server's HTTP(S) front: libmicrohttpd with
 * GnuTLS, bearer-token authentication, bounded request bodies, and
 * streamed (chunked) watch responses. It knows nothing of Kubernetes
 * beyond the Status body of its own errors; rest.c does the rest.
 */
#ifndef DYNVOL_APISERVER_HTTP_H
#define DYNVOL_APISERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "pki.h"
#include "rest.h"

typedef struct dv_http dv_http;

typedef struct {
	const char *addr;      /* IPv4 address to bind, e.g. "127.0.0.1" */
	int port;              /* 0: any free port (see dv_http_port) */
	const dv_pki *pki;     /* TLS credentials and token; NULL: plain HTTP */
	const char *token;     /* required bearer token (NULL: no auth) */
	size_t max_body;       /* request body limit in bytes */
	unsigned max_conns;
	unsigned idle_timeout; /* seconds a connection may idle (0: 300) */
} dv_http_config;

int dv_http_start(const dv_http_config *cfg, dv_rest *rest, dv_http **out, char *err,
		  size_t errlen);
int dv_http_port(const dv_http *h);
void dv_http_stop(dv_http *h);

#endif
