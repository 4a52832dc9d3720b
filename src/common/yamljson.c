/*
 * yamljson.c - YAML to JSON (see yamljson.h), on libyaml's document API.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "yamljson.h"

typedef struct {
	yaml_document_t *doc;
	size_t nodes;
	char *err;
	size_t errlen;
} conv;

static bool one_of(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static const char *const NULLS[] = { "", "~", "null", "Null", "NULL", NULL };
static const char *const TRUES[] = { "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE",
				     "on", "On", "ON", NULL };
static const char *const FALSES[] = { "n", "N", "no", "No", "NO", "false", "False", "FALSE",
				      "off", "Off", "OFF", NULL };

/* An integer in YAML 1.1 form: decimal, 0x hex, 0o/0 octal, 0b binary,
 * with optional sign and '_' separators. */
static bool parse_int(const char *s, json_int_t *out)
{
	char buf[96];
	size_t n = 0;
	for (const char *p = s; *p; p++) {
		if (*p == '_')
			continue;
		if (n + 1 >= sizeof buf)
			return false;
		buf[n++] = *p;
	}
	buf[n] = '\0';
	const char *p = buf;
	bool neg = false;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (!*p)
		return false;
	int base = 10;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
		base = 2;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
		base = 8;
		p += 2;
	} else if (p[0] == '0' && p[1]) {
		base = 8;
		p++;
	}
	if (!*p)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(p, &end, base);
	if (errno || *end || *p == '-' || *p == '+')
		return false;
	*out = neg ? -v : v;
	return true;
}

static bool parse_float(const char *s, double *out)
{
	if (one_of(s, (const char *const[]){ ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
					     "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN",
					     NULL }))
		return false; /* JSON has no infinities or NaN */
	bool digit = false;
	for (const char *p = s; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digit = true;
		else if (!strchr("+-.eE", *p))
			return false;
	}
	if (!digit)
		return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static json_t *scalar(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;
	const char *tag = (const char *)n->tag;
	size_t len = n->data.scalar.length;
	if (strlen(v) != len)
		return NULL; /* NUL inside: not representable */
	/* libyaml's loader tags every untagged scalar !!str, so a plain one
	 * is resolved by its text whatever its tag (an explicit "!!str 12"
	 * is an integer here, a known difference); quoted ones are strings. */
	(void)tag;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_stringn(v, len);
	if (one_of(v, NULLS))
		return json_null();
	if (one_of(v, TRUES))
		return json_true();
	if (one_of(v, FALSES))
		return json_false();
	json_int_t i;
	if (parse_int(v, &i))
		return json_integer(i);
	double d;
	if (parse_float(v, &d))
		return json_real(d);
	return json_stringn(v, len);
}

static json_t *node_json(conv *c, yaml_node_t *n, int depth)
{
	if (!n)
		return NULL;
	if (++c->nodes > YAMLJSON_MAX_NODES) {
		snprintf(c->err, c->errlen, "the document has more than %d values", YAMLJSON_MAX_NODES);
		return NULL;
	}
	if (depth > YAMLJSON_MAX_DEPTH) {
		snprintf(c->err, c->errlen, "the document nests deeper than %d levels",
			 YAMLJSON_MAX_DEPTH);
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		json_t *j = scalar(n);
		if (!j)
			snprintf(c->err, c->errlen, "line %zu: invalid scalar",
				 n->start_mark.line + 1);
		return j;
	}
	case YAML_SEQUENCE_NODE: {
		json_t *a = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			json_t *v = node_json(c, yaml_document_get_node(c->doc, *it), depth + 1);
			if (!v || json_array_append_new(a, v) < 0) {
				json_decref(a);
				return NULL;
			}
		}
		return a;
	}
	case YAML_MAPPING_NODE: {
		json_t *o = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
			if (!k || k->type != YAML_SCALAR_NODE) {
				snprintf(c->err, c->errlen, "line %zu: mapping keys must be scalars",
					 n->start_mark.line + 1);
				json_decref(o);
				return NULL;
			}
			/* Keys are resolved like values, then printed back as Go's
			 * sigs.k8s.io/yaml does: an unquoted on: is "true". */
			char kbuf[64];
			const char *key = (const char *)k->data.scalar.value;
			bool bad = strlen(key) != k->data.scalar.length;
			json_t *kv = bad ? NULL : scalar(k);
			if (json_is_boolean(kv)) {
				key = json_is_true(kv) ? "true" : "false";
			} else if (json_is_integer(kv)) {
				snprintf(kbuf, sizeof kbuf, "%" JSON_INTEGER_FORMAT,
					 json_integer_value(kv));
				key = kbuf;
			} else if (json_is_null(kv)) {
				key = "null";
			}
			json_decref(kv);
			if (bad || json_object_get(o, key)) {
				snprintf(c->err, c->errlen, "line %zu: %s key", k->start_mark.line + 1,
					 bad ? "invalid" : "duplicate");
				json_decref(o);
				return NULL;
			}
			json_t *v = node_json(c, yaml_document_get_node(c->doc, p->value), depth + 1);
			if (!v || json_object_set_new(o, key, v) < 0) {
				json_decref(o);
				return NULL;
			}
		}
		return o;
	}
	default:
		snprintf(c->err, c->errlen, "empty document");
		return NULL;
	}
}

json_t *yaml_to_json(const char *text, size_t len, char *err, size_t errlen)
{
	yaml_parser_t p;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&p)) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &doc)) {
		snprintf(err, errlen, "line %zu column %zu: %s", p.problem_mark.line + 1,
			 p.problem_mark.column + 1, p.problem ? p.problem : "invalid YAML");
		yaml_parser_delete(&p);
		return NULL;
	}
	conv c = { &doc, 0, err, errlen };
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	json_t *j = NULL;
	if (!root) {
		snprintf(err, errlen, "empty document");
	} else {
		j = node_json(&c, root, 0);
		/* A second document: kube-apiserver takes exactly one object. */
		yaml_document_t next;
		if (j && yaml_parser_load(&p, &next)) {
			if (yaml_document_get_root_node(&next)) {
				snprintf(err, errlen, "the body holds more than one YAML document");
				json_decref(j);
				j = NULL;
			}
			yaml_document_delete(&next);
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return j;
}
