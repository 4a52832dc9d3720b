/*
 * patch.c - JSON Patch (RFC 6902), JSON Merge Patch (RFC 7386) and the
 * Kubernetes strategic merge patch, applied to jansson trees; see patch.h.
 *
 * Every patch is applied to a deep copy of the stored object, so a failure
 * half-way leaves nothing behind: the copy is dropped and the caller still
 * has its object.
 *
 * The reference is what kube-apiserver 1.32 does, which was checked
 * against `kubectl patch --local` (the same libraries, offline): ~1100
 * random strategic patches of Pods and 250 random JSON and merge patches
 * come out the same, apart from the deliberate differences noted here.
 *
 * Hostile input: the body is checked before jansson parses it (not JSON,
 * or more than DV_PATCH_MAX_DEPTH levels -> 400), so every recursion below
 * follows a patch tree at most that deep. JSON Patch cannot grow the document
 * past that depth either (each add/copy/move is checked), nor blow it up
 * through repeated copies (the copied sizes are summed against a cap, as
 * kube-apiserver's json-patch copy limit does), nor run more than 10000
 * operations (kube-apiserver's limit). List merges look items up through
 * hash indexes, so their cost is linear where upstream's is quadratic.
 *
 * JSON Patch and merge patch follow RFC 6902 and 7386, with the two
 * liberties kube-apiserver's library (evanphx/json-patch v4) takes that
 * clients rely on: "replace" of a missing member adds it, and a merge
 * patch value that replaces a non-object loses its nulls inside lists
 * too. Its other liberties (negative array indexes, "01", a "copy" from
 * nowhere adding null, a "test" of a missing path against null passing)
 * are not copied: those patches get the RFC's answer.
 *
 * Strategic merge follows k8s.io/apimachinery/pkg/util/strategicpatch as
 * kube-apiserver runs it (the apply half: parallel lists merged, unmatched
 * nulls ignored), down to the order merged lists come out in. The patch
 * strategies come from the struct tags of the Go types and are tabled
 * below for the kinds dynvol serves. Deliberate differences: a value new
 * to the object loses all its directives (upstream keeps a "$patch:
 * delete" item inside a new list item, which its typed decoding then turns
 * into a real item - the one the client meant to delete); where upstream
 * would panic or answer 500 (lists of mixed types, merge keys that are
 * maps, "$setElementOrder" over two empty lists), this code answers 400,
 * 422 or the evident result; $deleteFromPrimitiveList deletes from any
 * list (upstream replaces a list without merge strategy by the deletion
 * list); unknown fields get no strategy (maps merge, lists are replaced),
 * where upstream answers 500.
 */
#include "patch.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Deepest nesting of {} and [] accepted in a patch body, and produced by
 * a JSON Patch. */
#define DV_PATCH_MAX_DEPTH 100
/* kube-apiserver's maxJSONPatchOperations. */
#define JSON_PATCH_MAX_OPS 10000
/* Bytes (roughly, as serialized) that the copy operations of one JSON
 * Patch may add; kube-apiserver's default JSONPatchMaxCopyBytes. */
#define JSON_PATCH_MAX_COPY (3u * 1024 * 1024)

#define DIRECTIVE_MARKER "$patch"
#define RETAIN_KEYS "$retainKeys"
#define DELETE_PREFIX "$deleteFromPrimitiveList"
#define ORDER_PREFIX "$setElementOrder"

/* ---- errors ------------------------------------------------------------ */

typedef struct {
	dv_patch_result code;
	char *msg;
	size_t len;
} patch_err;

static int patch_fail(patch_err *e, dv_patch_result code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first failure only: later ones are consequences of it.
 * Returns code, so a caller can `return patch_fail(...)`. */
static int patch_fail(patch_err *e, dv_patch_result code, const char *fmt, ...)
{
	va_list ap;

	if (e->code != DV_PATCH_OK)
		return e->code;
	e->code = code;
	if (e->msg && e->len) {
		va_start(ap, fmt);
		vsnprintf(e->msg, e->len, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int oom(patch_err *e)
{
	return patch_fail(e, DV_PATCH_ENOMEM, "out of memory applying the patch");
}

/* ---- memory -------------------------------------------------------------
 *
 * patch.c's own buffers come from jansson's allocator too, so that one
 * json_set_alloc_funcs() makes every allocation of a patch fail in turn
 * (the unit test's torture loop). */

static void *patch_calloc(size_t n, size_t size)
{
	json_malloc_t alloc;
	json_free_t release;
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	json_get_alloc_funcs(&alloc, &release);
	p = alloc(n * size > 0 ? n * size : 1);
	if (p)
		memset(p, 0, n * size);
	return p;
}

static void patch_free(void *p)
{
	json_malloc_t alloc;
	json_free_t release;

	if (!p)
		return;
	json_get_alloc_funcs(&alloc, &release);
	release(p);
}

/* ---- JSON helpers -------------------------------------------------------- */

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool is_number(const json_t *v)
{
	return json_is_integer(v) || json_is_real(v);
}

/* Equality as JSON means it (RFC 6902 section 4.6): numbers by value, 1
 * and 1.0 alike, objects regardless of member order. Recursion stops at
 * the shallower of the two trees. */
static bool values_equal(const json_t *a, const json_t *b)
{
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	if (is_number(a) && is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return json_number_value(a) == json_number_value(b);
	}
	if (json_typeof(a) != json_typeof(b))
		return false;
	if (json_is_string(a))
		return json_string_length(a) == json_string_length(b) &&
		       memcmp(json_string_value(a), json_string_value(b),
			      json_string_length(a)) == 0;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!values_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a)) {
		const char *key;
		json_t *av;

		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach((json_t *)a, key, av)
			if (!values_equal(av, json_object_get(b, key)))
				return false;
		return true;
	}
	return true; /* true, false, null: the type is the value */
}

/* Nesting depth of v: 0 for a scalar, 1 for {} or [], and so on; counted
 * no further than limit + 1, which bounds the recursion. */
static int value_depth(const json_t *v, int limit)
{
	int deepest = 0;

	if (limit < 0)
		return 1;
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v) && deepest <= limit; i++) {
			int d = value_depth(json_array_get(v, i), limit - 1);
			if (d > deepest)
				deepest = d;
		}
		return deepest + 1;
	}
	if (json_is_object(v)) {
		const char *key;
		json_t *cv;

		json_object_foreach((json_t *)v, key, cv) {
			int d = value_depth(cv, limit - 1);
			if (d > deepest)
				deepest = d;
			if (deepest > limit)
				break;
		}
		return deepest + 1;
	}
	return 0;
}

/* About the bytes v takes serialized; for the JSON Patch copy cap. */
static size_t value_size(const json_t *v)
{
	size_t n = 2;

	if (json_is_string(v))
		return json_string_length(v) + 2;
	if (is_number(v))
		return 8;
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			n += value_size(json_array_get(v, i)) + 1;
		return n;
	}
	if (json_is_object(v)) {
		const char *key;
		json_t *cv;

		json_object_foreach((json_t *)v, key, cv)
			n += strlen(key) + 4 + value_size(cv);
		return n;
	}
	return 5;
}

/* ---- the body: checked before jansson sees it ------------------------------
 *
 * An allocation-free pass over the body accepts exactly the JSON jansson
 * accepts (RFC 8259; no NUL in strings, well-formed UTF-8, integers that
 * fit in 64 bits, reals that do not overflow) and counts its nesting. So
 * nothing recursive ever meets a body deeper than DV_PATCH_MAX_DEPTH, the
 * error message is ours (jansson's quotes the body), and when jansson then
 * fails on a body that passed, it ran out of memory - which it does not
 * report reliably itself.
 */

typedef struct {
	const unsigned char *p;
	size_t len, i;
} scanner;

static int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The code unit of a \uXXXX escape at s->i (pointing at the backslash),
 * or -1. */
static long scan_u_escape(const scanner *s, size_t at)
{
	long v = 0;

	if (at + 6 > s->len || s->p[at] != '\\' || s->p[at + 1] != 'u')
		return -1;
	for (size_t k = at + 2; k < at + 6; k++) {
		int d = hex_digit(s->p[k]);

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* One UTF-8 sequence at s->i, as jansson's utf8_check_full judges it. */
static bool scan_utf8(scanner *s)
{
	unsigned char c = s->p[s->i];
	size_t n;
	unsigned long v;

	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		v = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		v = c & 0x07;
	} else {
		return false;
	}
	if (s->i + n > s->len)
		return false;
	for (size_t k = 1; k < n; k++) {
		unsigned char cc = s->p[s->i + k];

		if ((cc & 0xC0) != 0x80)
			return false;
		v = (v << 6) | (cc & 0x3F);
	}
	if ((n == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) ||
	    (n == 4 && (v < 0x10000 || v > 0x10FFFF)))
		return false;
	s->i += n;
	return true;
}

static bool scan_string(scanner *s)
{
	s->i++; /* the opening quote */
	while (s->i < s->len) {
		unsigned char c = s->p[s->i];

		if (c == '"') {
			s->i++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c >= 0x80) {
			if (!scan_utf8(s))
				return false;
			continue;
		}
		if (c != '\\') {
			s->i++;
			continue;
		}
		if (s->i + 1 >= s->len)
			return false;
		c = s->p[s->i + 1];
		if (c == 'u') {
			long u = scan_u_escape(s, s->i);

			if (u <= 0 || (u >= 0xDC00 && u <= 0xDFFF))
				return false; /* NUL, or a lone low surrogate */
			if (u >= 0xD800 && u <= 0xDBFF) {
				long low = scan_u_escape(s, s->i + 6);

				if (low < 0xDC00 || low > 0xDFFF)
					return false;
				s->i += 6;
			}
			s->i += 6;
		} else if (c && strchr("\"\\/bfnrt", c)) {
			s->i += 2;
		} else {
			return false;
		}
	}
	return false;
}

static size_t scan_digits(scanner *s)
{
	size_t start = s->i;

	while (s->i < s->len && s->p[s->i] >= '0' && s->p[s->i] <= '9')
		s->i++;
	return s->i - start;
}

/* Whether the integer digits (an optional '-', then no leading zero) fit
 * in a json_int_t, as strtoll decides for jansson. */
static bool integer_fits(const unsigned char *p, size_t n)
{
	bool neg = p[0] == '-';
	unsigned long long v = 0, max = neg ? (unsigned long long)INT64_MAX + 1 : INT64_MAX;

	for (size_t k = neg; k < n; k++) {
		unsigned d = p[k] - '0';

		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	return true;
}

/* Whether a real overflows a double (jansson refuses those; underflow to 0
 * is accepted). Decided from the decimal magnitude, and near the edge by
 * strtod on the leading digits. */
static bool real_overflows(const unsigned char *p, size_t n)
{
	long long mag = 0, exp = 0;
	bool seen = false, frac = false, neg_exp = false;
	char buf[48];
	size_t b = 0, k = p[0] == '-';

	for (; k < n && p[k] != 'e' && p[k] != 'E'; k++) {
		if (p[k] == '.') {
			frac = true;
			continue;
		}
		if (!seen && p[k] != '0') {
			seen = true;
			buf[b++] = (char)p[k];
			buf[b++] = '.';
		} else if (seen && b < 24) {
			buf[b++] = (char)p[k];
		}
		if (seen && !frac)
			mag++;
		else if (!seen && frac)
			mag--;
	}
	if (!seen)
		return false; /* zero */
	mag--;
	if (k < n) {
		k++;
		if (p[k] == '+' || p[k] == '-')
			neg_exp = p[k++] == '-';
		/* saturating: no body holds 10^9 mantissa digits to make up for it */
		for (; k < n; k++)
			if (exp < 1000000000L)
				exp = exp * 10 + (p[k] - '0');
	}
	mag += neg_exp ? -exp : exp;
	if (mag != 308)
		return mag > 308;
	snprintf(buf + b, sizeof(buf) - b, "e308");
	return strtod(buf, NULL) == HUGE_VAL;
}

static bool scan_number(scanner *s)
{
	size_t start = s->i;
	bool real = false;

	if (s->p[s->i] == '-')
		s->i++;
	if (s->i < s->len && s->p[s->i] == '0')
		s->i++;
	else if (scan_digits(s) == 0)
		return false;
	if (s->i < s->len && s->p[s->i] == '.') {
		s->i++;
		real = true;
		if (scan_digits(s) == 0)
			return false;
	}
	if (s->i < s->len && (s->p[s->i] == 'e' || s->p[s->i] == 'E')) {
		s->i++;
		real = true;
		if (s->i < s->len && (s->p[s->i] == '+' || s->p[s->i] == '-'))
			s->i++;
		if (scan_digits(s) == 0)
			return false;
	}
	if (real)
		return !real_overflows(s->p + start, s->i - start);
	return integer_fits(s->p + start, s->i - start);
}

static bool scan_literal(scanner *s, const char *word)
{
	size_t n = strlen(word);

	if (s->i + n > s->len || memcmp(s->p + s->i, word, n) != 0)
		return false;
	s->i += n;
	return true;
}

static void scan_space(scanner *s)
{
	while (s->i < s->len && (s->p[s->i] == ' ' || s->p[s->i] == '\t' || s->p[s->i] == '\n' ||
				 s->p[s->i] == '\r'))
		s->i++;
}

/* One scalar value at s->i. */
static bool scan_scalar(scanner *s)
{
	unsigned char c = s->p[s->i];

	if (c == '"')
		return scan_string(s);
	if (c == '-' || (c >= '0' && c <= '9'))
		return scan_number(s);
	return scan_literal(s, "true") || scan_literal(s, "false") || scan_literal(s, "null");
}

typedef enum { BODY_OK, BODY_INVALID, BODY_TOO_DEEP } body_check;

/* Checks that the body is one JSON value nested no deeper than
 * DV_PATCH_MAX_DEPTH; *where is the offset of the first problem. Iterative:
 * the containers open at any point are kept in `open`. */
static body_check check_body(const char *body, size_t len, size_t *where)
{
	scanner s = { (const unsigned char *)body, len, 0 };
	char open[DV_PATCH_MAX_DEPTH];
	int depth = 0;
	enum { WANT_VALUE, WANT_VALUE_OR_END, WANT_KEY, WANT_KEY_OR_END, AFTER_VALUE } st = WANT_VALUE;

	for (;;) {
		unsigned char c;

		scan_space(&s);
		*where = s.i;
		if (st == AFTER_VALUE && depth == 0)
			return s.i == len ? BODY_OK : BODY_INVALID;
		if (s.i >= len)
			return BODY_INVALID;
		c = s.p[s.i];
		switch (st) {
		case WANT_VALUE_OR_END:
			if (c == ']') {
				depth--;
				s.i++;
				st = AFTER_VALUE;
				break;
			}
			/* fall through */
		case WANT_VALUE:
			if (c == '{' || c == '[') {
				if (depth == DV_PATCH_MAX_DEPTH)
					return BODY_TOO_DEEP;
				open[depth++] = (char)c;
				s.i++;
				st = c == '{' ? WANT_KEY_OR_END : WANT_VALUE_OR_END;
			} else if (scan_scalar(&s)) {
				st = AFTER_VALUE;
			} else {
				return BODY_INVALID;
			}
			break;
		case WANT_KEY_OR_END:
			if (c == '}') {
				depth--;
				s.i++;
				st = AFTER_VALUE;
				break;
			}
			/* fall through */
		case WANT_KEY:
			if (c != '"' || !scan_string(&s))
				return BODY_INVALID;
			scan_space(&s);
			if (s.i >= len || s.p[s.i] != ':')
				return BODY_INVALID;
			s.i++;
			st = WANT_VALUE;
			break;
		case AFTER_VALUE:
			if (c == ',') {
				st = open[depth - 1] == '{' ? WANT_KEY : WANT_VALUE;
			} else if (c == (open[depth - 1] == '{' ? '}' : ']')) {
				depth--;
			} else {
				return BODY_INVALID;
			}
			s.i++;
			break;
		}
	}
}

static int parse_body(patch_err *e, const char *body, size_t len, json_t **out)
{
	json_error_t jerr;
	size_t where;

	switch (check_body(body, len, &where)) {
	case BODY_TOO_DEEP:
		return patch_fail(e, DV_PATCH_EBADREQUEST,
				  "the patch nests deeper than %d levels", DV_PATCH_MAX_DEPTH);
	case BODY_INVALID:
		return patch_fail(e, DV_PATCH_EBADREQUEST,
				  "the patch is not valid JSON (at byte %zu)", where);
	case BODY_OK:
		break;
	}
	*out = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
	return *out ? 0 : oom(e);
}

/* ---- RFC 6901 JSON Pointer ----------------------------------------------- */

typedef struct {
	char *buf;  /* the unescaped tokens, each NUL-terminated */
	char **tok;
	size_t n;
} jpointer;

static void jpointer_free(jpointer *p)
{
	patch_free(p->buf);
	patch_free(p->tok);
	p->buf = NULL;
	p->tok = NULL;
	p->n = 0;
}

/* Splits s into reference tokens, undoing ~1 (/) and ~0 (~). Returns 0,
 * DV_PATCH_EBADREQUEST for a malformed pointer, DV_PATCH_ENOMEM. */
static int jpointer_parse(const char *s, jpointer *p)
{
	size_t len = strlen(s), slashes = 0;
	char *w;

	p->buf = NULL;
	p->tok = NULL;
	p->n = 0;
	if (len == 0)
		return 0; /* the whole document */
	if (s[0] != '/')
		return DV_PATCH_EBADREQUEST;
	for (size_t i = 0; i < len; i++)
		slashes += s[i] == '/';
	p->buf = patch_calloc(len + 1, 1);
	p->tok = patch_calloc(slashes, sizeof(*p->tok));
	if (!p->buf || !p->tok) {
		jpointer_free(p);
		return DV_PATCH_ENOMEM;
	}
	w = p->buf;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '/') {
			if (p->n)
				*w++ = '\0';
			p->tok[p->n++] = w;
		} else if (s[i] == '~') {
			if (s[i + 1] != '0' && s[i + 1] != '1') {
				jpointer_free(p);
				return DV_PATCH_EBADREQUEST;
			}
			*w++ = s[i + 1] == '0' ? '~' : '/';
			i++;
		} else {
			*w++ = s[i];
		}
	}
	*w = '\0';
	return 0;
}

/* An array index as RFC 6901 spells it: "0" or digits without a leading
 * zero. "-" and anything else are not indexes. */
static bool parse_index(const char *t, size_t *out)
{
	size_t v = 0;

	if (!*t || (t[0] == '0' && t[1]))
		return false;
	for (; *t; t++) {
		if (*t < '0' || *t > '9' || v > (SIZE_MAX - 9) / 10)
			return false;
		v = v * 10 + (size_t)(*t - '0');
	}
	*out = v;
	return true;
}

/* The value the first n tokens of p point at, or NULL. Borrowed. */
static json_t *jpointer_get(json_t *doc, const jpointer *p, size_t n)
{
	json_t *cur = doc;

	for (size_t i = 0; i < n && cur; i++) {
		size_t idx;

		if (json_is_object(cur))
			cur = json_object_get(cur, p->tok[i]);
		else if (json_is_array(cur) && parse_index(p->tok[i], &idx))
			cur = json_array_get(cur, idx); /* NULL past the end */
		else
			cur = NULL;
	}
	return cur;
}

/* ---- RFC 6902 JSON Patch -------------------------------------------------- */

typedef enum { OP_ADD, OP_REMOVE, OP_REPLACE, OP_MOVE, OP_COPY, OP_TEST } jp_kind;

typedef struct {
	jp_kind kind;
	const char *path_text;
	jpointer path, from;
	const json_t *value; /* borrowed from the patch document */
} jp_op;

static const char *const jp_names[] = { "add", "remove", "replace", "move", "copy", "test" };

static void jp_ops_free(jp_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		jpointer_free(&ops[i].path);
		jpointer_free(&ops[i].from);
	}
	patch_free(ops);
}

static int jp_parse_pointer(patch_err *e, const char *s, jpointer *p, size_t i, const char *member)
{
	int r = jpointer_parse(s, p);

	if (r == DV_PATCH_ENOMEM)
		return oom(e);
	if (r < 0)
		return patch_fail(e, DV_PATCH_EBADREQUEST,
				  "operation %zu: \"%s\" is not a JSON pointer", i, member);
	return 0;
}

/* Checks one operation object of the patch document and fills op. Missing
 * or mistyped members are a malformed document (400), whatever state the
 * object is in. */
static int jp_parse_op(patch_err *e, const json_t *obj, size_t i, jp_op *op)
{
	const json_t *name = json_object_get(obj, "op");
	const json_t *path = json_object_get(obj, "path");
	const json_t *from = json_object_get(obj, "from");
	size_t k;
	int r;

	if (!json_is_object(obj))
		return patch_fail(e, DV_PATCH_EBADREQUEST,
				  "operation %zu: not a JSON object", i);
	if (!json_is_string(name))
		return patch_fail(e, DV_PATCH_EBADREQUEST,
				  "operation %zu: missing \"op\"", i);
	for (k = 0; k < sizeof(jp_names) / sizeof(jp_names[0]); k++)
		if (strcmp(json_string_value(name), jp_names[k]) == 0)
			break;
	if (k == sizeof(jp_names) / sizeof(jp_names[0]))
		return patch_fail(e, DV_PATCH_EBADREQUEST,
				  "operation %zu: unknown op (must be one of add, remove, replace, move, copy, test)", i);
	op->kind = (jp_kind)k;
	if (!json_is_string(path))
		return patch_fail(e, DV_PATCH_EBADREQUEST,
				  "operation %zu (%s): missing \"path\"", i, jp_names[k]);
	op->path_text = json_string_value(path);
	if ((r = jp_parse_pointer(e, op->path_text, &op->path, i, "path")) < 0)
		return r;
	op->value = json_object_get(obj, "value");
	if (!op->value && (op->kind == OP_ADD || op->kind == OP_REPLACE || op->kind == OP_TEST))
		return patch_fail(e, DV_PATCH_EBADREQUEST,
				  "operation %zu (%s): missing \"value\"", i, jp_names[k]);
	if (op->kind == OP_MOVE || op->kind == OP_COPY) {
		if (!json_is_string(from))
			return patch_fail(e, DV_PATCH_EBADREQUEST,
					  "operation %zu (%s): missing \"from\"", i, jp_names[k]);
		if ((r = jp_parse_pointer(e, json_string_value(from), &op->from, i, "from")) < 0)
			return r;
	}
	return 0;
}

static int jp_missing(patch_err *e, size_t i, const jp_op *op)
{
	return patch_fail(e, DV_PATCH_EINVALID, "operation %zu (%s): path %s does not exist",
			  i, jp_names[op->kind], op->path_text);
}

/* Puts value (a new reference, consumed) at path, as "add" does: a member
 * is created or replaced, an array element inserted or appended ("-"). */
static int jp_add_value(patch_err *e, json_t **doc, const jp_op *op, size_t i, json_t *value)
{
	const jpointer *p = &op->path;
	json_t *parent;
	const char *last;
	size_t idx;

	if (p->n + (size_t)value_depth(value, DV_PATCH_MAX_DEPTH) > DV_PATCH_MAX_DEPTH) {
		json_decref(value);
		return patch_fail(e, DV_PATCH_EINVALID,
				  "operation %zu (%s): the result would nest deeper than %d levels",
				  i, jp_names[op->kind], DV_PATCH_MAX_DEPTH);
	}
	if (p->n == 0) {
		json_decref(*doc);
		*doc = value;
		return 0;
	}
	parent = jpointer_get(*doc, p, p->n - 1);
	last = p->tok[p->n - 1];
	if (json_is_object(parent)) {
		if (json_object_set_new(parent, last, value) < 0)
			return oom(e);
		return 0;
	}
	if (json_is_array(parent)) {
		if (strcmp(last, "-") == 0)
			idx = json_array_size(parent);
		else if (!parse_index(last, &idx) || idx > json_array_size(parent)) {
			json_decref(value);
			return patch_fail(e, DV_PATCH_EINVALID,
					  "operation %zu (%s): index out of bounds in path %s",
					  i, jp_names[op->kind], op->path_text);
		}
		if (json_array_insert_new(parent, idx, value) < 0)
			return oom(e);
		return 0;
	}
	json_decref(value);
	return jp_missing(e, i, op);
}

/* Detaches the value at p; *out gets a reference to it. */
static int jp_take(patch_err *e, json_t *doc, const jpointer *p, const jp_op *op, size_t i,
		   json_t **out)
{
	json_t *parent = p->n ? jpointer_get(doc, p, p->n - 1) : NULL;
	json_t *v = p->n ? jpointer_get(doc, p, p->n) : NULL;
	size_t idx = 0;

	if (!v) {
		if (p->n == 0)
			return patch_fail(e, DV_PATCH_EINVALID,
					  "operation %zu (%s): cannot remove the whole document",
					  i, jp_names[op->kind]);
		return patch_fail(e, DV_PATCH_EINVALID, "operation %zu (%s): path does not exist",
				  i, jp_names[op->kind]);
	}
	*out = json_incref(v);
	if (json_is_object(parent))
		json_object_del(parent, p->tok[p->n - 1]);
	else if (parse_index(p->tok[p->n - 1], &idx))
		json_array_remove(parent, idx);
	return 0;
}

/* Puts value (consumed) in place of the existing value at path: a member
 * keeps its place among the others, an array its length. A member that is
 * not there is added, as kube-apiserver's json-patch library (evanphx v4)
 * does and `kubectl patch --type json` users rely on; a missing array
 * element or parent is an error. */
static int jp_replace(patch_err *e, json_t **doc, const jp_op *op, size_t i)
{
	const jpointer *p = &op->path;
	json_t *parent, *value;
	size_t idx = 0;

	if (p->n && !jpointer_get(*doc, p, p->n) &&
	    !json_is_object(jpointer_get(*doc, p, p->n - 1)))
		return jp_missing(e, i, op);
	value = json_deep_copy(op->value);
	if (!value)
		return oom(e);
	if (p->n == 0 || p->n + (size_t)value_depth(value, DV_PATCH_MAX_DEPTH) > DV_PATCH_MAX_DEPTH)
		return jp_add_value(e, doc, op, i, value); /* the root, or the depth error */
	parent = jpointer_get(*doc, p, p->n - 1);
	if (json_is_object(parent)) {
		if (json_object_set_new(parent, p->tok[p->n - 1], value) < 0)
			return oom(e);
		return 0;
	}
	parse_index(p->tok[p->n - 1], &idx); /* it exists, so it is an index */
	if (json_array_set_new(parent, idx, value) < 0)
		return oom(e);
	return 0;
}

static bool jpointer_equal(const jpointer *a, const jpointer *b)
{
	if (a->n != b->n)
		return false;
	for (size_t k = 0; k < a->n; k++)
		if (strcmp(a->tok[k], b->tok[k]) != 0)
			return false;
	return true;
}

static bool jpointer_is_proper_prefix(const jpointer *a, const jpointer *b)
{
	if (a->n >= b->n)
		return false;
	for (size_t k = 0; k < a->n; k++)
		if (strcmp(a->tok[k], b->tok[k]) != 0)
			return false;
	return true;
}

/* "move": remove at from, add at path; a value cannot move into itself
 * (that would make the tree a cycle). */
static int jp_move(patch_err *e, json_t **doc, const jp_op *op, size_t i)
{
	json_t *v;
	int r;

	if (jpointer_is_proper_prefix(&op->from, &op->path))
		return patch_fail(e, DV_PATCH_EINVALID,
				  "operation %zu (move): cannot move a value into itself", i);
	if (!jpointer_get(*doc, &op->from, op->from.n))
		return patch_fail(e, DV_PATCH_EINVALID,
				  "operation %zu (move): from does not exist", i);
	if (jpointer_equal(&op->from, &op->path))
		return 0;
	if (op->path.n && !jpointer_get(*doc, &op->path, op->path.n - 1))
		return patch_fail(e, DV_PATCH_EINVALID,
				  "operation %zu (move): the parent of path %s does not exist",
				  i, op->path_text);
	if ((r = jp_take(e, *doc, &op->from, op, i, &v)) < 0)
		return r;
	return jp_add_value(e, doc, op, i, v);
}

static int jp_copy(patch_err *e, json_t **doc, const jp_op *op, size_t i, size_t *copied)
{
	json_t *src = jpointer_get(*doc, &op->from, op->from.n);
	json_t *v;
	size_t size;

	if (!src)
		return patch_fail(e, DV_PATCH_EINVALID, "operation %zu (copy): from does not exist", i);
	if ((size_t)value_depth(src, DV_PATCH_MAX_DEPTH) + op->path.n > DV_PATCH_MAX_DEPTH)
		return patch_fail(e, DV_PATCH_EINVALID,
				  "operation %zu (copy): the result would nest deeper than %d levels",
				  i, DV_PATCH_MAX_DEPTH);
	size = value_size(src);
	if (size > JSON_PATCH_MAX_COPY - *copied)
		return patch_fail(e, DV_PATCH_EINVALID,
				  "operation %zu (copy): the copies of this patch exceed %u bytes",
				  i, JSON_PATCH_MAX_COPY);
	*copied += size;
	v = json_deep_copy(src);
	if (!v)
		return oom(e);
	return jp_add_value(e, doc, op, i, v);
}

static int jp_apply_op(patch_err *e, json_t **doc, const jp_op *op, size_t i, size_t *copied)
{
	json_t *v;
	int r;

	switch (op->kind) {
	case OP_ADD:
		v = json_deep_copy(op->value);
		if (!v)
			return oom(e);
		if (op->path.n && !jpointer_get(*doc, &op->path, op->path.n - 1)) {
			json_decref(v);
			return patch_fail(e, DV_PATCH_EINVALID,
					  "operation %zu (add): the parent of path %s does not exist",
					  i, op->path_text);
		}
		return jp_add_value(e, doc, op, i, v);
	case OP_REMOVE:
		if ((r = jp_take(e, *doc, &op->path, op, i, &v)) < 0)
			return r;
		json_decref(v);
		return 0;
	case OP_REPLACE:
		return jp_replace(e, doc, op, i);
	case OP_MOVE:
		return jp_move(e, doc, op, i);
	case OP_COPY:
		return jp_copy(e, doc, op, i, copied);
	case OP_TEST:
		v = jpointer_get(*doc, &op->path, op->path.n);
		if (!v)
			return jp_missing(e, i, op);
		if (!values_equal(v, op->value))
			return patch_fail(e, DV_PATCH_EINVALID,
					  "operation %zu (test): the value at path %s differs",
					  i, op->path_text);
		return 0;
	}
	return patch_fail(e, DV_PATCH_EBADREQUEST, "operation %zu: unknown op", i);
}

/* Applies the operations in order to *doc (owned, replaced if an operation
 * targets the root). All of them are checked before the first runs, so a
 * malformed document is 400 even behind an operation that would fail. */
static int json_patch_apply(patch_err *e, json_t **doc, const json_t *patch)
{
	size_t n, copied = 0;
	jp_op *ops;
	int r = 0;

	if (!json_is_array(patch))
		return patch_fail(e, DV_PATCH_EBADREQUEST,
				  "a JSON patch must be a JSON array of operations");
	n = json_array_size(patch);
	if (n > JSON_PATCH_MAX_OPS)
		return patch_fail(e, DV_PATCH_EBADREQUEST,
				  "The allowed maximum operations in a JSON patch is %d, got %zu",
				  JSON_PATCH_MAX_OPS, n);
	ops = patch_calloc(n, sizeof(*ops));
	if (!ops)
		return oom(e);
	for (size_t i = 0; i < n && r == 0; i++)
		r = jp_parse_op(e, json_array_get(patch, i), i, &ops[i]);
	for (size_t i = 0; i < n && r == 0; i++)
		r = jp_apply_op(e, doc, &ops[i], i, &copied);
	jp_ops_free(ops, n);
	return r;
}

/* ---- RFC 7386 JSON Merge Patch --------------------------------------------- */

/* A copy of v without null members in any map, those inside lists too
 * (null list elements stay). */
static json_t *copy_without_nulls(const json_t *v)
{
	json_t *c;

	if (json_is_object(v)) {
		const char *key;
		json_t *cv;

		if (!(c = json_object()))
			return NULL;
		json_object_foreach((json_t *)v, key, cv) {
			if (json_is_null(cv))
				continue;
			if (json_object_set_new(c, key, copy_without_nulls(cv)) < 0) {
				json_decref(c);
				return NULL;
			}
		}
		return c;
	}
	if (json_is_array(v)) {
		if (!(c = json_array()))
			return NULL;
		for (size_t i = 0; i < json_array_size(v); i++)
			if (json_array_append_new(c, copy_without_nulls(json_array_get(v, i))) < 0) {
				json_decref(c);
				return NULL;
			}
		return c;
	}
	return json_incref((json_t *)v);
}

/*
 * MergePatch(target, patch) of RFC 7386 section 2, as kube-apiserver's
 * json-patch library (evanphx v4) runs it: a value that replaces a
 * non-object (or nothing) loses its null members everywhere, inside lists
 * too, where the RFC would keep those inside lists; a non-object that
 * replaces an object is taken as it is. target is an owned reference
 * (NULL: absent), modified in place where it is an object; *out gets the
 * result. Recursion follows the patch.
 */
static int merge_patch(patch_err *e, json_t *target, const json_t *patch, json_t **out)
{
	const char *key;
	json_t *pv;

	if (!json_is_object(patch) || !json_is_object(target)) {
		*out = json_is_object(target) ? json_deep_copy(patch) : copy_without_nulls(patch);
		json_decref(target);
		return *out ? 0 : oom(e);
	}
	json_object_foreach((json_t *)patch, key, pv) {
		json_t *cur, *merged;

		if (json_is_null(pv)) {
			json_object_del(target, key);
			continue;
		}
		cur = json_incref(json_object_get(target, key));
		if (merge_patch(e, cur, pv, &merged) < 0 ||
		    json_object_set_new(target, key, merged) < 0) {
			json_decref(target);
			return e->code ? e->code : oom(e);
		}
	}
	*out = target;
	return 0;
}

/* ---- strategic merge: patch strategies of the Go types --------------------- */

#define SMP_MERGE 1u       /* patchStrategy:"merge" */
#define SMP_RETAIN_KEYS 2u /* patchStrategy:"retainKeys" (the client sends $retainKeys) */
#define SMP_REPLACE 4u     /* patchStrategy:"replace" */

typedef struct smp_type smp_type;

typedef struct {
	const char *name;         /* the JSON field name */
	unsigned strategy;
	const char *merge_key;    /* patchMergeKey; NULL for lists of scalars */
	const smp_type *type;     /* the struct, or the list's element struct */
} smp_field;

struct smp_type {
	const smp_field *fields;
	size_t n;
};

#define SMP_TYPE(name, ...)                                             \
	static const smp_field name##_fields[] = { __VA_ARGS__ };       \
	static const smp_type name = { name##_fields,                   \
				       sizeof(name##_fields) / sizeof(smp_field) }

/* Only fields that carry a strategy, or lead to one, are listed; every
 * other field merges (maps) or is replaced (lists). From k8s.io/api and
 * k8s.io/apimachinery as of Kubernetes 1.32. */
SMP_TYPE(t_object_meta,
	 { "ownerReferences", SMP_MERGE, "uid", NULL },
	 { "finalizers", SMP_MERGE, NULL, NULL });
/* core/v1 Container and EphemeralContainerCommon */
SMP_TYPE(t_container,
	 { "ports", SMP_MERGE, "containerPort", NULL },
	 { "env", SMP_MERGE, "name", NULL },
	 { "volumeMounts", SMP_MERGE, "mountPath", NULL },
	 { "volumeDevices", SMP_MERGE, "devicePath", NULL });
SMP_TYPE(t_pvc_template, { "metadata", 0, NULL, &t_object_meta });
SMP_TYPE(t_ephemeral_source, { "volumeClaimTemplate", 0, NULL, &t_pvc_template });
SMP_TYPE(t_volume, { "ephemeral", 0, NULL, &t_ephemeral_source });
SMP_TYPE(t_pod_spec,
	 { "volumes", SMP_MERGE | SMP_RETAIN_KEYS, "name", &t_volume },
	 { "initContainers", SMP_MERGE, "name", &t_container },
	 { "containers", SMP_MERGE, "name", &t_container },
	 { "ephemeralContainers", SMP_MERGE, "name", &t_container },
	 { "imagePullSecrets", SMP_MERGE, "name", NULL },
	 { "hostAliases", SMP_MERGE, "ip", NULL },
	 { "topologySpreadConstraints", SMP_MERGE, "topologyKey", NULL },
	 { "resourceClaims", SMP_MERGE | SMP_RETAIN_KEYS, "name", NULL },
	 { "schedulingGates", SMP_MERGE, "name", NULL });
SMP_TYPE(t_pod_status,
	 { "conditions", SMP_MERGE, "type", NULL },
	 { "podIPs", SMP_MERGE, "ip", NULL },
	 { "hostIPs", SMP_MERGE, "ip", NULL },
	 { "resourceClaimStatuses", SMP_MERGE | SMP_RETAIN_KEYS, "name", NULL });
SMP_TYPE(t_pod,
	 { "metadata", 0, NULL, &t_object_meta },
	 { "spec", 0, NULL, &t_pod_spec },
	 { "status", 0, NULL, &t_pod_status });
/* PersistentVolumeClaimStatus, NamespaceStatus */
SMP_TYPE(t_conditions_status, { "conditions", SMP_MERGE, "type", NULL });
SMP_TYPE(t_with_conditions,
	 { "metadata", 0, NULL, &t_object_meta },
	 { "status", 0, NULL, &t_conditions_status });
SMP_TYPE(t_node_spec, { "podCIDRs", SMP_MERGE, NULL, NULL });
SMP_TYPE(t_node_status,
	 { "conditions", SMP_MERGE, "type", NULL },
	 { "addresses", SMP_MERGE, "type", NULL });
SMP_TYPE(t_node,
	 { "metadata", 0, NULL, &t_object_meta },
	 { "spec", 0, NULL, &t_node_spec },
	 { "status", 0, NULL, &t_node_status });
SMP_TYPE(t_csinode_spec, { "drivers", SMP_MERGE, "name", NULL });
SMP_TYPE(t_csinode,
	 { "metadata", 0, NULL, &t_object_meta },
	 { "spec", 0, NULL, &t_csinode_spec });
/* Kinds whose only strategies are those of metadata. */
SMP_TYPE(t_meta_only, { "metadata", 0, NULL, &t_object_meta });

static const struct {
	const char *group;
	const char *kind;
	const smp_type *type;
} smp_kinds[] = {
	{ "", "Pod", &t_pod },
	{ "", "PersistentVolumeClaim", &t_with_conditions },
	{ "", "PersistentVolume", &t_meta_only },
	{ "", "Namespace", &t_with_conditions },
	{ "", "Node", &t_node },
	{ "", "Secret", &t_meta_only },
	{ "", "ConfigMap", &t_meta_only },
	{ "", "Event", &t_meta_only },
	{ "storage.k8s.io", "StorageClass", &t_meta_only },
	{ "storage.k8s.io", "CSIDriver", &t_meta_only },
	{ "storage.k8s.io", "CSINode", &t_csinode },
	{ "storage.k8s.io", "VolumeAttachment", &t_meta_only },
	{ "storage.k8s.io", "CSIStorageCapacity", &t_meta_only },
	{ "storage.k8s.io", "VolumeAttributesClass", &t_meta_only },
	{ "snapshot.storage.k8s.io", "VolumeSnapshot", &t_meta_only },
	{ "snapshot.storage.k8s.io", "VolumeSnapshotContent", &t_meta_only },
	{ "snapshot.storage.k8s.io", "VolumeSnapshotClass", &t_meta_only },
	{ "coordination.k8s.io", "Lease", &t_meta_only },
	{ "apiextensions.k8s.io", "CustomResourceDefinition", &t_meta_only },
	{ "events.k8s.io", "Event", &t_meta_only },
};

static const smp_type *smp_root_type(const char *group, const char *kind)
{
	if (!group)
		group = "";
	if (!kind)
		return NULL;
	for (size_t i = 0; i < sizeof(smp_kinds) / sizeof(smp_kinds[0]); i++)
		if (strcmp(smp_kinds[i].group, group) == 0 && strcmp(smp_kinds[i].kind, kind) == 0)
			return smp_kinds[i].type;
	return NULL;
}

static const smp_field *smp_lookup(const smp_type *t, const char *name)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (strcmp(t->fields[i].name, name) == 0)
			return &t->fields[i];
	return NULL;
}

/* ---- strategic merge: the algorithm ------------------------------------------ */

static int smp_merge_map(patch_err *e, json_t *orig, json_t *patch, const smp_type *t,
			 json_t **out);

static bool is_directive_key(const char *key)
{
	return strcmp(key, RETAIN_KEYS) == 0 || has_prefix(key, ORDER_PREFIX) ||
	       has_prefix(key, DELETE_PREFIX);
}

/*
 * A patch value that becomes part of the object as it is (new to the
 * object, replacing a value of another type, an element of a replaced
 * list): a copy without null members, without maps that carry a $patch
 * directive and without the other directive keys, which kube-apiserver's
 * typed decoding would drop too. *out is NULL when the value itself goes.
 */
static int smp_clean(patch_err *e, const json_t *v, json_t **out)
{
	*out = NULL;
	if (json_is_object(v)) {
		const char *key;
		json_t *cv, *o;

		if (json_object_get(v, DIRECTIVE_MARKER))
			return 0;
		o = json_object();
		if (!o)
			return oom(e);
		json_object_foreach((json_t *)v, key, cv) {
			json_t *c;

			if (json_is_null(cv) || is_directive_key(key))
				continue;
			if (smp_clean(e, cv, &c) < 0) {
				json_decref(o);
				return e->code;
			}
			if (c && json_object_set_new(o, key, c) < 0) {
				json_decref(o);
				return oom(e);
			}
		}
		*out = o;
		return 0;
	}
	if (json_is_array(v)) {
		json_t *a = json_array();

		if (!a)
			return oom(e);
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *c;

			if (smp_clean(e, json_array_get(v, i), &c) < 0) {
				json_decref(a);
				return e->code;
			}
			if (c && json_array_append_new(a, c) < 0) {
				json_decref(a);
				return oom(e);
			}
		}
		*out = a;
		return 0;
	}
	*out = json_incref((json_t *)v); /* scalars are never modified: shared */
	return 0;
}

/* The kind of a list element for the "all elements of one type" rule:
 * numbers are one kind, true and false another. */
static int element_kind(const json_t *v)
{
	if (is_number(v))
		return JSON_INTEGER;
	if (json_is_boolean(v))
		return JSON_TRUE;
	return (int)json_typeof(v);
}

/* The common element kind of the lists a and b (either may be NULL), -1
 * when both are empty. Lists of lists and mixed lists cannot be merged. */
static int list_kind(patch_err *e, const json_t *a, const json_t *b, const char *field, int *kind)
{
	const json_t *lists[2] = { a, b };

	*kind = -1;
	for (int l = 0; l < 2; l++) {
		for (size_t i = 0; lists[l] && i < json_array_size(lists[l]); i++) {
			int k = element_kind(json_array_get(lists[l], i));

			if (k == JSON_ARRAY)
				return patch_fail(e, DV_PATCH_EINVALID,
						  "%s: lists of lists cannot be merged", field);
			if (*kind >= 0 && k != *kind)
				return patch_fail(e, DV_PATCH_EINVALID,
						  "%s: list elements are not all of one type", field);
			*kind = k;
		}
	}
	return 0;
}

/* Position of v in list, matching maps by their merge key (mk) and
 * anything else by value; SIZE_MAX when absent. Linear; list_idx below is
 * the same lookup through a hash. */
static size_t list_index(const json_t *list, const json_t *v, const char *mk)
{
	const json_t *want = mk ? json_object_get(v, mk) : v;

	if (!want)
		return SIZE_MAX;
	for (size_t i = 0; list && i < json_array_size(list); i++) {
		const json_t *item = json_array_get(list, i);
		const json_t *have = mk ? json_object_get(item, mk) : item;

		if (have && values_equal(have, want))
			return i;
	}
	return SIZE_MAX;
}

/*
 * A hash index over a list - its items' merge key values, or the items
 * themselves in a list of scalars - so that merging long lists stays
 * linear: upstream's lookups are quadratic, and a 400 KB patch of new
 * list items would keep a core busy for a minute. Values are hashed by a
 * text form that equates what values_equal equates (1 and 1.0); maps and
 * lists as keys, and an index that ran out of memory, fall back to the
 * linear scan.
 */
typedef struct {
	json_t *map; /* key text -> first position; NULL: scan */
	const json_t *list;
	const char *mk;
} list_idx;

/* The text v is indexed under: buf, or a buffer from patch_calloc when it
 * does not fit, or NULL for a map or list (or no memory). */
static char *idx_text(const json_t *v, char *buf, size_t len)
{
	double d;

	switch (json_typeof(v)) {
	case JSON_STRING: {
		size_t n = json_string_length(v);

		if (strlen(json_string_value(v)) != n)
			return NULL; /* an embedded NUL: cannot be a key */
		if (n + 2 > len && !(buf = patch_calloc(n + 2, 1)))
			return NULL;
		buf[0] = 's';
		memcpy(buf + 1, json_string_value(v), n + 1);
		return buf;
	}
	case JSON_INTEGER:
		snprintf(buf, len, "i%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	case JSON_REAL:
		d = json_real_value(v);
		if (d >= -9.2e18 && d <= 9.2e18 && (double)(long long)d == d)
			snprintf(buf, len, "i%lld", (long long)d);
		else
			snprintf(buf, len, "r%.17g", d);
		return buf;
	case JSON_TRUE:
	case JSON_FALSE:
	case JSON_NULL:
		snprintf(buf, len, "%c", json_is_true(v) ? 't' : json_is_false(v) ? 'f' : 'n');
		return buf;
	default:
		return NULL;
	}
}

static void idx_text_free(char *t, const char *buf)
{
	if (t != buf)
		patch_free(t);
}

/* Records item, at pos, unless its key is there already. */
static void idx_add(list_idx *x, const json_t *item, size_t pos)
{
	const json_t *v = x->mk ? json_object_get(item, x->mk) : item;
	char buf[128], *t;

	if (!x->map || !v || !(t = idx_text(v, buf, sizeof(buf))))
		return;
	if (!json_object_get(x->map, t) &&
	    json_object_set_new(x->map, t, json_integer((json_int_t)pos)) < 0) {
		json_decref(x->map); /* no memory: scan instead */
		x->map = NULL;
	}
	idx_text_free(t, buf);
}

static void idx_build(list_idx *x, const json_t *list, const char *mk)
{
	x->list = list;
	x->mk = mk;
	x->map = json_object();
	for (size_t i = 0; x->map && i < json_array_size(list); i++)
		idx_add(x, json_array_get(list, i), i);
}

static void idx_free(list_idx *x)
{
	json_decref(x->map);
	x->map = NULL;
}

/* list_index(x->list, v, x->mk). */
static size_t idx_find(const list_idx *x, const json_t *v)
{
	const json_t *want = x->mk ? json_object_get(v, x->mk) : v;
	char buf[128], *t;
	json_t *hit;

	if (!want)
		return SIZE_MAX;
	if (!x->map || !(t = idx_text(want, buf, sizeof(buf))))
		return list_index(x->list, v, x->mk);
	hit = json_object_get(x->map, t);
	idx_text_free(t, buf);
	return hit ? (size_t)json_integer_value(hit) : SIZE_MAX;
}

typedef struct {
	json_t *item;
	size_t rank, pos;
} ranked;

static int ranked_cmp(const void *a, const void *b)
{
	const ranked *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Sorts the items of list (in place) by their position in the indexed
 * order, stably; items not in it keep their relative place after those
 * that are. */
static int sort_by_order(patch_err *e, json_t *list, const list_idx *order)
{
	size_t n = json_array_size(list);
	ranked *r;

	if (n < 2)
		return 0;
	r = patch_calloc(n, sizeof(*r));
	if (!r)
		return oom(e);
	for (size_t i = 0; i < n; i++) {
		r[i].item = json_incref(json_array_get(list, i));
		r[i].rank = idx_find(order, r[i].item);
		r[i].pos = i;
	}
	qsort(r, n, sizeof(*r), ranked_cmp);
	for (size_t i = 0; i < n; i++)
		json_array_set_new(list, i, r[i].item); /* same size: cannot fail */
	patch_free(r);
	return 0;
}

/* The position in the indexed list of each item of list. */
static size_t *positions(const json_t *list, const list_idx *in)
{
	size_t n = json_array_size(list);
	size_t *at = patch_calloc(n, sizeof(*at));

	for (size_t i = 0; at && i < n; i++)
		at[i] = idx_find(in, json_array_get(list, i));
	return at;
}

/*
 * The order strategicpatch gives a merged list (normalizeElementOrder and
 * mergeSortedSlice): the items named in the patch (or $setElementOrder)
 * in that order, the server-only items in their old order, interleaved by
 * walking both and taking a server-only item first only when both items
 * were in the old list and it came earlier there. So an item new to the
 * list lands before the server-only items that follow it: a strategic
 * patch adding a container or finalizer without $setElementOrder puts it
 * first, as kube-apiserver does.
 */
static int smp_order(patch_err *e, const json_t *merged, const json_t *order,
		     const json_t *server_order, const char *mk, const char *field, json_t **out)
{
	json_t *mine = json_array(), *theirs = json_array(), *res = json_array();
	size_t i = 0, j = 0, nl, nr, *li = NULL, *ri = NULL;
	list_idx oi, si;
	int r = 0;

	idx_build(&oi, order, mk);
	idx_build(&si, server_order, mk);
	if (!mine || !theirs || !res) {
		r = oom(e);
		goto done;
	}
	for (size_t k = 0; k < json_array_size(merged); k++) {
		json_t *v = json_array_get(merged, k);

		if (mk && !json_object_get(v, mk)) {
			r = patch_fail(e, DV_PATCH_EINVALID,
				       "%s: a list item has no merge key \"%s\"", field, mk);
			goto done;
		}
		if (json_array_append(idx_find(&oi, v) != SIZE_MAX ? mine : theirs, v) < 0) {
			r = oom(e);
			goto done;
		}
	}
	if ((r = sort_by_order(e, mine, &oi)) < 0 || (r = sort_by_order(e, theirs, &si)) < 0)
		goto done;
	nl = json_array_size(theirs);
	nr = json_array_size(mine);
	li = positions(theirs, &si);
	ri = positions(mine, &si);
	if (!li || !ri) {
		r = oom(e);
		goto done;
	}
	while (i < nl || j < nr) {
		json_t *take;

		if (i >= nl)
			take = json_array_get(mine, j++);
		else if (j >= nr)
			take = json_array_get(theirs, i++);
		else if (li[i] != SIZE_MAX && ri[j] != SIZE_MAX && li[i] < ri[j])
			take = json_array_get(theirs, i++);
		else
			take = json_array_get(mine, j++);
		if (json_array_append(res, take) < 0) {
			r = oom(e);
			goto done;
		}
	}
done:
	patch_free(li);
	patch_free(ri);
	idx_free(&oi);
	idx_free(&si);
	json_decref(mine);
	json_decref(theirs);
	if (r < 0)
		json_decref(res);
	else
		*out = res;
	return r;
}

/* Lists of scalars with merge strategy: the union, each value once. */
static int smp_merge_scalars(patch_err *e, const json_t *orig, const json_t *patch,
			     const char *field, json_t **out)
{
	const json_t *lists[2] = { orig, patch };
	json_t *merged = json_array();
	list_idx seen;
	int r;

	if (!merged)
		return oom(e);
	idx_build(&seen, merged, NULL);
	for (int l = 0; l < 2; l++)
		for (size_t i = 0; i < json_array_size(lists[l]); i++) {
			json_t *v = json_array_get(lists[l], i);

			if (idx_find(&seen, v) != SIZE_MAX)
				continue;
			if (json_array_append(merged, v) < 0) {
				idx_free(&seen);
				json_decref(merged);
				return oom(e);
			}
			idx_add(&seen, v, json_array_size(merged) - 1);
		}
	idx_free(&seen);
	r = smp_order(e, merged, patch, orig, NULL, field, out);
	json_decref(merged);
	return r;
}

/* The items of list whose key (mk: merge key; NULL: the item) is not in
 * the list drop, a new array. */
static json_t *without_items(const json_t *list, const json_t *drop, const char *mk)
{
	json_t *kept = json_array();
	list_idx di;

	if (!kept)
		return NULL;
	idx_build(&di, drop, mk);
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *v = json_array_get(list, i);

		if (idx_find(&di, v) == SIZE_MAX && json_array_append(kept, v) < 0) {
			json_decref(kept);
			kept = NULL;
			break;
		}
	}
	idx_free(&di);
	return kept;
}

/* Sorts the patch list of maps into the items to merge (plain) and the
 * "$patch: delete" items (dels, each with its merge key); a "$patch:
 * replace" item sets *replace. */
static int smp_split_special(patch_err *e, const json_t *patch, const char *mk,
			     const char *field, json_t *plain, json_t *dels, bool *replace)
{
	for (size_t i = 0; i < json_array_size(patch); i++) {
		json_t *v = json_array_get(patch, i);
		json_t *d = json_object_get(v, DIRECTIVE_MARKER);
		const char *ds = json_string_value(d);
		json_t *to = NULL;

		if (!d)
			to = plain;
		else if (ds && strcmp(ds, "delete") == 0)
			to = dels;
		else if (ds && strcmp(ds, "replace") == 0)
			*replace = true;
		else if (ds && strcmp(ds, "merge") == 0)
			return patch_fail(e, DV_PATCH_EBADREQUEST,
					  "%s: merging lists cannot yet be specified in the patch", field);
		else
			return patch_fail(e, DV_PATCH_EBADREQUEST,
					  "%s: unknown $patch directive in a list item", field);
		if (!to)
			continue;
		if (!json_object_get(v, mk))
			return patch_fail(e, DV_PATCH_EBADREQUEST,
					  "%s: a patch list item has no merge key \"%s\"", field, mk);
		if (json_array_append(to, v) < 0)
			return oom(e);
	}
	return 0;
}

/*
 * Lists of maps with merge strategy (mergeSlice of strategicpatch).
 *
 * *view, when asked for, is the old order kube-apiserver uses next if a
 * $setElementOrder list applies to this one. Upstream hands that step the
 * original slice after mergeSlice has worked in it in place: deletions
 * shift the later items left, and the first items the patch appends land
 * in the slots the deletions freed. That view - the survivors, then as
 * many appended items as there were deletions - decides where server-only
 * items go (kubectl apply, dropping one container and adding another,
 * depends on it; upstream's own tests expect it). The stale copies
 * upstream has after that are left out: they only matter to a patch that
 * deletes and re-adds one key.
 */
static int smp_merge_maps(patch_err *e, const json_t *orig, const json_t *patch, const char *mk,
			  const smp_type *elem, const char *field, json_t **out, json_t **view)
{
	json_t *base = NULL, *plain = json_array(), *dels = json_array(), *work = NULL;
	json_t *seen = NULL;
	size_t n = json_array_size(orig);
	bool replace = false;
	list_idx wi = { NULL, NULL, NULL };
	int r = 0;

	if (!plain || !dels) {
		r = oom(e);
		goto done;
	}
	if ((r = smp_split_special(e, patch, mk, field, plain, dels, &replace)) < 0)
		goto done;
	base = without_items(orig, dels, mk);
	seen = base ? json_copy(base) : NULL;
	if (!seen) {
		r = oom(e);
		goto done;
	}
	if (replace) {
		r = smp_clean(e, plain, out);
		goto done;
	}
	work = json_copy(base);
	if (!work) {
		r = oom(e);
		goto done;
	}
	idx_build(&wi, work, mk);
	for (size_t i = 0; i < json_array_size(plain); i++) {
		json_t *v = json_array_get(plain, i), *merged;
		size_t at = idx_find(&wi, v);

		if (at != SIZE_MAX) {
			if ((r = smp_merge_map(e, json_array_get(work, at), v, elem, &merged)) < 0)
				goto done;
			json_array_set_new(work, at, merged);
			continue;
		}
		if ((r = smp_clean(e, v, &merged)) < 0)
			goto done;
		if (!merged)
			continue;
		if (json_array_append_new(work, merged) < 0 ||
		    (json_array_size(seen) < n && json_array_append(seen, merged) < 0)) {
			r = oom(e);
			goto done;
		}
		idx_add(&wi, merged, json_array_size(work) - 1);
	}
	/* base (the old list less deletions) is the server order: items new
	 * in this patch are not in it */
	r = smp_order(e, work, plain, base, mk, field, out);
done:
	if (r == 0 && view)
		*view = json_incref(seen);
	idx_free(&wi);
	json_decref(base);
	json_decref(seen);
	json_decref(plain);
	json_decref(dels);
	json_decref(work);
	return r;
}

/* mergeSlice: both lists are arrays; orig is the object's, patch ours.
 * *view (if not NULL) gets smp_merge_maps's view of the old order, or
 * stays NULL where the old list itself is that. */
static int smp_merge_list(patch_err *e, const json_t *orig, const json_t *patch,
			  const smp_field *f, const char *field, json_t **out, json_t **view)
{
	int kind;

	if (!f || !(f->strategy & SMP_MERGE))
		return smp_clean(e, patch, out); /* replace: a cleaned array is never dropped */
	if (json_array_size(orig) == 0 && json_array_size(patch) == 0) {
		*out = json_incref((json_t *)orig);
		return 0;
	}
	if (list_kind(e, orig, patch, field, &kind) < 0)
		return e->code;
	if (kind != JSON_OBJECT)
		return smp_merge_scalars(e, orig, patch, field, out);
	if (!f->merge_key)
		return patch_fail(e, DV_PATCH_EINVALID,
				  "%s: cannot merge lists without merge key", field);
	return smp_merge_maps(e, orig, patch, f->merge_key, f->type, field, out, view);
}

/* $patch in a map: "replace" puts the rest of the patch map in its
 * place, "delete" leaves an empty map. */
static int smp_map_directive(patch_err *e, json_t *patch, const json_t *d, json_t **out)
{
	const char *ds = json_string_value(d);

	if (ds && strcmp(ds, "replace") == 0) {
		json_object_del(patch, DIRECTIVE_MARKER);
		return smp_clean(e, patch, out);
	}
	if (ds && strcmp(ds, "delete") == 0) {
		*out = json_object();
		return *out ? 0 : oom(e);
	}
	return patch_fail(e, DV_PATCH_EBADREQUEST, "unknown $patch directive in a map");
}

/* $retainKeys: the fields of orig not listed are cleared; every field
 * the patch sets must be listed. */
static int smp_retain_keys(patch_err *e, json_t *orig, json_t *patch)
{
	json_t *rk = json_object_get(patch, RETAIN_KEYS), *keep;
	const char *key;
	json_t *v;
	void *tmp;
	int r = 0;

	if (!rk)
		return 0;
	if (!json_is_array(rk))
		return patch_fail(e, DV_PATCH_EBADREQUEST, "$retainKeys must be a list of strings");
	/* the listed names as a set; entries that are not strings name nothing */
	if (!(keep = json_object()))
		return oom(e);
	for (size_t i = 0; i < json_array_size(rk); i++) {
		const char *name = json_string_value(json_array_get(rk, i));

		if (name && json_object_set_new(keep, name, json_true()) < 0) {
			json_decref(keep);
			return oom(e);
		}
	}
	json_object_del(patch, RETAIN_KEYS);
	json_object_foreach(patch, key, v) {
		if (json_is_null(v) || has_prefix(key, DELETE_PREFIX) || has_prefix(key, ORDER_PREFIX))
			continue;
		if (!json_object_get(keep, key)) {
			r = patch_fail(e, DV_PATCH_EBADREQUEST,
				       "the patch sets field %s, which $retainKeys does not list", key);
			goto done;
		}
	}
	json_object_foreach_safe(orig, tmp, key, v)
		if (!json_object_get(keep, key))
			json_object_del(orig, key);
done:
	json_decref(keep);
	return r;
}

/* The field a "$prefix/field" directive key names. */
static int directive_field(patch_err *e, const char *key, const char *prefix, const char **field)
{
	size_t n = strlen(prefix);

	if (strncmp(key, prefix, n) != 0 || key[n] != '/')
		return patch_fail(e, DV_PATCH_EBADREQUEST, "malformed directive %.64s", key);
	*field = key + n + 1;
	return 0;
}

static bool is_delete_item(const json_t *v)
{
	const char *d = json_string_value(json_object_get(v, DIRECTIVE_MARKER));

	return d && strcmp(d, "delete") == 0;
}

/* Checks that the patch list names its items in the relative order of the
 * $setElementOrder list, deletions aside (validatePatchWithSetOrderList). */
static int smp_check_order(patch_err *e, const json_t *plist, const json_t *order, const char *mk,
			   const char *field)
{
	size_t pi = 0, oi = 0, np = json_array_size(plist), no = json_array_size(order);

	for (size_t i = 0; mk && i < no; i++)
		if (!json_object_get(json_array_get(order, i), mk))
			return patch_fail(e, DV_PATCH_EBADREQUEST,
					  "%s: a $setElementOrder item has no merge key \"%s\"", field, mk);
	for (size_t i = 0; mk && i < np; i++)
		if (!json_is_object(json_array_get(plist, i)))
			return patch_fail(e, DV_PATCH_EBADREQUEST,
					  "%s: a patch list item is not a map", field);
	if (no == 0 || np == 0)
		return 0;
	for (;;) {
		const json_t *p, *o;
		bool same;

		while (mk && pi < np && is_delete_item(json_array_get(plist, pi)))
			pi++;
		if (pi >= np || oi >= no)
			break;
		p = json_array_get(plist, pi);
		if (mk && json_object_get(p, DIRECTIVE_MARKER)) {
			pi++;
			continue;
		}
		o = json_array_get(order, oi);
		if (mk && !json_object_get(p, mk))
			return patch_fail(e, DV_PATCH_EBADREQUEST,
					  "%s: a patch list item has no merge key \"%s\"", field, mk);
		same = mk ? values_equal(json_object_get(p, mk), json_object_get(o, mk))
			  : values_equal(p, o);
		if (same)
			pi++;
		oi++;
	}
	if (pi < np)
		return patch_fail(e, DV_PATCH_EBADREQUEST,
				  "%s: the order in the patch list doesn't match the $setElementOrder list",
				  field);
	return 0;
}

/* One $setElementOrder/<field> directive (mergePatchIntoOriginal): merges
 * the field's patch list, if any, and orders the result as listed; the
 * field is then done and leaves the patch. order is our reference. */
static int smp_set_element_order(patch_err *e, json_t *orig, json_t *patch, const smp_type *t,
				 const char *key, const json_t *order)
{
	const char *field;
	const smp_field *f;
	const char *mk;
	json_t *olist, *plist, *merged = NULL, *ordered = NULL, *server_order = NULL;
	int r;

	if (!json_is_array(order))
		return patch_fail(e, DV_PATCH_EBADREQUEST, "$setElementOrder must be a list");
	if ((r = directive_field(e, key, ORDER_PREFIX, &field)) < 0)
		return r;
	olist = json_object_get(orig, field);
	plist = json_object_get(patch, field);
	if (olist && !json_is_array(olist))
		olist = NULL; /* a list replaces whatever was there */
	if (plist && !json_is_array(plist))
		return patch_fail(e, DV_PATCH_EBADREQUEST,
				  "%s: $setElementOrder for a field that is not a list", field);
	f = smp_lookup(t, field);
	mk = f ? f->merge_key : NULL;
	if ((r = smp_check_order(e, plist, order, mk, field)) < 0)
		return r;
	if (olist && plist)
		r = smp_merge_list(e, olist, plist, f, field, &merged, &server_order);
	else if (plist)
		r = smp_clean(e, plist, &merged);
	else if (olist)
		merged = json_incref(olist);
	else
		return 0;
	if (r < 0)
		return r;
	if (server_order)
		; /* smp_merge_maps's view of the old order */
	else if (olist)
		server_order = json_incref(olist);
	else if (!(server_order = json_array()))
		r = oom(e);
	if (r == 0)
		r = smp_order(e, merged, order, server_order, mk, field, &ordered);
	json_decref(merged);
	json_decref(server_order);
	if (r < 0)
		return r;
	if (json_object_set_new(orig, field, ordered) < 0)
		return oom(e);
	json_object_del(patch, field);
	return 0;
}

static int smp_set_element_orders(patch_err *e, json_t *orig, json_t *patch, const smp_type *t)
{
	json_t *keys = json_array();
	const char *key;
	json_t *v;
	int r = 0;

	if (!keys)
		return oom(e);
	json_object_foreach(patch, key, v)
		if (has_prefix(key, ORDER_PREFIX) && json_array_append_new(keys, json_string(key)) < 0) {
			json_decref(keys);
			return oom(e);
		}
	for (size_t i = 0; i < json_array_size(keys) && r == 0; i++) {
		const char *k = json_string_value(json_array_get(keys, i));
		json_t *order = json_incref(json_object_get(patch, k));

		json_object_del(patch, k);
		r = smp_set_element_order(e, orig, patch, t, k, order);
		json_decref(order);
	}
	json_decref(keys);
	return r;
}

/* $deleteFromPrimitiveList/<field>: those values leave the field's list. */
static int smp_delete_from_list(patch_err *e, json_t *orig, const char *key, const json_t *values)
{
	const char *field;
	json_t *list, *kept;
	int r;

	if ((r = directive_field(e, key, DELETE_PREFIX, &field)) < 0)
		return r;
	if (!json_is_array(values))
		return patch_fail(e, DV_PATCH_EBADREQUEST, "%s must be a list", key);
	list = json_object_get(orig, field);
	if (!json_is_array(list))
		return 0;
	kept = without_items(list, values, NULL);
	if (!kept || json_object_set_new(orig, field, kept) < 0)
		return oom(e);
	return 0;
}

/* One field of the patch map merged into orig. */
static int smp_merge_field(patch_err *e, json_t *orig, const char *key, json_t *pv,
			   const smp_type *t)
{
	json_t *ov = json_object_get(orig, key), *nv = NULL;
	const smp_field *f = smp_lookup(t, key);
	int r;

	if (has_prefix(key, DELETE_PREFIX))
		return smp_delete_from_list(e, orig, key, pv);
	if (json_is_null(pv)) {
		json_object_del(orig, key);
		return 0;
	}
	if (json_is_object(ov) && json_is_object(pv) && !(f && (f->strategy & SMP_REPLACE)))
		r = smp_merge_map(e, ov, pv, f ? f->type : NULL, &nv);
	else if (json_is_array(ov) && json_is_array(pv))
		r = smp_merge_list(e, ov, pv, f, key, &nv, NULL);
	else
		r = smp_clean(e, pv, &nv);
	if (r < 0)
		return r;
	if (!nv) {
		json_object_del(orig, key);
		return 0;
	}
	return json_object_set_new(orig, key, nv) < 0 ? oom(e) : 0;
}

/*
 * mergeMap: patch (ours, consumed as we go) merged into orig (modified in
 * place). *out gets a reference to the result, which is orig unless a
 * $patch directive puts another map in its place. Order of the steps as
 * upstream: the map's own directive, $retainKeys, $setElementOrder lists,
 * then the fields.
 */
static int smp_merge_map(patch_err *e, json_t *orig, json_t *patch, const smp_type *t,
			 json_t **out)
{
	json_t *d = json_object_get(patch, DIRECTIVE_MARKER);
	const char *key;
	json_t *pv;
	int r;

	if (d)
		return smp_map_directive(e, patch, d, out);
	if ((r = smp_retain_keys(e, orig, patch)) < 0 ||
	    (r = smp_set_element_orders(e, orig, patch, t)) < 0)
		return r;
	json_object_foreach(patch, key, pv)
		if ((r = smp_merge_field(e, orig, key, pv, t)) < 0)
			return r;
	*out = json_incref(orig);
	return 0;
}

static int strategic_apply(patch_err *e, json_t **doc, json_t *patch, const smp_type *root)
{
	json_t *res;
	int r;

	if (json_is_null(patch))
		return 0; /* decodes to an empty map upstream: no change */
	if (!json_is_object(patch))
		return patch_fail(e, DV_PATCH_EBADREQUEST,
				  "a strategic merge patch must be a JSON object");
	if (!json_is_object(*doc))
		return patch_fail(e, DV_PATCH_EINVALID, "the object to patch is not a JSON object");
	if ((r = smp_merge_map(e, *doc, patch, root, &res)) < 0)
		return r;
	json_decref(*doc);
	*doc = res;
	return 0;
}

/* ---- entry points ------------------------------------------------------------- */

int dv_patch_type_from_content_type(const char *content_type)
{
	static const struct {
		const char *name;
		dv_patch_type type;
	} types[] = {
		{ "application/json-patch+json", DV_PATCH_JSON },
		{ "application/merge-patch+json", DV_PATCH_MERGE },
		{ "application/strategic-merge-patch+json", DV_PATCH_STRATEGIC },
	};
	const char *s = content_type, *end;

	if (!s)
		return -1;
	while (*s == ' ' || *s == '\t')
		s++;
	end = strchr(s, ';');
	if (!end)
		end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i].name) == (size_t)(end - s) &&
		    strncasecmp(types[i].name, s, (size_t)(end - s)) == 0)
			return (int)types[i].type;
	return -1;
}

dv_patch_result dv_patch_apply(const json_t *obj, const char *patch, size_t len,
			       dv_patch_type type, const char *group, const char *kind,
			       json_t **out, char *err, size_t errlen)
{
	patch_err e = { DV_PATCH_OK, err, errlen };
	const smp_type *root = NULL;
	json_t *doc = NULL, *body = NULL, *merged;

	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return DV_PATCH_EBADREQUEST;
	*out = NULL;
	if (!obj || (!patch && len))
		return patch_fail(&e, DV_PATCH_EBADREQUEST, "no object or no patch");
	if (type == DV_PATCH_STRATEGIC) {
		root = smp_root_type(group, kind);
		if (!root)
			return patch_fail(&e, DV_PATCH_EUNSUPPORTED,
					  "strategic merge patch is not supported for %.64s%s%.64s; use "
					  "application/json-patch+json or application/merge-patch+json",
					  kind ? kind : "this kind", group && *group ? "." : "",
					  group ? group : "");
	} else if (type != DV_PATCH_JSON && type != DV_PATCH_MERGE) {
		return patch_fail(&e, DV_PATCH_EBADREQUEST, "unknown patch type");
	}
	if (parse_body(&e, patch ? patch : "", len, &body) < 0)
		goto done;
	doc = json_deep_copy(obj);
	if (!doc) {
		oom(&e);
		goto done;
	}
	switch (type) {
	case DV_PATCH_JSON:
		json_patch_apply(&e, &doc, body);
		break;
	case DV_PATCH_MERGE:
		if (merge_patch(&e, doc, body, &merged) == 0)
			doc = merged;
		else
			doc = NULL; /* merge_patch consumed it */
		break;
	case DV_PATCH_STRATEGIC:
		strategic_apply(&e, &doc, body, root);
		break;
	}
	/* a Kubernetes object stays an object (kube-apiserver could not
	 * decode anything else) */
	if (e.code == DV_PATCH_OK && json_is_object(obj) && !json_is_object(doc))
		patch_fail(&e, DV_PATCH_EINVALID, "the patched document is not a JSON object");
done:
	json_decref(body);
	if (e.code != DV_PATCH_OK) {
		json_decref(doc);
		return e.code;
	}
	*out = doc;
	return DV_PATCH_OK;
}
