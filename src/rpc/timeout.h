/*
 * timeout.h - the grpc-timeout header: 1 to 8 ASCII digits and a unit
 * (H hours, M minutes, S seconds, m millis, u micros, n nanos).
 */
#ifndef DYNVOL_RPC_TIMEOUT_H
#define DYNVOL_RPC_TIMEOUT_H

#include <stddef.h>
#include <stdint.h>

/* 0 and the timeout in ns, or -EINVAL for anything not in the grammar. */
int rpc_timeout_parse(const char *s, size_t len, int64_t *ret_ns);

/* Encodes ns (> 0) in the finest unit whose value fits 8 digits, rounding
 * up so the peer never sees a shorter deadline than ours. Returns length. */
size_t rpc_timeout_format(int64_t ns, char out[16]);

#endif
