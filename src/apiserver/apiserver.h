/*
 * apiserver.h - the embedded Kubernetes API server as one object: its
 * store (<state-dir>/apiserver.db), credentials (<state-dir>/pki), the REST
 * layer with its garbage collector, and the HTTPS listener, plus the
 * kubeconfig (<state-dir>/kubeconfig) that points kubectl at it.
 */
#ifndef DYNVOL_APISERVER_H
#define DYNVOL_APISERVER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
	const char *state_dir;
	const char *bind_addr;   /* default 127.0.0.1 */
	int port;                /* default 6443; 0 picks a free port */
	bool insecure;           /* plain HTTP (loopback only) instead of HTTPS */
	bool no_auth;            /* with insecure: no token needed */
	size_t watch_history;    /* events kept for watches (default 2048) */
	size_t max_body;         /* default 3 MiB, as kube-apiserver */
	unsigned idle_timeout;   /* seconds an idle connection stays (default 300) */
} dv_apiserver_config;

typedef struct dv_apiserver dv_apiserver;

int dv_apiserver_start(const dv_apiserver_config *cfg, dv_apiserver **out, char *err,
		       size_t errlen);
/* The URL clients use, e.g. "https://127.0.0.1:6443". */
const char *dv_apiserver_url(const dv_apiserver *a);
/* Stops listening, finishes queued writes, closes the store. */
void dv_apiserver_stop(dv_apiserver *a);

#endif
