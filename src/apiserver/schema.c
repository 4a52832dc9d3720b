/*
 * schema.c - structural OpenAPI v3 schemas of CustomResourceDefinitions
 * (see schema.h).
 *
 * Three passes over a custom resource, in kube-apiserver's order: nulls the
 * schema does not allow and cannot default are dropped, defaults are filled
 * in (apiextensions-apiserver's structuraldefaulting), unknown fields are
 * pruned (its pruning package), then the result is validated the way
 * kube-openapi's validator does and its errors are turned into StatusCauses
 * with the wording ValidateCustomResource gives them ("Invalid value:
 * \"string\": spec.replicas in body must be of type integer: \"string\"").
 * dv_schema_check holds a CRD's own schema to the structural rules
 * (apiextensions' ValidateStructural and the CRD schema checks).
 *
 * Everything works on the jansson trees directly: a schema is looked at
 * where a value needs it, nothing is compiled ahead. Patterns are Go RE2
 * syntax upstream; they are translated to POSIX ERE for regcomp (\d, \w,
 * \s, escapes inside brackets, (?:...)), and what has no ERE equivalent is
 * refused by dv_schema_check rather than matched differently.
 */
#include "schema.h"

#include <arpa/inet.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"

/* StatusCause reasons (metav1.CauseType values of field.ErrorType). */
#define R_REQUIRED "FieldValueRequired"
#define R_INVALID "FieldValueInvalid"
#define R_TYPE "FieldValueTypeInvalid"
#define R_NOT_SUPPORTED "FieldValueNotSupported"
#define R_FORBIDDEN "FieldValueForbidden"
#define R_DUPLICATE "FieldValueDuplicate"
#define R_TOO_LONG "FieldValueTooLong"
#define R_TOO_MANY "FieldValueTooMany"

/* ---------------------------------------------------------------------- */
/* Causes and paths                                                        */

/* Appends {"reason","message","field"} as validate.h's dv_cause_add does;
 * kept local so this module links on its own. */
static void schema_cause(json_t *causes, const char *reason, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void schema_cause(json_t *causes, const char *reason, const char *field, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (causes)
		json_array_append_new(causes, json_pack("{s:s,s:s,s:s}", "reason", reason, "message", msg,
							"field", field));
}

/* A field path built up while walking; deeper paths than fit are cut. */
typedef struct {
	char s[2048];
	size_t len;
} path_t;

static size_t path_push(path_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(path_t *p, const char *fmt, ...)
{
	size_t old = p->len;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(p->s + p->len, sizeof(p->s) - p->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		p->len += (size_t)n < sizeof(p->s) - p->len ? (size_t)n : sizeof(p->s) - p->len - 1;
	return old;
}

static void path_pop(path_t *p, size_t old)
{
	p->len = old;
	p->s[old] = '\0';
}

/* Child property: "a.b" below a non-empty path, "b" at the root. */
static size_t path_key(path_t *p, const char *k)
{
	return p->len ? path_push(p, ".%s", k) : path_push(p, "%s", k);
}

static size_t path_index(path_t *p, size_t i)
{
	return path_push(p, "[%zu]", i);
}

/* ---------------------------------------------------------------------- */
/* Go-style formatting of values in messages                               */

/* strconv.Quote-like: "..." with \" \\ and control characters escaped. */
static void go_quote(const char *s, char *out, size_t len)
{
	size_t o = 0;
	if (len < 3) {
		if (len)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (; *s && o + 6 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* libm-free helpers (the library links without -lm). */
static double abs_double(double d)
{
	return d < 0 ? -d : d;
}

/* True for a finite double with no fractional part in the exact-integer
 * range of a double. */
static bool is_integral(double d)
{
	return abs_double(d) < 9007199254740992.0 && d == (double)(long long)d;
}

/* fmt's %v of a float64: the shortest digits that read back the same, in
 * exponent form when the exponent is < -4 or >= 6 (strconv's 'g' with
 * shortest precision), e.g. 1 -> "1", 0.5 -> "0.5", 1e6 -> "1e+06". */
static void go_float(double d, char *out, size_t len)
{
	if (isnan(d)) {
		snprintf(out, len, "NaN");
		return;
	}
	if (isinf(d)) {
		snprintf(out, len, d > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* Most bounds are small whole numbers: no digit search needed. */
	if (is_integral(d) && abs_double(d) < 1e6) {
		snprintf(out, len, "%.0f", d);
		return;
	}
	char buf[64];
	int prec;
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
	int exp = atoi(strchr(buf, 'e') + 1);
	if (exp < -4 || exp >= 6) {
		/* C's %e already has Go's form: "1.5e+06", two exponent digits. */
		snprintf(out, len, "%s", buf);
		return;
	}
	int decimals = prec - 1 - exp;
	snprintf(out, len, "%.*f", decimals > 0 ? decimals : 0, d);
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Go's %#v of a decoded JSON value: map[string]interface {}{"k":v, ...}
 * with sorted keys, []interface {}{...}, quoted strings, bare numbers. */
static void go_sharp_v(const json_t *v, dv_buf *b, int depth)
{
	char tmp[512];
	if (depth > 32) {
		(void)dv_buf_appends(b, "...");
	} else if (json_is_object(v)) {
		size_t n = json_object_size(v), i = 0;
		const char **keys = calloc(n ? n : 1, sizeof(*keys));
		const char *k;
		const json_t *x;
		if (!keys)
			return;
		json_object_foreach((json_t *)v, k, x)
			keys[i++] = k;
		qsort(keys, n, sizeof(*keys), cmp_cstr);
		(void)dv_buf_appends(b, "map[string]interface {}{");
		for (i = 0; i < n; i++) {
			go_quote(keys[i], tmp, sizeof(tmp));
			(void)dv_buf_appendf(b, "%s%s:", i ? ", " : "", tmp);
			go_sharp_v(json_object_get(v, keys[i]), b, depth + 1);
		}
		(void)dv_buf_appends(b, "}");
		free(keys);
	} else if (json_is_array(v)) {
		size_t i;
		const json_t *x;
		(void)dv_buf_appends(b, "[]interface {}{");
		json_array_foreach(v, i, x) {
			if (i)
				(void)dv_buf_appends(b, ", ");
			go_sharp_v(x, b, depth + 1);
		}
		(void)dv_buf_appends(b, "}");
	} else if (json_is_null(v)) {
		(void)dv_buf_appends(b, "interface {}(nil)");
	} else if (json_is_string(v)) {
		go_quote(json_string_value(v), tmp, sizeof(tmp));
		(void)dv_buf_appends(b, tmp);
	} else if (json_is_real(v)) {
		go_float(json_real_value(v), tmp, sizeof(tmp));
		(void)dv_buf_appends(b, tmp);
	} else if (json_is_integer(v)) {
		(void)dv_buf_appendf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else {
		(void)dv_buf_appends(b, json_is_true(v) ? "true" : "false");
	}
}

/* A JSON value as field.Invalid prints it: strings quoted, numbers and
 * booleans bare, null as "null", structures as Go's %#v. */
static void fmt_value(const json_t *v, char *out, size_t len)
{
	if (json_is_string(v)) {
		go_quote(json_string_value(v), out, len);
	} else if (json_is_integer(v)) {
		snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_real(v)) {
		go_float(json_real_value(v), out, len);
	} else if (json_is_boolean(v)) {
		snprintf(out, len, "%s", json_is_true(v) ? "true" : "false");
	} else if (!v || json_is_null(v)) {
		snprintf(out, len, "\"null\"");
	} else {
		dv_buf b;
		dv_buf_init(&b, len ? len - 1 : 0);
		go_sharp_v(v, &b, 0);
		snprintf(out, len, "%s", b.data ? (const char *)b.data : "");
		dv_buf_free(&b);
	}
}

/* ---------------------------------------------------------------------- */
/* Schema accessors                                                        */

static const char *s_type(const json_t *s)
{
	return json_string_value(json_object_get(s, "type"));
}

static bool s_flag(const json_t *s, const char *key)
{
	return json_is_true(json_object_get(s, key));
}

static const json_t *s_props(const json_t *s)
{
	const json_t *p = json_object_get(s, "properties");
	return json_is_object(p) ? p : NULL;
}

static bool s_preserve(const json_t *s)
{
	return s_flag(s, "x-kubernetes-preserve-unknown-fields");
}

static bool s_nullable(const json_t *s)
{
	return s_flag(s, "nullable");
}

static bool s_embedded(const json_t *s)
{
	return s_flag(s, "x-kubernetes-embedded-resource");
}

/* additionalProperties: its schema, or NULL. *allows says whether any
 * additional property is allowed at all (a schema or true). */
static const json_t *s_additional(const json_t *s, bool *allows)
{
	const json_t *a = json_object_get(s, "additionalProperties");
	*allows = json_is_object(a) || json_is_true(a);
	return json_is_object(a) ? a : NULL;
}

/* The schema of field k of an object node: its property, else the
 * additionalProperties schema. */
static const json_t *s_field(const json_t *s, const char *k)
{
	const json_t *p = json_object_get(s_props(s), k);
	if (p)
		return p;
	bool allows;
	return s_additional(s, &allows);
}

static const json_t *s_items(const json_t *s)
{
	const json_t *i = json_object_get(s, "items");
	return json_is_object(i) ? i : NULL;
}

static bool s_number(const json_t *s, const char *key, double *out)
{
	const json_t *v = json_object_get(s, key);
	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return true;
}

/* ---------------------------------------------------------------------- */
/* Defaulting and pruning                                                  */

static bool has_default(const json_t *s)
{
	return s && json_object_get(s, "default") != NULL;
}

/* Null where the schema neither allows null nor has a default to replace
 * it with: dropped before defaulting (PruneNonNullableNullsWithoutDefaults). */
static void prune_nulls(json_t *x, const json_t *s)
{
	if (json_is_object(x)) {
		const char *k;
		json_t *v;
		void *tmp;
		json_object_foreach_safe(x, tmp, k, v) {
			const json_t *sub = s ? s_field(s, k) : NULL;
			if (json_is_null(v) && sub && !s_nullable(sub) && !has_default(sub))
				json_object_del(x, k);
			else
				prune_nulls(v, sub);
		}
	} else if (json_is_array(x)) {
		size_t i;
		json_t *v;
		json_array_foreach(x, i, v)
			prune_nulls(v, s ? s_items(s) : NULL);
	}
}

static bool non_nullable_null(const json_t *x, const json_t *s)
{
	return json_is_null(x) && s && !s_nullable(s);
}

/* structuraldefaulting.Default: a property's default where it is absent
 * (or a non-nullable null), then recursion into what is there. */
static void apply_defaults(json_t *x, const json_t *s)
{
	if (!s)
		return;
	if (json_is_object(x)) {
		const char *k;
		json_t *prop;
		json_object_foreach((json_t *)s_props(s), k, prop) {
			json_t *def = json_object_get(prop, "default");
			json_t *cur = json_object_get(x, k);
			if (def && (!cur || non_nullable_null(cur, prop)))
				json_object_set_new(x, k, json_deep_copy(def));
		}
		bool allows;
		const json_t *addl = s_additional(s, &allows);
		json_t *v;
		json_object_foreach(x, k, v) {
			const json_t *p = json_object_get(s_props(s), k);
			if (p) {
				apply_defaults(v, p);
			} else if (addl) {
				json_t *def = json_object_get(addl, "default");
				if (def && non_nullable_null(v, addl)) {
					json_object_set_new(x, k, json_deep_copy(def));
					v = json_object_get(x, k);
				}
				apply_defaults(v, addl);
			}
		}
	} else if (json_is_array(x)) {
		const json_t *items = s_items(s);
		json_t *def = json_object_get(items, "default");
		size_t i;
		json_t *v;
		json_array_foreach(x, i, v) {
			if (def && non_nullable_null(v, items)) {
				json_array_set_new(x, i, json_deep_copy(def));
				v = json_array_get(x, i);
			}
			apply_defaults(v, items);
		}
	}
}

static void prune(json_t *x, const json_t *s, bool embedded);

/* apiVersion, kind (strings) and metadata (an object) of an embedded
 * resource, and of the resource itself, belong to the API server. */
static bool is_embedded_meta(bool embedded, const char *k, const json_t *v)
{
	if (!embedded)
		return false;
	if (strcmp(k, "apiVersion") == 0 || strcmp(k, "kind") == 0)
		return json_is_string(v);
	return strcmp(k, "metadata") == 0 && json_is_object(v);
}

/* Below x-kubernetes-preserve-unknown-fields unknown fields stay, but the
 * fields the schema does specify are still pruned inside. */
static void skip_prune(json_t *x, const json_t *s)
{
	if (!s)
		return;
	if (json_is_object(x)) {
		const char *k;
		json_t *v;
		bool allows;
		const json_t *addl = s_additional(s, &allows);
		json_object_foreach(x, k, v) {
			if (is_embedded_meta(s_embedded(s), k, v))
				continue;
			const json_t *p = json_object_get(s_props(s), k);
			if (p)
				prune(v, p, s_embedded(p));
			else if (allows)
				prune(v, addl, addl && s_embedded(addl));
		}
	} else if (json_is_array(x)) {
		size_t i;
		json_t *v;
		json_array_foreach(x, i, v)
			skip_prune(v, s_items(s));
	}
}

static void prune(json_t *x, const json_t *s, bool embedded)
{
	if (s && s_preserve(s)) {
		skip_prune(x, s);
		return;
	}
	if (json_is_object(x)) {
		const char *k;
		json_t *v;
		void *tmp;
		bool allows = false;
		const json_t *addl = s ? s_additional(s, &allows) : NULL;
		json_object_foreach_safe(x, tmp, k, v) {
			if (is_embedded_meta(embedded, k, v))
				continue;
			const json_t *p = s ? json_object_get(s_props(s), k) : NULL;
			if (p)
				prune(v, p, s_embedded(p));
			else if (allows)
				prune(v, addl, addl && s_embedded(addl));
			else
				json_object_del(x, k);
		}
	} else if (json_is_array(x)) {
		const json_t *items = s ? s_items(s) : NULL;
		size_t i;
		json_t *v;
		json_array_foreach(x, i, v)
			prune(v, items, items && s_embedded(items));
	}
}

void dv_schema_default_and_prune(const json_t *schema, json_t *obj)
{
	prune_nulls(obj, schema);
	apply_defaults(obj, schema);
	/* The resource root is an embedded resource whatever its schema says. */
	prune(obj, schema, true);
}

/* ---------------------------------------------------------------------- */
/* Go RE2 patterns as POSIX ERE                                            */

typedef struct {
	char *out;
	size_t len;
	size_t o;
	bool overflow;
} re_out;

static void re_put(re_out *r, const char *s)
{
	size_t n = strlen(s);
	if (r->o + n + 1 > r->len) {
		r->overflow = true;
		return;
	}
	memcpy(r->out + r->o, s, n);
	r->o += n;
	r->out[r->o] = '\0';
}

static void re_putc(re_out *r, char c)
{
	char s[2] = { c, '\0' };
	re_put(r, s);
}

static int re_fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s", what);
	return -1;
}

/* The character an escape like \n or \. stands for, or 0 if it is not a
 * single-character escape. */
static char re_escape_char(char c)
{
	switch (c) {
	case 'n': return '\n';
	case 't': return '\t';
	case 'r': return '\r';
	case 'f': return '\f';
	case 'v': return '\v';
	default:
		if ((c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
		    (c >= '{' && c <= '~'))
			return c;
		return 0;
	}
}

/* A bracket expression, from just after '['; POSIX treats backslashes in
 * brackets literally and wants ']' first and '-' last. *pp ends after ']'. */
static int re_bracket(const char **pp, re_out *r, char *err, size_t errlen)
{
	const char *p = *pp;
	char body[512];
	size_t b = 0;
	bool negate = false, has_close = false, has_dash = false;
	if (*p == '^') {
		negate = true;
		p++;
	}
	for (bool first = true; *p && (*p != ']' || first); first = false) {
		char c = *p++;
		const char *cls = NULL;
		if (c == '[' && *p == ':') {
			const char *end = strstr(p, ":]");
			if (!end)
				return re_fail(err, errlen, "missing closing ]");
			cls = NULL;
			size_t n = (size_t)(end + 2 - (p - 1));
			if (b + n >= sizeof(body))
				return re_fail(err, errlen, "bracket expression too long");
			memcpy(body + b, p - 1, n);
			b += n;
			p = end + 2;
			continue;
		}
		if (c == '\\') {
			char e = *p++;
			if (e == 'd')
				cls = "0-9";
			else if (e == 'w')
				cls = "A-Za-z0-9_";
			else if (e == 's')
				cls = "[:space:]";
			else if (e == 'D' || e == 'W' || e == 'S')
				return re_fail(err, errlen,
					       "negated class escape inside brackets is not supported");
			else if (!(c = re_escape_char(e)))
				return re_fail(err, errlen, "unsupported escape sequence inside brackets");
		}
		if (cls) {
			size_t n = strlen(cls);
			if (b + n >= sizeof(body))
				return re_fail(err, errlen, "bracket expression too long");
			memcpy(body + b, cls, n);
			b += n;
			continue;
		}
		/* A range a-z: the '-' is followed by something other than ']'. */
		if (*p == '-' && p[1] && p[1] != ']') {
			char hi = p[1];
			p += 2;
			if (hi == '\\') {
				if (!(hi = re_escape_char(*p++)))
					return re_fail(err, errlen,
						       "unsupported escape sequence inside brackets");
			}
			if (b + 4 >= sizeof(body))
				return re_fail(err, errlen, "bracket expression too long");
			body[b++] = c;
			body[b++] = '-';
			body[b++] = hi;
			continue;
		}
		if (c == ']')
			has_close = true;
		else if (c == '-')
			has_dash = true;
		else if (b + 2 < sizeof(body))
			body[b++] = c;
		else
			return re_fail(err, errlen, "bracket expression too long");
	}
	if (*p != ']')
		return re_fail(err, errlen, "missing closing ]");
	body[b] = '\0';
	re_put(r, negate ? "[^" : "[");
	if (has_close)
		re_putc(r, ']');
	re_put(r, body);
	if (has_dash)
		re_putc(r, '-');
	re_putc(r, ']');
	*pp = p + 1;
	return 0;
}

/* Translates a Go regexp to ERE in out; -1 with a reason in err where the
 * pattern uses syntax ERE lacks. */
static int re_translate(const char *src, char *out, size_t len, char *err, size_t errlen)
{
	re_out r = { out, len, 0, false };
	out[0] = '\0';
	for (const char *p = src; *p;) {
		char c = *p++;
		if (c == '[') {
			if (re_bracket(&p, &r, err, errlen) < 0)
				return -1;
		} else if (c == '\\') {
			char e = *p++;
			switch (e) {
			case 'd': re_put(&r, "[0-9]"); break;
			case 'D': re_put(&r, "[^0-9]"); break;
			case 'w': re_put(&r, "[[:alnum:]_]"); break;
			case 'W': re_put(&r, "[^[:alnum:]_]"); break;
			case 's': re_put(&r, "[[:space:]]"); break;
			case 'S': re_put(&r, "[^[:space:]]"); break;
			case '\0': return re_fail(err, errlen, "trailing backslash at end of expression");
			default: {
				char lit = re_escape_char(e);
				if (!lit)
					return re_fail(err, errlen, "unsupported escape sequence");
				if (strchr(".[]()*+?{}|^$\\", lit)) {
					re_putc(&r, '\\');
					re_putc(&r, lit);
				} else {
					re_putc(&r, lit);
				}
			}
			}
		} else if (c == '(' && *p == '?') {
			if (p[1] != ':')
				return re_fail(err, errlen,
					       "group flags and lookaround (?...) are not supported");
			p += 2;
			re_putc(&r, '(');
		} else if ((c == '*' || c == '+' || c == '?' || c == '}') && *p == '?') {
			/* Laziness does not change whether a match exists. */
			re_putc(&r, c);
			p++;
		} else {
			re_putc(&r, c);
		}
	}
	if (r.overflow)
		return re_fail(err, errlen, "expression too long");
	return 0;
}

/* Compiles a schema pattern; 0, or -1 with a reason in err. */
static int pattern_compile(const char *pattern, regex_t *re, char *err, size_t errlen)
{
	char ere[2048];
	if (re_translate(pattern, ere, sizeof(ere), err, errlen) < 0)
		return -1;
	int rc = regcomp(re, ere, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, re, err, errlen);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Formats                                                                 */

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool is_date(const char *s)
{
	return strlen(s) >= 10 && all_digits(s, 4) && s[4] == '-' && all_digits(s + 5, 2) &&
	       s[7] == '-' && all_digits(s + 8, 2) && atoi(s + 5) >= 1 && atoi(s + 5) <= 12 &&
	       atoi(s + 8) >= 1 && atoi(s + 8) <= 31;
}

/* RFC 3339 date-time as strfmt's IsDateTime takes it:
 * 2006-01-02T15:04:05(.frac)?(Z|+hh:mm), 't' and 'z' too. */
static bool is_date_time(const char *s)
{
	if (!is_date(s) || (s[10] != 'T' && s[10] != 't'))
		return false;
	const char *t = s + 11;
	if (!(all_digits(t, 2) && t[2] == ':' && all_digits(t + 3, 2) && t[5] == ':' && all_digits(t + 6, 2)))
		return false;
	if (atoi(t) > 23 || atoi(t + 3) > 59 || atoi(t + 6) > 59)
		return false;
	t += 8;
	if (*t == '.') {
		t++;
		if (!(*t >= '0' && *t <= '9'))
			return false;
		while (*t >= '0' && *t <= '9')
			t++;
	}
	if ((*t == 'Z' || *t == 'z') && !t[1])
		return true;
	return (*t == '+' || *t == '-') && all_digits(t + 1, 2) && t[3] == ':' && all_digits(t + 4, 2) &&
	       !t[6];
}

static bool is_uuid(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		char c = s[i];
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		if (shape[i] == '-' ? c != '-' : !hex)
			return false;
	}
	return true;
}

static bool is_base64(const char *s)
{
	size_t n = strlen(s), pad = 0;
	if (n % 4)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			     c == '+' || c == '/'))
			return false;
	}
	return pad <= 2;
}

/* Go time.ParseDuration: [-+]?(number unit)+ or "0". */
static bool is_duration(const char *s)
{
	static const char *units[] = { "ns", "us", "\xc2\xb5s", "ms", "s", "m", "h" };
	if (*s == '-' || *s == '+')
		s++;
	if (strcmp(s, "0") == 0)
		return true;
	if (!*s)
		return false;
	while (*s) {
		const char *start = s;
		while ((*s >= '0' && *s <= '9') || *s == '.')
			s++;
		if (s == start)
			return false;
		size_t best = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t n = strlen(units[i]);
			if (strncmp(s, units[i], n) == 0 && n > best)
				best = n;
		}
		if (!best)
			return false;
		s += best;
	}
	return true;
}

/* Formats kube-apiserver checks on strings; unknown formats pass, as the
 * unsupported ones are stripped upstream. */
static bool format_ok(const char *format, const char *v)
{
	unsigned char buf[16];
	if (strcmp(format, "date-time") == 0 || strcmp(format, "datetime") == 0)
		return is_date_time(v);
	if (strcmp(format, "date") == 0)
		return is_date(v) && strlen(v) == 10;
	if (strcmp(format, "uuid") == 0)
		return is_uuid(v);
	if (strcmp(format, "byte") == 0)
		return is_base64(v);
	if (strcmp(format, "ipv4") == 0)
		return inet_pton(AF_INET, v, buf) == 1;
	if (strcmp(format, "ipv6") == 0)
		return inet_pton(AF_INET6, v, buf) == 1;
	if (strcmp(format, "duration") == 0)
		return is_duration(v);
	return true;
}

/* ---------------------------------------------------------------------- */
/* Validation                                                              */

/* kube-openapi's name for the type of a JSON value. */
static const char *value_type(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	default: return "null";
	}
}

static bool type_matches(const char *type, const json_t *v)
{
	const char *have = value_type(v);
	if (strcmp(type, have) == 0)
		return true;
	if (strcmp(type, "number") == 0)
		return json_is_integer(v);
	/* A float with an integral value is a JSON integer. */
	if (strcmp(type, "integer") == 0 && json_is_real(v)) {
		return is_integral(json_real_value(v));
	}
	return false;
}

/* A validation walk. path is the value's path as kube-openapi names it in
 * messages; causes carry base + path as their field (base is where the
 * validated value sits: empty for a resource, ".default" of a schema node
 * for a default), as ValidateCustomResource joins them. */
typedef struct {
	json_t *causes;
	const char *base;
	path_t path;
} vctx;

static const char *vpath(const vctx *c)
{
	return c->path.s;
}

static void vcause(vctx *c, const char *reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void vcause(vctx *c, const char *reason, const char *fmt, ...)
{
	char msg[4096], field[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->base && *c->base)
		snprintf(field, sizeof(field), "%s%s%s", c->base, c->path.len ? "." : "", c->path.s);
	else
		snprintf(field, sizeof(field), "%s", c->path.s);
	schema_cause(c->causes, reason, field, "%s", msg);
}

static bool check_type(vctx *c, const json_t *s, const json_t *v)
{
	const char *type = s_type(s);
	bool ios = s_flag(s, "x-kubernetes-int-or-string");
	const char *want = ios ? "integer,string" : type;
	if (!want)
		return true;
	if (json_is_null(v)) {
		if (s_nullable(s))
			return true;
		vcause(c, R_TYPE, "Invalid value: \"null\": %s in body must be of type %s: \"null\"",
		       vpath(c), want);
		return false;
	}
	if (ios ? type_matches("integer", v) || json_is_string(v) : type_matches(type, v))
		return true;
	vcause(c, R_TYPE, "Invalid value: \"%s\": %s in body must be of type %s: \"%s\"", value_type(v),
	       vpath(c), want, value_type(v));
	return false;
}

/* Equality of JSON values with 1 and 1.0 equal, as decoded numbers are. */
static bool values_equal(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal((json_t *)a, (json_t *)b);
}

static void check_enum(vctx *c, const json_t *s, const json_t *v)
{
	const json_t *e = json_object_get(s, "enum");
	if (!json_is_array(e))
		return;
	size_t i;
	const json_t *x;
	json_array_foreach(e, i, x)
		if (values_equal(x, v))
			return;
	char list[2048], val[512], one[512];
	size_t used = 0;
	list[0] = '\0';
	json_array_foreach(e, i, x) {
		if (json_is_string(x)) {
			go_quote(json_string_value(x), one, sizeof(one));
		} else {
			char *j = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
			go_quote(j ? j : "", one, sizeof(one));
			free(j);
		}
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", one);
		if (n < 0 || (size_t)n >= sizeof(list) - used)
			break;
		used += (size_t)n;
	}
	fmt_value(v, val, sizeof(val));
	vcause(c, R_NOT_SUPPORTED, "Unsupported value: %s: supported values: %s", val, list);
}

/* Length in characters (UTF-8 code points), as Go's utf8.RuneCountInString. */
static size_t rune_count(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static void check_string(vctx *c, const json_t *s, const json_t *v)
{
	const char *str = json_string_value(v);
	size_t n = rune_count(str);
	double lim;
	char q[1024];
	go_quote(str, q, sizeof(q)); /* strings are short; only maxLength fails without it */
	if (s_number(s, "maxLength", &lim) && (double)n > lim)
		vcause(c, R_TOO_LONG, "Too long: may not be more than %.0f %s", lim,
		       lim == 1 ? "byte" : "bytes");
	if (s_number(s, "minLength", &lim) && (double)n < lim)
		vcause(c, R_INVALID, "Invalid value: %s: %s in body should be at least %.0f chars long", q,
		       vpath(c), lim);
	const char *pattern = json_string_value(json_object_get(s, "pattern"));
	regex_t re;
	char err[256];
	if (pattern && pattern_compile(pattern, &re, err, sizeof(err)) == 0) {
		if (regexec(&re, str, 0, NULL, 0) != 0)
			vcause(c, R_INVALID, "Invalid value: %s: %s in body should match '%s'", q, vpath(c),
			       pattern);
		regfree(&re);
	}
	const char *format = json_string_value(json_object_get(s, "format"));
	if (format && !format_ok(format, str))
		vcause(c, R_TYPE, "Invalid value: %s: %s in body must be of type %s: %s", q, vpath(c), format,
		       q);
}

/* d is a whole multiple of factor, within a small tolerance for the
 * rounding of decimal fractions (0.3 is a multiple of 0.1). */
static bool is_multiple(double d, double factor)
{
	double q = d / factor;
	if (abs_double(q) >= 9007199254740992.0)
		return true;
	double nearest = (double)(long long)(q + (q < 0 ? -0.5 : 0.5));
	return abs_double(q - nearest) <= 1e-9;
}

/* One failed bound: "Invalid value: <v>: <path> in body should be <what> <limit>". */
static void bound_cause(vctx *c, const json_t *v, const char *what, double lim)
{
	char val[64], limit[64];
	fmt_value(v, val, sizeof(val));
	go_float(lim, limit, sizeof(limit));
	vcause(c, R_INVALID, "Invalid value: %s: %s in body should be %s %s", val, vpath(c), what, limit);
}

/* Bounds are formatted only when violated: this runs for every number. */
static void check_number(vctx *c, const json_t *s, const json_t *v)
{
	double d = json_number_value(v), lim;
	if (s_number(s, "maximum", &lim)) {
		bool excl = s_flag(s, "exclusiveMaximum");
		if (excl ? d >= lim : d > lim)
			bound_cause(c, v, excl ? "less than" : "less than or equal to", lim);
	}
	if (s_number(s, "minimum", &lim)) {
		bool excl = s_flag(s, "exclusiveMinimum");
		if (excl ? d <= lim : d < lim)
			bound_cause(c, v, excl ? "greater than" : "greater than or equal to", lim);
	}
	if (s_number(s, "multipleOf", &lim) && lim > 0 && !is_multiple(d, lim))
		bound_cause(c, v, "a multiple of", lim);
}

/* Go's %#v of the map-keys tuple of a list-type=map item. */
static void map_key_tuple(const json_t *item, const json_t *keys, char *out, size_t len)
{
	size_t used = (size_t)snprintf(out, len, "map[string]interface {}{");
	size_t i;
	const json_t *k;
	json_array_foreach(keys, i, k) {
		char val[256];
		const char *name = json_string_value(k);
		fmt_value(json_object_get(item, name ? name : ""), val, sizeof(val));
		if (used < len)
			used += (size_t)snprintf(out + used, len - used, "%s\"%s\":%s", i ? ", " : "",
						 name ? name : "", val);
	}
	if (used < len)
		snprintf(out + used, len - used, "}");
}

/* True if items i and j have equal values at every map key. */
static bool same_map_keys(const json_t *a, const json_t *b, const json_t *keys)
{
	size_t i;
	const json_t *k;
	json_array_foreach(keys, i, k) {
		const json_t *x = json_object_get(a, json_string_value(k));
		const json_t *y = json_object_get(b, json_string_value(k));
		if (!x || !y ? x != y : !values_equal(x, y))
			return false;
	}
	return true;
}

/* x-kubernetes-list-type set and map: no two equal items / keys. */
static void check_list_type(vctx *c, const json_t *s, const json_t *v)
{
	const char *lt = json_string_value(json_object_get(s, "x-kubernetes-list-type"));
	bool set = lt && strcmp(lt, "set") == 0, map = lt && strcmp(lt, "map") == 0;
	bool unique = s_flag(s, "uniqueItems");
	const json_t *keys = json_object_get(s, "x-kubernetes-list-map-keys");
	if (!set && !map && !unique)
		return;
	size_t n = json_array_size(v);
	for (size_t j = 1; j < n; j++) {
		for (size_t i = 0; i < j; i++) {
			const json_t *a = json_array_get(v, i), *b = json_array_get(v, j);
			bool dup = map ? json_is_object(a) && json_is_object(b) && same_map_keys(a, b, keys)
				       : values_equal(a, b);
			if (!dup)
				continue;
			if (unique && !set && !map) {
				vcause(c, R_INVALID,
				       "Invalid value: \"\": %s in body shouldn't contain duplicates",
				       vpath(c));
				return;
			}
			char val[1024];
			if (map)
				map_key_tuple(b, keys, val, sizeof(val));
			else
				fmt_value(b, val, sizeof(val));
			size_t old = path_index(&c->path, j);
			vcause(c, R_DUPLICATE, "Duplicate value: %s", val);
			path_pop(&c->path, old);
			break;
		}
	}
}

static void validate_node(vctx *c, const json_t *s, const json_t *v);

static void check_array(vctx *c, const json_t *s, const json_t *v)
{
	size_t n = json_array_size(v);
	double lim;
	if (s_number(s, "maxItems", &lim) && (double)n > lim)
		vcause(c, R_TOO_MANY, "Too many: %zu: must have at most %.0f %s", n, lim,
		       lim == 1 ? "item" : "items");
	if (s_number(s, "minItems", &lim) && (double)n < lim)
		vcause(c, R_INVALID, "Invalid value: %zu: %s in body should have at least %.0f items", n,
		       vpath(c), lim);
	const json_t *items = s_items(s);
	size_t i;
	const json_t *x;
	json_array_foreach(v, i, x) {
		size_t old = path_index(&c->path, i);
		validate_node(c, items, x);
		path_pop(&c->path, old);
	}
	check_list_type(c, s, v);
}

/* An embedded resource needs apiVersion and kind (schemaobjectmeta). */
static void check_embedded(vctx *c, const json_t *v)
{
	static const char *const fields[] = { "apiVersion", "kind" };
	for (size_t i = 0; i < 2; i++) {
		const char *f = json_string_value(json_object_get(v, fields[i]));
		if (f && *f)
			continue;
		size_t old = path_key(&c->path, fields[i]);
		vcause(c, R_REQUIRED, "Required value: must not be empty");
		path_pop(&c->path, old);
	}
}

static void check_object(vctx *c, const json_t *s, const json_t *v)
{
	size_t n = json_object_size(v);
	double lim;
	if (s_number(s, "maxProperties", &lim) && (double)n > lim)
		vcause(c, R_TOO_MANY, "Too many: %zu: must have at most %.0f %s", n, lim,
		       lim == 1 ? "item" : "items");
	if (s_number(s, "minProperties", &lim) && (double)n < lim)
		vcause(c, R_INVALID, "Invalid value: %zu: %s in body should have at least %.0f properties", n,
		       vpath(c), lim);
	size_t i;
	const json_t *r;
	json_array_foreach(json_object_get(s, "required"), i, r) {
		const char *k = json_string_value(r);
		if (!k || json_object_get(v, k))
			continue;
		size_t old = path_key(&c->path, k);
		vcause(c, R_REQUIRED, "Required value");
		path_pop(&c->path, old);
	}
	if (s_embedded(s))
		check_embedded(c, v);
	bool allows;
	const json_t *addl = s_additional(s, &allows);
	const char *k;
	const json_t *x;
	json_object_foreach((json_t *)v, k, x) {
		const json_t *p = json_object_get(s_props(s), k);
		if (!p && !addl)
			continue;
		size_t old = path_key(&c->path, k);
		validate_node(c, p ? p : addl, x);
		path_pop(&c->path, old);
	}
}

/* The causes validate_node gives v against sub-schema sub, in a new
 * array (NULL if out of memory). */
static json_t *sub_causes(vctx *c, const json_t *sub, const json_t *v)
{
	vctx tmp = { json_array(), c->base, c->path };
	if (tmp.causes)
		validate_node(&tmp, sub, v);
	return tmp.causes;
}

static void append_causes(vctx *c, const json_t *from)
{
	if (c->causes && from)
		json_array_extend(c->causes, (json_t *)from);
}

/* The errors of allOf/anyOf/oneOf/not are not field errors upstream but
 * plain ones, which ValidateCustomResource files under its own path: none
 * for a resource, printed by Go as "<nil>". */
static void composite_cause(vctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void composite_cause(vctx *c, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	schema_cause(c->causes, R_INVALID, c->base && *c->base ? c->base : "<nil>", "Invalid value: \"\": %s",
		     msg);
}

/* Runs the sub-schemas of an anyOf/oneOf; returns how many v satisfies.
 * *best gets the causes of the failing branch with the fewest of them
 * (kube-openapi keeps the failure with the most passed checks). */
static size_t junctor_branches(vctx *c, const json_t *subs, const json_t *v, json_t **best)
{
	size_t i, passed = 0;
	const json_t *sub;
	*best = NULL;
	json_array_foreach(subs, i, sub) {
		json_t *r = sub_causes(c, sub, v);
		if (r && json_array_size(r) == 0) {
			passed++;
		} else if (r && !passed && (!*best || json_array_size(r) < json_array_size(*best))) {
			json_decref(*best);
			*best = r;
			continue;
		}
		json_decref(r);
	}
	if (passed) {
		json_decref(*best);
		*best = NULL;
	}
	return passed;
}

/* anyOf, oneOf, allOf, not, in kube-openapi's order and wording. */
static void check_junctors(vctx *c, const json_t *s, const json_t *v)
{
	json_t *best;
	const json_t *any = json_object_get(s, "anyOf");
	if (json_array_size(any) > 0 && junctor_branches(c, any, v, &best) == 0) {
		composite_cause(c, "\"%s\" must validate at least one schema (anyOf)", vpath(c));
		append_causes(c, best);
		json_decref(best);
	}
	const json_t *one = json_object_get(s, "oneOf");
	size_t n;
	if (json_array_size(one) > 0 && (n = junctor_branches(c, one, v, &best)) != 1) {
		if (n == 0)
			composite_cause(
				c, "\"%s\" must validate one and only one schema (oneOf). Found none valid",
				vpath(c));
		else
			composite_cause(c,
					"\"%s\" must validate one and only one schema (oneOf). Found %zu "
					"valid alternatives",
					vpath(c), n);
		append_causes(c, best);
		json_decref(best);
	}
	const json_t *all = json_object_get(s, "allOf");
	if (json_array_size(all) > 0) {
		size_t i, passed = 0;
		const json_t *sub;
		json_array_foreach(all, i, sub) {
			json_t *r = sub_causes(c, sub, v);
			passed += r && json_array_size(r) == 0;
			append_causes(c, r);
			json_decref(r);
		}
		if (passed != json_array_size(all))
			composite_cause(c, "\"%s\" must validate all the schemas (allOf)%s", vpath(c),
					passed ? "" : ". None validated");
	}
	const json_t *not = json_object_get(s, "not");
	if (json_is_object(not)) {
		json_t *r = sub_causes(c, not, v);
		if (r && json_array_size(r) == 0)
			composite_cause(c, "\"%s\" must not validate the schema (not)", vpath(c));
		json_decref(r);
	}
}

static void validate_node(vctx *c, const json_t *s, const json_t *v)
{
	if (!json_is_object(s))
		return;
	if (json_is_null(v) && s_nullable(s))
		return;
	if (!check_type(c, s, v))
		return;
	check_junctors(c, s, v);
	if (json_is_string(v))
		check_string(c, s, v);
	else if (json_is_number(v))
		check_number(c, s, v);
	else if (json_is_array(v))
		check_array(c, s, v);
	check_enum(c, s, v);
	if (json_is_object(v))
		check_object(c, s, v);
}

void dv_schema_validate(const json_t *schema, const json_t *obj, json_t *causes)
{
	vctx c = { .causes = causes, .base = NULL };
	c.path.len = 0;
	c.path.s[0] = '\0';
	validate_node(&c, schema, obj);
}

/* ---------------------------------------------------------------------- */
/* Structural schema checks                                                */

typedef enum { LVL_ROOT, LVL_FIELD, LVL_ITEM } level;

typedef struct {
	json_t *causes;
	path_t path;
} sctx;

/* Cause at <path>.<child> (child NULL: at the path itself). */
static void scause(sctx *c, const char *child, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void scause(sctx *c, const char *child, const char *reason, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t old = child ? path_push(&c->path, ".%s", child) : c->path.len;
	schema_cause(c->causes, reason, c->path.s, "%s", msg);
	path_pop(&c->path, old);
}

static void check_node(sctx *c, const json_t *s, level lvl);

static bool valid_type_name(const char *t)
{
	static const char *const types[] = { "array", "boolean", "integer", "number", "object", "string" };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(t, types[i]) == 0)
			return true;
	return false;
}

/* Keywords the CRD schema rules forbid outright. */
static void check_unsupported(sctx *c, const json_t *s)
{
	static const struct {
		const char *key;
		const char *msg;
	} banned[] = {
		{ "$ref", "$ref is not supported" },
		{ "id", "id is not supported" },
		{ "definitions", "definitions is not supported" },
		{ "dependencies", "dependencies is not supported" },
		{ "additionalItems", "additionalItems is not supported" },
		{ "patternProperties", "patternProperties is not supported" },
	};
	for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++)
		if (json_object_get(s, banned[i].key))
			scause(c, banned[i].key, R_FORBIDDEN, "Forbidden: %s", banned[i].msg);
	if (s_flag(s, "uniqueItems"))
		scause(c, "uniqueItems", R_FORBIDDEN,
		       "Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes "
		       "quadratic");
	if (json_is_array(json_object_get(s, "items")))
		scause(c, "items", R_FORBIDDEN, "Forbidden: items must be a schema object and not an array");
	if (json_is_false(json_object_get(s, "x-kubernetes-preserve-unknown-fields")))
		scause(c, "x-kubernetes-preserve-unknown-fields", R_INVALID,
		       "Invalid value: false: must be true or undefined");
}

static void check_type_field(sctx *c, const json_t *s, level lvl)
{
	const json_t *tj = json_object_get(s, "type");
	const char *type = json_string_value(tj);
	bool embedded = s_embedded(s), ios = s_flag(s, "x-kubernetes-int-or-string");
	char q[256];
	if (tj && !type) {
		scause(c, "type", R_INVALID, "Invalid value: \"\": must be a string");
		return;
	}
	if (type && strcmp(type, "null") == 0) {
		scause(c, "type", R_FORBIDDEN,
		       "Forbidden: type cannot be set to null, use nullable as an alternative");
		return;
	}
	if (type && !valid_type_name(type)) {
		go_quote(type, q, sizeof(q));
		scause(c, "type", R_NOT_SUPPORTED,
		       "Unsupported value: %s: supported values: \"array\", \"boolean\", "
		       "\"integer\", \"number\", \"object\", \"string\"",
		       q);
		return;
	}
	if (embedded && (!type || strcmp(type, "object") != 0)) {
		if (!type)
			scause(c, "type", R_REQUIRED,
			       "Required value: must be object if x-kubernetes-embedded-resource is true");
		else
			scause(c, "type", R_INVALID, "Invalid value: \"%s\": must be object if "
						    "x-kubernetes-embedded-resource is true", type);
	} else if (!type && !ios && !s_preserve(s)) {
		static const char *const where[] = { "at the root", "for specified object fields",
						     "for specified array items" };
		scause(c, "type", R_REQUIRED, "Required value: must not be empty %s", where[lvl]);
	}
	if (ios && type)
		scause(c, "type", R_INVALID,
		       "Invalid value: \"%s\": must be empty if x-kubernetes-int-or-string is true", type);
	if (lvl == LVL_ROOT && type && strcmp(type, "object") != 0)
		scause(c, "type", R_INVALID, "Invalid value: \"%s\": must be object at the root", type);
	if (type && strcmp(type, "array") == 0 && !json_object_get(s, "items"))
		scause(c, "items", R_REQUIRED, "Required value: must be specified");
}

static void check_extensions(sctx *c, const json_t *s)
{
	bool ios = s_flag(s, "x-kubernetes-int-or-string");
	if (ios && s_preserve(s))
		scause(c, "x-kubernetes-preserve-unknown-fields", R_INVALID,
		       "Invalid value: true: must be false if x-kubernetes-int-or-string is true");
	if (ios && s_embedded(s))
		scause(c, "x-kubernetes-embedded-resource", R_INVALID,
		       "Invalid value: true: must be false if x-kubernetes-int-or-string is true");
	if (s_embedded(s) && !s_preserve(s) && json_object_size(s_props(s)) == 0)
		scause(c, "properties", R_REQUIRED,
		       "Required value: must not be empty if x-kubernetes-embedded-resource "
		       "is true without x-kubernetes-preserve-unknown-fields");
}

static void check_additional(sctx *c, const json_t *s, level lvl)
{
	const json_t *a = json_object_get(s, "additionalProperties");
	if (!a)
		return;
	if (lvl == LVL_ROOT)
		scause(c, "additionalProperties", R_FORBIDDEN, "Forbidden: must not be used at the root");
	if (json_is_false(a))
		scause(c, "additionalProperties", R_FORBIDDEN,
		       "Forbidden: additionalProperties cannot be set to false");
	else if (json_object_size(s_props(s)) > 0)
		scause(c, "additionalProperties", R_FORBIDDEN,
		       "Forbidden: additionalProperties and properties are mutual exclusive");
	if (s_embedded(s))
		scause(c, "additionalProperties", R_FORBIDDEN,
		       "Forbidden: must not be used if x-kubernetes-embedded-resource is set");
	if (json_is_object(a)) {
		size_t old = path_push(&c->path, ".additionalProperties");
		check_node(c, a, LVL_FIELD);
		path_pop(&c->path, old);
	}
}

/* apiVersion/kind must be strings and metadata an object at the root and
 * in embedded resources; the root's metadata may only restrict name and
 * generateName. */
static void check_meta_props(sctx *c, const json_t *s, level lvl)
{
	const json_t *props = s_props(s);
	if (!props || (lvl != LVL_ROOT && !s_embedded(s)))
		return;
	static const struct {
		const char *name, *type;
	} meta[] = { { "kind", "string" }, { "apiVersion", "string" }, { "metadata", "object" } };
	char child[128];
	for (size_t i = 0; i < 3; i++) {
		const json_t *p = json_object_get(props, meta[i].name);
		const char *t = s_type(p);
		if (!p || (t && strcmp(t, meta[i].type) == 0))
			continue;
		snprintf(child, sizeof(child), "properties[%s].type", meta[i].name);
		scause(c, child, R_INVALID, "Invalid value: \"%s\": must be %s", t ? t : "", meta[i].type);
	}
	const json_t *md = json_object_get(props, "metadata");
	if (lvl != LVL_ROOT || !md)
		return;
	static const char *const allowed[] = {"type",     "description", "title",
					      "nullable", "default",     "properties"};
	bool extra = false;
	const char *k;
	const json_t *x;
	json_object_foreach((json_t *)md, k, x) {
		bool ok = false;
		for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			ok |= strcmp(k, allowed[i]) == 0;
		extra |= !ok;
	}
	json_object_foreach((json_t *)s_props(md), k, x) {
		const char *t = s_type(x);
		bool name = strcmp(k, "name") == 0 || strcmp(k, "generateName") == 0;
		extra |= !name || (t && strcmp(t, "string") != 0);
	}
	if (extra)
		scause(c, "properties[metadata]", R_FORBIDDEN,
		       "Forbidden: must not specify anything other than name and "
		       "generateName, but metadata is implicitly specified");
	/* Defaults would be applied to every object's metadata: refused. */
	if (json_object_get(md, "default"))
		scause(c, "properties[metadata].default", R_FORBIDDEN,
		       "Forbidden: must not be set in top-level metadata");
	json_object_foreach((json_t *)s_props(md), k, x) {
		char where[300];
		snprintf(where, sizeof(where), "properties[metadata].properties[%s].default", k);
		if (json_object_get(x, "default"))
			scause(c, where, R_FORBIDDEN, "Forbidden: must not be set in top-level metadata");
	}
}

static void check_pattern(sctx *c, const json_t *s)
{
	const json_t *pj = json_object_get(s, "pattern");
	if (!pj)
		return;
	char q[512], err[256];
	regex_t re;
	if (!json_is_string(pj)) {
		scause(c, "pattern", R_INVALID, "Invalid value: \"\": must be a string");
		return;
	}
	if (pattern_compile(json_string_value(pj), &re, err, sizeof(err)) < 0) {
		go_quote(json_string_value(pj), q, sizeof(q));
		scause(c, "pattern", R_INVALID,
		       "Invalid value: %s: must be a valid regular expression, but isn't: %s", q, err);
		return;
	}
	regfree(&re);
}

/* A JSON array of strings as Go's %#v of a []string. */
static void go_string_slice(const json_t *a, char *out, size_t len)
{
	char q[256];
	size_t used = (size_t)snprintf(out, len, "[]string{");
	size_t i;
	const json_t *x;
	json_array_foreach(a, i, x) {
		if (used >= len)
			break;
		go_quote(json_string_value(x) ? json_string_value(x) : "", q, sizeof(q));
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", q);
	}
	if (used < len)
		snprintf(out + used, len - used, "}");
}

static bool is_required(const json_t *s, const char *k)
{
	size_t i;
	const json_t *r;
	json_array_foreach(json_object_get(s, "required"), i, r)
		if (json_is_string(r) && strcmp(json_string_value(r), k) == 0)
			return true;
	return false;
}

/* x-kubernetes-list-type=map: items are objects whose map keys are scalar
 * properties, each required or defaulted, none named twice. */
static void check_list_map_keys(sctx *c, const json_t *s, const json_t *keys)
{
	const json_t *items = s_items(s);
	const char *it = s_type(items);
	char where[320], list[512];
	if (!items) {
		scause(c, "items", R_REQUIRED,
		       "Required value: must have a schema if x-kubernetes-list-type is map");
		return;
	}
	if (!it || strcmp(it, "object") != 0) {
		scause(c, "items.type", R_INVALID,
		       "Invalid value: \"%s\": must be object if parent array's x-kubernetes-list-type is "
		       "map",
		       it ? it : "");
		return;
	}
	size_t i;
	const json_t *k;
	json_array_foreach(keys, i, k) {
		const char *name = json_string_value(k) ? json_string_value(k) : "";
		const json_t *p = json_object_get(s_props(items), name);
		const char *pt = s_type(p);
		if (!p) {
			go_string_slice(keys, list, sizeof(list));
			scause(c, "x-kubernetes-list-map-keys", R_INVALID,
			       "Invalid value: %s: entries must all be names of item properties", list);
		} else if (pt && (strcmp(pt, "array") == 0 || strcmp(pt, "object") == 0)) {
			snprintf(where, sizeof(where), "items.properties[%s].type", name);
			scause(c, where, R_INVALID,
			       "Invalid value: \"%s\": must be a scalar type if parent array's "
			       "x-kubernetes-list-type is map",
			       it);
		} else if (!is_required(items, name) && !has_default(p)) {
			snprintf(where, sizeof(where), "items.properties[%s].default", name);
			scause(c, where, R_REQUIRED,
			       "Required value: this property is in x-kubernetes-list-map-keys, so it must "
			       "have a "
			       "default or be a required property");
		}
		for (size_t j = 0; j < i; j++) {
			const char *prev = json_string_value(json_array_get(keys, j));
			if (prev && strcmp(prev, name) == 0) {
				go_string_slice(keys, list, sizeof(list));
				scause(c, "x-kubernetes-list-map-keys", R_INVALID,
				       "Invalid value: %s: must not contain duplicate entries", list);
				break;
			}
		}
	}
}

/* x-kubernetes-list-type=set: items must be scalars or atomic. */
static void check_list_set_items(sctx *c, const json_t *s)
{
	const json_t *items = s_items(s);
	const char *it = s_type(items);
	const char *inner;
	char q[256];
	if (!it)
		return;
	if (strcmp(it, "array") == 0) {
		inner = json_string_value(json_object_get(items, "x-kubernetes-list-type"));
		if (inner && strcmp(inner, "atomic") != 0) {
			go_quote(inner, q, sizeof(q));
			scause(c, "items.x-kubernetes-list-type", R_INVALID,
			       "Invalid value: %s: must be atomic as item of a list with "
			       "x-kubernetes-list-type=set",
			       q);
		}
	} else if (strcmp(it, "object") == 0) {
		inner = json_string_value(json_object_get(items, "x-kubernetes-map-type"));
		if (!inner || strcmp(inner, "atomic") != 0) {
			go_quote(inner ? inner : "null", q, sizeof(q));
			scause(c, "items.x-kubernetes-map-type", R_INVALID,
			       "Invalid value: %s: must be atomic as item of a list with "
			       "x-kubernetes-list-type=set",
			       q);
		}
	}
}

static void check_list_type_schema(sctx *c, const json_t *s)
{
	const json_t *ltj = json_object_get(s, "x-kubernetes-list-type");
	const json_t *keys = json_object_get(s, "x-kubernetes-list-map-keys");
	const char *lt = json_string_value(ltj);
	char q[256];
	if (ltj) {
		if (!lt || (strcmp(lt, "atomic") && strcmp(lt, "set") && strcmp(lt, "map"))) {
			go_quote(lt ? lt : "", q, sizeof(q));
			scause(c, "x-kubernetes-list-type", R_NOT_SUPPORTED,
			       "Unsupported value: %s: supported values: \"atomic\", \"map\", \"set\"", q);
			return;
		}
		const char *type = s_type(s);
		if (!type || strcmp(type, "array") != 0)
			scause(c, "x-kubernetes-list-type", R_INVALID,
			       "Invalid value: \"%s\": must only be used if type is array", lt);
	}
	bool map = lt && strcmp(lt, "map") == 0;
	if (lt && strcmp(lt, "set") == 0)
		check_list_set_items(c, s);
	if (!map && json_array_size(keys) > 0)
		scause(c, "x-kubernetes-list-map-keys", R_FORBIDDEN,
		       "Forbidden: must be empty if x-kubernetes-list-type is not map");
	if (!map)
		return;
	if (json_array_size(keys) == 0) {
		scause(c, "x-kubernetes-list-map-keys", R_REQUIRED,
		       "Required value: must not be empty if x-kubernetes-list-type is map");
		return;
	}
	check_list_map_keys(c, s, keys);
}

/* Properties named in allOf/anyOf/oneOf/not must exist in the structural
 * part too; value validations carry no types of their own. */
static void check_junctor_node(sctx *c, const json_t *j, const json_t *structural)
{
	static const char *const forbidden[] = {"type",
						"default",
						"additionalProperties",
						"nullable",
						"x-kubernetes-preserve-unknown-fields",
						"x-kubernetes-embedded-resource",
						"x-kubernetes-int-or-string"};
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		/* The one IntOrString exception: anyOf [{type: integer}, {type: string}]. */
		if (i == 0 && s_flag(structural, "x-kubernetes-int-or-string"))
			continue;
		if (json_object_get(j, forbidden[i]))
			scause(c, forbidden[i], R_FORBIDDEN, "Forbidden: must be empty to be structural");
	}
	const char *k;
	const json_t *x;
	json_object_foreach((json_t *)s_props(j), k, x) {
		char child[300];
		snprintf(child, sizeof(child), "properties[%s]", k);
		if (!json_object_get(s_props(structural), k))
			scause(c, child, R_REQUIRED,
			       "Required value: must be specified in the structural part of the schema too");
	}
}

static void check_junctors_schema(sctx *c, const json_t *s)
{
	static const char *const arrays[] = { "allOf", "anyOf", "oneOf" };
	for (size_t a = 0; a < 3; a++) {
		size_t i;
		const json_t *j;
		json_array_foreach(json_object_get(s, arrays[a]), i, j) {
			size_t old = path_push(&c->path, ".%s[%zu]", arrays[a], i);
			check_junctor_node(c, j, s);
			check_pattern(c, j);
			path_pop(&c->path, old);
		}
	}
	const json_t *not = json_object_get(s, "not");
	if (json_is_object(not)) {
		size_t old = path_push(&c->path, ".not");
		check_junctor_node(c, not, s);
		path_pop(&c->path, old);
	}
}

/* A default must itself be valid for its schema, and survive pruning. */
static void check_default(sctx *c, const json_t *s)
{
	const json_t *def = json_object_get(s, "default");
	if (!def)
		return;
	size_t old = path_push(&c->path, ".default");
	json_t *copy = json_deep_copy(def);
	json_t *pruned = json_deep_copy(def);
	prune(pruned, s, s_embedded(s));
	if (!json_equal(copy, pruned)) {
		char val[512];
		fmt_value(def, val, sizeof(val));
		schema_cause(c->causes, R_INVALID, c->path.s,
			     "Invalid value: %s: must not have unknown fields", val);
	}
	/* Upstream validates a default as a resource of its own: messages name
	 * paths inside the default (none at its top), fields are below it. */
	vctx v = { c->causes, c->path.s, { "", 0 } };
	validate_node(&v, s, copy);
	json_decref(copy);
	json_decref(pruned);
	path_pop(&c->path, old);
}

static void check_node(sctx *c, const json_t *s, level lvl)
{
	if (!json_is_object(s)) {
		scause(c, NULL, R_INVALID, "Invalid value: must be a schema object");
		return;
	}
	check_unsupported(c, s);
	check_type_field(c, s, lvl);
	check_extensions(c, s);
	check_additional(c, s, lvl);
	check_meta_props(c, s, lvl);
	check_pattern(c, s);
	check_list_type_schema(c, s);
	check_junctors_schema(c, s);
	if (lvl != LVL_ROOT)
		check_default(c, s);
	const json_t *items = json_object_get(s, "items");
	if (json_is_object(items)) {
		size_t old = path_push(&c->path, ".items");
		check_node(c, items, LVL_ITEM);
		path_pop(&c->path, old);
	}
	const char *k;
	const json_t *p;
	json_object_foreach((json_t *)s_props(s), k, p) {
		size_t old = path_push(&c->path, ".properties[%s]", k);
		check_node(c, p, LVL_FIELD);
		path_pop(&c->path, old);
	}
}

void dv_schema_check(const json_t *schema, const char *field_prefix, json_t *causes)
{
	sctx c = { .causes = causes };
	c.path.len = 0;
	c.path.s[0] = '\0';
	path_push(&c.path, "%s", field_prefix ? field_prefix : "");
	if (!schema) {
		schema_cause(causes, R_REQUIRED, c.path.s, "Required value: a schema is required");
		return;
	}
	check_node(&c, schema, LVL_ROOT);
}
