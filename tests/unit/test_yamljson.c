/* test_yamljson.c - YAML to JSON as Kubernetes reads YAML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "yamljson.h"

static void expect(const char *yaml, const char *json)
{
	char err[256] = "";
	json_t *got = yaml_to_json(yaml, strlen(yaml), err, sizeof err);
	json_t *want = json_loads(json, JSON_DECODE_ANY, NULL);
	assert_non_null(want);
	if (!got || !json_equal(got, want)) {
		char *g = got ? json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		fprintf(stderr, "yaml: %s\nwant: %s\ngot:  %s (%s)\n", yaml, json, g ? g : "NULL", err);
		free(g);
		fail();
	}
	json_decref(got);
	json_decref(want);
}

static void refuse(const char *yaml, const char *why)
{
	char err[256] = "";
	json_t *got = yaml_to_json(yaml, strlen(yaml), err, sizeof err);
	assert_null(got);
	if (why && !strstr(err, why)) {
		fprintf(stderr, "error '%s' lacks '%s'\n", err, why);
		fail();
	}
}

static void test_manifest(void **state)
{
	expect("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n"
	       "  labels: {app: db, tier: \"1\"}\nspec:\n  accessModes: [ReadWriteOnce]\n"
	       "  resources:\n    requests:\n      storage: 1Gi\n",
	       "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":"
	       "\"data\",\"labels\":{\"app\":\"db\",\"tier\":\"1\"}},\"spec\":{\"accessModes\":"
	       "[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}");
}

static void test_yaml11_scalars(void **state)
{
	expect("[yes, No, on, OFF, y, n, true, ~, null, '', 'yes', \"on\"]",
	       "[true,false,true,false,true,false,true,null,null,\"\",\"yes\",\"on\"]");
	expect("[12, -3, 0x1F, 0o17, 017, 0b101, 1_000, 1.5, -2e3, 1Gi, .inf, 1.2.3]",
	       "[12,-3,31,15,15,5,1000,1.5,-2000.0,\"1Gi\",\".inf\",\"1.2.3\"]");
	expect("a: '123'\nb: \"true\"\nc: |\n  line1\n  line2\n",
	       "{\"a\":\"123\",\"b\":\"true\",\"c\":\"line1\\nline2\\n\"}");
	expect("1: one\nyes: x\n'on': w\n0x10: z",
	       "{\"1\":\"one\",\"true\":\"x\",\"on\":\"w\",\"16\":\"z\"}");
	refuse("true: a\non: b\n", "duplicate");
}

static void test_aliases(void **state)
{
	expect("base: &b {x: 1}\nuse: *b\n", "{\"base\":{\"x\":1},\"use\":{\"x\":1}}");
	/* an alias bomb stops at the node limit */
	refuse("a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	       "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
	       "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
	       "more than");
}

static void test_refused(void **state)
{
	refuse("a: [1, 2", "line");
	refuse("a: 1\na: 2\n", "duplicate");
	refuse("? [1, 2]\n: x\n", "keys");
	refuse("a: 1\n---\nb: 2\n", "more than one");
	refuse("", "empty");
	char deep[2000];
	size_t n = 0;
	for (int i = 0; i < 300; i++)
		deep[n++] = '[';
	for (int i = 0; i < 300; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	refuse(deep, "deeper");
	refuse("a: \xff\n", NULL); /* invalid UTF-8 */
}

int main(void)
{
	int fds = testutil_count_open_fds();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_yaml11_scalars),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL) + testutil_fd_leak(fds);
}
