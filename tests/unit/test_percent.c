/* Unit tests: grpc-message percent-encoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rpc/percent.h"

static void test_encode(void **state)
{
	char *s = rpc_percent_encode("volume 50% full\n");
	assert_string_equal(s, "volume 50%25 full%0A");
	free(s);
	s = rpc_percent_encode("caf\xc3\xa9");
	assert_string_equal(s, "caf%C3%A9");
	free(s);
	s = rpc_percent_encode("");
	assert_string_equal(s, "");
	free(s);
}

static void test_decode(void **state)
{
	const char *in = "caf%C3%A9 100%25 %zz %4";
	char *s = rpc_percent_decode(in, strlen(in));
	/* malformed escapes stay as they are */
	assert_string_equal(s, "caf\xc3\xa9 100% %zz %4");
	free(s);
}

static void test_roundtrip_all_bytes(void **state)
{
	char in[256];
	for (int i = 1; i < 256; i++)
		in[i - 1] = (char)i;
	in[255] = 0;
	char *enc = rpc_percent_encode(in);
	for (const char *p = enc; *p; p++)
		assert_true(*p >= 0x20 && *p <= 0x7e);
	char *dec = rpc_percent_decode(enc, strlen(enc));
	assert_string_equal(dec, in);
	free(enc);
	free(dec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_roundtrip_all_bytes),
	};
	return cmocka_run_group_tests_name("percent", tests, NULL, NULL);
}
