#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "strutil.h"

static atomic_int log_level = DV_LOG_INFO;
static atomic_int log_format = DV_LOG_TEXT;
static atomic_int log_fd = 2;

static const char *const level_names[DV_LOG_LEVEL_MAX] = {
	[DV_LOG_DEBUG] = "debug",
	[DV_LOG_INFO] = "info",
	[DV_LOG_WARN] = "warn",
	[DV_LOG_ERROR] = "error",
};

void dv_log_set_level(dv_log_level level) { atomic_store(&log_level, level); }
void dv_log_set_format(dv_log_format format) { atomic_store(&log_format, format); }
void dv_log_set_fd(int fd) { atomic_store(&log_fd, fd); }

bool dv_log_enabled(dv_log_level level)
{
	return (int)level >= atomic_load(&log_level);
}

dv_log_level dv_log_level_from_string(const char *s)
{
	for (int i = 0; i < DV_LOG_LEVEL_MAX; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (dv_log_level)i;
	if (strcasecmp(s, "warning") == 0)
		return DV_LOG_WARN;
	return DV_LOG_LEVEL_INVALID;
}

const char *dv_log_level_to_string(dv_log_level level)
{
	if ((int)level < 0 || level >= DV_LOG_LEVEL_MAX)
		return "unknown";
	return level_names[level];
}

static void append_timestamp(dv_buf *b)
{
	struct timespec ts;
	struct tm tm;
	char tbuf[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	dv_buf_appendf(b, "%s.%03ldZ", tbuf, ts.tv_nsec / 1000000);
}

/* JSON string escaping (RFC 8259); bytes >= 0x80 pass through as UTF-8. */
static void append_json_string(dv_buf *b, const char *s)
{
	dv_buf_append(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '"': dv_buf_append(b, "\\\"", 2); break;
		case '\\': dv_buf_append(b, "\\\\", 2); break;
		case '\n': dv_buf_append(b, "\\n", 2); break;
		case '\r': dv_buf_append(b, "\\r", 2); break;
		case '\t': dv_buf_append(b, "\\t", 2); break;
		default:
			if (c < 0x20)
				dv_buf_appendf(b, "\\u%04x", c);
			else
				dv_buf_append(b, s, 1);
		}
	}
	dv_buf_append(b, "\"", 1);
}

/* Text values are quoted only when they would be ambiguous. */
static void append_text_value(dv_buf *b, const char *s)
{
	if (*s && !strpbrk(s, " \t\n\r\"=")) {
		dv_buf_appends(b, s);
		return;
	}
	append_json_string(b, s);
}

static void emit(dv_buf *b)
{
	size_t off = 0;
	int fd = atomic_load(&log_fd);

	while (off < b->len) {
		ssize_t n = write(fd, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* nowhere to report a failing log sink */
		off += (size_t)n;
	}
}

void dv_log_fields(dv_log_level level, const char *msg, const dv_log_field *fields, size_t n)
{
	dv_buf b;
	bool json = atomic_load(&log_format) == DV_LOG_JSON;

	if (!dv_log_enabled(level))
		return;
	dv_buf_init(&b, 1 << 20);
	if (json) {
		dv_buf_appends(&b, "{\"ts\":\"");
		append_timestamp(&b);
		dv_buf_appendf(&b, "\",\"level\":\"%s\",\"msg\":", dv_log_level_to_string(level));
		append_json_string(&b, msg);
	} else {
		append_timestamp(&b);
		dv_buf_appendf(&b, " %-5s %s", dv_log_level_to_string(level), msg);
	}
	for (size_t i = 0; i < n; i++) {
		const dv_log_field *f = &fields[i];
		if (json) {
			dv_buf_append(&b, ",", 1);
			append_json_string(&b, f->key);
			dv_buf_append(&b, ":", 1);
		} else {
			dv_buf_appendf(&b, " %s=", f->key);
		}
		switch (f->type) {
		case DV_LF_STR:
			if (json)
				append_json_string(&b, f->v.s ? f->v.s : "");
			else
				append_text_value(&b, f->v.s ? f->v.s : "");
			break;
		case DV_LF_INT:
			dv_buf_appendf(&b, "%lld", f->v.i);
			break;
		case DV_LF_DOUBLE:
			dv_buf_appendf(&b, "%.3f", f->v.d);
			break;
		case DV_LF_RAWJSON:
			dv_buf_appends(&b, f->v.s ? f->v.s : "null");
			break;
		}
	}
	dv_buf_appends(&b, json ? "}\n" : "\n");
	if (b.data)
		emit(&b);
	dv_buf_free(&b);
}

static void vlog(dv_log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void vlog(dv_log_level level, const char *fmt, va_list ap)
{
	char *msg = NULL;

	if (!dv_log_enabled(level))
		return;
	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	dv_log_fields(level, msg, NULL, 0);
	free(msg);
}

void dv_log(dv_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

int dv_log_errno(int err, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (err < 0)
		err = -err;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) >= 0) {
		dv_log(DV_LOG_ERROR, "%s: %s", msg, strerror(err));
		free(msg);
	}
	va_end(ap);
	return -err;
}
