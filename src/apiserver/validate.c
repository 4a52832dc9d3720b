/*
 * validate.c - defaulting and validation of the built-in kinds, after
 * kube-apiserver v1.32 (pkg/apis/core/validation, pkg/apis/storage/
 * validation, pkg/apis/core/v1/defaults.go, apiextensions validation and
 * external-snapshotter's CRD rules). Field paths, reasons and messages are
 * upstream's so that kubectl users see what a real cluster says.
 *
 * Layout: causes and their message bodies; field paths; name rules
 * (DNS-1123 label/subdomain, DNS-1035, qualified names, label values, config
 * keys); quantities; JSON helpers; metadata; one section per kind
 * (defaults, create, update, status); the dispatch table.
 */
#include "validate.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"

/* ------------------------------------------------------------------ */
/* Causes                                                               */
/* ------------------------------------------------------------------ */

#define R_REQUIRED "FieldValueRequired"
#define R_INVALID "FieldValueInvalid"
#define R_NOT_SUPPORTED "FieldValueNotSupported"
#define R_FORBIDDEN "FieldValueForbidden"
#define R_DUPLICATE "FieldValueDuplicate"
#define R_TOO_LONG "FieldValueTooLong"
#define R_NOT_FOUND "FieldValueNotFound"

/* Upstream's shared messages. */
#define MSG_IMMUTABLE "field is immutable"
#define MSG_NEGATIVE "must be greater than or equal to 0"
#define MSG_NOT_POSITIVE "must be greater than zero"
#define MSG_MORE_THAN_ONE "may not specify more than 1 volume type"

/* Secret and ConfigMap payload limit (core.MaxSecretSize). */
#define MAX_SECRET_SIZE (1024 * 1024)
#define TOTAL_ANNOTATION_SIZE (256 * 1024)

/* A JSON string of s; bytes that are not valid UTF-8 (a path cut inside a
 * character, say) become '?'. */
static json_t *json_string_safe(const char *s)
{
	json_t *v = json_string(s);
	char *copy;

	if (v || !s)
		return v;
	copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	v = json_string(copy);
	free(copy);
	return v;
}

void dv_cause_add(json_t *causes, const char *reason, const char *field, const char *fmt, ...)
{
	char stackbuf[1024];
	char *msg = stackbuf;
	char *heap = NULL;
	va_list ap;
	int n;
	json_t *c;

	if (!causes || !json_is_array(causes))
		return;
	va_start(ap, fmt);
	n = vsnprintf(stackbuf, sizeof(stackbuf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(stackbuf)) {
		heap = malloc((size_t)n + 1);
		if (!heap)
			return;
		va_start(ap, fmt);
		vsnprintf(heap, (size_t)n + 1, fmt, ap);
		va_end(ap);
		msg = heap;
	}
	c = json_object();
	if (c) {
		json_object_set_new(c, "reason", json_string_safe(reason));
		json_object_set_new(c, "message", json_string_safe(msg));
		if (field && *field)
			json_object_set_new(c, "field", json_string_safe(field));
		json_array_append_new(causes, c);
	}
	free(heap);
}

/* Go's %q of a string: quotes, backslash escapes for quote, backslash and
 * control bytes; printable UTF-8 passes through. Bounded by the dv_buf cap. */
static void go_quote(dv_buf *b, const char *s)
{
	dv_buf_appends(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			dv_buf_appends(b, "\\\"");
			break;
		case '\\':
			dv_buf_appends(b, "\\\\");
			break;
		case '\n':
			dv_buf_appends(b, "\\n");
			break;
		case '\t':
			dv_buf_appends(b, "\\t");
			break;
		case '\r':
			dv_buf_appends(b, "\\r");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				dv_buf_appendf(b, "\\x%02x", *p);
			else
				dv_buf_append(b, p, 1);
		}
	}
	dv_buf_appends(b, "\"");
}

/* "Invalid value: <rendered>[: detail]" for a value already rendered as Go
 * prints it (a quoted string, a number, a struct). */
static void err_invalid_raw(json_t *causes, const char *field, const char *rendered,
			    const char *detail)
{
	if (detail && *detail)
		dv_cause_add(causes, R_INVALID, field, "Invalid value: %s: %s", rendered, detail);
	else
		dv_cause_add(causes, R_INVALID, field, "Invalid value: %s", rendered);
}

static void err_invalid(json_t *causes, const char *field, const char *value, const char *detail)
{
	dv_buf b;

	dv_buf_init(&b, 64 * 1024);
	go_quote(&b, value ? value : "");
	err_invalid_raw(causes, field, b.data ? (char *)b.data : "\"\"", detail);
	dv_buf_free(&b);
}

static void err_invalid_int(json_t *causes, const char *field, long long value, const char *detail)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", value);
	err_invalid_raw(causes, field, num, detail);
}

static void err_required(json_t *causes, const char *field, const char *detail)
{
	if (detail && *detail)
		dv_cause_add(causes, R_REQUIRED, field, "Required value: %s", detail);
	else
		dv_cause_add(causes, R_REQUIRED, field, "Required value");
}

static void err_forbidden(json_t *causes, const char *field, const char *detail)
{
	if (detail && *detail)
		dv_cause_add(causes, R_FORBIDDEN, field, "Forbidden: %s", detail);
	else
		dv_cause_add(causes, R_FORBIDDEN, field, "Forbidden");
}

static void err_value_only(json_t *causes, const char *reason, const char *type,
			   const char *field, const char *value)
{
	dv_buf b;

	dv_buf_init(&b, 64 * 1024);
	go_quote(&b, value ? value : "");
	dv_cause_add(causes, reason, field, "%s: %s", type, b.data ? (char *)b.data : "\"\"");
	dv_buf_free(&b);
}

static void err_duplicate(json_t *causes, const char *field, const char *value)
{
	err_value_only(causes, R_DUPLICATE, "Duplicate value", field, value);
}

static void err_not_found(json_t *causes, const char *field, const char *value)
{
	err_value_only(causes, R_NOT_FOUND, "Not found", field, value);
}

/* supported: NULL-terminated, in upstream's order (sorted where upstream
 * lists a set). rendered: the bad value as Go prints it, or NULL to quote
 * `value`. */
static void err_not_supported_raw(json_t *causes, const char *field, const char *rendered,
				  const char *const *supported)
{
	dv_buf b;

	dv_buf_init(&b, 64 * 1024);
	dv_buf_appendf(&b, "Unsupported value: %s", rendered);
	for (size_t i = 0; supported && supported[i]; i++) {
		dv_buf_appends(&b, i ? ", " : ": supported values: ");
		go_quote(&b, supported[i]);
	}
	dv_cause_add(causes, R_NOT_SUPPORTED, field, "%s", b.data ? (char *)b.data : "");
	dv_buf_free(&b);
}

static void err_not_supported(json_t *causes, const char *field, const char *value,
			      const char *const *supported)
{
	dv_buf q;

	dv_buf_init(&q, 64 * 1024);
	go_quote(&q, value ? value : "");
	err_not_supported_raw(causes, field, q.data ? (char *)q.data : "\"\"", supported);
	dv_buf_free(&q);
}

static void err_too_long(json_t *causes, const char *field, long max)
{
	dv_cause_add(causes, R_TOO_LONG, field, "Too long: must have at most %ld bytes", max);
}

static bool in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; s && list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* Field paths                                                          */
/* ------------------------------------------------------------------ */

/* A field path such as spec.containers[0].volumeMounts[1].name. Paths
 * longer than the buffer are cut; they only label errors. */
typedef struct {
	char s[512];
} fld;

/* Appends s to f, cutting what does not fit. */
static void fld_cat(fld *f, const char *s)
{
	size_t have = strlen(f->s), room = sizeof(f->s) - 1 - have;
	size_t n = strlen(s);

	if (n > room)
		n = room;
	memcpy(f->s + have, s, n);
	f->s[have + n] = 0;
}

static fld fp(const char *root)
{
	fld f = { { 0 } };

	fld_cat(&f, root);
	return f;
}

static fld fp_child(const fld *p, const char *name)
{
	fld f = *p;

	if (f.s[0])
		fld_cat(&f, ".");
	fld_cat(&f, name);
	return f;
}

static fld fp_index(const fld *p, size_t i)
{
	fld f = *p;
	char num[32];

	snprintf(num, sizeof(num), "[%zu]", i);
	fld_cat(&f, num);
	return f;
}

static fld fp_key(const fld *p, const char *key)
{
	fld f = *p;

	fld_cat(&f, "[");
	fld_cat(&f, key);
	fld_cat(&f, "]");
	return f;
}

/* ------------------------------------------------------------------ */
/* Name rules (k8s.io/apimachinery/pkg/util/validation)                  */
/* ------------------------------------------------------------------ */

/* Each rule collects upstream's messages for one value; callers turn each
 * into an Invalid cause, or join them. */
#define MSGS_MAX 4
typedef struct {
	int n;
	char m[MSGS_MAX][640];
} msgs;

static void msgs_add(msgs *ms, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void msgs_add(msgs *ms, const char *fmt, ...)
{
	va_list ap;

	if (ms->n >= MSGS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(ms->m[ms->n], sizeof(ms->m[0]), fmt, ap);
	va_end(ap);
	ms->n++;
}

static void msgs_to_invalid(json_t *causes, const char *field, const char *value, const msgs *ms)
{
	for (int i = 0; i < ms->n; i++)
		err_invalid(causes, field, value, ms->m[i]);
}

/* RegexError(): the message, examples and the regex, upstream's spacing
 * (each example is followed by ", " and joined by " or "). */
static void regex_error(char *out, size_t len, const char *msg, const char *re,
			const char *const *examples)
{
	size_t off = (size_t)snprintf(out, len, "%s", msg);

	if (off < len && examples && examples[0]) {
		off += (size_t)snprintf(out + off, len - off, " (e.g. ");
		for (size_t i = 0; examples[i] && off < len; i++)
			off += (size_t)snprintf(out + off, len - off, "%s'%s', ", i ? " or " : "",
						examples[i]);
		if (off < len)
			snprintf(out + off, len - off, "regex used for validation is '%s')", re);
	} else if (off < len) {
		snprintf(out + off, len - off, " (regex used for validation is '%s')", re);
	}
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return isalnum((unsigned char)c) != 0;
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..n) */
static bool match_dns_label(const char *s, size_t n)
{
	if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool match_dns_subdomain(const char *s)
{
	const char *p = s;

	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (!match_dns_label(p, n))
			return false;
		if (!dot)
			return true;
		p = dot + 1;
	}
}

#define DNS1123_LABEL_FMT "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define DNS1123_SUBDOMAIN_FMT DNS1123_LABEL_FMT "(\\." DNS1123_LABEL_FMT ")*"
#define DNS1035_LABEL_FMT "[a-z]([-a-z0-9]*[a-z0-9])?"
#define QNAME_FMT "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define LABEL_VALUE_FMT "(" QNAME_FMT ")?"
#define CONFIG_KEY_FMT "[-._a-zA-Z0-9]+"

static void is_dns1123_label(const char *v, msgs *ms)
{
	static const char *const ex[] = { "my-name", "123-abc", NULL };
	char buf[640];

	if (strlen(v) > 63)
		msgs_add(ms, "must be no more than 63 characters");
	if (!match_dns_label(v, strlen(v))) {
		if (match_dns_subdomain(v)) {
			msgs_add(ms, "must not contain dots");
		} else {
			regex_error(buf, sizeof(buf),
				    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
				    DNS1123_LABEL_FMT, ex);
			msgs_add(ms, "%s", buf);
		}
	}
}

static void is_dns1123_subdomain(const char *v, msgs *ms)
{
	static const char *const ex[] = { "example.com", NULL };
	char buf[640];

	if (strlen(v) > 253)
		msgs_add(ms, "must be no more than 253 characters");
	if (!match_dns_subdomain(v)) {
		regex_error(buf, sizeof(buf),
			    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
			    DNS1123_SUBDOMAIN_FMT, ex);
		msgs_add(ms, "%s", buf);
	}
}

static void is_dns1035_label(const char *v, msgs *ms)
{
	static const char *const ex[] = { "my-name", "abc-123", NULL };
	size_t n = strlen(v);
	char buf[640];
	bool ok = n > 0 && v[0] >= 'a' && v[0] <= 'z' && match_dns_label(v, n);

	if (n > 63)
		msgs_add(ms, "must be no more than 63 characters");
	if (!ok) {
		regex_error(buf, sizeof(buf),
			    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
			    DNS1035_LABEL_FMT, ex);
		msgs_add(ms, "%s", buf);
	}
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] */
static bool match_qname(const char *s, size_t n)
{
	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

#define QNAME_ERR                                                                          \
	"must consist of alphanumeric characters, '-', '_' or '.', and must start and end " \
	"with an alphanumeric character"

static void is_qualified_name(const char *v, msgs *ms)
{
	static const char *const ex[] = { "MyName", "my.name", "123-abc", NULL };
	const char *slash = strchr(v, '/');
	const char *name = v;
	char buf[640];

	if (slash && strchr(slash + 1, '/')) {
		char inner[560];

		regex_error(inner, sizeof(inner), QNAME_ERR, QNAME_FMT, ex);
		msgs_add(ms, "a qualified name %s with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
			 inner);
		return;
	}
	if (slash) {
		char prefix[320];
		size_t plen = (size_t)(slash - v);

		if (plen == 0) {
			msgs_add(ms, "prefix part must be non-empty");
		} else {
			msgs pm = { 0 };

			snprintf(prefix, sizeof(prefix), "%.*s", (int)plen, v);
			if (plen >= sizeof(prefix) - 1)
				msgs_add(ms, "prefix part must be no more than 253 characters");
			else
				is_dns1123_subdomain(prefix, &pm);
			for (int i = 0; i < pm.n; i++)
				msgs_add(ms, "prefix part %s", pm.m[i]);
		}
		name = slash + 1;
	}
	if (!*name)
		msgs_add(ms, "name part must be non-empty");
	else if (strlen(name) > 63)
		msgs_add(ms, "name part must be no more than 63 characters");
	if (!match_qname(name, strlen(name))) {
		regex_error(buf, sizeof(buf), QNAME_ERR, QNAME_FMT, ex);
		msgs_add(ms, "name part %s", buf);
	}
}

static void is_label_value(const char *v, msgs *ms)
{
	static const char *const ex[] = { "MyValue", "my_value", "12345", NULL };
	size_t n = strlen(v);
	char buf[640];

	if (n > 63)
		msgs_add(ms, "must be no more than 63 characters");
	if (n > 0 && !match_qname(v, n)) {
		regex_error(buf, sizeof(buf),
			    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
			    LABEL_VALUE_FMT, ex);
		msgs_add(ms, "%s", buf);
	}
}

static void is_config_map_key(const char *v, msgs *ms)
{
	static const char *const ex[] = { "key.name", "KEY_NAME", "key-name", NULL };
	size_t n = strlen(v);
	bool ok = n > 0;
	char buf[640];

	for (size_t i = 0; i < n; i++)
		if (!is_alnum(v[i]) && v[i] != '-' && v[i] != '.' && v[i] != '_')
			ok = false;
	if (n > 253)
		msgs_add(ms, "must be no more than 253 characters");
	if (!ok) {
		regex_error(buf, sizeof(buf),
			    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
			    CONFIG_KEY_FMT, ex);
		msgs_add(ms, "%s", buf);
	}
	if (strcmp(v, ".") == 0)
		msgs_add(ms, "must not be '.'");
	else if (strcmp(v, "..") == 0)
		msgs_add(ms, "must not be '..'");
	else if (strncmp(v, "..", 2) == 0)
		msgs_add(ms, "must not start with '..'");
}

/* Name validators, as apimachinery's NameIsDNSSubdomain & co: `prefix` is
 * true for generateName, whose trailing '-' is allowed. */
typedef void (*name_fn)(const char *name, bool prefix, msgs *ms);

static void mask_trailing_dash(const char *in, char *out, size_t len, bool prefix)
{
	size_t n;

	snprintf(out, len, "%s", in);
	n = strlen(out);
	if (prefix && n > 1 && out[n - 1] == '-')
		out[n - 1] = 'a';
}

static void name_dns_subdomain(const char *name, bool prefix, msgs *ms)
{
	char buf[1024];

	if (strlen(name) >= sizeof(buf)) {
		msgs_add(ms, "must be no more than 253 characters");
		return;
	}
	mask_trailing_dash(name, buf, sizeof(buf), prefix);
	is_dns1123_subdomain(buf, ms);
}

static void name_dns_label(const char *name, bool prefix, msgs *ms)
{
	char buf[1024];

	if (strlen(name) >= sizeof(buf)) {
		msgs_add(ms, "must be no more than 63 characters");
		return;
	}
	mask_trailing_dash(name, buf, sizeof(buf), prefix);
	is_dns1123_label(buf, ms);
}

/* Canonical string of s, or s itself when malformed. */
static void qty_canonical_str(const char *s, char *out, size_t len)
{
	dv_quantity q;

	if (dv_quantity_parse(s, &q) < 0 || dv_quantity_format_canonical(&q, out, len) < 0)
		snprintf(out, len, "%s", s);
}

/* ------------------------------------------------------------------ */
/* JSON helpers                                                         */
/* ------------------------------------------------------------------ */

/* Typed member access: NULL when absent or of another type (a decode
 * error upstream; here the field is treated as unset). */
static json_t *jget(const json_t *o, const char *k)
{
	return o && json_is_object(o) ? json_object_get(o, k) : NULL;
}

static json_t *jobj(const json_t *o, const char *k)
{
	json_t *v = jget(o, k);

	return json_is_object(v) ? v : NULL;
}

static json_t *jarr(const json_t *o, const char *k)
{
	json_t *v = jget(o, k);

	return json_is_array(v) ? v : NULL;
}

static const char *jstr(const json_t *o, const char *k)
{
	json_t *v = jget(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* "" for absent, as Go's zero string. */
static const char *jstr0(const json_t *o, const char *k)
{
	const char *s = jstr(o, k);

	return s ? s : "";
}

static bool jhas(const json_t *o, const char *k)
{
	json_t *v = jget(o, k);

	return v && !json_is_null(v);
}

static bool jint(const json_t *o, const char *k, long long *out)
{
	json_t *v = jget(o, k);

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (json_is_real(v)) {
		*out = (long long)json_real_value(v);
		return true;
	}
	return false;
}

static bool jtrue(const json_t *o, const char *k)
{
	return json_is_true(jget(o, k));
}

/* An object member, created empty when absent (for defaulting). */
static json_t *jobj_ensure(json_t *o, const char *k)
{
	json_t *v = jobj(o, k);

	if (!v && json_is_object(o)) {
		v = json_object();
		json_object_set_new(o, k, v);
	}
	return v;
}

static void jset_default_str(json_t *o, const char *k, const char *v)
{
	if (json_is_object(o) && !jhas(o, k))
		json_object_set_new(o, k, json_string(v));
}

static void jset_default_int(json_t *o, const char *k, long long v)
{
	if (json_is_object(o) && !jhas(o, k))
		json_object_set_new(o, k, json_integer(v));
}

static void jset_default_bool(json_t *o, const char *k, bool v)
{
	if (json_is_object(o) && !jhas(o, k))
		json_object_set_new(o, k, json_boolean(v));
}

static size_t jlen(const json_t *v)
{
	if (json_is_array(v))
		return json_array_size(v);
	if (json_is_object(v))
		return json_object_size(v);
	return 0;
}

/* Drops nulls and empty arrays, recursively: the shape in which Go's
 * semantic equality (nil == empty slice, absent == zero value) compares
 * two objects. Empty objects stay: for a pointer field {} is not nil. */
static void jprune(json_t *v)
{
	const char *k;
	json_t *m;
	void *tmp;

	if (json_is_object(v)) {
		json_object_foreach_safe(v, tmp, k, m)
		{
			jprune(m);
			if (json_is_null(m) || (json_is_array(m) && json_array_size(m) == 0))
				json_object_del(v, k);
		}
	} else if (json_is_array(v)) {
		size_t i;

		json_array_foreach(v, i, m)
			jprune(m);
	}
}

/* A pruned deep copy (NULL stays NULL); caller decrefs. */
static json_t *jclone(const json_t *v)
{
	json_t *c;

	if (!v)
		return NULL;
	c = json_deep_copy(v);
	jprune(c);
	return c;
}

/* Semantic equality of two members (absent, null and empty compare equal). */
static bool jequal_sem(const json_t *a, const json_t *b)
{
	json_t *x = jclone(a), *y = jclone(b);
	bool eq;

	if (x && jlen(x) == 0 && (json_is_array(x) || json_is_object(x))) {
		json_decref(x);
		x = NULL;
	}
	if (y && jlen(y) == 0 && (json_is_array(y) || json_is_object(y))) {
		json_decref(y);
		y = NULL;
	}
	if (!x || !y)
		eq = x == y;
	else
		eq = json_equal(x, y);
	json_decref(x);
	json_decref(y);
	return eq;
}

/* Go's %v of a JSON scalar, for "Invalid value: ..." of a non-string. */
static void render_go(dv_buf *b, const json_t *v)
{
	if (!v || json_is_null(v))
		dv_buf_appends(b, "null");
	else if (json_is_string(v))
		go_quote(b, json_string_value(v));
	else if (json_is_integer(v))
		dv_buf_appendf(b, "%lld", (long long)json_integer_value(v));
	else if (json_is_true(v))
		dv_buf_appends(b, "true");
	else if (json_is_false(v))
		dv_buf_appends(b, "false");
	else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

		dv_buf_appends(b, s ? s : "{}");
		free(s);
	}
}

static void err_invalid_json(json_t *causes, const char *field, const json_t *v, const char *detail)
{
	dv_buf b;

	dv_buf_init(&b, 64 * 1024);
	render_go(&b, v);
	err_invalid_raw(causes, field, b.data ? (char *)b.data : "null", detail);
	dv_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Metadata (apimachinery ObjectMeta validation)                        */
/* ------------------------------------------------------------------ */

/* What a kind's metadata obeys: its name rule and whether finalizer names
 * must be fully qualified or standard (kube's own kinds) or only qualified
 * names (custom resources). */
typedef struct {
	name_fn name;
	bool kube_finalizers;
	/* CRD names must also equal plural.group. */
	const json_t *crd;
} meta_rules;

static void validate_labels(const json_t *labels, const fld *f, json_t *causes)
{
	const char *k;
	json_t *v;

	if (!json_is_object(labels))
		return;
	json_object_foreach((json_t *)labels, k, v)
	{
		msgs km = { 0 }, vm = { 0 };
		const char *val = json_is_string(v) ? json_string_value(v) : "";

		is_qualified_name(k, &km);
		msgs_to_invalid(causes, f->s, k, &km);
		is_label_value(val, &vm);
		msgs_to_invalid(causes, f->s, val, &vm);
	}
}

static void validate_annotations(const json_t *ann, const fld *f, json_t *causes)
{
	const char *k;
	json_t *v;
	size_t total = 0;

	if (!json_is_object(ann))
		return;
	json_object_foreach((json_t *)ann, k, v)
	{
		char lower[1024];
		msgs km = { 0 };
		size_t i;

		/* Qualified names, case-insensitively. */
		for (i = 0; k[i] && i < sizeof(lower) - 1; i++)
			lower[i] = (char)tolower((unsigned char)k[i]);
		lower[i] = 0;
		is_qualified_name(lower, &km);
		msgs_to_invalid(causes, f->s, k, &km);
		total += strlen(k) + (json_is_string(v) ? json_string_length(v) : 0);
	}
	if (total > TOTAL_ANNOTATION_SIZE)
		err_too_long(causes, f->s, TOTAL_ANNOTATION_SIZE);
}

static bool is_standard_finalizer(const char *s)
{
	static const char *const std[] = { "kubernetes", "orphan", "foregroundDeletion", NULL };

	return in_list(s, std);
}

static void validate_finalizer_name(const char *name, bool kube, const fld *f, json_t *causes)
{
	msgs ms = { 0 };

	is_qualified_name(name, &ms);
	msgs_to_invalid(causes, f->s, name, &ms);
	if (kube && !strchr(name, '/') && !is_standard_finalizer(name))
		err_invalid(causes, f->s, name,
			    "name is neither a standard finalizer name nor is it fully qualified");
}

/* Go's %#v of a []string. */
static void render_go_strings(dv_buf *b, const json_t *arr)
{
	size_t i;
	json_t *v;

	dv_buf_appends(b, "[]string{");
	json_array_foreach(arr, i, v)
	{
		if (i)
			dv_buf_appends(b, ", ");
		go_quote(b, json_is_string(v) ? json_string_value(v) : "");
	}
	dv_buf_appends(b, "}");
}

/* apimachinery's ValidateFinalizers (reported at the list), then kube's
 * own rule (at each item), in upstream's order. */
static void validate_finalizers(const json_t *fins, bool kube, const fld *f, json_t *causes)
{
	bool orphan = false, foreground = false;
	size_t i;
	json_t *v;

	if (!json_is_array(fins))
		return;
	json_array_foreach(fins, i, v)
	{
		const char *s = json_is_string(v) ? json_string_value(v) : "";
		msgs ms = { 0 };

		is_qualified_name(s, &ms);
		msgs_to_invalid(causes, f->s, s, &ms);
		orphan |= strcmp(s, "orphan") == 0;
		foreground |= strcmp(s, "foregroundDeletion") == 0;
	}
	if (orphan && foreground) {
		dv_buf b;

		dv_buf_init(&b, 64 * 1024);
		render_go_strings(&b, fins);
		err_invalid_raw(causes, f->s, b.data ? (char *)b.data : "[]string{}",
				"finalizer orphan and foregroundDeletion cannot be both set");
		dv_buf_free(&b);
	}
	json_array_foreach(fins, i, v)
	{
		const char *s = json_is_string(v) ? json_string_value(v) : "";
		fld fi = fp_index(f, i);

		if (kube && !strchr(s, '/') && !is_standard_finalizer(s))
			err_invalid(causes, fi.s, s,
				    "name is neither a standard finalizer name nor is it fully qualified");
	}
}

/* Splits "group/version" as schema.FromAPIVersionAndKind does. */
static void split_api_version(const char *av, char *group, size_t glen, char *version,
			      size_t vlen)
{
	const char *slash = strchr(av, '/');

	if (!slash) {
		snprintf(group, glen, "%s", "");
		snprintf(version, vlen, "%s", av);
	} else if (strchr(slash + 1, '/')) {
		/* Unparseable: upstream leaves group and version empty. */
		snprintf(group, glen, "%s", "");
		snprintf(version, vlen, "%s", "");
	} else {
		snprintf(group, glen, "%.*s", (int)(slash - av), av);
		snprintf(version, vlen, "%s", slash + 1);
	}
}

static void validate_owner_refs(const json_t *refs, const fld *f, json_t *causes)
{
	const char *first_controller = NULL;
	char first_buf[512];
	size_t i;
	json_t *r;

	if (!json_is_array(refs))
		return;
	json_array_foreach(refs, i, r)
	{
		char group[256], version[256];
		const char *av = jstr0(r, "apiVersion"), *kind = jstr0(r, "kind");
		fld fa = fp_child(f, "apiVersion"), fk = fp_child(f, "kind");
		fld fn = fp_child(f, "name"), fu = fp_child(f, "uid");

		split_api_version(av, group, sizeof(group), version, sizeof(version));
		if (!version[0])
			err_invalid(causes, fa.s, av, "version must not be empty");
		if (!*kind)
			err_invalid(causes, fk.s, kind, "must not be empty");
		if (!*jstr0(r, "name"))
			err_invalid(causes, fn.s, jstr0(r, "name"), "must not be empty");
		if (!*jstr0(r, "uid"))
			err_invalid(causes, fu.s, jstr0(r, "uid"), "must not be empty");
		if (!group[0] && strcmp(version, "v1") == 0 && strcmp(kind, "Event") == 0)
			err_invalid_json(causes, f->s, r, "/v1, Kind=Event is disallowed from being an owner");
		if (jtrue(r, "controller")) {
			char cur[512];

			snprintf(cur, sizeof(cur), "%s/%s", kind, jstr0(r, "name"));
			if (first_controller) {
				char detail[1200];

				snprintf(detail, sizeof(detail),
					 "Only one reference can have Controller set to true. Found \"true\" in references for %s and %s",
					 first_controller, cur);
				err_invalid_json(causes, f->s, refs, detail);
			} else {
				snprintf(first_buf, sizeof(first_buf), "%s", cur);
				first_controller = first_buf;
			}
		}
	}
}

static void validate_name_with(const meta_rules *mr, const char *name, bool prefix, msgs *ms)
{
	mr->name(name, prefix, ms);
	if (mr->crd && !prefix) {
		const json_t *spec = jobj(mr->crd, "spec");
		char want[600];

		snprintf(want, sizeof(want), "%s.%s", jstr0(jobj(spec, "names"), "plural"),
			 jstr0(spec, "group"));
		if (strcmp(name, want) != 0)
			msgs_add(ms, "must be spec.names.plural+\".\"+spec.group");
	}
}

/* ValidateObjectMeta on create (and, via the kind validators, on update). */
static void validate_meta(const meta_rules *mr, bool namespaced, const json_t *obj,
			  json_t *causes)
{
	const json_t *md = jobj(obj, "metadata");
	fld f = fp("metadata");
	fld fgn = fp_child(&f, "generateName"), fnm = fp_child(&f, "name");
	fld fns = fp_child(&f, "namespace"), fgen = fp_child(&f, "generation");
	fld fl = fp_child(&f, "labels"), fa = fp_child(&f, "annotations");
	fld fo = fp_child(&f, "ownerReferences"), ffin = fp_child(&f, "finalizers");
	const char *gn = jstr0(md, "generateName"), *name = jstr0(md, "name");
	const char *ns = jstr0(md, "namespace");
	long long gen;

	if (*gn) {
		msgs ms = { 0 };

		validate_name_with(mr, gn, true, &ms);
		msgs_to_invalid(causes, fgn.s, gn, &ms);
	}
	if (!*name) {
		err_required(causes, fnm.s, "name or generateName is required");
	} else {
		msgs ms = { 0 };

		validate_name_with(mr, name, false, &ms);
		msgs_to_invalid(causes, fnm.s, name, &ms);
	}
	if (namespaced) {
		if (!*ns) {
			err_required(causes, fns.s, NULL);
		} else {
			msgs ms = { 0 };

			name_dns_label(ns, false, &ms);
			msgs_to_invalid(causes, fns.s, ns, &ms);
		}
	} else if (*ns) {
		err_forbidden(causes, fns.s, "not allowed on this type");
	}
	if (jint(md, "generation", &gen) && gen < 0)
		err_invalid_int(causes, fgen.s, gen, MSG_NEGATIVE);
	validate_labels(jget(md, "labels"), &fl, causes);
	validate_annotations(jget(md, "annotations"), &fa, causes);
	validate_owner_refs(jget(md, "ownerReferences"), &fo, causes);
	validate_finalizers(jget(md, "finalizers"), mr->kube_finalizers, &ffin, causes);
}

/* Go's time.Time String() of an RFC 3339 "Z" timestamp, as an immutable
 * creationTimestamp is printed. */
static void render_time(const char *ts, char *out, size_t len)
{
	int y, mo, d, h, mi, s;

	if (ts && sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &s) == 6)
		snprintf(out, len, "%04d-%02d-%02d %02d:%02d:%02d +0000 UTC", y, mo, d, h, mi, s);
	else
		snprintf(out, len, "%s", ts ? ts : "0001-01-01 00:00:00 +0000 UTC");
}

static void immutable_meta_str(const json_t *nmd, const json_t *omd, const char *key,
			       const fld *f, json_t *causes)
{
	fld fk = fp_child(f, key);

	if (strcmp(jstr0(nmd, key), jstr0(omd, key)) != 0)
		err_invalid(causes, fk.s, jstr0(nmd, key), MSG_IMMUTABLE);
}

/* ValidateNoNewFinalizers: once deleting, finalizers may only go. */
static void validate_no_new_finalizers(const json_t *nmd, const json_t *omd, json_t *causes)
{
	const json_t *nf = jarr(nmd, "finalizers"), *of = jarr(omd, "finalizers");
	json_t *extra = json_array();
	size_t i, j;
	json_t *v, *w;

	json_array_foreach(nf, i, v)
	{
		bool found = false;

		json_array_foreach(of, j, w)
			found |= json_equal(v, w);
		if (!found && json_is_string(v)) {
			/* Sorted and unique, as sets.String.List(). */
			size_t at = 0;
			bool dup = false;

			json_array_foreach(extra, j, w)
			{
				int c = strcmp(json_string_value(w), json_string_value(v));

				dup |= c == 0;
				if (c < 0)
					at = j + 1;
			}
			if (!dup)
				json_array_insert(extra, at, v);
		}
	}
	if (json_array_size(extra) > 0) {
		dv_buf b;

		dv_buf_init(&b, 64 * 1024);
		dv_buf_appends(&b, "no new finalizers can be added if the object is being deleted, found new finalizers ");
		render_go_strings(&b, extra);
		err_forbidden(causes, "metadata.finalizers", b.data ? (char *)b.data : "");
		dv_buf_free(&b);
	}
	json_decref(extra);
}

/* The update-only half of ValidateObjectMetaUpdate (the create-time rules
 * run through the kind's validator on the new object). */
static void validate_meta_update(const json_t *obj, const json_t *old, json_t *causes)
{
	const json_t *nmd = jobj(obj, "metadata"), *omd = jobj(old, "metadata");
	fld f = fp("metadata");
	long long ng = 0, og = 0;

	if (jhas(omd, "deletionTimestamp"))
		validate_no_new_finalizers(nmd, omd, causes);
	if (jint(nmd, "generation", &ng) && jint(omd, "generation", &og) && ng < og) {
		fld fg = fp_child(&f, "generation");

		err_invalid_int(causes, fg.s, ng, "must not be decremented");
	}
	immutable_meta_str(nmd, omd, "name", &f, causes);
	immutable_meta_str(nmd, omd, "namespace", &f, causes);
	immutable_meta_str(nmd, omd, "uid", &f, causes);
	if (strcmp(jstr0(nmd, "creationTimestamp"), jstr0(omd, "creationTimestamp")) != 0) {
		char t[64];
		fld fc = fp_child(&f, "creationTimestamp");

		render_time(jstr(nmd, "creationTimestamp"), t, sizeof(t));
		err_invalid_raw(causes, fc.s, t, MSG_IMMUTABLE);
	}
	if (!jequal_sem(jget(nmd, "deletionTimestamp"), jget(omd, "deletionTimestamp"))) {
		char t[64];
		fld fd = fp_child(&f, "deletionTimestamp");

		if (jhas(nmd, "deletionTimestamp"))
			render_time(jstr(nmd, "deletionTimestamp"), t, sizeof(t));
		else
			snprintf(t, sizeof(t), "null");
		err_invalid_raw(causes, fd.s, t, MSG_IMMUTABLE);
	}
	if (!jequal_sem(jget(nmd, "deletionGracePeriodSeconds"),
			jget(omd, "deletionGracePeriodSeconds"))) {
		fld fd = fp_child(&f, "deletionGracePeriodSeconds");

		err_invalid_json(causes, fd.s, jget(nmd, "deletionGracePeriodSeconds"), MSG_IMMUTABLE);
	}
}

/* Upstream's ValidateImmutableField for a JSON member. */
static void immutable_field(const json_t *nv, const json_t *ov, const char *field, json_t *causes)
{
	if (!jequal_sem(nv, ov))
		err_invalid_json(causes, field, nv, MSG_IMMUTABLE);
}

/* ------------------------------------------------------------------ */
/* Shared pieces of specs                                               */
/* ------------------------------------------------------------------ */

static const char *const access_modes[] = { "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce",
					    "ReadWriteOncePod", NULL };
static const char *const volume_modes[] = { "Block", "Filesystem", NULL };

static void invalid_each(json_t *causes, const fld *f, const char *value,
			 void (*rule)(const char *, msgs *))
{
	msgs ms = { 0 };

	rule(value, &ms);
	msgs_to_invalid(causes, f->s, value, &ms);
}

static void subdomain_rule(const char *v, msgs *ms)
{
	name_dns_subdomain(v, false, ms);
}

/* metav1 LabelSelector. */
static void validate_label_selector(const json_t *sel, const fld *f, json_t *causes)
{
	fld fml = fp_child(f, "matchLabels"), fme = fp_child(f, "matchExpressions");
	size_t i, j;
	json_t *e, *v;

	if (!json_is_object(sel))
		return;
	validate_labels(jget(sel, "matchLabels"), &fml, causes);
	json_array_foreach(jarr(sel, "matchExpressions"), i, e)
	{
		fld fe = fp_index(&fme, i);
		fld fop = fp_child(&fe, "operator"), fvals = fp_child(&fe, "values");
		fld fkey = fp_child(&fe, "key");
		const char *op = jstr0(e, "operator");
		size_t nvals = jlen(jarr(e, "values"));

		if (!strcmp(op, "In") || !strcmp(op, "NotIn")) {
			if (nvals == 0)
				err_required(causes, fvals.s,
					     "must be specified when `operator` is 'In' or 'NotIn'");
		} else if (!strcmp(op, "Exists") || !strcmp(op, "DoesNotExist")) {
			if (nvals > 0)
				err_forbidden(causes, fvals.s,
					      "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
		} else {
			err_invalid(causes, fop.s, op, "not a valid selector operator");
		}
		invalid_each(causes, &fkey, jstr0(e, "key"), is_qualified_name);
		json_array_foreach(jarr(e, "values"), j, v)
		{
			fld fv = fp_index(&fvals, j);

			invalid_each(causes, &fv, json_is_string(v) ? json_string_value(v) : "",
				     is_label_value);
		}
	}
}

/* core NodeSelectorRequirement (matchExpressions of a node selector term). */
static void validate_node_selector_requirement(const json_t *rq, const fld *f, json_t *causes)
{
	fld fop = fp_child(f, "operator"), fvals = fp_child(f, "values"), fkey = fp_child(f, "key");
	const char *op = jstr0(rq, "operator");
	size_t nvals = jlen(jarr(rq, "values")), j;
	json_t *v;

	if (!strcmp(op, "In") || !strcmp(op, "NotIn")) {
		if (nvals == 0)
			err_required(causes, fvals.s, "must be specified when `operator` is 'In' or 'NotIn'");
	} else if (!strcmp(op, "Exists") || !strcmp(op, "DoesNotExist")) {
		if (nvals > 0)
			err_forbidden(causes, fvals.s,
				      "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
	} else if (!strcmp(op, "Gt") || !strcmp(op, "Lt")) {
		if (nvals != 1)
			err_required(causes, fvals.s,
				     "must be specified single value when `operator` is 'Lt' or 'Gt'");
	} else {
		err_invalid(causes, fop.s, op, "not a valid selector operator");
	}
	invalid_each(causes, &fkey, jstr0(rq, "key"), is_qualified_name);
	json_array_foreach(jarr(rq, "values"), j, v)
	{
		fld fv = fp_index(&fvals, j);

		invalid_each(causes, &fv, json_is_string(v) ? json_string_value(v) : "", is_label_value);
	}
}

static void validate_node_selector(const json_t *ns, const fld *f, json_t *causes)
{
	fld fterms = fp_child(f, "nodeSelectorTerms");
	const json_t *terms = jarr(ns, "nodeSelectorTerms");
	size_t i, j;
	json_t *t, *rq;

	if (jlen(terms) == 0) {
		err_required(causes, fterms.s, "must have at least one node selector term");
		return;
	}
	json_array_foreach(terms, i, t)
	{
		fld ft = fp_index(&fterms, i);
		fld fme = fp_child(&ft, "matchExpressions"), fmf = fp_child(&ft, "matchFields");

		json_array_foreach(jarr(t, "matchExpressions"), j, rq)
		{
			fld fr = fp_index(&fme, j);

			validate_node_selector_requirement(rq, &fr, causes);
		}
		json_array_foreach(jarr(t, "matchFields"), j, rq)
		{
			fld fr = fp_index(&fmf, j);
			fld fkey = fp_child(&fr, "key"), fvals = fp_child(&fr, "values");
			fld fop = fp_child(&fr, "operator");
			const char *op = jstr0(rq, "operator");

			if (strcmp(jstr0(rq, "key"), "metadata.name") != 0)
				err_invalid(causes, fkey.s, jstr0(rq, "key"), "not a valid field selector key");
			if (strcmp(op, "In") && strcmp(op, "NotIn"))
				err_invalid(causes, fop.s, op, "not a valid selector operator");
			else if (jlen(jarr(rq, "values")) != 1)
				err_required(causes, fvals.s, "must be only one value when `operator` is 'In' or 'NotIn' for node field selector");
		}
	}
}

/* CSI driver names (core ValidateCSIDriverName). */
static void validate_csi_driver_name(const char *name, const fld *f, json_t *causes)
{
	char lower[1024];
	size_t i;
	msgs ms = { 0 };

	if (!*name)
		err_required(causes, f->s, NULL);
	if (strlen(name) > 63)
		err_too_long(causes, f->s, 63);
	for (i = 0; name[i] && i < sizeof(lower) - 1; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[i] = 0;
	is_dns1123_subdomain(lower, &ms);
	msgs_to_invalid(causes, f->s, name, &ms);
}

/* A SecretReference {name, namespace} of a CSI persistent volume source. */
static void validate_secret_ref(const json_t *csi, const char *key, const fld *f, json_t *causes)
{
	const json_t *ref = jobj(csi, key);
	fld fr = fp_child(f, key), fn = fp_child(&fr, "name"), fns = fp_child(&fr, "namespace");

	if (!ref)
		return;
	if (!*jstr0(ref, "name"))
		err_required(causes, fn.s, NULL);
	else
		invalid_each(causes, &fn, jstr0(ref, "name"), subdomain_rule);
	if (!*jstr0(ref, "namespace"))
		err_required(causes, fns.s, NULL);
	else
		invalid_each(causes, &fns, jstr0(ref, "namespace"), is_dns1123_label);
}

static void validate_csi_pv_source(const json_t *csi, const fld *f, json_t *causes)
{
	static const char *const refs[] = { "controllerPublishSecretRef", "controllerExpandSecretRef",
					    "nodePublishSecretRef", "nodeStageSecretRef",
					    "nodeExpandSecretRef", NULL };
	fld fd = fp_child(f, "driver"), fh = fp_child(f, "volumeHandle");

	validate_csi_driver_name(jstr0(csi, "driver"), &fd, causes);
	if (!*jstr0(csi, "volumeHandle"))
		err_required(causes, fh.s, NULL);
	for (size_t i = 0; refs[i]; i++)
		validate_secret_ref(csi, refs[i], f, causes);
}

/* validatePathNoBacksteps: no ".." element. */
static void validate_no_backsteps(const char *path, const fld *f, json_t *causes)
{
	const char *p = path;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			err_invalid(causes, f->s, path, "must not contain '..'");
			return;
		}
		if (!slash)
			break;
		p = slash + 1;
	}
}

static void validate_host_path(const json_t *hp, const fld *f, json_t *causes)
{
	static const char *const types[] = { "",	 "BlockDevice",	 "CharDevice", "Directory",
					     "DirectoryOrCreate", "File", "FileOrCreate", "Socket",
					     NULL };
	fld fpth = fp_child(f, "path"), ft = fp_child(f, "type");
	const char *path = jstr0(hp, "path");

	if (!*path) {
		err_required(causes, fpth.s, NULL);
		return;
	}
	validate_no_backsteps(path, &fpth, causes);
	if (jhas(hp, "type") && !in_list(jstr0(hp, "type"), types))
		err_not_supported(causes, ft.s, jstr0(hp, "type"), types);
}

static void validate_local_source(const json_t *l, const fld *f, json_t *causes)
{
	fld fpth = fp_child(f, "path");
	const char *path = jstr0(l, "path");

	if (!*path) {
		err_required(causes, fpth.s, NULL);
		return;
	}
	if (path[0] != '/')
		err_invalid(causes, fpth.s, path, "must be an absolute path");
	validate_no_backsteps(path, &fpth, causes);
}

static void validate_nfs_source(const json_t *n, const fld *f, json_t *causes)
{
	fld fs = fp_child(f, "server"), fpth = fp_child(f, "path");
	const char *path = jstr0(n, "path");

	if (!*jstr0(n, "server"))
		err_required(causes, fs.s, NULL);
	if (!*path)
		err_required(causes, fpth.s, NULL);
	else if (path[0] != '/')
		err_invalid(causes, fpth.s, path, "must be an absolute path");
}

/* Access modes of a PV or PVC: values, and ReadWriteOncePod alone. */
static void validate_access_modes(const json_t *modes, const fld *f, json_t *causes)
{
	bool rwop = false, other = false;
	size_t i;
	json_t *m;

	json_array_foreach(modes, i, m)
	{
		const char *s = json_is_string(m) ? json_string_value(m) : "";

		if (!in_list(s, access_modes))
			err_not_supported(causes, f->s, s, access_modes);
		if (!strcmp(s, "ReadWriteOncePod"))
			rwop = true;
		else if (in_list(s, access_modes))
			other = true;
	}
	if (rwop && other)
		err_forbidden(causes, f->s, "may not use ReadWriteOncePod with other access modes");
}

/* A quantity member: Invalid with upstream's decode wording when it does
 * not parse. Returns true and fills q when it does. */
static bool quantity_member(const json_t *map, const char *key, const fld *f, dv_quantity *q,
			    json_t *causes)
{
	json_t *v = jget(map, key);
	char num[32];

	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		if (dv_quantity_parse(num, q) == 0)
			return true;
	}
	if (json_is_string(v) && dv_quantity_parse(json_string_value(v), q) == 0)
		return true;
	if (json_is_string(v))
		err_invalid(causes, f->s, json_string_value(v), DV_QUANTITY_REGEX_MSG);
	else
		err_invalid_json(causes, f->s, v, DV_QUANTITY_REGEX_MSG);
	return false;
}

static void render_quantity(const dv_quantity *q, char *out, size_t len)
{
	char c[64];

	if (dv_quantity_format_canonical(q, c, sizeof(c)) < 0)
		snprintf(c, sizeof(c), "?");
	snprintf(out, len, "\"%s\"", c);
}

/* ValidatePositiveQuantityValue. */
static bool quantity_positive(const dv_quantity *q, const fld *f, json_t *causes)
{
	char r[80];

	if (q->negative || q->mantissa == 0) {
		render_quantity(q, r, sizeof(r));
		err_invalid_raw(causes, f->s, r, MSG_NOT_POSITIVE);
		return false;
	}
	return true;
}

/* ValidateNonnegativeQuantity. */
static void quantity_nonnegative(const dv_quantity *q, const fld *f, json_t *causes)
{
	char r[80];

	if (q->negative && q->mantissa) {
		render_quantity(q, r, sizeof(r));
		err_invalid_raw(causes, f->s, r, MSG_NEGATIVE);
	}
}

/* ------------------------------------------------------------------ */
/* PersistentVolumeClaim                                                */
/* ------------------------------------------------------------------ */

/* NormalizeDataSources: dataSource and dataSourceRef mirror each other. */
static void default_pvc_data_sources(json_t *spec)
{
	json_t *ds = jobj(spec, "dataSource"), *ref = jobj(spec, "dataSourceRef");
	static const char *const keys[] = { "apiGroup", "kind", "name", NULL };

	if (ds && !ref) {
		json_t *n = json_object();

		for (size_t i = 0; keys[i]; i++)
			if (jhas(ds, keys[i]))
				json_object_set(n, keys[i], jget(ds, keys[i]));
		json_object_set_new(spec, "dataSourceRef", n);
	} else if (ref && !ds && !*jstr0(ref, "namespace")) {
		json_t *n = json_object();

		for (size_t i = 0; keys[i]; i++)
			if (jhas(ref, keys[i]))
				json_object_set(n, keys[i], jget(ref, keys[i]));
		json_object_set_new(spec, "dataSource", n);
	}
}

static void default_pvc_spec(json_t *spec)
{
	jset_default_str(spec, "volumeMode", "Filesystem");
	default_pvc_data_sources(spec);
}

static void default_pvc(json_t *obj)
{
	default_pvc_spec(jobj_ensure(obj, "spec"));
	jset_default_str(jobj_ensure(obj, "status"), "phase", "Pending");
}

static void validate_data_source(const json_t *ds, bool is_ref, const fld *f, json_t *causes)
{
	fld fn = fp_child(f, "name"), fk = fp_child(f, "kind"), fg = fp_child(f, "apiGroup");
	fld fns = fp_child(f, "namespace");
	const char *kind = jstr0(ds, "kind"), *group = jstr0(ds, "apiGroup");

	if (!*jstr0(ds, "name"))
		err_required(causes, fn.s, NULL);
	if (!*kind)
		err_required(causes, fk.s, NULL);
	if (!*group && strcmp(kind, "PersistentVolumeClaim") != 0)
		err_invalid(causes, f->s, kind,
			    "must be 'PersistentVolumeClaim' when referencing the default apiGroup");
	if (*group)
		invalid_each(causes, &fg, group, is_dns1123_subdomain);
	if (is_ref && *jstr0(ds, "namespace"))
		invalid_each(causes, &fns, jstr0(ds, "namespace"), is_dns1123_label);
}

static void validate_pvc_spec(const json_t *spec, const fld *f, json_t *causes)
{
	fld fam = fp_child(f, "accessModes"), fres = fp_child(f, "resources");
	fld fstorage = fp_key(&fres, "storage"), fsc = fp_child(f, "storageClassName");
	fld fvm = fp_child(f, "volumeMode"), fds = fp_child(f, "dataSource");
	fld fdsr = fp_child(f, "dataSourceRef"), fvac = fp_child(f, "volumeAttributesClassName");
	fld fsel = fp_child(f, "selector");
	const json_t *requests = jobj(jobj(spec, "resources"), "requests");
	const json_t *ds = jobj(spec, "dataSource"), *ref = jobj(spec, "dataSourceRef");
	dv_quantity q;

	if (jlen(jarr(spec, "accessModes")) == 0)
		err_required(causes, fam.s, "at least 1 access mode is required");
	validate_label_selector(jobj(spec, "selector"), &fsel, causes);
	validate_access_modes(jarr(spec, "accessModes"), &fam, causes);
	if (!jhas(requests, "storage")) {
		err_required(causes, fstorage.s, NULL);
	} else if (quantity_member(requests, "storage", &fstorage, &q, causes)) {
		quantity_positive(&q, &fstorage, causes);
	}
	if (*jstr0(spec, "storageClassName"))
		invalid_each(causes, &fsc, jstr0(spec, "storageClassName"), subdomain_rule);
	if (jhas(spec, "volumeMode") && !in_list(jstr0(spec, "volumeMode"), volume_modes))
		err_not_supported(causes, fvm.s, jstr0(spec, "volumeMode"), volume_modes);
	if (ds)
		validate_data_source(ds, false, &fds, causes);
	if (ref)
		validate_data_source(ref, true, &fdsr, causes);
	if (ref && *jstr0(ref, "namespace")) {
		if (ds)
			err_invalid_raw(causes, f->s, fds.s,
					"may not be specified when dataSourceRef.namespace is specified");
	} else if (ds && ref) {
		if (strcmp(jstr0(ds, "apiGroup"), jstr0(ref, "apiGroup")) ||
		    jhas(ds, "apiGroup") != jhas(ref, "apiGroup") ||
		    strcmp(jstr0(ds, "kind"), jstr0(ref, "kind")) ||
		    strcmp(jstr0(ds, "name"), jstr0(ref, "name")))
			err_invalid_raw(causes, f->s, fds.s, "must match dataSourceRef");
	}
	if (*jstr0(spec, "volumeAttributesClassName"))
		invalid_each(causes, &fvac, jstr0(spec, "volumeAttributesClassName"), subdomain_rule);
}

static void validate_pvc(const json_t *obj, json_t *causes)
{
	fld f = fp("spec");

	validate_pvc_spec(jobj(obj, "spec"), &f, causes);
}

/* Canonical quantities in a resources map, so that 1Gi equals 1024Mi. */
static void canonicalize_resource_map(json_t *map)
{
	const char *k;
	json_t *v;

	if (!json_is_object(map))
		return;
	json_object_foreach(map, k, v)
	{
		char c[64];

		if (json_is_string(v)) {
			qty_canonical_str(json_string_value(v), c, sizeof(c));
			json_string_set(v, c);
		}
	}
}

/* The PVC spec as it is compared for immutability: quantities canonical,
 * empty resources maps dropped. */
static void pvc_spec_for_compare(json_t *spec)
{
	json_t *res = jobj(spec, "resources");

	if (res) {
		canonicalize_resource_map(jobj(res, "requests"));
		canonicalize_resource_map(jobj(res, "limits"));
		if (jlen(jobj(res, "requests")) == 0)
			json_object_del(res, "requests");
		if (jlen(jobj(res, "limits")) == 0)
			json_object_del(res, "limits");
		if (json_object_size(res) == 0)
			json_object_del(spec, "resources");
	}
}

#define BETA_SC_ANNOTATION "volume.beta.kubernetes.io/storage-class"

/* storageClassName may move from the beta annotation, or be set once from
 * nil (retroactive default class): then it drops out of the comparison of
 * the new spec `nc`. Otherwise the annotation itself is immutable. */
static void pvc_storage_class_upgrade(const json_t *obj, const json_t *old, json_t *nc,
				      json_t *causes)
{
	const json_t *nspec = jobj(obj, "spec"), *ospec = jobj(old, "spec");
	const json_t *nann = jobj(jobj(obj, "metadata"), "annotations");
	const json_t *oann = jobj(jobj(old, "metadata"), "annotations");
	const char *old_ann = jstr0(oann, BETA_SC_ANNOTATION);

	if (!jhas(ospec, "storageClassName") && jhas(nspec, "storageClassName") &&
	    (!jhas(oann, BETA_SC_ANNOTATION) || !strcmp(jstr0(nspec, "storageClassName"), old_ann)) &&
	    (!jhas(nann, BETA_SC_ANNOTATION) || !strcmp(jstr0(nann, BETA_SC_ANNOTATION), old_ann))) {
		json_object_del(nc, "storageClassName");
	} else if (strcmp(jstr0(nann, BETA_SC_ANNOTATION), old_ann) != 0) {
		fld fa = fp("metadata.annotations." BETA_SC_ANNOTATION);

		err_invalid(causes, fa.s, jstr0(nann, BETA_SC_ANNOTATION), MSG_IMMUTABLE);
	}
}

static void validate_pvc_update(const dv_validate_env *env, const json_t *obj, const json_t *old,
				json_t *causes)
{
	const json_t *nspec = jobj(obj, "spec"), *ospec = jobj(old, "spec");
	json_t *nc = jclone(nspec), *oc = jclone(ospec);
	const char *phase = jstr0(jobj(old, "status"), "phase");
	dv_quantity oq = { 0 }, nq = { 0 };

	if (!nc)
		nc = json_object();
	if (!oc)
		oc = json_object();
	/* volumeName may be set once (by the binder). */
	if (!*jstr0(ospec, "volumeName")) {
		json_object_del(oc, "volumeName");
		if (jhas(nc, "volumeName"))
			json_object_set(oc, "volumeName", jget(nc, "volumeName"));
	}
	pvc_storage_class_upgrade(obj, old, nc, causes);
	/* Bound claims may change their storage request (checked below). */
	if (!strcmp(phase, "Bound")) {
		json_t *nreq = jobj(jobj(nc, "resources"), "requests");
		json_t *oreq = jobj(jobj(oc, "resources"), "requests");

		if (nreq) {
			if (jhas(oreq, "storage"))
				json_object_set(nreq, "storage", jget(oreq, "storage"));
			else
				json_object_del(nreq, "storage");
		}
	}
	json_object_del(nc, "volumeAttributesClassName");
	json_object_del(oc, "volumeAttributesClassName");
	pvc_spec_for_compare(nc);
	pvc_spec_for_compare(oc);
	if (!json_equal(nc, oc))
		err_forbidden(causes, "spec",
			      "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims");
	json_decref(nc);
	json_decref(oc);

	if (dv_quantity_parse(jstr0(jobj(jobj(ospec, "resources"), "requests"), "storage"), &oq) == 0 &&
	    dv_quantity_parse(jstr0(jobj(jobj(nspec, "resources"), "requests"), "storage"), &nq) == 0 &&
	    dv_quantity_cmp(&nq, &oq) < 0)
		err_forbidden(causes, "spec.resources.requests.storage",
			      "field can not be less than previous value");
	immutable_field(jget(nspec, "volumeMode"), jget(ospec, "volumeMode"), "volumeMode", causes);
	if (jhas(ospec, "volumeAttributesClassName")) {
		if (!jhas(nspec, "volumeAttributesClassName"))
			err_forbidden(causes, "spec.volumeAttributesClassName",
				      "update from non-nil value to nil is forbidden");
		else if (!*jstr0(nspec, "volumeAttributesClassName"))
			err_forbidden(causes, "spec.volumeAttributesClassName",
				      "update from non-nil value to an empty string is forbidden");
	}
	(void)env;
}

static void validate_pvc_status(const json_t *obj, const json_t *old, json_t *causes)
{
	static const char *const phases[] = { "Pending", "Bound", "Lost", NULL };
	const json_t *st = jobj(obj, "status");
	fld fs = fp("status"), fph = fp_child(&fs, "phase"), fcap = fp_child(&fs, "capacity");
	const char *k;
	json_t *v;

	if (jhas(st, "phase") && !in_list(jstr0(st, "phase"), phases))
		err_not_supported(causes, fph.s, jstr0(st, "phase"), phases);
	json_object_foreach(jobj(st, "capacity"), k, v)
	{
		fld fk = fp_key(&fcap, k);
		dv_quantity q;

		if (quantity_member(jobj(st, "capacity"), k, &fk, &q, causes))
			quantity_nonnegative(&q, &fk, causes);
	}
	(void)old;
}

/* The PersistentVolumeClaimResize admission plugin. */
static char *admit_pvc_update(const dv_validate_env *env, const json_t *obj, const json_t *old)
{
	const json_t *nspec = jobj(obj, "spec"), *ospec = jobj(old, "spec");
	dv_quantity oq, nq;
	const char *sc;
	json_t *cls = NULL;
	bool allowed = false;

	if (dv_quantity_parse(jstr0(jobj(jobj(ospec, "resources"), "requests"), "storage"), &oq) < 0 ||
	    dv_quantity_parse(jstr0(jobj(jobj(nspec, "resources"), "requests"), "storage"), &nq) < 0 ||
	    dv_quantity_cmp(&nq, &oq) <= 0)
		return NULL;
	if (strcmp(jstr0(jobj(old, "status"), "phase"), "Bound") != 0)
		return strdup("Only bound persistent volume claims can be expanded");
	sc = jstr(ospec, "storageClassName");
	if (!sc)
		sc = jstr(jobj(jobj(old, "metadata"), "annotations"), BETA_SC_ANNOTATION);
	if (sc && *sc && env && env->lookup)
		cls = env->lookup(env->ctx, "storage.k8s.io", "storageclasses", NULL, sc);
	allowed = cls && jtrue(cls, "allowVolumeExpansion");
	json_decref(cls);
	if (allowed)
		return NULL;
	return strdup("only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize");
}

/* ------------------------------------------------------------------ */
/* PersistentVolume                                                     */
/* ------------------------------------------------------------------ */

/* The volume sources of a PersistentVolumeSpec (inline members). */
static const char *const pv_sources[] = {
	"hostPath",    "gcePersistentDisk", "awsElasticBlockStore", "glusterfs", "flocker",
	"nfs",	       "rbd",		    "quobyte",		    "cephfs",	 "iscsi",
	"cinder",      "fc",		    "flexVolume",	    "azureFile", "vsphereVolume",
	"photonPersistentDisk", "portworxVolume", "azureDisk",	    "scaleIO",	 "local",
	"storageos",   "csi",		    NULL,
};

static void default_pv(json_t *obj)
{
	json_t *spec = jobj_ensure(obj, "spec");

	jset_default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
	jset_default_str(spec, "volumeMode", "Filesystem");
	if (jobj(spec, "hostPath"))
		jset_default_str(jobj(spec, "hostPath"), "type", "");
	jset_default_str(jobj_ensure(obj, "status"), "phase", "Pending");
}

static void validate_pv_capacity(const json_t *spec, const fld *f, json_t *causes)
{
	static const char *const storage_only[] = { "storage", NULL };
	const json_t *cap = jobj(spec, "capacity");
	fld fcap = fp_child(f, "capacity");
	const char *k;
	json_t *v;

	if (jlen(cap) == 0)
		err_required(causes, fcap.s, NULL);
	if (!jhas(cap, "storage") || jlen(cap) > 1) {
		dv_buf b;

		/* Go prints the ResourceList with %#v. */
		dv_buf_init(&b, 64 * 1024);
		if (!cap) {
			dv_buf_appends(&b, "core.ResourceList(nil)");
		} else {
			size_t i = 0;

			dv_buf_appends(&b, "core.ResourceList{");
			json_object_foreach((json_t *)cap, k, v)
			{
				dv_buf_appendf(&b, "%s", i++ ? ", " : "");
				go_quote(&b, k);
				dv_buf_appends(&b, ":");
				render_go(&b, v);
			}
			dv_buf_appends(&b, "}");
		}
		err_not_supported_raw(causes, fcap.s, (char *)b.data, storage_only);
		dv_buf_free(&b);
	}
	json_object_foreach((json_t *)cap, k, v)
	{
		fld fk = fp_key(&fcap, k);
		dv_quantity q;

		if (quantity_member(cap, k, &fk, &q, causes))
			quantity_positive(&q, &fk, causes);
	}
}

/* One volume source of a PV spec, checked by type. */
static void validate_pv_source(const json_t *spec, const char *type, const fld *f,
			       bool node_affinity, json_t *causes)
{
	fld fs = fp_child(f, type);
	const json_t *src = jobj(spec, type);

	if (!strcmp(type, "hostPath")) {
		validate_host_path(src, &fs, causes);
	} else if (!strcmp(type, "nfs")) {
		validate_nfs_source(src, &fs, causes);
	} else if (!strcmp(type, "local")) {
		validate_local_source(src, &fs, causes);
		if (!node_affinity) {
			fld fna = fp_child(f, "nodeAffinity");

			err_required(causes, fna.s, "Local volume requires node affinity");
		}
	} else if (!strcmp(type, "csi")) {
		validate_csi_pv_source(src, &fs, causes);
	}
}

/* What an inline spec (VolumeAttachment's inlineVolumeSpec) may not have. */
static void validate_pv_inline(const json_t *spec, const fld *f, json_t *causes)
{
	fld fcr = fp_child(f, "claimRef"), fcap = fp_child(f, "capacity"), fcsi = fp_child(f, "csi");

	if (jhas(spec, "claimRef"))
		err_forbidden(causes, fcr.s, "may not be specified in the context of inline volumes");
	if (jlen(jobj(spec, "capacity")))
		err_forbidden(causes, fcap.s, "may not be specified in the context of inline volumes");
	if (!jhas(spec, "csi"))
		err_required(causes, fcsi.s, "has to be specified in the context of inline volumes");
}

/* nodeAffinity; returns whether it is set (local volumes need it). */
static bool validate_pv_node_affinity(const json_t *spec, bool inl, const fld *f, json_t *causes)
{
	fld fna = fp_child(f, "nodeAffinity"), freq = fp_child(&fna, "required");
	const json_t *req = jobj(jobj(spec, "nodeAffinity"), "required");

	if (!jhas(spec, "nodeAffinity"))
		return false;
	if (inl) {
		err_forbidden(causes, fna.s, "may not be specified in the context of inline volumes");
		return false;
	}
	if (req)
		validate_node_selector(req, &freq, causes);
	else
		err_required(causes, freq.s, "must specify required node constraints");
	return true;
}

/* Exactly one volume source (flexVolume is not counted twice upstream). */
static void validate_pv_sources(const json_t *spec, bool affinity, const fld *f, json_t *causes)
{
	int n = 0;

	for (size_t i = 0; pv_sources[i]; i++) {
		if (!jhas(spec, pv_sources[i]))
			continue;
		if (n > 0 && strcmp(pv_sources[i], "flexVolume") != 0) {
			fld fs = fp_child(f, pv_sources[i]);

			err_forbidden(causes, fs.s, MSG_MORE_THAN_ONE);
			continue;
		}
		n++;
		validate_pv_source(spec, pv_sources[i], f, affinity, causes);
	}
	if (n == 0)
		err_required(causes, f->s, "must specify a volume type");
}

/* storageClassName, volumeMode and volumeAttributesClassName. */
static void validate_pv_classes(const json_t *spec, bool inl, const fld *f, json_t *causes)
{
	fld fsc = fp_child(f, "storageClassName"), fvm = fp_child(f, "volumeMode");
	fld fcsi = fp_child(f, "csi"), fvac = fp_child(f, "volumeAttributesClassName");
	const char *vm = jstr0(spec, "volumeMode");

	if (*jstr0(spec, "storageClassName")) {
		if (inl)
			err_forbidden(causes, fsc.s, "may not be specified in the context of inline volumes");
		else
			invalid_each(causes, &fsc, jstr0(spec, "storageClassName"), subdomain_rule);
	}
	if (jhas(spec, "volumeMode")) {
		if (inl && strcmp(vm, "Filesystem"))
			err_forbidden(causes, fvm.s,
				      "may not specify volumeMode other than Filesystem in the context of inline volumes");
		else if (!inl && !in_list(vm, volume_modes))
			err_not_supported(causes, fvm.s, vm, volume_modes);
	}
	if (jhas(spec, "volumeAttributesClassName")) {
		if (!*jstr0(spec, "volumeAttributesClassName"))
			err_required(causes, fvac.s, "an empty string is disallowed");
		else
			invalid_each(causes, &fvac, jstr0(spec, "volumeAttributesClassName"),
				     subdomain_rule);
		if (!jhas(spec, "csi"))
			err_required(causes, fcsi.s, "has to be specified when using volumeAttributesClassName");
	}
}

/* ValidatePersistentVolumeSpec, in upstream's order; inline is
 * VolumeAttachment's inlineVolumeSpec. */
static void validate_pv_spec(const json_t *spec, bool inl, const fld *f, json_t *causes)
{
	static const char *const policies[] = { "Delete", "Recycle", "Retain", NULL };
	fld fam = fp_child(f, "accessModes"), frp = fp_child(f, "persistentVolumeReclaimPolicy");
	const char *policy = jstr0(spec, "persistentVolumeReclaimPolicy");
	bool affinity;

	if (inl)
		validate_pv_inline(spec, f, causes);
	if (jlen(jarr(spec, "accessModes")) == 0)
		err_required(causes, fam.s, NULL);
	validate_access_modes(jarr(spec, "accessModes"), &fam, causes);
	if (!inl)
		validate_pv_capacity(spec, f, causes);
	if (*policy && inl && strcmp(policy, "Retain"))
		err_forbidden(causes, frp.s, "may only be Retain in the context of inline volumes");
	else if (*policy && !inl && !in_list(policy, policies))
		err_not_supported(causes, frp.s, policy, policies);
	affinity = validate_pv_node_affinity(spec, inl, f, causes);
	validate_pv_sources(spec, affinity, f, causes);
	if (jobj(spec, "hostPath") && !strcmp(jstr0(jobj(spec, "hostPath"), "path"), "/") &&
	    !strcmp(policy, "Recycle"))
		err_forbidden(causes, frp.s, "may not be 'recycle' for a hostPath mount of '/'");
	validate_pv_classes(spec, inl, f, causes);
}

static void validate_pv(const json_t *obj, json_t *causes)
{
	fld f = fp("spec");

	validate_pv_spec(jobj(obj, "spec"), false, &f, causes);
}

/* The persistentVolumeSource members of a spec, for the immutability
 * check; a controllerExpandSecretRef may be added once. */
static json_t *pv_source_of(const json_t *spec, const json_t *old_spec)
{
	json_t *src = json_object();

	for (size_t i = 0; pv_sources[i]; i++)
		if (jhas(spec, pv_sources[i]))
			json_object_set(src, pv_sources[i], jget(spec, pv_sources[i]));
	if (old_spec) {
		json_t *ncsi = jobj(src, "csi"), *ocsi = jobj(old_spec, "csi");

		if (ncsi && ocsi && !jhas(ocsi, "controllerExpandSecretRef") &&
		    jhas(ncsi, "controllerExpandSecretRef")) {
			json_t *copy = json_deep_copy(ncsi);

			json_object_del(copy, "controllerExpandSecretRef");
			json_object_set_new(src, "csi", copy);
		}
	}
	jprune(src);
	return src;
}

static void validate_pv_update(const dv_validate_env *env, const json_t *obj, const json_t *old,
			       json_t *causes)
{
	const json_t *nspec = jobj(obj, "spec"), *ospec = jobj(old, "spec");
	json_t *ns = pv_source_of(nspec, ospec), *os = pv_source_of(ospec, NULL);

	if (!json_equal(ns, os))
		err_forbidden(causes, "spec.persistentvolumesource",
			      "spec.persistentvolumesource is immutable after creation");
	json_decref(ns);
	json_decref(os);
	immutable_field(jget(nspec, "volumeMode"), jget(ospec, "volumeMode"), "volumeMode", causes);
	if (jhas(ospec, "nodeAffinity") &&
	    !jequal_sem(jget(nspec, "nodeAffinity"), jget(ospec, "nodeAffinity")))
		err_invalid_json(causes, "nodeAffinity", jget(nspec, "nodeAffinity"), MSG_IMMUTABLE);
	if (jhas(ospec, "volumeAttributesClassName") && !jhas(nspec, "volumeAttributesClassName"))
		err_forbidden(causes, "spec.volumeAttributesClassName",
			      "update from non-nil value to nil is forbidden");
	(void)env;
}

static void validate_pv_status(const json_t *obj, const json_t *old, json_t *causes)
{
	static const char *const phases[] = { "Pending", "Available", "Bound", "Released", "Failed",
					      NULL };
	const json_t *st = jobj(obj, "status");

	if (jhas(st, "phase") && !in_list(jstr0(st, "phase"), phases))
		err_not_supported(causes, "status.phase", jstr0(st, "phase"), phases);
	(void)old;
}

/* ------------------------------------------------------------------ */
/* Pod                                                                  */
/* ------------------------------------------------------------------ */

/* imagePullPolicy default: Always for :latest or no tag, else
 * IfNotPresent (a digest counts as a tag). */
static const char *default_pull_policy(const char *image)
{
	const char *slash = strrchr(image, '/');
	const char *last = slash ? slash + 1 : image;
	const char *colon = strrchr(last, ':');

	if (strchr(image, '@'))
		return "IfNotPresent";
	if (!colon || !strcmp(colon + 1, "latest"))
		return "Always";
	return "IfNotPresent";
}

static void default_probe(json_t *probe)
{
	if (!json_is_object(probe))
		return;
	jset_default_int(probe, "timeoutSeconds", 1);
	jset_default_int(probe, "periodSeconds", 10);
	jset_default_int(probe, "successThreshold", 1);
	jset_default_int(probe, "failureThreshold", 3);
	if (jobj(probe, "httpGet"))
		jset_default_str(jobj(probe, "httpGet"), "scheme", "HTTP");
}

static void default_container(json_t *c)
{
	json_t *res;
	size_t i;
	json_t *p;

	if (!json_is_object(c))
		return;
	jset_default_str(c, "terminationMessagePath", "/dev/termination-log");
	jset_default_str(c, "terminationMessagePolicy", "File");
	jset_default_str(c, "imagePullPolicy", default_pull_policy(jstr0(c, "image")));
	/* resources is a struct upstream: it always prints, as {} when empty. */
	res = jobj_ensure(c, "resources");
	json_array_foreach(jarr(c, "ports"), i, p)
		jset_default_str(p, "protocol", "TCP");
	/* Requests default to limits, per resource. */
	if (jobj(res, "limits")) {
		json_t *req = jobj_ensure(res, "requests");
		const char *k;
		json_t *v;

		json_object_foreach(jobj(res, "limits"), k, v)
			if (!jhas(req, k))
				json_object_set(req, k, v);
	}
	default_probe(jobj(c, "livenessProbe"));
	default_probe(jobj(c, "readinessProbe"));
	default_probe(jobj(c, "startupProbe"));
}

/* The sources a pod volume may have. */
static const char *const pod_volume_sources[] = {
	"emptyDir",    "hostPath",  "gitRepo",	      "gcePersistentDisk", "awsElasticBlockStore",
	"secret",      "nfs",	    "iscsi",	      "glusterfs",	   "flocker",
	"persistentVolumeClaim",    "rbd",	      "cinder",		   "cephfs",
	"quobyte",     "downwardAPI", "fc",	      "flexVolume",	   "configMap",
	"azureFile",   "vsphereVolume", "photonPersistentDisk", "portworxVolume",
	"azureDisk",   "storageos", "projected",      "scaleIO",	   "csi",
	"ephemeral",   "image",	    NULL,
};

static bool has_volume_source(const json_t *v)
{
	for (size_t i = 0; pod_volume_sources[i]; i++)
		if (jhas(v, pod_volume_sources[i]))
			return true;
	return false;
}

static void default_pod_volume(json_t *v)
{
	if (!json_is_object(v))
		return;
	if (!has_volume_source(v))
		json_object_set_new(v, "emptyDir", json_object());
	if (jobj(v, "secret"))
		jset_default_int(jobj(v, "secret"), "defaultMode", 0644);
	if (jobj(v, "configMap"))
		jset_default_int(jobj(v, "configMap"), "defaultMode", 0644);
	if (jobj(v, "downwardAPI"))
		jset_default_int(jobj(v, "downwardAPI"), "defaultMode", 0644);
	if (jobj(v, "projected"))
		jset_default_int(jobj(v, "projected"), "defaultMode", 0644);
	if (jobj(v, "hostPath"))
		jset_default_str(jobj(v, "hostPath"), "type", "");
}

/* DefaultTolerationSeconds admission: tolerate not-ready and unreachable
 * nodes for 300 s unless the pod says otherwise. */
static void default_tolerations(json_t *spec)
{
	static const char *const keys[] = { "node.kubernetes.io/not-ready",
					    "node.kubernetes.io/unreachable", NULL };
	json_t *tols = jarr(spec, "tolerations");

	if (!tols) {
		tols = json_array();
		json_object_set_new(spec, "tolerations", tols);
	}
	for (size_t k = 0; keys[k]; k++) {
		bool found = false;
		size_t i;
		json_t *t;

		json_array_foreach(tols, i, t)
		{
			const char *eff = jstr0(t, "effect");

			if ((!strcmp(jstr0(t, "key"), keys[k]) || (!jhas(t, "key") &&
			     !strcmp(jstr0(t, "operator"), "Exists"))) &&
			    (!*eff || !strcmp(eff, "NoExecute")))
				found = true;
		}
		if (!found)
			json_array_append_new(tols, json_pack("{s:s, s:s, s:s, s:I}", "key", keys[k],
							      "operator", "Exists", "effect",
							      "NoExecute", "tolerationSeconds",
							      (json_int_t)300));
	}
}

/* QoS class: BestEffort without any request or limit, Guaranteed when every
 * container limits cpu and memory with equal requests, else Burstable. */
static const char *pod_qos_class(const json_t *spec)
{
	static const char *const lists[] = { "containers", "initContainers", NULL };
	bool any = false, guaranteed = true;

	for (size_t l = 0; lists[l]; l++) {
		size_t i;
		json_t *c;

		json_array_foreach(jarr(spec, lists[l]), i, c)
		{
			const json_t *lim = jobj(jobj(c, "resources"), "limits");
			const json_t *req = jobj(jobj(c, "resources"), "requests");
			static const char *const rs[] = { "cpu", "memory", NULL };

			if (jlen(lim) || jlen(req))
				any = true;
			for (size_t r = 0; rs[r]; r++) {
				const char *lv = jstr(lim, rs[r]), *rv = jstr(req, rs[r]);

				if (!lv || (rv && dv_quantity_cmp_str(lv, rv) != 0))
					guaranteed = false;
			}
		}
	}
	if (!any)
		return "BestEffort";
	return guaranteed ? "Guaranteed" : "Burstable";
}

static void default_pod(json_t *obj)
{
	static const char *const lists[] = { "containers", "initContainers", "ephemeralContainers",
					     NULL };
	json_t *spec = jobj_ensure(obj, "spec");
	json_t *status = jobj_ensure(obj, "status");
	size_t i;
	json_t *v;

	jset_default_str(spec, "restartPolicy", "Always");
	jset_default_str(spec, "dnsPolicy", "ClusterFirst");
	jset_default_str(spec, "schedulerName", "default-scheduler");
	jset_default_int(spec, "terminationGracePeriodSeconds", 30);
	jset_default_bool(spec, "enableServiceLinks", true);
	if (!jhas(spec, "securityContext"))
		json_object_set_new(spec, "securityContext", json_object());
	/* What the ServiceAccount and Priority admission plugins fill. */
	jset_default_str(spec, "serviceAccountName", "default");
	jset_default_str(spec, "serviceAccount", jstr0(spec, "serviceAccountName"));
	jset_default_int(spec, "priority", 0);
	jset_default_str(spec, "preemptionPolicy", "PreemptLowerPriority");
	default_tolerations(spec);
	for (size_t l = 0; lists[l]; l++)
		json_array_foreach(jarr(spec, lists[l]), i, v)
			default_container(v);
	json_array_foreach(jarr(spec, "volumes"), i, v)
		default_pod_volume(v);
	if (!jhas(status, "phase")) {
		json_object_set_new(status, "phase", json_string("Pending"));
		jset_default_str(status, "qosClass", pod_qos_class(spec));
	}
}

/* validateLocalDescendingPath: relative, no "..". */
static void validate_local_descending_path(const char *path, const fld *f, json_t *causes)
{
	if (path[0] == '/')
		err_invalid(causes, f->s, path, "must be a relative path");
	validate_no_backsteps(path, f, causes);
}

/* A required string member of a volume source (secretName, claimName, ...). */
static void required_member(const json_t *src, const char *key, const fld *fs, json_t *causes)
{
	fld fk = fp_child(fs, key);

	if (!*jstr0(src, key))
		err_required(causes, fk.s, NULL);
}

/* An inline CSI volume of a pod. */
static void validate_inline_csi(const json_t *src, const fld *fs, json_t *causes)
{
	fld fd = fp_child(fs, "driver");
	const json_t *ref = jobj(src, "nodePublishSecretRef");

	validate_csi_driver_name(jstr0(src, "driver"), &fd, causes);
	if (ref && !*jstr0(ref, "name")) {
		fld fr = fp_child(fs, "nodePublishSecretRef"), frn = fp_child(&fr, "name");

		err_required(causes, frn.s, NULL);
	} else if (ref) {
		/* Upstream reports at csi.name, not under the reference. */
		fld fn = fp_child(fs, "name");

		invalid_each(causes, &fn, jstr0(ref, "name"), subdomain_rule);
	}
}

/* The claim template of an ephemeral volume: only labels and annotations
 * in its metadata, a valid PVC spec; and the PVC name it yields
 * (<pod>-<volume>) must be a valid name. */
static void validate_ephemeral(const json_t *src, const json_t *podmeta, const char *vname,
			       const fld *f, const fld *fs, json_t *causes)
{
	fld ft = fp_child(fs, "volumeClaimTemplate");
	fld fm = fp_child(&ft, "metadata"), fsp = fp_child(&ft, "spec");
	fld fl = fp_child(&fm, "labels"), fa = fp_child(&fm, "annotations");
	const json_t *tmpl = jobj(src, "volumeClaimTemplate"), *tm = jobj(tmpl, "metadata");
	const char *pod = jstr0(podmeta, "name");
	const char *k;
	json_t *m;

	if (!tmpl) {
		err_required(causes, ft.s, NULL);
	} else {
		validate_annotations(jget(tm, "annotations"), &fa, causes);
		validate_labels(jget(tm, "labels"), &fl, causes);
		json_object_foreach((json_t *)tm, k, m)
		{
			fld fk = fp_child(&fm, k);

			if (strcmp(k, "labels") && strcmp(k, "annotations") && !json_is_null(m))
				err_forbidden(causes, fk.s, "cannot be set for an ephemeral volume");
		}
		validate_pvc_spec(jobj(tmpl, "spec"), &fsp, causes);
	}
	if (*pod && *vname) {
		fld fn = fp_child(f, "name");
		msgs ms = { 0 };
		dv_buf pvc;

		dv_buf_init(&pvc, 0);
		dv_buf_appendf(&pvc, "%s-%s", pod, vname);
		name_dns_subdomain(pvc.data ? (char *)pvc.data : "", false, &ms);
		for (int i = 0; i < ms.n; i++) {
			dv_buf d;

			dv_buf_init(&d, 0);
			dv_buf_appendf(&d, "PVC name \"%s\": %s", (char *)pvc.data, ms.m[i]);
			err_invalid(causes, fn.s, vname, d.data ? (char *)d.data : "");
			dv_buf_free(&d);
		}
		dv_buf_free(&pvc);
	}
}

/* validateVolumeSource: exactly one source, each checked by type. */
static void validate_pod_volume_source(const json_t *vol, const json_t *podmeta, const fld *f,
				       json_t *causes)
{
	int n = 0;

	for (size_t i = 0; pod_volume_sources[i]; i++) {
		const char *type = pod_volume_sources[i];
		const json_t *src = jobj(vol, type);
		fld fs = fp_child(f, type);

		if (!jhas(vol, type))
			continue;
		if (n++ > 0) {
			err_forbidden(causes, fs.s, MSG_MORE_THAN_ONE);
			continue;
		}
		if (!strcmp(type, "hostPath"))
			validate_host_path(src, &fs, causes);
		else if (!strcmp(type, "nfs"))
			validate_nfs_source(src, &fs, causes);
		else if (!strcmp(type, "secret"))
			required_member(src, "secretName", &fs, causes);
		else if (!strcmp(type, "configMap"))
			required_member(src, "name", &fs, causes);
		else if (!strcmp(type, "persistentVolumeClaim"))
			required_member(src, "claimName", &fs, causes);
		else if (!strcmp(type, "csi"))
			validate_inline_csi(src, &fs, causes);
		else if (!strcmp(type, "ephemeral"))
			validate_ephemeral(src, podmeta, jstr0(vol, "name"), f, &fs, causes);
	}
	if (n == 0)
		err_required(causes, f->s, "must specify a volume type");
}

/* ValidateVolumes: fills `names` (a JSON object name -> volume) with the
 * valid volumes, for the mounts' references. */
static void validate_pod_volumes(const json_t *vols, const json_t *podmeta, const fld *f,
				 json_t *names, json_t *causes)
{
	size_t i;
	json_t *v;

	json_array_foreach(vols, i, v)
	{
		fld fi = fp_index(f, i), fn = fp_child(&fi, "name");
		const char *name = jstr0(v, "name");
		size_t before = json_array_size(causes);

		validate_pod_volume_source(v, podmeta, &fi, causes);
		if (!*name)
			err_required(causes, fn.s, NULL);
		else
			invalid_each(causes, &fn, name, is_dns1123_label);
		if (*name && jhas(names, name))
			err_duplicate(causes, fn.s, name);
		if (json_array_size(causes) == before)
			json_object_set(names, name, v);
	}
}

static void validate_volume_mounts(const json_t *mounts, const json_t *devices,
				   const json_t *names, const fld *f, json_t *causes)
{
	json_t *paths = json_object();
	size_t i, j;
	json_t *m, *d;

	json_array_foreach(mounts, i, m)
	{
		fld fi = fp_index(f, i), fn = fp_child(&fi, "name"), fmp = fp_child(&fi, "mountPath");
		fld fsub = fp_child(f, "subPath");
		const char *name = jstr0(m, "name"), *mp = jstr0(m, "mountPath");

		if (!*name)
			err_required(causes, fn.s, NULL);
		if (!jhas(names, name))
			err_not_found(causes, fn.s, name);
		if (!*mp)
			err_required(causes, fmp.s, NULL);
		if (jhas(paths, mp))
			err_invalid(causes, fmp.s, mp, "must be unique");
		json_object_set_new(paths, mp, json_true());
		json_array_foreach(devices, j, d)
		{
			if (!strcmp(jstr0(d, "name"), name))
				err_invalid(causes, fn.s, name, "must not already exist in volumeDevices");
			if (!strcmp(jstr0(d, "devicePath"), mp))
				err_invalid(causes, fmp.s, mp,
					    "must not already exist as a path in volumeDevices");
		}
		if (*jstr0(m, "subPath"))
			validate_local_descending_path(jstr0(m, "subPath"), &fsub, causes);
	}
	json_decref(paths);
}

static void validate_volume_devices(const json_t *devices, const json_t *names, const fld *f,
				    json_t *causes)
{
	json_t *paths = json_object(), *seen = json_object();
	size_t i;
	json_t *d;

	json_array_foreach(devices, i, d)
	{
		fld fi = fp_index(f, i), fn = fp_child(&fi, "name"), fdp = fp_child(&fi, "devicePath");
		const char *name = jstr0(d, "name"), *dp = jstr0(d, "devicePath");
		const json_t *vol = jget(names, name);

		if (!*name)
			err_required(causes, fn.s, NULL);
		if (!vol)
			err_not_found(causes, fn.s, name);
		else if (!jhas(vol, "persistentVolumeClaim") && !jhas(vol, "ephemeral"))
			err_invalid(causes, fn.s, name,
				    "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode");
		if (jhas(seen, name))
			err_invalid(causes, fn.s, name, "must be unique");
		if (!*dp)
			err_required(causes, fdp.s, NULL);
		if (jhas(paths, dp))
			err_invalid(causes, fdp.s, dp, "must be unique");
		json_object_set_new(paths, dp, json_true());
		json_object_set_new(seen, name, json_true());
	}
	json_decref(paths);
	json_decref(seen);
}

static void validate_container_ports(const json_t *ports, const fld *f, json_t *causes)
{
	static const char *const protocols[] = { "SCTP", "TCP", "UDP", NULL };
	size_t i;
	json_t *p;

	json_array_foreach(ports, i, p)
	{
		fld fi = fp_index(f, i), fcp = fp_child(&fi, "containerPort");
		fld fpr = fp_child(&fi, "protocol"), fhp = fp_child(&fi, "hostPort");
		long long port = 0, host = 0;

		if (!jint(p, "containerPort", &port) || port == 0)
			err_required(causes, fcp.s, NULL);
		else if (port < 1 || port > 65535)
			err_invalid_int(causes, fcp.s, port, "must be between 1 and 65535, inclusive");
		if (jint(p, "hostPort", &host) && host != 0 && (host < 1 || host > 65535))
			err_invalid_int(causes, fhp.s, host, "must be between 1 and 65535, inclusive");
		if (!*jstr0(p, "protocol"))
			err_required(causes, fpr.s, NULL);
		else if (!in_list(jstr0(p, "protocol"), protocols))
			err_not_supported(causes, fpr.s, jstr0(p, "protocol"), protocols);
	}
}

/* Container resources: quantities, non-negative, requests within limits. */
static void validate_container_resources(const json_t *res, const fld *fres, json_t *causes)
{
	static const char *const rlists[] = { "limits", "requests", NULL };
	const json_t *lim = jobj(res, "limits"), *req = jobj(res, "requests");
	fld freq = fp_child(fres, "requests");
	const char *k;
	json_t *v;

	for (size_t l = 0; rlists[l]; l++) {
		fld fl = fp_child(fres, rlists[l]);
		const json_t *map = jobj(res, rlists[l]);

		json_object_foreach((json_t *)map, k, v)
		{
			fld fk = fp_key(&fl, k);
			dv_quantity q;

			if (quantity_member(map, k, &fk, &q, causes))
				quantity_nonnegative(&q, &fk, causes);
		}
	}
	json_object_foreach((json_t *)req, k, v)
	{
		const char *lv = jstr(lim, k);

		if (lv && json_is_string(v) && dv_quantity_valid(lv) &&
		    dv_quantity_valid(json_string_value(v)) &&
		    dv_quantity_cmp_str(json_string_value(v), lv) > 0) {
			fld fk = fp_key(&freq, k);
			dv_buf d;

			dv_buf_init(&d, 0);
			dv_buf_appendf(&d, "must be less than or equal to %s limit of %s", k, lv);
			err_invalid(causes, fk.s, json_string_value(v), d.data ? (char *)d.data : "");
			dv_buf_free(&d);
		}
	}
}

static void validate_container(const json_t *c, const json_t *names, const fld *f,
			       json_t *causes)
{
	static const char *const pulls[] = { "Always", "IfNotPresent", "Never", NULL };
	static const char *const tmps[] = { "File", "FallbackToLogsOnError", NULL };
	fld fn = fp_child(f, "name"), fi = fp_child(f, "image"), ftmp = fp_child(f, "terminationMessagePolicy");
	fld fpull = fp_child(f, "imagePullPolicy"), fports = fp_child(f, "ports");
	fld fvm = fp_child(f, "volumeMounts"), fvd = fp_child(f, "volumeDevices");
	fld fres = fp_child(f, "resources");
	const char *tmp = jstr0(c, "terminationMessagePolicy"), *pull = jstr0(c, "imagePullPolicy");

	if (!*jstr0(c, "name"))
		err_required(causes, fn.s, NULL);
	else
		invalid_each(causes, &fn, jstr0(c, "name"), is_dns1123_label);
	if (!*jstr0(c, "image"))
		err_required(causes, fi.s, NULL);
	if (!*tmp)
		err_required(causes, ftmp.s, NULL);
	else if (!in_list(tmp, tmps))
		err_not_supported(causes, ftmp.s, tmp, tmps);
	validate_container_ports(jarr(c, "ports"), &fports, causes);
	validate_volume_mounts(jarr(c, "volumeMounts"), jarr(c, "volumeDevices"), names, &fvm, causes);
	validate_volume_devices(jarr(c, "volumeDevices"), names, &fvd, causes);
	if (!*pull)
		err_required(causes, fpull.s, NULL);
	else if (!in_list(pull, pulls))
		err_not_supported(causes, fpull.s, pull, pulls);
	validate_container_resources(jobj(c, "resources"), &fres, causes);
}

static void validate_containers(const json_t *list, const json_t *names, const fld *f,
				json_t *all_names, bool required, json_t *causes)
{
	size_t i;
	json_t *c;

	if (required && jlen(list) == 0)
		err_required(causes, f->s, NULL);
	json_array_foreach(list, i, c)
	{
		fld fi = fp_index(f, i), fn = fp_child(&fi, "name");
		const char *name = jstr0(c, "name");

		validate_container(c, names, &fi, causes);
		if (*name && jhas(all_names, name))
			err_duplicate(causes, fn.s, name);
		else if (*name)
			json_object_set_new(all_names, name, json_true());
	}
}

static void validate_tolerations(const json_t *tols, const fld *f, json_t *causes)
{
	static const char *const effects[] = { "NoSchedule", "PreferNoSchedule", "NoExecute", NULL };
	static const char *const ops[] = { "Equal", "Exists", NULL };
	size_t i;
	json_t *t;

	json_array_foreach(tols, i, t)
	{
		fld fi = fp_index(f, i), fk = fp_child(&fi, "key"), fo = fp_child(&fi, "operator");
		fld fe = fp_child(&fi, "effect"), fv = fp_child(&fi, "value");
		const char *op = jstr0(t, "operator"), *eff = jstr0(t, "effect");

		if (*jstr0(t, "key"))
			invalid_each(causes, &fk, jstr0(t, "key"), is_qualified_name);
		if (!*jstr0(t, "key") && strcmp(op, "Exists"))
			err_invalid(causes, fo.s, op,
				    "operator must be Exists when `key` is empty, which means \"match all values and all keys\"");
		if (jhas(t, "tolerationSeconds") && strcmp(eff, "NoExecute"))
			err_invalid(causes, fe.s, eff,
				    "effect must be 'NoExecute' when `tolerationSeconds` is set");
		if (!*op || !strcmp(op, "Equal")) {
			invalid_each(causes, &fv, jstr0(t, "value"), is_label_value);
		} else if (!strcmp(op, "Exists")) {
			if (*jstr0(t, "value"))
				err_invalid(causes, fo.s, jstr0(t, "value"),
					    "value must be empty when `operator` is 'Exists'");
		} else {
			err_not_supported(causes, fo.s, op, ops);
		}
		if (*eff && !in_list(eff, effects))
			err_not_supported(causes, fe.s, eff, effects);
	}
}

static void validate_pod_spec(const json_t *spec, const json_t *podmeta, const fld *f,
			      json_t *causes)
{
	static const char *const restarts[] = { "Always", "OnFailure", "Never", NULL };
	static const char *const dns[] = { "ClusterFirstWithHostNet", "ClusterFirst", "Default",
					   "None", NULL };
	fld fv = fp_child(f, "volumes"), fc = fp_child(f, "containers");
	fld fic = fp_child(f, "initContainers"), frp = fp_child(f, "restartPolicy");
	fld fdp = fp_child(f, "dnsPolicy"), fns = fp_child(f, "nodeSelector");
	fld ftol = fp_child(f, "tolerations"), fads = fp_child(f, "activeDeadlineSeconds");
	fld ftgp = fp_child(f, "terminationGracePeriodSeconds"), fnn = fp_child(f, "nodeName");
	json_t *names = json_object(), *all = json_object();
	const char *rp = jstr0(spec, "restartPolicy"), *dp = jstr0(spec, "dnsPolicy");
	long long n;

	validate_pod_volumes(jarr(spec, "volumes"), podmeta, &fv, names, causes);
	validate_containers(jarr(spec, "containers"), names, &fc, all, true, causes);
	validate_containers(jarr(spec, "initContainers"), names, &fic, all, false, causes);
	if (!*rp)
		err_required(causes, frp.s, NULL);
	else if (!in_list(rp, restarts))
		err_not_supported(causes, frp.s, rp, restarts);
	if (!*dp)
		err_required(causes, fdp.s, NULL);
	else if (!in_list(dp, dns))
		err_not_supported(causes, fdp.s, dp, dns);
	validate_labels(jget(spec, "nodeSelector"), &fns, causes);
	validate_tolerations(jarr(spec, "tolerations"), &ftol, causes);
	if (jint(spec, "activeDeadlineSeconds", &n) && (n < 1 || n > 2147483647))
		err_invalid_int(causes, fads.s, n, "must be between 1 and 2147483647, inclusive");
	if (jint(spec, "terminationGracePeriodSeconds", &n) && n < 0)
		err_invalid_int(causes, ftgp.s, n, MSG_NEGATIVE);
	if (*jstr0(spec, "nodeName"))
		invalid_each(causes, &fnn, jstr0(spec, "nodeName"), subdomain_rule);
	json_decref(names);
	json_decref(all);
}

static void validate_pod(const json_t *obj, json_t *causes)
{
	fld f = fp("spec");

	validate_pod_spec(jobj(obj, "spec"), jobj(obj, "metadata"), &f, causes);
}

/* The fields a pod update may change, as upstream lists them. */
#define POD_UPDATABLE                                                                            \
	"`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`," \
	"`spec.tolerations` (only additions to existing tolerations),"                             \
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "       \
	"negative)"

static bool container_counts_match(const json_t *nspec, const json_t *ospec, const char *list,
				   json_t *causes)
{
	fld f = fp_child(&(fld){ "spec" }, list);
	size_t i;
	json_t *c;

	if (jlen(jarr(nspec, list)) != jlen(jarr(ospec, list))) {
		err_forbidden(causes, f.s, "pod updates may not add or remove containers");
		return false;
	}
	json_array_foreach(jarr(nspec, list), i, c)
	{
		fld fi = fp_index(&f, i), fim = fp_child(&fi, "image");
		const char *img = jstr0(c, "image");
		size_t n = strlen(img);

		if (!n)
			err_required(causes, fim.s, NULL);
		else if (isspace((unsigned char)img[0]) || isspace((unsigned char)img[n - 1]))
			err_invalid(causes, fim.s, img, "must not have leading or trailing whitespace");
	}
	return true;
}

/* validateOnlyAddedTolerations: every old toleration is still there (its
 * tolerationSeconds aside). */
static void validate_only_added_tolerations(const json_t *ntols, const json_t *otols,
					    json_t *causes)
{
	size_t i, j;
	json_t *o, *n;

	json_array_foreach(otols, i, o)
	{
		bool found = false;

		json_array_foreach(ntols, j, n)
		{
			json_t *a = jclone(o), *b = jclone(n);

			json_object_del(a, "tolerationSeconds");
			json_object_del(b, "tolerationSeconds");
			found |= json_equal(a, b);
			json_decref(a);
			json_decref(b);
		}
		if (!found) {
			err_forbidden(causes, "spec.tolerations",
				      "existing toleration can not be modified except its tolerationSeconds");
			return;
		}
	}
}

static void pod_copy_images(json_t *munged, const json_t *ospec, const char *list)
{
	size_t i;
	json_t *c;

	json_array_foreach(jarr(munged, list), i, c)
	{
		const json_t *oc = json_array_get(jarr(ospec, list), i);

		if (jhas(oc, "image"))
			json_object_set(c, "image", jget(oc, "image"));
		else
			json_object_del(c, "image");
	}
}

static void validate_pod_update(const dv_validate_env *env, const json_t *obj, const json_t *old,
				json_t *causes)
{
	const json_t *nspec = jobj(obj, "spec"), *ospec = jobj(old, "spec");
	json_t *munged, *oc;
	long long nads = 0, oads = 0, ntgp = 0, otgp = 0;
	bool has_nads = jint(nspec, "activeDeadlineSeconds", &nads);
	bool has_oads = jint(ospec, "activeDeadlineSeconds", &oads);

	if (!container_counts_match(nspec, ospec, "containers", causes) ||
	    !container_counts_match(nspec, ospec, "initContainers", causes))
		return;
	if (has_nads) {
		if (nads < 0 || nads > 2147483647) {
			err_invalid_int(causes, "spec.activeDeadlineSeconds", nads,
					"must be between 0 and 2147483647, inclusive");
			return;
		}
		if (has_oads && oads < nads) {
			err_invalid_int(causes, "spec.activeDeadlineSeconds", nads,
					"must be less than or equal to previous value");
			return;
		}
	} else if (has_oads) {
		err_invalid_raw(causes, "spec.activeDeadlineSeconds", "null",
				"must not update from a positive integer to nil value");
	}
	validate_only_added_tolerations(jarr(nspec, "tolerations"), jarr(ospec, "tolerations"), causes);

	munged = nspec ? json_deep_copy(nspec) : json_object();
	oc = ospec ? json_deep_copy(ospec) : json_object();
	pod_copy_images(munged, ospec, "containers");
	pod_copy_images(munged, ospec, "initContainers");
	json_object_del(munged, "activeDeadlineSeconds");
	if (has_oads)
		json_object_set(munged, "activeDeadlineSeconds", jget(ospec, "activeDeadlineSeconds"));
	json_object_del(munged, "tolerations");
	if (jhas(ospec, "tolerations"))
		json_object_set(munged, "tolerations", jget(ospec, "tolerations"));
	json_object_del(munged, "schedulingGates");
	if (jhas(ospec, "schedulingGates"))
		json_object_set(munged, "schedulingGates", jget(ospec, "schedulingGates"));
	if (jint(ospec, "terminationGracePeriodSeconds", &otgp) && otgp < 0 &&
	    jint(munged, "terminationGracePeriodSeconds", &ntgp) && ntgp == 1)
		json_object_set(munged, "terminationGracePeriodSeconds",
				jget(ospec, "terminationGracePeriodSeconds"));
	/* Gated pods may gain node selector entries. */
	if (jlen(jarr(ospec, "schedulingGates")) > 0 && jhas(ospec, "nodeSelector") == false)
		json_object_del(munged, "nodeSelector");
	jprune(munged);
	jprune(oc);
	if (!json_equal(munged, oc))
		err_forbidden(causes, "spec", "pod updates may not change fields other than " POD_UPDATABLE);
	json_decref(munged);
	json_decref(oc);
	(void)env;
}

static void validate_pod_status(const json_t *obj, const json_t *old, json_t *causes)
{
	static const char *const phases[] = { "Pending", "Running", "Succeeded", "Failed", "Unknown",
					      NULL };
	const json_t *st = jobj(obj, "status");
	const char *nn = jstr0(jobj(obj, "spec"), "nodeName");
	const char *on = jstr0(jobj(old, "spec"), "nodeName");

	if (jhas(st, "phase") && !in_list(jstr0(st, "phase"), phases))
		err_not_supported(causes, "status.phase", jstr0(st, "phase"), phases);
	if (*on && strcmp(nn, on))
		err_invalid(causes, "spec.nodeName", nn, MSG_IMMUTABLE);
}

/* ------------------------------------------------------------------ */
/* Secret, ConfigMap                                                    */
/* ------------------------------------------------------------------ */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
	const char *p = c ? strchr(b64_alphabet, c) : NULL;

	return p ? (int)(p - b64_alphabet) : -1;
}

/* Decoded length of standard padded base64, or -1 with the offset Go's
 * decoder reports in *bad ("illegal base64 data at input byte N"): the
 * first byte outside the alphabet, else the start of a short last group.
 * Go skips CR and LF; so does this. */
static long b64_decoded_len(const char *s, size_t *bad)
{
	size_t n = 0, pad = 0, len = strlen(s);

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			continue;
		if (s[i] == '=') {
			/* Padding ends the data: only '=' (and newlines) may follow. */
			pad++;
			if (pad > 2 || (n + pad) % 4 == 1 || (n + pad) % 4 == 2) {
				*bad = i;
				return -1;
			}
			continue;
		}
		if (pad || b64_value(s[i]) < 0) {
			*bad = i;
			return -1;
		}
		n++;
	}
	if ((n + pad) % 4 != 0) {
		*bad = (n + pad) - (n + pad) % 4;
		return -1;
	}
	return (long)((n + pad) / 4 * 3 - pad);
}

static char *b64_encode(const unsigned char *in, size_t n)
{
	size_t out_len = (n + 2) / 3 * 4;
	char *out = malloc(out_len + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
	}
	out[o] = 0;
	return out;
}

/* stringData is write-only: its entries replace data's, base64-encoded. */
static void default_secret(json_t *obj)
{
	json_t *sd = jobj(obj, "stringData");
	const char *k;
	json_t *v;

	jset_default_str(obj, "type", "Opaque");
	if (!sd)
		return;
	json_object_foreach(sd, k, v)
	{
		const char *s = json_is_string(v) ? json_string_value(v) : "";
		char *enc = b64_encode((const unsigned char *)s, strlen(s));

		if (enc)
			json_object_set_new(jobj_ensure(obj, "data"), k, json_string(enc));
		free(enc);
	}
	json_object_del(obj, "stringData");
}

static void validate_secret(const json_t *obj, json_t *causes)
{
	const json_t *data = jobj(obj, "data");
	const json_t *ann = jobj(jobj(obj, "metadata"), "annotations");
	const char *type = jstr0(obj, "type");
	fld fd = fp("data");
	long total = 0;
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)data, k, v)
	{
		fld fk = fp_key(&fd, k);
		size_t bad = 0;
		long n;

		invalid_each(causes, &fk, k, is_config_map_key);
		n = b64_decoded_len(json_is_string(v) ? json_string_value(v) : "", &bad);
		if (n < 0) {
			char d[96];

			snprintf(d, sizeof(d), "illegal base64 data at input byte %zu", bad);
			err_invalid_raw(causes, fk.s, "\"<secret contents redacted>\"", d);
		} else {
			total += n;
		}
	}
	if (total > MAX_SECRET_SIZE)
		err_too_long(causes, fd.s, MAX_SECRET_SIZE);
	if (!strcmp(type, "kubernetes.io/service-account-token")) {
		if (!*jstr0(ann, "kubernetes.io/service-account.name"))
			err_required(causes, "metadata.annotations[kubernetes.io/service-account.name]", NULL);
	} else if (!strcmp(type, "kubernetes.io/dockercfg")) {
		if (!jhas(data, ".dockercfg"))
			err_required(causes, "data[.dockercfg]", NULL);
	} else if (!strcmp(type, "kubernetes.io/dockerconfigjson")) {
		if (!jhas(data, ".dockerconfigjson"))
			err_required(causes, "data[.dockerconfigjson]", NULL);
	} else if (!strcmp(type, "kubernetes.io/basic-auth")) {
		if (!jhas(data, "username") && !jhas(data, "password")) {
			err_required(causes, "data[username]", NULL);
			err_required(causes, "data[password]", NULL);
		}
	} else if (!strcmp(type, "kubernetes.io/ssh-auth")) {
		if (!*jstr0(data, "ssh-privatekey"))
			err_required(causes, "data[ssh-privatekey]", NULL);
	} else if (!strcmp(type, "kubernetes.io/tls")) {
		if (!jhas(data, "tls.crt"))
			err_required(causes, "data[tls.crt]", NULL);
		if (!jhas(data, "tls.key"))
			err_required(causes, "data[tls.key]", NULL);
	}
}

#define MSG_IMMUTABLE_SET "field is immutable when `immutable` is set"

static void validate_secret_update(const dv_validate_env *env, const json_t *obj,
				   const json_t *old, json_t *causes)
{
	/* Secret data is never quoted: the type is, as upstream. */
	immutable_field(jget(obj, "type"), jget(old, "type"), "type", causes);
	if (jtrue(old, "immutable")) {
		if (!jtrue(obj, "immutable"))
			err_forbidden(causes, "immutable", MSG_IMMUTABLE_SET);
		if (!jequal_sem(jget(obj, "data"), jget(old, "data")))
			err_forbidden(causes, "data", MSG_IMMUTABLE_SET);
	}
	(void)env;
}

static void validate_configmap(const json_t *obj, json_t *causes)
{
	const json_t *data = jobj(obj, "data"), *bin = jobj(obj, "binaryData");
	fld fd = fp("data"), fb = fp("binaryData");
	long total = 0;
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)data, k, v)
	{
		fld fk = fp_key(&fd, k);

		invalid_each(causes, &fk, k, is_config_map_key);
		if (jhas(bin, k))
			err_invalid(causes, fk.s, k, "duplicate of key present in binaryData");
		total += json_is_string(v) ? (long)json_string_length(v) : 0;
	}
	json_object_foreach((json_t *)bin, k, v)
	{
		fld fk = fp_key(&fb, k);
		size_t bad = 0;
		long n = b64_decoded_len(json_is_string(v) ? json_string_value(v) : "", &bad);

		invalid_each(causes, &fk, k, is_config_map_key);
		if (n < 0) {
			char d[96];

			snprintf(d, sizeof(d), "illegal base64 data at input byte %zu", bad);
			err_invalid_json(causes, fk.s, v, d);
		} else {
			total += n;
		}
	}
	if (total > MAX_SECRET_SIZE)
		err_too_long(causes, "", MAX_SECRET_SIZE);
}

static void validate_configmap_update(const dv_validate_env *env, const json_t *obj,
				      const json_t *old, json_t *causes)
{
	if (jtrue(old, "immutable")) {
		if (!jtrue(obj, "immutable"))
			err_forbidden(causes, "immutable", MSG_IMMUTABLE_SET);
		if (!jequal_sem(jget(obj, "data"), jget(old, "data")))
			err_forbidden(causes, "data", MSG_IMMUTABLE_SET);
		if (!jequal_sem(jget(obj, "binaryData"), jget(old, "binaryData")))
			err_forbidden(causes, "binaryData", MSG_IMMUTABLE_SET);
	}
	(void)env;
}

/* ------------------------------------------------------------------ */
/* Namespace, Node, Event, Lease                                        */
/* ------------------------------------------------------------------ */

static void default_namespace(json_t *obj)
{
	json_t *spec = jobj_ensure(obj, "spec");
	json_t *md = jobj_ensure(obj, "metadata");
	const char *name = jstr(md, "name");

	jset_default_str(jobj_ensure(obj, "status"), "phase", "Active");
	if (!jhas(spec, "finalizers"))
		json_object_set_new(spec, "finalizers", json_pack("[s]", "kubernetes"));
	/* The immutable name label (SetDefaults_Namespace). */
	if (name && *name)
		json_object_set_new(jobj_ensure(md, "labels"), "kubernetes.io/metadata.name",
				    json_string(name));
}

static void validate_namespace(const json_t *obj, json_t *causes)
{
	size_t i;
	json_t *v;

	json_array_foreach(jarr(jobj(obj, "spec"), "finalizers"), i, v)
	{
		fld f = fp("spec.finalizers");

		validate_finalizer_name(json_is_string(v) ? json_string_value(v) : "", true, &f, causes);
	}
}

static void validate_namespace_status(const json_t *obj, const json_t *old, json_t *causes)
{
	static const char *const phases[] = { "Active", "Terminating", NULL };
	const json_t *st = jobj(obj, "status");

	if (jhas(st, "phase") && !in_list(jstr0(st, "phase"), phases))
		err_not_supported(causes, "status.phase", jstr0(st, "phase"), phases);
	(void)old;
}

static void default_node(json_t *obj)
{
	json_t *st = jobj(obj, "status");

	if (st && jobj(st, "capacity") && !jhas(st, "allocatable"))
		json_object_set_new(st, "allocatable", json_deep_copy(jobj(st, "capacity")));
}

static void validate_taints(const json_t *taints, const fld *f, json_t *causes)
{
	static const char *const effects[] = { "NoSchedule", "PreferNoSchedule", "NoExecute", NULL };
	json_t *seen = json_object();
	size_t i;
	json_t *t;

	json_array_foreach(taints, i, t)
	{
		fld fi = fp_index(f, i), fk = fp_child(&fi, "key"), fv = fp_child(&fi, "value");
		fld fe = fp_child(&fi, "effect");
		const char *key = jstr0(t, "key"), *eff = jstr0(t, "effect");
		char id[700];

		if (!*key)
			err_required(causes, fk.s, NULL);
		else
			invalid_each(causes, &fk, key, is_qualified_name);
		invalid_each(causes, &fv, jstr0(t, "value"), is_label_value);
		if (!*eff)
			err_required(causes, fe.s, NULL);
		else if (!in_list(eff, effects))
			err_not_supported(causes, fe.s, eff, effects);
		snprintf(id, sizeof(id), "%s:%s", key, eff);
		if (jhas(seen, id))
			err_duplicate(causes, f->s, id);
		json_object_set_new(seen, id, json_true());
	}
	json_decref(seen);
}

static void validate_node(const json_t *obj, json_t *causes)
{
	fld f = fp("spec.taints");

	validate_taints(jarr(jobj(obj, "spec"), "taints"), &f, causes);
}

static void validate_node_update(const dv_validate_env *env, const json_t *obj,
				 const json_t *old, json_t *causes)
{
	const json_t *ns = jobj(obj, "spec"), *os = jobj(old, "spec");

	if (jhas(os, "podCIDRs") && !jequal_sem(jget(ns, "podCIDRs"), jget(os, "podCIDRs")))
		err_forbidden(causes, "spec.podCIDRs",
			      "node updates may not change podCIDR except from \"\" to valid");
	if (*jstr0(os, "providerID") && strcmp(jstr0(ns, "providerID"), jstr0(os, "providerID")))
		err_forbidden(causes, "spec.providerID",
			      "node updates may not change providerID except from \"\" to valid");
	(void)env;
}

/* core/v1 Event: the legacy rules (pkg/apis/core/validation events.go). */
static void validate_event(const json_t *obj, json_t *causes)
{
	const json_t *io = jobj(obj, "involvedObject");
	const char *ns = jstr0(jobj(obj, "metadata"), "namespace");
	const char *ions = jstr0(io, "namespace");
	msgs ms = { 0 };

	if (!jhas(obj, "eventTime")) {
		if (!*ions ? (*ns && strcmp(ns, "default")) : strcmp(ns, ions))
			err_invalid(causes, "involvedObject.namespace", ions, "does not match event.namespace");
	} else {
		const char *rc = jstr0(obj, "reportingComponent");

		if (!*ions && strcmp(ns, "default") && strcmp(ns, "kube-system"))
			err_invalid(causes, "involvedObject.namespace", ions, "does not match event.namespace");
		if (!*rc)
			err_required(causes, "reportingComponent", NULL);
		else {
			fld f = fp("reportingComponent");

			invalid_each(causes, &f, rc, is_qualified_name);
		}
		if (!*jstr0(obj, "reportingInstance"))
			err_required(causes, "reportingInstance", NULL);
		else if (strlen(jstr0(obj, "reportingInstance")) > 128)
			err_invalid(causes, "reportingInstance", "", "can have at most 128 characters");
		if (!*jstr0(obj, "action"))
			err_required(causes, "action", NULL);
		else if (strlen(jstr0(obj, "action")) > 128)
			err_invalid(causes, "action", "", "can have at most 128 characters");
		if (!*jstr0(obj, "reason"))
			err_required(causes, "reason", NULL);
		else if (strlen(jstr0(obj, "reason")) > 128)
			err_invalid(causes, "reason", "", "can have at most 128 characters");
		if (strlen(jstr0(obj, "message")) > 1024)
			err_invalid(causes, "message", "", "can have at most 1024 characters");
	}
	is_dns1123_subdomain(ns, &ms);
	msgs_to_invalid(causes, "namespace", ns, &ms);
}

static void validate_lease(const json_t *obj, json_t *causes)
{
	const json_t *spec = jobj(obj, "spec");
	long long n;

	if (jint(spec, "leaseDurationSeconds", &n) && n <= 0)
		err_invalid_int(causes, "spec.leaseDurationSeconds", n, "must be greater than 0");
	if (jint(spec, "leaseTransitions", &n) && n < 0)
		err_invalid_int(causes, "spec.leaseTransitions", n, "must be greater than or equal to 0");
}

/* ------------------------------------------------------------------ */
/* storage.k8s.io                                                       */
/* ------------------------------------------------------------------ */

#define MAX_PARAMETERS_SIZE (256 * 1024)
#define MAX_PARAMETERS 512

static void default_storage_class(json_t *obj)
{
	jset_default_str(obj, "reclaimPolicy", "Delete");
	jset_default_str(obj, "volumeBindingMode", "Immediate");
}

/* validateProvisioner: required, and a qualified name case-insensitively. */
static void validate_provisioner(const char *prov, const char *field, json_t *causes)
{
	char lower[1024];
	size_t i;
	fld f = fp(field);

	if (!*prov) {
		err_required(causes, field, NULL);
		return;
	}
	for (i = 0; prov[i] && i < sizeof(lower) - 1; i++)
		lower[i] = (char)tolower((unsigned char)prov[i]);
	lower[i] = 0;
	invalid_each(causes, &f, lower, is_qualified_name);
}

static void validate_parameters(const json_t *params, bool allow_empty, json_t *causes)
{
	const char *k;
	json_t *v;
	size_t total = 0;

	if (jlen(params) > MAX_PARAMETERS) {
		err_too_long(causes, "parameters", MAX_PARAMETERS);
		return;
	}
	json_object_foreach((json_t *)params, k, v)
	{
		if (!*k)
			err_invalid(causes, "parameters", k, "field can not be empty.");
		total += strlen(k) + (json_is_string(v) ? json_string_length(v) : 0);
	}
	if (total > MAX_PARAMETERS_SIZE)
		err_too_long(causes, "parameters", MAX_PARAMETERS_SIZE);
	if (!allow_empty && jlen(params) == 0)
		err_required(causes, "parameters", "must contain at least one key/value pair");
}

static void validate_allowed_topologies(const json_t *terms, json_t *causes)
{
	fld f = fp("allowedTopologies");
	json_t *seen_terms = json_array();
	size_t i, j, k;
	json_t *t, *e, *v;

	json_array_foreach(terms, i, t)
	{
		fld fi = fp_index(&f, i), fmle = fp_child(&fi, "matchLabelExpressions");
		json_t *exprs = json_object();

		json_array_foreach(jarr(t, "matchLabelExpressions"), j, e)
		{
			fld fe = fp_index(&fmle, j), fv = fp_child(&fe, "values"), fk = fp_child(&fe, "key");
			json_t *vals = json_object();
			const char *key = jstr0(e, "key");

			if (jlen(jarr(e, "values")) == 0)
				err_required(causes, fv.s, NULL);
			json_array_foreach(jarr(e, "values"), k, v)
			{
				const char *s = json_is_string(v) ? json_string_value(v) : "";

				if (jhas(vals, s)) {
					fld fvi = fp_index(&fv, k);

					err_duplicate(causes, fvi.s, s);
				}
				json_object_set_new(vals, s, json_true());
			}
			invalid_each(causes, &fk, key, is_qualified_name);
			if (jhas(exprs, key))
				err_duplicate(causes, fk.s, key);
			json_object_set_new(exprs, key, vals);
		}
		json_array_foreach(seen_terms, j, v)
			if (json_equal(v, exprs))
				err_duplicate(causes, fmle.s, "");
		json_array_append_new(seen_terms, exprs);
	}
	json_decref(seen_terms);
}

static void validate_storage_class(const json_t *obj, json_t *causes)
{
	static const char *const policies[] = { "Delete", "Retain", NULL };
	static const char *const modes[] = { "Immediate", "WaitForFirstConsumer", NULL };
	const char *rp = jstr0(obj, "reclaimPolicy");

	validate_provisioner(jstr0(obj, "provisioner"), "provisioner", causes);
	validate_parameters(jobj(obj, "parameters"), true, causes);
	if (*rp && !in_list(rp, policies))
		err_not_supported(causes, "reclaimPolicy", rp, policies);
	if (!jhas(obj, "volumeBindingMode"))
		err_required(causes, "volumeBindingMode", NULL);
	else if (!in_list(jstr0(obj, "volumeBindingMode"), modes))
		err_not_supported(causes, "volumeBindingMode", jstr0(obj, "volumeBindingMode"), modes);
	validate_allowed_topologies(jarr(obj, "allowedTopologies"), causes);
}

static void validate_storage_class_update(const dv_validate_env *env, const json_t *obj,
					  const json_t *old, json_t *causes)
{
	if (!jequal_sem(jget(obj, "parameters"), jget(old, "parameters")))
		err_forbidden(causes, "parameters", "updates to parameters are forbidden.");
	if (strcmp(jstr0(obj, "provisioner"), jstr0(old, "provisioner")))
		err_forbidden(causes, "provisioner", "updates to provisioner are forbidden.");
	if (strcmp(jstr0(obj, "reclaimPolicy"), jstr0(old, "reclaimPolicy")))
		err_forbidden(causes, "reclaimPolicy", "updates to reclaimPolicy are forbidden.");
	immutable_field(jget(obj, "volumeBindingMode"), jget(old, "volumeBindingMode"),
			"volumeBindingMode", causes);
	(void)env;
}

static void default_csi_driver(json_t *obj)
{
	json_t *spec = jobj_ensure(obj, "spec");

	jset_default_bool(spec, "attachRequired", true);
	jset_default_bool(spec, "podInfoOnMount", false);
	jset_default_bool(spec, "storageCapacity", false);
	jset_default_bool(spec, "requiresRepublish", false);
	jset_default_bool(spec, "seLinuxMount", false);
	jset_default_str(spec, "fsGroupPolicy", "ReadWriteOnceWithFSType");
	if (!jhas(spec, "volumeLifecycleModes"))
		json_object_set_new(spec, "volumeLifecycleModes", json_pack("[s]", "Persistent"));
}

static void validate_csi_driver(const json_t *obj, json_t *causes)
{
	static const char *const fsgp[] = { "File", "None", "ReadWriteOnceWithFSType", NULL };
	static const char *const lcm[] = { "Persistent", "Ephemeral", NULL };
	const json_t *spec = jobj(obj, "spec");
	json_t *auds = json_object();
	size_t i;
	json_t *v;

	if (!json_is_boolean(jget(spec, "attachRequired")))
		err_required(causes, "spec.attachedRequired", NULL);
	if (!json_is_boolean(jget(spec, "podInfoOnMount")))
		err_required(causes, "spec.podInfoOnMount", NULL);
	if (!json_is_boolean(jget(spec, "storageCapacity")))
		err_required(causes, "spec.storageCapacity", NULL);
	if (jhas(spec, "fsGroupPolicy") && !in_list(jstr0(spec, "fsGroupPolicy"), fsgp))
		err_not_supported(causes, "spec.fsGroupPolicy", jstr0(spec, "fsGroupPolicy"), fsgp);
	json_array_foreach(jarr(spec, "tokenRequests"), i, v)
	{
		fld f = fp_index(&(fld){ "spec.tokenRequests" }, i);
		fld fa = fp_child(&f, "audience"), fe = fp_child(&f, "expirationSeconds");
		const char *aud = jstr0(v, "audience");
		long long exp;

		if (jhas(auds, aud)) {
			err_duplicate(causes, fa.s, aud);
			continue;
		}
		json_object_set_new(auds, aud, json_true());
		if (!jint(v, "expirationSeconds", &exp))
			continue;
		if (exp < 600)
			err_invalid_int(causes, fe.s, exp, "may not specify a duration less than 10 minutes");
		if (exp > (1LL << 32))
			err_invalid_int(causes, fe.s, exp, "may not specify a duration larger than 2^32 seconds");
	}
	json_decref(auds);
	json_array_foreach(jarr(spec, "volumeLifecycleModes"), i, v)
	{
		const char *m = json_is_string(v) ? json_string_value(v) : "";

		if (!in_list(m, lcm))
			err_not_supported(causes, "spec.volumeLifecycleModes", m, lcm);
	}
	if (!json_is_boolean(jget(spec, "seLinuxMount")))
		err_required(causes, "spec.seLinuxMount", NULL);
}

static void validate_csi_driver_update(const dv_validate_env *env, const json_t *obj,
				       const json_t *old, json_t *causes)
{
	const json_t *ns = jobj(obj, "spec"), *os = jobj(old, "spec");

	immutable_field(jget(ns, "attachRequired"), jget(os, "attachRequired"),
			"spec.attachedRequired", causes);
	immutable_field(jget(ns, "volumeLifecycleModes"), jget(os, "volumeLifecycleModes"),
			"spec.volumeLifecycleModes", causes);
	(void)env;
}

static void validate_csi_node(const json_t *obj, json_t *causes)
{
	fld f = fp("spec.drivers");
	json_t *names = json_object();
	size_t i, j;
	json_t *d, *k;

	json_array_foreach(jarr(jobj(obj, "spec"), "drivers"), i, d)
	{
		fld fi = fp_index(&f, i), fn = fp_child(&fi, "name"), fid = fp_child(&fi, "nodeID");
		fld fc = fp_child(&fi, "allocatable"), fcc = fp_child(&fc, "count");
		const char *name = jstr0(d, "name"), *id = jstr0(d, "nodeID");
		json_t *keys = json_object();
		long long count;

		validate_csi_driver_name(name, &fn, causes);
		if (!*id)
			err_required(causes, fid.s, NULL);
		if (strlen(id) > 192)
			err_invalid(causes, fid.s, id, "must be 192 characters or less");
		if (jint(jobj(d, "allocatable"), "count", &count) && count < 0)
			err_invalid_int(causes, fcc.s, count, MSG_NEGATIVE);
		if (jhas(names, name))
			err_duplicate(causes, fn.s, name);
		json_object_set_new(names, name, json_true());
		json_array_foreach(jarr(d, "topologyKeys"), j, k)
		{
			const char *key = json_is_string(k) ? json_string_value(k) : "";

			if (!*key)
				err_required(causes, fi.s, NULL);
			if (jhas(keys, key))
				err_duplicate(causes, fi.s, key);
			json_object_set_new(keys, key, json_true());
			invalid_each(causes, &fi, key, is_qualified_name);
		}
		json_decref(keys);
	}
	json_decref(names);
}

static void validate_csi_node_update(const dv_validate_env *env, const json_t *obj,
				     const json_t *old, json_t *causes)
{
	size_t i, j;
	json_t *o, *n;

	json_array_foreach(jarr(jobj(old, "spec"), "drivers"), i, o)
		json_array_foreach(jarr(jobj(obj, "spec"), "drivers"), j, n)
			if (!strcmp(jstr0(o, "name"), jstr0(n, "name")))
				immutable_field(n, o, "spec.drivers", causes);
	(void)env;
}

static void validate_volume_attachment(const json_t *obj, json_t *causes)
{
	const json_t *spec = jobj(obj, "spec"), *src = jobj(spec, "source");
	const json_t *st = jobj(obj, "status");
	const char *att = jstr0(spec, "attacher");
	bool pv = jhas(src, "persistentVolumeName"), inl = jhas(src, "inlineVolumeSpec");
	fld fatt = fp("spec.attacher"), fnn = fp("spec.nodeName");
	static const char *const errs[] = { "attachError", "detachError", NULL };
	const char *k;
	json_t *v;
	size_t meta = 0;

	if (!*att)
		err_required(causes, fatt.s, NULL);
	if (!pv && !inl) {
		err_required(causes, "spec.source",
			     "must specify exactly one of inlineVolumeSpec and persistentVolumeName");
	} else if (pv && inl) {
		err_forbidden(causes, "spec.source",
			      "must specify exactly one of inlineVolumeSpec and persistentVolumeName");
	} else if (pv) {
		if (!*jstr0(src, "persistentVolumeName"))
			err_required(causes, "spec.source.persistentVolumeName",
				     "must specify non empty persistentVolumeName");
	} else {
		fld fi = fp("spec.source.inlineVolumeSpec");

		validate_pv_spec(jobj(src, "inlineVolumeSpec"), true, &fi, causes);
	}
	invalid_each(causes, &fnn, jstr0(spec, "nodeName"), subdomain_rule);
	json_object_foreach(jobj(st, "attachmentMetadata"), k, v)
		meta += strlen(k) + (json_is_string(v) ? json_string_length(v) : 0);
	if (meta > MAX_PARAMETERS_SIZE)
		err_too_long(causes, "status.attachmentMetadata", MAX_PARAMETERS_SIZE);
	for (size_t e = 0; errs[e]; e++) {
		const json_t *ve = jobj(st, errs[e]);
		char path[64];

		snprintf(path, sizeof(path), "status.%s.message", errs[e]);
		if (strlen(jstr0(ve, "message")) > 1024)
			err_too_long(causes, path, MAX_PARAMETERS_SIZE);
	}
	/* v1 only: the attacher is a CSI driver name, the PV name a subdomain. */
	validate_csi_driver_name(att, &fatt, causes);
	if (pv) {
		fld fpv = fp("spec.source.persistentVolumeName");

		invalid_each(causes, &fpv, jstr0(src, "persistentVolumeName"), subdomain_rule);
	}
}

/* Go's %#v of a VolumeAttachmentSpec, as the immutability error prints it
 * (pointers shown by their target, not their address). */
static void render_va_spec(dv_buf *b, const json_t *spec)
{
	const json_t *src = jobj(spec, "source");

	dv_buf_appends(b, "storage.VolumeAttachmentSpec{Attacher:");
	go_quote(b, jstr0(spec, "attacher"));
	dv_buf_appends(b, ", Source:storage.VolumeAttachmentSource{PersistentVolumeName:");
	if (jhas(src, "persistentVolumeName"))
		go_quote(b, jstr0(src, "persistentVolumeName"));
	else
		dv_buf_appends(b, "(*string)(nil)");
	dv_buf_appends(b, ", InlineVolumeSpec:");
	dv_buf_appends(b, jhas(src, "inlineVolumeSpec") ? "&core.PersistentVolumeSpec{...}"
							 : "(*core.PersistentVolumeSpec)(nil)");
	dv_buf_appends(b, "}, NodeName:");
	go_quote(b, jstr0(spec, "nodeName"));
	dv_buf_appends(b, "}");
}

static void validate_volume_attachment_update(const dv_validate_env *env, const json_t *obj,
					      const json_t *old, json_t *causes)
{
	if (!jequal_sem(jget(obj, "spec"), jget(old, "spec"))) {
		dv_buf b;

		dv_buf_init(&b, 64 * 1024);
		render_va_spec(&b, jobj(obj, "spec"));
		err_invalid_raw(causes, "spec", (char *)b.data, MSG_IMMUTABLE);
		dv_buf_free(&b);
	}
	(void)env;
}

static void validate_csi_storage_capacity(const json_t *obj, json_t *causes)
{
	fld fnt = fp("nodeTopology"), fsc = fp("storageClassName"), fcap = fp("capacity");
	dv_quantity q;

	validate_label_selector(jobj(obj, "nodeTopology"), &fnt, causes);
	invalid_each(causes, &fsc, jstr0(obj, "storageClassName"), subdomain_rule);
	if (jhas(obj, "capacity") && quantity_member(obj, "capacity", &fcap, &q, causes))
		quantity_nonnegative(&q, &fcap, causes);
	if (jhas(obj, "maximumVolumeSize")) {
		fld fm = fp("maximumVolumeSize");

		if (quantity_member(obj, "maximumVolumeSize", &fm, &q, causes))
			quantity_nonnegative(&q, &fm, causes);
	}
}

static void validate_csi_storage_capacity_update(const dv_validate_env *env, const json_t *obj,
						 const json_t *old, json_t *causes)
{
	immutable_field(jget(obj, "nodeTopology"), jget(old, "nodeTopology"), "nodeTopology", causes);
	if (strcmp(jstr0(obj, "storageClassName"), jstr0(old, "storageClassName")))
		err_invalid(causes, "storageClassName", jstr0(obj, "storageClassName"), MSG_IMMUTABLE);
	(void)env;
}

static void validate_vac(const json_t *obj, json_t *causes)
{
	validate_provisioner(jstr0(obj, "driverName"), "driverName", causes);
	validate_parameters(jobj(obj, "parameters"), false, causes);
}

static void validate_vac_update(const dv_validate_env *env, const json_t *obj, const json_t *old,
				json_t *causes)
{
	if (strcmp(jstr0(obj, "driverName"), jstr0(old, "driverName")))
		err_forbidden(causes, "driverName", "updates to driverName are forbidden.");
	if (!jequal_sem(jget(obj, "parameters"), jget(old, "parameters")))
		err_forbidden(causes, "parameters", "updates to parameters are forbidden.");
	(void)env;
}

/* ------------------------------------------------------------------ */
/* snapshot.storage.k8s.io (external-snapshotter v8 CRD schemas)         */
/* ------------------------------------------------------------------ */

/* A CEL rule's error: the value is the node's type name. */
static void err_cel(json_t *causes, const char *field, const char *type, const char *msg)
{
	char t[32];

	snprintf(t, sizeof(t), "\"%s\"", type);
	err_invalid_raw(causes, field, t, msg);
}

static const char *const deletion_policies[] = { "Delete", "Retain", NULL };

static void validate_snapshot(const json_t *obj, json_t *causes)
{
	const json_t *spec = jobj(obj, "spec"), *src = jobj(spec, "source");
	bool pvc = jhas(src, "persistentVolumeClaimName");
	bool vsc = jhas(src, "volumeSnapshotContentName");

	if (!spec) {
		err_required(causes, "spec", NULL);
		return;
	}
	if (!src) {
		err_required(causes, "spec.source", NULL);
	} else if (pvc == vsc) {
		err_cel(causes, "spec.source", "object",
			"exactly one of volumeSnapshotContentName and persistentVolumeClaimName must be set");
	}
	if (jhas(spec, "volumeSnapshotClassName") && !*jstr0(spec, "volumeSnapshotClassName"))
		err_cel(causes, "spec.volumeSnapshotClassName", "string",
			"volumeSnapshotClassName must not be the empty string when set");
}

/* The transition rules of a snapshot source: each member immutable, and
 * required once set. */
static void snapshot_source_transitions(const json_t *src, const json_t *osrc, const char *field,
					const char *const *members, const char *const *immut_msgs,
					json_t *causes)
{
	for (size_t i = 0; members[i]; i++) {
		char path[128];

		snprintf(path, sizeof(path), "%s.%s", field, members[i]);
		if (jhas(osrc, members[i]) && !jhas(src, members[i])) {
			char msg[128];

			snprintf(msg, sizeof(msg), "%s is required once set", members[i]);
			err_cel(causes, field, "object", msg);
		} else if (jhas(osrc, members[i]) && jhas(src, members[i]) &&
			   !json_equal(jget(src, members[i]), jget(osrc, members[i]))) {
			err_cel(causes, path, "string", immut_msgs[i]);
		}
	}
}

static void validate_snapshot_update(const dv_validate_env *env, const json_t *obj,
				     const json_t *old, json_t *causes)
{
	static const char *const members[] = { "persistentVolumeClaimName",
					       "volumeSnapshotContentName", NULL };
	static const char *const immut[] = { "persistentVolumeClaimName is immutable",
					     "volumeSnapshotContentName is immutable", NULL };

	snapshot_source_transitions(jobj(jobj(obj, "spec"), "source"),
				    jobj(jobj(old, "spec"), "source"), "spec.source", members, immut,
				    causes);
	(void)env;
}

static void validate_snapshot_content(const json_t *obj, json_t *causes)
{
	const json_t *spec = jobj(obj, "spec"), *src = jobj(spec, "source");
	const json_t *ref = jobj(spec, "volumeSnapshotRef");
	const char *dp = jstr(spec, "deletionPolicy");

	if (!spec) {
		err_required(causes, "spec", NULL);
		return;
	}
	if (!dp)
		err_required(causes, "spec.deletionPolicy", NULL);
	else if (!in_list(dp, deletion_policies))
		err_not_supported(causes, "spec.deletionPolicy", dp, deletion_policies);
	if (!jstr(spec, "driver"))
		err_required(causes, "spec.driver", NULL);
	if (!src)
		err_required(causes, "spec.source", NULL);
	else if (jhas(src, "volumeHandle") == jhas(src, "snapshotHandle"))
		err_cel(causes, "spec.source", "object",
			"exactly one of volumeHandle and snapshotHandle must be set");
	if (!ref)
		err_required(causes, "spec.volumeSnapshotRef", NULL);
	else if (!jhas(ref, "name") || !jhas(ref, "namespace"))
		err_cel(causes, "spec.volumeSnapshotRef", "object",
			"both spec.volumeSnapshotRef.name and spec.volumeSnapshotRef.namespace must be set");
	if (jhas(spec, "volumeSnapshotClassName") && !*jstr0(spec, "volumeSnapshotClassName"))
		err_cel(causes, "spec.volumeSnapshotClassName", "string",
			"volumeSnapshotClassName must not be the empty string when set");
}

static void validate_snapshot_content_update(const dv_validate_env *env, const json_t *obj,
					     const json_t *old, json_t *causes)
{
	static const char *const members[] = { "volumeHandle", "snapshotHandle", NULL };
	static const char *const immut[] = { "Spec.Source.VolumeHandle is immutable",
					     "Spec.Source.SnapshotHandle is immutable", NULL };
	const json_t *ns = jobj(obj, "spec"), *os = jobj(old, "spec");

	snapshot_source_transitions(jobj(ns, "source"), jobj(os, "source"), "spec.source", members,
				    immut, causes);
	if (jhas(os, "sourceVolumeMode") && !jhas(ns, "sourceVolumeMode"))
		err_cel(causes, "spec", "object", "sourceVolumeMode is required once set");
	else if (jhas(os, "sourceVolumeMode") &&
		 !json_equal(jget(ns, "sourceVolumeMode"), jget(os, "sourceVolumeMode")))
		err_cel(causes, "spec.sourceVolumeMode", "string", "Spec.sourceVolumeMode is immutable");
	(void)env;
}

static void validate_snapshot_class(const json_t *obj, json_t *causes)
{
	const char *dp = jstr(obj, "deletionPolicy");

	if (!jstr(obj, "driver"))
		err_required(causes, "driver", NULL);
	if (!dp)
		err_required(causes, "deletionPolicy", NULL);
	else if (!in_list(dp, deletion_policies))
		err_not_supported(causes, "deletionPolicy", dp, deletion_policies);
}

/* ------------------------------------------------------------------ */
/* apiextensions.k8s.io CustomResourceDefinition                        */
/* ------------------------------------------------------------------ */

static void default_crd(json_t *obj)
{
	json_t *spec = jobj_ensure(obj, "spec");
	json_t *names = jobj(spec, "names");
	const char *kind = jstr(names, "kind");
	size_t i;
	json_t *v;

	if (names && kind && *kind) {
		if (!*jstr0(names, "singular")) {
			char lower[256];
			size_t n;

			for (n = 0; kind[n] && n < sizeof(lower) - 1; n++)
				lower[n] = (char)tolower((unsigned char)kind[n]);
			lower[n] = 0;
			json_object_set_new(names, "singular", json_string(lower));
		}
		if (!*jstr0(names, "listKind")) {
			char lk[300];

			snprintf(lk, sizeof(lk), "%sList", kind);
			json_object_set_new(names, "listKind", json_string(lk));
		}
	}
	if (!jhas(spec, "conversion"))
		json_object_set_new(spec, "conversion", json_pack("{s:s}", "strategy", "None"));
	/* PrepareForCreate/Update: the storage version is recorded as stored. */
	json_array_foreach(jarr(spec, "versions"), i, v)
	{
		json_t *st, *stored;
		size_t j;
		json_t *s;
		bool found = false;

		if (!jtrue(v, "storage") || !jstr(v, "name"))
			continue;
		st = jobj_ensure(obj, "status");
		stored = jarr(st, "storedVersions");
		if (!stored) {
			stored = json_array();
			json_object_set_new(st, "storedVersions", stored);
		}
		json_array_foreach(stored, j, s)
			found |= json_equal(s, jget(v, "name"));
		if (!found)
			json_array_append(stored, jget(v, "name"));
		break;
	}
}

/* Go's %#v of spec.versions, as upstream prints it (abridged to names). */
static void render_crd_versions(dv_buf *b, const json_t *versions)
{
	size_t i;
	json_t *v;

	if (jlen(versions) == 0) {
		dv_buf_appends(b, "[]apiextensions.CustomResourceDefinitionVersion(nil)");
		return;
	}
	dv_buf_appends(b, "[]apiextensions.CustomResourceDefinitionVersion{");
	json_array_foreach(versions, i, v)
	{
		dv_buf_appends(b, i ? ", " : "");
		dv_buf_appends(b, "apiextensions.CustomResourceDefinitionVersion{Name:");
		go_quote(b, jstr0(v, "name"));
		dv_buf_appendf(b, ", Served:%s, Storage:%s, ...}", jtrue(v, "served") ? "true" : "false",
			       jtrue(v, "storage") ? "true" : "false");
	}
	dv_buf_appends(b, "}");
}

static void err_crd_versions(json_t *causes, const json_t *versions, const char *detail)
{
	dv_buf b;

	dv_buf_init(&b, 64 * 1024);
	render_crd_versions(&b, versions);
	err_invalid_raw(causes, "spec.versions", (char *)b.data, detail);
	dv_buf_free(&b);
}

/* IsDNS1035Label messages joined with "," as the CRD validation does;
 * empty values are skipped unless `check_empty` (version names). */
static void crd_name_check(const char *value, bool lower_first, const char *field,
			   const char *prefix, bool check_empty, json_t *causes)
{
	char low[256], joined[2048];
	msgs ms = { 0 };
	size_t i, off;

	if (!*value && !check_empty)
		return;
	for (i = 0; value[i] && i < sizeof(low) - 1; i++)
		low[i] = lower_first ? (char)tolower((unsigned char)value[i]) : value[i];
	low[i] = 0;
	is_dns1035_label(low, &ms);
	if (!ms.n)
		return;
	off = (size_t)snprintf(joined, sizeof(joined), "%s", prefix);
	for (int m = 0; m < ms.n && off < sizeof(joined); m++)
		off += (size_t)snprintf(joined + off, sizeof(joined) - off, "%s%s", m ? "," : "",
					ms.m[m]);
	err_invalid(causes, field, value, joined);
}

/* Messages joined with "," (how the CRD validation reports a name rule). */
static void join_msgs(const msgs *ms, char *out, size_t len)
{
	size_t off = 0;

	out[0] = 0;
	for (int m = 0; m < ms->n && off < len; m++)
		off += (size_t)snprintf(out + off, len - off, "%s%s", m ? "," : "", ms->m[m]);
}

static void validate_crd_group(const char *group, json_t *causes)
{
	char joined[MSGS_MAX * 640 + 8];
	msgs ms = { 0 };

	if (!*group) {
		err_required(causes, "spec.group", NULL);
		return;
	}
	is_dns1123_subdomain(group, &ms);
	join_msgs(&ms, joined, sizeof(joined));
	if (ms.n)
		err_invalid(causes, "spec.group", group, joined);
	else if (!strchr(group, '.'))
		err_invalid(causes, "spec.group", group, "should be a domain with at least one dot");
}

/* Version names, unique, one storage version, and a schema each. */
static void validate_crd_versions(const json_t *versions, json_t *causes)
{
	json_t *seen = json_object();
	bool unique = true;
	int storage = 0;
	size_t i;
	json_t *v;

	json_array_foreach(versions, i, v)
	{
		fld fv = fp_index(&(fld){ "spec.versions" }, i);
		fld fn = fp_child(&fv, "name");
		fld fs = fp_child(&fv, "schema"), fo = fp_child(&fs, "openAPIV3Schema");
		const char *name = jstr0(v, "name");

		storage += jtrue(v, "storage");
		if (jhas(seen, name))
			unique = false;
		json_object_set_new(seen, name, json_true());
		crd_name_check(name, false, fn.s, "", true, causes);
		/* apiextensions/v1 requires a schema per version. Its structural
		 * checks are dv_schema_check's (schema.h): the API server runs it
		 * on jobj(jobj(v, "schema"), "openAPIV3Schema") with field prefix
		 * fo.s ("spec.versions[i].schema.openAPIV3Schema") after this. */
		if (!jobj(jobj(v, "schema"), "openAPIV3Schema"))
			err_required(causes, fo.s, "schemas are required");
	}
	json_decref(seen);
	if (!unique)
		err_crd_versions(causes, versions, "must contain unique version names");
	if (storage != 1)
		err_crd_versions(causes, versions, "must have exactly one version marked as storage version");
}

static void validate_crd_names(const json_t *names, json_t *causes)
{
	static const char *const mixed = "may have mixed case, but should otherwise match: ";
	static const char *const required[] = { "plural", "singular", "kind", "listKind", NULL };
	size_t i;
	json_t *v;

	for (i = 0; required[i]; i++) {
		char path[64];

		snprintf(path, sizeof(path), "spec.names.%s", required[i]);
		if (!*jstr0(names, required[i]))
			err_required(causes, path, NULL);
	}
	crd_name_check(jstr0(names, "plural"), false, "spec.names.plural", "", false, causes);
	crd_name_check(jstr0(names, "singular"), false, "spec.names.singular", "", false, causes);
	crd_name_check(jstr0(names, "kind"), true, "spec.names.kind", mixed, false, causes);
	crd_name_check(jstr0(names, "listKind"), true, "spec.names.listKind", mixed, false, causes);
	json_array_foreach(jarr(names, "shortNames"), i, v)
	{
		fld f = fp_index(&(fld){ "spec.names.shortNames" }, i);

		crd_name_check(json_is_string(v) ? json_string_value(v) : "", false, f.s, "", true, causes);
	}
	if (*jstr0(names, "kind") && !strcmp(jstr0(names, "kind"), jstr0(names, "listKind")))
		err_invalid(causes, "spec.names.listKind", jstr0(names, "listKind"),
			    "kind and listKind may not be the same");
}

static void validate_crd(const json_t *obj, json_t *causes)
{
	static const char *const scopes[] = { "Cluster", "Namespaced", NULL };
	const json_t *spec = jobj(obj, "spec");
	const char *scope = jstr0(spec, "scope");

	validate_crd_group(jstr0(spec, "group"), causes);
	if (!*scope)
		err_required(causes, "spec.scope", NULL);
	else if (!in_list(scope, scopes))
		err_not_supported(causes, "spec.scope", scope, scopes);
	validate_crd_versions(jarr(spec, "versions"), causes);
	validate_crd_names(jobj(spec, "names"), causes);
}

static bool crd_established(const json_t *crd)
{
	size_t i;
	json_t *c;

	json_array_foreach(jarr(jobj(crd, "status"), "conditions"), i, c)
		if (!strcmp(jstr0(c, "type"), "Established") && !strcmp(jstr0(c, "status"), "True"))
			return true;
	return false;
}

static void validate_crd_update(const dv_validate_env *env, const json_t *obj, const json_t *old,
				json_t *causes)
{
	const json_t *ns = jobj(obj, "spec"), *os = jobj(old, "spec");

	immutable_field(jget(ns, "group"), jget(os, "group"), "spec.group", causes);
	immutable_field(jget(ns, "scope"), jget(os, "scope"), "spec.scope", causes);
	if (crd_established(old)) {
		immutable_field(jget(jobj(ns, "names"), "plural"), jget(jobj(os, "names"), "plural"),
				"spec.names.plural", causes);
		immutable_field(jget(jobj(ns, "names"), "kind"), jget(jobj(os, "names"), "kind"),
				"spec.names.kind", causes);
	}
	(void)env;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                             */
/* ------------------------------------------------------------------ */

typedef void (*create_fn)(const json_t *obj, json_t *causes);
typedef void (*update_fn)(const dv_validate_env *env, const json_t *obj, const json_t *old,
			  json_t *causes);
typedef void (*status_fn)(const json_t *obj, const json_t *old, json_t *causes);

typedef struct {
	const char *group;
	const char *kind;
	name_fn name;
	bool kube_finalizers; /* kube's own kinds: standard or qualified names */
	void (*defaults)(json_t *obj);
	create_fn create;
	update_fn update;
	status_fn status;
} kind_rules;

static const kind_rules kinds[] = {
	{ "", "PersistentVolumeClaim", name_dns_subdomain, true, default_pvc, validate_pvc,
	  validate_pvc_update, validate_pvc_status },
	{ "", "PersistentVolume", name_dns_subdomain, true, default_pv, validate_pv,
	  validate_pv_update, validate_pv_status },
	{ "", "Pod", name_dns_subdomain, true, default_pod, validate_pod, validate_pod_update,
	  validate_pod_status },
	{ "", "Secret", name_dns_subdomain, true, default_secret, validate_secret,
	  validate_secret_update, NULL },
	{ "", "ConfigMap", name_dns_subdomain, true, NULL, validate_configmap,
	  validate_configmap_update, NULL },
	{ "", "Namespace", name_dns_label, true, default_namespace, validate_namespace, NULL,
	  validate_namespace_status },
	{ "", "Node", name_dns_subdomain, true, default_node, validate_node, validate_node_update,
	  NULL },
	{ "", "Event", name_dns_subdomain, true, NULL, validate_event, NULL, NULL },
	{ "storage.k8s.io", "StorageClass", name_dns_subdomain, true, default_storage_class,
	  validate_storage_class, validate_storage_class_update, NULL },
	{ "storage.k8s.io", "CSIDriver", name_dns_subdomain, true, default_csi_driver,
	  validate_csi_driver, validate_csi_driver_update, NULL },
	{ "storage.k8s.io", "CSINode", name_dns_subdomain, true, NULL, validate_csi_node,
	  validate_csi_node_update, NULL },
	{ "storage.k8s.io", "VolumeAttachment", name_dns_subdomain, true, NULL,
	  validate_volume_attachment, validate_volume_attachment_update, NULL },
	{ "storage.k8s.io", "CSIStorageCapacity", name_dns_subdomain, true, NULL,
	  validate_csi_storage_capacity, validate_csi_storage_capacity_update, NULL },
	{ "storage.k8s.io", "VolumeAttributesClass", name_dns_subdomain, true, NULL, validate_vac,
	  validate_vac_update, NULL },
	{ "snapshot.storage.k8s.io", "VolumeSnapshot", name_dns_subdomain, false, NULL,
	  validate_snapshot, validate_snapshot_update, NULL },
	{ "snapshot.storage.k8s.io", "VolumeSnapshotContent", name_dns_subdomain, false, NULL,
	  validate_snapshot_content, validate_snapshot_content_update, NULL },
	{ "snapshot.storage.k8s.io", "VolumeSnapshotClass", name_dns_subdomain, false, NULL,
	  validate_snapshot_class, NULL, NULL },
	{ "coordination.k8s.io", "Lease", name_dns_subdomain, true, NULL, validate_lease, NULL,
	  NULL },
	{ "apiextensions.k8s.io", "CustomResourceDefinition", name_dns_subdomain, false,
	  default_crd, validate_crd, validate_crd_update, NULL },
};

/* Custom resources and anything else: metadata only. */
static const kind_rules generic_kind = { "", "", name_dns_subdomain, false, NULL, NULL, NULL, NULL };

static const kind_rules *rules_for(const char *group, const char *kind)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].group, group ? group : "") && !strcmp(kinds[i].kind, kind ? kind : ""))
			return &kinds[i];
	return &generic_kind;
}

static meta_rules meta_rules_for(const kind_rules *kr, const json_t *obj)
{
	meta_rules mr = { kr->name, kr->kube_finalizers, NULL };

	if (!strcmp(kr->kind, "CustomResourceDefinition"))
		mr.crd = obj;
	return mr;
}

/* The built-in kinds that are cluster-scoped. */
static bool cluster_scoped(const kind_rules *kr)
{
	static const char *const kinds_cs[] = { "PersistentVolume", "Namespace", "Node",
						"StorageClass", "CSIDriver", "CSINode",
						"VolumeAttachment", "VolumeAttributesClass",
						"VolumeSnapshotContent", "VolumeSnapshotClass",
						"CustomResourceDefinition", NULL };

	return kr != &generic_kind && in_list(kr->kind, kinds_cs);
}

void dv_default(const char *group, const char *kind, json_t *obj)
{
	const kind_rules *kr = rules_for(group, kind);
	json_t *md = jobj(obj, "metadata");

	if (!json_is_object(obj))
		return;
	/* As rest.BeforeCreate/BeforeUpdate: a cluster-scoped object's
	 * namespace is dropped, not refused (kustomize sets one on all). */
	if (md && cluster_scoped(kr))
		json_object_del(md, "namespace");
	if (kr->defaults)
		kr->defaults(obj);
}

void dv_validate_create(const dv_validate_env *env, const char *group, const char *kind,
			bool namespaced, const json_t *obj, json_t *causes)
{
	const kind_rules *kr = rules_for(group, kind);
	meta_rules mr = meta_rules_for(kr, obj);

	validate_meta(&mr, namespaced, obj, causes);
	if (kr->create)
		kr->create(obj, causes);
	(void)env;
}

void dv_validate_update(const dv_validate_env *env, const char *group, const char *kind,
			bool namespaced, const json_t *obj, const json_t *old, json_t *causes)
{
	const kind_rules *kr = rules_for(group, kind);
	meta_rules mr = meta_rules_for(kr, obj);

	validate_meta_update(obj, old, causes);
	validate_meta(&mr, namespaced, obj, causes);
	if (kr->create)
		kr->create(obj, causes);
	if (kr->update)
		kr->update(env, obj, old, causes);
}

void dv_validate_status_update(const dv_validate_env *env, const char *group,
			       const char *kind, const json_t *obj, const json_t *old,
			       json_t *causes)
{
	const kind_rules *kr = rules_for(group, kind);
	meta_rules mr = meta_rules_for(kr, obj);
	bool namespaced = *jstr0(jobj(old, "metadata"), "namespace") != 0;

	validate_meta_update(obj, old, causes);
	validate_meta(&mr, namespaced, obj, causes);
	if (kr->status)
		kr->status(obj, old, causes);
	else if (!strcmp(kr->kind, "VolumeAttachment"))
		validate_volume_attachment(obj, causes);
	(void)env;
}

char *dv_admit_update(const dv_validate_env *env, const char *group, const char *kind,
		      const json_t *obj, const json_t *old)
{
	if (!strcmp(group ? group : "", "") && !strcmp(kind ? kind : "", "PersistentVolumeClaim"))
		return admit_pvc_update(env, obj, old);
	return NULL;
}

char *dv_invalid_message(const char *kind, const char *name, const json_t *causes)
{
	json_t *seen = json_object();
	dv_buf list, out;
	size_t i, n = 0;
	json_t *c;
	char *ret;

	dv_buf_init(&list, 0);
	dv_buf_init(&out, 0);
	json_array_foreach(causes, i, c)
	{
		char *line = NULL;
		dv_buf one;

		dv_buf_init(&one, 0);
		dv_buf_appendf(&one, "%s: %s", jstr0(c, "field"), jstr0(c, "message"));
		line = (char *)one.data;
		if (line && !jhas(seen, line)) {
			json_object_set_new(seen, line, json_true());
			dv_buf_appendf(&list, "%s%s", n++ ? ", " : "", line);
		}
		dv_buf_free(&one);
	}
	dv_buf_appendf(&out, "%s ", kind ? kind : "");
	go_quote(&out, name ? name : "");
	if (n == 0)
		dv_buf_appends(&out, " is invalid");
	else if (n == 1)
		dv_buf_appendf(&out, " is invalid: %s", (char *)list.data);
	else
		dv_buf_appendf(&out, " is invalid: [%s]", (char *)list.data);
	dv_buf_free(&list);
	json_decref(seen);
	ret = dv_buf_steal(&out);
	dv_buf_free(&out);
	return ret;
}
