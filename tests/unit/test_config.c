/* Unit tests: the YAML config file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"

static int parse(const char *text, dv_config **cfg, dv_status *st)
{
	return dv_config_parse(cfg, text, strlen(text), "test.yaml", st);
}

static void test_full(void **state)
{
	dv_config *cfg = NULL;
	dv_status st = { 0 };
	const char *text =
		"driverName: csi.example.com\n"
		"nodeId: n1\n"
		"stateDir: /var/lib/x\n"
		"maxVolumesPerNode: 42\n"
		"topology:\n"
		"  topology.dynvol.io/zone: z1\n"
		"pools:\n"
		"  - name: fast\n"
		"    backend: image\n"
		"    root: /srv/fast\n"
		"    options: {overcommit: \"2.0\", fsType: xfs}\n"
		"  - name: dev\n"
		"    backend: dir\n"
		"    root: /srv/dev\n";
	assert_int_equal(parse(text, &cfg, &st), 0);
	assert_string_equal(cfg->driver_name, "csi.example.com");
	assert_string_equal(cfg->node_id, "n1");
	assert_int_equal(cfg->max_volumes_per_node, 42);
	assert_int_equal(cfg->n_topology, 1);
	assert_string_equal(cfg->topology[0].value, "z1");
	assert_int_equal(cfg->n_pools, 2);
	assert_string_equal(cfg->pools[0].backend, "image");
	assert_int_equal(cfg->pools[0].n_options, 2);
	assert_string_equal(cfg->pools[0].options[1].key, "fsType");
	assert_string_equal(cfg->pools[1].root, "/srv/dev");
	dv_config_free(cfg);
}

static void expect_error(const char *text, const char *needle)
{
	dv_config *cfg = NULL;
	dv_status st = { 0 };
	assert_int_not_equal(parse(text, &cfg, &st), 0);
	assert_null(cfg);
	assert_int_equal(st.code, DV_INVALID_ARGUMENT);
	assert_non_null(st.message);
	if (!strstr(st.message, needle))
		fail_msg("message '%s' lacks '%s'", st.message, needle);
	dv_status_clear(&st);
}

static void test_errors(void **state)
{
	expect_error("drivername: x\n", "unknown key 'drivername'");
	expect_error("driverName: -bad\n", "alphanumeric");
	expect_error("driverName: a234567890123456789012345678901234567890123456789012345678901234\n",
		     "63");
	expect_error("pools:\n  - name: Bad_Name\n    backend: dir\n    root: /x\n", "pool name");
	expect_error("pools:\n  - name: a\n    backend: lvm\n    root: /x\n", "unknown backend");
	expect_error("pools:\n  - name: a\n    backend: dir\n    root: rel\n", "absolute");
	expect_error("pools:\n  - name: a\n    backend: dir\n    root: /x\n"
		     "  - name: a\n    backend: dir\n    root: /y\n", "duplicate");
	expect_error("pools: 3\n", "list");
	expect_error("maxVolumesPerNode: lots\n", "integer");
	expect_error("key: [unclosed\n", "test.yaml:");
	expect_error("stateDir: relative\n", "absolute");
	/* found by fuzz_config: a repeated mapping leaked the first one */
	expect_error("topology: {a: b}\ntopology: {c: d}\n", "twice");
	expect_error("pools: []\npools: []\n", "twice");
	expect_error("pools:\n  - name: a\n    backend: dir\n    root: /x\n"
		     "    options: {a: b}\n    options: {c: d}\n", "twice");
}

static void test_empty_is_defaults(void **state)
{
	dv_config *cfg = NULL;
	dv_status st = { 0 };
	assert_int_equal(parse("", &cfg, &st), 0);
	assert_null(cfg->driver_name);
	assert_int_equal(cfg->n_pools, 0);
	dv_config_free(cfg);
}

static void test_names(void **state)
{
	assert_null(dv_validate_driver_name("csi.dynvol.io"));
	assert_null(dv_validate_driver_name("a"));
	assert_non_null(dv_validate_driver_name(""));
	assert_non_null(dv_validate_driver_name("a_b"));
	assert_non_null(dv_validate_driver_name("a."));
	assert_null(dv_validate_pool_name("pool-1"));
	assert_non_null(dv_validate_pool_name("../etc"));
	assert_non_null(dv_validate_pool_name("-a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_empty_is_defaults),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
