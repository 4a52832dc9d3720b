/*
 * quantity.h - Kubernetes resource quantities (k8s.io/apimachinery
 * resource.Quantity): "10Gi", "1500m", "1e3". The API server validates and
 * prints them; the controllers turn PVC requests into bytes and bytes back
 * into the canonical form a PV's capacity shows.
 *
 * <quantity> ::= <sign>? <digits>[.<digits>] <suffix>, suffix one of
 * Ki Mi Gi Ti Pi Ei | n u m "" k M G T P E | e<int> E<int>. The value is
 * kept as ±mantissa * 10^scale, rounded up (away from zero) to nano
 * precision as upstream; at most 19 significant digits are kept, more are
 * rounded up; -ERANGE only for an absurd exponent.
 */
#ifndef DYNVOL_QUANTITY_H
#define DYNVOL_QUANTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	DV_QTY_DECIMAL_SI,  /* no suffix or k, M, m, ... */
	DV_QTY_BINARY_SI,   /* Ki, Mi, ... */
	DV_QTY_DECIMAL_EXP, /* e3, E-6, ... */
} dv_quantity_format;

typedef struct {
	bool negative;
	uint64_t mantissa;
	int32_t scale; /* value = (negative ? -1 : 1) * mantissa * 10^scale */
	dv_quantity_format format;
} dv_quantity;

/* The regular expression upstream's decode error names. */
#define DV_QUANTITY_REGEX_MSG \
	"quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

/* 0, or -EINVAL (malformed) / -ERANGE (exponent beyond 1e100000). ret is
 * set only on success. */
int dv_quantity_parse(const char *s, dv_quantity *ret);
bool dv_quantity_valid(const char *s);
/* -1, 0, 1 as a < b, a == b, a > b (by value, whatever the format). */
int dv_quantity_cmp(const dv_quantity *a, const dv_quantity *b);
/* Compares two quantity strings; malformed ones compare as zero. */
int dv_quantity_cmp_str(const char *a, const char *b);
/* Canonical form as Quantity.String() prints it ("1536Mi", "1500m", "1k",
 * "0"). Returns the length, or -ENOBUFS if it does not fit len bytes. */
int dv_quantity_format_canonical(const dv_quantity *q, char *buf, size_t len);
/* Parses s and returns its value in whole bytes, rounded up. -EINVAL when
 * malformed, -ERANGE when negative or above UINT64_MAX. */
int dv_quantity_bytes(const char *s, uint64_t *ret_bytes);

/* The canonical quantity of a byte count: "1Gi", "1536Mi", "1000". */
int dv_quantity_from_bytes(uint64_t bytes, char *buf, size_t len);

#endif
