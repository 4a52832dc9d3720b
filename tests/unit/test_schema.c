/* Unit tests: structural CRD schemas (src/apiserver/schema.c): validation
 * with kube-apiserver's causes, defaulting, pruning, and the checks a CRD's
 * own schema must pass. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "schema.h"

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
	if (!j)
		fail_msg("bad JSON in test (%s): %s", e.text, text);
	return j;
}

/* Validates obj against schema (both JSON text) and returns the causes. */
static json_t *validate(const char *schema, const char *obj)
{
	json_t *s = load(schema), *o = load(obj), *causes = json_array();
	dv_schema_validate(s, o, causes);
	json_decref(s);
	json_decref(o);
	return causes;
}

/* Asserts causes holds exactly one cause, with this reason, field and
 * message; frees causes. */
static void expect_one(json_t *causes, const char *reason, const char *field, const char *message)
{
	if (json_array_size(causes) != 1) {
		char *d = json_dumps(causes, 0);
		fail_msg("want one cause, got %s", d);
	}
	json_t *c = json_array_get(causes, 0);
	assert_string_equal(json_string_value(json_object_get(c, "reason")), reason);
	assert_string_equal(json_string_value(json_object_get(c, "field")), field);
	assert_string_equal(json_string_value(json_object_get(c, "message")), message);
	json_decref(causes);
}

static void expect_none(json_t *causes)
{
	if (json_array_size(causes) != 0) {
		char *d = json_dumps(causes, 0);
		fail_msg("want no causes, got %s", d);
	}
	json_decref(causes);
}

/* Asserts there is at least one cause; returns causes. */
static json_t *expect_some(json_t *causes)
{
	assert_true(json_array_size(causes) > 0);
	return causes;
}

/* Defaults and prunes obj; compares with want (JSON text). */
static void expect_defaulted(const char *schema, const char *obj, const char *want)
{
	json_t *s = load(schema), *o = load(obj), *w = load(want);
	dv_schema_default_and_prune(s, o);
	if (!json_equal(o, w)) {
		char *got = json_dumps(o, JSON_SORT_KEYS);
		fail_msg("got %s, want %s", got, want);
	}
	json_decref(s);
	json_decref(o);
	json_decref(w);
}

#define SPEC(props)                                                                                          \
	"{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\",\"properties\":{" props "}}}}"

static void test_types(void **state)
{
	const char *s = SPEC("\"replicas\":{\"type\":\"integer\"},\"ratio\":{\"type\":\"number\"},"
			     "\"on\":{\"type\":\"boolean\"},\"name\":{\"type\":\"string\"},"
			     "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
			     "\"sub\":{\"type\":\"object\"}");
	expect_one(validate(s, "{\"spec\":{\"replicas\":\"three\"}}"), "FieldValueTypeInvalid",
		   "spec.replicas",
		   "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"");
	expect_one(validate(s, "{\"spec\":{\"replicas\":1.5}}"), "FieldValueTypeInvalid", "spec.replicas",
		   "Invalid value: \"number\": spec.replicas in body must be of type integer: \"number\"");
	expect_one(validate(s, "{\"spec\":{\"on\":\"yes\"}}"), "FieldValueTypeInvalid", "spec.on",
		   "Invalid value: \"string\": spec.on in body must be of type boolean: \"string\"");
	expect_one(validate(s, "{\"spec\":{\"name\":5}}"), "FieldValueTypeInvalid", "spec.name",
		   "Invalid value: \"integer\": spec.name in body must be of type string: \"integer\"");
	expect_one(validate(s, "{\"spec\":{\"tags\":{}}}"), "FieldValueTypeInvalid", "spec.tags",
		   "Invalid value: \"object\": spec.tags in body must be of type array: \"object\"");
	expect_one(validate(s, "{\"spec\":{\"sub\":[1]}}"), "FieldValueTypeInvalid", "spec.sub",
		   "Invalid value: \"array\": spec.sub in body must be of type object: \"array\"");
	expect_one(validate(s, "{\"spec\":\"x\"}"), "FieldValueTypeInvalid", "spec",
		   "Invalid value: \"string\": spec in body must be of type object: \"string\"");
	/* Numbers take integers, integers take integral floats. */
	expect_none(validate(
		s, "{\"spec\":{\"ratio\":3,\"replicas\":2.0,\"on\":true,\"name\":\"x\",\"tags\":[\"a\"]}}"));
	/* Zero values are type-checked like any other ("" is no integer, and
	 * "" is a fine string): kube-openapi dropped its zero-value-as-null
	 * branch (kube-openapi#230), only a JSON null is null. */
	expect_one(validate(s, "{\"spec\":{\"replicas\":\"\"}}"), "FieldValueTypeInvalid", "spec.replicas",
		   "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"");
	json_t *z = validate(s, "{\"spec\":{\"name\":0,\"on\":0}}");
	assert_int_equal(json_array_size(z), 2);
	json_decref(z);
	expect_none(validate(s, "{\"spec\":{\"replicas\":0,\"name\":\"\",\"on\":false}}"));
	/* Several problems give several causes. */
	json_t *c = validate(s, "{\"spec\":{\"replicas\":\"x\",\"on\":\"y\"}}");
	assert_int_equal(json_array_size(c), 2);
	json_decref(c);
}

static void test_required(void **state)
{
	const char *s =
		"{\"type\":\"object\",\"required\":[\"spec\"],\"properties\":{\"spec\":{\"type\":\"object\","
		"\"required\":[\"name\",\"size\"],\"properties\":{\"name\":{\"type\":\"string\"},"
		"\"size\":{\"type\":\"integer\"}}}}}";
	expect_one(validate(s, "{}"), "FieldValueRequired", "spec", "Required value");
	expect_one(validate(s, "{\"spec\":{\"name\":\"a\"}}"), "FieldValueRequired", "spec.size",
		   "Required value");
	json_t *c = validate(s, "{\"spec\":{}}");
	assert_int_equal(json_array_size(c), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "field")), "spec.name");
	json_decref(c);
	expect_none(validate(s, "{\"spec\":{\"name\":\"a\",\"size\":1}}"));
}

static void test_enum(void **state)
{
	const char *s = SPEC("\"mode\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"]},"
			     "\"level\":{\"type\":\"integer\",\"enum\":[1,2]}");
	expect_one(validate(s, "{\"spec\":{\"mode\":\"x\"}}"), "FieldValueNotSupported", "spec.mode",
		   "Unsupported value: \"x\": supported values: \"a\", \"b\"");
	expect_one(validate(s, "{\"spec\":{\"level\":3}}"), "FieldValueNotSupported", "spec.level",
		   "Unsupported value: 3: supported values: \"1\", \"2\"");
	expect_none(validate(s, "{\"spec\":{\"mode\":\"b\",\"level\":2}}"));
}

static void test_nested(void **state)
{
	const char *s =
		SPEC("\"ports\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"port\"],"
		     "\"properties\":{\"port\":{\"type\":\"integer\",\"maximum\":65535},"
		     "\"name\":{\"type\":\"string\"}}}},"
		     "\"matrix\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":"
		     "\"integer\"}}}");
	expect_one(
		validate(s, "{\"spec\":{\"ports\":[{\"port\":80},{\"port\":\"http\"}]}}"),
		"FieldValueTypeInvalid", "spec.ports[1].port",
		"Invalid value: \"string\": spec.ports[1].port in body must be of type integer: \"string\"");
	expect_one(validate(s, "{\"spec\":{\"ports\":[{\"name\":\"x\"}]}}"), "FieldValueRequired",
		   "spec.ports[0].port", "Required value");
	expect_one(validate(s, "{\"spec\":{\"ports\":[{\"port\":70000}]}}"), "FieldValueInvalid",
		   "spec.ports[0].port",
		   "Invalid value: 70000: spec.ports[0].port in body should be less than or equal to 65535");
	expect_one(
		validate(s, "{\"spec\":{\"matrix\":[[1,2],[3,\"x\"]]}}"), "FieldValueTypeInvalid",
		"spec.matrix[1][1]",
		"Invalid value: \"string\": spec.matrix[1][1] in body must be of type integer: \"string\"");
	expect_none(
		validate(s, "{\"spec\":{\"ports\":[{\"port\":80,\"name\":\"http\"}],\"matrix\":[[1],[]]}}"));
}

static void test_numeric_bounds(void **state)
{
	const char *s = SPEC("\"r\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10},"
			     "\"x\":{\"type\":\"number\",\"minimum\":0,\"exclusiveMinimum\":true,"
			     "\"maximum\":1.5,\"exclusiveMaximum\":true},"
			     "\"m\":{\"type\":\"integer\",\"multipleOf\":5},"
			     "\"big\":{\"type\":\"integer\",\"maximum\":1000000}");
	expect_one(validate(s, "{\"spec\":{\"r\":-1}}"), "FieldValueInvalid", "spec.r",
		   "Invalid value: -1: spec.r in body should be greater than or equal to 1");
	expect_one(validate(s, "{\"spec\":{\"r\":11}}"), "FieldValueInvalid", "spec.r",
		   "Invalid value: 11: spec.r in body should be less than or equal to 10");
	expect_none(validate(s, "{\"spec\":{\"r\":10,\"x\":1.25,\"m\":15}}"));
	expect_one(validate(s, "{\"spec\":{\"x\":1.5}}"), "FieldValueInvalid", "spec.x",
		   "Invalid value: 1.5: spec.x in body should be less than 1.5");
	expect_one(validate(s, "{\"spec\":{\"x\":-0.5}}"), "FieldValueInvalid", "spec.x",
		   "Invalid value: -0.5: spec.x in body should be greater than 0");
	expect_one(validate(s, "{\"spec\":{\"m\":7}}"), "FieldValueInvalid", "spec.m",
		   "Invalid value: 7: spec.m in body should be a multiple of 5");
	/* Bounds print as Go's %v of a float64 does. */
	expect_one(validate(s, "{\"spec\":{\"big\":1000001}}"), "FieldValueInvalid", "spec.big",
		   "Invalid value: 1000001: spec.big in body should be less than or equal to 1e+06");
}

static void test_strings(void **state)
{
	const char *s = SPEC("\"code\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":3},"
			     "\"one\":{\"type\":\"string\",\"maxLength\":1},"
			     "\"when\":{\"type\":\"string\",\"format\":\"date-time\"},"
			     "\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
			     "\"other\":{\"type\":\"string\",\"format\":\"no-such-format\"}");
	expect_one(validate(s, "{\"spec\":{\"code\":\"abcd\"}}"), "FieldValueTooLong", "spec.code",
		   "Too long: may not be more than 3 bytes");
	expect_one(validate(s, "{\"spec\":{\"one\":\"ab\"}}"), "FieldValueTooLong", "spec.one",
		   "Too long: may not be more than 1 byte");
	expect_one(validate(s, "{\"spec\":{\"code\":\"a\"}}"), "FieldValueInvalid", "spec.code",
		   "Invalid value: \"a\": spec.code in body should be at least 2 chars long");
	/* Lengths count characters, not bytes. */
	expect_none(validate(s, "{\"spec\":{\"code\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}}"));
	expect_one(
		validate(s, "{\"spec\":{\"when\":\"yesterday\"}}"), "FieldValueTypeInvalid", "spec.when",
		"Invalid value: \"yesterday\": spec.when in body must be of type date-time: \"yesterday\"");
	expect_none(validate(s, "{\"spec\":{\"when\":\"2024-02-03T04:05:06Z\",\"id\":\"123e4567-e89b-12d3-"
				"a456-426614174000\","
				"\"other\":\"anything\"}}"));
	expect_none(validate(s, "{\"spec\":{\"when\":\"2024-02-03T04:05:06.123+02:00\"}}"));
	json_decref(expect_some(validate(s, "{\"spec\":{\"when\":\"2024-02-03T25:05:06Z\"}}")));
	json_decref(expect_some(validate(s, "{\"spec\":{\"when\":\"2024-02-03 04:05:06Z\"}}")));
	json_decref(expect_some(validate(s, "{\"spec\":{\"when\":\"2024-02-03T04:05:06\"}}")));
	expect_one(validate(s, "{\"spec\":{\"id\":\"not-a-uuid\"}}"), "FieldValueTypeInvalid", "spec.id",
		   "Invalid value: \"not-a-uuid\": spec.id in body must be of type uuid: \"not-a-uuid\"");
}

static void test_patterns(void **state)
{
	const char *s = SPEC("\"name\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"},"
			     "\"zip\":{\"type\":\"string\",\"pattern\":\"^\\\\d{5}$\"},"
			     "\"host\":{\"type\":\"string\",\"pattern\":\"^[\\\\w.-]+$\"},"
			     "\"grp\":{\"type\":\"string\",\"pattern\":\"^(?:ab)+\\\\.x$\"}");
	expect_one(validate(s, "{\"spec\":{\"name\":\"Abc\"}}"), "FieldValueInvalid", "spec.name",
		   "Invalid value: \"Abc\": spec.name in body should match '^[a-z]+$'");
	expect_none(validate(
		s,
		"{\"spec\":{\"name\":\"abc\",\"zip\":\"12345\",\"host\":\"a-b.c_d\",\"grp\":\"abab.x\"}}"));
	json_t *c = validate(s, "{\"spec\":{\"zip\":\"1234a\",\"host\":\"a b\",\"grp\":\"abaxx\"}}");
	assert_int_equal(json_array_size(c), 3);
	json_decref(c);
}

/* Go RE2 syntax that ERE spells differently: each pattern must accept the
 * first value and reject the second. */
static void test_pattern_translation(void **state)
{
	static const struct {
		const char *pattern, *good, *bad;
	} cases[] = {
		{ "^[^\\s]+$", "abc", "a c" },
		{ "^[a-z\\-]+$", "a-b", "a_b" },
		{ "^[\\]a]+$", "]a]", "b" },
		{ "^a\\.b$", "a.b", "axb" },
		{ "^a\\/b$", "a/b", "a\\b" },
		{ "^x{2,3}?$", "xx", "x" },
		{ "^\\D+$", "ab", "a1" },
		{ "^\\w+$", "a_1", "a-1" },
		{ "^[\\d.]+$", "1.2", "1,2" },
		{ "^(a|b)+$", "abba", "abc" },
		{ "^\\S+\\s\\S+$", "a b", "ab" },
		{ "^[[:upper:]]+$", "AB", "Ab" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *s = json_pack("{s:s,s:{s:{s:s,s:s}}}", "type", "object", "properties", "v", "type",
				      "string", "pattern", cases[i].pattern);
		json_t *good = json_pack("{s:s}", "v", cases[i].good);
		json_t *bad = json_pack("{s:s}", "v", cases[i].bad);
		json_t *c1 = json_array(), *c2 = json_array(), *c3 = json_array();
		dv_schema_check(s, "s", c3);
		dv_schema_validate(s, good, c1);
		dv_schema_validate(s, bad, c2);
		if (json_array_size(c1) != 0 || json_array_size(c2) != 1 || json_array_size(c3) != 0)
			fail_msg("pattern %s: good %zu, bad %zu, check %zu causes", cases[i].pattern,
				 json_array_size(c1), json_array_size(c2), json_array_size(c3));
		json_decref(s);
		json_decref(good);
		json_decref(bad);
		json_decref(c1);
		json_decref(c2);
		json_decref(c3);
	}
}

static void test_nullable(void **state)
{
	const char *s = SPEC("\"opt\":{\"type\":\"string\",\"nullable\":true},"
			     "\"list\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}");
	expect_none(validate(s, "{\"spec\":{\"opt\":null}}"));
	expect_one(validate(s, "{\"spec\":{\"list\":[\"a\",null]}}"), "FieldValueTypeInvalid", "spec.list[1]",
		   "Invalid value: \"null\": spec.list[1] in body must be of type string: \"null\"");
}

static void test_int_or_string(void **state)
{
	const char *s = SPEC("\"port\":{\"x-kubernetes-int-or-string\":true}");
	expect_none(validate(s, "{\"spec\":{\"port\":8080}}"));
	expect_none(validate(s, "{\"spec\":{\"port\":\"http\"}}"));
	expect_one(
		validate(s, "{\"spec\":{\"port\":true}}"), "FieldValueTypeInvalid", "spec.port",
		"Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"");
	expect_one(validate(s, "{\"spec\":{\"port\":1.5}}"), "FieldValueTypeInvalid", "spec.port",
		   "Invalid value: \"number\": spec.port in body must be of type integer,string: \"number\"");
	/* The usual anyOf form next to the extension. */
	const char *a =
		SPEC("\"port\":{\"x-kubernetes-int-or-string\":true,\"anyOf\":[{\"type\":\"integer\"},"
		     "{\"type\":\"string\"}],\"pattern\":\"^[0-9]+%?$\"}");
	expect_none(validate(a, "{\"spec\":{\"port\":\"50%\"}}"));
	expect_none(validate(a, "{\"spec\":{\"port\":3}}"));
	expect_one(validate(a, "{\"spec\":{\"port\":\"half\"}}"), "FieldValueInvalid", "spec.port",
		   "Invalid value: \"half\": spec.port in body should match '^[0-9]+%?$'");
}

/* Asserts cause i of causes has this reason, field and message. */
static void cause_is(const json_t *causes, size_t i, const char *reason, const char *field,
		     const char *message)
{
	const json_t *c = json_array_get(causes, i);
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "reason")), reason);
	assert_string_equal(json_string_value(json_object_get(c, "field")), field);
	assert_string_equal(json_string_value(json_object_get(c, "message")), message);
}

static void test_junctors(void **state)
{
	const char *s = SPEC("\"v\":{\"type\":\"integer\",\"oneOf\":[{\"minimum\":10},{\"maximum\":0}],"
			     "\"not\":{\"multipleOf\":7}},"
			     "\"u\":{\"type\":\"integer\",\"oneOf\":[{\"minimum\":0},{\"maximum\":100}]}");
	expect_none(validate(s, "{\"spec\":{\"v\":12,\"u\":-5}}"));
	/* The junctor's own error is a plain one upstream, filed under the
	 * (absent) base path, which Go prints "<nil>"; the closest failing
	 * branch's errors follow. */
	json_t *c = validate(s, "{\"spec\":{\"v\":5}}");
	assert_int_equal(json_array_size(c), 2);
	cause_is(c, 0, "FieldValueInvalid", "<nil>",
		 "Invalid value: \"\": \"spec.v\" must validate one and only one schema (oneOf). Found none "
		 "valid");
	cause_is(c, 1, "FieldValueInvalid", "spec.v",
		 "Invalid value: 5: spec.v in body should be greater than or equal to 10");
	json_decref(c);
	expect_one(validate(s, "{\"spec\":{\"v\":14}}"), "FieldValueInvalid", "<nil>",
		   "Invalid value: \"\": \"spec.v\" must not validate the schema (not)");
	expect_one(validate(s, "{\"spec\":{\"u\":50}}"), "FieldValueInvalid", "<nil>",
		   "Invalid value: \"\": \"spec.u\" must validate one and only one schema (oneOf). Found 2 "
		   "valid alternatives");

	const char *all = SPEC("\"w\":{\"type\":\"string\",\"allOf\":[{\"minLength\":2},{\"maxLength\":3}],"
			       "\"anyOf\":[{\"pattern\":\"^a\"},{\"pattern\":\"^b\"}]}");
	expect_none(validate(all, "{\"spec\":{\"w\":\"ab\"}}"));
	c = validate(all, "{\"spec\":{\"w\":\"abcd\"}}");
	assert_int_equal(json_array_size(c), 2);
	cause_is(c, 0, "FieldValueTooLong", "spec.w", "Too long: may not be more than 3 bytes");
	cause_is(c, 1, "FieldValueInvalid", "<nil>",
		 "Invalid value: \"\": \"spec.w\" must validate all the schemas (allOf)");
	json_decref(c);
	c = validate(all, "{\"spec\":{\"w\":\"c\"}}");
	assert_int_equal(json_array_size(c), 4);
	cause_is(c, 0, "FieldValueInvalid", "<nil>",
		 "Invalid value: \"\": \"spec.w\" must validate at least one schema (anyOf)");
	cause_is(c, 1, "FieldValueInvalid", "spec.w",
		 "Invalid value: \"c\": spec.w in body should match '^a'");
	cause_is(c, 2, "FieldValueInvalid", "spec.w",
		 "Invalid value: \"c\": spec.w in body should be at least 2 chars long");
	cause_is(c, 3, "FieldValueInvalid", "<nil>",
		 "Invalid value: \"\": \"spec.w\" must validate all the schemas (allOf)");
	json_decref(c);
}

static void test_arrays(void **state)
{
	const char *s = SPEC(
		"\"l\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":2,\"items\":{\"type\":\"string\"}},"
		"\"set\":{\"type\":\"array\",\"x-kubernetes-list-type\":\"set\",\"items\":{\"type\":"
		"\"string\"}},"
		"\"map\":{\"type\":\"array\",\"x-kubernetes-list-type\":\"map\","
		"\"x-kubernetes-list-map-keys\":[\"name\"],\"items\":{\"type\":\"object\","
		"\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":\"string\"},\"v\":{\"type\":"
		"\"integer\"}}}}");
	expect_one(validate(s, "{\"spec\":{\"l\":[\"a\",\"b\",\"c\"]}}"), "FieldValueTooMany", "spec.l",
		   "Too many: 3: must have at most 2 items");
	expect_one(validate(s, "{\"spec\":{\"l\":[]}}"), "FieldValueInvalid", "spec.l",
		   "Invalid value: 0: spec.l in body should have at least 1 items");
	expect_one(validate(s, "{\"spec\":{\"set\":[\"a\",\"b\",\"a\"]}}"), "FieldValueDuplicate",
		   "spec.set[2]", "Duplicate value: \"a\"");
	expect_one(validate(s, "{\"spec\":{\"map\":[{\"name\":\"x\",\"v\":1},{\"name\":\"y\"},{\"name\":"
			       "\"x\",\"v\":2}]}}"),
		   "FieldValueDuplicate", "spec.map[2]",
		   "Duplicate value: map[string]interface {}{\"name\":\"x\"}");
	expect_none(validate(s, "{\"spec\":{\"l\":[\"a\"],\"set\":[\"a\",\"b\"],\"map\":[{\"name\":\"x\"},{"
				"\"name\":\"y\"}]}}"));
}

static void test_objects(void **state)
{
	const char *s = SPEC("\"labels\":{\"type\":\"object\",\"maxProperties\":2,\"minProperties\":1,"
			     "\"additionalProperties\":{\"type\":\"string\",\"maxLength\":3}}");
	expect_one(validate(s, "{\"spec\":{\"labels\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}}}"),
		   "FieldValueTooMany", "spec.labels", "Too many: 3: must have at most 2 items");
	expect_one(validate(s, "{\"spec\":{\"labels\":{}}}"), "FieldValueInvalid", "spec.labels",
		   "Invalid value: 0: spec.labels in body should have at least 1 properties");
	expect_one(validate(s, "{\"spec\":{\"labels\":{\"a\":7}}}"), "FieldValueTypeInvalid", "spec.labels.a",
		   "Invalid value: \"integer\": spec.labels.a in body must be of type string: \"integer\"");
	expect_one(validate(s, "{\"spec\":{\"labels\":{\"a\":\"long\"}}}"), "FieldValueTooLong",
		   "spec.labels.a", "Too long: may not be more than 3 bytes");
}

static void test_embedded_resource(void **state)
{
	const char *s = SPEC("\"template\":{\"type\":\"object\",\"x-kubernetes-embedded-resource\":true,"
			     "\"x-kubernetes-preserve-unknown-fields\":true}");
	expect_none(validate(
		s, "{\"spec\":{\"template\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{}}}}"));
	json_t *c = validate(s, "{\"spec\":{\"template\":{\"spec\":{}}}}");
	assert_int_equal(json_array_size(c), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "field")),
			    "spec.template.apiVersion");
	assert_string_equal(json_string_value(json_object_get(json_array_get(c, 1), "message")),
			    "Required value: must not be empty");
	json_decref(c);
}

/* ---------------------------------------------------------------------- */

static void test_prune(void **state)
{
	const char *s = SPEC("\"a\":{\"type\":\"string\"},\"o\":{\"type\":\"object\",\"properties\":{\"x\":{"
			     "\"type\":\"integer\"}}},"
			     "\"l\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"k\":"
			     "{\"type\":\"string\"}}}}");
	expect_defaulted(s,
			 "{\"apiVersion\":\"ex.com/"
			 "v1\",\"kind\":\"K\",\"metadata\":{\"name\":\"n\",\"labels\":{\"q\":\"r\"}},"
			 "\"junk\":1,\"spec\":{\"a\":\"v\",\"b\":2,\"o\":{\"x\":1,\"y\":2},\"l\":[{\"k\":"
			 "\"1\",\"z\":3},{}]}}",
			 "{\"apiVersion\":\"ex.com/"
			 "v1\",\"kind\":\"K\",\"metadata\":{\"name\":\"n\",\"labels\":{\"q\":\"r\"}},"
			 "\"spec\":{\"a\":\"v\",\"o\":{\"x\":1},\"l\":[{\"k\":\"1\"},{}]}}");
	/* A wrongly typed apiVersion is not the API server's and is pruned. */
	expect_defaulted(s, "{\"apiVersion\":5,\"status\":{}}", "{}");
}

static void test_prune_preserve(void **state)
{
	const char *s = "{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\","
			"\"x-kubernetes-preserve-unknown-fields\":true,\"properties\":{\"known\":{\"type\":"
			"\"object\","
			"\"properties\":{\"a\":{\"type\":\"string\"}}}}},"
			"\"status\":{\"type\":\"object\",\"properties\":{\"free\":{\"type\":\"object\","
			"\"x-kubernetes-preserve-unknown-fields\":true}}}}}";
	expect_defaulted(
		s,
		"{\"spec\":{\"anything\":{\"deep\":[1,{\"x\":2}]},\"known\":{\"a\":\"1\",\"b\":\"2\"}},"
		"\"status\":{\"free\":{\"p\":{\"q\":1}},\"gone\":true}}",
		"{\"spec\":{\"anything\":{\"deep\":[1,{\"x\":2}]},\"known\":{\"a\":\"1\"}},"
		"\"status\":{\"free\":{\"p\":{\"q\":1}}}}");
	/* Root-level preserve keeps everything. */
	expect_defaulted("{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true}",
			 "{\"a\":{\"b\":1},\"kind\":\"K\"}", "{\"a\":{\"b\":1},\"kind\":\"K\"}");
}

static void test_prune_additional_and_embedded(void **state)
{
	const char *s = SPEC("\"m\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"object\","
			     "\"properties\":{\"v\":{\"type\":\"integer\"}}}},"
			     "\"free\":{\"type\":\"object\",\"additionalProperties\":true},"
			     "\"t\":{\"type\":\"object\",\"x-kubernetes-embedded-resource\":true,"
			     "\"properties\":{\"spec\":{\"type\":\"object\"}}}");
	expect_defaulted(
		s,
		"{\"spec\":{\"m\":{\"a\":{\"v\":1,\"w\":2},\"b\":{}},\"free\":{\"s\":\"x\",\"o\":{\"deep\":1}"
		"},"
		"\"t\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"x\":"
		"1},\"odd\":1}}}",
		"{\"spec\":{\"m\":{\"a\":{\"v\":1},\"b\":{}},\"free\":{\"s\":\"x\",\"o\":{}},"
		"\"t\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{}}}}");
}

static void test_defaults(void **state)
{
	const char *s = "{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\",\"default\":{},"
			"\"properties\":{\"replicas\":{\"type\":\"integer\",\"default\":1},"
			"\"mode\":{\"type\":\"string\",\"default\":\"fast\"},"
			"\"opt\":{\"type\":\"string\",\"nullable\":true,\"default\":\"d\"},"
			"\"plain\":{\"type\":\"string\"},"
			"\"sub\":{\"type\":\"object\",\"default\":{\"keep\":true,\"drop\":1},"
			"\"properties\":{\"keep\":{\"type\":\"boolean\"},\"n\":{\"type\":\"integer\","
			"\"default\":5}}},"
			"\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
			"\"p\":{\"type\":\"integer\",\"default\":80}}}}}}}}";
	/* Absent spec: defaulted to {}, then its own fields defaulted inside;
	 * the unknown "drop" of a default is pruned afterwards. */
	expect_defaulted(s, "{}",
			 "{\"spec\":{\"replicas\":1,\"mode\":\"fast\",\"opt\":\"d\",\"sub\":{\"keep\":true,"
			 "\"n\":5}}}");
	/* Present values win; a non-nullable null takes the default, a nullable
	 * null stays; a non-nullable null without a default is dropped. */
	expect_defaulted(s,
			 "{\"spec\":{\"replicas\":3,\"mode\":null,\"opt\":null,\"plain\":null,\"sub\":{}}}",
			 "{\"spec\":{\"replicas\":3,\"mode\":\"fast\",\"opt\":null,\"sub\":{\"n\":5}}}");
	/* Defaults inside array items. */
	expect_defaulted(
		s, "{\"spec\":{\"items\":[{},{\"p\":1}]}}",
		"{\"spec\":{\"replicas\":1,\"mode\":\"fast\",\"opt\":\"d\",\"sub\":{\"keep\":true,\"n\":5},"
		"\"items\":[{\"p\":80},{\"p\":1}]}}");
	/* The defaulted object validates. */
	json_t *schema = load(s), *obj = load("{}"), *causes = json_array();
	dv_schema_default_and_prune(schema, obj);
	dv_schema_validate(schema, obj, causes);
	assert_int_equal(json_array_size(causes), 0);
	json_decref(schema);
	json_decref(obj);
	json_decref(causes);
}

static void test_default_null_items(void **state)
{
	const char *s = SPEC(
		"\"l\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"default\":\"x\"}},"
		"\"m\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\",\"default\":0}}");
	expect_defaulted(s, "{\"spec\":{\"l\":[\"a\",null],\"m\":{\"k\":null,\"j\":2}}}",
			 "{\"spec\":{\"l\":[\"a\",\"x\"],\"m\":{\"k\":0,\"j\":2}}}");
}

/* ---------------------------------------------------------------------- */

#define PREFIX "spec.versions[0].schema.openAPIV3Schema"

static json_t *check(const char *schema)
{
	json_t *s = load(schema), *causes = json_array();
	dv_schema_check(s, PREFIX, causes);
	json_decref(s);
	return causes;
}

static void test_check_valid(void **state)
{
	expect_none(check(
		"{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\",\"required\":[\"size\"],"
		"\"properties\":{\"size\":{\"type\":\"integer\",\"minimum\":1,\"default\":1},"
		"\"port\":{\"x-kubernetes-int-or-string\":true,\"anyOf\":[{\"type\":\"integer\"},{\"type\":"
		"\"string\"}]},"
		"\"tags\":{\"type\":\"array\",\"x-kubernetes-list-type\":\"set\",\"items\":{\"type\":"
		"\"string\","
		"\"pattern\":\"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$\"}},"
		"\"env\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
		"\"raw\":{\"x-kubernetes-preserve-unknown-fields\":true},"
		"\"tmpl\":{\"type\":\"object\",\"x-kubernetes-embedded-resource\":true,"
		"\"x-kubernetes-preserve-unknown-fields\":true}}},"
		"\"status\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true},"
		"\"metadata\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\","
		"\"maxLength\":20}}}}}"));
}

static void test_check_missing_types(void **state)
{
	expect_one(check("{\"type\":\"object\",\"properties\":{\"spec\":{\"properties\":{}}}}"),
		   "FieldValueRequired", PREFIX ".properties[spec].type",
		   "Required value: must not be empty for specified object fields");
	expect_one(check("{\"properties\":{}}"), "FieldValueRequired", PREFIX ".type",
		   "Required value: must not be empty at the root");
	expect_one(check("{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"array\",\"items\":{}}}}"),
		   "FieldValueRequired", PREFIX ".properties[l].items.type",
		   "Required value: must not be empty for specified array items");
	expect_one(check("{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"array\"}}}"),
		   "FieldValueRequired", PREFIX ".properties[l].items", "Required value: must be specified");
	expect_one(check("{\"type\":\"array\",\"items\":{\"type\":\"string\"}}"), "FieldValueInvalid",
		   PREFIX ".type", "Invalid value: \"array\": must be object at the root");
	expect_one(check("{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"strin\"}}}"),
		   "FieldValueNotSupported", PREFIX ".properties[x].type",
		   "Unsupported value: \"strin\": supported values: \"array\", \"boolean\", "
		   "\"integer\", \"number\", \"object\", \"string\"");
	expect_one(check("{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"null\"}}}"),
		   "FieldValueForbidden", PREFIX ".properties[x].type",
		   "Forbidden: type cannot be set to null, use nullable as an alternative");
}

static void test_check_forbidden(void **state)
{
	expect_one(
		check("{\"type\":\"object\",\"properties\":{\"m\":{\"type\":\"object\",\"properties\":{\"a\":"
		      "{\"type\":\"string\"}},\"additionalProperties\":{\"type\":\"string\"}}}}"),
		"FieldValueForbidden", PREFIX ".properties[m].additionalProperties",
		"Forbidden: additionalProperties and properties are mutual exclusive");
	expect_one(check("{\"type\":\"object\",\"properties\":{\"m\":{\"type\":\"object\","
			 "\"additionalProperties\":false}}}"),
		   "FieldValueForbidden", PREFIX ".properties[m].additionalProperties",
		   "Forbidden: additionalProperties cannot be set to false");
	expect_one(check("{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}"),
		   "FieldValueForbidden", PREFIX ".additionalProperties",
		   "Forbidden: must not be used at the root");
	expect_one(
		check("{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"array\",\"uniqueItems\":true,"
		      "\"items\":{\"type\":\"string\"}}}}"),
		"FieldValueForbidden", PREFIX ".properties[l].uniqueItems",
		"Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes "
		"quadratic");
	expect_one(
		check("{\"type\":\"object\",\"properties\":{\"r\":{\"$ref\":\"#/x\",\"type\":\"object\"}}}"),
		"FieldValueForbidden", PREFIX ".properties[r].$ref", "Forbidden: $ref is not supported");
	expect_one(check("{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"object\","
			 "\"x-kubernetes-preserve-unknown-fields\":false}}}"),
		   "FieldValueInvalid", PREFIX ".properties[p].x-kubernetes-preserve-unknown-fields",
		   "Invalid value: false: must be true or undefined");
	expect_one(check("{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"string\",\"x-kubernetes-int-"
			 "or-string\":true}}}"),
		   "FieldValueInvalid", PREFIX ".properties[p].type",
		   "Invalid value: \"string\": must be empty if x-kubernetes-int-or-string is true");
	expect_one(check("{\"type\":\"object\",\"properties\":{\"e\":{\"type\":\"string\","
			 "\"x-kubernetes-embedded-resource\":true,\"x-kubernetes-preserve-unknown-fields\":"
			 "true}}}"),
		   "FieldValueInvalid", PREFIX ".properties[e].type",
		   "Invalid value: \"string\": must be object if x-kubernetes-embedded-resource is true");
	expect_one(check("{\"type\":\"object\",\"properties\":{\"e\":{\"type\":\"object\","
			 "\"x-kubernetes-embedded-resource\":true}}}"),
		   "FieldValueRequired", PREFIX ".properties[e].properties",
		   "Required value: must not be empty if x-kubernetes-embedded-resource is true without "
		   "x-kubernetes-preserve-unknown-fields");
	expect_one(
		check("{\"type\":\"object\",\"properties\":{\"metadata\":{\"type\":\"object\",\"properties\":"
		      "{\"labels\":{\"type\":\"object\"}}}}}"),
		"FieldValueForbidden", PREFIX ".properties[metadata]",
		"Forbidden: must not specify anything other than name and generateName, but metadata is "
		"implicitly specified");
	json_t *md =
		check("{\"type\":\"object\",\"properties\":{\"metadata\":{\"type\":\"object\",\"default\":{},"
		      "\"properties\":{\"name\":{\"type\":\"string\",\"default\":\"x\"}}}}}");
	assert_int_equal(json_array_size(md), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(md, 0), "field")),
			    PREFIX ".properties[metadata].default");
	assert_string_equal(json_string_value(json_object_get(json_array_get(md, 1), "field")),
			    PREFIX ".properties[metadata].properties[name].default");
	assert_string_equal(json_string_value(json_object_get(json_array_get(md, 1), "message")),
			    "Forbidden: must not be set in top-level metadata");
	json_decref(md);
	expect_one(check("{\"type\":\"object\",\"properties\":{\"kind\":{\"type\":\"integer\"}}}"),
		   "FieldValueInvalid", PREFIX ".properties[kind].type",
		   "Invalid value: \"integer\": must be string");
}

static void test_check_value_validations(void **state)
{
	expect_one(check("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\",\"properties\":"
			 "{\"x\":{\"type\":\"string\"}},\"anyOf\":[{\"required\":[\"x\"]},{\"properties\":{"
			 "\"y\":{}}}]}}}"),
		   "FieldValueRequired", PREFIX ".properties[a].anyOf[1].properties[y]",
		   "Required value: must be specified in the structural part of the schema too");
	expect_one(check("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"allOf\":[{"
			 "\"type\":\"string\"}]}}}"),
		   "FieldValueForbidden", PREFIX ".properties[a].allOf[0].type",
		   "Forbidden: must be empty to be structural");
}

static void test_check_patterns(void **state)
{
	json_t *c = check(
		"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"([a-z\"}}}");
	assert_int_equal(json_array_size(c), 1);
	json_t *cause = json_array_get(c, 0);
	assert_string_equal(json_string_value(json_object_get(cause, "field")),
			    PREFIX ".properties[a].pattern");
	assert_non_null(strstr(json_string_value(json_object_get(cause, "message")),
			       "Invalid value: \"([a-z\": must be a valid regular expression, but isn't: "));
	json_decref(c);
	/* Lookahead has no ERE equivalent: refused, not matched differently. */
	c = check("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"^(?!x).*\"}}"
		  "}");
	assert_int_equal(json_array_size(c), 1);
	json_decref(c);
	expect_none(check("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":"
			  "\"^[\\\\w\\\\-\\\\.]+@(?:[a-z]+\\\\.)+[a-z]{2,}$\"}}}"));
}

static void test_check_defaults_and_lists(void **state)
{
	expect_one(check("{\"type\":\"object\",\"properties\":{\"r\":{\"type\":\"integer\",\"default\":"
			 "\"one\"}}}"),
		   "FieldValueTypeInvalid", PREFIX ".properties[r].default",
		   /* The default is validated as a value of its own, so the name
		    * in the message is its inner path: empty at its top. */
		   "Invalid value: \"string\":  in body must be of type integer: \"string\"");
	expect_one(check("{\"type\":\"object\",\"properties\":{\"o\":{\"type\":\"object\",\"properties\":"
			 "{\"n\":{\"type\":\"integer\",\"minimum\":2}},\"default\":{\"n\":1}}}}"),
		   "FieldValueInvalid", PREFIX ".properties[o].default.n",
		   "Invalid value: 1: n in body should be greater than or equal to 2");
	expect_one(
		check("{\"type\":\"object\",\"properties\":{\"o\":{\"type\":\"object\",\"properties\":"
		      "{\"a\":{\"type\":\"string\"}},\"default\":{\"a\":\"x\",\"b\":1}}}}"),
		"FieldValueInvalid", PREFIX ".properties[o].default",
		"Invalid value: map[string]interface {}{\"a\":\"x\", \"b\":1}: must not have unknown fields");
	expect_one(check("{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"array\",\"x-kubernetes-list-"
			 "type\":\"bag\","
			 "\"items\":{\"type\":\"string\"}}}}"),
		   "FieldValueNotSupported", PREFIX ".properties[l].x-kubernetes-list-type",
		   "Unsupported value: \"bag\": supported values: \"atomic\", \"map\", \"set\"");
	expect_one(check("{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"array\",\"x-kubernetes-list-"
			 "type\":\"map\","
			 "\"items\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"string\"}}}}}}"),
		   "FieldValueRequired", PREFIX ".properties[l].x-kubernetes-list-map-keys",
		   "Required value: must not be empty if x-kubernetes-list-type is map");
	expect_one(
		check("{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"array\",\"x-kubernetes-list-"
		      "type\":\"map\","
		      "\"x-kubernetes-list-map-keys\":[\"id\"],\"items\":{\"type\":\"object\",\"properties\":"
		      "{\"n\":{\"type\":\"string\"}}}}}}"),
		"FieldValueInvalid", PREFIX ".properties[l].x-kubernetes-list-map-keys",
		"Invalid value: []string{\"id\"}: entries must all be names of item properties");
	expect_one(
		check("{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"array\",\"x-kubernetes-list-"
		      "type\":\"map\","
		      "\"x-kubernetes-list-map-keys\":[\"n\"],\"items\":{\"type\":\"object\",\"properties\":"
		      "{\"n\":{\"type\":\"string\"}}}}}}"),
		"FieldValueRequired", PREFIX ".properties[l].items.properties[n].default",
		"Required value: this property is in x-kubernetes-list-map-keys, so it must have a default "
		"or be "
		"a required property");
	expect_one(check("{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"array\",\"x-kubernetes-list-"
			 "type\":\"map\","
			 "\"x-kubernetes-list-map-keys\":[\"n\"],\"items\":{\"type\":\"object\",\"required\":"
			 "[\"n\"],"
			 "\"properties\":{\"n\":{\"type\":\"object\"}}}}}}"),
		   "FieldValueInvalid", PREFIX ".properties[l].items.properties[n].type",
		   "Invalid value: \"object\": must be a scalar type if parent array's "
		   "x-kubernetes-list-type is map");
	expect_one(
		check("{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"array\",\"x-kubernetes-list-"
		      "type\":\"set\","
		      "\"items\":{\"type\":\"object\"}}}}"),
		"FieldValueInvalid", PREFIX ".properties[l].items.x-kubernetes-map-type",
		"Invalid value: \"null\": must be atomic as item of a list with x-kubernetes-list-type=set");
	expect_none(check("{\"type\":\"object\",\"properties\":{\"l\":{\"type\":\"array\",\"x-kubernetes-"
			  "list-type\":\"map\","
			  "\"x-kubernetes-list-map-keys\":[\"n\",\"p\"],\"items\":{\"type\":\"object\","
			  "\"required\":[\"n\"],"
			  "\"properties\":{\"n\":{\"type\":\"string\"},\"p\":{\"type\":\"integer\","
			  "\"default\":0}}}}}}"));
	json_t *causes = json_array();
	dv_schema_check(NULL, PREFIX, causes);
	assert_int_equal(json_array_size(causes), 1);
	json_decref(causes);
}

/* ---------------------------------------------------------------------- */
/* Random schemas and objects                                              */

static const char *const rnd_keys[] = {
	"type", "properties", "items", "additionalProperties", "required", "enum", "default",
	"nullable", "format", "minimum", "maximum", "exclusiveMinimum", "maxLength", "minLength",
	"maxItems", "minItems", "pattern", "multipleOf", "allOf", "anyOf", "oneOf", "not",
	"x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
	"x-kubernetes-embedded-resource", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
	"a", "b", "spec", "metadata", "kind", "apiVersion", "uniqueItems", "maxProperties",
};
static const char *const rnd_strings[] = {
	"object", "array", "string", "integer", "number", "boolean", "a", "b", "set", "map",
	"date-time", "^[a-z]+$", "(", "\\d+", "", "x", "spec",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static json_t *rnd_value(unsigned *seed, int depth)
{
	int kind = rand_r(seed) % (depth > 3 ? 6 : 8);
	switch (kind) {
	case 0: return json_null();
	case 1: return json_boolean(rand_r(seed) % 2);
	case 2: return json_integer(rand_r(seed) % 7 - 2);
	case 3: return json_real((rand_r(seed) % 9) / 2.0);
	case 4:
	case 5: return json_string(rnd_strings[rand_r(seed) % NELEM(rnd_strings)]);
	case 6: {
		json_t *a = json_array();
		for (int i = rand_r(seed) % 4; i > 0; i--)
			json_array_append_new(a, rnd_value(seed, depth + 1));
		return a;
	}
	default: {
		json_t *o = json_object();
		for (int i = rand_r(seed) % 5; i > 0; i--)
			json_object_set_new(o, rnd_keys[rand_r(seed) % NELEM(rnd_keys)],
					    rnd_value(seed, depth + 1));
		return o;
	}
	}
}

static void assert_causes_well_formed(const json_t *causes)
{
	size_t i;
	const json_t *c;
	json_array_foreach(causes, i, c) {
		assert_non_null(json_string_value(json_object_get(c, "reason")));
		assert_non_null(json_string_value(json_object_get(c, "message")));
		assert_non_null(json_string_value(json_object_get(c, "field")));
	}
}

/* Seeded random schemas and objects through every entry point: nothing
 * crashes (ASan checks memory), every cause has reason, message and field,
 * and an object defaulted and pruned twice is what it was after once. */
static void test_random_schemas(void **state)
{
	unsigned seed = 4242;
	size_t with_causes = 0;
	for (int iter = 0; iter < 3000; iter++) {
		json_t *schema = rnd_value(&seed, 0), *obj = rnd_value(&seed, 0), *causes = json_array();
		dv_schema_check(schema, "s", causes);
		with_causes += json_array_size(causes) > 0;
		dv_schema_default_and_prune(schema, obj);
		json_t *again = json_deep_copy(obj);
		dv_schema_default_and_prune(schema, again);
		if (!json_equal(obj, again)) {
			char *a = json_dumps(schema, JSON_ENCODE_ANY), *b = json_dumps(obj, JSON_ENCODE_ANY);
			fail_msg("not idempotent: schema %s obj %s", a, b);
		}
		dv_schema_validate(schema, obj, causes);
		assert_causes_well_formed(causes);
		json_decref(again);
		json_decref(schema);
		json_decref(obj);
		json_decref(causes);
	}
	assert_true(with_causes > 100);
}

/* 10,000 custom resources defaulted, pruned and validated against a CRD
 * schema of the usual shape: all valid, and the time is printed. */
static void test_many_objects(void **state)
{
	json_t *schema = load(SPEC("\"size\":{\"type\":\"string\",\"pattern\":\"^[0-9]+(Mi|Gi)$\"},"
				   "\"replicas\":{\"type\":\"integer\",\"minimum\":1,\"default\":1},"
				   "\"mode\":{\"type\":\"string\",\"enum\":[\"fast\",\"safe\"],\"default\":\"safe\"},"
				   "\"labels\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
				   "\"ports\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":"
				   "{\"port\":{\"type\":\"integer\",\"maximum\":65535}}}}"));
	size_t causes_total = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (int i = 0; i < 10000; i++) {
		json_t *obj = json_pack("{s:s,s:s,s:{s:s},s:{s:s,s:{s:s},s:[{s:i},{s:i}],s:i}}", "apiVersion",
					"ex.com/v1", "kind", "K", "metadata", "name", "x", "spec", "size", "10Gi",
					"labels", "a", "b", "ports", "port", 80, "port", 443, "junk", i);
		json_t *causes = json_array();
		dv_schema_default_and_prune(schema, obj);
		dv_schema_validate(schema, obj, causes);
		causes_total += json_array_size(causes);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(obj, "spec"), "replicas")), 1);
		assert_null(json_object_get(json_object_get(obj, "spec"), "junk"));
		json_decref(causes);
		json_decref(obj);
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("schema: 10000 objects defaulted, pruned and validated in %.1f ms of CPU\n", ms);
	assert_int_equal(causes_total, 0);
	json_decref(schema);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_numeric_bounds),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_pattern_translation),
		cmocka_unit_test(test_nullable),
		cmocka_unit_test(test_int_or_string),
		cmocka_unit_test(test_junctors),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_objects),
		cmocka_unit_test(test_embedded_resource),
		cmocka_unit_test(test_prune),
		cmocka_unit_test(test_prune_preserve),
		cmocka_unit_test(test_prune_additional_and_embedded),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_default_null_items),
		cmocka_unit_test(test_check_valid),
		cmocka_unit_test(test_check_missing_types),
		cmocka_unit_test(test_check_forbidden),
		cmocka_unit_test(test_check_value_validations),
		cmocka_unit_test(test_check_patterns),
		cmocka_unit_test(test_check_defaults_and_lists),
		cmocka_unit_test(test_random_schemas),
		cmocka_unit_test(test_many_objects),
	};
	return cmocka_run_group_tests_name("schema", tests, NULL, NULL);
}
