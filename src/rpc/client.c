#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "endpoint.h"
#include "frame.h"
#include "percent.h"
#include "timeout.h"
#include "version.h"

struct rpc_client {
	rpc_endpoint ep;
	char authority[300];
	int fd;
	nghttp2_session *session;
	dv_buf out;
	size_t max_message;

	/* the call in progress */
	int32_t stream_id;
	const uint8_t *req;
	size_t req_len, req_sent;
	rpc_frame_reader reader;
	bool closed;
	uint32_t rst_code;
	int http_status;
	int grpc_status; /* -1 until seen */
	char *grpc_message;
	bool conn_broken;
};

static void session_drop(rpc_client *c)
{
	if (c->session)
		nghttp2_session_del(c->session);
	c->session = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	dv_buf_reset(&c->out);
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user_data)
{
	rpc_client *c = user_data;

	if (frame->hd.stream_id != c->stream_id)
		return 0;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
		c->http_status = 0;
		for (size_t i = 0; i < valuelen && i < 3; i++)
			c->http_status = c->http_status * 10 + (value[i] - '0');
	} else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
		int v = 0;
		for (size_t i = 0; i < valuelen && i < 3; i++) {
			if (value[i] < '0' || value[i] > '9') {
				v = DV_UNKNOWN;
				break;
			}
			v = v * 10 + (value[i] - '0');
		}
		c->grpc_status = v;
	} else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
		free(c->grpc_message);
		c->grpc_message = rpc_percent_decode((const char *)value, valuelen);
	}
	return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id,
			      const uint8_t *data, size_t len, void *user_data)
{
	rpc_client *c = user_data;

	if (stream_id == c->stream_id)
		rpc_frame_reader_feed(&c->reader, data, len);
	return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
			   void *user_data)
{
	rpc_client *c = user_data;

	if (stream_id == c->stream_id) {
		c->closed = true;
		c->rst_code = error_code;
	}
	return 0;
}

static ssize_t request_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
			    size_t length, uint32_t *data_flags, nghttp2_data_source *source,
			    void *user_data)
{
	rpc_client *c = user_data;
	size_t n = c->req_len - c->req_sent;

	if (n > length)
		n = length;
	memcpy(buf, c->req + c->req_sent, n);
	c->req_sent += n;
	if (c->req_sent == c->req_len)
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int session_open(rpc_client *c, dv_status *st)
{
	nghttp2_session_callbacks *cbs;
	int fd, rv;

	fd = rpc_endpoint_connect(&c->ep);
	if (fd < 0) {
		dv_status_set(st, DV_UNAVAILABLE, "cannot connect to %s: %s",
			      c->ep.kind == RPC_ENDPOINT_UNIX ? c->ep.path : c->authority,
			      strerror(-fd));
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (nghttp2_session_callbacks_new(&cbs) != 0) {
		close(fd);
		dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	rv = nghttp2_session_client_new(&c->session, cbs, c);
	nghttp2_session_callbacks_del(cbs);
	if (rv != 0) {
		close(fd);
		c->session = NULL;
		dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1024 * 1024 },
	};
	nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 2);
	nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, 4 * 1024 * 1024);
	c->fd = fd;
	c->conn_broken = false;
	return 0;
}

/* Sends what is queued. -1 when the connection broke. */
static int client_flush(rpc_client *c)
{
	for (;;) {
		while (c->out.len < 65536) {
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
			return 0;
		ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		dv_buf_consume(&c->out, (size_t)w);
	}
}

static dv_code http_to_grpc(int http)
{
	switch (http) {
	case 400: return DV_INTERNAL;
	case 401: return DV_UNAUTHENTICATED;
	case 403: return DV_PERMISSION_DENIED;
	case 404: return DV_UNIMPLEMENTED;
	case 429: case 502: case 503: case 504: return DV_UNAVAILABLE;
	default: return DV_UNKNOWN;
	}
}

static dv_code call_once(rpc_client *c, const char *path, const uint8_t *req, size_t req_len,
			 dv_buf *ret_resp, int64_t deadline, dv_status *st, bool *ret_unprocessed)
{
	int64_t timeout_ns = deadline == INT64_MAX ? 0 : deadline - dv_now_ns();
	uint8_t *framed = NULL;
	char tbuf[16];
	dv_code code;

	if (req_len > UINT32_MAX)
		return dv_status_set(st, DV_RESOURCE_EXHAUSTED, "request too large");
	if (c->session && (c->conn_broken || !nghttp2_session_want_read(c->session)))
		session_drop(c);
	if (!c->session && session_open(c, st) < 0)
		return st->code;

	framed = malloc(req_len + RPC_FRAME_PREFIX);
	if (!framed)
		return dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
	rpc_frame_prefix(framed, false, (uint32_t)req_len);
	if (req_len)
		memcpy(framed + RPC_FRAME_PREFIX, req, req_len);
	c->req = framed;
	c->req_len = req_len + RPC_FRAME_PREFIX;
	c->req_sent = 0;
	c->closed = false;
	c->rst_code = 0;
	c->http_status = 0;
	c->grpc_status = -1;
	free(c->grpc_message);
	c->grpc_message = NULL;
	rpc_frame_reader_init(&c->reader, c->max_message);

	nghttp2_nv hdrs[8];
	size_t n = 0;
#define H(nm, v) hdrs[n++] = (nghttp2_nv){ (uint8_t *)(nm), (uint8_t *)(v), strlen(nm), strlen(v), NGHTTP2_NV_FLAG_NONE }
	H(":method", "POST");
	H(":scheme", "http");
	H(":path", path);
	H(":authority", c->authority);
	H("content-type", "application/grpc");
	H("te", "trailers");
	H("user-agent", "dynvol/" DYNVOL_VERSION);
	if (timeout_ns > 0) {
		rpc_timeout_format(timeout_ns, tbuf);
		H("grpc-timeout", tbuf);
	}
#undef H
	nghttp2_data_provider prd = { .read_callback = request_read };
	c->stream_id = nghttp2_submit_request(c->session, NULL, hdrs, n, &prd, NULL);
	if (c->stream_id == NGHTTP2_ERR_START_STREAM_NOT_ALLOWED) {
		/* the server sent GOAWAY: this connection takes no new calls */
		*ret_unprocessed = true;
		c->conn_broken = true;
		code = dv_status_set(st, DV_UNAVAILABLE, "the server is going away");
		goto done;
	}
	if (c->stream_id < 0) {
		code = dv_status_set(st, DV_INTERNAL, "cannot start a stream: %s",
				     nghttp2_strerror(c->stream_id));
		goto done;
	}

	while (!c->closed) {
		if (client_flush(c) < 0) {
			c->conn_broken = true;
			break;
		}
		int64_t now = dv_now_ns();
		if (now >= deadline) {
			nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, c->stream_id,
						  NGHTTP2_CANCEL);
			client_flush(c);
			code = dv_status_set(st, DV_DEADLINE_EXCEEDED, "deadline exceeded");
			goto done;
		}
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN | (c->out.len ? POLLOUT : 0) };
		int64_t wait_ms = deadline == INT64_MAX ? -1 : (deadline - now + 999999) / 1000000;
		int pr = poll(&pfd, 1, wait_ms > 60000 ? 60000 : (int)wait_ms);
		if (pr < 0 && errno != EINTR) {
			c->conn_broken = true;
			break;
		}
		if (pr <= 0)
			continue;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			uint8_t buf[65536];
			ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0 || nghttp2_session_mem_recv(c->session, buf, (size_t)r) < 0) {
				c->conn_broken = true;
				break;
			}
		}
	}

	if (!c->closed) {
		code = dv_status_set(st, DV_UNAVAILABLE, "connection to the server was lost");
	} else if (c->grpc_status >= 0) {
		code = c->grpc_status < DV_CODE_MAX ? (dv_code)c->grpc_status : DV_UNKNOWN;
		if (code != DV_OK) {
			dv_status_set(st, code, "%s", c->grpc_message ? c->grpc_message : "");
		} else {
			const uint8_t *msg;
			size_t len;
			bool compressed;
			rpc_frame_result fr = rpc_frame_reader_finish(&c->reader, &msg, &len, &compressed);
			if (fr == RPC_FRAME_TOO_LARGE)
				code = dv_status_set(st, DV_RESOURCE_EXHAUSTED,
						     "response larger than %zu bytes", c->max_message);
			else if (fr != RPC_FRAME_OK)
				code = dv_status_set(st, DV_INTERNAL, "response is not one message");
			else if (compressed)
				code = dv_status_set(st, DV_INTERNAL, "compressed response");
			else if (dv_buf_append(ret_resp, msg, len) < 0)
				code = dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
		}
	} else if (c->rst_code == NGHTTP2_REFUSED_STREAM) {
		*ret_unprocessed = true;
		c->conn_broken = true;
		code = dv_status_set(st, DV_UNAVAILABLE, "the server refused the stream (shutting down?)");
	} else if (c->rst_code == NGHTTP2_CANCEL) {
		code = dv_status_set(st, DV_CANCELLED, "the server cancelled the call");
	} else if (c->http_status && c->http_status != 200) {
		code = dv_status_set(st, http_to_grpc(c->http_status), "HTTP status %d",
				     c->http_status);
	} else {
		code = dv_status_set(st, c->rst_code ? DV_INTERNAL : DV_UNKNOWN,
				     "the stream ended without grpc-status (HTTP/2 error %u)",
				     c->rst_code);
	}
done:
	rpc_frame_reader_free(&c->reader);
	free(framed);
	c->req = NULL;
	c->stream_id = -1;
	if (c->conn_broken)
		session_drop(c);
	return code;
}

dv_code rpc_client_call_raw(rpc_client *c, const char *path, const uint8_t *req, size_t req_len,
			    dv_buf *ret_resp, int64_t timeout_ns, dv_status *st)
{
	int64_t deadline = timeout_ns > 0 ? dv_now_ns() + timeout_ns : INT64_MAX;
	dv_code code = DV_UNKNOWN;

	/* A call the server provably never processed (refused stream, GOAWAY
	 * before it started) is retried once on a new connection, as gRPC
	 * clients do; anything else may have had effects and is not. */
	for (int attempt = 0; attempt < 2; attempt++) {
		bool unprocessed = false;
		code = call_once(c, path, req, req_len, ret_resp, deadline, st, &unprocessed);
		if (!unprocessed)
			break;
	}
	return code;
}

dv_code rpc_client_call(rpc_client *c, const char *path, const ProtobufCMessage *req,
			const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp,
			int64_t timeout_ns, dv_status *st)
{
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	dv_buf resp;
	dv_code code;

	if (!buf)
		return dv_status_set(st, DV_RESOURCE_EXHAUSTED, "out of memory");
	protobuf_c_message_pack(req, buf);
	dv_buf_init(&resp, 0);
	code = rpc_client_call_raw(c, path, buf, len, &resp, timeout_ns, st);
	free(buf);
	if (code == DV_OK) {
		*ret_resp = protobuf_c_message_unpack(resp_desc, NULL, resp.len,
						      resp.data ? resp.data : (const uint8_t *)"");
		if (!*ret_resp)
			code = dv_status_set(st, DV_INTERNAL, "response is not a valid %s",
					     resp_desc->name);
	}
	dv_buf_free(&resp);
	return code;
}

int rpc_client_new(rpc_client **ret, const char *endpoint, dv_status *err)
{
	rpc_client *c;
	const char *why;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (rpc_endpoint_parse(endpoint, &c->ep, &why) < 0) {
		dv_status_set(err, DV_INVALID_ARGUMENT, "endpoint %s: %s", endpoint, why);
		free(c);
		return -EINVAL;
	}
	if (c->ep.kind == RPC_ENDPOINT_UNIX)
		snprintf(c->authority, sizeof(c->authority), "localhost");
	else
		snprintf(c->authority, sizeof(c->authority), "%s:%s", c->ep.host, c->ep.port);
	c->fd = -1;
	c->stream_id = -1;
	c->max_message = 4 * 1024 * 1024;
	dv_buf_init(&c->out, 0);
	*ret = c;
	return 0;
}

void rpc_client_set_max_message(rpc_client *c, size_t max)
{
	c->max_message = max;
}

void rpc_client_free(rpc_client *c)
{
	if (!c)
		return;
	session_drop(c);
	dv_buf_free(&c->out);
	free(c->grpc_message);
	free(c);
}
