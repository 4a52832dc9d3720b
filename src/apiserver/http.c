/*
 * http.c - libmicrohttpd front of the embedded API server (see http.h).
 *
 * One thread per connection: a watch is a response whose reader blocks
 * until the next event, which is simplest with a thread of its own, and
 * kubectl and the controllers keep few, long-lived connections. Every
 * request body is bounded (413 past the limit) and every request is
 * authenticated before its body is read.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <microhttpd.h>

#include "http.h"
#include "log.h"
#include "strutil.h"

#define STACK_SIZE (512 * 1024)
#define IDLE_TIMEOUT_S 300
/* Past this, an oversized body is not even read to its end. */
#define DISCARD_MAX (64u * 1024 * 1024)

struct dv_http {
	struct MHD_Daemon *d;
	dv_rest *rest;
	char *token;
	size_t max_body;
	int port;
};

typedef struct {
	dv_buf body;
	bool too_big;
	bool rejected; /* a response was queued before the body was read */
	size_t seen;   /* body bytes received, kept or not */
} req_ctx;

static const char *query_get(void *ctx, const char *key)
{
	return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result send_resp(struct MHD_Connection *c, dv_rest_resp *r)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		r->len, r->body ? r->body : (void *)"", r->body ? MHD_RESPMEM_MUST_FREE
								 : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(r->body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", r->content_type[0] ? r->content_type
									   : "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_status(struct MHD_Connection *c, int code, const char *reason,
				   const char *msg)
{
	dv_rest_resp r;
	memset(&r, 0, sizeof r);
	dv_rest_status(&r, code, reason, msg);
	return send_resp(c, &r);
}

typedef struct {
	dv_rest_stream *s;
	struct MHD_Connection *c;
} stream_ctx;

static bool peer_gone(void *vctx)
{
	stream_ctx *sc = vctx;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(sc->c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return false;
	struct pollfd p = { .fd = ci->connect_fd, .events = POLLRDHUP };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	stream_ctx *sc = cls;
	ssize_t n = dv_rest_stream_read(sc->s, buf, max, peer_gone, sc);
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n;
}

static void stream_free(void *cls)
{
	stream_ctx *sc = cls;
	dv_rest_stream_free(sc->s);
	free(sc);
}

static enum MHD_Result send_stream(struct MHD_Connection *c, dv_rest_resp *r)
{
	/* A quiet watch sends nothing for minutes: the idle timeout would end
	 * it. It lasts its own time instead (plus a margin to say goodbye). */
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, r->stream_seconds + 60u);
	stream_ctx *sc = calloc(1, sizeof *sc);
	if (!sc) {
		dv_rest_stream_free(r->stream);
		return MHD_NO;
	}
	sc->s = r->stream;
	sc->c = c;
	struct MHD_Response *resp = MHD_create_response_from_callback(
		MHD_SIZE_UNKNOWN, 32 * 1024, stream_reader, sc, stream_free);
	if (!resp) {
		stream_free(sc);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", r->content_type);
	MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static bool authorized(const dv_http *h, struct MHD_Connection *c)
{
	if (!h->token)
		return true;
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	return dv_token_equal(h->token, auth + 7);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	dv_http *h = cls;
	req_ctx *rc = *con_cls;
	if (!rc) {
		rc = calloc(1, sizeof *rc);
		if (!rc)
			return MHD_NO;
		dv_buf_init(&rc->body, h->max_body);
		*con_cls = rc;
		if (!authorized(h, c)) {
			rc->rejected = true;
			return send_status(c, 401, "Unauthorized", "Unauthorized");
		}
		/* An oversized body is read and dropped (up to DISCARD_MAX), so
		 * the client sees the 413 instead of a connection reset. */
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > h->max_body) {
			rc->too_big = true;
			if (strtoull(cl, NULL, 10) > DISCARD_MAX) {
				rc->rejected = true;
				return send_status(c, 413, "RequestEntityTooLarge",
						   "the request body is larger than the server accepts");
			}
		}
		return MHD_YES;
	}
	if (rc->rejected) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!rc->too_big && dv_buf_append(&rc->body, upload, *upload_size) < 0)
			rc->too_big = true;
		rc->seen += *upload_size;
		*upload_size = 0;
		if (rc->seen > DISCARD_MAX) {
			rc->rejected = true;
			return send_status(c, 413, "RequestEntityTooLarge",
					   "the request body is larger than the server accepts");
		}
		return MHD_YES;
	}
	if (rc->too_big)
		return send_status(c, 413, "RequestEntityTooLarge",
				   "the request body is larger than the server accepts");

	dv_rest_req req = {
		.method = method,
		.path = url,
		.accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept"),
		.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"),
		.body = (const char *)rc->body.data,
		.body_len = rc->body.len,
		.query = query_get,
		.query_ctx = c,
	};
	dv_rest_resp resp;
	dv_rest_handle(h->rest, &req, &resp);
	if (dv_log_enabled(DV_LOG_DEBUG))
		log_debug("apiserver: %s %s -> %d", method, url, resp.status);
	if (resp.stream)
		return send_stream(c, &resp);
	return send_resp(c, &resp);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	req_ctx *rc = *con_cls;
	if (!rc)
		return;
	dv_buf_free(&rc->body);
	free(rc);
	*con_cls = NULL;
}

int dv_http_start(const dv_http_config *cfg, dv_rest *rest, dv_http **out, char *err,
		  size_t errlen)
{
	dv_http *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	h->rest = rest;
	h->max_body = cfg->max_body ? cfg->max_body : 3 * 1024 * 1024;
	if (cfg->token && !(h->token = strdup(cfg->token))) {
		free(h);
		return -ENOMEM;
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port) };
	if (inet_pton(AF_INET, cfg->addr ? cfg->addr : "127.0.0.1", &sa.sin_addr) != 1) {
		snprintf(err, errlen, "invalid bind address %s", cfg->addr);
		free(h->token);
		free(h);
		return -EINVAL;
	}
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
	if (cfg->pki)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_SOCK_ADDR, 0, &sa },
		{ MHD_OPTION_THREAD_STACK_SIZE, STACK_SIZE, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout ? cfg->idle_timeout : IDLE_TIMEOUT_S,
		  NULL },
		{ MHD_OPTION_CONNECTION_LIMIT, cfg->max_conns ? cfg->max_conns : 1024, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, NULL },
		{ cfg->pki ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0,
		  cfg->pki ? cfg->pki->key_pem : NULL },
		{ cfg->pki ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0,
		  cfg->pki ? cfg->pki->cert_pem : NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, h, MHD_OPTION_ARRAY, opts,
				MHD_OPTION_END);
	if (!h->d) {
		snprintf(err, errlen, "cannot listen on %s:%d (in use, or TLS set-up failed)",
			 cfg->addr ? cfg->addr : "127.0.0.1", cfg->port);
		free(h->token);
		free(h);
		return -EADDRINUSE;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di ? di->port : cfg->port;
	*out = h;
	return 0;
}

int dv_http_port(const dv_http *h)
{
	return h->port;
}

void dv_http_stop(dv_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	if (h->token)
		explicit_bzero(h->token, strlen(h->token));
	free(h->token);
	free(h);
}
