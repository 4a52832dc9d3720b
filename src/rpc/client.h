/*
 * client.h - blocking unary gRPC client over HTTP/2 (nghttp2).
 *
 * One client is one connection, used by one thread at a time. A call has a
 * deadline (sent as grpc-timeout and enforced locally: at the deadline the
 * stream is reset and the call ends DEADLINE_EXCEEDED). A connection the
 * server closed (GOAWAY, restart) is re-established on the next call.
 */
#ifndef DYNVOL_RPC_CLIENT_H
#define DYNVOL_RPC_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "status.h"
#include "strutil.h"

typedef struct rpc_client rpc_client;

/* Parses the endpoint; connects lazily on the first call. */
int rpc_client_new(rpc_client **ret, const char *endpoint, dv_status *err);
void rpc_client_free(rpc_client *c);

/* Largest response accepted (default 4 MiB); larger -> RESOURCE_EXHAUSTED. */
void rpc_client_set_max_message(rpc_client *c, size_t max);

/*
 * Calls path with req; on DV_OK *ret_resp is the unpacked response (free
 * with protobuf_c_message_free_unpacked). Otherwise st holds the server's
 * (or the transport's) code and message. timeout_ns <= 0: no deadline.
 */
dv_code rpc_client_call(rpc_client *c, const char *path, const ProtobufCMessage *req,
			const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp,
			int64_t timeout_ns, dv_status *st);

/* The same with serialized bytes: ret_resp receives the message bytes. */
dv_code rpc_client_call_raw(rpc_client *c, const char *path, const uint8_t *req, size_t req_len,
			    dv_buf *ret_resp, int64_t timeout_ns, dv_status *st);

#endif
