/*
 * percent.h - grpc-message percent-encoding: bytes outside 0x20..0x7E and
 * '%' itself travel as %XX (PROTOCOL-HTTP2.md), so UTF-8 messages survive
 * HTTP/2 header rules.
 */
#ifndef DYNVOL_RPC_PERCENT_H
#define DYNVOL_RPC_PERCENT_H

#include <stddef.h>

/* Newly allocated encoded string; NULL on allocation failure. */
char *rpc_percent_encode(const char *s);

/* Newly allocated decoded string of s[0..len). Malformed escapes are kept
 * literally, as the protocol asks of receivers. NULL on allocation failure. */
char *rpc_percent_decode(const char *s, size_t len);

#endif
