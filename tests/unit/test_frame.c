/* Unit tests: gRPC length-prefixed framing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rpc/frame.h"

static void feed_all(rpc_frame_reader *r, const uint8_t *p, size_t n, size_t chunk)
{
	for (size_t off = 0; off < n; off += chunk) {
		size_t len = n - off < chunk ? n - off : chunk;
		assert_int_equal(rpc_frame_reader_feed(r, p + off, len), RPC_FRAME_OK);
	}
}

static void test_roundtrip_any_split(void **state)
{
	uint8_t wire[5 + 300];
	for (size_t i = 0; i < 300; i++)
		wire[5 + i] = (uint8_t)i;
	rpc_frame_prefix(wire, false, 300);
	assert_int_equal(wire[0], 0);
	assert_int_equal(wire[3], 1);
	assert_int_equal(wire[4], 44);

	/* DATA frames may split a message anywhere, even inside the prefix */
	for (size_t chunk = 1; chunk <= sizeof(wire); chunk++) {
		rpc_frame_reader r;
		const uint8_t *msg;
		size_t len;
		bool compressed;
		rpc_frame_reader_init(&r, 4096);
		feed_all(&r, wire, sizeof(wire), chunk);
		assert_int_equal(rpc_frame_reader_finish(&r, &msg, &len, &compressed), RPC_FRAME_OK);
		assert_int_equal(len, 300);
		assert_false(compressed);
		assert_memory_equal(msg, wire + 5, 300);
		rpc_frame_reader_free(&r);
	}
}

static void test_empty_message(void **state)
{
	uint8_t wire[5];
	rpc_frame_reader r;
	const uint8_t *msg;
	size_t len = 99;
	bool compressed;

	rpc_frame_prefix(wire, false, 0);
	rpc_frame_reader_init(&r, 16);
	feed_all(&r, wire, 5, 5);
	assert_int_equal(rpc_frame_reader_finish(&r, &msg, &len, &compressed), RPC_FRAME_OK);
	assert_int_equal(len, 0);
	rpc_frame_reader_free(&r);
}

static void test_too_large_rejected_before_buffering(void **state)
{
	uint8_t wire[5];
	rpc_frame_reader r;

	rpc_frame_prefix(wire, false, 1000001);
	rpc_frame_reader_init(&r, 1000000);
	assert_int_equal(rpc_frame_reader_feed(&r, wire, 5), RPC_FRAME_TOO_LARGE);
	assert_int_equal(r.msg.len, 0);
	/* sticky: later bytes are ignored, nothing grows */
	assert_int_equal(rpc_frame_reader_feed(&r, (const uint8_t *)"abc", 3), RPC_FRAME_TOO_LARGE);
	assert_int_equal(r.msg.len, 0);
	rpc_frame_reader_free(&r);
}

static void test_second_message_rejected(void **state)
{
	uint8_t wire[12];
	rpc_frame_reader r;

	rpc_frame_prefix(wire, false, 1);
	wire[5] = 'x';
	rpc_frame_prefix(wire + 6, false, 1);
	rpc_frame_reader_init(&r, 16);
	assert_int_equal(rpc_frame_reader_feed(&r, wire, 6), RPC_FRAME_OK);
	assert_int_equal(rpc_frame_reader_feed(&r, wire + 6, 5), RPC_FRAME_EXTRA);
	rpc_frame_reader_free(&r);
}

static void test_truncated_and_missing(void **state)
{
	uint8_t wire[8];
	rpc_frame_reader r;
	const uint8_t *msg;
	size_t len;
	bool compressed;

	rpc_frame_reader_init(&r, 16);
	assert_int_equal(rpc_frame_reader_finish(&r, &msg, &len, &compressed), RPC_FRAME_MISSING);
	rpc_frame_reader_free(&r);

	rpc_frame_prefix(wire, false, 3);
	rpc_frame_reader_init(&r, 16);
	assert_int_equal(rpc_frame_reader_feed(&r, wire, 7), RPC_FRAME_OK);
	assert_int_equal(rpc_frame_reader_finish(&r, &msg, &len, &compressed), RPC_FRAME_MISSING);
	rpc_frame_reader_free(&r);
}

static void test_flags(void **state)
{
	uint8_t wire[6];
	rpc_frame_reader r;
	const uint8_t *msg;
	size_t len;
	bool compressed;

	rpc_frame_prefix(wire, true, 1);
	wire[5] = 1;
	rpc_frame_reader_init(&r, 16);
	feed_all(&r, wire, 6, 6);
	assert_int_equal(rpc_frame_reader_finish(&r, &msg, &len, &compressed), RPC_FRAME_OK);
	assert_true(compressed);
	rpc_frame_reader_free(&r);

	wire[0] = 7;
	rpc_frame_reader_init(&r, 16);
	assert_int_equal(rpc_frame_reader_feed(&r, wire, 6), RPC_FRAME_BAD_FLAG);
	rpc_frame_reader_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_any_split),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_too_large_rejected_before_buffering),
		cmocka_unit_test(test_second_message_rejected),
		cmocka_unit_test(test_truncated_and_missing),
		cmocka_unit_test(test_flags),
	};
	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
