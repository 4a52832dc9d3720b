/*
 * Unit tests: the provisioner's rules that need no cluster
 * (provision_req.h): secret name templates, the reserved
 * csi.storage.k8s.io/ parameter keys, and allowedTopologies expansion.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "provision_req.h"
#include "testutil.h"

static json_t *J(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, 0, &err);

	if (!v)
		fail_msg("bad test JSON: %s: %s", err.text, text);
	return v;
}

static const char *PVC = "{\"metadata\": {\"name\": \"data\", \"namespace\": \"team-a\","
			 " \"annotations\": {\"owner\": \"blue\", \"bad\": \"Not_Valid\"}}}";

static void expect_ok(const char *tmpl, bool is_name, const char *want)
{
	json_t *pvc = J(PVC);
	dv_status st = { 0 };
	char out[256];

	assert_int_equal(prov_template(tmpl, is_name, pvc, "pvc-123", out, sizeof(out), &st), 0);
	assert_string_equal(out, want);
	json_decref(pvc);
}

static void expect_fail(const char *tmpl, bool is_name, const char *words)
{
	json_t *pvc = J(PVC);
	dv_status st = { 0 };
	char out[256];

	assert_int_equal(prov_template(tmpl, is_name, pvc, "pvc-123", out, sizeof(out), &st), -1);
	assert_int_equal(st.code, DV_INVALID_ARGUMENT);
	if (!strstr(st.message, words))
		fail_msg("message \"%s\" lacks \"%s\"", st.message, words);
	dv_status_clear(&st);
	json_decref(pvc);
}

static void test_templates(void **state)
{
	(void)state;
	expect_ok("plain", true, "plain");
	expect_ok("${pvc.name}-creds", true, "data-creds");
	expect_ok("${pvc.namespace}", false, "team-a");
	expect_ok("${pv.name}.x", true, "pvc-123.x");
	expect_ok("s-${pvc.annotations['owner']}", true, "s-blue");
	/* Namespaces may not use the claim's name or annotations (upstream). */
	expect_fail("${pvc.name}", false, "${pvc.name} is not supported");
	expect_fail("${pvc.annotations['owner']}", false, "is not supported");
	expect_fail("${pvc.uid}", true, "${pvc.uid} is not supported");
	expect_fail("${pvc.name", true, "unterminated");
	expect_fail("${pvc.annotations['nope']}", true, "no annotation nope");
	/* What a template resolves to must be a valid name. */
	expect_fail("${pvc.annotations['bad']}", true, "not a valid object name");
	expect_fail("a.b", false, "not a valid namespace");
	expect_fail("", true, "not a valid");
}

static void test_secret_params(void **state)
{
	json_t *pvc = J(PVC);
	json_t *params = J("{\"csi.storage.k8s.io/node-stage-secret-name\": \"${pvc.name}\","
			   " \"csi.storage.k8s.io/node-stage-secret-namespace\": \"ns\","
			   " \"csi.storage.k8s.io/provisioner-secret-name\": \"only-name\"}");
	prov_secret_ref ref;
	dv_status st = { 0 };

	(void)state;
	assert_int_equal(prov_secret_param(params, PROV_SECRET_NODE_STAGE, pvc, "pv", &ref, &st),
			 0);
	assert_true(ref.set);
	assert_string_equal(ref.name, "data");
	assert_string_equal(ref.ns, "ns");
	assert_int_equal(prov_secret_param(params, PROV_SECRET_NODE_PUBLISH, pvc, "pv", &ref, &st),
			 0);
	assert_false(ref.set);
	/* A name without a namespace is an error, not a silent skip. */
	assert_int_equal(prov_secret_param(params, PROV_SECRET_PROVISIONER, pvc, "pv", &ref, &st),
			 -1);
	assert_non_null(strstr(st.message, "must be given together"));
	dv_status_clear(&st);
	json_decref(params);
	json_decref(pvc);
}

static void test_reserved_keys(void **state)
{
	bool known;

	(void)state;
	assert_false(prov_reserved_key("pool", &known));
	assert_true(prov_reserved_key("csi.storage.k8s.io/fstype", &known) && known);
	assert_true(prov_reserved_key("csi.storage.k8s.io/controller-expand-secret-namespace",
				      &known) && known);
	assert_true(prov_reserved_key("csi.storage.k8s.io/fs-type", &known) && !known);
	assert_true(prov_reserved_key("csi.storage.k8s.io/node-stage-secret", &known) && !known);
}

static void test_topology_terms(void **state)
{
	json_t *allowed = J("[{\"matchLabelExpressions\": ["
			    "  {\"key\": \"zone\", \"values\": [\"a\", \"b\"]},"
			    "  {\"key\": \"rack\", \"values\": [\"1\"]}]},"
			    " {\"matchLabelExpressions\": [{\"key\": \"zone\", \"values\": [\"a\"]},"
			    "  {\"key\": \"rack\", \"values\": [\"1\"]}]}]");
	json_t *want = J("[{\"zone\": \"a\", \"rack\": \"1\"}, {\"zone\": \"b\", \"rack\": \"1\"}]");
	json_t *got = prov_topology_terms(allowed);

	(void)state;
	/* The cartesian product of each term, duplicates across terms once. */
	assert_true(json_equal(got, want));
	json_decref(got);
	json_decref(want);
	json_decref(allowed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_templates),
		cmocka_unit_test(test_secret_params),
		cmocka_unit_test(test_reserved_keys),
		cmocka_unit_test(test_topology_terms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
