/*
 * log.h - leveled logging to stderr, as text or one JSON object per line.
 *
 * Each record is formatted in memory and written with a single write(2),
 * so records from different threads never interleave. Callers must never
 * pass secrets: request messages are logged only through pbjson, which
 * redacts fields named "secrets".
 */
#ifndef DYNVOL_LOG_H
#define DYNVOL_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
	DV_LOG_DEBUG,
	DV_LOG_INFO,
	DV_LOG_WARN,
	DV_LOG_ERROR,
	DV_LOG_LEVEL_MAX,
	DV_LOG_LEVEL_INVALID = -1,
} dv_log_level;

typedef enum { DV_LOG_TEXT, DV_LOG_JSON } dv_log_format;

void dv_log_set_level(dv_log_level level);
void dv_log_set_format(dv_log_format format);
/* Redirects records to fd (default 2). For tests. */
void dv_log_set_fd(int fd);
bool dv_log_enabled(dv_log_level level);
dv_log_level dv_log_level_from_string(const char *s);
const char *dv_log_level_to_string(dv_log_level level);

typedef enum { DV_LF_STR, DV_LF_INT, DV_LF_DOUBLE, DV_LF_RAWJSON } dv_log_field_type;

/* One key=value of a structured record. DV_LF_RAWJSON carries a serialized
 * JSON value that is embedded as-is (JSON) or printed verbatim (text). */
typedef struct {
	const char *key;
	dv_log_field_type type;
	union {
		const char *s;
		long long i;
		double d;
	} v;
} dv_log_field;

#define DV_LOG_STR(k, val) ((dv_log_field){ .key = (k), .type = DV_LF_STR, .v.s = (val) })
#define DV_LOG_INT(k, val) ((dv_log_field){ .key = (k), .type = DV_LF_INT, .v.i = (val) })
#define DV_LOG_DBL(k, val) ((dv_log_field){ .key = (k), .type = DV_LF_DOUBLE, .v.d = (val) })
#define DV_LOG_JSON(k, val) ((dv_log_field){ .key = (k), .type = DV_LF_RAWJSON, .v.s = (val) })

void dv_log_fields(dv_log_level level, const char *msg, const dv_log_field *fields, size_t n);

void dv_log(dv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs at error level with ": <strerror(err)>" appended and returns -|err|,
 * so "log and propagate" is one line. */
int dv_log_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) dv_log(DV_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) dv_log(DV_LOG_INFO, __VA_ARGS__)
#define log_warn(...) dv_log(DV_LOG_WARN, __VA_ARGS__)
#define log_error(...) dv_log(DV_LOG_ERROR, __VA_ARGS__)

#endif
