#include "arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
	arena_block *next;
	max_align_t data[];
};

void *arena_alloc(arena *a, size_t size)
{
	arena_block *b = calloc(1, sizeof(*b) + size);

	if (!b) {
		a->failed = 1;
		return NULL;
	}
	b->next = a->blocks;
	a->blocks = b;
	return b->data;
}

char *arena_strdup(arena *a, const char *s)
{
	size_t n;
	char *d;

	if (!s)
		return NULL;
	n = strlen(s);
	d = arena_alloc(a, n + 1);
	if (d)
		memcpy(d, s, n + 1);
	return d;
}

char *arena_printf(arena *a, const char *fmt, ...)
{
	va_list ap;
	char *tmp = NULL, *d;

	va_start(ap, fmt);
	if (vasprintf(&tmp, fmt, ap) < 0)
		tmp = NULL;
	va_end(ap);
	if (!tmp) {
		a->failed = 1;
		return NULL;
	}
	d = arena_strdup(a, tmp);
	free(tmp);
	return d;
}

void arena_free(arena *a)
{
	while (a->blocks) {
		arena_block *b = a->blocks;
		a->blocks = b->next;
		free(b);
	}
	a->failed = 0;
}
