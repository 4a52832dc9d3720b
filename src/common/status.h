/*
 * status.h - gRPC status codes and the status a handler returns.
 *
 * A failure is classified where it is understood (the pool knows a volume
 * is missing: NOT_FOUND) and passed up unchanged; the transport only copies
 * the code and message into the grpc-status/grpc-message trailers.
 */
#ifndef DYNVOL_STATUS_H
#define DYNVOL_STATUS_H

#include <stdarg.h>

typedef enum {
	DV_OK = 0,
	DV_CANCELLED = 1,
	DV_UNKNOWN = 2,
	DV_INVALID_ARGUMENT = 3,
	DV_DEADLINE_EXCEEDED = 4,
	DV_NOT_FOUND = 5,
	DV_ALREADY_EXISTS = 6,
	DV_PERMISSION_DENIED = 7,
	DV_RESOURCE_EXHAUSTED = 8,
	DV_FAILED_PRECONDITION = 9,
	DV_ABORTED = 10,
	DV_OUT_OF_RANGE = 11,
	DV_UNIMPLEMENTED = 12,
	DV_INTERNAL = 13,
	DV_UNAVAILABLE = 14,
	DV_DATA_LOSS = 15,
	DV_UNAUTHENTICATED = 16,
	DV_CODE_MAX
} dv_code;

/* "OK", "NOT_FOUND", ...; "UNKNOWN" for out-of-range values. */
const char *dv_code_name(int code);

/* Inverse of dv_code_name (case-insensitive); -1 when unknown. */
int dv_code_from_name(const char *name);

/*
 * A status: code plus an optional human-readable message (owned, heap).
 * Zero-initialised means OK with no message.
 */
typedef struct {
	dv_code code;
	char *message;
} dv_status;

/* Sets code and a formatted message, replacing what was there. Returns code. */
dv_code dv_status_set(dv_status *st, dv_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
dv_code dv_status_vset(dv_status *st, dv_code code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Sets the status and returns err (a negative errno): one-line failures,
 * `return dv_fail(st, -ENOENT, DV_NOT_FOUND, "volume %s is gone", id);` */
int dv_fail(dv_status *st, int err, dv_code code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Frees the message and resets to OK. NULL-safe. */
void dv_status_clear(dv_status *st);

#endif
