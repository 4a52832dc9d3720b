/*
 * k8spb.c - Kubernetes protobuf request bodies to JSON (see k8spb.h).
 *
 * A hand-written reader of the protobuf wire format, no generated code:
 * the handful of messages kubectl's generators send are small, and a
 * reader that checks every length against the bytes left is easier to
 * trust with hostile input than a general library.
 *
 * Field numbers are those of k8s.io/api core/v1 generated.proto and
 * k8s.io/apimachinery pkg/apis/meta/v1 and pkg/runtime generated.proto.
 * The JSON built is the encoding/json form of the Go object the body
 * decodes to: fields whose JSON tag is omitempty are left out when empty,
 * pointer fields (immutable, controller, blockOwnerDeletion) are present
 * exactly when the body carries them. Repeated occurrences of a field follow
 * protobuf rules: the last scalar wins, messages merge, repeated fields and
 * map entries accumulate (a repeated map key keeps the last value).
 */
#include "k8spb.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K8SPB_MAGIC        "k8s\0"
#define K8SPB_MAGIC_LEN    4
#define K8SPB_MAX_FIELD    536870911u /* 2^29 - 1, the largest field number */
#define K8SPB_MAX_GROUP    16         /* nesting of skipped groups */
#define K8SPB_VARINT_MAX   10         /* bytes of a 64-bit varint */

/* Seconds since the epoch of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z:
 * the range metav1.Time can print as RFC 3339. */
#define K8SPB_TIME_MIN (-62135596800LL)
#define K8SPB_TIME_MAX 253402300799LL

enum pb_wire {
	WT_VARINT = 0,
	WT_I64 = 1,
	WT_LEN = 2,
	WT_SGROUP = 3,
	WT_EGROUP = 4,
	WT_I32 = 5,
};

/* The bytes of one message still to read. */
typedef struct {
	const uint8_t *p;
	const uint8_t *end;
} pb_reader;

/* Where the first failure's message and errno go. */
typedef struct {
	char *err;
	size_t errlen;
	int errnum;
} pb_ctx;

static int pb_fail(pb_ctx *c, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first failure only: later ones are consequences. Returns -1
 * so callers can `return pb_fail(...)`. */
static int pb_fail(pb_ctx *c, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (c->errnum)
		return -1;
	c->errnum = errnum;
	if (c->err && c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int pb_oom(pb_ctx *c)
{
	return pb_fail(c, ENOMEM, "out of memory decoding the protobuf body");
}

static size_t pb_left(const pb_reader *r)
{
	return (size_t)(r->end - r->p);
}

/* ---- wire format ------------------------------------------------------ */

/* A base-128 varint of at most 10 bytes whose tenth byte adds only bit 63:
 * anything longer or wider does not fit the 64 bits protobuf allows. The
 * loop ends by the tenth byte at the latest: one that may continue is
 * refused. */
static int pb_varint(pb_ctx *c, pb_reader *r, const char *what, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned i = 0;; i++) {
		uint8_t b;

		if (r->p >= r->end)
			return pb_fail(c, EINVAL, "%s: truncated varint", what);
		b = *r->p++;
		if (i == K8SPB_VARINT_MAX - 1 && b > 1)
			return pb_fail(c, EINVAL, "%s: varint longer than 10 bytes or over 64 bits",
				       what);
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
}

/* A field key: field number 1..2^29-1 and one of the six wire types. */
static int pb_tag(pb_ctx *c, pb_reader *r, const char *what, uint32_t *field, int *wt)
{
	uint64_t key;

	if (pb_varint(c, r, what, &key))
		return -1;
	if ((key >> 3) == 0 || (key >> 3) > K8SPB_MAX_FIELD)
		return pb_fail(c, EINVAL, "%s: invalid field number", what);
	if ((key & 7) > WT_I32)
		return pb_fail(c, EINVAL, "%s: invalid wire type %u", what, (unsigned)(key & 7));
	*field = (uint32_t)(key >> 3);
	*wt = (int)(key & 7);
	return 0;
}

/* A length-delimited payload, which must lie within the enclosing message. */
static int pb_len(pb_ctx *c, pb_reader *r, const char *what, pb_reader *out)
{
	uint64_t n;

	if (pb_varint(c, r, what, &n))
		return -1;
	if (n > pb_left(r))
		return pb_fail(c, EINVAL, "%s: length %llu exceeds the %zu bytes left",
			       what, (unsigned long long)n, pb_left(r));
	out->p = r->p;
	out->end = r->p + n;
	r->p += n;
	return 0;
}

static int pb_fixed(pb_ctx *c, pb_reader *r, const char *what, size_t n)
{
	if (pb_left(r) < n)
		return pb_fail(c, EINVAL, "%s: truncated %zu-byte value", what, n);
	r->p += n;
	return 0;
}

/* Skips one field whose key was just read. A group is skipped up to the
 * end-group key of the same field number, nested at most K8SPB_MAX_GROUP
 * deep. */
static int pb_skip(pb_ctx *c, pb_reader *r, const char *what, uint32_t field, int wt,
		   unsigned depth)
{
	uint64_t v;
	pb_reader sub;

	switch (wt) {
	case WT_VARINT:
		return pb_varint(c, r, what, &v);
	case WT_I64:
		return pb_fixed(c, r, what, 8);
	case WT_LEN:
		return pb_len(c, r, what, &sub);
	case WT_I32:
		return pb_fixed(c, r, what, 4);
	case WT_SGROUP:
		if (depth >= K8SPB_MAX_GROUP)
			return pb_fail(c, EINVAL, "%s: groups nested too deep", what);
		for (;;) {
			uint32_t f;
			int w;

			if (r->p >= r->end)
				return pb_fail(c, EINVAL, "%s: unterminated group %u", what, field);
			if (pb_tag(c, r, what, &f, &w))
				return -1;
			if (w == WT_EGROUP) {
				if (f != field)
					return pb_fail(c, EINVAL, "%s: group %u ended by %u", what, field, f);
				return 0;
			}
			if (pb_skip(c, r, what, f, w, depth + 1))
				return -1;
		}
	default: /* WT_EGROUP outside any group */
		return pb_fail(c, EINVAL, "%s: unexpected end of group %u", what, field);
	}
}

/* Go's generated Unmarshal rejects a known field with the wrong wire type;
 * so does this decoder, for every field it decodes. */
static int pb_want(pb_ctx *c, const char *what, int wt, int want)
{
	if (wt != want)
		return pb_fail(c, EINVAL, "%s: wrong wire type %d (want %d)", what, wt, want);
	return 0;
}

/* ---- scalars ---------------------------------------------------------- */

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
 * U+10FFFF. NUL is refused too: jansson refuses \u0000 in a JSON body, and
 * the rest of the server handles strings as C strings. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t b = s[i];
		uint32_t cp;
		size_t k;

		if (b == 0)
			return false;
		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			k = 1;
			cp = b & 0x1f;
		} else if (b >= 0xe0 && b <= 0xef) {
			k = 2;
			cp = b & 0x0f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			k = 3;
			cp = b & 0x07;
		} else {
			return false;
		}
		if (n - i - 1 < k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/* A string field: length-delimited, valid UTF-8. */
static int pb_string(pb_ctx *c, pb_reader *r, const char *what, int wt, pb_reader *out)
{
	if (pb_want(c, what, wt, WT_LEN) || pb_len(c, r, what, out))
		return -1;
	if (!utf8_valid(out->p, pb_left(out)))
		return pb_fail(c, EINVAL, "%s: string is not valid UTF-8 or contains NUL", what);
	return 0;
}

static int pb_bool(pb_ctx *c, pb_reader *r, const char *what, int wt, bool *out)
{
	uint64_t v;

	if (pb_want(c, what, wt, WT_VARINT) || pb_varint(c, r, what, &v))
		return -1;
	*out = v != 0; /* as Go's generated code reads a bool */
	return 0;
}

static int pb_int64(pb_ctx *c, pb_reader *r, const char *what, int wt, int64_t *out)
{
	uint64_t v;

	if (pb_want(c, what, wt, WT_VARINT) || pb_varint(c, r, what, &v))
		return -1;
	*out = (int64_t)v; /* two's complement, as int64 fields are encoded */
	return 0;
}

static const char B64_STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard padded base64 (RFC 4648 section 4), the JSON form of []byte. */
static json_t *base64_json(const uint8_t *in, size_t n)
{
	size_t outlen, o = 0;
	char *out;
	json_t *s;

	if (n > (SIZE_MAX / 4 - 1) * 3)
		return NULL;
	outlen = (n + 2) / 3 * 4;
	out = malloc(outlen + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = B64_STD[(v >> 18) & 63];
		out[o++] = B64_STD[(v >> 12) & 63];
		out[o++] = i + 1 < n ? B64_STD[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? B64_STD[v & 63] : '=';
	}
	out[o] = '\0';
	s = json_stringn_nocheck(out, o);
	free(out);
	return s;
}

/* ---- JSON building ---------------------------------------------------- */

static json_t *json_of_string(const pb_reader *s)
{
	return json_stringn_nocheck((const char *)s->p, pb_left(s));
}

/* Sets obj[key] to v (stolen, may be NULL after a failed allocation). */
static int js_set(pb_ctx *c, json_t *obj, const char *key, json_t *v)
{
	if (!v || json_object_set_new(obj, key, v))
		return pb_oom(c);
	return 0;
}

/* An omitempty string: the last occurrence wins, and an empty last one
 * means the field is absent from the JSON. */
static int js_set_omitempty(pb_ctx *c, json_t *obj, const char *key, const pb_reader *s)
{
	if (pb_left(s) == 0) {
		json_object_del(obj, key);
		return 0;
	}
	return js_set(c, obj, key, json_of_string(s));
}

/* obj[key] as a container of the given type, created on first use. */
static json_t *js_child(pb_ctx *c, json_t *obj, const char *key, bool array)
{
	json_t *v = json_object_get(obj, key);

	if (v)
		return v;
	v = array ? json_array() : json_object();
	if (js_set(c, obj, key, v))
		return NULL;
	return v;
}

/* Appends the string s to the array obj[key]. */
static int js_append(pb_ctx *c, json_t *obj, const char *key, const pb_reader *s)
{
	json_t *arr = js_child(c, obj, key, true);

	if (!arr)
		return -1;
	if (json_array_append_new(arr, json_of_string(s)))
		return pb_oom(c);
	return 0;
}

/* ---- messages --------------------------------------------------------- */

/*
 * One entry of a map field: a message { 1 key, 2 value }, either of which
 * may be missing (then empty). String keys only, as in every map decoded
 * here; the value is a string, or bytes shown as base64.
 */
static int decode_map_entry(pb_ctx *c, pb_reader *r, const char *what, bool bytes_value,
			    json_t *map)
{
	pb_reader key = { r->p, r->p }, val = { r->p, r->p };
	uint32_t field;
	int wt;
	json_t *v;

	while (r->p < r->end) {
		if (pb_tag(c, r, what, &field, &wt))
			return -1;
		if (field == 1) {
			if (pb_string(c, r, what, wt, &key))
				return -1;
		} else if (field == 2) {
			if (bytes_value ? pb_want(c, what, wt, WT_LEN) || pb_len(c, r, what, &val)
					: pb_string(c, r, what, wt, &val))
				return -1;
		} else if (pb_skip(c, r, what, field, wt, 0)) {
			return -1;
		}
	}
	v = bytes_value ? base64_json(val.p, pb_left(&val)) : json_of_string(&val);
	if (!v || json_object_setn_new_nocheck(map, (const char *)key.p, pb_left(&key), v))
		return pb_oom(c);
	return 0;
}

/* A map field occurrence: one more entry of obj[key]. */
static int decode_map_field(pb_ctx *c, pb_reader *r, const char *what, int wt, bool bytes_value,
			    json_t *obj, const char *key)
{
	pb_reader entry;
	json_t *map;

	if (pb_want(c, what, wt, WT_LEN) || pb_len(c, r, what, &entry))
		return -1;
	map = js_child(c, obj, key, false);
	if (!map)
		return -1;
	return decode_map_entry(c, &entry, what, bytes_value, map);
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
 * civil_from_days), so the conversion needs no time_t range. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	yoe = z - era * 146097;
	yoe = (yoe - yoe / 1460 + yoe / 36524 - yoe / 146096) / 365;
	doy = z - era * 146097 - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/*
 * metav1.Time { 1 seconds, 2 nanos }. An empty message is the zero time,
 * JSON null; anything else prints as RFC 3339 in UTC to the second, as
 * Time.MarshalJSON does.
 */
static int decode_time(pb_ctx *c, pb_reader *r, const char *what, json_t *obj, const char *key)
{
	int64_t secs = 0, nanos = 0, days, rem, year;
	unsigned mon, day;
	uint32_t field;
	int wt;
	char buf[96]; /* 20 bytes used; room for any int64 keeps -Wformat-truncation quiet */

	if (r->p == r->end)
		return js_set(c, obj, key, json_null());
	while (r->p < r->end) {
		if (pb_tag(c, r, what, &field, &wt))
			return -1;
		if (field == 1) {
			if (pb_int64(c, r, what, wt, &secs))
				return -1;
		} else if (field == 2) {
			if (pb_int64(c, r, what, wt, &nanos))
				return -1;
		} else if (pb_skip(c, r, what, field, wt, 0)) {
			return -1;
		}
	}
	if (secs < K8SPB_TIME_MIN || secs > K8SPB_TIME_MAX || nanos < 0 || nanos > 999999999)
		return pb_fail(c, EINVAL, "%s: time out of range", what);
	days = (secs >= 0 ? secs : secs - 86399) / 86400;
	rem = secs - days * 86400;
	civil_from_days(days, &year, &mon, &day);
	snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", (long long)year, mon,
		 day, (long long)(rem / 3600), (long long)(rem / 60 % 60), (long long)(rem % 60));
	return js_set(c, obj, key, json_string_nocheck(buf));
}

/* metav1.OwnerReference. apiVersion, kind, name and uid have no omitempty,
 * so they are always present; controller and blockOwnerDeletion are
 * pointers, present when sent. */
static int decode_owner_reference(pb_ctx *c, pb_reader *r, json_t *refs)
{
	static const char what[] = "metadata.ownerReferences";
	json_t *ref = json_object();
	uint32_t field;
	int wt;

	if (json_array_append_new(refs, ref))
		return pb_oom(c);
	if (js_set(c, ref, "apiVersion", json_string("")) || js_set(c, ref, "kind", json_string("")) ||
	    js_set(c, ref, "name", json_string("")) || js_set(c, ref, "uid", json_string("")))
		return -1;
	while (r->p < r->end) {
		pb_reader s;
		bool b;
		const char *key;

		if (pb_tag(c, r, what, &field, &wt))
			return -1;
		switch (field) {
		case 1: key = "kind"; break;
		case 3: key = "name"; break;
		case 4: key = "uid"; break;
		case 5: key = "apiVersion"; break;
		case 6:
		case 7:
			if (pb_bool(c, r, what, wt, &b) ||
			    js_set(c, ref, field == 6 ? "controller" : "blockOwnerDeletion",
				   json_boolean(b)))
				return -1;
			continue;
		default:
			if (pb_skip(c, r, what, field, wt, 0))
				return -1;
			continue;
		}
		if (pb_string(c, r, what, wt, &s) || js_set(c, ref, key, json_of_string(&s)))
			return -1;
	}
	return 0;
}

/* The omitempty string fields of ObjectMeta, by field number. */
static const char *object_meta_string(uint32_t field)
{
	switch (field) {
	case 1: return "name";
	case 2: return "generateName";
	case 3: return "namespace";
	case 5: return "uid";
	case 6: return "resourceVersion";
	default: return NULL;
	}
}

/*
 * metav1.ObjectMeta into meta (which already holds creationTimestamp:
 * null). Skipped: selfLink (4), deletionTimestamp (9),
 * deletionGracePeriodSeconds (10), managedFields (17) - fields the server
 * sets, not the client - and anything unknown.
 */
static int decode_object_meta(pb_ctx *c, pb_reader *r, json_t *meta)
{
	uint32_t field;
	int wt;

	while (r->p < r->end) {
		const char *skey;
		pb_reader s;
		int64_t gen;

		if (pb_tag(c, r, "metadata", &field, &wt))
			return -1;
		if ((skey = object_meta_string(field))) {
			if (pb_string(c, r, "metadata", wt, &s) || js_set_omitempty(c, meta, skey, &s))
				return -1;
			continue;
		}
		switch (field) {
		case 7:
			if (pb_int64(c, r, "metadata.generation", wt, &gen))
				return -1;
			if (gen == 0)
				json_object_del(meta, "generation");
			else if (js_set(c, meta, "generation", json_integer(gen)))
				return -1;
			break;
		case 8:
			if (pb_want(c, "metadata.creationTimestamp", wt, WT_LEN) ||
			    pb_len(c, r, "metadata.creationTimestamp", &s) ||
			    decode_time(c, &s, "metadata.creationTimestamp", meta, "creationTimestamp"))
				return -1;
			break;
		case 11:
		case 12:
			if (decode_map_field(c, r, field == 11 ? "metadata.labels" : "metadata.annotations",
					     wt, false, meta, field == 11 ? "labels" : "annotations"))
				return -1;
			break;
		case 13: {
			json_t *refs;

			if (pb_want(c, "metadata.ownerReferences", wt, WT_LEN) ||
			    pb_len(c, r, "metadata.ownerReferences", &s))
				return -1;
			refs = js_child(c, meta, "ownerReferences", true);
			if (!refs || decode_owner_reference(c, &s, refs))
				return -1;
			break;
		}
		case 14:
			if (pb_string(c, r, "metadata.finalizers", wt, &s) ||
			    js_append(c, meta, "finalizers", &s))
				return -1;
			break;
		default:
			if (pb_skip(c, r, "metadata", field, wt, 0))
				return -1;
		}
	}
	return 0;
}

/* The metadata field (1) of every kind here: a message merged into
 * obj.metadata. */
static int decode_metadata_field(pb_ctx *c, pb_reader *r, int wt, json_t *obj)
{
	pb_reader sub;

	if (pb_want(c, "metadata", wt, WT_LEN) || pb_len(c, r, "metadata", &sub))
		return -1;
	return decode_object_meta(c, &sub, json_object_get(obj, "metadata"));
}

/* NamespaceSpec { 1 finalizers } into spec. */
static int decode_namespace_spec(pb_ctx *c, pb_reader *r, json_t *spec)
{
	uint32_t field;
	int wt;
	pb_reader s;

	while (r->p < r->end) {
		if (pb_tag(c, r, "spec", &field, &wt))
			return -1;
		if (field == 1) {
			if (pb_string(c, r, "spec.finalizers", wt, &s) ||
			    js_append(c, spec, "finalizers", &s))
				return -1;
		} else if (pb_skip(c, r, "spec", field, wt, 0)) {
			return -1;
		}
	}
	return 0;
}

/* NamespaceStatus { 1 phase, 2 conditions }: phase only; conditions are
 * the namespace controller's, not a client's. */
static int decode_namespace_status(pb_ctx *c, pb_reader *r, json_t *status)
{
	uint32_t field;
	int wt;
	pb_reader s;

	while (r->p < r->end) {
		if (pb_tag(c, r, "status", &field, &wt))
			return -1;
		if (field == 1) {
			if (pb_string(c, r, "status.phase", wt, &s) ||
			    js_set_omitempty(c, status, "phase", &s))
				return -1;
		} else if (pb_skip(c, r, "status", field, wt, 0)) {
			return -1;
		}
	}
	return 0;
}

/* core/v1 Namespace { 1 metadata, 2 spec, 3 status }. */
static int decode_namespace(pb_ctx *c, pb_reader *r, json_t *obj)
{
	uint32_t field;
	int wt;
	pb_reader sub;

	/* Spec and status are plain structs in Go: JSON always has them. */
	if (js_set(c, obj, "spec", json_object()) || js_set(c, obj, "status", json_object()))
		return -1;
	while (r->p < r->end) {
		if (pb_tag(c, r, "Namespace", &field, &wt))
			return -1;
		switch (field) {
		case 1:
			if (decode_metadata_field(c, r, wt, obj))
				return -1;
			break;
		case 2:
		case 3:
			if (pb_want(c, field == 2 ? "spec" : "status", wt, WT_LEN) ||
			    pb_len(c, r, field == 2 ? "spec" : "status", &sub))
				return -1;
			if (field == 2 ? decode_namespace_spec(c, &sub, json_object_get(obj, "spec"))
				       : decode_namespace_status(c, &sub, json_object_get(obj, "status")))
				return -1;
			break;
		default:
			if (pb_skip(c, r, "Namespace", field, wt, 0))
				return -1;
		}
	}
	return 0;
}

/* core/v1 ConfigMap { 1 metadata, 2 data, 3 binaryData, 4 immutable }. */
static int decode_config_map(pb_ctx *c, pb_reader *r, json_t *obj)
{
	uint32_t field;
	int wt;
	bool b;

	while (r->p < r->end) {
		if (pb_tag(c, r, "ConfigMap", &field, &wt))
			return -1;
		switch (field) {
		case 1:
			if (decode_metadata_field(c, r, wt, obj))
				return -1;
			break;
		case 2:
			if (decode_map_field(c, r, "data", wt, false, obj, "data"))
				return -1;
			break;
		case 3:
			if (decode_map_field(c, r, "binaryData", wt, true, obj, "binaryData"))
				return -1;
			break;
		case 4:
			if (pb_bool(c, r, "immutable", wt, &b) ||
			    js_set(c, obj, "immutable", json_boolean(b)))
				return -1;
			break;
		default:
			if (pb_skip(c, r, "ConfigMap", field, wt, 0))
				return -1;
		}
	}
	return 0;
}

/* core/v1 Secret { 1 metadata, 2 data, 3 type, 4 stringData, 5 immutable }. */
static int decode_secret(pb_ctx *c, pb_reader *r, json_t *obj)
{
	uint32_t field;
	int wt;
	bool b;
	pb_reader s;

	while (r->p < r->end) {
		if (pb_tag(c, r, "Secret", &field, &wt))
			return -1;
		switch (field) {
		case 1:
			if (decode_metadata_field(c, r, wt, obj))
				return -1;
			break;
		case 2:
			if (decode_map_field(c, r, "data", wt, true, obj, "data"))
				return -1;
			break;
		case 3:
			if (pb_string(c, r, "type", wt, &s) || js_set_omitempty(c, obj, "type", &s))
				return -1;
			break;
		case 4:
			if (decode_map_field(c, r, "stringData", wt, false, obj, "stringData"))
				return -1;
			break;
		case 5:
			if (pb_bool(c, r, "immutable", wt, &b) ||
			    js_set(c, obj, "immutable", json_boolean(b)))
				return -1;
			break;
		default:
			if (pb_skip(c, r, "Secret", field, wt, 0))
				return -1;
		}
	}
	return 0;
}

typedef int (*kind_decoder)(pb_ctx *c, pb_reader *r, json_t *obj);

static const struct {
	const char *kind;
	kind_decoder decode;
} KINDS[] = {
	{ "Namespace", decode_namespace },
	{ "ConfigMap", decode_config_map },
	{ "Secret", decode_secret },
};

/* ---- envelope --------------------------------------------------------- */

/* runtime.Unknown as read from the body; the pointers are into it. */
typedef struct {
	pb_reader api_version, kind, raw, content_encoding, content_type;
} pb_unknown;

static bool str_is(const pb_reader *s, const char *lit)
{
	size_t n = strlen(lit);

	return pb_left(s) == n && memcmp(s->p, lit, n) == 0;
}

/* runtime.TypeMeta { 1 apiVersion, 2 kind }. */
static int decode_type_meta(pb_ctx *c, pb_reader *r, pb_unknown *u)
{
	uint32_t field;
	int wt;

	while (r->p < r->end) {
		if (pb_tag(c, r, "typeMeta", &field, &wt))
			return -1;
		if (field == 1 || field == 2) {
			if (pb_string(c, r, field == 1 ? "typeMeta.apiVersion" : "typeMeta.kind", wt,
				      field == 1 ? &u->api_version : &u->kind))
				return -1;
		} else if (pb_skip(c, r, "typeMeta", field, wt, 0)) {
			return -1;
		}
	}
	return 0;
}

/* runtime.Unknown { 1 typeMeta, 2 raw, 3 contentEncoding, 4 contentType }. */
static int decode_unknown(pb_ctx *c, pb_reader *r, pb_unknown *u)
{
	uint32_t field;
	int wt;
	pb_reader sub;

	while (r->p < r->end) {
		if (pb_tag(c, r, "envelope", &field, &wt))
			return -1;
		switch (field) {
		case 1:
			if (pb_want(c, "typeMeta", wt, WT_LEN) || pb_len(c, r, "typeMeta", &sub) ||
			    decode_type_meta(c, &sub, u))
				return -1;
			break;
		case 2:
			if (pb_want(c, "raw", wt, WT_LEN) || pb_len(c, r, "raw", &u->raw))
				return -1;
			break;
		case 3:
			if (pb_string(c, r, "contentEncoding", wt, &u->content_encoding))
				return -1;
			break;
		case 4:
			if (pb_string(c, r, "contentType", wt, &u->content_type))
				return -1;
			break;
		default:
			if (pb_skip(c, r, "envelope", field, wt, 0))
				return -1;
		}
	}
	return 0;
}

/* Picks the kind's decoder, or says why the envelope cannot be decoded. */
static kind_decoder envelope_decoder(pb_ctx *c, const pb_unknown *u)
{
	if (pb_left(&u->content_encoding)) {
		pb_fail(c, ENOTSUP, "protobuf content encoding \"%.*s\" is not supported",
			(int)(pb_left(&u->content_encoding) > 64 ? 64 : pb_left(&u->content_encoding)),
			(const char *)u->content_encoding.p);
		return NULL;
	}
	if (pb_left(&u->content_type) && !str_is(&u->content_type, DV_K8SPB_CONTENT_TYPE)) {
		pb_fail(c, ENOTSUP, "protobuf envelope content type \"%.*s\" is not supported",
			(int)(pb_left(&u->content_type) > 64 ? 64 : pb_left(&u->content_type)),
			(const char *)u->content_type.p);
		return NULL;
	}
	if (!pb_left(&u->kind) || !pb_left(&u->api_version)) {
		pb_fail(c, EINVAL, "protobuf envelope without apiVersion and kind");
		return NULL;
	}
	if (str_is(&u->api_version, "v1"))
		for (size_t i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++)
			if (str_is(&u->kind, KINDS[i].kind))
				return KINDS[i].decode;
	pb_fail(c, ENOTSUP,
		"protobuf bodies of %.*s %.*s are not supported (only v1 Namespace, ConfigMap "
		"and Secret); send application/json",
		(int)(pb_left(&u->api_version) > 64 ? 64 : pb_left(&u->api_version)),
		(const char *)u->api_version.p,
		(int)(pb_left(&u->kind) > 64 ? 64 : pb_left(&u->kind)), (const char *)u->kind.p);
	return NULL;
}

/* The JSON skeleton every kind starts from: apiVersion, kind and metadata
 * with the creationTimestamp encoding/json always writes. */
static json_t *object_skeleton(pb_ctx *c, const pb_unknown *u)
{
	json_t *obj = json_object(), *meta = json_object();

	if (!obj || !meta || json_object_set_new(meta, "creationTimestamp", json_null()) ||
	    js_set(c, obj, "apiVersion", json_of_string(&u->api_version)) ||
	    js_set(c, obj, "kind", json_of_string(&u->kind)) ||
	    json_object_set(obj, "metadata", meta)) {
		pb_oom(c);
		json_decref(meta);
		json_decref(obj);
		return NULL;
	}
	json_decref(meta);
	return obj;
}

json_t *dv_k8spb_decode(const void *buf, size_t len, char *err, size_t errlen)
{
	pb_ctx c = { .err = err, .errlen = errlen };
	pb_unknown u;
	pb_reader r;
	kind_decoder decode;
	json_t *obj = NULL;

	if (err && errlen)
		err[0] = '\0';
	if (!buf || len < K8SPB_MAGIC_LEN || memcmp(buf, K8SPB_MAGIC, K8SPB_MAGIC_LEN) != 0) {
		pb_fail(&c, EINVAL, "not a Kubernetes protobuf body (no k8s\\0 magic)");
		goto done;
	}
	r.p = (const uint8_t *)buf + K8SPB_MAGIC_LEN;
	r.end = (const uint8_t *)buf + len;
	/* Empty readers pointing into the body, so unset fields read as "". */
	u.api_version = u.kind = u.raw = u.content_encoding = u.content_type =
		(pb_reader){ r.p, r.p };
	if (decode_unknown(&c, &r, &u))
		goto done;
	decode = envelope_decoder(&c, &u);
	if (!decode)
		goto done;
	obj = object_skeleton(&c, &u);
	if (!obj)
		goto done;
	if (decode(&c, &u.raw, obj)) {
		json_decref(obj);
		obj = NULL;
	}
done:
	if (!obj)
		errno = c.errnum ? c.errnum : EINVAL;
	return obj;
}
