/*
 * apiserver.c - wiring of the embedded API server (see apiserver.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apiserver.h"
#include "http.h"
#include "log.h"
#include "objstore.h"
#include "pki.h"
#include "resources.h"
#include "rest.h"

struct dv_apiserver {
	dv_objstore *st;
	dv_rest *rest;
	dv_http *http;
	dv_pki pki;
	char url[128];
	bool resources;
};

static bool loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0;
}

int dv_apiserver_start(const dv_apiserver_config *cfg, dv_apiserver **out, char *err,
		       size_t errlen)
{
	const char *addr = cfg->bind_addr ? cfg->bind_addr : "127.0.0.1";
	if (cfg->insecure && !loopback(addr)) {
		snprintf(err, errlen, "plain HTTP is served on loopback addresses only, not %s", addr);
		return -EINVAL;
	}
	dv_apiserver *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	int r;
	if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "mkdir %s: %s", cfg->state_dir, strerror(errno));
		goto fail;
	}
	if ((r = dv_pki_ensure(cfg->state_dir, &a->pki, err, errlen)) < 0)
		goto fail;
	if ((r = dv_resources_init()) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	a->resources = true;
	char db[4096];
	snprintf(db, sizeof db, "%s/apiserver.db", cfg->state_dir);
	if ((r = dv_objstore_open(db, cfg->watch_history, &a->st, err, errlen)) < 0)
		goto fail;
	int port = cfg->port < 0 ? 6443 : cfg->port;
	char hostport[96];
	snprintf(hostport, sizeof hostport, "%s:%d", addr, port);
	if ((r = dv_rest_new(a->st, hostport, &a->rest)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	dv_http_config hc = {
		.addr = addr,
		.port = port,
		.pki = cfg->insecure ? NULL : &a->pki,
		.token = cfg->insecure && cfg->no_auth ? NULL : a->pki.token,
		.max_body = cfg->max_body,
		.idle_timeout = cfg->idle_timeout,
	};
	if ((r = dv_http_start(&hc, a->rest, &a->http, err, errlen)) < 0)
		goto fail;
	snprintf(a->url, sizeof a->url, "%s://%s:%d", cfg->insecure ? "http" : "https", addr,
		 dv_http_port(a->http));
	if ((r = dv_pki_write_kubeconfig(cfg->state_dir, &a->pki, a->url, err, errlen)) < 0)
		goto fail;
	if ((r = dv_rest_start_gc(a->rest)) < 0) {
		snprintf(err, errlen, "starting the garbage collector failed");
		goto fail;
	}
	*out = a;
	return 0;
fail:
	dv_apiserver_stop(a);
	return r;
}

const char *dv_apiserver_url(const dv_apiserver *a)
{
	return a->url;
}

void dv_apiserver_stop(dv_apiserver *a)
{
	if (!a)
		return;
	if (a->rest)
		dv_rest_stop_gc(a->rest);
	dv_http_stop(a->http);
	dv_rest_free(a->rest);
	dv_objstore_close(a->st);
	if (a->resources)
		dv_resources_fini();
	dv_pki_free(&a->pki);
	free(a);
}
