/*
 * selector.c - label and field selectors (see selector.h).
 *
 * The label grammar follows k8s.io/apimachinery/pkg/labels/selector.go
 * token for token: a lexer that scans the whole string first, a parser with
 * one token of lookahead, and the same error texts ("unable to parse
 * requirement: ...", "found 'x', expected: ..."), because kubectl users
 * see them verbatim in a 400 Status. Field selectors follow
 * k8s.io/apimachinery/pkg/fields (splitTerms, splitTerm, UnescapeValue).
 *
 * All allocation happens while parsing. Matching allocates nothing: it is
 * run once per object of a list, and lists hold thousands of objects.
 */
#include "selector.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"

enum req_op {
	OP_IN,
	OP_NOTIN,
	OP_EQUALS,
	OP_DOUBLE_EQUALS,
	OP_NOT_EQUALS,
	OP_EXISTS,
	OP_DOES_NOT_EXIST,
	OP_GREATER_THAN,
	OP_LESS_THAN,
};

/* One requirement. For a field selector values[0] is the wanted value and
 * segs holds the dotted path split at '.', segments NUL-separated. */
typedef struct {
	enum req_op op;
	char *key;
	char **values; /* sorted, without duplicates (labels: a sets.String) */
	size_t nvalues;
	char *segs;
	size_t nsegs;
} requirement;

struct dv_selector {
	bool field; /* a field selector; matching with the other kind fails */
	requirement *reqs;
	size_t n;
	size_t cap;
};

/* ---------------------------------------------------------------------- */
/* Requirement storage                                                     */

static void requirement_clear(requirement *r)
{
	for (size_t i = 0; i < r->nvalues; i++)
		free(r->values[i]);
	free(r->values);
	free(r->key);
	free(r->segs);
	memset(r, 0, sizeof(*r));
}

void dv_selector_free(dv_selector *sel)
{
	if (!sel)
		return;
	for (size_t i = 0; i < sel->n; i++)
		requirement_clear(&sel->reqs[i]);
	free(sel->reqs);
	free(sel);
}

static requirement *selector_push(dv_selector *sel)
{
	if (sel->n == sel->cap) {
		size_t cap = sel->cap ? sel->cap * 2 : 4;
		requirement *r = realloc(sel->reqs, cap * sizeof(*r));
		if (!r)
			return NULL;
		sel->reqs = r;
		sel->cap = cap;
	}
	requirement *r = &sel->reqs[sel->n++];
	memset(r, 0, sizeof(*r));
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends a copy of s[0..len) to r's values; requirement_normalize makes
 * them a set afterwards. */
static int requirement_add_value(requirement *r, const char *s, size_t len)
{
	char **v = realloc(r->values, (r->nvalues + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->values = v;
	char *copy = strndup(s, len);
	if (!copy)
		return -ENOMEM;
	r->values[r->nvalues++] = copy;
	return 0;
}

/* Sorts the values and drops duplicates, as upstream's sets.String and
 * its List() do; validation messages then name values in that order. */
static void requirement_normalize(requirement *r)
{
	if (r->nvalues < 2)
		return;
	qsort(r->values, r->nvalues, sizeof(*r->values), cmp_str);
	size_t n = 1;
	for (size_t i = 1; i < r->nvalues; i++) {
		if (strcmp(r->values[i], r->values[n - 1]) == 0)
			free(r->values[i]);
		else
			r->values[n++] = r->values[i];
	}
	r->nvalues = n;
}

/* Upstream sorts a parsed selector's requirements by key (ByKey, stable
 * enough for equal keys here because insertion sort keeps order). */
static void selector_sort_by_key(dv_selector *sel)
{
	for (size_t i = 1; i < sel->n; i++) {
		requirement tmp = sel->reqs[i];
		size_t j = i;
		while (j > 0 && strcmp(sel->reqs[j - 1].key, tmp.key) > 0) {
			sel->reqs[j] = sel->reqs[j - 1];
			j--;
		}
		sel->reqs[j] = tmp;
	}
}

size_t dv_selector_count(const dv_selector *sel)
{
	return sel ? sel->n : 0;
}

const char *dv_selector_key(const dv_selector *sel, size_t i)
{
	return sel && i < sel->n ? sel->reqs[i].key : NULL;
}

bool dv_selector_empty(const dv_selector *sel)
{
	return dv_selector_count(sel) == 0;
}

/* ---------------------------------------------------------------------- */
/* Validation of keys and values (k8s.io/apimachinery/pkg/util/validation) */

#define QNAME_FMT "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define QNAME_MSG                                                                  \
	"must consist of alphanumeric characters, '-', '_' or '.', and must start " \
	"and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "   \
	"or '123-abc', regex used for validation is '" QNAME_FMT "')"
#define DNS1123_FMT "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
#define DNS1123_MSG                                                                \
	"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "  \
	"characters, '-' or '.', and must start and end with an alphanumeric "     \
	"character (e.g. 'example.com', regex used for validation is '" DNS1123_FMT "')"
#define LABEL_VALUE_MSG                                                            \
	"a valid label must be an empty string or consist of alphanumeric "        \
	"characters, '-', '_' or '.', and must start and end with an alphanumeric " \
	"character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "  \
	"validation is '(" QNAME_FMT ")?')"

/* ASCII-only classification: <ctype.h> would follow the locale. */
static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Matches ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] over s[0..len). */
static bool qname_part_ok(const char *s, size_t len)
{
	if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (size_t i = 1; i + 1 < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static bool dns1123_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Matches the DNS-1123 subdomain regex over s[0..len). */
static bool dns1123_subdomain_ok(const char *s, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		size_t n = i - start;
		if (n == 0 || !dns1123_char(s[start]) || !dns1123_char(s[i - 1]))
			return false;
		for (size_t j = start + 1; j + 1 < i; j++)
			if (!dns1123_char(s[j]) && s[j] != '-')
				return false;
		start = i + 1;
	}
	return true;
}

/* Collects validation messages joined by "; " as strings.Join(errs, "; "). */
typedef struct {
	char *buf;
	size_t len;
	size_t used;
	int count;
} msg_list;

/* Appends sep then the formatted text, truncating at the buffer's end. */
static void msg_vadd(msg_list *m, const char *sep, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void msg_vadd(msg_list *m, const char *sep, const char *fmt, va_list ap)
{
	size_t avail = m->len - m->used;
	int n = snprintf(m->buf + m->used, avail, "%s", sep);
	m->used += n < 0 ? 0 : (size_t)n >= avail ? avail - 1 : (size_t)n;
	avail = m->len - m->used;
	n = vsnprintf(m->buf + m->used, avail, fmt, ap);
	m->used += n < 0 ? 0 : (size_t)n >= avail ? avail - 1 : (size_t)n;
}

static void msg_add(msg_list *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void msg_add(msg_list *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	msg_vadd(m, m->count++ > 0 ? "; " : "", fmt, ap);
	va_end(ap);
}

/* IsQualifiedName: returns the number of problems written to m. */
static int qualified_name_check(const char *k, msg_list *m)
{
	const char *slash = strchr(k, '/');
	const char *name = k;
	if (slash && strchr(slash + 1, '/')) {
		msg_add(m, "a qualified name " QNAME_MSG " with an optional DNS subdomain "
			   "prefix and '/' (e.g. 'example.com/MyName')");
		return m->count;
	}
	if (slash) {
		size_t plen = (size_t)(slash - k);
		if (plen == 0) {
			msg_add(m, "prefix part must be non-empty");
		} else {
			if (plen > 253)
				msg_add(m, "prefix part must be no more than 253 characters");
			if (!dns1123_subdomain_ok(k, plen))
				msg_add(m, "prefix part " DNS1123_MSG);
		}
		name = slash + 1;
	}
	size_t nlen = strlen(name);
	if (nlen == 0)
		msg_add(m, "name part must be non-empty");
	else if (nlen > 63)
		msg_add(m, "name part must be no more than 63 characters");
	if (!qname_part_ok(name, nlen))
		msg_add(m, "name part " QNAME_MSG);
	return m->count;
}

static int label_value_check(const char *v, msg_list *m)
{
	size_t len = strlen(v);
	if (len > 63)
		msg_add(m, "must be no more than 63 characters");
	if (len > 0 && !qname_part_ok(v, len))
		msg_add(m, LABEL_VALUE_MSG);
	return m->count;
}

/* The errors of one NewRequirement call, formatted as field.ErrorList's
 * aggregate: one error as is, several as "[e1, e2]". */
typedef struct {
	dv_buf all;
	int count;
} err_list;

static void err_add(err_list *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void err_add(err_list *e, const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (e->count++ > 0)
		(void)dv_buf_appends(&e->all, ", ");
	(void)dv_buf_appends(&e->all, tmp);
}

/* Writes "prefix" + the aggregate into err; returns -EINVAL if there were
 * errors, else 0. Frees the list. */
static int err_finish(err_list *e, const char *prefix, char *err, size_t errlen)
{
	int count = e->count;
	if (count == 1)
		snprintf(err, errlen, "%s%s", prefix, (const char *)e->all.data);
	else if (count > 1)
		snprintf(err, errlen, "%s[%s]", prefix, (const char *)e->all.data);
	dv_buf_free(&e->all);
	return count ? -EINVAL : 0;
}

/* Go's %q of a string: quoted, with '"', '\\' and control bytes escaped. */
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
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* Go's %#v of a []string, as field.Invalid prints a values slice. */
static void go_string_slice(const requirement *r, char *out, size_t len)
{
	char q[256];
	size_t used = (size_t)snprintf(out, len, "[]string{");
	for (size_t i = 0; i < r->nvalues && used < len; i++) {
		go_quote(r->values[i], q, sizeof(q));
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", q);
	}
	if (used < len)
		snprintf(out + used, len - used, "}");
}

/* Go's strconv.ParseInt(s, 10, 64) succeeding. */
static bool parse_int64(const char *s, long long *out)
{
	const char *p = s;
	if (*p == '+' || *p == '-')
		p++;
	if (!*p)
		return false;
	for (const char *q = p; *q; q++)
		if (*q < '0' || *q > '9')
			return false;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* labels.NewRequirement's checks on a complete requirement. */
static void requirement_validate(const requirement *r, err_list *e)
{
	char msgs[1536];
	msg_list m = { msgs, sizeof(msgs), 0, 0 };
	char vals[512], q[512];
	go_quote(r->key, q, sizeof(q));
	if (qualified_name_check(r->key, &m))
		err_add(e, "key: Invalid value: %s: %s", q, msgs);
	switch (r->op) {
	case OP_IN:
	case OP_NOTIN:
		if (r->nvalues == 0)
			err_add(e, "values: Invalid value: []string{}: for 'in', 'notin' "
				   "operators, values set can't be empty");
		break;
	case OP_EQUALS:
	case OP_DOUBLE_EQUALS:
	case OP_NOT_EQUALS:
		if (r->nvalues != 1) {
			go_string_slice(r, vals, sizeof(vals));
			err_add(e, "values: Invalid value: %s: exact-match compatibility "
				   "requires one single value", vals);
		}
		break;
	case OP_EXISTS:
	case OP_DOES_NOT_EXIST:
		if (r->nvalues != 0) {
			go_string_slice(r, vals, sizeof(vals));
			err_add(e, "values: Invalid value: %s: values set must be empty for "
				   "exists and does not exist", vals);
		}
		break;
	case OP_GREATER_THAN:
	case OP_LESS_THAN: {
		long long ignored;
		if (r->nvalues != 1) {
			go_string_slice(r, vals, sizeof(vals));
			err_add(e, "values: Invalid value: %s: for 'Gt', 'Lt' operators, "
				   "exactly one value is required", vals);
		}
		for (size_t i = 0; i < r->nvalues; i++)
			if (!parse_int64(r->values[i], &ignored))
			{
				go_quote(r->values[i], q, sizeof(q));
				err_add(e, "values[%zu]: Invalid value: %s: for 'Gt', 'Lt' "
					   "operators, the value must be an integer", i, q);
			}
		break;
	}
	}
	for (size_t i = 0; i < r->nvalues; i++) {
		m.used = 0;
		m.count = 0;
		msgs[0] = '\0';
		if (label_value_check(r->values[i], &m)) {
			go_quote(r->values[i], q, sizeof(q));
			err_add(e, "values[%zu][%s]: Invalid value: %s: %s", i, r->key, q, msgs);
		}
	}
}

/* ---------------------------------------------------------------------- */
/* Label selector lexer                                                    */

typedef enum {
	TOK_EOS,
	TOK_CLOSED_PAR,
	TOK_COMMA,
	TOK_DOES_NOT_EXIST,
	TOK_DOUBLE_EQUALS,
	TOK_EQUALS,
	TOK_GREATER_THAN,
	TOK_IDENTIFIER,
	TOK_IN,
	TOK_LESS_THAN,
	TOK_NOT_EQUALS,
	TOK_NOT_IN,
	TOK_OPEN_PAR,
} token_kind;

typedef struct {
	token_kind kind;
	const char *lit; /* into the selector string */
	size_t len;
} token;

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(char c)
{
	return c != '\0' && strchr("=!(),><", c) != NULL;
}

/* The symbol tokens of upstream's string2token table. */
static bool symbol_token(const char *s, size_t len, token_kind *out)
{
	static const struct {
		const char *s;
		token_kind k;
	} table[] = {
		{ ")", TOK_CLOSED_PAR },    { ",", TOK_COMMA },        { "!", TOK_DOES_NOT_EXIST },
		{ "==", TOK_DOUBLE_EQUALS }, { "=", TOK_EQUALS },       { ">", TOK_GREATER_THAN },
		{ "<", TOK_LESS_THAN },      { "!=", TOK_NOT_EQUALS },  { "(", TOK_OPEN_PAR },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strlen(table[i].s) == len && memcmp(table[i].s, s, len) == 0) {
			*out = table[i].k;
			return true;
		}
	return false;
}

/* Scans the longest run of special symbols that is still a token, as
 * scanSpecialSymbol does ("!=" is one token, "=!" is '=' then '!'). Every
 * single special symbol is a token, so this cannot fail. */
static size_t scan_symbol(const char *s, token_kind *out)
{
	size_t best = 0;
	for (size_t n = 1; is_special(s[n - 1]); n++) {
		token_kind k;
		if (symbol_token(s, n, &k)) {
			*out = k;
			best = n;
		} else if (best) {
			break;
		}
	}
	return best;
}

/* Lexes all of s into toks (room for strlen(s) + 1 tokens). */
static size_t lex_all(const char *s, token *toks)
{
	size_t n = 0;
	for (;;) {
		while (is_space(*s))
			s++;
		token *t = &toks[n++];
		t->lit = s;
		if (!*s) {
			t->kind = TOK_EOS;
			t->len = 0;
			return n;
		}
		if (is_special(*s)) {
			t->len = scan_symbol(s, &t->kind);
		} else {
			size_t len = 0;
			while (s[len] && !is_space(s[len]) && !is_special(s[len]))
				len++;
			t->len = len;
			t->kind = TOK_IDENTIFIER;
			if (len == 2 && memcmp(s, "in", 2) == 0)
				t->kind = TOK_IN;
			else if (len == 5 && memcmp(s, "notin", 5) == 0)
				t->kind = TOK_NOT_IN;
		}
		s += t->len;
	}
}

/* ---------------------------------------------------------------------- */
/* Label selector parser                                                   */

typedef struct {
	const token *toks;
	size_t pos;
	char *err;
	size_t errlen;
} parser;

/* In the Values context "in" and "notin" are plain identifiers (so a key
 * or value may be named "in"); only the operator position sees keywords. */
static token_kind tok_values(const token *t)
{
	return t->kind == TOK_IN || t->kind == TOK_NOT_IN ? TOK_IDENTIFIER : t->kind;
}

static const token *lookahead(const parser *p)
{
	return &p->toks[p->pos];
}

static const token *consume(parser *p)
{
	const token *t = &p->toks[p->pos];
	if (t->kind != TOK_EOS)
		p->pos++;
	return t;
}

/* "found 'x', expected: what", inside a requirement prefixed as upstream's
 * parse() wraps it; sep is "," except in one upstream message. */
static int parse_fail(parser *p, const char *prefix, const token *t, const char *sep,
		      const char *expected)
{
	snprintf(p->err, p->errlen, "%sfound '%.*s'%s expected: %s", prefix, (int)t->len, t->lit,
		 sep, expected);
	return -EINVAL;
}

#define REQ_PREFIX "unable to parse requirement: "
#define FOUND(p, t, what) parse_fail((p), REQ_PREFIX, (t), ",", (what))

static int parse_key(parser *p, requirement *r)
{
	const token *t = consume(p);
	bool not_exists = false;
	if (t->kind == TOK_DOES_NOT_EXIST) {
		not_exists = true;
		t = consume(p);
	}
	if (tok_values(t) != TOK_IDENTIFIER)
		return FOUND(p, t, "identifier");
	r->key = strndup(t->lit, t->len);
	if (!r->key)
		return -ENOMEM;
	char msgs[1536];
	msg_list m = { msgs, sizeof(msgs), 0, 0 };
	/* The parser validates the key without a field path, which Go prints
	 * as "<nil>"; kubectl users see exactly that. */
	if (qualified_name_check(r->key, &m)) {
		char q[512];
		go_quote(r->key, q, sizeof(q));
		snprintf(p->err, p->errlen, REQ_PREFIX "<nil>: Invalid value: %s: %s", q, msgs);
		return -EINVAL;
	}
	token_kind next = tok_values(lookahead(p));
	if (not_exists)
		r->op = OP_DOES_NOT_EXIST;
	else if (next == TOK_EOS || next == TOK_COMMA)
		r->op = OP_EXISTS;
	else
		r->op = OP_IN; /* placeholder: the operator follows */
	return not_exists || next == TOK_EOS || next == TOK_COMMA ? 1 : 0;
}

static int parse_operator(parser *p, requirement *r)
{
	const token *t = consume(p);
	switch (t->kind) {
	case TOK_IN: r->op = OP_IN; return 0;
	case TOK_NOT_IN: r->op = OP_NOTIN; return 0;
	case TOK_EQUALS: r->op = OP_EQUALS; return 0;
	case TOK_DOUBLE_EQUALS: r->op = OP_DOUBLE_EQUALS; return 0;
	case TOK_NOT_EQUALS: r->op = OP_NOT_EQUALS; return 0;
	case TOK_GREATER_THAN: r->op = OP_GREATER_THAN; return 0;
	case TOK_LESS_THAN: r->op = OP_LESS_THAN; return 0;
	default:
		/* Upstream's text, unbalanced quote included. */
		return FOUND(p, t, "'=', '!=', '==', 'in', notin'");
	}
}

/* parseIdentifiersList: "(a,b)", "(,a)", "(a,)", "(a,,b)"; an empty
 * element is the empty value. */
static int parse_identifiers(parser *p, requirement *r)
{
	for (;;) {
		const token *t = consume(p);
		const token *next = lookahead(p);
		int rc;
		switch (tok_values(t)) {
		case TOK_IDENTIFIER:
			if ((rc = requirement_add_value(r, t->lit, t->len)) < 0)
				return rc;
			if (next->kind == TOK_COMMA)
				continue;
			if (next->kind == TOK_CLOSED_PAR)
				return 0;
			return FOUND(p, next, "',' or ')'");
		case TOK_COMMA:
			if (r->nvalues == 0 && (rc = requirement_add_value(r, "", 0)) < 0)
				return rc;
			if (next->kind == TOK_CLOSED_PAR)
				return requirement_add_value(r, "", 0);
			if (next->kind == TOK_COMMA) {
				consume(p);
				if ((rc = requirement_add_value(r, "", 0)) < 0)
					return rc;
			}
			continue;
		default:
			return FOUND(p, t, "',', or identifier");
		}
	}
}

static int parse_values(parser *p, requirement *r)
{
	const token *t = consume(p);
	if (t->kind != TOK_OPEN_PAR)
		return parse_fail(p, REQ_PREFIX, t, "", "'('");
	const token *first = lookahead(p);
	token_kind k = tok_values(first);
	if (k == TOK_CLOSED_PAR) {
		consume(p);
		return requirement_add_value(r, "", 0);
	}
	if (k != TOK_IDENTIFIER && k != TOK_COMMA)
		return FOUND(p, first, "',', ')' or identifier");
	int rc = parse_identifiers(p, r);
	if (rc < 0)
		return rc;
	/* Upstream reports the token that opened the list here, not the one
	 * found; kept for identical messages. */
	if (consume(p)->kind != TOK_CLOSED_PAR)
		return FOUND(p, first, "')'");
	return 0;
}

static int parse_exact_value(parser *p, requirement *r)
{
	token_kind k = tok_values(lookahead(p));
	if (k == TOK_EOS || k == TOK_COMMA)
		return requirement_add_value(r, "", 0);
	const token *t = consume(p);
	if (tok_values(t) != TOK_IDENTIFIER)
		return FOUND(p, t, "identifier");
	return requirement_add_value(r, t->lit, t->len);
}

static int parse_requirement(parser *p, requirement *r)
{
	int rc = parse_key(p, r);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if ((rc = parse_operator(p, r)) < 0)
		return rc;
	if (r->op == OP_IN || r->op == OP_NOTIN)
		rc = parse_values(p, r);
	else
		rc = parse_exact_value(p, r);
	if (rc < 0)
		return rc;
	requirement_normalize(r);
	err_list e = { .count = 0 };
	dv_buf_init(&e.all, 8192);
	requirement_validate(r, &e);
	return err_finish(&e, "unable to parse requirement: ", p->err, p->errlen);
}

static int parse_selector(parser *p, dv_selector *sel)
{
	for (;;) {
		const token *t = lookahead(p);
		token_kind k = tok_values(t);
		if (k == TOK_EOS)
			return 0;
		if (k != TOK_IDENTIFIER && k != TOK_DOES_NOT_EXIST)
			return parse_fail(p, "", t, ",", "!, identifier, or 'end of string'");
		requirement *r = selector_push(sel);
		if (!r)
			return -ENOMEM;
		int rc = parse_requirement(p, r);
		if (rc < 0)
			return rc;
		t = consume(p);
		if (t->kind == TOK_EOS)
			return 0;
		if (t->kind != TOK_COMMA)
			return parse_fail(p, "", t, ",", "',' or 'end of string'");
		const token *next = lookahead(p);
		k = tok_values(next);
		if (k != TOK_IDENTIFIER && k != TOK_DOES_NOT_EXIST)
			return parse_fail(p, "", next, ",", "identifier after ','");
	}
}

int dv_label_selector_parse(const char *s, dv_selector **out, char *err, size_t errlen)
{
	*out = NULL;
	if (errlen)
		err[0] = '\0';
	dv_selector *sel = calloc(1, sizeof(*sel));
	token *toks = calloc(strlen(s) + 1, sizeof(*toks));
	if (!sel || !toks) {
		free(sel);
		free(toks);
		return -ENOMEM;
	}
	lex_all(s, toks);
	parser p = { toks, 0, err, errlen };
	int rc = parse_selector(&p, sel);
	free(toks);
	if (rc < 0) {
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		dv_selector_free(sel);
		return rc;
	}
	selector_sort_by_key(sel);
	*out = sel;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* metav1.LabelSelector                                                    */

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* One requirement from key, op and a JSON values array (may be NULL). */
static int add_json_requirement(dv_selector *sel, const char *key, enum req_op op,
				const json_t *values, char *err, size_t errlen)
{
	requirement *r = selector_push(sel);
	if (!r)
		return -ENOMEM;
	r->op = op;
	r->key = strdup(key);
	if (!r->key)
		return -ENOMEM;
	size_t i;
	const json_t *v;
	json_array_foreach(values, i, v) {
		if (!json_is_string(v))
			return fail(err, errlen, -EINVAL, "matchExpressions values must be strings");
		int rc = requirement_add_value(r, json_string_value(v), json_string_length(v));
		if (rc < 0)
			return rc;
	}
	requirement_normalize(r);
	err_list e = { .count = 0 };
	dv_buf_init(&e.all, 8192);
	requirement_validate(r, &e);
	return err_finish(&e, "", err, errlen);
}

static int operator_from_name(const char *s, enum req_op *out)
{
	static const struct {
		const char *name;
		enum req_op op;
	} ops[] = {
		{ "In", OP_IN },
		{ "NotIn", OP_NOTIN },
		{ "Exists", OP_EXISTS },
		{ "DoesNotExist", OP_DOES_NOT_EXIST },
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, s) == 0) {
			*out = ops[i].op;
			return 0;
		}
	return -EINVAL;
}

static int from_json(const json_t *sel_json, dv_selector *sel, char *err, size_t errlen)
{
	if (!sel_json || json_is_null(sel_json))
		return 0;
	if (!json_is_object(sel_json))
		return fail(err, errlen, -EINVAL, "label selector must be an object");
	const json_t *ml = json_object_get(sel_json, "matchLabels");
	const json_t *me = json_object_get(sel_json, "matchExpressions");
	if (ml && !json_is_null(ml) && !json_is_object(ml))
		return fail(err, errlen, -EINVAL, "matchLabels must be an object");
	if (me && !json_is_null(me) && !json_is_array(me))
		return fail(err, errlen, -EINVAL, "matchExpressions must be an array");
	const char *key;
	const json_t *v;
	int rc;
	json_object_foreach((json_t *)ml, key, v) {
		if (!json_is_string(v))
			return fail(err, errlen, -EINVAL, "matchLabels values must be strings");
		json_t *one = json_pack("[s]", json_string_value(v));
		if (!one)
			return -ENOMEM;
		rc = add_json_requirement(sel, key, OP_EQUALS, one, err, errlen);
		json_decref(one);
		if (rc < 0)
			return rc;
	}
	size_t i;
	json_array_foreach(me, i, v) {
		const json_t *k = json_object_get(v, "key");
		const json_t *op = json_object_get(v, "operator");
		const json_t *vals = json_object_get(v, "values");
		enum req_op o;
		if (!json_is_object(v) || !json_is_string(k))
			return fail(err, errlen, -EINVAL, "matchExpressions[%zu].key must be a string", i);
		if (vals && !json_is_null(vals) && !json_is_array(vals))
			return fail(err, errlen, -EINVAL, "matchExpressions[%zu].values must be an array", i);
		if (operator_from_name(json_is_string(op) ? json_string_value(op) : "", &o) < 0)
			return fail(err, errlen, -EINVAL, "\"%s\" is not a valid label selector operator",
				    json_is_string(op) ? json_string_value(op) : "");
		if ((rc = add_json_requirement(sel, json_string_value(k), o, vals, err, errlen)) < 0)
			return rc;
	}
	return 0;
}

int dv_label_selector_from_json(const json_t *sel_json, dv_selector **out, char *err, size_t errlen)
{
	*out = NULL;
	if (errlen)
		err[0] = '\0';
	dv_selector *sel = calloc(1, sizeof(*sel));
	if (!sel)
		return -ENOMEM;
	int rc = from_json(sel_json, sel, err, errlen);
	if (rc < 0) {
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		dv_selector_free(sel);
		return rc;
	}
	selector_sort_by_key(sel);
	*out = sel;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Label matching                                                          */

static bool has_value(const requirement *r, const char *v)
{
	for (size_t i = 0; i < r->nvalues; i++)
		if (strcmp(r->values[i], v) == 0)
			return true;
	return false;
}

static bool requirement_matches(const requirement *r, const json_t *labels)
{
	const json_t *jv = labels ? json_object_get(labels, r->key) : NULL;
	bool has = jv != NULL;
	const char *v = json_is_string(jv) ? json_string_value(jv) : "";
	long long lv, rv;
	switch (r->op) {
	case OP_IN:
	case OP_EQUALS:
	case OP_DOUBLE_EQUALS:
		return has && has_value(r, v);
	case OP_NOTIN:
	case OP_NOT_EQUALS:
		return !has || !has_value(r, v);
	case OP_EXISTS:
		return has;
	case OP_DOES_NOT_EXIST:
		return !has;
	case OP_GREATER_THAN:
	case OP_LESS_THAN:
		if (!has || r->nvalues != 1 || !parse_int64(v, &lv) || !parse_int64(r->values[0], &rv))
			return false;
		return r->op == OP_GREATER_THAN ? lv > rv : lv < rv;
	}
	return false;
}

bool dv_label_selector_matches(const dv_selector *sel, const json_t *labels)
{
	if (!sel)
		return true;
	if (sel->field)
		return false;
	for (size_t i = 0; i < sel->n; i++)
		if (!requirement_matches(&sel->reqs[i], labels))
			return false;
	return true;
}

/* ---------------------------------------------------------------------- */
/* Field selectors                                                         */

/* UnescapeValue: "\\", "\," and "\=" are escapes; any other backslash
 * sequence, a trailing backslash, or a bare ',' or '=' is an error. */
static int unescape_value(const char *s, size_t len, char **out, char *err, size_t errlen)
{
	char *v = malloc(len + 1);
	if (!v)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '\\') {
			if (i + 1 == len) {
				free(v);
				return fail(err, errlen, -EINVAL,
					    "invalid field selector: invalid escape sequence: \\");
			}
			c = s[++i];
			if (c != '\\' && c != ',' && c != '=') {
				free(v);
				return fail(err, errlen, -EINVAL,
					    "invalid field selector: invalid escape sequence: \\%c", c);
			}
		} else if (c == ',' || c == '=') {
			free(v);
			return fail(err, errlen, -EINVAL,
				    "invalid field selector: unescaped character in value: %c", c);
		}
		v[n++] = c;
	}
	v[n] = '\0';
	*out = v;
	return 0;
}

/* splitTerm: the first "!=", "==" or "=" from the left splits the term. */
static bool split_term(const char *t, size_t len, size_t *lhs_len, enum req_op *op, size_t *rhs_at)
{
	for (size_t i = 0; i < len; i++) {
		if (i + 1 < len && t[i] == '!' && t[i + 1] == '=') {
			*op = OP_NOT_EQUALS;
			*rhs_at = i + 2;
		} else if (i + 1 < len && t[i] == '=' && t[i + 1] == '=') {
			*op = OP_DOUBLE_EQUALS;
			*rhs_at = i + 2;
		} else if (t[i] == '=') {
			*op = OP_EQUALS;
			*rhs_at = i + 1;
		} else {
			continue;
		}
		*lhs_len = i;
		return true;
	}
	return false;
}

/* Term boundaries: commas not preceded by an escaping backslash. */
static size_t term_end(const char *s, size_t from)
{
	bool in_slash = false;
	size_t i;
	for (i = from; s[i]; i++) {
		if (in_slash)
			in_slash = false;
		else if (s[i] == '\\')
			in_slash = true;
		else if (s[i] == ',')
			break;
	}
	return i;
}

static int field_requirement(dv_selector *sel, const char *whole, const char *t, size_t len,
			     char *err, size_t errlen)
{
	size_t lhs_len, rhs_at;
	enum req_op op;
	if (!split_term(t, len, &lhs_len, &op, &rhs_at))
		return fail(err, errlen, -EINVAL, "invalid selector: '%s'; can't understand '%.*s'",
			    whole, (int)len, t);
	char *value = NULL;
	int rc = unescape_value(t + rhs_at, len - rhs_at, &value, err, errlen);
	if (rc < 0)
		return rc;
	requirement *r = selector_push(sel);
	if (!r) {
		free(value);
		return -ENOMEM;
	}
	r->op = op;
	r->values = malloc(sizeof(*r->values));
	if (!r->values) {
		free(value);
		return -ENOMEM;
	}
	r->values[0] = value;
	r->nvalues = 1;
	r->key = strndup(t, lhs_len);
	r->segs = strndup(t, lhs_len);
	if (!r->key || !r->segs)
		return -ENOMEM;
	r->nsegs = 1;
	for (char *c = r->segs; *c; c++)
		if (*c == '.') {
			*c = '\0';
			r->nsegs++;
		}
	return 0;
}

typedef struct {
	const char *s;
	size_t len;
} span;

static int cmp_span(const void *a, const void *b)
{
	const span *x = a, *y = b;
	int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Upstream sorts the terms as strings before parsing them, which decides
 * which of several bad terms an error names; done the same way here. */
static int field_terms_parse(dv_selector *sel, const char *s, char *err, size_t errlen)
{
	size_t nterms = 1;
	for (size_t i = 0; s[i]; i++)
		nterms += s[i] == ',';
	span *terms = calloc(nterms, sizeof(*terms));
	if (!terms)
		return -ENOMEM;
	size_t n = 0;
	for (size_t start = 0;;) {
		size_t end = term_end(s, start);
		if (end > start)
			terms[n++] = (span){ s + start, end - start };
		if (!s[end])
			break;
		start = end + 1;
	}
	qsort(terms, n, sizeof(*terms), cmp_span);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = field_requirement(sel, s, terms[i].s, terms[i].len, err, errlen);
	free(terms);
	return rc;
}

int dv_field_selector_parse(const char *s, dv_selector **out, char *err, size_t errlen)
{
	*out = NULL;
	if (errlen)
		err[0] = '\0';
	dv_selector *sel = calloc(1, sizeof(*sel));
	if (!sel)
		return -ENOMEM;
	sel->field = true;
	int rc = field_terms_parse(sel, s, err, errlen);
	if (rc < 0) {
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		dv_selector_free(sel);
		return rc;
	}
	*out = sel;
	return 0;
}

/* Compares the JSON value at r's path with want, as the field set's
 * string form: strings as is, booleans "true"/"false", numbers in decimal;
 * anything missing, null or structured is "". */
static bool field_equals(const requirement *r, const json_t *obj, const char *want)
{
	const json_t *v = obj;
	const char *seg = r->segs;
	for (size_t i = 0; i < r->nsegs && v; i++) {
		v = json_is_object(v) ? json_object_get(v, seg) : NULL;
		seg += strlen(seg) + 1;
	}
	char num[64];
	const char *have = "";
	if (json_is_string(v)) {
		have = json_string_value(v);
	} else if (json_is_boolean(v)) {
		have = json_is_true(v) ? "true" : "false";
	} else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		have = num;
	} else if (json_is_real(v)) {
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		have = num;
	}
	return strcmp(have, want) == 0;
}

bool dv_field_selector_matches(const dv_selector *sel, const json_t *obj)
{
	if (!sel)
		return true;
	if (!sel->field)
		return false;
	for (size_t i = 0; i < sel->n; i++) {
		const requirement *r = &sel->reqs[i];
		bool eq = field_equals(r, obj, r->values[0]);
		if (r->op == OP_NOT_EQUALS ? eq : !eq)
			return false;
	}
	return true;
}
