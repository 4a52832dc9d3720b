/*
 * server.c - the /metrics, /healthz and /readyz endpoint (metrics.h), on
 * libmicrohttpd with one internal polling thread: scrapes and probes are a
 * few requests a minute, and a slow scraper must not hold a thread each.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>


#define PAGE_MAX (16u * 1024 * 1024)

struct dv_metrics_server {
	struct MHD_Daemon *d;
	dv_metrics *m;
	dv_probes probes;
	int port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     const void *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload_data,
			       size_t *upload_size, void **con_cls)
{
	dv_metrics_server *s = cls;
	static int first_call;
	const char *text = "text/plain; charset=utf-8";

	(void)version;
	(void)upload_data;
	/* The first call only announces the request; its (empty) body follows. */
	if (*con_cls == NULL) {
		*con_cls = &first_call;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text, "GET only\n", 9);
	if (strcmp(url, "/metrics") == 0) {
		dv_buf b;
		enum MHD_Result ret;

		dv_buf_init(&b, PAGE_MAX);
		if (dv_metrics_render(s->m, &b) < 0) {
			dv_buf_free(&b);
			return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, text, "out of memory\n", 14);
		}
		ret = reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
			    b.data ? (const char *)b.data : "", b.len);
		dv_buf_free(&b);
		return ret;
	}
	bool live = strcmp(url, "/healthz") == 0 || strcmp(url, "/livez") == 0;
	if (live || strcmp(url, "/readyz") == 0) {
		dv_probe_fn fn = live ? s->probes.live : s->probes.ready;
		char reason[256] = "";
		char body[300];
		int n;

		if (!fn || fn(reason, sizeof(reason), s->probes.payload))
			return reply(c, MHD_HTTP_OK, text, "ok\n", 3);
		n = snprintf(body, sizeof(body), "%s: %s\n", live ? "not healthy" : "not ready",
			     reason);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, text, body,
			     n > 0 && (size_t)n < sizeof(body) ? (size_t)n : strlen(body));
	}
	return reply(c, MHD_HTTP_NOT_FOUND, text, "not found: /metrics, /healthz, /readyz\n", 39);
}

/* "HOST:PORT", ":PORT", "[V6]:PORT" into a socket address. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char host[64] = "";
	const char *colon;
	char *end;
	long port;

	if (!addr || !*addr)
		goto bad;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');

		if (!close || close[1] != ':' || (size_t)(close - addr - 1) >= sizeof(host))
			goto bad;
		memcpy(host, addr + 1, (size_t)(close - addr - 1));
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || (size_t)(colon - addr) >= sizeof(host))
			goto bad;
		memcpy(host, addr, (size_t)(colon - addr));
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
		goto bad;
	memset(ss, 0, sizeof(*ss));
	if (!*host || strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		s6->sin6_addr = in6addr_any;
		if (*host && inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			goto bad;
		return 0;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "invalid address '%s': want HOST:PORT, :PORT or [V6]:PORT",
		 addr ? addr : "");
	return -EINVAL;
}

int dv_metrics_serve(const char *addr, dv_metrics *m, const dv_probes *probes,
		     dv_metrics_server **ret, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	dv_metrics_server *s;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	int r = parse_addr(addr, &ss, err, errlen);

	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->m = m;
	if (probes)
		s->probes = *probes;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_DUAL_STACK;
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, &ss,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
	if (!s->d) {
		snprintf(err, errlen, "cannot listen on %s (in use, or not an address here)", addr);
		free(s);
		return -EADDRINUSE;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : 0;
	*ret = s;
	return 0;
}

int dv_metrics_server_port(const dv_metrics_server *s)
{
	return s ? s->port : 0;
}

void dv_metrics_server_stop(dv_metrics_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->d);
	free(s);
}
