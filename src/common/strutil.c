#include "strutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void dv_buf_init(dv_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : SIZE_MAX / 2;
}

static int buf_reserve(dv_buf *b, size_t extra)
{
	size_t need, ncap;
	uint8_t *p;

	if (extra > b->max - b->len)
		return -ENOBUFS;
	need = b->len + extra + 1; /* room for the NUL */
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap *= 2;
	p = realloc(b->data, ncap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int dv_buf_append(dv_buf *b, const void *p, size_t n)
{
	int r = buf_reserve(b, n);

	if (r < 0)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int dv_buf_appends(dv_buf *b, const char *s)
{
	return dv_buf_append(b, s, strlen(s));
}

int dv_buf_appendf(dv_buf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	int n, r;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		va_end(ap2);
		return -EINVAL;
	}
	r = buf_reserve(b, (size_t)n);
	if (r < 0) {
		va_end(ap2);
		return r;
	}
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	b->len += (size_t)n;
	return 0;
}

void dv_buf_consume(dv_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data)
		b->data[b->len] = 0;
}

void dv_buf_reset(dv_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = 0;
}

void dv_buf_free(dv_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *dv_buf_steal(dv_buf *b)
{
	char *s;

	if (!b->data && buf_reserve(b, 0) < 0)
		return NULL;
	s = (char *)b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

int64_t dv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Parses leading decimal digits; returns chars consumed, 0 if none. */
static size_t parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i = 0;

	while (s[i] >= '0' && s[i] <= '9') {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
		i++;
	}
	*ret = v;
	return i;
}

int dv_parse_duration(const char *s, int64_t *ret_ns)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
		{ "ns", 1ULL }, { "us", 1000ULL }, { "ms", 1000000ULL },
		{ "s", 1000000000ULL }, { "m", 60000000000ULL },
		{ "h", 3600000000000ULL }, { "", 1000000000ULL },
	};
	uint64_t v;
	size_t n;

	if (!s || !*s)
		return -EINVAL;
	n = parse_u64(s, &v);
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s + n, units[i].suffix) != 0)
			continue;
		if (v > (uint64_t)INT64_MAX / units[i].mult)
			return -EINVAL;
		*ret_ns = (int64_t)(v * units[i].mult);
		return 0;
	}
	return -EINVAL;
}

int dv_parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
		{ "", 1ULL }, { "k", 1000ULL }, { "M", 1000000ULL },
		{ "G", 1000000000ULL }, { "T", 1000000000000ULL },
		{ "Ki", 1ULL << 10 }, { "Mi", 1ULL << 20 }, { "Gi", 1ULL << 30 },
		{ "Ti", 1ULL << 40 }, { "Pi", 1ULL << 50 },
	};
	uint64_t v;
	size_t n;

	if (!s)
		return -EINVAL;
	n = parse_u64(s, &v);
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s + n, units[i].suffix) != 0)
			continue;
		if (v > UINT64_MAX / units[i].mult)
			return -ERANGE;
		*ret = v * units[i].mult;
		return 0;
	}
	return -EINVAL;
}
