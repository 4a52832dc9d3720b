/*
 * quantity.c - resource.Quantity parsing and canonical printing, as
 * k8s.io/apimachinery does it (see quantity.h).
 */
#include "quantity.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>


#define QTY_MAX_DIGITS 19 /* fits a uint64 mantissa */

static int ndigits(uint64_t v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* mantissa * mul, -ERANGE on overflow. */
static int mul_u64(uint64_t *m, uint64_t mul)
{
	if (*m != 0 && mul > UINT64_MAX / *m)
		return -ERANGE;
	*m *= mul;
	return 0;
}

/* Drops trailing decimal zeros into the scale. */
static void qty_normalize(dv_quantity *q)
{
	if (q->mantissa == 0) {
		q->scale = 0;
		q->negative = false;
		return;
	}
	while (q->mantissa % 10 == 0) {
		q->mantissa /= 10;
		q->scale++;
	}
}

/* Rounds up (away from zero) to at most nano precision, as ParseQuantity. */
static void qty_round_nano(dv_quantity *q)
{
	while (q->scale < -9) {
		bool rest = q->mantissa % 10 != 0;

		q->mantissa = q->mantissa / 10 + (rest ? 1 : 0);
		q->scale++;
	}
}

struct qty_suffix {
	const char *s;
	int base; /* 10 or 2 */
	int exp;
};

static const struct qty_suffix qty_suffixes[] = {
	{ "Ki", 2, 10 }, { "Mi", 2, 20 }, { "Gi", 2, 30 }, { "Ti", 2, 40 }, { "Pi", 2, 50 },
	{ "Ei", 2, 60 }, { "n", 10, -9 }, { "u", 10, -6 }, { "m", 10, -3 }, { "", 10, 0 },
	{ "k", 10, 3 },  { "M", 10, 6 },  { "G", 10, 9 },  { "T", 10, 12 }, { "P", 10, 15 },
	{ "E", 10, 18 },
};

/* The numeric part: [+-]? digits [. digits]; at least one digit. */
static int qty_parse_number(const char **sp, dv_quantity *q)
{
	const char *s = *sp;
	int digits = 0, kept = 0;
	bool frac = false, round_up = false;

	if (*s == '+' || *s == '-') {
		q->negative = *s == '-';
		s++;
	}
	for (; (*s >= '0' && *s <= '9') || *s == '.'; s++) {
		if (*s == '.') {
			if (frac)
				return -EINVAL;
			frac = true;
			continue;
		}
		digits++;
		if (q->mantissa == 0 && *s == '0') {
			if (frac)
				q->scale--;
			continue;
		}
		if (kept < QTY_MAX_DIGITS) {
			q->mantissa = q->mantissa * 10 + (uint64_t)(*s - '0');
			kept++;
			if (frac)
				q->scale--;
		} else {
			/* Precision beyond a uint64: keep the magnitude, round up. */
			if (*s != '0')
				round_up = true;
			if (!frac)
				q->scale++;
		}
	}
	if (digits == 0)
		return -EINVAL;
	if (round_up)
		q->mantissa++; /* cannot overflow: at most 19 digits kept */
	*sp = s;
	return 0;
}

/* The suffix: a binary or decimal SI suffix, or e/E with a signed integer. */
static int qty_parse_suffix(const char *s, dv_quantity *q)
{
	for (size_t i = 0; i < sizeof(qty_suffixes) / sizeof(qty_suffixes[0]); i++) {
		const struct qty_suffix *x = &qty_suffixes[i];

		if (strcmp(s, x->s) != 0)
			continue;
		if (x->base == 10) {
			q->scale += x->exp;
			q->format = DV_QTY_DECIMAL_SI;
			return 0;
		}
		q->format = DV_QTY_BINARY_SI;
		/* Doubling exp times; past a uint64, precision goes before
		 * magnitude (a digit is rounded up into the scale). */
		for (int b = 0; b < x->exp; b++) {
			if (q->mantissa > UINT64_MAX / 2) {
				bool rest = q->mantissa % 10 != 0;

				q->mantissa = q->mantissa / 10 + (rest ? 1 : 0);
				q->scale++;
			}
			q->mantissa *= 2;
		}
		return 0;
	}
	if (s[0] == 'e' || s[0] == 'E') {
		const char *p = s + 1;
		long e = 0;
		bool neg = false;

		if (*p == '+' || *p == '-')
			neg = *p++ == '-';
		if (!*p)
			return -EINVAL;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			e = e * 10 + (*p - '0');
			if (e > 100000)
				return -ERANGE;
		}
		q->scale += (int32_t)(neg ? -e : e);
		q->format = DV_QTY_DECIMAL_EXP;
		return 0;
	}
	return -EINVAL;
}

int dv_quantity_parse(const char *s, dv_quantity *ret)
{
	dv_quantity q = { 0 };
	int r;

	if (!s || !*s)
		return -EINVAL;
	r = qty_parse_number(&s, &q);
	if (r < 0)
		return r;
	r = qty_parse_suffix(s, &q);
	if (r < 0)
		return r;
	qty_normalize(&q);
	qty_round_nano(&q);
	qty_normalize(&q);
	*ret = q;
	return 0;
}

bool dv_quantity_valid(const char *s)
{
	dv_quantity q;

	return dv_quantity_parse(s, &q) == 0;
}

/* Compares magnitudes of two normalized quantities. */
static int qty_cmp_abs(const dv_quantity *a, const dv_quantity *b)
{
	char da[48], db[48];
	int ma, mb, la, lb, n;

	if (a->mantissa == 0 || b->mantissa == 0)
		return (a->mantissa != 0) - (b->mantissa != 0);
	la = ndigits(a->mantissa);
	lb = ndigits(b->mantissa);
	ma = la + a->scale;
	mb = lb + b->scale;
	if (ma != mb)
		return ma < mb ? -1 : 1;
	/* Same magnitude: compare the digit strings, the shorter padded. */
	snprintf(da, sizeof(da), "%llu", (unsigned long long)a->mantissa);
	snprintf(db, sizeof(db), "%llu", (unsigned long long)b->mantissa);
	n = la > lb ? la : lb;
	for (int i = 0; i < n; i++) {
		char ca = i < la ? da[i] : '0';
		char cb = i < lb ? db[i] : '0';

		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	return 0;
}

int dv_quantity_cmp(const dv_quantity *a, const dv_quantity *b)
{
	dv_quantity x = *a, y = *b;
	int c;

	qty_normalize(&x);
	qty_normalize(&y);
	if (x.negative != y.negative)
		return x.negative ? -1 : 1;
	c = qty_cmp_abs(&x, &y);
	return x.negative ? -c : c;
}

int dv_quantity_cmp_str(const char *a, const char *b)
{
	dv_quantity x = { 0 }, y = { 0 };

	if (dv_quantity_parse(a, &x) < 0)
		memset(&x, 0, sizeof(x));
	if (dv_quantity_parse(b, &y) < 0)
		memset(&y, 0, sizeof(y));
	return dv_quantity_cmp(&x, &y);
}

/* The integer value (scale folded in), -ERANGE when fractional or too big. */
static int qty_as_int(const dv_quantity *q, uint64_t *out)
{
	uint64_t m = q->mantissa;

	if (q->scale < 0)
		return -ERANGE;
	for (int i = 0; i < q->scale; i++)
		if (mul_u64(&m, 10) < 0)
			return -ERANGE;
	*out = m;
	return 0;
}

static int put_canonical(char *buf, size_t len, bool neg, uint64_t amount, const char *suffix)
{
	int n = snprintf(buf, len, "%s%llu%s", neg ? "-" : "", (unsigned long long)amount, suffix);

	return n < 0 || (size_t)n >= len ? -ENOBUFS : n;
}

static int qty_format_decimal(const dv_quantity *q, bool exp_form, char *buf, size_t len)
{
	uint64_t amount = q->mantissa;
	int32_t e = q->scale;
	int mod = ((e % 3) + 3) % 3;
	char suffix[24];
	const char *si = NULL;

	/* Exponent to a multiple of 3, the mantissa scaled up to match; if it
	 * does not fit, fall back to the exponent form. */
	if (mod && mul_u64(&amount, mod == 1 ? 10 : 100) == 0) {
		e -= mod;
	} else if (mod) {
		amount = q->mantissa;
		exp_form = true;
	}
	if (!exp_form) {
		for (size_t i = 0; i < sizeof(qty_suffixes) / sizeof(qty_suffixes[0]); i++)
			if (qty_suffixes[i].base == 10 && qty_suffixes[i].exp == e)
				si = qty_suffixes[i].s;
		if (!si)
			exp_form = true;
	}
	if (exp_form) {
		if (e == 0)
			suffix[0] = 0;
		else
			snprintf(suffix, sizeof(suffix), "e%d", (int)e);
		return put_canonical(buf, len, q->negative, amount, suffix);
	}
	return put_canonical(buf, len, q->negative, amount, si);
}

int dv_quantity_format_canonical(const dv_quantity *in, char *buf, size_t len)
{
	static const char *const bin[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
	dv_quantity q = *in;
	uint64_t v;
	int exp = 0;

	qty_normalize(&q);
	if (q.mantissa == 0)
		return put_canonical(buf, len, false, 0, "");
	if (q.format == DV_QTY_BINARY_SI) {
		/* Small or fractional values print as DecimalSI, as upstream. */
		if (qty_as_int(&q, &v) < 0 || v < 1024)
			return qty_format_decimal(&q, false, buf, len);
		while (v % 1024 == 0 && exp < 6) {
			v /= 1024;
			exp++;
		}
		return put_canonical(buf, len, q.negative, v, bin[exp]);
	}
	return qty_format_decimal(&q, q.format == DV_QTY_DECIMAL_EXP, buf, len);
}

int dv_quantity_bytes(const char *s, uint64_t *ret_bytes)
{
	dv_quantity q;
	uint64_t m;
	int r = dv_quantity_parse(s, &q);

	if (r < 0)
		return r == -ERANGE ? -ERANGE : -EINVAL;
	if (q.negative)
		return -ERANGE;
	m = q.mantissa;
	if (q.scale >= 0) {
		r = qty_as_int(&q, &m);
		if (r < 0)
			return r;
	} else {
		uint64_t div = 1;
		bool rest;

		for (int i = 0; i < -q.scale; i++)
			div *= 10; /* scale >= -9 after rounding */
		rest = m % div != 0;
		m = m / div + (rest ? 1 : 0);
	}
	*ret_bytes = m;
	return 0;
}

int dv_quantity_from_bytes(uint64_t bytes, char *buf, size_t len)
{
	dv_quantity q = { .mantissa = bytes, .format = DV_QTY_BINARY_SI };

	/* Quantity.String() of a BinarySI value: the largest binary suffix
	 * that divides it exactly, else the plain number. */
	return dv_quantity_format_canonical(&q, buf, len);
}
