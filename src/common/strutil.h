/*
 * strutil.h - bounded growable byte buffer and small string helpers.
 *
 * Every buffer has a hard cap given at creation (curl's rule): input from a
 * peer can never make it grow without bound. Appending past the cap fails
 * with -ENOBUFS and leaves the buffer unchanged.
 */
#ifndef DYNVOL_STRUTIL_H
#define DYNVOL_STRUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max; /* hard limit on len; 0 means SIZE_MAX/2 */
} dv_buf;

void dv_buf_init(dv_buf *b, size_t max);
/* 0, -ENOMEM or -ENOBUFS (cap exceeded). data stays NUL-terminated. */
int dv_buf_append(dv_buf *b, const void *p, size_t n);
int dv_buf_appends(dv_buf *b, const char *s);
int dv_buf_appendf(dv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes. */
void dv_buf_consume(dv_buf *b, size_t n);
void dv_buf_reset(dv_buf *b);
void dv_buf_free(dv_buf *b);
/* Hands the data to the caller (NUL-terminated, never NULL on success). */
char *dv_buf_steal(dv_buf *b);

/* Monotonic clock in nanoseconds. */
int64_t dv_now_ns(void);

/* Parses a duration like "10s", "500ms", "2m", "1h" or a bare number of
 * seconds into nanoseconds. -EINVAL on malformed input or overflow. */
int dv_parse_duration(const char *s, int64_t *ret_ns);

/* Parses a non-negative decimal integer with optional binary suffix
 * (Ki, Mi, Gi, Ti) or decimal suffix (k, M, G, T). -EINVAL/-ERANGE. */
int dv_parse_size(const char *s, uint64_t *ret);

#endif
