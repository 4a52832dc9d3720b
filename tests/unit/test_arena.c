/* Unit tests: the CSI handlers' scratch arena (src/csi/arena.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "csi/arena.h"

static int all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return 0;
	return 1;
}

/* Objects are zeroed, aligned for any type and never overlap, across
 * block boundaries and for requests larger than a block. */
static void test_alloc_zeroed_aligned_disjoint(void **state)
{
	static const size_t sizes[] = { 1, 7, 16, 24, 100, 255, 1000, 5000, 40000, 3, 70000 };
	arena a = { 0 };
	unsigned char *p[2000];
	size_t n[2000];

	for (size_t i = 0; i < 2000; i++) {
		n[i] = sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
		p[i] = arena_alloc(&a, n[i]);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % alignof(max_align_t), 0);
		assert_true(all_zero(p[i], n[i]));
		memset(p[i], (int)(i % 251) + 1, n[i]);
	}
	for (size_t i = 0; i < 2000; i++)
		for (size_t j = 0; j < n[i]; j++)
			assert_int_equal(p[i][j], (int)(i % 251) + 1);
	assert_int_equal(a.failed, 0);
	arena_free(&a);
	assert_null(a.blocks);
}

static void test_strings(void **state)
{
	arena a = { 0 };
	char *s[500];

	assert_null(arena_strdup(&a, NULL));
	for (int i = 0; i < 500; i++) {
		s[i] = arena_printf(&a, "vol-%04d", i);
		assert_non_null(s[i]);
	}
	char *big = malloc(100000);
	assert_non_null(big);
	memset(big, 'x', 99999);
	big[99999] = 0;
	char *copy = arena_strdup(&a, big);
	assert_non_null(copy);
	assert_string_equal(copy, big);
	free(big);
	for (int i = 0; i < 500; i++) {
		char want[16];
		snprintf(want, sizeof(want), "vol-%04d", i);
		assert_string_equal(s[i], want);
	}
	assert_string_equal(arena_strdup(&a, ""), "");
	/* a zero-size array is still a distinct valid pointer */
	assert_non_null(ARENA_ARRAY(&a, int, 0));
	arena_free(&a);
	/* an arena is reusable after arena_free */
	assert_string_equal(arena_strdup(&a, "again"), "again");
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_zeroed_aligned_disjoint),
		cmocka_unit_test(test_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
