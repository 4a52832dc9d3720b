/* Unit tests: grpc-timeout parsing and formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rpc/timeout.h"

static int64_t parse(const char *s)
{
	int64_t ns = -1;
	int r = rpc_timeout_parse(s, strlen(s), &ns);
	return r < 0 ? -1 : ns;
}

static void test_units(void **state)
{
	assert_int_equal(parse("1n"), 1);
	assert_int_equal(parse("5u"), 5000);
	assert_int_equal(parse("250m"), 250000000);
	assert_int_equal(parse("3S"), 3000000000LL);
	assert_int_equal(parse("2M"), 120000000000LL);
	assert_int_equal(parse("1H"), 3600000000000LL);
	assert_int_equal(parse("0m"), 0);
	assert_int_equal(parse("99999999S"), 99999999LL * 1000000000LL);
}

static void test_malformed(void **state)
{
	assert_int_equal(parse(""), -1);
	assert_int_equal(parse("S"), -1);
	assert_int_equal(parse("10"), -1);
	assert_int_equal(parse("10s"), -1);  /* units are case-sensitive: s is not S */
	assert_int_equal(parse("1x"), -1);
	assert_int_equal(parse("-1S"), -1);
	assert_int_equal(parse("123456789S"), -1); /* at most 8 digits */
	assert_int_equal(parse("1 S"), -1);
}

static void test_overflow_clamps(void **state)
{
	assert_int_equal(parse("99999999H"), INT64_MAX);
}

static void test_format_roundtrip_never_shorter(void **state)
{
	static const int64_t cases[] = { 1, 999, 1000, 1001, 1500000, 30000000000LL,
					 123456789012LL, 3600000000000LL * 50, INT64_MAX };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[16];
		size_t n = rpc_timeout_format(cases[i], buf);
		int64_t back;
		assert_true(n >= 2 && n <= 9);
		assert_int_equal(rpc_timeout_parse(buf, n, &back), 0);
		assert_true(back >= cases[i]);
	}
	char buf[16];
	rpc_timeout_format(30000000000LL, buf);
	assert_string_equal(buf, "30000000u");
	rpc_timeout_format(250000000LL, buf);
	assert_string_equal(buf, "250000u");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_overflow_clamps),
		cmocka_unit_test(test_format_roundtrip_never_shorter),
	};
	return cmocka_run_group_tests_name("timeout", tests, NULL, NULL);
}
