/* Unit tests: label and field selectors (src/apiserver/selector.c), with
 * kube-apiserver's grammar, semantics and error texts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "selector.h"

/* Parses s as a label selector and returns whether labels (JSON text, or
 * NULL for none) match; fails the test if s does not parse. */
static bool label_match(const char *s, const char *labels_json)
{
	dv_selector *sel = NULL;
	char err[1024];
	int rc = dv_label_selector_parse(s, &sel, err, sizeof(err));
	if (rc != 0)
		fail_msg("selector '%s' did not parse: %s", s, err);
	json_t *labels = labels_json ? json_loads(labels_json, 0, NULL) : NULL;
	if (labels_json && !labels)
		fail_msg("bad labels JSON in test: %s", labels_json);
	bool m = dv_label_selector_matches(sel, labels);
	json_decref(labels);
	dv_selector_free(sel);
	return m;
}

/* Parses s expecting failure; checks the message equals want. */
static void label_error(const char *s, const char *want)
{
	dv_selector *sel = (dv_selector *)0x1;
	char err[2048];
	int rc = dv_label_selector_parse(s, &sel, err, sizeof(err));
	if (rc != -EINVAL)
		fail_msg("selector '%s': rc %d, want -EINVAL", s, rc);
	assert_null(sel);
	assert_string_equal(err, want);
}

#define QNAME_REGEX_MSG                                                              \
	"must consist of alphanumeric characters, '-', '_' or '.', and must start and " \
	"end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "       \
	"'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
#define VALUE_REGEX_MSG                                                                \
	"a valid label must be an empty string or consist of alphanumeric characters, " \
	"'-', '_' or '.', and must start and end with an alphanumeric character (e.g. " \
	"'MyValue',  or 'my_value',  or '12345', regex used for validation is "         \
	"'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"

static void test_label_equality(void **state)
{
	assert_true(label_match("app=web", "{\"app\":\"web\"}"));
	assert_false(label_match("app=web", "{\"app\":\"db\"}"));
	assert_false(label_match("app=web", "{}"));
	assert_false(label_match("app=web", NULL));
	assert_true(label_match("app==web", "{\"app\":\"web\",\"x\":\"y\"}"));
	assert_false(label_match("app==web", "{\"x\":\"web\"}"));
	assert_true(label_match("app!=web", "{\"app\":\"db\"}"));
	assert_false(label_match("app!=web", "{\"app\":\"web\"}"));
	/* != matches objects that lack the key, as upstream's NotEquals. */
	assert_true(label_match("app!=web", "{}"));
	assert_true(label_match("app!=web", NULL));
	/* An empty value is a value: "a=" wants the label present and empty. */
	assert_true(label_match("a=", "{\"a\":\"\"}"));
	assert_false(label_match("a=", "{}"));
	assert_false(label_match("a=", "{\"a\":\"x\"}"));
}

static void test_label_set_based(void **state)
{
	assert_true(label_match("env in (prod,dev)", "{\"env\":\"dev\"}"));
	assert_false(label_match("env in (prod,dev)", "{\"env\":\"qa\"}"));
	/* in needs the key; notin does not. */
	assert_false(label_match("env in (prod)", "{}"));
	assert_true(label_match("env notin (prod)", "{}"));
	assert_true(label_match("env notin (prod,dev)", "{\"env\":\"qa\"}"));
	assert_false(label_match("env notin (prod,dev)", "{\"env\":\"prod\"}"));
	assert_true(label_match("env", "{\"env\":\"\"}"));
	assert_false(label_match("env", "{\"other\":\"1\"}"));
	assert_true(label_match("!env", "{\"other\":\"1\"}"));
	assert_false(label_match("!env", "{\"env\":\"x\"}"));
	assert_true(label_match("!env", NULL));
	/* Empty elements are the empty value: "(x,)" holds "" and "x". */
	assert_true(label_match("a in (x,)", "{\"a\":\"\"}"));
	assert_true(label_match("a in (,x)", "{\"a\":\"x\"}"));
	assert_true(label_match("a in ()", "{\"a\":\"\"}"));
	assert_false(label_match("a in ()", "{\"a\":\"x\"}"));
	assert_true(label_match("a in (x,,y)", "{\"a\":\"\"}"));
	/* "in" and "notin" are plain words where a key or value goes. */
	assert_true(label_match("in in (in,notin)", "{\"in\":\"notin\"}"));
	assert_true(label_match("notin=in", "{\"notin\":\"in\"}"));
	/* No spaces needed around parentheses, any whitespace between. */
	assert_true(label_match("a\tin(x)", "{\"a\":\"x\"}"));
	assert_true(label_match(" a in ( x , y ) ", "{\"a\":\"y\"}"));
}

static void test_label_conjunction(void **state)
{
	const char *sel = "app=web,tier!=cache,env in (prod,staging),!legacy,owner";
	assert_true(label_match(sel, "{\"app\":\"web\",\"env\":\"prod\",\"owner\":\"me\"}"));
	assert_false(
		label_match(sel, "{\"app\":\"web\",\"env\":\"prod\",\"owner\":\"me\",\"legacy\":\"1\"}"));
	assert_false(
		label_match(sel, "{\"app\":\"web\",\"env\":\"prod\",\"tier\":\"cache\",\"owner\":\"x\"}"));
	assert_false(label_match(sel, "{\"app\":\"web\",\"env\":\"prod\"}"));
	assert_false(label_match(sel, "{\"app\":\"web\",\"env\":\"qa\",\"owner\":\"me\"}"));
	assert_true(label_match("example.com/app=web", "{\"example.com/app\":\"web\"}"));
	assert_true(label_match("a=1,a!=2", "{\"a\":\"1\"}"));
	assert_false(label_match("a=1,a=2", "{\"a\":\"1\"}"));
}

static void test_label_gt_lt(void **state)
{
	assert_true(label_match("n>5", "{\"n\":\"6\"}"));
	assert_false(label_match("n>5", "{\"n\":\"5\"}"));
	assert_false(label_match("n>5", "{}"));
	assert_false(label_match("n>5", "{\"n\":\"abc\"}"));
	assert_true(label_match("n<3", "{\"n\":\"-2\"}"));
	/* The value must also be a label value, which "-1" is not. */
	label_error("n<-1",
		    "unable to parse requirement: values[0][n]: Invalid value: \"-1\": " VALUE_REGEX_MSG);
	assert_false(label_match("n<10", "{\"n\":\"10\"}"));
	label_error("n>x", "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', "
			   "'Lt' operators, the value must be an integer");
}

static void test_label_empty(void **state)
{
	dv_selector *sel;
	char err[256];
	assert_int_equal(dv_label_selector_parse("", &sel, err, sizeof(err)), 0);
	assert_true(dv_selector_empty(sel));
	assert_int_equal(dv_selector_count(sel), 0);
	assert_true(dv_label_selector_matches(sel, NULL));
	dv_selector_free(sel);
	assert_int_equal(dv_label_selector_parse("  \t ", &sel, err, sizeof(err)), 0);
	assert_true(dv_selector_empty(sel));
	dv_selector_free(sel);
	dv_selector_free(NULL);
}

/* A selector used with the other kind's matcher matches nothing. */
static void test_kind_mixup(void **state)
{
	dv_selector *ls, *fs;
	char err[64];
	json_t *obj = json_pack("{s:s}", "a", "b");
	assert_int_equal(dv_label_selector_parse("a", &ls, err, sizeof(err)), 0);
	assert_int_equal(dv_field_selector_parse("a=b", &fs, err, sizeof(err)), 0);
	assert_true(dv_label_selector_matches(ls, obj));
	assert_true(dv_field_selector_matches(fs, obj));
	assert_false(dv_field_selector_matches(ls, obj));
	assert_false(dv_label_selector_matches(fs, obj));
	assert_true(dv_label_selector_matches(NULL, obj));
	assert_true(dv_field_selector_matches(NULL, obj));
	json_decref(obj);
	dv_selector_free(ls);
	dv_selector_free(fs);
}

static void test_label_keys_sorted(void **state)
{
	dv_selector *sel;
	char err[256];
	assert_int_equal(dv_label_selector_parse("zone=a,!beta,app in (x)", &sel, err, sizeof(err)), 0);
	assert_false(dv_selector_empty(sel));
	assert_int_equal(dv_selector_count(sel), 3);
	/* Upstream sorts requirements by key. */
	assert_string_equal(dv_selector_key(sel, 0), "app");
	assert_string_equal(dv_selector_key(sel, 1), "beta");
	assert_string_equal(dv_selector_key(sel, 2), "zone");
	assert_null(dv_selector_key(sel, 3));
	dv_selector_free(sel);
}

static void test_label_syntax_errors(void **state)
{
	label_error("a b", "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'");
	label_error("a=b,", "found '', expected: identifier after ','");
	label_error("a=b,,c", "found ',', expected: identifier after ','");
	label_error(",a", "found ',', expected: !, identifier, or 'end of string'");
	label_error("=a", "found '=', expected: !, identifier, or 'end of string'");
	label_error("a=b c", "found 'c', expected: ',' or 'end of string'");
	label_error("a in x", "unable to parse requirement: found 'x' expected: '('");
	label_error("a in (x", "unable to parse requirement: found '', expected: ',' or ')'");
	label_error("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'");
	label_error("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier");
	label_error("a in (x,=)", "unable to parse requirement: found '=', expected: ',', or identifier");
	label_error("a=(", "unable to parse requirement: found '(', expected: identifier");
	label_error("a==!", "unable to parse requirement: found '!', expected: identifier");
	label_error("!", "unable to parse requirement: found '', expected: identifier");
	label_error("!a=b", "found '=', expected: ',' or 'end of string'");
	label_error("a=b)", "found ')', expected: ',' or 'end of string'");
	/* "=!" is '=' then '!', "!=" is one token. */
	label_error("a=!b", "unable to parse requirement: found '!', expected: identifier");
}

static void test_label_key_errors(void **state)
{
	label_error("a@b=c",
		    "unable to parse requirement: <nil>: Invalid value: \"a@b\": name part " QNAME_REGEX_MSG);
	/* Quoted as Go's %q does. */
	label_error(
		"a\"b",
		"unable to parse requirement: <nil>: Invalid value: \"a\\\"b\": name part " QNAME_REGEX_MSG);
	label_error("-a",
		    "unable to parse requirement: <nil>: Invalid value: \"-a\": name part " QNAME_REGEX_MSG);
	label_error("a/b/c", "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name "
			     QNAME_REGEX_MSG " with an optional DNS subdomain prefix and '/' (e.g. "
			     "'example.com/MyName')");
	label_error(
		"/a",
		"unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty");
	label_error("a/", "unable to parse requirement: <nil>: Invalid value: \"a/\": name part must be "
			  "non-empty; name part " QNAME_REGEX_MSG);
	label_error("Example.com/a",
		    "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": "
		    "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
		    "alphanumeric characters, '-' or '.', and must start and end with an "
		    "alphanumeric character (e.g. 'example.com', regex used for validation "
		    "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
	char key[80], want[256];
	memset(key, 'k', 64);
	key[64] = '\0';
	snprintf(want, sizeof(want), "unable to parse requirement: <nil>: Invalid value: \"%s\": name part "
				     "must be no more than 63 characters", key);
	label_error(key, want);
	key[63] = '\0';
	assert_true(label_match(key, "{}") == false);
	/* 253-character prefix is fine, 254 is not. */
	char longkey[300];
	memset(longkey, 'p', 253);
	longkey[100] = '.';
	snprintf(longkey + 253, sizeof(longkey) - 253, "/n");
	assert_false(label_match(longkey, NULL));
	memset(longkey, 'p', 254);
	longkey[100] = '.';
	snprintf(longkey + 254, sizeof(longkey) - 254, "/n");
	dv_selector *sel;
	char err[2048];
	assert_int_equal(dv_label_selector_parse(longkey, &sel, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "prefix part must be no more than 253 characters"));
}

static void test_label_value_errors(void **state)
{
	label_error("a=b@c",
		    "unable to parse requirement: values[0][a]: Invalid value: \"b@c\": " VALUE_REGEX_MSG);
	label_error("a in (ok,-bad)", "unable to parse requirement: values[0][a]: Invalid value: \"-bad\": "
				      VALUE_REGEX_MSG);
	/* Values are a sorted set before they are checked, as upstream's
	 * sets.String: errors come in sort order, duplicates once, and
	 * several are aggregated as "[e1, e2]". */
	label_error("a in (zz-,bb-,bb-)",
		    "unable to parse requirement: [values[0][a]: Invalid value: \"bb-\": " VALUE_REGEX_MSG
		    ", values[1][a]: Invalid value: \"zz-\": " VALUE_REGEX_MSG "]");
	assert_true(label_match("a in (x,x,y)", "{\"a\":\"y\"}"));
	char sel[100], want[256];
	memset(sel, 'v', sizeof(sel));
	memcpy(sel, "a=", 2);
	sel[2 + 64] = '\0';
	snprintf(want, sizeof(want), "unable to parse requirement: values[0][a]: Invalid value: \"%s\": "
				     "must be no more than 63 characters", sel + 2);
	label_error(sel, want);
	sel[2 + 63] = '\0';
	assert_false(label_match(sel, "{}"));
}

static void test_label_errbuf_small(void **state)
{
	/* A short buffer truncates the message, never overflows. */
	dv_selector *sel;
	char err[8];
	assert_int_equal(dv_label_selector_parse("a b", &sel, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unable ");
}

/* ---------------------------------------------------------------------- */

static dv_selector *from_json(const char *text, char *err, size_t errlen, int *rc)
{
	json_t *j = json_loads(text, 0, NULL);
	if (!j)
		fail_msg("bad JSON in test: %s", text);
	dv_selector *sel = NULL;
	*rc = dv_label_selector_from_json(j, &sel, err, errlen);
	json_decref(j);
	return sel;
}

static bool json_match(const char *sel_json, const char *labels_json)
{
	char err[1024];
	int rc;
	dv_selector *sel = from_json(sel_json, err, sizeof(err), &rc);
	if (rc != 0)
		fail_msg("selector %s: %s", sel_json, err);
	json_t *labels = json_loads(labels_json, 0, NULL);
	bool m = dv_label_selector_matches(sel, labels);
	json_decref(labels);
	dv_selector_free(sel);
	return m;
}

static void json_error(const char *sel_json, const char *want)
{
	char err[1024];
	int rc;
	dv_selector *sel = from_json(sel_json, err, sizeof(err), &rc);
	assert_int_equal(rc, -EINVAL);
	assert_null(sel);
	assert_string_equal(err, want);
}

static void test_json_selector(void **state)
{
	const char *s = "{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
			"{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"prod\",\"dev\"]},"
			"{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[\"cache\"]},"
			"{\"key\":\"owner\",\"operator\":\"Exists\"},"
			"{\"key\":\"legacy\",\"operator\":\"DoesNotExist\",\"values\":[]}]}";
	assert_true(json_match(s, "{\"app\":\"web\",\"env\":\"dev\",\"owner\":\"x\"}"));
	assert_false(json_match(s, "{\"app\":\"web\",\"env\":\"dev\"}"));
	assert_false(json_match(s, "{\"app\":\"web\",\"env\":\"qa\",\"owner\":\"x\"}"));
	assert_false(json_match(s, "{\"app\":\"web\",\"env\":\"dev\",\"owner\":\"x\",\"tier\":\"cache\"}"));
	assert_false(json_match(s, "{\"app\":\"web\",\"env\":\"dev\",\"owner\":\"x\",\"legacy\":\"y\"}"));
	assert_false(json_match(s, "{\"app\":\"db\",\"env\":\"dev\",\"owner\":\"x\"}"));
	/* {} and empty lists select everything. */
	assert_true(json_match("{}", "{\"a\":\"b\"}"));
	assert_true(json_match("{\"matchLabels\":{},\"matchExpressions\":[]}", "{}"));

	dv_selector *sel = (dv_selector *)0x1;
	char err[64];
	assert_int_equal(dv_label_selector_from_json(NULL, &sel, err, sizeof(err)), 0);
	assert_true(dv_selector_empty(sel));
	dv_selector_free(sel);

	int rc;
	sel = from_json("{\"matchLabels\":{\"b\":\"1\",\"a\":\"2\"}}", err, sizeof(err), &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(dv_selector_count(sel), 2);
	assert_string_equal(dv_selector_key(sel, 0), "a");
	dv_selector_free(sel);
}

static void test_json_selector_errors(void **state)
{
	json_error(
		"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[]}]}",
		"values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty");
	json_error(
		"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"NotIn\"}]}",
		"values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty");
	json_error("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\",\"values\":[\"x\"]}]}",
		   "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not "
		   "exist");
	json_error("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"DoesNotExist\",\"values\":[\"y\","
		   "\"x\"]}]}",
		   "values: Invalid value: []string{\"x\", \"y\"}: values set must be empty for exists and "
		   "does not exist");
	json_error("{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Equals\",\"values\":[\"x\"]}]}",
		   "\"Equals\" is not a valid label selector operator");
	json_error("{\"matchLabels\":{\"a\":\"b c\"}}",
		   "values[0][a]: Invalid value: \"b c\": " VALUE_REGEX_MSG);
	json_error("{\"matchLabels\":{\"a b\":\"c\"}}",
		   "key: Invalid value: \"a b\": name part " QNAME_REGEX_MSG);
	/* Several problems in one requirement are aggregated as upstream does. */
	json_error("{\"matchExpressions\":[{\"key\":\"-k\",\"operator\":\"In\",\"values\":[]}]}",
		   "[key: Invalid value: \"-k\": name part " QNAME_REGEX_MSG ", values: Invalid value: "
		   "[]string{}: for 'in', 'notin' operators, values set can't be empty]");
	json_error("{\"matchLabels\":[]}", "matchLabels must be an object");
	json_error("{\"matchLabels\":{\"a\":1}}", "matchLabels values must be strings");
	json_error("{\"matchExpressions\":{}}", "matchExpressions must be an array");
	json_error("{\"matchExpressions\":[{\"operator\":\"Exists\"}]}",
		   "matchExpressions[0].key must be a string");
	json_error("[]", "label selector must be an object");
}

/* ---------------------------------------------------------------------- */

static const char *pod_json =
	"{\"metadata\":{\"name\":\"web-0\",\"namespace\":\"prod\",\"labels\":{\"a\":\"b\"}},"
	"\"spec\":{\"nodeName\":\"node1\",\"unschedulable\":true,\"priority\":7},"
	"\"status\":{\"phase\":\"Running\"},"
	"\"involvedObject\":{\"name\":\"pvc-1\",\"kind\":\"PersistentVolumeClaim\"}}";

static bool field_match(const char *s, const char *obj_json)
{
	dv_selector *sel;
	char err[512];
	if (dv_field_selector_parse(s, &sel, err, sizeof(err)) != 0)
		fail_msg("field selector '%s' did not parse: %s", s, err);
	json_t *obj = json_loads(obj_json, 0, NULL);
	bool m = dv_field_selector_matches(sel, obj);
	json_decref(obj);
	dv_selector_free(sel);
	return m;
}

static void field_error(const char *s, const char *want)
{
	dv_selector *sel = (dv_selector *)0x1;
	char err[512];
	assert_int_equal(dv_field_selector_parse(s, &sel, err, sizeof(err)), -EINVAL);
	assert_null(sel);
	assert_string_equal(err, want);
}

static void test_field_operators(void **state)
{
	assert_true(field_match("metadata.name=web-0", pod_json));
	assert_true(field_match("metadata.name==web-0", pod_json));
	assert_false(field_match("metadata.name=web-1", pod_json));
	assert_true(field_match("metadata.name!=web-1", pod_json));
	assert_false(field_match("metadata.name!=web-0", pod_json));
	assert_true(
		field_match("metadata.namespace=prod,spec.nodeName=node1,status.phase!=Pending", pod_json));
	assert_false(field_match("metadata.namespace=prod,status.phase!=Running", pod_json));
	assert_true(
		field_match("involvedObject.name=pvc-1,involvedObject.kind=PersistentVolumeClaim", pod_json));
	/* Non-string scalars compare in their string form. */
	assert_true(field_match("spec.unschedulable=true", pod_json));
	assert_true(field_match("spec.priority=7", pod_json));
}

static void test_field_missing(void **state)
{
	/* A missing field is "", as in kube-apiserver's field sets. */
	assert_true(field_match("spec.nodeName=", "{\"spec\":{}}"));
	assert_true(field_match("spec.nodeName=", "{}"));
	assert_false(field_match("spec.nodeName!=", "{}"));
	assert_true(field_match("spec.nodeName!=", pod_json));
	assert_true(field_match("spec.nodeName!=node1", "{}"));
	assert_false(field_match("spec.nodeName=node1", "{}"));
	/* A path through a non-object, or to an object, is "". */
	assert_true(field_match("status.phase.x=", pod_json));
	assert_true(field_match("metadata.labels=", pod_json));
}

static void test_field_escapes(void **state)
{
	const char *obj = "{\"metadata\":{\"name\":\"a,b=c\\\\d\"}}";
	assert_true(field_match("metadata.name=a\\,b\\=c\\\\d", obj));
	assert_false(field_match("metadata.name=a\\,b\\=c\\\\e", obj));
	/* An escaped comma does not split terms. */
	assert_true(field_match("metadata.name!=x\\,y,metadata.name=a\\,b\\=c\\\\d", obj));
	field_error("metadata.name=a=b", "invalid field selector: unescaped character in value: =");
	field_error("metadata.name=a\\xb", "invalid field selector: invalid escape sequence: \\x");
	field_error("metadata.name=ab\\", "invalid field selector: invalid escape sequence: \\");
}

static void test_field_syntax(void **state)
{
	dv_selector *sel;
	char err[256];
	field_error("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'");
	/* Terms are checked in sorted order, so the error names "aaa". */
	field_error("zzz,aaa", "invalid selector: 'zzz,aaa'; can't understand 'aaa'");
	assert_int_equal(dv_field_selector_parse("", &sel, err, sizeof(err)), 0);
	assert_true(dv_selector_empty(sel));
	assert_true(dv_field_selector_matches(sel, NULL));
	dv_selector_free(sel);
	/* Empty terms are skipped. */
	assert_int_equal(dv_field_selector_parse("status.phase=Running,,spec.nodeName!=n", &sel, err,
						 sizeof(err)), 0);
	assert_int_equal(dv_selector_count(sel), 2);
	assert_string_equal(dv_selector_key(sel, 0), "spec.nodeName");
	assert_string_equal(dv_selector_key(sel, 1), "status.phase");
	dv_selector_free(sel);
	/* The first operator from the left splits: "a!=b=c" is a != "b=c",
	 * which then fails on the bare '='. */
	field_error("a!=b=c", "invalid field selector: unescaped character in value: =");
	assert_true(field_match("a==", "{\"a\":\"\"}"));
	/* "a=!b": '=' comes first, value "!b". */
	assert_true(field_match("a=!b", "{\"a\":\"!b\"}"));
}

/* Random strings over the grammar's alphabet: every one either parses or
 * fails with -EINVAL and a message; under ASan this is also a memory
 * check of every error path. The generator is seeded, so runs repeat. */
static void test_random_inputs(void **state)
{
	static const char alphabet[] = "ab=!(),<>  in notin\\.-/_1x";
	unsigned seed = 12345;
	char in[40], err[512];
	int parsed = 0, failed = 0;
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = (size_t)(rand_r(&seed) % (sizeof(in) - 1));
		for (size_t i = 0; i < n; i++)
			in[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		in[n] = '\0';
		dv_selector *sel = NULL;
		int rc = iter % 2 ? dv_label_selector_parse(in, &sel, err, sizeof(err))
				  : dv_field_selector_parse(in, &sel, err, sizeof(err));
		if (rc == 0) {
			assert_non_null(sel);
			if (iter % 2)
				(void)dv_label_selector_matches(sel, NULL);
			else
				(void)dv_field_selector_matches(sel, NULL);
			dv_selector_free(sel);
			parsed++;
		} else {
			if (rc != -EINVAL)
				fail_msg("'%s': rc %d", in, rc);
			assert_null(sel);
			assert_true(err[0] != '\0');
			failed++;
		}
	}
	/* Both outcomes occur, or the generator tests nothing. */
	assert_true(parsed > 100);
	assert_true(failed > 100);
}

/* 10,000 objects through a label and a field selector: the hot path of a
 * filtered list. Asserts the right count; the time is printed. */
static void test_many_objects(void **state)
{
	dv_selector *ls, *fs;
	char err[256];
	assert_int_equal(dv_label_selector_parse("app=web,env in (prod,dev),!legacy", &ls, err, sizeof(err)),
			 0);
	assert_int_equal(dv_field_selector_parse("metadata.namespace=ns1,status.phase!=Failed", &fs, err,
						 sizeof(err)), 0);
	json_t *objs = json_array();
	for (int i = 0; i < 10000; i++) {
		json_t *o = json_pack("{s:{s:s,s:s,s:{s:s,s:s}},s:{s:s}}", "metadata", "namespace",
				      i % 2 ? "ns1" : "ns2", "name", "x", "labels", "app",
				      i % 3 ? "web" : "db", "env", i % 5 ? "prod" : "qa", "status",
				      "phase", i % 7 ? "Running" : "Failed");
		json_array_append_new(objs, o);
	}
	int64_t start = 0;
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	start = ts.tv_sec * 1000000000LL + ts.tv_nsec;
	size_t hits = 0, want = 0, i;
	json_t *o;
	json_array_foreach(objs, i, o) {
		json_t *labels = json_object_get(json_object_get(o, "metadata"), "labels");
		if (dv_label_selector_matches(ls, labels) && dv_field_selector_matches(fs, o))
			hits++;
		if (i % 2 && i % 3 && i % 5 && i % 7)
			want++;
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	int64_t ns = ts.tv_sec * 1000000000LL + ts.tv_nsec - start;
	printf("selector: 10000 objects matched in %.3f ms of CPU (%zu hits)\n", ns / 1e6, hits);
	assert_int_equal(hits, want);
	json_decref(objs);
	dv_selector_free(ls);
	dv_selector_free(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_equality),
		cmocka_unit_test(test_label_set_based),
		cmocka_unit_test(test_label_conjunction),
		cmocka_unit_test(test_label_gt_lt),
		cmocka_unit_test(test_label_empty),
		cmocka_unit_test(test_label_keys_sorted),
		cmocka_unit_test(test_kind_mixup),
		cmocka_unit_test(test_label_syntax_errors),
		cmocka_unit_test(test_label_key_errors),
		cmocka_unit_test(test_label_value_errors),
		cmocka_unit_test(test_label_errbuf_small),
		cmocka_unit_test(test_json_selector),
		cmocka_unit_test(test_json_selector_errors),
		cmocka_unit_test(test_field_operators),
		cmocka_unit_test(test_field_missing),
		cmocka_unit_test(test_field_escapes),
		cmocka_unit_test(test_field_syntax),
		cmocka_unit_test(test_random_inputs),
		cmocka_unit_test(test_many_objects),
	};
	return cmocka_run_group_tests_name("selector", tests, NULL, NULL);
}
