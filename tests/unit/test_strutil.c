/* Unit tests: bounded buffers, durations, sizes, status codes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "status.h"
#include "strutil.h"

static void test_buf_cap(void **state)
{
	dv_buf b;
	dv_buf_init(&b, 8);
	assert_int_equal(dv_buf_append(&b, "12345678", 8), 0);
	assert_int_equal(dv_buf_append(&b, "9", 1), -ENOBUFS);
	assert_int_equal(b.len, 8);
	assert_string_equal((char *)b.data, "12345678");
	dv_buf_consume(&b, 3);
	assert_string_equal((char *)b.data, "45678");
	assert_int_equal(dv_buf_appendf(&b, "%d", 123), 0);
	assert_string_equal((char *)b.data, "45678123");
	assert_int_equal(dv_buf_appendf(&b, "x"), -ENOBUFS);
	dv_buf_free(&b);
}

static void test_duration(void **state)
{
	int64_t ns;
	assert_int_equal(dv_parse_duration("10s", &ns), 0);
	assert_int_equal(ns, 10000000000LL);
	assert_int_equal(dv_parse_duration("250ms", &ns), 0);
	assert_int_equal(ns, 250000000LL);
	assert_int_equal(dv_parse_duration("3", &ns), 0);
	assert_int_equal(ns, 3000000000LL);
	assert_int_equal(dv_parse_duration("2m", &ns), 0);
	assert_int_equal(ns, 120000000000LL);
	assert_int_equal(dv_parse_duration("", &ns), -EINVAL);
	assert_int_equal(dv_parse_duration("s", &ns), -EINVAL);
	assert_int_equal(dv_parse_duration("1d", &ns), -EINVAL);
	assert_int_equal(dv_parse_duration("-1s", &ns), -EINVAL);
	assert_int_equal(dv_parse_duration("99999999999999999999h", &ns), -EINVAL);
}

static void test_size(void **state)
{
	uint64_t v;
	assert_int_equal(dv_parse_size("4Mi", &v), 0);
	assert_int_equal(v, 4194304);
	assert_int_equal(dv_parse_size("10G", &v), 0);
	assert_int_equal(v, 10000000000ULL);
	assert_int_equal(dv_parse_size("1024", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(dv_parse_size("1.5Gi", &v), -EINVAL);
	assert_int_equal(dv_parse_size("Gi", &v), -EINVAL);
	assert_int_equal(dv_parse_size("20000000Pi", &v), -ERANGE);
}

static void test_status(void **state)
{
	dv_status st = { 0 };
	assert_string_equal(dv_code_name(DV_NOT_FOUND), "NOT_FOUND");
	assert_string_equal(dv_code_name(99), "UNKNOWN");
	assert_int_equal(dv_code_from_name("deadline_exceeded"), DV_DEADLINE_EXCEEDED);
	assert_int_equal(dv_code_from_name("nope"), -1);
	assert_int_equal(dv_status_set(&st, DV_OUT_OF_RANGE, "size %d", 5), DV_OUT_OF_RANGE);
	assert_string_equal(st.message, "size 5");
	dv_status_clear(&st);
	assert_int_equal(st.code, DV_OK);
	assert_null(st.message);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_status),
	};
	return cmocka_run_group_tests_name("strutil", tests, NULL, NULL);
}
