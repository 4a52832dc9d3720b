/*
 * table.c - server-side printing: the meta.k8s.io/v1 Table of `kubectl get`
 * (see table.h).
 *
 * Three converters, as in kube-apiserver:
 *  - built-in kinds: a column list and a row function per kind, ported from
 *    k8s.io/kubernetes pkg/printers/internalversion/printers.go. The server
 *    always fills the wide (priority 1) cells too: kube-apiserver generates
 *    tables with Wide: true and kubectl hides priority-1 columns unless
 *    asked for -o wide;
 *  - custom resources: apiextensions' tableconvertor over the CRD version's
 *    additionalPrinterColumns (Name first, then the CRD's columns; a CRD
 *    version without columns shows one "Age" date column), with the JSONPath
 *    subset CRDs use. VolumeSnapshot, VolumeSnapshotContent and
 *    VolumeSnapshotClass are CRDs upstream (kubernetes-csi/external-
 *    snapshotter); dynvol serves them built in, with those CRDs' columns;
 *  - anything else, and CustomResourceDefinition itself: k8s.io/apiserver's
 *    default TableConvertor ("Name", "Created At" as an RFC 3339 UTC time).
 *
 * Every string put into a cell is either a JSON string of the object (valid
 * UTF-8) or built with a growable dv_buf, so a cell is never cut in the
 * middle of a character.
 */
#include "table.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"

/* metav1.ObjectMeta's swagger docs for the two columns every kind has. */
#define NAME_DESC                                                                              \
	"Name must be unique within a namespace. Is required when creating resources, although " \
	"some resources may allow a client to request the generation of an appropriate name "    \
	"automatically. Name is primarily intended for creation idempotence and configuration "  \
	"definition. Cannot be updated. More info: "                                             \
	"https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
#define AGE_DESC                                                                                \
	"CreationTimestamp is a timestamp representing the server time when this object was "     \
	"created. It is not guaranteed to be set in happens-before order across separate "        \
	"operations. Clients may not set this value. It is represented in RFC3339 form and is in " \
	"UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "                 \
	"https://git.k8s.io/community/contributors/devel/sig-architecture/"                       \
	"api-conventions.md#metadata"

/* Cap on one composed cell (a pod's status reason, an event source...). */
#define CELL_MAX (64 * 1024)

int dv_table_include_parse(const char *s)
{
	if (!s)
		return -1;
	if (!strcmp(s, "None"))
		return DV_TABLE_INCLUDE_NONE;
	if (!strcmp(s, "Metadata") || !*s)
		return DV_TABLE_INCLUDE_METADATA;
	if (!strcmp(s, "Object"))
		return DV_TABLE_INCLUDE_OBJECT;
	return -1;
}

/* ---- durations and timestamps ---- */

void dv_table_human_duration(int64_t seconds, char *out, size_t outlen)
{
	long long s = (long long)seconds;
	long long minutes = s / 60, hours = s / 3600;

	/* A clock up to two seconds ahead of the server's still reads "now". */
	if (s < -1)
		snprintf(out, outlen, "<invalid>");
	else if (s < 0)
		snprintf(out, outlen, "0s");
	else if (s < 60 * 2)
		snprintf(out, outlen, "%llds", s);
	else if (minutes < 10)
		snprintf(out, outlen, s % 60 ? "%lldm%llds" : "%lldm", minutes, s % 60);
	else if (minutes < 60 * 3)
		snprintf(out, outlen, "%lldm", minutes);
	else if (hours < 8)
		snprintf(out, outlen, minutes % 60 ? "%lldh%lldm" : "%lldh", hours, minutes % 60);
	else if (hours < 48)
		snprintf(out, outlen, "%lldh", hours);
	else if (hours < 24 * 8)
		snprintf(out, outlen, hours % 24 ? "%lldd%lldh" : "%lldd", hours / 24, hours % 24);
	else if (hours < 24 * 365 * 2)
		snprintf(out, outlen, "%lldd", hours / 24);
	else if (hours < 24 * 365 * 8)
		snprintf(out, outlen, (hours / 24) % 365 ? "%lldy%lldd" : "%lldy", hours / 24 / 365,
			 (hours / 24) % 365);
	else
		snprintf(out, outlen, "%lldy", hours / 24 / 365);
}

typedef struct {
	int64_t sec; /* since the Unix epoch */
	int32_t nsec;
} timestamp;

/* Go's zero time.Time, 0001-01-01T00:00:00Z, which metav1.Time reads as
 * "unset". */
#define GO_ZERO_SEC (-62135596800LL)

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool take_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool take_char(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

/* RFC 3339 as Go's time.Parse(time.RFC3339) reads it: an optional
 * fraction of a second, then Z or an offset. */
static int parse_rfc3339(const char *s, timestamp *ret)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	int32_t nsec = 0;
	const char *p = s;

	if (!take_digits(&p, 4, &y) || !take_char(&p, '-') || !take_digits(&p, 2, &mo) ||
	    !take_char(&p, '-') || !take_digits(&p, 2, &d) || !take_char(&p, 'T') ||
	    !take_digits(&p, 2, &h) || !take_char(&p, ':') || !take_digits(&p, 2, &mi) ||
	    !take_char(&p, ':') || !take_digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		int n = 0;

		for (p++; isdigit((unsigned char)*p); p++, n++)
			if (n < 9)
				nsec = nsec * 10 + (*p - '0');
		if (n == 0)
			return -1;
		for (; n < 9; n++)
			nsec *= 10;
	}
	if (take_char(&p, 'Z')) {
		sign = 0;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (!take_digits(&p, 2, &oh) || !take_char(&p, ':') || !take_digits(&p, 2, &om))
			return -1;
	} else {
		return -1;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59 ||
	    oh > 23 || om > 59)
		return -1;
	ret->sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
		   sign * (oh * 3600 + om * 60);
	ret->nsec = nsec;
	return 0;
}

static bool timestamp_zero(const timestamp *t)
{
	return t->sec == GO_ZERO_SEC && t->nsec == 0;
}

/* A JSON timestamp value; false when unset (missing, null, "", zero). A
 * malformed one reads as unset too: kube-apiserver would not have stored
 * it. */
static bool timestamp_get(const json_t *v, timestamp *ret)
{
	const char *s = json_string_value(v);

	if (!s || !*s || parse_rfc3339(s, ret) < 0)
		return false;
	return !timestamp_zero(ret);
}

static bool timestamp_before(const timestamp *a, const timestamp *b)
{
	return a->sec < b->sec || (a->sec == b->sec && a->nsec < b->nsec);
}

/* Whole seconds from t to now, truncated toward zero like Go's
 * int(d.Seconds()), and saturated like time.Since (a time.Duration holds
 * about 292 years). */
static int64_t seconds_since(const timestamp *t, time_t now)
{
	const int64_t max_s = INT64_MAX / 1000000000;
	int64_t d;

	if (t->sec < (int64_t)now - max_s)
		return max_s;
	if (t->sec > (int64_t)now + max_s)
		return -max_s;
	d = (int64_t)now - t->sec;
	if (t->nsec > 0 && d > 0)
		d--;
	return d;
}

/* translateTimestampSince: "<unknown>" for an unset time. */
static void age_text(const json_t *v, time_t now, char *out, size_t len)
{
	timestamp t;

	if (!timestamp_get(v, &t))
		snprintf(out, len, "<unknown>");
	else
		dv_table_human_duration(seconds_since(&t, now), out, len);
}

/* Time.UTC().Format(time.RFC3339) of the default TableConvertor. */
static void rfc3339_text(const json_t *v, char *out, size_t len)
{
	timestamp t;
	int64_t days, secs, z, era, doe, yoe, doy, mp, y;
	int m, d;

	if (!timestamp_get(v, &t)) {
		snprintf(out, len, "0001-01-01T00:00:00Z");
		return;
	}
	days = t.sec >= 0 ? t.sec / 86400 : -((-t.sec + 86399) / 86400);
	secs = t.sec - days * 86400;
	/* civil_from_days, the inverse of days_from_civil */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = (int)(doy - (153 * mp + 2) / 5 + 1);
	m = (int)(mp < 10 ? mp + 3 : mp - 9);
	y += m <= 2;
	snprintf(out, len, "%04lld-%02d-%02dT%02lld:%02lld:%02lldZ", (long long)y, m, d,
		 (long long)(secs / 3600), (long long)(secs / 60 % 60), (long long)(secs % 60));
}

/* ---- reading the object ---- */

/* The value at a dotted path of object keys ("spec.claimRef.name"). */
static const json_t *jget(const json_t *v, const char *path)
{
	while (v && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		v = json_object_getn(v, path, n);
		path += n + (dot ? 1 : 0);
	}
	return v;
}

static const char *jstr(const json_t *v, const char *path)
{
	return json_string_value(jget(v, path));
}

static const char *jstr_or(const json_t *v, const char *path, const char *dflt)
{
	const char *s = jstr(v, path);

	return s ? s : dflt;
}

/* Like jstr_or, and an empty string counts as missing. */
static const char *jstr_nonempty_or(const json_t *v, const char *path, const char *dflt)
{
	const char *s = jstr(v, path);

	return s && *s ? s : dflt;
}

static long long jint(const json_t *v, const char *path)
{
	return (long long)json_integer_value(jget(v, path));
}

static bool jbool_or(const json_t *v, const char *path, bool dflt)
{
	const json_t *b = jget(v, path);

	return json_is_boolean(b) ? json_is_true(b) : dflt;
}

/* len() of a Go slice or map: elements of an array, members of an object. */
static long long jlen(const json_t *v, const char *path)
{
	const json_t *x = jget(v, path);

	if (json_is_array(x))
		return (long long)json_array_size(x);
	if (json_is_object(x))
		return (long long)json_object_size(x);
	return 0;
}

/* Set and not null, as a Go pointer field is non-nil. */
static bool jset(const json_t *v, const char *path)
{
	const json_t *x = jget(v, path);

	return x && !json_is_null(x);
}

static const char *annotation(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(jget(obj, "metadata.annotations"), key));
}

/* ---- resource.Quantity's canonical String() ---- */

static const char *const decimal_suffixes[] = { "n", "u", "m", "", "k", "M", "G", "T", "P", "E" };
static const char *const binary_suffixes[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };

/* An exact integer m * 10^e printed as Go prints a DecimalSI quantity: the
 * exponent the largest multiple of 3 that keeps the mantissa whole. */
static int decimal_quantity_text(bool neg, uint64_t m, int e, char *out, size_t len)
{
	int e3;

	if (m == 0) {
		snprintf(out, len, "0");
		return 0;
	}
	while (m % 10 == 0) {
		m /= 10;
		e++;
	}
	e3 = e >= 0 ? e / 3 * 3 : -((-e + 2) / 3 * 3);
	if (e3 > 18)
		e3 = 18;
	if (e3 < -9)
		return -1;
	for (; e > e3; e--)
		if (__builtin_mul_overflow(m, 10, &m))
			return -1;
	snprintf(out, len, "%s%llu%s", neg ? "-" : "", (unsigned long long)m,
		 decimal_suffixes[(e3 + 9) / 3]);
	return 0;
}

/* Canonicalizes "1024Mi" to "1Gi" and "1000M" to "1G" as kube-apiserver's
 * decode-encode round trip does; forms it does not handle (exponents,
 * fractions of a byte, more than 19 digits) stay as written. */
static int quantity_canonical(const char *s, char *out, size_t len)
{
	const char *p = s;
	bool neg = false;
	uint64_t m = 0;
	int frac = 0, digits = 0, suffix_exp = 0, binary_pow = -1;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	for (; isdigit((unsigned char)*p); p++, digits++)
		if (__builtin_mul_overflow(m, 10, &m) || __builtin_add_overflow(m, (uint64_t)(*p - '0'), &m))
			return -1;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++, digits++, frac++)
			if (__builtin_mul_overflow(m, 10, &m) ||
			    __builtin_add_overflow(m, (uint64_t)(*p - '0'), &m))
				return -1;
	if (!digits)
		return -1;
	for (int i = 1; i < 7 && binary_pow < 0; i++)
		if (!strcmp(p, binary_suffixes[i]))
			binary_pow = i;
	if (binary_pow < 0) {
		int i;

		for (i = 0; i < 10 && strcmp(p, decimal_suffixes[i]); i++)
			;
		if (i == 10)
			return -1;
		suffix_exp = i * 3 - 9;
		return decimal_quantity_text(neg, m, suffix_exp - frac, out, len);
	}
	/* Binary: whole bytes, then the largest power of 1024 that divides. */
	for (int i = 0; i < binary_pow; i++)
		if (__builtin_mul_overflow(m, 1024, &m))
			return -1;
	for (; frac > 0; frac--) {
		if (m % 10)
			return -1;
		m /= 10;
	}
	if (m < 1024)
		return decimal_quantity_text(neg, m, 0, out, len);
	binary_pow = 0;
	while (binary_pow < 6 && m % 1024 == 0) {
		m /= 1024;
		binary_pow++;
	}
	snprintf(out, len, "%s%llu%s", neg ? "-" : "", (unsigned long long)m,
		 binary_suffixes[binary_pow]);
	return 0;
}

/* A Quantity value of the object (a string, or a bare JSON number) into a
 * dv_buf; an unset one prints "0" like Go's zero Quantity. */
static int quantity_text(const json_t *q, dv_buf *out)
{
	char buf[64];

	if (json_is_string(q)) {
		if (quantity_canonical(json_string_value(q), buf, sizeof(buf)) == 0)
			return dv_buf_appends(out, buf);
		return dv_buf_appends(out, json_string_value(q));
	}
	if (json_is_integer(q)) {
		long long v = (long long)json_integer_value(q);
		uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

		if (decimal_quantity_text(v < 0, mag, 0, buf, sizeof(buf)) == 0)
			return dv_buf_appends(out, buf);
		return dv_buf_appendf(out, "%lld", v);
	}
	if (json_is_real(q))
		return dv_buf_appendf(out, "%g", json_real_value(q));
	return dv_buf_appends(out, "0");
}

/* ---- building a row ---- */

typedef struct {
	const json_t *obj;
	json_t *cells;
	json_t *conditions; /* row conditions (pods), NULL for none */
	time_t now;
	int err;            /* set by any cell helper that failed */
} row_ctx;

static void cell_take(row_ctx *r, json_t *v)
{
	if (json_array_append_new(r->cells, v) < 0)
		r->err = -1;
}

static void cell_str(row_ctx *r, const char *s)
{
	cell_take(r, json_string(s ? s : ""));
}

static void cell_int(row_ctx *r, long long v)
{
	cell_take(r, json_integer((json_int_t)v));
}

static void cell_bool(row_ctx *r, bool v)
{
	cell_take(r, json_boolean(v));
}

/* Takes the text of b (freed here), or records the failure that filled
 * it. */
static void cell_buf(row_ctx *r, dv_buf *b, int fill_err)
{
	if (fill_err < 0)
		r->err = -1;
	else
		cell_str(r, b->data ? (const char *)b->data : "");
	dv_buf_free(b);
}

static void cell_age(row_ctx *r, const json_t *ts)
{
	char age[32];

	age_text(ts, r->now, age, sizeof(age));
	cell_str(r, age);
}

static void cell_name(row_ctx *r)
{
	cell_str(r, jstr_or(r->obj, "metadata.name", ""));
}

static void cell_creation_age(row_ctx *r)
{
	cell_age(r, jget(r->obj, "metadata.creationTimestamp"));
}

static void cell_quantity(row_ctx *r, const json_t *q)
{
	dv_buf b;

	dv_buf_init(&b, CELL_MAX);
	cell_buf(r, &b, quantity_text(q, &b));
}

static bool being_deleted(const json_t *obj)
{
	return jset(obj, "metadata.deletionTimestamp");
}

/* ---- built-in kinds ---- */

typedef struct {
	const char *name;
	const char *type;
	const char *format;
	int priority;
	const char *description;
} column_def;

#define COL_NAME { "Name", "string", "name", 0, NAME_DESC }
#define COL_AGE { "Age", "string", "", 0, AGE_DESC }
#define COL(n, t, d) { n, t, "", 0, d }
#define WIDE(n, t, d) { n, t, "", 1, d }
#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

static void print_namespace(row_ctx *r)
{
	cell_name(r);
	cell_str(r, jstr(r->obj, "status.phase"));
	cell_creation_age(r);
}

static const column_def namespace_columns[] = {
	COL_NAME,
	COL("Status", "string", "The status of the namespace"),
	COL_AGE,
};

static void print_secret(row_ctx *r)
{
	cell_name(r);
	cell_str(r, jstr(r->obj, "type"));
	cell_int(r, jlen(r->obj, "data"));
	cell_creation_age(r);
}

static const column_def secret_columns[] = {
	COL_NAME,
	COL("Type", "string", "Used to facilitate programmatic handling of secret data."),
	COL("Data", "string",
	    "Data contains the secret data. Each key must consist of alphanumeric characters, "
	    "'-', '_' or '.'."),
	COL_AGE,
};

static void print_configmap(row_ctx *r)
{
	cell_name(r);
	cell_int(r, jlen(r->obj, "data") + jlen(r->obj, "binaryData"));
	cell_creation_age(r);
}

static const column_def configmap_columns[] = {
	COL_NAME,
	COL("Data", "string",
	    "Data contains the configuration data. Each key must consist of alphanumeric "
	    "characters, '-', '_' or '.'."),
	COL_AGE,
};

/* helper.GetAccessModesAsString: a fixed order, duplicates dropped. */
static void cell_access_modes(row_ctx *r, const json_t *modes)
{
	static const char *const mode[][2] = {
		{ "ReadWriteOnce", "RWO" },
		{ "ReadOnlyMany", "ROX" },
		{ "ReadWriteMany", "RWX" },
		{ "ReadWriteOncePod", "RWOP" },
	};
	char out[32] = "";
	size_t len = 0;

	for (size_t m = 0; m < NCOLS(mode); m++) {
		size_t i;
		const json_t *v;

		json_array_foreach(modes, i, v) {
			const char *s = json_string_value(v);

			if (s && !strcmp(s, mode[m][0])) {
				len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s",
							len ? "," : "", mode[m][1]);
				break;
			}
		}
	}
	cell_str(r, out);
}

#define BETA_STORAGE_CLASS "volume.beta.kubernetes.io/storage-class"

static void print_persistent_volume(row_ctx *r)
{
	const json_t *pv = r->obj;
	const char *sc = annotation(pv, BETA_STORAGE_CLASS);
	dv_buf claim;
	int e = 0;

	dv_buf_init(&claim, CELL_MAX);
	if (jset(pv, "spec.claimRef"))
		e = dv_buf_appendf(&claim, "%s/%s", jstr_or(pv, "spec.claimRef.namespace", ""),
				   jstr_or(pv, "spec.claimRef.name", ""));
	cell_name(r);
	cell_quantity(r, jget(pv, "spec.capacity.storage"));
	cell_access_modes(r, jget(pv, "spec.accessModes"));
	cell_str(r, jstr(pv, "spec.persistentVolumeReclaimPolicy"));
	cell_str(r, being_deleted(pv) ? "Terminating" : jstr(pv, "status.phase"));
	cell_buf(r, &claim, e);
	cell_str(r, sc ? sc : jstr(pv, "spec.storageClassName"));
	cell_str(r, jstr_or(pv, "spec.volumeAttributesClassName", "<unset>"));
	cell_str(r, jstr(pv, "status.reason"));
	cell_creation_age(r);
	cell_str(r, jstr_or(pv, "spec.volumeMode", "<unset>"));
}

static const column_def persistent_volume_columns[] = {
	COL_NAME,
	COL("Capacity", "string",
	    "capacity is the description of the persistent volume's resources and capacity."),
	COL("Access Modes", "string", "accessModes contains all ways the volume can be mounted."),
	COL("Reclaim Policy", "string",
	    "persistentVolumeReclaimPolicy defines what happens to a persistent volume when "
	    "released from its claim."),
	COL("Status", "string",
	    "phase indicates if a volume is available, bound to a claim, or released by a claim."),
	COL("Claim", "string",
	    "claimRef is part of a bi-directional binding between PersistentVolume and "
	    "PersistentVolumeClaim."),
	COL("StorageClass", "string", "StorageClass of the pv"),
	COL("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
	COL("Reason", "string",
	    "reason is a brief CamelCase string that describes any failure and is meant for "
	    "machine parsing and tidy display in the CLI."),
	COL_AGE,
	WIDE("VolumeMode", "string",
	     "volumeMode defines if a volume is intended to be used with a formatted filesystem "
	     "or to remain in raw block state."),
};

static void print_persistent_volume_claim(row_ctx *r)
{
	const json_t *pvc = r->obj;
	const char *sc = annotation(pvc, BETA_STORAGE_CLASS);
	const char *volume = jstr_or(pvc, "spec.volumeName", "");

	cell_name(r);
	cell_str(r, being_deleted(pvc) ? "Terminating" : jstr(pvc, "status.phase"));
	cell_str(r, volume);
	/* Capacity and access modes are the bound volume's, shown once bound. */
	if (*volume) {
		cell_quantity(r, jget(pvc, "status.capacity.storage"));
		cell_access_modes(r, jget(pvc, "status.accessModes"));
	} else {
		cell_str(r, "");
		cell_str(r, "");
	}
	cell_str(r, sc ? sc : jstr(pvc, "spec.storageClassName"));
	cell_str(r, jstr_or(pvc, "spec.volumeAttributesClassName", "<unset>"));
	cell_creation_age(r);
	cell_str(r, jstr_or(pvc, "spec.volumeMode", "<unset>"));
}

static const column_def persistent_volume_claim_columns[] = {
	COL_NAME,
	COL("Status", "string", "phase represents the current phase of PersistentVolumeClaim."),
	COL("Volume", "string",
	    "volumeName is the binding reference to the PersistentVolume backing this claim."),
	COL("Capacity", "string",
	    "capacity represents the actual resources of the underlying volume."),
	COL("Access Modes", "string",
	    "accessModes contains the actual access modes the volume backing the PVC has."),
	COL("StorageClass", "string", "StorageClass of the pvc"),
	COL("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
	COL_AGE,
	WIDE("VolumeMode", "string",
	     "volumeMode defines what type of volume is required by the claim."),
};

/* ---- pods ---- */

static bool pod_condition_true(const json_t *status, const char *type)
{
	size_t i;
	const json_t *c;

	json_array_foreach(jget(status, "conditions"), i, c) {
		const char *t = jstr(c, "type"), *s = jstr(c, "status");

		if (t && s && !strcmp(t, type) && !strcmp(s, "True"))
			return true;
	}
	return false;
}

/* podutil.IsRestartableInitContainer: a sidecar (restartPolicy Always). */
static bool init_container_restartable(const json_t *spec, const char *name)
{
	size_t i;
	const json_t *c;

	json_array_foreach(jget(spec, "initContainers"), i, c) {
		const char *n = jstr(c, "name"), *policy = jstr(c, "restartPolicy");

		if (n && name && !strcmp(n, name))
			return policy && !strcmp(policy, "Always");
	}
	return false;
}

static void later_of(timestamp *latest, const json_t *container_status)
{
	timestamp t;

	if (timestamp_get(jget(container_status, "lastState.terminated.finishedAt"), &t) &&
	    timestamp_before(latest, &t))
		*latest = t;
}

static int set_reason(dv_buf *reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int set_reason(dv_buf *reason, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n, r;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	dv_buf_reset(reason);
	r = dv_buf_append(reason, s, (size_t)n);
	free(s);
	return r;
}

static const char *reason_of(const dv_buf *reason)
{
	return reason->data ? (const char *)reason->data : "";
}

typedef struct {
	long long restarts;
	long long ready;
	timestamp last_restart;
} pod_counts;

/*
 * The init containers' part of printPod: walks them in order until the
 * first one that has not completed, whose state becomes the pod's reason
 * ("Init:1/2", "Init:CrashLoopBackOff", "Init:ExitCode:1"). Returns true
 * while the pod is still initializing.
 */
static bool pod_init_status(const json_t *pod, dv_buf *reason, pod_counts *all,
			    pod_counts *sidecars, int *err)
{
	const json_t *spec = jget(pod, "spec");
	const json_t *statuses = jget(pod, "status.initContainerStatuses");
	size_t i;
	const json_t *cs;

	json_array_foreach(statuses, i, cs) {
		bool restartable = init_container_restartable(spec, jstr(cs, "name"));
		long long rc = jint(cs, "restartCount");
		const json_t *term = jget(cs, "state.terminated");
		const char *waiting = jstr(cs, "state.waiting.reason");

		all->restarts += rc;
		later_of(&all->last_restart, cs);
		if (restartable) {
			sidecars->restarts += rc;
			later_of(&sidecars->last_restart, cs);
		}
		if (json_is_object(term) && jint(term, "exitCode") == 0)
			continue;
		if (restartable && jbool_or(cs, "started", false)) {
			if (jbool_or(cs, "ready", false))
				all->ready++;
			continue;
		}
		if (json_is_object(term)) {
			const char *why = jstr_or(term, "reason", "");

			if (*why)
				*err |= set_reason(reason, "Init:%s", why);
			else if (jint(term, "signal"))
				*err |= set_reason(reason, "Init:Signal:%lld", jint(term, "signal"));
			else
				*err |= set_reason(reason, "Init:ExitCode:%lld", jint(term, "exitCode"));
		} else if (waiting && *waiting && strcmp(waiting, "PodInitializing")) {
			*err |= set_reason(reason, "Init:%s", waiting);
		} else {
			*err |= set_reason(reason, "Init:%zu/%zu", i,
					   json_array_size(jget(spec, "initContainers")));
		}
		return true;
	}
	return false;
}

/* The regular containers' part: the last container with something to say
 * gives the reason, counting from the end as printPod does. */
static void pod_container_status(const json_t *pod, dv_buf *reason, pod_counts *c, int *err)
{
	const json_t *statuses = jget(pod, "status.containerStatuses");
	bool has_running = false;

	for (size_t i = json_array_size(statuses); i-- > 0;) {
		const json_t *cs = json_array_get(statuses, i);
		const json_t *term = jget(cs, "state.terminated");
		const char *waiting = jstr_or(cs, "state.waiting.reason", "");
		const char *term_reason = jstr_or(term, "reason", "");

		c->restarts += jint(cs, "restartCount");
		later_of(&c->last_restart, cs);
		if (*waiting) {
			*err |= set_reason(reason, "%s", waiting);
		} else if (json_is_object(term) && *term_reason) {
			*err |= set_reason(reason, "%s", term_reason);
		} else if (json_is_object(term)) {
			if (jint(term, "signal"))
				*err |= set_reason(reason, "Signal:%lld", jint(term, "signal"));
			else
				*err |= set_reason(reason, "ExitCode:%lld", jint(term, "exitCode"));
		} else if (jbool_or(cs, "ready", false) && json_is_object(jget(cs, "state.running"))) {
			has_running = true;
			c->ready++;
		}
	}
	/* Back to Running while a container still runs. */
	if (!strcmp(reason_of(reason), "Completed") && has_running)
		*err |= set_reason(reason, "%s",
				   pod_condition_true(jget(pod, "status"), "Ready") ? "Running" : "NotReady");
}

static json_t *pod_row_condition(const char *reason, const char *message)
{
	return json_pack("[{s:s, s:s, s:s, s:s}]", "type", "Completed", "status", "True", "reason",
			 reason, "message", message);
}

static void cell_readiness_gates(row_ctx *r)
{
	const json_t *gates = jget(r->obj, "spec.readinessGates");
	const json_t *conds = jget(r->obj, "status.conditions");
	size_t i, j, true_count = 0;
	const json_t *g, *c;
	char out[48];

	if (!json_array_size(gates)) {
		cell_str(r, "<none>");
		return;
	}
	json_array_foreach(gates, i, g) {
		const char *type = jstr_or(g, "conditionType", "");

		json_array_foreach(conds, j, c) {
			if (!strcmp(jstr_or(c, "type", ""), type)) {
				true_count += !strcmp(jstr_or(c, "status", ""), "True");
				break;
			}
		}
	}
	snprintf(out, sizeof(out), "%zu/%zu", true_count, json_array_size(gates));
	cell_str(r, out);
}

/* status.podIPs[0], which the v1 -> internal conversion fills from
 * status.podIP when only that is set. */
static const char *pod_ip(const json_t *pod)
{
	const char *ip = jstr(json_array_get(jget(pod, "status.podIPs"), 0), "ip");

	if (ip && *ip)
		return ip;
	return jstr_nonempty_or(pod, "status.podIP", "<none>");
}

static void print_pod(row_ctx *r)
{
	const json_t *pod = r->obj, *status = jget(pod, "status");
	const char *phase = jstr_or(status, "phase", "");
	pod_counts all = { 0, 0, { GO_ZERO_SEC, 0 } }, sidecars = all;
	long long total = jlen(pod, "spec.containers");
	size_t i;
	const json_t *c;
	dv_buf reason, restarts;
	int e = 0;
	bool initializing;
	char ready[48], age[32];

	dv_buf_init(&reason, CELL_MAX);
	dv_buf_init(&restarts, CELL_MAX);
	e |= set_reason(&reason, "%s", jstr_nonempty_or(status, "reason", phase));
	json_array_foreach(jget(status, "conditions"), i, c)
		if (!strcmp(jstr_or(c, "type", ""), "PodScheduled") &&
		    !strcmp(jstr_or(c, "reason", ""), "SchedulingGated"))
			e |= set_reason(&reason, "SchedulingGated");
	if (!strcmp(phase, "Succeeded"))
		r->conditions = pod_row_condition("Succeeded", "The pod has completed successfully.");
	else if (!strcmp(phase, "Failed"))
		r->conditions = pod_row_condition("Failed", "The pod failed.");
	if ((!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")) && !r->conditions)
		e = -1;
	json_array_foreach(jget(pod, "spec.initContainers"), i, c)
		total += !strcmp(jstr_or(c, "restartPolicy", ""), "Always");

	initializing = pod_init_status(pod, &reason, &all, &sidecars, &e);
	if (!initializing || pod_condition_true(status, "Initialized")) {
		/* Only sidecars' restarts count once the pod runs. */
		sidecars.ready = all.ready;
		all = sidecars;
		pod_container_status(pod, &reason, &all, &e);
	}
	if (being_deleted(pod) && !strcmp(jstr_or(status, "reason", ""), "NodeLost"))
		e |= set_reason(&reason, "Unknown");
	else if (being_deleted(pod) && strcmp(phase, "Succeeded") && strcmp(phase, "Failed"))
		e |= set_reason(&reason, "Terminating");

	if (all.restarts != 0 && !timestamp_zero(&all.last_restart)) {
		dv_table_human_duration(seconds_since(&all.last_restart, r->now), age, sizeof(age));
		e |= dv_buf_appendf(&restarts, "%lld (%s ago)", all.restarts, age);
	} else {
		e |= dv_buf_appendf(&restarts, "%lld", all.restarts);
	}
	snprintf(ready, sizeof(ready), "%lld/%lld", all.ready, total);

	cell_name(r);
	cell_str(r, ready);
	cell_buf(r, &reason, e);
	cell_buf(r, &restarts, e);
	cell_creation_age(r);
	/* wide */
	cell_str(r, pod_ip(pod));
	cell_str(r, jstr_nonempty_or(pod, "spec.nodeName", "<none>"));
	cell_str(r, jstr_nonempty_or(pod, "status.nominatedNodeName", "<none>"));
	cell_readiness_gates(r);
}

static const column_def pod_columns[] = {
	COL_NAME,
	COL("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
	COL("Status", "string", "The aggregate status of the containers in this pod."),
	COL("Restarts", "string",
	    "The number of times the containers in this pod have been restarted and when the "
	    "last container in this pod has restarted."),
	COL_AGE,
	WIDE("IP", "string",
	     "podIP address allocated to the pod. Routable at least within the cluster. Empty "
	     "if not yet allocated."),
	WIDE("Node", "string",
	     "NodeName indicates in which node this pod is scheduled. If empty, this pod is a "
	     "candidate for scheduling by the scheduler defined in schedulerName."),
	WIDE("Nominated Node", "string",
	     "nominatedNodeName is set only when this pod preempts other pods on the node, but "
	     "it cannot be scheduled right away as preemption victims receive their graceful "
	     "termination periods."),
	WIDE("Readiness Gates", "string",
	     "If specified, all readiness gates will be evaluated for pod readiness."),
};

/* ---- nodes ---- */

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* findNodeRoles: node-role.kubernetes.io/<role> keys and kubernetes.io/role
 * values, sorted and without duplicates, or "<none>". */
static void cell_node_roles(row_ctx *r)
{
	static const char prefix[] = "node-role.kubernetes.io/";
	const json_t *labels = jget(r->obj, "metadata.labels");
	const char **roles = calloc(json_object_size(labels) + 1, sizeof(*roles));
	size_t n = 0;
	const char *key;
	const json_t *v;
	dv_buf out;
	int e = 0;

	if (!roles) {
		r->err = -1;
		return;
	}
	json_object_foreach((json_t *)labels, key, v) {
		const char *value = json_string_value(v);

		if (!strncmp(key, prefix, sizeof(prefix) - 1) && key[sizeof(prefix) - 1])
			roles[n++] = key + sizeof(prefix) - 1;
		else if (!strcmp(key, "kubernetes.io/role") && value && *value)
			roles[n++] = value;
	}
	qsort(roles, n, sizeof(*roles), compare_strings);
	dv_buf_init(&out, CELL_MAX);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(roles[i], roles[i - 1]))
			e |= dv_buf_appendf(&out, "%s%s", out.len ? "," : "", roles[i]);
	if (!out.len)
		e |= dv_buf_appends(&out, "<none>");
	free(roles);
	cell_buf(r, &out, e);
}

static const char *node_address(const json_t *node, const char *type)
{
	size_t i;
	const json_t *a;

	json_array_foreach(jget(node, "status.addresses"), i, a)
		if (!strcmp(jstr_or(a, "type", ""), type))
			return jstr_or(a, "address", "");
	return "<none>";
}

static void print_node(row_ctx *r)
{
	const json_t *node = r->obj;
	const char *ready = NULL;
	size_t i;
	const json_t *c;
	char status[64];

	/* Only the Ready condition shows; the last one listed wins. */
	json_array_foreach(jget(node, "status.conditions"), i, c)
		if (!strcmp(jstr_or(c, "type", ""), "Ready"))
			ready = !strcmp(jstr_or(c, "status", ""), "True") ? "Ready" : "NotReady";
	snprintf(status, sizeof(status), "%s%s", ready ? ready : "Unknown",
		 jbool_or(node, "spec.unschedulable", false) ? ",SchedulingDisabled" : "");
	cell_name(r);
	cell_str(r, status);
	cell_node_roles(r);
	cell_creation_age(r);
	cell_str(r, jstr(node, "status.nodeInfo.kubeletVersion"));
	/* wide */
	cell_str(r, node_address(node, "InternalIP"));
	cell_str(r, node_address(node, "ExternalIP"));
	cell_str(r, jstr_nonempty_or(node, "status.nodeInfo.osImage", "<unknown>"));
	cell_str(r, jstr_nonempty_or(node, "status.nodeInfo.kernelVersion", "<unknown>"));
	cell_str(r, jstr_nonempty_or(node, "status.nodeInfo.containerRuntimeVersion", "<unknown>"));
}

static const column_def node_columns[] = {
	COL_NAME,
	COL("Status", "string", "The status of the node"),
	COL("Roles", "string", "The roles of the node"),
	COL_AGE,
	COL("Version", "string", "Kubelet Version reported by the node."),
	WIDE("Internal-IP", "string", "List of addresses reachable to the node."),
	WIDE("External-IP", "string", "List of addresses reachable to the node."),
	WIDE("OS-Image", "string",
	     "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 "
	     "(wheezy))."),
	WIDE("Kernel-Version", "string",
	     "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
	WIDE("Container-Runtime", "string",
	     "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
	     "containerd://1.4.2)."),
};

/* ---- events (core/v1 and events.k8s.io/v1 share the printer) ---- */

/* Where each field of the internal Event sits in the two JSON versions. */
typedef struct {
	const char *involved;
	const char *message;
	const char *first;
	const char *last;
	const char *count;
	const char *source;
	const char *reporting_controller;
} event_fields;

static const event_fields core_event = {
	"involvedObject", "message", "firstTimestamp", "lastTimestamp",
	"count", "source", "reportingComponent",
};
static const event_fields events_event = {
	"regarding", "note", "deprecatedFirstTimestamp", "deprecatedLastTimestamp",
	"deprecatedCount", "deprecatedSource", "reportingController",
};

static void cell_event_target(row_ctx *r, const json_t *involved)
{
	const char *kind = jstr_or(involved, "kind", ""), *name = jstr_or(involved, "name", "");
	dv_buf out;
	int e;

	dv_buf_init(&out, CELL_MAX);
	e = dv_buf_appends(&out, kind);
	for (size_t i = 0; i < out.len; i++)
		out.data[i] = (uint8_t)tolower(out.data[i]);
	if (*name)
		e |= dv_buf_appendf(&out, "/%s", name);
	cell_buf(r, &out, e);
}

/* formatEventSource: component, then ", host" when there is one. */
static void cell_event_source(row_ctx *r, const event_fields *f)
{
	const json_t *src = jget(r->obj, f->source);
	const char *component = jstr_nonempty_or(src, "component", NULL);
	const char *host = jstr_nonempty_or(src, "host", NULL);
	dv_buf out;
	int e;

	if (!component)
		component = jstr_or(r->obj, f->reporting_controller, "");
	if (!host)
		host = jstr_or(r->obj, "reportingInstance", "");
	dv_buf_init(&out, CELL_MAX);
	e = *host ? dv_buf_appendf(&out, "%s, %s", component, host) : dv_buf_appends(&out, component);
	cell_buf(r, &out, e);
}

/* strings.TrimSpace of the message (ASCII white space). */
static void cell_trimmed(row_ctx *r, const char *s)
{
	size_t n;

	s = s ? s : "";
	while (*s && isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	cell_take(r, json_stringn(s, n));
}

static void print_event_fields(row_ctx *r, const event_fields *f)
{
	const json_t *ev = r->obj, *series = jget(ev, "series");
	char first[32], last[32];
	timestamp t;
	long long count = jint(ev, f->count);

	if (timestamp_get(jget(ev, f->first), &t))
		age_text(jget(ev, f->first), r->now, first, sizeof(first));
	else
		age_text(jget(ev, "eventTime"), r->now, first, sizeof(first));
	if (timestamp_get(jget(ev, f->last), &t))
		age_text(jget(ev, f->last), r->now, last, sizeof(last));
	else
		snprintf(last, sizeof(last), "%s", first);
	if (json_is_object(series)) {
		age_text(jget(series, "lastObservedTime"), r->now, last, sizeof(last));
		count = jint(series, "count");
	} else if (count == 0) {
		count = 1; /* singleton events of the new API have no count */
	}
	cell_str(r, last);
	cell_str(r, jstr(ev, "type"));
	cell_str(r, jstr(ev, "reason"));
	cell_event_target(r, jget(ev, f->involved));
	cell_str(r, jstr(jget(ev, f->involved), "fieldPath"));
	cell_event_source(r, f);
	cell_trimmed(r, jstr(ev, f->message));
	cell_str(r, first);
	cell_int(r, count);
	cell_name(r);
}

static void print_event(row_ctx *r)
{
	print_event_fields(r, &core_event);
}

static void print_events_event(row_ctx *r)
{
	print_event_fields(r, &events_event);
}

static const column_def event_columns[] = {
	COL("Last Seen", "string",
	    "The time at which the most recent occurrence of this event was recorded."),
	COL("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
	COL("Reason", "string",
	    "This should be a short, machine understandable string that gives the reason for "
	    "the transition into the object's current status."),
	COL("Object", "string", "The object that this event is about."),
	WIDE("Subobject", "string",
	     "If referring to a piece of an object instead of an entire object, this string "
	     "should contain a valid JSON/Go field access statement, such as "
	     "desiredState.manifest.containers[2]."),
	WIDE("Source", "string",
	     "The component reporting this event. Should be a short machine understandable string."),
	COL("Message", "string", "A human-readable description of the status of this operation."),
	WIDE("First Seen", "string",
	     "The time at which the event was first recorded. (Time of server receipt is in "
	     "TypeMeta.)"),
	WIDE("Count", "string", "The number of times this event has occurred."),
	{ "Name", "string", "name", 1, NAME_DESC },
};

/* ---- storage.k8s.io ---- */

static bool default_class(const json_t *obj, const char *ga, const char *beta)
{
	const char *v = annotation(obj, ga);

	if (v && !strcmp(v, "true"))
		return true;
	v = beta ? annotation(obj, beta) : NULL;
	return v && !strcmp(v, "true");
}

static void cell_class_name(row_ctx *r, bool is_default)
{
	dv_buf out;
	int e;

	dv_buf_init(&out, CELL_MAX);
	e = dv_buf_appendf(&out, "%s%s", jstr_or(r->obj, "metadata.name", ""),
			   is_default ? " (default)" : "");
	cell_buf(r, &out, e);
}

static void print_storage_class(row_ctx *r)
{
	const json_t *sc = r->obj;

	cell_class_name(r, default_class(sc, "storageclass.kubernetes.io/is-default-class",
					 "storageclass.beta.kubernetes.io/is-default-class"));
	cell_str(r, jstr(sc, "provisioner"));
	cell_str(r, jstr_or(sc, "reclaimPolicy", "Delete"));
	cell_str(r, jstr_or(sc, "volumeBindingMode", "Immediate"));
	cell_bool(r, jbool_or(sc, "allowVolumeExpansion", false));
	cell_creation_age(r);
}

static const column_def storage_class_columns[] = {
	COL_NAME,
	COL("Provisioner", "string", "provisioner indicates the type of the provisioner."),
	COL("ReclaimPolicy", "string",
	    "reclaimPolicy controls the reclaimPolicy for dynamically provisioned "
	    "PersistentVolumes of this storage class. Defaults to Delete."),
	COL("VolumeBindingMode", "string",
	    "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and "
	    "bound.  When unset, VolumeBindingImmediate is used."),
	COL("AllowVolumeExpansion", "string",
	    "allowVolumeExpansion shows whether the storage class allow volume expand."),
	COL_AGE,
};

static void print_volume_attributes_class(row_ctx *r)
{
	cell_class_name(r, default_class(r->obj,
					 "volumeattributesclass.alpha.kubernetes.io/is-default-class",
					 NULL));
	cell_str(r, jstr(r->obj, "driverName"));
	cell_creation_age(r);
}

static const column_def volume_attributes_class_columns[] = {
	COL_NAME,
	COL("DriverName", "string", "Name of the CSI driver This field is immutable."),
	COL_AGE,
};

static void print_csi_driver(row_ctx *r)
{
	const json_t *spec = jget(r->obj, "spec"), *tokens = jget(spec, "tokenRequests");
	dv_buf modes, audiences;
	size_t i;
	const json_t *v;
	int em = 0, ea = 0;

	dv_buf_init(&modes, CELL_MAX);
	dv_buf_init(&audiences, CELL_MAX);
	json_array_foreach(jget(spec, "volumeLifecycleModes"), i, v)
		em |= dv_buf_appendf(&modes, "%s%s", i ? "," : "",
				     json_is_string(v) ? json_string_value(v) : "");
	if (!modes.len)
		em |= dv_buf_appends(&modes, "<none>");
	if (!json_is_array(tokens))
		ea |= dv_buf_appends(&audiences, "<unset>");
	json_array_foreach(tokens, i, v)
		ea |= dv_buf_appendf(&audiences, "%s%s", i ? "," : "", jstr_or(v, "audience", ""));

	cell_name(r);
	cell_bool(r, jbool_or(spec, "attachRequired", true));
	cell_bool(r, jbool_or(spec, "podInfoOnMount", false));
	cell_bool(r, jbool_or(spec, "storageCapacity", false));
	cell_buf(r, &audiences, ea);
	cell_bool(r, jbool_or(spec, "requiresRepublish", false));
	cell_buf(r, &modes, em);
	cell_creation_age(r);
}

static const column_def csi_driver_columns[] = {
	COL_NAME,
	COL("AttachRequired", "boolean",
	    "attachRequired indicates this CSI volume driver requires an attach operation."),
	COL("PodInfoOnMount", "boolean",
	    "podInfoOnMount indicates this CSI volume driver requires additional pod information "
	    "(like podName, podUID, etc.) during mount operations."),
	COL("StorageCapacity", "boolean",
	    "storageCapacity indicates that the CSI volume driver wants pod scheduling to "
	    "consider the storage capacity that the driver deployment will report."),
	COL("TokenRequests", "string",
	    "tokenRequests indicates the CSI driver needs pods' service account tokens it is "
	    "mounting volume for to do necessary authentication."),
	COL("RequiresRepublish", "boolean",
	    "requiresRepublish indicates the CSI driver wants `NodePublishVolume` being "
	    "periodically called to reflect any possible change in the mounted volume."),
	COL("Modes", "string",
	    "volumeLifecycleModes defines what kind of volumes this CSI volume driver supports."),
	COL_AGE,
};

static void print_csi_node(row_ctx *r)
{
	cell_name(r);
	cell_int(r, jlen(r->obj, "spec.drivers"));
	cell_creation_age(r);
}

static const column_def csi_node_columns[] = {
	COL_NAME,
	COL("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"),
	COL_AGE,
};

static void print_volume_attachment(row_ctx *r)
{
	cell_name(r);
	cell_str(r, jstr(r->obj, "spec.attacher"));
	cell_str(r, jstr(r->obj, "spec.source.persistentVolumeName"));
	cell_str(r, jstr(r->obj, "spec.nodeName"));
	cell_bool(r, jbool_or(r->obj, "status.attached", false));
	cell_creation_age(r);
}

static const column_def volume_attachment_columns[] = {
	COL_NAME,
	{ "Attacher", "string", "name", 0,
	  "attacher indicates the name of the volume driver that MUST handle this request. "
	  "This is the name returned by GetPluginName()." },
	COL("PV", "string", "persistentVolumeName represents the name of the persistent volume to attach."),
	COL("Node", "string", "nodeName represents the node that the volume should be attached to."),
	COL("Attached", "boolean", "attached indicates the volume is successfully attached."),
	COL_AGE,
};

static void print_csi_storage_capacity(row_ctx *r)
{
	const json_t *cap = jget(r->obj, "capacity");

	cell_name(r);
	cell_str(r, jstr(r->obj, "storageClassName"));
	if (cap && !json_is_null(cap))
		cell_quantity(r, cap);
	else
		cell_str(r, "<unset>");
}

static const column_def csi_storage_capacity_columns[] = {
	COL_NAME,
	COL("StorageClassName", "string",
	    "storageClassName represents the name of the StorageClass that the reported "
	    "capacity applies to."),
	COL("Capacity", "string",
	    "capacity is the value reported by the CSI driver in its GetCapacityResponse for a "
	    "GetCapacityRequest with topology and parameters that match the previous fields."),
};

/* ---- coordination.k8s.io ---- */

static void print_lease(row_ctx *r)
{
	cell_name(r);
	cell_str(r, jstr(r->obj, "spec.holderIdentity"));
	cell_creation_age(r);
}

static const column_def lease_columns[] = {
	COL_NAME,
	COL("Holder", "string", "holderIdentity contains the identity of the holder of a current lease."),
	COL_AGE,
};

/* ---- JSONPath, the subset additionalPrinterColumns use ---- */

/*
 * A column's jsonPath as k8s.io/client-go/util/jsonpath reads it inside
 * "{...}": fields (".a.b", escaped dots "a\.b", ['a.b']), indexes ("[0]",
 * "[-1]"), wildcards ("[*]", ".*") and filters on a relative path
 * ("[?(@.type=="Ready")]", "!=", or "[?(@.x)]" for presence). Recursive
 * descent ("..") and slices are not supported: such a column is refused
 * like one upstream cannot parse.
 */
typedef enum { JP_FIELD, JP_INDEX, JP_WILDCARD, JP_FILTER } jp_kind;

typedef enum { JP_EXISTS, JP_EQ, JP_NE } jp_op;

typedef struct jp_path jp_path;

typedef struct {
	jp_kind kind;
	char *field;      /* JP_FIELD */
	long index;       /* JP_INDEX */
	jp_path *sub;     /* JP_FILTER: the @ path */
	jp_op op;
	json_t *literal;  /* JP_FILTER with JP_EQ/JP_NE */
} jp_step;

struct jp_path {
	jp_step *steps;
	size_t n;
};

static void jp_free(jp_path *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->steps[i].field);
		jp_free(p->steps[i].sub);
		json_decref(p->steps[i].literal);
	}
	free(p->steps);
	free(p);
}

static jp_step *jp_push(jp_path *p, jp_kind kind)
{
	jp_step *s = realloc(p->steps, (p->n + 1) * sizeof(*s));

	if (!s)
		return NULL;
	p->steps = s;
	s = &p->steps[p->n++];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	return s;
}

static void skip_spaces(const char **p)
{
	while (**p == ' ')
		(*p)++;
}

/* A quoted string ('...' or "...") at *p; backslash escapes the next
 * character. */
static char *jp_quoted(const char **p)
{
	char quote = **p;
	dv_buf b;

	dv_buf_init(&b, CELL_MAX);
	for ((*p)++; **p && **p != quote; (*p)++) {
		if (**p == '\\' && (*p)[1])
			(*p)++;
		if (dv_buf_append(&b, *p, 1) < 0)
			goto fail;
	}
	if (**p != quote)
		goto fail;
	(*p)++;
	if (!b.data && dv_buf_append(&b, "", 0) < 0)
		goto fail;
	return dv_buf_steal(&b);
fail:
	dv_buf_free(&b);
	return NULL;
}

/* A literal of a filter: a quoted string, true, false or a number. */
static json_t *jp_literal(const char **p)
{
	char *s, *end;
	double d;

	if (**p == '"' || **p == '\'') {
		json_t *v;

		s = jp_quoted(p);
		if (!s)
			return NULL;
		v = json_string(s);
		free(s);
		return v;
	}
	if (!strncmp(*p, "true", 4)) {
		*p += 4;
		return json_true();
	}
	if (!strncmp(*p, "false", 5)) {
		*p += 5;
		return json_false();
	}
	d = strtod(*p, &end);
	if (end == *p)
		return NULL;
	*p = end;
	return json_real(d);
}

static jp_path *jp_parse_steps(const char **p, bool in_filter);

/* "[?(@... op literal)]" with *p just past "[?(". */
static int jp_parse_filter(const char **p, jp_step *s)
{
	skip_spaces(p);
	if (**p != '@')
		return -1;
	(*p)++;
	s->sub = jp_parse_steps(p, true);
	if (!s->sub)
		return -1;
	skip_spaces(p);
	if (!strncmp(*p, "==", 2) || !strncmp(*p, "!=", 2)) {
		s->op = **p == '=' ? JP_EQ : JP_NE;
		*p += 2;
		skip_spaces(p);
		s->literal = jp_literal(p);
		if (!s->literal)
			return -1;
		skip_spaces(p);
	} else {
		s->op = JP_EXISTS;
	}
	if (strncmp(*p, ")]", 2))
		return -1;
	*p += 2;
	return 0;
}

/* "[...]" with *p at '['. */
static int jp_parse_bracket(const char **p, jp_path *path)
{
	jp_step *s;
	char *end;

	(*p)++;
	if (!strncmp(*p, "?(", 2)) {
		*p += 2;
		s = jp_push(path, JP_FILTER);
		return s ? jp_parse_filter(p, s) : -1;
	}
	if (!strncmp(*p, "*]", 2)) {
		*p += 2;
		return jp_push(path, JP_WILDCARD) ? 0 : -1;
	}
	if (**p == '\'' || **p == '"') {
		s = jp_push(path, JP_FIELD);
		if (!s || !(s->field = jp_quoted(p)) || **p != ']')
			return -1;
		(*p)++;
		return 0;
	}
	s = jp_push(path, JP_INDEX);
	if (!s || !(isdigit((unsigned char)**p) || **p == '-'))
		return -1;
	s->index = strtol(*p, &end, 10);
	if (end == *p || *end != ']')
		return -1;
	*p = end + 1;
	return 0;
}

/* ".name" with *p at '.'; in a filter a field also ends at a space or an
 * operator. */
static int jp_parse_field(const char **p, jp_path *path, bool in_filter)
{
	dv_buf b;
	jp_step *s;

	(*p)++;
	if (**p == '.')
		return -1; /* recursive descent */
	if (**p == '*') {
		(*p)++;
		return jp_push(path, JP_WILDCARD) ? 0 : -1;
	}
	dv_buf_init(&b, CELL_MAX);
	while (**p && **p != '.' && **p != '[' &&
	       !(in_filter && (strchr(" =!)", **p) != NULL))) {
		if (**p == '\\' && (*p)[1])
			(*p)++;
		if (dv_buf_append(&b, *p, 1) < 0)
			break;
		(*p)++;
	}
	s = b.len ? jp_push(path, JP_FIELD) : NULL;
	if (!s) {
		dv_buf_free(&b);
		return -1;
	}
	s->field = dv_buf_steal(&b);
	return 0;
}

static jp_path *jp_parse_steps(const char **p, bool in_filter)
{
	jp_path *path = calloc(1, sizeof(*path));

	if (!path)
		return NULL;
	while (**p && !(in_filter && strchr(" =!)", **p))) {
		int r = **p == '.'   ? jp_parse_field(p, path, in_filter)
			: **p == '[' ? jp_parse_bracket(p, path)
				     : -1;

		if (r < 0) {
			jp_free(path);
			return NULL;
		}
	}
	return path;
}

static jp_path *jp_parse(const char *s)
{
	const char *p = s;
	jp_path *path;

	if (!s || (*s != '.' && *s != '['))
		return NULL;
	path = jp_parse_steps(&p, false);
	if (path && *p) {
		jp_free(path);
		return NULL;
	}
	return path;
}

static const json_t *jp_eval(const json_t *v, const jp_step *s, size_t n);

static bool jp_filter_match(const json_t *elem, const jp_step *s)
{
	const json_t *v = jp_eval(elem, s->sub->steps, s->sub->n);
	bool eq;

	if (s->op == JP_EXISTS)
		return v != NULL;
	if (!v)
		return false;
	if (json_is_number(v) && json_is_number(s->literal))
		eq = json_number_value(v) == json_number_value(s->literal);
	else
		eq = json_equal(v, s->literal);
	return s->op == JP_EQ ? eq : !eq;
}

/* The first value the path finds (a column shows one value), or NULL. */
static const json_t *jp_eval(const json_t *v, const jp_step *s, size_t n)
{
	size_t i, len;
	const json_t *r = NULL;

	if (!v || n == 0)
		return v;
	switch (s->kind) {
	case JP_FIELD:
		return jp_eval(json_object_get(v, s->field), s + 1, n - 1);
	case JP_INDEX:
		len = json_array_size(v);
		if (s->index < 0 ? (size_t)-s->index > len : (size_t)s->index >= len)
			return NULL;
		return jp_eval(json_array_get(v, s->index < 0 ? len - (size_t)-s->index : (size_t)s->index),
			       s + 1, n - 1);
	case JP_WILDCARD:
		if (json_is_array(v)) {
			for (i = 0; i < json_array_size(v) && !r; i++)
				r = jp_eval(json_array_get(v, i), s + 1, n - 1);
		} else if (json_is_object(v)) {
			const char *key;
			const json_t *x;

			json_object_foreach((json_t *)v, key, x) {
				r = jp_eval(x, s + 1, n - 1);
				if (r)
					break;
			}
		}
		return r;
	case JP_FILTER:
		for (i = 0; i < json_array_size(v) && !r; i++)
			if (jp_filter_match(json_array_get(v, i), s))
				r = jp_eval(json_array_get(v, i), s + 1, n - 1);
		return r;
	}
	return NULL;
}

/* ---- custom resource columns (apiextensions' tableconvertor) ---- */

typedef struct {
	const char *name;
	const char *type;
	const char *format;
	const char *description; /* NULL: "Custom resource definition column ..." */
	int priority;
	const char *json_path;
} crd_column;

/* Go's %v of a float64 (strconv 'g' with the shortest precision): the
 * fewest digits that read back, with an exponent when it is < -4 or >= 6
 * ("1e+06", "123456.5", "1.5e-05"). */
static void go_float(double d, char *out, size_t len)
{
	int prec, exp;
	char *e;

	if (isnan(d) || isinf(d)) {
		snprintf(out, len, "%s", isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(out, len, "%.*e", prec - 1, d);
		if (strtod(out, NULL) == d)
			break;
	}
	snprintf(out, len, "%.*e", prec - 1, d);
	e = strchr(out, 'e');
	exp = e ? atoi(e + 1) : 0;
	if (exp < -4 || exp >= 6)
		return;
	snprintf(out, len, "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0, d);
}

/* jsonpath's PrintResults of one value, for a "string" column. */
static json_t *crd_string_cell(const json_t *v)
{
	char buf[64];

	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_copy((json_t *)v);
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return json_string(buf);
	case JSON_REAL:
		go_float(json_real_value(v), buf, sizeof(buf));
		return json_string(buf);
	case JSON_TRUE:
	case JSON_FALSE:
		return json_string(json_is_true(v) ? "true" : "false");
	case JSON_OBJECT:
	case JSON_ARRAY: {
		/* maps and lists print as compact JSON, keys sorted */
		char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
		json_t *cell = s ? json_string(s) : NULL;

		free(s);
		return cell;
	}
	default:
		return json_null();
	}
}

/* cellForJSONValue: the cell of a value found for a column of this type;
 * JSON null when the value does not fit the type. */
static json_t *crd_cell(const char *type, const json_t *v, time_t now)
{
	if (!v || json_is_null(v))
		return json_null();
	if (!strcmp(type, "string"))
		return crd_string_cell(v);
	if (!strcmp(type, "integer") && json_is_number(v))
		return json_integer(json_is_integer(v) ? json_integer_value(v)
						       : (json_int_t)json_real_value(v));
	if (!strcmp(type, "number") && json_is_number(v))
		return json_real(json_number_value(v));
	if (!strcmp(type, "boolean") && json_is_boolean(v))
		return json_boolean(json_is_true(v));
	if (!strcmp(type, "date") && json_is_string(v)) {
		const char *s = json_string_value(v);
		timestamp t;
		char age[32];

		if (!*s || !strcmp(s, "null"))
			return json_string("<unknown>");
		if (parse_rfc3339(s, &t) < 0)
			return json_string("<invalid>");
		age_text(v, now, age, sizeof(age));
		return json_string(age);
	}
	return json_null();
}

/* The snapshot.storage.k8s.io/v1 CRDs' additionalPrinterColumns. */
static const crd_column volume_snapshot_columns[] = {
	{ "ReadyToUse", "boolean", "",
	  "Indicates if the snapshot is ready to be used to restore a volume.", 0,
	  ".status.readyToUse" },
	{ "SourcePVC", "string", "",
	  "If a new snapshot needs to be created, this contains the name of the source PVC from "
	  "which this snapshot was (or will be) created.",
	  0, ".spec.source.persistentVolumeClaimName" },
	{ "SourceSnapshotContent", "string", "",
	  "If a snapshot already exists, this contains the name of the existing "
	  "VolumeSnapshotContent object representing the existing snapshot.",
	  0, ".spec.source.volumeSnapshotContentName" },
	{ "RestoreSize", "string", "",
	  "Represents the minimum size of volume required to rehydrate from this snapshot.", 0,
	  ".status.restoreSize" },
	{ "SnapshotClass", "string", "",
	  "The name of the VolumeSnapshotClass requested by the VolumeSnapshot.", 0,
	  ".spec.volumeSnapshotClassName" },
	{ "SnapshotContent", "string", "",
	  "Name of the VolumeSnapshotContent object to which the VolumeSnapshot object intends "
	  "to bind to. Please note that verification of binding actually requires checking both "
	  "VolumeSnapshot and VolumeSnapshotContent to ensure both are pointing at each other. "
	  "Binding MUST be verified prior to usage of this object.",
	  0, ".status.boundVolumeSnapshotContentName" },
	{ "CreationTime", "date", "",
	  "Timestamp when the point-in-time snapshot was taken by the underlying storage system.",
	  0, ".status.creationTime" },
	{ "Age", "date", "", NULL, 0, ".metadata.creationTimestamp" },
};

static const crd_column volume_snapshot_content_columns[] = {
	{ "ReadyToUse", "boolean", "",
	  "Indicates if the snapshot is ready to be used to restore a volume.", 0,
	  ".status.readyToUse" },
	{ "RestoreSize", "integer", "", "Represents the complete size of the snapshot in bytes", 0,
	  ".status.restoreSize" },
	{ "DeletionPolicy", "string", "",
	  "Determines whether this VolumeSnapshotContent and its physical snapshot on the "
	  "underlying storage system should be deleted when its bound VolumeSnapshot is deleted.",
	  0, ".spec.deletionPolicy" },
	{ "Driver", "string", "",
	  "Name of the CSI driver used to create the physical snapshot on the underlying storage "
	  "system.",
	  0, ".spec.driver" },
	{ "VolumeSnapshotClass", "string", "",
	  "Name of the VolumeSnapshotClass to which this snapshot belongs.", 0,
	  ".spec.volumeSnapshotClassName" },
	{ "VolumeSnapshot", "string", "",
	  "Name of the VolumeSnapshot object to which this VolumeSnapshotContent object is bound.",
	  0, ".spec.volumeSnapshotRef.name" },
	{ "VolumeSnapshotNamespace", "string", "",
	  "Namespace of the VolumeSnapshot object to which this VolumeSnapshotContent object is "
	  "bound.",
	  0, ".spec.volumeSnapshotRef.namespace" },
	{ "Age", "date", "", NULL, 0, ".metadata.creationTimestamp" },
};

static const crd_column volume_snapshot_class_columns[] = {
	{ "Driver", "string", "", NULL, 0, ".driver" },
	{ "DeletionPolicy", "string", "",
	  "Determines whether a VolumeSnapshotContent created through the VolumeSnapshotClass "
	  "should be deleted when its bound VolumeSnapshot is deleted.",
	  0, ".deletionPolicy" },
	{ "Age", "date", "", NULL, 0, ".metadata.creationTimestamp" },
};

/* serveDefaultColumnsIfEmpty: a CRD version without columns shows Age. */
static const crd_column crd_default_columns[] = {
	{ "Age", "date", "", AGE_DESC, 0, ".metadata.creationTimestamp" },
};

/* A CRD version's additionalPrinterColumns, read into crd_columns whose
 * strings point into the JSON. A column whose jsonPath does not parse ends
 * the list there, as upstream keeps the columns read before the error. */
static size_t crd_columns_from_json(const json_t *arr, crd_column *out, jp_path **paths)
{
	size_t i, n = 0;
	const json_t *c;

	json_array_foreach(arr, i, c) {
		const json_t *prio = json_object_get(c, "priority");

		out[n] = (crd_column){
			.name = jstr_or(c, "name", ""),
			.type = jstr_or(c, "type", "string"),
			.format = jstr_or(c, "format", ""),
			.description = jstr_nonempty_or(c, "description", NULL),
			.priority = json_is_integer(prio) ? (int)json_integer_value(prio) : 0,
			.json_path = jstr_or(c, "jsonPath", ""),
		};
		paths[n] = jp_parse(out[n].json_path);
		if (!paths[n])
			break;
		n++;
	}
	return n;
}

static json_t *column_json(const char *name, const char *type, const char *format,
			   const char *description, int priority)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", name, "type", type, "format",
			 format ? format : "", "description", description ? description : "",
			 "priority", priority);
}

static int append_column(json_t *defs, json_t *col)
{
	return json_array_append_new(defs, col);
}

typedef struct {
	const crd_column *cols;
	jp_path **paths;
	size_t n;
} crd_table;

static int crd_headers(json_t *defs, const crd_table *t)
{
	int e = append_column(defs, column_json("Name", "string", "name", NAME_DESC, 0));

	for (size_t i = 0; i < t->n && !e; i++) {
		const crd_column *c = &t->cols[i];
		dv_buf desc;

		dv_buf_init(&desc, CELL_MAX);
		e = c->description ? dv_buf_appends(&desc, c->description)
				   : dv_buf_appendf(&desc,
						    "Custom resource definition column (in JSONPath "
						    "format): %s",
						    c->json_path);
		if (!e)
			e = append_column(defs, column_json(c->name, c->type, c->format,
							    (const char *)desc.data, c->priority));
		dv_buf_free(&desc);
	}
	return e ? -1 : 0;
}

static void crd_row(row_ctx *r, const crd_table *t)
{
	cell_name(r);
	for (size_t i = 0; i < t->n; i++) {
		const json_t *v = jp_eval(r->obj, t->paths[i]->steps, t->paths[i]->n);

		cell_take(r, crd_cell(t->cols[i].type, v, r->now));
	}
}

/* ---- k8s.io/apiserver's default TableConvertor ---- */

static int default_headers(json_t *defs)
{
	if (append_column(defs, column_json("Name", "string", "name", NAME_DESC, 0)) < 0 ||
	    append_column(defs, column_json("Created At", "date", "", AGE_DESC, 0)) < 0)
		return -1;
	return 0;
}

static void default_row(row_ctx *r)
{
	char created[128];

	rfc3339_text(jget(r->obj, "metadata.creationTimestamp"), created, sizeof(created));
	cell_name(r);
	cell_str(r, created);
}

/* ---- which converter prints a kind ---- */

typedef struct {
	const char *group;
	const char *kind;
	const column_def *cols;
	size_t ncols;
	void (*row)(row_ctx *r);
	const crd_column *crd_cols; /* built-in stand-ins for upstream CRDs */
	size_t ncrd;
} printer;

#define BUILTIN(g, k, cols, fn) { g, k, cols, NCOLS(cols), fn, NULL, 0 }
#define AS_CRD(g, k, cols) { g, k, NULL, 0, NULL, cols, NCOLS(cols) }

static const printer printers[] = {
	BUILTIN("", "Namespace", namespace_columns, print_namespace),
	BUILTIN("", "PersistentVolumeClaim", persistent_volume_claim_columns,
		print_persistent_volume_claim),
	BUILTIN("", "PersistentVolume", persistent_volume_columns, print_persistent_volume),
	BUILTIN("", "Pod", pod_columns, print_pod),
	BUILTIN("", "Node", node_columns, print_node),
	BUILTIN("", "Secret", secret_columns, print_secret),
	BUILTIN("", "ConfigMap", configmap_columns, print_configmap),
	BUILTIN("", "Event", event_columns, print_event),
	BUILTIN("events.k8s.io", "Event", event_columns, print_events_event),
	BUILTIN("storage.k8s.io", "StorageClass", storage_class_columns, print_storage_class),
	BUILTIN("storage.k8s.io", "CSIDriver", csi_driver_columns, print_csi_driver),
	BUILTIN("storage.k8s.io", "CSINode", csi_node_columns, print_csi_node),
	BUILTIN("storage.k8s.io", "VolumeAttachment", volume_attachment_columns,
		print_volume_attachment),
	BUILTIN("storage.k8s.io", "CSIStorageCapacity", csi_storage_capacity_columns,
		print_csi_storage_capacity),
	BUILTIN("storage.k8s.io", "VolumeAttributesClass", volume_attributes_class_columns,
		print_volume_attributes_class),
	BUILTIN("coordination.k8s.io", "Lease", lease_columns, print_lease),
	AS_CRD("snapshot.storage.k8s.io", "VolumeSnapshot", volume_snapshot_columns),
	AS_CRD("snapshot.storage.k8s.io", "VolumeSnapshotContent", volume_snapshot_content_columns),
	AS_CRD("snapshot.storage.k8s.io", "VolumeSnapshotClass", volume_snapshot_class_columns),
};

static const printer *printer_find(const char *group, const char *kind)
{
	group = group ? group : "";
	for (size_t i = 0; i < NCOLS(printers); i++)
		if (!strcmp(printers[i].group, group) && kind && !strcmp(printers[i].kind, kind))
			return &printers[i];
	return NULL;
}

/* ---- the Table ---- */

typedef enum { CONVERT_BUILTIN, CONVERT_CRD, CONVERT_DEFAULT } convert_mode;

typedef struct {
	convert_mode mode;
	const printer *p;
	crd_table crd;
	dv_table_include include;
	time_t now;
} table_job;

/* The row's object, as the include mode wants it (NULL: none). */
static json_t *row_object(const json_t *obj, dv_table_include include)
{
	const json_t *meta = json_object_get(obj, "metadata");

	switch (include) {
	case DV_TABLE_INCLUDE_NONE:
		return NULL;
	case DV_TABLE_INCLUDE_OBJECT:
		return json_deep_copy(obj);
	case DV_TABLE_INCLUDE_METADATA:
	default:
		return json_pack("{s:s, s:s, s:o}", "kind", "PartialObjectMetadata", "apiVersion",
				 "meta.k8s.io/v1", "metadata",
				 meta ? json_deep_copy(meta) : json_object());
	}
}

static json_t *table_row(const table_job *job, const json_t *obj)
{
	row_ctx r = { .obj = obj, .cells = json_array(), .now = job->now };
	json_t *row = json_object(), *o;
	int e;

	if (!r.cells || !row)
		goto fail;
	if (job->mode == CONVERT_BUILTIN)
		job->p->row(&r);
	else if (job->mode == CONVERT_CRD)
		crd_row(&r, &job->crd);
	else
		default_row(&r);
	e = r.err;
	e |= json_object_set_new(row, "cells", r.cells);
	r.cells = NULL;
	if (r.conditions) {
		e |= json_object_set_new(row, "conditions", r.conditions);
		r.conditions = NULL;
	}
	if (job->include != DV_TABLE_INCLUDE_NONE) {
		o = row_object(obj, job->include);
		e |= o ? json_object_set_new(row, "object", o) : -1;
	}
	if (e)
		goto fail;
	return row;
fail:
	json_decref(r.cells);
	json_decref(r.conditions);
	json_decref(row);
	return NULL;
}

static int table_headers(json_t *defs, const table_job *job)
{
	if (job->mode == CONVERT_CRD)
		return crd_headers(defs, &job->crd);
	if (job->mode == CONVERT_DEFAULT)
		return default_headers(defs);
	for (size_t i = 0; i < job->p->ncols; i++) {
		const column_def *c = &job->p->cols[i];

		if (append_column(defs, column_json(c->name, c->type, c->format, c->description,
						    c->priority)) < 0)
			return -1;
	}
	return 0;
}

/* ListMeta: resourceVersion, continue, remainingItemCount. */
static json_t *table_meta(const json_t *list_meta)
{
	static const char *const keys[] = { "resourceVersion", "continue", "remainingItemCount" };
	json_t *meta = json_object();

	for (size_t i = 0; meta && i < NCOLS(keys); i++) {
		const json_t *v = json_object_get(list_meta, keys[i]);

		if (v && !json_is_null(v) && !(json_is_string(v) && !*json_string_value(v)) &&
		    json_object_set_new(meta, keys[i], json_deep_copy(v)) < 0) {
			json_decref(meta);
			return NULL;
		}
	}
	return meta;
}

/* Picks the converter and, for CRD columns, parses their paths. */
static int table_job_init(table_job *job, const char *group, const char *kind,
			  const json_t *crd_columns, crd_column *cols, jp_path **paths)
{
	const printer *p = crd_columns ? NULL : printer_find(group, kind);
	const crd_column *src = NULL;
	size_t n = 0;

	job->p = p;
	if (p && p->row) {
		job->mode = CONVERT_BUILTIN;
		return 0;
	}
	if (p) {
		src = p->crd_cols;
		n = p->ncrd;
	} else if (crd_columns && json_array_size(crd_columns)) {
		job->mode = CONVERT_CRD;
		job->crd = (crd_table){ cols, paths, crd_columns_from_json(crd_columns, cols, paths) };
		return 0;
	} else if (crd_columns) {
		src = crd_default_columns;
		n = NCOLS(crd_default_columns);
	} else {
		job->mode = CONVERT_DEFAULT;
		return 0;
	}
	job->mode = CONVERT_CRD;
	job->crd = (crd_table){ src, paths, 0 };
	for (size_t i = 0; i < n; i++) {
		paths[i] = jp_parse(src[i].json_path);
		if (!paths[i])
			return -1; /* only allocation fails on our own paths */
		job->crd.n++;
	}
	return 0;
}

json_t *dv_table_build(const char *group, const char *kind, const json_t *crd_columns,
		       const json_t *items, const json_t *list_meta, dv_table_include include,
		       time_t now)
{
	size_t ncrd = json_array_size(crd_columns) + 16; /* room for the built-in stand-ins */
	crd_column *cols = calloc(ncrd, sizeof(*cols));
	jp_path **paths = calloc(ncrd, sizeof(*paths));
	table_job job = { .include = include, .now = now };
	json_t *table = NULL, *defs = json_array(), *rows = json_array(), *meta;
	size_t i;
	const json_t *obj;

	if (!cols || !paths || !defs || !rows ||
	    table_job_init(&job, group, kind, crd_columns, cols, paths) < 0 ||
	    table_headers(defs, &job) < 0)
		goto done;
	json_array_foreach(items, i, obj) {
		json_t *row;

		if (!json_is_object(obj))
			continue;
		row = table_row(&job, obj);
		if (!row || json_array_append_new(rows, row) < 0)
			goto done;
	}
	meta = table_meta(list_meta);
	table = json_pack("{s:s, s:s, s:o?, s:o, s:o}", "kind", "Table", "apiVersion",
			  "meta.k8s.io/v1", "metadata", meta, "columnDefinitions", defs, "rows",
			  rows);
	defs = rows = NULL; /* json_pack took them, or freed them on failure */
	if (table && !meta) {
		json_decref(table);
		table = NULL;
	}
done:
	for (i = 0; paths && i < ncrd; i++)
		jp_free(paths[i]);
	free(paths);
	free(cols);
	json_decref(defs);
	json_decref(rows);
	return table;
}
