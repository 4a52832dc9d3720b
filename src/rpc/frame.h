/*
 * frame.h - gRPC length-prefixed message framing.
 *
 * On the wire each message is: 1 byte compressed-flag, 4 bytes big-endian
 * length, then the bytes (PROTOCOL-HTTP2.md, "Length-Prefixed-Message").
 * The reader is incremental (DATA frames split messages anywhere) and
 * bounded: a length above the limit is rejected from the 5-byte prefix,
 * before any of the body is buffered.
 */
#ifndef DYNVOL_RPC_FRAME_H
#define DYNVOL_RPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strutil.h"

#define RPC_FRAME_PREFIX 5

typedef enum {
	RPC_FRAME_OK = 0,
	RPC_FRAME_TOO_LARGE = -1, /* announced length above the limit */
	RPC_FRAME_EXTRA = -2,     /* a second message on a unary call */
	RPC_FRAME_NOMEM = -3,
	RPC_FRAME_MISSING = -4,   /* stream ended without a whole message */
	RPC_FRAME_BAD_FLAG = -5,  /* flag byte other than 0 or 1 */
} rpc_frame_result;

typedef struct {
	size_t max;
	uint8_t prefix[RPC_FRAME_PREFIX];
	size_t prefix_len;
	bool compressed;
	uint32_t msg_len;
	dv_buf msg;
	unsigned count; /* complete messages */
	rpc_frame_result error; /* sticky */
} rpc_frame_reader;

void rpc_frame_reader_init(rpc_frame_reader *r, size_t max_message);
void rpc_frame_reader_free(rpc_frame_reader *r);

/* Feeds body bytes. Returns RPC_FRAME_OK or the (sticky) error; after an
 * error further bytes are ignored and nothing more is buffered. */
rpc_frame_result rpc_frame_reader_feed(rpc_frame_reader *r, const uint8_t *p, size_t n);

/* At end of stream: exactly one whole message must have arrived. */
rpc_frame_result rpc_frame_reader_finish(rpc_frame_reader *r, const uint8_t **ret_msg,
					 size_t *ret_len, bool *ret_compressed);

/* Writes the 5-byte prefix for a message of len bytes. */
void rpc_frame_prefix(uint8_t out[RPC_FRAME_PREFIX], bool compressed, uint32_t len);

#endif
